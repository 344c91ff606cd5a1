/** The response bodies every backend serves, by path; one definition so both backends agree byte for byte. */
export const HELLO = Buffer.from('Hello, World!'); // 13 bytes, as in the anchors

export const BODIES: Record<string, Buffer> = {
  '/hello': HELLO,
  '/16k': Buffer.alloc(16 * 1024, 'a'),
  '/1m': Buffer.alloc(1024 * 1024, 'b'),
};

/** Path that accepts a POST body, reads it all and answers with its length. */
export const UPLOAD_PATH = '/upload';

export function bodyFor(path: string): Buffer {
  const q = path.indexOf('?');
  return BODIES[q < 0 ? path : path.slice(0, q)] ?? HELLO;
}

/** Parse `--port N --id X` from a backend's argv. */
/** `--host` is 127.0.0.1 on the host; in its own network namespace the backend listens on 0.0.0.0, as a dyno does. */
export function backendArgs(argv: string[]): { port: number; id: string; host: string } {
  let port = 0;
  let id = 'backend';
  let host = '127.0.0.1';
  for (let i = 0; i < argv.length; i++) {
    if (argv[i] === '--port') port = Number(argv[++i]);
    else if (argv[i] === '--id') id = String(argv[++i]);
    else if (argv[i] === '--host') host = String(argv[++i]);
  }
  if (!Number.isInteger(port) || port <= 0 || port > 65535) throw new Error('backend: --port <1-65535> is required');
  return { port, id, host };
}
