// The README's table: `socktool bench` against `socktool bench --serve` on each of the nine networks, and with TLS
// on the stream ones that take it, pingpong (one 64-byte message in flight: latency) and flood (64 in flight:
// rate), printed as a Markdown table.
// usage: node bench/networks.mjs [--seconds 2] [--size 64]
import { execFileSync } from 'node:child_process';
import { join } from 'node:path';
import { NETWORKS as TABLE, networksWhere } from '../dist/index.js';
import { announced, arg, cli, work } from './lib.mjs';

const seconds = arg('seconds', '2');
const size = arg('size', '64');
// Every network of the table (on loopback, or a path), then TLS on the stream ones that take it.
const NETWORKS = networksWhere(() => true).map((n) => {
  const row = TABLE[n];
  return [n, row.family === 'unix' ? `${n}://${join(work, `${n}.sock`)}` : `${n}://${row.pinned === 6 ? '[::1]' : '127.0.0.1'}:0`];
});
NETWORKS.push(['tcp + TLS', 'tcp://127.0.0.1:0', 'tls'], ['unix + TLS', `unix://${join(work, 'tn.sock')}`, 'tls'],
  ['unixpacket + TLS', `unixpacket://${join(work, 'tp.sock')}`, 'tls']);
const cert = join(work, 'cert.pem');
const key = join(work, 'key.pem');
execFileSync('openssl', ['req', '-x509', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-nodes', '-keyout', key,
  '-out', cert, '-days', '1', '-subj', '/CN=localhost', '-addext', 'subjectAltName=DNS:localhost,IP:127.0.0.1'], { stdio: 'ignore' });

const bench = (address, ...args) => JSON.parse(String(execFileSync(process.execPath,
  [cli, 'bench', address, '--size', size, '--duration', seconds, '--json', ...args])));
const us = (n) => (n >= 100 ? Math.round(n) : n.toFixed(1));

console.log(`| network | pingpong p50 µs | pingpong p99 µs | pingpong msg/s | flood msg/s (64 in flight) | flood lost |`);
console.log('|---|---:|---:|---:|---:|---:|');
for (const [network, at, tls] of NETWORKS) {
  const serving = tls ? ['--tls', '--cert', cert, '--key', key] : [];
  const trusting = tls ? ['--tls', '--ca', cert] : [];
  const { child, m } = await announced(process.execPath, [cli, 'bench', '--serve', at, ...serving], /listening on (\S+)/);
  const ping = bench(m[1], ...trusting);
  const flood = bench(m[1], '--mode', 'flood', '--window', '64', ...trusting);
  child.kill();
  console.log(`| ${network} | ${us(ping.latency.p50)} | ${us(ping.latency.p99)} | ${Math.round(ping.rate).toLocaleString('en-US')} | ` +
    `${Math.round(flood.rate).toLocaleString('en-US')} | ${flood.lost} |`);
}
