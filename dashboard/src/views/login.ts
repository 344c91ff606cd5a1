/**
 * Log in with an API token: checked with `GET /account`, then kept in this tab's sessionStorage.
 * Over plain HTTP to another machine the token would cross the network in clear text: as the CLI
 * does, the form refuses unless the user says the network is trusted.
 */
import { html } from 'htm/preact';
import { useState } from 'preact/hooks';
import { request, session } from '../api.ts';

/** This page came over plain HTTP from a host other than this machine. */
const clearText = () => {
  const h = location.hostname.toLowerCase().replace(/^\[|\]$/g, '');
  const loopback = h === 'localhost' || h.endsWith('.localhost') || h === '::1' || /^127\.\d{1,3}\.\d{1,3}\.\d{1,3}$/.test(h);
  return location.protocol === 'http:' && !loopback;
};

export function Login() {
  const [token, setToken] = useState('');
  const [trusted, setTrusted] = useState(false);
  const insecure = clearText();
  const [error, setError] = useState<string | undefined>(undefined);
  const [busy, setBusy] = useState(false);
  const submit = async (e: Event) => {
    e.preventDefault();
    const t = token.trim();
    if (!t) return setError('Paste an API token first.');
    if (insecure && !trusted) return setError('Refusing to send your token over plain HTTP; open the dashboard at the platform\'s https:// address, or confirm this network is trusted.');
    setBusy(true);
    setError(undefined);
    try {
      await request('GET', '/account', { token: t });
      session.set(t);
    } catch (err) {
      setError((err as Error).message);
    } finally {
      setBusy(false);
    }
  };
  return html`
    <main class="login" id="main">
      <h1>dynomesh</h1>
      <form onSubmit=${submit} aria-describedby="login-help">
        <label for="token">API token</label>
        <input id="token" name="token" type="password" autocomplete="off" spellcheck="false" required
          value=${token} onInput=${(e: Event) => setToken((e.target as HTMLInputElement).value)} />
        <p id="login-help" class="hint">Print yours with <code>dynomesh auth:token</code>, or make one with
          <code>dynomesh authorizations:create</code>. It stays in this tab only.</p>
        ${insecure && html`
          <p class="error" id="insecure-help">This page is not served over HTTPS: your token would cross the network in clear text.</p>
          <label class="check"><input type="checkbox" checked=${trusted} onChange=${() => setTrusted(!trusted)} aria-describedby="insecure-help" /> This network is trusted; send it anyway</label>`}
        ${error && html`<p class="error" role="alert">${error}</p>`}
        <button type="submit" disabled=${busy}>${busy ? 'Checking…' : 'Log in'}</button>
      </form>
    </main>`;
}
