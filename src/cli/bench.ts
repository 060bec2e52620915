// `bench`: echo load against an address (the load loop is the addon's, on its own thread: see src/load.ts), or
// with --serve, the echo server to point it at.
import { readFileSync, writeFileSync } from 'node:fs';
import {
  hgrmSeries, latencyAt, latencyChart, latencySeries, loadShape, loadTest, PERCENTILES, percentileDistribution, type Address, type LoadMode, type LoadOptions, type LoadSample, type LoadSummary,
  type TlsOptions,
} from '../index.js';
import { addressArg, datagramReasons, refuseGiven, tlsOptions, type TlsFlags } from './common.js';
import { CliError, UsageError } from './exit.js';
import { oneLine, writeOut, type Output } from './output.js';
import { serveCommand } from './servers.js';

type Given = { given?: ReadonlySet<string> };

export interface BenchOptions extends TlsFlags, Given {
  mode: LoadMode;
  rate?: number;
  sockperf?: boolean;
  size: number;
  connections: number;
  window?: number;
  duration?: number;
  count?: number;
  warmup: number;
  samples?: boolean;
  compare?: string;
  percentiles?: boolean;
  csv?: boolean;
  hgrm?: string;
  plot?: string;
  json?: boolean;
}

export interface BenchServeOptions extends TlsFlags, Given {
  sockperf?: boolean;
  json?: boolean;
  verbose?: boolean;
}

const FOR_THE_LOAD = 'it sets the load, and --serve serves it';

/**
 * `bench --serve`: serve's echo (the fastest socktool has) on ADDRESS, over TLS with --tls --cert --key; with
 * --sockperf, answers as sockperf's server does.
 */
export function benchServe(addr: Address, o: BenchServeOptions, out: Output): Promise<void> {
  refuseGiven(o, {
    mode: FOR_THE_LOAD, rate: FOR_THE_LOAD, size: FOR_THE_LOAD, connections: FOR_THE_LOAD, window: FOR_THE_LOAD, duration: FOR_THE_LOAD,
    count: FOR_THE_LOAD, warmup: FOR_THE_LOAD, samples: FOR_THE_LOAD, compare: FOR_THE_LOAD, percentiles: FOR_THE_LOAD,
    csv: FOR_THE_LOAD, hgrm: FOR_THE_LOAD, plot: FOR_THE_LOAD,
    insecure: 'it is for the client', servername: 'it is for the client',
  });
  // Only what serve needs is passed on: bench's --mode (pingpong|flood) is not serve's --mode (a file's bits).
  return serveCommand(addr, { json: o.json, verbose: o.verbose, handler: o.sockperf ? 'sockperf' : 'echo',
    tls: o.tls, cert: o.cert, key: o.key, ca: o.ca, given: o.given }, out);
}

const int = (n: number) => Math.round(n).toLocaleString('en-US');
const us = (n: number) => (n >= 100 ? int(n) : n.toFixed(1));

/** The live line on a terminal: elapsed, rate, that second's p99 (rewritten in place). */
function progress(address: string): ((s: LoadSample) => void) | undefined {
  if (!process.stdout.isTTY) return undefined;
  return (s) => void process.stdout.write(`\r\x1b[K${oneLine(address)}  ${s.t.toFixed(0)} s  ${int(s.messages)} msg/s  p99 ${us(s.p99)} µs` +
    `${s.lost ? `  lost ${int(s.lost)}` : ''}${s.corrupt ? `  corrupt ${int(s.corrupt)}` : ''}`);
}

/** The histogram in rows of one power of two (µs), each with a bar as long as its share of the largest row. */
function histogramText(histogram: [number, number][], width = 40): string {
  const rows = new Map<number, number>();
  for (const [upper, n] of histogram) {
    const top = 2 ** Math.ceil(Math.log2(Math.max(upper, 1)));
    rows.set(top, (rows.get(top) ?? 0) + n);
  }
  const tops = [...rows.keys()].sort((a, b) => a - b);
  const most = Math.max(...rows.values());
  const total = [...rows.values()].reduce((a, b) => a + b, 0);
  return tops.map((top) => {
    const n = rows.get(top)!;
    const bar = '#'.repeat(Math.round((n / most) * width)) || '.'; // '.': some, too few for a '#'
    return `  ${`≤ ${int(top)} µs`.padStart(14)} | ${bar.padEnd(width)} ${int(n).padStart(12)}  ${((100 * n) / total).toFixed(1).padStart(5)}%`;
  }).join('\n');
}

/** A run's summary; `percentiles`: with the full list (--percentiles). */
function summaryText(s: LoadSummary, percentiles = false): string {
  const what = s.mode === 'pingpong' ? 'one in flight' : s.mode === 'rate' ? `${int(s.target!)}/s asked, ${s.window} in flight at most`
    : `${s.window} in flight`;
  const lines = [
    `${oneLine(s.address)}: ${s.mode}${s.sockperf ? ' (sockperf)' : ''}, ${s.size}-byte messages, ${s.connections} connection${s.connections === 1 ? '' : 's'} × ${what}, ${s.seconds.toFixed(2)} s`,
    `  messages  ${int(s.messages)}   ${int(s.rate)}/s   ${s.mbps.toFixed(1)} MB/s`,
    `  lost      ${int(s.lost)}   corrupt ${int(s.corrupt)}   (sent ${int(s.sent)})${s.unexpected ? `   unexpected ${int(s.unexpected)} bytes` : ''}`,
    `  latency   p50 ${us(s.latency.p50)}   p90 ${us(s.latency.p90)}   p99 ${us(s.latency.p99)}   p99.9 ${us(s.latency.p999)}   max ${us(s.latency.max)}  (µs)`,
  ];
  if (s.tls) lines.push(`  tls       ${s.tls.protocol} ${s.tls.cipher}`);
  if (percentiles) {
    lines.push('', ...PERCENTILES.map((p) => `  ${p === 100 ? 'max' : `p${p}`}`.padEnd(12) + `${us(latencyAt(s, p))} µs`.padStart(16)));
  }
  if (s.histogram.length) lines.push('', histogramText(s.histogram));
  return `${lines.join('\n')}\n`;
}

function compareText(a: LoadSummary, b: LoadSummary): string {
  const row = (name: string, x: number, y: number, fmt: (n: number) => string) =>
    `  ${name.padEnd(12)} ${fmt(x).padStart(14)} ${fmt(y).padStart(14)} ${(x ? y / x : 0).toFixed(2).padStart(8)}×`;
  return [
    `  ${''.padEnd(12)} ${'A'.padStart(14)} ${'B'.padStart(14)} ${'B/A'.padStart(9)}`,
    row('messages/s', a.rate, b.rate, int),
    row('MB/s', a.mbps, b.mbps, (n) => n.toFixed(1)),
    row('p50 µs', a.latency.p50, b.latency.p50, us),
    row('p99 µs', a.latency.p99, b.latency.p99, us),
    row('p99.9 µs', a.latency.p999, b.latency.p999, us),
    row('lost', a.lost, b.lost, int),
    row('corrupt', a.corrupt, b.corrupt, int),
    `  A: ${oneLine(a.address)}`,
    `  B: ${oneLine(b.address)}`,
  ].join('\n') + '\n';
}

/** The run's shape as bench's flags give it. */
function loadOptions(o: BenchOptions): LoadOptions {
  return { mode: o.rate === undefined ? o.mode : 'rate', rate: o.rate, sockperf: o.sockperf, size: o.size, connections: o.connections, window: o.window };
}

async function measure(address: string, o: BenchOptions, tls: TlsOptions | undefined, out: Output, signal: AbortSignal): Promise<LoadSummary> {
  const live = out.json || o.csv ? undefined : progress(address);
  const s = await loadTest(address, {
    ...loadOptions(o), duration: o.duration, count: o.count, warmup: o.warmup, tls, signal,
    onSample: (sample) => {
      if (out.json && o.samples) out.event('sample', { address, ...sample });
      if (o.csv) void writeOut(`${sample.t.toFixed(3)},${sample.messages},${(sample.bytes / 1e6).toFixed(3)},${sample.lost},${sample.corrupt},${sample.p99.toFixed(1)}\n`);
      live?.(sample);
    },
  });
  if (live) process.stdout.write('\r\x1b[K');
  return s;
}

export async function benchCommand(address: string, o: BenchOptions, out: Output): Promise<void> {
  if (o.samples && !out.json) throw new UsageError('--samples goes with --json');
  if (o.rate !== undefined && o.given?.has('mode')) throw new UsageError('--rate sends on a schedule: not with --mode');
  if (o.duration !== undefined && o.count !== undefined) throw new UsageError('--duration and --count: one or the other');
  for (const a of [address, o.compare]) {
    if (a === undefined) continue;
    refuseGiven(o, datagramReasons(addressArg(a)));
    const shape = loadShape(addressArg(a).network, loadOptions(o));
    if (typeof shape === 'string') throw new UsageError(shape);
  }
  if (o.csv && (out.json || o.compare !== undefined)) throw new UsageError('--csv is one run\'s lines alone: not with --json or --compare');
  if (o.hgrm !== undefined && o.compare !== undefined) throw new UsageError('--hgrm holds one run: not with --compare');
  const tls = tlsOptions(o);
  // A file that cannot be written fails now, not after the run.
  if (o.hgrm !== undefined) writeGiven('--hgrm', o.hgrm, '');
  if (o.plot !== undefined) writeGiven('--plot', o.plot, '');
  if (o.csv) await writeOut('t,messages_per_s,mb_per_s,lost,corrupt,p99_us\n');
  // Ctrl-C ends the run early, with what it measured so far.
  const stop = new AbortController();
  const onSignal = () => stop.abort();
  process.once('SIGINT', onSignal);
  process.once('SIGTERM', onSignal);
  try {
    const a = await measure(address, o, tls, out, stop.signal);
    const b = o.compare === undefined ? undefined : await measure(o.compare, o, tls, out, stop.signal);
    if (o.hgrm !== undefined) writeGiven('--hgrm', o.hgrm, percentileDistribution(a));
    if (o.plot !== undefined) writeGiven('--plot', o.plot, latencyChart([a, b].filter((s) => s !== undefined).map((s) => latencySeries(s)), runTitle(a)));
    const listed = (s: LoadSummary) => (o.percentiles ? { percentiles: Object.fromEntries(PERCENTILES.map((p) => [p, latencyAt(s, p)])) } : {});
    // With --csv, its lines were the whole output.
    if (out.json) {
      if (b) out.event('compare', { a: { ...a, ...listed(a) }, b: { ...b, ...listed(b) }, ratio: a.rate ? b.rate / a.rate : 0 });
      else out.event('summary', { ...a, ...listed(a) });
    } else if (!o.csv) {
      await writeOut(summaryText(a, o.percentiles));
      if (b) await writeOut(`\n${summaryText(b, o.percentiles)}\n${compareText(a, b)}`);
    }
    const bad = [a, b].filter((s): s is LoadSummary => s !== undefined && (s.lost > 0 || s.corrupt > 0 || s.unexpected > 0));
    if (bad.length) {
      const s = bad[0]!;
      const flood = s.unexpected ? `, ${int(s.unexpected)} bytes unexpected (answering no message)` : '';
      throw new CliError(`${s.address}: ${int(s.corrupt)} echoes corrupt, ${int(s.lost)} lost${flood}`, 'error-answer');
    }
    const silent = [a, b].find((s) => s !== undefined && (s.messages === 0 || s.stalled));
    if (silent) {
      throw new CliError(`${silent.address}: ${silent.stalled ? 'the echoes stopped (none for 5 s)' : `no echo came back in ${silent.seconds.toFixed(1)} s`}`,
        'error-answer');
    }
  } finally {
    process.off('SIGINT', onSignal);
    process.off('SIGTERM', onSignal);
  }
}

/** Writes `text` to `file`, given as `what` (`--hgrm`): a usage error naming why it cannot be written. */
function writeGiven(what: string, file: string, text: string): void {
  try {
    writeFileSync(file, text);
  } catch (err) {
    throw new UsageError(`${what} ${file}: cannot write it (${(err as NodeJS.ErrnoException).code ?? (err as Error).message})`);
  }
}

/** A chart's title: the load both runs had (they differ only in their addresses, which the legend names). */
function runTitle(s: LoadSummary): string {
  return `Latency by percentile: ${summaryText(s).split('\n')[0]!.replace(/^.*?: /, '').replace(/, [\d.]+ s$/, '')}`;
}

export interface PlotOptions {
  title?: string;
}

/** `plot OUT.svg RUN.hgrm…`: the runs' percentile distributions (bench --hgrm, HdrHistogram, wrk2) on one chart. */
export async function plotCommand(out: string, files: string[], o: PlotOptions): Promise<void> {
  const series = files.map((file) => {
    let text;
    try {
      text = readFileSync(file, 'utf8');
    } catch (err) {
      throw new UsageError(`${file}: cannot read it (${(err as NodeJS.ErrnoException).code ?? (err as Error).message})`);
    }
    try {
      return hgrmSeries(text, file);
    } catch (err) {
      throw new UsageError((err as Error).message);
    }
  });
  writeGiven('plot', out, latencyChart(series, o.title));
}
