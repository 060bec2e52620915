// A port scanner on connect_ex: 0 means something listens there.
//   npx tsx examples/port_scanner.ts <host> <first port> <last port>
import { AF_INET, SOCK_STREAM, socket } from 'socktool/bsd';

const [host = '127.0.0.1', first = '1', last = '1024'] = process.argv.slice(2);
for (let port = Number(first); port <= Number(last); port++) {
  const s = socket(AF_INET, SOCK_STREAM);
  s.settimeout(0.5);
  if ((await s.connect_ex([host, port])) === 0) console.log(`port ${port} open`);
  await s.close();
}
