/** The apps this token can see (`GET /apps`); for admins, every app's dyno hours this month (`GET /account/usage`). */
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

interface AccountUsage {
  month: string;
  apps: { app: string; totalSeconds: number; lines: { type: string; size: string; dynoHours: number }[] }[];
}

/** Shown only to admins: anyone else gets 403 (or a control without usage, 404) and sees nothing here. */
function AccountUsageTable() {
  const usage = useResource(() => get<AccountUsage>('/account/usage'), [], 60_000);
  const u = usage.data;
  if (!u) return null;
  return html`
    <h2>Dyno hours in ${u.month}</h2>
    ${u.apps.length === 0
      ? html`<p>No dyno time this month yet.</p>`
      : html`
        <div class="scroll"><table aria-label=${`Dyno hours of every app in ${u.month}`}>
          <thead><tr><th scope="col">App</th><th scope="col">Process types</th><th scope="col">Dyno hours</th></tr></thead>
          <tbody>${u.apps.map((a) => html`
            <tr key=${a.app}>
              <th scope="row"><a href=${href(a.app)}>${a.app}</a></th>
              <td>${a.lines.map((l) => `${l.type} (${l.size}) ${l.dynoHours.toFixed(2)}`).join(', ')}</td>
              <td>${(a.totalSeconds / 3600).toFixed(2)}</td>
            </tr>`)}
          </tbody>
          <tfoot><tr><th scope="row" colspan="2">All apps</th><td>${(u.apps.reduce((s, a) => s + a.totalSeconds, 0) / 3600).toFixed(2)}</td></tr></tfoot>
        </table></div>`}`;
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
          </ul>`}<//>
    <${AccountUsageTable} />`;
}
