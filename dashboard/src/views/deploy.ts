/** Builds (`GET /apps/:app/builds`) and each one's output (`output_stream_url`, plain text). */
import { html } from 'htm/preact';
import { useState } from 'preact/hooks';
import { appPath, get, sameOrigin, text } from '../api.ts';
import { useResource } from '../hooks.ts';
import { Status, Time } from './ui.ts';

interface Build {
  id: string;
  status: string;
  created_at: string;
  output_stream_url: string;
  release: { version: number } | null;
  source_blob: { version: string | null; ref: string | null };
  user: { email: string };
  failure_message: string | null;
}

function Output({ url }: { url: string }) {
  const out = useResource(() => text(sameOrigin(url)), [url]);
  return html`<${Status} r=${out}>${(t: string) => html`<pre class="output" tabindex="0" aria-label="Build output">${t || '(no output)'}</pre>`}<//>`;
}

export function Deploy({ app, appInfo }: { app: string; appInfo: { data?: { git_url: string } } }) {
  const builds = useResource(() => get<Build[]>(appPath(app, '/builds')), [app], 5_000);
  const [open, setOpen] = useState<string | undefined>(undefined);
  return html`
    <p>Deploy with git: <code>git push dynomesh main</code>${appInfo.data ? html` (remote <code>${appInfo.data.git_url}</code>)` : ''}.</p>
    <${Status} r=${builds}>${(list: Build[]) =>
      list.length === 0
        ? html`<p>No builds yet.</p>`
        : html`
          <ul class="list" aria-label="Builds">
            ${[...list].sort((a, b) => b.created_at.localeCompare(a.created_at)).map((b) => html`
              <li key=${b.id}>
                <div class="row">
                  <span class=${`state state-${b.status}`}>${b.status}</span>
                  <span>${b.source_blob.version ? html`<code>${b.source_blob.version.slice(0, 8)}</code>` : 'source'}${b.release ? ` → v${b.release.version}` : ''}</span>
                  <span class="muted">${b.user.email}, <${Time} iso=${b.created_at} /></span>
                  <button type="button" class="small" aria-expanded=${open === b.id} onClick=${() => setOpen(open === b.id ? undefined : b.id)}>
                    ${open === b.id ? 'Hide output' : 'Show output'}
                  </button>
                </div>
                ${b.failure_message && html`<p class="error">${b.failure_message}</p>`}
                ${open === b.id && html`<${Output} url=${b.output_stream_url} />`}
              </li>`)}
          </ul>`}<//>`;
}
