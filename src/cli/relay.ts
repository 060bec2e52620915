import { existsSync } from 'node:fs';
import { resolve } from 'node:path';
import { InvalidArgumentError, Option } from 'commander';
import {
  isStreamNetwork, relay, tap, unixAddress, unixSocketAt, type Address, type ImpairedCounts, type Impairment, type Impairments,
  type RelayOptions, type TlsOptions,
} from '../index.js';
import { impairmentProblem } from '../core/impair.js';
import { rowOf } from '../core/networks.js';
import { UsageError } from './exit.js';
import { recordingFor, serverLimits, datagramReasons, unixAccess, readTls, refuseGiven, serverTlsOptions, untilSignal, type CommonOptions } from './common.js';
import { addrText, type Output } from './output.js';
import { reporter, runUntilSignal } from './servers.js';

export interface RelayCommandOptions extends CommonOptions {
  targetTls?: boolean;
  targetCa?: string;
  /** The impairment flags, each a list of what was given (see impairmentOptions). */
  delay?: Directed[];
  rate?: Directed[];
  slice?: Directed[];
  resetAfter?: Directed[];
  closeAfter?: Directed[];
  stall?: Directed[];
  loss?: Directed[];
  duplicate?: Directed[];
  reorder?: Directed[];
  seed?: number;
}

/** One impairment flag's value: which way (undefined: both) and what. */
interface Directed {
  way: 'toTarget' | 'toClient' | undefined;
  set: Impairment;
}

const WAYS = { 'to-target': 'toTarget', 'to-client': 'toClient' } as const;

/**
 * A parser of `[to-target:|to-client:]VALUE` for a repeatable flag: `read` turns VALUE into the impairment's
 * fields, or throws InvalidArgumentError with what it expected.
 */
function directed(read: (value: string) => Impairment) {
  return (text: string, previous: Directed[] = []): Directed[] => {
    const m = /^(to-target|to-client):(.*)$/.exec(text);
    return [...previous, { way: m ? WAYS[m[1] as keyof typeof WAYS] : undefined, set: read(m ? m[2]! : text) }];
  };
}

const number = (what: string, text: string, min: number, integer: boolean): number => {
  const n = Number(text);
  if (text.trim() === '' || !Number.isFinite(n) || n < min || (integer && !Number.isInteger(n))) {
    throw new InvalidArgumentError(`expected ${what}.`);
  }
  return n;
};

const percent = (key: 'loss' | 'duplicate' | 'reorder') => directed((text) => {
  const n = number('a percentage 0-100, as 5%', text.replace(/%$/, ''), 0, false);
  if (n > 100) throw new InvalidArgumentError('expected a percentage 0-100, as 5%.');
  return { [key]: n / 100 };
});

/** relay's and tap's impairment flags, toxiproxy's toxics: each given once per direction, or once for both. */
export const impairmentOptions = (): Option[] => [
  new Option('--delay <[way:]ms[±jitter]>', 'deliver each chunk or datagram this late (± a uniform jitter; "+-" for "±")')
    .argParser(directed((text) => {
      const m = /^([\d.]+)(?:(?:±|\+-)([\d.]+))?$/.exec(text);
      if (!m) throw new InvalidArgumentError('expected milliseconds, with an optional ±jitter: 20 or 20±5.');
      return { delay: number('milliseconds', m[1]!, 0, false), ...(m[2] && { jitter: number('milliseconds', m[2], 0, false) }) };
    })),
  new Option('--rate <[way:]bytes>', 'forward at most this many bytes per second')
    .argParser(directed((text) => ({ rate: number('bytes per second, at least 1', text, 1, true) }))),
  new Option('--slice <[way:]bytes>', 'cut what is forwarded into pieces of at most this many bytes, each written on its own')
    .argParser(directed((text) => ({ slice: number('bytes, at least 1', text, 1, true) }))),
  new Option('--reset-after <[way:]bytes>', 'reset the session once this many bytes went that way (TCP: an RST)')
    .argParser(directed((text) => ({ resetAfter: number('bytes', text, 0, true) }))),
  new Option('--close-after <[way:]seconds>', 'close each session this long after it opened')
    .argParser(directed((text) => ({ closeAfter: number('seconds', text, 0, false) * 1000 }))),
  new Option('--stall [way]', 'take every byte and forward none (that way, or both)')
    .argParser((text: string, previous: Directed[] | boolean = []) => {
      if (!(text in WAYS)) throw new InvalidArgumentError('expected to-target or to-client.');
      const before = previous === true ? [{ way: undefined, set: { stall: true } }] : previous || [];
      return [...before, { way: WAYS[text as keyof typeof WAYS], set: { stall: true } }];
    }),
  new Option('--loss <[way:]percent>', 'datagrams: drop this share of them').argParser(percent('loss')),
  new Option('--duplicate <[way:]percent>', 'datagrams: send this share of them twice').argParser(percent('duplicate')),
  new Option('--reorder <[way:]percent>', 'datagrams: hold this share back until the next has gone').argParser(percent('reorder')),
  new Option('--seed <n>', 'draw the impairments from this seed, to repeat a run exactly')
    .argParser((text) => number('a whole number 0-4294967295', text, 0, true) >>> 0),
];

/** The flags as the library's impairments, or undefined when none was given. */
function impairmentsOf(o: RelayCommandOptions): Impairments | undefined {
  const given = [o.delay, o.rate, o.slice, o.resetAfter, o.closeAfter, o.loss, o.duplicate, o.reorder].flatMap((x) => x ?? []);
  // `--stall` alone is `true` to commander: both ways.
  const stall = o.stall as Directed[] | boolean | undefined;
  if (stall === true) given.push({ way: undefined, set: { stall: true } });
  else if (stall) given.push(...stall);
  if (given.length === 0) return undefined;
  const impairs: Impairments = { ...(o.seed !== undefined && { seed: o.seed }) };
  for (const { way, set } of given) {
    for (const w of way ? [way] : (['toTarget', 'toClient'] as const)) impairs[w] = { ...impairs[w], ...set };
  }
  return impairs;
}

/** TLS toward the target: --target-tls, with --target-ca, --insecure and --servername (given without it: exit 2). */
function targetTlsOptions(o: RelayCommandOptions): TlsOptions | undefined {
  if (!o.targetTls) {
    const off = 'it is for TLS toward the target, and --target-tls is not given';
    return refuseGiven(o, { targetCa: off, insecure: off, servername: off });
  }
  return readTls({ ca: o.targetCa, insecure: o.insecure, servername: o.servername }, '--target-ca');
}

/** `relay`: the library's relay, with the CLI's events, dump and flags. */
export async function relayCommand(from: Address, to: Address, o: RelayCommandOptions, out: Output): Promise<void> {
  void untilSignal(); // handlers first: see untilSignal
  refuseGiven(o, {
    tls: datagramReasons(from).tls,
    targetTls: !isStreamNetwork(to.network) && `the target ${to.network} carries datagrams, and TLS runs over streams`,
  });
  const { options, pcap } = labRelayOptions(o, from, to, out, `socktool relay ${addrText(from)} ${addrText(to)}`);
  const server = await relay(from, to, {
    ...options,
    ...serverLimits(o),
    ...unixAccess(o, from, out),
    tls: serverTlsOptions(o),
    // The listening side's --ca verifies clients; the target is trusted through --target-ca.
    targetTls: targetTlsOptions(o),
    // The target's connect keeps the library's 10 s unless --timeout is given (its default is the idle limit's).
    ...(o.given?.has('timeout') && o.timeout && { dialTimeout: o.timeout }),
  });
  try {
    await runUntilSignal(server, out, { until: server.closed });
  } finally {
    pcap?.close();
  }
}

/**
 * `tap`: a relay put in place of the live unix socket at `path`, the original put back when it stops (on a
 * signal, or any exit: the exchange back is one synchronous call).
 */
export async function tapCommand(path: string, o: RelayCommandOptions, out: Output): Promise<void> {
  void untilSignal();
  if (path.startsWith('@')) throw new UsageError(`${path}: an abstract name has no file to move aside: tap taps socket files`);
  // Its type as the kernel lists it decides what the impairments may do; tap() checks it again as it starts.
  const at = unixAddress((existsSync(path) && unixSocketAt(resolve(path))?.network) || 'unix', path);
  const { options, pcap } = labRelayOptions(o, at, at, out, `socktool tap ${path}`);
  const t = await tap(path, { ...options, ...serverLimits(o) }).catch((err: unknown) => {
    pcap?.close();
    throw err;
  });
  const restoreAtExit = () => t.restore();
  process.once('exit', restoreAtExit);
  try {
    await runUntilSignal(t, out, { until: t.closed });
  } finally {
    process.off('exit', restoreAtExit);
    pcap?.close();
  }
}

/** What relay and tap take alike: the impairments, the recording, --timeout, and the events, dump and errors. */
function labRelayOptions(o: RelayCommandOptions, from: Address, to: Address, out: Output, description: string) {
  const impair = impairmentsOf(o);
  for (const [way, side, network] of [['to-target', "the target's", to.network], ['to-client', "the clients'", from.network]] as const) {
    const problem = impairmentProblem(impair?.[WAYS[way]], rowOf(network).messages, `${side} ${network}`);
    if (problem) throw new UsageError(`${way}: ${problem.replace(/^(loss|duplicate|reorder)/, '--$1')}`);
  }
  const pcap = recordingFor(o, description);
  const options: RelayOptions = {
    impair,
    pcap,
    idle: o.timeout,
    onError: reporter(out),
    // Each chunk is reported only when someone looks: the bulk path stays a plain copy.
    tap: out.json || out.verbose,
    onEvent: (e) => {
      const peer = addrText(e.client);
      if (e.type === 'open') out.event('connected', { peer, target: addrText(e.target) }, `${peer} -> ${addrText(e.target)}`);
      else if (e.type === 'close') {
        out.event('closed', { peer, ...(e.error && { error: e.error.message }), ...(e.dropped && { dropped: e.dropped }),
          ...(e.impaired && { impaired: e.impaired }) }, `${peer} closed${e.impaired ? ` (${impairedText(e.impaired)})` : ''}`);
      }
      else {
        out.dump(e.from === 'client' ? '<' : '>', e.client, e.data);
        out.event('data', { peer, direction: e.from === 'client' ? 'to-target' : 'to-client', size: e.data.length });
      }
    },
  };
  return { options, pcap };
}

/** What a session's impairments did, for its closing line: the counts that are not 0. */
const impairedText = (c: ImpairedCounts): string =>
  Object.entries({ lost: c.lost, duplicated: c.duplicated, reordered: c.reordered, 'bytes stalled': c.stalled })
    .filter(([, n]) => n > 0).map(([k, n]) => `${n} ${k}`).join(', ');
