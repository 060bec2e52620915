// The standing stress suite (npm run test:stress): real socktool servers (the CLI, as users run them) under Python
// peers that nobody here wrote: 1,000 concurrent stream clients with SHA-256 checks and misbehaving ones among
// them, datagram floods from 50 senders counting every reply, the server's memory over repeated rounds, and the
// descriptor count after open/close loops.
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { bind, dial, listen, NetError, serve, echo } from '../../src/index.js';
import { abstractName, BIN, cliServer, live, notices, PEERS, run, sockPath, stopLive } from '../helpers.js';

const py = async (script: string, ...args: string[]) => {
  const r = await run('python3', [join(PEERS, script), ...args], undefined, 170_000);
  expect(r.stderr).toBe('');
  return JSON.parse(r.stdout);
};

/** The Python client's view of an address the server printed. */
function target(address: string): string[] {
  const m = /^(\w+):\/\/(?:\[?([^\]]*)\]?:(\d+)|(.*))$/.exec(address) ?? /^(\w+):(@.*)$/.exec(address)!;
  if (m[1]!.startsWith('tcp') || m[1]!.startsWith('udp')) return [m[2]!, m[3]!];
  return [m[4] ?? m[2]!];
}

/** A socktool server run by `node args…`, once it has printed its address. */
async function startedServer(args: string[]) {
  const server = live(process.execPath, args);
  const m = await server.waitFor(/^listening on (\S+)\n/, undefined, 'stderr');
  return { ...server, address: m[1]! };
}

/** The resident set of a process, in KiB. */
const rssOf = (pid: number): number => Number(/VmRSS:\s+(\d+)/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'))![1]);

const STREAMS = [
  ['tcp', () => 'tcp://127.0.0.1:0'],
  ['unix', () => `unix://${sockPath()}`],
  ['unixpacket', () => `unixpacket://${sockPath()}`],
  ['unixpacket abstract', () => `unixpacket:@${abstractName()}`],
] as const;

describe.each(STREAMS)('%s: 1,000 concurrent clients', (name, addr) => {
  it('every byte echoed (SHA-256), with resetting, idle and half-closing clients among them', async () => {
    const server = await cliServer(['serve', addr(), '--max-clients', '5000']);
    const kind = name.split(' ')[0]!;
    const r = await py('stream_clients.py', kind, ...target(server.address), '1000', '65536', '150');
    expect(r).toMatchObject({ ok: 1000, mismatch: 0, errors: 0, misbehaved: 150 });
    // And it goes on serving.
    expect(await py('stream_clients.py', kind, ...target(server.address), '1', '1000')).toMatchObject({ ok: 1 });
    expect(await stopLive(server)).toBe(0);
  });

  it('memory plateaus: RSS after round 10 of 1,000 clients is within 25 % of round 2', async () => {
    // V8 grows its young generation from 1 to 16 MiB during the first rounds of any busy program (about 20 MB of
    // RSS, measured with and without forced collections): starting it at full size keeps that step out of a
    // measurement of socktool's own memory.
    const server = await startedServer(['--min-semi-space-size=16', BIN, 'serve', addr(), '--max-clients', '5000']);
    const kind = name.split(' ')[0]!;
    const rss: number[] = [];
    for (let round = 1; round <= 10; round++) {
      const r = await py('stream_clients.py', kind, ...target(server.address), '1000', '16384');
      expect(r).toMatchObject({ ok: 1000, errors: 0 });
      rss.push(rssOf(server.child.pid!));
    }
    console.info(`${name}: RSS by round (KiB): ${rss.join(' ')}`);
    expect(rss[9]!, `RSS by round (KiB): ${rss.join(' ')}`).toBeLessThanOrEqual(rss[1]! * 1.25);
    expect(await stopLive(server)).toBe(0);
  });
});

// In flight per sender, when windowed. UDP has no backpressure: what is in flight must fit the server's receive
// buffer (net.core.rmem_default, 208 KiB: 100 small datagrams take about 128 KiB with the kernel's overhead), or
// the kernel drops some before any server sees them. A unixgram sender waits instead, so it can push harder.
const FLOODS = [
  ['udp', '2', () => ['udp-echo', '--port', '0']],
  ['unixgram', '8', () => ['unix-server', sockPath(), '--type', 'dgram']],
  ['unixgram abstract', '8', () => ['unix-server', `@${abstractName()}`, '--type', 'dgram']],
] as const;

describe.each(FLOODS)('%s: a flood from 50 senders, 2,000 datagrams each', (name, window, args) => {
  it(`${window} in flight per sender: every reply arrives, intact`, async () => {
    const server = await cliServer([...args()]);
    const r = await py('dgram_flood.py', name.split(' ')[0]!, ...target(server.address), '50', '2000', window);
    expect(r).toEqual({ sent: 100_000, received: 100_000, lost: 0, corrupt: 0 });
    expect(await stopLive(server)).toBe(0);
  });

  it('as fast as they can: unixgram loses nothing (senders are held back); udp counts what the kernel dropped', async () => {
    const server = await cliServer([...args()]);
    const r = await py('dgram_flood.py', name.split(' ')[0]!, ...target(server.address), '50', '2000', '0');
    expect(r).toMatchObject({ sent: 100_000, corrupt: 0 });
    expect(r.received + r.lost).toBe(100_000);
    if (name.startsWith('unixgram')) expect(r.lost).toBe(0);
    else expect(r.received).toBeGreaterThan(0); // UDP has no backpressure: a full buffer drops, as for any server
    expect(notices(server)).toBe(''); // no line per datagram, whatever happened
    expect(await stopLive(server)).toBe(0);
  });
});

describe('open/close loops', () => {
  const fds = () => readdirSync('/proc/self/fd').length;

  it('leave the descriptor count where it started, failures included', async () => {
    const before = fds();
    const path = sockPath();
    for (let i = 0; i < 200; i++) {
      for (const at of ['udp://127.0.0.1:0', 'unixgram:', `unixgram://${path}`]) await (await bind(at)).close();
      for (const at of ['tcp://127.0.0.1:0', `unix://${path}`, `unixpacket://${path}`, `unixpacket:@${abstractName()}`, `unix:@${abstractName()}`]) {
        const l = await listen(at);
        const c = await dial(l.addr);
        const s = await l.accept();
        await c.close();
        await s.close();
        await l.close();
      }
      const g = await serve(`unixgram://${path}`, echo);
      await g.close();
      // Failures: a refused dial, a taken address.
      await expect(dial(`unixpacket:@${abstractName()}`)).rejects.toBeInstanceOf(NetError);
      const held = await bind('udp://127.0.0.1:0');
      await expect(bind(held.localAddr)).rejects.toMatchObject({ code: 'EADDRINUSE' });
      await held.close();
    }
    await new Promise((resolve) => setTimeout(resolve, 50));
    expect(fds()).toBe(before);
  });
});

