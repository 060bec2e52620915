/* socktool's addon, socket options, names and credentials on any descriptor. */
#include "socktool.h"

static napi_value name_of(napi_env env, napi_callback_info info, int peer) {
  ARGS(1);
  struct sockaddr_storage sa;
  socklen_t len = sizeof sa;
  int fd = int_arg(env, argv[0]);
  int r = peer ? getpeername(fd, (struct sockaddr *)&sa, &len) : getsockname(fd, (struct sockaddr *)&sa, &len);
  if (r < 0) return throw_errno(env, -errno, peer ? "getpeername" : "getsockname");
  return answer(env, &sa, len, peer ? "getpeername" : "getsockname");
}

napi_value js_getsockname(napi_env env, napi_callback_info info) { return name_of(env, info, 0); }
napi_value js_getpeername(napi_env env, napi_callback_info info) { return name_of(env, info, 1); }

/* getsockopt(fd, level, name, size): size 0 reads an int and returns a number, else the raw bytes. */
napi_value js_getsockopt(napi_env env, napi_callback_info info) {
  ARGS(4);
  int fd = int_arg(env, argv[0]), size = int_arg(env, argv[3]);
  char buf[256];
  int ival = 0;
  socklen_t len = size > 0 ? (socklen_t)(size < (int)sizeof buf ? size : (int)sizeof buf) : sizeof ival;
  void *p = size > 0 ? (void *)buf : (void *)&ival;
  if (getsockopt(fd, int_arg(env, argv[1]), int_arg(env, argv[2]), p, &len) < 0) {
    return throw_errno(env, -errno, "getsockopt");
  }
  return size > 0 ? answer(env, buf, len, "getsockopt") : js_number(env, ival);
}

/* setsockopt(fd, level, name, value): a number is set as an int, bytes as they are. */
napi_value js_setsockopt(napi_env env, napi_callback_info info) {
  ARGS(4);
  int fd = int_arg(env, argv[0]);
  char *p;
  size_t n;
  int ival;
  if (!bytes_arg(env, argv[3], &p, &n)) {
    ival = int_arg(env, argv[3]);
    p = (char *)&ival;
    n = sizeof ival;
  }
  if (setsockopt(fd, int_arg(env, argv[1]), int_arg(env, argv[2]), p, (socklen_t)n) < 0) {
    return throw_errno(env, -errno, "setsockopt");
  }
  return undef(env);
}

/* inetSockaddr(host, port, v6): the sockaddr for an IP literal (IPv6 with an optional %zone); an IPv4
 * literal on an IPv6 socket becomes its v4-mapped form. */
napi_value js_inet_sockaddr(napi_env env, napi_callback_info info) {
  ARGS(3);
  char host[INET6_ADDRSTRLEN + IF_NAMESIZE + 2];
  size_t hl;
  if (napi_get_value_string_utf8(env, argv[0], host, sizeof host, &hl) != napi_ok || hl >= sizeof host - 1) {
    return throw_errno(env, -EINVAL, "inet_pton");
  }
  int port = int_arg(env, argv[1]);
  bool v6 = false;
  napi_get_value_bool(env, argv[2], &v6);
  struct in_addr a4;
  if (inet_pton(AF_INET, host, &a4) == 1) {
    if (!v6) {
      struct sockaddr_in sa = {.sin_family = AF_INET, .sin_port = htons(port), .sin_addr = a4};
      return answer(env, &sa, sizeof sa, "inet_pton");
    }
    struct sockaddr_in6 sa = {.sin6_family = AF_INET6, .sin6_port = htons(port)};
    sa.sin6_addr.s6_addr[10] = sa.sin6_addr.s6_addr[11] = 0xff;
    memcpy(&sa.sin6_addr.s6_addr[12], &a4, 4);
    return answer(env, &sa, sizeof sa, "inet_pton");
  }
  struct sockaddr_in6 sa = {.sin6_family = AF_INET6, .sin6_port = htons(port)};
  char *zone = strchr(host, '%');
  if (zone) {
    *zone++ = 0;
    sa.sin6_scope_id = if_nametoindex(zone);
    if (sa.sin6_scope_id == 0) sa.sin6_scope_id = (uint32_t)strtoul(zone, NULL, 10);
    if (sa.sin6_scope_id == 0) return throw_errno(env, -ENXIO, "if_nametoindex");
  }
  if (inet_pton(AF_INET6, host, &sa.sin6_addr) != 1) return throw_errno(env, -EINVAL, "inet_pton");
  return answer(env, &sa, sizeof sa, "inet_pton");
}

/* ifname(index): the interface name for an IPv6 zone, or the number as text. */
napi_value js_ifname(napi_env env, napi_callback_info info) {
  ARGS(1);
  char name[IF_NAMESIZE + 1];
  napi_value v;
  if (!if_indextoname((unsigned)int_arg(env, argv[0]), name)) snprintf(name, sizeof name, "%d", int_arg(env, argv[0]));
  napi_create_string_utf8(env, name, NAPI_AUTO_LENGTH, &v);
  return v;
}
