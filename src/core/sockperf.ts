// sockperf's wire format (its src/message.h), so that `bench` can load a sockperf server and a sockperf client can
// load socktool's: a packed, big-endian header of a u64 sequence number, u16 flags and the u32 length of the whole
// message, then the payload.
import type { Handler } from './types.js';

export const SOCKPERF_HEADER = 14;
/** The largest message sockperf takes (its MAX_PAYLOAD_SIZE). */
export const SOCKPERF_MAX = 65507;
const LENGTH_AT = 10;
const FLAGS_LOW_BYTE = 9;
const CLIENT = 1;
const PONG = 2;
const WARMUP = 4;

/** A client's message that asks for an answer (sockperf's server answers no other). */
function wantsAnswer(m: Buffer): boolean {
  const flags = m[FLAGS_LOW_BYTE]!;
  return (flags & (CLIENT | PONG | WARMUP)) === (CLIENT | PONG);
}

/** The answer, in place: the same message with the client bit cleared. */
function answered(m: Buffer): Buffer {
  m[FLAGS_LOW_BYTE] = m[FLAGS_LOW_BYTE]! & ~CLIENT;
  return m;
}

/**
 * Answers as sockperf's server does: a message flagged as a client's request for an answer (CLIENT and PONG, not
 * WARMUP) comes back with the client bit cleared; any other is taken and not answered. A datagram is one message
 * (one whose length field is not its size is not answered); a stream is cut by the lengths, and one outside
 * sockperf's bounds ends the connection, as sockperf's server ends it. What a stream holds is one partial message
 * at most (65,507 bytes).
 *
 * @example
 * await serve('udp://127.0.0.1:11111', sockperf)   // then: sockperf ping-pong -i 127.0.0.1 -p 11111
 */
export const sockperf: Handler = async (ex) => {
  let held: Buffer | undefined; // a stream's message not yet whole
  for await (const chunk of ex) {
    if (ex.kind === 'datagram') {
      const whole = chunk.length >= SOCKPERF_HEADER && chunk.readUInt32BE(LENGTH_AT) === chunk.length;
      if (whole && wantsAnswer(chunk)) await ex.send(answered(chunk));
      continue;
    }
    const data = held ? Buffer.concat([held, chunk]) : chunk;
    const answers: Buffer[] = [];
    let at = 0;
    while (data.length - at >= SOCKPERF_HEADER) {
      const length = data.readUInt32BE(at + LENGTH_AT);
      if (length < SOCKPERF_HEADER || length > SOCKPERF_MAX) return;
      if (data.length - at < length) break;
      const m = data.subarray(at, at + length);
      if (wantsAnswer(m)) answers.push(answered(m));
      at += length;
    }
    held = at < data.length ? data.subarray(at) : undefined;
    if (answers.length) await ex.send(answers.length === 1 ? answers[0]! : Buffer.concat(answers));
  }
};
