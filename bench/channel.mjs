// Message channels against zeromq (npm), node-ipc and Python's multiprocessing.connection, in one run: request/reply
// round trips per second (one request in flight: REQ/REP's lockstep; and 32 in flight: DEALER/ROUTER), and one-way
// messages per second (PUSH/PULL, timed by the receiver), at 64 B and 64 KiB, over unix, unixpacket and tcp. Each side is its own
// process (bench/channel-peer.mjs, bench/channel_peer.py). The last column, node, is plain Node: net sockets and
// the same frames, hand-written, no channel layer: what Node's event loop itself reaches. zeromq has no seqpacket:
// the unixpacket row sets socktool's unixpacket against zeromq's ipc:// and the others' AF_UNIX streams. Rounds
// interleave the stacks (each round runs every stack once), so that a machine's slow moment falls on all of them:
// the rates are medians of --rounds, the ratios medians of each round's own ratio.
// usage: node bench/channel.mjs [--rounds 3] [--scale 1] [--transports unix,unixpacket,tcp] [--json] [--no-node-ipc]
import { execFileSync, spawn } from 'node:child_process';
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { arg, freePort, here, median, work } from './lib.mjs';

const rounds = Number(arg('rounds', '3'));
const scale = Number(arg('scale', '1'));
const peer = join(here, 'channel-peer.mjs');
const pyPeer = join(here, 'channel_peer.py');

/** Messages per measurement, by pattern and size: about a second each on this machine. */
const COUNTS = { rt: { 64: 20_000, 65536: 4_000 }, rt32: { 64: 100_000, 65536: 8_000 }, push: { 64: 200_000, 65536: 20_000 } };
/** node-ipc's, for the same second: it is that much slower (its parser holds a 64 KiB message until a read ends on one). */
const NODE_IPC_COUNTS = { rt: { 64: 5_000, 65536: 1_000 }, rt32: { 64: 20_000, 65536: 500 }, push: { 64: 50_000, 65536: 1_000 } };

/**
 * node-ipc is measured, not depended on: its releases have carried code that damaged users' files (10.1.1-10.1.3,
 * 2022), and its dependencies bring deprecated packages into every install. So the bench installs the release the
 * issue measured, 12.0.0 (read before pinning: node core modules and its own three small packages, no install
 * script), apart in bench/.cache, once; without the registry the column is left out.
 */
function nodeIpcEntry() {
  const dir = join(here, '.cache', 'node-ipc-12.0.0');
  const entry = join(dir, 'node_modules', 'node-ipc', 'node-ipc.js');
  if (existsSync(entry)) return entry;
  try {
    execFileSync('npm', ['install', '--prefix', dir, '--no-save', '--no-package-lock', '--no-audit', '--no-fund',
      '--ignore-scripts', 'node-ipc@12.0.0'], { stdio: ['ignore', 'ignore', 'inherit'] });
    return entry;
  } catch {
    process.stderr.write('bench: node-ipc could not be installed (npm install node-ipc@12.0.0 failed): its column is left out\n');
    return undefined;
  }
}

const MEASURES = { rt: 'rt/s 1 out', rt32: 'rt/s 32 out', push: 'one-way/s' };

const TRANSPORTS = {
  unix: { socktool: (n) => `unix://${join(work, `${n}.sock`)}`, zeromq: (n) => `ipc://${join(work, `${n}.zmq`)}`, python: (n) => `unix:${join(work, `${n}.py.sock`)}`, node: (n) => `unix:${join(work, `${n}.node.sock`)}`, 'node-ipc': (n) => `unix:${join(work, `${n}.ipc.sock`)}` },
  unixpacket: { socktool: (n) => `unixpacket://${join(work, `${n}.sock`)}`, zeromq: (n) => `ipc://${join(work, `${n}.zmq`)}`, python: (n) => `unix:${join(work, `${n}.py.sock`)}`, node: (n) => `unix:${join(work, `${n}.node.sock`)}`, 'node-ipc': (n) => `unix:${join(work, `${n}.ipc.sock`)}` },
  tcp: { socktool: () => 'tcp://127.0.0.1:0', zeromq: () => 'tcp://127.0.0.1:*', python: () => 'tcp:127.0.0.1:0', node: () => 'tcp:127.0.0.1:0', 'node-ipc': async () => `tcp:127.0.0.1:${await freePort()}` },
};

/** A peer process: its stdout lines, the first one resolved on request. */
function start(stack, args) {
  const [cmd, argv] = stack === 'python' ? ['python3', [pyPeer, ...args]] : [process.execPath, [peer, stack, ...args]];
  const child = spawn(cmd, argv, { stdio: ['ignore', 'pipe', 'inherit'], env: { ...process.env, NODE_IPC: nodeIpc } });
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
  const count = Math.max(100, Math.round((stack === 'node-ipc' ? NODE_IPC_COUNTS : COUNTS)[pattern][size] * scale));
  const [serverRole, clientRole] = pattern === 'push' ? ['sink', 'push'] : ['echo', pattern];
  const server = start(stack, [serverRole, await TRANSPORTS[transport][stack](`m${++serial}`), size, count]);
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

const nodeIpc = process.argv.includes('--no-node-ipc') ? undefined : nodeIpcEntry();
const STACKS = ['socktool', 'zeromq', ...(nodeIpc ? ['node-ipc'] : []), 'python', 'node'];
const json = process.argv.includes('--json');
const only = arg('transports', Object.keys(TRANSPORTS).join(',')).split(',');
const results = [];
if (!json) {
  console.log(['transport'.padEnd(10), 'measure'.padEnd(14), 'bytes', ...STACKS.map((s) => s.padStart(8)),
    ...STACKS.slice(1).map((s) => `vs ${s}`.padStart(9))].join('  '));
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
