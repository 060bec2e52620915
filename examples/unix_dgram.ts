// IPC on one machine over AF_UNIX datagrams: each side binds a path of its own; the server answers each
// datagram, reversed, to the path it came from.
//   npx tsx examples/unix_dgram.ts server <path>                 (prints "listening <path>"; runs until killed)
//   npx tsx examples/unix_dgram.ts client <path> <own path> <message>...
import { AF_UNIX, SOCK_DGRAM, socket } from 'socktool/bsd';

const [role, path = '/tmp/socktool-dgram.sock', own = '/tmp/socktool-dgram-client.sock', ...messages] = process.argv.slice(2);
const s = socket(AF_UNIX, SOCK_DGRAM);

if (role === 'server') {
  await s.bind(path);
  console.log('listening', s.getsockname());
  let stopping = false;
  process.once('SIGTERM', () => {
    stopping = true;
    void s.close(); // removes the socket file
  });
  try {
    for (;;) {
      const [data, sender] = await s.recvfrom(4096);
      if (sender !== null) await s.sendto([...data.toString('utf8')].reverse().join(''), sender);
    }
  } catch (err) {
    if (!stopping) throw err; // recvfrom() fails once SIGTERM has closed the socket
  }
} else {
  await s.bind(own);
  s.settimeout(5);
  for (const message of messages) {
    await s.sendto(message, path);
    const [data, sender] = await s.recvfrom(4096);
    console.log(data.toString('utf8'), 'from', sender);
  }
  await s.close();
}
