require('node:http').createServer((_req, res) => res.end('cron app\n')).listen(process.env.PORT);
