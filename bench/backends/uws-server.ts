/**
 * The native uWebSockets.js backend dyno: 13 B, 16 KB and 1 MB bodies, and a POST
 * that reads its whole body. Refuses to start on the pure-JS fallback, which would
 * make "direct" measure node:http instead. Run: node --import tsx uws-server.ts --port N --id X
 */
import { createRequire } from 'node:module';
import { readFileSync } from 'node:fs';
import { backendArgs, bodyFor, UPLOAD_PATH } from './bodies.ts';

const require = createRequire(import.meta.url);
const uWS = require('uWebSockets.js') as typeof import('uWebSockets.js');

const maps = readFileSync('/proc/self/maps', 'utf8');
if (!/uws_linux_.*\.node/.test(maps) || !Function.prototype.toString.call(uWS.App).includes('[native code]')) {
  process.stderr.write('uws backend: the native uWebSockets.js addon did not load (JS fallback); refusing to run\n');
  process.exit(2);
}

const { port, id, host } = backendArgs(process.argv.slice(2));

uWS
  .App()
  .post(UPLOAD_PATH, (res) => {
    let n = 0;
    let aborted = false;
    res.onAborted(() => { aborted = true; });
    res.onData((chunk, last) => {
      n += chunk.byteLength;
      if (last && !aborted) res.cork(() => res.writeHeader('X-Backend', id).end(`received ${n}`));
    });
  })
  .any('/*', (res, req) => {
    // uWS closes after a request that says `Connection: close` but does not say so in the
    // response, and wrk then counts the next write as an error: answer like node:http does.
    if (req.getHeader('connection') === 'close') res.writeHeader('X-Backend', id).writeHeader('Connection', 'close').end(bodyFor(req.getUrl()), true);
    else res.writeHeader('X-Backend', id).end(bodyFor(req.getUrl()));
  })
  .listen(host, port, (sock) => {
    if (!sock) {
      process.stderr.write(`uws backend: cannot listen on ${host}:${port}\n`);
      process.exit(1);
    }
    process.stdout.write(`uws backend ${id} listening on ${host}:${port}\n`);
  });
