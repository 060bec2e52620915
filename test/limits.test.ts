// The one budget every server holds to (src/core/budget.ts): bytes, places and time, against hostile, slow and
// silent peers, tried by real peers (Python's socket module, processes stopped mid-conversation) on every row.
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { listenChannel, replier, requester, type ChannelPeer } from '../src/channel/index.js';
import { Budget, Notices, Slots } from '../src/core/budget.js';
import { dial, echo, formatAddress, NetError, serve, type Address } from '../src/index.js';
import { ROWS } from './channel-rows.js';
import { abstractName, BIN, cli, cliServer, live, makeCert, needs, PEERS, ROOT, run, sockPath, stopLive, until } from './helpers.js';
import { healthyRequester, hostile } from './hostile.js';

/** Errors a server reported, by code. */
function collector() {
  const errors: NetError[] = [];
  return {
    errors,
    onError: (err: Error) => void errors.push(err as NetError),
    codes: () => errors.map((e) => e.code),
  };
}

describe('the budget itself', () => {
  it('a peer past its bytes stops; past the server total, those holding more than a fair share stop, the small go on', () => {
    const b = new Budget({ peerBytes: 100, serverBytes: 300 });
    const big = b.account();
    const small = b.account();
    big.add(99);
    expect(big.allowed).toBe(true);
    big.add(1);
    expect(big.allowed).toBe(false);
    expect(big.whenAllowed()).toBeInstanceOf(Promise);
    // The message being received does not count against the peer's own limit (the message limit bounds it).
    big.add(-100);
    big.setUnfinished(250);
    expect(big.allowed).toBe(true);
    small.add(60);
    // 310 held in all, over 300: an equal share is 150; the big one stops, the small one goes on.
    expect(b.held).toBe(310);
    expect(big.allowed).toBe(false);
    expect(small.allowed).toBe(true);
    big.close();
    expect(b.held).toBe(60);
    expect(b.holders).toBe(1);
  });

  it('a waiting reader is woken once there is room, and when its account closes', async () => {
    const b = new Budget({ peerBytes: 10, serverBytes: 1000 });
    const a = b.account();
    a.add(10);
    let woke = false;
    void a.whenAllowed()!.then(() => (woke = true));
    a.add(-5);
    await until(() => woke, 'the wake-up');
    a.add(10);
    let closed = false;
    void a.whenAllowed()!.then(() => (closed = true));
    a.close();
    await until(() => closed, 'the wake-up on close');
    expect(b.held).toBe(0);
  });

  it('memory is given back once what was held is let go of', () => {
    let reclaimed = 0;
    const b = new Budget({}, () => reclaimed++);
    const a = b.account();
    a.add(32 << 20);
    expect(reclaimed).toBe(0);
    a.add(-(31 << 20));
    expect(reclaimed).toBe(1);
  });

  it('bad limits are refused', () => {
    expect(() => new Budget({ peerBytes: 0 })).toThrow(RangeError);
    expect(() => new Budget({ serverBytes: 1.5 })).toThrow(RangeError);
  });

  it('slots: a newcomer takes the place of the first-come silent peer; when all have spoken it is refused', () => {
    const heard = new Set<string>();
    const slots = new Slots<string>(2, (p) => heard.has(p));
    const evicted: string[] = [];
    expect(slots.admit('a', (p) => evicted.push(p))).toBe(true);
    expect(slots.admit('b', (p) => evicted.push(p))).toBe(true);
    heard.add('a');
    expect(slots.admit('c', (p) => evicted.push(p))).toBe(true);
    expect(evicted).toEqual(['b']);
    heard.add('c');
    expect(slots.admit('d', (p) => evicted.push(p))).toBe(false);
    slots.free('a');
    expect(slots.admit('d', (p) => evicted.push(p))).toBe(true);
  });

  it('notices: the first of a kind at once, the rest as one count per window', () => {
    const told: string[] = [];
    const n = new Notices((e) => told.push(e.message), 60_000);
    for (let i = 0; i < 5; i++) n.say('refused', new NetError({ op: 'accept', code: 'ECONNREFUSED', detail: `refused ${i}` }));
    expect(told).toHaveLength(1);
    n.flush();
    expect(told).toHaveLength(2);
    expect(told[1]).toMatch(/and 4 more within 60 s: refused/);
  });
});

const STREAMS = [
  ['tcp', () => 'tcp://127.0.0.1:0'],
  ['unix', () => `unix://${sockPath()}`],
  ['unix abstract', () => `unix:@${abstractName()}`],
  ['unixpacket', () => `unixpacket://${sockPath()}`],
] as const;

describe.each(STREAMS)('serve() on %s: places', (_name, at) => {
  it('a connection silent since it came gives its place to a newcomer; full of talkers, a newcomer is refused as such', async () => {
    const c = collector();
    const server = await serve(at(), echo, { maxConns: 3, onError: c.onError });
    const silent = await Promise.all([1, 2, 3].map(() => dial(server.addr)));
    try {
      // A fourth comes: the first silent one is closed to make room, and the newcomer is served.
      const fresh = await dial(server.addr);
      await fresh.write('hello');
      expect((await fresh.read())!.toString()).toBe('hello');
      expect(await silent[0]!.read()).toBeNull();
      expect(c.codes()).toContain('ECONNRESET');
      // The others talk too: all three places are held by peers that have spoken; a newcomer is refused.
      for (const conn of silent.slice(1)) {
        await conn.write('x');
        expect((await conn.read())!.toString()).toBe('x');
      }
      const refused = await dial(server.addr);
      expect(await refused.read().catch(() => null)).toBeNull();
      await until(() => c.codes().includes('ECONNREFUSED'), 'the refusal notice');
      const why = c.errors.find((e) => e.code === 'ECONNREFUSED')!;
      expect(why.message).toMatch(/3 clients already connected, all active/);
      expect(c.codes()).not.toContain('EMFILE');
      await Promise.all([fresh.close(), refused.close()]);
    } finally {
      await Promise.all(silent.map((s) => s.close()));
      await server.close();
    }
  });
});

describe('serve() over TLS: handshakes hold places', () => {
  it('connections that never finish a handshake count against maxConns, and give their places to a real client', async () => {
    const cert = makeCert();
    const c = collector();
    const server = await serve('tcp://127.0.0.1:0', echo, {
      maxConns: 2, onError: c.onError, tls: { cert: readFileSync(cert.cert), key: readFileSync(cert.key) },
    });
    // Two plain connections that never say a word: both places taken.
    const mute = await Promise.all([1, 2].map(() => dial(server.addr)));
    try {
      const client = await dial(formatAddress(server.addr), { tls: { ca: readFileSync(cert.cert), servername: 'localhost' } });
      await client.write('over tls');
      expect((await client.read())!.toString()).toBe('over tls');
      await client.close();
      expect(await mute[0]!.read()).toBeNull(); // closed to make room
    } finally {
      await Promise.all(mute.map((m) => m.close()));
      await server.close();
    }
  });
});

/** The stream rows a raw Python peer can speak on (TLS aside). */
const RAW_STREAMS = ROWS.filter((r) => !r.datagram && !r.tls && r.name !== 'tcp6');

describe.for(RAW_STREAMS)('replier on $name: what a peer can make it hold', (row) => {
  it('a requester that never reads its replies is held back (its sender blocks), and others are served meanwhile', async () => {
    const c = collector();
    const server = await replier(row.at(), (x: Buffer) => x, { codec: 'bytes', peerBytes: 1 << 20, onError: c.onError });
    const greedy = await hostile('never-read', server.addr, 400, 64 * 1024);
    try {
      // 400 × 64 KiB = 25 MiB asked; the server held about 1 MiB for it (and the kernel its buffers), so the sender blocked.
      expect(greedy.ready.requests_sent).toBeLessThan(400);
      await (await healthyRequester(formatAddress(server.addr))).close();
    } finally {
      await greedy.finish();
      await server.close();
    }
  });

  it('silent connections from one source give their places to a healthy requester; they are closed when no message comes', async () => {
    const c = collector();
    const server = await replier(row.at(), (x: Buffer) => x, { codec: 'bytes', maxPeers: 20, firstMessageTimeout: 3000, onError: c.onError });
    const idle = await hostile('idle', server.addr, 60);
    try {
      const other = await healthyRequester(formatAddress(server.addr));
      // The idle ones that kept their places are closed for saying nothing, the rest were closed to make room.
      await until(() => c.codes().includes('ETIMEDOUT'), 'the first-message timeout');
      await until(async () => (await idle.closedByServer()) === 60, 'all 60 closed');
      expect(c.codes()).not.toContain('EMFILE');
      expect(other.peers).toHaveLength(1); // the healthy one is still connected
      await other.close();
    } finally {
      await idle.finish();
      await server.close();
    }
  });
});

/**
 * The unix rows whose messages are framed in a byte stream (seqpacket keeps each one whole: no frame is ever
 * unfinished). TCP's loopback buffers grow to megabytes a connection, so its case (60 × 16 MiB, with the server's
 * memory measured) is in the stress suite, not here beside the other tests.
 */
const FRAMED = RAW_STREAMS.filter((r) => r.unix && r.name !== 'unixpacket');

describe.for(FRAMED)('replier on $name: unfinished frames', (row) => {
  it('unfinished frames hold no more than the server total; a healthy requester is served meanwhile', async () => {
    const c = collector();
    const server = await replier(row.at(), (x: Buffer) => x, { codec: 'bytes', serverBytes: 1 << 20, onError: c.onError });
    // 8 connections each announce 4 MiB and send all but the last 100 bytes: 32 MiB asked for, against a server
    // total of 1 MiB and the kernel's buffers of some 200 KiB a connection.
    const slow = await hostile('unfinished', server.addr, 8, 4 << 20);
    try {
      expect(slow.ready.connected).toBe(8);
      expect(slow.ready.bytes_sent).toBeLessThan(8 * ((4 << 20) - 96));
      await (await healthyRequester(formatAddress(server.addr))).close();
    } finally {
      await slow.finish();
      await server.close();
    }
  });

});

describe('replier with an authkey: handshakes hold places', () => {
  it('connections stuck in the authkey handshake count against maxPeers, and give their places to a requester with the key', async () => {
    const server = await replier(`unix://${sockPath()}`, (x: string) => x, { authkey: 'k', maxPeers: 2, onError: () => {} });
    const stuck = await Promise.all([1, 2].map(() => dial(server.addr)));
    try {
      const ok = await requester(formatAddress(server.addr), { authkey: 'k' });
      expect(await ok.request('in', { timeout: 20_000 })).toBe('in');
      await ok.close();
      // The first of the stuck ones was closed to make room (its challenge is read, then the end).
      const first: Buffer[] = [];
      for await (const chunk of stuck[0]!) first.push(chunk);
      expect(Buffer.concat(first).toString()).toContain('#CHALLENGE#');
    } finally {
      await Promise.all(stuck.map((s) => s.close()));
      await server.close();
    }
  });
});

/** A row's TLS material: a certificate for localhost, as CLI flags and as library options. */
function tlsOf(row: (typeof ROWS)[number]) {
  if (!row.tls) return { cliServer: [] as string[], caFile: [] as string[], server: {}, client: {} };
  const cert = makeCert();
  return {
    cliServer: ['--tls', '--cert', cert.cert, '--key', cert.key],
    caFile: [cert.cert],
    server: { tls: { cert: readFileSync(cert.cert), key: readFileSync(cert.key) } },
    client: { tls: { ca: readFileSync(cert.cert), servername: 'localhost' } },
  };
}

describe.for(ROWS.filter((r) => r.name !== 'tcp6'))('heartbeats on $name', (row) => {
  it('a requester finds a stopped replier dead within three intervals', async () => {
    const tls = tlsOf(row);
    // The replier in a process of its own, stopped mid-conversation (SIGSTOP): its socket stays open, it answers nothing.
    const server = await cliServer(['reply', row.at(), '--echo', ...tls.cliServer]);
    const gone: Error[] = [];
    const client = await requester(server.address, { heartbeat: 100, reconnect: false, ...tls.client, onError: () => {} });
    client.on('disconnected', (_peer: ChannelPeer, err: Error | undefined) => void (err && gone.push(err)));
    try {
      expect(await client.request('before', { timeout: 20_000 })).toBe('before');
      server.child.kill('SIGSTOP');
      await until(() => gone.length > 0, 'the dead replier');
      expect(gone[0]).toMatchObject({ code: 'ETIMEDOUT' });
      expect(gone[0]!.message).toMatch(/no heartbeat from the peer .* \(3 intervals of 100 ms\)/);
    } finally {
      server.child.kill('SIGCONT');
      await client.close();
      await stopLive(server);
    }
  });

  it('a replier forgets a stopped requester, and never takes a live idle one for dead', async () => {
    const tls = tlsOf(row);
    const left: Error[] = [];
    // 300 ms: a live peer is judged dead only after some 800 ms without a word, more than a busy machine stalls.
    const server = await replier(row.at(), (x: string) => x, { heartbeat: 300, ...tls.server, onError: () => {} });
    server.on('disconnected', (_peer: ChannelPeer, err: Error | undefined) => void (err && left.push(err)));
    const idle = await requester(formatAddress(server.addr), { heartbeat: 300, ...tls.client, onError: () => {} });
    let idleDropped = false;
    idle.on('disconnected', () => (idleDropped = true));
    // Another requester in a process of its own, stopped once it has had its reply.
    const other = live(process.execPath, [join(ROOT, 'test', 'programs', 'requester.mjs'), formatAddress(server.addr), '300', ...tls.caFile]);
    try {
      await other.waitFor(/^hi\n/, 20_000);
      other.child.kill('SIGSTOP');
      await until(() => left.length > 0, 'the stopped requester forgotten');
      expect(left[0]).toMatchObject({ code: 'ETIMEDOUT' });
      // Three intervals and more have passed: the live one, idle all along, was never dropped and is still answered.
      expect(idleDropped).toBe(false);
      expect(await idle.request('still', { timeout: 20_000 })).toBe('still');
    } finally {
      other.child.kill('SIGKILL');
      await idle.close();
      await server.close();
    }
  });
});

describe('heartbeat options', () => {
  it('are refused where they cannot apply: a plain channel has none, and an interval is a whole number of ms', async () => {
    await expect(listenChannel(`unix://${sockPath()}`, { heartbeat: 100 } as never)).rejects.toMatchObject({ code: 'EINVAL' });
    await expect(replier(`unix://${sockPath()}`, (x) => x, { heartbeat: -1 })).rejects.toMatchObject({ code: 'EINVAL' });
    const off = await replier(`unix://${sockPath()}`, (x) => x, { heartbeat: 0 });
    await off.close();
  });
});

describe('the limit flags', () => {
  it('are usage errors where they cannot apply or are out of range (exit 2, one line)', async () => {
    const dgram = await cli(['reply', 'udp://127.0.0.1:0', '--echo', '--first-message-timeout', '100']);
    expect(dgram.code).toBe(2);
    expect(dgram.stderr).toBe('socktool: --first-message-timeout does not apply: udp carries datagrams: there is no connection to close\n');
    const small = await cli(['serve', 'tcp://127.0.0.1:0', '--peer-bytes', '10']);
    expect(small.code).toBe(2);
    expect(small.stderr.trim().split('\n')).toHaveLength(1);
    expect(small.stderr).toMatch(/--peer-bytes/);
  });
});

describe('unixgram backlogs', () => {
  it('a peer that floods without reading its replies loses its own input, counted; the others lose nothing', async () => {
    // A share of 2 MiB: more than a healthy sender here ever has unanswered (500 × about 860 bytes held each).
    const server = await serve(`unixgram://${sockPath()}`, echo, { peerBytes: 2 << 20, onError: () => {} });
    try {
      const r = await run('python3', [join(PEERS, 'dgram_flood.py'), 'unixgram', (server.addr as { path: string }).path,
        '10', '500', '0', '8', '1408', '1', '20000'], undefined, 170_000);
      expect(r.stderr).toBe('');
      const totals = JSON.parse(r.stdout);
      expect(totals).toMatchObject({ sent: 5000, received: 5000, lost: 0, corrupt: 0, flooded: 20000 });
      expect(server.dropped).toBeGreaterThan(0);
    } finally {
      await server.close();
    }
  });
});

describe('descriptors running out', () => {
  it('one notice with the limit and how to raise it; accepting resumes once descriptors free up', async (ctx) => {
    needs(ctx, 'prlimit');
    // 100 descriptors (Node itself takes about 20), and places for more clients than that.
    const s = live('prlimit', ['--nofile=100:100', process.execPath, BIN, 'tcp-echo', '--port', '0', '--max-clients', '1000']);
    const m = await s.waitFor(/^listening on (\S+)\n/, 8000, 'stderr');
    const conns = [];
    try {
      // More connections than the process can hold.
      for (let i = 0; i < 150; i++) conns.push(await dial(m[1]!));
      await s.waitFor(/EMFILE/, 20_000, 'stderr');
      await Promise.all(conns.splice(0).map((c) => c.close()));
      // Room again: a new client is served (tried until the server has seen the others go).
      let answered = '';
      for (let i = 0; i < 50 && answered !== 'back'; i++) {
        const r = await cli(['send', m[1]!, 'back', '--reply', '--timeout', '2000']);
        answered = r.stdout;
      }
      expect(answered).toBe('back');
      const lines = s.stderr().split('\n').filter((l) => /EMFILE/.test(l));
      expect(lines).toHaveLength(1);
      expect(lines[0]).toMatch(/ulimit -n 100\).*raise the hard limit/);
    } finally {
      await Promise.all(conns.map((c) => c.close()));
      await stopLive(s);
    }
  });
});

describe('bench against a server that floods it', () => {
  it.each(['udp', 'tcp'] as const)('%s: every echo counted once, the rest unexpected; exit 7', async (kind) => {
    const flood = await startFlood(kind);
    try {
      const r = await cli(['bench', `${kind}://127.0.0.1:${flood.where}`, '--duration', '1', '--mode', 'flood', '--json'], undefined, 60_000);
      expect(r.code).toBe(7);
      const summary = JSON.parse(r.stdout.split('\n').find((l) => l.includes('"summary"'))!);
      expect(summary.unexpected).toBeGreaterThan(0);
      expect(summary.messages + summary.corrupt + summary.lost).toBeLessThanOrEqual(summary.sent);
      expect(r.stderr).toMatch(/bytes unexpected \(answering no message\)/);
    } finally {
      flood.child.kill();
    }
  }, 90_000);
});

async function startFlood(kind: 'udp' | 'tcp') {
  const p = live('python3', ['-u', join(PEERS, 'flood_server.py'), kind, '127.0.0.1']);
  const m = await p.waitFor(/^listening (\S+)\n/);
  return { ...p, where: m[1]! };
}

describe('peers named as they are', () => {
  it('a unix stream client that bound a path is known by it, in SOCKTOOL_PEER escaped as printed lines are', async () => {
    const server = await cliServer(['serve', `unix://${sockPath()}`, '--sh-exec', 'printf %s "$SOCKTOOL_PEER"', '-v']);
    try {
      const client = sockPath('cli\nent\x1b');
      const code = `import socket,sys
s=socket.socket(socket.AF_UNIX); s.bind(sys.argv[2]); s.connect(sys.argv[1]); s.shutdown(socket.SHUT_WR)
out=b''
while True:
    b=s.recv(4096)
    if not b: break
    out+=b
sys.stdout.write(out.decode())`;
      const r = await run('python3', ['-c', code, server.address.replace(/^unix:\/\//, ''), client]);
      const printed = `unix://${client.replace('\n', '\\n').replace('\x1b', '\\x1b')}`;
      expect(r.stdout).toBe(printed);
      // And the server's own line names it so, escaped alike.
      await server.waitFor(new RegExp(`accepted ${printed.replace(/[\\^$.*+?()[\]{}|]/g, '\\$&')}\n`), 8000, 'stderr');
    } finally {
      await stopLive(server);
    }
  });
});
