/**
 * A hostile app for the isolation tests: a web server whose routes try what a
 * tenant must not manage (reach the host, other dynos, metadata; read other
 * tenants' files and processes; write outside /app and /tmp; fork and fill the
 * disk without bound) and report, as JSON, what happened. Deployed as a slug or
 * by git push; the tests assert each attempt failed.
 */
export const PROBE_APP = `
const http = require('http');
const net = require('net');
const fs = require('fs');
const { spawn } = require('child_process');
const url = require('url');

function tcp(host, port, ms) {
  return new Promise((resolve) => {
    const s = net.connect({ host, port: Number(port) });
    const done = (r) => { s.destroy(); resolve(r); };
    s.setTimeout(ms, () => done({ ok: false, code: 'TIMEOUT' }));
    s.on('connect', () => done({ ok: true }));
    s.on('error', (e) => done({ ok: false, code: e.code }));
  });
}

const kids = [];
const routes = {
  async env() { return { env: process.env, uid: process.getuid(), gid: process.getgid(), cwd: process.cwd() }; },
  async tcp(q) {
    const out = [];
    for (const t of String(q.targets).split(',')) {
      const [host, port] = t.split(':');
      out.push({ target: t, ...(await tcp(host, port, Number(q.ms || 1500))) });
    }
    return out;
  },
  async read(q) {
    return String(q.paths).split(',').map((p) => {
      try { return { path: p, ok: true, bytes: fs.readFileSync(p).length }; } catch (e) { return { path: p, ok: false, code: e.code }; }
    });
  },
  async ls(q) {
    try { return { ok: true, entries: fs.readdirSync(String(q.path)) }; } catch (e) { return { ok: false, code: e.code }; }
  },
  async write(q) {
    return String(q.paths).split(',').map((p) => {
      try { fs.writeFileSync(p, 'probe'); return { path: p, ok: true }; } catch (e) { return { path: p, ok: false, code: e.code }; }
    });
  },
  async procs() {
    const pids = fs.readdirSync('/proc').filter((f) => /^\\d+$/.test(f));
    return pids.map((p) => { try { return fs.readFileSync('/proc/' + p + '/cmdline', 'utf8').replace(/\\0/g, ' ').trim(); } catch { return '?'; } });
  },
  async fork(q) {
    let started = 0; let error = null;
    for (let i = 0; i < Number(q.n); i++) {
      const r = await new Promise((resolve) => {
        const c = spawn('/bin/sleep', ['30'], { stdio: 'ignore' });
        c.once('spawn', () => { kids.push(c); resolve(null); });
        c.once('error', (e) => resolve(e.code));
      });
      if (r) { error = r; break; }
      started++;
    }
    return { started, error };
  },
  async unfork() { for (const k of kids.splice(0)) k.kill('SIGKILL'); return { ok: true }; },
  async fill(q) {
    const chunk = Buffer.alloc(1 << 20, 1);
    let mb = 0;
    try {
      const fd = fs.openSync(String(q.path), 'w');
      try { for (; mb < Number(q.mb); mb++) fs.writeSync(fd, chunk); } finally { fs.closeSync(fd); }
      return { ok: true, mb };
    } catch (e) { return { ok: false, code: e.code, mb }; } finally { try { fs.unlinkSync(String(q.path)); } catch {} }
  },
  /** Speaks the first step of PostgreSQL's protocol (SSLRequest): 'N' or 'S' means a PostgreSQL answered. */
  async pg(q) {
    return new Promise((resolve) => {
      const s = net.connect({ host: String(q.host), port: Number(q.port) });
      const done = (r) => { s.destroy(); resolve(r); };
      s.setTimeout(3000, () => done({ ok: false, code: 'TIMEOUT' }));
      s.on('connect', () => s.write(Buffer.from([0, 0, 0, 8, 4, 210, 22, 47])));
      s.on('data', (b) => done({ ok: true, answer: b.toString('latin1', 0, 1) }));
      s.on('error', (e) => done({ ok: false, code: e.code }));
    });
  },
  async sh(q) {
    const r = require('child_process').spawnSync('/bin/sh', ['-c', String(q.cmd)], { encoding: 'utf8', timeout: 10000 });
    return { status: r.status, out: (r.stdout || '') + (r.stderr || '') };
  },
  async symlink(q) {
    try { fs.symlinkSync(String(q.target), String(q.path)); return { ok: true }; } catch (e) { return { ok: false, code: e.code }; }
  },
};

http.createServer(async (req, res) => {
  const u = url.parse(req.url, true);
  const fn = routes[u.pathname.slice(1)] || (async () => ({ hello: process.env.DYNO }));
  try {
    const body = JSON.stringify(await fn(u.query));
    res.writeHead(200, { 'content-type': 'application/json' }).end(body);
  } catch (e) {
    res.writeHead(500).end(String(e && e.stack || e));
  }
}).listen(Number(process.env.PORT), () => console.log('probe listening on ' + process.env.PORT));
process.on('SIGTERM', () => process.exit(0));
`;
