// Run under `ulimit -v` (2 GB of address space): 1,000 datagram sockets opened and closed on udp and unixgram
// (the addon's memory goes back at close, not at collection), then a receive area larger than the limit allows,
// which must fail as a NetError (ENOMEM), not a crash. Prints one JSON object.
import { bind, listen, dial, NetError } from '../../dist/index.js';

const result = {};
for (const addr of ['udp://127.0.0.1:0', 'unixgram:']) {
  for (let i = 0; i < 1000; i++) await (await bind(addr)).close();
  result[addr] = 'done';
}
for (let i = 0; i < 300; i++) {
  const l = await listen('unixpacket:@socktool-lowmem-' + process.pid);
  const c = await dial(l.addr);
  await c.close();
  await l.close();
}
result.unixpacket = 'done';
try {
  await bind('unixgram:', { maxDatagram: 64 << 20 }); // 64 datagrams of 64 MiB: 4 GiB
  result.huge = 'no error';
} catch (err) {
  result.huge = err instanceof NetError ? { code: err.code, op: err.op } : String(err);
}
// The failure changed nothing: sockets still open.
await (await bind('unixgram:')).close();
result.after = 'done';
console.log(JSON.stringify(result));
