/**
 * `run <command>`: a one-off dyno attached to this terminal, and
 * `run:detached`. The control plane places a `run.N` dyno and hands back an
 * attach URL (a WebSocket it relays to the dyno's node). Frames: binary from the
 * dyno = 1 byte channel (1 stdout, 2 stderr) + data, text = `{"type":"exit"}`;
 * binary to the dyno = stdin, text `{"type":"eof"}` closes its stdin. The exit
 * status of the remote command becomes ours. From a terminal (stdin a TTY, no
 * --no-tty) the dyno gets a pseudo-terminal of our window's size, our terminal goes
 * raw (Ctrl-C, Ctrl-Z and keys go to the dyno, as `heroku run`), and window changes
 * are sent as `{"type":"resize"}`; otherwise Ctrl-C closes the socket, which kills the dyno.
 */
import type { Command } from 'commander';
import { WebSocket } from 'ws';
import type { AppFlags } from '../app.ts';
import { commandLine } from '../args.ts';
import { CliError } from '../errors.ts';
import { info, json, print } from '../output.ts';
import { api, appOf, hex, withApp, withJson, type JsonFlags } from '../shared.ts';

interface OneOffJson {
  name: string;
  state: string;
  attach_url: string | null;
}

interface RunFlags extends AppFlags, JsonFlags {
  size?: string;
  type?: string;
  /** commander's --no-tty */
  tty?: boolean;
}

type Io = { stdin: NodeJS.ReadableStream & { isTTY?: boolean; setRawMode?: (raw: boolean) => unknown }; stdout: NodeJS.WritableStream & { rows?: number; columns?: number; on(e: 'resize', f: () => void): unknown; off(e: 'resize', f: () => void): unknown }; stderr: NodeJS.WritableStream };

/** Runs the attached session; resolves with the remote exit status. */
export function attach(url: string, authorization: string, io: { stdin: NodeJS.ReadableStream; stdout: NodeJS.WritableStream; stderr: NodeJS.WritableStream }, tty = false): Promise<number> {
  return new Promise((resolve, reject) => {
    const ws = new WebSocket(url, { headers: { authorization }, handshakeTimeout: 15_000 });
    const term = io as Io;
    const onResize = () => ws.readyState === WebSocket.OPEN && ws.send(JSON.stringify({ type: 'resize', rows: term.stdout.rows, cols: term.stdout.columns }));
    const restore = () => {
      if (!tty) return;
      term.stdin.setRawMode?.(false);
      term.stdout.off('resize', onResize);
    };
    let status: number | null = null;
    let message = '';
    const onData = (d: Buffer) => ws.readyState === WebSocket.OPEN && ws.send(d, { binary: true });
    const onEnd = () => ws.readyState === WebSocket.OPEN && ws.send(JSON.stringify({ type: 'eof' }));
    ws.on('unexpected-response', (_req, res) => {
      let body = '';
      res.on('data', (c: Buffer) => (body += c.toString()));
      res.on('end', () => {
        let m = body;
        try {
          m = (JSON.parse(body) as { message?: string }).message ?? body;
        } catch {
          /* plain text */
        }
        reject(new CliError(`could not attach to the dyno: ${m || `HTTP ${res.statusCode}`}`));
      });
    });
    ws.on('open', () => {
      if (tty) {
        term.stdin.setRawMode?.(true); // keys (Ctrl-C too) go to the dyno's terminal, not to us
        term.stdout.on('resize', onResize);
      }
      io.stdin.on('data', onData);
      io.stdin.once('end', onEnd);
    });
    ws.on('message', (data, isBinary) => {
      const buf = Buffer.isBuffer(data) ? data : Buffer.concat(data as Buffer[]);
      if (isBinary) {
        if (buf.length > 1) (buf[0] === 2 ? io.stderr : io.stdout).write(buf.subarray(1));
        return;
      }
      try {
        const msg = JSON.parse(buf.toString()) as { type?: string; status?: number | null; message?: string };
        if (msg.type === 'exit') {
          status = msg.status ?? 1;
          message = msg.message ?? '';
        }
      } catch {
        /* not a control message */
      }
    });
    ws.on('error', (err) => {
      restore();
      reject(new CliError(`the connection to the dyno failed: ${err.message}`));
    });
    ws.on('close', (code, reason) => {
      restore();
      io.stdin.off('data', onData);
      io.stdin.off('end', onEnd);
      if (status !== null) {
        if (status !== 0 && message) io.stderr.write(`${message}\n`);
        return resolve(status);
      }
      const why = reason.toString() || `closed with code ${code}`;
      reject(new CliError(`the dyno went away before it finished (${why}); see \`dynomesh logs\``));
    });
    process.once('SIGINT', () => {
      ws.close(1000, 'interrupted');
      resolve(130);
    });
  });
}

export function registerRun(program: Command): void {
  withApp(program.command('run <command...>').description('run a command in a one-off dyno attached to this terminal (e.g. dynomesh run -- node -v)'))
    .option('-s, --size <size>', 'dyno size (standard-1x, standard-2x, ...)')
    .option('--type <type>', 'process type name for the dyno (default: run)')
    .option('--no-tty', 'no pseudo-terminal even when stdin is a terminal (output keeps stdout and stderr apart)')
    .passThroughOptions()
    .action(async (argv: string[], flags: RunFlags) => {
      const app = appOf(flags);
      const client = api();
      const command = commandLine(argv);
      const tty = flags.tty !== false && Boolean(process.stdin.isTTY) && Boolean(process.stdout.isTTY);
      process.stderr.write(`Running ${command} on ${hex(app)}... `);
      const dyno = await client.post<OneOffJson>(`/apps/${app}/dynos`, {
        command, attach: true, ...(flags.size ? { size: flags.size } : {}), ...(flags.type ? { type: flags.type } : {}),
        ...(tty ? { tty: { rows: process.stdout.rows || 24, cols: process.stdout.columns || 80, ...(process.env.TERM && /^[A-Za-z0-9._+-]{1,64}$/.test(process.env.TERM) ? { term: process.env.TERM } : {}) } } : {}),
      }).catch((err: unknown) => {
        info('failed');
        throw err;
      });
      info(`up, ${dyno.name}`);
      if (!dyno.attach_url) throw new CliError('the control plane returned no attach URL for the one-off dyno');
      const status = await attach(dyno.attach_url, client.authorization!, { stdin: process.stdin, stdout: process.stdout, stderr: process.stderr }, tty);
      process.exitCode = status;
      // stdin may keep the event loop alive after the remote side has finished.
      process.stdin.pause();
      process.stdin.unref?.();
    });

  withJson(withApp(program.command('run:detached <command...>').description('run a command in a one-off dyno in the background; its output goes to the logs')))
    .option('-s, --size <size>', 'dyno size')
    .passThroughOptions()
    .action(async (argv: string[], flags: RunFlags) => {
      const app = appOf(flags);
      const command = commandLine(argv);
      const dyno = await api().post<OneOffJson>(`/apps/${app}/dynos`, { command, attach: false, ...(flags.size ? { size: flags.size } : {}) });
      if (flags.json) return print(json(dyno));
      info(`Running ${command} on ${hex(app)}... up, ${dyno.name}`);
      info(`Run \`dynomesh logs -a ${app} --dyno ${dyno.name}\` to see its output.`);
    });
}
