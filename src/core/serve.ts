import type { Address, Network } from './address.js';
import { Codes, NetError } from './errors.js';
import type {
  Conn, Data, Exchange, Handler, Listener, ServableDatagramSocket, Server, ServeOptions, WaitOptions,
} from './types.js';

export type ErrorReporter = NonNullable<ServeOptions['onError']>;

/** The default reporter: one line on stderr, never a stack trace for a peer's or handler's failure. */
export const reportToStderr: ErrorReporter = (error) => {
  process.stderr.write(`socktool: ${error.message}\n`);
};

const asError = (e: unknown): Error => (e instanceof Error ? e : new Error(String(e)));

/** Serves every connection of `listener` with `handler`, one exchange per connection. */
export class StreamServer implements Server {
  readonly dropped = 0;
  /** Each connection in flight and the exchange serving it. */
  private live = new Map<Conn, Promise<void>>();
  private loop: Promise<void>;
  private closing: Promise<void> | undefined;

  constructor(private listener: Listener, private handler: Handler, private onError: ErrorReporter,
    private maxConns = Infinity) {
    this.loop = this.acceptLoop();
  }

  get network(): Network {
    return this.listener.network;
  }

  get addr(): Address {
    return this.listener.addr;
  }

  private async acceptLoop(): Promise<void> {
    for (;;) {
      let conn: Conn;
      try {
        conn = await this.listener.accept();
      } catch (err) {
        if (err instanceof NetError && err.code === Codes.CLOSED) return;
        // A failed accept (EMFILE …) loses one connection, not the server; yield so it cannot spin.
        this.onError(asError(err), null);
        await new Promise((resolve) => setTimeout(resolve, 10));
        continue;
      }
      if (this.live.size >= this.maxConns) {
        // Refused, not queued: the client sees its connection closed at once.
        conn.stream.destroy();
        this.onError(new NetError({ op: 'accept', network: conn.network, addr: conn.remoteAddr, code: 'ECONNREFUSED',
          detail: `refused: ${this.maxConns} clients already connected` }), null);
        continue;
      }
      this.live.set(conn, this.exchange(conn));
    }
  }

  private async exchange(conn: Conn): Promise<void> {
    try {
      await this.handler(conn);
      await conn.close();
    } catch (err) {
      // A connection cut by close() fails its handler as it should: that is the shutdown, not news.
      if (!this.closing) this.onError(asError(err), conn);
      conn.stream.destroy();
    } finally {
      this.live.delete(conn);
    }
  }

  close(options?: WaitOptions): Promise<void> {
    this.closing ??= (async () => {
      await this.listener.close();
      await this.loop;
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
  constructor(private sock: ServableDatagramSocket, readonly data: Buffer, readonly remoteAddr: Address | null) {}

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
 * handlers are in flight the socket stops reading, so slow handlers push back on the kernel queue instead of
 * growing memory.
 */
export class DatagramServer implements Server {
  private pending = 0;
  private held = false;
  private idle: (() => void) | undefined;
  private closing: Promise<void> | undefined;

  constructor(private sock: ServableDatagramSocket, private handler: Handler, private onError: ErrorReporter) {
    sock.sink = (data, from) => this.dispatch(new DatagramExchange(sock, data, from));
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

  private dispatch(ex: DatagramExchange): void {
    let result: void | Promise<void>;
    try {
      result = this.handler(ex);
    } catch (err) {
      this.onError(asError(err), ex);
      return;
    }
    if (result === undefined || typeof (result as Promise<void>).then !== 'function') return;
    if (++this.pending >= MAX_IN_FLIGHT && !this.held) {
      this.held = true;
      this.sock.pause(true);
    }
    result.then(this.settled, (err: unknown) => {
      this.settled();
      // A reply cut short by close() is the shutdown, not a failure to report.
      if (!this.closing) this.onError(asError(err), ex);
    });
  }

  private settled = (): void => {
    if (--this.pending === 0) this.idle?.();
    if (this.held && this.pending < MAX_IN_FLIGHT / 2) {
      this.held = false;
      this.sock.pause(false);
    }
  };

  close(): Promise<void> {
    this.closing ??= (async () => {
      this.sock.sink = () => {};
      if (this.pending > 0) await new Promise<void>((resolve) => (this.idle = resolve));
      await this.sock.close();
    })();
    return this.closing;
  }
}
