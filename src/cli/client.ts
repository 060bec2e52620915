import { bindTo, Codes, dial, isStreamNetwork, NetError, type Address, type Conn, type DatagramSocket } from '../index.js';
import { datagramReasons, Idle, lines, refuseGiven, sourceArg, tlsOptions, type CommonOptions } from './common.js';
import { addrText, type Output } from './output.js';

/** --bind: the address to connect or send from. */
export interface SourceOptions extends CommonOptions {
  bind?: string;
}

export interface ClientOptions extends SourceOptions {
  halfClose?: boolean;
  /** Datagram networks: how long to keep printing replies after stdin's EOF. */
  wait: number;
}

const isStream = (a: Address) => isStreamNetwork(a.network);

/** Errors that only mean the peer went away while we were still writing: the read side reports the end. */
const GONE = new Set(['EPIPE', 'ECONNRESET', Codes.CLOSED]);

/** A connect with the --timeout and --tls flags applied. */
export async function dialFor(addr: Address, o: SourceOptions, out: Output): Promise<Conn> {
  const conn = await dial(addr, { signal: o.timeout ? AbortSignal.timeout(o.timeout) : undefined, tls: tlsOptions(o),
    ...(o.bind !== undefined && { local: sourceArg(o.bind, addr) }) });
  out.event('connected', { peer: addrText(conn.remoteAddr), local: addrText(conn.localAddr) },
    `connected to ${addrText(conn.remoteAddr)}`);
  return conn;
}

export async function datagramClient(addr: Address, o: SourceOptions, out: Output): Promise<DatagramSocket> {
  const sock = await bindTo(addr, o.bind !== undefined ? { local: sourceArg(o.bind, addr) } : {});
  out.event('connected', { peer: addrText(sock.remoteAddr), local: addrText(sock.localAddr) },
    `sending to ${addrText(sock.remoteAddr)} from ${addrText(sock.localAddr)}`);
  return sock;
}

/** Prints what `conn` sends until its EOF; stdin goes to it meanwhile. */
async function streamSession(conn: Conn, o: ClientOptions, out: Output): Promise<void> {
  const idle = new Idle(o.timeout);
  const peer = conn.remoteAddr;
  const up = (async () => {
    for await (const chunk of process.stdin as AsyncIterable<Buffer>) {
      idle.touch();
      out.dump('>', peer, chunk);
      await conn.write(chunk);
    }
    if (o.halfClose) await conn.end();
  })();
  let upFailure: unknown;
  up.catch((err: unknown) => (upFailure = err));
  try {
    for (let chunk = await conn.read({ signal: idle.signal }); chunk !== null; chunk = await conn.read({ signal: idle.signal })) {
      idle.touch();
      await out.received('data', peer, chunk);
    }
  } finally {
    idle.stop();
    conn.stream.destroy();
  }
  out.event('closed', { peer: addrText(peer) }, `${addrText(peer)} closed the connection`);
  if (upFailure instanceof NetError && !GONE.has(upFailure.code)) throw upFailure;
}

/** Sends each stdin line as a datagram and prints every reply, until stdin's EOF and then `wait` ms of quiet. */
async function datagramSession(sock: DatagramSocket, o: ClientOptions, out: Output): Promise<void> {
  const idle = new Idle(o.timeout);
  let quiet: Idle | undefined;
  const replies = (async () => {
    for (;;) {
      const d = await sock.recvFrom({ signal: idle.signal });
      idle.touch();
      quiet?.touch();
      await out.received('datagram', d.from, d.data);
    }
  })();
  const sent = (async () => {
    for await (const line of lines(process.stdin as AsyncIterable<Buffer>)) {
      idle.touch();
      out.dump('>', sock.remoteAddr, line);
      await sock.send(line);
    }
    quiet = new Idle(o.wait);
    await new Promise((resolve) => quiet!.signal!.addEventListener('abort', resolve));
  })();
  // Whichever settles second (the replies loop ends in an error once the socket is closed) is of no interest.
  replies.catch(() => {});
  sent.catch(() => {});
  try {
    await Promise.race([replies, sent]);
  } finally {
    idle.stop();
    await sock.close();
  }
}

/** `connect`: netcat's client, on any network. */
export async function connectCommand(addr: Address, o: ClientOptions, out: Output): Promise<void> {
  refuseGiven(o, { ...datagramReasons(addr), wait: isStream(addr) && `${addr.network} is a stream: it ends with the peer's EOF` });
  if (isStream(addr)) await streamSession(await dialFor(addr, o, out), o, out);
  else await datagramSession(await datagramClient(addr, o, out), o, out);
}

export interface SendOptions extends SourceOptions {
  reply?: boolean;
}

/** `send`: one message (a datagram, or a connection written and half-closed), and with --reply its answer. */
export async function sendCommand(addr: Address, words: string[], o: SendOptions, out: Output): Promise<void> {
  refuseGiven(o, datagramReasons(addr));
  const message = Buffer.from(words.join(' '));
  const signal = () => AbortSignal.timeout(o.timeout ?? 5000);
  if (isStream(addr)) {
    const conn = await dialFor(addr, o, out);
    try {
      out.dump('>', conn.remoteAddr, message);
      await conn.end(message);
      if (!o.reply) return;
      // The answer on a stream is everything until the server closes.
      const wait = signal();
      for (let chunk = await conn.read({ signal: wait }); chunk !== null; chunk = await conn.read({ signal: wait })) {
        await out.received('data', conn.remoteAddr, chunk);
      }
    } finally {
      conn.stream.destroy();
    }
    return;
  }
  const sock = await datagramClient(addr, o, out);
  try {
    out.dump('>', sock.remoteAddr, message);
    await sock.send(message);
    if (!o.reply) return;
    const d = await sock.recvFrom({ signal: signal() });
    await out.received('datagram', d.from, d.data);
  } finally {
    await sock.close();
  }
}
