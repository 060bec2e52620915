// Message channels (socktool/channel): one table of transports, every pattern run over each row.
import { closeSync, openSync, readFileSync, writeFileSync } from 'node:fs';
import type { Socket } from 'node:net';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { describe, expect, it } from 'vitest';
import {
  dialChannel, listenChannel, publisher, replier, requester, subscriber, ReplyError, type ChannelDialOptions,
  type ChannelListenOptions, type ChannelPeer, type RequestContext,
} from '../src/channel/index.js';
import { dial, formatAddress, type Address } from '../src/index.js';
import { ROWS, type Row } from './channel-rows.js';
import { makeCert, platformHas, sockPath, tempDir } from './helpers.js';

let tls: { cert: string; key: string } | undefined;
/** The row's server and client options (TLS: a certificate for localhost). */
function optionsOf(row: Row): { server: ChannelListenOptions; client: ChannelDialOptions } {
  if (!row.tls) return { server: { onError: () => {} }, client: { onError: () => {} } };
  tls ??= makeCert();
  return {
    server: { onError: () => {}, tls: { cert: readFileSync(tls.cert), key: readFileSync(tls.key) } },
    client: { onError: () => {}, tls: { ca: readFileSync(tls.cert), servername: 'localhost' } },
  };
}

const rows = ROWS;
const where = (a: Address) => formatAddress(a);

describe.for(rows)('$name', (row) => {
  const o = optionsOf(row);

  it('request/reply: many requests in flight, answered out of order, each matched to its own', async () => {
    const server = await replier(row.at(), async (req: { i: number }) => {
      await sleep((5 - req.i) * 15); // the first asked is the last answered
      return { i: req.i, square: req.i * req.i };
    }, o.server);
    const client = await requester(where(server.addr), o.client);
    try {
      const replies = await Promise.all([1, 2, 3, 4, 5].map((i) => client.request({ i }, { timeout: 5000 })));
      expect(replies).toEqual([1, 2, 3, 4, 5].map((i) => ({ i, square: i * i })));
      expect(client.inFlight).toBe(0);
    } finally {
      await client.close();
      await server.close();
    }
  });

  it("a handler's throw is an error reply with its name, message and code", async () => {
    const server = await replier(row.at(), (req: string) => {
      if (req === 'type') throw new TypeError('not a number');
      throw Object.assign(new Error('no such key'), { code: 'ENOKEY' });
    }, o.server);
    const client = await requester(where(server.addr), o.client);
    try {
      const typeErr = await client.request('type', { timeout: 5000 }).catch((e: unknown) => e);
      expect(typeErr).toBeInstanceOf(ReplyError);
      expect(typeErr).toMatchObject({ code: 'ERR_SOCKTOOL_REPLY_ERROR', remote: { name: 'TypeError', message: 'not a number' } });
      const coded = await client.request('key', { timeout: 5000 }).catch((e: unknown) => e);
      expect(coded).toMatchObject({ remote: { name: 'Error', message: 'no such key', code: 'ENOKEY' } });
    } finally {
      await client.close();
      await server.close();
    }
  });

  it('aborting a request tells the server: its handler sees the signal abort; a timeout is ETIMEDOUT', async () => {
    let started!: () => void;
    const running = new Promise<void>((r) => (started = r));
    let cancelled!: (why: string) => void;
    const seen = new Promise<string>((r) => (cancelled = r));
    const server = await replier(row.at(), (req: string, ctx: RequestContext) => {
      if (req === 'quick') return 'done';
      started();
      return new Promise((_, reject) => ctx.signal.addEventListener('abort', () => {
        cancelled(req);
        reject(new Error('cancelled'));
      }));
    }, o.server);
    const client = await requester(where(server.addr), o.client);
    try {
      const abort = new AbortController();
      const asked = client.request('slow', { signal: abort.signal });
      await running;
      abort.abort();
      await expect(asked).rejects.toMatchObject({ code: 'ERR_SOCKTOOL_ABORTED' });
      expect(await seen).toBe('slow');
      await expect(client.request('never', { timeout: 100 })).rejects.toMatchObject({ code: 'ETIMEDOUT' });
      // The connection is still good for the next one.
      expect(await client.request('quick', { timeout: 5000 })).toBe('done');
    } finally {
      await client.close();
      await server.close();
    }
  });

  it('a requester that goes away with its request still running: the handler ends (aborted on streams), the replier serves on', async () => {
    let started!: () => void;
    const running = new Promise<void>((r) => (started = r));
    let ended!: (how: string) => void;
    const end = new Promise<string>((r) => (ended = r));
    const server = await replier(row.at(), async (req: string, ctx: RequestContext) => {
      if (req === 'quick') return 'done';
      started();
      // Streams see the requester go (the signal aborts); datagrams cannot, and the handler runs to its end.
      await new Promise<void>((resolve) => {
        ctx.signal.addEventListener('abort', () => resolve());
        setTimeout(resolve, 300);
      });
      ended(ctx.signal.aborted ? 'aborted' : 'ran out');
      return 'late';
    }, o.server);
    const gone = await requester(where(server.addr), o.client);
    const asked = gone.request('slow');
    await running;
    await gone.close();
    await expect(asked).rejects.toMatchObject({ code: 'ERR_SOCKTOOL_CLOSED' });
    expect(await end).toBe(row.datagram ? 'ran out' : 'aborted');
    const client = await requester(where(server.addr), o.client);
    try {
      expect(await client.request('quick', { timeout: 5000 })).toBe('done');
    } finally {
      await client.close();
      await server.close();
    }
  });

  it('publish/subscribe: prefixes filter at the publisher; a subscriber misses nothing after subscribe() resolves', async () => {
    const pub = await publisher<number>(row.at(), o.server);
    const early = await subscriber<number>(where(pub.addr), 'a.', o.client);
    try {
      expect(pub.subscribers).toBe(1);
      for (let i = 0; i < 40; i++) await pub.publish(i % 2 ? 'b.odd' : 'a.even', i);
      const late = await subscriber<number>(where(pub.addr), ['a.', 'c'], o.client);
      try {
        // Published the moment the late subscriber was told it is subscribed.
        expect(await pub.publish('a.late', 100)).toBe(2);
        expect(await pub.publish('cats', 101)).toBe(1);
        const got: string[] = [];
        for (let i = 0; i < 21; i++) {
          const m = (await early.recv({ signal: AbortSignal.timeout(5000) }))!;
          got.push(`${m.topic}=${m.data}`);
        }
        expect(got).toEqual([...Array.from({ length: 20 }, (_, i) => `a.even=${2 * i}`), 'a.late=100']);
        const lateGot = [await late.recv({ signal: AbortSignal.timeout(5000) }), await late.recv({ signal: AbortSignal.timeout(5000) })];
        expect(lateGot.map((m) => `${m!.topic}=${m!.data}`)).toEqual(['a.late=100', 'cats=101']);
        expect(early.lost + late.lost).toBe(0);
        await late.unsubscribe('a.');
        expect(await pub.publish('a.after', 1)).toBe(1);
      } finally {
        await late.close();
      }
    } finally {
      await early.close();
      await pub.close();
    }
  });

  it('a publisher that closes tells its subscribers: they read what came before, then their iteration ends', async () => {
    const pub = await publisher<number>(row.at(), o.server);
    const sub = await subscriber<number>(where(pub.addr), '', o.client);
    let retried = false;
    sub.on('retrying', () => (retried = true));
    await pub.publish('n', 1);
    await pub.publish('n', 2);
    await pub.close();
    const got: number[] = [];
    for await (const m of sub) got.push(m.data);
    expect(got).toEqual([1, 2]);
    expect(await sub.recv()).toBeNull();
    expect(retried).toBe(false); // ended, not dropped: it does not redial
    await sub.close();
  });

  it('plain messages both ways, each with its peer (uid, gid and pid on unix transports)', async () => {
    const server = await listenChannel<{ n: number; pid: number } | string>(row.at(), o.server);
    const client = await dialChannel<{ n: number; pid: number } | string>(where(server.addr), o.client);
    try {
      await Promise.all([1, 2, 3].map((n) => client.send({ n, pid: process.pid })));
      const got = [];
      for (let i = 0; i < 3; i++) got.push((await server.recv({ signal: AbortSignal.timeout(5000) }))!);
      expect(got.map((m) => (m.data as { n: number }).n).sort()).toEqual([1, 2, 3]);
      const peer: ChannelPeer = got[0]!.peer;
      expect(peer.network).toBe(server.network);
      if (row.unix) expect(peer).toMatchObject({ uid: process.getuid!(), gid: process.getgid!(), pid: process.pid });
      else expect(peer.uid).toBeUndefined();
      if (!row.unix) expect(peer.addr).toMatchObject({ host: row.name === 'tcp6' ? '::1' : '127.0.0.1' });
      expect(server.peers).toHaveLength(1);
      await server.sendTo(peer, 'to you');
      await server.send('to all');
      const back = [await client.recv({ signal: AbortSignal.timeout(5000) }), await client.recv({ signal: AbortSignal.timeout(5000) })];
      expect(back.map((m) => m!.data)).toEqual(['to you', 'to all']);
    } finally {
      await client.close();
      await server.close();
    }
  });

  it(row.unix ? 'descriptors travel with messages and requests' : 'descriptors are refused off unix transports (EOPNOTSUPP)', async () => {
    if (row.unix) return passFds(row, o);
    const server = await listenChannel<string>(row.at(), o.server);
    const client = await dialChannel<string>(where(server.addr), o.client);
    try {
      await expect(client.send('file', { fds: [0] })).rejects.toMatchObject({ code: 'EOPNOTSUPP' });
    } finally {
      await client.close();
      await server.close();
    }
  });

  it('a message over the limit: EMSGSIZE at the sender before sending; the receiver refuses it and says why', async () => {
    const errors: Error[] = [];
    const server = await replier(row.at(), (req: string) => req.length, { ...o.server, maxMessage: 1000, onError: (e) => errors.push(e) });
    const small = await requester(where(server.addr), { ...o.client, maxMessage: 1000 });
    const big = await requester(where(server.addr), o.client);
    try {
      await expect(small.request('x'.repeat(2000))).rejects.toMatchObject({ code: 'EMSGSIZE' });
      expect(await small.request('x'.repeat(900), { timeout: 5000 })).toBe(900);
      const refused = await big.request('y'.repeat(5000), { timeout: 5000 }).catch((e: unknown) => e);
      expect(refused).toBeInstanceOf(ReplyError);
      expect((refused as ReplyError).remote).toMatchObject({ code: 'EMSGSIZE' });
      expect((refused as ReplyError).message).toMatch(/over this server's limit of 1000 bytes/);
      expect(errors.map((e) => (e as { code?: string }).code)).toContain('EMSGSIZE');
    } finally {
      await Promise.all([small.close(), big.close()]);
      await server.close();
    }
  });
});

describe.for(rows.filter((r) => !r.datagram))('$name: a burst', (row) => {
  const o = optionsOf(row);

  it('messages of many sizes sent at once, more than the socket holds, arrive whole and in order', async () => {
    // Writes that wait together go out gathered (several frames in one sendmsg or writev): every boundary must hold.
    // An empty message reads as EOF on seqpacket: refused there, and sent everywhere else.
    const empty = row.name === 'unixpacket' && !row.tls ? 1 : 0;
    const sizes = Array.from({ length: 240 }, (_, i) => [empty, 1, 4, 5, 63, 4095, 4096, 4097, 65_535, 65_536, 65_541, 100_000][i % 12]!);
    const messageOf = (i: number) => Buffer.alloc(sizes[i]!, i & 0xff);
    const server = await listenChannel(row.at(), { ...o.server, codec: 'bytes' });
    const client = await dialChannel(where(server.addr), { ...o.client, codec: 'bytes' });
    try {
      const sent = Promise.all(sizes.map((_, i) => client.send(messageOf(i))));
      for (let i = 0; i < sizes.length; i++) {
        const got = await server.recv({ signal: AbortSignal.timeout(10_000) });
        expect(Buffer.compare(got!.data as Buffer, messageOf(i)), `message ${i} (${sizes[i]} bytes)`).toBe(0);
      }
      await sent;
      if (empty) await expect(client.send(Buffer.alloc(0))).rejects.toMatchObject({ code: 'EINVAL' });
    } finally {
      await client.close();
      await server.close();
    }
  });
});

/** Descriptors in plain messages (between others, so that a byte stream must match them to their frame) and in requests. */
async function passFds(row: Row, o: ReturnType<typeof optionsOf>): Promise<void> {
  const file = join(tempDir(), 'passed.txt');
  writeFileSync(file, 'through the socket');
  const server = await listenChannel<string>(row.at(), o.server);
  const client = await dialChannel<string>(where(server.addr), o.client);
  const fd = openSync(file, 'r');
  try {
    // Surrounded by plain messages, so that on a byte stream the descriptor must be matched to its frame.
    await client.send('before');
    await client.send('with a file', { fds: [fd] });
    await client.send('after');
    const got = [];
    for (let i = 0; i < 3; i++) got.push((await server.recv({ signal: AbortSignal.timeout(5000) }))!);
    expect(got.map((m) => [m.data, m.fds.length])).toEqual([['before', 0], ['with a file', 1], ['after', 0]]);
    expect(readFileSync(got[1]!.fds[0]!, 'utf8')).toBe('through the socket');
    closeSync(got[1]!.fds[0]!);
    // Sent at once, not awaited one by one: the message with the descriptor is not overtaken by the one after it.
    await Promise.all([client.send('first'), client.send('then a file', { fds: [fd] }), client.send('last')]);
    const burst = [];
    for (let i = 0; i < 3; i++) burst.push((await server.recv({ signal: AbortSignal.timeout(5000) }))!);
    expect(burst.map((m) => [m.data, m.fds.length])).toEqual([['first', 0], ['then a file', 1], ['last', 0]]);
    closeSync(burst[1]!.fds[0]!);
  } finally {
    closeSync(fd);
    await client.close();
    await server.close();
  }
  const rep = await replier(row.at(), (_req: null, ctx: RequestContext) => {
    const text = readFileSync(ctx.fds[0]!, 'utf8');
    closeSync(ctx.fds[0]!);
    return text;
  }, o.server);
  const req = await requester(where(rep.addr), o.client);
  const fd2 = openSync(file, 'r');
  try {
    expect(await req.request(null, { fds: [fd2], timeout: 5000 })).toBe('through the socket');
  } finally {
    closeSync(fd2);
    await req.close();
    await rep.close();
  }
}

describe('authkey', () => {
  it('given as undefined or empty (an unset variable) is refused, never a quiet "no authentication"', async () => {
    const at = () => `unix://${sockPath()}`;
    for (const authkey of [undefined, '', Buffer.alloc(0)]) {
      await expect(replier(at(), (x) => x, { authkey })).rejects.toMatchObject({ code: 'EINVAL', op: 'listen' });
      await expect(requester(at(), { authkey, background: true })).rejects.toMatchObject({ code: 'EINVAL', op: 'dial' });
      await expect(listenChannel(at(), { authkey })).rejects.toMatchObject({ code: 'EINVAL' });
    }
    const none = await replier(at(), (x) => x);
    await none.close();
  });
});

describe('a peer that goes away', () => {
  it('is told by disconnected (ECONNRESET), not reported to onError', async () => {
    const errors: Error[] = [];
    const pub = await publisher('tcp://127.0.0.1:0', { onError: (e) => void errors.push(e) });
    const gone = new Promise<Error | undefined>((resolve) => pub.on('disconnected', (_peer: ChannelPeer, err?: Error) => resolve(err)));
    const connected = new Promise((resolve) => pub.once('connected', resolve));
    const conn = await dial(pub.addr);
    try {
      await connected;
      (conn.stream as Socket).resetAndDestroy(); // an RST, as a killed peer's kernel sends
      expect((await gone as NodeJS.ErrnoException | undefined)?.code).toBe('ECONNRESET');
      expect(errors).toEqual([]);
    } finally {
      await conn.close();
      await pub.close();
    }
  });
});
