/**
 * The node:http backend dyno, the same routes as the uWS one: what a typical Node app
 * on Heroku looks like. Run: node --import tsx node-server.ts --port N --id X
 */
import { createServer } from 'node:http';
import { backendArgs, bodyFor, UPLOAD_PATH } from './bodies.ts';

const { port, id, host } = backendArgs(process.argv.slice(2));

const server = createServer((req, res) => {
  if (req.method === 'POST' && req.url === UPLOAD_PATH) {
    let n = 0;
    req.on('data', (c: Buffer) => { n += c.length; });
    req.on('end', () => {
      const body = `received ${n}`;
      res.writeHead(200, { 'X-Backend': id, 'Content-Length': Buffer.byteLength(body) }).end(body);
    });
    return;
  }
  const body = bodyFor(req.url ?? '/');
  res.writeHead(200, { 'X-Backend': id, 'Content-Length': body.length }).end(body);
});
server.keepAliveTimeout = 60_000;
server.headersTimeout = 61_000;
server.listen(port, host, () => process.stdout.write(`node backend ${id} listening on ${host}:${port}\n`));
