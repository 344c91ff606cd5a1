/** One app: its name, a tab list, and the selected tab. Each tab is a link (`#/apps/x/logs`), so it works with the keyboard and history. */
import { html } from 'htm/preact';
import { useEffect, useRef } from 'preact/hooks';
import { appPath, get } from '../api.ts';
import { useResource } from '../hooks.ts';
import { href, TABS, type Tab } from '../route.ts';
import { Activity } from './activity.ts';
import { Deploy } from './deploy.ts';
import { Logs } from './logs.ts';
import { Metrics } from './metrics.ts';
import { Overview } from './overview.ts';
import { Resources } from './resources.ts';
import { Settings } from './settings.ts';
import { Status } from './ui.ts';

const TITLES: Record<Tab, string> = {
  overview: 'Overview', resources: 'Resources', deploy: 'Deploy', activity: 'Activity', settings: 'Settings', logs: 'Logs', metrics: 'Metrics',
};

export interface AppJson {
  name: string;
  web_url: string;
  git_url: string;
  maintenance: boolean;
  current_release: { version: number } | null;
}

export function AppPage({ app, tab }: { app: string; tab: Tab }) {
  const info = useResource(() => get<AppJson>(appPath(app)), [app], 15_000);
  const heading = useRef<HTMLHeadingElement>(null);
  useEffect(() => heading.current?.focus(), [tab]);
  const View = { overview: Overview, resources: Resources, deploy: Deploy, activity: Activity, settings: Settings, logs: Logs, metrics: Metrics }[tab];
  return html`
    <p class="crumbs"><a href=${href()}>Apps</a> /</p>
    <h1>${app}</h1>
    <${Status} r=${info}>${(a: AppJson) => html`
      <p class="muted app-links"><a href=${a.web_url} rel="noreferrer">${a.web_url}</a>${a.maintenance ? html` <span class="badge warn">maintenance</span>` : ''}</p>`}<//>
    <nav aria-label="App sections">
      <ul class="tabs">
        ${TABS.map((t) => html`<li key=${t}><a href=${href(app, t)} aria-current=${t === tab ? 'page' : undefined}>${TITLES[t]}</a></li>`)}
      </ul>
    </nav>
    <section aria-labelledby="tab-title">
      <h2 id="tab-title" tabindex="-1" ref=${heading}>${TITLES[tab]}</h2>
      <${View} app=${app} appInfo=${info} />
    </section>`;
}
