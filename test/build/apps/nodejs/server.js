const http = require('node:http');
http.createServer((req, res) => res.end(`hello from node ${process.version}\n`)).listen(process.env.PORT || 5000);
