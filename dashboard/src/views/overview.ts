/**
 * Formation with scale controls (`PATCH /apps/:app/formation/:type`) and the dynos' states
 * (`GET /apps/:app/dynos`, polled every 2 s), restart (`DELETE /apps/:app/dynos[/:dyno]`).
 */
import { html } from 'htm/preact';
import { useState } from 'preact/hooks';
import { api, appPath, get } from '../api.ts';
import { useAction, useResource } from '../hooks.ts';
import { ErrorLine, inputValue, Status, Time } from './ui.ts';

interface Formation {
  type: string;
  quantity: number;
  size: string;
  command: string;
}

interface Dyno {
  name: string;
  type: string;
  state: string;
  size: string;
  release: { version: number };
  restarts?: number;
  message: string | null;
  since: string;
}

function ScaleRow({ app, f, onDone }: { app: string; f: Formation; onDone: () => void }) {
  const [qty, setQty] = useState(String(f.quantity));
  const act = useAction();
  const id = `qty-${f.type}`;
  const scale = (e: Event) => {
    e.preventDefault();
    void act.run(() => api('PATCH', appPath(app, `/formation/${encodeURIComponent(f.type)}`), { quantity: Number(qty) })).then((ok) => ok && onDone());
  };
  return html`
    <tr>
      <th scope="row">${f.type}</th>
      <td><code>${f.command}</code></td>
      <td>${f.size}</td>
      <td>
        <form class="inline" onSubmit=${scale}>
          <label for=${id} class="sr-only">Quantity of ${f.type}</label>
          <input id=${id} type="number" min="0" max="100" inputmode="numeric" value=${qty} onInput=${(e: Event) => setQty(inputValue(e))} />
          <button type="submit" disabled=${act.busy || qty === String(f.quantity)}>Scale ${f.type}</button>
        </form>
        <${ErrorLine} error=${act.error} />
      </td>
    </tr>`;
}

export function Overview({ app }: { app: string }) {
  const formation = useResource(() => get<Formation[]>(appPath(app, '/formation')), [app], 5_000);
  const dynos = useResource(() => get<Dyno[]>(appPath(app, '/dynos')), [app], 2_000);
  const restart = useAction();
  const restartAll = () => void restart.run(() => api('DELETE', appPath(app, '/dynos'))).then(() => dynos.reload());
  return html`
    <h3>Formation</h3>
    <${Status} r=${formation}>${(list: Formation[]) =>
      list.length === 0
        ? html`<p>No process types yet: push code with a Procfile (or a web process a buildpack detects).</p>`
        : html`
          <div class="scroll"><table>
            <caption class="sr-only">Process types and how many dynos each runs</caption>
            <thead><tr><th scope="col">Type</th><th scope="col">Command</th><th scope="col">Size</th><th scope="col">Dynos</th></tr></thead>
            <tbody>${list.map((f) => html`<${ScaleRow} key=${`${f.type}:${f.quantity}`} app=${app} f=${f} onDone=${() => { formation.reload(); dynos.reload(); }} />`)}</tbody>
          </table></div>`}<//>
    <h3>Dynos</h3>
    <${Status} r=${dynos}>${(list: Dyno[]) =>
      list.length === 0
        ? html`<p>No dynos running.</p>`
        : html`
          <div class="scroll"><table aria-label="Dynos">
            <thead><tr><th scope="col">Dyno</th><th scope="col">State</th><th scope="col">Release</th><th scope="col">Since</th><th scope="col" class="wide-only">Restarts</th><th scope="col"><span class="sr-only">Actions</span></th></tr></thead>
            <tbody>${[...list].sort((a, b) => a.name.localeCompare(b.name, undefined, { numeric: true })).map((d) => html`
              <tr key=${d.name} data-dyno=${d.name}>
                <th scope="row">${d.name}</th>
                <td><span class=${`state state-${d.state}`}>${d.state}</span>${d.message ? html` <span class="muted">${d.message}</span>` : ''}</td>
                <td>v${d.release.version}</td>
                <td><${Time} iso=${d.since} /></td>
                <td class="wide-only">${d.restarts ?? 0}</td>
                <td><button type="button" class="small" onClick=${() => void restart.run(() => api('DELETE', appPath(app, `/dynos/${encodeURIComponent(d.name)}`))).then(() => dynos.reload())}>Restart<span class="sr-only"> ${d.name}</span></button></td>
              </tr>`)}
            </tbody>
          </table></div>
          <p><button type="button" onClick=${restartAll} disabled=${restart.busy}>Restart all dynos</button></p>
          <${ErrorLine} error=${restart.error} />`}<//>`;
}
