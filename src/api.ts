/**
 * The socket API (dial, listen, bind, bindTo, serve, upgradeTls, constants) and the one dispatch table: which
 * adapter serves which network. It alone decides whether an address is an inherited socket, and hands those to
 * the adapter's adopt. Everything above it (channels, the relay, the BSD facade, the CLI) uses what this module
 * and `src/index.ts` export, plus core's building blocks.
 */
import { closeSync, readFileSync } from 'node:fs';
import { setFlagsFromString } from 'node:v8';
import { runInNewContext } from 'node:vm';
import { formatAddress, hasSocketFile, toAddress, type Address } from './core/address.js';
import { isStreamNetwork, rowOf, NETWORKS, type Network } from './core/networks.js';
import { Codes, invalid, NetError, wrap, type Op } from './core/errors.js';
import { resolveInet } from './core/resolve.js';
import { Budget, defaultMaxPeers, setReclaimer } from './core/budget.js';
import { DatagramServer, reportToStderr, StreamServer } from './core/serve.js';
import { OneConnectionListener } from './core/stream.js';
import { noTls, tlsClient, TlsListener, tlsServerContext } from './core/tls.js';
import { SOCKET_CONSTANTS } from './core/constants.js';
import { addonStatus, native } from './native/index.js';
export { OPTION_NAMES } from './native/options.js';
import type {
  BindOptions, BindToOptions, FileAccess, DatagramSocket, DialOptions, Conn, Handler, Listener, ListenOptions, PeerAccess, Server,
  ServeOptions, TlsOptions, WaitOptions,
} from './core/types.js';
import type { DatagramAdapter, PeerGate, ServableDatagramSocket, StreamAdapter } from './core/adapter.js';
import { tcp } from './tcp/index.js';
import { udp } from './udp/index.js';
import { asksPeers, asksRights } from './core/access.js';
import { addressOrInherited, isInherited, plainAddress, type InheritedSocket } from './inherited.js';
import { datagramRecorder, recordConn, RecordedListener } from './core/record.js';
import { unix, unixgram, unixpacket } from './unix/index.js';

export {
  formatAddress, hasSocketFile, inetAddress, isStreamNetwork, parseAddress, unixAddress, MAX_UNIX_PATH,
  type Address, type InetAddress, type InetNetwork, type Network, type UnixAddress, type UnixNetwork,
} from './core/address.js';
export { Codes, NetError, type Op } from './core/errors.js';
export { NETWORKS, networkFor, networksWhere, rowOf, socketTypeOf, withIpFamily, type SocketType } from './core/networks.js';
export { addonStatus, type AddonStatus } from './native/index.js';
export { withNativeReading } from './native/conn.js';
export { exchangeSocketFiles, unixSocketAt } from './unix/index.js';
export {
  addressOrInherited, inheritedSocket, isInherited, isInheritedText, listenFds, plainAddress, type InheritedSocket,
} from './inherited.js';
export { echo, upper } from './core/handlers.js';
export { sockperf } from './core/sockperf.js';
export { oneLine } from './core/text.js';
export { lookupHost, type Resolved } from './core/resolve.js';
export type {
  BindOptions, BindToOptions, Conn, FileAccess, Data, Datagram, DatagramSocket, DialOptions, Exchange, Handler, Listener, ListenOptions,
  OptionName, OptionValue, Peer, PeerAccess, PeerCredentials, SendOptions, Server, ServeOptions, SocketControl, SocketOptions,
  TlsOptions, WaitOptions, WithFds,
} from './core/types.js';

/**
 * The one dispatch table: which adapter serves which network. Its type follows the network table's shapes, so a
 * stream network cannot be given a datagram adapter.
 */
const adapters: { [N in Network]: (typeof NETWORKS)[N]['shape'] extends 'stream' ? StreamAdapter : DatagramAdapter } = {
  tcp, tcp4: tcp, tcp6: tcp,
  udp, udp4: udp, udp6: udp,
  unix, unixgram, unixpacket,
};

function wrongShape(op: Op, addr: Address): NetError {
  const shape = rowOf(addr.network).shape;
  const use = shape === 'datagram' ? 'bind() or serve()' : 'dial()/listen() or serve()';
  return new NetError({ op, network: addr.network, addr, code: Codes.WRONG_SHAPE,
    detail: `${addr.network} is a ${shape} network: use ${use}` });
}

/** What an inherited socket is taken as: a listener (of connections, or of the one it is), a connection, a datagram socket. */
type Use = 'listener' | 'connection' | 'datagram';

/** Options that shape a socket as it is made: the service manager made an inherited one. */
const MADE_WITH = ['mode', 'owner', 'group', 'ipv6Only', 'reuseAddr', 'reusePort'] as const;

/**
 * An inherited listening socket is not a connection, and an inherited socket takes no option that shapes a
 * socket as it is made (systemd's SocketMode=, BindIPv6Only=, ReusePort= do that).
 */
function checkInherited(op: Op, a: Address, use: Use, options: object = {}): void {
  if (!isInherited(a)) return;
  const made = MADE_WITH.find((k) => (options as Record<string, unknown>)[k] !== undefined);
  const detail = a.listening && use === 'connection' ? 'a listening socket, not a connection: listen() or serve() takes it'
    : made && `${made} does not apply: the socket was made by whoever passed it`;
  if (detail) throw invalid(op, `inherited fd ${a.fd}: ${detail}`, a.network, a);
}

function streamAdapter(op: Op, addr: Address): StreamAdapter {
  if (!isStreamNetwork(addr.network)) throw wrongShape(op, addr);
  return adapters[addr.network] as StreamAdapter;
}

function datagramAdapter(op: Op, addr: Address): DatagramAdapter {
  if (isStreamNetwork(addr.network)) throw wrongShape(op, addr);
  return adapters[addr.network] as DatagramAdapter;
}

/**
 * Connects a stream socket (tcp, tcp4, tcp6, unix, unixpacket; `unix:@name` for an abstract name). `fd:N` takes
 * an inherited connection instead (systemd's `Accept=yes`, inetd's `fd:0`).
 *
 * @throws NetError with `op: 'dial'`: `ECONNREFUSED`, `ENOENT` (no such unix path), `ETIMEDOUT` (signal), …
 * @example
 * const conn = await dial('tcp://127.0.0.1:8000', { signal: AbortSignal.timeout(2000) })
 * await conn.write('hello\n')
 * for await (const chunk of conn) process.stdout.write(chunk)
 */
export async function dial(addr: Address | string, options: DialOptions = {}): Promise<Conn> {
  const a = addressOrInherited('dial', addr);
  const adapter = streamAdapter('dial', a);
  let conn: Conn;
  if (isInherited(a)) {
    checkInherited('dial', a, 'connection', options);
    conn = await adopt(adapter, a);
  } else {
    if (options.local !== undefined) options = { ...options, local: localFor('dial', a, options.local) };
    conn = await adapter.dial(a, options);
  }
  // Under TLS, recorded where the application's bytes cross it: TLS takes the socket's descriptor from beneath the
  // stream, so the encrypted records never pass through JavaScript.
  if (options.tls) conn = await tlsClient(conn, options.tls, options, a);
  if (options.pcap) recordConn(conn, options.pcap, true, options.tls ? 'TLS, decrypted' : '');
  return conn;
}

/** The connection an inherited socket is, known by its own address. */
const adopt = (adapter: StreamAdapter, s: InheritedSocket) => adapter.adopt(s.fd, plainAddress(s));

/** A source address for `to`: of the same kind (an inet address for inet, a unix one for unix), or EINVAL. */
function localFor(op: 'dial' | 'bind', to: Address, local: Address | string): Address {
  const l = toAddress(local);
  if (('path' in l) !== ('path' in to) || isStreamNetwork(l.network) !== isStreamNetwork(to.network)) {
    throw invalid(op, `cannot send from ${formatAddress(l)}: not a ${to.network} address`, to.network, to);
  }
  return { ...l, network: to.network } as Address;
}

/**
 * Listens on a stream address; port 0 picks a free port and `listener.addr` tells which. `fd:N` or `fd:NAME`
 * takes an inherited listening socket (socket activation) instead of making one; an inherited connection
 * (Accept=yes, inetd) gives a listener of that one connection, which ends when it closes.
 *
 * @throws NetError with `op: 'listen'`: `EADDRINUSE` (also for a live server's unix path), `EACCES`, …
 * @example
 * const listener = await listen('unix:///tmp/app.sock')
 * for await (const conn of listener) conn.end('hi\n')
 */
export async function listen(addr: Address | string, options: ListenOptions = {}): Promise<Listener> {
  const a = addressOrInherited('listen', addr);
  return openListener(streamAdapter('listen', a), a, options);
}

/** mode, owner and group are a socket file's: asked for elsewhere (tcp, udp, an abstract name) they are EINVAL. */
function checkFileAccess(op: Op, a: Address, options: FileAccess): void {
  if (!asksRights(options) || hasSocketFile(a)) return;
  throw invalid(op, 'mode, owner and group are for sockets on a unix path (abstract names and ports have no file)', a.network, a);
}

/** The adapter's peer check for `options`; asked of a network whose peers have no identity (tcp, udp), EINVAL. */
function peerGate(op: Op, adapter: StreamAdapter | DatagramAdapter, a: Address, options: PeerAccess): PeerGate | undefined {
  if (adapter.gate) return adapter.gate(op, a, options);
  if (!asksPeers(options)) return undefined;
  throw invalid(op, 'allow and authorize are for unix sockets: peers over IP have no user to check', a.network, a);
}

/**
 * Listens, with TLS on every accepted connection when asked; a bad certificate or allow list fails before
 * binding. An inherited connection (Accept=yes, inetd) is listened on as a listener of that one connection.
 */
async function openListener(adapter: StreamAdapter, a: Address, options: ListenOptions): Promise<Listener> {
  checkInherited('listen', a, 'listener', options);
  checkFileAccess('listen', a, options);
  const gate = peerGate('listen', adapter, a, options);
  const context = options.tls && tlsServerContext(options.tls, a.network);
  const listener = !isInherited(a) ? await adapter.listen(a, options, gate)
    : a.listening ? await adapter.adoptListener(a.fd, plainAddress(a), options, gate)
    : new OneConnectionListener(await adopt(adapter, a), gate);
  // Under TLS, the TLS listener records each connection where the application's bytes cross it (see dial()).
  if (context) return new TlsListener(listener, context, options.tls?.ca !== undefined, options.pcap);
  return options.pcap ? new RecordedListener(listener, options.pcap) : listener;
}

/**
 * Opens a datagram socket bound to `addr` (udp, udp4, udp6, unixgram); `udp://127.0.0.1:0` or `unixgram:` for a client.
 * `fd:N` or `fd:NAME` takes an inherited datagram socket (socket activation) instead.
 *
 * @throws NetError with `op: 'bind'`: `EADDRINUSE`, `EACCES`, …
 * @example
 * const sock = await bind('udp://127.0.0.1:0')
 * await sock.sendTo('ping', 'udp://127.0.0.1:9999')
 * const { data, from } = await sock.recvFrom({ signal: AbortSignal.timeout(1000) })
 */
export async function bind(addr: Address | string, options: BindOptions = {}): Promise<DatagramSocket> {
  const a = addressOrInherited('bind', addr);
  return openDatagram(datagramAdapter('bind', a), a, options);
}

/** Binds a datagram socket, its rights and allow list checked first. */
function openDatagram(adapter: DatagramAdapter, a: Address, options: BindOptions): Promise<ServableDatagramSocket> {
  checkInherited('bind', a, 'datagram', options);
  checkFileAccess('bind', a, options);
  const gate = peerGate('bind', adapter, a, options);
  const sock = isInherited(a) ? adapter.adopt(a.fd, plainAddress(a), options, gate) : adapter.bind(a, options, gate);
  const pcap = options.pcap;
  return !pcap ? sock : sock.then((s) => {
    // Its peers are its clients.
    s.recorder = datagramRecorder(pcap, s.localAddr, false);
    return s;
  });
}

/**
 * Starts TLS on a connected stream (STARTTLS style, or Python's `wrap_socket`); resolves after the handshake
 * with the secure Conn, which replaces `conn`.
 *
 * @example
 * const secure = await upgradeTls(await dial('tcp://localhost:8443'), { ca: readFileSync('ca.pem') })
 */
export function upgradeTls(conn: Conn, tls: TlsOptions, options: WaitOptions = {}): Promise<Conn> {
  return tlsClient(conn, tls, options);
}

/**
 * Linux's socket constants: `AF_*`, `SOCK_*`, `SOL_SOCKET`, `SO_*`, `IPPROTO_*`, `TCP_*`, `IP_*`, `IPV6_*`,
 * `SHUT_*` (available without the native addon).
 */
export const constants: Readonly<Record<string, number>> = SOCKET_CONSTANTS;

/**
 * A datagram client: a socket bound where the OS picks (`udp://:0` of the peer's family, or an autobound
 * `unixgram:`) and connected to `peer`, so `send()` goes there and only its datagrams arrive.
 *
 * @example
 * const sock = await bindTo('udp://127.0.0.1:9999')
 * await sock.send('ping')
 */
export async function bindTo(peer: Address | string, options: BindToOptions = {}): Promise<DatagramSocket> {
  let to = toAddress(peer);
  const adapter = datagramAdapter('bind', to);
  let local: Address;
  if (options.local !== undefined) {
    local = localFor('bind', to, options.local);
  } else if ('path' in to) {
    local = { network: to.network, path: '', abstract: false }; // unnamed: autobound, so that it can be answered
  } else {
    // Bound in the peer's own family, so replies read as the address that was dialled (not v4-mapped).
    let found;
    try {
      found = await resolveInet(to, 'connect');
    } catch (err) {
      throw wrap('dial', to.network, to, err);
    }
    to = { ...to, host: found.host };
    local = { network: to.network, host: found.family === 6 ? '::' : '0.0.0.0', port: 0 };
  }
  // Recorded once connected, as the client of the one it reaches.
  const sock = await openDatagram(adapter, local, { ...options, pcap: undefined });
  try {
    await sock.connect(to);
  } catch (err) {
    await sock.close();
    throw err;
  }
  if (options.pcap) sock.recorder = datagramRecorder(options.pcap, sock.localAddr, true);
  return sock;
}

/**
 * Serves `addr` with one handler, whatever the transport: it is called once per stream connection or once per
 * datagram, with an {@link Exchange} to iterate and `send()` on. A throwing handler is reported (`onError`)
 * and the server keeps serving; `close()` waits for the exchanges in flight. `fd:N` or `fd:NAME` serves an
 * inherited socket: a listening or datagram one (socket activation), or one connection (Accept=yes, inetd), after
 * which the server closes by itself (`server.closed`).
 *
 * @example
 * const server = await serve('tcp://127.0.0.1:0', echo)
 * console.log(`listening on ${formatAddress(server.addr)}`)
 * await server.close()
 */
export async function serve(addr: Address | string, handler: Handler, options: ServeOptions = {}): Promise<Server> {
  const a = addressOrInherited('listen', addr);
  const onError = options.onError ?? reportToStderr;
  const nofile = raiseDescriptorLimit();
  const budget = new Budget(options);
  if (isStreamNetwork(a.network)) {
    const adapter = streamAdapter('listen', a);
    return new StreamServer(await openListener(adapter, a, options), handler, onError, {
      maxConns: options.maxConns ?? defaultMaxPeers(nofile),
      budget,
      idle: options.idle ?? 0,
      maxHandshakes: options.maxHandshakes ?? 128,
      handshakeTimeout: options.handshakeTimeout ?? 10_000,
    }, nofile);
  }
  const adapter = datagramAdapter('bind', a);
  if (options.tls) throw noTls('bind', a.network);
  return new DatagramServer(await openDatagram(adapter, a, options), handler, onError, budget);
}

let reclaiming: NodeJS.Timeout | undefined;
let collect: (() => void) | null | undefined;

/**
 * Gives back to the system the memory that peers have let go of, once things settle: V8 frees a buffer only when
 * it collects garbage, which an idle server may not do for hours, and glibc keeps freed pages resident. So: a full
 * collection, then (after V8's background sweeper has freed the buffers' memory) malloc_trim. Debounced: at most
 * once a second.
 */
function reclaimMemory(): void {
  reclaiming ??= setTimeout(() => {
    if (collect === undefined) {
      try {
        setFlagsFromString('--expose-gc');
        collect = runInNewContext('gc') as () => void;
      } catch {
        collect = null; // a runtime without V8's flags: its own collector decides
      }
    }
    collect?.();
    setTimeout(() => {
      reclaiming = undefined;
      if (addonStatus().available) native.trimMemory();
    }, 100).unref();
  }, 1000);
  reclaiming.unref();
}
setReclaimer(reclaimMemory);

/**
 * Closes a descriptor this process received (`recvFds()`, the `fds` of a datagram or a channel message) or was
 * given. Node's `fs.closeSync(fd)` does the same; Deno's closes only the files Deno opened itself (EBADF for any
 * other), so code meant for every runtime closes them here: close(2), through the addon where it is loaded.
 *
 * @example
 * for (const fd of (await conn.recvFds()).fds) closeFd(fd)
 */
export function closeFd(fd: number): void {
  if (!Number.isInteger(fd) || fd < 0) throw new NetError({ op: 'close', code: 'EBADF', detail: `not a descriptor: ${fd}` });
  try {
    if (addonStatus().available) native.close(fd);
    else closeSync(fd);
  } catch (err) {
    throw new NetError({ op: 'close', code: (err as NodeJS.ErrnoException).code ?? 'EIO', cause: err });
  }
}

let nofile: number | undefined;

/**
 * The descriptors this process may hold, raised first from the soft limit to the hard one (servers call this at
 * start, as Go's runtime does since 1.19; it needs the addon, and without it the soft limit stays as it is).
 */
export function raiseDescriptorLimit(): number {
  if (nofile !== undefined) return nofile;
  if (addonStatus().available) {
    try {
      return (nofile = native.raiseNofile());
    } catch {
      // getrlimit failing is not a reason to refuse to serve: the limit is read below instead.
    }
  }
  let soft: string | undefined;
  try {
    soft = /^Max open files\s+(\d+|unlimited)/m.exec(readFileSync('/proc/self/limits', 'utf8'))?.[1];
  } catch {
    // No /proc (or no descriptor left to read it with): the traditional default.
  }
  return (nofile = soft === undefined ? 1024 : soft === 'unlimited' ? 1e9 : Number(soft));
}
