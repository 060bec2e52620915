/**
 * The envelope inside a frame, for the patterns that need one (request/reply, publish/subscribe): a kind byte and
 * a 32-bit big-endian id, then the body. Plain messages (listenChannel/dialChannel) have no envelope: their frame
 * is the payload alone, as Python's `send_bytes` sends it.
 *
 *   request     01 id body          the request; ids are the requester's, unique among its requests in flight
 *   reply       02 id body          the answer to request `id`
 *   error       03 id json          request `id` failed: {"name": …, "message": …, "code"?: …}
 *   cancel      04 id               the requester gave up on request `id`
 *   publish     05 seq n:u16 topic body   one message on `topic` (n bytes of UTF-8); seq counts per subscriber from 1
 *   subscribe   06 id prefix        receive topics that start with `prefix` (UTF-8; empty: all)
 *   unsubscribe 07 id prefix
 *   ack         08 id               subscribe/unsubscribe `id` is in force: whatever is published after it is sent
 *   ping        09 ms               a heartbeat (ZMTP's PING): the sender's interval in ms; answered with a pong
 *   pong        0a 0                the answer to a ping
 *   end         0b 0                the publisher closed for good: its subscribers end, and do not reconnect
 */
import { NetError, protocolError } from '../core/errors.js';
import type { Network } from '../core/networks.js';
import type { Address } from '../core/address.js';

export const Kind = {
  REQUEST: 1, REPLY: 2, ERROR: 3, CANCEL: 4, PUBLISH: 5, SUBSCRIBE: 6, UNSUBSCRIBE: 7, ACK: 8, PING: 9, PONG: 10, END: 11,
} as const;
export type Kind = (typeof Kind)[keyof typeof Kind];

/** Each kind's name, for messages. */
export const KIND_NAMES: Record<number, string> = Object.fromEntries(Object.entries(Kind).map(([name, n]) => [n, name]));

/** The bytes before the body: the kind and id (and a publish's topic). */
export function envelopeHead(kind: Kind, id: number, topic?: Buffer): Buffer {
  if (topic === undefined) {
    const head = Buffer.allocUnsafe(5);
    head[0] = kind;
    head.writeUInt32BE(id >>> 0, 1);
    return head;
  }
  const head = Buffer.allocUnsafe(7 + topic.length);
  head[0] = kind;
  head.writeUInt32BE(id >>> 0, 1);
  head.writeUInt16BE(topic.length, 5);
  topic.copy(head, 7);
  return head;
}

/** The id after `id`: counts up from 1, wrapping past 2^32 - 1. */
export const nextId = (id: number): number => (id % 0xffffffff) + 1;

/** The largest topic, in UTF-8 bytes. */
export const MAX_TOPIC = 0xffff;

export interface Envelope {
  kind: Kind;
  id: number;
  body: Buffer;
  /** A publish's topic. */
  topic?: string;
}

/** Reads an envelope; a frame that is not one is a protocol error (EPROTO), which ends that connection. */
export function openEnvelope(frame: Buffer, network: Network, from?: Address): Envelope {
  const kind = frame[0] as Kind;
  if (frame.length < 5 || kind < Kind.REQUEST || kind > Kind.END) throw badEnvelope(network, frame, from);
  const id = frame.readUInt32BE(1);
  if (kind !== Kind.PUBLISH) return { kind, id, body: frame.subarray(5) };
  if (frame.length < 7) throw badEnvelope(network, frame, from);
  const end = 7 + frame.readUInt16BE(5);
  if (frame.length < end) throw badEnvelope(network, frame, from);
  return { kind, id, topic: frame.toString('utf8', 7, end), body: frame.subarray(end) };
}

/** Whether a frame is a heartbeat (a ping or a pong), which the endpoint answers and the pattern never sees. */
export const isHeartbeat = (frame: Buffer): boolean => frame.length === 5 && (frame[0] === Kind.PING || frame[0] === Kind.PONG);

/** How Python's multiprocessing.connection (and a channel with an authkey) opens its handshake. */
const AUTHKEY_CHALLENGE = Buffer.from('#CHALLENGE#');

/** What a frame that is no envelope says: a peer that wants an authkey, or one that speaks something else. */
function badEnvelope(network: Network, frame: Buffer, from: Address | undefined): NetError {
  if (frame.subarray(0, AUTHKEY_CHALLENGE.length).equals(AUTHKEY_CHALLENGE)) {
    return new NetError({ op: 'recv', network, addr: from, code: 'EACCES',
      detail: 'the peer asks for an authkey, and this side has none (the authkey option; --authkey-file on the command line)' });
  }
  const start = frame.subarray(0, 8).toString('hex');
  return protocolError('recv',
    `not a socktool channel envelope (${frame.length} bytes, starting ${start || 'with nothing'}): is the peer speaking the same pattern?`, network, from);
}
