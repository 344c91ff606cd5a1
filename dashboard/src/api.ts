/**
 * The Platform API from the browser, as any client calls it: `Authorization: Bearer <token>` on
 * every request, same origin. The token lives in this tab's sessionStorage (gone when the tab
 * closes) and is never put in a URL.
 */
const KEY = 'dynomesh.token';
const ACCEPT = 'application/vnd.heroku+json; version=3';

type Listener = () => void;
const listeners = new Set<Listener>();

export const session = {
  token: (): string | null => sessionStorage.getItem(KEY),
  set(token: string): void {
    sessionStorage.setItem(KEY, token);
    listeners.forEach((l) => l());
  },
  clear(): void {
    sessionStorage.removeItem(KEY);
    listeners.forEach((l) => l());
  },
  subscribe(l: Listener): () => void {
    listeners.add(l);
    return () => listeners.delete(l);
  },
};

export class ApiError extends Error {
  constructor(readonly status: number, message: string, readonly id?: string) {
    super(message);
  }
}

/** Plain `fetch` with the token; a 401 ends the session (the token was revoked or expired). */
export async function request(method: string, path: string, init: { body?: unknown; token?: string; signal?: AbortSignal; accept?: string } = {}): Promise<Response> {
  const token = init.token ?? session.token();
  const headers: Record<string, string> = { accept: init.accept ?? ACCEPT };
  if (token) headers.authorization = `Bearer ${token}`;
  if (init.body !== undefined) headers['content-type'] = 'application/json';
  const res = await fetch(path, {
    method,
    headers,
    cache: 'no-store',
    credentials: 'omit',
    ...(init.body !== undefined ? { body: JSON.stringify(init.body) } : {}),
    ...(init.signal ? { signal: init.signal } : {}),
  });
  if (!res.ok) {
    let message = `${method} ${path} answered HTTP ${res.status}`;
    let id: string | undefined;
    try {
      const j = (await res.json()) as { message?: string; id?: string };
      if (j.message) message = j.message;
      id = j.id;
    } catch {
      /* not JSON: keep the status line */
    }
    if (res.status === 401 && !init.token) session.clear();
    throw new ApiError(res.status, message, id);
  }
  return res;
}

export async function api<T>(method: string, path: string, body?: unknown): Promise<T> {
  const res = await request(method, path, body === undefined ? {} : { body });
  const text = await res.text();
  return (text ? JSON.parse(text) : undefined) as T;
}

export const get = <T>(path: string) => api<T>('GET', path);

export async function text(path: string): Promise<string> {
  return (await request('GET', path, { accept: 'text/plain' })).text();
}

/** `/apps/x` with the app name escaped. */
export const appPath = (app: string, rest = '') => `/apps/${encodeURIComponent(app)}${rest}`;

/** The path of an absolute URL the API handed out (output and log-session URLs name the control's advertised address); fetched on our own origin. */
export const sameOrigin = (url: string) => {
  const u = new URL(url, location.origin);
  return u.pathname + u.search;
};
