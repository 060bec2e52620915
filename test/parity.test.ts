import { describe, expect, it } from 'vitest';
import {
  bind, dial, echo, formatAddress, listen, NetError, parseAddress, serve, type Address, type BindOptions,
  type DatagramSocket, type Exchange, type Handler, type Server, type SocketOptions,
} from '../src/index.js';
import { platformHas } from './helpers.js';
import { ALL_ROWS, type Row } from './rows.js';

// Every row of the network table: tcp and udp (unpinned) too, which take whatever family the address has.
const ROWS = ALL_ROWS;


const signal = () => AbortSignal.timeout(5000);

/** One request, one answer, over the row's shape: a stream is written, half-closed and read to EOF. */
async function ask(row: Row, to: Address, data: Buffer | string): Promise<Buffer> {
  if (row.shape === 'stream') {
    const conn = await dial(to, { signal: signal() });
    try {
      await conn.write(data);
      await conn.end();
      const chunks: Buffer[] = [];
      for await (const chunk of conn) chunks.push(chunk);
      return Buffer.concat(chunks);
    } finally {
      await conn.close();
    }
  }
  const sock = await bind(row.clientAt!);
  try {
    await sock.sendTo(data, to);
    const { data: reply, from } = await sock.recvFrom({ signal: signal() });
    expect(from).toEqual(to);
    return reply;
  } finally {
    await sock.close();
  }
}

async function rejection(p: Promise<unknown>): Promise<NetError> {
  const err = await p.then(() => undefined, (e: unknown) => e);
  expect(err).toBeInstanceOf(NetError);
  return err as NetError;
}

/** A handler that echoes, but throws on "boom", and tells the test about the error. */
function boomHandler(): { handler: Handler; reported: Promise<Error>; onError: (e: Error) => void } {
  let report!: (e: Error) => void;
  const reported = new Promise<Error>((resolve) => (report = resolve));
  const handler: Handler = async (ex) => {
    for await (const chunk of ex) {
      if (chunk.toString() === 'boom') throw new Error('handler failed on purpose');
      await ex.send(chunk);
    }
  };
  return { handler, reported, onError: report };
}

describe.each(ROWS.filter((r) => !r.needs || platformHas(r.needs)))('$name', (row) => {
  const withServer = async (handler: Handler, body: (s: Server) => Promise<void>, onError?: (e: Error) => void) => {
    const server = await serve(row.at(), handler, { onError: onError ?? ((e) => { throw e; }) });
    try {
      await body(server);
    } finally {
      await server.close({ signal: AbortSignal.timeout(1000) });
    }
  };

  /** A datagram server socket and a client socket of the row, both closed afterwards. */
  const withPair = async (options: BindOptions, body: (server: DatagramSocket, client: DatagramSocket) => Promise<void>) => {
    const server = await bind(row.at(), options);
    const client = await bind(row.clientAt!);
    try {
      await body(server, client);
    } finally {
      await client.close();
      await server.close();
    }
  };

  it('echoes text, UTF-8 and binary with NUL bytes', () =>
    withServer(echo, async (s) => {
      expect((await ask(row, s.addr, 'hello')).toString()).toBe('hello');
      expect((await ask(row, s.addr, '红烧肉')).toString('utf8')).toBe('红烧肉');
      const binary = Buffer.from([0, 1, 2, 0, 255, 0, 10, 13, 0]);
      expect(await ask(row, s.addr, binary)).toEqual(binary);
    }));

  it('has a concrete address that round-trips as text', () =>
    withServer(echo, async (s) => {
      expect(parseAddress(formatAddress(s.addr))).toEqual(s.addr);
      const asked = parseAddress(row.at());
      expect(s.addr.network).toBe(asked.network);
      if ('port' in s.addr) {
        expect(s.addr.port).toBeGreaterThan(0);
        expect(s.addr.host).toBe((asked as { host: string }).host);
      } else {
        expect(s.addr.path).not.toBe('');
      }
      // The printed form reaches the server.
      expect((await ask(row, parseAddress(formatAddress(s.addr)), 'via text')).toString()).toBe('via text');
    }));

  it('serves 20 concurrent clients', () =>
    withServer(echo, async (s) => {
      const replies = await Promise.all(Array.from({ length: 20 }, (_, i) => ask(row, s.addr, `client ${i}`)));
      expect(replies.map(String)).toEqual(Array.from({ length: 20 }, (_, i) => `client ${i}`));
    }));

  it('refuses a second server on the same address with EADDRINUSE, the first unharmed', () =>
    withServer(echo, async (s) => {
      const err = await rejection(serve(s.addr, echo));
      expect(err.code).toBe('EADDRINUSE');
      expect(err.op).toBe(row.shape === 'stream' ? 'listen' : 'bind');
      expect((await ask(row, s.addr, 'still here')).toString()).toBe('still here');
    }));

  it('closes twice without error and frees the address', async () => {
    const first = await serve(row.at(), echo);
    const addr = first.addr;
    await first.close();
    await first.close();
    const again = await serve(addr, echo);
    try {
      expect(again.addr).toEqual(addr);
      expect((await ask(row, addr, 'reborn')).toString()).toBe('reborn');
    } finally {
      await again.close();
    }
  });

  it('reports a throwing handler and keeps serving', async () => {
    const { handler, reported, onError } = boomHandler();
    await withServer(handler, async (s) => {
      if (row.shape === 'stream') {
        // The failing connection is cut; whatever it reads before the cut is not an echo of "boom".
        const reply = await ask(row, s.addr, 'boom').catch(() => Buffer.alloc(0));
        expect(reply.toString()).toBe('');
      } else {
        const sock = await bind(row.clientAt!);
        await sock.sendTo('boom', s.addr);
        await sock.close();
      }
      expect((await reported).message).toBe('handler failed on purpose');
      expect((await ask(row, s.addr, 'after boom')).toString()).toBe('after boom');
    }, onError);
  });

  it('close() waits for the exchanges in flight', async () => {
    const order: string[] = [];
    let started!: () => void;
    const inHandler = new Promise<void>((resolve) => (started = resolve));
    let release!: () => void;
    const gate = new Promise<void>((resolve) => (release = resolve));
    const slow: Handler = async (ex: Exchange) => {
      for await (const chunk of ex) {
        started();
        await gate;
        await ex.send(chunk);
        order.push('replied');
        if (ex.kind === 'datagram') break;
      }
    };
    const server = await serve(row.at(), slow);
    const answer = ask(row, server.addr, 'in flight');
    await inHandler;
    const closed = server.close().then(() => order.push('closed'));
    if (row.shape === 'stream') {
      // Only once the listener is gone is close() provably waiting on the exchange, not on the listener.
      for (;;) {
        const probe = await dial(server.addr).catch(() => null);
        if (probe === null) break;
        await probe.close();
      }
      // A unix path is refused once unlinked, a moment before the listener finishes closing: give a close()
      // that did not wait the time to show it. (Passing never depends on this pause.)
      await new Promise((resolve) => setTimeout(resolve, 50));
    }
    release();
    expect((await answer).toString()).toBe('in flight');
    await closed;
    expect(order).toEqual(['replied', 'closed']);
  });

  it('has socket options and an fd on every socket; an option that does not apply rejects', async () => {
    const check = async (sock: SocketOptions, type: string) => {
      expect(sock.fd).toBeGreaterThan(2);
      expect(await sock.getOption('SO_TYPE')).toBe(type);
      await sock.setOption('SO_RCVBUF', 65536);
      // Linux doubles the value for its own bookkeeping; either way it moved off the default.
      expect(await sock.getOption('SO_RCVBUF')).toBeGreaterThanOrEqual(65536);
      expect(typeof (await sock.getOption('SO_REUSEADDR'))).toBe('boolean');
      const wrong = row.shape === 'datagram' && !row.unix ? 'TCP_NODELAY' : 'IP_TTL';
      if (row.unix || row.shape === 'datagram') {
        const err = await rejection(sock.getOption(wrong));
        expect(err.op).toBe('option');
        expect(err.code).toBe('ENOPROTOOPT');
      }
      const bad = await rejection(sock.setOption('SO_RCVBUF', 'lots'));
      expect(bad.code).toBe('EINVAL');
    };
    const type = row.type;
    if (row.shape === 'stream') {
      const listener = await listen(row.at());
      try {
        await check(listener, type);
        const client = await dial(listener.addr, { signal: signal() });
        const accepted = await listener.accept({ signal: signal() });
        await check(client, type);
        await check(accepted, type);
        if (!row.unix) {
          await client.setOption('TCP_NODELAY', true);
          expect(await client.getOption('TCP_NODELAY')).toBe(true);
          await client.setOption('IP_TTL', 7);
          expect(await client.getOption('IP_TTL')).toBe(7);
        }
        await client.close();
        expect(client.fd).toBe(-1);
        await accepted.close();
      } finally {
        await listener.close();
      }
    } else {
      await withPair({}, async (server, client) => {
        await check(server, type);
        await check(client, type);
        if (!row.unix) {
          await server.setOption('SO_BROADCAST', true);
          expect(await server.getOption('SO_BROADCAST')).toBe(true);
        }
      });
    }
  });

  if (row.shape === 'stream') {
    it('half-closes: the server still replies after the client\'s EOF, then EOF', async () => {
      const summing: Handler = async (ex) => {
        let n = 0;
        for await (const chunk of ex) n += chunk.length;
        await ex.send(`got ${n} bytes`);
      };
      await withServer(summing, async (s) => {
        const conn = await dial(s.addr, { signal: signal() });
        await conn.write('abc');
        await conn.write('defg');
        await conn.end();
        expect((await conn.read({ signal: signal() }))?.toString()).toBe('got 7 bytes');
        expect(await conn.read({ signal: signal() })).toBeNull();
        await conn.close();
      });
    });

    it('rejects a dial to a dead address with ECONNREFUSED or ENOENT', async () => {
      const listener = await listen(row.at());
      const dead = listener.addr;
      await listener.close();
      const err = await rejection(dial(dead));
      expect(err.op).toBe('dial');
      // No file is left behind: a path is gone (ENOENT), a port or an abstract name refuses.
      expect(err.code).toBe('port' in dead || dead.abstract ? 'ECONNREFUSED' : 'ENOENT');
      expect(err.addr).toEqual(dead);
    });

    it('holds at most `queue` unaccepted connections and refuses the rest', async () => {
      const listener = await listen(row.at(), { acceptQueue: 2 });
      try {
        const clients = [];
        for (let i = 0; i < 4; i++) clients.push(await dial(listener.addr, { signal: signal() }));
        // The two over the limit are closed by the server: EOF (or a reset) without a byte.
        for (const refused of clients.slice(2)) {
          expect(await refused.read({ signal: signal() }).catch(() => null)).toBeNull();
        }
        for (let i = 0; i < 2; i++) {
          const accepted = await listener.accept({ signal: signal() });
          await accepted.write(`accepted ${i}`);
          expect((await clients[i]!.read({ signal: signal() }))?.toString()).toBe(`accepted ${i}`);
          await accepted.close();
        }
        await Promise.all(clients.map((c) => c.close()));
      } finally {
        await listener.close();
      }
    });

    it('idle: a connection with no traffic either way is closed and reported; one the server writes to is not', async () => {
      const errors: Error[] = [];
      const ticking: Handler = async (ex) => {
        // Writes on its own every 50 ms until the client says something: that is traffic, not idleness.
        const timer = setInterval(() => void ex.send('tick').catch(() => {}), 50);
        try {
          for await (const chunk of ex) if (chunk.toString() === 'quiet') clearInterval(timer);
        } finally {
          clearInterval(timer);
        }
      };
      const server = await serve(row.at(), ticking, { idle: 300, onError: (e) => errors.push(e) });
      try {
        const busy = await dial(server.addr, { signal: signal() });
        const quiet = await dial(server.addr, { signal: signal() });
        await quiet.write('quiet');
        const started = Date.now();
        // The quiet one hears a few ticks, then nothing, then EOF (or a reset) once idle for 300 ms.
        for (let c = await quiet.read({ signal: signal() }).catch(() => null); c !== null;
          c = await quiet.read({ signal: signal() }).catch(() => null));
        expect(Date.now() - started).toBeGreaterThanOrEqual(250);
        expect(errors.map((e) => (e as NetError).code)).toEqual(['ETIMEDOUT']);
        expect(errors[0]!.message).toMatch(/idle for 300 ms, closed/);
        // The busy one, never writing, has been receiving ticks all along: still open.
        await new Promise((resolve) => setTimeout(resolve, 400));
        expect((await busy.read({ signal: signal() }))?.toString()).toMatch(/^(tick)+$/);
        await busy.close();
        await quiet.close();
      } finally {
        await server.close({ signal: AbortSignal.timeout(1000) });
      }
    });

    it('gives each connection concrete local and remote addresses', async () => {
      const listener = await listen(row.at());
      try {
        const client = await dial(listener.addr);
        const accepted = await listener.accept({ signal: signal() });
        expect(client.remoteAddr).toEqual(listener.addr);
        expect(accepted.localAddr.network).toBe(listener.addr.network);
        expect(parseAddress(formatAddress(accepted.remoteAddr))).toEqual(accepted.remoteAddr);
        if ('port' in client.localAddr && 'port' in accepted.remoteAddr) {
          expect(accepted.remoteAddr.port).toBe(client.localAddr.port);
        }
        await client.close();
        await accepted.close();
      } finally {
        await listener.close();
      }
    });
  } else {
    it('keeps message boundaries: 3 sends are 3 receives', () =>
      withPair({}, async (server, client) => {
        for (const m of ['one', 'two two', 'three three three']) await client.sendTo(m, server.localAddr);
        const got: string[] = [];
        for (let i = 0; i < 3; i++) got.push((await server.recvFrom({ signal: signal() })).data.toString());
        expect(got).toEqual(['one', 'two two', 'three three three']);
      }));

    it('carries an empty datagram and a 60000-byte one whole', () =>
      withServer(echo, async (s) => {
        expect(await ask(row, s.addr, Buffer.alloc(0))).toEqual(Buffer.alloc(0));
        const big = Buffer.alloc(60_000, 'x');
        big.writeUInt32BE(0xdeadbeef, 30_000);
        expect(await ask(row, s.addr, big)).toEqual(big);
      }));

    it('holds at most `recvQueue` unread datagrams in memory; the rest wait in the kernel and arrive in order', () =>
      withPair({ recvQueue: 2 }, async (server, client) => {
        for (let i = 0; i < 20; i++) await client.sendTo(`d${i}`, server.localAddr);
        const got: string[] = [];
        for (let i = 0; i < 20; i++) got.push((await server.recvFrom({ signal: signal() })).data.toString());
        expect(got).toEqual(Array.from({ length: 20 }, (_, i) => `d${i}`));
      }));

    it('reports the sender in recvFrom, and replies reach it', () =>
      withPair({}, async (server, client) => {
        await client.sendTo('who am i', server.localAddr);
        const { from } = await server.recvFrom({ signal: signal() });
        expect(from).toEqual(client.localAddr);
        await server.sendTo('you are you', from);
        const reply = await client.recvFrom({ signal: signal() });
        expect(reply.data.toString()).toBe('you are you');
        expect(reply.from).toEqual(server.localAddr);
        // connect() + send() reach the same peer.
        await client.connect(server.localAddr);
        await client.send('connected');
        expect((await server.recvFrom({ signal: signal() })).data.toString()).toBe('connected');
      }));

    it('honours an AbortSignal in recvFrom: timeout is ETIMEDOUT, abort is ERR_SOCKTOOL_ABORTED', async () => {
      const sock = await bind(row.at());
      try {
        const timedOut = await rejection(sock.recvFrom({ signal: AbortSignal.timeout(30) }));
        expect(timedOut.code).toBe('ETIMEDOUT');
        expect(timedOut.op).toBe('recv');
        const ac = new AbortController();
        const pending = sock.recvFrom({ signal: ac.signal });
        ac.abort();
        const aborted = await rejection(pending);
        expect(aborted.code).toBe('ERR_SOCKTOOL_ABORTED');
        // The socket still works after an aborted receive.
        const client = await bind(row.clientAt!);
        await client.sendTo('after abort', sock.localAddr);
        expect((await sock.recvFrom({ signal: signal() })).data.toString()).toBe('after abort');
        await client.close();
      } finally {
        await sock.close();
      }
    });
  }
});
