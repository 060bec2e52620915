// Message channels against zeromq (npm) and Python's multiprocessing.connection, in one run: request/reply round
// trips per second (one request in flight: REQ/REP's lockstep; and 32 in flight: DEALER/ROUTER), and one-way
// messages per second (PUSH/PULL, timed by the receiver), at 64 B and 64 KiB, over unix, unixpacket and tcp. Each side is its own
// process (bench/channel-peer.mjs, bench/channel_peer.py). A fourth column, node, is plain Node: net sockets and
// the same frames, hand-written, no channel layer: what Node's event loop itself reaches. zeromq has no seqpacket:
// the unixpacket row sets socktool's unixpacket against zeromq's ipc:// and the others' AF_UNIX streams. Rounds
// interleave the stacks (each round runs every stack once), so that a machine's slow moment falls on all of them:
// the rates are medians of --rounds, the ratios medians of each round's own ratio.
// usage: node bench/channel.mjs [--rounds 3] [--scale 1] [--transports unix,unixpacket,tcp] [--json]
import { spawn } from 'node:child_process';
import { join } from 'node:path';
import { arg, here, median, work } from './lib.mjs';

const rounds = Number(arg('rounds', '3'));
const scale = Number(arg('scale', '1'));
const peer = join(here, 'channel-peer.mjs');
const pyPeer = join(here, 'channel_peer.py');

/** Messages per measurement, by pattern and size: about a second each on this machine. */
const COUNTS = { rt: { 64: 20_000, 65536: 4_000 }, rt32: { 64: 100_000, 65536: 8_000 }, push: { 64: 200_000, 65536: 20_000 } };
const MEASURES = { rt: 'rt/s 1 out', rt32: 'rt/s 32 out', push: 'one-way/s' };

const TRANSPORTS = {
  unix: { socktool: (n) => `unix://${join(work, `${n}.sock`)}`, zeromq: (n) => `ipc://${join(work, `${n}.zmq`)}`, python: (n) => `unix:${join(work, `${n}.py.sock`)}`, node: (n) => `unix:${join(work, `${n}.node.sock`)}` },
  unixpacket: { socktool: (n) => `unixpacket://${join(work, `${n}.sock`)}`, zeromq: (n) => `ipc://${join(work, `${n}.zmq`)}`, python: (n) => `unix:${join(work, `${n}.py.sock`)}`, node: (n) => `unix:${join(work, `${n}.node.sock`)}` },
  tcp: { socktool: () => 'tcp://127.0.0.1:0', zeromq: () => 'tcp://127.0.0.1:*', python: () => 'tcp:127.0.0.1:0', node: () => 'tcp:127.0.0.1:0' },
};

/** A peer process: its stdout lines, the first one resolved on request. */
function start(stack, args) {
  const [cmd, argv] = stack === 'python' ? ['python3', [pyPeer, ...args]] : [process.execPath, [peer, stack, ...args]];
  const child = spawn(cmd, argv, { stdio: ['ignore', 'pipe', 'inherit'] });
  const lines = [];
  const waiters = [];
  let buf = '';
  child.stdout.on('data', (c) => {
    buf += c;
    for (let nl = buf.indexOf('\n'); nl >= 0; nl = buf.indexOf('\n')) {
      lines.push(buf.slice(0, nl));
      buf = buf.slice(nl + 1);
      waiters.shift()?.();
    }
  });
  const exited = new Promise((resolve, reject) => child.once('exit', (code) => (code === 0 || code === null ? resolve() : reject(new Error(`${cmd} ${argv.join(' ')} exited ${code}`)))));
  const line = async () => {
    while (lines.length === 0) await Promise.race([new Promise((r) => waiters.push(r)), exited.then(() => { throw new Error(`${cmd} ${argv.join(' ')} ended without a line`); })]);
    return lines.shift();
  };
  return { child, line, exited };
}

let serial = 0;
/** One measurement: the server side, then the client; the rate whichever side prints it. */
async function once(stack, transport, pattern, size) {
  const count = Math.max(100, Math.round(COUNTS[pattern][size] * scale));
  const [serverRole, clientRole] = pattern === 'push' ? ['sink', 'push'] : ['echo', pattern];
  const server = start(stack, [serverRole, TRANSPORTS[transport][stack](`m${++serial}`), size, count]);
  const [, address] = /^listening (\S+)$/.exec(await server.line());
  const client = start(stack, [clientRole, address, size, count]);
  let rate;
  if (pattern !== 'push') {
    rate = Number(await client.line());
    await client.exited;
    server.child.kill();
  } else {
    rate = Number(await server.line());
    client.child.kill(); // the sink has them all; a zeromq pusher waits to be ended (see bench/channel-peer.mjs)
    await server.exited;
  }
  return rate;
}

const STACKS = ['socktool', 'zeromq', 'python', 'node'];
const json = process.argv.includes('--json');
const only = arg('transports', Object.keys(TRANSPORTS).join(',')).split(',');
const results = [];
if (!json) {
  console.log(['transport'.padEnd(10), 'measure'.padEnd(14), 'bytes', ...STACKS.map((s) => s.padStart(8)),
    'vs zeromq', 'vs python', 'vs node'].join('  '));
}
for (const transport of only) {
  for (const pattern of ['rt', 'rt32', 'push']) {
    for (const size of [64, 65536]) {
      const runs = Object.fromEntries(STACKS.map((s) => [s, []]));
      for (let r = 0; r < rounds; r++) for (const stack of STACKS) runs[stack].push(await once(stack, transport, pattern, size));
      const rates = Object.fromEntries(STACKS.map((s) => [s, median(runs[s])]));
      const ratios = Object.fromEntries(STACKS.slice(1).map((s) => [s, median(runs.socktool.map((v, r) => v / runs[s][r]))]));
      results.push({ transport, pattern, size, ...rates, ratios });
      if (!json) {
        console.log([transport.padEnd(10), MEASURES[pattern].padEnd(14), String(size).padStart(5),
          ...STACKS.map((s) => String(rates[s]).padStart(8)), ...STACKS.slice(1).map((s) => `${ratios[s].toFixed(2)}×`.padStart(9))].join('  '));
      }
    }
  }
}
if (json) console.log(JSON.stringify(results));
