import type { Handler } from './types.js';

/**
 * Sends back everything it receives, on every transport: a stream's bytes until the peer's EOF, or a datagram
 * to its sender.
 *
 * @example
 * const server = await serve('udp://127.0.0.1:9999', echo)
 */
export const echo: Handler = async (ex) => {
  for await (const chunk of ex) await ex.send(chunk);
};

/** ASCII upper-casing of bytes, as Python's `bytes.upper()`: binary and UTF-8 pass through intact. */
function upperBytes(data: Buffer): Buffer {
  const out = Buffer.allocUnsafe(data.length);
  for (let i = 0; i < data.length; i++) {
    const b = data[i]!;
    out[i] = b >= 0x61 && b <= 0x7a ? b - 0x20 : b;
  }
  return out;
}

/**
 * Echo in upper case (ASCII letters only), as the classic tutorial's server does.
 *
 * @example
 * const server = await serve('unix:///tmp/app.sock', upper)
 */
export const upper: Handler = async (ex) => {
  for await (const chunk of ex) await ex.send(upperBytes(chunk));
};
