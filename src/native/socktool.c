/*
 * socktool's native layer: what Node lacks for BSD sockets on Linux.
 *
 * Raw calls (socket, bind, connect, listen, options, names) are synchronous and throw a Node-style error
 * (`code`, `errno`, `syscall`). A handle wraps one non-blocking, close-on-exec fd in a uv_poll_t and runs
 * in one of three modes:
 *   DGRAM   recvmmsg batches -> one JS call per batch; sends made during that call are queued and leave in
 *           one sendmmsg after it (and after the microtasks it started) returns.
 *   CONN    one message (or stream chunk) per recvmsg, with SCM_RIGHTS descriptors; sendmsg with descriptors.
 *   LISTEN  accept4 on readiness.
 * Every call into JS goes through napi_make_callback; an exception becomes 'uncaughtException' and the
 * handle goes on. A send either completes now (0), is dropped by policy now (2), fails now (-errno), or is
 * queued (1); queued sends complete in order and are reported in batches (EV_SENT).
 *
 * Memory: what a handle allocates (its send queue, its peers' backlogs) is freed by close(); only the small
 * handle record waits for its JS object to be collected, because JS may still hold it. Receiving needs no
 * per-handle buffer: every handle of a thread receives into one shared area (see pool_t), which is sized to
 * the largest datagram a handle asked for and freed when the thread's last handle closes. Every allocation
 * is checked; a failure is ENOMEM to the caller, never a crash.
 */
#include "socktool.h"

static napi_value init(napi_env env, napi_value exports) {
  napi_property_descriptor props[] = {
    FN("socket", js_socket),       FN("bind", js_bind),           FN("connect", js_connect),
    FN("listen", js_listen),       FN("shutdown", js_shutdown),   FN("close", js_close),
    FN("dup", js_dup),             FN("getsockname", js_getsockname), FN("getpeername", js_getpeername),
    FN("getsockopt", js_getsockopt), FN("setsockopt", js_setsockopt), FN("inetSockaddr", js_inet_sockaddr),
    FN("ifname", js_ifname),       FN("open", js_open),           FN("read", js_read),
    FN("send", js_send),           FN("hclose", js_hclose),       FN("adopt", js_adopt),
    FN("cloexec", js_cloexec),     FN("loadStart", js_load_start), FN("loadPoll", js_load_poll),
    FN("loadStop", js_load_stop), FN("raiseNofile", js_raise_nofile), FN("backlog", js_backlog), FN("trimMemory", js_trim_memory),
    FN("exchangePaths", js_exchange_paths), FN("unixSocketAt", js_unix_socket_at),
  };
  if (napi_define_properties(env, exports, sizeof props / sizeof *props, props) != napi_ok) return NULL;
  /* The platform's numbers: the addon's own (MODE_*, EV_*, META_*) are read from here; the socket constants, which
   * JS also has in src/core/constants.ts (so that importing needs no addon), are held equal to these by a test. */
  static const struct { const char *name; int value; } consts[] = {
#define C(x) {#x, x}
    C(AF_UNIX), C(AF_INET), C(AF_INET6), C(SOCK_STREAM), C(SOCK_DGRAM), C(SOCK_SEQPACKET),
    C(SOL_SOCKET), C(IPPROTO_IP), C(IPPROTO_IPV6), C(IPPROTO_TCP), C(IPPROTO_UDP),
    C(SO_REUSEADDR), C(SO_REUSEPORT), C(SO_TYPE), C(SO_ERROR), C(SO_BROADCAST), C(SO_SNDBUF), C(SO_RCVBUF),
    C(SO_KEEPALIVE), C(SO_LINGER), C(SO_RCVLOWAT), C(SO_SNDLOWAT), C(SO_PEERCRED), C(SO_ACCEPTCONN),
    C(SO_DOMAIN), C(SO_PROTOCOL), C(SO_PASSCRED),
    C(TCP_NODELAY), C(TCP_KEEPIDLE), C(TCP_KEEPINTVL), C(TCP_KEEPCNT), C(TCP_MAXSEG), C(TCP_CORK),
    C(IP_TTL), C(IP_TOS), C(IP_MULTICAST_TTL), C(IP_MULTICAST_LOOP), C(IP_MULTICAST_IF),
    C(IP_ADD_MEMBERSHIP), C(IP_DROP_MEMBERSHIP),
    C(IPV6_V6ONLY), C(IPV6_UNICAST_HOPS), C(IPV6_MULTICAST_HOPS), C(IPV6_MULTICAST_LOOP), C(IPV6_MULTICAST_IF),
    C(IPV6_JOIN_GROUP), C(IPV6_LEAVE_GROUP),
    C(SHUT_RD), C(SHUT_WR), C(SHUT_RDWR), C(MODE_DGRAM), C(MODE_CONN), C(MODE_LISTEN),
    C(EV_DGRAM), C(EV_MSG), C(EV_ACCEPT), C(EV_SENT), C(EV_ERROR), C(EV_DROPPED), C(META_STRIDE), C(META_ADDR), C(META_CRED), C(META_CREDS),
    C(BATCH), C(MAX_PARTS), C(SENT), C(QUEUED), C(DROPPED),
#undef C
  };
  napi_value obj;
  if (napi_create_object(env, &obj) != napi_ok) return NULL;
  for (size_t i = 0; i < sizeof consts / sizeof *consts; i++) {
    if (napi_set_named_property(env, obj, consts[i].name, js_number(env, consts[i].value)) != napi_ok) return NULL;
  }
  if (napi_set_named_property(env, exports, "constants", obj) != napi_ok) return NULL;
  return exports;
}

NAPI_MODULE_INIT() { return init(env, exports); }
