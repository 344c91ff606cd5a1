// The smallest web app dynomesh runs: listens on $PORT, greets with $GREETING,
// and says which dyno and release answered (handy when you scale and roll back).
const http = require('node:http');

const port = Number(process.env.PORT || 5000);
const server = http.createServer((req, res) => {
  const greeting = process.env.GREETING || 'Hello';
  const body = `${greeting} from node-hello on ${process.env.DYNO || 'a laptop'}\n`;
  res.writeHead(200, { 'content-type': 'text/plain; charset=utf-8', 'content-length': Buffer.byteLength(body) });
  res.end(body);
  console.log(`${req.method} ${req.url} -> 200`);
});

server.listen(port, () => console.log(`node-hello listening on ${port}`));

// Dynos get SIGTERM on restart, scale-down and release: finish in-flight requests, then exit.
process.on('SIGTERM', () => {
  console.log('SIGTERM: closing');
  server.close(() => process.exit(0));
  server.closeIdleConnections();
});
