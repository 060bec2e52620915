import { serve, type Address, type Conn, type Exchange } from '../index.js';
import { lines, serverTlsOptions, untilSignal, type CommonOptions } from './common.js';
import { addrText, type Output } from './output.js';
import { reporter, runUntilSignal, Watched } from './servers.js';

/** A member whose unsent backlog passes this is too slow for the room and is dropped. */
const BACKLOG_LIMIT = 1 << 20;
/** Longer lines are passed on in pieces rather than held. */
const MAX_LINE = 64 * 1024;
/** A datagram member silent this long has left (datagrams have no goodbye). */
const DATAGRAM_IDLE = 5 * 60_000;
const NL = Buffer.from('\n');
const EMPTY = Buffer.alloc(0);

interface Member {
  name: string;
  /** Replies to this member: its own connection, or its latest datagram's exchange. */
  ex: Exchange;
  backlog: number;
  cut?(): void;
  seen: number;
}

/**
 * `chat`: every line from one member goes to all the others, prefixed `[address] `, with join and leave
 * notices (ncat --chat). Stream members are connections; datagram members are senders, who leave when idle.
 */
export async function chatCommand(addr: Address, o: CommonOptions, out: Output): Promise<void> {
  void untilSignal(); // handlers first: see untilSignal
  const members = new Map<string, Member>();
  let unnamed = 0;
  const nameOf = (a: Address | null): string => {
    const text = addrText(a);
    // Unix clients usually have no address of their own.
    return text && !/^unix(gram|packet)?:$/.test(text) ? text : `#${++unnamed}`;
  };

  const say = (data: Buffer, except?: Member) => {
    for (const m of members.values()) {
      if (m === except) continue;
      if (m.backlog > BACKLOG_LIMIT) {
        leave(m, 'too slow');
        continue;
      }
      m.backlog += data.length;
      out.dump('>', m.ex.remoteAddr, data);
      m.ex.send(data).then(() => (m.backlog -= data.length), () => leave(m, 'gone'));
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
    m.cut?.();
    out.event('closed', { peer: m.name, reason: why }, `${m.name} left (${why})`);
    say(Buffer.from(`* ${m.name} left\n`));
  };
  /** Passes on each line from `input` as its bytes are, after the sender's name (a last line gets its newline). */
  const relayLines = async (m: Member, input: AsyncIterable<Buffer>) => {
    for await (const line of lines(input, MAX_LINE)) {
      say(Buffer.concat([Buffer.from(`[${m.name}] `), line, line[line.length - 1] === 10 ? EMPTY : NL]), m);
    }
  };

  const handler = async (ex: Exchange) => {
    if (ex.kind === 'datagram') {
      const name = nameOf(ex.remoteAddr);
      let m = members.get(name);
      if (!m) {
        if (members.size >= o.maxClients) return;
        join((m = { name, ex, backlog: 0, seen: Date.now() }));
      }
      m.ex = ex;
      m.seen = Date.now();
      await relayLines(m, new Watched(ex, out, undefined));
      return;
    }
    const conn = ex as Conn;
    const m: Member = { name: nameOf(conn.remoteAddr), ex: conn, backlog: 0, seen: 0, cut: () => conn.stream.destroy() };
    join(m);
    try {
      await relayLines(m, new Watched(conn, out, o.timeout));
    } finally {
      leave(m, 'closed');
    }
  };

  const sweep = setInterval(() => {
    const limit = o.timeout ?? DATAGRAM_IDLE;
    for (const m of members.values()) if (m.ex.kind === 'datagram' && Date.now() - m.seen > limit) leave(m, 'idle');
  }, Math.min(o.timeout ?? DATAGRAM_IDLE, 1000)).unref();
  const server = await serve(addr, handler, { maxConns: o.maxClients, tls: serverTlsOptions(o), onError: reporter(out) });
  try {
    await runUntilSignal(server, out);
  } finally {
    clearInterval(sweep);
  }
}
