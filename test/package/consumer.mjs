// A user's program, run inside a temporary project that installed socktool's tarball: it imports the package by
// name (ESM), runs an echo round trip on tcp and on unixgram (the latter through the addon), and prints one JSON
// object of what happened.
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { addonStatus, bindTo, dial, echo, NetError, serve } from 'socktool';
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
  result.addon = addonStatus();
} finally {
  rmSync(dir, { recursive: true, force: true });
}
console.log(JSON.stringify(result));
