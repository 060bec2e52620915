// IPC on one machine over an AF_UNIX stream socket: the server answers each line with its length; the client
// sends its arguments as lines, half-closes, and prints everything until the server closes.
//   npx tsx examples/unix_stream.ts server <path>   (prints "listening <path>"; runs until killed)
//   npx tsx examples/unix_stream.ts client <path> <line>...
import { AF_UNIX, SHUT_WR, SOCK_STREAM, socket } from 'socktool/bsd';

const [role, path = '/tmp/socktool-example.sock', ...lines] = process.argv.slice(2);
const s = socket(AF_UNIX, SOCK_STREAM);

if (role === 'server') {
  await s.bind(path);
  await s.listen(5);
  console.log('listening', s.getsockname());
  let stopping = false;
  process.once('SIGTERM', () => {
    stopping = true;
    void s.close(); // removes the socket file
  });
  try {
    for (;;) {
      const [conn] = await s.accept();
      const reader = conn.makefile('rw');
      for (let line = await reader.readline(); line !== ''; line = await reader.readline()) {
        await conn.sendall(`${Buffer.byteLength(line.trimEnd())} bytes: ${line}`);
      }
      await conn.close();
    }
  } catch (err) {
    if (!stopping) throw err; // accept() fails once SIGTERM has closed the socket
  }
} else {
  await s.connect(path);
  for (const line of lines) await s.sendall(`${line}\n`);
  await s.shutdown(SHUT_WR);
  for (let data = await s.recv(1024); data.length > 0; data = await s.recv(1024)) process.stdout.write(data);
  await s.close();
}
