import type { Socket } from 'node:net';
import { describe, expect, it } from 'vitest';
import { bind, dial, echo, listen, NetError, serve } from '../src/index.js';
import { sockPath } from './helpers.js';

/** Awaits a rejection and returns it as a NetError (failing the test if it is anything else). */
async function failure(p: Promise<unknown> | (() => Promise<unknown>)): Promise<NetError> {
  const err = await (typeof p === 'function' ? p() : p).then(() => undefined, (e: unknown) => e);
  expect(err).toBeInstanceOf(NetError);
  return err as NetError;
}

/** A TCP port that nobody listens on: one the OS just gave and took back. */
async function deadPort(): Promise<number> {
  const l = await listen('tcp://127.0.0.1:0');
  await l.close();
  return (l.addr as { port: number }).port;
}

describe('every failure is a NetError with a stable code and op', () => {
  const cases: [string, () => Promise<unknown>, string, string][] = [
    ['a bad address to dial', () => dial('tcp://127.0.0.1:99999'), 'parse', 'ERR_SOCKTOOL_BAD_ADDRESS'],
    ['a bad address to bind', () => bind('udp://[::1'), 'parse', 'ERR_SOCKTOOL_BAD_ADDRESS'],
    ['a bad address object', () => listen({ network: 'tcp' } as never), 'parse', 'ERR_SOCKTOOL_BAD_ADDRESS'],
    ['a too-long unix path', () => listen(`unix:///${'x'.repeat(200)}`), 'parse', 'ERR_SOCKTOOL_BAD_ADDRESS'],
    ['a refused tcp dial', async () => dial(`tcp://127.0.0.1:${await deadPort()}`), 'dial', 'ECONNREFUSED'],
    ['a unix dial to a missing path', () => dial(`unix://${sockPath()}`), 'dial', 'ENOENT'],
    ['dial on a datagram network', () => dial('udp://127.0.0.1:9'), 'dial', 'ERR_SOCKTOOL_WRONG_SHAPE'],
    ['listen on a datagram network', () => listen('udp://127.0.0.1:0'), 'listen', 'ERR_SOCKTOOL_WRONG_SHAPE'],
    ['bind on a stream network', () => bind('tcp://127.0.0.1:0'), 'bind', 'ERR_SOCKTOOL_WRONG_SHAPE'],
    ['dial on unixgram (a datagram network)', () => dial('unixgram:///tmp/x.sock'), 'dial', 'ERR_SOCKTOOL_WRONG_SHAPE'],
    ['bind on unixpacket (a stream network)', () => bind('unixpacket:@socktool-test'), 'bind', 'ERR_SOCKTOOL_WRONG_SHAPE'],
    ['a dial to an abstract name nobody holds', () => dial('unix:@socktool-nobody-here'), 'dial', 'ECONNREFUSED'],
    ['a unixgram bind in a missing directory', () => bind(`unixgram://${sockPath('missing/g.sock')}`), 'bind', 'ENOENT'],
    ['listen on an unnamed unix address', () => listen('unix:'), 'listen', 'EINVAL'],
    ['a dial whose signal timed out', () => dial('tcp://127.0.0.1:9', { signal: AbortSignal.abort(new DOMException('t', 'TimeoutError')) }), 'dial', 'ETIMEDOUT'],
    ['a dial whose signal was aborted', () => dial('tcp://127.0.0.1:9', { signal: AbortSignal.abort() }), 'dial', 'ERR_SOCKTOOL_ABORTED'],
    ['a listen on an address this host does not have', () => listen('tcp://192.0.2.1:0'), 'listen', 'EADDRNOTAVAIL'],
    ['a unix listen in a missing directory', () => listen(`unix://${sockPath('missing/dir.sock')}`), 'listen', 'ENOENT'],
  ];
  it.each(cases)('%s', async (_, action, op, code) => {
    const err = await failure(action);
    expect(err.op).toBe(op);
    expect(err.code).toBe(code);
    expect(err.message).toContain(`(${code})`);
  });

  it('EADDRINUSE for tcp listen and udp bind', async () => {
    const l = await listen('tcp://127.0.0.1:0');
    const u = await bind('udp://127.0.0.1:0');
    try {
      const tcpErr = await failure(listen(l.addr));
      expect([tcpErr.op, tcpErr.code]).toEqual(['listen', 'EADDRINUSE']);
      expect(tcpErr.addr).toEqual(l.addr);
      const udpErr = await failure(bind(u.localAddr));
      expect([udpErr.op, udpErr.code]).toEqual(['bind', 'EADDRINUSE']);
    } finally {
      await l.close();
      await u.close();
    }
  });

  it('ERR_SOCKTOOL_CLOSED for accept, recv, send and write after close', async () => {
    const l = await listen('tcp://127.0.0.1:0');
    const conn = await dial(l.addr);
    const accepted = await l.accept();
    await l.close();
    expect(await failure(l.accept())).toMatchObject({ op: 'accept', code: 'ERR_SOCKTOOL_CLOSED' });
    await conn.close();
    expect(await failure(conn.write('late'))).toMatchObject({ op: 'write', code: 'ERR_SOCKTOOL_CLOSED' });
    await accepted.close();

    const u = await bind('udp://127.0.0.1:0');
    await u.close();
    expect(await failure(u.recvFrom())).toMatchObject({ op: 'recv', code: 'ERR_SOCKTOOL_CLOSED' });
    expect(await failure(u.sendTo('late', u.localAddr))).toMatchObject({ op: 'send', code: 'ERR_SOCKTOOL_CLOSED' });
  });

  it('EDESTADDRREQ for send() on an unconnected datagram socket', async () => {
    const u = await bind('udp://127.0.0.1:0');
    try {
      expect(await failure(u.send('to whom?'))).toMatchObject({ op: 'send', code: 'EDESTADDRREQ' });
    } finally {
      await u.close();
    }
  });

  it('ECONNREFUSED on recv for a connected udp socket whose peer is gone (ICMP port unreachable)', async () => {
    const gone = await bind('udp://127.0.0.1:0');
    await gone.close();
    const u = await bind('udp://127.0.0.1:0');
    try {
      await u.connect(gone.localAddr);
      await u.send('anyone?');
      expect(await failure(u.recvFrom({ signal: AbortSignal.timeout(5000) }))).toMatchObject({ op: 'recv', code: 'ECONNREFUSED' });
    } finally {
      await u.close();
    }
  });

  it('ECONNRESET reaches the reader of a connection the peer reset', async () => {
    const l = await listen('tcp://127.0.0.1:0');
    try {
      const conn = await dial(l.addr);
      const accepted = await l.accept();
      // Conn.stream is typed as a Duplex; under tcp it is the net.Socket, which can send an RST.
      (conn.stream as Socket).resetAndDestroy();
      expect(await failure(accepted.read({ signal: AbortSignal.timeout(5000) }))).toMatchObject({ op: 'read', code: 'ECONNRESET' });
    } finally {
      await l.close();
    }
  });

  it('reads like Go: op, network, address, text, code', async () => {
    const port = await deadPort();
    const err = await failure(dial(`tcp://127.0.0.1:${port}`));
    expect(err.message).toBe(`dial tcp 127.0.0.1:${port}: connection refused (ECONNREFUSED)`);
    expect(err.network).toBe('tcp');
    expect(err.errno).toBeGreaterThan(0);
    expect(err.cause).toBeInstanceOf(Error);
  });

  it('serve() fails the same way as the call it makes', async () => {
    const s = await serve('udp://127.0.0.1:0', echo);
    try {
      expect(await failure(serve(s.addr, echo))).toMatchObject({ op: 'bind', code: 'EADDRINUSE' });
    } finally {
      await s.close();
    }
  });
});
