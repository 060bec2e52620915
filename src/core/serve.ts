import type { Address, Network } from './address.js';
import {
  descriptorNotices, evicted, EVICTED, fullRefusal, Notices, OUT_OF_FDS, REFUSED, Slots, type Account, type Budget,
} from './budget.js';
import { Codes, NetError, timedOut } from './errors.js';
import { sendAtOnce, type StreamConn } from './stream.js';
import { TlsListener } from './tls.js';
import type {
  Conn, Data, Exchange, Handler, Listener, PeerCredentials, Server, ServeOptions, WaitOptions,
} from './types.js';
import type { ServableDatagramSocket } from './adapter.js';

export type ErrorReporter = NonNullable<ServeOptions['onError']>;

/** The default reporter: one line on stderr, never a stack trace for a peer's or handler's failure. */
export const reportToStderr: ErrorReporter = (error) => {
  process.stderr.write(`socktool: ${error.message}\n`);
};

const asError = (e: unknown): Error => (e instanceof Error ? e : new Error(String(e)));

/**
 * How long a peer may stay silent where a server cannot tell otherwise that it left: a datagram sender (a relay's
 * session), and, in the CLI, every connection (--timeout's default). One value for library and CLI alike.
 */
export const IDLE_MS = 120_000;

/** The limits a StreamServer keeps (ServeOptions, with defaults filled in). */
export interface StreamLimits {
  maxConns: number;
  /** The byte budget its connections' reading is held to. */
  budget: Budget;
  /** Milliseconds without a read or write before a connection is closed; 0: never. */
  idle: number;
  maxHandshakes: number;
  handshakeTimeout: number;
}

/**
 * Serves every connection of `listener` with `handler`, one exchange per connection. A connection takes a place
 * (see {@link Slots}) from its accept on, TLS handshake included; a TLS connection is handed to the handler once
 * its handshake is done, within `handshakeTimeout`.
 */
export class StreamServer implements Server {
  readonly dropped = 0;
  /** Each connection in flight and the exchange serving it. */
  private live = new Map<Conn, Promise<void>>();
  /** Places: connections served and those in their TLS handshake. */
  private slots: Slots<Conn>;
  /** Says when descriptors run out. */
  private fds: ReturnType<typeof descriptorNotices>;
  /** Refusals and evictions, told a few lines per flood. */
  private notices: Notices;
  /** TLS connections still in their handshake. */
  private handshaking = new Set<Conn>();
  /** Connections the idle sweep closed (their handler's failure is the timeout already reported). */
  private timedOut = new WeakSet<Conn>();
  private loop: Promise<void>;
  private closing: Promise<void> | undefined;
  private sweeper: NodeJS.Timeout | undefined;
  /** The accept loop ends when the listener closes: by close(), or by itself (an inherited connection's). */
  readonly closed: Promise<void>;

  constructor(private listener: Listener, private handler: Handler, private onError: ErrorReporter,
    private limits: StreamLimits, nofile: number) {
    this.slots = new Slots(limits.maxConns, (conn) => (conn as StreamConn).heard);
    this.notices = new Notices((err) => this.onError(err, null));
    this.fds = descriptorNotices(listener.network, () => listener.addr, nofile, (err) => this.onError(err, null));
    this.loop = this.acceptLoop();
    this.closed = this.loop.then(() => this.close());
    if (limits.idle > 0) this.sweeper = this.sweepIdle(limits.idle);
  }

  get network(): Network {
    return this.listener.network;
  }

  get addr(): Address {
    return this.listener.addr;
  }

  get refused(): number {
    return this.listener.refused;
  }

  private async acceptLoop(): Promise<void> {
    for (;;) {
      let conn: Conn;
      try {
        conn = await this.listener.accept();
      } catch (err) {
        if (err instanceof NetError && err.code === Codes.CLOSED) return;
        // Descriptors ran out: said once until an accept works (the listener pauses meanwhile, so nothing spins).
        if (err instanceof NetError && OUT_OF_FDS.has(err.code)) this.fds.failed(err.code);
        else this.onError(asError(err), null);
        // Another failed accept loses one connection, not the server; yield so that it cannot spin.
        await new Promise((resolve) => setTimeout(resolve, 10));
        continue;
      }
      if (!this.slots.admit(conn, this.evict)) {
        conn.stream.destroy();
        this.notices.say(REFUSED, fullRefusal(conn.network, conn.remoteAddr, this.limits.maxConns, 'client'));
        continue;
      }
      (conn as StreamConn).account = this.limits.budget.account();
      sendAtOnce(conn);
      conn.stream.once('close', () => this.slots.free(conn));
      if (this.listener instanceof TlsListener) void this.afterHandshake(this.listener, conn);
      else this.live.set(conn, this.exchange(conn));
    }
  }

  /** A connection that never sent anything gives its place to a newcomer (see Slots). */
  private evict = (conn: Conn): void => {
    this.notices.say(EVICTED, evicted(conn.network, conn.remoteAddr));
    conn.stream.destroy();
  };

  private async afterHandshake(listener: TlsListener, conn: Conn): Promise<void> {
    if (this.handshaking.size >= this.limits.maxHandshakes) {
      conn.stream.destroy();
      this.onError(new NetError({ op: 'accept', network: conn.network, addr: conn.remoteAddr, code: 'ECONNREFUSED',
        detail: `refused: ${this.limits.maxHandshakes} TLS handshakes already in progress` }), null);
      return;
    }
    this.handshaking.add(conn);
    try {
      await listener.handshake(conn, this.limits.handshakeTimeout);
    } catch (err) {
      if (!this.closing) this.onError(asError(err), null);
      return;
    } finally {
      this.handshaking.delete(conn);
    }
    if (this.closing) conn.stream.destroy();
    else this.live.set(conn, this.exchange(conn));
  }

  /**
   * One timer for all connections, a few looks per period: a connection whose activity count has not moved
   * for `ms` is closed (reported as ETIMEDOUT).
   */
  private sweepIdle(ms: number): NodeJS.Timeout {
    const seen = new WeakMap<Conn, { count: number; since: number }>();
    const timer = setInterval(() => {
      const now = Date.now();
      for (const conn of this.live.keys()) {
        const count = (conn as StreamConn).activity;
        const last = seen.get(conn);
        if (last?.count !== count) seen.set(conn, { count, since: now });
        else if (now - last.since >= ms && !this.timedOut.has(conn)) {
          this.timedOut.add(conn);
          this.onError(timedOut('read', `idle for ${ms} ms, closed`, conn.network, conn.remoteAddr), conn);
          conn.stream.destroy();
        }
      }
    }, Math.max(10, Math.min(1000, ms / 4)));
    timer.unref();
    return timer;
  }

  private async exchange(conn: Conn): Promise<void> {
    try {
      await this.handler(conn);
      await conn.close();
    } catch (err) {
      // A connection cut by close() or for idleness fails its handler as it should: that is not news.
      if (!this.closing && !this.timedOut.has(conn)) this.onError(asError(err), conn);
      conn.stream.destroy();
    } finally {
      this.live.delete(conn);
    }
  }

  close(options?: WaitOptions): Promise<void> {
    this.closing ??= (async () => {
      clearInterval(this.sweeper);
      this.fds.stop();
      this.notices.flush();
      await this.listener.close();
      await this.loop;
      for (const conn of this.handshaking) conn.stream.destroy();
      const cut = () => {
        for (const conn of this.live.keys()) conn.stream.destroy();
      };
      if (options?.signal?.aborted) cut();
      else options?.signal?.addEventListener('abort', cut, { once: true });
      await Promise.allSettled([...this.live.values()]);
      options?.signal?.removeEventListener('abort', cut);
    })();
    return this.closing;
  }
}

/** One datagram as an exchange: iterating yields the datagram, `send()` answers its sender. */
class DatagramExchange implements Exchange {
  constructor(private sock: ServableDatagramSocket, readonly data: Buffer, readonly remoteAddr: Address | null,
    private credentials: PeerCredentials | undefined) {}

  get kind(): 'datagram' {
    return 'datagram';
  }

  get network(): Network {
    return this.sock.network;
  }

  get localAddr(): Address {
    return this.sock.localAddr;
  }

  send(data: Data): Promise<void> {
    return this.sock.sendTo(data, this.remoteAddr);
  }

  peerCredentials(): Promise<PeerCredentials> {
    if (this.credentials) return Promise.resolve(this.credentials);
    return Promise.reject(new NetError({ op: 'option', network: this.network, addr: this.remoteAddr ?? undefined,
      code: 'ENOPROTOOPT', detail: `${this.network} datagrams carry no credentials (unixgram ones do)` }));
  }

  /** A one-item iterator without an async generator's machinery: this runs once per datagram. */
  [Symbol.asyncIterator](): AsyncIterator<Buffer> {
    let first = true;
    return {
      next: () => {
        if (!first) return END;
        first = false;
        return Promise.resolve({ value: this.data, done: false });
      },
      return: () => END,
    };
  }
}

const END: Promise<IteratorResult<Buffer>> = Promise.resolve({ value: undefined, done: true });

/** Datagram handlers in flight at once before the socket stops reading. */
const MAX_IN_FLIGHT = 4096;

/**
 * Serves every datagram arriving on `sock` with `handler`, straight from the socket event. While MAX_IN_FLIGHT
 * handlers are in flight, or their datagrams' bytes fill the budget, the socket stops reading, so slow handlers
 * push back on the kernel queue instead of growing memory.
 */
export class DatagramServer implements Server {
  private pending = 0;
  private held = false;
  private idle: (() => void) | undefined;
  private closing: Promise<void> | undefined;
  private markClosed!: () => void;
  readonly closed = new Promise<void>((resolve) => (this.markClosed = resolve));
  /** The bytes of the datagrams whose handlers are in flight. */
  private account: Account;

  constructor(private sock: ServableDatagramSocket, private handler: Handler, private onError: ErrorReporter,
    private budget: Budget) {
    this.account = budget.account();
    sock.onDatagram = (data, from, credentials) => this.dispatch(new DatagramExchange(sock, data, from, credentials));
  }

  get network(): Network {
    return this.sock.network;
  }

  get addr(): Address {
    return this.sock.localAddr;
  }

  get dropped(): number {
    return this.sock.dropped;
  }

  get refused(): number {
    return this.sock.refused;
  }

  private dispatch(ex: DatagramExchange): void {
    let result: void | Promise<void>;
    try {
      result = this.handler(ex);
    } catch (err) {
      this.onError(asError(err), ex);
      return;
    }
    if (result === undefined || typeof (result as Promise<void>).then !== 'function') return;
    const size = ex.data.length;
    this.pending++;
    this.account.add(size);
    if ((this.pending >= MAX_IN_FLIGHT || this.account.held >= this.budget.serverBytes) && !this.held) {
      this.held = true;
      this.sock.pause();
    }
    result.then(() => this.settled(size), (err: unknown) => {
      this.settled(size);
      // A reply cut short by close() is the shutdown, not a failure to report.
      if (!this.closing) this.onError(asError(err), ex);
    });
  }

  private settled(size: number): void {
    this.account.add(-size);
    if (--this.pending === 0) this.idle?.();
    if (this.held && this.pending < MAX_IN_FLIGHT / 2 && this.account.held < this.budget.serverBytes / 2) {
      this.held = false;
      this.sock.resume();
    }
  }

  close(): Promise<void> {
    this.closing ??= (async () => {
      this.sock.onDatagram = () => {};
      if (this.pending > 0) await new Promise<void>((resolve) => (this.idle = resolve));
      await this.sock.close();
      this.markClosed();
    })();
    return this.closing;
  }
}
