import { relay, type Address } from '../index.js';
import { serverTlsOptions, tlsOptions, untilSignal, type CommonOptions } from './common.js';
import { addrText, type Output } from './output.js';
import { reporter, runUntilSignal } from './servers.js';

export interface RelayCommandOptions extends CommonOptions {
  targetTls?: boolean;
  targetCa?: string;
}

/** `relay`: the library's relay, with the CLI's events, dump and flags. */
export async function relayCommand(from: Address, to: Address, o: RelayCommandOptions, out: Output): Promise<void> {
  void untilSignal(); // handlers first: see untilSignal
  const server = await relay(from, to, {
    maxConns: o.maxClients,
    tls: serverTlsOptions(o),
    // The listening side's --ca verifies clients; the target is trusted through --target-ca.
    targetTls: tlsOptions({ ca: o.targetCa, insecure: o.insecure, servername: o.servername }, o.targetTls, '--target-ca'),
    idle: o.timeout,
    ...(o.timeout && { dialTimeout: o.timeout }),
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
  await runUntilSignal(server, out);
}
