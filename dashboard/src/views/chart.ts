/**
 * One uPlot time-series chart in a <figure>: the caption names it and says the latest figures in
 * words (what a screen reader reads; the canvas is decoration for it). Sized to its container,
 * so it fits a phone; new data is set in place, the chart is made once.
 */
import { html } from 'htm/preact';
import { useEffect, useRef } from 'preact/hooks';
import uPlot from 'uplot';

import type { Series } from '../metrics-data.ts';

export function Chart({ id, title, summary, unit, series, data }: { id: string; title: string; summary: string; unit: string; series: Series[]; data: uPlot.AlignedData }) {
  const box = useRef<HTMLDivElement>(null);
  const plot = useRef<uPlot | null>(null);

  useEffect(() => {
    const el = box.current!;
    const width = () => Math.max(240, el.clientWidth);
    const u = new uPlot({
      width: width(),
      height: 200,
      series: [{}, ...series.map((s) => ({ label: s.label, stroke: s.stroke, width: 2, spanGaps: false, ...(s.dash ? { dash: s.dash } : {}), ...(s.dots ? { points: { show: true, size: 5 } } : {}) }))],
      axes: [{ stroke: 'currentColor', grid: { stroke: 'rgba(128,128,128,0.2)' } }, { stroke: 'currentColor', grid: { stroke: 'rgba(128,128,128,0.2)' }, values: (_u, vals) => vals.map((v) => `${v}${unit}`), size: 60 }],
      scales: { x: { time: true } },
      legend: { live: false },
      cursor: { drag: { x: false, y: false } },
    }, data, el);
    plot.current = u;
    const ro = new ResizeObserver(() => u.setSize({ width: width(), height: 200 }));
    ro.observe(el);
    return () => {
      ro.disconnect();
      u.destroy();
      plot.current = null;
    };
  }, [series.map((s) => s.label).join('|')]);

  useEffect(() => plot.current?.setData(data), [data]);

  return html`
    <figure class="chart" id=${id} aria-labelledby=${`${id}-title`} aria-describedby=${`${id}-summary`}>
      <figcaption><strong id=${`${id}-title`}>${title}</strong> <span id=${`${id}-summary`} class="muted" data-summary>${summary}</span></figcaption>
      <div ref=${box} class="plot" aria-hidden="true"></div>
    </figure>`;
}
