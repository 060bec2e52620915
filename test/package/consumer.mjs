// A user's program, run inside a temporary project that installed socktool's tarball, by every runtime the package
// test tries (Node 20, 22, 24, 26, Deno 2, Bun): it imports the package by name (ESM), runs an echo round trip on
// tcp and on unixgram with the sender's credentials (through the addon), a channel request on unixpacket, a plain
// load and a TLS load through the addon's load loop (which uses the OpenSSL of the runtime running it), and
// prints one JSON object of what happened. What fails with a NetError is reported by its code, not thrown.
import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { addonStatus, bind, bindTo, dial, echo, loadTest, NetError, serve } from 'socktool';
import { AF_UNIX, SOCK_DGRAM, socket } from 'socktool/bsd';
import { replier, requester } from 'socktool/channel';

/** What `step` came to: its value, or the code and op of the NetError it failed with. */
async function attempt(step) {
  try {
    return await step();
  } catch (err) {
    if (!(err instanceof NetError)) throw err;
    return { code: err.code, op: err.op, message: err.message };
  }
}

const dir = mkdtempSync(join(tmpdir(), 'stp-'));
const result = { bsd: typeof socket === 'function' && AF_UNIX === 1 && SOCK_DGRAM === 2 };
try {
  const tcp = await serve('tcp://127.0.0.1:0', echo);
  const conn = await dial(tcp.addr);
  await conn.end('over tcp');
  const got = [];
  for await (const chunk of conn) got.push(chunk);
  result.tcp = Buffer.concat(got).toString();
  await tcp.close();

  result.unixgram = await attempt(async () => {
    const gram = await bind(`unixgram://${join(dir, 'g.sock')}`);
    const client = await bindTo(gram.localAddr);
    await client.send('over unixgram');
    const got = await gram.recvFrom({ signal: AbortSignal.timeout(5000) });
    await gram.sendTo(got.data, got.from);
    const back = await client.recvFrom({ signal: AbortSignal.timeout(5000) });
    await client.close();
    await gram.close();
    return { data: back.data.toString(), ownCredentials: got.credentials?.pid === process.pid && got.credentials.uid === process.getuid() };
  });
  result.channel = await attempt(async () => {
    const calc = await replier(`unixpacket://${join(dir, 'calc.sock')}`, (n) => n * 2);
    const client = await requester(calc.addr);
    try {
      return await client.request(21, { timeout: 5000 });
    } finally {
      await client.close();
      await calc.close();
    }
  });
  result.load = await attempt(async () => {
    const server = await serve(`unix://${join(dir, 'l.sock')}`, echo);
    try {
      const s = await loadTest(server.addr, { count: 20 });
      return { whole: s.messages >= 20 && s.corrupt === 0 };
    } finally {
      await server.close();
    }
  });
  const cert = join(dir, 'cert.pem');
  const key = join(dir, 'key.pem');
  execFileSync('openssl', ['req', '-x509', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-nodes',
    '-keyout', key, '-out', cert, '-days', '1', '-subj', '/CN=localhost'], { stdio: 'ignore' });
  result.tls = await attempt(async () => {
    const secure = await serve(`unix://${join(dir, 't.sock')}`, echo, { tls: { cert: readFileSync(cert), key: readFileSync(key) } });
    try {
      const s = await loadTest(secure.addr, { count: 20, tls: { ca: readFileSync(cert) } });
      return { whole: s.messages >= 20 && s.corrupt === 0, protocol: s.tls?.protocol };
    } finally {
      await secure.close();
    }
  });
  result.addon = addonStatus();
} finally {
  rmSync(dir, { recursive: true, force: true });
}
console.log(JSON.stringify(result));
