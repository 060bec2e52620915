// socktool/bsd's call table, one parity table over every family × type this platform has, public surface only.
import { closeSync, openSync } from 'node:fs';
import { constants as os } from 'node:os';
import { describe, expect, it } from 'vitest';
import {
  AF_INET, AF_INET6, AF_UNIX, BlockingIOError, create_connection, create_server, fromfd, getaddrinfo, gethostbyname,
  IPPROTO_TCP, IPPROTO_UDP, OSError, SHUT_RD, SHUT_WR, SO_RCVBUF, SO_TYPE, SOCK_DGRAM, SOCK_SEQPACKET, SOCK_STREAM,
  socket, SOL_SOCKET, TCP_NODELAY, TimeoutError, type SockAddr, type Socket,
} from '../src/bsd/index.js';
import { abstractName, platformHas, sockPath } from './helpers.js';

const E = os.errno;
const v6 = platformHas('ipv6');

interface Row {
  name: string;
  family: number;
  type: number;
  /** Where a server binds (port 0 for inet). */
  here(): SockAddr;
  /** An address nobody serves, and the errno connect_ex gives for it. */
  nowhere(): SockAddr;
  nowhereErrno: number;
}

/** A free TCP/UDP port nobody listens on: bound by a socket that is then closed. */
async function deadPort(family: number, type: number): Promise<number> {
  const s = socket(family, type);
  await s.bind([family === AF_INET6 ? '::1' : '127.0.0.1', 0]);
  const port = (s.getsockname() as [string, number])[1];
  await s.close();
  return port;
}

let dead4 = 0;
let dead6 = 0;
const inet = (family: number, type: number, host: string): Row => ({
  name: `${family === AF_INET ? 'AF_INET' : 'AF_INET6'} ${type === SOCK_STREAM ? 'SOCK_STREAM' : 'SOCK_DGRAM'}`,
  family, type,
  here: () => [host, 0],
  nowhere: () => [host, family === AF_INET ? dead4 : dead6],
  nowhereErrno: E.ECONNREFUSED,
});
const unix = (type: number, abstract: boolean): Row => ({
  name: `AF_UNIX ${type === SOCK_STREAM ? 'SOCK_STREAM' : type === SOCK_DGRAM ? 'SOCK_DGRAM' : 'SOCK_SEQPACKET'}${abstract ? ' abstract' : ''}`,
  family: AF_UNIX, type,
  here: () => (abstract ? `\0${abstractName()}` : sockPath()),
  nowhere: () => (abstract ? `\0${abstractName()}` : sockPath()),
  // A missing file is ENOENT; a missing abstract name is refused.
  nowhereErrno: abstract ? E.ECONNREFUSED : E.ENOENT,
});

const STREAMS: Row[] = [
  inet(AF_INET, SOCK_STREAM, '127.0.0.1'),
  ...(v6 ? [inet(AF_INET6, SOCK_STREAM, '::1')] : []),
  unix(SOCK_STREAM, false),
  unix(SOCK_STREAM, true),
];
const PACKETS: Row[] = [unix(SOCK_SEQPACKET, false), unix(SOCK_SEQPACKET, true)];
const DATAGRAMS: Row[] = [
  inet(AF_INET, SOCK_DGRAM, '127.0.0.1'),
  ...(v6 ? [inet(AF_INET6, SOCK_DGRAM, '::1')] : []),
  unix(SOCK_DGRAM, false),
  unix(SOCK_DGRAM, true),
];

/** A connected pair over a listening socket: [client, accepted, server, the accepted client's address]. */
async function pair(row: Row): Promise<{ client: Socket; conn: Socket; server: Socket; peer: SockAddr; close(): Promise<void> }> {
  const server = socket(row.family, row.type);
  await server.bind(row.here());
  await server.listen(8);
  const client = socket(row.family, row.type);
  await client.connect(server.getsockname());
  const [conn, peer] = await server.accept();
  return { client, conn, server, peer, close: async () => void (await Promise.all([client.close(), conn.close(), server.close()])) };
}

async function rejects<T extends Error>(p: Promise<unknown>, kind: new (...a: never[]) => T): Promise<T> {
  const err = await p.then(() => undefined, (e: unknown) => e);
  expect(err).toBeInstanceOf(kind);
  return err as T;
}

describe.each([...STREAMS, ...PACKETS])('$name', (row) => {
  it('bind/listen/accept/connect: getsockname is concrete, accept gives [socket, address], names agree', async () => {
    const p = await pair(row);
    try {
      const name = p.server.getsockname();
      if (row.family === AF_UNIX) expect(name).toBe(typeof name === 'string' && name);
      else expect((name as [string, number])[1]).toBeGreaterThan(0);
      expect(p.client.getpeername()).toEqual(name);
      expect(p.conn.getsockname()).toEqual(name);
      // An AF_UNIX client binds no name of its own: its address is ''.
      expect(p.peer).toEqual(row.family === AF_UNIX ? '' : p.client.getsockname());
      expect(p.conn.getpeername()).toEqual(p.peer);
    } finally {
      await p.close();
    }
  });

  it('connect_ex: 0 when someone listens, the errno when nobody does', async () => {
    dead4 = await deadPort(AF_INET, SOCK_STREAM);
    if (v6) dead6 = await deadPort(AF_INET6, SOCK_STREAM);
    const p = await pair(row);
    const again = socket(row.family, row.type);
    const missing = socket(row.family, row.type);
    try {
      expect(await again.connect_ex(p.server.getsockname())).toBe(0);
      expect(await missing.connect_ex(row.nowhere())).toBe(row.nowhereErrno);
      const err = await rejects(socket(row.family, row.type).connect(row.nowhere()), OSError);
      expect([err.errno, err.code]).toEqual([row.nowhereErrno, row.nowhereErrno === E.ENOENT ? 'ENOENT' : 'ECONNREFUSED']);
    } finally {
      await Promise.all([again.close(), missing.close(), p.close()]);
    }
  });

  it('recv at EOF: an empty buffer, every time; shutdown(SHUT_RD) gives the same', async () => {
    const p = await pair(row);
    try {
      await p.client.sendall('last words');
      await p.client.shutdown(SHUT_WR);
      expect((await p.conn.recv(100)).toString()).toBe('last words');
      expect((await p.conn.recv(100)).length).toBe(0);
      expect((await p.conn.recv(100)).length).toBe(0);
      await p.conn.sendall('still open the other way');
      expect((await p.client.recv(100)).toString()).toBe('still open the other way');
      await p.client.shutdown(SHUT_RD);
      expect((await p.client.recv(100)).length).toBe(0);
    } finally {
      await p.close();
    }
  });

  it('timeouts: settimeout raises TimeoutError (ETIMEDOUT); setblocking(false) raises BlockingIOError (EAGAIN) at once', async () => {
    const p = await pair(row);
    try {
      p.conn.settimeout(0.1);
      expect(p.conn.gettimeout()).toBe(0.1);
      const t = await rejects(p.conn.recv(10), TimeoutError);
      expect([t.code, t.errno]).toEqual(['ETIMEDOUT', E.ETIMEDOUT]);
      p.conn.setblocking(false);
      expect([p.conn.gettimeout(), p.conn.getblocking()]).toEqual([0, false]);
      const b = await rejects(p.conn.recv(10), BlockingIOError);
      expect([b.code, b.errno]).toEqual(['EAGAIN', E.EAGAIN]);
      p.server.setblocking(false);
      await rejects(p.server.accept(), BlockingIOError);
      // Data already there is returned at once, even non-blocking.
      await p.client.sendall('ready');
      await expect.poll(async () => (await p.conn.recv(10).catch(() => Buffer.alloc(0))).toString()).toBe('ready');
      p.conn.settimeout(null);
      expect(p.conn.gettimeout()).toBeNull();
    } finally {
      await p.close();
    }
  });

  it('options: SO_TYPE is the type; SO_RCVBUF set then read; fileno while open, -1 after; close twice is fine', async () => {
    const p = await pair(row);
    expect(await p.conn.getsockopt(SOL_SOCKET, SO_TYPE)).toBe(row.type);
    await p.conn.setsockopt(SOL_SOCKET, SO_RCVBUF, 65536);
    expect(await p.conn.getsockopt(SOL_SOCKET, SO_RCVBUF)).toBeGreaterThanOrEqual(65536);
    if (row.family !== AF_UNIX) {
      await p.client.setsockopt(IPPROTO_TCP, TCP_NODELAY, 1);
      expect(await p.client.getsockopt(IPPROTO_TCP, TCP_NODELAY)).toBe(1);
    } else {
      const err = await rejects(p.client.getsockopt(IPPROTO_TCP, TCP_NODELAY), OSError);
      expect(err.code).toBe('ENOPROTOOPT');
    }
    expect(p.conn.fileno()).toBeGreaterThanOrEqual(0);
    await p.close();
    await p.conn.close();
    expect(p.conn.fileno()).toBe(-1);
    expect((await rejects(p.conn.recv(1), OSError)).code).toBe('EBADF');
  });
});

describe.each(STREAMS)('$name (byte stream)', (row) => {
  it('send returns the count; recv(bufsize) returns at most bufsize; sendall moves 1 MiB intact', async () => {
    const p = await pair(row);
    try {
      expect(await p.client.send('红烧肉')).toBe(9);
      expect((await p.conn.recv(4)).length).toBe(4);
      expect((await p.conn.recv(100)).length).toBe(5);
      const big = Buffer.alloc(1 << 20);
      for (let i = 0; i < big.length; i++) big[i] = (i * 7) & 0xff;
      const sent = p.client.sendall(big).then(() => p.client.shutdown(SHUT_WR));
      const got: Buffer[] = [];
      for (let d = await p.conn.recv(65536); d.length > 0; d = await p.conn.recv(65536)) {
        expect(d.length).toBeLessThanOrEqual(65536);
        got.push(d);
      }
      await sent;
      expect(Buffer.concat(got).equals(big)).toBe(true);
    } finally {
      await p.close();
    }
  });

  it('makefile: text mode reads lines; binary write mode sends through the socket', async () => {
    const p = await pair(row);
    try {
      const out = p.client.makefile('wb');
      out.write('first line\n红烧肉\nno newline at the end');
      await new Promise<void>((resolve) => out.end(resolve));
      await p.client.shutdown(SHUT_WR);
      const reader = p.conn.makefile('r');
      expect(await reader.readline()).toBe('first line\n');
      expect(await reader.readline()).toBe('红烧肉\n');
      expect(await reader.readline()).toBe('no newline at the end');
      expect(await reader.readline()).toBe('');
    } finally {
      await p.close();
    }
  });
});

describe.each(PACKETS)('$name (messages)', (row) => {
  it('each send is one message; recv(bufsize) cuts a longer one and discards the rest, as the kernel does', async () => {
    const p = await pair(row);
    try {
      expect(await p.client.send('first message')).toBe(13);
      await p.client.send('second');
      expect((await p.conn.recv(5)).toString()).toBe('first');
      expect((await p.conn.recv(100)).toString()).toBe('second');
    } finally {
      await p.close();
    }
  });

  it('a message too large to send raises EMSGSIZE, and the socket goes on (as send(2))', async () => {
    const p = await pair(row);
    try {
      const err = await rejects(p.client.send(Buffer.alloc(16 << 20)), OSError);
      expect([err.code, err.errno]).toEqual(['EMSGSIZE', E.EMSGSIZE]);
      await p.client.send('after');
      expect((await p.conn.recv(100)).toString()).toBe('after');
    } finally {
      await p.close();
    }
  });
});

describe.each(DATAGRAMS)('$name', (row) => {
  async function bound(): Promise<Socket> {
    const s = socket(row.family, row.type);
    await s.bind(row.here());
    return s;
  }

  it('sendto/recvfrom: the sender address is the sender getsockname; an unbound sender is bound by sendto and answered', async () => {
    const server = await bound();
    const named = await bound();
    const unbound = socket(row.family, row.type);
    try {
      const here = server.getsockname();
      if (row.family !== AF_UNIX) expect((here as [string, number])[1]).toBeGreaterThan(0);
      expect(await named.sendto('from named', here)).toBe(10);
      const [data, from] = await server.recvfrom(100);
      expect([data.toString(), from]).toEqual(['from named', named.getsockname()]);
      await unbound.sendto('from unbound', here);
      const [, from2] = await server.recvfrom(100);
      // Bound by sendto to every interface (as the kernel does): the port (or autobound name) is what matches.
      const mine = unbound.getsockname();
      if (row.family === AF_UNIX) expect(from2).toEqual(mine);
      else expect([(from2 as [string, number])[1], (mine as [string, number])[0]]).toEqual([(mine as [string, number])[1], row.family === AF_INET ? '0.0.0.0' : '::']);
      await server.sendto('answer', from2!);
      expect((await unbound.recv(100)).toString()).toBe('answer');
    } finally {
      await Promise.all([server.close(), named.close(), unbound.close()]);
    }
  });

  it('recv(bufsize): one datagram, cut to bufsize, the rest discarded', async () => {
    const server = await bound();
    const client = await bound();
    try {
      await client.sendto('a long datagram', server.getsockname());
      await client.sendto('next', server.getsockname());
      expect((await server.recv(6)).toString()).toBe('a long');
      expect((await server.recv(100)).toString()).toBe('next');
    } finally {
      await Promise.all([server.close(), client.close()]);
    }
  });

  it('connect then send/recv; getpeername; send unconnected is EDESTADDRREQ; timeouts and non-blocking', async () => {
    const server = await bound();
    const client = socket(row.family, row.type);
    try {
      await rejects(client.send('nowhere'), OSError);
      await client.connect(server.getsockname());
      expect(client.getpeername()).toEqual(server.getsockname());
      expect(await client.send('connected')).toBe(9);
      const [data, from] = await server.recvfrom(100);
      expect(data.toString()).toBe('connected');
      await server.sendto('back', from!);
      expect((await client.recv(100)).toString()).toBe('back');
      expect(await client.getsockopt(SOL_SOCKET, SO_TYPE)).toBe(SOCK_DGRAM);
      client.settimeout(0.1);
      expect((await rejects(client.recv(10), TimeoutError)).code).toBe('ETIMEDOUT');
      client.setblocking(false);
      expect((await rejects(client.recvfrom(10), BlockingIOError)).errno).toBe(E.EAGAIN);
    } finally {
      await Promise.all([server.close(), client.close()]);
    }
  });
});

// Not on a unix path: closing the original removes its file (socktool made it), and with it the way in.
describe.each(STREAMS.filter((r) => r.family !== AF_UNIX || r.name.endsWith('abstract')))('$name: fromfd of a listening socket', (row) => {
  it('a duplicate of a listening socket accepts once the original is closed', async () => {
    const server = socket(row.family, row.type);
    await server.bind(row.here());
    await server.listen(8);
    const where = server.getsockname();
    const copy = await fromfd(server.fileno(), row.family, row.type);
    expect(copy.fileno()).toBeGreaterThanOrEqual(0);
    expect(copy.fileno()).not.toBe(server.fileno());
    // (Closed first: while both are open, either may take a connection.)
    await server.close();
    const client = socket(row.family, row.type);
    await client.connect(where);
    const [conn] = await copy.accept();
    await client.sendall('hello');
    expect((await conn.recv(100)).toString()).toBe('hello');
    await Promise.all([client.close(), conn.close(), copy.close()]);
  });
});

describe.each([...STREAMS, ...PACKETS])('$name: fromfd of a connection', (row) => {
  it('a duplicate of a connection sends on it, along with the original', async () => {
    const p = await pair(row);
    const copy = await fromfd(p.client.fileno(), row.family, row.type);
    await copy.sendall('through the copy');
    await p.client.sendall(', then the original');
    await copy.shutdown(SHUT_WR); // one socket: EOF from either is the connection's
    const got: Buffer[] = [];
    for (let data = await p.conn.recv(1024); data.length > 0; data = await p.conn.recv(1024)) got.push(data);
    expect(Buffer.concat(got).toString()).toBe('through the copy, then the original');
    await Promise.all([copy.close(), p.close()]);
  });
});

// Not on a unix path, as above: closing the original removes the file.
describe.each(DATAGRAMS.filter((r) => r.family !== AF_UNIX || r.name.endsWith('abstract')))('$name: fromfd of a datagram socket', (row) => {
  it('a duplicate receives once the original is closed, and answers from the same address', async () => {
    const server = socket(row.family, row.type);
    await server.bind(row.here());
    const where = server.getsockname();
    const copy = await fromfd(server.fileno(), row.family, row.type);
    await server.close(); // (while both are open, either may take a datagram)
    const client = socket(row.family, row.type);
    await client.bind(row.here());
    await client.sendto('ping', where);
    const [data, from] = await copy.recvfrom(100);
    expect(data.toString()).toBe('ping');
    await copy.sendto('pong', from!);
    const [answer, sender] = await client.recvfrom(100);
    expect([answer.toString(), sender]).toEqual(['pong', where]);
    await Promise.all([client.close(), copy.close()]);
  });
});

describe('fromfd: what it refuses', () => {
  it('no such descriptor (EBADF), a file (ENOTSOCK), a socket of another family or type (EINVAL)', async () => {
    const file = openSync('/dev/null', 'r');
    const udp = socket(AF_INET, SOCK_DGRAM);
    await udp.bind(['127.0.0.1', 0]);
    try {
      expect((await rejects(fromfd(987654, AF_INET, SOCK_STREAM), OSError)).code).toBe('EBADF');
      expect((await rejects(fromfd(file, AF_INET, SOCK_STREAM), OSError)).code).toBe('ENOTSOCK');
      const other = await rejects(fromfd(udp.fileno(), AF_INET, SOCK_STREAM), OSError);
      expect([other.code, other.message]).toEqual(['EINVAL', expect.stringContaining(`descriptor ${udp.fileno()} is a udp socket`)]);
      expect((await rejects(fromfd(udp.fileno(), AF_UNIX, SOCK_DGRAM), OSError)).code).toBe('EINVAL');
      // The refused ones took nothing: the datagram socket still works, through a copy too (once the original is
      // closed; while both are open, either may take what arrives).
      const copy = await fromfd(udp.fileno(), AF_INET, SOCK_DGRAM);
      const where = udp.getsockname();
      await udp.close();
      const peer = socket(AF_INET, SOCK_DGRAM);
      await peer.sendto('ping', where);
      expect((await copy.recv(100)).toString()).toBe('ping');
      await Promise.all([copy.close(), peer.close()]);
    } finally {
      closeSync(file);
      await udp.close();
    }
  });
});

describe('where a family and type do not meet, and the module functions', () => {
  it('socket() refuses what the platform lacks, clearly: AF_INET/AF_INET6 SOCK_SEQPACKET, an unknown family', () => {
    for (const family of [AF_INET, AF_INET6]) {
      try {
        socket(family, SOCK_SEQPACKET);
        expect.unreachable();
      } catch (err) {
        expect((err as OSError).code).toBe('EPROTONOSUPPORT');
        expect((err as Error).message).toMatch(/AF_UNIX also SOCK_SEQPACKET/);
      }
    }
    expect(() => socket(12345, SOCK_STREAM)).toThrow(/address family not supported/);
  });

  it('getaddrinfo gives [family, type, proto, canonname, [host, port]]; gethostbyname the first IPv4 address', async () => {
    const infos = await getaddrinfo('localhost', 80, AF_INET);
    expect(infos).toContainEqual([AF_INET, SOCK_STREAM, IPPROTO_TCP, '', ['127.0.0.1', 80]]);
    expect(infos).toContainEqual([AF_INET, SOCK_DGRAM, IPPROTO_UDP, '', ['127.0.0.1', 80]]);
    expect(await getaddrinfo('127.0.0.1', '8080', 0, SOCK_STREAM)).toEqual([[AF_INET, SOCK_STREAM, IPPROTO_TCP, '', ['127.0.0.1', 8080]]]);
    expect(await gethostbyname('localhost')).toBe('127.0.0.1');
  });

  it('create_server and create_connection; a refused create_connection throws ECONNREFUSED', async () => {
    const server = await create_server(['127.0.0.1', 0], { backlog: 16 });
    const client = await create_connection(server.getsockname() as [string, number], 2);
    const [conn] = await server.accept();
    await client.sendall('hi');
    expect((await conn.recv(10)).toString()).toBe('hi');
    await Promise.all([client.close(), conn.close(), server.close()]);
    const port = await deadPort(AF_INET, SOCK_STREAM);
    const err = await rejects(create_connection(['127.0.0.1', port], 2), OSError);
    expect([err.code, err.errno]).toEqual(['ECONNREFUSED', E.ECONNREFUSED]);
  });

  it.runIf(v6)('create_server: dualstack_ipv6 takes IPv4 clients; without it an AF_INET6 server is IPv6-only', async () => {
    const dual = await create_server(['::', 0], { family: AF_INET6, dualstack_ipv6: true });
    const only6 = await create_server(['::', 0], { family: AF_INET6 });
    const a = socket(AF_INET, SOCK_STREAM);
    const b = socket(AF_INET, SOCK_STREAM);
    try {
      expect(await a.connect_ex(['127.0.0.1', (dual.getsockname() as [string, number])[1]])).toBe(0);
      const [, peer] = await dual.accept();
      expect(peer).toEqual(['::ffff:127.0.0.1', (a.getsockname() as [string, number])[1]]);
      expect(await b.connect_ex(['127.0.0.1', (only6.getsockname() as [string, number])[1]])).toBe(E.ECONNREFUSED);
    } finally {
      await Promise.all([dual.close(), only6.close(), a.close(), b.close()]);
    }
  });

  it('create_server reuse_port: two servers share one port and both take connections', async () => {
    const first = await create_server(['127.0.0.1', 0], { reuse_port: true });
    const port = (first.getsockname() as [string, number])[1];
    const second = await create_server(['127.0.0.1', port], { reuse_port: true });
    const taken = new Set<Socket>();
    const clients: Socket[] = [];
    try {
      for (let i = 0; i < 32 && taken.size < 2; i++) {
        const c = socket(AF_INET, SOCK_STREAM);
        clients.push(c);
        await c.connect(['127.0.0.1', port]);
        for (const s of [first, second]) {
          s.setblocking(false);
          const got = await s.accept().catch(() => null);
          if (got) {
            taken.add(s);
            await got[0].close();
          }
        }
      }
      expect(taken.size).toBe(2);
      const plain = await rejects(create_server(['127.0.0.1', port]), OSError);
      expect(plain.code).toBe('EADDRINUSE');
    } finally {
      await Promise.all([first.close(), second.close(), ...clients.map((c) => c.close())]);
    }
  });

  it('a non-blocking connect raises BlockingIOError (EINPROGRESS) and completes in the background', async () => {
    const server = await create_server(['127.0.0.1', 0]);
    const c = socket(AF_INET, SOCK_STREAM);
    c.setblocking(false);
    const err = await rejects(c.connect(server.getsockname()), BlockingIOError);
    expect([err.code, err.errno]).toEqual(['EINPROGRESS', E.EINPROGRESS]);
    const [conn] = await server.accept();
    c.setblocking(true);
    await c.sendall('made it');
    expect((await conn.recv(10)).toString()).toBe('made it');
    await Promise.all([c.close(), conn.close(), server.close()]);
  });
});
