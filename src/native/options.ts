import type { Address } from '../core/address.js';
import { rowOf, type Network, type OptionLevel } from '../core/networks.js';
import { closedError, NetError, wrap } from '../core/errors.js';
import type { OptionName, OptionValue, PeerCredentials, SocketControl } from '../core/types.js';
import { consts, native } from './index.js';

type ValueKind = 'int' | 'bool' | 'type' | 'group4' | 'group6';

/** Every option by name: its level, number and value kind. Numbers come from the platform's headers. */
const OPTIONS: Record<OptionName, [OptionLevel, string, ValueKind]> = {
  SO_RCVBUF: ['socket', 'SO_RCVBUF', 'int'],
  SO_SNDBUF: ['socket', 'SO_SNDBUF', 'int'],
  SO_REUSEADDR: ['socket', 'SO_REUSEADDR', 'bool'],
  SO_REUSEPORT: ['socket', 'SO_REUSEPORT', 'bool'],
  SO_KEEPALIVE: ['socket', 'SO_KEEPALIVE', 'bool'],
  SO_BROADCAST: ['socket', 'SO_BROADCAST', 'bool'],
  SO_TYPE: ['socket', 'SO_TYPE', 'type'],
  SO_ERROR: ['socket', 'SO_ERROR', 'int'],
  SO_RCVLOWAT: ['socket', 'SO_RCVLOWAT', 'int'],
  SO_PASSCRED: ['socket', 'SO_PASSCRED', 'bool'],
  TCP_NODELAY: ['tcp', 'TCP_NODELAY', 'bool'],
  TCP_KEEPIDLE: ['tcp', 'TCP_KEEPIDLE', 'int'],
  TCP_KEEPINTVL: ['tcp', 'TCP_KEEPINTVL', 'int'],
  TCP_KEEPCNT: ['tcp', 'TCP_KEEPCNT', 'int'],
  TCP_MAXSEG: ['tcp', 'TCP_MAXSEG', 'int'],
  IP_TTL: ['ip', 'IP_TTL', 'int'],
  IP_TOS: ['ip', 'IP_TOS', 'int'],
  IP_MULTICAST_TTL: ['ip', 'IP_MULTICAST_TTL', 'int'],
  IP_MULTICAST_LOOP: ['ip', 'IP_MULTICAST_LOOP', 'bool'],
  IP_ADD_MEMBERSHIP: ['ip', 'IP_ADD_MEMBERSHIP', 'group4'],
  IP_DROP_MEMBERSHIP: ['ip', 'IP_DROP_MEMBERSHIP', 'group4'],
  IPV6_V6ONLY: ['ipv6', 'IPV6_V6ONLY', 'bool'],
  IPV6_UNICAST_HOPS: ['ipv6', 'IPV6_UNICAST_HOPS', 'int'],
  IPV6_MULTICAST_HOPS: ['ipv6', 'IPV6_MULTICAST_HOPS', 'int'],
  IPV6_MULTICAST_LOOP: ['ipv6', 'IPV6_MULTICAST_LOOP', 'bool'],
  IPV6_JOIN_GROUP: ['ipv6', 'IPV6_JOIN_GROUP', 'group6'],
  IPV6_LEAVE_GROUP: ['ipv6', 'IPV6_LEAVE_GROUP', 'group6'],
};

/** The option names this platform's sockets take, for tables that map numbers to them (the BSD facade). */
export const OPTION_NAMES = Object.keys(OPTIONS) as OptionName[];

const LEVELS: Record<OptionLevel, string> = { socket: 'SOL_SOCKET', ip: 'IPPROTO_IP', ipv6: 'IPPROTO_IPV6', tcp: 'IPPROTO_TCP' };
const TYPE_NAMES = ['SOCK_STREAM', 'SOCK_DGRAM', 'SOCK_SEQPACKET'] as const;

/** The multicast request struct: ip_mreq (group, any interface) or ipv6_mreq (group, interface index). */
function groupRequest(kind: ValueKind, group: string): Buffer {
  const sa = native.inetSockaddr(group, 0, kind === 'group6');
  if (kind === 'group4') return Buffer.concat([sa.subarray(4, 8), Buffer.alloc(4)]);
  const req = Buffer.alloc(20);
  sa.copy(req, 0, 8, 24);
  req.writeUInt32LE(sa.readUInt32LE(24), 16);
  return req;
}

/** SO_PEERCRED: who is on the other end of a connected unix socket, as the kernel recorded at connect. */
export function peerCredentialsOf(fd: number): PeerCredentials {
  const b = native.getsockopt(fd, consts.SOL_SOCKET, consts.SO_PEERCRED, 12);
  return { pid: b.readInt32LE(0), uid: b.readUInt32LE(4), gid: b.readUInt32LE(8) };
}

/**
 * Options, fd and peer credentials for any socket whose fd can be had: Node's own (through their libuv handle)
 * and the addon's. Errors are NetErrors with op `option`.
 */
export class Control implements SocketControl {
  constructor(private network: Network, private fdOf: () => number, private addr: () => Address | undefined) {}

  get fd(): number {
    return this.fdOf();
  }

  private error(code: string, detail?: string, cause?: unknown): NetError {
    return new NetError({ op: 'option', network: this.network, addr: this.addr(), code, detail, cause });
  }

  private lookup(name: OptionName): [number, number, ValueKind, number] {
    const entry = OPTIONS[name];
    if (!entry) throw this.error('ENOPROTOOPT', `unknown option ${JSON.stringify(name)}`);
    const [level, opt, kind] = entry;
    if (!rowOf(this.network).levels.includes(level)) throw this.error('ENOPROTOOPT', `${name} does not apply to ${this.network} sockets`);
    const fd = this.fdOf();
    if (fd < 0) throw closedError('option', this.network, this.addr());
    try {
      return [consts[LEVELS[level]]!, consts[opt]!, kind, fd];
    } catch (err) {
      throw wrap('option', this.network, this.addr(), err); // no addon here
    }
  }

  async getOption(name: OptionName): Promise<OptionValue> {
    const [level, opt, kind, fd] = this.lookup(name);
    if (kind === 'group4' || kind === 'group6') throw this.error('EINVAL', `${name} can only be set`);
    let v: number;
    try {
      v = native.getsockopt(fd, level, opt, 0);
    } catch (err) {
      throw wrap('option', this.network, this.addr(), err);
    }
    if (kind === 'bool') return v !== 0;
    if (kind === 'type') return TYPE_NAMES.find((name) => consts[name] === v) ?? v;
    return v;
  }

  async setOption(name: OptionName, value: OptionValue): Promise<void> {
    const [level, opt, kind, fd] = this.lookup(name);
    let raw: number | Buffer;
    if (kind === 'group4' || kind === 'group6') {
      if (typeof value !== 'string') throw this.error('EINVAL', `${name} takes a group address`);
      try {
        raw = groupRequest(kind, value);
      } catch (err) {
        throw this.error('EINVAL', `bad group address ${JSON.stringify(value)}`, err);
      }
    } else if (kind === 'type') {
      throw this.error('ENOPROTOOPT', `${name} can only be read`);
    } else if (typeof value === 'boolean') {
      raw = value ? 1 : 0;
    } else if (typeof value === 'number' && Number.isInteger(value)) {
      raw = value;
    } else {
      throw this.error('EINVAL', `${name} takes ${kind === 'bool' ? 'a boolean' : 'an integer'}`);
    }
    try {
      native.setsockopt(fd, level, opt, raw);
    } catch (err) {
      throw wrap('option', this.network, this.addr(), err);
    }
  }

  /** SO_PEERCRED: who is on the other end of a unix connection, as the kernel recorded at connect. */
  async peerCredentials(): Promise<PeerCredentials> {
    if (!rowOf(this.network).credentials) {
      throw this.error('ENOPROTOOPT', `peer credentials exist on unix and unixpacket connections, not ${this.network}`);
    }
    const fd = this.fdOf();
    if (fd < 0) throw closedError('option', this.network, this.addr());
    try {
      return peerCredentialsOf(fd);
    } catch (err) {
      throw wrap('option', this.network, this.addr(), err);
    }
  }
}
