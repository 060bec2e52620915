// socktool bench --sockperf against sockperf's own client, both loading one sockperf server (Debian's sockperf),
// ping-pong with 64-byte messages, alternating, on udp and tcp. sockperf reports half the round trip unless
// --full-rtt, which this passes: both columns are whole round trips.
// Prints each round's messages/s, p50 and p99 (µs), and the median of the rounds' own ratios socktool ÷ sockperf.
// usage: node bench/sockperf.mjs [--seconds 3] [--rounds 3]
import { execFileSync, spawn } from 'node:child_process';
import { arg, cli, freePort, median } from './lib.mjs';

const seconds = arg('seconds', '3');
const rounds = Number(arg('rounds', '3'));

/** sockperf ping-pong's own figures: messages/s (sent ÷ its run time), p50 and p99. */
function sockperfClient(kind, port) {
  const said = String(execFileSync('sockperf', ['ping-pong', ...(kind === 'tcp' ? ['--tcp'] : []), '-i', '127.0.0.1', '-p', String(port),
    '-t', seconds, '-m', '64', '--full-rtt'], { stdio: ['ignore', 'pipe', 'pipe'] }));
  const [, runTime, sent] = /RunTime=([\d.]+) sec; SentMessages=(\d+)/.exec(said);
  const at = (p) => Number(new RegExp(`percentile ${p} = +([\\d.]+)`).exec(said)[1]);
  return { rate: Number(sent) / Number(runTime), p50: at('50.000'), p99: at('99.000') };
}

function socktoolClient(kind, port) {
  const out = String(execFileSync(process.execPath, [cli, 'bench', `${kind}://127.0.0.1:${port}`, '--sockperf', '--duration', seconds, '--json']));
  const s = JSON.parse(out.split('\n').find((l) => l.includes('"summary"')));
  return { rate: s.rate, p50: s.latency.p50, p99: s.latency.p99 };
}

/** Starts sockperf's server and waits until it answers (it warms up first). */
async function sockperfServer(kind) {
  const port = await freePort();
  const child = spawn('sockperf', ['server', ...(kind === 'tcp' ? ['--tcp'] : []), '-i', '127.0.0.1', '-p', String(port)],
    { stdio: ['ignore', 'pipe', 'inherit'] });
  await new Promise((resolve, reject) => {
    child.stdout.on('data', (c) => /to block on socket/.test(String(c)) && resolve());
    child.once('exit', (code) => reject(new Error(`sockperf server exited ${code}`)));
  });
  return { child, port };
}

const fmt = (r) => `${Math.round(r.rate).toLocaleString('en-US').padStart(8)}/s  p50 ${r.p50.toFixed(1).padStart(6)}  p99 ${r.p99.toFixed(1).padStart(6)}`;
for (const kind of ['udp', 'tcp']) {
  const server = await sockperfServer(kind);
  const ratios = { rate: [], p50: [], p99: [] };
  for (let round = 1; round <= rounds; round++) {
    // Alternate which client goes first, so that neither always meets a warmer server.
    const order = round % 2 ? ['sockperf', 'socktool'] : ['socktool', 'sockperf'];
    const r = {};
    for (const who of order) r[who] = who === 'sockperf' ? sockperfClient(kind, server.port) : socktoolClient(kind, server.port);
    for (const k of Object.keys(ratios)) ratios[k].push(r.socktool[k] / r.sockperf[k]);
    console.log(`${kind} round ${round}  sockperf ${fmt(r.sockperf)}  |  socktool ${fmt(r.socktool)}`);
  }
  console.log(`${kind}: socktool ÷ sockperf  rate ${median(ratios.rate).toFixed(2)}  p50 ${median(ratios.p50).toFixed(2)}  p99 ${median(ratios.p99).toFixed(2)}\n`);
  server.child.kill();
}
process.exit(0);
