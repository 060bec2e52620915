import { isStreamNetwork, relay, type Address, type TlsOptions } from '../index.js';
import { serverLimits, datagramReasons, unixAccess, readTls, refuseGiven, serverTlsOptions, untilSignal, type CommonOptions } from './common.js';
import { addrText, type Output } from './output.js';
import { reporter, runUntilSignal } from './servers.js';

export interface RelayCommandOptions extends CommonOptions {
  targetTls?: boolean;
  targetCa?: string;
}

/** TLS toward the target: --target-tls, with --target-ca, --insecure and --servername (given without it: exit 2). */
function targetTlsOptions(o: RelayCommandOptions): TlsOptions | undefined {
  if (!o.targetTls) {
    const off = 'it is for TLS toward the target, and --target-tls is not given';
    return refuseGiven(o, { targetCa: off, insecure: off, servername: off });
  }
  return readTls({ ca: o.targetCa, insecure: o.insecure, servername: o.servername }, '--target-ca');
}

/** `relay`: the library's relay, with the CLI's events, dump and flags. */
export async function relayCommand(from: Address, to: Address, o: RelayCommandOptions, out: Output): Promise<void> {
  void untilSignal(); // handlers first: see untilSignal
  refuseGiven(o, {
    tls: datagramReasons(from).tls,
    targetTls: !isStreamNetwork(to.network) && `the target ${to.network} carries datagrams, and TLS runs over streams`,
  });
  const server = await relay(from, to, {
    ...serverLimits(o),
    ...unixAccess(o, from, out),
    tls: serverTlsOptions(o),
    // The listening side's --ca verifies clients; the target is trusted through --target-ca.
    targetTls: targetTlsOptions(o),
    idle: o.timeout,
    // The target's connect keeps the library's 10 s unless --timeout is given (its default is the idle limit's).
    ...(o.given?.has('timeout') && o.timeout && { dialTimeout: o.timeout }),
    onError: reporter(out),
    // Each chunk is reported only when someone looks: the bulk path stays a plain copy.
    tap: out.json || out.verbose,
    onEvent: (e) => {
      const peer = addrText(e.client);
      if (e.type === 'open') out.event('connected', { peer, target: addrText(e.target) }, `${peer} -> ${addrText(e.target)}`);
      else if (e.type === 'close') {
        out.event('closed', { peer, ...(e.error && { error: e.error.message }), ...(e.dropped && { dropped: e.dropped }) },
          `${peer} closed`);
      }
      else {
        out.dump(e.from === 'client' ? '<' : '>', e.client, e.data);
        out.event('data', { peer, direction: e.from === 'client' ? 'to-target' : 'to-client', size: e.data.length });
      }
    },
  });
  await runUntilSignal(server, out, { until: server.closed });
}
