// `socktool bench` and loadTest(): echo load against socktool's own echo (bench --serve) and a Python echo on
// each of the nine networks, and servers that corrupt or drop. Short runs: they assert counts and correctness,
// never speed.
import { beforeEach, describe, expect, it } from 'vitest';
import { loadTest, type LoadSample, type LoadSummary } from '../src/index.js';
import { BIN, abstractName, cli, cliServer, liveCli, makeCert, needs, oneLineOf, pyServer, run, sockPath, stopLive } from './helpers.js';
import { rowsWhere, type Row } from './rows.js';

/** server.py's KIND and WHERE for a row's network, and the address its "listening" line stands for. */
function pyEcho(row: Row): [kind: string, where: () => string, address: (shown: string) => string] {
  if (row.unix) {
    return row.abstract ? [row.network, () => `@${abstractName()}`, (w) => `${row.network}:${w}`]
      : [row.network, () => sockPath(), (w) => `${row.network}://${w}`];
  }
  const [kind, host, shown] = row.ip === 6 ? ['6', '::1', '[::1]'] : ['4', '127.0.0.1', '127.0.0.1'];
  return [`${row.shape === 'stream' ? 'tcp' : 'udp'}${kind}`, () => host, (p) => `${row.network}://${shown}:${p}`];
}

/** One row per network, on a path for the unix ones. */
const rows = rowsWhere((r) => !r.abstract);

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
  // The top bucket is bounded by the largest latency seen, so the histogram's last row holds the max.
  expect(s.histogram.at(-1)![0]).toBe(l.max);
  expect(l.p999).toBeLessThanOrEqual(l.max);
}

describe.for(rows)('$network', (row) => {
  it('against socktool bench --serve: pingpong and flood, every echo whole', async () => {
    const server = await cliServer(['bench', '--serve', row.at()]);
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
    const [kind, where, address] = pyEcho(row);
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
    const [kind, where, address] = pyEcho(row);
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
      const events = r.stdout.trim().split('\n').map((l) => JSON.parse(l) as { event: string; messages: number; t: number; seconds: number });
      // Samples (one per second of the run, however busy the machine is: counted, not timed), then the summary.
      const summary = events.at(-1)!;
      const samples = events.slice(0, -1);
      expect(summary.event).toBe('summary');
      expect(samples.length).toBeGreaterThan(0);
      expect(samples.every((e) => e.event === 'sample')).toBe(true);
      const ts = samples.map((e) => e.t);
      expect(ts).toEqual([...ts].sort((a, b) => a - b));
      expect(ts.every((t) => t > 0 && t <= summary.seconds + 1)).toBe(true);
      expect(samples.reduce((n, e) => n + e.messages, 0)).toBeLessThanOrEqual(summary.messages);
      const seen: LoadSample[] = [];
      const sum = await loadTest(server.address, { duration: 1.1, onSample: (x) => seen.push(x) });
      expect(seen.length).toBeGreaterThan(0);
      expect(seen[0]!.messages).toBeGreaterThan(0);
      expect(seen.reduce((n, x) => n + x.messages, 0)).toBeLessThanOrEqual(sum.messages);
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
      // A line per second of the run: at least one, each for the address, the seconds counting up.
      expect(progress.length).toBeGreaterThan(0);
      expect(progress.map((m) => m[1])).toEqual(progress.map(() => server.address));
      expect(progress.map((m) => Number(m[2]))).toEqual(progress.map((_, i) => i + 1));
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
      // The measured part is the duration asked, the warmup not in it (its own clock: no bound on how busy we are).
      expect(warm.s.seconds).toBeGreaterThan(0.45);
      // Stopped once it has measured a second (its first sample), long before the 60 s it was asked for.
      const long = liveCli(['bench', server.address, '--duration', '60', '--json', '--samples']);
      const [sampled] = await long.waitFor(/^\{"event":"sample".*\}\n/m, 30_000);
      long.child.kill('SIGINT');
      expect((await long.exited).code).toBe(0);
      const s = JSON.parse(long.stdout().trimEnd().split('\n').at(-1)!) as Summary;
      expect(s.event).toBe('summary');
      expect(s.seconds).toBeGreaterThanOrEqual(JSON.parse(sampled).t);
      expect(s.seconds).toBeLessThan(60);
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

/** The stream networks TLS runs over: socktool's TLS echo on each, Python's ssl echo where Python has one. */
const TLS_ROWS = rowsWhere((r) => ['tcp', 'tcp6', 'unix', 'unix-abstract', 'unixpacket'].includes(r.name));
/** Python's ssl takes SOCK_STREAM sockets only. */
const pyTls = (row: Row) => row.type === 'SOCK_STREAM';

describe('TLS', () => {
  // A certificate for each test (its directory goes with the test): the server's, and the flags that trust it.
  let tls: { cert: string; key: string };
  let trust: string[];
  beforeEach(() => {
    tls = makeCert();
    trust = ['--tls', '--ca', tls.cert];
  });
  const tlsServer = (address: string, ...more: string[]) =>
    cliServer(['bench', '--serve', address, '--tls', '--cert', tls.cert, '--key', tls.key, ...more]);

  describe.for(TLS_ROWS)('$name', (row) => {
    it('against socktool bench --serve --tls: pingpong and flood, every echo whole, the cipher named', async () => {
      const server = await tlsServer(row.at());
      try {
        const ping = await bench([server.address, ...trust, '--count', '300', '--size', '100']);
        expect(ping.code).toBe(0);
        expectClean(ping.s, 300, 100);
        expect(ping.s.tls).toEqual({ protocol: 'TLSv1.3', cipher: expect.stringMatching(/^TLS_/) });
        // Bigger than a TLS record (16 KiB), more than one connection, many in flight.
        const flood = await bench([server.address, ...trust, '--mode', 'flood', '--window', '8', '--connections', '2', '--count', '600', '--size', '40000']);
        expect(flood.code).toBe(0);
        expectClean(flood.s, 600, 40000);
      } finally {
        await stopLive(server);
      }
    });

  });

  describe.for(TLS_ROWS.filter(pyTls))('$name', (row) => {
    it('against a Python ssl echo server, and one that corrupts (exit 7)', async () => {
      const [kind, where, address] = pyEcho(row);
      const py = await pyServer(kind, where(), 'echo', tls);
      const bad = await pyServer(kind, where(), 'corrupt', tls);
      try {
        const r = await bench([address(py.where), ...trust, '--mode', 'flood', '--window', '4', '--count', '400', '--size', '3000']);
        expect(r.code).toBe(0);
        expectClean(r.s, 400, 3000);
        const c = await cli(['bench', address(bad.where), ...trust, '--count', '60'], undefined, 30_000);
        expect(c.code).toBe(7);
        expect(oneLineOf(c)).toMatch(/: [1-9][\d,]* echoes corrupt, \d+ lost$/);
      } finally {
        py.child.kill();
        bad.child.kill();
      }
    });
  });

  it('the certificate is verified as connect verifies it: the same codes, one line, exit 1', async () => {
    const server = await tlsServer('tcp://127.0.0.1:0');
    try {
      // Not trusted (Node's root certificates only, by default).
      const untrusted = await cli(['bench', server.address, '--tls', '--count', '10']);
      expect(untrusted.code).toBe(1);
      expect(oneLineOf(untrusted)).toMatch(/: self-signed certificate \(DEPTH_ZERO_SELF_SIGNED_CERT\)$/);
      const connect = await cli(['connect', server.address, '--tls'], '');
      expect(oneLineOf(connect)).toMatch(/\(DEPTH_ZERO_SELF_SIGNED_CERT\)$/);
      // Trusted, but for other names.
      const other = await cli(['bench', server.address, ...trust, '--servername', 'other.test', '--count', '10']);
      expect(other.code).toBe(1);
      expect(oneLineOf(other)).toMatch(/: the certificate is not for other\.test \(ERR_TLS_CERT_ALTNAME_INVALID\)$/);
      // --insecure: not verified at all.
      const insecure = await bench([server.address, '--tls', '--insecure', '--count', '50']);
      expect(insecure.code).toBe(0);
      expectClean(insecure.s, 50, 64);
    } finally {
      await stopLive(server);
    }
  });

  it('a certificate for a name: verified, and sent as SNI, for the name dialed (bench and connect)', async () => {
    const named = makeCert('DNS:localhost');
    const server = await cliServer(['bench', '--serve', 'tcp://127.0.0.1:0', '--tls', '--cert', named.cert, '--key', named.key]);
    const port = server.address.split(':').pop()!;
    try {
      const r = await bench([`tcp://localhost:${port}`, '--tls', '--ca', named.cert, '--count', '50']);
      expect(r.code).toBe(0);
      expectClean(r.s, 50, 64);
      const c = await cli(['connect', `tcp://localhost:${port}`, '--tls', '--ca', named.cert, '--half-close'], 'hello\n');
      expect([c.code, c.stdout]).toEqual([0, 'hello\n']);
      // By its address, the same certificate does not verify: it names no IP address.
      const byIp = await cli(['bench', `tcp://127.0.0.1:${port}`, '--tls', '--ca', named.cert, '--count', '10']);
      expect(oneLineOf(byIp)).toMatch(/\(ERR_TLS_CERT_ALTNAME_INVALID\)$/);
    } finally {
      await stopLive(server);
    }
  });

  it('a server that verifies clients: refused without a certificate, served with one', async () => {
    const client = makeCert();
    const server = await tlsServer(`unix://${sockPath()}`, '--ca', client.cert);
    try {
      const without = await cli(['bench', server.address, ...trust, '--count', '10']);
      expect(without.code).toBe(1);
      expect(oneLineOf(without)).toMatch(/\(ERR_SSL_TLSV13_ALERT_CERTIFICATE_REQUIRED\)$/);
      const r = await bench([server.address, ...trust, '--cert', client.cert, '--key', client.key, '--count', '50']);
      expect(r.code).toBe(0);
      expectClean(r.s, 50, 64);
    } finally {
      await stopLive(server);
    }
  });

  it('a server that never answers the handshake: exit 3 after 5 s, one line', async () => {
    const py = await pyServer('tcp4', '127.0.0.1', 'silent');
    try {
      const r = await cli(['bench', `tcp://127.0.0.1:${py.where}`, '--tls', '--insecure', '--count', '10'], undefined, 30_000);
      expect(r.code).toBe(3);
      expect(oneLineOf(r)).toMatch(/^socktool: dial tcp 127\.0\.0\.1:\d+: no TLS handshake within 5 s \(ETIMEDOUT\)$/);
    } finally {
      py.child.kill();
    }
  });

  it('TLS toward a plain echo, and usage errors: one line each', async () => {
    const plain = await cliServer(['bench', '--serve', 'tcp://127.0.0.1:0']);
    try {
      const r = await cli(['bench', plain.address, ...trust, '--count', '10']);
      expect(r.code).toBe(1);
      expect(oneLineOf(r)).toMatch(/: TLS: [a-z ]+ \(ERR_SSL_[A-Z_]+\)$/);
    } finally {
      await stopLive(plain);
    }
    const usage: [string[], RegExp][] = [
      [['bench', 'udp://127.0.0.1:9', '--tls'], /--tls does not apply: udp carries datagrams/],
      [['bench', 'tcp://127.0.0.1:9', '--insecure'], /--insecure does not apply: it is for TLS, and --tls is not given/],
      [['bench', 'tcp://127.0.0.1:9', '--tls', '--ca', sockPath('none.pem')], /cannot read --ca .*none\.pem: ENOENT/],
      [['bench', '--serve', 'tcp://127.0.0.1:0', '--tls'], /--tls on a server needs --cert and --key/],
      [['bench', '--serve', 'tcp://127.0.0.1:0', '--size', '100'], /--size does not apply: it sets the load, and --serve serves it/],
    ];
    for (const [args, message] of usage) {
      const u = await cli(args);
      expect(u.code).toBe(2);
      expect(oneLineOf(u)).toMatch(message);
    }
  });
});
