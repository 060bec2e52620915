import { describe, expect, it } from 'vitest';
import { bind, dial, echo, listen, NetError, serve } from '../src/index.js';
import { platformHas } from './helpers.js';

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
