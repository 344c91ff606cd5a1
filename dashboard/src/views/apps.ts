/** The apps this token can see (`GET /apps`). */
import { html } from 'htm/preact';
import { get } from '../api.ts';
import { useResource } from '../hooks.ts';
import { href } from '../route.ts';
import { Status, Time } from './ui.ts';

interface AppJson {
  name: string;
  owner: { email: string };
  current_release: { version: number } | null;
  released_at: string | null;
  maintenance: boolean;
  web_url: string;
}

export function AppsList() {
  const apps = useResource(() => get<AppJson[]>('/apps'), [], 10_000);
  return html`
    <h1>Apps</h1>
    <${Status} r=${apps}>${(list: AppJson[]) =>
      list.length === 0
        ? html`<p>No apps yet. Create one with <code>dynomesh apps:create</code> and <code>git push dynomesh main</code>.</p>`
        : html`
          <ul class="cards" aria-label="Apps">
            ${[...list].sort((a, b) => a.name.localeCompare(b.name)).map((a) => html`
              <li key=${a.name}>
                <a class="card" href=${href(a.name)}>
                  <strong>${a.name}</strong>
                  <span class="muted">${a.current_release ? html`v${a.current_release.version}, released <${Time} iso=${a.released_at} />` : 'not deployed yet'}</span>
                  <span class="muted">${a.owner.email}${a.maintenance ? ' · in maintenance' : ''}</span>
                </a>
              </li>`)}
          </ul>`}<//>`;
}
