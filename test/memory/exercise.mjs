// Exercises every path of the addon once or more, for a run under valgrind (npm run test:native-memory):
// datagrams (udp, unixgram, batches, truncation, a full receiver, descriptors), seqpacket and abstract
// streams, options, peer credentials, errors, double close, the load loop (with TLS). Exits 0 when every step gave what it should.
import { execFileSync } from 'node:child_process';
import { closeSync, mkdtempSync, openSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import assert from 'node:assert/strict';
import { bind, dial, echo, listen, loadTest, serve } from '../../dist/index.js';

const dir = mkdtempSync(join(tmpdir(), 'stmem-'));
const t = (ms = 5000) => ({ signal: AbortSignal.timeout(ms) });

async function datagrams() {
for (const at of ['udp://127.0.0.1:0', 'udp6://[::1]:0', `unixgram://${dir}/g.sock`, 'unixgram:@stmem-g']) {
  const server = await serve(at, echo);
  const client = await bind(at.startsWith('udp6') ? 'udp6://[::1]:0' : at.startsWith('udp') ? 'udp://127.0.0.1:0' : 'unixgram:');
  // Rounds of 50 in flight: more would overflow the client's own udp receive buffer while it is sending.
  for (let round = 0; round < 10; round++) {
    const sends = [];
    for (let i = 0; i < 50; i++) sends.push(client.sendTo(`m${i}`, server.addr));
    await Promise.all(sends);
    const got = new Set();
    while (got.size < 50) got.add((await client.recvFrom(t())).data.toString());
  }
  await client.close();
  await client.close();
  await server.close();
}

}

// truncation, EMSGSIZE, unnamed peers, descriptors, a full receiver, a receive area that cannot be had
async function edges() {
const small = await bind(`unixgram://${dir}/small.sock`, { maxDatagram: 100, recvQueue: 2 });
// Small backlog bounds and a short silence, so that the backlog fills and is dropped within the run.
const c = await bind('unixgram:', { peerBytes: 8192, serverBytes: 16384, peerSilence: 300 });
await c.sendTo(Buffer.alloc(300), small.localAddr);
assert.equal((await small.recvFrom(t())).truncated, true);
await assert.rejects(c.sendTo(Buffer.alloc(16 << 20), small.localAddr), { code: 'EMSGSIZE' });
await assert.rejects(c.sendTo('x', null), { code: 'ERR_SOCKTOOL_UNNAMED_PEER' });
await assert.rejects(bind('unixgram:', { maxDatagram: 2 ** 31 - 1 }), { code: 'ENOMEM', op: 'bind' });
writeFileSync(join(dir, 'f.txt'), 'fd');
const fd = openSync(join(dir, 'f.txt'), 'r');
await c.sendTo('fd', small.localAddr, { fds: [fd] });
closeSync(fd);
const withFd = await small.recvFrom(t());
assert.equal(withFd.fds.length, 1);
closeSync(withFd.fds[0]);
// A receiver that reads nothing: its backlog, then (peerSilence later) drops, counted; a descriptor owed to it is
// closed with the datagram.
const fills = [];
for (let i = 0; i < 600; i++) fills.push(c.sendTo('fill', small.localAddr, i === 300 ? { fds: [0] } : undefined));
await Promise.all(fills);
assert.ok(c.dropped > 0);
await c.sendTo('with fd, never read', small.localAddr, { fds: [0] });
await small.close();
await c.close();

}

// seqpacket and abstract streams, options, credentials, descriptors over a stream
async function streams() {
for (const at of [`unixpacket://${dir}/p.sock`, 'unixpacket:@stmem-p', 'unix:@stmem-s', `unix://${dir}/s.sock`]) {
  const listener = await listen(at);
  const conn = await dial(listener.addr, t());
  const peer = await listener.accept(t());
  assert.equal((await conn.peerCredentials()).pid, process.pid);
  await conn.setOption('SO_SNDBUF', 1 << 16);
  assert.ok((await conn.getOption('SO_SNDBUF')) >= 1 << 16);
  const f = openSync(join(dir, 'f.txt'), 'r');
  await conn.sendFds('fd', [f]);
  closeSync(f);
  const got = await peer.recvFds(t());
  for (const x of got.fds) closeSync(x);
  const reading = (async () => {
    let n = 0;
    for await (const chunk of peer) n += chunk.length;
    return n;
  })();
  for (let i = 0; i < 200; i++) await conn.write(`p${i}`);
  await conn.end();
  assert.ok((await reading) > 0);
  await peer.close();
  await conn.close();
  await conn.close();
  await listener.close();
}
await assert.rejects(dial('unixpacket:@stmem-nobody'), { code: 'ECONNREFUSED' });
}

/** bench's load loop (its thread, its buffers, the parts-send's gather) on a datagram and a stream network. */
async function load() {
  for (const at of [`unixgram://${dir}/lg.sock`, `unix://${dir}/ls.sock`]) {
    const server = await serve(at, echo);
    const s = await loadTest(at, { mode: 'flood', window: 8, size: 300, count: 200 });
    assert.equal(s.corrupt, 0);
    assert.ok(s.messages >= 200);
    await server.close();
  }
  await assert.rejects(loadTest(`unix://${dir}/none.sock`, { count: 1 }), { code: 'ENOENT' });
  // TLS: the sessions, their memory BIOs and the context are freed with the run, and when it fails.
  execFileSync('openssl', ['req', '-x509', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-nodes',
    '-keyout', `${dir}/key.pem`, '-out', `${dir}/cert.pem`, '-days', '1', '-subj', '/CN=localhost'], { stdio: 'ignore' });
  const cert = readFileSync(`${dir}/cert.pem`);
  const server = await serve(`unix://${dir}/tls.sock`, echo, { tls: { cert, key: readFileSync(`${dir}/key.pem`) } });
  const s = await loadTest(server.addr, { mode: 'flood', window: 4, size: 3000, count: 100, connections: 2, tls: { ca: cert } });
  assert.equal(s.corrupt, 0);
  assert.equal(s.tls.protocol, 'TLSv1.3');
  await assert.rejects(loadTest(server.addr, { count: 1, tls: {} }), { code: 'DEPTH_ZERO_SELF_SIGNED_CERT' });
  await assert.rejects(loadTest(server.addr, { count: 1, tls: { ca: 'not a certificate' } }), { code: 'EINVAL' });
  await server.close();
}

// In functions, so that the closed sockets are unreachable (and collected) by the end.
await datagrams();
await edges();
await streams();
await load();
rmSync(dir, { recursive: true, force: true });
// Let the collector take the closed sockets, so that every handle's memory is freed before the leak check.
for (let i = 0; i < 4 && globalThis.gc; i++) {
  globalThis.gc();
  await new Promise((resolve) => setImmediate(resolve));
}
console.log('exercise: ok');
