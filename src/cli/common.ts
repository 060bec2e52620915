import { closeSync, openSync, readSync } from 'node:fs';
import { InvalidArgumentError, type Command } from 'commander';
import {
  formatAddress, hasSocketFile, inheritedSocket, isInherited, isInheritedText, isStreamNetwork, parseAddress, PcapWriter, type Address, type FileAccess,
  type Network, type PeerAccess, type TlsOptions,
} from '../index.js';
import { exitCodeForSignal, UsageError } from './exit.js';
import { IDLE_MS } from '../core/serve.js';
import { notice, type Output, type OutputOptions } from './output.js';

/** The TLS flags (the tls-client and tls-server traits). */
export interface TlsFlags {
  tls?: boolean;
  cert?: string;
  key?: string;
  ca?: string;
  insecure?: boolean;
  servername?: string;
}

/** The options a command may take, by trait; each command declares which traits it has. */
export interface CommonOptions extends OutputOptions, TlsFlags {
  timeout?: number;
  /** Undefined: the library's default, from the descriptor limit. */
  maxClients?: number;
  peerBytes?: number;
  serverBytes?: number;
  mode?: number;
  owner?: string;
  group?: string;
  allowUid?: string[];
  allowGid?: string[];
  allowEveryone?: boolean;
  pcap?: string;
  pcapMax?: number;
  /** --pcap's recording, once opened (see recordingFor). */
  recording?: PcapWriter;
  /** The options typed on the command line (not defaults), by attribute name; main fills it in. */
  given?: ReadonlySet<string>;
}

/**
 * A unix server's access options: the socket file's rights (--mode, --owner, --group) and who may connect
 * (--allow-uid, --allow-gid, --allow-everyone), refusals told through `out`. Given where they cannot apply (no
 * file; peers over IP), a usage error.
 */
export function unixAccess(o: CommonOptions, a: Address, out: Output): FileAccess & PeerAccess {
  const noFile = isInherited(a) ? `fd ${a.fd} was made by whoever passed it (systemd: SocketMode=, SocketUser=, SocketGroup=)`
    : !hasSocketFile(a) && `${formatAddress(a)} has no socket file (abstract names and ports have none)`;
  const noUser = !('path' in a) && `${formatAddress(a)} is not a unix socket: peers over IP have no user to check`;
  const allowList = (o.allowUid ?? o.allowGid) !== undefined;
  refuseGiven(o, {
    mode: noFile, owner: noFile, group: noFile, allowUid: noUser, allowGid: noUser, allowEveryone: noUser,
  });
  refuseGiven(o, { allowEveryone: allowList && 'it contradicts --allow-uid and --allow-gid' });
  const allow = o.allowEveryone ? 'everyone' as const
    : allowList ? { uids: o.allowUid ?? [], gids: o.allowGid ?? [] } : undefined;
  return { mode: o.mode, owner: o.owner, group: o.group, allow, onRefused: (peer, why) => out.refused(peer, why) };
}

/** Collects a repeatable option's values; each may also be a comma-separated list. */
const collect = (value: string, previous: string[] = []): string[] => [...previous, ...value.split(',').filter(Boolean)];

/** `maxClients` → `--max-clients`. */
const flagOf = (key: string) => `--${key.replace(/[A-Z]/g, (c) => `-${c.toLowerCase()}`)}`;

/**
 * An option typed on the command line that cannot apply is a usage error naming it and why, never silently
 * ignored. `why` maps an option (by attribute name) to the reason it cannot apply here, or to false when it can.
 */
export function refuseGiven(o: { given?: ReadonlySet<string> }, why: Record<string, string | false | undefined>): undefined {
  for (const [key, reason] of Object.entries(why)) {
    if (reason && o.given?.has(key)) throw new UsageError(`${flagOf(key)} does not apply: ${reason}`);
  }
  return undefined;
}

/** Why the stream-only options cannot apply to a datagram address (false for a stream one). */
export const datagramReasons = (a: Address) => isStreamNetwork(a.network) ? {} : {
  tls: `${a.network} carries datagrams, and TLS runs over streams`,
  authkeyFile: `${a.network} carries datagrams, and the authkey handshake runs over streams`,
  halfClose: `${a.network} has no half-close: a datagram has no stream to end`,
  firstMessageTimeout: `${a.network} carries datagrams: there is no connection to close`,
};

/**
 * `timeout`: --timeout as a limit on a connect and on idleness, off by default (clients, `listen`); `idle`: a
 * server's --timeout, an idle limit on by default; `server`: --max-clients; `access`: a unix server's --mode,
 * --owner, --group and --allow-*; `record`: --pcap and --pcap-max.
 */
export type Trait = 'timeout' | 'idle' | 'server' | 'access' | 'tls-client' | 'tls-server' | 'record';

function integer(what: string, min: number, max: number) {
  return (value: string): number => {
    if (!/^\d+$/.test(value) || Number(value) < min || Number(value) > max) {
      throw new InvalidArgumentError(`expected ${what} ${min}-${max}.`);
    }
    return Number(value);
  };
}

function decimal(what: string, min: number, max: number) {
  return (value: string): number => {
    if (!/^\d+(\.\d+)?$/.test(value) || Number(value) < min || Number(value) > max) {
      throw new InvalidArgumentError(`expected ${what} ${min}-${max}.`);
    }
    return Number(value);
  };
}

/** A server's limits from --max-clients, --peer-bytes and --server-bytes (undefined: the library's defaults). */
export const serverLimits = (o: CommonOptions) => ({ maxConns: o.maxClients, peerBytes: o.peerBytes, serverBytes: o.serverBytes });

/** Programs run at once (--exec), and chat's datagram members, unless --max-clients says otherwise. */
export const DEFAULT_MAX_PROGRAMS = 1024;

export const parseMs = integer('milliseconds', 1, 2 ** 31 - 1);
/** Seconds with a fraction (bench's --duration, --warmup). */
export const parseDuration = decimal('seconds', 0, 1_000_000);
export const parseRate = decimal('messages a second', 1, 1e9);
export const parseBytes = integer('bytes', 1, 16 * 1024 * 1024);
export const parseBig = integer('a count', 1, 2 ** 40);
const parseBudget = integer('bytes', 1024, 2 ** 40);
export const parseCount = integer('a count', 1, 1_000_000);
export const parsePort = integer('a port number', 0, 65535);
export const parseSeconds = integer('seconds', 0, 2_000_000);

function parseMode(value: string): number {
  if (!/^0?[0-7]{3}$/.test(value)) throw new InvalidArgumentError('expected permission bits in octal, as 0660.');
  return parseInt(value, 8);
}
export const parseIdle = integer('milliseconds', 0, 2 ** 31 - 1);

/** A server's idle limit in ms; undefined when `--timeout 0` turned it off. */
export const serverIdle = (o: { timeout?: number }): number | undefined => o.timeout || undefined;

/** Adds the options of each trait, with the same names and meaning on every command. */
export function addTraits(cmd: Command, traits: readonly Trait[]): void {
  cmd.option('--json', 'newline-delimited JSON events on stdout, each with a timestamp')
    .option('-v, --verbose', 'hex + text dump of all traffic (and notices) on stderr');
  if (traits.includes('idle')) {
    // Servers close a connection idle this long unless told otherwise, so that clients that connect and go quiet
    // cannot hold every place of --max-clients for ever: the library's idle limit for datagram senders, so that
    // `relay` is the same from the shell and from code.
    cmd.option('--timeout <ms>', 'close a connection idle this long (0: never)', parseIdle, IDLE_MS);
  } else if (traits.includes('timeout')) {
    cmd.option('--timeout <ms>', 'give up on a connect, or on a connection idle this long', parseMs);
  }
  if (traits.includes('server')) {
    cmd.option('--max-clients <n>', 'clients held at once; when full, one silent since it came makes room, else a newcomer is refused (default: what the descriptor limit allows)', parseCount);
    cmd.option('--peer-bytes <n>', 'bytes one client may make the server hold before it stops reading from it (default: 16 MiB)', parseBudget);
    cmd.option('--server-bytes <n>', 'bytes all clients together may make it hold (default: 64 MiB)', parseBudget);
  }
  if (traits.includes('access')) {
    cmd.option('--mode <octal>', 'unix path: the socket file\'s permission bits (e.g. 0660), set with no looser moment', parseMode);
    cmd.option('--owner <user>', 'unix path: the socket file\'s owner (name or uid)');
    cmd.option('--group <group>', 'unix path: the socket file\'s group (name or gid)');
    cmd.option('--allow-uid <user>', 'unix: admit peers of this user (name or uid; repeatable); others are refused', collect);
    cmd.option('--allow-gid <group>', 'unix: admit peers of this group (name or gid; repeatable)', collect);
    cmd.option('--allow-everyone', 'unix: admit every user, even on an abstract name (which admits only its own by default)');
  }
  if (traits.includes('record')) {
    cmd.option('--pcap <file>', 'record the traffic into FILE as pcapng (Wireshark, tshark), written as it goes');
    cmd.option('--pcap-max <bytes>', 'stop recording (the traffic goes on) once FILE would pass this size (default 1 GiB)',
      integer('bytes', 4096, 2 ** 48));
  }
  const client = traits.includes('tls-client');
  const server = traits.includes('tls-server');
  if (client || server) {
    cmd.option('--tls', 'speak TLS (stream addresses)');
    cmd.option('--ca <file>', client ? 'PEM certificate authorities to trust' : 'PEM CAs to verify client certificates with');
    cmd.option('--cert <file>', server ? 'PEM certificate (required for a TLS server)' : 'PEM client certificate');
    cmd.option('--key <file>', 'PEM private key of --cert');
  }
  if (client) {
    cmd.option('--insecure', 'do not verify the server certificate');
    cmd.option('--servername <name>', 'name to verify and send as SNI (default: the host)');
  }
}

/** The most a --ca/--cert/--key/--authkey-file file may hold: PEM bundles and keys are kilobytes; /dev/zero is not one. */
const MAX_FLAG_FILE = 1 << 20;

/**
 * A file named by `flag`, read with a bound: a missing, unreadable or oversized file is a usage error, which
 * says the file is not `what` it should be.
 */
export function readFlagFile(flag: string, file: string | undefined, what = 'a PEM file'): Buffer | undefined {
  if (file === undefined) return undefined;
  let fd: number | undefined;
  try {
    fd = openSync(file, 'r');
    const buf = Buffer.alloc(MAX_FLAG_FILE + 1);
    let size = 0;
    for (let n = 1; n > 0 && size < buf.length; size += n) n = readSync(fd, buf, size, buf.length - size, null);
    if (size > MAX_FLAG_FILE) throw new UsageError(`cannot read ${flag} ${file}: larger than ${MAX_FLAG_FILE >> 20} MiB, not ${what}`);
    return buf.subarray(0, size);
  } catch (err) {
    if (err instanceof UsageError) throw err;
    throw new UsageError(`cannot read ${flag} ${file}: ${(err as NodeJS.ErrnoException).code ?? (err as Error).message}`);
  } finally {
    if (fd !== undefined) closeSync(fd);
  }
}

type Given = { given?: ReadonlySet<string> };
const NO_TLS = 'it is for TLS, and --tls is not given';

/** A server's TLS options: --tls without --cert and --key is a usage error (exit 2), found before binding. */
export function serverTlsOptions(o: TlsFlags & Given): TlsOptions | undefined {
  if (!o.tls) return refuseGiven(o, { ca: NO_TLS, cert: NO_TLS, key: NO_TLS });
  if (o.cert === undefined || o.key === undefined) {
    throw new UsageError('--tls on a server needs --cert and --key (its certificate and private key)');
  }
  return readTls(o);
}

/** A client's TLS options, or undefined without --tls (where a TLS flag given is a usage error). */
export function tlsOptions(o: TlsFlags & Given): TlsOptions | undefined {
  if (!o.tls) return refuseGiven(o, { ca: NO_TLS, cert: NO_TLS, key: NO_TLS, insecure: NO_TLS, servername: NO_TLS });
  return readTls(o);
}

/** The TLS options the flags name, their files read (with a bound). */
export function readTls(o: TlsFlags, caFlag = '--ca'): TlsOptions {
  const t: TlsOptions = {};
  const ca = readFlagFile(caFlag, o.ca);
  const cert = readFlagFile('--cert', o.cert);
  const key = readFlagFile('--key', o.key);
  if (ca) t.ca = ca;
  if (cert) t.cert = cert;
  if (key) t.key = key;
  if (o.insecure) t.insecure = true;
  if (o.servername) t.servername = o.servername;
  return t;
}

/** Parses a command's address argument (a bad one is a usage error, exit 2, naming the bad part). */
export const addressArg = (text: string): Address => parseAddress(text);

/**
 * A server's address argument: one of the grammar, or an inherited socket (`fd:3`, `fd:NAME`; socket activation,
 * inetd), taken now with its network read from it. `serves`, for a command that serves some networks only
 * (unix-server, the echo servers; `what` names them): an inherited socket of another is a usage error.
 */
export function serverAddressArg(text: string, serves?: (n: Network) => boolean, what?: string): Address {
  if (!isInheritedText(text)) return addressArg(text);
  const inherited = inheritedSocket(text, 'listen');
  if (serves && !serves(inherited.network)) {
    throw new UsageError(`${text} is a ${inherited.network} socket (${formatAddress(inherited)}), and this command serves ${what}`);
  }
  return inherited;
}

/**
 * A source address for `--bind` toward `to`: an address of the grammar, or its short form in `to`'s network
 * (`127.0.0.2`, `127.0.0.2:5000`, `/tmp/me.sock`).
 */
export function sourceArg(text: string, to: Address): Address {
  let source: Address | undefined;
  for (const candidate of [text, `${to.network}://${text}`, `${to.network}://${text}:0`]) {
    try {
      source = parseAddress(candidate);
      break;
    } catch {
      // the next form
    }
  }
  source ??= parseAddress(text); // none fits: the error names what is wrong with the text as given
  if (('path' in source) !== ('path' in to) || isStreamNetwork(source.network) !== isStreamNetwork(to.network)) {
    throw new UsageError(`--bind ${text}: not an address to send to ${to.network} from`);
  }
  return source;
}

let stopping: Promise<void> | undefined;

/**
 * Resolves on the first SIGINT/SIGTERM; a second one while closing exits at once. The first call installs the
 * handlers: servers make it before they bind, so that a signal at any moment after start (even one sent the
 * instant the listening line appears) is a clean shutdown, never Node's default death that leaves a socket file.
 */
export function untilSignal(): Promise<void> {
  stopping ??= new Promise((resolve) => {
    const stop = () => {
      process.on('SIGINT', () => process.exit(exitCodeForSignal('SIGINT')))
        .on('SIGTERM', () => process.exit(exitCodeForSignal('SIGTERM')));
      resolve();
    };
    process.once('SIGINT', stop).once('SIGTERM', stop);
  });
  return stopping;
}

/**
 * An idle timer: `signal` aborts with a TimeoutError once nothing has `touch()`ed it for `ms`. One timer per
 * period, re-armed for the remainder, rather than one per chunk.
 */
export class Idle {
  private controller = new AbortController();
  private last = Date.now();
  private timer: NodeJS.Timeout | undefined;

  constructor(private ms: number | undefined) {
    if (ms !== undefined) this.arm(ms);
  }

  get signal(): AbortSignal | undefined {
    return this.ms === undefined ? undefined : this.controller.signal;
  }

  touch(): void {
    this.last = Date.now();
  }

  private arm(after: number): void {
    this.timer = setTimeout(() => {
      const left = this.last + this.ms! - Date.now();
      if (left > 0) this.arm(left);
      else this.controller.abort(new DOMException(`idle for ${this.ms} ms`, 'TimeoutError'));
    }, after);
    this.timer.unref();
  }

  stop(): void {
    clearTimeout(this.timer);
  }
}

/**
 * Splits a byte stream into lines, each keeping its `\n` (the last may have none); with `max`, a longer run
 * without a newline comes out in `max`-byte pieces rather than being held.
 */
export async function* lines(input: AsyncIterable<Buffer>, max = Infinity): AsyncGenerator<Buffer> {
  let rest: Buffer | undefined;
  for await (const chunk of input) {
    let data = rest ? Buffer.concat([rest, chunk]) : chunk;
    for (let nl = data.indexOf(10); nl >= 0 || data.length >= max; nl = data.indexOf(10)) {
      const end = nl >= 0 ? nl + 1 : max;
      yield data.subarray(0, end);
      data = data.subarray(end);
    }
    rest = data.length > 0 ? data : undefined;
  }
  if (rest) yield rest;
}

/**
 * --pcap: this command's one recording, opened on first use (a usage error, exit 2, naming why FILE cannot be
 * written); undefined without --pcap. Each packet is written as it goes: nothing to flush at exit.
 */
export function recordingFor(o: CommonOptions, description: string): PcapWriter | undefined {
  if (o.pcap === undefined) return undefined;
  if (o.recording) return o.recording;
  try {
    o.recording = new PcapWriter(o.pcap, { max: o.pcapMax, description });
  } catch (err) {
    throw new UsageError(`--pcap ${o.pcap}: cannot write it (${(err as NodeJS.ErrnoException).code ?? (err as Error).message})`);
  }
  o.recording.onFull = () => notice(`--pcap ${o.pcap} reached --pcap-max (${o.pcapMax ?? 'its default'} bytes): recording stopped, the traffic goes on`);
  return o.recording;
}
