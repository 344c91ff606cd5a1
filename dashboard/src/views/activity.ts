/** Releases, newest first, with a rollback button on each earlier one that served code (`POST /apps/:app/releases {release}`). */
import { html } from 'htm/preact';
import { api, appPath, get } from '../api.ts';
import { useAction, useResource } from '../hooks.ts';
import { ErrorLine, Status, Time } from './ui.ts';

interface Release {
  id: string;
  version: number;
  description: string;
  status: string;
  current: boolean;
  created_at: string;
  user: { email: string };
  slug: { id: string } | null;
}

export function Activity({ app }: { app: string }) {
  const releases = useResource(() => get<Release[]>(appPath(app, '/releases')), [app], 5_000);
  const act = useAction();
  const rollback = (v: number) => void act.run(() => api('POST', appPath(app, '/releases'), { release: v })).then(() => releases.reload());
  return html`
    <${ErrorLine} error=${act.error} />
    <${Status} r=${releases}>${(list: Release[]) =>
      list.length === 0
        ? html`<p>No releases yet.</p>`
        : html`
          <ol class="list" aria-label="Releases" reversed>
            ${[...list].sort((a, b) => b.version - a.version).map((r) => html`
              <li key=${r.version} data-version=${r.version}>
                <div class="row">
                  <strong>v${r.version}</strong>
                  <span>${r.description}</span>
                  ${r.current ? html`<span class="badge">current</span>` : ''}
                  ${r.status !== 'succeeded' ? html`<span class=${`state state-${r.status}`}>${r.status}</span>` : ''}
                  <span class="muted">${r.user.email}, <${Time} iso=${r.created_at} /></span>
                  ${!r.current && r.status === 'succeeded' && r.slug
                    ? html`<button type="button" class="small" disabled=${act.busy} onClick=${() => rollback(r.version)}>Roll back to v${r.version}</button>`
                    : ''}
                </div>
              </li>`)}
          </ol>`}<//>`;
}
