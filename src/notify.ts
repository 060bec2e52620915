// Above the socket API, as relay.ts: the service manager's readiness protocol (sd_notify) over a unixgram socket.
import { bindTo, NetError, oneLine, type Address } from './api.js';
import { invalid } from './core/errors.js';

/**
 * What to tell the service manager: the sd_notify assignments, with the common ones named.
 *
 * @example
 * await notify({ ready: true, status: 'serving on unix:///run/app.sock' })
 */
export interface NotifyState {
  /** `READY=1`: startup is finished (the sockets accept connections). */
  ready?: boolean;
  /** `STOPPING=1`: shutdown has begun. */
  stopping?: boolean;
  /** `RELOADING=1`: reloading configuration. */
  reloading?: boolean;
  /** `STATUS=…`: one line for `systemctl status` (control characters and line breaks escaped, as socktool prints them). */
  status?: string;
  /** `MAINPID=…`: the service's main process, when it is not the one notifying. */
  mainPid?: number;
  /** Any other assignment (`WATCHDOG: '1'`, `ERRNO: '2'` …), sent as `KEY=value` (the value escaped as `status`). */
  extra?: Record<string, string>;
}

/**
 * The datagram sd_notify sends: assignments one per line, no trailing newline (as `systemd-notify` sends). A value
 * is one line whatever it holds (a status naming a socket path with a newline in it): escaped, not refused. A key
 * that is not one (`[A-Z0-9_]+`) is EINVAL.
 */
export function notifyMessage(state: NotifyState): string {
  const lines: string[] = [];
  if (state.ready) lines.push('READY=1');
  if (state.reloading) lines.push('RELOADING=1');
  if (state.stopping) lines.push('STOPPING=1');
  if (state.status !== undefined) lines.push(`STATUS=${oneLine(state.status)}`);
  if (state.mainPid !== undefined) lines.push(`MAINPID=${state.mainPid}`);
  for (const [key, value] of Object.entries(state.extra ?? {})) {
    if (!/^[A-Z0-9_]+$/.test(key)) {
      throw invalid('send', `not a notify variable name: ${JSON.stringify(key)}`);
    }
    lines.push(`${key}=${oneLine(value)}`);
  }
  return lines.join('\n');
}

/** `$NOTIFY_SOCKET` as an address: an absolute path, or `@name` for an abstract one; undefined when unset. */
export function notifySocket(env: NodeJS.ProcessEnv = process.env): Address | undefined {
  const where = env.NOTIFY_SOCKET;
  if (!where) return undefined;
  if (where.startsWith('@')) return { network: 'unixgram', path: where.slice(1), abstract: true };
  if (where.startsWith('/')) return { network: 'unixgram', path: where, abstract: false };
  throw new NetError({ op: 'send', network: 'unixgram', code: 'EAFNOSUPPORT',
    detail: `NOTIFY_SOCKET ${JSON.stringify(where)} is neither a path nor an @abstract name` });
}

/**
 * Tells the service manager (systemd, or any supervisor that sets `$NOTIFY_SOCKET`) about this service's state,
 * as `sd_notify(3)`: one datagram to that socket. Resolves `false` without sending when `NOTIFY_SOCKET` is not
 * set (the service was not started by such a manager), `true` once sent; a failed send rejects with a NetError.
 *
 * @example
 * const server = await serve('unix:///run/app.sock', handler)
 * await notify({ ready: true })
 */
export async function notify(state: NotifyState): Promise<boolean> {
  // Without a manager to tell, nothing at all is done: not even the message is made.
  const to = notifySocket();
  if (!to) return false;
  const message = notifyMessage(state);
  const sock = await bindTo(to);
  try {
    await sock.send(message);
  } finally {
    await sock.close();
  }
  return true;
}
