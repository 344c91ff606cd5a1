// The static buildpack's web process: serves the app's files on $PORT.
// static.json (optional): { "root": "public/", "clean_urls": true, "error_page": "404.html",
//   "headers": { "/assets/*": { "Cache-Control": "max-age=3600" } } }
'use strict';
const http = require('node:http');
const fs = require('node:fs');
const path = require('node:path');

const appDir = process.cwd();
let config = {};
try {
  config = JSON.parse(fs.readFileSync(path.join(appDir, 'static.json'), 'utf8'));
} catch (err) {
  if (err.code !== 'ENOENT') throw err;
}
const root = path.resolve(appDir, config.root || '.');
const TYPES = {
  '.html': 'text/html; charset=utf-8', '.htm': 'text/html; charset=utf-8', '.css': 'text/css; charset=utf-8',
  '.js': 'text/javascript; charset=utf-8', '.mjs': 'text/javascript; charset=utf-8', '.json': 'application/json',
  '.txt': 'text/plain; charset=utf-8', '.svg': 'image/svg+xml', '.png': 'image/png', '.jpg': 'image/jpeg',
  '.jpeg': 'image/jpeg', '.gif': 'image/gif', '.webp': 'image/webp', '.ico': 'image/x-icon', '.wasm': 'application/wasm',
  '.woff': 'font/woff', '.woff2': 'font/woff2', '.xml': 'application/xml', '.pdf': 'application/pdf', '.map': 'application/json',
};
const globRe = (g) => new RegExp('^' + g.replace(/[.+^${}()|[\]\\]/g, '\\$&').replace(/\*\*/g, '\u0000').replace(/\*/g, '[^/]*').replace(/\u0000/g, '.*') + '$');
const headerRules = Object.entries(config.headers || {}).map(([g, h]) => [globRe(g), h]);

// Resolves a URL path to a file inside root, or null; never leaves root, skips dotfiles.
function resolveFile(urlPath) {
  let p;
  try {
    p = decodeURIComponent(urlPath);
  } catch {
    return null;
  }
  if (p.includes('\0') || p.split('/').some((s) => s.startsWith('.') && s !== '')) return null;
  const full = path.resolve(root, '.' + p);
  if (full !== root && !full.startsWith(root + path.sep)) return null;
  const candidates = [full];
  if (p.endsWith('/')) candidates.unshift(path.join(full, 'index.html'));
  else {
    candidates.push(path.join(full, 'index.html'));
    if (config.clean_urls) candidates.push(full + '.html');
  }
  for (const c of candidates) {
    try {
      if (fs.statSync(c).isFile()) return c;
    } catch {}
  }
  return null;
}

function send(req, res, status, file, extra) {
  const st = fs.statSync(file);
  const etag = `W/"${st.size.toString(16)}-${Math.floor(st.mtimeMs).toString(16)}"`;
  if (status === 200 && req.headers['if-none-match'] === etag) {
    res.writeHead(304, { etag });
    return res.end();
  }
  res.writeHead(status, {
    'content-type': TYPES[path.extname(file).toLowerCase()] || 'application/octet-stream',
    'content-length': st.size, etag, 'last-modified': st.mtime.toUTCString(), ...extra,
  });
  if (req.method === 'HEAD') return res.end();
  fs.createReadStream(file).pipe(res);
}

const server = http.createServer((req, res) => {
  if (req.method !== 'GET' && req.method !== 'HEAD') {
    res.writeHead(405, { allow: 'GET, HEAD' });
    return res.end();
  }
  const urlPath = (req.url || '/').split('?')[0];
  const extra = {};
  for (const [re, h] of headerRules) if (re.test(urlPath)) Object.assign(extra, h);
  const file = resolveFile(urlPath);
  if (file) {
    if (!urlPath.endsWith('/') && path.basename(file) === 'index.html' && !urlPath.endsWith('index.html') && !config.clean_urls) {
      res.writeHead(301, { location: urlPath + '/' });
      return res.end();
    }
    return send(req, res, 200, file, extra);
  }
  const errorPage = config.error_page && resolveFile('/' + config.error_page);
  if (errorPage) return send(req, res, 404, errorPage, {});
  res.writeHead(404, { 'content-type': 'text/plain; charset=utf-8' });
  res.end('Not Found\n');
});
server.listen(Number(process.env.PORT) || 5000, () => {
  console.log(`static site from ${path.relative(appDir, root) || '.'} listening on ${server.address().port}`);
});
process.on('SIGTERM', () => server.close(() => process.exit(0)));
