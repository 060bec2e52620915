// relay, http-get, scan, resolve and caps, each spawned as the real CLI against real peers: Python socket
// programs, Python's http.server, socat and nc.
import { createHash } from 'node:crypto';
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import {
  BIN, cli, cliServer, live, makeCert, needs, needsNetns, notices, oneLineOf, PEERS, platformHas, portOf, pyServer, run, sockPath,
  startListening, stopLive, tempDir, until,
} from './helpers.js';
import { bind, bindTo, formatAddress, relay } from '../src/index.js';
import { TESTED } from '../src/core/runtime.js';

const events = (stdout: string) => stdout.split('\n').filter(Boolean).map((l) => JSON.parse(l) as Record<string, unknown>);
const py = (script: string, ...args: string[]) => run('python3', [join(PEERS, script), ...args], undefined, 60_000);

/** bulk_client.py's two lines: what it sent and what the far side counted. */
function sentAndCounted(out: string) {
  const [sent, counted] = out.trim().split('\n');
  return { sent: sent!.replace(/^sent /, ''), counted };
}

describe('socktool relay', () => {
  it('udp -> a unixgram target that never reads: each sender\'s queue holds its bound, the rest is counted as dropped', async () => {
    const target = await bind(`unixgram://${sockPath()}`, { recvQueue: 1 }); // never read
    const r = await relay('udp://127.0.0.1:0', target.localAddr, { onError: () => {} });
    const client = await bindTo(r.addr);
    try {
      const count = 5000;
      for (let i = 0; i < count; i++) {
        await client.send(`d${i}`);
        // Let the relay read (it shares this process): else the kernel's udp buffer, not the relay, drops them.
        if (i % 50 === 0) await new Promise((resolve) => setImmediate(resolve));
      }
      // Once the relay has read everything: held at most are the session's 1024, the target's kernel queue and
      // its one; the rest was dropped, and counted.
      await until(() => r.dropped >= count - 1024 - 600, 'the drops counted');
      expect(r.dropped).toBeLessThan(count);
    } finally {
      await client.close();
      await r.close();
      await target.close();
    }
  });

  it('the CLI reports drops once a second, as one line or a --json event, never a line per datagram', async () => {
    const target = await bind(`unixgram://${sockPath()}`, { recvQueue: 1 });
    const relayed = await cliServer(['relay', 'udp://127.0.0.1:0', formatAddress(target.localAddr), '--json']);
    const client = await bindTo(relayed.address);
    try {
      for (let i = 0; i < 3000; i++) {
        await client.send(`d${i}`);
        // Paced, so that the relay (another process) takes them rather than its kernel buffer dropping them.
        if (i % 50 === 49) await new Promise((resolve) => setTimeout(resolve, 5));
      }
      const m = await relayed.waitFor(/"event":"dropped","time":"[^"]+","count":(\d+),"total":(\d+)/, 10_000);
      expect(Number(m[1])).toBeGreaterThan(0);
      expect(relayed.stderr()).toBe('');
    } finally {
      await client.close();
      await stopLive(relayed);
      await target.close();
    }
  });

  it('50 MB tcp -> unix, SHA-256 checked by a Python server behind it; half-close passes through', async () => {
    const path = sockPath();
    await pyServer('unix', path, 'sha256');
    const relay = await cliServer(['relay', 'tcp://127.0.0.1:0', `unix://${path}`]);
    // The far side answers only once it has read EOF: its answer coming back is the half-close passed on.
    const r = await py('bulk_client.py', '127.0.0.1', String(portOf(relay.address)), '50');
    expect(r.stderr).toBe('');
    const { sent, counted } = sentAndCounted(r.stdout);
    expect(counted).toBe(sent);
    expect(sent).toMatch(/^[0-9a-f]{64} 52428800$/);
    expect(await stopLive(relay)).toBe(0);
  });

  it.runIf(platformHas('ipv6'))('tcp6 -> tcp4: a client on ::1 reaches an IPv4-only server', async () => {
    const far = await pyServer('tcp4', '127.0.0.1', 'sha256');
    const relay = await cliServer(['relay', 'tcp6://[::1]:0', `tcp4://127.0.0.1:${far.where}`]);
    expect(relay.address).toMatch(/^tcp6:\/\/\[::1\]:\d+$/);
    const r = await py('bulk_client.py', '::1', String(portOf(relay.address)), '2');
    const { sent, counted } = sentAndCounted(r.stdout);
    expect(counted).toBe(sent);
    expect(await stopLive(relay)).toBe(0);
  });

  it('udp -> udp: each sender has its own session; --json shows one per sender', async () => {
    const far = await pyServer('udp4', '127.0.0.1');
    const relay = await cliServer(['relay', 'udp://127.0.0.1:0', `udp://127.0.0.1:${far.where}`, '--json']);
    const port = String(portOf(relay.address));
    const clients = await Promise.all([1, 2, 3].map((i) => py('udp_client.py', '127.0.0.1', port, `from ${i}`, `again ${i}`)));
    clients.forEach((c, i) => expect([c.stdout, c.stderr]).toEqual([`from ${i + 1}\nagain ${i + 1}\n`, '']));
    await expect.poll(() => relay.stdout().split('"event":"connected"').length - 1).toBe(3);
    const peers = relay.stdout().split('\n').filter((l) => l.includes('"connected"')).map((l) => JSON.parse(l).peer);
    expect(new Set(peers).size).toBe(3);
    expect(await stopLive(relay)).toBe(0);
  });

  it('unixgram -> udp: a bound Python AF_UNIX datagram client is answered by a UDP server', async () => {
    const far = await pyServer('udp4', '127.0.0.1');
    const path = sockPath();
    const relay = await cliServer(['relay', `unixgram://${path}`, `udp://127.0.0.1:${far.where}`]);
    const me = sockPath('me.sock');
    const r = await py('unixgram_client.py', path, me, 'over', '红烧肉');
    expect(r.stdout).toBe(`over ${path}\n红烧肉 ${path}\n`);
    expect(await stopLive(relay)).toBe(0);
  });

  it('a far side that stops reading stalls the client: no unbounded buffering in the relay', async () => {
    const far = await pyServer('tcp4', '127.0.0.1', 'stall');
    const relay = await cliServer(['relay', 'tcp://127.0.0.1:0', `tcp://127.0.0.1:${far.where}`]);
    const r = await py('push_client.py', '127.0.0.1', String(portOf(relay.address)), '400');
    // What is taken fits in the kernel's socket buffers plus the relay's few chunks of read-ahead.
    const taken = Number(r.stdout);
    expect(taken).toBeGreaterThan(0);
    expect(taken).toBeLessThan(48 << 20);
    const rss = Number(/VmRSS:\s+(\d+) kB/.exec(readFileSync(`/proc/${relay.child.pid}/status`, 'utf8'))![1]);
    expect(rss).toBeLessThan(200 * 1024);
    expect(await stopLive(relay)).toBe(0);
  });

  it('unix -> tcp with socat as the client', async (ctx) => {
    needs(ctx, 'socat');
    const far = await pyServer('tcp4', '127.0.0.1', 'sha256');
    const path = sockPath();
    const relay = await cliServer(['relay', `unix://${path}`, `tcp://127.0.0.1:${far.where}`]);
    const data = Buffer.alloc(3 << 20, 'socat ');
    const r = await run('socat', ['-t', '5', '-', `UNIX-CONNECT:${path}`], data, 30_000);
    expect(r.stdout).toBe(`${createHash('sha256').update(data).digest('hex')} ${data.length}\n`);
    expect(await stopLive(relay)).toBe(0);
  });

  it('a refused target closes that client only (one line on stderr); a bad target address is exit 2', async (ctx) => {
    needs(ctx, 'nc');
    const relay = await cliServer(['relay', 'tcp://127.0.0.1:0', `unix://${sockPath()}`]);
    const r = await run('nc', ['-N', '127.0.0.1', String(portOf(relay.address))], 'anyone?\n');
    expect(r.stdout).toBe('');
    await expect.poll(() => notices(relay)).toMatch(/^socktool: dial unix \S+: no such file or directory \(ENOENT\)\n$/);
    expect(await stopLive(relay)).toBe(0);
    const bad = await cli(['relay', 'tcp://127.0.0.1:0', 'tcp://127.0.0.1']);
    expect(bad.code).toBe(2);
    expect(oneLineOf(bad)).toMatch(/ERR_SOCKTOOL_BAD_ADDRESS/);
    const tls = await cli(['relay', 'tcp://127.0.0.1:0', 'udp://127.0.0.1:9', '--target-tls']);
    expect(tls.code).toBe(2);
    expect(oneLineOf(tls)).toMatch(/--target-tls does not apply: the target udp carries datagrams, and TLS runs over streams$/);
  });
});

describe('socktool http-get', () => {
  it("Python's http.server: the body byte-exact (Content-Length); --include adds the head", async () => {
    const dir = tempDir();
    const body = Buffer.concat([Buffer.from([...Array(256).keys()]), Buffer.from('红烧肉\n')]);
    writeFileSync(join(dir, 'file.bin'), body);
    const web = await startListeningHttp(dir);
    const r = await cli(['http-get', `http://127.0.0.1:${web}/file.bin`]);
    expect(r.code).toBe(0);
    expect(r.bytes.equals(body)).toBe(true);
    const i = await cli(['http-get', `http://127.0.0.1:${web}/file.bin`, '--include']);
    expect(i.stdout).toMatch(/^HTTP\/1\.0 200 OK\r\n/);
    expect(i.stdout).toMatch(new RegExp(`\\r\\nContent-Length: ${body.length}\\r\\n`, 'i'));
    expect(i.bytes.subarray(i.bytes.length - body.length).equals(body)).toBe(true);
    // A 404: its body and exit 0 by default; with --fail, no body, exit 7 and one line.
    const missing = await cli(['http-get', `http://127.0.0.1:${web}/missing`]);
    expect(missing.code).toBe(0);
    expect(missing.stdout).toMatch(/404/);
    const failed = await cli(['http-get', `http://127.0.0.1:${web}/missing`, '--fail']);
    expect([failed.code, failed.stdout]).toEqual([7, '']);
    expect(oneLineOf(failed)).toBe('socktool: http-get: the server answered 404 File not found');
  });

  it('chunked, close-delimited, and 100 Continue + Content-Length responses from a raw-socket Python server', async () => {
    for (const mode of ['chunked', 'close', 'length']) {
      const peer = await startListening('python3', ['-u', join(PEERS, 'http_peer.py'), mode, '127.0.0.1']);
      const r = await cli(['http-get', `http://127.0.0.1:${peer.where}/a/b?c=d`]);
      expect(r.code).toBe(0);
      expect(r.bytes.equals(expectedBody(mode, '/a/b?c=d', `127.0.0.1:${peer.where}`))).toBe(true);
    }
  });

  it('over a unix socket: unix:///path.sock:/request and --unix', async () => {
    const path = sockPath();
    await startListening('python3', ['-u', join(PEERS, 'http_peer.py'), 'chunked', path]);
    const a = await cli(['http-get', `unix://${path}:/v1/info`]);
    expect(a.bytes.equals(expectedBody('chunked', '/v1/info', 'localhost'))).toBe(true);
    const b = await cli(['http-get', 'http://app.local/health', '--unix', path]);
    expect(b.bytes.equals(expectedBody('chunked', '/health', 'app.local'))).toBe(true);
  });

  it('https with a certificate the test made: --ca verifies it, --insecure skips; untrusted fails with one line', async (ctx) => {
    needs(ctx, 'openssl');
    const { cert, key } = makeCert();
    const peer = await startListening('python3', ['-u', join(PEERS, 'http_peer.py'), 'length', '127.0.0.1', cert, key]);
    const url = `https://localhost:${peer.where}/secure`;
    const a = await cli(['http-get', url, '--ca', cert]);
    expect(a.stderr).toBe('');
    expect(a.bytes.equals(expectedBody('length', '/secure', `localhost:${peer.where}`))).toBe(true);
    const b = await cli(['http-get', url, '--insecure']);
    expect(b.code).toBe(0);
    const c = await cli(['http-get', url]);
    expect(c.code).toBe(1);
    expect(oneLineOf(c)).toMatch(/DEPTH_ZERO_SELF_SIGNED_CERT/);
  });

  it('a bad URL is a usage error (exit 2, one line)', async () => {
    const r = await cli(['http-get', 'ftp://127.0.0.1/']);
    expect(r.code).toBe(2);
    expect(oneLineOf(r)).toMatch(/bad URL "ftp:\/\/127\.0\.0\.1\/"/);
  });
});

/** What http_peer.py sends for a request. */
const expectedBody = (mode: string, path: string, host: string) => Buffer.concat([
  Buffer.from(`${mode} body for ${path} Host: ${host}\n`),
  Buffer.concat(Array.from({ length: 12 }, () => Buffer.from([...Array(256).keys()]))),
  Buffer.from('红烧肉\n'),
]);

/** Starts `python3 -m http.server` on a free port, serving `dir`; resolves with the port. */
async function startListeningHttp(dir: string): Promise<string> {
  const web = live('python3', ['-u', '-m', 'http.server', '0', '--bind', '127.0.0.1', '--directory', dir]);
  const m = await web.waitFor(/port (\d+)/);
  return m[1]!;
}

describe('socktool scan', () => {
  it('prints the open ports in order; --all adds closed ones; --json has an event per port', async () => {
    const [a, b] = [await pyServer('tcp4', '127.0.0.1', 'silent'), await pyServer('tcp4', '127.0.0.1', 'silent')];
    const closed = await freeTcpPort();
    const ports = [a.where, b.where, String(closed)];
    const r = await cli(['scan', '127.0.0.1', ports.join(',')]);
    const open = [a.where, b.where].map(Number).sort((x, y) => x - y);
    expect([r.code, r.stdout]).toEqual([0, open.map((p) => `${p}/tcp open\n`).join('')]);
    const all = await cli(['scan', '127.0.0.1', ports.join(','), '--all', '--timeout', '500']);
    expect(all.stdout).toContain(`${closed}/tcp closed\n`);
    const json = await cli(['scan', 'localhost', `${closed}-${closed}`, '--all', '--json']);
    expect(json.code).toBe(1); // nothing open, as nc -z
    expect(events(json.stdout)).toEqual([expect.objectContaining({ event: 'port', port: closed, state: 'closed' }),
      expect.objectContaining({ event: 'error', code: 'failure', message: `no open port on ${json.stdout.match(/"host":"([^"]+)"/)![1]} among 1` })]);
  });

  it('in an empty network namespace, 1-65535 finds nothing open (TCP self-connects are retried) and exits 1', async (ctx) => {
    needsNetns(ctx);
    const r = await run('unshare', ['-n', 'sh', '-c', 'ip link set lo up && exec "$0" "$1" scan 127.0.0.1 1-65535',
      process.execPath, BIN], undefined, 120_000);
    expect(r.stdout).toBe('');
    expect(r.code).toBe(1);
    expect(oneLineOf(r)).toBe('socktool: no open port on 127.0.0.1 among 65535');
  }, 150_000); // 65,535 connects take 16 s on a quiet machine: the test's time covers its run()'s

  it('refuses more than 65535 ports, and a bad range, with exit 2 and one line', async () => {
    const many = await cli(['scan', '127.0.0.1', '1-65535,80']);
    expect(many.code).toBe(2);
    expect(oneLineOf(many)).toMatch(/too many ports/);
    const bad = await cli(['scan', '127.0.0.1', '90-80']);
    expect(bad.code).toBe(2);
    expect(oneLineOf(bad)).toMatch(/bad port range "90-80"/);
  });
});

/** A port nobody listens on: bound by Python and released. */
async function freeTcpPort(): Promise<number> {
  const r = await run('python3', ['-c', 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])']);
  return Number(r.stdout.trim());
}

describe('an unknown host', () => {
  it('is worded the same by connect and resolve: no such host (ENOTFOUND), exit 4', async () => {
    const [connect, resolve] = await Promise.all([cli(['connect', 'tcp://nohost.invalid:1']), cli(['resolve', 'nohost.invalid'])]);
    expect([connect.code, resolve.code]).toEqual([4, 4]);
    expect(oneLineOf(connect)).toBe('socktool: dial tcp nohost.invalid:1: no such host (ENOTFOUND)');
    expect(oneLineOf(resolve)).toBe('socktool: lookup "nohost.invalid": no such host (ENOTFOUND)');
  });
});

describe('socktool resolve', () => {
  it('prints every address getaddrinfo gives, one a line; --family 4 keeps IPv4; --json', async () => {
    const r = await cli(['resolve', 'localhost', '--family', '4']);
    expect([r.code, r.stdout]).toEqual([0, '127.0.0.1\n']);
    const py4 = await run('python3', ['-c', 'import socket; print("\\n".join(dict.fromkeys(a[4][0] for a in socket.getaddrinfo("localhost", None))))']);
    const all = await cli(['resolve', 'localhost']);
    expect(all.stdout.split('\n').filter(Boolean).sort()).toEqual(py4.stdout.split('\n').filter(Boolean).sort());
    const json = await cli(['resolve', '127.0.0.1', '--json']);
    expect(JSON.parse(json.stdout)).toMatchObject({ event: 'address', address: '127.0.0.1', family: 4 });
  });

  it('an unknown --family is a usage error (exit 2, one line)', async () => {
    const r = await cli(['resolve', 'localhost', '--family', '5']);
    expect(r.code).toBe(2);
    oneLineOf(r);
  });
});

describe('socktool caps', () => {
  it('probes every network and feature; all are here (CI requires IPv6 too)', async () => {
    const r = await cli(['caps', '--json']);
    expect(r.code).toBe(0);
    const caps = JSON.parse(r.stdout);
    const v6 = platformHas('ipv6');
    expect(caps.networks).toEqual({ tcp4: true, tcp6: v6, udp4: true, udp6: v6, unix: true, unixgram: true, unixpacket: true });
    expect(caps.features).toEqual({ ipv6: v6, 'abstract-names': true, seqpacket: true, 'peer-credentials': true,
      'credential-passing': true, 'socket-activation': true, 'fd-passing': true });
    // The runtime, and what the package test runs on (this machine's Node is one of them).
    expect(caps.runtime).toEqual({ name: 'Node', version: process.versions.node, support: 'tested', tested: TESTED });
    const human = await cli(['caps']);
    expect(human.stdout).toMatch(new RegExp(`^runtime +Node ${process.versions.node.replaceAll('.', '\\.')} +tested \\(the package is tested on Node ${TESTED.Node.join(', ')} and Deno ${TESTED.Deno.join(', ')}\\)$`, 'm'));
    expect(human.stdout).toMatch(/^network +unixpacket +yes$/m);
    expect(human.stdout).toMatch(/^feature +fd-passing +yes$/m);
    expect(human.stdout).toMatch(/^feature +credential-passing +yes$/m);
  });
});
