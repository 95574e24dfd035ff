// Time-series charts over uPlot (loaded as a classic script: window.uPlot), sized to their box.
import { html } from './html.js';
import { useEffect, useRef } from 'preact/hooks';

const PALETTE = ['#0b5cad', '#b42318', '#0a7a3d', '#8a5a00', '#6941c6', '#0e7490', '#c11574', '#475467', '#b54708', '#155eef'];

/** A line chart: `t` unix seconds, `series` {label: number[]}; `unit` for the axis. */
export function Chart({ title, t, series, unit, testid }) {
  const box = useRef(null);
  const plot = useRef(null);
  const labels = Object.keys(series ?? {});
  const hasData = t?.length && labels.some((l) => series[l].some((v) => v));
  useEffect(() => {
    const el = box.current;
    if (!el || !window.uPlot || !hasData) return undefined;
    const data = [t, ...labels.map((l) => series[l])];
    const width = Math.max(200, el.clientWidth);
    const opts = {
      width,
      height: 200,
      series: [
        {},
        ...labels.map((l, i) => ({
          label: l,
          stroke: PALETTE[i % PALETTE.length],
          width: 1.5,
          spanGaps: true,
          points: { show: true, size: 4 },
        })),
      ],
      axes: [{}, { label: unit, size: 50 }],
      legend: { live: false },
      cursor: { drag: { x: false, y: false } },
      scales: { x: { time: true } },
    };
    plot.current?.destroy();
    plot.current = new window.uPlot(opts, data, el);
    const ro = new ResizeObserver(() => plot.current?.setSize({ width: Math.max(200, el.clientWidth), height: 200 }));
    ro.observe(el);
    return () => {
      ro.disconnect();
    };
  }, [JSON.stringify([t?.[t.length - 1], labels, labels.map((l) => series[l])])]);
  useEffect(() => () => plot.current?.destroy(), []);
  return html`<section class="card chart" aria-label=${title} data-testid=${testid}>
    <h2>${title}</h2>
    ${hasData ? html`<div ref=${box} role="img" aria-label=${`${title}: ${labels.join(', ')}`}></div>` : html`<p class="empty">No data in this period yet.</p>`}
  </section>`;
}
