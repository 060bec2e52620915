// A program that dies with its sockets open (an uncaught error) — a listener, and where the addon is loaded a
// unixgram socket and a unixpacket listener under its handles: every runtime must end it with that error and exit
// code 1 (the addon's teardown at exit closes them), never an abort.
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { addonStatus, bind, listen } from 'socktool';

const dir = mkdtempSync(join(tmpdir(), 'std-'));
const open = [await listen('tcp://127.0.0.1:0')];
if (addonStatus().available) open.push(await bind(`unixgram://${join(dir, 'g.sock')}`), await listen(`unixpacket://${join(dir, 'p.sock')}`));
console.log(open.length);
throw new Error('dies on purpose');
