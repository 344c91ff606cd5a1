/**
 * Config vars (`GET`/`PATCH /apps/:app/config-vars`, hidden until revealed), domains, maintenance
 * (`PATCH /apps/:app {maintenance}`) and certificates (`GET /apps/:app/sni-endpoints`).
 */
import { html } from 'htm/preact';
import { useState } from 'preact/hooks';
import { api, appPath, get } from '../api.ts';
import { useAction, useResource, type Loaded } from '../hooks.ts';
import type { AppJson } from './app.ts';
import { ErrorLine, inputValue, Status } from './ui.ts';

function ConfigVar({ app, name, value, onDone }: { app: string; name: string; value: string; onDone: () => void }) {
  const [v, setV] = useState(value);
  const act = useAction();
  const id = `cv-${name}`;
  const patch = (body: Record<string, string | null>) => void act.run(() => api('PATCH', appPath(app, '/config-vars'), body)).then((ok) => ok && onDone());
  return html`
    <tr data-config-var=${name}>
      <th scope="row"><label for=${id}>${name}</label></th>
      <td><input id=${id} class="wide" value=${v} spellcheck="false" onInput=${(e: Event) => setV(inputValue(e))} /><${ErrorLine} error=${act.error} /></td>
      <td class="actions">
        <button type="button" class="small" disabled=${act.busy || v === value} onClick=${() => patch({ [name]: v })}>Save ${name}</button>
        <button type="button" class="small danger" disabled=${act.busy} onClick=${() => patch({ [name]: null })}>Remove ${name}</button>
      </td>
    </tr>`;
}

function ConfigVars({ app }: { app: string }) {
  const [shown, setShown] = useState(false);
  const vars = useResource(() => (shown ? get<Record<string, string>>(appPath(app, '/config-vars')) : Promise.resolve({})), [app, shown]);
  const [key, setKey] = useState('');
  const [value, setValue] = useState('');
  const add = useAction();
  const submit = (e: Event) => {
    e.preventDefault();
    void add.run(() => api('PATCH', appPath(app, '/config-vars'), { [key.trim()]: value })).then((ok) => {
      if (!ok) return;
      setKey('');
      setValue('');
      vars.reload();
    });
  };
  if (!shown) {
    return html`<p>Config vars are hidden. <button type="button" onClick=${() => setShown(true)}>Reveal config vars</button></p>`;
  }
  return html`
    <${Status} r=${vars}>${(cv: Record<string, string>) => html`
      <div class="scroll"><table aria-label="Config vars">
        <thead><tr><th scope="col">Name</th><th scope="col">Value</th><th scope="col"><span class="sr-only">Actions</span></th></tr></thead>
        <tbody>${Object.keys(cv).sort().map((k) => html`<${ConfigVar} key=${`${k}=${cv[k]}`} app=${app} name=${k} value=${cv[k]!} onDone=${vars.reload} />`)}</tbody>
      </table></div>`}<//>
    <form class="add" onSubmit=${submit} aria-label="Add a config var">
      <label for="cv-new-key">New config var name</label>
      <input id="cv-new-key" required pattern="[A-Za-z_][A-Za-z0-9_]*" spellcheck="false" value=${key} onInput=${(e: Event) => setKey(inputValue(e))} />
      <label for="cv-new-value">Value</label>
      <input id="cv-new-value" spellcheck="false" value=${value} onInput=${(e: Event) => setValue(inputValue(e))} />
      <button type="submit" disabled=${add.busy}>Add config var</button>
    </form>
    <${ErrorLine} error=${add.error} />
    <p class="hint">Each change creates a release and restarts the dynos.</p>`;
}

interface Domain {
  hostname: string;
  kind: string;
  created_at: string;
}

function Domains({ app }: { app: string }) {
  const domains = useResource(() => get<Domain[]>(appPath(app, '/domains')), [app]);
  const [host, setHost] = useState('');
  const act = useAction();
  const submit = (e: Event) => {
    e.preventDefault();
    void act.run(() => api('POST', appPath(app, '/domains'), { hostname: host.trim() })).then((ok) => {
      if (ok) setHost('');
      domains.reload();
    });
  };
  const remove = (h: string) => void act.run(() => api('DELETE', appPath(app, `/domains/${encodeURIComponent(h)}`))).then(() => domains.reload());
  return html`
    <${Status} r=${domains}>${(list: Domain[]) => html`
      <ul class="list" aria-label="Domains">
        ${list.map((d) => html`
          <li key=${d.hostname}><div class="row">
            <code>${d.hostname}</code>
            ${d.kind === 'heroku' ? html`<span class="muted">default</span>` : html`<button type="button" class="small danger" onClick=${() => remove(d.hostname)}>Remove ${d.hostname}</button>`}
          </div></li>`)}
      </ul>`}<//>
    <form class="add" onSubmit=${submit}>
      <label for="domain-new">Add a domain</label>
      <input id="domain-new" required spellcheck="false" placeholder="www.example.com" value=${host} onInput=${(e: Event) => setHost(inputValue(e))} />
      <button type="submit" disabled=${act.busy}>Add domain</button>
    </form>
    <${ErrorLine} error=${act.error} />`;
}

function Maintenance({ app, appInfo }: { app: string; appInfo: Loaded<AppJson> }) {
  const act = useAction();
  const on = appInfo.data?.maintenance ?? false;
  const toggle = () => void act.run(() => api('PATCH', appPath(app), { maintenance: !on })).then(() => appInfo.reload());
  return html`
    <p>
      <label class="check">
        <input type="checkbox" checked=${on} disabled=${act.busy || !appInfo.data} onChange=${toggle} />
        Maintenance mode <span class="muted">(the router answers 503 for every request while on)</span>
      </label>
    </p>
    <${ErrorLine} error=${act.error} />`;
}

interface Sni {
  name: string;
  domains: string[];
  ssl_cert: { 'acm?': boolean; 'self_signed?': boolean; expires_at: string; issuer: string };
}

function Certificates({ app }: { app: string }) {
  const certs = useResource(() => get<Sni[]>(appPath(app, '/sni-endpoints')), [app]);
  return html`<${Status} r=${certs}>${(list: Sni[]) =>
    list.length === 0
      ? html`<p>No certificates. Add one with <code>dynomesh certs:add</code> or turn on automatic ones with <code>dynomesh certs:auto:enable</code>.</p>`
      : html`<ul class="list" aria-label="Certificates">${list.map((c) => html`
          <li key=${c.name}><div class="row">
            <strong>${c.name}</strong><span>${c.domains.join(', ')}</span>
            <span class="muted">${c.ssl_cert['acm?'] ? 'automatic' : c.ssl_cert.issuer}, expires <time datetime=${c.ssl_cert.expires_at}>${new Date(c.ssl_cert.expires_at).toLocaleDateString()}</time></span>
          </div></li>`)}</ul>`}<//>`;
}

export function Settings({ app, appInfo }: { app: string; appInfo: Loaded<AppJson> }) {
  return html`
    <h3>Config vars</h3><${ConfigVars} app=${app} />
    <h3>Domains</h3><${Domains} app=${app} />
    <h3>Maintenance</h3><${Maintenance} app=${app} appInfo=${appInfo} />
    <h3>Certificates</h3><${Certificates} app=${app} />
    ${appInfo.data && html`<p class="hint">Git remote: <code>${appInfo.data.git_url}</code></p>`}`;
}
