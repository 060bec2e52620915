// Bulk TCP through a relay: socktool relay against socat TCP-LISTEN … TCP:…, a plain node:net pipe
// (bench/pipe-relay.mjs) and no relay at all, in one run.
// A C sender writes N MB through the relay to a C sink, which answers the byte count once it has read all.
// Prints MB/s (medians over rounds, relays alternating) and socktool's ratios (medians of each round's own).
// usage: node bench/relay.mjs [--mb 1024] [--rounds 3]   (BASE_CLI=path/to/bin/socktool adds a row for another tree's relay)
import { execFileSync, spawn } from 'node:child_process';
import { rmSync } from 'node:fs';
import { createServer } from 'node:net';
import { join } from 'node:path';
import { announced, arg, cli, compile, cpuTicks, freePort, here, median, work } from './lib.mjs';

const mb = Number(arg('mb', '1024'));
const rounds = Number(arg('rounds', '3'));
const bulk = compile('bulk');

/** Starts a program; with `announces`, waits for its "listening on …:port" line and gives the port. */
async function start(cmd, args, announces) {
  if (announces) {
    const { child, m } = await announced(cmd, args, /listening on \S+:(\d+)/);
    return { child, port: Number(m[1]) };
  }
  return { child: spawn(cmd, args, { stdio: ['ignore', 'ignore', 'inherit'] }) };
}

async function waitListening(port) {
  for (let i = 0; i < 100; i++) {
    const ok = await new Promise((resolve) => {
      const probe = createServer().once('error', () => resolve(true)).listen(port, '127.0.0.1', () => probe.close(() => resolve(false)));
    });
    if (ok) return;
    await new Promise((r) => setTimeout(r, 20));
  }
  throw new Error(`nothing listens on ${port}`);
}

const rate = (port) => mb / Number(String(execFileSync(bulk, ['send', String(port), String(mb)])).trim());

const sink = await start(bulk, ['sink', '0'], true);
const relays = {
  socat: async () => {
    const port = await freePort();
    const r = await start('socat', [`TCP-LISTEN:${port},bind=127.0.0.1,reuseaddr,fork`, `TCP:127.0.0.1:${sink.port}`]);
    await waitListening(port);
    return { ...r, port };
  },
  'node:net': () => start(process.execPath, [join(here, 'pipe-relay.mjs'), String(sink.port)], true),
  ...(process.env.BASE_CLI && { base: () => start(process.execPath, [process.env.BASE_CLI, 'relay', 'tcp://127.0.0.1:0', `tcp://127.0.0.1:${sink.port}`], true) }),
  socktool: () => start(process.execPath, [cli, 'relay', 'tcp://127.0.0.1:0', `tcp://127.0.0.1:${sink.port}`], true),
};

const results = { direct: [], ...Object.fromEntries(Object.keys(relays).map((k) => [k, []])) };
/** The relay's CPU time (user + system) per GiB moved: on 2 cores shared by three processes, the steadier figure. */
const cpu = Object.fromEntries(Object.keys(relays).map((k) => [k, []]));
for (let r = 0; r < rounds; r++) {
  results.direct.push(rate(sink.port));
  // Each round the other way round: whatever the one before leaves behind (the sink's buffers, TIME_WAITs) falls on all.
  const order = Object.entries(relays);
  for (const [name, startRelay] of r % 2 ? order.reverse() : order) {
    const relay = await startRelay();
    const before = cpuTicks(relay.child.pid);
    results[name].push(rate(relay.port));
    cpu[name].push(((cpuTicks(relay.child.pid) - before) / 100) * (1024 / mb));
    relay.child.kill('SIGTERM');
    await new Promise((done) => relay.child.once('exit', done));
  }
}
sink.child.kill();
const m = Object.fromEntries(Object.entries(results).map(([k, v]) => [k, median(v)]));
const ratio = (a, b) => median(results[a].map((v, i) => v / results[b][i])).toFixed(2);
const cpuRatio = (a, b) => median(cpu[a].map((v, i) => cpu[b][i] / v)).toFixed(2);
console.log(`bulk TCP through a relay, ${mb} MB per transfer, ${rounds} rounds, medians: MB/s, and the relay's CPU s per GiB`);
console.log(`direct (no relay) ${m.direct.toFixed(0).padStart(7)}`);
for (const name of Object.keys(relays)) {
  // socat serves each client in a child of its own: the listening parent's CPU is not the relay's.
  const seconds = name === 'socat' ? '    -  ' : `${median(cpu[name]).toFixed(2).padStart(5)} s`;
  const vs = name === 'socat' || name === 'node:net' ? ''
    : `   ${ratio(name, 'socat')}x socat   ${ratio(name, 'node:net')}x node:net (CPU per GiB ${cpuRatio(name, 'node:net')}x as lean)`;
  console.log(`${name.padEnd(17)} ${m[name].toFixed(0).padStart(7)}  ${seconds}${vs}`);
}
rmSync(work, { recursive: true, force: true });
