/**
 * The one network table: everything that differs by network is read from its row. Adding a network is one row
 * here plus one adapter in `src/index.ts`'s dispatch.
 */

/** Option levels (SOL_SOCKET, IPPROTO_IP, IPPROTO_IPV6, IPPROTO_TCP). */
export type OptionLevel = 'socket' | 'ip' | 'ipv6' | 'tcp';

interface NetworkRow {
  /** stream: dial/listen, a connection of bytes (or of messages); datagram: bind, sendTo/recvFrom. */
  readonly shape: 'stream' | 'datagram';
  /** The kind of address: host and port, or a unix path or abstract name. */
  readonly family: 'inet' | 'unix';
  /** 4 or 6 when the name pins the IP family, else 0. */
  readonly pinned: 0 | 4 | 6;
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

const INET_STREAM = { shape: 'stream', family: 'inet', messages: false, credentials: false, fds: false,
  levels: ['socket', 'ip', 'ipv6', 'tcp'], maxMessage: 0 } as const;
const INET_DGRAM = { shape: 'datagram', family: 'inet', messages: true, credentials: false, fds: false,
  levels: ['socket', 'ip', 'ipv6'], maxMessage: 64 * 1024 } as const;
const UNIX_ROW = { family: 'unix', pinned: 0, fds: true, levels: ['socket'] } as const;

export const NETWORKS = {
  tcp: { ...INET_STREAM, pinned: 0 },
  tcp4: { ...INET_STREAM, pinned: 4 },
  tcp6: { ...INET_STREAM, pinned: 6 },
  udp: { ...INET_DGRAM, pinned: 0 },
  udp4: { ...INET_DGRAM, pinned: 4 },
  udp6: { ...INET_DGRAM, pinned: 6 },
  unix: { ...UNIX_ROW, shape: 'stream', messages: false, credentials: true, maxMessage: 0 },
  unixgram: { ...UNIX_ROW, shape: 'datagram', messages: true, credentials: false, maxMessage: 256 * 1024 },
  unixpacket: { ...UNIX_ROW, shape: 'stream', messages: true, credentials: true, maxMessage: 256 * 1024 },
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

/** The row of `n`. */
export const networkOf = (n: Network): NetworkRow => NETWORKS[n];
export const isNetwork = (n: string): n is Network => Object.hasOwn(NETWORKS, n);
/** Stream-shaped networks dial and listen; the others bind. */
export const isStreamNetwork = (n: Network): boolean => NETWORKS[n].shape === 'stream';
/** 4 or 6 when the network name pins the IP family, else 0. */
export const pinnedFamily = (n: Network): 0 | 4 | 6 => NETWORKS[n].pinned;
