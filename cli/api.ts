/**
 * A small Platform API client: bearer token, Heroku's Accept header, JSON in
 * and out. Every failure becomes a CliError with one line: the platform's own
 * message when it sent one (it already says what to do), else what we could
 * not reach and how to fix it.
 */
import { credentials } from './config.ts';
import { CliError } from './errors.ts';
import { assertTokenTransport } from './transport.ts';

export const ACCEPT = 'application/vnd.heroku+json; version=3';

export interface ApiResponse<T> {
  status: number;
  body: T;
  headers: Headers;
}

/** The control plane answered 404 because it has no such route (a feature it does not run). */
export class MissingRouteError extends CliError {
  override name = 'MissingRouteError';
}

export class ApiClient {
  constructor(
    readonly baseUrl: string,
    private readonly token: string | undefined,
    private readonly timeoutMs = 30_000,
  ) {}

  static fromConfig(): ApiClient {
    const { apiUrl, token } = credentials();
    return new ApiClient(apiUrl, token);
  }

  get authorization(): string | undefined {
    return this.token ? `Bearer ${this.token}` : undefined;
  }

  /** The raw response (for streams); throws CliError on network failure or a non-2xx status. */
  async raw(method: string, path: string, body?: unknown, opts: { timeoutMs?: number; accept?: string } = {}): Promise<Response> {
    if (!this.token) throw new CliError(`not logged in to ${this.baseUrl}; run \`dynomesh login\` (or start a local cluster with \`dynomesh up\`)`);
    assertTokenTransport(this.baseUrl);
    let res: Response;
    try {
      res = await fetch(this.baseUrl + path, {
        method,
        headers: {
          authorization: `Bearer ${this.token}`,
          accept: opts.accept ?? ACCEPT,
          'user-agent': 'dynomesh-cli/0.1.0',
          ...(body !== undefined ? { 'content-type': 'application/json' } : {}),
        },
        ...(body !== undefined ? { body: JSON.stringify(body) } : {}),
        ...(opts.timeoutMs === 0 ? {} : { signal: AbortSignal.timeout(opts.timeoutMs ?? this.timeoutMs) }),
      });
    } catch (err) {
      throw networkError(this.baseUrl, err);
    }
    if (res.ok) return res;
    throw await apiError(res, method, path);
  }

  async request<T = unknown>(method: string, path: string, body?: unknown): Promise<ApiResponse<T>> {
    const res = await this.raw(method, path, body);
    const text = await res.text();
    let parsed: unknown = undefined;
    if (text) {
      try {
        parsed = JSON.parse(text);
      } catch {
        throw new CliError(`the control plane at ${this.baseUrl} answered ${method} ${path} with something that is not JSON; is that URL really a dynomesh API?`);
      }
    }
    return { status: res.status, body: parsed as T, headers: res.headers };
  }

  get = <T = unknown>(path: string) => this.request<T>('GET', path).then((r) => r.body);
  post = <T = unknown>(path: string, body: unknown = {}) => this.request<T>('POST', path, body).then((r) => r.body);
  patch = <T = unknown>(path: string, body: unknown) => this.request<T>('PATCH', path, body).then((r) => r.body);
  delete = <T = unknown>(path: string) => this.request<T>('DELETE', path).then((r) => r.body);
}

export function networkError(baseUrl: string, err: unknown): CliError {
  const e = err as Error & { cause?: { code?: string } };
  if (e.name === 'TimeoutError' || e.name === 'AbortError') {
    return new CliError(`the control plane at ${baseUrl} did not answer in time; check that it is running and try again`);
  }
  const code = e.cause?.code ?? (e as NodeJS.ErrnoException).code ?? e.message;
  return new CliError(`cannot reach the control plane at ${baseUrl} (${code}); start one with \`dynomesh up\`, or point the CLI at yours with \`dynomesh login --api <url>\``);
}

async function apiError(res: Response, method: string, path: string): Promise<CliError> {
  let id = '';
  let message = '';
  const text = await res.text().catch(() => '');
  try {
    const b = JSON.parse(text) as { id?: string; message?: string };
    id = b.id ?? '';
    message = b.message ?? '';
  } catch {
    message = text.trim().split('\n')[0] ?? '';
  }
  if (res.status === 404 && message.startsWith('no such API resource')) {
    return new MissingRouteError(`${method} ${path.split('?')[0]} is not available on this control plane (it runs no such service yet)`);
  }
  if (res.status === 401) return new CliError(message || 'the API token was refused; run `dynomesh login` with a valid token');
  if (!message) message = `${method} ${path} failed with HTTP ${res.status}${id ? ` (${id})` : ''}`;
  return new CliError(message);
}
