/** Small pieces every view uses. */
import { html } from 'htm/preact';
import type { Loaded } from '../hooks.ts';

export const ago = (iso: string | null | undefined): string => {
  if (!iso) return '';
  const s = Math.round((Date.now() - Date.parse(iso)) / 1000);
  if (s < 60) return `${Math.max(s, 0)} s ago`;
  if (s < 3600) return `${Math.round(s / 60)} min ago`;
  if (s < 86400) return `${Math.round(s / 3600)} h ago`;
  return new Date(iso).toLocaleDateString();
};

export function Time({ iso }: { iso: string | null | undefined }) {
  return iso ? html`<time datetime=${iso} title=${new Date(iso).toLocaleString()}>${ago(iso)}</time>` : '';
}

/** Loading / failed / the content. */
export function Status<T>({ r, children }: { r: Loaded<T>; children: (data: T) => unknown }) {
  if (r.data === undefined && r.error) return html`<p class="error" role="alert">${r.error}</p>`;
  if (r.data === undefined) return html`<p class="muted" aria-busy="true">Loading…</p>`;
  return html`${r.error && html`<p class="error" role="alert">${r.error} (showing what was loaded before)</p>`}${children(r.data)}`;
}

export const ErrorLine = ({ error }: { error: string | undefined }) => (error ? html`<p class="error" role="alert">${error}</p>` : null);

export const inputValue = (e: Event) => (e.target as HTMLInputElement).value;
