/**
 * How channel messages become bytes and back. `json` (the default) carries any JSON value as UTF-8 JSON; `bytes`
 * carries Buffers (strings go as UTF-8) exactly as they are, which is what Python's `send_bytes` sends.
 */
import { invalid } from '../core/errors.js';

/** A codec of your own: `decode` may throw, and the message is then dropped and reported. */
export interface Codec<T = unknown> {
  encode(message: T): Uint8Array;
  decode(bytes: Buffer): T;
}

export type CodecName = 'json' | 'bytes';

const json: Codec<unknown> = {
  encode(message) {
    const text = JSON.stringify(message);
    if (text === undefined) {
      throw invalid('send', `a ${typeof message} is not a JSON value`);
    }
    return Buffer.from(text);
  },
  decode: (bytes) => JSON.parse(bytes.toString()),
};

const bytes: Codec<Uint8Array | string> = {
  encode: (message) => (typeof message === 'string' ? Buffer.from(message) : message),
  decode: (b) => b,
};

/** The codec a channel option names. */
export function codecOf(codec: CodecName | Codec<any> | undefined): Codec<any> {
  if (codec === undefined || codec === 'json') return json;
  if (codec === 'bytes') return bytes;
  if (typeof codec === 'object' && typeof codec.encode === 'function' && typeof codec.decode === 'function') return codec;
  throw invalid('parse', `unknown codec ${JSON.stringify(codec)}: use json, bytes or { encode, decode }`);
}
