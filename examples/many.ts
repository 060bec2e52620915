// A server for many clients at once: where the tutorials start a thread per client, each client here is its
// own async task. The client opens N connections before it sends on any (newest first), which only a server
// that serves them all at once can answer.
//   npx tsx examples/many.ts server [port]       (prints "listening <port>"; runs until killed)
//   npx tsx examples/many.ts client <port> <n>
import { AF_INET, SOCK_STREAM, socket, type Socket } from 'socktool/bsd';

const [role, port = '0', n = '10'] = process.argv.slice(2);
const HOST = '127.0.0.1';

async function serveClient(conn: Socket): Promise<void> {
  try {
    for (let data = await conn.recv(1024); data.length > 0; data = await conn.recv(1024)) {
      await conn.sendall(`echo: ${data.toString('utf8')}`);
    }
  } finally {
    await conn.close();
  }
}

if (role === 'server') {
  const s = socket(AF_INET, SOCK_STREAM);
  await s.bind([HOST, Number(port)]);
  await s.listen(128);
  console.log('listening', s.getsockname()[1]);
  for (;;) {
    const [conn] = await s.accept();
    serveClient(conn).catch((err: Error) => console.error('client failed:', err.message));
  }
} else {
  const clients: Socket[] = [];
  for (let i = 0; i < Number(n); i++) {
    const c = socket(AF_INET, SOCK_STREAM);
    await c.connect([HOST, Number(port)]);
    clients.push(c);
  }
  const answers: string[] = [];
  for (let i = clients.length - 1; i >= 0; i--) {
    await clients[i]!.sendall(`client ${i}`);
    answers[i] = (await clients[i]!.recv(1024)).toString('utf8');
  }
  console.log(answers.join('\n'));
  for (const c of clients) await c.close();
}
