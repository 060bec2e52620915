import { isIP } from 'node:net';
import * as tls from 'node:tls';
import { Codes, invalid, NetError, timedOut, wrap } from './errors.js';
import { StreamConn, WrappedListener } from './stream.js';
import type { Address } from './address.js';
import type { PcapWriter } from './pcap.js';
import { recordConn } from './record.js';
import type { Conn, Listener, TlsOptions, WaitOptions } from './types.js';

/**
 * TLS over a connected stream (any stream network): the handshake is done when this resolves. `target`: the
 * address as dialed, whose host name (not the address it resolved to) is the name to send and verify.
 */
export async function tlsClient(conn: Conn, options: TlsOptions, wait: WaitOptions = {}, target?: Address): Promise<Conn> {
  const a = conn.remoteAddr;
  const named = target ?? a;
  const host = 'host' in named ? named.host : undefined;
  const servername = options.servername ?? (host && isIP(host) === 0 ? host : undefined);
  const socket = tls.connect({
    socket: conn.stream,
    ca: options.ca,
    cert: options.cert,
    key: options.key,
    // An IP literal is checked against the certificate's IP SANs; a name also goes out as SNI.
    servername,
    host: servername ?? host,
    rejectUnauthorized: !options.insecure,
  });
  try {
    await new Promise<void>((resolve, reject) => {
      const signal = wait.signal;
      const onAbort = () => reject(signal!.reason);
      const settle = (err?: Error) => {
        signal?.removeEventListener('abort', onAbort);
        socket.off('secureConnect', settle).off('error', settle);
        if (err) reject(err);
        else resolve();
      };
      if (signal?.aborted) return onAbort();
      signal?.addEventListener('abort', onAbort, { once: true });
      socket.once('secureConnect', settle).once('error', settle);
    });
  } catch (err) {
    socket.destroy();
    conn.stream.destroy();
    throw tlsError(err, conn);
  }
  return new StreamConn(socket, conn.network, conn.localAddr, a, { control: conn });
}

/**
 * A failed handshake: a certificate problem keeps OpenSSL's verification code (`DEPTH_ZERO_SELF_SIGNED_CERT`,
 * `CERT_HAS_EXPIRED`, `ERR_TLS_CERT_ALTNAME_INVALID` …) and its text; socket errors wrap as usual.
 */
function tlsError(err: unknown, conn: Conn, op: 'dial' | 'accept' = 'dial'): NetError {
  const code = (err as { code?: unknown }).code;
  if (typeof code !== 'string' || /^E[A-Z0-9_]+$/.test(code) || err instanceof NetError) {
    return wrap(op, conn.network, conn.remoteAddr, err, conn.localAddr);
  }
  return new NetError({ op, network: conn.network, addr: conn.remoteAddr, source: conn.localAddr, code,
    detail: (err as Error).message, cause: err });
}

/** A secure context for a TLS server; a certificate and its key are required. */
export function tlsServerContext(options: TlsOptions, network: Conn['network']): tls.SecureContext {
  if (!options.cert || !options.key) {
    throw invalid('listen', 'a TLS server needs a certificate and a key', network);
  }
  try {
    return tls.createSecureContext({ cert: options.cert, key: options.key, ca: options.ca });
  } catch (err) {
    throw new NetError({ op: 'listen', network, code: 'EINVAL', cause: err,
      detail: `bad TLS certificate or key: ${(err as Error).message}` });
  }
}

/**
 * A listener whose connections speak TLS. Each handshake runs on the accepted connection itself (a failed one
 * fails that connection's reads), so one slow or bad client never holds up accept().
 */
export class TlsListener extends WrappedListener {
  /** `pcap`: each connection recorded as the application sees it, decrypted (see core/record.ts). */
  constructor(inner: Listener, private context: tls.SecureContext, private verifyClients: boolean, private pcap?: PcapWriter) {
    super(inner);
  }

  protected wrap(conn: Conn): Conn {
    const socket = new tls.TLSSocket(conn.stream, {
      isServer: true,
      secureContext: this.context,
      requestCert: this.verifyClients,
      rejectUnauthorized: this.verifyClients,
    });
    const secured = new StreamConn(socket, conn.network, conn.localAddr, conn.remoteAddr, { control: conn });
    if (this.pcap) recordConn(secured, this.pcap, false, 'TLS, decrypted');
    return secured;
  }

  /**
   * Resolves once `conn` (accepted here) has finished its handshake; rejects with the handshake's error, or with
   * ETIMEDOUT after `ms` (the connection is then destroyed). serve() waits for this before calling its handler.
   */
  handshake(conn: Conn, ms: number): Promise<void> {
    const socket = conn.stream as tls.TLSSocket;
    return new Promise<void>((resolve, reject) => {
      const timer = setTimeout(() => settle(timedOut('accept', `TLS handshake not done within ${ms} ms`, conn.network, conn.remoteAddr)), ms);
      const closed = () => settle(new NetError({ op: 'accept', network: conn.network, addr: conn.remoteAddr,
        code: 'ECONNRESET', detail: 'closed during the TLS handshake' }));
      const settle = (err?: Error) => {
        clearTimeout(timer);
        socket.off('secure', settle).off('error', settle).off('close', closed);
        if (!err) return resolve();
        socket.destroy();
        reject(err instanceof NetError ? err : tlsError(err, conn, 'accept'));
      };
      socket.once('secure', () => settle()).once('error', settle).once('close', closed);
    });
  }
}

/** A TLS option on a datagram network: refused, with the reason. */
export function noTls(op: 'bind' | 'dial' | 'listen', network: Conn['network']): NetError {
  return new NetError({ op, network, code: Codes.WRONG_SHAPE, detail: `TLS runs over stream networks, not ${network}` });
}
