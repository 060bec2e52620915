// Bulk TCP through a relay: socktool relay against socat TCP-LISTEN … TCP:… (and no relay at all), in one run.
// A C sender writes N MB through the relay to a C sink, which answers the byte count once it has read all.
// Prints MB/s (medians over rounds, relays alternating) and socktool/socat.
// usage: node bench/relay.mjs [--mb 1024] [--rounds 3]
import { execFileSync, spawn } from 'node:child_process';
import { rmSync } from 'node:fs';
import { createServer } from 'node:net';
import { announced, arg, cli, compile, median, work } from './lib.mjs';

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

const freePort = () => new Promise((resolve) => {
  const s = createServer().listen(0, '127.0.0.1', () => {
    const { port } = s.address();
    s.close(() => resolve(port));
  });
});

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
  socktool: () => start(process.execPath, [cli, 'relay', 'tcp://127.0.0.1:0', `tcp://127.0.0.1:${sink.port}`], true),
};

const results = { direct: [], socat: [], socktool: [] };
for (let r = 0; r < rounds; r++) {
  results.direct.push(rate(sink.port));
  for (const [name, startRelay] of Object.entries(relays)) {
    const relay = await startRelay();
    results[name].push(rate(relay.port));
    relay.child.kill('SIGTERM');
    await new Promise((done) => relay.child.once('exit', done));
  }
}
sink.child.kill();
const m = Object.fromEntries(Object.entries(results).map(([k, v]) => [k, median(v)]));
console.log(`bulk TCP through a relay, ${mb} MB per transfer, ${rounds} rounds, medians (MB/s)`);
console.log(`direct (no relay) ${m.direct.toFixed(0).padStart(7)}`);
console.log(`socat             ${m.socat.toFixed(0).padStart(7)}`);
console.log(`socktool relay    ${m.socktool.toFixed(0).padStart(7)}   ${(m.socktool / m.socat).toFixed(2)}x socat`);
rmSync(work, { recursive: true, force: true });
