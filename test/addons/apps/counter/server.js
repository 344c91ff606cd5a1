// The add-on test app: counts visits in the database named by DATABASE_URL,
// through psql (the stack's PostgreSQL client), so it needs no npm packages.
//   GET /        insert a visit, answer "visits=<row count>"
//   GET /peek?db=NAME  connect to another database with this app's own credentials
const http = require('node:http');
const { execFile } = require('node:child_process');

function psql(url, statements, cb) {
  const args = ['-X', '-q', '-t', '-A', '-v', 'ON_ERROR_STOP=1', url];
  for (const s of statements) args.push('-c', s);
  execFile('psql', args, { timeout: 10000, env: { PATH: process.env.PATH, HOME: process.env.HOME } }, (err, stdout, stderr) => {
    // psql's first error line says what failed ("FATAL: permission denied for database ...").
    const lines = (stderr || (err && err.message) || '').trim().split('\n');
    cb(err ? lines.find((l) => /FATAL|ERROR|error:/.test(l)) || lines[0] : null, stdout.trim());
  });
}

const server = http.createServer((req, res) => {
  const u = new URL(req.url, 'http://x');
  const send = (status, body) => {
    res.writeHead(status, { 'content-type': 'text/plain; charset=utf-8' });
    res.end(body + '\n');
  };
  const url = process.env.DATABASE_URL;
  if (!url) return send(503, 'no DATABASE_URL');
  if (u.pathname === '/peek') {
    const other = new URL(url);
    other.pathname = '/' + (u.searchParams.get('db') || '');
    return psql(other.toString(), ['SELECT 1'], (err) => send(err ? 403 : 200, err || 'connected'));
  }
  psql(url, [
    'CREATE TABLE IF NOT EXISTS visits (id serial PRIMARY KEY, at timestamptz NOT NULL DEFAULT now())',
    'INSERT INTO visits DEFAULT VALUES',
    'SELECT count(*) FROM visits',
  ], (err, out) => send(err ? 500 : 200, err || `visits=${out} dyno=${process.env.DYNO}`));
});
server.listen(Number(process.env.PORT || 5000), () => console.log('counter listening'));
process.on('SIGTERM', () => server.close(() => process.exit(0)));
