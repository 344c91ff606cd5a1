// /health answers 500 when the slug holds BROKEN; /slow answers after 1.5 s (a request in flight during a roll).
const fs = require('node:fs');
const path = require('node:path');
const version = fs.readFileSync(path.join(__dirname, 'VERSION'), 'utf8').trim();
const broken = fs.existsSync(path.join(__dirname, 'BROKEN'));
const server = require('node:http')
  .createServer((req, res) => {
    if (req.url === '/health') return res.writeHead(broken ? 500 : 200).end(broken ? 'not ready\n' : 'ok\n');
    if (req.url === '/slow') return setTimeout(() => res.end(version), 1500);
    res.end(version);
  })
  .listen(process.env.PORT);
// Finish requests in flight on SIGTERM (Heroku's shutdown contract), then exit.
process.on('SIGTERM', () => server.close(() => process.exit(0)));
