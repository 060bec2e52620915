/**
 * The channel commands: `call` and `reply` (request/reply), `publish` and `subscribe` (publish/subscribe), each a
 * thin shell over socktool/channel. The channels carry bytes here (the bytes codec); --codec json only decides
 * how the CLI checks and prints them, so a reply program's output and a request on the command line go through
 * unparsed, and stdout stays one line per message.
 */
import {
  DEFAULT_MAX_MESSAGE, publisher, replier, ReplyError, requester, subscriber, type ChannelPeer, type RequestContext,
} from '../channel/index.js';
import { Codes, isStreamNetwork, NetError, type Address } from '../index.js';
import {
  datagramReasons, DEFAULT_MAX_PROGRAMS, Idle, lines, readFlagFile, refuseGiven, serverTlsOptions, tlsOptions, unixAccess, untilSignal,
  type CommonOptions,
} from './common.js';
import { exited, killProgram, outputOf, programOption, Programs, type ProgramOptions } from './exec.js';
import { CliError, UsageError } from './exit.js';
import { addrText, notice, oneLine, writeOut, type Output } from './output.js';
import { runUntilSignal } from './servers.js';

/** How messages are read and printed: JSON values (one line each), or bytes as they are. */
type CliCodec = 'json' | 'bytes';
export const CODECS: CliCodec[] = ['json', 'bytes'];

interface CodecFlag {
  codec: CliCodec;
  authkeyFile?: string;
}

/** What reply and publish give their listening channel: the codec, the server's limits, TLS, the key, access. */
function listeningOptions(o: ReplyOptions | PublishOptions, addr: Address, out: Output) {
  refuseGiven(o, { firstMessageTimeout: datagramReasons(addr).firstMessageTimeout });
  return {
    codec: 'bytes' as const, maxPeers: o.maxClients, peerBytes: o.peerBytes, serverBytes: o.serverBytes,
    firstMessageTimeout: o.firstMessageTimeout, tls: serverTlsOptions(o), ...authkeyOf(o, addr), onError: reportTo(out),
    ...unixAccess(o, addr, out),
  };
}

/**
 * The `authkey` option from --authkey-file (Python multiprocessing.connection's authkey): the file's bytes less
 * one final newline, so that `echo secret > key` gives `secret`; no option at all without the flag (an authkey
 * given as undefined is refused). Refused on a datagram network, or empty (exit 2).
 */
function authkeyOf(o: CodecFlag & { given?: ReadonlySet<string> }, addr: Address): { authkey?: Buffer } {
  refuseGiven(o, { authkeyFile: datagramReasons(addr).authkeyFile });
  const file = readFlagFile('--authkey-file', o.authkeyFile, 'a key');
  if (file === undefined) return {};
  const key = file.subarray(0, file.length - (file.at(-1) === 0x0a ? (file.at(-2) === 0x0d ? 2 : 1) : 0));
  if (key.length === 0) throw new UsageError(`--authkey-file ${o.authkeyFile} is empty: a key is needed`);
  return { authkey: key };
}

/** A call waits this long for its reply unless --timeout says otherwise (as `send --reply`). */
const CALL_TIMEOUT = 5000;

const NL = Buffer.from('\n');

/** JSON text checked and made one line (a pretty-printed request or reply has newlines); throws if it is not JSON. */
function compactJson(text: Buffer): Buffer {
  return Buffer.from(JSON.stringify(JSON.parse(text.toString())));
}

/** A received message as one line of stdout, or one event with --json. */
function printMessage(out: Output, event: string, data: Buffer, codec: CliCodec, fields: Record<string, unknown> = {},
  prefix = ''): Promise<void> {
  if (out.json) {
    out.event(event, codec === 'json' ? { ...fields, data: JSON.parse(data.toString()) } : { ...fields, size: data.length, base64: data.toString('base64') });
    return Promise.resolve();
  }
  return writeOut(Buffer.concat([Buffer.from(prefix), codec === 'json' ? compactJson(data) : data, NL]));
}

/** Up to `max` bytes of stdin; more is a usage error (a request larger than any channel takes). */
async function readStdin(max: number): Promise<Buffer> {
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const chunk of process.stdin as AsyncIterable<Buffer>) {
    size += chunk.length;
    if (size > max) throw new UsageError(`the request on stdin is over ${max} bytes, the most a message may hold`);
    chunks.push(chunk);
  }
  return Buffer.concat(chunks);
}

/** Errors that say no server is there: a dial refused, a path missing (and on udp, the port's refusal). */
const NO_SERVER = new Set(['ECONNREFUSED', 'ENOENT']);
/** What no retry mends: no server, or one that refuses this side's authkey (or its lack of one). */
const hopeless = (code: string) => NO_SERVER.has(code) || code === 'EACCES';

export interface CallOptions extends CommonOptions, CodecFlag {}

/**
 * `call ADDR [REQUEST]`: one request (the argument, or all of stdin), its reply as one line on stdout. An error
 * reply is exit 7, no reply within --timeout exit 3, no server exit 4.
 */
export async function callCommand(addr: Address, text: string | undefined, o: CallOptions, out: Output): Promise<void> {
  refuseGiven(o, datagramReasons(addr));
  const raw = text !== undefined ? Buffer.from(text) : await readStdin(DEFAULT_MAX_MESSAGE);
  let request = raw;
  if (o.codec === 'json') {
    try {
      request = compactJson(raw);
    } catch (err) {
      throw new UsageError(`the request${text === undefined ? ' on stdin' : ''} is not JSON (${(err as Error).message}); --codec bytes sends it as it is`);
    }
  }
  const timeout = o.timeout ?? CALL_TIMEOUT;
  const deadline = Date.now() + timeout;
  // One attempt, bounded by --timeout: a call does not wait for a server to come back.
  const client = await requester<Buffer, Buffer>(addr,
    { codec: 'bytes', tls: tlsOptions(o), ...authkeyOf(o, addr), reconnect: false, signal: AbortSignal.timeout(timeout), onError: () => {} });
  try {
    out.dump('>', addr, request);
    const reply = await client.request(request, { timeout: Math.max(1, deadline - Date.now()) });
    out.dump('<', addr, reply);
    await printMessage(out, 'reply', reply, o.codec).catch(() => {
      throw new CliError(`the reply is not JSON; --codec bytes prints it as it is`);
    });
  } catch (err) {
    if (err instanceof ReplyError) {
      throw new CliError(`error reply: ${err.message}`, 'error-answer', Codes.REPLY_ERROR);
    }
    // On udp a missing server shows only as the port's refusal of the request, which ends the "connection".
    const cause = (err as NetError).cause as NetError | undefined;
    if ((err as NetError).code === Codes.DISCONNECTED && cause instanceof NetError && hopeless(cause.code)) throw cause;
    throw err;
  } finally {
    await client.close();
  }
}

export interface ReplyOptions extends CommonOptions, CodecFlag, ProgramOptions {
  echo?: boolean;
  firstMessageTimeout?: number;
}

/** An error reply's name when the program behind `reply --exec` failed. */
class ExecError extends Error {
  override readonly name = 'ExecError';
}

/**
 * `reply ADDR --echo | --exec CMD`: answers every request, with the request itself or with what a program
 * (the request on its stdin) prints. A program that fails, prints too much or (with JSON) prints no JSON
 * becomes an error reply; a requester that gives up has its program killed.
 */
export async function replyCommand(addr: Address, o: ReplyOptions, out: Output): Promise<void> {
  void untilSignal(); // handlers first: see untilSignal
  const program = programOption(o);
  if (!o.echo === !program) throw new UsageError('reply needs one of --echo, --exec or --sh-exec');
  const programs = program && new Programs(program, o.maxClients ?? DEFAULT_MAX_PROGRAMS);
  let local = addr;
  const answer = async (request: Buffer, ctx: RequestContext): Promise<Buffer> => {
    out.dump('<', ctx.peer.addr, request);
    const reply = programs ? await run(programs, request, ctx, local, o.codec) : request;
    out.dump('>', ctx.peer.addr, reply);
    return reply;
  };
  const server = await replier<Buffer, Buffer>(addr, answer, listeningOptions(o, addr, out));
  local = server.addr;
  await runUntilSignal(server, out, { onStop: () => programs?.stop(), drops: 'message' });
}

/** Runs the program for one request: its stdin the request (JSON: one line), its stdout the reply. */
async function run(programs: Programs, request: Buffer, ctx: RequestContext, local: Address,
  codec: CliCodec): Promise<Buffer> {
  const { uid, gid, pid } = ctx.peer;
  const child = await programs.start({ remote: ctx.peer.addr, local, credentials: uid === undefined ? undefined : { uid, gid: gid!, pid: pid! } });
  const kill = () => killProgram(child);
  ctx.signal.addEventListener('abort', kill, { once: true });
  try {
    child.stdin.end(codec === 'json' ? Buffer.concat([request, NL]) : request);
    const { output, size } = await outputOf(child, DEFAULT_MAX_MESSAGE);
    const end = await exited(child);
    // Told to the requester, so by what happened, not by the command line (which is the server's business).
    if (end.code !== 0) throw new ExecError(`the program ${end.signal ? `was killed by ${end.signal}` : `exited with status ${end.code}`}`);
    if (size > DEFAULT_MAX_MESSAGE) throw new ExecError(`the program printed ${size} bytes, over the ${DEFAULT_MAX_MESSAGE} a reply may hold`);
    if (codec === 'bytes') return output;
    const text = output.toString().trim();
    try {
      // Nothing printed is a reply of null: a program may have only something to do, not to say.
      return compactJson(Buffer.from(text || 'null'));
    } catch {
      throw new ExecError(`the program printed no JSON: ${oneLine(text.slice(0, 80))}`);
    }
  } finally {
    ctx.signal.removeEventListener('abort', kill);
  }
}

export interface PublishOptions extends CommonOptions, CodecFlag {
  firstMessageTimeout?: number;
  withTopic?: boolean;
  subscribers?: number;
}

/**
 * `publish ADDR [TOPIC]`: each stdin line is a message, on TOPIC (default '', which every subscriber to
 * everything gets) or, with --with-topic, on the line's first word. With --subscribers N it reads stdin once N
 * subscribers are there. At stdin's EOF what is queued is delivered, then it exits; lines that are not JSON
 * (with the JSON codec) are skipped, each told on stderr, and make the exit status 1.
 */
export async function publishCommand(addr: Address, topic: string | undefined, o: PublishOptions, out: Output): Promise<void> {
  void untilSignal(); // handlers first: see untilSignal
  if (topic !== undefined && o.withTopic) throw new UsageError('a TOPIC and --with-topic: give one (each line starts with its topic)');
  const pub = await publisher<Buffer>(addr, listeningOptions(o, addr, out));
  let skipped = 0;
  const publishStdin = async () => {
    if (o.subscribers) await pub.waitForSubscribers(o.subscribers);
    let n = 0;
    for await (const chunk of lines(process.stdin as AsyncIterable<Buffer>, DEFAULT_MAX_MESSAGE)) {
      n++;
      const line = chunk.subarray(0, chunk.at(-1) === 10 ? -1 : undefined);
      const space = o.withTopic ? line.indexOf(32) : -1;
      const on = o.withTopic ? line.subarray(0, space < 0 ? undefined : space).toString() : topic ?? '';
      let message = o.withTopic ? (space < 0 ? Buffer.alloc(0) : line.subarray(space + 1)) : line;
      if (o.codec === 'json') {
        if (message.toString().trim() === '') continue; // a blank line is no message
        try {
          message = compactJson(message);
        } catch (err) {
          skipped++;
          notice(`line ${n} is not JSON (${(err as Error).message}): not published${skipped === 1 ? ' (--codec bytes publishes lines as they are)' : ''}`);
          continue;
        }
      }
      const count = await pub.publish(on, message);
      out.event('published', { topic: on, subscribers: count });
    }
    // What the queues hold goes out before the command ends.
    await pub.flush();
  };
  const published = publishStdin();
  published.catch(() => {}); // its failure is the race's, in runUntilSignal
  await runUntilSignal(pub, out, { until: published, drops: 'message' });
  if (skipped > 0) {
    throw new CliError(`${skipped} line${skipped === 1 ? ' was' : 's were'} not JSON and not published (--codec bytes publishes lines as they are)`);
  }
}

export interface SubscribeOptions extends CommonOptions, CodecFlag {
  withTopic?: boolean;
  count?: number;
  /** Wait for a publisher that is not there yet (the default, as a ZeroMQ subscriber); false: --no-wait. */
  wait?: boolean;
}

/**
 * `subscribe ADDR [TOPIC…]`: one line per message on topics starting with a TOPIC (all, without one). A publisher
 * not there yet is waited for (said once on stderr), as a ZeroMQ subscriber connects whenever its publisher comes;
 * with --no-wait that is exit 4. It reconnects and resubscribes when the publisher goes away; a publisher that
 * refuses its key is exit 5, no message for --timeout exit 3; --count N exits after N messages.
 */
export async function subscribeCommand(addr: Address, topics: string[], o: SubscribeOptions, out: Output): Promise<void> {
  refuseGiven(o, datagramReasons(addr));
  const idle = new Idle(o.timeout);
  let subscribed = false;
  const wait = o.wait !== false;
  const sub = await subscriber<Buffer>(addr, [], {
    codec: 'bytes', tls: tlsOptions(o), ...authkeyOf(o, addr), signal: idle.signal, background: wait,
    // Once subscribed, a drop is told and the subscriber reconnects; before, the failure is the command's.
    onError: (err) => subscribed && notice(`${err.message} (reconnecting)`),
  });
  // A publisher that refuses our key ends the attempt, and so does none there with --no-wait (on udp a missing one
  // shows only as the port's refusal of the subscription); otherwise its absence is said once, and waited out.
  let told = false;
  const noPublisher = new Promise<never>((_, reject) => sub.on('retrying', ({ error }) => {
    if (subscribed || !(error instanceof NetError) || !hopeless(error.code)) return;
    if (!wait || error.code === 'EACCES') return reject(error);
    if (!told) notice(`no publisher at ${addrText(addr)} yet (${error.code}): waiting for one (--no-wait exits instead)`);
    told = true;
  }));
  noPublisher.catch(() => {});
  sub.on('connected', (peer) => subscribed && out.event('connected', { peer: addrText(peer.addr) }, `reconnected to ${addrText(peer.addr)}`));
  const receive = async () => {
    await Promise.race([Promise.all((topics.length > 0 ? topics : ['']).map((t) => sub.subscribe(t, { signal: idle.signal }))), noPublisher]);
    subscribed = true;
    out.event('subscribed', { address: addrText(sub.addr), topics }, `subscribed to ${addrText(sub.addr)}`);
    idle.touch();
    for (let n = 0; o.count === undefined || n < o.count; n++) {
      const p = await sub.recv({ signal: idle.signal });
      if (p === null) return;
      idle.touch();
      out.dump('<', p.peer.addr, p.data);
      await printMessage(out, 'message', p.data, o.codec, { topic: p.topic }, o.withTopic ? `${oneLine(p.topic)} ` : '').catch(() => {
        notice(`a message on ${oneLine(p.topic)} is not JSON: not printed (--codec bytes prints it as it is)`);
      });
    }
  };
  try {
    await Promise.race([receive(), untilSignal()]);
  } finally {
    idle.stop();
    await sub.close();
    if (sub.lost > 0) notice(`${sub.lost} message${sub.lost === 1 ? '' : 's'} lost on the way (${sub.network} does not resend)`);
  }
}

/** How a channel server reports a peer's failure: one line on stderr (and an event); it goes on serving. */
function reportTo(out: Output) {
  return (err: Error, peer: ChannelPeer | null): void => {
    const code = err instanceof NetError ? err.code : 'EIO';
    // Datagram peers that went away are expected churn: shown only with -v.
    if (peer && !isStreamNetwork(peer.network) && NO_SERVER.has(code) && !out.verbose) return;
    out.error(code, err.message);
    notice(err.message);
  };
}
