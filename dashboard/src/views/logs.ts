/**
 * The live log, as `dynomesh logs --tail` gets it: `POST /apps/:app/log-sessions {lines, tail: true}`
 * answers a `logplex_url`, whose stream is read with fetch as it arrives. The URL is a capability
 * (no token needed); its path is fetched on this origin. A cut stream is resumed from the last
 * line's time, skipping lines already shown.
 */
import { html } from 'htm/preact';
import { useEffect, useRef, useState } from 'preact/hooks';
import { api, appPath, request, sameOrigin } from '../api.ts';
import { inputValue } from './ui.ts';

const KEEP = 1000;
const RESUME_MS = 2000;

/** `2026-12-03T10:00:00.123456+00:00 app[web.1]: message` → its time, or undefined. */
const timeOf = (line: string) => {
  const t = Date.parse(line.slice(0, line.indexOf(' ')));
  return Number.isNaN(t) ? undefined : t;
};

export function Logs({ app }: { app: string }) {
  const [lines, setLines] = useState<string[]>([]);
  const [state, setState] = useState<'connecting' | 'live' | 'reconnecting'>('connecting');
  const [error, setError] = useState<string | undefined>(undefined);
  const [filter, setFilter] = useState('');
  const [follow, setFollow] = useState(true);
  const box = useRef<HTMLPreElement>(null);

  useEffect(() => {
    const abort = new AbortController();
    const seen = new Set<string>();
    let lastTime: number | undefined;
    let all: string[] = [];
    const add = (fresh: string[]) => {
      const kept = fresh.filter((l) => l && !seen.has(l));
      if (!kept.length) return;
      for (const l of kept) {
        seen.add(l);
        lastTime = timeOf(l) ?? lastTime;
      }
      all = all.concat(kept).slice(-KEEP);
      if (seen.size > KEEP * 4) {
        seen.clear();
        all.forEach((l) => seen.add(l));
      }
      setLines(all);
    };
    const stream = async () => {
      const made = await api<{ logplex_url: string }>('POST', appPath(app, '/log-sessions'), { lines: 100, tail: true });
      let path = sameOrigin(made.logplex_url);
      if (lastTime !== undefined) path += `${path.includes('?') ? '&' : '?'}since=${encodeURIComponent(new Date(lastTime - 5000).toISOString())}`;
      const res = await request('GET', path, { signal: abort.signal, accept: 'text/plain' });
      setState('live');
      setError(undefined);
      const reader = res.body!.pipeThrough(new TextDecoderStream()).getReader();
      let rest = '';
      for (;;) {
        const { value, done } = await reader.read();
        if (done) break;
        const parts = (rest + value).split('\n');
        rest = parts.pop()!;
        add(parts);
      }
    };
    void (async () => {
      while (!abort.signal.aborted) {
        try {
          await stream();
        } catch (err) {
          if (abort.signal.aborted) return;
          setError((err as Error).message);
        }
        if (abort.signal.aborted) return;
        setState('reconnecting');
        await new Promise((r) => setTimeout(r, RESUME_MS));
      }
    })();
    return () => abort.abort();
  }, [app]);

  useEffect(() => {
    if (follow && box.current) box.current.scrollTop = box.current.scrollHeight;
  }, [lines, follow]);

  const shown = filter ? lines.filter((l) => l.includes(filter)) : lines;
  return html`
    <div class="toolbar">
      <p class="muted" role="status">${state === 'live' ? 'Live: new lines appear as they are logged.' : state === 'connecting' ? 'Connecting…' : 'Stream ended; reconnecting…'}</p>
      <label for="log-filter">Filter</label>
      <input id="log-filter" type="search" value=${filter} onInput=${(e: Event) => setFilter(inputValue(e))} />
      <label class="check"><input type="checkbox" checked=${follow} onChange=${() => setFollow(!follow)} /> Follow</label>
    </div>
    ${error && html`<p class="error" role="alert">${error}</p>`}
    <pre class="log" role="log" aria-label="Log lines" tabindex="0" ref=${box}>${shown.join('\n')}</pre>`;
}
