// One side of a bench/channel.mjs measurement, in its own process: socktool's channels or zeromq's sockets.
// usage: node bench/channel-peer.mjs socktool|zeromq echo|sink|rt|push ADDRESS SIZE COUNT
//   echo: replies to each request (REP);   rt: COUNT requests one at a time (REQ), prints round trips/s
//   sink: takes COUNT messages (PULL), prints messages/s from the first to the last;   push: sends COUNT (PUSH)
// Servers print "listening ADDRESS" first (the address they got, port 0 resolved).
import { formatAddress } from '../dist/index.js';
import { dialChannel, listenChannel, replier, requester } from '../dist/channel/index.js';

const [stack, role, address, sizeText, countText] = process.argv.slice(2);
const size = Number(sizeText);
const count = Number(countText);
const payload = Buffer.alloc(size, 'x');
const now = () => Number(process.hrtime.bigint()) / 1e9;
const say = (line) => process.stdout.write(`${line}\n`);

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
        if (got++ === 0) first = now();
        if (got === count) break;
      }
      say(((count - 1) / (now() - first)).toFixed(0));
      return inbox.close();
    }
    case 'rt': {
      const client = await requester(address, { codec: 'bytes' });
      const t0 = now();
      for (let i = 0; i < count; i++) {
        const reply = await client.request(payload);
        if (reply.length !== size) throw new Error(`a reply of ${reply.length} bytes, not ${size}`);
      }
      say((count / (now() - t0)).toFixed(0));
      return client.close();
    }
    case 'push': {
      const out = await dialChannel(address, { codec: 'bytes' });
      for (let i = 0; i < count; i++) await out.send(payload);
      await out.flush();
      return out.close();
    }
  }
}

async function zeromq() {
  const zmq = await import('zeromq');
  switch (role) {
    case 'echo': {
      const sock = new zmq.Reply();
      await sock.bind(address);
      say(`listening ${sock.lastEndpoint}`);
      for await (const [msg] of sock) await sock.send(msg);
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
        if (got++ === 0) first = now();
        if (got === count) break;
      }
      say(((count - 1) / (now() - first)).toFixed(0));
      return sock.close();
    }
    case 'rt': {
      const sock = new zmq.Request();
      sock.connect(address);
      const t0 = now();
      for (let i = 0; i < count; i++) {
        await sock.send(payload);
        const [reply] = await sock.receive();
        if (reply.length !== size) throw new Error(`a reply of ${reply.length} bytes, not ${size}`);
      }
      say((count / (now() - t0)).toFixed(0));
      return sock.close();
    }
    case 'push': {
      const sock = new zmq.Push({ linger: 10_000 });
      sock.connect(address);
      for (let i = 0; i < count; i++) await sock.send(payload);
      return sock.close();
    }
  }
}

await (stack === 'zeromq' ? zeromq() : socktool());
process.exit(0);
