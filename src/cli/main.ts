import { readFileSync } from 'node:fs';
import { Command, CommanderError, Option } from 'commander';
import { inetAddress, isInheritedText, NetError, unixAddress, type Address, type UnixNetwork } from '../index.js';
import {
  callCommand, CODECS, publishCommand, replyCommand, subscribeCommand, type CallOptions, type PublishOptions, type ReplyOptions,
  type SubscribeOptions,
} from './channels.js';
import { benchCommand, benchServe, plotCommand, type BenchOptions, type BenchServeOptions, type PlotOptions } from './bench.js';
import { chatCommand } from './chat.js';
import { connectCommand, sendCommand, type ClientOptions, type SendOptions } from './client.js';
import {
  addressArg, addTraits, parseBig, parseBytes, parseCount, parseDuration, parseIdle, parseMs, parsePort, parseRate, parseSeconds, refuseGiven, serverAddressArg, type CommonOptions, type Trait,
} from './common.js';
import { CliError, Exit, EXIT_HELP, exitCodeFor, exitCodesLine, UsageError } from './exit.js';
import { httpGetCommand, type HttpOptions } from './http.js';
import { NcExit, ncCommand, type NcOptions } from './nc.js';
import { notice, oneLine, Output } from './output.js';
import { impairmentOptions, relayCommand, tapCommand, type RelayCommandOptions } from './relay.js';
import {
  HANDLERS, listenCommand, serveCommand, UNIX_TYPES, type ListenCommandOptions, type ServeCommandOptions,
} from './servers.js';
import { buildAddonCommand, capsCommand, resolveCommand, scanCommand, type ScanOptions } from './tools.js';

const { version } = JSON.parse(readFileSync(new URL('../../package.json', import.meta.url), 'utf8')) as { version: string };

/** Options every command may get (each declares its own through traits and `options`). */
// Commander hands over an untyped bag; each command casts it to the options it declared.
type Opts = CommonOptions & Record<string, any>;

/** One CLI command: its syntax, help and the library calls it makes. */
interface CommandSpec {
  name: string;
  args?: string;
  summary: string;
  traits: Trait[];
  /** Spelled as another tool spells it (nc): none of socktool's shared options (--json, -v), and exit 1 for any failure. */
  foreign?: boolean;
  options?: Option[];
  examples: string[];
  /** The exit codes it can return (its help's one line; nc's are nc's own). */
  exits: readonly number[];
  run(args: string[], opts: Opts, out: Output): Promise<void>;
}

/** What kinds of command can end with: every one 0, 1 or 2; dialling ones a timeout or a refusal; binding ones an address in use. */
const CLIENT_EXITS = [0, 1, 2, 3, 4, 6];
const SERVER_EXITS = [0, 1, 2, 5, 6];

const codecOption = () => new Option('--codec <codec>', 'messages are JSON values (one a line) or bytes as they are').choices(CODECS).default('json');
const authkeyOption = () => new Option('--authkey-file <file>',
  "streams: a shared key both sides prove (Python multiprocessing.connection's authkey): the file's bytes, less a final newline");
const firstMessageOption = () => new Option('--first-message-timeout <ms>',
  'streams: close a connection that sent no message this long after connecting (0: never; default 10000)').argParser(parseIdle);
const typeOption = () => new Option('--type <type>', 'unix socket type').choices(Object.keys(UNIX_TYPES)).default('stream');
const hostPort = (port: number) => [
  new Option('--host <host>', 'address to listen on').default('127.0.0.1'),
  new Option('--port <port>', 'port to listen on (0 picks a free one)').argParser(parsePort).default(port),
];
const bindOption = () => new Option('--bind <address>', 'connect or send from this address (tcp/udp: a host and port; unixgram: a path)');
const halfClose = () => new Option('--half-close', 'on stdin EOF, send EOF to the peer and keep printing until it closes');
const SERVER: Trait[] = ['server', 'idle', 'access', 'tls-server'];
/** Servers whose traffic --pcap records. */
const RECORDED_SERVER: Trait[] = [...SERVER, 'record'];

/** `udp-echo` and `tcp-echo`: `serve` with echo on --host/--port, or on an inherited socket (--fd). */
const inetEcho = (network: 'udp' | 'tcp', port: number, summary: string, examples: string[]): CommandSpec => ({
  name: `${network}-echo`,
  exits: SERVER_EXITS,
  summary,
  // Datagrams have no clients to count, no connections to time out and no TLS: udp-echo offers none of those.
  traits: network === 'tcp' ? ['server', 'idle', 'tls-server'] : [],
  options: [...hostPort(port), new Option('--fd <n|name>', `serve an inherited ${network} socket (socket activation) instead of --host/--port`)],
  examples,
  run: (_, o, out) => {
    if (o.fd === undefined) return serveCommand(inetAddress(network, o.host as string, o.port as number), { ...o, handler: 'echo' }, out);
    refuseGiven(o, { host: 'the inherited socket has its address already', port: 'the inherited socket has its address already' });
    const addr = serverAddressArg(`fd:${o.fd as string}`, (n) => n.startsWith(network), `${network} only`);
    return serveCommand(addr, { ...o, handler: 'echo' }, out);
  },
});

/**
 * unix-client's and unix-server's argument: a path or @name of --type, or a whole unix address
 * (`unix:///tmp/app.sock`, `unixgram:@name`: its network is the type, and --type, if given, must agree).
 */
function unixArg(text: string, o: Opts): Address {
  const network = UNIX_TYPES[o.type as string]!;
  if (!Object.values(UNIX_TYPES).some((n) => text.startsWith(`${n}:`))) return unixAddress(network, text);
  const a = addressArg(text);
  if (o.given?.has('type') && a.network !== network) {
    throw new UsageError(`--type ${o.type as string} is ${network}, and ${text} is a ${a.network} address: give one or the other`);
  }
  return a;
}

/** unix-server's argument: as unixArg, or an inherited unix socket (of --type, if given). */
function unixServerAddress(path: string, o: Opts): Address {
  const network = UNIX_TYPES[o.type as string]!;
  if (!isInheritedText(path)) return unixArg(path, o);
  const typed = o.given?.has('type');
  return serverAddressArg(path, (n) => (typed ? n === network : Object.values(UNIX_TYPES).includes(n as UnixNetwork)),
    typed ? `${network} (--type ${o.type as string})` : 'unix sockets');
}

const COMMANDS: CommandSpec[] = [
  {
    name: 'connect',
    exits: CLIENT_EXITS,
    args: '<address>',
    summary: 'netcat client: stdin to the peer, the peer to stdout (a datagram per stdin line on udp/unixgram)',
    traits: ['timeout', 'tls-client', 'record'],
    options: [halfClose(), new Option('--wait <ms>', 'datagram: keep printing replies this long after stdin EOF').argParser(parseMs).default(1000), bindOption()],
    examples: [
      'socktool connect tcp://127.0.0.1:8000',
      'printf "ping\\n" | socktool connect udp://127.0.0.1:9999 --wait 500',
      'socktool connect unix:///tmp/app.sock --half-close < request.bin',
      'socktool connect tcp://example.test:443 --tls',
    ],
    run: ([a], o, out) => connectCommand(addressArg(a!), o as ClientOptions, out),
  },
  {
    name: 'unix-client',
    exits: CLIENT_EXITS,
    args: '<path>',
    summary: 'AF_UNIX client (the named form of connect): a socket file or @abstract name',
    traits: ['timeout', 'record'],
    options: [typeOption(), halfClose(), new Option('--wait <ms>', 'dgram: keep printing replies this long after stdin EOF').argParser(parseMs).default(1000)],
    examples: ['socktool unix-client /tmp/app.sock', 'echo hi | socktool unix-client /tmp/dgram.sock --type dgram'],
    run: ([path], o, out) => connectCommand(unixArg(path!, o), o as ClientOptions, out),
  },
  {
    name: 'listen',
    exits: [0, 1, 2, 3, 5, 6],
    args: '<address>',
    summary: 'netcat server: prints what arrives, sends stdin to the peer',
    // As nc -l: no idle limit unless asked for.
    traits: ['server', 'timeout', 'access', 'tls-server', 'record'],
    options: [new Option('-k, --keep-open', 'serve client after client (several at once; stdin goes to all)'), halfClose()],
    examples: ['socktool listen tcp://127.0.0.1:8000', 'socktool listen -k unix:///tmp/log.sock', 'socktool listen udp://127.0.0.1:9999'],
    run: ([a], o, out) => listenCommand(serverAddressArg(a!), o as ListenCommandOptions, out),
  },
  {
    name: 'serve',
    exits: SERVER_EXITS,
    args: '<address>',
    summary: 'the generic server: a handler for every connection or datagram',
    traits: RECORDED_SERVER,
    options: [
      new Option('--handler <name>', 'what to do with what arrives').choices(HANDLERS).default('echo'),
      new Option('--exec <command>', 'run a program per connection (stdin/stdout wired to the peer) or per datagram (it on stdin, stdout the reply)'),
      new Option('--sh-exec <line>', 'the same, as a shell line (/bin/sh -c)'),
    ],
    examples: [
      'socktool serve tcp://127.0.0.1:8000',
      'socktool serve unixgram:///tmp/up.sock --handler upper',
      'socktool serve udp://[::1]:5140 --handler print --json',
      'socktool serve tcp://127.0.0.1:8443 --tls --cert cert.pem --key key.pem',
    ],
    run: ([a], o, out) => serveCommand(serverAddressArg(a!), o as ServeCommandOptions, out),
  },
  inetEcho('udp', 9999, 'UDP echo server: every datagram goes back to its sender',
    ['socktool udp-echo --port 9999', 'socktool udp-echo --host ::1 --port 0']),
  inetEcho('tcp', 8000, 'TCP echo server for any number of concurrent clients',
    ['socktool tcp-echo', 'socktool tcp-echo --host 0.0.0.0 --port 8000']),
  {
    name: 'unix-server',
    exits: SERVER_EXITS,
    args: '<path>',
    summary: 'AF_UNIX echo server on a socket file or an @abstract name (stream, dgram or seqpacket)',
    traits: SERVER,
    options: [new Option('--upper', 'reply in upper case, as the classic tutorial server does'), typeOption()],
    examples: [
      'socktool unix-server /tmp/app.sock',
      'socktool unix-server /tmp/app.sock --upper',
      'socktool unix-server /tmp/dgram.sock --type dgram',
      'socktool unix-server @app --type seqpacket',
    ],
    run: ([path], o, out) => serveCommand(unixServerAddress(path!, o), { ...o, handler: o.upper ? 'upper' : 'echo' }, out),
  },
  {
    name: 'send',
    exits: CLIENT_EXITS,
    args: '<address> <message...>',
    summary: 'send one message (a datagram, or a connection written then half-closed); --reply prints the answer',
    traits: ['timeout', 'tls-client'],
    options: [new Option('--reply', 'wait for the answer and print it (exit 3 if none comes within --timeout, default 5000 ms)'), bindOption()],
    examples: [
      'socktool send udp://127.0.0.1:9999 hello --reply',
      'socktool send unixgram:///run/app.sock reload',
      'socktool send tcp://127.0.0.1:8000 "GET / HTTP/1.0" --reply --timeout 2000',
    ],
    run: ([a, ...words], o, out) => sendCommand(addressArg(a!), words, o as SendOptions, out),
  },
  {
    name: 'relay',
    exits: SERVER_EXITS,
    args: '<listen-address> <target-address>',
    summary: "socat's core job: each client gets its own connection (or datagram session) to the target",
    traits: RECORDED_SERVER,
    options: [
      new Option('--target-tls', 'speak TLS to the target'),
      new Option('--target-ca <file>', 'PEM certificate authorities to trust for the target'),
      new Option('--insecure', 'do not verify the target certificate'),
      new Option('--servername <name>', "name to verify the target by, and send as SNI (default: the target's host)"),
      ...impairmentOptions(),
    ],
    examples: [
      'socktool relay tcp://127.0.0.1:8080 unix:///run/app.sock',
      'socktool relay tcp6://[::1]:8000 tcp4://127.0.0.1:8000',
      'socktool relay udp://127.0.0.1:5353 udp://127.0.0.53:53',
      'socktool relay unixgram:///tmp/log.sock udp://127.0.0.1:514',
      'socktool relay tcp://127.0.0.1:8443 tcp://127.0.0.1:8000 --tls --cert cert.pem --key key.pem',
      'socktool relay tcp://127.0.0.1:8000 tcp://example.test:443 --target-tls --target-ca ca.pem',
      'socktool relay udp://127.0.0.1:5353 udp://127.0.0.53:53 --delay 20±5 --loss to-target:5% --seed 1',
      'socktool relay unix:///tmp/slow.sock unix:///run/app.sock --slice 1 --rate to-client:10000',
    ],
    run: ([from, to], o, out) => relayCommand(serverAddressArg(from!), addressArg(to!), o as RelayCommandOptions, out),
  },
  {
    name: 'tap',
    // 4: nobody listens on the socket to tap.
    exits: [0, 1, 2, 4, 5, 6],
    args: '<path>',
    summary: 'interpose on a live unix socket (stream, seqpacket, dgram): record, dump or impair its new clients, then put it back',
    // --timeout without a default: the tap times out no stream client of the service unless told to (a datagram
    // sender's session still ends after the library's idle limit: it has no other end).
    traits: ['timeout', 'server', 'record'],
    options: impairmentOptions(),
    examples: [
      'socktool tap /run/app.sock --pcap app.pcapng',
      'socktool tap /tmp/log.sock -v',
      'socktool tap /run/app.sock --json --delay to-client:50',
    ],
    run: ([path], o, out) => tapCommand(path!, o as RelayCommandOptions, out),
  },
  {
    name: 'chat',
    exits: SERVER_EXITS,
    args: '<address>',
    summary: 'a chat room: each line goes to every other client, prefixed with the sender address (ncat --chat)',
    traits: SERVER,
    examples: ['socktool chat tcp://127.0.0.1:7000', 'socktool chat unix:///tmp/room.sock', 'socktool chat udp://127.0.0.1:7000'],
    run: ([a], o, out) => chatCommand(serverAddressArg(a!), o, out),
  },
  {
    name: 'call',
    exits: [...CLIENT_EXITS, 7],
    args: '<address> [request]',
    summary: 'one request to a channel replier (the argument, or stdin); prints the reply as one line',
    traits: ['timeout', 'tls-client'],
    options: [codecOption(), authkeyOption()],
    examples: [
      `socktool call unix:///tmp/calc.sock '{"a":1,"b":2}'`,
      'socktool call tcp://127.0.0.1:7000 --timeout 500 < request.json',
      'socktool call unixgram:///tmp/up.sock hello --codec bytes',
    ],
    run: ([a, request], o, out) => callCommand(addressArg(a!), request, o as CallOptions, out),
  },
  {
    name: 'reply',
    exits: SERVER_EXITS,
    args: '<address>',
    summary: 'a channel replier: answers each request with itself (--echo) or with what a program prints',
    traits: ['server', 'access', 'tls-server'],
    options: [
      new Option('--echo', 'answer every request with the request itself'),
      new Option('--exec <command>', 'run a program per request: the request on its stdin, its stdout the reply'),
      new Option('--sh-exec <line>', 'the same, as a shell line (/bin/sh -c)'),
      codecOption(),
      authkeyOption(),
      firstMessageOption(),
    ],
    examples: [
      'socktool reply unix:///tmp/calc.sock --echo',
      "socktool reply tcp://127.0.0.1:7000 --sh-exec 'jq .a+.b'",
      'socktool reply unixpacket:@upper --exec "tr a-z A-Z" --codec bytes',
    ],
    run: ([a], o, out) => replyCommand(serverAddressArg(a!), o as ReplyOptions, out),
  },
  {
    name: 'publish',
    exits: SERVER_EXITS,
    args: '<address> [topic]',
    summary: 'a channel publisher: each stdin line is a message, on TOPIC or (--with-topic) on its first word',
    traits: ['server', 'access', 'tls-server'],
    options: [
      new Option('--with-topic', "each line is its topic, a space, then the message"),
      new Option('--subscribers <n>', 'read stdin once this many subscribers are there').argParser(parseCount),
      codecOption(),
      authkeyOption(),
      firstMessageOption(),
    ],
    examples: [
      'tail -f app.log | socktool publish unix:@logs app --codec bytes',
      'socktool publish tcp://127.0.0.1:7001 --with-topic --subscribers 2 < events.ndjson',
      'socktool publish udp://127.0.0.1:7002 weather',
    ],
    run: ([a, topic], o, out) => publishCommand(serverAddressArg(a!), topic, o as PublishOptions, out),
  },
  {
    name: 'subscribe',
    exits: CLIENT_EXITS,
    args: '<address> [topics...]',
    summary: 'a channel subscriber: one line per message on the topics (prefixes; all without one)',
    traits: ['timeout', 'tls-client'],
    options: [
      new Option('--with-topic', 'start each line with its topic and a space (what publish --with-topic reads)'),
      new Option('--count <n>', 'exit after this many messages').argParser(parseCount),
      new Option('--no-wait', 'no publisher there yet: exit 4 at once instead of waiting for one to come'),
      codecOption(),
      authkeyOption(),
    ],
    examples: [
      'socktool subscribe unix:@logs app --codec bytes',
      'socktool subscribe tcp://127.0.0.1:7001 weather. sport. --with-topic',
      'socktool subscribe udp://127.0.0.1:7002 --count 1 --timeout 5000',
    ],
    run: ([a, ...topics], o, out) => subscribeCommand(addressArg(a!), topics, o as SubscribeOptions, out),
  },
  {
    name: 'http-get',
    exits: [0, 1, 2, 3, 4, 7],
    args: '<url>',
    summary: 'an HTTP/1.1 GET on a raw stream socket; prints the body',
    traits: ['timeout', 'tls-client'],
    options: [
      new Option('-i, --include', 'print the response head too'),
      new Option('--unix <path>', 'connect to this unix socket instead (as curl --unix-socket)'),
      new Option('--fail', 'an HTTP error status (400 or more) prints no body and exits 7 (as curl --fail)'),
    ],
    examples: [
      'socktool http-get http://127.0.0.1:8000/index.html',
      'socktool http-get https://localhost:8443/ --ca ca.pem',
      'socktool http-get unix:///var/run/docker.sock:/version',
      'socktool http-get http://localhost/health --unix /run/app.sock --include',
    ],
    run: ([url], o, out) => httpGetCommand(url!, o as HttpOptions, out),
  },
  {
    name: 'bench',
    exits: [0, 1, 2, 3, 4, 5, 6, 7],
    args: '<address>',
    summary: 'echo load against ADDRESS: latency percentiles (pingpong, --rate) or throughput (flood); --serve: the echo to measure',
    traits: ['tls-client', 'tls-server'],
    options: [
      new Option('--mode <mode>', 'one message in flight per connection, or --window of them').choices(['pingpong', 'flood']).default('pingpong'),
      new Option('--rate <n>', 'send N messages a second on a schedule instead; latency counts from when each was due')
        .argParser(parseRate),
      new Option('--size <bytes>', 'bytes per message (at least 4: each carries its sequence number; 14 with --sockperf)')
        .argParser(parseBytes).default(64),
      new Option('--connections <n>', 'connections (datagram senders on datagram networks)').argParser(parseCount).default(1),
      new Option('--window <n>', 'messages in flight per connection at most (default 64 in flood mode, 1024 with --rate)').argParser(parseCount),
      new Option('--sockperf', "speak sockperf's protocol: load a sockperf server, or with --serve answer a sockperf client"),
      new Option('--duration <seconds>', 'how long to measure (default 5)').argParser(parseDuration),
      new Option('--count <n>', 'stop after this many echoes instead').argParser(parseBig),
      new Option('--warmup <seconds>', 'load before measuring starts').argParser(parseDuration).default(0),
      new Option('--samples', 'with --json: a sample event each second'),
      new Option('--compare <address>', 'run the same load against a second address and print both with the ratio'),
      new Option('--percentiles', 'list the latency at 50, 75, 90, 95, 99, 99.5, 99.9, 99.99, 99.999 % and the max'),
      new Option('--csv', 'one CSV line per second on stdout (t, messages/s, MB/s, lost, corrupt, p99 µs), nothing else'),
      new Option('--hgrm <file>', "write the latency as HdrHistogram's percentile distribution (.hgrm, ms), for its plotters"),
      new Option('--plot <file>', 'draw the latency by percentile as an SVG chart (with --compare: both runs)'),
      new Option('--serve', 'serve echo on ADDRESS instead (the fastest socktool has), for another bench to measure'),
    ],
    examples: [
      'socktool bench --serve unixgram:///tmp/echo.sock &',
      'socktool bench unixgram:///tmp/echo.sock --mode flood --size 1024',
      'socktool bench unix:///tmp/a.sock --compare tcp://127.0.0.1:8000 --duration 3',
      'socktool bench udp://127.0.0.1:9999 --json --samples',
      'socktool bench tcp://localhost:8443 --tls --ca cert.pem --mode flood',
      'socktool bench udp://127.0.0.1:11111 --sockperf --rate 10000 --percentiles',
    ],
    run: ([a], o, out) => (o.serve ? benchServe(serverAddressArg(a!), o as unknown as BenchServeOptions, out)
      : benchCommand(a!, o as unknown as BenchOptions, out)),
  },
  {
    name: 'plot',
    exits: [0, 2],
    args: '<chart.svg> <run.hgrm...>',
    summary: "draw runs' latency by percentile on one SVG chart, from their .hgrm files (bench --hgrm, HdrHistogram, wrk2)",
    traits: [],
    options: [new Option('--title <text>', "the chart's title").default('Latency by percentile')],
    examples: ['socktool plot chart.svg unix.hgrm tcp.hgrm --title "echo: unix against tcp"'],
    run: ([chart, ...runs], o) => plotCommand(chart!, runs, o as PlotOptions),
  },
  {
    name: 'scan',
    exits: [0, 1, 2, 4],
    args: '<host> <ports>',
    summary: 'TCP connect scan (connect_ex): prints the open ports',
    traits: ['timeout'],
    options: [
      new Option('--all', 'print every port with its state (open, closed, filtered, or the errno)'),
      new Option('--concurrency <n>', 'connects in flight at once').argParser(parseCount).default(100),
    ],
    examples: ['socktool scan 127.0.0.1 22,80,8000-8100', 'socktool scan ::1 1-1024 --timeout 500 --all'],
    run: ([host, ports], o, out) => scanCommand(host!, ports!, o as unknown as ScanOptions, out),
  },
  {
    name: 'resolve',
    exits: [0, 1, 2, 4],
    args: '<host>',
    summary: 'every address getaddrinfo returns for a host name, one a line',
    traits: [],
    options: [new Option('--family <n>', 'only IPv4 or IPv6').choices(['4', '6'])],
    examples: ['socktool resolve localhost', 'socktool resolve localhost --family 6'],
    run: ([host], o, out) => resolveCommand(host!, o as { family?: string }, out),
  },
  {
    name: 'nc',
    exits: [0, 1],
    args: '[destination] [port...]',
    summary: "OpenBSD netcat's spelling and exit codes (0, or 1 for any failure), on socktool's engine",
    traits: [],
    foreign: true,
    options: [
      new Option('-4', 'IPv4 only'),
      new Option('-6', 'IPv6 only'),
      new Option('-l', 'listen for one client (with -k, one after another)'),
      new Option('-k', 'with -l: keep listening after each client'),
      new Option('-u', 'UDP (with -U: unix datagrams)'),
      new Option('-U', 'unix socket: destination is a path (or @abstract name)'),
      new Option('-N', "shut down the connection's sending side after stdin's EOF"),
      new Option('-v', "verbose: nc's connection lines on stderr"),
      new Option('-z', 'scan: connect to each port and report, sending nothing'),
      new Option('-n', 'numeric host addresses only, no name lookup'),
      new Option('-w <secs>', 'timeout for connects, and for an idle connection').argParser(parseSeconds),
      new Option('-q <secs>', "quit this many seconds after stdin's EOF").argParser(parseSeconds),
      new Option('-s <source>', 'source address (with -Uu: the socket path to send from)'),
      new Option('-p <port>', 'source port (with -l: the port to listen on)').argParser(parsePort),
    ],
    examples: [
      'socktool nc -N 127.0.0.1 8000 < request.bin',
      'socktool nc -l 8000 > received.bin',
      'socktool nc -zv 127.0.0.1 20-25',
      'socktool nc -Uu -w1 /run/app.sock',
    ],
    run: (args, o) => ncCommand(args, o as NcOptions),
  },
  {
    name: 'caps',
    exits: [0, 1, 2],
    summary: "what this machine supports (networks, abstract names, seqpacket, credentials, fd passing, IPv6), probed",
    traits: [],
    examples: ['socktool caps', 'socktool caps --json'],
    run: (_, __, out) => capsCommand(out),
  },
  {
    name: 'build-addon',
    exits: [0, 1, 2],
    summary: 'build the native addon from the C sources it ships, where no prebuild fits (python3, make, a C compiler)',
    traits: [],
    options: [new Option('--if-missing', 'do nothing when an addon loads already')],
    examples: ['npx socktool build-addon', 'socktool build-addon --if-missing'],
    run: (_, o, out) => buildAddonCommand(o as { ifMissing?: boolean }, out),
  },
];

/**
 * Commander's own error as socktool's one line: its lines joined (`unknown command 'lisen' (did you mean listen?)`),
 * and a better hint where commander's guess misleads: `--port`/`--host` on a command that takes an address,
 * `--authkey` (the key is read from a file).
 */
export function commanderError(text: string): string {
  // Commander puts its suggestion on a line of its own; any other newline is in what was typed, and is escaped.
  let line = text.replace(/^error: /, '').trimEnd().replace(/\n\(Did you mean /g, ' (did you mean ');
  const unknown = /^unknown option '(--[\w-]+)'/.exec(line)?.[1];
  if (unknown === '--port' || unknown === '--host') {
    line = `unknown option '${unknown}': this command takes its address whole, as tcp://127.0.0.1:8000 or udp://:9999`;
  } else if (unknown === '--authkey') {
    line = "unknown option '--authkey': the channel commands read the key from a file (--authkey-file FILE), never from the command line";
  }
  return oneLine(line);
}

/** The program, built from the command table; it holds no socket code of its own. */
export function buildProgram(): Command {
  const program = new Command('socktool')
    // Wrapped at 100 columns whatever the terminal (or none): every command inherits it.
    .configureHelp({ helpWidth: 100 })
    .description('BSD sockets from the shell: TCP, UDP and Unix sockets behind one address grammar')
    .version(version)
    .exitOverride()
    .configureOutput({ outputError: (text, write) => write(`socktool: ${commanderError(text)}\n`) })
    .addHelpText('after', `
Addresses: tcp://127.0.0.1:8000  tcp://[::1]:8000  tcp6://host:80  udp://:9999  unix:///tmp/app.sock
           unixgram:///tmp/g.sock  unixpacket:@name  unix:@abstract
           (unix: paths may be relative: unix:app.sock)

Examples:
  ${COMMANDS.map((c) => c.examples[0]).join('\n  ')}

${EXIT_HELP}
`);

  for (const spec of COMMANDS) {
    const cmd = program.command(spec.args ? `${spec.name} ${spec.args}` : spec.name).description(spec.summary);
    for (const option of spec.options ?? []) cmd.addOption(option);
    if (spec.foreign) {
      // Commander has printed its line; nc exits 1 for a usage error too.
      cmd.exitOverride((err) => {
        throw err.exitCode === 0 ? err : new NcExit();
      });
    } else addTraits(cmd, spec.traits);
    const exits = spec.foreign ? 'Exit codes (as nc): 0 success, 1 any failure' : exitCodesLine(spec.exits);
    cmd.addHelpText('after', `\nExamples:\n  ${spec.examples.join('\n  ')}\n\n${exits}\n`);
    cmd.action(async (...params: unknown[]) => {
      // What was typed, as opposed to defaults: an option given that cannot apply is refused (refuseGiven).
      const given = new Set(cmd.options.map((opt) => opt.attributeName()).filter((k) => cmd.getOptionValueSource(k) === 'cli'));
      const opts: Opts = { ...cmd.opts<Opts>(), given };
      const args = params.slice(0, cmd.registeredArguments.length).flat() as string[];
      const out = new Output(opts);
      try {
        await spec.run(args, opts, out);
      } catch (err) {
        if (err instanceof NetError) out.error(err.code, err.message);
        else if (err instanceof CliError) out.error(err.code, err.message);
        throw err;
      }
    });
  }
  return program;
}

/** Runs the CLI: every failure ends as one line on stderr and a documented exit code, never a stack trace. */
export async function main(argv: string[]): Promise<void> {
  // A reader that went away (`socktool … | head`) ends the command quietly, as it would any Unix tool.
  process.stdout.on('error', (err: NodeJS.ErrnoException) => process.exit(err.code === 'EPIPE' ? Exit.OK : Exit.FAILURE));
  try {
    await buildProgram().parseAsync(argv);
    process.exit(Exit.OK);
  } catch (err) {
    // Commander has printed its one line (or the help / version), nc its own.
    if (err instanceof CommanderError || err instanceof NcExit) process.exit(exitCodeFor(err));
    const known = err instanceof NetError || err instanceof CliError;
    const text = known ? (err as Error).message : `internal error: ${(err as Error)?.message ?? String(err)}`;
    notice(text);
    if (!known && process.env.SOCKTOOL_DEBUG) process.stderr.write(`${(err as Error)?.stack}\n`);
    process.exit(exitCodeFor(err));
  }
}


