// The one-shot TCP echo pair: the server takes one client, sends back what it receives, and exits; the client
// sends one UTF-8 message and prints the answer.
//   npx tsx examples/echo.ts server [port]        (prints "listening <port>" first)
//   npx tsx examples/echo.ts client <port> [message]
import { AF_INET, SOCK_STREAM, socket } from 'socktool/bsd';

const [role, port = '0', message = '红烧肉'] = process.argv.slice(2);
const HOST = '127.0.0.1';

if (role === 'server') {
  const s = socket(AF_INET, SOCK_STREAM);
  await s.bind([HOST, Number(port)]);
  await s.listen(1);
  console.log('listening', s.getsockname()[1]);
  const [conn, addr] = await s.accept();
  console.log('connected by', addr);
  const data = await conn.recv(1024);
  await conn.sendall(data);
  await conn.close();
  await s.close();
} else {
  const s = socket(AF_INET, SOCK_STREAM);
  await s.connect([HOST, Number(port)]);
  await s.sendall(Buffer.from(message, 'utf8'));
  const data = await s.recv(1024);
  console.log('received', data.toString('utf8'));
  await s.close();
}
