import { serve, type Address, type Conn, type Exchange } from '../index.js';
import { DEFAULT_MAX_PROGRAMS, serverLimits, datagramReasons, unixAccess, lines, refuseGiven, serverIdle, serverTlsOptions, untilSignal, type CommonOptions } from './common.js';
import { addrText, type Output } from './output.js';
import { reporter, runUntilSignal, Watched } from './servers.js';

/**
 * Fairness: while any member has more than this unsent, every sender waits (a stream sender's reads pause, so
 * TCP slows it down; datagram senders queue up to serve()'s bound) rather than the reader falling further behind.
 */
const HIGH_WATER = 256 * 1024;
/** A member behind for this long without catching up is not reading at all: it leaves, and the room goes on. */
const STUCK_MS = 15_000;
/** Longer lines are passed on in pieces rather than held. */
const MAX_LINE = 64 * 1024;
const NL = Buffer.from('\n');
const EMPTY = Buffer.alloc(0);

interface Member {
  name: string;
  /** Replies to this member: its own connection, or its latest datagram's exchange. */
  ex: Exchange;
  /** Bytes sent to it and not yet taken by its socket. */
  backlog: number;
  /** When its backlog went over HIGH_WATER (0: it is not behind). */
  behindSince: number;
  cut?(): void;
  seen: number;
}

/**
 * The room of `chat`: its members, and the pace of its slowest reader. Every line from one member goes to all the
 * others, prefixed `[name] `, with join and leave notices. A fast sender waits while any member is behind by more
 * than HIGH_WATER; a member that takes nothing for STUCK_MS leaves, and so does a datagram member silent past
 * `datagramIdle` (datagrams have no goodbye).
 */
class ChatRoom {
  private members = new Map<string, Member>();
  private unnamed = 0;
  /** Members over HIGH_WATER. */
  private behind = 0;
  /** Senders waiting for nobody to be behind. */
  private waiting: (() => void)[] = [];

  constructor(private out: Output, private maxMembers: number, private datagramIdle: number) {}

  /** Serves one exchange: a connection is a member until it closes; a datagram's sender is one until it is idle. */
  readonly handler = async (ex: Exchange): Promise<void> => {
    if (ex.kind === 'datagram') {
      const name = this.nameOf(ex.remoteAddr);
      let m = this.members.get(name);
      if (!m) {
        if (this.members.size >= this.maxMembers) return;
        this.join((m = { name, ex, backlog: 0, behindSince: 0, seen: Date.now() }));
      }
      m.ex = ex;
      m.seen = Date.now();
      await this.relayLines(m, new Watched(ex, this.out));
      return;
    }
    const conn = ex as Conn;
    const m: Member = { name: this.nameOf(conn.remoteAddr), ex: conn, backlog: 0, behindSince: 0, seen: 0,
      cut: () => conn.stream.destroy() };
    this.join(m);
    try {
      await this.relayLines(m, new Watched(conn, this.out));
    } finally {
      this.leave(m, 'closed');
    }
  };

  /** Members stuck behind, or silent datagram members, leave. */
  sweep(): void {
    const now = Date.now();
    for (const m of this.members.values()) {
      if (m.behindSince > 0 && now - m.behindSince > STUCK_MS) this.leave(m, 'not reading');
      else if (m.ex.kind === 'datagram' && this.datagramIdle > 0 && now - m.seen > this.datagramIdle) this.leave(m, 'idle');
    }
  }

  /** A member's name: its address; unix clients usually have none, and get a number. */
  private nameOf(a: Address | null): string {
    const text = addrText(a);
    return text && !/^unix(gram|packet)?:$/.test(text) ? text : `#${++this.unnamed}`;
  }

  private join(m: Member): void {
    this.members.set(m.name, m);
    this.out.event('accepted', { peer: m.name }, `${m.name} joined`);
    this.say(Buffer.from(`* ${m.name} joined\n`), m);
  }

  private leave(m: Member, why: string): void {
    if (this.members.get(m.name) !== m) return;
    this.members.delete(m.name);
    if (m.backlog > HIGH_WATER) {
      this.behind--;
      this.wake();
    }
    m.backlog = -Infinity; // its sends still settling no longer count
    m.cut?.();
    this.out.event('closed', { peer: m.name, reason: why }, `${m.name} left (${why})`);
    this.say(Buffer.from(`* ${m.name} left\n`));
  }

  /** Sends `data` to every member but `except`, each send counted in its backlog until its socket took it. */
  private say(data: Buffer, except?: Member): void {
    for (const m of this.members.values()) {
      if (m === except) continue;
      this.account(m, data.length);
      this.out.dump('>', m.ex.remoteAddr, data);
      m.ex.send(data).then(() => this.account(m, -data.length), () => this.leave(m, 'gone'));
    }
  }

  /** Passes on each line from `input` as its bytes are, after the sender's name (a last line gets its newline). */
  private async relayLines(m: Member, input: AsyncIterable<Buffer>): Promise<void> {
    for await (const line of lines(input, MAX_LINE)) {
      await this.room();
      if (this.members.get(m.name) !== m) return;
      this.say(Buffer.concat([Buffer.from(`[${m.name}] `), line, line[line.length - 1] === 10 ? EMPTY : NL]), m);
    }
  }

  /** Resolves when a sender may go on: at once unless someone is behind (or others wait first). */
  private room(): Promise<void> | undefined {
    return this.behind === 0 && this.waiting.length === 0 ? undefined : new Promise((resolve) => this.waiting.push(resolve));
  }

  /** Wakes the waiting senders in arrival order, while nobody is behind: each woken one may put someone behind again. */
  private wake(): void {
    while (this.behind === 0 && this.waiting.length > 0) this.waiting.shift()!();
  }

  private account(m: Member, bytes: number): void {
    const was = m.backlog > HIGH_WATER;
    m.backlog += bytes;
    const is = m.backlog > HIGH_WATER;
    if (was === is) return;
    this.behind += is ? 1 : -1;
    m.behindSince = is ? Date.now() : 0;
    if (!is) this.wake();
  }
}

/** `chat`: a {@link ChatRoom} served on `addr` (ncat --chat); stream members are connections, datagram members senders. */
export async function chatCommand(addr: Address, o: CommonOptions, out: Output): Promise<void> {
  void untilSignal(); // handlers first: see untilSignal
  refuseGiven(o, datagramReasons(addr));
  // A datagram member silent past --timeout has left.
  const datagramIdle = o.timeout ?? 0;
  const chat = new ChatRoom(out, o.maxClients ?? DEFAULT_MAX_PROGRAMS, datagramIdle);
  const sweep = setInterval(() => chat.sweep(), Math.min(datagramIdle || 1000, 1000)).unref();
  const server = await serve(addr, chat.handler,
    { ...serverLimits(o), idle: serverIdle(o), tls: serverTlsOptions(o), onError: reporter(out), ...unixAccess(o, addr, out) });
  try {
    await runUntilSignal(server, out, { until: server.closed });
  } finally {
    clearInterval(sweep);
  }
}
