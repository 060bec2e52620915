/**
 * Latency by percentile as an SVG chart (`bench --plot`, `socktool plot`): the picture HdrHistogram's plotter
 * draws, with no browser code and nothing to download, that a browser opens as it is.
 */
import { basename } from 'node:path';
import { percentileDistribution, type LoadSummary } from './load.js';

/** One line of a chart: its label and its percentile distribution, ascending. */
export interface LatencySeries {
  label: string;
  /** [percentile 0-100, latency in µs]; 100 is the largest seen. */
  points: [number, number][];
}

/**
 * The series in HdrHistogram's percentile distribution text (`bench --hgrm`, HdrHistogram's
 * `outputPercentileDistribution`, wrk2's `--latency`): its rows of value (milliseconds), percentile (a fraction)
 * and counts. Throws when `text` holds no such row.
 */
export function readPercentileDistribution(text: string, label: string): LatencySeries {
  const points: [number, number][] = [];
  for (const line of text.split('\n')) {
    const m = /^\s*(\d+(?:\.\d+)?)\s+(\d(?:\.\d+)?)\s+\d+(?:\s+\S+)?\s*$/.exec(line);
    if (m && Number(m[2]) <= 1) points.push([Number(m[2]) * 100, Number(m[1]) * 1000]);
  }
  if (points.length === 0) throw new Error(`${label}: no percentile distribution in it (value, percentile, count rows)`);
  return { label, points };
}

/** A run's series (from its percentile distribution: the chart and the .hgrm file agree), labelled by its address. */
export function latencySeries(s: LoadSummary, label = s.address): LatencySeries {
  return readPercentileDistribution(percentileDistribution(s), label);
}

/** The series of a .hgrm file's text, labelled by its name without the extension. */
export function hgrmSeries(text: string, file: string): LatencySeries {
  return readPercentileDistribution(text, basename(file).replace(/\.hgrm$/, ''));
}

const WIDTH = 880;
const HEIGHT = 520;
const PLOT = { left: 84, right: WIDTH - 28, top: 64, bottom: HEIGHT - 64 };
/** Okabe and Ito's colours: told apart with any colour vision. */
export const CHART_COLOURS = ['#0072B2', '#D55E00', '#009E73', '#CC79A7', '#E69F00', '#56B4E9', '#F0E442', '#000000'];

const escape = (s: string) => s.replace(/[&<>"']/g, (c) => `&#${c.charCodeAt(0)};`);
const fixed = (n: number) => Number(n.toFixed(1)).toString();

/** The nines: 0 for 0 %, 1 for 90 %, 2 for 99 % … (how far a percentile is along the chart). */
const nines = (percentile: number) => Math.log10(100 / (100 - percentile));

/** Ticks 1, 2 or 5 × 10^k apart, from 0 past `max`. */
function ticks(max: number): number[] {
  const raw = max / 5;
  const power = 10 ** Math.floor(Math.log10(raw));
  const step = [1, 2, 5, 10].map((m) => m * power).find((s) => s >= raw)!;
  const out = [];
  for (let v = 0; v < max + step; v += step) out.push(v);
  return out;
}

/** A latency in µs as people read it: µs below a millisecond, then ms, then s. */
function latencyText(us: number): string {
  if (us < 1000) return `${fixed(us)} µs`;
  if (us < 1e6) return `${fixed(us / 1000)} ms`;
  return `${fixed(us / 1e6)} s`;
}

const at = (s: LatencySeries, percentile: number) => s.points.find(([p]) => p >= percentile)?.[1] ?? s.points.at(-1)![1];

/**
 * The chart: percentile along (0 %, 90 %, 99 %, 99.9 % … spaced evenly, as HdrHistogram's plotter spaces them),
 * latency up, a line per series in its own colour, and a legend with each one's p50, p99 and max.
 */
export function latencyChart(series: LatencySeries[], title = 'Latency by percentile'): string {
  if (series.length === 0) throw new Error('a chart needs at least one series');
  // Along: up to the nines the data reach (the largest, drawn at 100 %, at the right edge), at least 99.9 %.
  const reach = Math.max(3, Math.min(6, Math.ceil(Math.max(...series.flatMap((s) => s.points.filter(([p]) => p < 100).map(([p]) => nines(p)))))));
  const top = Math.max(...series.flatMap((s) => s.points.map(([, us]) => us)), 1);
  const yTicks = ticks(top);
  const yMax = yTicks.at(-1)!;
  const x = (percentile: number) => PLOT.left + ((PLOT.right - PLOT.left) * Math.min(percentile >= 100 ? reach : nines(percentile), reach)) / reach;
  const y = (us: number) => PLOT.bottom - ((PLOT.bottom - PLOT.top) * us) / yMax;
  const unit = yMax >= 1e6 ? ['s', 1e6] as const : yMax >= 2000 ? ['ms', 1000] as const : ['µs', 1] as const;
  const parts = [
    `<svg xmlns="http://www.w3.org/2000/svg" width="${WIDTH}" height="${HEIGHT}" viewBox="0 0 ${WIDTH} ${HEIGHT}" font-family="sans-serif" font-size="13">`,
    `<rect width="${WIDTH}" height="${HEIGHT}" fill="#ffffff"/>`,
    `<text x="${WIDTH / 2}" y="28" text-anchor="middle" font-size="17">${escape(title)}</text>`,
  ];
  for (const v of yTicks) {
    parts.push(`<line x1="${PLOT.left}" x2="${PLOT.right}" y1="${fixed(y(v))}" y2="${fixed(y(v))}" stroke="#dddddd"/>`,
      `<text x="${PLOT.left - 8}" y="${fixed(y(v) + 4)}" text-anchor="end">${fixed(v / unit[1])}</text>`);
  }
  for (let n = 0; n <= reach; n++) {
    const label = n === 0 ? '0%' : `${(100 - 100 / 10 ** n).toFixed(Math.max(0, n - 2))}%`;
    const px = fixed(PLOT.left + ((PLOT.right - PLOT.left) * n) / reach);
    parts.push(`<line x1="${px}" x2="${px}" y1="${PLOT.top}" y2="${PLOT.bottom}" stroke="#dddddd"/>`,
      `<text x="${px}" y="${PLOT.bottom + 20}" text-anchor="middle">${label}</text>`);
  }
  parts.push(`<text x="${(PLOT.left + PLOT.right) / 2}" y="${HEIGHT - 18}" text-anchor="middle">percentile</text>`,
    `<text transform="translate(22 ${(PLOT.top + PLOT.bottom) / 2}) rotate(-90)" text-anchor="middle">latency (${unit[0]})</text>`,
    `<rect x="${PLOT.left}" y="${PLOT.top}" width="${PLOT.right - PLOT.left}" height="${PLOT.bottom - PLOT.top}" fill="none" stroke="#888888"/>`);
  series.forEach((s, i) => {
    const colour = CHART_COLOURS[i % CHART_COLOURS.length];
    const line = s.points.map(([p, us]) => `${fixed(x(p))},${fixed(y(us))}`).join(' ');
    parts.push(`<polyline points="${line}" fill="none" stroke="${colour}" stroke-width="2.5" stroke-linejoin="round"/>`);
    const ly = PLOT.top + 18 + i * 20;
    const summary = `p50 ${latencyText(at(s, 50))} · p99 ${latencyText(at(s, 99))} · max ${latencyText(s.points.at(-1)![1])}`;
    parts.push(`<line x1="${PLOT.left + 12}" x2="${PLOT.left + 36}" y1="${ly - 4}" y2="${ly - 4}" stroke="${colour}" stroke-width="3"/>`,
      `<text x="${PLOT.left + 44}" y="${ly}">${escape(s.label)}  <tspan fill="#555555">${summary}</tspan></text>`);
  });
  parts.push('</svg>');
  return `${parts.join('\n')}\n`;
}
