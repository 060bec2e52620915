// bench as sockperf users expect it: --rate (an open loop, latency from each message's due time), and --sockperf
// against sockperf's own server and clients (Debian's sockperf 3.7: tcp and udp), with socktool's sockperf
// handler over every network.
import { createSocket } from 'node:dgram';
import { createServer, type AddressInfo } from 'node:net';
import { describe, expect, it } from 'vitest';
import { bind, dial, loadTest, NETWORKS, serve, sockperf, type LoadSummary, type Network } from '../src/index.js';
import { cli, cliServer, live, needs, run, sockPath, stopLive, until } from './helpers.js';

/** A port nothing is bound to now (sockperf takes no port 0). */
async function freePort(kind: 'tcp' | 'udp'): Promise<number> {
  if (kind === 'udp') {
    const socket = createSocket('udp4');
    await new Promise<void>((resolve) => socket.bind(0, '127.0.0.1', resolve));
    const { port } = socket.address();
    await new Promise<void>((resolve) => socket.close(resolve));
    return port;
  }
  const server = createServer();
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  await new Promise<void>((resolve) => server.close(() => resolve()));
  return port;
}

/** Echoes of `s` that took at least `us` microseconds (from the histogram: a bucket counts when all of it does). */
const slowerThan = (s: LoadSummary, us: number) => s.histogram.reduce((n, [upper, count]) => n + (upper / 1.07 >= us ? count : 0), 0);

const summaryOf = (stdout: string) => JSON.parse(stdout.split('\n').find((l) => l.includes('"summary"'))!) as LoadSummary;

describe('bench --rate', () => {
  it('a stall counts against every message due during it (no coordinated omission)', async () => {
    const server = await cliServer(['bench', '--serve', `unix://${sockPath()}`]);
    try {
      const echoed: number[] = []; // each second's echoes
      const running = loadTest(server.address, { rate: 1000, duration: 5, onSample: (x) => void echoed.push(x.messages) });
      await until(() => echoed.length > 0, "the run's first second");
      // The server stops until a second of the run has had fewer than 500 of its 1,000 echoes: a stall of at least
      // 500 ms, so every message due in its first 300 ms waits at least 200 ms.
      const stoppedAfter = echoed.length;
      process.kill(server.child.pid!, 'SIGSTOP');
      await until(() => echoed.slice(stoppedAfter).some((n) => n < 500), 'a second with fewer than 500 echoes');
      process.kill(server.child.pid!, 'SIGCONT');
      const s = await running;
      expect(s.mode).toBe('rate');
      expect(s.target).toBe(1000);
      expect(s.lost + s.corrupt).toBe(0);
      expect(slowerThan(s, 200_000)).toBeGreaterThanOrEqual(150);
      expect(s.latency.max).toBeGreaterThanOrEqual(400_000);
    } finally {
      process.kill(server.child.pid!, 'SIGCONT'); // a stopped server would not take the SIGTERM
      await stopLive(server);
    }
  }, 60_000);

  it.for(['udp', 'unixgram', 'tcp', 'unixpacket'] as Network[])('%s: never ahead of the schedule, every echo counted', { timeout: 60_000 }, async (network) => {
    const where = NETWORKS[network].family === 'unix' ? `${network}://${sockPath()}` : `${network}://127.0.0.1:0`;
    const server = await cliServer(['bench', '--serve', where]);
    try {
      const r = await cli(['bench', server.address, '--rate', '2000', '--connections', '2', '--duration', '1', '--json'], undefined, 60_000);
      expect(r.stderr).toBe('');
      expect(r.code).toBe(0);
      const s = summaryOf(r.stdout);
      expect(s.mode).toBe('rate');
      expect(s.messages).toBeGreaterThan(0);
      expect(s.sent).toBeLessThanOrEqual(Math.ceil(2000 * s.seconds) + 2);
      expect(s.messages + s.lost + s.corrupt).toBeLessThanOrEqual(s.sent);
    } finally {
      await stopLive(server);
    }
  });

  it.each([
    [['--rate', '100', '--mode', 'flood'], /--rate sends on a schedule: not with --mode/],
    [['--rate', '0.5'], /--rate.*expected messages a second/],
    [['--sockperf', '--size', '8'], /--size must be at least 14 bytes \(each message carries sockperf's header\), not 8/],
    // Before the run, not after it (nothing answers at port 9: a run would end in failure, exit 7).
    [['--plot', '/nonexistent-dir/x.svg'], /--plot \/nonexistent-dir\/x\.svg: cannot write it \(ENOENT\)/],
  ])('%j: one line on stderr, exit 2', async (flags, message) => {
    const r = await cli(['bench', 'udp://127.0.0.1:9', ...flags]);
    expect(r.code).toBe(2);
    expect(r.stderr).toMatch(message);
    expect(r.stderr.trimEnd().split('\n')).toHaveLength(1);
  });
});

describe('bench --sockperf', () => {
  it.for(['udp', 'tcp'] as const)("%s: loads sockperf's server (pingpong, flood, rate)", { timeout: 90_000 }, async (kind, ctx) => {
    needs(ctx, 'sockperf');
    const port = await freePort(kind);
    const server = live('sockperf', ['server', '-i', '127.0.0.1', '-p', String(port), ...(kind === 'tcp' ? ['--tcp'] : [])]);
    try {
      await server.waitFor(/using \S+ to block on socket/, 30_000); // after its warm-up: it answers from here
      for (const load of [['--count', '2000'], ['--mode', 'flood', '--count', '20000'], ['--rate', '5000', '--duration', '1']]) {
        const r = await cli(['bench', `${kind}://127.0.0.1:${port}`, '--sockperf', ...load, '--json'], undefined, 60_000);
        expect(r.stderr).toBe('');
        expect(r.code).toBe(0);
        const s = summaryOf(r.stdout);
        expect(s.sockperf).toBe(true);
        expect(s.messages).toBeGreaterThan(0);
        expect(s.corrupt + s.unexpected).toBe(0);
      }
    } finally {
      server.child.kill();
      await server.exited;
    }
  });

  it.for(['udp', 'tcp'] as const)('%s: sockperf ping-pong and under-load against bench --serve --sockperf', { timeout: 90_000 }, async (kind, ctx) => {
    needs(ctx, 'sockperf');
    const server = await cliServer(['bench', '--serve', '--sockperf', `${kind}://127.0.0.1:0`]);
    const port = server.address.split(':').at(-1)!;
    try {
      const flags = ['-i', '127.0.0.1', '-p', port, '-m', '64', '-t', '1', ...(kind === 'tcp' ? ['--tcp'] : [])];
      for (const mode of [['ping-pong'], ['under-load', '--mps', '2000']]) {
        const r = await run('sockperf', [...mode, ...flags], undefined, 60_000);
        const said = r.stdout + r.stderr;
        expect(r.code, said).toBe(0);
        const [, sent, received] = /SentMessages=(\d+); ReceivedMessages=(\d+)/.exec(said)!;
        expect(Number(received)).toBeGreaterThan(0);
        expect(Number(received)).toBeLessThanOrEqual(Number(sent));
        // Warm-up messages were not answered, and each request once: sockperf saw no duplicate or reordering.
        expect(said).toMatch(/# dropped messages = 0; # duplicated messages = 0; # out-of-order messages = 0/);
        expect(said).toMatch(/percentile 50\.000 = +\d+\.\d+/);
      }
    } finally {
      await stopLive(server);
    }
  });

  it.for(['unix', 'unixgram', 'unixpacket'] as Network[])("%s: bench --sockperf against socktool's sockperf handler", { timeout: 60_000 }, async (network) => {
    const server = await cliServer(['serve', '--handler', 'sockperf', `${network}://${sockPath()}`]);
    try {
      const r = await cli(['bench', server.address, '--sockperf', '--mode', 'flood', '--count', '5000', '--size', '300', '--json'], undefined, 60_000);
      expect(r.code).toBe(0);
      const s = summaryOf(r.stdout);
      expect(s.messages).toBeGreaterThanOrEqual(5000);
      expect(s.corrupt + s.lost + s.unexpected).toBe(0);
    } finally {
      await stopLive(server);
    }
  });
});

/** A sockperf message: its header (sequence, flags, whole length), then `payload` bytes. */
function sockperfMessage(seq: number, flags: number, payload = 20, length = 14 + payload): Buffer {
  const m = Buffer.alloc(14 + payload, 0x5a);
  m.writeBigUInt64BE(BigInt(seq), 0);
  m.writeUInt16BE(flags, 8);
  m.writeUInt32BE(length, 10);
  return m;
}
const CLIENT = 1, PONG = 2, WARMUP = 4;

describe("serve's sockperf handler", () => {
  it("udp: answers a client's request for an answer with the client bit cleared, and nothing else", async () => {
    const server = await serve('udp://127.0.0.1:0', sockperf);
    const sock = await bind('udp://127.0.0.1:0');
    try {
      for (const m of [sockperfMessage(1, CLIENT | PONG | WARMUP), sockperfMessage(2, CLIENT), sockperfMessage(3, PONG),
        sockperfMessage(4, CLIENT | PONG, 20, 99), sockperfMessage(5, CLIENT | PONG)]) await sock.sendTo(m, server.addr);
      for (const seq of [5, 6]) {
        if (seq === 6) await sock.sendTo(sockperfMessage(6, CLIENT | PONG), server.addr);
        const { data } = await sock.recvFrom({ signal: AbortSignal.timeout(10_000) });
        expect(data).toEqual(sockperfMessage(seq, PONG));
      }
    } finally {
      await sock.close();
      await server.close();
    }
  });

  it('tcp: cuts the stream by the lengths, answers in order, and ends a connection whose length is out of bounds', async () => {
    const server = await serve('tcp://127.0.0.1:0', sockperf);
    const conn = await dial(server.addr);
    const signal = AbortSignal.timeout(10_000);
    try {
      const first = Buffer.concat([sockperfMessage(1, CLIENT | PONG), sockperfMessage(2, CLIENT | PONG | WARMUP)]);
      await conn.write(first.subarray(0, 5)); // a header cut in two
      await conn.write(first.subarray(5));
      await conn.write(sockperfMessage(3, CLIENT | PONG, 1000));
      const want = Buffer.concat([sockperfMessage(1, PONG), sockperfMessage(3, PONG, 1000)]);
      let got = Buffer.alloc(0);
      while (got.length < want.length) got = Buffer.concat([got, (await conn.read({ signal }))!]);
      expect(got).toEqual(want);
      await conn.write(sockperfMessage(4, CLIENT | PONG, 0, 70_000)); // longer than sockperf takes
      expect(await conn.read({ signal })).toBeNull(); // the end, unanswered
    } finally {
      await conn.close();
      await server.close();
    }
  });
});
