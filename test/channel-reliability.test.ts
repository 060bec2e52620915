// Channels under failure: a server restarted under a running client, full send queues, backoff.
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { setTimeout as sleep } from 'node:timers/promises';
import { describe, expect, it } from 'vitest';
import { dialChannel, listenChannel, publisher, replier, requester, subscriber, type RetryEvent } from '../src/channel/index.js';
import { formatAddress } from '../src/index.js';
import { closedPort, live, ROOT, sockPath, until } from './helpers.js';

/**
 * Where each restart row's server listens, and what it is listened with: tcp and udp on a port held for the test
 * (closedPort), which the server binds with SO_REUSEADDR, a restart taking its own port again as a real one does.
 */
const RESTART_ROWS = [
  { name: 'tcp', at: () => `tcp://127.0.0.1:${closedPort('tcp')}`, datagram: false, made: {} },
  { name: 'unix', at: () => `unix://${sockPath()}`, datagram: false, made: {} },
  { name: 'unixpacket', at: () => `unixpacket://${sockPath()}`, datagram: false, made: {} },
  { name: 'unixgram', at: () => `unixgram://${sockPath()}`, datagram: true, made: {} },
  { name: 'udp', at: () => `udp://127.0.0.1:${closedPort('udp')}`, datagram: true, made: { reuseAddr: true } },
];

describe('a server restarted under a running client', () => {
  it.for(RESTART_ROWS)('$name: in-flight requests fail with the documented code, the client reconnects and the next request succeeds', async (row) => {
    const addr = row.at();
    let started!: () => void;
    const hanging = new Promise<void>((r) => (started = r));
    const first = await replier(addr, (req: string) => (req === 'hang' ? (started(), new Promise(() => {})) : 'first'), { ...row.made, onError: () => {} });
    const events: string[] = [];
    const client = await requester(addr, { reconnect: { initial: 50, max: 200 }, onError: () => {} });
    client.on('connected', () => events.push('connected')).on('disconnected', () => events.push('disconnected'))
      .on('retrying', () => events.push('retrying'));
    try {
      expect(await client.request('x', { timeout: 5000 })).toBe('first');
      // Streams see the drop: what was out fails at once. Datagrams have no connection: only its timeout ends it.
      const inFlight = client.request('hang', row.datagram ? { timeout: 300 } : {});
      await hanging;
      await first.close();
      await expect(inFlight).rejects.toMatchObject({ code: row.datagram ? 'ETIMEDOUT' : 'ERR_SOCKTOOL_DISCONNECTED' });
      // Asked while no server is there: it waits in the queue (udp, having no connection, sends it into the void).
      const queued = row.name === 'udp' ? undefined : client.request('while away', { timeout: 10_000 });
      // The server comes back once the client has found it gone and tried again. udp learns it only from the
      // refusal of the cancel its timeout sent, and redials at once (a udp socket connects to nobody): wait for
      // that, else the refusal would be read as the answer to the next request.
      await until(() => events.includes(row.name === 'udp' ? 'connected' : 'retrying'), 'a redial');
      const second = await replier(addr, () => 'second', { ...row.made, onError: () => {} });
      try {
        if (queued) expect(await queued).toBe('second');
        expect(await client.request('y', { timeout: 5000 })).toBe('second');
        if (!row.datagram) {
          // Listened to after the first connect: the drop comes first.
          expect(events[0]).toBe('disconnected');
          expect(events).toContain('retrying');
          expect(events.at(-1)).toBe('connected');
        }
      } finally {
        await second.close();
      }
    } finally {
      await client.close();
    }
  });

  it('a subscriber renews its subscriptions after the publisher crashes and restarts (a close() would end it instead)', async () => {
    const addr = `unix://${sockPath()}`;
    // The first publisher is a process of its own, killed: a crash sends no end, so the subscriber redials.
    const channel = pathToFileURL(join(ROOT, 'dist', 'channel', 'index.js')).href;
    const first = live(process.execPath, ['--input-type=module', '-e',
      `const { publisher } = await import(${JSON.stringify(channel)});
       const p = await publisher(${JSON.stringify(addr)});
       console.log('listening');
       setInterval(() => p.publish('news', 1), 20);`]);
    await first.waitFor(/^listening\n/);
    const sub = await subscriber<number>(addr, 'news', { reconnect: { initial: 50, max: 200 }, onError: () => {} });
    try {
      expect((await sub.recv({ signal: AbortSignal.timeout(5000) }))!.data).toBe(1);
      first.child.kill('SIGKILL');
      await first.exited;
      const second = await publisher<number>(addr);
      try {
        await until(() => second.subscribers > 0, 'the subscriber back');
        expect(second.subscribers).toBe(1);
        expect(await second.publish('news', 2)).toBe(1);
        // Whatever the first sent before it died may still be queued; then the second's message.
        for (let m = await sub.recv({ signal: AbortSignal.timeout(5000) }); ; m = await sub.recv({ signal: AbortSignal.timeout(5000) })) {
          if (m!.data === 2) break;
          expect(m!.data).toBe(1);
        }
      } finally {
        await second.close();
      }
    } finally {
      await sub.close();
    }
  });
});

describe('giving up on a request', () => {
  // Not udp: a udp requester "connects" at once, so its requests go out (and the port's refusal fails them).
  it.for(RESTART_ROWS.filter((r) => r.name !== 'udp'))('$name: one given up on while still queued is withdrawn: the replier never sees it', async (row) => {
    const addr = row.at();
    const client = await requester<string, string>(addr, { background: true }); // nothing there yet: requests queue
    await expect(client.request('given up', { timeout: 100 })).rejects.toMatchObject({ code: 'ETIMEDOUT' });
    const aborted = new AbortController();
    const gone = client.request('aborted', { signal: aborted.signal });
    aborted.abort();
    await expect(gone).rejects.toBeDefined();
    const seen: string[] = [];
    const server = await replier<string, string>(addr, (m) => (seen.push(m), m), row.made);
    try {
      expect(await client.request('wanted', { timeout: 5000 })).toBe('wanted');
      expect(seen).toEqual(['wanted']);
    } finally {
      await client.close();
      await server.close();
    }
  });
});

describe('backoff', () => {
  it('redials after ~initial ms, growing ×factor to the cap, jittered ±20%; never failing a background dial', async () => {
    const events: RetryEvent[] = [];
    const ch = await dialChannel(`unix://${sockPath()}`, { background: true, reconnect: { initial: 100, factor: 1.6, max: 400 } });
    try {
      await new Promise<void>((done) => ch.on('retrying', (e) => events.push(e) === 6 && done()));
      events.forEach((e, i) => {
        const expected = Math.min(100 * 1.6 ** i, 400);
        expect(e.attempt).toBe(i + 1);
        expect(e.delay).toBeGreaterThanOrEqual(Math.floor(expected * 0.8));
        expect(e.delay).toBeLessThanOrEqual(Math.ceil(expected * 1.2));
        expect(e.error).toMatchObject({ code: 'ENOENT' });
      });
    } finally {
      await ch.close();
    }
  });

  it('a first dial that fails rejects (unless background), naming why', async () => {
    await expect(dialChannel(`unix://${sockPath()}`)).rejects.toMatchObject({ code: 'ENOENT', op: 'dial' });
    await expect(requester(`tcp://127.0.0.1:${closedPort()}`)).rejects.toMatchObject({ code: 'ECONNREFUSED' });
  });
});

describe('backpressure', () => {
  /** A channel dialled while nobody listens, so that what is sent queues; `open()` then starts the server. */
  async function queued(policy: 'wait' | 'fail' | 'drop-newest' | 'drop-oldest', highWater: { messages?: number; bytes?: number }) {
    const path = sockPath();
    const client = await dialChannel<string>(`unix://${path}`, { background: true, policy, highWater, reconnect: { initial: 20, max: 50 } });
    return {
      client,
      /** Starts a server and reads `n` messages from it. */
      async deliver(n: number): Promise<string[]> {
        const server = await listenChannel<string>(`unix://${path}`);
        const got: string[] = [];
        try {
          for (let i = 0; i < n; i++) got.push((await server.recv({ signal: AbortSignal.timeout(5000) }))!.data);
          // Nothing more follows.
          await expect(server.recv({ signal: AbortSignal.timeout(200) })).rejects.toMatchObject({ code: 'ETIMEDOUT' });
        } finally {
          await client.close();
          await server.close();
        }
        return got;
      },
    };
  }

  it('fail: a send past the high-water mark rejects with EAGAIN; the queued ones go out in order', async () => {
    const q = await queued('fail', { messages: 3 });
    const sent = ['1', '2', '3'].map((m) => q.client.send(m));
    await expect(q.client.send('4')).rejects.toMatchObject({ code: 'EAGAIN' });
    const got = q.deliver(3);
    await Promise.all(sent);
    expect(await got).toEqual(['1', '2', '3']);
  });

  it('fail counts bytes too', async () => {
    const q = await queued('fail', { bytes: 100 });
    const first = q.client.send('a'.repeat(58)); // 60 bytes as JSON
    await expect(q.client.send('b'.repeat(58))).rejects.toMatchObject({ code: 'EAGAIN' });
    expect(await q.deliver(1)).toEqual(['a'.repeat(58)]);
    await first;
  });

  it('drop-newest: the new message is dropped and counted', async () => {
    const q = await queued('drop-newest', { messages: 3 });
    await Promise.all(['1', '2', '3', '4', '5'].map((m) => (m > '3' ? q.client.send(m) : (void q.client.send(m), undefined))));
    expect(q.client.dropped).toBe(2);
    expect(await q.deliver(3)).toEqual(['1', '2', '3']);
  });

  it('drop-oldest: the oldest queued message makes room, and is counted', async () => {
    const q = await queued('drop-oldest', { messages: 3 });
    const sends = ['1', '2', '3', '4', '5'].map((m) => q.client.send(m));
    expect(q.client.dropped).toBe(2);
    expect(await q.deliver(3)).toEqual(['3', '4', '5']);
    await Promise.all(sends);
  });

  it('wait: many concurrent sends past the mark all arrive, in order', async () => {
    const q = await queued('wait', { messages: 3 });
    const messages = Array.from({ length: 50 }, (_, i) => `m${i}`);
    const sends = messages.map((m) => q.client.send(m));
    const got = q.deliver(50);
    await Promise.all(sends);
    expect(await got).toEqual(messages);
  });

  it('a slow subscriber loses the newest at the publisher (counted), and what it gets stays in order', async () => {
    const addr = `unix://${sockPath()}`;
    const pub = await publisher<number>(addr, { highWater: { messages: 5 } });
    const sub = await subscriber<number>(addr, '', { inbox: 1 });
    try {
      const total = 5000;
      const payload = 'x'.repeat(1000);
      for (let i = 0; i < total; i++) await pub.publish(payload, i);
      expect(pub.dropped).toBeGreaterThan(0);
      const got: number[] = [];
      for (;;) {
        const m = await sub.recv({ signal: AbortSignal.timeout(300) }).catch(() => null);
        if (!m) break;
        got.push(m.data);
      }
      expect(got.length + pub.dropped).toBe(total);
      expect(got).toEqual([...got].sort((a, b) => a - b));
      expect(got[0]).toBe(0);
    } finally {
      await sub.close();
      await pub.close();
    }
  });
});

describe('before closing', () => {
  it('waitForSubscribers resolves at the count; flush waits until a subscriber that was not reading has taken everything', async () => {
    const addr = `unix://${sockPath()}`;
    const pub = await publisher<string>(addr, { highWater: { messages: 100_000, bytes: 1 << 30 } });
    const early = pub.waitForSubscribers(1);
    const sub = await subscriber<string>(addr, '', { inbox: 1 });
    await early;
    await expect(pub.waitForSubscribers(2, { signal: AbortSignal.timeout(100) })).rejects.toMatchObject({ code: 'ETIMEDOUT' });
    try {
      // More than the kernel's buffers hold while the subscriber is not reading: the rest waits in the queue.
      const total = 2000;
      for (let i = 0; i < total; i++) await pub.publish('t', `${i}:${'x'.repeat(4000)}`);
      let flushed = false;
      const flushing = pub.flush().then(() => (flushed = true));
      await sleep(100);
      expect(flushed).toBe(false);
      let got = 0;
      for await (const _ of sub) if (++got === total) break;
      await flushing;
      expect([got, pub.dropped]).toEqual([total, 0]);
    } finally {
      await sub.close();
      await pub.close();
    }
    await expect(pub.waitForSubscribers(1)).rejects.toMatchObject({ code: 'ERR_SOCKTOOL_CLOSED' });
  });

  it.for(['unix', 'tcp'])('%s: a process that exits right after flush() has sent everything', async (network) => {
    const server = await listenChannel(network === 'unix' ? `unix://${sockPath()}` : 'tcp://127.0.0.1:0', { codec: 'bytes', inbox: 4 });
    const total = 2000;
    // The sender writes faster than this side reads (this side starts once the sender is sending, and reads slower
    // than it writes), so the sender's last messages wait in its own process when it calls flush(): exiting then
    // must not lose them.
    const sender = live(process.execPath, ['--input-type=module', '-e', `
      const { dialChannel } = await import(${JSON.stringify(join(ROOT, 'dist/channel/index.js'))});
      const out = await dialChannel(${JSON.stringify(formatAddress(server.addr))}, { codec: 'bytes' });
      for (let i = 0; i < ${total}; i++) {
        await out.send(Buffer.alloc(4000, i & 0xff));
        if (i === 0) console.log('sending');
      }
      await out.flush();
      process.exit(0);`]);
    try {
      await sender.waitFor(/^sending\n/);
      let got = 0;
      for await (const m of server) {
        expect((m.data as Buffer)[0]).toBe(got & 0xff);
        if (++got === total) break;
        if (got % 50 === 0) await sleep(5); // slower than the sender to the end: its buffers stay full
      }
      expect(got).toBe(total);
      expect((await sender.exited).code).toBe(0);
    } finally {
      sender.child.kill();
      await server.close();
    }
  });
});

describe('addresses', () => {
  it('formatAddress of a listening channel dials it (port 0 and paths resolved)', async () => {
    const server = await listenChannel('tcp://127.0.0.1:0');
    try {
      expect(formatAddress(server.addr)).toMatch(/^tcp:\/\/127\.0\.0\.1:[1-9]\d*$/);
    } finally {
      await server.close();
    }
  });
});
