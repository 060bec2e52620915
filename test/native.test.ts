import { closeSync, openSync, readSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { Worker } from 'node:worker_threads';
import { describe, expect, it } from 'vitest';
import { bind, closeFd, dial, echo, listen, NetError, serve, type Conn } from '../src/index.js';
import { consts, native } from '../src/native/index.js';
import { abstractName, needs, PEERS, ROOT, run, sockPath, startPeer, tempDir, until } from './helpers.js';

const py = (script: string, ...args: string[]) => run('python3', [join(PEERS, script), ...args]);
const pyPeer = (script: string, ...args: string[]) => startPeer('python3', [join(PEERS, script), ...args]);
const signal = () => AbortSignal.timeout(5000);

async function rejection(p: Promise<unknown>): Promise<NetError> {
  const err = await p.then(() => undefined, (e: unknown) => e);
  expect(err).toBeInstanceOf(NetError);
  return err as NetError;
}

/** Reads what an fd holds from the start (pread), then closes it with closeFd (closed: a second close is EBADF). */
function readFd(fd: number): string {
  const buf = Buffer.alloc(1024);
  const n = readSync(fd, buf, 0, buf.length, 0);
  closeFd(fd);
  expect(() => closeFd(fd)).toThrow(expect.objectContaining({ op: 'close', code: 'EBADF' }));
  return buf.toString('utf8', 0, n);
}

describe('with Python peers', () => {
  it('unixgram: a bound Python client (path and abstract) gets its echo from the sender address it bound', async () => {
    for (const [at, me] of [[`unixgram://${sockPath()}`, sockPath('py.sock')], [`unixgram:@${abstractName()}`, `@${abstractName()}`]] as const) {
      const server = await serve(at, echo);
      try {
        const where = 'path' in server.addr ? (server.addr.abstract ? `@${server.addr.path}` : server.addr.path) : '';
        const r = await py('unixgram_client.py', where, me, 'hello', '红烧肉');
        expect(r.code).toBe(0);
        expect(r.stdout).toBe(`hello ${where}\n红烧肉 ${where}\n`);
      } finally {
        await server.close();
      }
    }
  });

  it('unixgram: an unnamed Python sender arrives with from = null, and a reply rejects with ERR_SOCKTOOL_UNNAMED_PEER', async () => {
    const sock = await bind(`unixgram://${sockPath()}`);
    try {
      const sent = py('unixgram_client.py', (sock.localAddr as { path: string }).path, '-', 'anonymous');
      const d = await sock.recvFrom({ signal: signal() });
      expect(d.data.toString()).toBe('anonymous');
      expect(d.from).toBeNull();
      const err = await rejection(sock.sendTo('hello?', d.from));
      expect(err.code).toBe('ERR_SOCKTOOL_UNNAMED_PEER');
      expect(err.op).toBe('send');
      expect((await sent).stdout).toBe('timeout\n');
    } finally {
      await sock.close();
    }
  });

  it('unixpacket: Python\'s packets keep their boundaries both ways', async () => {
    const listener = await listen(`unixpacket://${sockPath()}`);
    try {
      const client = py('seqpacket_client.py', (listener.addr as { path: string }).path, 'one', 'two two', 'three');
      const conn = await listener.accept({ signal: signal() });
      const got: string[] = [];
      for await (const message of conn) got.push(message.toString());
      expect(got).toEqual(['one', 'two two', 'three']);
      for (const m of got) await conn.write(m.toUpperCase());
      await conn.close();
      const r = await client;
      expect(r.stdout).toBe("b'ONE'\nb'TWO TWO'\nb'THREE'\n");
    } finally {
      await listener.close();
    }
  });

  it('abstract names are exact-length: Python and socat reach socktool\'s, socktool reaches socat\'s', async (ctx) => {
    needs(ctx, 'socat');
    const name = abstractName();
    const server = await serve(`unix:@${name}`, echo);
    try {
      const r = await run('python3', ['-c', `import socket
s = socket.socket(socket.AF_UNIX); s.connect('\\0${name}'); s.sendall(b'exact'); s.shutdown(socket.SHUT_WR)
print(s.recv(100).decode())`]);
      expect(r.stdout).toBe('exact\n');
      const viaSocat = await run('socat', ['-', `ABSTRACT-CONNECT:${name}`], 'from socat\n');
      expect(viaSocat.stdout).toBe('from socat\n');
    } finally {
      await server.close();
    }
    const theirs = abstractName();
    // socat's listening line is its socket in /proc/net/unix: announce once it shows.
    await startPeer('sh', ['-c', `socat ABSTRACT-RECVFROM:${theirs} EXEC:'tr a-z A-Z' & ` +
      `until grep -q '@${theirs}$' /proc/net/unix; do sleep 0.01; done; echo listening; wait`]);
    const sock = await bind('unixgram:');
    try {
      await sock.sendTo('shout', `unixgram:@${theirs}`);
      const d = await sock.recvFrom({ signal: signal() });
      expect(d.data.toString()).toBe('SHOUT');
      expect(d.from).toEqual({ network: 'unixgram', path: theirs, abstract: true });
    } finally {
      await sock.close();
    }
  });

  it('SO_PEERCRED: the pid Python reports is the one socktool reads, and the other way round', async () => {
    for (const type of ['stream', 'seqpacket'] as const) {
      const listener = await listen(`${type === 'stream' ? 'unix' : 'unixpacket'}://${sockPath()}`);
      try {
        const client = py('peercred.py', 'client', (listener.addr as { path: string }).path, type);
        const conn = await listener.accept({ signal: signal() });
        const creds = await conn.peerCredentials();
        await conn.close();
        const [pid, theirView] = (await client).stdout.trim().split('\n');
        expect(creds.pid).toBe(Number(pid));
        expect(creds.uid).toBe(process.getuid!());
        expect(theirView).toBe(`${process.pid} ${process.getuid!()} ${process.getgid!()}`);
      } finally {
        await listener.close();
      }
    }
    const path = sockPath();
    const server = await pyPeer('peercred.py', 'server', path);
    const conn = await dial(`unix://${path}`);
    expect((await conn.peerCredentials()).uid).toBe(process.getuid!());
    await conn.close();
    expect((await server.finished).stdout).toBe(`listening\n${process.pid} ${process.getuid!()} ${process.getgid!()}\n`);
    const tcp = await listen('tcp://127.0.0.1:0');
    const t = await dial(tcp.addr);
    expect((await rejection(t.peerCredentials())).code).toBe('ENOPROTOOPT');
    await t.close();
    await tcp.close();
  });

  it('SCM_RIGHTS: a file Python opened is read through the descriptor socktool receives (unix, unixpacket, unixgram)', async () => {
    const file = join(tempDir(), 'secret.txt');
    writeFileSync(file, 'passed by descriptor');
    for (const [network, type] of [['unix', 'stream'], ['unixpacket', 'seqpacket']] as const) {
      const listener = await listen(`${network}://${sockPath()}`);
      try {
        const sender = py('fds_peer.py', 'send', (listener.addr as { path: string }).path, type, file);
        const conn = await listener.accept({ signal: signal() });
        const got = await conn.recvFds({ signal: signal() });
        expect(got!.data.toString()).toBe('file');
        expect(got!.fds).toHaveLength(1);
        expect(readFd(got!.fds[0]!)).toBe('passed by descriptor');
        await conn.close();
        expect((await sender).code).toBe(0);
      } finally {
        await listener.close();
      }
    }
    const sock = await bind(`unixgram://${sockPath()}`);
    try {
      const sender = py('fds_peer.py', 'send', (sock.localAddr as { path: string }).path, 'dgram', file);
      const d = await sock.recvFrom({ signal: signal() });
      expect(d.data.toString()).toBe('file');
      expect(readFd(d.fds[0]!)).toBe('passed by descriptor');
      expect((await sender).code).toBe(0);
    } finally {
      await sock.close();
    }
  });

  it('SCM_RIGHTS: Python reads a file through the descriptor socktool sends (unix, unixpacket, unixgram)', async () => {
    const file = join(tempDir(), 'mine.txt');
    writeFileSync(file, 'from socktool');
    for (const [network, type] of [['unix', 'stream'], ['unixpacket', 'seqpacket'], ['unixgram', 'dgram']] as const) {
      const path = sockPath();
      const receiver = await pyPeer('fds_peer.py', 'recv', path, type);
      const fd = openSync(file, 'r');
      if (network === 'unixgram') {
        const sock = await bind('unixgram:');
        await sock.sendTo('file', `unixgram://${path}`, { fds: [fd] });
        await sock.close();
      } else {
        const conn = await dial(`${network}://${path}`);
        await conn.sendFds('file', [fd]);
        await conn.close();
      }
      closeSync(fd); // socktool sent its own duplicate: closing ours right away is fine
      expect((await receiver.finished).stdout).toBe('listening\nfile\nfrom socktool\n');
    }
  });
});

describe('descriptor passing keeps the order of writes', () => {
  it.for(['unix', 'unixpacket'] as const)('%s: a write made after sendFds, neither awaited, arrives after it', async (network) => {
    const file = join(tempDir(), 'ordered.txt');
    writeFileSync(file, 'in order');
    const listener = await listen(`${network}://${sockPath()}`);
    const client = await dial(listener.addr);
    const server = await listener.accept({ signal: signal() });
    const fd = openSync(file, 'r');
    try {
      // sendFds waits for what was written before it; what is written after it must not pass it meanwhile.
      await Promise.all([client.write('before|'), client.sendFds('file|', [fd]), client.write('after|')]);
      let text = '';
      const fds: number[] = [];
      while (text.length < 'before|file|after|'.length) {
        const got = await server.recvFds({ signal: signal() });
        if (got === null) break;
        text += got.data.toString();
        fds.push(...got.fds);
      }
      expect(text).toBe('before|file|after|');
      expect(fds.map(readFd)).toEqual(['in order']);
    } finally {
      closeSync(fd);
      await client.close();
      await server.close();
      await listener.close();
    }
  });
});

describe('unixgram edge cases', () => {
  it('a slow receiver: a connected sender waits for room, nothing is lost, nothing is held without bound', async () => {
    const server = await bind(`unixgram://${sockPath()}`, { recvQueue: 8 });
    const client = await bind('unixgram:');
    try {
      await client.connect(server.localAddr);
      const count = 3000; // well past the kernel's queue (net.unix.max_dgram_qlen) and ours
      const sends = Array.from({ length: count }, (_, i) => client.send(`m${i}`));
      let settled = 0;
      sends.forEach((p) => p.then(() => settled++));
      await new Promise((resolve) => setTimeout(resolve, 100));
      // The receiver has not read: the sender is held back rather than buffering all of it.
      expect(settled).toBeLessThan(count);
      const got: string[] = [];
      for (let i = 0; i < count; i++) got.push((await server.recvFrom({ signal: signal() })).data.toString());
      await Promise.all(sends);
      expect(got).toEqual(Array.from({ length: count }, (_, i) => `m${i}`));
    } finally {
      await client.close();
      await server.close();
    }
  });

  it('an unconnected sendTo to a full receiver: held in order (bounded in bytes), nothing lost once it reads again', async () => {
    const server = await bind(`unixgram://${sockPath()}`, { recvQueue: 1 });
    // A backlog of 8 KiB for this receiver (each held datagram costs its bytes and its record, about 160 bytes).
    const client = await bind('unixgram:', { peerBytes: 8192, serverBytes: 16384 });
    try {
      // Past the kernel's queue (net.unix.max_dgram_qlen), what is held for this receiver, and into the wait.
      const count = 1500;
      const sends = Array.from({ length: count }, (_, i) => client.sendTo(`m${i}`, server.localAddr));
      let settled = 0;
      sends.forEach((p) => p.then(() => settled++));
      // Sent and held ones resolve at once (in this turn's microtasks); the others wait for room.
      await new Promise((resolve) => setImmediate(resolve));
      expect(settled).toBeGreaterThan(0);
      expect(settled).toBeLessThan(count); // held back, not buffered without bound
      const got: string[] = [];
      for (let i = 0; i < count; i++) got.push((await server.recvFrom({ signal: signal() })).data.toString());
      await Promise.all(sends);
      expect(got).toEqual(Array.from({ length: count }, (_, i) => `m${i}`));
      expect(client.dropped).toBe(0);
    } finally {
      await client.close();
      await server.close();
    }
  });

  it('a receiver that takes nothing for peerSilence ms is gone: what it is owed is dropped and counted, never an error', async () => {
    const server = await bind(`unixgram://${sockPath()}`, { recvQueue: 1 });
    const client = await bind('unixgram:', { peerBytes: 8192, serverBytes: 16384, peerSilence: 300 });
    try {
      const count = 2000;
      const sends = Array.from({ length: count }, (_, i) => client.sendTo(`m${i}`, server.localAddr));
      await Promise.all(sends); // every send settles, and none rejects
      const got: string[] = [];
      for (;;) {
        const d = await server.recvFrom({ signal: AbortSignal.timeout(300) }).catch(() => null);
        if (d === null) break;
        got.push(d.data.toString());
      }
      // What arrived is the first datagrams, in order; the rest was dropped, and counted.
      expect(got.length).toBeGreaterThan(0);
      expect(got).toEqual(Array.from({ length: got.length }, (_, i) => `m${i}`));
      expect(client.dropped).toBe(count - got.length);
      // Reading again brings the receiver back.
      await client.sendTo('after', server.localAddr);
      expect((await server.recvFrom({ signal: signal() })).data.toString()).toBe('after');
      expect(client.dropped).toBe(count - got.length);
    } finally {
      await client.close();
      await server.close();
    }
  });

  it('reports truncation (never a silent cut), passes 200 KiB whole, and gives EMSGSIZE for too large', async () => {
    const small = await bind(`unixgram://${sockPath()}`, { maxDatagram: 1000 });
    const big = await bind(`unixgram://${sockPath()}`);
    const client = await bind('unixgram:');
    try {
      await client.sendTo(Buffer.alloc(3000, 'a'), small.localAddr);
      const d = await small.recvFrom({ signal: signal() });
      expect(d.truncated).toBe(true);
      expect(d.data.length).toBe(1000);
      await client.setOption('SO_SNDBUF', 1 << 20);
      const payload = Buffer.alloc(200 * 1024, 'b');
      payload.writeUInt32BE(0xcafef00d, 100_000);
      await client.sendTo(payload, big.localAddr);
      const whole = await big.recvFrom({ signal: signal() });
      expect(whole.truncated).toBe(false);
      expect(whole.data.equals(payload)).toBe(true);
      const err = await rejection(client.sendTo(Buffer.alloc(16 << 20), big.localAddr));
      expect(err.code).toBe('EMSGSIZE');
      const udp = await bind('udp://127.0.0.1:0');
      expect((await rejection(udp.sendTo(Buffer.alloc(70_000), udp.localAddr))).code).toBe('EMSGSIZE');
      await udp.close();
    } finally {
      await Promise.all([small.close(), big.close(), client.close()]);
    }
  });

  it('close() twice, and close() inside the receiving loop: nothing is delivered after it', async () => {
    const server = await bind(`unixgram://${sockPath()}`);
    const client = await bind('unixgram:');
    for (let i = 0; i < 50; i++) await client.sendTo(`d${i}`, server.localAddr);
    const seen: string[] = [];
    for await (const d of server) {
      seen.push(d.data.toString());
      if (seen.length === 3) await server.close();
    }
    expect(seen).toEqual(['d0', 'd1', 'd2']);
    await server.close();
    expect((await rejection(server.recvFrom())).code).toBe('ERR_SOCKTOOL_CLOSED');
    expect(server.fd).toBe(-1);
    await client.close();
    await client.close();
  });

  it('a handler that closes its server while datagrams are still arriving', async () => {
    const path = sockPath();
    let handled = 0;
    const server = await serve(`unixgram://${path}`, async () => {
      handled++;
      await server.close();
    });
    const client = await bind('unixgram:');
    for (let i = 0; i < 100; i++) await client.sendTo('x', `unixgram://${path}`).catch(() => {});
    await new Promise((resolve) => setTimeout(resolve, 50));
    // Datagrams already read in the same batch may reach handlers; none after close() returned control.
    expect(handled).toBeGreaterThanOrEqual(1);
    expect(handled).toBeLessThanOrEqual(64);
    await client.close();
  });
});

describe('the addon itself', () => {
  it('under a 2 GB address-space limit: 1,000 sockets opened and closed per kind, and ENOMEM (not a crash) past it', async () => {
    const r = await run('sh', ['-c', `ulimit -v 2000000 && exec "$0" "$1"`, process.execPath, join(ROOT, 'test', 'programs', 'low_memory.mjs')], undefined, 60_000);
    expect(r.stderr).toBe('');
    expect(r.signal).toBeNull();
    expect(JSON.parse(r.stdout)).toEqual({ 'udp://127.0.0.1:0': 'done', 'unixgram:': 'done', unixpacket: 'done',
      huge: { code: 'ENOMEM', op: 'bind' }, after: 'done' });
  }, 90_000);

  it('an exception thrown in a callback surfaces as uncaughtException and the socket keeps receiving', async () => {
    const fd = native.socket(consts.AF_UNIX, consts.SOCK_DGRAM);
    const path = sockPath();
    native.bind(fd, Buffer.concat([Buffer.from([consts.AF_UNIX, 0]), Buffer.from(`${path}\0`)]));
    const caught: Error[] = [];
    const onUncaught = (e: Error) => caught.push(e);
    // vitest installs its own listeners: take them off while this one is in place.
    const others = process.listeners('uncaughtException');
    process.removeAllListeners('uncaughtException');
    process.on('uncaughtException', onUncaught);
    let batches = 0;
    const h = native.open(fd, consts.MODE_DGRAM, 1024, (event) => {
      if (event !== consts.EV_DGRAM) return;
      batches++;
      throw new Error(`thrown in batch ${batches}`);
    });
    native.read(h, true);
    const client = await bind('unixgram:');
    try {
      await client.sendTo('one', `unixgram://${path}`);
      await until(() => batches >= 1, 'the first batch');
      await client.sendTo('two', `unixgram://${path}`);
      await until(() => batches >= 2, 'the second batch');
      expect(caught.map((e) => e.message)).toEqual(['thrown in batch 1', 'thrown in batch 2']);
    } finally {
      process.off('uncaughtException', onUncaught);
      for (const l of others) process.on('uncaughtException', l);
      native.hclose(h);
      native.hclose(h); // twice is safe
      await client.close();
    }
  });

  it('works in worker_threads, and a worker that exits with sockets open cleans up', async () => {
    const path = sockPath();
    const dist = new URL('../dist/index.js', import.meta.url).href;
    const code = `
      const { parentPort } = require('node:worker_threads');
      import(${JSON.stringify(dist)}).then(async ({ bind, serve, echo }) => {
        await serve('unixgram://${path}', echo);
        await bind('unixgram:');           // left open on purpose
        parentPort.postMessage('ready');
      });`;
    const worker = new Worker(code, { eval: true });
    await new Promise((resolve, reject) => worker.once('message', resolve).once('error', reject));
    const client = await bind('unixgram:');
    try {
      await client.sendTo('to the worker', `unixgram://${path}`);
      expect((await client.recvFrom({ signal: signal() })).data.toString()).toBe('to the worker');
    } finally {
      await client.close();
    }
    expect(await worker.terminate()).toBe(1);
  });
});

describe('unixpacket edge cases', () => {
  it('a message larger than the receive slot (the peer raised SO_SNDBUF) fails the read with EMSGSIZE, never arrives cut', async () => {
    const listener = await listen(`unixpacket://${sockPath()}`);
    const path = (listener.addr as { path: string }).path;
    const peer = run('python3', ['-c', `
import socket
s = socket.socket(socket.AF_UNIX, socket.SOCK_SEQPACKET)
s.setsockopt(socket.SOL_SOCKET, socket.SO_SNDBUF, 4 << 20)
s.connect(${JSON.stringify(path)})
s.send(b'small')
s.send(b'x' * (300 * 1024))
s.recv(1)`]);
    const conn = await listener.accept({ signal: signal() });
    try {
      expect((await conn.read({ signal: signal() }))?.toString()).toBe('small');
      const err = await rejection(conn.read({ signal: signal() }));
      expect(err.code).toBe('EMSGSIZE');
    } finally {
      conn.stream.destroy();
      await listener.close();
      await peer;
    }
  });

  it('EMSGSIZE on a message larger than the socket can carry; the connection stays usable', async () => {
    const server = await serve(`unixpacket://${sockPath()}`, echo);
    const conn: Conn = await dial(server.addr);
    try {
      const err = await rejection(conn.write(Buffer.alloc(16 << 20)));
      expect(err.code).toBe('EMSGSIZE');
      // As send(2): that message failed, the connection did not.
      await conn.write('still here');
      expect((await conn.read({ signal: signal() }))?.toString()).toBe('still here');
    } finally {
      await conn.close().catch(() => {});
      await server.close({ signal: AbortSignal.timeout(1000) });
    }
  });
});

describe('datagram batches', () => {
  it('datagrams of mixed sizes (GSO runs on udp) reach two peers whole and in the order they were sent', async () => {
    for (const at of ['udp://127.0.0.1:0', `unixgram://${sockPath()}`]) {
      const server = await serve(at, echo);
      const a = await bind(at.startsWith('udp') ? 'udp://127.0.0.1:0' : 'unixgram:');
      const b = await bind(at.startsWith('udp') ? 'udp://127.0.0.1:0' : 'unixgram:');
      try {
        const sizes = [1, 1000, 1000, 1000, 17, 1000, 0, 5, 5, 5, 1400, 900, 1000, 1000];
        const msgs = sizes.map((n, i) => Buffer.alloc(n, 65 + i));
        // All sent in one go, so the server answers them in one batch.
        await Promise.all([...msgs.map((m) => a.sendTo(m, server.addr)), ...msgs.map((m) => b.sendTo(m, server.addr))]);
        for (const sock of [a, b]) {
          const got: Buffer[] = [];
          for (let i = 0; i < msgs.length; i++) got.push((await sock.recvFrom({ signal: signal() })).data);
          expect(got).toEqual(msgs);
        }
      } finally {
        await Promise.all([a.close(), b.close()]);
        await server.close();
      }
    }
  });
});
