// setblocking(false) and settimeout() on a socket with no data, then with data.
//   npx tsx examples/nonblocking.ts
import { AF_INET, BlockingIOError, SOCK_STREAM, socket, TimeoutError } from 'socktool/bsd';

/** A timeout as Python prints it: None, 0.0, 0.2. */
const shown = (t: number | null) => (t === null ? 'None' : Number.isInteger(t) ? t.toFixed(1) : String(t));

const server = socket(AF_INET, SOCK_STREAM);
await server.bind(['127.0.0.1', 0]);
await server.listen(1);
const client = socket(AF_INET, SOCK_STREAM);
await client.connect(server.getsockname());
const [conn] = await server.accept();

conn.setblocking(false);
try {
  await conn.recv(1024);
} catch (err) {
  if (!(err instanceof BlockingIOError)) throw err;
  console.log(`setblocking(False): recv raised BlockingIOError (${err.code}), timeout is ${shown(conn.gettimeout())}`);
}

conn.settimeout(0.2);
try {
  await conn.recv(1024);
} catch (err) {
  if (!(err instanceof TimeoutError)) throw err;
  console.log(`settimeout(0.2): recv raised TimeoutError, timeout is ${shown(conn.gettimeout())}`);
}

await client.sendall('now there is data');
conn.settimeout(null);
console.log(`settimeout(None): recv returned ${JSON.stringify((await conn.recv(1024)).toString())}, timeout is ${shown(conn.gettimeout())}`);
for (const s of [conn, client, server]) await s.close();
