import { readdirSync, readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { bind, dial, echo, formatAddress, listen, NetError, relay, serve, type Conn, type Handler } from '../src/index.js';
import { consts, nameOf, native } from '../src/native/index.js';
import { TCP_NODELAY } from '../src/bsd/index.js';
import { makeCert, needs, platformHas } from './helpers.js';

const signal = () => AbortSignal.timeout(5000);

async function say(to: string, text: string): Promise<string> {
  const conn = await dial(to, { signal: signal() });
  await conn.end(text);
  const chunks: Buffer[] = [];
  for await (const c of conn) chunks.push(c);
  await conn.close();
  return Buffer.concat(chunks).toString();
}

describe.runIf(platformHas('ipv6'))('IPv4 / IPv6 families', () => {
  it('tcp on [::] is dual-stack: IPv4 clients are served', async () => {
    const s = await serve('tcp://[::]:0', echo);
    try {
      const port = (s.addr as { port: number }).port;
      expect(await say(`tcp4://127.0.0.1:${port}`, 'four')).toBe('four');
      expect(await say(`tcp6://[::1]:${port}`, 'six')).toBe('six');
    } finally {
      await s.close();
    }
  });

  it('tcp6 on [::] is IPv6-only: IPv4 clients are refused', async () => {
    const s = await serve('tcp6://[::]:0', echo);
    try {
      const port = (s.addr as { port: number }).port;
      expect(await say(`tcp6://[::1]:${port}`, 'six')).toBe('six');
      const err = await dial(`tcp4://127.0.0.1:${port}`).then(() => null, (e: unknown) => e);
      expect(err).toBeInstanceOf(NetError);
      expect((err as NetError).code).toBe('ECONNREFUSED');
    } finally {
      await s.close();
    }
  });

  it('ipv6Only can be asked for explicitly on an unpinned network', async () => {
    const l = await listen('tcp://[::]:0', { ipv6Only: true });
    try {
      const port = (l.addr as { port: number }).port;
      const err = await dial(`tcp://127.0.0.1:${port}`).then(() => null, (e: unknown) => e);
      expect((err as NetError).code).toBe('ECONNREFUSED');
    } finally {
      await l.close();
    }
  });

  it('udp on [::] is dual-stack; udp6 is IPv6-only (an IPv4 port bind does not clash)', async () => {
    const dual = await serve('udp://[::]:0', echo);
    const v4client = await bind('udp4://127.0.0.1:0');
    try {
      const port = (dual.addr as { port: number }).port;
      await v4client.sendTo('via v4', `udp4://127.0.0.1:${port}`);
      expect((await v4client.recvFrom({ signal: signal() })).data.toString()).toBe('via v4');
    } finally {
      await v4client.close();
      await dual.close();
    }
    const six = await bind('udp6://[::]:0');
    try {
      const port = (six.localAddr as { port: number }).port;
      const four = await bind(`udp4://0.0.0.0:${port}`);
      await four.close();
    } finally {
      await six.close();
    }
  });

  it('resolves host names before binding and dialling, honouring a family pin', async () => {
    const u = await bind('udp4://localhost:0');
    try {
      expect(u.localAddr).toMatchObject({ network: 'udp4', host: '127.0.0.1' });
    } finally {
      await u.close();
    }
    const l = await listen('tcp4://localhost:0');
    try {
      expect(l.addr).toMatchObject({ network: 'tcp4', host: '127.0.0.1' });
      const port = (l.addr as { port: number }).port;
      const c = await dial(`tcp4://localhost:${port}`, { signal: signal() });
      expect(c.remoteAddr).toMatchObject({ host: '127.0.0.1', port });
      await c.close();
    } finally {
      await l.close();
    }
  });

  it('an empty host binds every interface and dials loopback', async () => {
    const l = await listen('tcp4://:0');
    try {
      expect(l.addr).toMatchObject({ host: '0.0.0.0' });
      const port = (l.addr as { port: number }).port;
      const c = await dial(`tcp://:${port}`, { signal: signal() });
      expect(c.remoteAddr).toMatchObject({ host: '127.0.0.1', port });
      await c.close();
    } finally {
      await l.close();
    }
  });
});

describe('TLS handshakes', () => {
  it('are bounded and timed out: a silent connection is closed, one over the bound refused', async (ctx) => {
    needs(ctx, 'openssl');
    const { cert, key } = makeCert();
    const errors: NetError[] = [];
    const s = await serve('tcp://127.0.0.1:0', echo, {
      tls: { cert: readFileSync(cert), key: readFileSync(key) }, maxConns: 3, maxHandshakes: 2, handshakeTimeout: 400,
      onError: (e) => errors.push(e as NetError),
    });
    try {
      const silent = [await dial(s.addr), await dial(s.addr)];
      const over = await dial(s.addr);
      // The third is refused at once; the two in their handshake are closed after 400 ms, each reported.
      expect(await over.read({ signal: signal() }).catch(() => null)).toBeNull();
      for (const c of silent) expect(await c.read({ signal: signal() }).catch(() => null)).toBeNull();
      expect(errors.map((e) => [e.op, e.code]).sort()).toEqual([
        ['accept', 'ECONNREFUSED'], ['accept', 'ETIMEDOUT'], ['accept', 'ETIMEDOUT']]);
      expect(errors.find((e) => e.code === 'ECONNREFUSED')!.message).toMatch(/2 TLS handshakes already in progress/);
      // A real client is served once they are gone.
      const conn = await dial(s.addr, { tls: { ca: readFileSync(cert) }, signal: signal() });
      await conn.end('over TLS');
      expect((await conn.read({ signal: signal() }))?.toString()).toBe('over TLS');
      await conn.close();
      await Promise.all(silent.concat(over).map((c) => c.close()));
    } finally {
      await s.close({ signal: AbortSignal.timeout(1000) });
    }
  });
});

describe('TCP_NODELAY', () => {
  it("serve's and a relay's tcp connections send at once (Nagle off); a dialled connection keeps the kernel's default", async () => {
    const nodelay: Handler = async (ex) => {
      await (ex as Conn).end(String(await (ex as Conn).getOption('TCP_NODELAY')));
    };
    const server = await serve('tcp://127.0.0.1:0', nodelay);
    const target = await listen('tcp://127.0.0.1:0');
    const front = await relay('tcp://127.0.0.1:0', target.addr);
    const client = await dial(front.addr);
    try {
      expect(await say(formatAddress(server.addr), '')).toBe('true');
      const conn = await dial(server.addr);
      expect(await conn.getOption('TCP_NODELAY')).toBe(false);
      await conn.close();
      // The relay's connection to its target, once bytes went through it: found among this process's descriptors.
      const taken = await target.accept({ signal: signal() });
      await client.write('x');
      expect(String(await taken.read({ signal: signal() }))).toBe('x');
      const port = (taken.remoteAddr as { port: number }).port;
      const fds = readdirSync('/proc/self/fd').map(Number)
        .filter((fd) => { try { return (nameOf(fd, 'tcp') as { port?: number }).port === port; } catch { return false; } });
      expect(fds).toHaveLength(1);
      expect(native.getsockopt(fds[0]!, consts.IPPROTO_TCP, TCP_NODELAY, 0)).toBe(1);
      await taken.close();
    } finally {
      await client.close();
      await front.close();
      await target.close();
      await server.close();
    }
  });
});
