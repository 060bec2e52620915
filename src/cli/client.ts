import { bindTo, Codes, dial, isStreamNetwork, NetError, type Address, type Conn, type DatagramSocket } from '../index.js';
import { datagramReasons, recordingFor, refuseGiven, sourceArg, tlsOptions, type CommonOptions } from './common.js';
import { datagramSession, StdinPump, streamSession, throwIfFailed, type Ended } from './session.js';
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
    pcap: recordingFor(o, `socktool connect ${addrText(addr)}`), ...(o.bind !== undefined && { local: sourceArg(o.bind, addr) }) });
  out.event('connected', { peer: addrText(conn.remoteAddr), local: addrText(conn.localAddr) },
    `connected to ${addrText(conn.remoteAddr)}`);
  return conn;
}

/** A datagram socket bound with --bind (or where the OS picks) and connected to `addr`. */
async function bindClient(addr: Address, o: SourceOptions, out: Output): Promise<DatagramSocket> {
  const sock = await bindTo(addr, { pcap: recordingFor(o, `socktool connect ${addrText(addr)}`),
    ...(o.bind !== undefined && { local: sourceArg(o.bind, addr) }) });
  out.event('connected', { peer: addrText(sock.remoteAddr), local: addrText(sock.localAddr) },
    `sending to ${addrText(sock.remoteAddr)} from ${addrText(sock.localAddr)}`);
  return sock;
}

/** Prints what `conn` sends until its EOF; stdin goes to it meanwhile. */
async function streamClient(conn: Conn, o: ClientOptions, out: Output): Promise<void> {
  const peer = conn.remoteAddr;
  let ended: Ended;
  try {
    ended = await streamSession(conn, new StdinPump(), { idle: o.timeout, halfClose: o.halfClose, endsWithPeer: true }, {
      send: async (chunk) => {
        out.dump('>', peer, chunk);
        // The peer going away while we write is told by the read side (its EOF, or a reset).
        await conn.write(chunk).catch((err: unknown) => {
          if (!(err instanceof NetError) || !GONE.has(err.code)) throw err;
        });
      },
      received: (chunk) => out.received('data', peer, chunk),
    });
  } finally {
    conn.stream.destroy();
  }
  throwIfFailed(ended, conn.network, peer, o.timeout);
  out.event('closed', { peer: addrText(peer) }, `${addrText(peer)} closed the connection`);
}

/** Sends each stdin line as a datagram and prints every reply, until stdin's EOF and then `wait` ms of quiet. */
async function datagramClient(sock: DatagramSocket, o: ClientOptions, out: Output): Promise<void> {
  let ended: Ended;
  try {
    ended = await datagramSession(sock, new StdinPump('lines'), { idle: o.timeout, afterEof: { ms: o.wait, quiet: true } }, {
      send: async (line) => {
        out.dump('>', sock.remoteAddr, line);
        await sock.send(line);
      },
      received: (d) => out.received('datagram', d.from, d.data),
    });
  } finally {
    await sock.close();
  }
  throwIfFailed(ended, sock.network, sock.remoteAddr, o.timeout);
}

/** `connect`: netcat's client, on any network. */
export async function connectCommand(addr: Address, o: ClientOptions, out: Output): Promise<void> {
  refuseGiven(o, { ...datagramReasons(addr), wait: isStream(addr) && `${addr.network} is a stream: it ends with the peer's EOF` });
  if (isStream(addr)) await streamClient(await dialFor(addr, o, out), o, out);
  else await datagramClient(await bindClient(addr, o, out), o, out);
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
  const sock = await bindClient(addr, o, out);
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
