// Socket activation and inetd: every kind of socket handed to socktool by Debian's systemd-socket-activate (no
// systemd as PID 1 needed), named fd:N or fd:NAME, its address read from the descriptor.
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { dial, listen } from '../src/index.js';
import { abstractName, BIN, cli, closedPort, live, needs, oneLineOf, PEERS, run, tempDir, type Live } from './helpers.js';

/** systemd-socket-activate with `flags`, running socktool with `args`; resolves once it listens. */
async function activate(flags: string[], args: string[]): Promise<Live> {
  const sa = live('systemd-socket-activate', [...flags, process.execPath, BIN, ...args]);
  await sa.waitFor(/Listening on .* as 3\.\n/, 8000, 'stderr');
  return sa;
}

/** test/peers/echo_client.py: one message and what came back. */
const roundTrip = async (kind: string, where: string, message = 'hi') =>
  (await run('python3', [join(PEERS, 'echo_client.py'), kind, where, message])).stdout.trim();

interface Row {
  kind: string;
  /** The manager's flags, and what the client connects to. */
  flags: () => Promise<{ flags: string[]; where: string; file?: string }>;
  /** The address socktool must report (read from the descriptor). */
  address: (where: string) => string;
}

const onPath = (flag: string[]) => async () => {
  const file = join(tempDir(), 'a.sock');
  return { flags: [...flag, '-l', file], where: file, file };
};

// The seven kinds: tcp, tcp6, udp, and unix stream, datagram, seqpacket on paths and stream on an abstract name.
const ROWS: Row[] = [
  { kind: 'tcp', flags: async () => {
    const where = `127.0.0.1:${closedPort('tcp', '127.0.0.1')}`;
    return { flags: ['-l', where], where };
  }, address: (w) => `tcp://${w}` },
  { kind: 'tcp', flags: async () => {
    const where = `[::1]:${closedPort('tcp', '::1')}`;
    return { flags: ['-l', where], where };
  }, address: (w) => `tcp6://${w}` },
  { kind: 'udp', flags: async () => {
    const where = `127.0.0.1:${closedPort('udp', '127.0.0.1')}`;
    return { flags: ['--datagram', '-l', where], where };
  }, address: (w) => `udp://${w}` },
  { kind: 'unix', flags: onPath([]), address: (w) => `unix://${w}` },
  { kind: 'unixgram', flags: onPath(['--datagram']), address: (w) => `unixgram://${w}` },
  { kind: 'unixpacket', flags: onPath(['--seqpacket']), address: (w) => `unixpacket://${w}` },
  { kind: 'unix', flags: async () => {
    const where = `@${abstractName()}`;
    return { flags: ['-l', where], where };
  }, address: (w) => `unix:${w}` },
];

describe.each(ROWS.map((r) => [r.address('…'), r] as const))('activated %s', (_, row) => {
  it('serve fd:NAME answers the client that started it, reports the real address, leaves the file', async (ctx) => {
    needs(ctx, 'systemd-socket-activate');
    const { flags, where, file } = await row.flags();
    const sa = await activate([...flags, '--fdname=app'], ['serve', 'fd:app']);
    expect(await roundTrip(row.kind, where)).toBe('hi');
    await sa.waitFor(/^listening on (\S+)\n/m, 8000, 'stderr');
    expect(sa.stderr()).toContain(`\nlistening on ${row.address(where)}\n`);
    expect(await roundTrip(row.kind, where, 'again')).toBe('again');
    sa.child.kill('SIGTERM');
    expect((await sa.exited).code).toBe(0);
    // The manager made the socket file: it is not socktool's to remove.
    if (file) expect(existsSync(file)).toBe(true);
  });
});

describe('per-connection activation', () => {
  it.for([
    ['tcp', ['--accept'], 'fd:3'],
    ['unix', ['--accept'], 'fd:3'],
    ['unixpacket', ['--accept', '--seqpacket'], 'fd:3'],
    ['tcp', ['--accept', '--inetd'], 'fd:0'],
    ['unix', ['--accept', '--inetd'], 'fd:0'],
  ] as const)('%s %j: serve %s handles its one connection and exits 0, once per client', async ([kind, flags, fd], ctx) => {
    needs(ctx, 'systemd-socket-activate');
    const where = kind === 'tcp' ? `127.0.0.1:${closedPort('tcp', '127.0.0.1')}` : join(tempDir(), 'a.sock');
    const sa = await activate([...flags, '-l', where], ['serve', fd]);
    expect(await roundTrip(kind, where, 'one')).toBe('one');
    expect(await roundTrip(kind, where, 'two')).toBe('two');
    // The manager logs each instance's end; both ended by themselves, with 0.
    await sa.waitFor(/(Child \d+ died with code 0\n[^]*){2}/, 8000, 'stderr');
    expect(sa.stderr()).not.toMatch(/died with code [1-9]/);
    sa.child.kill('SIGTERM');
    await sa.exited;
  });

  it('listen fd:3 prints what its one client sent, and ends with it', async (ctx) => {
    needs(ctx, 'systemd-socket-activate');
    const where = join(tempDir(), 'a.sock');
    const sa = await activate(['--accept', '-l', where], ['listen', 'fd:3']);
    expect(await roundTrip('unix', where, 'to the log')).toBe('closed');
    await sa.waitFor(/Child \d+ died with code 0\n/, 8000, 'stderr');
    sa.child.kill('SIGTERM');
    await sa.exited;
    expect(sa.stdout()).toBe('to the log');
  });
});

describe('inherited sockets', () => {
  it('children run by --exec inherit neither the LISTEN_ variables nor any passed descriptor', async (ctx) => {
    needs(ctx, 'systemd-socket-activate');
    const dir = tempDir();
    const [one, two] = [join(dir, 'one.sock'), join(dir, 'two.sock')];
    // The variables, then which of the shell's descriptors past stdio are sockets.
    const show = 'echo "${LISTEN_FDS:-unset} ${LISTEN_PID:-unset} ${LISTEN_FDNAMES:-unset}"; '
      + 'for f in /proc/$$/fd/*; do [ ${f##*/} -gt 2 ] && case $(readlink $f) in socket:*) printf "%s " ${f##*/};; esac; done; true';
    const sa = await activate(['-l', one, '-l', two, '--fdname=one:two'], ['serve', 'fd:two', '--sh-exec', show]);
    // fd 3 (one.sock) is not taken, fd 4 is: neither reaches the child, and the variables are gone.
    expect(await roundTrip('unix', two, '')).toBe('unset unset unset');
    sa.child.kill('SIGTERM');
    expect((await sa.exited).code).toBe(0);
  });

  it('a name not passed, a descriptor that is no socket, or a socket of another kind is one clear error', async (ctx) => {
    needs(ctx, 'systemd-socket-activate');
    const where = join(tempDir(), 'a.sock');
    const cases: [string[], string[], number, RegExp][] = [
      [['--fdname=web'], ['serve', 'fd:api'], 1, /fd:api: no inherited socket is named "api" \(LISTEN_FDNAMES: web\) \(EINVAL\)/],
      [[], ['serve', 'fd:999'], 1, /fd:999: no such descriptor \(EBADF\)/],
      [[], ['unix-server', 'fd:3', '--type', 'dgram'], 2, /fd:3 is a unix socket \(unix:\/\/.*a\.sock\), and this command serves unixgram \(--type dgram\)/],
      [[], ['udp-echo', '--fd', '3'], 2, /fd:3 is a unix socket .* and this command serves udp only/],
      [[], ['serve', 'fd:3', '--mode', '0600'], 2, /--mode does not apply: fd 3 was made by whoever passed it/],
    ];
    for (const [flags, args, code, message] of cases) {
      const sa = await activate([...flags, '-l', where], args);
      expect(await roundTrip('unix', where)).toBe('closed');
      const { code: exit } = await sa.exited;
      expect([args, exit]).toEqual([args, code]);
      expect(sa.stderr()).toMatch(message);
      expect(sa.stderr()).not.toMatch(/\n\s+at /);
    }
    const notSocket = await run('sh', ['-c', 'exec "$0" "$1" serve fd:0 < /dev/null', process.execPath, BIN]);
    expect([notSocket.code, oneLineOf(notSocket)]).toEqual([1, expect.stringMatching(/fd:0: not a socket \(ENOTSOCK\)/)]);
    const noVars = await cli(['serve', 'fd:web']);
    expect(oneLineOf(noVars)).toMatch(/fd:web: no sockets were passed to this process/);
  });

  it('dial refuses an inherited listening socket, and an inherited socket takes no option that makes sockets', async () => {
    // Sockets of this process stand in for inherited ones: fd:N is any descriptor.
    const l = await listen('tcp://127.0.0.1:0');
    await expect(dial(`fd:${l.fd}`)).rejects.toMatchObject({ code: 'EINVAL', op: 'dial' });
    const u = await listen('tcp://127.0.0.1:0');
    await expect(listen(`fd:${u.fd}`, { reusePort: true })).rejects.toMatchObject({ code: 'EINVAL', op: 'listen' });
    await l.close();
    await u.close();
  });
});
