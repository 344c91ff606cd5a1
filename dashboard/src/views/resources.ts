/** The app's add-ons (`GET /apps/:app/addons`) and its dyno usage this month (`GET /apps/:app/usage`). */
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

interface Usage {
  month: string;
  lines: { type: string; size: string; seconds: number; dynoHours: number }[];
  totalSeconds: number;
}

function DynoUsage({ app }: { app: string }) {
  const usage = useResource(() => get<Usage>(appPath(app, '/usage')), [app], 30_000);
  if (!usage.data && usage.status === 404 && /no such API resource/.test(usage.error ?? '')) return html`<p>This control plane does not meter dyno usage.</p>`;
  return html`<${Status} r=${usage}>${(u: Usage) =>
    u.lines.length === 0
      ? html`<p>No dyno time in ${u.month} yet.</p>`
      : html`
        <div class="scroll"><table aria-label=${`Dyno usage in ${u.month}`}>
          <thead><tr><th scope="col">Process type</th><th scope="col">Size</th><th scope="col">Dyno hours</th></tr></thead>
          <tbody>${u.lines.map((l) => html`<tr key=${`${l.type}:${l.size}`}><th scope="row">${l.type}</th><td>${l.size}</td><td>${l.dynoHours.toFixed(2)}</td></tr>`)}</tbody>
          <tfoot><tr><th scope="row" colspan="2">Total in ${u.month}</th><td>${(u.totalSeconds / 3600).toFixed(2)}</td></tr></tfoot>
        </table></div>`}<//>`;
}

export function Resources({ app }: { app: string }) {
  const addons = useResource(() => get<Addon[]>(appPath(app, '/addons')), [app], 10_000);
  return html`
    <h3>Add-ons</h3>
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
          </table></div>`}<//>
    <h3>Dyno usage this month</h3>
    <${DynoUsage} app=${app} />`;
}
