import * as net from 'node:net';
import type { Duplex } from 'node:stream';
import type { Address, Network } from './address.js';
import type { Account } from './budget.js';
import { abortError, closedError, invalid, NetError, wrap } from './errors.js';
import { Inbox } from './inbox.js';
import { rowOf } from './networks.js';
import type {
  Conn, Data, Listener, OptionName, OptionValue, PeerCredentials, SocketControl, SocketOptions, WaitOptions, WithFds,
} from './types.js';
import type { PeerGate } from './adapter.js';

const DONE = Promise.resolve();
/**
 * What `write()` returns when the stream took the data at once: the same settled promise every time, so that a
 * caller keeping counts (a channel's outbox) can settle them now instead of a microtask later.
 */
export const TAKEN: Promise<void> = Promise.resolve();
const EMPTY = Buffer.alloc(0);
const ignore = () => {};

/** How a connection passes descriptors (unix, unixpacket); the adapter supplies it. */
export interface FdPassing {
  send(data: Uint8Array, fds: readonly number[]): Promise<void>;
  /** Receives beside the Conn's reader, for sockets libuv reads once reading starts. */
  recvDirect?(signal?: AbortSignal): Promise<WithFds | null>;
  /** The descriptors that came with a chunk this Conn read. */
  fdsOf?(chunk: Buffer): number[];
}

/** What an adapter adds to a connection beyond its Duplex: options and credentials, and descriptor passing. */
export interface ConnParts {
  control: SocketControl;
  fds?: FdPassing;
  /**
   * Sends one message straight to the socket (seqpacket), so that a message the kernel refuses (EMSGSIZE)
   * fails that write alone, as send(2) does, instead of failing the whole Duplex.
   */
  message?(data: Uint8Array): Promise<void>;
}
/** Chunks read ahead before the socket is paused (each is at most one read, 64 KiB). */
const READ_AHEAD = 4;

/**
 * A connected stream socket in the Conn shape. Reading starts on the first `read()` (or iteration), so a
 * caller that only wants the raw `stream` for `pipe()` gets it untouched.
 */
export class StreamConn implements Conn {
  readonly kind = 'stream' as const;
  /** Counts reads and writes, so that a server can tell an idle connection (one increment: the hot path stays flat). */
  activity = 0;
  /**
   * What this peer makes its server hold (a server's connections have one): read-ahead is charged to it, and a
   * read waits while the account is over its budget, so that the socket is left unread and its sender blocks.
   */
  account: Account | undefined;
  /** Whether the peer has sent anything (a server's silent connections give their place to newcomers). */
  heard = false;
  private inbox = new Inbox<Buffer>(READ_AHEAD);
  private reading = false;
  private paused = false;
  private failure: unknown = undefined;
  private drained: Promise<void> | undefined;
  private drainedSettle: ((err?: unknown) => void) | undefined;
  private closing: Promise<void> | undefined;

  constructor(
    readonly stream: Duplex,
    readonly network: Network,
    readonly localAddr: Address,
    readonly remoteAddr: Address,
    private parts: ConnParts,
  ) {
    stream.on('end', () => this.inbox.end());
    stream.on('error', (err) => {
      this.failure = err;
      this.inbox.end(wrap('read', network, remoteAddr, err, localAddr));
    });
    stream.on('close', () => {
      this.account?.close();
      this.inbox.end();
      this.drainedSettle?.(this.failure ?? closedError('write', network, remoteAddr));
    });
  }

  private onData = (chunk: Buffer): void => {
    this.activity++;
    this.heard = true;
    const account = this.account;
    if (account && !this.inbox.waiting) account.add(chunk.length);
    if ((!this.inbox.push(chunk) || (account && !account.allowed)) && !this.paused) {
      this.paused = true;
      this.stream.pause();
    }
  };

  read(options?: WaitOptions): Promise<Buffer | null> {
    const account = this.account;
    if (account) {
      const room = account.whenAllowed();
      if (room) return this.afterRoom(room, options);
      const queued = this.inbox.peek();
      if (queued) account.add(-queued.length);
    }
    if (!this.reading) {
      // Sockets start paused (so that descriptors can be received before libuv reads): reading starts here.
      this.reading = true;
      this.stream.on('data', this.onData);
      this.stream.resume();
    }
    const chunk = this.inbox.next(options?.signal, this.readAborted);
    if (this.paused && !this.inbox.full) {
      this.paused = false;
      this.stream.resume();
    }
    return chunk;
  }

  /** A read that waits for its account to have room first; the signal still cuts the wait short. */
  private afterRoom(room: Promise<void>, options?: WaitOptions): Promise<Buffer | null> {
    const signal = options?.signal;
    if (!signal) return room.then(() => this.read(options));
    if (signal.aborted) return Promise.reject(this.readAborted(signal));
    return new Promise((resolve, reject) => {
      const onAbort = () => reject(this.readAborted(signal));
      signal.addEventListener('abort', onAbort, { once: true });
      void room.then(() => {
        signal.removeEventListener('abort', onAbort);
        if (!signal.aborted) this.read(options).then(resolve, reject);
      });
    });
  }

  private readAborted = (signal: AbortSignal) => abortError('read', this.network, this.remoteAddr, signal);

  async *[Symbol.asyncIterator](): AsyncIterator<Buffer> {
    for (let chunk = await this.read(); chunk !== null; chunk = await this.read()) yield chunk;
  }

  write(data: Data): Promise<void> {
    // Behind a send with descriptors still under way: after it, in the order written.
    if (this.barrier) return this.behindBarrier(() => this.writeNow(data));
    return this.writeNow(data);
  }

  /**
   * A send with descriptors goes past the stream's buffer (sendmsg with SCM_RIGHTS, once what was written before it
   * has left): until it has, later writes wait here, or they would overtake it. Settles once it and every write
   * queued behind it are done.
   */
  private barrier: Promise<void> | undefined;

  /** Runs `op` once the barrier is down, and makes it (settled either way) the barrier for the writes after it. */
  private behindBarrier(op: () => Promise<void>): Promise<void> {
    const result = this.barrier!.then(op);
    const barrier = result.then(ignore, ignore);
    this.barrier = barrier;
    void barrier.then(() => {
      if (this.barrier === barrier) this.barrier = undefined;
    });
    return result;
  }

  /** Told each message that goes straight to the socket (seqpacket), past the Duplex: for recording (core/record.ts). */
  sentMessage: ((data: Uint8Array) => void) | undefined;

  private writeNow(data: Data): Promise<void> {
    const s = this.stream;
    this.activity++;
    if (this.failure !== undefined) return Promise.reject(this.writeError(this.failure));
    if (s.destroyed || s.writableEnded) return Promise.reject(closedError('write', this.network, this.remoteAddr));
    // Straight to the socket only when nothing written through the Duplex is still waiting (order holds).
    if (this.parts.message && s.writableLength === 0) {
      const bytes = typeof data === 'string' ? Buffer.from(data) : data;
      this.sentMessage?.(bytes);
      return this.parts.message(bytes).catch((err: unknown) => {
        throw this.writeError(err);
      });
    }
    if (s.write(data)) return TAKEN;
    // Backpressure: every writer waits for the same 'drain'.
    this.drained ??= new Promise<void>((resolve, reject) => {
      const settle = (err?: unknown) => {
        s.off('drain', settle);
        this.drained = this.drainedSettle = undefined;
        if (err === undefined) resolve();
        else reject(this.writeError(err));
      };
      this.drainedSettle = settle;
      s.on('drain', settle);
    });
    return this.drained;
  }

  send(data: Data): Promise<void> {
    return this.write(data);
  }

  end(data?: Data): Promise<void> {
    const s = this.stream;
    if (s.writableFinished || s.destroyed) return DONE;
    return new Promise((resolve, reject) => {
      const done = (err?: unknown) => (err ? reject(this.writeError(err)) : resolve());
      if (data === undefined) s.end(done);
      else s.end(data, done);
    });
  }

  close(): Promise<void> {
    this.closing ??= new Promise<void>((resolve) => {
      const s = this.stream;
      if (s.closed) return resolve();
      s.once('close', () => resolve());
      // What was written still goes out (as close(2) would send what the kernel holds); then the fd is closed.
      if (!s.writableEnded) s.end();
      if (s.writableFinished || s.destroyed) s.destroy();
      else s.once('finish', () => s.destroy());
    });
    return this.closing;
  }

  private writeError(err: unknown) {
    return wrap('write', this.network, this.remoteAddr, err, this.localAddr);
  }

  get fd(): number {
    return this.parts.control.fd;
  }

  getOption(name: OptionName): Promise<OptionValue> {
    return this.parts.control.getOption(name);
  }

  setOption(name: OptionName, value: OptionValue): Promise<void> {
    return this.parts.control.setOption(name, value);
  }

  peerCredentials(): Promise<PeerCredentials> {
    return this.parts.control.peerCredentials();
  }

  private noFds(op: 'send' | 'recv'): NetError {
    return new NetError({ op, network: this.network, addr: this.remoteAddr, code: 'EOPNOTSUPP',
      detail: `descriptors travel over unix sockets, not ${this.network}` });
  }

  sendFds(data: Data, fds: readonly number[]): Promise<void> {
    const passing = this.parts.fds;
    if (!passing) return Promise.reject(this.noFds('send'));
    const bytes = typeof data === 'string' ? Buffer.from(data) : data;
    this.activity++;
    const send = async () => {
      try {
        // After everything written before it: an empty write completes once those have reached the kernel.
        await new Promise<void>((resolve, reject) => this.stream.write(EMPTY, (err) => (err ? reject(err) : resolve())));
        await passing.send(bytes, fds);
      } catch (err) {
        throw this.writeError(err);
      }
    };
    this.barrier ??= Promise.resolve();
    return this.behindBarrier(send);
  }

  /** Not an async function: an idle connection waits here, and a suspended one costs it about 0.5 KiB of heap. */
  recvFds(options?: WaitOptions): Promise<WithFds | null> {
    const passing = this.parts.fds;
    if (!passing) return Promise.reject(this.noFds('recv'));
    if (passing.fdsOf) return this.read(options).then((chunk) => (chunk === null ? null : { data: chunk, fds: passing.fdsOf!(chunk) }));
    if (this.reading || !passing.recvDirect) {
      return Promise.reject(invalid('recv', 'descriptors can be received on a unix stream only before its first read()', this.network, this.remoteAddr));
    }
    return passing.recvDirect(options?.signal).catch((err: unknown) => {
      throw wrap('recv', this.network, this.remoteAddr, err, this.localAddr);
    });
  }

}

/** What a listening socket needs from its adapter: how to wrap each accepted socket, and what to clean up. */
export interface ListenerParts {
  network: Network;
  addr: Address;
  wrapConn(socket: Duplex): Conn;
  control: SocketOptions;
  /** Runs before the listening socket is closed (the unix adapter removes its socket file here). */
  beforeClose?(): Promise<void> | void;
  acceptQueue?: number;
  /** Who may connect (unix networks): a refused peer's connection is closed before it is queued. */
  gate?: PeerGate;
}

/** The part of net.Server a listener uses (the addon's listening sockets have the same). */
export interface ListeningSocket {
  on(event: 'connection', listener: (socket: Duplex) => void): unknown;
  on(event: 'error', listener: (err: Error) => void): unknown;
  close(): void;
}

/**
 * A listener that hands out another's connections changed on the way (TLS put on them, a recording made of them),
 * by accept() and by iteration alike; all else is the inner listener's.
 */
export abstract class WrappedListener implements Listener {
  constructor(protected inner: Listener) {}

  /** What a connection of the inner listener becomes. */
  protected abstract wrap(conn: Conn): Conn;

  get network(): Network {
    return this.inner.network;
  }

  get addr(): Address {
    return this.inner.addr;
  }

  get fd(): number {
    return this.inner.fd;
  }

  get refused(): number {
    return this.inner.refused;
  }

  async accept(options?: WaitOptions): Promise<Conn> {
    return this.wrap(await this.inner.accept(options));
  }

  async *[Symbol.asyncIterator](): AsyncIterator<Conn> {
    for await (const conn of this.inner) yield this.wrap(conn);
  }

  getOption(name: OptionName): Promise<OptionValue> {
    return this.inner.getOption(name);
  }

  setOption(name: OptionName, value: OptionValue): Promise<void> {
    return this.inner.setOption(name, value);
  }

  close(): Promise<void> {
    return this.inner.close();
  }
}

/** A listening socket in the Listener shape; accepted sockets wait in a bounded queue. */
export class StreamListener implements Listener {
  readonly network: Network;
  readonly addr: Address;
  private inbox: Inbox<Conn>;
  private closing: Promise<void> | undefined;

  constructor(private server: ListeningSocket, private parts: ListenerParts) {
    this.network = parts.network;
    this.addr = parts.addr;
    this.inbox = new Inbox<Conn>(parts.acceptQueue ?? 128);
    const early = takeEarly(server);
    server.on('connection', this.connected);
    server.on('error', (err) => this.inbox.raise(wrap('accept', this.network, this.addr, err)));
    for (const socket of early) this.connected(socket);
  }

  private connected = (socket: Duplex): void => {
    // Over the queue (or closing), refuse rather than hold: the client sees its connection closed.
    if (this.inbox.full || this.inbox.ended) return void socket.destroy();
    const conn = this.parts.wrapConn(socket);
    if (this.parts.gate && !this.parts.gate.admitsConn(conn)) socket.destroy();
    else this.inbox.push(conn);
  };

  async accept(options?: WaitOptions): Promise<Conn> {
    const conn = await this.inbox.next(options?.signal, this.acceptAborted);
    if (conn === null) throw closedError('accept', this.network, this.addr);
    return conn;
  }

  private acceptAborted = (signal: AbortSignal) => abortError('accept', this.network, this.addr, signal);

  get refused(): number {
    return this.parts.gate?.refused ?? 0;
  }

  get fd(): number {
    return this.closing ? -1 : this.parts.control.fd;
  }

  getOption(name: OptionName): Promise<OptionValue> {
    return this.parts.control.getOption(name);
  }

  setOption(name: OptionName, value: OptionValue): Promise<void> {
    return this.parts.control.setOption(name, value);
  }

  [Symbol.asyncIterator](): AsyncIterator<Conn> {
    return this.inbox.iterate(this.acceptAborted);
  }

  close(): Promise<void> {
    this.closing ??= (async () => {
      this.inbox.end();
      for (const conn of this.inbox.takeAll()) conn.stream.destroy();
      try {
        await this.parts.beforeClose?.();
      } finally {
        // server.close()'s callback waits for every accepted connection; the listening fd itself is closed
        // synchronously, so the address is free once this returns.
        this.server.close();
        await new Promise((resolve) => setImmediate(resolve));
      }
    })();
    return this.closing;
  }
}

/**
 * The listener of an inherited connection (systemd's Accept=yes, inetd): it hands out that one connection, if
 * its peer is admitted, and ends once the connection has closed, so that a server over it ends with it.
 */
export class OneConnectionListener implements Listener {
  readonly network: Network;
  readonly addr: Address;
  private inbox = new Inbox<Conn>(1);

  constructor(conn: Conn, private gate?: PeerGate) {
    this.network = conn.network;
    this.addr = conn.localAddr;
    if (gate && !gate.admitsConn(conn)) {
      conn.stream.destroy();
      this.inbox.end();
      return;
    }
    this.inbox.push(conn);
    conn.stream.once('close', () => this.inbox.end());
  }

  get refused(): number {
    return this.gate?.refused ?? 0;
  }

  get fd(): number {
    return -1;
  }

  async accept(options?: WaitOptions): Promise<Conn> {
    const conn = await this.inbox.next(options?.signal, this.acceptAborted);
    if (conn === null) throw closedError('accept', this.network, this.addr);
    return conn;
  }

  private acceptAborted = (signal: AbortSignal) => abortError('accept', this.network, this.addr, signal);

  getOption(): Promise<OptionValue> {
    return Promise.reject(this.noSocket());
  }

  setOption(): Promise<void> {
    return Promise.reject(this.noSocket());
  }

  private noSocket(): NetError {
    return new NetError({ op: 'option', network: this.network, addr: this.addr, code: 'ENOTSOCK',
      detail: 'an inherited connection has no listening socket: set options on the connection' });
  }

  [Symbol.asyncIterator](): AsyncIterator<Conn> {
    return this.inbox.iterate(this.acceptAborted);
  }

  async close(): Promise<void> {
    this.inbox.end();
    for (const conn of this.inbox.takeAll()) conn.stream.destroy();
  }
}

/**
 * Starts a net.Server listening; rejects with the raw bind/listen error for the adapter to wrap. `around` runs
 * the listen call, in which the bind happens synchronously (unix files bind under a private umask that way).
 */
export function startListening(server: net.Server, options: net.ListenOptions,
  around: (bind: () => void) => void = (bind) => bind()): Promise<void> {
  return new Promise((resolve, reject) => {
    server.once('error', reject);
    around(() => server.listen(options, () => {
      server.off('error', reject);
      resolve();
    }));
  });
}

/**
 * A Node socket over a connected descriptor (an abstract unix connection the addon made, an inherited one),
 * paused: libuv must not read before the first read() (descriptors may come first).
 */
export const socketOnFd = (fd: number): net.Socket =>
  new net.Socket({ fd, readable: true, writable: true, allowHalfOpen: true, pauseOnCreate: true } as net.SocketConstructorOpts);

/** Connections a server accepted before its StreamListener was made, and the handler that keeps them. */
const EARLY = new WeakMap<ListeningSocket, { sockets: Duplex[]; keep: (socket: Duplex) => void }>();

/** The connections that came before the listener was made (see createStreamServer); the server no longer keeps them. */
function takeEarly(server: ListeningSocket): Duplex[] {
  const early = EARLY.get(server);
  if (!early) return [];
  EARLY.delete(server);
  (server as net.Server).off('connection', early.keep);
  return early.sockets;
}

/**
 * A net.Server configured for the Conn shape: half-close is the caller's to make, and accepted sockets start
 * paused (StreamConn starts reading on the first read). A connection that comes between listening and the
 * StreamListener's making (while a unix socket file gets its owner and mode, say) is kept for it: with no
 * 'connection' handler yet, Node would leave it open and unread, its client waiting for ever.
 */
/**
 * Sends what is written to a TCP connection at once. Nagle's algorithm would hold a small write back while an
 * earlier one is unacknowledged: a server whose answers overlap (a client that does not wait for each, a relay's
 * traffic) would answer an RTT late, or a delayed ACK's 40 ms. Servers and relays turn it off, as ZeroMQ, nng and
 * Go's net do; a connection a program dials keeps the kernel's default (`setOption('TCP_NODELAY', true)` turns it off).
 */
export function sendAtOnce(conn: Conn): void {
  if (rowOf(conn.network).levels.includes('tcp') && conn.stream instanceof net.Socket) conn.stream.setNoDelay(true);
}

export function createStreamServer(): net.Server {
  const server = net.createServer({ allowHalfOpen: true, pauseOnConnect: true });
  const sockets: Duplex[] = [];
  const keep = (socket: Duplex) => void sockets.push(socket);
  server.on('connection', keep);
  EARLY.set(server, { sockets, keep });
  return server;
}

/** Connects a stream socket; an aborted signal destroys it and rejects with the signal's reason. */
export function connectSocket(options: net.NetConnectOpts, signal?: AbortSignal): Promise<net.Socket> {
  return new Promise((resolve, reject) => {
    if (signal?.aborted) return reject(signal.reason);
    const socket = net.connect({ ...options, allowHalfOpen: true });
    // Paused before it connects, so libuv does not start reading (StreamConn starts it on the first read).
    socket.pause();
    const onAbort = () => {
      socket.destroy();
      reject(signal!.reason);
    };
    const settle = (err?: Error) => {
      signal?.removeEventListener('abort', onAbort);
      socket.off('connect', settle);
      socket.off('error', settle);
      if (err) reject(err);
      else resolve(socket);
    };
    signal?.addEventListener('abort', onAbort, { once: true });
    socket.once('connect', settle);
    socket.once('error', settle);
  });
}
