import {
  echo, formatAddress, inetAddress, serve, unixAddress, upper, type Address, type Handler, type UnixNetwork,
} from '../index.js';

/** `--type` of the unix commands: the socket type's name, and the network that carries it. */
export const UNIX_TYPES: Record<string, UnixNetwork> = { stream: 'unix', dgram: 'unixgram', seqpacket: 'unixpacket' };

export interface ServerOptions {
  host: string;
  port: number;
  upper?: boolean;
  type: string;
}

/** The named server commands; each is `serve(address, handler)` with defaults. */
export interface ServerCommand {
  name: string;
  summary: string;
  /** Positional arguments in commander syntax. */
  args?: string;
  /** Default port for `--host`/`--port` commands; absent for path commands. */
  port?: number;
  upperOption?: boolean;
  /** Takes `--type stream|dgram|seqpacket` (unix socket types). */
  typeOption?: boolean;
  examples: string[];
  address(args: string[], opts: ServerOptions): Address;
}

export const SERVERS: ServerCommand[] = [
  {
    name: 'udp-echo',
    summary: 'UDP echo server: every datagram goes back to its sender',
    port: 9999,
    examples: ['socktool udp-echo --port 9999', 'socktool udp-echo --host ::1 --port 0'],
    address: (_, o) => inetAddress('udp', o.host, o.port),
  },
  {
    name: 'tcp-echo',
    summary: 'TCP echo server for any number of concurrent clients',
    port: 8000,
    examples: ['socktool tcp-echo', 'socktool tcp-echo --host 0.0.0.0 --port 8000'],
    address: (_, o) => inetAddress('tcp', o.host, o.port),
  },
  {
    name: 'unix-server',
    summary: 'AF_UNIX echo server on a socket file or an @abstract name (stream, dgram or seqpacket)',
    args: '<path>',
    upperOption: true,
    typeOption: true,
    examples: [
      'socktool unix-server /tmp/app.sock',
      'socktool unix-server /tmp/app.sock --upper',
      'socktool unix-server /tmp/dgram.sock --type dgram',
      'socktool unix-server @app --type seqpacket',
    ],
    address: ([path], o) => unixAddress(UNIX_TYPES[o.type]!, path!),
  },
];

/**
 * Serves until SIGINT/SIGTERM, then closes (connections cut, the socket file removed) and resolves.
 * The first stdout line is `listening on <address>`, for scripts to parse.
 */
export async function runServer(addr: Address, handler: Handler): Promise<void> {
  const server = await serve(addr, handler, { onError: (err) => process.stderr.write(`socktool: ${err.message}\n`) });
  process.stdout.write(`listening on ${formatAddress(server.addr)}\n`);
  await new Promise<void>((resolve) => {
    const stop = () => {
      // A second signal while closing means "now".
      process.on('SIGINT', () => process.exit(130)).on('SIGTERM', () => process.exit(143));
      resolve();
    };
    process.once('SIGINT', stop).once('SIGTERM', stop);
  });
  await server.close({ signal: AbortSignal.abort() });
}

export const handlerFor = (opts: { upper?: boolean }): Handler => (opts.upper ? upper : echo);
