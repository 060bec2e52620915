/**
 * socktool's N-API addon (`src/native/*.c`, the units binding.gyp lists; prebuilt in `prebuilds/`, or built by node-gyp with
 * `socktool build-addon` where no prebuild matches): its typed binding and constants, loaded when first needed (never at
 * import), and the sockaddr encoding both sides agree on. The other modules here build the handles on it:
 * connections and listeners (conn.ts), datagram sockets (datagram.ts), options and credentials (options.ts).
 */
import { createRequire } from 'node:module';
import type { Server, Socket } from 'node:net';
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { getSystemErrorName } from 'node:util';
import type { Address, Network, UnixNetwork } from '../core/address.js';
import { Codes } from '../core/errors.js';
import { currentRuntime } from '../core/runtime.js';

/** An open handle: one fd under a uv_poll_t, owned by the addon from `open` on (until `hclose`). */
export type Handle = { readonly __handle: unique symbol };

/** What the addon calls: the event's number (EV_*), then that event's arguments. */
type RawEventFn = (event: number, a?: unknown, b?: unknown, c?: unknown, d?: unknown) => void;

/** What a handle reports: one handler per event, each with its own arguments; a handle reports those of its mode. */
export interface HandleEvents {
  /** MODE_DGRAM: `count` datagrams, their bytes one after another in `data`, META_STRIDE bytes of `meta` each; descriptors per datagram when any came. */
  datagrams?(count: number, data: Buffer, meta: Buffer, fds: (number[] | undefined)[] | undefined): void;
  /** MODE_CONN: one message or stream chunk (null: EOF) and its descriptors; `flags` 1: cut short, 2: descriptors cut. */
  message?(data: Buffer | null, fds: number[] | undefined, flags: number): void;
  /** MODE_LISTEN: a connection accepted; its descriptor is JS's now. */
  accept?(fd: number): void;
  /** Queued sends done, in order: how many, and, when any failed, an int32 per send (-errno, 0: sent). */
  sent?(count: number, codes: Buffer | undefined): void;
  /** Sends dropped by policy (to a unixgram receiver stuck full), not yet told. */
  dropped?(count: number): void;
  /** Reading failed: -errno. */
  error?(errno: number): void;
}

/** Opens a handle on `fd` in `mode` (MODE_*), its events to `on`. */
export function openHandle(fd: number, mode: number, slot: number, on: HandleEvents): Handle {
  const { EV_DGRAM, EV_MSG, EV_ACCEPT, EV_SENT, EV_DROPPED, EV_ERROR } = consts;
  return native.open(fd, mode, slot, (event, a, b, c, d) => {
    switch (event) {
      case EV_DGRAM: return on.datagrams?.(a as number, b as Buffer, c as Buffer, d as (number[] | undefined)[] | undefined);
      case EV_MSG: return on.message?.(a as Buffer | null, b as number[] | undefined, c as number);
      case EV_ACCEPT: return on.accept?.(a as number);
      case EV_SENT: return on.sent?.(a as number, b as Buffer | undefined);
      case EV_DROPPED: return on.dropped?.(a as number);
      case EV_ERROR: return on.error?.(a as number);
    }
  });
}

interface Binding {
  socket(family: number, type: number): number;
  bind(fd: number, sa: Uint8Array): void;
  connect(fd: number, sa: Uint8Array): void;
  listen(fd: number, backlog: number): void;
  shutdown(fd: number, how: number): void;
  close(fd: number): void;
  dup(fd: number): number;
  getsockname(fd: number): Buffer;
  getpeername(fd: number): Buffer;
  getsockopt(fd: number, level: number, name: number, size: 0): number;
  getsockopt(fd: number, level: number, name: number, size: number): Buffer;
  setsockopt(fd: number, level: number, name: number, value: number | Uint8Array): void;
  inetSockaddr(host: string, port: number, v6: boolean): Buffer;
  ifname(index: number): string;
  open(fd: number, mode: number, slot: number, onEvent: RawEventFn): Handle;
  read(h: Handle, on: boolean): void;
  /**
   * SENT (0): sent, or held in a full unixgram receiver's backlog; QUEUED (1): completion comes as EV_SENT;
   * DROPPED (2): a stuck unixgram receiver's, counted; < 0: -errno. `data`: one buffer, or up to 8 sent together
   * as one message (one sendmsg).
   */
  send(h: Handle, data: Uint8Array | readonly Uint8Array[], sa: Uint8Array | null, fds: readonly number[] | null): number;
  hclose(h: Handle): void;
  /** Starts an echo load run on a thread of its own (src/native/loadgen.c); `done` resolves with its totals. */
  loadStart(options: LoadOptions): { handle: LoadHandle; done: Promise<LoadTotals> };
  /** The one-second samples since the last poll: [t, messages, bytes, lost, corrupt, p99Ns]. */
  loadPoll(h: LoadHandle): [number, number, number, number, number, number][];
  /** Ends a run early (its totals cover what was measured so far). */
  loadStop(h: LoadHandle): void;
  adopt(fd: number): void;
  cloexec(fd: number): void;
  /** The bounds of an unconnected unixgram handle's backlogs for full receivers. */
  backlog(h: Handle, peerBytes: number, totalBytes: number, silenceMs: number): void;
  /** Raises the soft RLIMIT_NOFILE to the hard limit; the soft limit now. */
  raiseNofile(): number;
  /** malloc_trim(0): free heap pages go back to the system. */
  trimMemory(): void;
  /** Swaps two names in one step (renameat2 RENAME_EXCHANGE); throws EINVAL where the filesystem cannot. */
  exchangePaths(a: string, b: string): void;
  /** The unix socket bound to the file at `path` (sock_diag, by device and inode): [SOCK_* type, listening], if any. */
  unixSocketAt(path: string): [number, boolean] | undefined;
  constants: Record<string, number>;
}

type Constants = Record<
  | 'AF_UNIX' | 'AF_INET' | 'AF_INET6' | 'SOCK_STREAM' | 'SOCK_DGRAM' | 'SOCK_SEQPACKET' | 'SOL_SOCKET'
  | 'IPPROTO_IP' | 'IPPROTO_IPV6' | 'IPPROTO_TCP' | 'SO_PEERCRED' | 'SO_ERROR' | 'SHUT_WR' | 'SHUT_RDWR'
  | 'MODE_DGRAM' | 'MODE_CONN' | 'MODE_LISTEN' | 'EV_DGRAM' | 'EV_MSG' | 'EV_ACCEPT' | 'EV_SENT' | 'EV_ERROR'
  | 'EV_DROPPED' | 'SENT' | 'QUEUED' | 'DROPPED' | 'META_STRIDE' | 'META_ADDR' | 'META_CRED' | 'META_CREDS' | 'SO_PASSCRED' | 'BATCH' | 'MAX_PARTS' | 'IPV6_V6ONLY'
  | 'SO_REUSEADDR',
  number
> & Record<string, number>;

/** The package root, where node-gyp-build looks for `prebuilds/<platform>-<arch>`. */
const PACKAGE_ROOT = fileURLToPath(new URL('../..', import.meta.url));
/**
 * Where the addon's sources and binding.gyp are, and a local build of them goes (`src/native/build/Release`: made by
 * `socktool build-addon` or `npm run build:native`). Not at the package root: a binding.gyp there would make npm
 * and pnpm run node-gyp at every install.
 */
const ADDON_SOURCE = join(PACKAGE_ROOT, 'src', 'native');
/** The error message's advice, and `caps`'s: how to get the addon where no prebuild fits. */
const BUILD_ADVICE = 'build it with "npx socktool build-addon" (needs python3, make and a C compiler)';
/** ... and where the runtime is the obstacle. */
const RUNTIME_ADVICE = 'run socktool under Node or Deno for it';
const require = createRequire(import.meta.url);

/**
 * What loading the addon came to: where it was loaded from, or why it was not; `source`: the directory of its C
 * sources and binding.gyp, where `socktool build-addon` builds it.
 */
export type AddonStatus = ({ available: true; path: string } | { available: false; reason: string; advice: string }) & { source: string };
let status: AddonStatus | undefined;

/**
 * Whether the addon is here, loading it on the first call: a local build if there is one, else the prebuild for
 * this platform (node-gyp-build picks it; `SOCKTOOL_PREBUILD` names another directory of prebuilds instead). On success {@link native} and {@link consts} become the real objects:
 * both are live ESM bindings, so every importer sees the plain binding from then on and the hot paths pay
 * nothing for the laziness.
 */
export function addonStatus(): AddonStatus {
  if (status) return status;
  const runtime = currentRuntime();
  if (runtime.support === 'refused') {
    // Before the addon is even loaded: on such a runtime its first libuv call would abort the process.
    return (status = { available: false, reason: runtime.reason, advice: RUNTIME_ADVICE, source: ADDON_SOURCE });
  }
  try {
    const gypBuild = require('node-gyp-build') as { resolve(dir: string): string };
    const local = join(ADDON_SOURCE, 'build', 'Release', 'socktool.node');
    const path = !process.env.SOCKTOOL_PREBUILD && existsSync(local) ? local : gypBuild.resolve(PACKAGE_ROOT);
    native = require(path) as Binding;
    consts = native.constants as Constants;
    status = { available: true, path, source: ADDON_SOURCE };
  } catch (err) {
    status = { available: false, reason: unavailableReason(err), advice: BUILD_ADVICE, source: ADDON_SOURCE };
  }
  return status;
}

/** Why the addon did not load, in one line: no build for this platform, or a build that fails to load. */
function unavailableReason(err: unknown): string {
  const text = String((err as Error)?.message ?? err);
  if (text.startsWith('No native build was found')) {
    const libc = /libc=(\S+)/.exec(text)?.[1];
    return `not built for ${process.platform}-${process.arch}${libc ? ` ${libc}` : ''}`;
  }
  return `failed to load (${text.split('\n')[0]!.trim()})`;
}

/**
 * Loads the addon the first time anything touches {@link native} or {@link consts}. TCP and unix streams on a path
 * touch them only for what Node lacks (SO_REUSEPORT on Node 20, abstract names, descriptors, options), so a
 * program that uses only plain ones runs without the addon; anything that does touch them gets an error of code
 * `ERR_SOCKTOOL_ADDON_UNAVAILABLE` saying how to get it, which callers wrap with their op and address.
 */
function loadOnTouch<T extends object>(real: () => T): T {
  return new Proxy({} as T, {
    get(_, name) {
      const s = addonStatus();
      if (!s.available) {
        throw Object.assign(new Error(`needs socktool's native addon (${s.reason}): ${s.advice}`),
          { code: Codes.ADDON_UNAVAILABLE });
      }
      return real()[name as keyof T];
    },
  });
}

export type LoadHandle = { readonly __load: unique symbol };

export interface LoadOptions {
  sockaddr: Uint8Array;
  family: number;
  type: number;
  /** Connections (datagram senders, each its own socket). */
  conns: number;
  /** Messages in flight per connection. */
  window: number;
  size: number;
  durationMs: number;
  warmupMs: number;
  /** Stop after this many echoes (0: run for durationMs). */
  count: number;
  /** Messages per second, all connections together, each sent when due; latency counts from then. 0: closed loop. */
  rate?: number;
  /** Messages carry sockperf's header (at least 14 bytes) for a sockperf server. */
  sockperf?: boolean;
  /** Speak TLS (stream networks). */
  tls?: LoadTls;
}

/** The load loop's TLS client (OpenSSL as Node carries it). */
export interface LoadTls {
  /** PEM certificates to trust (none with `host` unset: nothing is verified). */
  ca?: Uint8Array;
  /** A client certificate (then its chain) and its key, PEM. */
  cert?: Uint8Array;
  key?: Uint8Array;
  /** The name to send as SNI. */
  sni?: string;
  /** The name or IP address the server's certificate must carry; unset: not verified. */
  host?: string;
}

export interface LoadTotals {
  messages: number;
  bytes: number;
  sent: number;
  lost: number;
  corrupt: number;
  unexpected: number;
  seconds: number;
  maxNs: number;
  /** p50, p90, p99 and p99.9 (each its bucket's upper bound, at most maxNs). */
  percentilesNs: [number, number, number, number];
  /** The run ended because no echo came back for 5 s. */
  stalled: boolean;
  /** [upper bound in ns (at most maxNs), count] of each bucket that has any. */
  histogram: [number, number][];
  /** Set when a call failed (the run stopped there). */
  errno?: number;
  syscall?: string;
  /** A TLS failure, as Node names it (CERT_HAS_EXPIRED, ERR_SSL_WRONG_VERSION_NUMBER …), and its text. */
  tlsCode?: string;
  tlsDetail?: string;
  /** TLS: the protocol and cipher the first connection agreed on. */
  tlsVersion?: string;
  tlsCipher?: string;
}

/** The addon's calls; loaded on first touch. */
export let native: Binding = loadOnTouch(() => native);
/** The platform's constants and the addon's own (modes, events, batch layout); loaded on first touch. */
export let consts: Constants = loadOnTouch(() => consts);

/** The error a negative return (-errno) stands for, shaped as Node's system errors so `wrap()` reads it. */
export function errnoError(negErrno: number, syscall: string): NodeJS.ErrnoException {
  const code = getSystemErrorName(negErrno);
  const err: NodeJS.ErrnoException = new Error(`${syscall} ${code}`);
  err.code = code;
  err.errno = negErrno;
  err.syscall = syscall;
  return err;
}

/** A unix sockaddr: exact length for abstract names (`\0name`, as Python and socat), NUL-terminated paths. */
export function unixSockaddr(path: string, abstract: boolean): Buffer {
  const name = Buffer.from(path);
  const sa = Buffer.alloc(2 + (abstract ? 1 : 0) + name.length + (abstract || path === '' ? 0 : 1));
  sa.writeUInt16LE(consts.AF_UNIX, 0);
  name.copy(sa, abstract ? 3 : 2);
  return sa;
}

/** The sockaddr for an address whose host (if any) is an IP literal; `v6` for an AF_INET6 socket. */
export function encodeAddress(addr: Address, v6: boolean): Buffer {
  if ('path' in addr) return unixSockaddr(addr.path, addr.abstract);
  return native.inetSockaddr(addr.host, addr.port, v6);
}

/** RFC 5952 text for the IPv6 address at `buf[o..o+16]`, with the v4-mapped form Node uses. */
function ipv6Text(buf: Buffer, o: number): string {
  let mapped = buf[o + 10] === 0xff && buf[o + 11] === 0xff;
  for (let i = 0; i < 10 && mapped; i++) mapped = buf[o + i] === 0;
  if (mapped) return `::ffff:${buf[o + 12]}.${buf[o + 13]}.${buf[o + 14]}.${buf[o + 15]}`;
  const words: number[] = [];
  for (let i = 0; i < 8; i++) words.push(buf.readUInt16BE(o + 2 * i));
  let best = -1, bestLen = 1;
  for (let i = 0; i < 8; ) {
    let j = i;
    while (j < 8 && words[j] === 0) j++;
    if (j - i > bestLen) [best, bestLen] = [i, j - i];
    i = j === i ? i + 1 : j;
  }
  const hex = (ws: number[]) => ws.map((w) => w.toString(16)).join(':');
  if (best < 0) return hex(words);
  return `${hex(words.slice(0, best))}::${hex(words.slice(best + bestLen))}`;
}

/**
 * The address in raw sockaddr bytes `buf[o..o+len]`, tagged with `network`; `null` for an unnamed unix
 * socket (one that never bound a name).
 */
export function decodeAddress(buf: Buffer, o: number, len: number, network: Network): Address | null {
  const family = buf.readUInt16LE(o);
  if (family === consts.AF_UNIX) {
    if (len <= 2) return null;
    const abstract = buf[o + 2] === 0;
    let end = o + len;
    if (!abstract) {
      const nul = buf.indexOf(0, o + 2);
      if (nul >= 0 && nul < end) end = nul;
    }
    return { network: network as UnixNetwork, path: buf.toString('utf8', o + (abstract ? 3 : 2), end), abstract };
  }
  const port = buf.readUInt16BE(o + 2);
  if (family === consts.AF_INET) {
    return { network, host: `${buf[o + 4]}.${buf[o + 5]}.${buf[o + 6]}.${buf[o + 7]}`, port } as Address;
  }
  const scope = buf.readUInt32LE(o + 24);
  const host = ipv6Text(buf, o + 8) + (scope ? `%${native.ifname(scope)}` : '');
  return { network, host, port } as Address;
}

/** getsockname()/getpeername() of `fd` as an address of `network`. */
export function nameOf(fd: number, network: Network, peer = false): Address | null {
  const sa = peer ? native.getpeername(fd) : native.getsockname(fd);
  return decodeAddress(sa, 0, sa.length, network);
}

/** The fd under a Node socket or server (libuv's handle, which Node does not type), or -1 once it is closed. */
export function fdOfNode(owner: Socket | Server): number {
  return (owner as unknown as { _handle?: { fd?: number } | null })._handle?.fd ?? -1;
}
