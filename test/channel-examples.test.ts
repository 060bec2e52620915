// The channel examples (examples/calc_*.ts, examples/news_*.ts), each run as real processes on every transport
// row: the same code, only the address changes.
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { ROWS as CHANNEL_ROWS } from './channel-rows.js';
import { live, ROOT, run } from './helpers.js';

/** The channel suites' transports; the examples take no TLS options. */
const ROWS = CHANNEL_ROWS.filter((r) => !r.tls);

const example = (name: string) => [process.execPath, ['--import', 'tsx', join(ROOT, 'examples', `${name}.ts`)]] as const;
const start = (name: string, ...args: string[]) => live(example(name)[0], [...example(name)[1], ...args]);

describe.for(ROWS)('channel examples on $name', (row) => {
  it('calc_service answers calc_client; a bad request is an error reply', async () => {
    const service = start('calc_service', row.at());
    const [, addr] = await service.waitFor(/^listening (\S+)\n/, 15_000);
    const asked = await run(example('calc_client')[0], [...example('calc_client')[1], addr!, '1', '2'], undefined, 20_000);
    const uid = row.name.startsWith('unix') ? process.getuid!() : null;
    expect([asked.stdout, asked.stderr, asked.code]).toEqual([`${JSON.stringify({ sum: 3, uid })}\n`, '', 0]);
    const bad = await run(example('calc_client')[0], [...example('calc_client')[1], addr!, 'one', '2'], undefined, 20_000);
    expect(bad.code).not.toBe(0);
    expect(bad.stderr).toMatch(/ReplyError: TypeError: a and b must be numbers/);
    service.child.kill();
  });

  it('news_subscriber gets what news_publisher publishes under its prefix, nothing else', async () => {
    const pub = start('news_publisher', row.at());
    const [, addr] = await pub.waitFor(/^listening (\S+)\n/, 15_000);
    const sub = start('news_subscriber', addr!, 'weather.', '2');
    await sub.waitFor(/^subscribed\n/, 15_000);
    pub.child.stdin.write('weather.paris sunny\nsports.final 2-1\nweather.oslo snow\n');
    await pub.waitFor(/sent to 1\nsent to 0\nsent to 1\n/);
    expect((await sub.exited).code).toBe(0);
    expect(sub.stdout()).toBe('subscribed\nweather.paris: sunny\nweather.oslo: snow\n');
    pub.child.stdin.end();
    expect((await pub.exited).code).toBe(0);
  });
});
