/**
 * `dynomesh run` from a terminal: the test gives the CLI a pseudo-terminal (util-linux
 * `script`) of a known size; the dyno gets a pty of that size (`stty size`), Ctrl-C
 * typed on the terminal interrupts the remote `sleep`, and the exit status comes back.
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { readFileSync, readdirSync } from 'node:fs';
import { join } from 'node:path';
import { ADMIN } from '../build/support.ts';
import { BIN } from '../logs/procs.ts';
import { useEtcd } from '../support/etcd.ts';
import { Stack } from './stack.ts';

const etcd = useEtcd();
const APP = 'shell';
const FIXTURE = join(import.meta.dirname, 'apps/cron');

/** `dynomesh run -a shell -- <cmd>` on a terminal of rows x cols; `type(out)` may answer with keystrokes. */
function onTerminal(s: Stack, cmd: string, rows: number, cols: number, type?: (out: string, keys: (k: string) => void) => void) {
  return new Promise<{ code: number | null; out: string; ms: number }>((resolve) => {
    const started = Date.now();
    const inner = `stty rows ${rows} cols ${cols}; exec ${process.execPath} ${BIN} run -a ${APP} -- ${cmd}`;
    const p = spawn('script', ['-qfec', inner, '/dev/null'], {
      env: { PATH: process.env.PATH, HOME: s.dir, DYNOMESH_API_URL: s.api, DYNOMESH_API_KEY: ADMIN, TERM: 'xterm' },
      stdio: ['pipe', 'pipe', 'pipe'],
    });
    let out = '';
    const keys = (k: string) => p.stdin.write(k);
    p.stdout.on('data', (c: Buffer) => {
      out += c.toString();
      type?.(out, keys);
    });
    p.stderr.on('data', (c: Buffer) => (out += c.toString()));
    const timer = setTimeout(() => p.kill('SIGKILL'), 60_000);
    p.on('close', (code) => {
      clearTimeout(timer);
      resolve({ code, out, ms: Date.now() - started });
    });
  });
}

describe('run with a terminal', () => {
  let s: Stack;

  before(async () => {
    s = await Stack.start(etcd);
    await s.ok('apps:create', APP);
    const files: Record<string, string> = {};
    for (const f of readdirSync(FIXTURE)) if (f !== 'app.json') files[f] = readFileSync(join(FIXTURE, f), 'utf8');
    const push = await s.push(await s.repo(files), APP);
    assert.equal(push.code, 0, push.stderr);
  });
  after(async () => {
    await s?.stop();
  });

  test('the dyno sees the terminal size and a tty', async () => {
    const r = await onTerminal(s, "sh -c 'stty size; test -t 0 && echo on-a-tty; echo $TERM $LINES $COLUMNS'", 33, 101);
    assert.equal(r.code, 0, r.out);
    // The dyno's pty ends lines with \r\n, and the test's own pty adds one more \r.
    assert.match(r.out, /\r\n33 101\r+\n/);
    assert.match(r.out, /on-a-tty\r+\nxterm 33 101\r+\n/);
  });

  test('Ctrl-C interrupts a remote sleep, and its status comes back', async () => {
    let sent = false;
    const r = await onTerminal(s, "sh -c 'echo sleeping; sleep 30; echo not interrupted'", 24, 80, (out, keys) => {
      if (!sent && out.includes('\nsleeping')) { // the dyno's line, not our command line
        sent = true;
        setTimeout(() => keys('\x03'), 500);
      }
    });
    assert.ok(sent, r.out);
    assert.equal(r.code, 130, r.out);
    const remote = r.out.slice(r.out.indexOf('\nsleeping'));
    assert.ok(!remote.includes('not interrupted'), r.out);
    assert.match(remote, /\^C/, 'the dyno\'s terminal echoed the interrupt');
    assert.ok(r.ms < 25_000, `took ${r.ms} ms`);
  });

  test('without a terminal (piped stdin) the dyno gets plain pipes, as before', async () => {
    const r = await s.cli('run', '-a', APP, '--', "sh -c 'test -t 0 || echo no-tty; echo oops >&2'");
    assert.equal(r.code, 0, r.stderr);
    assert.equal(r.stdout, 'no-tty\n');
    assert.match(r.stderr, /oops\n/, 'stderr stays apart');
  });
});
