// The pre-receive hook of every app repo (plain JS: it starts on each push, so no
// TypeScript loader). It hands the ref updates to the control process that is
// serving this push, over the control's hook socket with the push's one-time
// secret, copies the build output to stdout as it arrives (receive-pack relays it
// to the pusher as `remote:` lines) and exits with the build's verdict.
//
// Wire format, control -> hook: frames of [type u8][length u32 BE][payload];
// type 1 = output bytes, type 2 = exit code (payload: one byte).
import { connect } from 'node:net';

const socket = process.env.DYNOMESH_HOOK_SOCKET;
const secret = process.env.DYNOMESH_PUSH_SECRET;
if (!socket || !secret) {
  process.stderr.write('dynomesh: this push did not come through the dynomesh git service; refusing it\n');
  process.exit(1);
}

let input = '';
process.stdin.setEncoding('utf8');
for await (const chunk of process.stdin) input += chunk;
const refs = input.split('\n').filter(Boolean).map((line) => {
  const [oldSha, newSha, ref] = line.split(' ');
  return { old: oldSha, new: newSha, ref };
});
const gitEnv = {};
for (const k of ['GIT_OBJECT_DIRECTORY', 'GIT_ALTERNATE_OBJECT_DIRECTORIES', 'GIT_QUARANTINE_PATH']) {
  if (process.env[k]) gitEnv[k] = process.env[k];
}

const conn = connect(socket);
let buf = Buffer.alloc(0);
let code;
conn.on('connect', () => conn.write(JSON.stringify({ secret, refs, gitEnv, repo: process.cwd() }) + '\n'));
conn.on('data', (chunk) => {
  buf = Buffer.concat([buf, chunk]);
  while (buf.length >= 5) {
    const len = buf.readUInt32BE(1);
    if (buf.length < 5 + len) break;
    const type = buf[0];
    const payload = buf.subarray(5, 5 + len);
    buf = buf.subarray(5 + len);
    if (type === 1) process.stdout.write(payload);
    else if (type === 2) code = payload[0];
  }
});
conn.on('error', (err) => {
  process.stdout.write(` !     The control plane's build service is unreachable (${err.code ?? err.message}); nothing was deployed.\n`);
});
conn.on('close', () => {
  if (code === undefined) process.stdout.write(' !     The build was interrupted; nothing was deployed.\n');
  process.exitCode = code ?? 1;
});
