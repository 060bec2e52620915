/**
 * The one network table: everything that differs by network is read from its row, and {@link networkFor} reads
 * it backwards, from a socket's domain and type. Adding a network is one row here plus one adapter in the dispatch
 * table of `src/api.ts`.
 */
import { SOCKET_CONSTANTS } from './constants.js';

/** Option levels (SOL_SOCKET, IPPROTO_IP, IPPROTO_IPV6, IPPROTO_TCP). */
export type OptionLevel = 'socket' | 'ip' | 'ipv6' | 'tcp';

/** A socket type by its C name. */
export type SocketType = 'SOCK_STREAM' | 'SOCK_DGRAM' | 'SOCK_SEQPACKET';

interface NetworkRow {
  /** stream: dial/listen, a connection of bytes (or of messages); datagram: bind, sendTo/recvFrom. */
  readonly shape: 'stream' | 'datagram';
  /** The kind of address: host and port, or a unix path or abstract name. */
  readonly family: 'inet' | 'unix';
  /** The socket type the kernel makes for it. */
  readonly type: SocketType;
  /** 4 or 6 when the name pins the IP family, else 0. */
  readonly pinned: 0 | 4 | 6;
  /** An IPv6 socket of this network is IPv6-only (IPV6_V6ONLY) unless told otherwise. */
  readonly v6only: boolean;
  /** Each read is one whole message, with the sender's boundaries (datagrams, seqpacket). */
  readonly messages: boolean;
  /** Peer credentials (SO_PEERCRED) on its connections. */
  readonly credentials: boolean;
  /** Descriptors travel with data (SCM_RIGHTS). */
  readonly fds: boolean;
  /** The option levels that apply. */
  readonly levels: readonly OptionLevel[];
  /** The largest message received whole by default (datagram networks; longer ones arrive `truncated`). */
  readonly maxMessage: number;
}

const INET_STREAM = { shape: 'stream', family: 'inet', type: 'SOCK_STREAM', messages: false, credentials: false,
  fds: false, levels: ['socket', 'ip', 'ipv6', 'tcp'], maxMessage: 0 } as const;
const INET_DGRAM = { shape: 'datagram', family: 'inet', type: 'SOCK_DGRAM', messages: true, credentials: false,
  fds: false, levels: ['socket', 'ip', 'ipv6'], maxMessage: 64 * 1024 } as const;
const UNIX_ROW = { family: 'unix', pinned: 0, v6only: false, fds: true, levels: ['socket'] } as const;

export const NETWORKS = {
  tcp: { ...INET_STREAM, pinned: 0, v6only: false },
  tcp4: { ...INET_STREAM, pinned: 4, v6only: false },
  tcp6: { ...INET_STREAM, pinned: 6, v6only: true },
  udp: { ...INET_DGRAM, pinned: 0, v6only: false },
  udp4: { ...INET_DGRAM, pinned: 4, v6only: false },
  udp6: { ...INET_DGRAM, pinned: 6, v6only: true },
  unix: { ...UNIX_ROW, shape: 'stream', type: 'SOCK_STREAM', messages: false, credentials: true, maxMessage: 0 },
  unixgram: { ...UNIX_ROW, shape: 'datagram', type: 'SOCK_DGRAM', messages: true, credentials: false, maxMessage: 256 * 1024 },
  unixpacket: { ...UNIX_ROW, shape: 'stream', type: 'SOCK_SEQPACKET', messages: true, credentials: true, maxMessage: 256 * 1024 },
} as const satisfies Record<string, NetworkRow>;

/**
 * Go's network names: the scheme of every address.
 *
 * @example
 * const n: Network = parseAddress('udp6://[::1]:53').network  // 'udp6'
 */
export type Network = keyof typeof NETWORKS;
/** The IP networks. @example const n: InetNetwork = 'tcp6' */
export type InetNetwork = { [N in Network]: (typeof NETWORKS)[N]['family'] extends 'inet' ? N : never }[Network];
/** The AF_UNIX networks: stream, datagram, seqpacket. @example const n: UnixNetwork = 'unixgram' */
export type UnixNetwork = Exclude<Network, InetNetwork>;

const NAMES = Object.keys(NETWORKS) as Network[];

/** The row of `n`. */
export const rowOf = (n: Network): NetworkRow => NETWORKS[n];
export const isNetwork = (n: string): n is Network => Object.hasOwn(NETWORKS, n);
/** Stream-shaped networks dial and listen; the others bind. */
export const isStreamNetwork = (n: Network): boolean => NETWORKS[n].shape === 'stream';
/** 4 or 6 when the network name pins the IP family, else 0. */
export const pinnedFamily = (n: Network): 0 | 4 | 6 => NETWORKS[n].pinned;
/** The socket type number (this platform's SOCK_*) of `n`'s sockets. */
export const socketTypeOf = (n: Network): number => SOCKET_CONSTANTS[NETWORKS[n].type]!;

const find = (match: (row: NetworkRow) => boolean): Network | undefined => NAMES.find((n) => match(NETWORKS[n]));

/**
 * The network of a socket of `domain` (AF_INET, AF_INET6, AF_UNIX) and `type` (SOCK_*), as numbers: an IPv6-only
 * inet socket is tcp6/udp6, any other inet socket tcp/udp (unpinned: its address says the family). Undefined for
 * any other domain or type.
 *
 * @example
 * networkFor(constants.AF_UNIX, constants.SOCK_SEQPACKET, false)  // 'unixpacket'
 */
export function networkFor(domain: number, type: number, v6only: boolean): Network | undefined {
  const C = SOCKET_CONSTANTS;
  const ofType = (row: NetworkRow) => C[row.type] === type;
  if (domain === C.AF_UNIX) return find((row) => row.family === 'unix' && ofType(row));
  if (domain !== C.AF_INET && domain !== C.AF_INET6) return undefined;
  const pinned = domain === C.AF_INET6 && v6only ? 6 : 0;
  return find((row) => row.family === 'inet' && ofType(row) && row.pinned === pinned);
}

/** The network of `n`'s kind pinned to IP family `ip` (tcp → tcp4 or tcp6); a unix network is itself. */
export function withIpFamily(n: Network, ip: 4 | 6): Network {
  const row = NETWORKS[n];
  if (row.family === 'unix') return n;
  return find((r) => r.family === 'inet' && r.type === row.type && r.pinned === ip)!;
}

/** The networks, in table order, that `match` picks. */
export const networksWhere = (match: (row: NetworkRow, n: Network) => boolean): Network[] =>
  NAMES.filter((n) => match(NETWORKS[n], n));
