// Interop with Python's multiprocessing.connection: its Client and Listener, with and without authkey, talk to
// socktool channels (bytes codec) over AF_UNIX and AF_INET, both ways.
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { dialChannel, listenChannel, publisher, replier, type Channel } from '../src/channel/index.js';
import type { Address } from '../src/index.js';
import { live, PEERS, ROOT, run, sockPath } from './helpers.js';

const PEER = join(PEERS, 'mp_peer.py');

interface Row {
  name: string;
  family: 'AF_UNIX' | 'AF_INET';
  authkey?: string;
}

const ROWS: Row[] = [
  { name: 'AF_UNIX', family: 'AF_UNIX' },
  { name: 'AF_UNIX with authkey', family: 'AF_UNIX', authkey: 'sesame' },
  { name: 'AF_INET', family: 'AF_INET' },
  { name: 'AF_INET with authkey', family: 'AF_INET', authkey: 'sesame' },
];

/** Messages across the frame sizes: empty, text, UTF-8, 100 KB. */
const MESSAGES = ['', 'hello', '红烧肉', '*100000'];
const bytesOf = (m: string) => (m.startsWith('*') ? Buffer.alloc(Number(m.slice(1)), 'x') : Buffer.from(m));
/** Python's bytes.upper(): ASCII letters only. */
const upper = (b: Buffer) => Buffer.from(b.map((c) => (c >= 0x61 && c <= 0x7a ? c - 32 : c)));
/** The hex lines a peer printed, as bytes (an empty message is an empty line). */
const hexLines = (text: string, from = 0, count = MESSAGES.length) => text.split('\n').slice(from, from + count).map((h) => Buffer.from(h, 'hex'));

describe.for(ROWS)('Python multiprocessing.connection, $name', (row) => {
  const at = () => (row.family === 'AF_UNIX' ? `unix://${sockPath()}` : 'tcp://127.0.0.1:0');
  const pyAddress = (ch: Channel<Buffer>) => ('path' in ch.addr ? ch.addr.path : `${ch.addr.host}:${ch.addr.port}`);

  it('its Client sends to a socktool listener and reads the answers', async () => {
    const server = await listenChannel<Buffer>(at(), { codec: 'bytes', ...(row.authkey && { authkey: row.authkey }), onError: () => {} });
    try {
      const client = run('python3', [PEER, 'client', row.family, pyAddress(server), row.authkey ?? '-', ...MESSAGES]);
      for (const m of MESSAGES) {
        const got = (await server.recv({ signal: AbortSignal.timeout(10_000) }))!;
        expect(got.data.equals(bytesOf(m))).toBe(true);
        await server.sendTo(got.peer, upper(got.data));
      }
      const ran = await client;
      expect(ran.stdout).not.toMatch(/error/);
      expect(hexLines(ran.stdout)).toEqual(MESSAGES.map((m) => upper(bytesOf(m))));
      expect(ran.code).toBe(0);
    } finally {
      await server.close();
    }
  });

  it('a socktool channel dials its Listener', async () => {
    const py = live('python3', [PEER, 'listen', row.family, row.family === 'AF_UNIX' ? sockPath() : '127.0.0.1:0', row.authkey ?? '-', String(MESSAGES.length)]);
    const [, where] = await py.waitFor(/^listening\n(.+)\n/, 10_000);
    const addr = row.family === 'AF_UNIX' ? `unix://${where}` : `tcp://${where}`;
    const client = await dialChannel<Buffer>(addr, { codec: 'bytes', ...(row.authkey && { authkey: row.authkey }), reconnect: false });
    try {
      for (const m of MESSAGES) await client.send(bytesOf(m));
      for (const m of MESSAGES) {
        const got = (await client.recv({ signal: AbortSignal.timeout(10_000) }))!;
        expect(got.data.equals(upper(bytesOf(m)))).toBe(true);
      }
      expect((await py.exited).code).toBe(0);
      expect(hexLines(py.stdout(), 2)).toEqual(MESSAGES.map(bytesOf));
    } finally {
      await client.close();
    }
  });
});

describe.for(ROWS.filter((r) => r.authkey))('Python multiprocessing.connection, $name', (row) => {
  const at = () => (row.family === 'AF_UNIX' ? `unix://${sockPath()}` : 'tcp://127.0.0.1:0');
  const pyAddress = (ch: Channel<Buffer>) => ('path' in ch.addr ? ch.addr.path : `${ch.addr.host}:${ch.addr.port}`);

  it('a wrong key is refused on both sides, with EACCES', async () => {
    const errors: Error[] = [];
    const server = await listenChannel<Buffer>(at(), { codec: 'bytes', authkey: 'other', onError: (e) => errors.push(e) });
    try {
      const ran = await run('python3', [PEER, 'client', row.family, pyAddress(server), row.authkey!, 'hi']);
      expect(ran.stdout).toMatch(/^error: AuthenticationError/);
      expect(errors.map((e) => (e as { code?: string }).code)).toContain('EACCES');
      expect(server.refused).toBe(1);
    } finally {
      await server.close();
    }
    const py = live('python3', [PEER, 'listen', row.family, row.family === 'AF_UNIX' ? sockPath() : '127.0.0.1:0', row.authkey!, '1']);
    const [, where] = await py.waitFor(/^listening\n(.+)\n/, 10_000);
    const addr = row.family === 'AF_UNIX' ? `unix://${where}` : `tcp://${where}`;
    await expect(dialChannel(addr, { codec: 'bytes', authkey: 'wrong', reconnect: false })).rejects.toMatchObject({ code: 'EACCES' });
    expect(await py.waitFor(/error: AuthenticationError/)).toBeTruthy();
  });
});

/** examples/python/channel_client.py: the wire protocol of docs/channel.md, in Python's standard library alone. */
const CLIENT = join(ROOT, 'examples', 'python', 'channel_client.py');

describe.for([
  { name: 'unix', at: () => `unix://${sockPath()}`, py: (a: Address) => `unix:${(a as { path: string }).path}` },
  { name: 'tcp', at: () => 'tcp://127.0.0.1:0', py: (a: Address) => `tcp:127.0.0.1:${(a as { port: number }).port}` },
  { name: 'tcp with an authkey', at: () => 'tcp://127.0.0.1:0', py: (a: Address) => `tcp:127.0.0.1:${(a as { port: number }).port}`, authkey: 'sesame' },
])('the Python channel client on $name', (row) => {
  const key = row.authkey ? { authkey: row.authkey } : {};
  const keyArgs = row.authkey ? ['--authkey', row.authkey] : [];

  it('requests of a replier: the reply printed; an error reply on stderr with exit 7', async () => {
    const server = await replier(row.at(), (req: { a: number; b: number }) => {
      if (typeof req.a !== 'number') throw new TypeError('a must be a number');
      return { sum: req.a + req.b };
    }, { ...key, onError: () => {} });
    try {
      const ok = await run('python3', [CLIENT, 'request', row.py(server.addr), '{"a": 1, "b": 2}', ...keyArgs]);
      expect([ok.code, ok.stdout, ok.stderr]).toEqual([0, '{"sum": 3}\n', '']);
      const bad = await run('python3', [CLIENT, 'request', row.py(server.addr), '{"a": "one", "b": 2}', ...keyArgs]);
      expect([bad.code, bad.stdout, bad.stderr]).toEqual([7, '', 'TypeError: a must be a number\n']);
    } finally {
      await server.close();
    }
  });

  it('subscribes to a publisher: after the ack, the publications on its prefix, in order', async () => {
    const pub = await publisher(row.at(), key);
    try {
      const sub = live('python3', [CLIENT, 'subscribe', row.py(pub.addr), 'news.', '--count', '2', ...keyArgs]);
      await sub.waitFor(/^subscribed\n/);
      await pub.publish('news.a', { x: 1 });
      await pub.publish('sport', { y: 2 });
      await pub.publish('news.b', 3);
      expect(await sub.exited).toEqual({ code: 0, signal: null });
      expect(sub.stdout()).toBe('subscribed\nnews.a {"x": 1}\nnews.b 3\n');
    } finally {
      await pub.close();
    }
  });

  it('a subscriber ends when its publisher closes (the end envelope)', async () => {
    const pub = await publisher(row.at(), key);
    const sub = live('python3', [CLIENT, 'subscribe', row.py(pub.addr), ...keyArgs]);
    await sub.waitFor(/^subscribed\n/);
    await pub.publish('last', 'word');
    await pub.close();
    expect(await sub.exited).toEqual({ code: 0, signal: null });
    expect(sub.stdout()).toBe('subscribed\nlast "word"\n');
  });
});
