import { spawn, type ChildProcessWithoutNullStreams } from 'node:child_process';
import { formatAddress, oneLine, type Address, type Conn, type Exchange, type Handler } from '../index.js';
import { UsageError } from './exit.js';

/** The most a program's answer to one datagram may hold: one datagram's worth. */
const MAX_REPLY = 64 * 1024;

/** What runs per connection or datagram: argv (`--exec`, split on spaces, no shell) or a shell line (`--sh-exec`). */
export type Program = { argv: string[] } | { shell: string };

/** --exec (argv, split on spaces) and --sh-exec (a shell line). */
export interface ProgramOptions {
  exec?: string;
  shExec?: string;
}

/** The program --exec or --sh-exec names, if either is given (both, or an empty --exec, is a usage error). */
export function programOption(o: ProgramOptions): Program | undefined {
  if (o.exec !== undefined && o.shExec !== undefined) throw new UsageError('--exec and --sh-exec: give one of them');
  if (o.shExec !== undefined) return { shell: o.shExec };
  if (o.exec === undefined) return undefined;
  const argv = o.exec.split(/\s+/).filter(Boolean);
  if (argv.length === 0) throw new UsageError('--exec needs a program');
  return { argv };
}

/** Whom a program serves: the peer's and the local address, and on unix the peer's credentials. */
interface ProgramPeer {
  remote: Address | null;
  local: Address;
  credentials?: { uid: number; gid: number; pid: number };
}

/**
 * The programs a command runs (per connection, datagram or request), at most `max` at once (more wait their turn),
 * each with the peer named in its environment (escaped as printed lines are: see oneLine): SOCKTOOL_PEER, SOCKTOOL_LOCAL and, on unix sockets,
 * SOCKTOOL_PEER_UID/GID/PID. `stop()` kills those still running (the command is shutting down).
 */
export class Programs {
  private children = new Set<ChildProcessWithoutNullStreams>();
  private waiting: (() => void)[] = [];

  constructor(private program: Program, private max = 1024) {}

  /** Starts the program for `peer` once there is room; rejects (as one line) if it cannot start. */
  async start(peer: ProgramPeer): Promise<ChildProcessWithoutNullStreams> {
    while (this.children.size >= this.max) await new Promise<void>((resolve) => this.waiting.push(resolve));
    const env: NodeJS.ProcessEnv = {
      ...process.env,
      // Escaped as the printed lines are (a path may hold a newline or ESC): a program gets one line it can trust.
      SOCKTOOL_PEER: peer.remote ? oneLine(formatAddress(peer.remote)) : '',
      SOCKTOOL_LOCAL: oneLine(formatAddress(peer.local)),
    };
    delete env.NOTIFY_SOCKET; // the server tells the service manager; a program it runs must not
    const cred = peer.credentials;
    if (cred) Object.assign(env, { SOCKTOOL_PEER_UID: cred.uid, SOCKTOOL_PEER_GID: cred.gid, SOCKTOOL_PEER_PID: cred.pid });
    const program = this.program;
    const [cmd, args] = 'argv' in program ? [program.argv[0]!, program.argv.slice(1)] : ['/bin/sh', ['-c', program.shell]];
    // A process group of its own (detached), so that a kill reaches what a shell line started too, not the shell alone.
    const child = spawn(cmd, args, { env, stdio: ['pipe', 'pipe', 'inherit'], detached: true }) as unknown as ChildProcessWithoutNullStreams;
    this.children.add(child);
    child.once('close', () => {
      this.children.delete(child);
      this.waiting.shift()?.();
    });
    // A program that cannot start fails its exchange alone, as one line.
    await new Promise<void>((resolve, reject) => {
      child.once('spawn', resolve);
      child.once('error', (err) => reject(new Error(`exec ${cmd}: ${(err as NodeJS.ErrnoException).code ?? err.message}`)));
    });
    child.on('error', () => {}); // a kill that finds it gone: nothing to report
    child.stdin.on('error', () => {}); // a program that exits without reading all of its input
    return child;
  }

  stop(): void {
    for (const child of this.children) killProgram(child);
  }
}

/** Ends a program and everything it started (its process group: see Programs.start). */
export function killProgram(child: ChildProcessWithoutNullStreams): void {
  try {
    process.kill(-child.pid!, 'SIGTERM');
  } catch {
    child.kill('SIGTERM'); // the group is gone already, or the program never started
  }
}

/** Resolves with how `child` ended, once it has. */
export const exited = (child: ChildProcessWithoutNullStreams): Promise<{ code: number | null; signal: NodeJS.Signals | null }> =>
  new Promise((resolve) => {
    const ended = () => resolve({ code: child.exitCode, signal: child.signalCode });
    if (child.exitCode !== null || child.signalCode !== null) ended();
    else child.once('close', ended);
  });

/** A program's whole stdout, up to `max` bytes kept (the rest read and thrown away), and how much it printed. */
export async function outputOf(child: ChildProcessWithoutNullStreams, max: number): Promise<{ output: Buffer; size: number }> {
  const kept: Buffer[] = [];
  let size = 0;
  for await (const chunk of child.stdout as AsyncIterable<Buffer>) {
    if (size < max) kept.push(chunk.subarray(0, max - size));
    size += chunk.length;
  }
  return { output: Buffer.concat(kept), size };
}

/**
 * inetd / `ncat --sh-exec` / socat `EXEC:`: a program per stream connection, its stdin and stdout wired to the
 * peer (half-close passed both ways), or per datagram, the datagram on its stdin and its stdout the reply.
 * Datagrams have no connection limit of their own: `maxChildren` bounds the programs at once (streams: maxConns).
 */
export function execHandler(program: Program, maxChildren = 1024): { handler: Handler; stop(): void } {
  const programs = new Programs(program, maxChildren);
  const start = async (ex: Exchange) => {
    // Unix connections and unixgram datagrams have them; elsewhere this is ENOPROTOOPT, and the variables are left out.
    const credentials = await ex.peerCredentials().catch(() => undefined);
    return programs.start({ remote: ex.remoteAddr, local: ex.localAddr, credentials });
  };

  const handler: Handler = async (ex) => {
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
    const { output, size } = await outputOf(child, MAX_REPLY);
    await exited(child);
    if (size > 0) await ex.send(output);
  };
  return { handler, stop: () => programs.stop() };
}
