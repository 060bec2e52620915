// relay's impairments (src/core/impair.ts), each on a stream row and a datagram row, with its effect measured over real
// sockets: bytes exact under slicing and pacing, shares of loss and duplication within a point of what was asked,
// resets and closes as the peers see them. Durations are only ever lower bounds (a busy machine only adds time).
import { describe, expect, it } from 'vitest';
import {
  bind, bindTo, dial, echo, formatAddress, relay, serve, type Address, type Conn, type DatagramSocket, type RelayEvent,
} from '../src/index.js';
import { publisher, replier, requester, subscriber } from '../src/channel/index.js';
import { cli, cliServer, closedPort, sockPath, stopLive, until } from './helpers.js';

type Closed = Extract<RelayEvent, { type: 'close' }>;

/** A relay with impairments, and the close events of its sessions. */
async function impairedRelay(from: string, to: Address | string, impair: Parameters<typeof relay>[2] extends infer O ? O extends { impair?: infer I } ? I : never : never) {
  const closed: Closed[] = [];
  /** Chunks and datagrams the relay has read from its clients. */
  const fromClients: Buffer[] = [];
  const r = await relay(from, to, {
    impair, onError: () => {}, tap: true,
    onEvent: (e) => (e.type === 'close' ? closed.push(e) : e.type === 'data' && e.from === 'client' && fromClients.push(e.data)),
  });
  return { r, closed, fromClients };
}

/** A stream server that counts what each connection sent until it ended, and how it ended. */
async function countingSink(addr: string) {
  const seen: { conn: Conn; bytes: Buffer[]; ended?: 'eof' | string }[] = [];
  const server = await serve(addr, async (ex) => {
    const conn = ex as Conn;
    const entry: (typeof seen)[number] = { conn, bytes: [] };
    seen.push(entry);
    try {
      for await (const chunk of conn) entry.bytes.push(chunk);
      entry.ended = 'eof';
    } catch (err) {
      entry.ended = (err as { code?: string }).code ?? 'error';
    }
  }, { onError: () => {} });
  return { server, seen };
}

/** Reads a stream until EOF (or an error, whose code it returns with what came before). */
async function readAll(conn: Conn): Promise<{ data: Buffer; error?: string }> {
  const parts: Buffer[] = [];
  try {
    for await (const chunk of conn) parts.push(chunk);
    return { data: Buffer.concat(parts) };
  } catch (err) {
    return { data: Buffer.concat(parts), error: (err as { code?: string }).code };
  }
}

/**
 * Sends `n` numbered datagrams through `to` from one socket, 20 at a time, letting the loop run between (the relay
 * and the sink are this process). With `arrived` (how many have reached the far end or are accounted for there), at
 * most 40 are on their way at once: UDP drops what a full receive buffer cannot take (256 small datagrams), and
 * with other loopback traffic on the machine the kernel can hand a sink hundreds at once. Pacing by the relay's
 * reads was not enough: the sink's drop count in /proc/net/udp showed 207 under another process's udp flood.
 */
async function sendNumbered(sock: DatagramSocket, to: Address, n: number, arrived?: () => number): Promise<void> {
  for (let i = 0; i < n; i++) {
    await sock.sendTo(Buffer.from(String(i)), to);
    if (i % 20 !== 19) continue;
    await new Promise((resolve) => setImmediate(resolve));
    if (arrived) await until(() => arrived() >= i + 1 - 40, () => `the far end to have ${i + 1 - 40} (it has ${arrived()})`);
  }
}

/** A udp socket that records the numbers it receives. */
async function numberSink(): Promise<{ sock: DatagramSocket; got: number[] }> {
  const sock = await bind('udp://127.0.0.1:0');
  const got: number[] = [];
  void (async () => {
    for await (const d of sock) got.push(parseInt(String(d.data.subarray(0, 8)), 10));
  })().catch(() => {});
  return { sock, got };
}

const closeAll = async (...xs: { close(): Promise<void> }[]) => {
  for (const x of xs) await x.close();
};

describe('relay impairments on streams', () => {
  it('--slice 1: 30 KB each way arrives byte for byte (tcp -> unix)', async () => {
    const target = await serve(`unix://${sockPath()}`, echo);
    const { r } = await impairedRelay('tcp://127.0.0.1:0', target.addr, { toTarget: { slice: 1 }, toClient: { slice: 7 } });
    const c = await dial(r.addr);
    try {
      const data = Buffer.alloc(30_000);
      for (let i = 0; i < data.length; i++) data[i] = (i * 31 + (i >> 8)) & 0xff;
      const reading = readAll(c);
      await c.write(data);
      await c.end();
      const back = await reading;
      expect(back.error).toBeUndefined();
      expect(back.data.equals(data)).toBe(true);
    } finally {
      await closeAll(c, r, target);
    }
  });

  it('a delay of 20±5 ms one way and 20 ms back: a round trip takes at least 35 ms, and the bytes keep their order', async () => {
    const target = await serve('tcp://127.0.0.1:0', echo);
    const { r } = await impairedRelay('tcp://127.0.0.1:0', target.addr, { toTarget: { delay: 20, jitter: 5 }, toClient: { delay: 20 } });
    const c = await dial(r.addr);
    try {
      const started = performance.now();
      const reading = readAll(c);
      for (let i = 0; i < 100; i++) await c.write(`${i},`);
      await c.end();
      const back = await reading;
      // 15 + 20, less the half millisecond a link rounds its timers by, each way.
      expect(performance.now() - started).toBeGreaterThanOrEqual(34);
      expect(String(back.data)).toBe(Array.from({ length: 100 }, (_, i) => `${i},`).join(''));
    } finally {
      await closeAll(c, r, target);
    }
  });

  it('--rate: 100 KB at 500 KB/s takes at least 0.2 s, byte for byte', async () => {
    const sink = await countingSink('tcp://127.0.0.1:0');
    const { r } = await impairedRelay('tcp://127.0.0.1:0', sink.server.addr, { toTarget: { rate: 500_000 } });
    const c = await dial(r.addr);
    try {
      const data = Buffer.alloc(100_000, 'r');
      const started = performance.now();
      await c.write(data);
      await c.end();
      await until(() => sink.seen[0]?.ended === 'eof', 'the sink saw the end');
      expect(performance.now() - started).toBeGreaterThanOrEqual(200 - 25); // one piece (a 50th of a second) may leave at once
      expect(Buffer.concat(sink.seen[0]!.bytes).equals(data)).toBe(true);
    } finally {
      await closeAll(c, r, sink.server);
    }
  });

  it('--reset-after 1000: the target gets exactly 1000 bytes, the client a reset', async () => {
    const sink = await countingSink('tcp://127.0.0.1:0');
    const { r, closed } = await impairedRelay('tcp://127.0.0.1:0', sink.server.addr, { toTarget: { resetAfter: 1000 } });
    const c = await dial(r.addr);
    try {
      const reading = readAll(c);
      await c.write(Buffer.alloc(5000, 'x')).catch(() => {});
      const back = await reading;
      expect(back.error).toBe('ECONNRESET');
      await until(() => sink.seen[0]?.ended !== undefined, 'the target saw the end');
      // The RST goes right behind the last byte: Linux then reads the bytes and an ordinary end, not ECONNRESET.
      expect(['eof', 'ECONNRESET']).toContain(sink.seen[0]!.ended);
      expect(Buffer.concat(sink.seen[0]!.bytes).length).toBe(1000);
      await until(() => closed.length === 1, 'the session closed');
    } finally {
      await closeAll(c, r, sink.server);
    }
  });

  it('--close-after: the session ends in order (EOF, not a reset) once its time is up', async () => {
    const target = await serve(`unix://${sockPath()}`, echo);
    const { r } = await impairedRelay(`unix://${sockPath('r.sock')}`, target.addr, { toClient: { closeAfter: 200 } });
    const started = performance.now();
    const c = await dial(r.addr);
    try {
      await c.write('still here');
      const back = await readAll(c);
      expect(back.error).toBeUndefined();
      expect(String(back.data)).toBe('still here');
      // Not at once: a while after (timers may fire a little early by the loop's clock).
      expect(performance.now() - started).toBeGreaterThanOrEqual(150);
    } finally {
      await closeAll(c, r, target);
    }
  });

  it('--stall: the relay takes every byte and the target sees none, not even the end', async () => {
    const sink = await countingSink('tcp://127.0.0.1:0');
    const { r, closed, fromClients } = await impairedRelay('tcp://127.0.0.1:0', sink.server.addr, { toTarget: { stall: true } });
    const c = await dial(r.addr);
    try {
      await until(() => sink.seen.length === 1, 'the target connected');
      await c.write(Buffer.alloc(3000, 's'));
      await c.end();
      // The relay has read it all, and the target still has nothing and no end: then the target goes, and the
      // session reports what it swallowed.
      await until(() => Buffer.concat(fromClients).length === 3000, 'the relay took the bytes');
      expect(sink.seen[0]!.bytes.length).toBe(0);
      expect(sink.seen[0]!.ended).toBeUndefined();
      await sink.seen[0]!.conn.close();
      await until(() => closed.length === 1, 'the session closed');
      expect(closed[0]!.impaired?.stalled).toBe(3000);
      expect(sink.seen[0]!.bytes.length).toBe(0);
    } finally {
      await closeAll(c, r, sink.server);
    }
  });

  it('loss, duplication and reordering are refused on a byte stream, naming the side', async () => {
    await expect(relay('tcp://127.0.0.1:0', 'tcp://127.0.0.1:9', { impair: { toTarget: { loss: 0.05 } } }))
      .rejects.toThrow(/loss acts on messages, and the target's tcp is a byte stream/);
    await expect(relay('udp://127.0.0.1:0', 'unix:///nowhere.sock', { impair: { toClient: { reorder: 0.1 }, toTarget: { duplicate: 2 } } }))
      .rejects.toThrow(/duplicate is a share between 0 and 1, not 2/);
  });
});

describe('relay impairments on datagrams', () => {
  it('--loss 5%: about 5 % of 2,000 lost (within a point), counted exactly by the relay; the same seed, the same losses', async () => {
    const runOnce = async () => {
      const sink = await numberSink();
      const { r, closed, fromClients } = await impairedRelay('udp://127.0.0.1:0', sink.sock.localAddr, { toTarget: { loss: 0.05 }, seed: 42 });
      const client = await bind('udp://127.0.0.1:0');
      await sendNumbered(client, r.addr, 2000, () => sink.got.length + r.impaired.lost);
      // Everything read by the relay is either at the target or counted lost.
      await until(() => fromClients.length === 2000 && sink.got.length + r.impaired.lost === 2000, 'all accounted for');
      await closeAll(client, r);
      await until(() => closed.length === 1, 'the session closed');
      await sink.sock.close();
      return { got: sink.got, lost: closed[0]!.impaired!.lost };
    };
    const a = await runOnce();
    expect(a.lost).toBe(2000 - a.got.length);
    expect(a.lost / 2000).toBeGreaterThanOrEqual(0.04);
    expect(a.lost / 2000).toBeLessThanOrEqual(0.06);
    const b = await runOnce();
    expect(b.got).toEqual(a.got);
  });

  it('--duplicate 5%: every datagram arrives, about 5 % of them twice, as counted', async () => {
    const sink = await numberSink();
    const { r, closed } = await impairedRelay('udp://127.0.0.1:0', sink.sock.localAddr, { toTarget: { duplicate: 0.05 }, seed: 7 });
    const client = await bind('udp://127.0.0.1:0');
    try {
      // Counted when drawn, before it has gone: an underestimate of what arrived, so at worst the sender waits longer.
      await sendNumbered(client, r.addr, 2000, () => sink.got.length - r.impaired.duplicated);
      await until(() => new Set(sink.got).size === 2000, 'every datagram arrived');
      await closeAll(client, r);
      await until(() => closed.length === 1, 'the session closed');
      const duplicated = closed[0]!.impaired!.duplicated;
      expect(sink.got.length).toBe(2000 + duplicated);
      expect(duplicated / 2000).toBeGreaterThanOrEqual(0.04);
      expect(duplicated / 2000).toBeLessThanOrEqual(0.06);
    } finally {
      await sink.sock.close();
    }
  });

  it('--reorder 10%: every datagram arrives once, some overtaken, no more than the relay held back', async () => {
    const sink = await numberSink();
    const { r, closed } = await impairedRelay('udp://127.0.0.1:0', sink.sock.localAddr, { toTarget: { reorder: 0.1 }, seed: 3 });
    const client = await bind('udp://127.0.0.1:0');
    try {
      // Sent in bursts, so that a held one has a next to overtake it.
      await sendNumbered(client, r.addr, 1000, () => sink.got.length);
      await until(() => sink.got.length === 1000, 'every datagram arrived');
      await closeAll(client, r);
      await until(() => closed.length === 1, 'the session closed');
      expect([...sink.got].sort((x, y) => x - y)).toEqual(Array.from({ length: 1000 }, (_, i) => i));
      const overtaken = sink.got.filter((n, i) => i > 0 && n < sink.got[i - 1]!).length;
      expect(overtaken).toBeGreaterThan(0);
      expect(overtaken).toBeLessThanOrEqual(closed[0]!.impaired!.reordered);
    } finally {
      await sink.sock.close();
    }
  });

  it('a delay on unixgram: each reply comes at least 30 ms after its request (15 each way)', async () => {
    const target = await serve(`unixgram://${sockPath()}`, echo);
    const { r } = await impairedRelay(`unixgram://${sockPath('r.sock')}`, target.addr, { toTarget: { delay: 15 }, toClient: { delay: 15 } });
    const client = await bindTo(r.addr);
    try {
      for (let i = 0; i < 3; i++) {
        const started = performance.now();
        await client.send(`ping ${i}`);
        const d = await client.recvFrom();
        expect(String(d.data)).toBe(`ping ${i}`);
        expect(performance.now() - started).toBeGreaterThanOrEqual(29); // a link rounds by half a millisecond
      }
    } finally {
      await closeAll(client, r, target);
    }
  });

  it('--rate on udp: 50 datagrams of 1000 bytes at 250,000 B/s take at least 0.19 s, all in order', async () => {
    const sink = await numberSink();
    const { r } = await impairedRelay('udp://127.0.0.1:0', sink.sock.localAddr, { toTarget: { rate: 250_000 } });
    const client = await bind('udp://127.0.0.1:0');
    try {
      const started = performance.now();
      for (let i = 0; i < 50; i++) await client.sendTo(Buffer.concat([Buffer.from(`${i}`.padEnd(8)), Buffer.alloc(992)]), r.addr);
      await until(() => sink.got.length === 50, 'all arrived');
      expect(performance.now() - started).toBeGreaterThanOrEqual(190);
      expect(sink.got).toEqual(Array.from({ length: 50 }, (_, i) => i));
    } finally {
      await closeAll(client, r, sink.sock);
    }
  });

  it('--reset-after on udp: whole datagrams up to the line, none cut short, then the session ends', async () => {
    const sink = await numberSink();
    const { r, closed } = await impairedRelay('udp://127.0.0.1:0', sink.sock.localAddr, { toTarget: { resetAfter: 24 } });
    const client = await bind('udp://127.0.0.1:0');
    try {
      // "0".."9" are 1 byte each, then 2 each: "16" brings it to 24 bytes, exactly the line: sent, then the reset.
      await sendNumbered(client, r.addr, 20);
      await until(() => closed.length === 1 && sink.got.length >= 17, 'the session ended, and the target read what came');
      expect(sink.got).toEqual(Array.from({ length: 17 }, (_, i) => i));
      // A datagram that would cross the line is not sent: at 25, "17" (24 + 2) ends the session unsent.
      const r2 = await impairedRelay('udp://127.0.0.1:0', sink.sock.localAddr, { toTarget: { resetAfter: 25 } });
      try {
        await sendNumbered(client, r2.r.addr, 20);
        await until(() => r2.closed.length === 1 && sink.got.length >= 34, 'the second session ended');
        expect(sink.got.slice(17)).toEqual(Array.from({ length: 17 }, (_, i) => i));
      } finally {
        await r2.r.close();
      }
    } finally {
      await closeAll(client, r, sink.sock);
    }
  });

  it("what a delay holds is the server's to bound: past a sender's --peer-bytes its datagrams are dropped and counted", async () => {
    const sink = await numberSink();
    // A delay long enough that none is delivered before all are sent, even on a busy machine.
    const r = await relay('udp://127.0.0.1:0', sink.sock.localAddr, { impair: { toTarget: { delay: 2000 } }, peerBytes: 16 * 1024, onError: () => {} });
    const client = await bind('udp://127.0.0.1:0');
    try {
      // 100 datagrams of 1000 bytes within the delay (the loop let run every 10, so that no kernel buffer drops
      // any): the session may hold 16 KiB of them.
      for (let i = 0; i < 100; i++) {
        await client.sendTo(Buffer.concat([Buffer.from(`${i}`.padEnd(8)), Buffer.alloc(992)]), r.addr);
        if (i % 10 === 9) await new Promise((resolve) => setImmediate(resolve));
      }
      await until(() => sink.got.length + r.dropped === 100, 'every datagram delivered or counted');
      expect(r.dropped).toBeGreaterThan(0);
      expect(sink.got.length).toBeGreaterThanOrEqual(16);
      expect(sink.got.length).toBeLessThanOrEqual(17);
    } finally {
      await closeAll(client, r, sink.sock);
    }
  });

  it('--stall on unixgram: nothing reaches the target; the swallowed bytes are counted', async () => {
    const path = sockPath();
    const target = await bind(`unixgram://${path}`);
    const { r, closed, fromClients } = await impairedRelay(`unixgram://${sockPath('r.sock')}`, target.localAddr, { toTarget: { stall: true } });
    const client = await bindTo(r.addr);
    try {
      for (let i = 0; i < 10; i++) await client.send('0123456789');
      await until(() => fromClients.length === 10, 'the relay took them');
      await closeAll(client, r);
      await until(() => closed.length === 1, 'the session closed');
      expect(closed[0]!.impaired?.stalled).toBe(100);
      const nothing = await target.recvFrom({ signal: AbortSignal.timeout(100) }).then(() => 'got one', () => 'none');
      expect(nothing).toBe('none');
    } finally {
      await target.close();
    }
  });
});

describe('a side that fails mid-session', () => {
  // What the relay took from the target before the target failed is still owed to the client: a delay holds it, and
  // on a real slow link those packets would still arrive. The session ends after it, with the target's error.
  it('unix: the target answers and closes; the next write fails (EPIPE), yet the answer held by --delay arrives', async () => {
    let targetClosed = false;
    const target = await serve(`unix://${sockPath()}`, async (ex) => {
      const conn = ex as Conn;
      await conn.read();
      await conn.write('answer');
      await conn.close();
      targetClosed = true;
    });
    const fromTarget: Buffer[] = [];
    const closed: Closed[] = [];
    const r = await relay(`unix://${sockPath('r.sock')}`, target.addr, {
      impair: { toClient: { delay: 500 } }, onError: () => {}, tap: true,
      onEvent: (e) => (e.type === 'close' ? closed.push(e) : e.type === 'data' && e.from === 'target' && fromTarget.push(e.data)),
    });
    const c = await dial(r.addr);
    try {
      const reading = readAll(c);
      await c.write('question');
      await until(() => fromTarget.length === 1 && targetClosed, 'the relay to take the answer, and the target to close');
      await c.write('more'); // into a target that has gone
      const back = await reading;
      expect(String(back.data)).toBe('answer');
      await until(() => closed.length === 1, 'the session to close');
      expect(closed[0]!.error).toMatchObject({ code: 'EPIPE' });
    } finally {
      await closeAll(c, r, target);
    }
  });

  it('udp: the target replies and closes; the next datagram is refused (ICMP), yet the reply held by --delay arrives', async () => {
    // On a port held closed for the test (see closedPort): once the target has gone, nothing else can take it.
    const target = await bind(`udp://127.0.0.1:${closedPort('udp')}`, { reuseAddr: true });
    const fromTarget: Buffer[] = [];
    const closed: Closed[] = [];
    const r = await relay('udp://127.0.0.1:0', target.localAddr, {
      impair: { toClient: { delay: 500 } }, onError: () => {}, tap: true,
      onEvent: (e) => (e.type === 'close' ? closed.push(e) : e.type === 'data' && e.from === 'target' && fromTarget.push(e.data)),
    });
    const client = await bind('udp://127.0.0.1:0');
    try {
      await client.sendTo('question', r.addr);
      const q = await target.recvFrom();
      await target.sendTo('reply', q.from!);
      await until(() => fromTarget.length === 1, 'the relay to take the reply');
      await target.close();
      await client.sendTo('more', r.addr); // to a port nobody has now
      expect(String((await client.recvFrom({ signal: AbortSignal.timeout(10_000) })).data)).toBe('reply');
      await until(() => closed.length === 1, 'the session to close');
      expect(closed[0]!.error).toMatchObject({ code: 'ECONNREFUSED' });
    } finally {
      await closeAll(client, r);
    }
  });
});

describe('socktool tests itself through impairments', () => {
  it('a channel over --slice 1 (unix): the frame reader puts every message back together', async () => {
    const server = await replier(`unix://${sockPath()}`, (m: string) => m.toUpperCase());
    const { r } = await impairedRelay(`unix://${sockPath('r.sock')}`, server.addr, { toTarget: { slice: 1 }, toClient: { slice: 1 } });
    const client = await requester<string, string>(formatAddress(r.addr));
    try {
      const words = ['a', 'bb', 'x'.repeat(3000), 'last'];
      expect(await Promise.all(words.map((w) => client.request(w)))).toEqual(words.map((w) => w.toUpperCase()));
    } finally {
      await closeAll(client, r, server);
    }
  });

  it('a tcp requester cut by --reset-after again and again reconnects; what was answered was answered right, nothing hangs', async () => {
    const seen = new Set<number>();
    let connections = 0;
    const server = await replier<number, number>('tcp://127.0.0.1:0', (n) => {
      seen.add(n);
      return n * 2;
    });
    server.on('connected', () => connections++);
    // Every session is reset after 600 bytes toward the replier: a few dozen requests each.
    const { r } = await impairedRelay('tcp://127.0.0.1:0', server.addr, { toTarget: { resetAfter: 600 } });
    const client = await requester<number, number>(formatAddress(r.addr), { reconnect: { initial: 10 } });
    const answered = new Map<number, number>();
    try {
      for (let round = 0; answered.size < 300 && round < 200; round++) {
        const todo = Array.from({ length: 300 }, (_, n) => n).filter((n) => !answered.has(n)).slice(0, 20);
        const results = await Promise.allSettled(todo.map((n) => client.request(n)));
        results.forEach((res, i) => {
          // A request out when the connection went fails so, and is asked again; none is left unsettled.
          if (res.status === 'fulfilled') answered.set(todo[i]!, res.value);
          else expect((res.reason as { code?: string }).code).toBe('ERR_SOCKTOOL_DISCONNECTED');
        });
      }
      expect(answered.size).toBe(300);
      for (const [n, doubled] of answered) {
        expect(doubled).toBe(n * 2);
        expect(seen.has(n)).toBe(true);
      }
      expect(connections).toBeGreaterThan(3);
    } finally {
      await closeAll(client, r, server);
    }
  });

  it('a udp subscriber behind 5 % loss counts as lost exactly what the relay dropped', async () => {
    // No heartbeats and no early resend of the subscription: every datagram toward the subscriber is its one
    // acknowledgement (kept by this seed's first draw) or a publication, whose gaps the subscriber counts.
    const pub = await publisher<string>('udp://127.0.0.1:0', { heartbeat: 0 });
    const { r, closed } = await impairedRelay('udp://127.0.0.1:0', pub.addr, { toClient: { loss: 0.05 }, seed: 11 });
    const sub = await subscriber<string>(formatAddress(r.addr), 'news', { heartbeat: 0, resend: 60_000 });
    const got: string[] = [];
    const reading = (async () => {
      for await (const { data } of sub) {
        got.push(data);
        if (data === 'end') return;
      }
    })();
    try {
      for (let i = 0; i < 1000; i++) {
        expect(await pub.publish('news', `m${i}`)).toBe(1);
        if (i % 20 !== 19) continue;
        // At most 40 on their way (see sendNumbered): a kernel buffer's drop would be a loss the relay did not count.
        await new Promise((resolve) => setImmediate(resolve));
        await until(() => got.length + r.impaired.lost >= i + 1 - 40, 'the subscriber to get or the relay to drop what was published');
      }
      // Until one 'end' gets through: the ones lost before it are gaps too.
      while (got.at(-1) !== 'end') {
        await pub.publish('news', 'end');
        await new Promise((resolve) => setTimeout(resolve, 5));
      }
      await reading;
      const lost = sub.lost;
      await closeAll(sub, r);
      await until(() => closed.length === 1, 'the session closed');
      expect(lost).toBeGreaterThan(0);
      expect(lost).toBe(closed[0]!.impaired!.lost);
    } finally {
      await pub.close();
    }
  });
});

describe('socktool relay: impairment flags', () => {
  it('a lossy udp relay: bench sees about 5 % lost; the relay names what it did when the session closes', async () => {
    const echoServer = await cliServer(['udp-echo', '--port', '0']);
    const relayed = await cliServer(['relay', 'udp://127.0.0.1:0', echoServer.address, '--loss', 'to-target:5%', '--seed', '1', '--timeout', '300', '--json']);
    try {
      const b = await cli(['bench', relayed.address, '--mode', 'flood', '--window', '16', '--count', '2000', '--json'], undefined, 60_000);
      const summary = JSON.parse(b.stdout.split('\n').find((l) => l.includes('"summary"'))!) as { lost: number; sent: number };
      expect(summary.lost / summary.sent).toBeGreaterThanOrEqual(0.04);
      expect(summary.lost / summary.sent).toBeLessThanOrEqual(0.06);
      // The session ends when idle for --timeout; its closing event says what the impairments did.
      const m = await relayed.waitFor(/"event":"closed".*"impaired":\{"lost":(\d+),/, 20_000);
      expect(Number(m[1])).toBeGreaterThanOrEqual(summary.lost);
    } finally {
      await stopLive(relayed);
      await stopLive(echoServer);
    }
  }, 90_000);

  it('a 20 ms delay toward a tcp echo: bench measures at least 20 ms, and not twice that', async () => {
    const echoServer = await cliServer(['tcp-echo', '--port', '0']);
    const relayed = await cliServer(['relay', 'tcp://127.0.0.1:0', echoServer.address, '--delay', 'to-target:20']);
    try {
      const b = await cli(['bench', relayed.address, '--count', '50', '--json'], undefined, 60_000);
      const summary = JSON.parse(b.stdout.split('\n').find((l) => l.includes('"summary"'))!) as { latency: { p50: number } };
      expect(summary.latency.p50).toBeGreaterThanOrEqual(20_000);
      expect(summary.latency.p50).toBeLessThan(40_000);
    } finally {
      await stopLive(relayed);
      await stopLive(echoServer);
    }
  }, 90_000);

  it.each([
    [['--loss', '5%'], /to-target: --loss acts on messages, and the target's tcp is a byte stream/],
    [['--delay', 'soon'], /--delay.*expected milliseconds, with an optional ±jitter/],
    [['--stall', 'sideways'], /--stall.*expected to-target or to-client/],
    [['--loss', '120%'], /expected a percentage 0-100/],
    [['--slice', '0'], /expected bytes, at least 1/],
  ])('%j: one line on stderr, exit 2', async (flags, message) => {
    const r = await cli(['relay', 'tcp://127.0.0.1:0', 'tcp://127.0.0.1:9', ...flags]);
    expect(r.code).toBe(2);
    expect(r.stderr).toMatch(message);
    expect(r.stderr.trim().split('\n')).toHaveLength(1);
    expect(r.stdout).toBe('');
  });
});
