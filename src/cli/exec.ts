import { spawn, type ChildProcessWithoutNullStreams } from 'node:child_process';
import { formatAddress, type Conn, type Exchange, type Handler } from '../index.js';

/** The most a program's answer to one datagram may hold: one datagram's worth. */
const MAX_REPLY = 64 * 1024;

/** What runs per connection or datagram: argv (`--exec`, split on spaces, no shell) or a shell line (`--sh-exec`). */
export type Program = { argv: string[] } | { shell: string };

/**
 * inetd / `ncat --sh-exec` / socat `EXEC:`: a program per stream connection, its stdin and stdout wired to the
 * peer (half-close passed both ways), or per datagram, the datagram on its stdin and its stdout the reply. Its
 * environment names the peer: SOCKTOOL_PEER, SOCKTOOL_LOCAL and, on unix sockets, SOCKTOOL_PEER_UID/GID/PID.
 * `stop()` kills the children still running (the server is shutting down).
 */
export function execHandler(program: Program, maxChildren = 1024): { handler: Handler; stop(): void } {
  const children = new Set<ChildProcessWithoutNullStreams>();
  // Datagrams have no connection limit of their own: children at once are bounded here (streams: by maxConns).
  const waiting: (() => void)[] = [];
  const slot = async () => {
    while (children.size >= maxChildren) await new Promise<void>((resolve) => waiting.push(resolve));
  };
  const start = async (ex: Exchange): Promise<ChildProcessWithoutNullStreams> => {
    const env: NodeJS.ProcessEnv = {
      ...process.env,
      SOCKTOOL_PEER: ex.remoteAddr ? formatAddress(ex.remoteAddr) : '',
      SOCKTOOL_LOCAL: formatAddress(ex.localAddr),
    };
    delete env.NOTIFY_SOCKET; // the server tells the service manager; a program per connection must not
    // Unix connections and unixgram datagrams have them; elsewhere this is ENOPROTOOPT, and the variables are left out.
    const cred = await ex.peerCredentials().catch(() => undefined);
    if (cred) Object.assign(env, { SOCKTOOL_PEER_UID: cred.uid, SOCKTOOL_PEER_GID: cred.gid, SOCKTOOL_PEER_PID: cred.pid });
    const [cmd, args] = 'argv' in program ? [program.argv[0]!, program.argv.slice(1)] : ['/bin/sh', ['-c', program.shell]];
    const child = spawn(cmd, args, { env, stdio: ['pipe', 'pipe', 'inherit'] }) as unknown as ChildProcessWithoutNullStreams;
    children.add(child);
    child.once('close', () => {
      children.delete(child);
      waiting.shift()?.();
    });
    // A program that cannot start fails this exchange alone, as one line.
    await new Promise<void>((resolve, reject) => {
      child.once('spawn', resolve);
      child.once('error', (err) => reject(new Error(`exec ${cmd}: ${(err as NodeJS.ErrnoException).code ?? err.message}`)));
    });
    child.on('error', () => {}); // a kill that finds it gone: nothing to report
    child.stdin.on('error', () => {}); // a program that exits without reading all of its input
    return child;
  };
  const exited = (child: ChildProcessWithoutNullStreams) =>
    new Promise<void>((resolve) => (child.exitCode !== null || child.signalCode !== null ? resolve() : child.once('close', () => resolve())));

  const handler: Handler = async (ex) => {
    await slot();
    const child = await start(ex);
    if (ex.kind === 'stream') {
      const conn = ex as Conn;
      // The peer's bytes to the program until the peer's EOF (or the connection's end, once the program is done).
      void (async () => {
        for await (const chunk of conn) if (!child.stdin.write(chunk)) await new Promise((r) => child.stdin.once('drain', r));
        child.stdin.end();
      })().catch(() => child.stdin.destroy());
      // The program's output to the peer, then EOF; once it has exited too, the connection is done.
      for await (const chunk of child.stdout) await conn.write(chunk as Buffer);
      await conn.end();
      await exited(child);
      return;
    }
    for await (const datagram of ex) child.stdin.write(datagram);
    child.stdin.end();
    const reply: Buffer[] = [];
    let size = 0;
    for await (const chunk of child.stdout) {
      size += (chunk as Buffer).length;
      if (size <= MAX_REPLY) reply.push(chunk as Buffer);
    }
    await exited(child);
    if (size > 0) await ex.send(Buffer.concat(reply).subarray(0, MAX_REPLY));
  };
  return { handler, stop: () => children.forEach((c) => c.kill('SIGTERM')) };
}
