// bench's outputs for plotting and spreadsheets: --percentiles, --hgrm (HdrHistogram's percentile distribution),
// --csv; against socktool's own echo (bench --serve), as the real CLI.
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { cli, cliServer, stopLive, tempDir } from './helpers.js';

describe('bench --percentiles, --hgrm, --csv', () => {
  it('--percentiles and --hgrm: the same distribution, ascending, ending at the max with every echo counted', async () => {
    const server = await cliServer(['bench', '--serve', 'udp://127.0.0.1:0']);
    const file = join(tempDir(), 'run.hgrm');
    try {
      const r = await cli(['bench', server.address, '--count', '3000', '--percentiles', '--hgrm', file, '--json'], undefined, 60_000);
      expect(r.code).toBe(0);
      const summary = JSON.parse(r.stdout.split('\n').find((l) => l.includes('"summary"'))!) as
        { messages: number; latency: { p50: number; p99: number; p999: number; max: number }; percentiles: Record<string, number> };
      const listed = Object.entries(summary.percentiles).map(([p, v]) => [Number(p), v] as const).sort((a, b) => a[0] - b[0]);
      expect(listed.map(([p]) => p)).toEqual([50, 75, 90, 95, 99, 99.5, 99.9, 99.99, 99.999, 100]);
      for (let i = 1; i < listed.length; i++) expect(listed[i]![1]).toBeGreaterThanOrEqual(listed[i - 1]![1]);
      expect(summary.percentiles['100']).toBe(summary.latency.max);
      expect(summary.percentiles['99']).toBe(summary.latency.p99);
      expect(summary.percentiles['99.9']).toBe(summary.latency.p999);
      const lines = readFileSync(file, 'utf8').split('\n');
      expect(lines[0]).toBe('       Value     Percentile TotalCount 1/(1-Percentile)');
      const rows = lines.filter((l) => /^\s+\d/.test(l)).map((l) => l.trim().split(/\s+/).map(Number));
      expect(rows.length).toBeGreaterThan(10);
      for (let i = 1; i < rows.length; i++) {
        expect(rows[i]![0]).toBeGreaterThanOrEqual(rows[i - 1]![0]!); // value (ms)
        expect(rows[i]![1]).toBeGreaterThanOrEqual(rows[i - 1]![1]!); // percentile
        expect(rows[i]![2]).toBeGreaterThanOrEqual(rows[i - 1]![2]!); // count so far
      }
      const last = rows.at(-1)!;
      expect(last[1]).toBe(1);
      expect(last[2]).toBe(summary.messages);
      expect(last[0]).toBeCloseTo(summary.latency.max / 1000, 3);
      expect(lines.find((l) => l.startsWith('#[Max'))).toMatch(new RegExp(`Total count    = +${summary.messages}\\]`));
    } finally {
      await stopLive(server);
    }
  }, 90_000);

  it('--csv: a header and one line of six numbers per second on stdout, nothing else', async () => {
    const server = await cliServer(['bench', '--serve', 'udp://127.0.0.1:0']);
    try {
      const r = await cli(['bench', server.address, '--duration', '2.5', '--csv'], undefined, 60_000);
      expect(r.code).toBe(0);
      const [header, ...rows] = r.stdout.trimEnd().split('\n');
      expect(header).toBe('t,messages_per_s,mb_per_s,lost,corrupt,p99_us');
      expect(rows.length).toBeGreaterThanOrEqual(1);
      for (const row of rows) expect(row).toMatch(/^\d+\.\d{3},\d+,\d+\.\d{3},\d+,\d+,\d+\.\d$/);
    } finally {
      await stopLive(server);
    }
  }, 90_000);

  it.each([
    [['--csv', '--json'], /--csv is one run's lines alone/],
    [['--hgrm', 'x.hgrm', '--compare', 'udp://127.0.0.1:9'], /--hgrm holds one run/],
  ])('%j: one line on stderr, exit 2', async (flags, message) => {
    const r = await cli(['bench', 'udp://127.0.0.1:9', ...flags]);
    expect(r.code).toBe(2);
    expect(r.stderr).toMatch(message);
    // With --json the same error is an event on stdout too.
    if (!flags.includes('--json')) expect(r.stdout).toBe('');
  });
});
