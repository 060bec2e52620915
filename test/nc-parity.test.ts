// `socktool nc` beside OpenBSD nc (Debian's netcat-openbsd): every scenario runs through both, with the same
// peers, and their stdout bytes and exit codes must be equal. The parity table in docs/cli.md is checked
// against what is measured here: each row's exit code is the one both gave.
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { BIN, closedPort, live, needs, portRange, pyServer, ROOT, run, sockPath, type Ran } from './helpers.js';

type Variant = 'nc' | 'socktool nc';
const command = (v: Variant): [string, string[]] => (v === 'nc' ? ['nc', []] : [process.execPath, [BIN, 'nc']]);
const ncRun = (v: Variant, args: string[], input?: string | Buffer, ms?: number): Promise<Ran> => {
  const [cmd, pre] = command(v);
  return run(cmd, [...pre, ...args], input, ms);
};
const ncLive = (v: Variant, args: string[]) => {
  const [cmd, pre] = command(v);
  return live(cmd, [...pre, ...args]);
};

/** Every byte value and UTF-8, split over lines: what byte-exact means. */
const BINARY = Buffer.concat([Buffer.from('first line\n'), Buffer.from([...Array(256).keys()]), Buffer.from('\n红烧肉\n')]);

/** A listener on port 0 with -v, and the port it says the kernel gave it ("Listening on HOST PORT", "Bound on …"). */
async function listenerOnPortZero(v: Variant, flags: string): Promise<{ server: ReturnType<typeof ncLive>; port: string }> {
  const server = ncLive(v, ['-v', flags, '127.0.0.1', '0']);
  const [, port] = await server.waitFor(/(?:Listening|Bound) on \S+ (\d+)\n/, 8000, 'stderr');
  return { server, port: port! };
}

interface Outcome {
  code: number | null;
  stdout: Buffer;
  /** What the other side (a real nc or Python peer) received, when the scenario has one. */
  peer?: string;
  /** stderr lines that must be equal too (nc's -v lines). */
  lines?: string[];
}

interface Scenario {
  name: string;
  /** As the table in docs/cli.md shows it. */
  shown: string;
  play(v: Variant): Promise<Outcome>;
}

/** A listener stopped with SIGTERM: nc dies of it (143), socktool nc closes cleanly (0), so only stdout counts. */
async function stopped(server: ReturnType<typeof ncLive>): Promise<Outcome> {
  server.child.kill('SIGTERM');
  await server.exited;
  return { code: 0, stdout: server.stdoutBytes() };
}

/**
 * A UDP listener with `flags` and senders: the first (a lasting nc), another (gone at once), then the first again.
 * Without -k only the first is heard; its second datagram, sent after the other's, says everything has arrived.
 */
async function udpServer(v: Variant, flags: string): Promise<Outcome> {
  const { server, port } = await listenerOnPortZero(v, flags);
  const first = live('nc', ['-u', '127.0.0.1', port]);
  try {
    first.child.stdin.write('from the first\n');
    await server.waitFor(/from the first\n/);
    await run('nc', ['-u', '-q0', '127.0.0.1', port], 'from another\n');
    first.child.stdin.write('the first again\n');
    await server.waitFor(/the first again\n/);
  } finally {
    first.child.kill();
  }
  return stopped(server);
}

const SCENARIOS: Scenario[] = [
  {
    name: 'TCP client, -N, binary both ways',
    shown: 'nc -N 127.0.0.1 PORT < blob',
    async play(v) {
      const peer = await pyServer('tcp4', '127.0.0.1');
      const r = await ncRun(v, ['-N', '127.0.0.1', peer.where], BINARY);
      expect(r.bytes.equals(BINARY)).toBe(true);
      return { code: r.code, stdout: r.bytes };
    },
  },
  {
    name: 'TCP server, one client',
    shown: 'nc -l 127.0.0.1 PORT',
    async play(v) {
      const { server, port } = await listenerOnPortZero(v, '-l');
      server.child.stdin.end('reply from the listener\n');
      const client = await run('nc', ['-N', '127.0.0.1', port], BINARY);
      const { code } = await server.exited;
      expect([server.stdoutBytes().equals(BINARY), client.stdout]).toEqual([true, 'reply from the listener\n']);
      return { code, stdout: server.stdoutBytes(), peer: client.stdout };
    },
  },
  {
    name: 'TCP server, -k, clients one after another',
    shown: 'nc -lk 127.0.0.1 PORT (then SIGTERM)',
    async play(v) {
      const { server, port } = await listenerOnPortZero(v, '-lk');
      for (const text of ['first client\n', 'second client\n', 'third client\n']) await run('nc', ['-N', '127.0.0.1', port], text);
      await server.waitFor(/third client\n/);
      return stopped(server);
    },
  },
  {
    name: 'UDP client, -w 1',
    shown: 'nc -u -w1 127.0.0.1 PORT',
    async play(v) {
      const peer = await pyServer('udp4', '127.0.0.1');
      const r = await ncRun(v, ['-u', '-w1', '127.0.0.1', peer.where], 'one datagram\n');
      expect(r.stdout).toBe('one datagram\n');
      return { code: r.code, stdout: r.bytes };
    },
  },
  {
    name: 'UDP server, the first sender is the peer',
    shown: 'nc -lu 127.0.0.1 PORT',
    play: (v) => udpServer(v, '-lu'),
  },
  {
    name: 'UDP server, -k, every sender',
    shown: 'nc -luk 127.0.0.1 PORT',
    play: (v) => udpServer(v, '-luk'),
  },
  {
    name: 'unix stream client, -N',
    shown: 'nc -N -U PATH < blob',
    async play(v) {
      const path = sockPath();
      await pyServer('unix', path);
      const r = await ncRun(v, ['-N', '-U', path], BINARY);
      expect(r.bytes.equals(BINARY)).toBe(true);
      return { code: r.code, stdout: r.bytes };
    },
  },
  {
    name: 'unix stream server, one client',
    shown: 'nc -lU PATH',
    async play(v) {
      const path = sockPath();
      const server = ncLive(v, ['-v', '-lU', path]);
      await server.waitFor(/Listening on/, 8000, 'stderr');
      server.child.stdin.end('reply\n');
      const client = await run('nc', ['-N', '-U', path], 'to the unix listener\n');
      const { code } = await server.exited;
      return { code, stdout: server.stdoutBytes(), peer: client.stdout };
    },
  },
  {
    name: 'unix datagram client, -w 1',
    shown: 'nc -Uu -w1 PATH',
    async play(v) {
      const path = sockPath();
      await pyServer('unixgram', path);
      const r = await ncRun(v, ['-Uu', '-w1', path], 'unix datagram\n');
      expect(r.stdout).toBe('unix datagram\n');
      return { code: r.code, stdout: r.bytes };
    },
  },
  {
    name: 'unix datagram server',
    shown: 'nc -lUu PATH',
    async play(v) {
      const path = sockPath();
      const server = ncLive(v, ['-v', '-lUu', path]);
      await server.waitFor(/Bound on/, 8000, 'stderr');
      // The sender stays a while: nc -lUu connects to it, and fails if its socket file is already gone.
      const sender = run('nc', ['-Uu', '-w1', path], 'datagram to the listener\n');
      await server.waitFor(/datagram to the listener\n/);
      await sender;
      return stopped(server);
    },
  },
  {
    name: '-z, an open port',
    shown: 'nc -zv 127.0.0.1 PORT',
    async play(v) {
      const peer = await pyServer('tcp4', '127.0.0.1');
      const r = await ncRun(v, ['-zv', '127.0.0.1', peer.where]);
      return { code: r.code, stdout: r.bytes, lines: r.stderr.split('\n').filter(Boolean) };
    },
  },
  {
    name: '-z, a closed port',
    shown: 'nc -zv 127.0.0.1 PORT',
    async play(v) {
      const port = String(closedPort());
      const r = await ncRun(v, ['-zv', '127.0.0.1', port]);
      return { code: r.code, stdout: r.bytes, lines: r.stderr.split('\n').filter(Boolean) };
    },
  },
  {
    name: '-z, a range with one port open',
    shown: 'nc -z 127.0.0.1 LOW-HIGH',
    async play(v) {
      const low = portRange(5, 2);
      const r = await ncRun(v, ['-z', '127.0.0.1', `${low}-${low + 4}`]);
      return { code: r.code, stdout: r.bytes };
    },
  },
  {
    name: 'a refused connect',
    shown: 'nc 127.0.0.1 PORT',
    async play(v) {
      const r = await ncRun(v, ['127.0.0.1', String(closedPort())], 'lost\n');
      return { code: r.code, stdout: r.bytes };
    },
  },
  {
    name: '-w 1 with a silent server',
    shown: 'nc -w1 127.0.0.1 PORT',
    async play(v) {
      const peer = await pyServer('tcp4', '127.0.0.1', 'silent');
      const holder = ncLive(v, ['-w1', '127.0.0.1', peer.where]); // stdin stays open: only -w ends it
      const started = Date.now();
      const { code } = await holder.exited;
      expect(Date.now() - started).toBeGreaterThanOrEqual(900);
      return { code, stdout: holder.stdoutBytes() };
    },
  },
  {
    name: '-k without -l',
    shown: 'nc -k 127.0.0.1 PORT',
    async play(v) {
      const r = await ncRun(v, ['-k', '127.0.0.1', '9']);
      return { code: r.code, stdout: r.bytes };
    },
  },
];

const REFERENCE = readFileSync(join(ROOT, 'docs', 'cli.md'), 'utf8');

describe('socktool nc and OpenBSD nc, side by side', () => {
  it.for(SCENARIOS)('$name', async (scenario, ctx) => {
    needs(ctx, 'nc');
    const [theirs, mine] = [await scenario.play('nc'), await scenario.play('socktool nc')];
    // Each run has its own peer: a port number in a -v line is the only thing allowed to differ.
    const seen = (o: Outcome) => ({ code: o.code, stdout: o.stdout.toString('latin1'), peer: o.peer,
      lines: o.lines?.map((l) => l.replace(/\b\d{4,5}\b/g, 'PORT')) });
    expect(seen(mine)).toEqual(seen(theirs));
    // The reference's row says what both did.
    const row = `| ${scenario.name} | \`${scenario.shown}\` | ${theirs.code} |`;
    expect(REFERENCE.includes(row), `docs/cli.md row: ${row}`).toBe(true);
  });
});
