/**
 * The netcat session, written once: stdin to the peer and the peer's data to the printer, on a connection or a
 * datagram socket, ending as netcat's users expect (the peer's EOF, stdin's EOF and the time after it, idleness).
 * `connect` and `unix-client`, `listen` and `nc` each run it with their own options and printers.
 */
import type { Address, Conn, Datagram, DatagramSocket, Network } from '../index.js';
import { timedOut } from '../core/errors.js';
import { Idle, lines } from './common.js';

/** Where stdin's pieces go: written on (resolving once taken), and told of stdin's end. */
export interface StdinSink {
  write(piece: Buffer): Promise<void>;
  eof(): void;
}

/**
 * stdin, read once for the whole command (in chunks, or lines for datagram commands that send one per line), each
 * piece handed to the sink attached now: with `nc -k` one client after another, with `listen -k` every client at
 * once. Nothing is read while nothing is attached, so stdin is never buffered without bound.
 */
export class StdinPump {
  private sink: StdinSink | undefined;
  private wake: (() => void) | undefined;
  private ended = false;

  constructor(pieces: 'chunks' | 'lines' = 'chunks') {
    void this.run(pieces);
  }

  attach(sink: StdinSink): void {
    this.sink = sink;
    if (this.ended) sink.eof();
    this.wake?.();
  }

  detach(): void {
    this.sink = undefined;
  }

  private async run(pieces: 'chunks' | 'lines'): Promise<void> {
    const stdin = process.stdin as AsyncIterable<Buffer>;
    try {
      for await (const piece of pieces === 'lines' ? lines(stdin) : stdin) {
        while (!this.sink) await new Promise<void>((resolve) => (this.wake = resolve));
        await this.sink.write(piece);
      }
    } catch {
      // a stdin that fails ends like one at EOF
    }
    this.ended = true;
    this.sink?.eof();
  }
}

export interface SessionOptions {
  /** Ends after this many ms without traffic either way (nc -w, --timeout). */
  idle?: number;
  /**
   * After stdin's EOF: ends `ms` later (nc -q), or, with `quiet`, once nothing has arrived for `ms` (the datagram
   * `connect`'s --wait: replies to the last lines are still printed). Without it, stdin's EOF ends nothing.
   */
  afterEof?: { ms: number; quiet?: boolean };
  /** Passes stdin's EOF on to the peer (nc -N, --half-close). */
  halfClose?: boolean;
  /** Streams: the peer's EOF ends the session (listen, connect); otherwise stdin must have ended too (nc's client). */
  endsWithPeer?: boolean;
}

/** What a session does with what moves: its own sends, and what arrives. */
export interface SessionIo<In> {
  /** Sends one piece of stdin; a rejection ends the session with that error (swallow what is not an end). */
  send(piece: Buffer): Promise<void>;
  /** What arrived, to print. */
  received(data: In): Promise<void>;
}

/**
 * How a session ended: `peer` (its EOF), `stdin` (stdin's EOF and the time after it), `idle` (no traffic for
 * `idle` ms), `error` (reading or sending failed: `error`), `stopped` (stop() was called).
 */
export interface Ended {
  how: 'peer' | 'stdin' | 'idle' | 'error' | 'stopped';
  error?: unknown;
}

/**
 * What a session's end means to a command that reports it (connect, listen): idleness is ETIMEDOUT (exit 3), a
 * failure is thrown; the peer's EOF, stdin's end and a stop are a clean end.
 */
export function throwIfFailed(e: Ended, network: Network, peer: Address | null | undefined, idleMs: number | undefined): void {
  if (e.how === 'idle') throw timedOut('read', `nothing either way for ${idleMs} ms`, network, peer ?? undefined);
  if (e.how === 'error') throw e.error;
}

/** One session's clock and its end, resolved once, with stdin detached. */
class Session {
  readonly ended: Promise<Ended>;
  private resolve!: (e: Ended) => void;
  private done = false;
  private idle: Idle;
  private quiet: Idle | undefined;
  private quit: NodeJS.Timeout | undefined;
  private readonly stop = new AbortController();

  constructor(private stdin: StdinPump | null, private o: SessionOptions) {
    this.ended = new Promise((r) => (this.resolve = r));
    this.idle = new Idle(o.idle);
    this.idle.signal?.addEventListener('abort', () => this.end({ how: 'idle' }));
  }

  /** Aborts when the session ends: what waits on the socket stops. */
  get signal(): AbortSignal {
    return this.stop.signal;
  }

  get over(): boolean {
    return this.done;
  }

  /** Traffic either way. */
  touch(): void {
    this.idle.touch();
  }

  /** Something arrived: traffic, and the quiet after stdin's EOF begins again. */
  heard(): void {
    this.idle.touch();
    this.quiet?.touch();
  }

  stdinEnded(): void {
    const after = this.o.afterEof;
    if (!after) return;
    if (!after.quiet) this.quit = setTimeout(() => this.end({ how: 'stdin' }), after.ms);
    else {
      this.quiet = new Idle(after.ms);
      this.quiet.signal!.addEventListener('abort', () => this.end({ how: 'stdin' }));
    }
  }

  end(e: Ended): void {
    if (this.done) return;
    this.done = true;
    this.idle.stop();
    this.quiet?.stop();
    clearTimeout(this.quit);
    this.stdin?.detach();
    this.stop.abort();
    this.resolve(e);
  }

  /** Feeds stdin to `send`, each piece counted as traffic; a failed send ends the session. */
  attachStdin(send: (piece: Buffer) => Promise<void>, eof: () => void): void {
    this.stdin?.attach({
      write: async (piece) => {
        this.touch();
        await send(piece).catch((error: unknown) => this.end({ how: 'error', error }));
      },
      eof,
    });
  }
}

/**
 * One connection, as netcat's readwrite: the peer's bytes to `io.received`, stdin to the peer (`stdin` null: this
 * session only prints, as each client of `listen -k`). Ends as {@link SessionOptions} says; the connection is
 * left to the caller.
 */
export function streamSession(conn: Conn, stdin: StdinPump | null, o: SessionOptions, io: SessionIo<Buffer>): Promise<Ended> {
  const s = new Session(stdin, o);
  let peerEnded: Ended | undefined;
  let stdinDone = false;
  const check = () => {
    if (peerEnded && (stdinDone || o.endsWithPeer || !stdin)) s.end(peerEnded);
  };
  s.attachStdin(io.send, () => {
    stdinDone = true;
    if (o.halfClose) void conn.end().catch(() => {});
    s.stdinEnded();
    check();
  });
  void (async () => {
    try {
      for (let c = await conn.read({ signal: s.signal }); c !== null; c = await conn.read({ signal: s.signal })) {
        s.heard();
        await io.received(c);
      }
      peerEnded = { how: 'peer' };
    } catch (error) {
      if (s.over) return;
      peerEnded = { how: 'error', error };
    }
    check();
  })();
  return s.ended;
}

/**
 * A datagram socket, as netcat's: stdin's pieces out through `io.send`, every datagram in to `io.received`.
 * `keepOn(err)`: a receive error that is not an end (nc: the ICMP refusal of an earlier send).
 */
export function datagramSession(sock: DatagramSocket, stdin: StdinPump, o: SessionOptions, io: SessionIo<Datagram>,
  keepOn: (err: unknown) => boolean = () => false): Promise<Ended> {
  const s = new Session(stdin, o);
  s.attachStdin(io.send, () => s.stdinEnded());
  void (async () => {
    for (;;) {
      let d: Datagram;
      try {
        d = await sock.recvFrom({ signal: s.signal });
      } catch (error) {
        if (s.over) return;
        if (keepOn(error)) continue;
        return s.end({ how: 'error', error });
      }
      s.heard();
      await io.received(d);
    }
  })();
  return s.ended;
}
