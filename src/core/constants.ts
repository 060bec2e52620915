/**
 * Linux's socket constants, as its C headers define them for x86-64, arm64, arm, riscv and s390x (powerpc, mips
 * and sparc number a few SO_* options differently). They are here in TypeScript, not read from the addon,
 * because `socktool/bsd` exports them at import and a program that uses only TCP must import without the
 * addon. A test holds this table equal to the addon's values, which come from the headers it was built with;
 * socktool maps these numbers to option names itself, so they stay consistent tokens even where they differ.
 */
export const SOCKET_CONSTANTS: Readonly<Record<string, number>> = Object.freeze({
  AF_UNIX: 1, AF_INET: 2, AF_INET6: 10, SOCK_STREAM: 1, SOCK_DGRAM: 2, SOCK_SEQPACKET: 5, SOL_SOCKET: 1,
  IPPROTO_IP: 0, IPPROTO_IPV6: 41, IPPROTO_TCP: 6, IPPROTO_UDP: 17, SO_REUSEADDR: 2, SO_REUSEPORT: 15, SO_TYPE: 3,
  SO_ERROR: 4, SO_BROADCAST: 6, SO_SNDBUF: 7, SO_RCVBUF: 8, SO_KEEPALIVE: 9, SO_LINGER: 13, SO_RCVLOWAT: 18,
  SO_SNDLOWAT: 19, SO_PEERCRED: 17, SO_ACCEPTCONN: 30, SO_DOMAIN: 39, SO_PROTOCOL: 38, SO_PASSCRED: 16,
  TCP_NODELAY: 1, TCP_KEEPIDLE: 4, TCP_KEEPINTVL: 5, TCP_KEEPCNT: 6, TCP_MAXSEG: 2, TCP_CORK: 3, IP_TTL: 2,
  IP_TOS: 1, IP_MULTICAST_TTL: 33, IP_MULTICAST_LOOP: 34, IP_MULTICAST_IF: 32, IP_ADD_MEMBERSHIP: 35,
  IP_DROP_MEMBERSHIP: 36, IPV6_V6ONLY: 26, IPV6_UNICAST_HOPS: 16, IPV6_MULTICAST_HOPS: 18, IPV6_MULTICAST_LOOP: 19,
  IPV6_MULTICAST_IF: 17, IPV6_JOIN_GROUP: 20, IPV6_LEAVE_GROUP: 21, SHUT_RD: 0, SHUT_WR: 1, SHUT_RDWR: 2,
});
