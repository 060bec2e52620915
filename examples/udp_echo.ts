// UDP echo with recvfrom/sendto: the server answers each datagram to its sender; the client sends each
// argument and prints each answer with the address it came from.
//   npx tsx examples/udp_echo.ts server [port]     (prints "listening <port>"; runs until killed)
//   npx tsx examples/udp_echo.ts client <port> <message>...
import { AF_INET, SOCK_DGRAM, socket } from 'socktool/bsd';

const [role, port = '0', ...messages] = process.argv.slice(2);
const HOST = '127.0.0.1';
const s = socket(AF_INET, SOCK_DGRAM);

if (role === 'server') {
  await s.bind([HOST, Number(port)]);
  console.log('listening', s.getsockname()[1]);
  for (;;) {
    const [data, addr] = await s.recvfrom(65535);
    await s.sendto(data, addr!);
  }
} else {
  s.settimeout(5);
  for (const message of messages) {
    await s.sendto(message, [HOST, Number(port)]);
    const [data, addr] = await s.recvfrom(65535);
    console.log(data.toString('utf8'), 'from port', (addr as [string, number])[1]);
  }
  await s.close();
}
