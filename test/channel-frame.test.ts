// Stream framing: Python multiprocessing.connection's, checked as a property over random messages and cuts.
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { frameHeader, FrameReader } from '../src/channel/frame.js';

const frame = (m: Buffer) => Buffer.concat([frameHeader(m.length), m]);

describe('framing', () => {
  it('a header is a 4-byte big-endian length, or 0xFFFFFFFF and 8 bytes from 2^31 - 1 on (as Python writes it)', () => {
    expect(frameHeader(0).toString('hex')).toBe('00000000');
    expect(frameHeader(5).toString('hex')).toBe('00000005');
    expect(frameHeader(0x7ffffffe).toString('hex')).toBe('7ffffffe');
    expect(frameHeader(0x7fffffff).toString('hex')).toBe('ffffffff000000007fffffff');
    expect(frameHeader(2 ** 32 + 1).toString('hex')).toBe('ffffffff0000000100000001');
  });

  it('any messages, cut anywhere, read back whole and in order', () => {
    fc.assert(fc.property(
      fc.array(fc.uint8Array({ maxLength: 3000 }), { maxLength: 20 }),
      fc.array(fc.nat(), { maxLength: 30 }),
      (messages, cuts) => {
        const stream = Buffer.concat(messages.map((m) => frame(Buffer.from(m))));
        const points = [...new Set(cuts.map((c) => (stream.length ? c % stream.length : 0)))].sort((a, b) => a - b);
        const reader = new FrameReader('tcp');
        const out: Buffer[] = [];
        let at = 0;
        for (const p of [...points, stream.length]) {
          out.push(...reader.push(stream.subarray(at, p)));
          at = p;
        }
        expect(out.map((b) => [...b])).toEqual(messages.map((m) => [...m]));
        expect(reader.partial).toBe(false);
      },
    ));
  });

  it('the long form reads back too', () => {
    const m = Buffer.from('long form, short message');
    const long = Buffer.alloc(12);
    long.writeUInt32BE(0xffffffff, 0);
    long.writeBigUInt64BE(BigInt(m.length), 4);
    const reader = new FrameReader('unix');
    expect(reader.push(Buffer.concat([long.subarray(0, 7)]))).toEqual([]);
    expect(reader.push(Buffer.concat([long.subarray(7), m]))).toEqual([m]);
  });

  it('a header over the limit is EMSGSIZE at once, before the message is read or anything allocated for it', () => {
    const reader = new FrameReader('tcp', 1000);
    expect(reader.push(frame(Buffer.alloc(1000)))).toHaveLength(1);
    const huge = Buffer.alloc(12);
    huge.writeUInt32BE(0xffffffff, 0);
    huge.writeBigUInt64BE(2n ** 40n, 4); // a terabyte: allocating it would fail long before
    expect(() => reader.push(huge)).toThrow(expect.objectContaining({ code: 'EMSGSIZE', message: expect.stringMatching(/1099511627776 bytes is over the limit of 1000/) }));
    const next = new FrameReader('tcp', 1000);
    expect(() => next.push(frameHeader(1001))).toThrow(expect.objectContaining({ code: 'EMSGSIZE' }));
  });

  it('an EOF inside a message is seen (partial)', () => {
    const reader = new FrameReader('tcp');
    reader.push(frame(Buffer.from('hello')).subarray(0, 6));
    expect(reader.partial).toBe(true);
  });
});
