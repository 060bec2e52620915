// One side of a bench/channel.mjs measurement, in its own process: socktool's channels, zeromq's sockets, or
// plain Node (net sockets and the same 4-byte length frames, hand-written: the floor of Node's event loop).
// usage: node bench/channel-peer.mjs socktool|zeromq|node|node-ipc echo|sink|rt|rt32|push ADDRESS SIZE COUNT
//   ADDRESS for node: unix:PATH or tcp:HOST:PORT, as bench/channel_peer.py takes
//   echo: replies to each request (zeromq: ROUTER);   rt: COUNT requests one at a time (REQ), prints round trips/s
//   rt32: COUNT requests, IN_FLIGHT of them out at any time (zeromq: DEALER), prints round trips/s
//   sink: takes COUNT messages (PULL), prints messages/s;   push: sends COUNT (PUSH)
// A tenth more go first, untimed (the rt side and the sink skip them).
// Servers print "listening ADDRESS" first (the address they got, port 0 resolved).
import { createConnection, createServer } from 'node:net';
import { formatAddress } from '../dist/index.js';
import { dialChannel, listenChannel, replier, requester } from '../dist/channel/index.js';

const [stack, role, address, sizeText, countText] = process.argv.slice(2);
const size = Number(sizeText);
const count = Number(countText);
/** Messages before the timing starts, on every stack alike: the JIT warms up on them. */
const warmup = Math.ceil(count / 10);
const payload = Buffer.alloc(size, 'x');
const now = () => Number(process.hrtime.bigint()) / 1e9;
const say = (line) => process.stdout.write(`${line}\n`);
/** Requests out at once in rt32. */
const IN_FLIGHT = 32;
const checkSize = (m) => {
  if (m.length !== size) throw new Error(`${m.length} bytes, not ${size}`);
};

/** A sink fed by callbacks: takes each message; once warmup + count have come, prints the rate of the last `count`. */
function sinking(done) {
  let got = 0;
  let first = 0;
  return (m) => {
    checkSize(m);
    if (++got === warmup) first = now();
    if (got === warmup + count) {
      say((count / (now() - first)).toFixed(0));
      done();
    }
  };
}

/** One request at a time, fed by callbacks: takes each reply and `ask`s the next, until `count` are timed (after warmup). */
function lockstep(ask, done) {
  let i = -warmup;
  let t0 = 0;
  return (reply) => {
    checkSize(reply);
    if (++i === 0) t0 = now();
    if (i === count) {
      say((count / (now() - t0)).toFixed(0));
      done();
    } else ask();
  };
}

/**
 * Keeps IN_FLIGHT of warmup + count requests out (`ask` sends one, resolving with its reply); resolves with the
 * rate of the last `count`.
 */
function pipelined(ask) {
  const total = warmup + count;
  let sent = 0;
  let done = 0;
  let t0 = 0;
  return new Promise((resolve, reject) => {
    const one = () => {
      if (sent === total) return;
      sent++;
      ask().then((reply) => {
        checkSize(reply);
        if (++done === warmup) t0 = now();
        if (done === total) resolve(count / (now() - t0));
        else one();
      }, reject);
    };
    for (let k = 0; k < IN_FLIGHT; k++) one();
  });
}

async function socktool() {
  switch (role) {
    case 'echo': {
      const server = await replier(address, (req) => req, { codec: 'bytes' });
      say(`listening ${formatAddress(server.addr)}`);
      return new Promise(() => {});
    }
    case 'sink': {
      const inbox = await listenChannel(address, { codec: 'bytes' });
      say(`listening ${formatAddress(inbox.addr)}`);
      let got = 0;
      let first = 0;
      for await (const m of inbox) {
        if (m.data.length !== size) throw new Error(`got ${m.data.length} bytes, not ${size}`);
        if (++got === warmup) first = now();
        if (got === warmup + count) break;
      }
      say((count / (now() - first)).toFixed(0));
      return inbox.close();
    }
    case 'rt': {
      const client = await requester(address, { codec: 'bytes' });
      let t0 = 0;
      for (let i = -warmup; i < count; i++) {
        if (i === 0) t0 = now();
        const reply = await client.request(payload);
        if (reply.length !== size) throw new Error(`a reply of ${reply.length} bytes, not ${size}`);
      }
      say((count / (now() - t0)).toFixed(0));
      return client.close();
    }
    case 'rt32': {
      const client = await requester(address, { codec: 'bytes' });
      say((await pipelined(() => client.request(payload))).toFixed(0));
      return client.close();
    }
    case 'push': {
      const out = await dialChannel(address, { codec: 'bytes' });
      for (let i = 0; i < warmup + count; i++) await out.send(payload);
      await out.flush();
      return out.close();
    }
  }
}

async function zeromq() {
  const zmq = await import('zeromq');
  switch (role) {
    case 'echo': {
      // A ROUTER answers a REQ (lockstep) and a DEALER (pipelined) alike: every frame back as it came.
      const sock = new zmq.Router();
      await sock.bind(address);
      say(`listening ${sock.lastEndpoint}`);
      for await (const frames of sock) await sock.send(frames);
      return;
    }
    case 'sink': {
      const sock = new zmq.Pull();
      await sock.bind(address);
      say(`listening ${sock.lastEndpoint}`);
      let got = 0;
      let first = 0;
      for await (const [msg] of sock) {
        if (msg.length !== size) throw new Error(`got ${msg.length} bytes, not ${size}`);
        if (++got === warmup) first = now();
        if (got === warmup + count) break;
      }
      say((count / (now() - first)).toFixed(0));
      return sock.close();
    }
    case 'rt': {
      const sock = new zmq.Request();
      sock.connect(address);
      let t0 = 0;
      for (let i = -warmup; i < count; i++) {
        if (i === 0) t0 = now();
        await sock.send(payload);
        const [reply] = await sock.receive();
        if (reply.length !== size) throw new Error(`a reply of ${reply.length} bytes, not ${size}`);
      }
      say((count / (now() - t0)).toFixed(0));
      return sock.close();
    }
    case 'rt32': {
      const sock = new zmq.Dealer();
      sock.connect(address);
      // One receiver in order (a DEALER's replies come in the order asked): each send's promise waits its turn.
      const waiting = [];
      (async () => {
        for await (const [reply] of sock) waiting.shift()(reply);
      })();
      const rate = await pipelined(async () => {
        const reply = new Promise((resolve) => waiting.push(resolve));
        await sock.send(payload);
        return reply;
      });
      say(rate.toFixed(0));
      return sock.close();
    }
    case 'push': {
      const sock = new zmq.Push({ linger: 10_000 });
      sock.connect(address);
      for (let i = 0; i < warmup + count; i++) await sock.send(payload);
      // zeromq cannot say when its queue has gone out (closing or exiting drops it): stay until the sink has all
      // and bench/channel.mjs ends this process.
      setInterval(() => {}, 60_000);
      return new Promise(() => {});
    }
  }
}

/** Length-prefixed frames on a net socket: `onFrame` gets each payload (a view into the chunk where it can be). */
function frames(socket, onFrame) {
  let pending = Buffer.alloc(0);
  socket.on('data', (chunk) => {
    let buf = pending.length ? Buffer.concat([pending, chunk]) : chunk;
    while (buf.length >= 4 && buf.length >= 4 + buf.readUInt32BE(0)) {
      const end = 4 + buf.readUInt32BE(0);
      onFrame(buf.subarray(4, end));
      buf = buf.subarray(end);
    }
    pending = buf;
  });
}

function frame(data) {
  const header = Buffer.allocUnsafe(4);
  header.writeUInt32BE(data.length);
  return header;
}

function writeFrame(socket, data) {
  socket.cork();
  socket.write(frame(data));
  const more = socket.write(data);
  socket.uncork();
  return more;
}

async function node() {
  const [kind, rest] = [address.slice(0, address.indexOf(':')), address.slice(address.indexOf(':') + 1)];
  const where = kind === 'unix' ? { path: rest } : { host: rest.slice(0, rest.lastIndexOf(':')), port: Number(rest.slice(rest.lastIndexOf(':') + 1)) };
  const serve = (onSocket) => new Promise((resolve) => {
    const server = createServer(onSocket).listen(where, () => {
      const a = server.address();
      say(`listening ${typeof a === 'string' ? `unix:${a}` : `tcp:${a.address}:${a.port}`}`);
      resolve();
    });
  });
  const dial = () => new Promise((resolve) => { const s = createConnection(where, () => resolve(s)); s.setNoDelay(true); });
  switch (role) {
    case 'echo':
      await serve((s) => { s.setNoDelay(true); frames(s, (m) => writeFrame(s, m)); });
      return new Promise(() => {});
    case 'sink':
      return new Promise((resolve) => serve((s) => frames(s, sinking(resolve))));
    case 'rt': {
      const s = await dial();
      return new Promise((resolve) => {
        frames(s, lockstep(() => writeFrame(s, payload), resolve));
        writeFrame(s, payload);
      });
    }
    case 'rt32': {
      const s = await dial();
      const waiting = [];
      frames(s, (reply) => waiting.shift()(Buffer.from(reply)));
      say((await pipelined(() => new Promise((resolve) => {
        waiting.push(resolve);
        writeFrame(s, payload);
      }))).toFixed(0));
      return;
    }
    case 'push': {
      const s = await dial();
      for (let i = 0; i < warmup + count; i++) {
        if (!writeFrame(s, payload)) await new Promise((resolve) => s.once('drain', resolve));
      }
      return new Promise((resolve) => s.end(resolve));
    }
  }
}

/**
 * node-ipc as its users use it: events with JSON data (a string of SIZE characters here), `\f`-delimited, over
 * `serve(path)`/`serveNet` and `connectTo`/`connectToNet`. Loaded from NODE_IPC (bench/channel.mjs installs it
 * apart: it is no dependency of socktool's). ADDRESS: unix:PATH, or tcp:HOST:PORT (node-ipc takes no port 0: the
 * bench gives a free one).
 */
async function nodeIpc() {
  const { IPCModule } = await import(process.env.NODE_IPC);
  const ipc = new IPCModule();
  Object.assign(ipc.config, { id: 'bench', silent: true, retry: 100, maxConnections: 1000 });
  const [kind, rest] = [address.slice(0, address.indexOf(':')), address.slice(address.indexOf(':') + 1)];
  const [host, port] = [rest.slice(0, rest.lastIndexOf(':')), Number(rest.slice(rest.lastIndexOf(':') + 1))];
  const text = 'x'.repeat(size);
  const serve = (onStart) => {
    if (kind === 'unix') ipc.serve(rest, onStart);
    else ipc.serveNet(host, port, onStart);
    ipc.server.start();
  };
  const listening = () => say(`listening ${address}`);
  const connect = () => new Promise((resolve) => {
    const ready = () => ipc.of.bench.on('connect', () => resolve(ipc.of.bench));
    if (kind === 'unix') ipc.connectTo('bench', rest, ready);
    else ipc.connectToNet('bench', host, port, ready);
  });
  switch (role) {
    case 'echo':
      serve(() => {
        ipc.server.on('m', (data, socket) => ipc.server.emit(socket, 'm', data));
        listening();
      });
      return new Promise(() => {});
    case 'sink':
      return new Promise((resolve) => serve(() => {
        ipc.server.on('m', sinking(resolve));
        listening();
      }));
    case 'rt': {
      const peer = await connect();
      return new Promise((resolve) => {
        peer.on('m', lockstep(() => peer.emit('m', text), resolve));
        peer.emit('m', text);
      });
    }
    case 'rt32': {
      const peer = await connect();
      const waiting = [];
      peer.on('m', (reply) => waiting.shift()(reply));
      say((await pipelined(() => new Promise((resolve) => {
        waiting.push(resolve);
        peer.emit('m', text);
      }))).toFixed(0));
      return;
    }
    case 'push': {
      // node-ipc's emit does not say when the socket is full: the sender waits on the socket itself, as a sender must.
      const peer = await connect();
      for (let i = 0; i < warmup + count; i++) {
        peer.emit('m', text);
        if (peer.socket.writableNeedDrain) await new Promise((resolve) => peer.socket.once('drain', resolve));
      }
      return new Promise((resolve) => peer.socket.end(resolve));
    }
  }
}

await ({ socktool, zeromq, node, 'node-ipc': nodeIpc })[stack]();
process.exit(0);
