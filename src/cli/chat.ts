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
 * `chat`: every line from one member goes to all the others, prefixed `[address] `, with join and leave
 * notices (ncat --chat). Stream members are connections; datagram members are senders, who leave when idle.
 * A fast sender is slowed to the pace of the slowest reader; a reader that takes nothing for STUCK_MS leaves.
 */
export async function chatCommand(addr: Address, o: CommonOptions, out: Output): Promise<void> {
  void untilSignal(); // handlers first: see untilSignal
  refuseGiven(o, datagramReasons(addr));
  const members = new Map<string, Member>();
  let unnamed = 0;
  const nameOf = (a: Address | null): string => {
    const text = addrText(a);
    // Unix clients usually have no address of their own.
    return text && !/^unix(gram|packet)?:$/.test(text) ? text : `#${++unnamed}`;
  };

  /** Members over HIGH_WATER, and the senders waiting for there to be none. */
  let behind = 0;
  const waiting: (() => void)[] = [];
  const room = (): Promise<void> | undefined =>
    behind === 0 && waiting.length === 0 ? undefined : new Promise((resolve) => waiting.push(resolve));
  const wake = () => {
    // In arrival order, while nobody is behind: each woken sender may put someone behind again.
    while (behind === 0 && waiting.length > 0) waiting.shift()!();
  };
  const account = (m: Member, bytes: number) => {
    const was = m.backlog > HIGH_WATER;
    m.backlog += bytes;
    const is = m.backlog > HIGH_WATER;
    if (was === is) return;
    behind += is ? 1 : -1;
    m.behindSince = is ? Date.now() : 0;
    if (!is) wake();
  };

  const say = (data: Buffer, except?: Member) => {
    for (const m of members.values()) {
      if (m === except) continue;
      account(m, data.length);
      out.dump('>', m.ex.remoteAddr, data);
      m.ex.send(data).then(() => account(m, -data.length), () => leave(m, 'gone'));
    }
  };
  const join = (m: Member) => {
    members.set(m.name, m);
    out.event('accepted', { peer: m.name }, `${m.name} joined`);
    say(Buffer.from(`* ${m.name} joined\n`), m);
  };
  const leave = (m: Member, why: string) => {
    if (members.get(m.name) !== m) return;
    members.delete(m.name);
    if (m.backlog > HIGH_WATER) {
      behind--;
      wake();
    }
    m.backlog = -Infinity; // its sends still settling no longer count
    m.cut?.();
    out.event('closed', { peer: m.name, reason: why }, `${m.name} left (${why})`);
    say(Buffer.from(`* ${m.name} left\n`));
  };
  /** Passes on each line from `input` as its bytes are, after the sender's name (a last line gets its newline). */
  const relayLines = async (m: Member, input: AsyncIterable<Buffer>) => {
    for await (const line of lines(input, MAX_LINE)) {
      await room();
      if (members.get(m.name) !== m) return;
      say(Buffer.concat([Buffer.from(`[${m.name}] `), line, line[line.length - 1] === 10 ? EMPTY : NL]), m);
    }
  };

  const handler = async (ex: Exchange) => {
    if (ex.kind === 'datagram') {
      const name = nameOf(ex.remoteAddr);
      let m = members.get(name);
      if (!m) {
        if (members.size >= (o.maxClients ?? DEFAULT_MAX_PROGRAMS)) return;
        join((m = { name, ex, backlog: 0, behindSince: 0, seen: Date.now() }));
      }
      m.ex = ex;
      m.seen = Date.now();
      await relayLines(m, new Watched(ex, out));
      return;
    }
    const conn = ex as Conn;
    const m: Member = { name: nameOf(conn.remoteAddr), ex: conn, backlog: 0, behindSince: 0, seen: 0,
      cut: () => conn.stream.destroy() };
    join(m);
    try {
      await relayLines(m, new Watched(conn, out));
    } finally {
      leave(m, 'closed');
    }
  };

  // A datagram member silent past --timeout has left (datagrams have no goodbye).
  const datagramIdle = o.timeout ?? 0;
  const sweep = setInterval(() => {
    const now = Date.now();
    for (const m of members.values()) {
      if (m.behindSince > 0 && now - m.behindSince > STUCK_MS) leave(m, 'not reading');
      else if (m.ex.kind === 'datagram' && datagramIdle > 0 && now - m.seen > datagramIdle) leave(m, 'idle');
    }
  }, Math.min(datagramIdle || 1000, 1000)).unref();
  const server = await serve(addr, handler,
    { ...serverLimits(o), idle: serverIdle(o), tls: serverTlsOptions(o), onError: reporter(out), ...unixAccess(o, addr, out) });
  try {
    await runUntilSignal(server, out, { until: server.closed });
  } finally {
    clearInterval(sweep);
  }
}
