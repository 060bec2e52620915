/// <reference types="node" preserve="true" />
/**
 * `socktool/bsd`: the classic socket call table (Python's `socket` module, C's calls) on top of socktool's core
 * API. One `socket(family, type)` object; calls that wait return promises.
 *
 * @example
 * import { socket, AF_INET, SOCK_STREAM } from 'socktool/bsd'
 * const s = socket(AF_INET, SOCK_STREAM)
 * await s.connect(['127.0.0.1', 8000])
 * await s.sendall('hello')
 * console.log((await s.recv(1024)).toString())
 * await s.close()
 *
 * @packageDocumentation
 */
import {
  bind as bindDatagram, bindTo, Codes, constants, dial, inheritedSocket, isStreamNetwork, listen, lookupHost, NetError,
  NETWORKS, networkFor, OPTION_NAMES, socketTypeOf, withIpFamily, upgradeTls, type Address, type Conn, type DatagramSocket, type InheritedSocket, type Listener,
  type Network, type OptionName, type OptionValue, type TlsOptions,
} from '../index.js';
import { makefile, type FileObject } from './makefile.js';

const C = constants as Record<string, number>;
export const AF_INET = C.AF_INET!;
export const AF_INET6 = C.AF_INET6!;
export const AF_UNIX = C.AF_UNIX!;
export const SOCK_STREAM = C.SOCK_STREAM!;
export const SOCK_DGRAM = C.SOCK_DGRAM!;
export const SOCK_SEQPACKET = C.SOCK_SEQPACKET!;
export const SOL_SOCKET = C.SOL_SOCKET!;
export const IPPROTO_IP = C.IPPROTO_IP!;
export const IPPROTO_IPV6 = C.IPPROTO_IPV6!;
export const IPPROTO_TCP = C.IPPROTO_TCP!;
export const IPPROTO_UDP = C.IPPROTO_UDP!;
export const SO_REUSEADDR = C.SO_REUSEADDR!;
export const SO_REUSEPORT = C.SO_REUSEPORT!;
export const SO_RCVBUF = C.SO_RCVBUF!;
export const SO_SNDBUF = C.SO_SNDBUF!;
export const SO_KEEPALIVE = C.SO_KEEPALIVE!;
export const SO_BROADCAST = C.SO_BROADCAST!;
export const SO_TYPE = C.SO_TYPE!;
export const SO_ERROR = C.SO_ERROR!;
export const SO_RCVLOWAT = C.SO_RCVLOWAT!;
export const TCP_NODELAY = C.TCP_NODELAY!;
export const TCP_KEEPIDLE = C.TCP_KEEPIDLE!;
export const TCP_KEEPINTVL = C.TCP_KEEPINTVL!;
export const TCP_KEEPCNT = C.TCP_KEEPCNT!;
export const IP_TTL = C.IP_TTL!;
export const IP_TOS = C.IP_TOS!;
export const IP_MULTICAST_TTL = C.IP_MULTICAST_TTL!;
export const IP_MULTICAST_LOOP = C.IP_MULTICAST_LOOP!;
export const IP_ADD_MEMBERSHIP = C.IP_ADD_MEMBERSHIP!;
export const IP_DROP_MEMBERSHIP = C.IP_DROP_MEMBERSHIP!;
export const IPV6_V6ONLY = C.IPV6_V6ONLY!;
export const IPV6_UNICAST_HOPS = C.IPV6_UNICAST_HOPS!;
export const SHUT_RD = C.SHUT_RD!;
export const SHUT_WR = C.SHUT_WR!;
export const SHUT_RDWR = C.SHUT_RDWR!;

/** Python's `OSError`: every failure is a NetError, with the errno name as `code` and its number as `errno`. */
export { NetError as OSError } from '../index.js';

/** A call that ran out of its `settimeout()` time (Python's `TimeoutError`): `code` `ETIMEDOUT`. */
export class TimeoutError extends NetError {}
/** A call on a non-blocking socket that would have to wait (Python's `BlockingIOError`): `code` `EAGAIN`. */
export class BlockingIOError extends NetError {}

/** An address as `bind`/`connect` take it: `[host, port]` (IPv4/IPv6), or a path or `'\0name'` (AF_UNIX). */
export type SockAddr = [host: string, port: number, ...rest: number[]] | string;

/** The network of a socket of `family` and `type`: AF_INET and AF_INET6 pin the IP family, as Python's sockets do. */
function networkOfSocket(family: number, type: number): Network | undefined {
  const n = networkFor(family, type, family === AF_INET6);
  return n && family === AF_INET ? withIpFamily(n, 4) : n;
}

/** (level, number) → the core's option name, from this platform's constants. */
const OPTION_BY_NUMBER = new Map<string, OptionName>(OPTION_NAMES.map((name) => {
  const level = name.startsWith('SO_') ? SOL_SOCKET : name.startsWith('TCP_') ? IPPROTO_TCP
    : name.startsWith('IPV6_') ? IPPROTO_IPV6 : IPPROTO_IP;
  return [`${level}/${C[name]}`, name];
}));

const TYPE_NUMBER: Record<string, number> = { SOCK_STREAM, SOCK_DGRAM, SOCK_SEQPACKET };

function osError(op: NetError['op'], code: string, detail: string): NetError {
  return new NetError({ op, code, detail });
}

/** The core's timeouts and would-blocks as Python's exception classes; everything else as it is. */
function pythonic(err: unknown): unknown {
  if (!(err instanceof NetError)) return err;
  const PythonError = err.code === Codes.TIMEOUT ? TimeoutError : err.code === 'EAGAIN' ? BlockingIOError : undefined;
  if (!PythonError || err instanceof PythonError) return err;
  return new PythonError({ op: err.op, code: err.code, network: err.network, addr: err.addr, source: err.source,
    detail: err.code === 'EAGAIN' ? 'operation would block (non-blocking socket)' : 'timed out', cause: err });
}

/** The reason a non-blocking call's signal carries: the core turns it into a NetError of code EAGAIN. */
const WOULD_BLOCK = Object.assign(new Error('would block'), { code: 'EAGAIN' });

const EMPTY = Buffer.alloc(0);
const BACKLOG = Symbol('backlog');
const ADOPT = Symbol('adopt');

/**
 * One socket, as in Python: made by {@link socket}, then bound, connected or listening. The kernel socket is
 * made at `bind`, `connect` or `listen` (so `fileno()` is -1 before); options set earlier are applied then.
 */
export class Socket {
  private conn: Conn | undefined;
  private listener: Listener | undefined;
  private dgram: DatagramSocket | undefined;
  private connecting: Promise<Conn> | undefined;
  private timeoutMs: number | null = defaultTimeout;
  /** Bytes of a stream chunk read beyond what `recv(bufsize)` asked for. */
  private leftover: Buffer = EMPTY;
  private readShut = false;
  private closed = false;
  /** Options set before the kernel socket exists. */
  private early = new Map<OptionName, OptionValue>();

  constructor(readonly family: number, readonly type: number, conn?: Conn) {
    if (!networkOfSocket(family, type)) {
      const known = family === AF_UNIX || family === AF_INET || family === AF_INET6;
      throw osError('dial', known ? 'EPROTONOSUPPORT' : 'EAFNOSUPPORT', `${known ? 'socket type' : 'address family'} ` +
        `not supported: family ${family}, type ${type} (AF_INET/AF_INET6 take SOCK_STREAM and SOCK_DGRAM; AF_UNIX also SOCK_SEQPACKET)`);
    }
    this.conn = conn;
  }

  get proto(): number {
    return 0;
  }

  private get network(): Network {
    return networkOfSocket(this.family, this.type)!;
  }

  private get isStream(): boolean {
    return this.type !== SOCK_DGRAM;
  }

  /** The core address for a Python-style one. */
  private toAddress(a: SockAddr, op: NetError['op']): Address {
    if (this.family === AF_UNIX) {
      if (typeof a !== 'string') throw osError(op, 'EINVAL', 'AF_UNIX addresses are a path or "\\0name"');
      const abstract = a.startsWith('\0');
      return { network: this.network as 'unix', path: abstract ? a.slice(1) : a, abstract };
    }
    if (!Array.isArray(a) || typeof a[0] !== 'string' || !Number.isInteger(a[1]) || a[1] < 0 || a[1] > 65535) {
      throw osError(op, 'EINVAL', 'AF_INET/AF_INET6 addresses are [host, port] with a port 0-65535');
    }
    return { network: this.network as 'tcp4', host: a[0], port: a[1] };
  }

  /** The signal for a call that waits: none (blocking), at once (non-blocking), or the timeout. */
  private signal(): AbortSignal | undefined {
    if (this.timeoutMs === null) return undefined;
    return this.timeoutMs === 0 ? AbortSignal.abort(WOULD_BLOCK) : AbortSignal.timeout(this.timeoutMs);
  }

  private async call<T>(work: () => Promise<T>): Promise<T> {
    if (this.closed) throw osError('close', 'EBADF', 'bad file descriptor: the socket is closed');
    try {
      return await work();
    } catch (err) {
      throw pythonic(err);
    }
  }

  /** The bind/listen options that early setsockopt() calls ask for. */
  private openOptions() {
    const on = (name: OptionName) => (this.early.has(name) ? Boolean(this.early.get(name)) : undefined);
    // Python's AF_INET6 sockets are dual-stack unless IPV6_V6ONLY is set (Linux's default).
    return { ipv6Only: on('IPV6_V6ONLY') ?? false, reuseAddr: on('SO_REUSEADDR'), reusePort: on('SO_REUSEPORT') };
  }

  /** Applies the early options to the kernel socket that now exists. */
  private async applyEarly(): Promise<void> {
    const target = this.target();
    for (const [name, value] of this.early) {
      if (name === 'IPV6_V6ONLY' || name === 'SO_REUSEPORT') continue;
      await target!.setOption(name, value);
    }
    this.early.clear();
  }

  private target(): Conn | Listener | DatagramSocket | undefined {
    return this.conn ?? this.listener ?? this.dgram;
  }

  /**
   * Binds to `address`. A stream socket listens from here on (the core binds and listens in one step); the
   * `listen()` call that follows in every tutorial sets nothing more.
   */
  bind(address: SockAddr): Promise<void> {
    return this.call(async () => {
      if (this.target()) throw osError('bind', 'EINVAL', 'invalid argument: the socket is already bound or connected');
      const a = this.toAddress(address, 'bind');
      if (this.isStream) this.listener = await listen(a, { ...this.openOptions(), backlog: this[BACKLOG] });
      else this.dgram = await bindDatagram(a, this.openOptions());
      await this.applyEarly();
    });
  }

  /** The backlog for the listen that `bind` does (create_server sets it; the tutorials' `listen(n)` comes too late). */
  [BACKLOG]: number | undefined;

  /** Takes over a socket that exists already (see {@link fromfd}): listening, connected, or a datagram socket. */
  async [ADOPT](s: InheritedSocket, fd: number): Promise<void> {
    const stream = isStreamNetwork(s.network);
    const taken = !stream ? await bindDatagram(s) : s.listening ? await listen(s) : await dial(s);
    if ((this.family === AF_UNIX) !== (NETWORKS[s.network].family === 'unix') || socketTypeOf(s.network) !== this.type) {
      await taken.close();
      throw osError('dial', 'EINVAL', `invalid argument: descriptor ${fd} is a ${s.network} socket, not one of family ${this.family} and type ${this.type}`);
    }
    if (!stream) this.dgram = taken as DatagramSocket;
    else if (s.listening) this.listener = taken as Listener;
    else this.conn = taken as Conn;
  }

  /**
   * Marks a bound stream socket as listening; an unbound inet socket is bound to a free port first (as Linux
   * does), with this backlog.
   */
  listen(backlog?: number): Promise<void> {
    return this.call(async () => {
      if (!this.isStream) throw osError('listen', 'EOPNOTSUPP', 'operation not supported on datagram sockets');
      if (this.conn) throw osError('listen', 'EINVAL', 'invalid argument: the socket is connected');
      this[BACKLOG] ??= backlog;
      if (!this.listener) {
        if (this.family === AF_UNIX) throw osError('listen', 'EINVAL', 'invalid argument: bind an AF_UNIX socket first');
        await this.bind([this.family === AF_INET6 ? '::' : '0.0.0.0', 0]);
      }
    });
  }

  /** The next connection: `[socket, address]`. */
  accept(): Promise<[Socket, SockAddr]> {
    return this.call(async () => {
      if (!this.listener) throw osError('accept', 'EINVAL', 'invalid argument: the socket is not listening');
      const conn = await this.listener.accept({ signal: this.signal() });
      const s = new Socket(this.family, this.type, conn);
      s.timeoutMs = defaultTimeout;
      return [s, fromAddress(conn.remoteAddr)];
    });
  }

  /** Connects (stream), or sets the default peer (datagram). Non-blocking: rejects with EINPROGRESS and goes on. */
  connect(address: SockAddr): Promise<void> {
    return this.call(async () => {
      const a = this.toAddress(address, 'dial');
      if (!this.isStream) {
        if (this.dgram) await this.dgram.connect(a);
        else this.dgram = await bindTo(a, this.openOptions());
        await this.applyEarly();
        return;
      }
      if (this.conn || this.connecting) throw osError('dial', 'EISCONN', 'transport endpoint is already connected');
      if (this.listener) throw osError('dial', 'EINVAL', 'invalid argument: the socket is listening');
      if (this.timeoutMs === 0) {
        this.connecting = dial(a);
        this.connecting.then((conn) => this.connected(conn), () => (this.connecting = undefined));
        throw new BlockingIOError({ op: 'dial', network: a.network, addr: a, code: 'EINPROGRESS',
          detail: 'operation now in progress (non-blocking connect)' });
      }
      await this.connected(await dial(a, { signal: this.signal() }));
    });
  }

  private async connected(conn: Conn): Promise<void> {
    this.connecting = undefined;
    if (this.closed) return void conn.stream.destroy();
    this.conn = conn;
    await this.applyEarly();
  }

  /** `connect`, returning 0 or the errno number (ECONNREFUSED, ENOENT, ETIMEDOUT, EINPROGRESS …) instead of throwing. */
  async connect_ex(address: SockAddr): Promise<number> {
    try {
      await this.connect(address);
      return 0;
    } catch (err) {
      if (err instanceof NetError && err.errno !== undefined) return err.errno;
      throw err;
    }
  }

  /** The connection, waiting for a non-blocking connect still under way (or failing at once, if non-blocking). */
  private async stream(op: NetError['op']): Promise<Conn> {
    if (this.conn) return this.conn;
    if (this.connecting && this.timeoutMs !== 0) return this.connecting;
    if (this.connecting) throw new BlockingIOError({ op, code: 'EAGAIN', detail: 'the connect is still under way' });
    throw osError(op, 'ENOTCONN', 'transport endpoint is not connected');
  }

  /** Sends; resolves with the bytes sent (all of them: the socket takes what it cannot send yet, under backpressure). */
  send(data: Uint8Array | string): Promise<number> {
    return this.call(async () => {
      const bytes = typeof data === 'string' ? Buffer.from(data) : data;
      if (!this.isStream) {
        if (!this.dgram?.remoteAddr) throw osError('send', 'EDESTADDRREQ', 'destination address required: connect() first or use sendto()');
        await this.dgram.send(bytes);
        return bytes.length;
      }
      const conn = await this.stream('write');
      if (this.timeoutMs === 0 && conn.stream.writableNeedDrain) {
        throw new BlockingIOError({ op: 'write', code: 'EAGAIN', detail: 'the send buffer is full' });
      }
      await withTimeout(conn.write(bytes), this.signal(), 'write');
      return bytes.length;
    });
  }

  /** Sends all of `data`. */
  async sendall(data: Uint8Array | string): Promise<void> {
    await this.send(data);
  }

  /** One datagram to `address`; an unbound socket is bound to a free port (or autobound, AF_UNIX) first. */
  sendto(data: Uint8Array | string, address: SockAddr): Promise<number> {
    return this.call(async () => {
      if (this.isStream) throw osError('send', 'EISCONN', 'sendto() is for datagram sockets: use send()');
      const to = this.toAddress(address, 'send');
      if (!this.dgram) {
        const local: Address = this.family === AF_UNIX ? { network: 'unixgram', path: '', abstract: false }
          : { network: this.network as 'udp4', host: this.family === AF_INET6 ? '::' : '0.0.0.0', port: 0 };
        this.dgram = await bindDatagram(local, this.openOptions());
        await this.applyEarly();
      }
      const bytes = typeof data === 'string' ? Buffer.from(data) : data;
      await this.dgram.sendTo(bytes, to);
      return bytes.length;
    });
  }

  /**
   * At most `bufsize` bytes; an empty Buffer at EOF (or after `shutdown(SHUT_RD)`). A datagram or seqpacket
   * message longer than `bufsize` is cut, the rest discarded, as the kernel does.
   */
  async recv(bufsize: number): Promise<Buffer> {
    return (await this.recvfrom(bufsize))[0];
  }

  /** `[data, address]`: the sender of a datagram; `null` on a stream (as Python gives None) or for an unnamed sender. */
  recvfrom(bufsize: number): Promise<[Buffer, SockAddr | null]> {
    return this.call(async () => {
      if (!Number.isInteger(bufsize) || bufsize < 0) throw osError('recv', 'EINVAL', 'bufsize must be a non-negative integer');
      if (!this.isStream) {
        if (!this.dgram) throw osError('recv', 'EINVAL', 'invalid argument: bind() or connect() the socket first');
        const d = await this.dgram.recvFrom({ signal: this.signal() });
        return [d.data.subarray(0, bufsize), d.from ? fromAddress(d.from) : null];
      }
      if (this.readShut) return [EMPTY, null];
      if (this.leftover.length > 0) return [this.take(bufsize), null];
      const conn = await this.stream('read');
      const chunk = await conn.read({ signal: this.signal() });
      if (chunk === null) return [EMPTY, null];
      if (this.type === SOCK_SEQPACKET) return [chunk.subarray(0, bufsize), null];
      this.leftover = chunk;
      return [this.take(bufsize), null];
    });
  }

  private take(n: number): Buffer {
    const out = this.leftover.subarray(0, n);
    this.leftover = this.leftover.subarray(out.length);
    return out;
  }

  getsockname(): SockAddr {
    const a = this.conn?.localAddr ?? this.listener?.addr ?? this.dgram?.localAddr;
    if (a) return fromAddress(a);
    return this.family === AF_UNIX ? '' : [this.family === AF_INET6 ? '::' : '0.0.0.0', 0];
  }

  getpeername(): SockAddr {
    const a = this.conn?.remoteAddr ?? this.dgram?.remoteAddr;
    if (!a) throw osError('dial', 'ENOTCONN', 'transport endpoint is not connected');
    return fromAddress(a);
  }

  /** An option's value as a number (flags as 0/1, SO_TYPE as its constant). */
  getsockopt(level: number, name: number): Promise<number> {
    return this.call(async () => {
      const option = optionNamed(level, name);
      const target = this.target();
      let value: OptionValue | undefined;
      if (target) value = await target.getOption(option);
      else if (option === 'SO_TYPE') value = this.type;
      else value = this.early.get(option);
      if (value === undefined) {
        throw osError('option', 'ENOTCONN', `${option}: socktool makes the kernel socket at bind/connect/listen; set it, or ask after`);
      }
      return typeof value === 'number' ? value : typeof value === 'boolean' ? Number(value) : TYPE_NUMBER[value] ?? 0;
    });
  }

  /** Sets an option now, or (before bind/connect/listen) as the kernel socket is made. */
  setsockopt(level: number, name: number, value: number | boolean | string): Promise<void> {
    return this.call(async () => {
      const option = optionNamed(level, name);
      const target = this.target();
      if (target) await target.setOption(option, value);
      else this.early.set(option, value);
    });
  }

  /** Seconds for every call that waits (a float, as Python's), or `null` to block; 0 is non-blocking. */
  settimeout(seconds: number | null): void {
    if (seconds !== null && !(seconds >= 0)) throw osError('option', 'EINVAL', 'timeout must be a non-negative number or null');
    this.timeoutMs = seconds === null ? null : seconds * 1000;
  }

  gettimeout(): number | null {
    return this.timeoutMs === null ? null : this.timeoutMs / 1000;
  }

  /** `setblocking(false)` is `settimeout(0)`; `setblocking(true)` is `settimeout(null)`. */
  setblocking(flag: boolean): void {
    this.settimeout(flag ? null : 0);
  }

  getblocking(): boolean {
    return this.timeoutMs !== 0;
  }

  /** SHUT_WR sends EOF after what was sent; SHUT_RD makes every later `recv` return empty; SHUT_RDWR both. */
  shutdown(how: number): Promise<void> {
    return this.call(async () => {
      if (how !== SHUT_RD && how !== SHUT_WR && how !== SHUT_RDWR) throw osError('close', 'EINVAL', 'how must be SHUT_RD, SHUT_WR or SHUT_RDWR');
      if (!this.isStream) {
        if (!this.dgram?.remoteAddr) throw osError('close', 'ENOTCONN', 'transport endpoint is not connected');
        if (how !== SHUT_WR) this.readShut = true;
        return;
      }
      const conn = await this.stream('close');
      if (how !== SHUT_WR) this.readShut = true;
      if (how !== SHUT_RD) await conn.end();
    });
  }

  /** Closes; what was sent still goes out. Idempotent. */
  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    await Promise.all([this.conn?.close(), this.listener?.close(), this.dgram?.close()]);
  }

  /** The kernel socket's descriptor; -1 before bind/connect/listen and after close. */
  fileno(): number {
    return this.closed ? -1 : (this.target()?.fd ?? -1);
  }

  /**
   * A Node stream over the socket: `'r'`/`'rb'` readable, `'w'`/`'wb'` writable, `'rw'`/`'rwb'` both. Text
   * modes decode UTF-8 and add `readline()` (a line with its `\n`, `''` at EOF), as Python's file objects.
   */
  makefile(mode = 'r'): FileObject {
    return makefile(this, mode);
  }

  /** Python's `ssl.wrap_socket`/`SSLContext.wrap_socket` for a connected stream: a new Socket speaking TLS. */
  async wrap_socket(options: TlsOptions & { server_hostname?: string } = {}): Promise<Socket> {
    return this.call(async () => {
      const conn = await this.stream('dial');
      const { server_hostname, ...tls } = options;
      const secure = await upgradeTls(conn, { ...tls, servername: tls.servername ?? server_hostname }, { signal: this.signal() });
      const s = new Socket(this.family, this.type, secure);
      s.timeoutMs = this.timeoutMs;
      this.conn = undefined;
      this.closed = true;
      return s;
    });
  }
}

/** Waits for `work`, or rejects as the signal says (the work goes on: the bytes are the socket's already). */
function withTimeout<T>(work: Promise<T>, signal: AbortSignal | undefined, op: NetError['op']): Promise<T> {
  if (!signal) return work;
  return new Promise((resolve, reject) => {
    const onAbort = () => reject(new NetError({ op, code: signal.reason === WOULD_BLOCK ? 'EAGAIN' : Codes.TIMEOUT, cause: signal.reason }));
    signal.addEventListener('abort', onAbort, { once: true });
    work.then(resolve, reject).finally(() => signal.removeEventListener('abort', onAbort));
  });
}

function optionNamed(level: number, name: number): OptionName {
  const option = OPTION_BY_NUMBER.get(`${level}/${name}`);
  if (!option) throw osError('option', 'ENOPROTOOPT', `protocol not available: option ${name} at level ${level}`);
  return option;
}

/** A core address in the form `bind` takes. */
function fromAddress(a: Address): SockAddr {
  if ('path' in a) return a.abstract ? `\0${a.path}` : a.path;
  return [a.host, a.port];
}

let defaultTimeout: number | null = null;

/** The timeout new sockets start with (seconds, or `null` to block), as Python's `socket.setdefaulttimeout`. */
export function setdefaulttimeout(seconds: number | null): void {
  defaultTimeout = seconds === null ? null : seconds * 1000;
}

export function getdefaulttimeout(): number | null {
  return defaultTimeout === null ? null : defaultTimeout / 1000;
}

/** A new socket: AF_INET/AF_INET6/AF_UNIX × SOCK_STREAM/SOCK_DGRAM (AF_UNIX also SOCK_SEQPACKET). */
export function socket(family = AF_INET, type = SOCK_STREAM): Socket {
  return new Socket(family, type);
}

/**
 * A socket object for a duplicate of descriptor `fd` (Python's `socket.fromfd`), which must be a socket of
 * `family` and `type`: listening, connected, or a datagram socket, taken as it is (a stream socket that is
 * neither fails at its first use, ENOTCONN). `fd` stays the caller's to close; the two share the socket (and its
 * non-blocking mode, which this sets).
 *
 * @example
 * const s = await fromfd(3, AF_UNIX, SOCK_STREAM)   // a socket this process was given
 *
 * @throws OSError `EBADF` (no such descriptor), `ENOTSOCK`, `EINVAL` (a socket of another family or type).
 */
export async function fromfd(fd: number, family: number, type: number): Promise<Socket> {
  const s = new Socket(family, type);
  try {
    await s[ADOPT](inheritedSocket(`fd:${fd}`, 'dial', { dup: true }), fd);
  } catch (err) {
    throw pythonic(err);
  }
  return s;
}

/** One getaddrinfo answer: `[family, type, proto, canonname, sockaddr]`, as Python's. */
export type AddrInfo = [family: number, type: number, proto: number, canonname: string, sockaddr: [string, number]];

/**
 * The system resolver's addresses for `host` (null: loopback) and `port`, one entry per address and socket type
 * (SOCK_STREAM and SOCK_DGRAM unless `type` picks one).
 */
export async function getaddrinfo(host: string | null, port: number | string | null, family = 0, type = 0): Promise<AddrInfo[]> {
  const n = port === null ? 0 : Number(port);
  if (!Number.isInteger(n) || n < 0 || n > 65535) throw osError('lookup', 'EINVAL', `bad port ${JSON.stringify(port)}`);
  let found;
  try {
    found = await lookupHost(host ?? 'localhost', { family: family === AF_INET ? 4 : family === AF_INET6 ? 6 : 0 });
  } catch (err) {
    throw pythonic(err);
  }
  const types = type ? [type] : [SOCK_STREAM, SOCK_DGRAM];
  return found.flatMap((f) => types.map((t): AddrInfo =>
    [f.family === 6 ? AF_INET6 : AF_INET, t, t === SOCK_STREAM ? IPPROTO_TCP : IPPROTO_UDP, '', [f.host, n]]));
}

/** The first IPv4 address of `host`. */
export async function gethostbyname(host: string): Promise<string> {
  return (await getaddrinfo(host, 0, AF_INET, SOCK_STREAM))[0]![4][0];
}

/**
 * A connected TCP socket to `[host, port]`: each address of the host is tried in the resolver's order, each
 * within `timeout` seconds; the last failure is thrown if none answers.
 */
export async function create_connection(address: [string, number], timeout: number | null = defaultTimeout === null ? null : defaultTimeout / 1000): Promise<Socket> {
  let last: unknown = osError('dial', 'ENOENT', 'getaddrinfo returned no address');
  for (const [family, type, , , sockaddr] of await getaddrinfo(address[0], address[1], 0, SOCK_STREAM)) {
    const s = new Socket(family, type);
    s.settimeout(timeout);
    try {
      await s.connect(sockaddr);
      return s;
    } catch (err) {
      last = err;
      await s.close();
    }
  }
  throw last;
}

export interface CreateServerOptions {
  family?: number;
  backlog?: number;
  /** SO_REUSEPORT: several servers on one port, the kernel spreading connections among them. */
  reuse_port?: boolean;
  /** AF_INET6 that also takes IPv4 clients (v4-mapped); otherwise an AF_INET6 server is IPv6-only, as Python's. */
  dualstack_ipv6?: boolean;
}

/** A listening TCP socket on `[host, port]` (SO_REUSEADDR set, as Python's `create_server` on POSIX). */
export async function create_server(address: [string, number], options: CreateServerOptions = {}): Promise<Socket> {
  const family = options.family ?? AF_INET;
  if (options.dualstack_ipv6 && family !== AF_INET6) throw osError('listen', 'EINVAL', 'dualstack_ipv6 requires family AF_INET6');
  const s = new Socket(family, SOCK_STREAM);
  await s.setsockopt(SOL_SOCKET, SO_REUSEADDR, 1);
  if (options.reuse_port) await s.setsockopt(SOL_SOCKET, SO_REUSEPORT, 1);
  if (family === AF_INET6) await s.setsockopt(IPPROTO_IPV6, IPV6_V6ONLY, options.dualstack_ipv6 ? 0 : 1);
  s[BACKLOG] = options.backlog;
  await s.bind(address);
  await s.listen(options.backlog);
  return s;
}
