/** The app's add-ons (`GET /apps/:app/addons`). */
import { html } from 'htm/preact';
import { appPath, get } from '../api.ts';
import { useResource } from '../hooks.ts';
import { Status, Time } from './ui.ts';

interface Addon {
  id: string;
  name: string;
  addon_service: { name: string };
  plan: { name: string };
  attachment: { name: string };
  config_vars: string[];
  state: string;
  created_at: string;
}

export function Resources({ app }: { app: string }) {
  const addons = useResource(() => get<Addon[]>(appPath(app, '/addons')), [app], 10_000);
  return html`
    <${Status} r=${addons}>${(list: Addon[]) =>
      list.length === 0
        ? html`<p>No add-ons. Attach one with <code>dynomesh addons:create postgresql -a ${app}</code>.</p>`
        : html`
          <div class="scroll"><table aria-label="Add-ons">
            <thead><tr><th scope="col">Add-on</th><th scope="col">Plan</th><th scope="col">Config vars</th><th scope="col">State</th><th scope="col">Created</th></tr></thead>
            <tbody>${list.map((a) => html`
              <tr key=${a.id}>
                <th scope="row">${a.name} <span class="muted">(${a.attachment.name})</span></th>
                <td>${a.plan.name}</td>
                <td>${a.config_vars.map((v) => html`<code>${v}</code> `)}</td>
                <td>${a.state}</td>
                <td><${Time} iso=${a.created_at} /></td>
              </tr>`)}
            </tbody>
          </table></div>`}<//>`;
}
