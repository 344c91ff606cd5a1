/** The dashboard's entry: log in with an API token, then the apps list or one app's tabs. */
import { html, render } from 'htm/preact';
import { useEffect, useState } from 'preact/hooks';
import 'uplot/dist/uPlot.min.css';
import './style.css';
import { session } from './api.ts';
import { useRoute } from './route.ts';
import { Login } from './views/login.ts';
import { AppsList } from './views/apps.ts';
import { AppPage } from './views/app.ts';
import { Account } from './views/account.ts';

function Dashboard() {
  const [token, setToken] = useState(session.token());
  useEffect(() => session.subscribe(() => setToken(session.token())), []);
  const route = useRoute();
  if (!token) return html`<${Login} />`;
  return html`
    <a class="skip" href="#main">Skip to content</a>
    <header class="top">
      <a class="brand" href="#/apps">dynomesh</a>
      <${Account} />
    </header>
    <main id="main" tabindex="-1">
      ${route.page === 'app' ? html`<${AppPage} key=${route.app} app=${route.app} tab=${route.tab} />` : html`<${AppsList} />`}
    </main>`;
}

render(html`<${Dashboard} />`, document.getElementById('root')!);
