/** Where the user is: the URL's hash (`#/apps/hello/logs`), so reloads and the back button work and the server serves one page. */
import { useEffect, useState } from 'preact/hooks';

export const TABS = ['overview', 'resources', 'deploy', 'activity', 'settings', 'logs', 'metrics'] as const;
export type Tab = (typeof TABS)[number];

export type Route = { page: 'apps' } | { page: 'app'; app: string; tab: Tab };

export function parseRoute(hash: string): Route {
  const parts = hash.replace(/^#\/?/, '').split('/').filter(Boolean).map(decodeURIComponent);
  if (parts[0] === 'apps' && parts[1]) {
    const tab = (TABS as readonly string[]).includes(parts[2] ?? '') ? (parts[2] as Tab) : 'overview';
    return { page: 'app', app: parts[1], tab };
  }
  return { page: 'apps' };
}

export const href = (app?: string, tab?: Tab) => (app ? `#/apps/${encodeURIComponent(app)}/${tab ?? 'overview'}` : '#/apps');

export function useRoute(): Route {
  const [route, setRoute] = useState(() => parseRoute(location.hash));
  useEffect(() => {
    const on = () => setRoute(parseRoute(location.hash));
    addEventListener('hashchange', on);
    return () => removeEventListener('hashchange', on);
  }, []);
  return route;
}
