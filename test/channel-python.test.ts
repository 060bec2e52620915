// Interop with Python's multiprocessing.connection: its Client and Listener, with and without authkey, talk to
// socktool channels (bytes codec) over AF_UNIX and AF_INET, both ways.
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { dialChannel, listenChannel, type Channel } from '../src/channel/index.js';
import { live, PEERS, run, sockPath } from './helpers.js';

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
