// What a replier holds per idle connection: N requesters (another process) each make one request and stay
// connected; the replier's memory is read before and after, each after full collections.
// usage: node --expose-gc bench/channel-idle.mjs [N=2000] [unix|tcp]
// Prints KiB per connection: rss, V8's committed heap (heapTotal), and its live objects (heapUsed). RSS follows
// heapTotal (V8 keeps the room it grew into) more than the live objects.
import { spawn } from 'node:child_process';
import { join } from 'node:path';
import { formatAddress } from '../dist/index.js';
import { replier } from '../dist/channel/index.js';
import { work } from './lib.mjs';

if (typeof global.gc !== 'function') throw new Error('run with node --expose-gc');
const n = Number(process.argv[2] ?? 2000);
const network = process.argv[3] ?? 'unix';
const address = network === 'unix' ? `unix://${join(work, `idle-${process.pid}.sock`)}` : 'tcp://127.0.0.1:0';
const server = await replier(address, (m) => m, { codec: 'bytes', heartbeat: 0, maxPeers: n + 10 });
const settled = async () => {
  for (let i = 0; i < 3; i++) {
    global.gc();
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
  return process.memoryUsage();
};
const before = await settled();
const channel = new URL('../dist/channel/index.js', import.meta.url).href;
const clients = spawn(process.execPath, ['--input-type=module', '-e', `
  const { requester } = await import(${JSON.stringify(channel)});
  const all = [];
  for (let i = 0; i < ${n}; i++) {
    const r = await requester(${JSON.stringify(formatAddress(server.addr))}, { codec: 'bytes', heartbeat: 0 });
    await r.request(Buffer.from('x'));
    all.push(r);
  }
  console.log('ready');
  setInterval(() => {}, 1e6);`], { stdio: ['ignore', 'pipe', 'inherit'] });
await new Promise((resolve) => clients.stdout.once('data', resolve));
const after = await settled();
const kib = (k) => ((after[k] - before[k]) / n / 1024).toFixed(1);
console.log(`${network}, ${n} idle requesters: ${kib('rss')} KiB rss, ${kib('heapTotal')} KiB heapTotal, ${kib('heapUsed')} KiB heapUsed per connection`);
clients.kill();
await server.close();
process.exit(0);
