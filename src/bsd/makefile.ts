import { Duplex } from 'node:stream';
import type { Socket } from './index.js';

/** A Node stream over a socket, with Python's `readline()` in text modes. */
export interface FileObject extends Duplex {
  /** The next line with its `\n`; `''` at EOF (the last line may lack its `\n`). Text modes. */
  readline(): Promise<string>;
}

const CHUNK = 64 * 1024;

/**
 * Python's `socket.makefile(mode)`: reads go through `recv`, writes through `sendall`, so the file and the
 * socket's own calls share one byte order. Ending the writable side does not close the socket (as Python's).
 */
export function makefile(sock: Socket, mode: string): FileObject {
  if (!/^(r|w|rw)b?$/.test(mode)) throw new TypeError(`invalid mode ${JSON.stringify(mode)}: use r, w, rw, rb, wb or rwb`);
  const readable = mode.includes('r');
  const writable = mode.includes('w');
  const text = !mode.includes('b');
  let pending = '';
  const file = new Duplex({
    readableObjectMode: false,
    read() {
      sock.recv(CHUNK).then((data) => this.push(data.length === 0 ? null : data), (err: Error) => this.destroy(err));
    },
    write(chunk: Buffer, _enc, done) {
      sock.sendall(chunk).then(() => done(), done);
    },
    final(done) {
      done();
    },
  }) as FileObject;
  if (!readable) file.push(null);
  if (!writable) file.end();
  if (text && readable) file.setEncoding('utf8');
  file.readline = async () => {
    for (;;) {
      const nl = pending.indexOf('\n');
      if (nl >= 0) {
        const line = pending.slice(0, nl + 1);
        pending = pending.slice(nl + 1);
        return line;
      }
      const more = await nextChunk(file);
      if (more === null) {
        const rest = pending;
        pending = '';
        return rest;
      }
      pending += more;
    }
  };
  return file;
}

/** The next chunk the stream has, or null at its end. */
function nextChunk(stream: Duplex): Promise<string | null> {
  return new Promise((resolve, reject) => {
    const chunk = stream.read() as string | Buffer | null;
    if (chunk !== null) return resolve(chunk.toString());
    if (stream.readableEnded) return resolve(null);
    const onReadable = () => {
      cleanup();
      resolve(nextChunk(stream));
    };
    const onEnd = () => {
      cleanup();
      resolve(null);
    };
    const onError = (err: Error) => {
      cleanup();
      reject(err);
    };
    const cleanup = () => stream.off('readable', onReadable).off('end', onEnd).off('error', onError);
    stream.once('readable', onReadable).once('end', onEnd).once('error', onError);
  });
}
