import { execFileSync } from 'node:child_process';
import { existsSync, lstatSync, readFileSync, writeFileSync } from 'node:fs';
import { connect, createServer } from 'node:net';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { abstractName, needs, PEERS, portOf, run, sockPath, socktool, startServer, until } from './helpers.js';

const py = (script: string, ...args: string[]) => run('python3', [join(PEERS, script), ...args]);

/** The one-line error contract: exactly one line on stderr, prefixed, no stack trace. */
function oneLine(stderr: string): string {
  const lines = stderr.split('\n').filter(Boolean);
  expect(lines).toHaveLength(1);
  expect(lines[0]).toMatch(/^socktool: /);
  expect(stderr).not.toMatch(/\n\s+at /);
  return lines[0]!;
}

describe('socktool udp-echo', () => {
  it('answers Python sendto/recvfrom clients, each datagram back to its own sender', async () => {
    const server = await startServer(['udp-echo', '--port', '0']);
    expect(server.address).toMatch(/^udp:\/\/127\.0\.0\.1:\d+$/);
    const port = String(portOf(server.address));
    const clients = await Promise.all([0, 1, 2, 3].map((i) => py('udp_client.py', '127.0.0.1', port, `hello ${i}`, '红烧肉', `bye ${i}`)));
    clients.forEach((c, i) => {
      expect(c.stderr).toBe('');
      expect(c.stdout).toBe(`hello ${i}\n红烧肉\nbye ${i}\n`);
    });
    expect(await server.stop('SIGINT')).toEqual({ code: 0, signal: null });
  });

  it('serves IPv6 with --host ::1', async () => {
    const server = await startServer(['udp-echo', '--host', '::1', '--port', '0']);
    expect(server.address).toMatch(/^udp:\/\/\[::1\]:\d+$/);
    const c = await py('udp_client.py', '::1', String(portOf(server.address)), 'six');
    expect(c.stdout).toBe('six\n');
    expect((await server.stop()).code).toBe(0);
  });
});

describe('socktool tcp-echo', () => {
  it('echoes to concurrent nc clients, byte-exact', async (ctx) => {
    needs(ctx, 'nc');
    const server = await startServer(['tcp-echo', '--port', '0']);
    expect(server.address).toMatch(/^tcp:\/\/127\.0\.0\.1:\d+$/);
    const port = String(portOf(server.address));
    const inputs = Array.from({ length: 8 }, (_, i) => `line one of ${i}\nline two\0with NUL of ${i}\n`);
    const results = await Promise.all(inputs.map((text) => run('nc', ['-N', '127.0.0.1', port], text)));
    results.forEach((r, i) => expect(r.stdout).toBe(inputs[i]));
    expect((await server.stop()).code).toBe(0);
  });

  it('stops on SIGTERM at once, even with a client connected and idle', async () => {
    const server = await startServer(['tcp-echo', '--port', '0']);
    const client = connect(portOf(server.address), '127.0.0.1');
    await new Promise((resolve) => client.once('connect', resolve));
    client.write('one round trip first');
    await new Promise((resolve) => client.once('data', resolve));
    const closed = new Promise((resolve) => client.once('close', resolve));
    client.on('error', () => {});
    expect(await server.stop('SIGTERM')).toEqual({ code: 0, signal: null });
    await closed;
  });
});

describe('socktool unix-server', () => {
  it('serves a Python AF_UNIX client, upper-cases with --upper, and removes its file on SIGTERM', async () => {
    const path = sockPath();
    const server = await startServer(['unix-server', path, '--upper']);
    expect(server.address).toBe(`unix://${path}`);
    const c = await py('unix_client.py', path, 'hello', 'mixed Case 红烧肉');
    expect(c.stdout).toBe('HELLO\nMIXED CASE 红烧肉\n');
    expect(await server.stop('SIGTERM')).toEqual({ code: 0, signal: null });
    expect(existsSync(path)).toBe(false);
  });

  it('keeps serving after clients die mid-conversation, even with a reset', async () => {
    const path = sockPath();
    const server = await startServer(['unix-server', path]);
    const dying = await Promise.all([py('unix_reset_client.py', path), py('unix_reset_client.py', path, 'rst')]);
    dying.forEach((d) => expect(d.stdout).toBe('gone\n'));
    // The reset really happened: the server reported it in one line and carried on.
    await until(() => server.stderr().includes('ECONNRESET'), 'the reset reported');
    const many = await Promise.all(Array.from({ length: 10 }, (_, i) => py('unix_client.py', path, `client ${i}`)));
    many.forEach((m, i) => expect(m.stdout).toBe(`client ${i}\n`));
    expect(server.stderr()).not.toMatch(/\n\s+at /);
    expect((await server.stop()).code).toBe(0);
  });

  it('replaces a stale socket file', async () => {
    const path = sockPath();
    execFileSync('python3', [join(PEERS, 'stale_socket.py'), path]);
    const server = await startServer(['unix-server', path]);
    expect((await py('unix_client.py', path, 'fresh')).stdout).toBe('fresh\n');
    expect((await server.stop()).code).toBe(0);
  });

  it('refuses a live server\'s path (exit 5, one line) and leaves that server unharmed', async () => {
    const path = sockPath();
    const live = await startServer(['unix-server', path]);
    const second = await socktool(['unix-server', path]);
    expect(second.code).toBe(5);
    expect(oneLine(second.stderr)).toContain('EADDRINUSE');
    expect(lstatSync(path).isSocket()).toBe(true);
    expect((await py('unix_client.py', path, 'unharmed')).stdout).toBe('unharmed\n');
    expect((await live.stop()).code).toBe(0);
  });

  it('--type dgram: answers a bound Python SOCK_DGRAM client, on a path and on an @abstract name', async () => {
    const path = sockPath();
    const server = await startServer(['unix-server', path, '--type', 'dgram', '--upper']);
    expect(server.address).toBe(`unixgram://${path}`);
    const c = await py('unixgram_client.py', path, sockPath('client.sock'), 'datagram');
    expect(c.stdout).toBe(`DATAGRAM ${path}\n`);
    expect(await server.stop('SIGTERM')).toEqual({ code: 0, signal: null });
    expect(existsSync(path)).toBe(false);
    const name = abstractName();
    const abs = await startServer(['unix-server', `@${name}`, '--type', 'dgram']);
    expect(abs.address).toBe(`unixgram:@${name}`);
    expect((await py('unixgram_client.py', `@${name}`, `@${abstractName()}`, 'abstract')).stdout).toBe(`abstract @${name}\n`);
    expect((await abs.stop()).code).toBe(0);
  });

  it('--type seqpacket: each Python packet comes back as one packet', async () => {
    const path = sockPath();
    const server = await startServer(['unix-server', path, '--type', 'seqpacket']);
    expect(server.address).toBe(`unixpacket://${path}`);
    const c = await py('seqpacket_client.py', path, 'one', 'two', 'three');
    expect(c.stdout).toBe("b'one'\nb'two'\nb'three'\n");
    expect((await server.stop()).code).toBe(0);
    expect(existsSync(path)).toBe(false);
  });

  it('--type with an unknown type is a usage error (exit 2, one line)', async () => {
    const r = await socktool(['unix-server', sockPath(), '--type', 'raw']);
    expect(r.code).toBe(2);
    expect(oneLine(r.stderr)).toContain('raw');
  });

  it('refuses a path that holds a regular file (exit 5) without touching it', async () => {
    const path = sockPath('notes.txt');
    writeFileSync(path, 'keep me');
    const r = await socktool(['unix-server', path]);
    expect(r.code).toBe(5);
    oneLine(r.stderr);
    expect(readFileSync(path, 'utf8')).toBe('keep me');
  });
});

describe('with socat as the peer', () => {
  it('udp-echo answers socat\'s UDP client', async (ctx) => {
    needs(ctx, 'socat');
    const server = await startServer(['udp-echo', '--port', '0']);
    const r = await run('socat', ['-t', '2', '-', `UDP:127.0.0.1:${portOf(server.address)}`], 'from socat\n');
    expect(r.stdout).toBe('from socat\n');
    expect((await server.stop()).code).toBe(0);
  });

  it('unix-server answers socat\'s UNIX-CONNECT, half-close and all', async (ctx) => {
    needs(ctx, 'socat');
    const path = sockPath();
    const server = await startServer(['unix-server', path, '--upper']);
    const r = await run('socat', ['-', `UNIX-CONNECT:${path}`], 'socat says hi\n');
    expect(r.stdout).toBe('SOCAT SAYS HI\n');
    expect((await server.stop()).code).toBe(0);
  });

  it('tcp-echo answers socat\'s TCP6 client on ::1', async (ctx) => {
    needs(ctx, 'socat');
    const server = await startServer(['tcp-echo', '--host', '::1', '--port', '0']);
    expect(server.address).toMatch(/^tcp:\/\/\[::1\]:\d+$/);
    const r = await run('socat', ['-', `TCP6:[::1]:${portOf(server.address)}`], Buffer.from([0, 1, 2, 255, 10]));
    expect(r.bytes).toEqual(Buffer.from([0, 1, 2, 255, 10]));
    expect((await server.stop()).code).toBe(0);
  });
});

describe('exit codes and one-line errors', () => {
  const cases: [string, string[], number][] = [
    ['a port out of range', ['udp-echo', '--port', '70000'], 2],
    ['a port that is not a number', ['tcp-echo', '--port', 'http'], 2],
    ['a bad host', ['tcp-echo', '--host', '::1::', '--port', '0'], 2],
    ['an unknown option', ['tcp-echo', '--bogus'], 2],
    ['an unknown command', ['frobnicate'], 2],
    ['a missing argument', ['unix-server'], 2],
    ['a unix path over 107 bytes', ['unix-server', `/tmp/${'x'.repeat(120)}.sock`], 2],
    ['a unix path in a missing directory', ['unix-server', '/nonexistent-socktool-dir/app.sock'], 4],
    ['a host this machine does not have', ['tcp-echo', '--host', '192.0.2.1', '--port', '0'], 5],
  ];
  it.each(cases)('%s', async (_, args, code) => {
    const r = await socktool(args);
    expect(r.code).toBe(code);
    oneLine(r.stderr);
    expect(r.stdout).toBe('');
  });

  it('exit 5 for a port another program holds, naming the address', async () => {
    const holder = createServer();
    await new Promise<void>((resolve) => holder.listen(0, '127.0.0.1', resolve));
    const port = (holder.address() as { port: number }).port;
    try {
      const r = await socktool(['tcp-echo', '--port', String(port)]);
      expect(r.code).toBe(5);
      expect(oneLine(r.stderr)).toContain(`127.0.0.1:${port}`);
    } finally {
      holder.close();
    }
  });

  it('--help shows the examples and the exit codes (the table at the top, one line per command), and exits 0', async () => {
    for (const args of [['--help'], ['udp-echo', '--help'], ['unix-server', '--help']]) {
      const r = await socktool(args);
      expect(r.code).toBe(0);
      expect(r.stdout).toContain(args.length === 1 ? '5  address in use or permission denied' : '5 in use/denied');
      expect(r.stdout).toMatch(/Examples:\n {2}socktool /);
    }
  });
});
