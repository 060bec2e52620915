// A user's program, run inside a temporary project that installed socktool's tarball: it imports the package by
// name (ESM), runs an echo round trip on tcp and on unixgram (the latter through the addon), a TLS load through
// the addon's load loop (which uses the OpenSSL of the Node running it), and prints one JSON object of what
// happened.
import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { addonStatus, bindTo, dial, echo, loadTest, NetError, serve } from 'socktool';
import { AF_UNIX, SOCK_DGRAM, socket } from 'socktool/bsd';

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

  try {
    const gram = await serve(`unixgram://${join(dir, 'g.sock')}`, echo);
    const client = await bindTo(gram.addr);
    await client.send('over unixgram');
    result.unixgram = (await client.recvFrom({ signal: AbortSignal.timeout(5000) })).data.toString();
    await client.close();
    await gram.close();
  } catch (err) {
    if (!(err instanceof NetError)) throw err;
    result.unixgram = { code: err.code, op: err.op, message: err.message };
  }
  try {
    const cert = join(dir, 'cert.pem');
    const key = join(dir, 'key.pem');
    execFileSync('openssl', ['req', '-x509', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-nodes',
      '-keyout', key, '-out', cert, '-days', '1', '-subj', '/CN=localhost'], { stdio: 'ignore' });
    const secure = await serve(`unix://${join(dir, 't.sock')}`, echo, { tls: { cert: readFileSync(cert), key: readFileSync(key) } });
    try {
      const s = await loadTest(secure.addr, { count: 20, tls: { ca: readFileSync(cert) } });
      result.tls = { whole: s.messages >= 20 && s.corrupt === 0, protocol: s.tls?.protocol };
    } finally {
      await secure.close();
    }
  } catch (err) {
    if (!(err instanceof NetError)) throw err;
    result.tls = { code: err.code, op: err.op };
  }
  result.addon = addonStatus();
} finally {
  rmSync(dir, { recursive: true, force: true });
}
console.log(JSON.stringify(result));
