/**
 * Echo load against any address: the engine behind `socktool bench`. The load loop runs in the addon on a thread
 * of its own (src/native/loadgen.c), so that what it measures is the server, not this process's event loop.
 */
import { isIP } from 'node:net';
import { rootCertificates } from 'node:tls';
import { formatAddress, isStreamNetwork, parseAddress, type Address } from './core/address.js';
import { NetError } from './core/errors.js';
import { rowOf, socketTypeOf, type Network } from './core/networks.js';
import { resolveInet } from './core/resolve.js';
import { SOCKPERF_HEADER, SOCKPERF_MAX } from './core/sockperf.js';
import { runtimeText } from './core/runtime.js';
import type { TlsOptions } from './core/types.js';
import { consts, encodeAddress, errnoError, native, type LoadTls } from './native/index.js';

/** pingpong: one in flight; flood: `window` in flight; rate: sent on a schedule (`rate` a second). */
export type LoadMode = 'pingpong' | 'flood' | 'rate';

export interface LoadOptions {
  /**
   * pingpong: one message in flight per connection; flood: `window` of them; rate: given with `rate`. Default
   * pingpong, or rate when `rate` is given.
   */
  mode?: LoadMode;
  /**
   * Messages per second, all connections together, each sent when it is due, whether or not the last was answered
   * (as wrk2 and sockperf's under-load do): its latency counts from when it was due, so a server's stall counts
   * against every message that should have left during it (no coordinated omission). At least 1.
   */
  rate?: number;
  /** Bytes per message, at least 4 (each carries its sequence number), 14 with `sockperf`. Default 64. */
  size?: number;
  /** Connections (datagram senders on datagram networks). Default 1. */
  connections?: number;
  /** Messages in flight per connection at most: flood's window (default 64), or rate's cap (default 1024). */
  window?: number;
  /**
   * Speak sockperf's protocol: each message carries its header (sequence, flags, length), flagged as a client's
   * request for an answer, so that a sockperf server (`sockperf server`, or `serve` with the `sockperf` handler)
   * answers it.
   */
  sockperf?: boolean;
  /** Seconds to measure (default 5), or stop after `count` echoes. */
  duration?: number;
  count?: number;
  /** Seconds of load before measuring starts. Default 0. */
  warmup?: number;
  /**
   * Speak TLS (stream networks), as `dial`'s `tls` does: verified against `ca` (default Node's root
   * certificates) for the address's host name or IP (`localhost` on unix), unless `insecure`.
   */
  tls?: TlsOptions;
  /** Called each second of the measured part. */
  onSample?(sample: LoadSample): void;
  signal?: AbortSignal;
}

/** One second of a run. */
export interface LoadSample {
  /** Seconds since measuring began. */
  t: number;
  messages: number;
  bytes: number;
  lost: number;
  corrupt: number;
  /** That second's 99th percentile latency, in microseconds. */
  p99: number;
}

export interface Latency {
  p50: number;
  p90: number;
  p99: number;
  p999: number;
  max: number;
}

export interface LoadSummary {
  address: string;
  network: Network;
  mode: LoadMode;
  /** Mode rate: the messages a second asked for (`rate` is what came back). */
  target?: number;
  /** The messages carried sockperf's header. */
  sockperf?: boolean;
  size: number;
  connections: number;
  window: number;
  /** Echoes received whole and right. */
  messages: number;
  bytes: number;
  /** Messages sent while measuring. */
  sent: number;
  seconds: number;
  /** Echoes per second. */
  rate: number;
  /** Megabytes (10^6) echoed per second. */
  mbps: number;
  /** Datagrams never echoed (unanswered after 100 ms). */
  lost: number;
  /** Echoes of the wrong length, sequence or bytes. */
  corrupt: number;
  /**
   * Bytes that answered no message in flight (a datagram matching none, a late echo of one counted lost, stream
   * bytes beyond the echoes owed): a server that floods. Every echo counts once, as ok, corrupt or lost, so
   * `messages + corrupt + lost` never exceeds `sent`.
   */
  unexpected: number;
  /** The run ended early because no echo at all came back for 5 s. */
  stalled: boolean;
  /** Round-trip latency in microseconds. */
  latency: Latency;
  /** With TLS: the protocol and cipher agreed on (`TLSv1.3`, `TLS_AES_256_GCM_SHA384`). */
  tls?: { protocol: string; cipher: string };
  /** [upper bound in µs (the top one: max), count] per histogram bucket that has any. */
  histogram: [number, number][];
}

const SAMPLE_POLL_MS = 250;

/** The sockaddr, family and type the engine connects to. */
async function target(addr: Address): Promise<{ sockaddr: Uint8Array; family: number; type: number }> {
  const type = socketTypeOf(addr.network);
  if ('path' in addr) return { sockaddr: encodeAddress(addr, false), family: consts.AF_UNIX, type };
  const r = await resolveInet(addr, 'connect');
  const resolved = { ...addr, host: r.host };
  return { sockaddr: encodeAddress(resolved, r.family === 6), family: r.family === 6 ? consts.AF_INET6 : consts.AF_INET, type };
}

function invalid(detail: string): NetError {
  return new NetError({ op: 'dial', code: 'EINVAL', detail });
}

const pem = (x: string | Buffer | undefined) => (typeof x === 'string' ? Buffer.from(x) : x);

/** What the load loop's TLS client is given: as Node's tls.connect would take `o` for this address. */
function loadTls(addr: Address, o: TlsOptions): LoadTls {
  if (!isStreamNetwork(addr.network)) throw invalid(`${addr.network} carries datagrams, and TLS runs over streams`);
  if (!process.versions.openssl) throw invalid('this Node has no OpenSSL, so bench cannot speak TLS');
  if (!o.cert !== !o.key) throw invalid('a TLS client certificate needs its key, and a key its certificate');
  const host = 'host' in addr ? addr.host : 'localhost';
  const name = o.servername ?? (isIP(host) ? undefined : host);
  return {
    sni: name,
    cert: pem(o.cert), key: pem(o.key),
    ...(o.insecure ? {} : { host: name ?? host, ca: pem(o.ca) ?? Buffer.from(rootCertificates.join('\n')) }),
  };
}

/** What a run is: its options with the defaults filled in. */
interface LoadShape {
  mode: LoadMode;
  rate?: number;
  size: number;
  connections: number;
  window: number;
  sockperf: boolean;
}

/** The run `options` ask for on `network`, defaults filled in, or what is wrong with them in one line (loadTest's check, and bench's). */
export function loadShape(network: Network, options: LoadOptions): LoadShape | string {
  const rate = options.rate;
  const mode = options.mode ?? (rate === undefined ? 'pingpong' : 'rate');
  if ((mode === 'rate') !== (rate !== undefined)) return rate === undefined ? 'mode rate needs a rate' : `a rate is mode rate's, not ${mode}'s`;
  if (rate !== undefined && !(rate >= 1 && Number.isFinite(rate))) return `rate must be at least 1 message a second, not ${rate}`;
  const size = options.size ?? 64;
  const connections = options.connections ?? 1;
  const window = mode === 'pingpong' ? 1 : options.window ?? (mode === 'rate' ? 1024 : 64);
  const sockperf = options.sockperf ?? false;
  const least = sockperf ? SOCKPERF_HEADER : 4;
  const most = sockperf ? Math.min(SOCKPERF_MAX, rowOf(network).maxMessage || SOCKPERF_MAX) : rowOf(network).maxMessage;
  if (!Number.isInteger(size) || size < least) {
    return `--size must be at least ${least} bytes (each message carries ${sockperf ? "sockperf's header" : 'its sequence number'}), not ${size}`;
  }
  if (most && size > most) return `${sockperf ? 'sockperf' : network} carries messages of at most ${most} bytes, not ${size}`;
  if (!Number.isInteger(connections) || connections < 1) return `connections must be a whole number from 1, not ${connections}`;
  if (!Number.isInteger(window) || window < 1) return `window must be a whole number from 1, not ${window}`;
  return { mode, rate, size, connections, window, sockperf };
}

/**
 * Runs echo load against `address` and resolves with what was measured. Rejects when the connection cannot be
 * made or fails under load (the NetError names the call).
 *
 * @example
 * const s = await loadTest('unixgram:///tmp/echo.sock', { mode: 'flood', duration: 2 })
 * console.log(s.rate, s.lost, s.latency.p99)
 */
export async function loadTest(at: Address | string, options: LoadOptions = {}): Promise<LoadSummary> {
  const addr = typeof at === 'string' ? parseAddress(at) : at;
  const address = typeof at === 'string' ? at : formatAddress(at);
  const shape = loadShape(addr.network, options);
  if (typeof shape === 'string') throw invalid(shape);
  const { mode, rate, size, connections, window, sockperf } = shape;
  const tls = options.tls && loadTls(addr, options.tls);
  const count = options.count ?? 0;
  const durationMs = count ? 0 : (options.duration ?? 5) * 1000;
  let run;
  try {
    const t = await target(addr);
    run = native.loadStart({ ...t, conns: connections, window, size, durationMs, warmupMs: (options.warmup ?? 0) * 1000, count, tls,
      rate, sockperf });
  } catch (err) {
    if (err instanceof NetError) throw err; // the host did not resolve
    // No addon (ERR_SOCKTOOL_ADDON_UNAVAILABLE), bad TLS material (EINVAL, with what is wrong), no OpenSSL in this
    // runtime (ENOTSUP, naming the first function missing), or no memory.
    const e = err as NodeJS.ErrnoException;
    throw new NetError({ op: 'dial', network: addr.network, addr, code: e.code ?? 'EIO', detail: e.code === 'EINVAL' ? e.message
      : e.code === 'ENOTSUP' ? `${runtimeText()} exports no OpenSSL for the load loop to use (no ${e.message}): TLS load tests need Node` : undefined,
    cause: err });
  }
  const { handle, done } = run;
  const stop = () => native.loadStop(handle);
  options.signal?.addEventListener('abort', stop, { once: true });
  const poll = () => {
    for (const [st, messages, bytes, lost, corrupt, p99Ns] of native.loadPoll(handle)) {
      options.onSample?.({ t: st, messages, bytes, lost, corrupt, p99: p99Ns / 1000 });
    }
  };
  const timer = setInterval(poll, SAMPLE_POLL_MS);
  let totals;
  try {
    totals = await done;
  } finally {
    clearInterval(timer);
    options.signal?.removeEventListener('abort', stop);
  }
  poll();
  if (totals.errno !== undefined) {
    const op = ['socket', 'bind', 'connect', 'handshake'].includes(totals.syscall!) ? 'dial' : 'recv';
    if (totals.tlsCode) throw new NetError({ op, network: addr.network, addr, code: totals.tlsCode, detail: totals.tlsDetail });
    const cause = errnoError(totals.errno, totals.syscall!);
    const detail = totals.syscall === 'handshake' && cause.code === 'ETIMEDOUT' ? 'no TLS handshake within 5 s' : undefined;
    throw new NetError({ op, network: addr.network, addr, code: cause.code!, detail, cause });
  }
  const [p50, p90, p99, p999] = totals.percentilesNs.map((ns) => ns / 1000) as [number, number, number, number];
  const seconds = totals.seconds;
  return {
    address, network: addr.network, mode, ...(rate === undefined ? {} : { target: rate }), ...(sockperf ? { sockperf } : {}),
    size, connections, window,
    messages: totals.messages, bytes: totals.bytes, sent: totals.sent, seconds,
    rate: seconds > 0 ? totals.messages / seconds : 0,
    mbps: seconds > 0 ? totals.bytes / seconds / 1e6 : 0,
    lost: totals.lost, corrupt: totals.corrupt, unexpected: totals.unexpected, stalled: totals.stalled,
    latency: { p50, p90, p99, p999, max: totals.maxNs / 1000 },
    histogram: totals.histogram.map(([ns, n]) => [ns / 1000, n]),
    ...(totals.tlsVersion ? { tls: { protocol: totals.tlsVersion, cipher: totals.tlsCipher! } } : {}),
  };
}

/**
 * The latency (µs) at `percentile` (0-100) of a run: the upper bound of the histogram bucket it falls in (buckets
 * are 1/16 of a power of two wide, so within about 6 %), never above the largest seen.
 */
export function latencyAt(s: LoadSummary, percentile: number): number {
  const total = s.histogram.reduce((sum, [, n]) => sum + n, 0);
  if (total === 0) return 0;
  const want = Math.max(1, Math.floor((percentile / 100) * total + 0.5)); // rounded as the load loop's own (p50 … p99.9)
  let seen = 0;
  for (const [upper, n] of s.histogram) {
    seen += n;
    if (seen >= want) return Math.min(upper, s.latency.max);
  }
  return s.latency.max;
}

/** The percentiles `bench --percentiles` lists (and max, as 100). */
export const PERCENTILES = [50, 75, 90, 95, 99, 99.5, 99.9, 99.99, 99.999, 100];

/**
 * A run's latency as HdrHistogram's percentile distribution (`outputPercentileDistribution`, values in
 * milliseconds): the text its plotters read (https://hdrhistogram.github.io/HdrHistogram/plotFiles.html). The
 * percentiles step as HdrHistogram's do, 5 ticks per half of the remaining distance to 100 %.
 */
export function percentileDistribution(s: LoadSummary): string {
  const total = s.histogram.reduce((sum, [, n]) => sum + n, 0);
  const lines = ['       Value     Percentile TotalCount 1/(1-Percentile)', ''];
  const countAt = (value: number) => s.histogram.reduce((sum, [upper, n]) => sum + (upper <= value ? n : 0), 0);
  const row = (value: number, fraction: number) => {
    const inverse = fraction < 1 ? (1 / (1 - fraction)).toFixed(2).padStart(14) : '';
    return `${(value / 1000).toFixed(3).padStart(12)} ${fraction.toFixed(12)} ${String(Math.min(total, countAt(value))).padStart(10)} ${inverse}`.trimEnd();
  };
  if (total > 0) {
    for (let level = 0; level < 100;) {
      const value = latencyAt(s, level);
      lines.push(row(value, level / 100));
      if (countAt(value) === total) break;
      const ticks = 5 * 2 ** (Math.floor(Math.log2(100 / (100 - level))) + 1);
      level += 100 / ticks;
    }
    lines.push(row(s.latency.max, 1));
  }
  const mean = total ? s.histogram.reduce((sum, [upper, n]) => sum + upper * n, 0) / total : 0;
  const sd = total ? Math.sqrt(s.histogram.reduce((sum, [upper, n]) => sum + n * (upper - mean) ** 2, 0) / total) : 0;
  const f = (n: number) => (n / 1000).toFixed(3).padStart(12);
  lines.push(`#[Mean    = ${f(mean)}, StdDeviation   = ${f(sd)}]`);
  lines.push(`#[Max     = ${f(s.latency.max)}, Total count    = ${String(total).padStart(12)}]`);
  lines.push(`#[Buckets = ${String(s.histogram.length).padStart(12)}, SubBuckets     = ${String(16).padStart(12)}]`);
  return `${lines.join('\n')}\n`;
}
