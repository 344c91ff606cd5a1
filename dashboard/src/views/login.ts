/** Log in with an API token: checked with `GET /account`, then kept in this tab's sessionStorage. */
import { html } from 'htm/preact';
import { useState } from 'preact/hooks';
import { request, session } from '../api.ts';

export function Login() {
  const [token, setToken] = useState('');
  const [error, setError] = useState<string | undefined>(undefined);
  const [busy, setBusy] = useState(false);
  const submit = async (e: Event) => {
    e.preventDefault();
    const t = token.trim();
    if (!t) return setError('Paste an API token first.');
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
        ${error && html`<p class="error" role="alert">${error}</p>`}
        <button type="submit" disabled=${busy}>${busy ? 'Checking…' : 'Log in'}</button>
      </form>
    </main>`;
}
