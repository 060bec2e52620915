// A two-way chat between a server and a client, taking turns: each side types a line (stdin) and reads the
// other's; "bye" from either ends it.
//   npx tsx examples/chat.ts server [port]    (prints "listening <port>")
//   npx tsx examples/chat.ts client <port>
import { createInterface } from 'node:readline';
import { AF_INET, SOCK_STREAM, socket, type Socket } from 'socktool/bsd';

const [role, port = '0'] = process.argv.slice(2);
const HOST = '127.0.0.1';
const typed = createInterface({ input: process.stdin })[Symbol.asyncIterator]();
const nextLine = async () => ((await typed.next()).value as string | undefined) ?? 'bye';

/** Their line, printed; false once they said bye or left. */
async function hear(conn: Socket, who: string): Promise<boolean> {
  const data = (await conn.recv(1024)).toString('utf8');
  if (data === '') return false;
  console.log(`${who}: ${data}`);
  return data !== 'bye';
}

/** Our line, sent; false once we said bye. */
async function say(conn: Socket): Promise<boolean> {
  const line = await nextLine();
  await conn.sendall(line);
  return line !== 'bye';
}

if (role === 'server') {
  const s = socket(AF_INET, SOCK_STREAM);
  await s.bind([HOST, Number(port)]);
  await s.listen(1);
  console.log('listening', s.getsockname()[1]);
  const [conn] = await s.accept();
  while ((await hear(conn, 'client')) && (await say(conn)));
  await conn.close();
  await s.close();
} else {
  const s = socket(AF_INET, SOCK_STREAM);
  await s.connect([HOST, Number(port)]);
  while ((await say(s)) && (await hear(s, 'server')));
  await s.close();
}
process.stdin.destroy();
