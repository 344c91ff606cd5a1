/** Who is logged in, and the way out. */
import { html } from 'htm/preact';
import { get, session } from '../api.ts';
import { useResource } from '../hooks.ts';

export function Account() {
  const me = useResource(() => get<{ email: string }>('/account'), []);
  return html`
    <div class="account">
      ${me.data && html`<span class="who">${me.data.email}</span>`}
      <button type="button" class="link" onClick=${() => session.clear()}>Log out</button>
    </div>`;
}
