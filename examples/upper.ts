// The upper-casing server of the tutorials: a connection loop and, inside it, a communication loop. It
// survives a client that sends nothing, a client that dies mid-conversation, and restarts on the same port at
// once (SO_REUSEADDR). The client sends each argument and prints each answer.
//   npx tsx examples/upper.ts server [port]       (prints "listening <port>"; runs until killed)
//   npx tsx examples/upper.ts client <port> <line>...
import { AF_INET, OSError, SO_REUSEADDR, SOCK_STREAM, SOL_SOCKET, socket } from 'socktool/bsd';

const [role, port = '0', ...lines] = process.argv.slice(2);
const HOST = '127.0.0.1';

if (role === 'server') {
  const s = socket(AF_INET, SOCK_STREAM);
  await s.setsockopt(SOL_SOCKET, SO_REUSEADDR, 1);
  await s.bind([HOST, Number(port)]);
  await s.listen(5);
  console.log('listening', s.getsockname()[1]);
  for (;;) {
    const [conn, addr] = await s.accept();
    console.log('connected by', addr);
    try {
      for (;;) {
        const data = await conn.recv(1024);
        if (data.length === 0) break;
        await conn.sendall(data.toString('utf8').toUpperCase());
      }
    } catch (err) {
      // A client that dies mid-conversation (a reset) ends its own loop, never the server.
      if (!(err instanceof OSError)) throw err;
      console.log('client gone:', err.code);
    } finally {
      await conn.close();
    }
  }
} else {
  const s = socket(AF_INET, SOCK_STREAM);
  await s.connect([HOST, Number(port)]);
  for (const line of lines) {
    await s.sendall(line);
    console.log((await s.recv(1024)).toString('utf8'));
  }
  await s.close();
}
