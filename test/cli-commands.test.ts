// The netcat-class commands (connect, unix-client, listen, serve, send, chat) and TLS, each spawned as the real
// CLI and driven by real peers: Python socket programs, nc and openssl-made certificates.
import { createHash, randomBytes } from 'node:crypto';
import { spawn } from 'node:child_process';
import { closeSync, existsSync, openSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import {
  abstractName, BIN, cli, cliServer, live, liveCli, makeCert, needs, notices, oneLineOf, PEERS, portOf, pyServer, run,
  sockPath, stopLive, tempDir,
} from './helpers.js';

const py = (script: string, ...args: string[]) => run('python3', [join(PEERS, script), ...args]);

/** Every byte value, a NUL in a line, and UTF-8: what byte-exact means here. */
const BINARY = Buffer.concat([Buffer.from('first line\n'), Buffer.from([...Array(256).keys()]), Buffer.from('\n红烧肉\n')]);

const events = (stdout: string) => stdout.split('\n').filter(Boolean).map((l) => JSON.parse(l) as Record<string, unknown>);

describe('socktool connect', () => {
  it('tcp: stdin to a Python echo server and back, byte-exact; --half-close ends it', async () => {
    const peer = await pyServer('tcp4', '127.0.0.1');
    const r = await cli(['connect', `tcp://127.0.0.1:${peer.where}`, '--half-close'], BINARY);
    expect(r.stderr).toBe('');
    expect(r.code).toBe(0);
    expect(r.bytes.equals(BINARY)).toBe(true);
  });

  it('udp6 and unixgram: each stdin line is one datagram and every reply is printed', async () => {
    const udp = await pyServer('udp6', '::1');
    const a = await cli(['connect', `udp://[::1]:${udp.where}`, '--wait', '300'], 'one\ntwo\n红烧肉\n');
    expect([a.code, a.stdout, a.stderr]).toEqual([0, 'one\ntwo\n红烧肉\n', '']);
    const path = sockPath();
    await pyServer('unixgram', path);
    const b = await cli(['connect', `unixgram://${path}`, '--wait', '300'], 'alpha\nbeta');
    expect([b.code, b.stdout, b.stderr]).toEqual([0, 'alpha\nbeta', '']);
  });

  it('unix-client: stream (--half-close) and seqpacket on an @abstract name, against Python', async () => {
    const path = sockPath();
    await pyServer('unix', path);
    const a = await cli(['unix-client', path, '--half-close'], BINARY);
    expect([a.code, a.bytes.equals(BINARY)]).toEqual([0, true]);
    const name = abstractName();
    await pyServer('unixpacket', `@${name}`);
    const b = await cli(['unix-client', `@${name}`, '--type', 'seqpacket', '--half-close'], 'packet one');
    expect([b.code, b.stdout, b.stderr]).toEqual([0, 'packet one', '']);
    const gram = sockPath();
    await pyServer('unixgram', gram);
    const c = await cli(['unix-client', gram, '--type', 'dgram', '--wait', '300'], 'datagram one\n');
    expect([c.code, c.stdout, c.stderr]).toEqual([0, 'datagram one\n', '']);
    const long = await cli(['unix-client', `/tmp/${'x'.repeat(120)}`]);
    expect(long.code).toBe(2);
    expect(oneLineOf(long)).toMatch(/ERR_SOCKTOOL_BAD_ADDRESS/);
  });

  it('unix-client takes a whole unix address too (its network is the type); one that contradicts --type is a usage error', async () => {
    const path = sockPath();
    await pyServer('unix', path);
    const a = await cli(['unix-client', `unix://${path}`, '--half-close'], 'whole address');
    expect([a.code, a.stdout, a.stderr]).toEqual([0, 'whole address', '']);
    const name = abstractName();
    await pyServer('unixpacket', `@${name}`);
    const b = await cli(['unix-client', `unixpacket:@${name}`, '--half-close'], 'packet');
    expect([b.code, b.stdout, b.stderr]).toEqual([0, 'packet', '']);
    const both = await cli(['unix-client', `unix://${path}`, '--type', 'dgram']);
    expect(both.code).toBe(2);
    expect(oneLineOf(both)).toMatch(/--type dgram is unixgram, and unix:\/\/.* is a unix address/);
  });

  it('--json: connected, data (base64, byte-exact) and closed events, each with a timestamp', async () => {
    const peer = await pyServer('tcp4', '127.0.0.1');
    const r = await cli(['connect', `tcp://127.0.0.1:${peer.where}`, '--half-close', '--json'], BINARY);
    const evs = events(r.stdout);
    expect(evs.map((e) => e.event)).toEqual(expect.arrayContaining(['connected', 'data', 'closed']));
    expect(evs[0]).toMatchObject({ event: 'connected', peer: `tcp://127.0.0.1:${peer.where}` });
    for (const e of evs) expect(Number.isNaN(Date.parse(e.time as string))).toBe(false);
    const data = Buffer.concat(evs.filter((e) => e.event === 'data').map((e) => Buffer.from(e.base64 as string, 'base64')));
    expect(data.equals(BINARY)).toBe(true);
  });

  it('-v: a hex dump with direction, peer and size on stderr; stdout stays the plain bytes', async () => {
    const peer = await pyServer('tcp4', '127.0.0.1');
    const r = await cli(['connect', `tcp://127.0.0.1:${peer.where}`, '--half-close', '-v'], 'hello');
    expect(r.stdout).toBe('hello');
    expect(r.stderr).toMatch(new RegExp(`^> \\S+ tcp://127\\.0\\.0\\.1:${peer.where} 5 bytes\\n  000000  68 65 6c 6c 6f +hello$`, 'm'));
    expect(r.stderr).toMatch(new RegExp(`^< \\S+ tcp://127\\.0\\.0\\.1:${peer.where} 5 bytes$`, 'm'));
  });

  it('exit codes: bad port 2, refused 4, idle past --timeout 3, each with one line', async () => {
    const bad = await cli(['connect', 'tcp://127.0.0.1:70000']);
    expect(bad.code).toBe(2);
    expect(oneLineOf(bad)).toMatch(/70000/);
    const refused = await cli(['connect', `unix://${sockPath()}`]);
    expect(refused.code).toBe(4);
    expect(oneLineOf(refused)).toMatch(/ENOENT/);
    const silent = await pyServer('tcp4', '127.0.0.1', 'silent');
    const idle = await cli(['connect', `tcp://127.0.0.1:${silent.where}`, '--timeout', '300'], 'anyone?');
    expect(idle.code).toBe(3);
    expect(oneLineOf(idle)).toMatch(/ETIMEDOUT/);
  });
});

describe('socktool send', () => {
  it('udp and unixgram with --reply print the answer; tcp is written, half-closed, and the answer read to EOF', async () => {
    const udp = await pyServer('udp4', '127.0.0.1');
    const a = await cli(['send', `udp://127.0.0.1:${udp.where}`, 'hello', 'world', '--reply']);
    expect([a.code, a.stdout, a.stderr]).toEqual([0, 'hello world', '']);
    const path = sockPath();
    await pyServer('unixgram', path);
    const b = await cli(['send', `unixgram://${path}`, '红烧肉', '--reply']);
    expect([b.code, b.stdout]).toEqual([0, '红烧肉']);
    // The hashing server answers only after EOF: the answer proves the half-close.
    const tcp = await pyServer('tcp4', '127.0.0.1', 'sha256');
    const c = await cli(['send', `tcp://127.0.0.1:${tcp.where}`, 'abc', '--reply']);
    expect([c.code, c.stdout]).toEqual([0, 'ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad 3\n']);
  });

  it('--bind: connect and send from a chosen address (tcp, udp, unixgram); one of another kind is a usage error', async () => {
    const tcp = await cliServer(['serve', 'tcp://127.0.0.1:0', '--json']);
    const r = await cli(['send', tcp.address, 'from 127.0.0.2', '--reply', '--bind', '127.0.0.2']);
    expect(r.stdout).toBe('from 127.0.0.2');
    await expect.poll(() => tcp.stdout()).toMatch(/"event":"accepted","time":"[^"]+","peer":"tcp:\/\/127\.0\.0\.2:\d+"/);
    expect(await stopLive(tcp)).toBe(0);

    const udp = await cliServer(['listen', 'udp://127.0.0.1:0', '--json']);
    const port = 20000 + Math.floor(Math.random() * 20000);
    await cli(['send', udp.address, 'from a port', '--bind', `udp://127.0.0.3:${port}`]);
    await expect.poll(() => udp.stdout()).toMatch(new RegExp(`"from":"udp://127\\.0\\.0\\.3:${port}"`));
    expect(await stopLive(udp)).toBe(0);

    const gram = sockPath('g.sock');
    const me = sockPath('me.sock');
    const g = await cliServer(['serve', `unixgram://${gram}`]);
    const answered = await cli(['send', `unixgram://${gram}`, 'from a path', '--reply', '--bind', me]);
    expect(answered.stdout).toBe('from a path');
    expect(await stopLive(g)).toBe(0);

    const wrong = await cli(['connect', tcp.address, '--bind', 'udp://127.0.0.1:0']);
    expect(wrong.code).toBe(2);
    expect(oneLineOf(wrong)).toMatch(/--bind udp:\/\/127\.0\.0\.1:0: not an address to send to tcp from/);
    const unixStream = await cli(['connect', `unix://${gram}`, '--bind', me]);
    expect(oneLineOf(unixStream)).toMatch(/a unix stream client cannot choose its own address .*\(EOPNOTSUPP\)$/);
  });

  it('without an answer in time: exit 3 and one line; a missing message is a usage error', async () => {
    const silent = await pyServer('udp4', '127.0.0.1', 'silent');
    const r = await cli(['send', `udp://127.0.0.1:${silent.where}`, 'ping', '--reply', '--timeout', '300']);
    expect(r.code).toBe(3);
    expect(oneLineOf(r)).toMatch(/ETIMEDOUT/);
    const usage = await cli(['send', 'udp://127.0.0.1:9']);
    expect(usage.code).toBe(2);
    oneLineOf(usage);
  });
});

describe('socktool listen', () => {
  it('tcp: prints what the client sends, sends stdin back, and ends with the client', async () => {
    const l = await cliServer(['listen', 'tcp://127.0.0.1:0']);
    const c = live('python3', ['-c', `
import socket
s = socket.create_connection(('127.0.0.1', ${portOf(l.address)}))
s.sendall('from client 红烧肉\\n'.encode())
answer = b''
while not answer.endswith(b'\\n'):
    answer += s.recv(100)
print(answer.decode(), end='', flush=True)
s.close()`]);
    await l.waitFor(/from client 红烧肉\n/);
    l.child.stdin.write('from listen\n');
    await c.waitFor(/^from listen\n$/);
    expect((await l.exited).code).toBe(0);
    expect(l.stdout()).toBe('from client 红烧肉\n'); // the peer's bytes alone: the listening line is on stderr
  });

  it('stdout is the data alone: a binary file received with listen > file, and sent from stdin, byte-exact (SHA-256)', async (ctx) => {
    needs(ctx, 'nc');
    const blob = randomBytes(3 << 20);
    const sha = (b: Buffer) => createHash('sha256').update(b).digest('hex');
    // nc sends, `listen > file` receives: the file is exactly what was sent.
    const file = join(tempDir(), 'recv.bin');
    const fd = openSync(file, 'w');
    const l = spawn(process.execPath, [BIN, 'listen', 'tcp://127.0.0.1:0'], { stdio: ['pipe', fd, 'pipe'] });
    closeSync(fd);
    const exited = new Promise((resolve) => l.once('close', resolve));
    const port = await new Promise<string>((resolve) => {
      let err = '';
      l.stderr!.on('data', (c: Buffer) => {
        err += c;
        const m = /^listening on tcp:\/\/127\.0\.0\.1:(\d+)\n/.exec(err);
        if (m) resolve(m[1]!);
      });
    });
    try {
      const sent = await run('nc', ['-N', '127.0.0.1', port], blob, 30_000);
      expect(sent.code).toBe(0);
      expect(await exited).toBe(0);
    } finally {
      l.kill('SIGKILL'); // (gone by now unless something above failed)
    }
    const got = readFileSync(file);
    expect(got.length).toBe(blob.length);
    expect(sha(got)).toBe(sha(blob));
    // listen sends its stdin, nc receives.
    const back = await cliServer(['listen', 'tcp://127.0.0.1:0', '--half-close']);
    const received = run('nc', ['-d', '127.0.0.1', String(portOf(back.address))], undefined, 30_000);
    back.child.stdin.end(blob);
    expect(sha((await received).bytes)).toBe(sha(blob));
    expect((await back.exited).code).toBe(0);
  });

  it('a SIGTERM with busy clients (unix, unixpacket): exit 0 and nothing on stderr but the listening line', async () => {
    for (const kind of ['unix', 'unixpacket']) {
      const path = sockPath(`${kind}.sock`);
      const s = await cliServer(['serve', `${kind}://${path}`]);
      const busy = live('python3', [join(PEERS, 'busy_clients.py'), kind, path, '20']);
      await busy.waitFor(/^busy\n/m);
      expect(await stopLive(s)).toBe(0);
      expect(notices(s)).toBe('');
    }
  });

  // 20 programs one after another: more than vitest's 20 s on a busy machine (seen under a loaded full run).
  it('a SIGTERM the moment the listening line appears: exit 0 and the socket file removed, every time', { timeout: 90_000 }, async () => {
    for (let i = 0; i < 20; i++) {
      const path = sockPath(`t${i}.sock`);
      const s = liveCli(['unix-server', path]);
      await s.waitFor(/^listening on /, 8000, 'stderr');
      s.child.kill('SIGTERM');
      expect((await s.exited).code).toBe(0);
      expect(existsSync(path)).toBe(false);
      expect(notices(s)).toBe('');
    }
  });

  it('-k: serves nc client after client, then SIGTERM exits 0', async (ctx) => {
    needs(ctx, 'nc');
    const l = await cliServer(['listen', '-k', 'tcp://127.0.0.1:0']);
    for (const text of ['first\n', 'second\n']) {
      const r = await run('nc', ['-N', '127.0.0.1', String(portOf(l.address))], text);
      expect(r.code).toBe(0);
      await l.waitFor(new RegExp(text));
    }
    expect(await stopLive(l)).toBe(0);
    expect(l.stdout()).toBe('first\nsecond\n');
  });

  it('udp and unixgram: prints each datagram and sends stdin lines to the sender', async () => {
    const l = await cliServer(['listen', 'udp://127.0.0.1:0']);
    const c = live('python3', [join(PEERS, 'udp_client.py'), '127.0.0.1', String(portOf(l.address)), 'ping']);
    await l.waitFor(/ping$/);
    l.child.stdin.write('pong\n');
    await c.waitFor(/^pong\n\n$/);
    expect(await stopLive(l)).toBe(0);

    const path = sockPath();
    const g = await cliServer(['listen', `unixgram://${path}`]);
    const me = sockPath('me.sock');
    const d = live('python3', [join(PEERS, 'unixgram_client.py'), path, me, 'hello']);
    await g.waitFor(/hello$/);
    g.child.stdin.write('back\n');
    await d.waitFor(new RegExp(`^back\\n ${path}\\n$`));
    expect(await stopLive(g)).toBe(0);
  });

  it('unixgram without -k: every sender is printed and none ends it; the first that can be answered is the peer', async () => {
    const path = sockPath();
    const g = await cliServer(['listen', `unixgram://${path}`, '-v']); // -v: a refused reply is shown on stderr
    // Two senders that are gone at once (socktool send, bound to nothing), then an unnamed Python one.
    for (const text of ['one', 'two']) expect((await cli(['send', `unixgram://${path}`, text])).code).toBe(0);
    await run('python3', ['-c', `import socket; s = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM); s.sendto(b'unnamed\\n', ${JSON.stringify(path)})`]);
    await g.waitFor(/^onetwounnamed\n$/);
    // The first sender has gone: its reply is refused, and the next sender that can be answered takes its place.
    g.child.stdin.write('to nobody\n');
    await g.waitFor(/connection refused \(ECONNREFUSED\)/, 8000, 'stderr');
    const me = sockPath('me.sock');
    const d = live('python3', [join(PEERS, 'unixgram_client.py'), path, me, 'hello']);
    await g.waitFor(/hello$/);
    g.child.stdin.write('back\n');
    await d.waitFor(new RegExp(`^back\\n ${path}\\n$`));
    expect(g.stdout()).toBe('onetwounnamed\nhello');
    expect(await stopLive(g)).toBe(0);
  });

  it('an address in use: exit 5 and one line', async () => {
    const held = await pyServer('tcp4', '127.0.0.1', 'silent');
    const r = await cli(['listen', `tcp://127.0.0.1:${held.where}`]);
    expect(r.code).toBe(5);
    expect(oneLineOf(r)).toMatch(/EADDRINUSE/);
  });
});

describe('socktool serve', () => {
  it('--handler upper answers nc over tcp; --handler print writes udp datagrams to stdout', async (ctx) => {
    needs(ctx, 'nc');
    const s = await cliServer(['serve', 'tcp://127.0.0.1:0', '--handler', 'upper']);
    const r = await run('nc', ['-N', '127.0.0.1', String(portOf(s.address))], 'shout 红烧肉\n');
    expect(r.stdout).toBe('SHOUT 红烧肉\n');
    expect(await stopLive(s)).toBe(0);

    const p = await cliServer(['serve', 'udp://127.0.0.1:0', '--handler', 'print']);
    await run('nc', ['-u', '-w1', '127.0.0.1', String(portOf(p.address))], 'logged line\n');
    await p.waitFor(/logged line\n/);
    expect(await stopLive(p)).toBe(0);
  });

  it('--handler discard on unixpacket answers nothing; --json reports accepted, data and closed', async () => {
    const path = sockPath();
    const s = await cliServer(['serve', `unixpacket://${path}`, '--handler', 'discard', '--json']);
    expect(s.address).toBe(`unixpacket://${path}`);
    const r = await py('seqpacket_client.py', path, 'one', 'two');
    expect(r.stdout).toBe('');
    await s.waitFor(/"event":"closed"/);
    expect(await stopLive(s)).toBe(0);
    const evs = events(s.stdout());
    expect(evs.map((e) => e.event)).toEqual(['listening', 'accepted', 'data', 'data', 'closed', 'stopped']);
    // Connection events name the peer; the server's own last event names its address (the README's field names).
    expect(Object.keys(evs[4]!)).toEqual(['event', 'time', 'peer']);
    expect(evs[5]).toMatchObject({ address: `unixpacket://${path}` });
    expect(evs.filter((e) => e.event === 'data').map((e) => Buffer.from(e.base64 as string, 'base64').toString())).toEqual(['one', 'two']);
  });

  it('--max-clients: a client over the limit is refused at once, the others are served', async (ctx) => {
    needs(ctx, 'nc');
    const s = await cliServer(['serve', 'tcp://127.0.0.1:0', '--max-clients', '1']);
    const port = String(portOf(s.address));
    const holder = live('nc', ['127.0.0.1', port]);
    holder.child.stdin.write('held\n');
    await holder.waitFor(/held\n/);
    const refused = await run('nc', ['-N', '127.0.0.1', port], 'over the limit\n');
    expect(refused.stdout).toBe('');
    await expect.poll(() => s.stderr()).toMatch(/refused: 1 client already connected, all active/);
    holder.child.stdin.end();
    holder.child.kill();
    await holder.exited;
    await expect.poll(async () => (await run('nc', ['-N', '127.0.0.1', port], 'now\n')).stdout).toBe('now\n');
    expect(await stopLive(s)).toBe(0);
  });

  it('--timeout: a connection idle that long is closed, the server keeps serving', async (ctx) => {
    needs(ctx, 'nc');
    const s = await cliServer(['serve', 'tcp://127.0.0.1:0', '--timeout', '300']);
    const idle = await run('nc', ['127.0.0.1', String(portOf(s.address))], undefined, 5000);
    expect(idle.code).toBe(0);
    const r = await run('nc', ['-N', '127.0.0.1', String(portOf(s.address))], 'still here\n');
    expect(r.stdout).toBe('still here\n');
    expect(await stopLive(s)).toBe(0);
  });

  it('idle clients cannot lock others out: a silent one makes room, silent ones are closed after --timeout; --timeout 0 keeps them', async (ctx) => {
    needs(ctx, 'nc');
    const help = await cli(['serve', '--help']);
    expect(help.stdout).toMatch(/--timeout <ms>\s+close a connection idle this long \(0: never\)\s+\(default:\s+120000\)/);
    const s = await cliServer(['serve', 'tcp://127.0.0.1:0', '--max-clients', '3', '--timeout', '500', '-v']);
    const port = String(portOf(s.address));
    // Their stdin is at EOF, but without -N nc sends nothing, not even a FIN: silent, holding a place. All three
    // are in before the fourth comes.
    const silent = [1, 2, 3].map(() => run('nc', ['127.0.0.1', port], undefined, 10_000));
    await expect.poll(() => s.stderr().match(/accepted/g)?.length ?? 0).toBe(3);
    // A fourth is served at once: the first silent one gives it its place. The others are closed for idleness.
    expect((await run('nc', ['-N', '127.0.0.1', port], 'served\n')).stdout).toBe('served\n');
    expect((await Promise.all(silent)).map((r) => r.code)).toEqual([0, 0, 0]);
    expect(s.stderr()).toMatch(/closed: silent since it connected, and its place was needed/);
    expect(await stopLive(s)).toBe(0);

    // With --timeout 0 a client that has spoken keeps its place for good: a newcomer is refused, as such.
    const off = await cliServer(['serve', 'tcp://127.0.0.1:0', '--max-clients', '1', '--timeout', '0']);
    const holder = live('nc', ['127.0.0.1', String(portOf(off.address))]);
    holder.child.stdin.write('here\n');
    await holder.waitFor(/^here\n/);
    const refused = await run('nc', ['-N', '127.0.0.1', String(portOf(off.address))], 'still full\n');
    expect(refused.stdout).toBe('');
    await off.waitFor(/refused: 1 client already connected, all active/, 8000, 'stderr');
    expect(holder.child.exitCode).toBeNull();
    holder.child.kill();
    expect(await stopLive(off)).toBe(0);
  });

  it('an unknown handler is a usage error (exit 2, one line)', async () => {
    const r = await cli(['serve', 'tcp://127.0.0.1:0', '--handler', 'nope']);
    expect(r.code).toBe(2);
    expect(oneLineOf(r)).toMatch(/nope/);
  });
});

describe('socktool chat', () => {
  it('tcp: three nc clients; lines go to the others with the sender address; join and leave notices', async (ctx) => {
    needs(ctx, 'nc');
    const s = await cliServer(['chat', 'tcp://127.0.0.1:0', '--json']);
    const port = String(portOf(s.address));
    // One after another, so that each one's join is seen by those before it.
    const joined = async (n: number) => {
      const c = live('nc', ['127.0.0.1', port]);
      await expect.poll(() => s.stdout().split('"event":"accepted"').length - 1).toBe(n);
      return c;
    };
    const a = await joined(1);
    const b = await joined(2);
    const c = await joined(3);
    await a.waitFor(/joined\n.*joined\n/s);
    await b.waitFor(/joined\n/);
    a.child.stdin.write('hi from a 红烧肉\n');
    const line = /^\[tcp:\/\/127\.0\.0\.1:(\d+)\] hi from a 红烧肉$/m;
    const [fromB, fromC] = [await b.waitFor(line), await c.waitFor(line)];
    expect(fromB[1]).toBe(fromC[1]);
    c.child.stdin.write('and c\n');
    await a.waitFor(/\] and c\n/);
    await b.waitFor(/\] and c\n/);
    expect(a.stdout()).not.toMatch(/hi from a/);
    a.child.kill();
    await b.waitFor(new RegExp(`^\\* tcp://127\\.0\\.0\\.1:${fromB[1]} left$`, 'm'));
    expect(await stopLive(s)).toBe(0);
  });

  const member = (port: string, ...args: string[]) => live('python3', [join(PEERS, 'chat_member.py'), port, ...args]);

  it('a flooding sender is slowed to the pace of a reader that is behind, which is not evicted and misses nothing', async () => {
    const s = await cliServer(['chat', 'tcp://127.0.0.1:0', '--json']);
    const port = String(portOf(s.address));
    // 16 MB: far more than the kernel buffers between them hold, while the reader reads nothing for 3 s.
    const reader = member(port, 'read', '16000', '3');
    await reader.waitFor(/ready/);
    await expect.poll(() => s.stdout()).toMatch(/"event":"accepted"/);
    const flooder = member(port, 'flood', '16000');
    await reader.waitFor(/^got \d+$/m, 60_000);
    expect(reader.stdout()).toMatch(/^got 16000$/m);
    await flooder.waitFor(/^sent 16000$/m);
    expect(s.stdout()).not.toMatch(/"reason":"(too slow|not reading)"/);
    expect(await stopLive(s)).toBe(0);
  }, 90_000);

  it('a member that reads nothing at all leaves after 15 s behind, and the room goes on', async () => {
    const s = await cliServer(['chat', 'tcp://127.0.0.1:0', '--json']);
    const port = String(portOf(s.address));
    const mute = member(port, 'mute');
    await mute.waitFor(/ready/);
    await expect.poll(() => s.stdout()).toMatch(/"event":"accepted"/);
    const reader = member(port, 'read', '6000', '0');
    await reader.waitFor(/ready/);
    await expect.poll(() => s.stdout().split('"event":"accepted"').length - 1).toBe(2);
    member(port, 'flood', '6000');
    await reader.waitFor(/^got \d+$/m, 40_000);
    expect(reader.stdout()).toMatch(/^got 6000$/m);
    expect(s.stdout()).toMatch(/"event":"closed","time":"[^"]+","peer":"[^"]+","reason":"not reading"/);
    expect(await stopLive(s)).toBe(0);
  }, 60_000);

  it('a bad address is a usage error (exit 2, one line)', async () => {
    const r = await cli(['chat', 'tcp://127.0.0.1:99999']);
    expect(r.code).toBe(2);
    expect(oneLineOf(r)).toMatch(/99999/);
  });

  it('udp: senders join with their first datagram and hear each other', async (ctx) => {
    needs(ctx, 'nc');
    const s = await cliServer(['chat', 'udp://127.0.0.1:0', '-v']); // -v: joins are told on stderr
    const port = String(portOf(s.address));
    const a = live('nc', ['-u', '127.0.0.1', port]);
    const b = live('nc', ['-u', '127.0.0.1', port]);
    a.child.stdin.write('a is here\n');
    await s.waitFor(/joined\n/, undefined, 'stderr');
    b.child.stdin.write('b is here\n');
    await a.waitFor(/^\* udp:\/\/127\.0\.0\.1:\d+ joined\n\[udp:\/\/127\.0\.0\.1:\d+\] b is here\n/m);
    expect(await stopLive(s)).toBe(0);
  });
});

describe('TLS', () => {
  it('serve --tls answers a verifying Python ssl client; connect --tls talks to it; without --ca it fails (exit 1)', async (ctx) => {
    needs(ctx, 'openssl');
    const { cert, key } = makeCert();
    const s = await cliServer(['serve', 'tcp://127.0.0.1:0', '--tls', '--cert', cert, '--key', key, '--handler', 'upper']);
    const port = String(portOf(s.address));
    const p = await py('tls_client.py', 'localhost', port, cert, 'secret 红烧肉');
    expect([p.stdout, p.stderr]).toEqual(['SECRET 红烧肉\n', '']);
    const c = await cli(['connect', `tcp://127.0.0.1:${port}`, '--tls', '--ca', cert, '--half-close'], BINARY);
    expect(c.code).toBe(0);
    expect(c.bytes.equals(BINARY.map((b) => (b >= 0x61 && b <= 0x7a ? b - 0x20 : b)))).toBe(true);
    const untrusted = await cli(['connect', `tcp://127.0.0.1:${port}`, '--tls']);
    expect(untrusted.code).toBe(1);
    expect(oneLineOf(untrusted)).toMatch(/self-signed certificate \(DEPTH_ZERO_SELF_SIGNED_CERT\)$/);
    const insecure = await cli(['send', `tcp://127.0.0.1:${port}`, 'ok', '--tls', '--insecure', '--reply']);
    expect([insecure.code, insecure.stdout]).toEqual([0, 'OK']);
    expect(await stopLive(s)).toBe(0);
  });

  it('listen --tls on a unix socket, and relay --tls to --target-tls', async (ctx) => {
    needs(ctx, 'openssl');
    const { cert, key } = makeCert();
    const path = sockPath();
    const l = await cliServer(['listen', `unix://${path}`, '--tls', '--cert', cert, '--key', key]);
    const c = await cli(['send', `unix://${path}`, 'over unix tls', '--tls', '--ca', cert, '--servername', 'localhost']);
    expect(c.code).toBe(0);
    await l.waitFor(/over unix tls$/);
    expect((await l.exited).code).toBe(0);

    const back = await cliServer(['serve', 'tcp://127.0.0.1:0', '--tls', '--cert', cert, '--key', key]);
    const relay = await cliServer(['relay', 'tcp://127.0.0.1:0', back.address, '--tls', '--cert', cert, '--key', key,
      '--target-tls', '--target-ca', cert]);
    const p = await py('tls_client.py', '127.0.0.1', String(portOf(relay.address)), cert, 'twice encrypted');
    expect(p.stdout).toBe('twice encrypted\n');
    expect(await stopLive(relay)).toBe(0);
    expect(await stopLive(back)).toBe(0);
  });

  it('a plain-text client of relay --tls: one line naming OpenSSL\'s reason, and the relay goes on', async (ctx) => {
    needs(ctx, 'openssl');
    const { cert, key } = makeCert();
    const target = await pyServer('tcp4', '127.0.0.1', 'echo');
    const r = await cliServer(['relay', 'tcp://127.0.0.1:0', `tcp://127.0.0.1:${target.where}`, '--tls', '--cert', cert, '--key', key]);
    await run('python3', ['-c', `import socket
s = socket.create_connection(('127.0.0.1', ${portOf(r.address)}))
s.sendall(b'GET / HTTP/1.0\\r\\n\\r\\n')
s.recv(100)`]);
    await expect.poll(() => notices(r)).toMatch(/^socktool: accept tcp \S+: TLS: http request \(ERR_SSL_HTTP_REQUEST\)\n$/);
    expect(await stopLive(r)).toBe(0);
  });

  it('clients still in their TLS handshake do not take the places of clients', async (ctx) => {
    needs(ctx, 'openssl', 'nc');
    const { cert, key } = makeCert();
    const s = await cliServer(['serve', 'tcp://127.0.0.1:0', '--tls', '--cert', cert, '--key', key, '--max-clients', '1']);
    const port = String(portOf(s.address));
    // Plain nc never starts a handshake: three of them hold connections, none a client's place. Connected (nc -v
    // says so) before the real client is, they are ahead of it in the listener's accept queue.
    const stuck = [1, 2, 3].map(() => live('nc', ['-v', '127.0.0.1', port]));
    await Promise.all(stuck.map((c) => c.waitFor(/succeeded/, undefined, 'stderr')));
    const r = await py('tls_client.py', '127.0.0.1', port, cert, 'through');
    expect(r.stdout).toBe('through\n');
    expect(stuck.every((c) => c.child.exitCode === null)).toBe(true);
    expect(await stopLive(s)).toBe(0);
  });

  it('an option that cannot apply to the address is a usage error naming why, before anything is bound', async () => {
    const path = sockPath();
    const cases: [string[], RegExp][] = [
      [['serve', 'udp://127.0.0.1:0', '--max-clients', '3'], /--max-clients does not apply: udp has no clients to count/],
      [['serve', `unixgram://${path}`, '--timeout', '500'], /--timeout does not apply: unixgram has no connections to time out/],
      [['unix-server', path, '--type', 'dgram', '--tls'], /--tls does not apply: unixgram carries datagrams/],
      [['serve', 'tcp://127.0.0.1:0', '--exec', 'cat', '--handler', 'upper'], /--handler does not apply: --exec runs a program/],
      [['serve', 'tcp://127.0.0.1:0', '--ca', 'ca.pem'], /--ca does not apply: it is for TLS, and --tls is not given/],
      [['listen', 'tcp://127.0.0.1:0', '--max-clients', '2'], /--max-clients does not apply: without -k, listen serves one client/],
      [['listen', 'udp://127.0.0.1:0', '--half-close'], /--half-close does not apply: udp has no half-close/],
      [['connect', 'tcp://127.0.0.1:9', '--wait', '100'], /--wait does not apply: tcp is a stream/],
      [['connect', 'udp://127.0.0.1:9', '--tls'], /--tls does not apply: udp carries datagrams/],
      [['send', 'tcp://127.0.0.1:9', 'x', '--insecure'], /--insecure does not apply: it is for TLS/],
      [['relay', 'udp://127.0.0.1:0', 'udp://127.0.0.1:9', '--target-tls'], /--target-tls does not apply: the target udp/],
      [['relay', 'tcp://127.0.0.1:0', 'tcp://127.0.0.1:9', '--servername', 'x'], /--servername does not apply: .*--target-tls/],
      [['chat', 'udp://127.0.0.1:0', '--tls'], /--tls does not apply: udp carries datagrams/],
    ];
    for (const [args, why] of cases) {
      const r = await cli(args);
      expect([args.join(' '), r.code]).toEqual([args.join(' '), 2]);
      expect(oneLineOf(r)).toMatch(why);
    }
    expect(existsSync(path)).toBe(false);
    // The same options where they do apply are accepted: --max-clients bounds the programs of --exec on udp.
    const s = await cliServer(['serve', 'udp://127.0.0.1:0', '--exec', 'cat', '--max-clients', '2']);
    expect((await cli(['send', s.address, 'applies', '--reply'])).stdout).toBe('applies');
    expect(await stopLive(s)).toBe(0);
  });

  it('udp-echo offers no option that cannot apply to it: --tls and --max-clients are unknown there (exit 2)', async () => {
    const help = await cli(['udp-echo', '--help']);
    expect(help.stdout).not.toMatch(/--tls|--max-clients|--cert/);
    for (const args of [['--max-clients', '1'], ['--tls']]) {
      const r = await cli(['udp-echo', '--port', '0', ...args]);
      expect(r.code).toBe(2);
      expect(oneLineOf(r)).toMatch(/unknown option/);
    }
  });

  it('a server --tls without a certificate, or with an unreadable one, is refused before binding', async () => {
    const none = await cli(['serve', 'tcp://127.0.0.1:0', '--tls']);
    expect(none.code).toBe(2); // a usage error
    expect(oneLineOf(none)).toMatch(/--tls on a server needs --cert and --key/);
    const missing = await cli(['serve', 'tcp://127.0.0.1:0', '--tls', '--cert', '/nonexistent/c.pem', '--key', 'k']);
    expect(missing.code).toBe(2);
    expect(oneLineOf(missing)).toMatch(/--cert \/nonexistent\/c\.pem: ENOENT/);
  });

  it('--ca/--cert/--key are read with a bound: /dev/zero is one line and exit 2, in bounded memory', async () => {
    for (const args of [['connect', 'tcp://127.0.0.1:1', '--tls', '--ca', '/dev/zero'],
      ['serve', 'tcp://127.0.0.1:0', '--tls', '--cert', '/dev/zero', '--key', '/dev/zero']]) {
      // Under a 3 GB address-space limit: an unbounded read would die there instead.
      const r = await run('sh', ['-c', 'ulimit -v 3000000 && exec "$@"', 'sh', process.execPath, BIN, ...args]);
      expect(r.code).toBe(2);
      expect(oneLineOf(r)).toMatch(/^socktool: cannot read --(ca|cert) \/dev\/zero: larger than 1 MiB, not a PEM file$/);
    }
  });
});

describe('what comes from outside is printed escaped: one line stays one line', () => {
  it('a newline in a socket path, on the listening line and in an error; an escape sequence in an address', async () => {
    const path = sockPath('x\ny.sock');
    const s = await cliServer(['unix-server', path]);
    expect(s.address).toBe(`unix://${path.replace('\n', '\\n')}`);
    expect(s.stderr().split('\n')[0]).toBe(`listening on ${s.address}`);
    expect(await stopLive(s)).toBe(0);
    const r = await cli(['connect', `unix:///nonexistent/a\x1b[31mb\nc.sock`]);
    expect(r.code).toBe(4);
    expect(oneLineOf(r)).toBe('socktool: dial unix /nonexistent/a\\x1b[31mb\\nc.sock: no such file or directory (ENOENT)');
  });

  it('a bad address is one line too (commander\'s own errors included)', async () => {
    const bad = await cli(['connect', 'tcp://ho\nst:1']);
    expect(bad.code).toBe(2);
    expect(oneLineOf(bad)).toMatch(/^socktool: parse /);
    const unknown = await cli(['connect', '--bo\ngus', 'tcp://127.0.0.1:1']);
    expect(unknown.code).toBe(2);
    expect(oneLineOf(unknown)).toMatch(/--bo\\ngus/);
  });
});

describe('help', () => {
  it('commander\'s errors are one line with a real hint: a misspelt command, --port where an address is whole, --authkey, a bare HOST:PORT or path', async () => {
    const cases: [string[], RegExp][] = [
      [['lisen'], /^socktool: unknown command 'lisen' \(did you mean listen\?\)$/],
      [['listen', 'tcp://127.0.0.1:0', '--port', '8000'], /^socktool: unknown option '--port': this command takes its address whole, as tcp:\/\/127\.0\.0\.1:8000/],
      [['call', '--authkey', 'k', 'tcp://127.0.0.1:1'], /^socktool: unknown option '--authkey': .*--authkey-file FILE/],
      [['listen', '127.0.0.1:8000'], /did you mean tcp:\/\/127\.0\.0\.1:8000 \(or udp:\/\/127\.0\.0\.1:8000\)\?/],
      [['connect', '/tmp/app.sock'], /did you mean unix:\/\/\/tmp\/app\.sock\?/],
    ];
    for (const [args, message] of cases) {
      const r = await cli(args);
      expect([args, r.code]).toEqual([args, 2]);
      expect(oneLineOf(r)).toMatch(message);
      expect(r.stderr).not.toContain('\\n');
    }
  });

  it('socktool --help lists every command with examples and the exit codes; each command has its own examples and its codes in one line; no line over 100 columns', async () => {
    const top = await cli(['--help']);
    expect(top.code).toBe(0);
    expect(top.stdout).toMatch(/^Exit codes:\n {2}0 {2}success\n[^]* {2}5 {2}address in use or permission denied\n/m);
    const wide = (text: string) => text.split('\n').filter((line) => line.length > 100);
    expect(wide(top.stdout)).toEqual([]);
    const names = ['connect', 'unix-client', 'listen', 'serve', 'udp-echo', 'tcp-echo', 'unix-server', 'send', 'relay', 'tap',
      'chat', 'call', 'reply', 'publish', 'subscribe', 'http-get', 'bench', 'scan', 'resolve', 'caps', 'build-addon'];
    for (const name of names) {
      expect(top.stdout).toMatch(new RegExp(`^  ${name} `, 'm'));
      expect(top.stdout).toMatch(new RegExp(`^  .*socktool ${name}`, 'm'));
      const own = await cli([name, '--help']);
      expect(own.stdout).toMatch(new RegExp(`Examples:\\n  .*socktool ${name}`));
      const codes = own.stdout.split('\n').filter((line) => line.startsWith('Exit codes'));
      expect([name, codes.length]).toEqual([name, 1]);
      expect(codes[0]).toMatch(/^Exit codes: 0 ok, 1 failed, 2 usage(, \d [a-z/ ]+)*$/);
      expect(own.stdout).not.toContain('address in use or permission denied'); // the table is the top help's
      expect([name, wide(own.stdout)]).toEqual([name, []]);
    }
    const unknown = await cli(['caps', '--bogus']);
    expect(unknown.code).toBe(2);
    oneLineOf(unknown);
    // nc keeps nc's spelling and its exit codes, a usage error included.
    expect(top.stdout).toMatch(/^  nc \[options\]/m);
    const nc = await cli(['nc', '--help']);
    expect(nc.stdout).toMatch(/Examples:\n  socktool nc -N 127\.0\.0\.1 8000[^]*Exit codes \(as nc\): 0 success, 1 any failure\n/);
    const bogus = await cli(['nc', '-Q', '127.0.0.1', '1']);
    expect(bogus.code).toBe(1);
    expect(oneLineOf(bogus)).toMatch(/unknown option '-Q'/);
  });
});
