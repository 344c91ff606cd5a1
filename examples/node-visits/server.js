// A page that counts its visits in PostgreSQL (DATABASE_URL, from `dynomesh addons:create
// postgresql`) and, when the app has a Redis add-on too (REDIS_URL), in Redis as well.
// GET / counts a visit; GET /stats shows the counts without adding one (JSON).
const http = require('node:http');
const pg = require('pg');
const { createClient } = require('redis');

const port = Number(process.env.PORT || 5000);
const dyno = process.env.DYNO || 'a laptop';

// One pool per dyno; the mini plan allows 20 connections for all of the app's dynos.
const db = process.env.DATABASE_URL ? new pg.Pool({ connectionString: process.env.DATABASE_URL, max: 3 }) : undefined;
let schema;
function ready() {
  schema ??= db.query('CREATE TABLE IF NOT EXISTS visits (id bigserial PRIMARY KEY, path text NOT NULL, dyno text NOT NULL, at timestamptz NOT NULL DEFAULT now())');
  return schema.catch((err) => { schema = undefined; throw err; });
}

// Every key of a Redis add-on starts with REDIS_KEY_PREFIX (its user may touch no other).
const cache = process.env.REDIS_URL ? createClient({ url: process.env.REDIS_URL }) : undefined;
const counterKey = `${process.env.REDIS_KEY_PREFIX || ''}visits`;
cache?.on('error', (err) => console.error(`redis: ${err.message}`));
const cacheReady = cache?.connect();

async function counts(visit) {
  const out = { dyno, postgresql: null, redis: null };
  if (db) {
    await ready();
    if (visit) await db.query('INSERT INTO visits (path, dyno) VALUES ($1, $2)', [visit, dyno]);
    out.postgresql = Number((await db.query('SELECT count(*) AS n FROM visits')).rows[0].n);
  }
  if (cache) {
    await cacheReady;
    out.redis = Number(visit ? await cache.incr(counterKey) : (await cache.get(counterKey)) ?? 0);
  }
  return out;
}

function page(c) {
  if (c.postgresql === null) {
    return 'No database yet. Give this app one:\n\n  dynomesh addons:create postgresql\n\nand reload: the dynos restart with DATABASE_URL set.\n';
  }
  const redis = c.redis === null ? '' : `Redis counted ${c.redis} (INCR ${counterKey}).\n`;
  return `Visit #${c.postgresql}, counted in PostgreSQL, served by ${c.dyno}.\n${redis}`;
}

const server = http.createServer(async (req, res) => {
  const url = new URL(req.url, 'http://app');
  const send = (status, type, body) => {
    res.writeHead(status, { 'content-type': `${type}; charset=utf-8`, 'content-length': Buffer.byteLength(body) });
    res.end(body);
  };
  try {
    if (url.pathname === '/stats') return send(200, 'application/json', JSON.stringify(await counts(null)) + '\n');
    if (url.pathname === '/') return send(200, 'text/plain', page(await counts(url.pathname)));
    send(404, 'text/plain', 'Not found\n');
  } catch (err) {
    console.error(`${req.method} ${req.url}: ${err.message}`);
    send(503, 'text/plain', `The database is not answering: ${err.message}\n`);
  }
});

server.listen(port, () => console.log(`node-visits listening on ${port}${db ? ' with DATABASE_URL' : ''}${cache ? ' and REDIS_URL' : ''}`));

// Dynos get SIGTERM on restart, scale-down and release: finish in-flight requests, close the pools, exit.
process.on('SIGTERM', () => {
  server.close(async () => {
    await Promise.allSettled([db?.end(), cache?.quit()]);
    process.exit(0);
  });
  server.closeIdleConnections();
});
