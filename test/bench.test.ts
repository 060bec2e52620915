// `socktool bench` and loadTest(): echo load against socktool's own echo (bench --serve) and a Python echo on
// each of the nine networks, and servers that corrupt or drop. Short runs: they assert counts and correctness,
// never speed.
import { describe, expect, it } from 'vitest';
import { loadTest, type LoadSample, type LoadSummary } from '../src/index.js';
import { BIN, abstractName, cli, cliServer, liveCli, needs, oneLineOf, platformHas, pyServer, run, sockPath, stopLive } from './helpers.js';

interface Row {
  network: string;
  /** Where socktool's echo listens. */
  serve(): string;
  /** server.py's KIND and WHERE, and the address its "listening" line stands for. */
  py: [kind: string, where: () => string, address: (shown: string) => string];
  needs?: 'ipv6';
}

const ROWS: Row[] = [
  { network: 'tcp', serve: () => 'tcp://127.0.0.1:0', py: ['tcp4', () => '127.0.0.1', (p) => `tcp://127.0.0.1:${p}`] },
  { network: 'tcp4', serve: () => 'tcp4://127.0.0.1:0', py: ['tcp4', () => '127.0.0.1', (p) => `tcp4://127.0.0.1:${p}`] },
  { network: 'tcp6', serve: () => 'tcp6://[::1]:0', py: ['tcp6', () => '::1', (p) => `tcp6://[::1]:${p}`], needs: 'ipv6' },
  { network: 'udp', serve: () => 'udp://127.0.0.1:0', py: ['udp4', () => '127.0.0.1', (p) => `udp://127.0.0.1:${p}`] },
  { network: 'udp4', serve: () => 'udp4://127.0.0.1:0', py: ['udp4', () => '127.0.0.1', (p) => `udp4://127.0.0.1:${p}`] },
  { network: 'udp6', serve: () => 'udp6://[::1]:0', py: ['udp6', () => '::1', (p) => `udp6://[::1]:${p}`], needs: 'ipv6' },
  { network: 'unix', serve: () => `unix://${sockPath()}`, py: ['unix', () => `@${abstractName()}`, (w) => `unix:${w}`] },
  { network: 'unixpacket', serve: () => `unixpacket://${sockPath()}`, py: ['unixpacket', () => sockPath(), (w) => `unixpacket://${w}`] },
  { network: 'unixgram', serve: () => `unixgram://${sockPath()}`, py: ['unixgram', () => sockPath(), (w) => `unixgram://${w}`] },
];

const rows = ROWS.filter((r) => !r.needs || platformHas(r.needs));

/** A summary event of --json: loadTest()'s summary with its event name. */
type Summary = LoadSummary & { event: string };

/** Runs bench with --json; its summary event (an error event may follow it) and exit code. */
async function bench(args: string[]): Promise<{ code: number | null; s: Summary; stderr: string }> {
  const r = await cli(['bench', ...args, '--json'], undefined, 30_000);
  const events = r.stdout.trim().split('\n').map((l) => JSON.parse(l) as Summary);
  return { code: r.code, s: events.find((e) => e.event === 'summary')!, stderr: r.stderr };
}

/** What a clean run must show: every echo counted, whole, and latencies in order. */
function expectClean(s: Summary, count: number, size: number): void {
  expect(s.messages).toBeGreaterThanOrEqual(count);
  expect([s.lost, s.corrupt]).toEqual([0, 0]);
  expect(s.bytes).toBe(s.messages * size);
  const l = s.latency;
  expect(l.p50).toBeGreaterThan(0);
  expect(l.p50).toBeLessThanOrEqual(l.p90);
  expect(l.p90).toBeLessThanOrEqual(l.p99);
  expect(l.p99).toBeLessThanOrEqual(l.p999);
  expect(s.histogram.reduce((n, [, c]) => n + c, 0)).toBe(s.messages);
}

describe.for(rows)('$network', (row) => {
  it('against socktool bench --serve: pingpong and flood, every echo whole', async () => {
    const server = await cliServer(['bench', '--serve', row.serve()]);
    try {
      const ping = await bench([server.address, '--count', '300', '--size', '100']);
      expect(ping.code).toBe(0);
      expect(ping.s).toMatchObject({ event: 'summary', address: server.address, mode: 'pingpong' });
      expectClean(ping.s, 300, 100);
      const flood = await bench([server.address, '--mode', 'flood', '--window', '8', '--connections', '2', '--count', '2000', '--size', '700']);
      expect(flood.code).toBe(0);
      expectClean(flood.s, 2000, 700);
    } finally {
      await stopLive(server);
    }
  });

  it('against a Python echo server', async () => {
    const [kind, where, address] = row.py;
    const py = await pyServer(kind, where());
    try {
      const r = await bench([address(py.where), '--count', '200', '--size', '64']);
      expect(r.code).toBe(0);
      expectClean(r.s, 200, 64);
    } finally {
      py.child.kill();
    }
  });

  it('a server that corrupts echoes: counted, and exit 7 with one line', async () => {
    const [kind, where, address] = row.py;
    const py = await pyServer(kind, where(), 'corrupt');
    try {
      const r = await cli(['bench', address(py.where), '--count', '60', '--size', '64'], undefined, 30_000);
      expect(r.code).toBe(7);
      expect(oneLineOf(r)).toMatch(/^socktool: \S+: [1-9][\d,]* echoes corrupt, \d+ lost$/);
      expect(r.stdout).toMatch(/corrupt [1-9]/);
    } finally {
      py.child.kill();
    }
  });
});

describe('loss, errors and output', () => {
  it('a udp server that drops every 10th datagram: the losses are counted, exit 7', async () => {
    const py = await pyServer('udp4', '127.0.0.1', 'drop');
    try {
      const r = await bench([`udp://127.0.0.1:${py.where}`, '--mode', 'flood', '--window', '4', '--duration', '0.5']);
      expect(r.code).toBe(7);
      expect(r.s.lost).toBeGreaterThan(0);
      expect(r.s.corrupt).toBe(0);
      // About one in ten: everything sent was echoed or lost, but for what was in flight at the end.
      expect(r.s.messages + r.s.lost).toBeGreaterThan(r.s.sent - 5);
      expect(r.s.lost / r.s.sent).toBeGreaterThan(0.05);
      expect(r.s.lost / r.s.sent).toBeLessThan(0.2);
    } finally {
      py.child.kill();
    }
  });

  it('no server: exit 4 with one line; a bad size: exit 2', async () => {
    const refused = await cli(['bench', `unix://${sockPath('none.sock')}`, '--count', '10']);
    expect(refused.code).toBe(4);
    expect(oneLineOf(refused)).toMatch(/ENOENT/);
    const small = await cli(['bench', 'udp://127.0.0.1:9', '--size', '2']);
    expect(small.code).toBe(2);
    expect(oneLineOf(small)).toMatch(/--size must be at least 4 bytes/);
    const samples = await cli(['bench', 'udp://127.0.0.1:9', '--samples']);
    expect(samples.code).toBe(2);
    expect(oneLineOf(samples)).toMatch(/--samples goes with --json/);
  });

  it('the human summary and histogram on stdout, no progress line when stdout is not a terminal', async () => {
    const server = await cliServer(['bench', '--serve', `unixgram://${sockPath()}`]);
    try {
      const r = await cli(['bench', server.address, '--count', '500'], undefined, 30_000);
      expect(r.code).toBe(0);
      expect(r.stderr).toBe('');
      expect(r.stdout).not.toMatch(/\r|\x1b/);
      expect(r.stdout).toMatch(/^unixgram:\/\/\S+: pingpong, 64-byte messages, 1 connection × one in flight, [\d.]+ s\n/);
      expect(r.stdout).toMatch(/\n {2}latency {3}p50 [\d.,]+ {3}p90 [\d.,]+ {3}p99 [\d.,]+ {3}p99\.9 [\d.,]+ {3}max [\d.,]+ {2}\(µs\)\n/);
      expect(r.stdout).toMatch(/\n +≤ [\d,]+ µs \| #+ +[\d,]+ +[\d.]+%\n/); // the largest row has a full bar
    } finally {
      await stopLive(server);
    }
  });

  it('--json --samples: a sample each second, then the summary; loadTest() reports the same samples', async () => {
    const server = await cliServer(['bench', '--serve', 'udp://127.0.0.1:0']);
    try {
      const r = await cli(['bench', server.address, '--duration', '2.2', '--json', '--samples'], undefined, 30_000);
      expect(r.code).toBe(0);
      const events = r.stdout.trim().split('\n').map((l) => JSON.parse(l) as { event: string; messages: number; t: number });
      expect(events.map((e) => e.event)).toEqual(['sample', 'sample', 'summary']);
      const summary = events[2]!;
      expect(events[0]!.messages + events[1]!.messages).toBeLessThanOrEqual(summary.messages);
      expect(events[0]!.t).toBeCloseTo(1, 1);
      const samples: LoadSample[] = [];
      const s = await loadTest(server.address, { duration: 1.1, onSample: (x) => samples.push(x) });
      expect(samples).toHaveLength(1);
      expect(samples[0]!.messages).toBeGreaterThan(0);
      expect(samples[0]!.messages).toBeLessThanOrEqual(s.messages);
    } finally {
      await stopLive(server);
    }
  });

  it('on a terminal, a progress line each second, rewritten in place, before the summary', async (ctx) => {
    needs(ctx, 'script');
    const server = await cliServer(['bench', '--serve', 'udp://127.0.0.1:0']);
    try {
      const r = await run('script', ['-qec', `${process.execPath} ${BIN} bench ${server.address} --duration 2.3`, '/dev/null'], undefined, 30_000);
      expect(r.code).toBe(0);
      const progress = [...r.stdout.matchAll(/\r\x1b\[K(udp:\/\/\S+) {2}(\d) s {2}([\d,]+) msg\/s {2}p99 [\d.,]+ µs/g)];
      expect(progress.map((m) => [m[1], m[2]])).toEqual([[server.address, '1'], [server.address, '2']]);
      expect(r.stdout).toMatch(/\r\x1b\[Kudp:\/\/\S+: pingpong, 64-byte messages/);
    } finally {
      await stopLive(server);
    }
  });

  it('--warmup is load before the measured part; SIGINT ends a run early with what it measured', async () => {
    const server = await cliServer(['bench', '--serve', `unix://${sockPath()}`]);
    try {
      const warm = await bench([server.address, '--warmup', '0.5', '--duration', '0.5']);
      expect(warm.code).toBe(0);
      expect(warm.s.seconds).toBeGreaterThan(0.45);
      expect(warm.s.seconds).toBeLessThan(0.8);
      const long = liveCli(['bench', server.address, '--duration', '60', '--json']);
      await new Promise((resolve) => setTimeout(resolve, 1000));
      long.child.kill('SIGINT');
      expect((await long.exited).code).toBe(0);
      const s = JSON.parse(long.stdout()) as Summary;
      expect(s.event).toBe('summary');
      expect(s.seconds).toBeGreaterThan(0.3);
      expect(s.seconds).toBeLessThan(10);
      expect(s.messages).toBeGreaterThan(0);
    } finally {
      await stopLive(server);
    }
  });

  it('a server that takes messages and never answers: the run ends after 5 s without an echo, exit 7', async () => {
    const py = await pyServer('tcp4', '127.0.0.1', 'silent');
    try {
      const r = await cli(['bench', `tcp://127.0.0.1:${py.where}`, '--count', '10'], undefined, 30_000);
      expect(r.code).toBe(7);
      expect(oneLineOf(r)).toMatch(/: the echoes stopped \(none for 5 s\)$/);
    } finally {
      py.child.kill();
    }
  });

  it('--compare: both runs side by side with the ratio', async () => {
    const a = await cliServer(['bench', '--serve', `unix://${sockPath()}`]);
    const b = await cliServer(['bench', '--serve', 'tcp://127.0.0.1:0']);
    try {
      const r = await cli(['bench', a.address, '--compare', b.address, '--count', '300'], undefined, 30_000);
      expect(r.code).toBe(0);
      expect(r.stdout).toMatch(/\n {2}messages\/s +[\d,]+ +[\d,]+ +[\d.]+×\n/);
      expect(r.stdout).toContain(`  A: ${a.address}\n  B: ${b.address}\n`);
      const j = await cli(['bench', a.address, '--compare', b.address, '--count', '300', '--json'], undefined, 30_000);
      const e = JSON.parse(j.stdout) as { event: string; a: Summary; b: Summary; ratio: number };
      expect(e.event).toBe('compare');
      expect(e.ratio).toBeCloseTo(e.b.rate / e.a.rate, 6);
    } finally {
      await Promise.all([stopLive(a), stopLive(b)]);
    }
  });
});


