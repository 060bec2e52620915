// Run with the addon made unreachable (SOCKTOOL_PREBUILD pointing at an empty directory): what works without it
// and what fails, each failure as { code, op }. Prints one JSON object.
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { addonStatus, bind, bindTo, dial, echo, listen, NetError, serve } from '../../dist/index.js';
import { AF_INET, AF_UNIX, SOCK_DGRAM, SOCK_STREAM, socket } from '../../dist/bsd/index.js';

const dir = mkdtempSync(join(tmpdir(), 'stn-'));
const results = { works: {}, fails: {} };

/** One echo round trip through a server on `addr`. */
async function roundTrip(addr) {
  const server = await serve(addr, echo);
  const conn = await dial(server.addr);
  await conn.write('ping');
  await conn.end();
  const got = [];
  for await (const chunk of conn) got.push(chunk);
  await conn.close();
  await server.close();
  return Buffer.concat(got).toString();
}

async function failure(name, attempt) {
  try {
    await attempt();
    results.fails[name] = 'no error';
  } catch (err) {
    results.fails[name] = err instanceof NetError ? { code: err.code, op: err.op, message: err.message } : String(err);
  }
}

try {
  results.works.tcp = await roundTrip('tcp://127.0.0.1:0');
  results.works.unix = await roundTrip(`unix://${join(dir, 's.sock')}`);
  const bsd = socket(AF_INET, SOCK_STREAM);
  const server = await listen('tcp://127.0.0.1:0');
  await bsd.connect(['127.0.0.1', server.addr.port]);
  results.works.bsdTcp = bsd.fileno() >= 0;
  await bsd.close();
  const conn = await dial(`tcp://127.0.0.1:${server.addr.port}`);
  const unixServer = await listen(`unix://${join(dir, 'c.sock')}`);
  const unixConn = await dial(unixServer.addr);

  await failure('udp', () => bind('udp://127.0.0.1:0'));
  await failure('unixgram', () => bind(`unixgram://${join(dir, 'g.sock')}`));
  await failure('unixgramClient', () => bindTo(`unixgram://${join(dir, 'g.sock')}`));
  await failure('unixpacket', () => listen(`unixpacket://${join(dir, 'p.sock')}`));
  await failure('unixpacketDial', () => dial(`unixpacket://${join(dir, 'p.sock')}`));
  await failure('abstract', () => listen('unix:@socktool-no-addon'));
  await failure('serveUdp', () => serve('udp://127.0.0.1:0', echo));
  await failure('reusePort', () => listen('tcp://127.0.0.1:0', { reusePort: true }));
  await failure('setOption', () => conn.setOption('TCP_NODELAY', true));
  await failure('getOption', () => conn.getOption('SO_RCVBUF'));
  await failure('peerCredentials', () => unixConn.peerCredentials());
  await failure('sendFds', () => unixConn.sendFds('x', [0]));
  await failure('bsdUnixgram', () => socket(AF_UNIX, SOCK_DGRAM).bind(join(dir, 'b.sock')));

  await conn.close();
  await unixConn.close();
  await server.close();
  await unixServer.close();
  results.status = addonStatus();
} finally {
  rmSync(dir, { recursive: true, force: true });
}
console.log(JSON.stringify(results));
