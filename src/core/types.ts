import type { Duplex } from 'node:stream';
import type { Address, Network } from './address.js';
import type { BudgetOptions } from './budget.js';
import type { PcapWriter } from './pcap.js';

/**
 * Bytes to send: a Buffer/Uint8Array, or a string sent as UTF-8.
 *
 * @example
 * await conn.write('红烧肉')                     // UTF-8
 * await conn.write(Buffer.from([0, 1, 2]))      // bytes as they are
 */
export type Data = Uint8Array | string;

/**
 * Options for a call that waits: abort it with a signal (`AbortSignal.timeout(ms)` gives `ETIMEDOUT`).
 *
 * @example
 * await sock.recvFrom({ signal: AbortSignal.timeout(1000) })
 */
export interface WaitOptions {
  signal?: AbortSignal;
}

/**
 * What one server handler deals with: a whole stream connection, or one datagram. Iterate it for the
 * incoming bytes (chunks of a stream; the one datagram), and `send()` to answer the peer.
 *
 * @example
 * const logAndEcho: Handler = async (ex) => {
 *   for await (const chunk of ex) {
 *     console.log(`${ex.remoteAddr ? formatAddress(ex.remoteAddr) : "an unnamed peer"} sent ${chunk.length} bytes over ${ex.kind}`)
 *     await ex.send(chunk)
 *   }
 * }
 */
export interface Exchange extends AsyncIterable<Buffer> {
  readonly network: Network;
  readonly kind: 'stream' | 'datagram';
  readonly localAddr: Address;
  /** The peer; `null` for a datagram from an unnamed unix socket, which cannot be answered. */
  readonly remoteAddr: Address | null;
  /** Sends to this exchange's peer; resolves when the data has been handed to the kernel (or queued, on streams). */
  send(data: Data): Promise<void>;
  /**
   * Who the peer is: the connection's (SO_PEERCRED, unix and unixpacket) or the datagram sender's
   * (SCM_CREDENTIALS, unixgram). Rejects with `ENOPROTOOPT` on tcp and udp.
   */
  peerCredentials(): Promise<PeerCredentials>;
}

/**
 * One handler for every transport: called once per connection (stream) or per datagram.
 *
 * @example
 * const hello: Handler = (ex) => ex.send('hello\n')  // a greeting over tcp, unix or udp alike
 * await serve('tcp://127.0.0.1:0', hello)
 */
export type Handler = (exchange: Exchange) => void | Promise<void>;

/**
 * A socket option by name; each applies where the OS defines it (`TCP_*` on tcp, `IP_*` on IPv4/IPv6 inet,
 * `IPV6_*` on IPv6, `SO_*` everywhere).
 *
 * @example
 * await conn.setOption('TCP_NODELAY', true)
 * await sock.setOption('IP_ADD_MEMBERSHIP', '239.1.2.3')   // join a multicast group
 */
export type OptionName =
  | 'SO_RCVBUF' | 'SO_SNDBUF' | 'SO_REUSEADDR' | 'SO_REUSEPORT' | 'SO_KEEPALIVE' | 'SO_BROADCAST' | 'SO_TYPE'
  | 'SO_ERROR' | 'SO_RCVLOWAT' | 'SO_PASSCRED'
  | 'TCP_NODELAY' | 'TCP_KEEPIDLE' | 'TCP_KEEPINTVL' | 'TCP_KEEPCNT' | 'TCP_MAXSEG'
  | 'IP_TTL' | 'IP_TOS' | 'IP_MULTICAST_TTL' | 'IP_MULTICAST_LOOP' | 'IP_ADD_MEMBERSHIP' | 'IP_DROP_MEMBERSHIP'
  | 'IPV6_V6ONLY' | 'IPV6_UNICAST_HOPS' | 'IPV6_MULTICAST_HOPS' | 'IPV6_MULTICAST_LOOP' | 'IPV6_JOIN_GROUP'
  | 'IPV6_LEAVE_GROUP';

/** A number, a flag, a group address (membership options), or the socket type's name (`SO_TYPE`). */
export type OptionValue = number | boolean | string;

/**
 * Who is at the other end of a unix socket, as the kernel recorded it: at connect (SO_PEERCRED, unix and
 * unixpacket) or with each datagram (SCM_CREDENTIALS, unixgram). `gid` is the peer's effective group, not its
 * supplementary groups.
 */
export interface PeerCredentials {
  pid: number;
  uid: number;
  gid: number;
}

/** A unix peer as an access check sees it: its credentials and its address (null: an unnamed socket, as most clients are). */
export interface Peer extends PeerCredentials {
  addr: Address | null;
}

/**
 * Who may reach a unix server, checked before a connection (unix, unixpacket: at accept) or a datagram
 * (unixgram) is handed to the program. A refused connection is closed at once and a refused datagram dropped;
 * both are counted (`refused`) and told to `onRefused`. Paths admit everyone by default (the file's mode decides
 * who can connect); an abstract name admits only this process's user unless `allow` or `authorize` says
 * otherwise, because the kernel checks nothing there.
 *
 * @example
 * await serve('unix:@app', echo, { allow: { uids: ['www-data'], gids: [0] } })
 * await bind('unixgram:///run/app.sock', { authorize: (peer) => peer.uid < 1000 })
 */
export interface PeerAccess {
  /**
   * The users and groups admitted (names are looked up when binding): a peer passes with its uid in `uids` or
   * its gid in `gids`. `'everyone'`: no check, which opens an abstract name to every user.
   */
  allow?: { uids?: readonly (number | string)[]; gids?: readonly (number | string)[] } | 'everyone';
  /** Called for each peer that `allow` let through, synchronously (keep it cheap): false, or a throw, refuses it. */
  authorize?: (peer: Peer) => boolean;
  /** Told of each refusal, with why. */
  onRefused?: (peer: Peer, reason: string) => void;
}

/**
 * What every socket has: its fd (read-only, -1 once closed) and socket options. An option that does not apply
 * rejects with a NetError of op `option` (`ENOPROTOOPT` or `EINVAL`).
 *
 * @example
 * await listener.setOption('SO_RCVBUF', 1 << 20)
 * console.log(await sock.getOption('SO_TYPE'))   // 'SOCK_DGRAM'
 */
export interface SocketOptions {
  readonly fd: number;
  getOption(name: OptionName): Promise<OptionValue>;
  setOption(name: OptionName, value: OptionValue): Promise<void>;
}

/** Options, plus the peer's credentials (unix and unixpacket connections). */
export interface SocketControl extends SocketOptions {
  peerCredentials(): Promise<PeerCredentials>;
}

/** Data and the open descriptors that came with it (SCM_RIGHTS); the descriptors are the caller's to close. */
export interface WithFds {
  data: Buffer;
  fds: number[];
}

/**
 * A stream connection (tcp, unix, unixpacket). Iterate it for the incoming chunks until the peer's EOF.
 *
 * @example
 * const conn = await dial('unix:///tmp/app.sock')
 * await conn.write('ping')
 * const reply = await conn.read({ signal: AbortSignal.timeout(1000) })  // a Buffer, or null at EOF
 * await conn.close()
 */
export interface Conn extends Exchange, SocketControl {
  readonly kind: 'stream';
  readonly remoteAddr: Address;
  /** The Node `Duplex` underneath, for `pipe()` and stream utilities. */
  readonly stream: Duplex;
  /** Writes; resolves at once while the socket accepts more, or once it has drained (backpressure). */
  write(data: Data): Promise<void>;
  /** Same as {@link Conn.write}: the Exchange name. */
  send(data: Data): Promise<void>;
  /** The next chunk, or `null` at the peer's EOF. */
  read(options?: WaitOptions): Promise<Buffer | null>;
  /** Half-close: sends EOF after what was written; reading goes on. */
  end(data?: Data): Promise<void>;
  /** Flushes what was written and closes. Idempotent. */
  close(): Promise<void>;
  /**
   * Sends `data` with open descriptors (SCM_RIGHTS; unix and unixpacket), in order: after what was written before
   * it, before what is written after it (awaited or not).
   */
  sendFds(data: Data, fds: readonly number[]): Promise<void>;
  /**
   * The next chunk with any descriptors it carried (unix and unixpacket); `null` at EOF. On `unix` streams
   * (libuv's sockets) descriptors can be received until the first {@link Conn.read}, which hands reading to libuv.
   */
  recvFds(options?: WaitOptions): Promise<WithFds | null>;
}

/**
 * A listening stream socket. Iterate it for accepted connections until it is closed.
 *
 * @example
 * const listener = await listen('tcp://127.0.0.1:0')
 * const conn = await listener.accept({ signal: AbortSignal.timeout(5000) })
 */
export interface Listener extends AsyncIterable<Conn>, SocketOptions {
  readonly network: Network;
  /** The concrete local address: the port the OS picked for port 0, the path for unix. */
  readonly addr: Address;
  accept(options?: WaitOptions): Promise<Conn>;
  /** Connections closed at once because their peer was not admitted ({@link PeerAccess}). */
  readonly refused: number;
  /** Stops accepting (connections already accepted stay open). Idempotent. */
  close(): Promise<void>;
}

/**
 * One received datagram and its sender.
 *
 * @example
 * const { data, from } = await sock.recvFrom()
 * await sock.sendTo(data, from)  // answer whoever sent it
 */
export interface Datagram {
  data: Buffer;
  /** The sender; `null` for an unnamed unix socket (a reply to it rejects with `ERR_SOCKTOOL_UNNAMED_PEER`). */
  from: Address | null;
  /** The datagram was larger than the receive buffer (`maxDatagram`): `data` holds its start only. */
  truncated: boolean;
  /** Descriptors that came with it (unixgram, SCM_RIGHTS); the caller's to close. Empty otherwise. */
  fds: number[];
  /** The sender's credentials (unixgram, SCM_CREDENTIALS: the kernel vouches for them); undefined on udp. */
  credentials?: PeerCredentials;
}

/**
 * @example
 * await sock.sendTo('here is a file', 'unixgram:///run/app.sock', { fds: [fd] })
 */
export interface SendOptions {
  /** Open descriptors to pass (unixgram only). */
  fds?: readonly number[];
}

/**
 * A datagram socket (udp, unixgram). Iterate it for `{ data, from }` until it is closed.
 *
 * @example
 * const sock = await bind('udp://127.0.0.1:0')
 * await sock.connect('udp://127.0.0.1:9999')
 * await sock.send('ping')
 * for await (const { data } of sock) { console.log(data.toString()); break }
 */
export interface DatagramSocket extends AsyncIterable<Datagram>, SocketOptions {
  readonly network: Network;
  readonly localAddr: Address;
  /** The default peer after {@link DatagramSocket.connect}, else `null`. */
  readonly remoteAddr: Address | null;
  /**
   * Datagrams dropped by policy so far: those owed to a unixgram receiver that took nothing for a second (see
   * {@link DatagramSocket.sendTo}).
   */
  readonly dropped: number;
  /** Datagrams dropped because their sender was not admitted ({@link PeerAccess}). */
  readonly refused: number;
  /**
   * Resolves once the datagram is with the kernel, or held for its receiver. Toward a full receiver (unixgram),
   * a connected socket waits for room; an unconnected one holds up to 256 datagrams per receiver, retried in
   * order, and further sends wait (reading pauses meanwhile, so a server's senders wait too, as with a blocking
   * server). A receiver that takes nothing for 1 s is stuck: what it is owed is dropped and counted in
   * {@link DatagramSocket.dropped}, and so is what it cannot take until it reads again. Too large: `EMSGSIZE`.
   */
  sendTo(data: Data, to: Address | string | null, options?: SendOptions): Promise<void>;
  recvFrom(options?: WaitOptions): Promise<Datagram>;
  /** Sets the default peer for {@link DatagramSocket.send}; only its datagrams are received afterwards. */
  connect(peer: Address | string): Promise<void>;
  send(data: Data, options?: SendOptions): Promise<void>;
  /** Idempotent. */
  close(): Promise<void>;
}

/**
 * A running {@link serve} server.
 *
 * @example
 * const server = await serve('udp://127.0.0.1:0', echo)
 * process.once('SIGTERM', () => server.close({ signal: AbortSignal.timeout(2000) }))
 */
export interface Server {
  readonly network: Network;
  readonly addr: Address;
  /** Datagram servers: replies dropped by policy (see {@link DatagramSocket.dropped}); 0 on stream networks. */
  readonly dropped: number;
  /** Connections or datagrams whose peer was not admitted ({@link PeerAccess}). */
  readonly refused: number;
  /**
   * Resolves once the server has closed: after {@link Server.close}, or by itself once the one connection of an
   * inherited connection (`fd:N` from Accept=yes or inetd) is done.
   */
  readonly closed: Promise<void>;
  /**
   * Stops taking new work and waits for the exchanges in flight. Aborting `signal` cuts the remaining stream
   * connections instead of waiting for them. Idempotent.
   */
  close(options?: WaitOptions): Promise<void>;
}

/**
 * TLS for a stream network (tcp, unix, unixpacket). PEM text or bytes, as Node's `tls` takes them.
 *
 * @example
 * await dial('tcp://example.test:443', { tls: { servername: 'example.test' } })
 * await listen('tcp://127.0.0.1:8443', { tls: { cert: readFileSync('cert.pem'), key: readFileSync('key.pem') } })
 */
export interface TlsOptions {
  /** Certificate authorities to trust (client) or to verify client certificates with (server). */
  ca?: string | Buffer;
  /** This side's certificate: required for a server, a client certificate for a client. */
  cert?: string | Buffer;
  key?: string | Buffer;
  /** The name to verify (and send as SNI); default the address's host when it is a name. */
  servername?: string;
  /** Client: do not verify the server's certificate. */
  insecure?: boolean;
}

/**
 * The rights of a socket file (unix paths): set without a moment where the file is looser than asked.
 *
 * @example
 * await listen('unix:///run/app.sock', { mode: 0o660, group: 'app' })
 */
export interface FileAccess {
  /** Permission bits, e.g. `0o660` (connecting needs write permission). Default: what the umask gives. */
  mode?: number;
  /** The owning user, by name or uid (changing it needs privilege). */
  owner?: number | string;
  /** The owning group, by name or gid. */
  group?: number | string;
}

/**
 * @example
 * await listen('tcp://[::]:8000', { ipv6Only: true, backlog: 511 })
 */
export interface ListenOptions extends FileAccess, PeerAccess {
  /** Record the traffic into this pcapng file as it goes (see PcapWriter; the caller closes it). */
  pcap?: PcapWriter;
  /** For tcp6 / an IPv6 host: accept IPv6 only (IPV6_V6ONLY). Default: true for tcp6/udp6, else false. */
  ipv6Only?: boolean;
  /** Listen backlog. */
  backlog?: number;
  /** Accepted connections that may wait for `accept()`; more are refused (closed at once). Default 128. */
  acceptQueue?: number;
  /** Speak TLS on every accepted connection (stream networks; `cert` and `key` required). */
  tls?: TlsOptions;
  /** tcp: SO_REUSEPORT, so several listeners share one port and the kernel spreads connections among them. */
  reusePort?: boolean;
}

/**
 * @example
 * await bind('udp://0.0.0.0:5353', { reuseAddr: true, recvQueue: 256 })
 */
/**
 * On unixgram, `peerBytes` and `serverBytes` (see BudgetOptions) bound what is held for receivers whose queue is
 * full: a datagram to such a peer waits in its backlog, never dropped while the peer lives; a peer over its share
 * has its further datagrams to this socket dropped (and counted), since it sends without taking its replies.
 */
export interface BindOptions extends FileAccess, PeerAccess, BudgetOptions {
  /** Record the traffic into this pcapng file as it goes (see PcapWriter; the caller closes it). */
  pcap?: PcapWriter;
  ipv6Only?: boolean;
  /** SO_REUSEADDR, so several sockets can bind one UDP port (multicast receivers). */
  reuseAddr?: boolean;
  /** udp: SO_REUSEPORT, so several sockets share one port and the kernel spreads datagrams among them. */
  reusePort?: boolean;
  /**
   * Datagrams held in memory for `recvFrom()`; when it is full, reading pauses and the kernel's buffer takes
   * over (udp drops there, unixgram senders wait). Default 4096.
   */
  recvQueue?: number;
  /** The receive buffer per datagram; larger datagrams arrive `truncated`. Default 64 KiB (udp), 256 KiB (unixgram). */
  maxDatagram?: number;
  /**
   * unixgram: milliseconds a peer may take nothing of what is held for it (its queue full) before it is judged gone:
   * its backlog is dropped and counted in `dropped`, as is what it cannot take after that, until it takes something
   * again. A peer whose socket is closed or removed (ECONNREFUSED, ENOENT) is gone at once. Default 30000.
   */
  peerSilence?: number;
}

/**
 * @example
 * await serve('unix:///tmp/app.sock', echo, { onError: (err) => log.warn(err.message) })
 */
export interface ServeOptions extends ListenOptions, BindOptions {
  /**
   * Called with every error a handler throws or a connection fails with (`exchange` is null for a failed
   * accept); default: one line on stderr. The server keeps serving either way.
   */
  onError?: (error: Error, exchange: Exchange | null) => void;
  /**
   * Stream networks: connections held at once (TLS handshakes included). When all are taken, a newcomer takes the
   * place of the connection silent longest since it came without sending anything; if every one has sent
   * something, the newcomer is refused (closed at once). Default: what the descriptor limit leaves room for
   * (the soft limit, raised to the hard one at start, less 128), at most 65,536.
   */
  maxConns?: number;
  /** Stream networks: a connection with no read or write for this many ms is closed (reported, ETIMEDOUT). Default: none. */
  idle?: number;
  /** TLS: connections in their handshake at once (they count against `maxConns` too); a new one over it is refused. Default 128. */
  maxHandshakes?: number;
  /** TLS: milliseconds a handshake may take before the connection is closed. Default 10000. */
  handshakeTimeout?: number;
}

/**
 * Options for dial: abort the connect with `signal` (`AbortSignal.timeout(ms)` gives `ETIMEDOUT`).
 *
 * @example
 * await dial('tcp://[::1]:8000', { signal: AbortSignal.timeout(2000) })
 */
export interface DialOptions extends WaitOptions {
  /** Record the traffic into this pcapng file as it goes (see PcapWriter; the caller closes it). */
  pcap?: PcapWriter;
  /** Speak TLS over the connection; the signal covers the handshake too. */
  tls?: TlsOptions;
  /**
   * The source address to connect from (tcp: a host and/or a port, as `nc -s/-p`; port 0 lets the kernel
   * choose). Unix stream clients cannot choose theirs: EOPNOTSUPP.
   */
  local?: Address | string;
}

/**
 * @example
 * await bindTo('udp://127.0.0.1:9999', { local: 'udp://127.0.0.1:5000' })
 */
export interface BindToOptions extends BindOptions {
  /** The address to send from (default: an ephemeral port, or an unnamed unix socket that can be answered). */
  local?: Address | string;
}
