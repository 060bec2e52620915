// An HTTP GET written on a raw socket: send the request, read until the server closes, split the head from
// the body. With --tls the same over TLS (verified against --ca, or the system's CAs).
//   npx tsx examples/http_get.ts <host> <port> <path> [--tls] [--ca <pem>]
import { readFileSync } from 'node:fs';
import { create_connection } from 'socktool/bsd';

const [host = '127.0.0.1', port = '80', path = '/', ...flags] = process.argv.slice(2);
const ca = flags.includes('--ca') ? readFileSync(flags[flags.indexOf('--ca') + 1]!) : undefined;

let s = await create_connection([host, Number(port)], 10);
if (flags.includes('--tls')) s = await s.wrap_socket({ server_hostname: host, ca });
await s.sendall(`GET ${path} HTTP/1.1\r\nHost: ${host}\r\nConnection: close\r\n\r\n`);
const chunks: Buffer[] = [];
for (let data = await s.recv(4096); data.length > 0; data = await s.recv(4096)) chunks.push(data);
await s.close();

const response = Buffer.concat(chunks);
const split = response.indexOf('\r\n\r\n');
const head = response.subarray(0, split).toString('latin1').split('\r\n');
console.log('status:', head[0]);
console.log('headers:', head.length - 1);
process.stdout.write(response.subarray(split + 4));
