// A requester in a process of its own, for tests that stop it mid-conversation (SIGSTOP):
// node requester.mjs ADDRESS HEARTBEAT_MS [CA_FILE]. Prints the reply to one request ("hi"), then stays connected.
import { readFileSync } from 'node:fs';
import { requester } from '../../dist/channel/index.js';

const [address, heartbeat, ca] = process.argv.slice(2);
const tls = ca ? { ca: readFileSync(ca), servername: 'localhost' } : undefined;
const r = await requester(address, { heartbeat: Number(heartbeat), tls, onError: () => {} });
console.log(await r.request('hi'));
