// bench --plot and socktool plot: latency-by-percentile charts as SVG, checked as a browser shows them (headless
// Chromium's screenshot, read back pixel by pixel) and against the runs they draw.
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { PNG } from 'pngjs';
import { describe, expect, it } from 'vitest';
import { CHART_COLOURS } from '../src/index.js';
import { cli, cliServer, needs, run, sockPath, stopLive, tempDir } from './helpers.js';

/** The chart as headless Chromium draws it, at the SVG's own size. */
async function screenshot(svg: string): Promise<PNG> {
  const dir = tempDir();
  const [, width, height] = /<svg[^>]* width="(\d+)" height="(\d+)"/.exec(readFileSync(svg, 'utf8'))!;
  const png = join(dir, 'chart.png');
  const r = await run('chromium', ['--headless', '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run',
    '--disable-background-networking', '--disable-component-update', '--disable-sync', `--user-data-dir=${join(dir, 'profile')}`,
    '--hide-scrollbars', `--window-size=${width},${height}`, `--screenshot=${png}`, `file://${svg}`], undefined, 60_000);
  expect(r.code, r.stderr).toBe(0);
  return PNG.sync.read(readFileSync(png));
}

/** Whether a pixel within `radius` of (x, y) has `colour` (#rrggbb), give or take anti-aliasing. */
function near(image: PNG, x: number, y: number, colour: string, radius = 3): boolean {
  const want = [1, 3, 5].map((i) => parseInt(colour.slice(i, i + 2), 16));
  for (let dy = -radius; dy <= radius; dy++) {
    for (let dx = -radius; dx <= radius; dx++) {
      const px = Math.round(x) + dx, py = Math.round(y) + dy;
      if (px < 0 || py < 0 || px >= image.width || py >= image.height) continue;
      const at = (py * image.width + px) * 4;
      if (want.every((v, i) => Math.abs(image.data[at + i]! - v) <= 40)) return true;
    }
  }
  return false;
}

/** Each polyline of the SVG: its colour and its points. */
const lines = (svg: string) => [...svg.matchAll(/<polyline points="([^"]+)" fill="none" stroke="(#[0-9A-Fa-f]{6})"/g)]
  .map((m) => ({ colour: m[2]!, points: m[1]!.split(' ').map((p) => p.split(',').map(Number) as [number, number]) }));

describe('latency charts', () => {
  it('bench --compare --plot: both runs drawn where the SVG says, each line in its colour and rising with the percentile', async (ctx) => {
    needs(ctx, 'chromium');
    const a = await cliServer(['bench', '--serve', `unix://${sockPath()}`]);
    const b = await cliServer(['bench', '--serve', 'udp://127.0.0.1:0']);
    const svg = join(tempDir(), 'chart.svg');
    try {
      const r = await cli(['bench', a.address, '--compare', b.address, '--count', '3000', '--plot', svg, '--json'], undefined, 60_000);
      expect(r.code).toBe(0);
      const text = readFileSync(svg, 'utf8');
      expect(text).toContain(a.address);
      expect(text).toContain(b.address);
      const drawn = lines(text);
      expect(drawn.map((l) => l.colour)).toEqual(CHART_COLOURS.slice(0, 2));
      for (const { points } of drawn) {
        for (let i = 1; i < points.length; i++) {
          expect(points[i]![0]).toBeGreaterThanOrEqual(points[i - 1]![0]); // along: the percentile grows
          expect(points[i]![1]).toBeLessThanOrEqual(points[i - 1]![1]); // up (y down the screen): the latency grows
        }
        expect(points.at(-1)![1]).toBeLessThan(points[0]![1]);
      }
      const image = await screenshot(svg);
      for (const { colour, points } of drawn) {
        // The line is there: most of its points show its colour (where the other run's line crosses, that one's).
        const shown = points.filter(([x, y]) => near(image, x, y, colour)).length;
        expect(shown / points.length).toBeGreaterThan(0.5);
      }
      expect(near(image, 2, 2, '#ffffff', 0)).toBe(true); // the chart's own white, not a browser's error page
    } finally {
      await stopLive(a);
      await stopLive(b);
    }
  }, 90_000);

  it('socktool plot: .hgrm files on one chart, labelled by file name, every row a point', async () => {
    const server = await cliServer(['bench', '--serve', 'udp://127.0.0.1:0']);
    const dir = tempDir();
    try {
      for (const name of ['first', 'second']) {
        const r = await cli(['bench', server.address, '--count', '2000', '--hgrm', join(dir, `${name}.hgrm`)], undefined, 60_000);
        expect(r.code).toBe(0);
      }
      const r = await cli(['plot', join(dir, 'chart.svg'), join(dir, 'first.hgrm'), join(dir, 'second.hgrm'), '--title', 'two <runs>']);
      expect(r.stderr).toBe('');
      expect(r.code).toBe(0);
      expect(r.stdout).toBe('');
      const svg = readFileSync(join(dir, 'chart.svg'), 'utf8');
      expect(svg).toContain('>two &#60;runs&#62;</text>');
      expect(svg).toMatch(/>first +<tspan/);
      expect(svg).toMatch(/>second +<tspan/);
      const rows = (file: string) => readFileSync(join(dir, file), 'utf8').split('\n').filter((l) => /^\s+\d/.test(l)).length;
      expect(lines(svg).map((l) => l.points.length)).toEqual([rows('first.hgrm'), rows('second.hgrm')]);
    } finally {
      await stopLive(server);
    }
  }, 90_000);

  it('socktool plot: a file that is no percentile distribution, or none at all, is one line on stderr, exit 2', async () => {
    const dir = tempDir();
    writeFileSync(join(dir, 'notes.hgrm'), 'nothing measured here\n');
    for (const [file, message] of [['notes.hgrm', /notes: no percentile distribution in it/], ['absent.hgrm', /absent\.hgrm: cannot read it \(ENOENT\)/]] as const) {
      const r = await cli(['plot', join(dir, 'chart.svg'), join(dir, file)]);
      expect(r.code).toBe(2);
      expect(r.stderr).toMatch(message);
      expect(r.stderr.trimEnd().split('\n')).toHaveLength(1);
    }
  });
});
