// The relay's pcapng recordings (src/core/pcap.ts), read back by tshark: curl's HTTP through a unix relay, redis-cli's
// commands, a 10 MB transfer each way followed byte for byte, datagrams listed in order, the file readable while
// the relay runs and whole after SIGTERM, and its bound.
import { randomBytes } from 'node:crypto';
import { statSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { bindTo, dial, echo, formatAddress, listen, PcapWriter, relay, serve } from '../src/index.js';
import { cli, cliServer, live, makeCert, needs, run, sockPath, stopLive, tempDir, until } from './helpers.js';

/** tshark's fields (-T fields) of the packets matching `filter`, one array per packet. */
async function fields(file: string, filter: string, ...names: string[]): Promise<string[][]> {
  const r = await run('tshark', ['-r', file, '-Y', filter, '-T', 'fields', ...names.flatMap((n) => ['-e', n])], undefined, 60_000);
  expect(r.code).toBe(0);
  return r.stdout.split('\n').filter(Boolean).map((l) => l.split('\t'));
}

/** The bytes each way of tcp stream `n`, as tshark's follow,tcp,raw reassembles them. */
async function followed(file: string, n = 0): Promise<{ client: Buffer; server: Buffer }> {
  const r = await run('tshark', ['-r', file, '-q', '-z', `follow,tcp,raw,${n}`], undefined, 120_000);
  expect(r.code).toBe(0);
  const client: string[] = [];
  const server: string[] = [];
  for (const line of r.stdout.split('\n')) {
    if (/^\t[0-9a-f]+$/.test(line)) server.push(line.slice(1));
    else if (/^[0-9a-f]+$/.test(line)) client.push(line);
  }
  return { client: Buffer.from(client.join(''), 'hex'), server: Buffer.from(server.join(''), 'hex') };
}

describe('relay --pcap', () => {
  it("curl's HTTP requests through a unix relay show as http.request, with the unix peer in the comment", async (ctx) => {
    needs(ctx, 'tshark', 'curl');
    const dir = tempDir();
    const web = live('python3', ['-u', '-m', 'http.server', '0', '--bind', '127.0.0.1', '--directory', dir]);
    const port = (await web.waitFor(/port (\d+)/))[1]!;
    const file = join(dir, 'http.pcapng');
    const path = sockPath();
    const relayed = await cliServer(['relay', `unix://${path}`, `tcp://127.0.0.1:${port}`, '--pcap', file]);
    try {
      for (const uri of ['/first', '/second?x=1']) {
        const r = await run('curl', ['-s', '--unix-socket', path, `http://localhost${uri}`]);
        expect(r.code).toBe(0);
      }
      // Read while the relay still runs: every packet is in the file once written.
      await until(async () => (await fields(file, 'http.request', 'http.request.uri')).length === 2, 'both requests in the file');
      expect(await fields(file, 'http.request', 'http.request.uri')).toEqual([['/first'], ['/second?x=1']]);
      const comments = (await fields(file, 'frame.comment', 'frame.comment')).map(([c]) => c);
      expect(comments).toHaveLength(2);
      expect(comments[0]).toMatch(new RegExp(`^relay session 0: an unnamed peer \\(pid \\d+, uid ${process.getuid!()}, gid \\d+\\) on unix://${path} -> tcp://127\\.0\\.0\\.1:${port}$`));
    } finally {
      await stopLive(relayed);
      web.child.kill();
    }
  }, 60_000);

  it("redis-cli's commands through a relay dissect as RESP", async (ctx) => {
    needs(ctx, 'tshark', 'redis-server', 'redis-cli');
    const dir = tempDir();
    const redisSock = join(dir, 'redis.sock');
    const redis = live('redis-server', ['--port', '0', '--unixsocket', redisSock, '--save', '', '--appendonly', 'no', '--dir', dir]);
    const file = join(dir, 'redis.pcapng');
    try {
      await until(async () => (await run('redis-cli', ['-s', redisSock, 'PING'])).stdout.trim() === 'PONG', 'redis is up');
      // redis-cli over TCP to the relay, the relay to redis's unix socket; 6379 is RESP's port to tshark.
      const relayed = await cliServer(['relay', 'tcp://127.0.0.1:0', `unix://${redisSock}`, '--pcap', file]);
      const port = relayed.address.split(':').at(-1)!;
      try {
        expect((await run('redis-cli', ['-p', port, 'SET', 'greeting', 'hello'])).stdout.trim()).toBe('OK');
        expect((await run('redis-cli', ['-p', port, 'GET', 'greeting'])).stdout.trim()).toBe('hello');
      } finally {
        await stopLive(relayed);
      }
      const r = await run('tshark', ['-r', file, '-d', `tcp.port==${port},resp`, '-Y', 'resp', '-T', 'fields', '-e', 'resp.bulk_string.value'], undefined, 60_000);
      // Bulk strings come as hex, several to a packet (comma-separated).
      const values = r.stdout.split(/[\n,]/).map((hex) => String(Buffer.from(hex, 'hex'))).join(',');
      expect(values).toMatch(/SET,greeting,hello/);
      expect(values).toMatch(/GET,greeting/);
    } finally {
      redis.child.kill();
    }
  }, 60_000);

  it('10 MB each way: follow,tcp,raw gives back exactly the bytes sent and echoed; FINs both ways', async (ctx) => {
    needs(ctx, 'tshark');
    const file = join(tempDir(), 'bulk.pcapng');
    const target = await serve(`unix://${sockPath()}`, echo);
    const pcap = new PcapWriter(file);
    const r = await relay('tcp://127.0.0.1:0', target.addr, { pcap });
    const data = randomBytes(10 << 20);
    try {
      const c = await dial(r.addr);
      const back: Buffer[] = [];
      const reading = (async () => {
        for await (const chunk of c) back.push(chunk);
      })();
      await c.write(data);
      await c.end();
      await reading;
      await c.close();
      expect(Buffer.concat(back).equals(data)).toBe(true);
    } finally {
      await r.close();
      await target.close();
      pcap.close();
    }
    const both = await followed(file);
    expect(both.client.equals(data)).toBe(true);
    expect(both.server.equals(data)).toBe(true);
    expect((await fields(file, 'tcp.flags.fin == 1', 'tcp.srcport')).length).toBe(2);
    expect(await fields(file, 'tcp.analysis.flags && !tcp.analysis.window_update', 'frame.number')).toEqual([]);
  }, 120_000);

  it.for(['udp', 'unixgram'] as const)('%s: every datagram each way, in order, as UDP', { timeout: 60_000 }, async (kind, ctx) => {
    needs(ctx, 'tshark');
    const file = join(tempDir(), `${kind}.pcapng`);
    const target = await serve(kind === 'udp' ? 'udp://127.0.0.1:0' : `unixgram://${sockPath()}`, echo);
    const pcap = new PcapWriter(file);
    const r = await relay(kind === 'udp' ? 'udp://127.0.0.1:0' : `unixgram://${sockPath('r.sock')}`, target.addr, { pcap });
    const client = await bindTo(r.addr);
    try {
      for (let i = 0; i < 20; i++) {
        await client.send(`datagram ${i}`);
        expect(String((await client.recvFrom()).data)).toBe(`datagram ${i}`);
      }
    } finally {
      await client.close();
      await r.close();
      await target.close();
      pcap.close();
    }
    const packets = await fields(file, 'udp', 'ip.src', 'data.data');
    const text = (hex: string) => String(Buffer.from(hex, 'hex'));
    expect(packets.map(([src, hex]) => `${src === '10.255.255.254' ? '<' : '>'} ${text(hex!)}`))
      .toEqual(Array.from({ length: 20 }, (_, i) => [`> datagram ${i}`, `< datagram ${i}`]).flat());
    const comment = (await fields(file, 'frame.comment', 'frame.comment'))[0]![0]!;
    expect(comment).toContain(`on ${formatAddress(r.addr)} -> ${formatAddress(target.addr)}`);
  });

  it('whole after SIGTERM; --pcap-max stops the recording, not the traffic, with one notice', async (ctx) => {
    needs(ctx, 'tshark');
    const dir = tempDir();
    const file = join(dir, 'max.pcapng');
    const target = await serve(`unix://${sockPath()}`, echo);
    const relayed = await cliServer(['relay', 'tcp://127.0.0.1:0', formatAddress(target.addr), '--pcap', file, '--pcap-max', '20000']);
    try {
      for (let i = 0; i < 20; i++) {
        const r = await cli(['send', relayed.address, 'x'.repeat(1000), '--reply']);
        expect(r.stdout).toBe('x'.repeat(1000));
      }
      expect(await stopLive(relayed)).toBe(0);
      expect(statSync(file).size).toBeLessThanOrEqual(20000);
      expect(relayed.stderr().match(/reached --pcap-max/g)).toHaveLength(1);
      // tshark reads it to the end without complaint: no packet was left half-written.
      const r = await run('tshark', ['-r', file], undefined, 60_000);
      expect(r.code).toBe(0);
      expect(r.stderr).not.toMatch(/cut short|appears to be damaged|corrupt/i);
      expect(r.stdout.split('\n').filter(Boolean).length).toBeGreaterThan(10);
    } finally {
      await target.close();
    }
  }, 60_000);

  it('a file that cannot be written: one line naming it, exit 2, before listening', async () => {
    const r = await cli(['relay', 'tcp://127.0.0.1:0', 'tcp://127.0.0.1:9', '--pcap', '/nonexistent/dir/x.pcapng']);
    expect(r.code).toBe(2);
    expect(r.stderr).toMatch(/^socktool: --pcap \/nonexistent\/dir\/x\.pcapng: cannot write it \(ENOENT\)\n$/);
  });
});

describe('--pcap on serve and connect (pcap on serve, listen, dial, bindTo)', () => {
  it('a listener recorded gives its connections recorded to accept() and to iteration alike', async (ctx) => {
    needs(ctx, 'tshark');
    const dir = tempDir();
    const file = join(dir, 'listen.pcapng');
    const pcap = new PcapWriter(file);
    const listener = await listen(`unix://${join(dir, 'l.sock')}`, { pcap });
    try {
      const serving = (async () => {
        const first = await listener.accept();
        await first.write(`accepted ${String(await first.read())}`);
        await first.close();
        for await (const conn of listener) {
          await conn.write(`iterated ${String(await conn.read())}`);
          await conn.close();
          return;
        }
      })();
      for (const word of ['one', 'two']) {
        const c = await dial(listener.addr);
        await c.write(word);
        expect(String(await c.read())).toMatch(new RegExp(`^(accepted|iterated) ${word}$`));
        await c.close();
      }
      await serving;
    } finally {
      await listener.close();
      pcap.close();
    }
    const payloads = (await fields(file, 'tcp.payload', 'tcp.payload')).map(([hex]) => String(Buffer.from(hex!, 'hex')));
    expect(payloads).toEqual(['one', 'accepted one', 'two', 'iterated two']);
  });

  it('tcp under TLS: each side records what was said, decrypted, and says so in the comment', { timeout: 60_000 }, async (ctx) => {
    needs(ctx, 'tshark');
    const dir = tempDir();
    const { cert, key } = makeCert();
    const [served, connected] = [join(dir, 'serve.pcapng'), join(dir, 'connect.pcapng')];
    const server = await cliServer(['serve', 'tcp://127.0.0.1:0', '--handler', 'upper', '--tls', '--cert', cert, '--key', key, '--pcap', served]);
    try {
      const r = await cli(['connect', server.address, '--tls', '--ca', cert, '--pcap', connected, '--half-close'], 'hello\n');
      expect(r.stdout).toBe('HELLO\n');
    } finally {
      expect(await stopLive(server)).toBe(0);
    }
    for (const file of [served, connected]) {
      const packets = (await fields(file, 'tcp.payload', 'ip.src', 'tcp.payload')).map(([src, hex]) => `${src === '10.255.255.254' ? '<' : '>'} ${String(Buffer.from(hex!, 'hex'))}`);
      expect([file, packets]).toEqual([file, ['> hello\n', '< HELLO\n']]);
      const [[comment]] = await fields(file, 'frame.comment', 'frame.comment');
      expect(comment).toMatch(/-> tcp:\/\/127\.0\.0\.1:\d+ \(TLS, decrypted\)$/);
    }
  });

  it.for(['tcp', 'unix', 'unixpacket', 'udp', 'unixgram'] as const)('%s: each side records the exchange as it saw it', { timeout: 60_000 }, async (kind, ctx) => {
    needs(ctx, 'tshark');
    const dir = tempDir();
    const where = kind === 'tcp' ? 'tcp://127.0.0.1:0' : kind === 'udp' ? 'udp://127.0.0.1:0' : `${kind}://${join(dir, 's.sock')}`;
    const [served, connected] = [join(dir, 'serve.pcapng'), join(dir, 'connect.pcapng')];
    const server = await cliServer(['serve', where, '--handler', 'upper', '--pcap', served]);
    try {
      const stream = kind === 'tcp' || kind === 'unix' || kind === 'unixpacket';
      const r = await cli(['connect', server.address, '--pcap', connected, ...(stream ? ['--half-close'] : ['--wait', '500'])], 'hello\n');
      expect(r.stdout).toBe('HELLO\n');
    } finally {
      expect(await stopLive(server)).toBe(0);
    }
    for (const file of [served, connected]) {
      const payload = kind === 'udp' || kind === 'unixgram' ? 'data.data' : 'tcp.payload';
      const packets = (await fields(file, payload, 'ip.src', payload)).map(([src, hex]) => `${src === '10.255.255.254' ? '<' : '>'} ${String(Buffer.from(hex!, 'hex'))}`);
      expect([file, packets]).toEqual([file, ['> hello\n', '< HELLO\n']]);
    }
  });
});
