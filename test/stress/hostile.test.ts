// Hostile, slow and silent peers against socktool's servers as users run them (the CLI), at the sizes that broke
// them before the budget (src/core/budget.ts): each server must stay alive, keep its resident memory under a stated
// bound (its peak, VmHWM), serve a healthy client meanwhile, lose no reply owed to a live peer, and give its
// memory back once the hostile peers have gone.
import { spawn } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { parseAddress } from '../../src/index.js';
import { BIN, cli, live, type Live, PEERS, run, sockPath, stopLive, until } from '../helpers.js';
import { healthyRequester, hostile } from '../hostile.js';

/** A process's resident set now, and its peak so far, in MiB. */
function memoryOf(pid: number): { rss: number; peak: number } {
  const status = readFileSync(`/proc/${pid}/status`, 'utf8');
  const kib = (field: string) => Number(new RegExp(`${field}:\\s+(\\d+)`).exec(status)![1]);
  return { rss: kib('VmRSS') / 1024, peak: kib('VmHWM') / 1024 };
}

/** A socktool server (`sh -c 'ulimit …; exec node …'` when limited), once it has printed its address. */
async function server(args: string[], ulimitV?: number): Promise<Live & { address: string; pid: number }> {
  const node = [process.execPath, BIN, ...args].map((a) => `'${a.replace(/'/g, "'\\''")}'`).join(' ');
  const s = ulimitV ? live('sh', ['-c', `ulimit -v ${ulimitV} && exec ${node}`]) : live(process.execPath, [BIN, ...args]);
  const m = await s.waitFor(/^listening on (\S+)\n/, 10_000, 'stderr');
  return { ...s, address: m[1]!, pid: s.child.pid! };
}

/** Waits until the server's memory is back within 20 % of `before` (or fails, with what it was). */
async function memoryComesBack(pid: number, before: number): Promise<void> {
  let now = memoryOf(pid).rss;
  await until(() => (now = memoryOf(pid).rss) <= before * 1.2, `RSS back within 20 % of ${before.toFixed(0)} MiB (now ${now.toFixed(0)})`, 60_000);
}

/** The healthy client every case checks: a requester's round trip. */
const healthy = async (address: string, local?: string) => (await healthyRequester(address, { local, timeout: 60_000 })).close();

const busy: ReturnType<typeof spawn>[] = [];
afterEach(() => {
  for (const b of busy.splice(0)) b.kill('SIGKILL');
});

describe('a channel replier (socktool reply --echo) against hostile peers', () => {
  it('a requester that never reads: 1,500 × 1 MiB under ulimit -v 1500000 (bound: +64 MiB)', async () => {
    const s = await server(['reply', `unix://${sockPath()}`, '--echo', '--codec', 'bytes'], 1_500_000);
    const before = memoryOf(s.pid).rss;
    const greedy = await hostile('never-read', parseAddress(s.address), 1500, 1 << 20);
    try {
      expect(greedy.ready.requests_sent).toBeLessThan(1500); // held back: its sender blocked
      await healthy(s.address);
      expect(memoryOf(s.pid).peak - before).toBeLessThan(64);
    } finally {
      await greedy.finish();
    }
    await memoryComesBack(s.pid, before);
    expect(await stopLive(s)).toBe(0); // alive all along, and it shuts down cleanly
  });

  it('60 connections each 100 bytes short of a 16 MiB request (bound: +192 MiB, the 64 MiB budget and overhead)', async () => {
    const s = await server(['reply', 'tcp://127.0.0.1:0', '--echo', '--codec', 'bytes']);
    const before = memoryOf(s.pid).rss;
    const slow = await hostile('unfinished', parseAddress(s.address), 60, 16 << 20);
    try {
      expect(slow.ready.connected).toBe(60);
      await healthy(s.address);
      expect(memoryOf(s.pid).peak - before).toBeLessThan(192);
    } finally {
      await slow.finish();
    }
    await memoryComesBack(s.pid, before);
    expect(await stopLive(s)).toBe(0);
  });

  it('2,000 idle connections from one address; a healthy client from another is served (--max-clients 1024)', async () => {
    const s = await server(['reply', 'tcp://127.0.0.1:0', '--echo', '--codec', 'bytes', '--max-clients', '1024']);
    const before = memoryOf(s.pid).rss;
    const idle = await hostile('idle', parseAddress(s.address), 2000);
    try {
      expect(idle.ready.connected).toBe(2000);
      await healthy(s.address, 'tcp://127.0.0.2:0');
      expect(memoryOf(s.pid).peak - before).toBeLessThan(64);
      // The notices of a flood are a few lines, not one per connection.
      expect(s.stderr().split('\n').length).toBeLessThan(20);
    } finally {
      await idle.finish();
    }
    await memoryComesBack(s.pid, before);
    expect(await stopLive(s)).toBe(0);
  });

  it('500 slowloris connections at a byte a second: a healthy client is served, and they are closed without a message', async () => {
    const s = await server(['reply', 'tcp://127.0.0.1:0', '--echo', '--codec', 'bytes']);
    const before = memoryOf(s.pid).rss;
    const loris = await hostile('slowloris', parseAddress(s.address), 500);
    try {
      await healthy(s.address);
      await s.waitFor(/no message within 10000 ms of connecting/, 60_000, 'stderr');
      await until(async () => (await loris.closedByServer()) === 500, 'all 500 closed', 60_000);
      expect(memoryOf(s.pid).peak - before).toBeLessThan(64);
    } finally {
      await loris.finish();
    }
    await memoryComesBack(s.pid, before);
    expect(await stopLive(s)).toBe(0);
  });
});

describe('a unixgram echo (socktool unix-server --type dgram) on a busy machine', () => {
  const flood = (path: string, ...args: string[]) =>
    run('python3', [join(PEERS, 'dgram_flood.py'), 'unixgram', path, ...args], undefined, 170_000);

  it('50 threaded senders of 2,000 datagrams (8-1,408 bytes) beside a busy loop on each core: no reply lost', async () => {
    for (let i = 0; i < 2; i++) busy.push(spawn('sh', ['-c', 'while :; do :; done'], { stdio: 'ignore' }));
    const path = sockPath();
    const s = await server(['unix-server', path, '--type', 'dgram']);
    const r = await flood(path, '50', '2000', '0', '8', '1408');
    expect(r.stderr).toBe('');
    expect(JSON.parse(r.stdout)).toEqual({ sent: 100_000, received: 100_000, lost: 0, corrupt: 0 });
    expect(await stopLive(s)).toBe(0);
  });

  it('one peer flooding without reading among 49 healthy ones: they lose nothing, its input is dropped and counted', async () => {
    const path = sockPath();
    const s = await server(['unix-server', path, '--type', 'dgram']);
    const before = memoryOf(s.pid).rss;
    // 200,000 datagrams of about 700 bytes: far past its 16 MiB share.
    const r = await flood(path, '49', '2000', '0', '8', '1408', '1', '200000');
    expect(r.stderr).toBe('');
    expect(JSON.parse(r.stdout)).toEqual({ sent: 98_000, received: 98_000, lost: 0, corrupt: 0, flooded: 200_000 });
    await s.waitFor(/dropped \d+ datagrams .*a peer was not reading its replies/, 10_000, 'stderr');
    // Its share (16 MiB) and the others' backlogs, with overhead.
    expect(memoryOf(s.pid).peak - before).toBeLessThan(128);
    expect(await stopLive(s)).toBe(0);
  });
});

describe('bench against a server that floods it', () => {
  it('counts add up: ok + corrupt + lost never exceed sent; the rest is unexpected (exit 7)', async () => {
    const p = live('python3', ['-u', join(PEERS, 'flood_server.py'), 'tcp', '127.0.0.1']);
    const port = (await p.waitFor(/^listening (\S+)\n/))[1]!;
    try {
      const r = await cli(['bench', `tcp://127.0.0.1:${port}`, '--duration', '5', '--mode', 'flood', '--connections', '4', '--json'], undefined, 120_000);
      expect(r.code).toBe(7);
      const summary = JSON.parse(r.stdout.split('\n').find((l) => l.includes('"summary"'))!);
      expect(summary.messages + summary.corrupt + summary.lost).toBeLessThanOrEqual(summary.sent);
      expect(summary.unexpected).toBeGreaterThan(0);
    } finally {
      p.child.kill();
    }
  });
});
