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
#define _GNU_SOURCE
#include <node_api.h>
#include <uv.h>

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <net/if.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <netinet/udp.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <malloc.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

enum { MODE_DGRAM = 1, MODE_CONN = 2, MODE_LISTEN = 3 };
enum { EV_DGRAM = 1, EV_MSG = 2, EV_ACCEPT = 3, EV_SENT = 4, EV_ERROR = 5, EV_DROPPED = 6 };
enum { SENT = 0, QUEUED = 1, DROPPED = 2 }; /* what send() did, when it did not fail */

#define BATCH 64          /* datagrams per recvmmsg/sendmmsg */
#define TURNS 4           /* batches per wake-up before the loop gets a turn */
#define MAX_FDS 253       /* SCM_MAX_FD */
#define MAX_PARTS 8       /* buffers one send may gather (a frame's header, envelope and payload) */
#define QUEUE_MAX 4096    /* queued sends per handle before -ENOBUFS */
/* Per datagram: u32 len, u32 full length, u16 addrlen, u16 flags, pad; the sender's credentials (i32 pid, u32 uid,
 * u32 gid; flag 4) at META_CRED; its sockaddr at META_ADDR. */
#define META_STRIDE 144
#define META_CRED 16
#define META_ADDR 32
enum { META_TRUNC = 1, META_CTRUNC = 2, META_CREDS = 4 };
/* Room for the most descriptors one message may carry, and the sender's credentials (SO_PASSCRED). */
#define CTL_SPACE (CMSG_SPACE(MAX_FDS * sizeof(int)) + CMSG_SPACE(sizeof(struct ucred)))
#define GSO_MAX_BYTES 65000 /* one GSO message stays within one IP datagram's 64 KiB */
/* Unconnected unixgram: poll cannot tell whether a receiver has room, so datagrams to a full one wait in a
 * backlog per peer, retried on a timer, and nothing owed to a live peer is dropped for its being slow. Backlogs
 * are bounded in bytes (backlog(h, peer, total, silence) sets the bounds; the defaults are the JS budget's):
 * - a peer over its own share has its further input dropped and counted: it sends without taking its replies
 *   (it broke flow control), and the others go on;
 * - past the total (many peers slow at once), reading stops until backlogs drain: the senders wait, as they
 *   would on a blocking server;
 * - past twice either bound (a program that sends without reading at all, which no input gate holds back),
 *   sends wait.
 * A peer is gone when the kernel says so (ECONNREFUSED, ENOENT), or after `silence` ms of a backlog it takes
 * nothing from: then what it was owed is dropped and counted, and so is what it cannot take after that, until it
 * takes something again. */
#define PEER_BACKLOG_BYTES (16u << 20)
#define BACKLOG_BYTES (64u << 20)
#define SILENCE_MS 30000
#define RETRY_MAX_MS 16
#define MAX_PEERS 1024    /* backlogged or stuck peers remembered per handle */

typedef struct {
  char *data;
  size_t len, off;
  struct sockaddr_storage to;
  socklen_t tolen; /* 0: the connected peer */
  int *fds;
  int nfds;
} out_t;

/* The bytes of one send: one buffer, or several gathered into one sendmsg. */
typedef struct {
  struct iovec v[MAX_PARTS];
  int n;
  size_t len;
} parts_t;

typedef struct {
  struct sockaddr_storage to;
  socklen_t tolen;
  out_t *items; /* grown as needed */
  size_t head, len, cap;
  size_t bytes; /* held in its backlog: the datagrams and their records */
  uint64_t progress; /* loop time (ms) it last took a datagram, or was first held */
  int stuck;
} peer_t;

/* The receive area every handle of a thread shares: a handle copies what it received into JS buffers before
 * it calls JS, and no other handle runs meanwhile, so one area serves them all. */
typedef struct {
  size_t slot;    /* bytes per datagram */
  size_t users;   /* open handles */
  char *buf;      /* BATCH * slot */
  char *ctl;      /* BATCH * CTL_SPACE */
  struct mmsghdr msg[BATCH];
  struct iovec iov[BATCH];
  struct sockaddr_storage name[BATCH];
} pool_t;

typedef struct {
  napi_env env;
  pool_t *pool;
  int fd, mode, family;
  uv_poll_t poll;
  uv_timer_t timer;
  int poll_events, reading, blocked, stalled, closed, dispatching, handles_open, js_alive, no_gso;
  napi_ref cb;
  napi_async_context actx;
  size_t slot;
  struct sockaddr_storage last;
  socklen_t lastlen;
  out_t *q;
  size_t qhead, qlen, qcap;
  int32_t *res; /* results of queued sends not yet reported; as long as q, so adding one never allocates */
  size_t nres;
  int res_failed;
  peer_t *peers;
  size_t npeers, peercap, backlogged; /* backlogged: datagrams held in all backlogs */
  size_t backlog_bytes;                /* bytes held in all backlogs */
  size_t peer_max, total_max;          /* the bounds on them (see PEER_BACKLOG_BYTES) */
  uint64_t silence_ms;
  unsigned retry_ms;
  uint32_t dropped; /* not yet reported */
} sock_t;

/* ---------- errors ---------- */

/* Throws a Node-style system error for `err` (a negative errno, libuv's convention). */
static napi_value throw_errno(napi_env env, int err, const char *syscall) {
  napi_value msg, code, e, num, sc;
  char text[256];
  snprintf(text, sizeof text, "%s %s", syscall, uv_err_name(err));
  napi_create_string_utf8(env, text, NAPI_AUTO_LENGTH, &msg);
  napi_create_string_utf8(env, uv_err_name(err), NAPI_AUTO_LENGTH, &code);
  napi_create_error(env, code, msg, &e);
  napi_create_int32(env, err, &num);
  napi_set_named_property(env, e, "errno", num);
  napi_create_string_utf8(env, syscall, NAPI_AUTO_LENGTH, &sc);
  napi_set_named_property(env, e, "syscall", sc);
  napi_throw(env, e);
  return NULL;
}

static napi_value throw_type(napi_env env, const char *what) {
  napi_throw_type_error(env, NULL, what);
  return NULL;
}

/* ---------- argument helpers ---------- */

/* The call's first n arguments; missing ones read as undefined (N-API fills them so). */
#define ARGS(n)                                                              \
  size_t argc = n;                                                           \
  napi_value argv[n];                                                        \
  if (napi_get_cb_info(env, info, &argc, argv, NULL, NULL) != napi_ok) return NULL

static int int_arg(napi_env env, napi_value v) {
  int32_t x = -1;
  napi_get_value_int32(env, v, &x);
  return x;
}

static int bytes_arg(napi_env env, napi_value v, char **data, size_t *len) {
  bool is = false;
  if (napi_is_typedarray(env, v, &is) != napi_ok || !is) return 0;
  napi_typedarray_type t;
  void *p;
  napi_value ab;
  size_t off;
  if (napi_get_typedarray_info(env, v, &t, len, &p, &ab, &off) != napi_ok || t != napi_uint8_array) return 0;
  *data = p;
  return 1;
}

/* A send's bytes: a Uint8Array, or an array of up to MAX_PARTS of them; false if neither. */
static int parts_arg(napi_env env, napi_value v, parts_t *parts) {
  bool is_array = false;
  napi_is_array(env, v, &is_array);
  uint32_t n = 1;
  if (is_array && (napi_get_array_length(env, v, &n) != napi_ok || n == 0 || n > MAX_PARTS)) return 0;
  parts->len = 0;
  parts->n = (int)n;
  for (uint32_t i = 0; i < n; i++) {
    napi_value part = v;
    if (is_array && napi_get_element(env, v, i, &part) != napi_ok) return 0;
    char *data;
    size_t len;
    if (!bytes_arg(env, part, &data, &len)) return 0;
    parts->v[i] = (struct iovec){.iov_base = data, .iov_len = len};
    parts->len += len;
  }
  return 1;
}

/* A sockaddr given as raw bytes (built by the JS side); false if absent or not bytes. */
static int sockaddr_arg(napi_env env, napi_value v, struct sockaddr_storage *sa, socklen_t *len) {
  char *p;
  size_t n;
  if (!bytes_arg(env, v, &p, &n) || n > sizeof *sa || n < sizeof(sa_family_t)) return 0;
  memset(sa, 0, sizeof *sa);
  memcpy(sa, p, n);
  *len = (socklen_t)n;
  return 1;
}

static napi_value num(napi_env env, double x) {
  napi_value v;
  napi_create_double(env, x, &v);
  return v;
}

static napi_value undef(napi_env env) {
  napi_value v;
  napi_get_undefined(env, &v);
  return v;
}

/* A Buffer holding a copy of p[0..n); NULL when it cannot be made. */
static napi_value copy_buffer(napi_env env, const void *p, size_t n) {
  napi_value v;
  void *dst;
  return napi_create_buffer_copy(env, n, p, &dst, &v) == napi_ok ? v : NULL;
}

/* A raw call's answer as a Buffer, or ENOMEM thrown for `syscall`. */
static napi_value answer(napi_env env, const void *p, size_t n, const char *syscall) {
  napi_value v = copy_buffer(env, p, n);
  return v ? v : throw_errno(env, -ENOMEM, syscall);
}

/* ---------- raw calls ---------- */

static napi_value js_socket(napi_env env, napi_callback_info info) {
  ARGS(2);
  int fd = socket(int_arg(env, argv[0]), int_arg(env, argv[1]) | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
  if (fd < 0) return throw_errno(env, -errno, "socket");
  return num(env, fd);
}

static napi_value js_bind(napi_env env, napi_callback_info info) {
  ARGS(2);
  struct sockaddr_storage sa;
  socklen_t len;
  if (!sockaddr_arg(env, argv[1], &sa, &len)) return throw_type(env, "bind: sockaddr bytes expected");
  if (bind(int_arg(env, argv[0]), (struct sockaddr *)&sa, len) < 0) return throw_errno(env, -errno, "bind");
  return undef(env);
}

/* Non-blocking connect: throws EINPROGRESS (inet) or EAGAIN (a unix listener's full backlog) for the caller. */
static napi_value js_connect(napi_env env, napi_callback_info info) {
  ARGS(2);
  struct sockaddr_storage sa;
  socklen_t len;
  if (!sockaddr_arg(env, argv[1], &sa, &len)) return throw_type(env, "connect: sockaddr bytes expected");
  int r;
  do r = connect(int_arg(env, argv[0]), (struct sockaddr *)&sa, len);
  while (r < 0 && errno == EINTR);
  if (r < 0) return throw_errno(env, -errno, "connect");
  return undef(env);
}

static napi_value js_listen(napi_env env, napi_callback_info info) {
  ARGS(2);
  if (listen(int_arg(env, argv[0]), int_arg(env, argv[1])) < 0) return throw_errno(env, -errno, "listen");
  return undef(env);
}

static napi_value js_shutdown(napi_env env, napi_callback_info info) {
  ARGS(2);
  if (shutdown(int_arg(env, argv[0]), int_arg(env, argv[1])) < 0) return throw_errno(env, -errno, "shutdown");
  return undef(env);
}

static napi_value js_close(napi_env env, napi_callback_info info) {
  ARGS(1);
  if (close(int_arg(env, argv[0])) < 0 && errno != EINTR) return throw_errno(env, -errno, "close");
  return undef(env);
}

static napi_value js_dup(napi_env env, napi_callback_info info) {
  ARGS(1);
  int fd = fcntl(int_arg(env, argv[0]), F_DUPFD_CLOEXEC, 0);
  if (fd < 0) return throw_errno(env, -errno, "dup");
  return num(env, fd);
}

/* raiseNofile(): raises the soft descriptor limit to the hard one (as Go does at start since 1.19: select() is
 * not used here, so the old soft default of 1024 protects nothing) and returns the soft limit now. */
static napi_value js_raise_nofile(napi_env env, napi_callback_info info) {
  (void)info;
  struct rlimit rl;
  if (getrlimit(RLIMIT_NOFILE, &rl) < 0) return throw_errno(env, -errno, "getrlimit");
  if (rl.rlim_cur < rl.rlim_max) {
    struct rlimit raised = {.rlim_cur = rl.rlim_max, .rlim_max = rl.rlim_max};
    if (setrlimit(RLIMIT_NOFILE, &raised) == 0) rl.rlim_cur = rl.rlim_max;
  }
  return num(env, rl.rlim_cur == RLIM_INFINITY ? 1e9 : (double)rl.rlim_cur);
}

/* trimMemory(): gives the pages malloc holds free back to the system (glibc keeps freed heap pages resident; a
 * server that held much for peers that have gone calls this so that its memory comes back). */
static napi_value js_trim_memory(napi_env env, napi_callback_info info) {
  (void)info;
#ifdef __GLIBC__
  malloc_trim(0);
#endif
  return undef(env);
}

/* adopt(fd): takes over an inherited socket (socket activation, inetd): close-on-exec, so that programs this
 * process runs do not inherit it, and non-blocking, as the handles expect. ENOTSOCK when it is not a socket. */
static napi_value js_adopt(napi_env env, napi_callback_info info) {
  ARGS(1);
  int fd = int_arg(env, argv[0]), type;
  socklen_t len = sizeof type;
  if (getsockopt(fd, SOL_SOCKET, SO_TYPE, &type, &len) < 0) return throw_errno(env, -errno, "getsockopt");
  int flags = fcntl(fd, F_GETFL);
  if (fcntl(fd, F_SETFD, FD_CLOEXEC) < 0 || flags < 0 || fcntl(fd, F_SETFL, flags | O_NONBLOCK) < 0) {
    return throw_errno(env, -errno, "fcntl");
  }
  return undef(env);
}

/* cloexec(fd): marks a descriptor close-on-exec (the rest of what a service manager passed, taken or not). */
static napi_value js_cloexec(napi_env env, napi_callback_info info) {
  ARGS(1);
  if (fcntl(int_arg(env, argv[0]), F_SETFD, FD_CLOEXEC) < 0) return throw_errno(env, -errno, "fcntl");
  return undef(env);
}

static napi_value name_of(napi_env env, napi_callback_info info, int peer) {
  ARGS(1);
  struct sockaddr_storage sa;
  socklen_t len = sizeof sa;
  int fd = int_arg(env, argv[0]);
  int r = peer ? getpeername(fd, (struct sockaddr *)&sa, &len) : getsockname(fd, (struct sockaddr *)&sa, &len);
  if (r < 0) return throw_errno(env, -errno, peer ? "getpeername" : "getsockname");
  return answer(env, &sa, len, peer ? "getpeername" : "getsockname");
}

static napi_value js_getsockname(napi_env env, napi_callback_info info) { return name_of(env, info, 0); }
static napi_value js_getpeername(napi_env env, napi_callback_info info) { return name_of(env, info, 1); }

/* getsockopt(fd, level, name, size): size 0 reads an int and returns a number, else the raw bytes. */
static napi_value js_getsockopt(napi_env env, napi_callback_info info) {
  ARGS(4);
  int fd = int_arg(env, argv[0]), size = int_arg(env, argv[3]);
  char buf[256];
  int ival = 0;
  socklen_t len = size > 0 ? (socklen_t)(size < (int)sizeof buf ? size : (int)sizeof buf) : sizeof ival;
  void *p = size > 0 ? (void *)buf : (void *)&ival;
  if (getsockopt(fd, int_arg(env, argv[1]), int_arg(env, argv[2]), p, &len) < 0) {
    return throw_errno(env, -errno, "getsockopt");
  }
  return size > 0 ? answer(env, buf, len, "getsockopt") : num(env, ival);
}

/* setsockopt(fd, level, name, value): a number is set as an int, bytes as they are. */
static napi_value js_setsockopt(napi_env env, napi_callback_info info) {
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
static napi_value js_inet_sockaddr(napi_env env, napi_callback_info info) {
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
static napi_value js_ifname(napi_env env, napi_callback_info info) {
  ARGS(1);
  char name[IF_NAMESIZE + 1];
  napi_value v;
  if (!if_indextoname((unsigned)int_arg(env, argv[0]), name)) snprintf(name, sizeof name, "%d", int_arg(env, argv[0]));
  napi_create_string_utf8(env, name, NAPI_AUTO_LENGTH, &v);
  return v;
}

/* ---------- handles ---------- */
static void on_poll(uv_poll_t *p, int status, int events);
static void on_timer(uv_timer_t *t);

/* ---------- the shared receive area ---------- */

typedef struct {
  pool_t pool;
  int orphaned; /* the env went away while handles still held it: the last release frees it */
} pool_box_t;

static void pool_free_buffers(pool_t *p) {
  free(p->buf);
  free(p->ctl);
  p->buf = p->ctl = NULL;
  p->slot = 0;
}

static void pool_finalize(napi_env env, void *data, void *hint) {
  pool_box_t *b = data;
  if (b->pool.users > 0) {
    b->orphaned = 1;
    return;
  }
  pool_free_buffers(&b->pool);
  free(b);
}

/* This thread's receive area, grown to hold BATCH datagrams of `slot` bytes (and descriptors, if `ctl`), for one
 * more handle. 0 or -ENOMEM (then nothing changed). */
static int pool_acquire(napi_env env, size_t slot, int ctl, pool_t **out) {
  pool_box_t *b = NULL;
  if (napi_get_instance_data(env, (void **)&b) != napi_ok) return -ENOMEM;
  if (!b) {
    b = calloc(1, sizeof *b);
    if (!b) return -ENOMEM;
    if (napi_set_instance_data(env, b, pool_finalize, NULL) != napi_ok) {
      free(b);
      return -ENOMEM;
    }
  }
  pool_t *p = &b->pool;
  if (slot > p->slot) {
    /* Only the pages a datagram touches become resident, so a generous slot costs address space, not memory. */
    char *buf = malloc(BATCH * slot);
    if (!buf) return -ENOMEM;
    free(p->buf);
    p->buf = buf;
    p->slot = slot;
  }
  if (ctl && !p->ctl) {
    p->ctl = malloc(BATCH * CTL_SPACE);
    if (!p->ctl) return -ENOMEM;
  }
  p->users++;
  *out = p;
  return 0;
}

/* One handle less: the last one gives the area back. */
static void pool_release(pool_t *p) {
  if (--p->users > 0) return;
  pool_free_buffers(p);
  pool_box_t *b = (pool_box_t *)p;
  if (b->orphaned) free(b);
}

/* ---------- handles ---------- */

static void emit(sock_t *s, size_t argc, napi_value *argv) {
  napi_env env = s->env;
  napi_value fn, recv, result;
  if (s->closed || napi_get_reference_value(env, s->cb, &fn) != napi_ok || fn == NULL) return;
  if (napi_get_global(env, &recv) != napi_ok) return; /* napi_make_callback needs an object as `this` */
  if (napi_make_callback(env, s->actx, recv, fn, argc, argv, &result) == napi_pending_exception) {
    napi_value err;
    napi_get_and_clear_last_exception(env, &err);
    napi_fatal_exception(env, err);
  }
}

static void emit_error(sock_t *s, int err) {
  napi_value argv[2] = {num(s->env, EV_ERROR), num(s->env, err)};
  emit(s, 2, argv);
}

static void update_poll(sock_t *s) {
  if (s->closed) return;
  int ev = (s->reading && !s->stalled ? UV_READABLE : 0) | (s->blocked ? UV_WRITABLE : 0);
  if (ev == s->poll_events) return;
  if (ev) uv_poll_start(&s->poll, ev, on_poll);
  else uv_poll_stop(&s->poll);
  s->poll_events = ev;
}

static void set_reading(sock_t *s, int on) {
  s->reading = on;
  update_poll(s);
}

static void free_out(out_t *o) {
  free(o->data);
  for (int i = 0; i < o->nfds; i++) close(o->fds[i]);
  free(o->fds);
  o->data = NULL;
  o->fds = NULL;
  o->nfds = 0;
}

/* A send copied into `o` (its parts joined), with our own duplicates of its descriptors (the caller may close
 * theirs as soon as send() returns); `off` bytes of it have been sent. 0 or -errno, and then `o` holds nothing. */
static int out_init(out_t *o, const parts_t *parts, size_t off, const struct sockaddr_storage *to,
                    socklen_t tolen, const int *fds, int nfds) {
  memset(o, 0, sizeof *o);
  o->data = malloc(parts->len ? parts->len : 1);
  if (!o->data) return -ENOMEM;
  size_t at = 0;
  for (int i = 0; i < parts->n; i++) {
    if (parts->v[i].iov_len == 0) continue; /* an empty typed array may have no data pointer */
    memcpy(o->data + at, parts->v[i].iov_base, parts->v[i].iov_len);
    at += parts->v[i].iov_len;
  }
  o->len = parts->len;
  o->off = off;
  if (tolen) memcpy(&o->to, to, tolen);
  o->tolen = tolen;
  if (nfds > 0) {
    o->fds = malloc(nfds * sizeof(int));
    if (!o->fds) {
      free_out(o);
      return -ENOMEM;
    }
    for (int i = 0; i < nfds; i++) {
      o->fds[i] = fcntl(fds[i], F_DUPFD_CLOEXEC, 0);
      if (o->fds[i] < 0) {
        int err = errno;
        o->nfds = i;
        free_out(o);
        return -err;
      }
    }
    o->nfds = nfds;
  }
  return 0;
}

/* Room for one more queued send, and for its result: queued sends plus unreported results never exceed qcap,
 * so recording a result never allocates (even when a report could not be made and results wait). 0 or -errno. */
static int queue_room(sock_t *s) {
  if (s->qlen >= QUEUE_MAX) return -ENOBUFS;
  if (s->qhead + s->qlen == s->qcap && s->qhead > 0) {
    memmove(s->q, s->q + s->qhead, s->qlen * sizeof *s->q);
    s->qhead = 0;
  }
  if (s->qhead + s->qlen < s->qcap && s->qlen + s->nres < s->qcap) return 0;
  size_t cap = s->qcap ? s->qcap * 2 : 64;
  out_t *q = realloc(s->q, cap * sizeof *q);
  if (!q) return -ENOMEM;
  s->q = q;
  int32_t *res = realloc(s->res, cap * sizeof *res);
  if (!res) return -ENOMEM;
  s->res = res;
  s->qcap = cap;
  return 0;
}

static int enqueue(sock_t *s, const parts_t *parts, size_t off, const struct sockaddr_storage *to,
                   socklen_t tolen, const int *fds, int nfds) {
  int r = queue_room(s);
  if (r == 0) r = out_init(&s->q[s->qhead + s->qlen], parts, off, to, tolen, fds, nfds);
  if (r < 0) return r;
  s->qlen++;
  return QUEUED;
}

/* The head of the queue is done: sent or held (0), or failed (-errno). `moved`: a backlog owns its memory now. */
static void pop(sock_t *s, int code, int moved) {
  if (!moved) free_out(&s->q[s->qhead]);
  s->qhead++;
  s->qlen--;
  if (s->qlen == 0) s->qhead = 0;
  s->res[s->nres++] = code;
  if (code) s->res_failed = 1;
}

/* Reports the completed queued sends to JS, in order: (EV_SENT, count, Int32 codes or undefined if all ok). */
static void report_sent(sock_t *s) {
  if (s->nres == 0 || s->closed) return;
  napi_env env = s->env;
  napi_value argv[3];
  argv[0] = num(env, EV_SENT);
  argv[1] = num(env, (double)s->nres);
  argv[2] = s->res_failed ? copy_buffer(env, s->res, s->nres * sizeof *s->res) : undef(env);
  if (!argv[2]) return; /* no memory for the codes now: they are reported with the next ones */
  s->nres = 0;
  s->res_failed = 0;
  emit(s, 3, argv);
}

/* Reports the datagrams dropped by policy since the last report: (EV_DROPPED, count). */
static void report_dropped(sock_t *s) {
  if (s->dropped == 0 || s->closed) return;
  napi_value argv[2] = {num(s->env, EV_DROPPED), num(s->env, s->dropped)};
  s->dropped = 0;
  emit(s, 2, argv);
}

/* ---------- per-peer backlogs (unconnected unixgram) ---------- */

static uint64_t now_ms(sock_t *s) {
  return uv_now(uv_handle_get_loop((uv_handle_t *)&s->timer));
}

static peer_t *peer_find(sock_t *s, const struct sockaddr_storage *to, socklen_t tolen) {
  for (size_t i = 0; i < s->npeers; i++) {
    if (s->peers[i].tolen == tolen && memcmp(&s->peers[i].to, to, tolen) == 0) return &s->peers[i];
  }
  return NULL;
}

/* The peer whose backlog or stuck state a send to `o->to` must respect, if any. */
static peer_t *peer_of(sock_t *s, const out_t *o) {
  return s->npeers > 0 && o->tolen > 0 ? peer_find(s, &o->to, o->tolen) : NULL;
}

/* What a held datagram costs its peer's share: its bytes and its record. */
static size_t held_size(const out_t *o) { return o->len + sizeof *o; }

static void backlog_account(sock_t *s, peer_t *p, size_t add, size_t sub) {
  p->bytes = p->bytes + add - sub;
  s->backlog_bytes = s->backlog_bytes + add - sub;
}

static void backlog_clear(sock_t *s, peer_t *p) {
  for (size_t i = 0; i < p->len; i++) free_out(&p->items[p->head + i]);
  backlog_account(s, p, 0, p->bytes);
  s->backlogged -= p->len;
  free(p->items);
  p->items = NULL;
  p->head = p->len = p->cap = 0;
}

/* Forgets `p` (moving the last entry into its place). */
static void peer_remove(sock_t *s, peer_t *p) {
  backlog_clear(s, p);
  *p = s->peers[--s->npeers];
  if (s->npeers == 0) {
    free(s->peers);
    s->peers = NULL;
    s->peercap = 0;
  }
}

/* A new entry for `to`; when MAX_PEERS are remembered, the stuck one heard from longest ago makes room.
 * NULL when there is none to spare, or no memory. Pointers into the table are stale after this. */
static peer_t *peer_add(sock_t *s, const struct sockaddr_storage *to, socklen_t tolen) {
  if (s->npeers == s->peercap) {
    if (s->peercap >= MAX_PEERS) {
      peer_t *oldest = NULL;
      for (size_t i = 0; i < s->npeers; i++) {
        if (s->peers[i].stuck && (!oldest || s->peers[i].progress < oldest->progress)) oldest = &s->peers[i];
      }
      if (!oldest) return NULL;
      peer_remove(s, oldest);
    } else {
      size_t cap = s->peercap ? s->peercap * 2 : 8;
      peer_t *peers = realloc(s->peers, cap * sizeof *peers);
      if (!peers) return NULL;
      s->peers = peers;
      s->peercap = cap;
    }
  }
  peer_t *p = &s->peers[s->npeers++];
  memset(p, 0, sizeof *p);
  memcpy(&p->to, to, tolen);
  p->tolen = tolen;
  p->progress = now_ms(s);
  return p;
}

/* Appends `o` to p's backlog, which owns its memory from then on. 0 or -ENOMEM. */
static int backlog_push(sock_t *s, peer_t *p, const out_t *o) {
  if (p->head > 0 && p->head + p->len == p->cap) {
    memmove(p->items, p->items + p->head, p->len * sizeof *p->items);
    p->head = 0;
  }
  if (p->len == p->cap) {
    size_t cap = p->cap ? p->cap * 2 : 8;
    out_t *items = realloc(p->items, cap * sizeof *items);
    if (!items) return -ENOMEM;
    p->items = items;
    p->cap = cap;
  }
  p->items[p->head + p->len++] = *o;
  s->backlogged++;
  backlog_account(s, p, held_size(o), 0);
  return 0;
}

/* Past twice the bounds, sends wait instead of joining a backlog (see PEER_BACKLOG_BYTES). */
static int backlog_full(sock_t *s, const peer_t *p) {
  return p->bytes >= 2 * s->peer_max || s->backlog_bytes >= 2 * s->total_max;
}

/* Whether input from `p` is taken: its backlog is within its share. */
static int peer_accepts(const sock_t *s, const peer_t *p) { return p->bytes < s->peer_max; }

/* Reading is held past the total, or while sends wait (see backlog_full): the senders wait, as on a blocking server. */
static void update_stall(sock_t *s) {
  int stalled = s->backlog_bytes >= s->total_max;
  for (size_t i = 0; i < s->npeers && !stalled; i++) stalled = s->peers[i].bytes >= 2 * s->peer_max;
  s->stalled = stalled;
}

static void start_retry(sock_t *s) {
  if (uv_is_active((uv_handle_t *)&s->timer)) return;
  s->retry_ms = 1;
  uv_timer_start(&s->timer, on_timer, s->retry_ms, 0);
}

/* An unconnected unixgram send found its receiver's queue full. */
static int receiver_full(const sock_t *s, const out_t *o, int err) {
  return (err == EAGAIN || err == EWOULDBLOCK) && s->mode == MODE_DGRAM && s->family == AF_UNIX && o->tolen > 0;
}

/* Holds `o` (a copy, or the queue head moved) for its peer `p` (NULL: make the entry). Returns SENT when held,
 * DROPPED when the peer is stuck, QUEUED when the backlog is full (the caller waits), or -errno. */
static int hold(sock_t *s, peer_t *p, const out_t *o) {
  if (!p) p = peer_add(s, &o->to, o->tolen);
  if (!p) return s->npeers >= MAX_PEERS ? -ENOBUFS : -ENOMEM;
  if (p->stuck) return DROPPED;
  if (backlog_full(s, p)) return QUEUED;
  if (backlog_push(s, p, o) < 0) return -ENOMEM;
  start_retry(s);
  return SENT;
}

/* The queue head's receiver is full: it joins its peer's backlog. 0 when dealt with, -1 when it must wait. */
static int hold_head(sock_t *s, peer_t *p) {
  int r = hold(s, p, &s->q[s->qhead]);
  if (r == QUEUED) return -1;
  if (r == DROPPED) s->dropped++;
  pop(s, r == DROPPED ? 0 : r, r == SENT);
  return 0;
}

/* ---------- sending ---------- */

/* One sendmsg of `iov` to `o`'s destination, with `o`'s descriptors. */
static ssize_t send_iov(sock_t *s, struct iovec *iov, int niov, const out_t *o) {
  struct msghdr mh = {.msg_iov = iov, .msg_iovlen = (size_t)niov};
  if (o->tolen) {
    mh.msg_name = (void *)&o->to; /* sendmsg does not write it */
    mh.msg_namelen = o->tolen;
  }
  char cbuf[CMSG_SPACE(MAX_FDS * sizeof(int))];
  if (o->nfds > 0) {
    mh.msg_control = cbuf;
    mh.msg_controllen = CMSG_SPACE(o->nfds * sizeof(int));
    memset(cbuf, 0, mh.msg_controllen);
    struct cmsghdr *c = CMSG_FIRSTHDR(&mh);
    c->cmsg_level = SOL_SOCKET;
    c->cmsg_type = SCM_RIGHTS;
    c->cmsg_len = CMSG_LEN(o->nfds * sizeof(int));
    memcpy(CMSG_DATA(c), o->fds, o->nfds * sizeof(int));
  }
  ssize_t n;
  do n = sendmsg(s->fd, &mh, MSG_DONTWAIT | MSG_NOSIGNAL);
  while (n < 0 && errno == EINTR);
  return n;
}

static ssize_t send_one(sock_t *s, out_t *o) {
  struct iovec iov = {.iov_base = o->data + o->off, .iov_len = o->len - o->off};
  return send_iov(s, &iov, 1, o);
}

/* Sends up to BATCH queued datagrams (stopping before one that carries descriptors, or one that must wait
 * behind its peer's backlog) in one sendmmsg. On UDP, a run of datagrams to one destination, all of one size
 * but the last, goes as one GSO message (UDP_SEGMENT): the stack is walked once for the run and the datagrams
 * are cut apart on delivery. Returns the datagrams sent (0: retry, GSO turned off), or -1 with errno. */
static int send_batch(sock_t *s) {
  struct mmsghdr m[BATCH];
  struct iovec iov[BATCH];
  char ctl[BATCH][CMSG_SPACE(sizeof(uint16_t))];
  int count[BATCH];
  size_t avail = s->qlen < BATCH ? s->qlen : BATCH, i = 0;
  unsigned g = 0;
  int gso = !s->no_gso && (s->family == AF_INET || s->family == AF_INET6);
  memset(m, 0, sizeof m);
  for (size_t k = 1; k < avail && s->npeers > 0; k++) {
    peer_t *p = peer_of(s, &s->q[s->qhead + k]);
    if (p && !p->stuck) avail = k;
  }
  while (i < avail && s->q[s->qhead + i].nfds == 0) {
    out_t *o = &s->q[s->qhead + i];
    size_t j = i + 1, total = o->len;
    while (gso && o->len > 0 && j < avail) {
      out_t *p = &s->q[s->qhead + j];
      if (p->nfds || p->tolen != o->tolen || memcmp(&p->to, &o->to, o->tolen) != 0) break;
      if (p->len == 0 || p->len > o->len || total + p->len > GSO_MAX_BYTES) break;
      total += p->len;
      j++;
      if (p->len < o->len) break; /* only the last segment may be shorter */
    }
    for (size_t k = i; k < j; k++) {
      iov[k].iov_base = s->q[s->qhead + k].data;
      iov[k].iov_len = s->q[s->qhead + k].len;
    }
    struct msghdr *h = &m[g].msg_hdr;
    h->msg_iov = &iov[i];
    h->msg_iovlen = j - i;
    if (o->tolen) {
      h->msg_name = &o->to;
      h->msg_namelen = o->tolen;
    }
    if (j - i > 1) {
      uint16_t size = (uint16_t)o->len;
      memset(ctl[g], 0, sizeof ctl[g]);
      h->msg_control = ctl[g];
      h->msg_controllen = sizeof ctl[g];
      struct cmsghdr *c = CMSG_FIRSTHDR(h);
      c->cmsg_level = SOL_UDP;
      c->cmsg_type = UDP_SEGMENT;
      c->cmsg_len = CMSG_LEN(sizeof size);
      memcpy(CMSG_DATA(c), &size, sizeof size);
    }
    count[g++] = (int)(j - i);
    i = j;
  }
  int n = sendmmsg(s->fd, m, g, MSG_DONTWAIT | MSG_NOSIGNAL);
  if (n < 0) {
    /* A device without segmentation offload refuses GSO: from now on, one datagram per message. */
    if (count[0] > 1 && (errno == EINVAL || errno == EIO || errno == ENOPROTOOPT || errno == EOPNOTSUPP)) {
      s->no_gso = 1;
      return 0;
    }
    return -1;
  }
  int sent = 0;
  for (int k = 0; k < n; k++) sent += count[k];
  for (int k = 0; k < sent; k++) {
    peer_t *p = peer_of(s, &s->q[s->qhead]);
    if (p) peer_remove(s, p); /* a stuck peer took one: it is back */
    pop(s, 0, 0);
  }
  return sent;
}

/* Sends what is queued, in order, until it is empty or the socket would block. */
static void flush(sock_t *s) {
  s->blocked = 0;
  while (s->qlen > 0 && !s->closed) {
    out_t *o = &s->q[s->qhead];
    peer_t *p = peer_of(s, o);
    if (p && !p->stuck) { /* behind its peer's backlog, so that the peer gets them in order */
      if (hold_head(s, p) < 0) break;
      continue;
    }
    int err;
    if (s->mode == MODE_DGRAM && s->qlen > 1 && o->nfds == 0) {
      if (send_batch(s) >= 0) continue;
      err = errno;
    } else {
      ssize_t n = send_one(s, o);
      if (n >= 0) {
        if (p) peer_remove(s, p);
        /* A stream may take part of it; the descriptors went with the first byte. */
        for (int i = 0; i < o->nfds; i++) close(o->fds[i]);
        o->nfds = 0;
        o->off += (size_t)n;
        if (o->off >= o->len || s->mode == MODE_DGRAM) pop(s, 0, 0);
        continue;
      }
      err = errno;
    }
    if (receiver_full(s, o, err)) {
      if (hold_head(s, peer_of(s, o)) < 0) break;
      continue;
    }
    if (err == EAGAIN || err == EWOULDBLOCK) {
      s->blocked = 1; /* poll says when the socket (or a connected peer) has room */
      break;
    }
    pop(s, -err, 0);
  }
  update_stall(s);
  update_poll(s);
  /* Drops first: a sender that awaits its sends sees the count once they resolve. */
  report_dropped(s);
  report_sent(s);
}

/* Sends what each backlog can now, oldest first; a peer that took nothing for `silence` ms loses its backlog. Then
 * the queue moves on, and the timer runs again while anything is held: sooner after progress. */
static void retry_backlogs(sock_t *s) {
  uint64_t now = now_ms(s);
  int progress = 0;
  for (size_t i = s->npeers; i-- > 0 && !s->closed;) {
    peer_t *p = &s->peers[i];
    int gone = 0;
    while (p->len > 0) {
      out_t *o = &p->items[p->head];
      ssize_t n = send_one(s, o);
      if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) break;
      if (n < 0) { /* the peer is gone (ECONNREFUSED, ENOENT): what it was owed is lost, and it is forgotten */
        s->dropped += (uint32_t)p->len;
        gone = 1;
        break;
      }
      backlog_account(s, p, 0, held_size(o));
      free_out(o);
      p->head++;
      p->len--;
      s->backlogged--;
      p->progress = now;
      progress = 1;
    }
    if (gone) {
      peer_remove(s, p); /* the peers after i have been seen: the one moved into i is one of them */
      continue;
    }
    if (p->len > 0 && now - p->progress >= s->silence_ms) {
      s->dropped += (uint32_t)p->len;
      backlog_clear(s, p);
      p->stuck = 1;
    }
    if (p->len == 0 && !p->stuck) peer_remove(s, p);
  }
  flush(s);
  if (s->backlogged > 0 && !s->closed) {
    s->retry_ms = progress ? 1 : (s->retry_ms * 2 > RETRY_MAX_MS ? RETRY_MAX_MS : s->retry_ms * 2);
    uv_timer_start(&s->timer, on_timer, s->retry_ms, 0);
  }
}

/* ---------- receiving ---------- */

/* The descriptors an SCM_RIGHTS message carried, as a JS array (undefined when none). */
static napi_value take_fds(napi_env env, struct msghdr *mh) {
  napi_value fds = NULL;
  uint32_t nfds = 0;
  if (mh->msg_controllen == 0) return undef(env);
  for (struct cmsghdr *c = CMSG_FIRSTHDR(mh); c; c = CMSG_NXTHDR(mh, c)) {
    if (c->cmsg_level != SOL_SOCKET || c->cmsg_type != SCM_RIGHTS) continue;
    int count = (int)((c->cmsg_len - CMSG_LEN(0)) / sizeof(int));
    if (!fds && napi_create_array(env, &fds) != napi_ok) fds = NULL;
    for (int k = 0; k < count; k++) {
      int fd;
      memcpy(&fd, CMSG_DATA(c) + k * sizeof(int), sizeof fd);
      /* Without an array to hand it over in, the descriptor is closed rather than leaked. */
      if (!fds || napi_set_element(env, fds, nfds++, num(env, fd)) != napi_ok) close(fd);
    }
  }
  return fds ? fds : undef(env);
}

/* Closes the descriptors of messages that could not be handed to JS. */
static void close_fds(struct msghdr *mh) {
  for (struct cmsghdr *c = mh->msg_controllen ? CMSG_FIRSTHDR(mh) : NULL; c; c = CMSG_NXTHDR(mh, c)) {
    if (c->cmsg_level != SOL_SOCKET || c->cmsg_type != SCM_RIGHTS) continue;
    int count = (int)((c->cmsg_len - CMSG_LEN(0)) / sizeof(int));
    for (int k = 0; k < count; k++) {
      int fd;
      memcpy(&fd, CMSG_DATA(c) + k * sizeof(int), sizeof fd);
      close(fd);
    }
  }
}

static void on_dgram(sock_t *s) {
  napi_env env = s->env;
  for (int turn = 0; turn < TURNS && s->reading && !s->stalled && !s->closed; turn++) {
    /* Read from the pool each turn: JS may have grown it during the last one. */
    pool_t *pl = s->pool;
    int ctl = s->family == AF_UNIX;
    for (int i = 0; i < BATCH; i++) {
      pl->iov[i].iov_base = pl->buf + (size_t)i * s->slot;
      pl->iov[i].iov_len = s->slot;
      memset(&pl->msg[i].msg_hdr, 0, sizeof pl->msg[i].msg_hdr);
      pl->msg[i].msg_hdr.msg_iov = &pl->iov[i];
      pl->msg[i].msg_hdr.msg_iovlen = 1;
      pl->msg[i].msg_hdr.msg_name = &pl->name[i];
      pl->msg[i].msg_hdr.msg_namelen = sizeof pl->name[i];
      if (ctl) {
        pl->msg[i].msg_hdr.msg_control = pl->ctl + (size_t)i * CTL_SPACE;
        pl->msg[i].msg_hdr.msg_controllen = CTL_SPACE;
      }
    }
    int n = recvmmsg(s->fd, pl->msg, BATCH, MSG_DONTWAIT | MSG_TRUNC | MSG_CMSG_CLOEXEC, NULL);
    if (n < 0) {
      if (errno == EAGAIN || errno == EWOULDBLOCK) break;
      if (errno == EINTR) continue;
      /* An ICMP error on a connected UDP socket, say: reported once, and reading goes on. */
      int err = -errno;
      napi_handle_scope scope;
      if (napi_open_handle_scope(env, &scope) != napi_ok) break;
      emit_error(s, err);
      napi_close_handle_scope(env, scope);
      continue;
    }
    /* Input from a peer over its backlog share is dropped (see PEER_BACKLOG_BYTES): it is not taking its replies. */
    char refused[BATCH];
    int kept = n;
    memset(refused, 0, sizeof refused);
    if (s->npeers > 0) {
      for (int i = 0; i < n; i++) {
        struct msghdr *h = &pl->msg[i].msg_hdr;
        peer_t *p = h->msg_namelen > 0 ? peer_find(s, &pl->name[i], h->msg_namelen) : NULL;
        if (!p || p->stuck || peer_accepts(s, p)) continue;
        refused[i] = 1;
        kept--;
        close_fds(h);
        s->dropped++;
      }
    }
    if (kept == 0) {
      report_dropped(s);
      if (n < BATCH) break;
      continue;
    }
    size_t total = 0;
    for (int i = 0; i < n; i++) if (!refused[i]) total += pl->msg[i].msg_len < s->slot ? pl->msg[i].msg_len : s->slot;
    napi_handle_scope scope;
    napi_value data, meta, fdlist = NULL, argv[5];
    char *dp, *mp;
    if (napi_open_handle_scope(env, &scope) != napi_ok) break;
    if (napi_create_buffer(env, total ? total : 1, (void **)&dp, &data) != napi_ok ||
        napi_create_buffer(env, (size_t)kept * META_STRIDE, (void **)&mp, &meta) != napi_ok) {
      /* No memory for this batch: it is lost (and its descriptors closed), and reading goes on. */
      for (int i = 0; i < n; i++) if (!refused[i]) close_fds(&pl->msg[i].msg_hdr);
      emit_error(s, -ENOMEM);
      napi_close_handle_scope(env, scope);
      continue;
    }
    memset(mp, 0, (size_t)kept * META_STRIDE);
    for (int i = 0, k = 0; i < n; i++) {
      if (refused[i]) continue;
      struct msghdr *h = &pl->msg[i].msg_hdr;
      uint32_t full = pl->msg[i].msg_len, got = full < s->slot ? full : (uint32_t)s->slot;
      int at = k++;
      char *m = mp + (size_t)at * META_STRIDE;
      uint16_t alen = (uint16_t)h->msg_namelen, flags = (h->msg_flags & MSG_TRUNC) ? META_TRUNC : 0;
      memcpy(dp, pl->iov[i].iov_base, got);
      dp += got;
      /* The sender's address only when it differs from the one before: JS decodes each sender once. */
      if (s->lastlen == h->msg_namelen && memcmp(&s->last, &pl->name[i], h->msg_namelen) == 0) {
        alen = 0;
      } else {
        memcpy(&s->last, &pl->name[i], h->msg_namelen);
        s->lastlen = h->msg_namelen;
        memcpy(m + META_ADDR, &pl->name[i], h->msg_namelen);
        if (h->msg_namelen == 0) alen = 0xffff; /* unnamed */
      }
      if (ctl && h->msg_controllen > 0) {
        int rights = 0;
        for (struct cmsghdr *c = CMSG_FIRSTHDR(h); c; c = CMSG_NXTHDR(h, c)) {
          if (c->cmsg_level != SOL_SOCKET) continue;
          if (c->cmsg_type == SCM_RIGHTS) rights = 1;
          else if (c->cmsg_type == SCM_CREDENTIALS && c->cmsg_len >= CMSG_LEN(sizeof(struct ucred))) {
            memcpy(m + META_CRED, CMSG_DATA(c), sizeof(struct ucred)); /* pid, uid, gid: three 32-bit fields */
            flags |= META_CREDS;
          }
        }
        /* The array of descriptor lists only for a batch where some message carried descriptors. */
        if (rights) {
          if (!fdlist && napi_create_array(env, &fdlist) != napi_ok) fdlist = NULL;
          if (fdlist) napi_set_element(env, fdlist, (uint32_t)at, take_fds(env, h));
          else close_fds(h);
        }
        if (h->msg_flags & MSG_CTRUNC) flags |= META_CTRUNC;
      }
      memcpy(m, &got, 4);
      memcpy(m + 4, &full, 4);
      memcpy(m + 8, &alen, 2);
      memcpy(m + 10, &flags, 2);
    }
    argv[0] = num(env, EV_DGRAM);
    argv[1] = num(env, kept);
    argv[2] = data;
    argv[3] = meta;
    argv[4] = fdlist ? fdlist : undef(env);
    s->dispatching = 1;
    emit(s, 5, argv);
    s->dispatching = 0;
    flush(s);
    napi_close_handle_scope(env, scope);
    if (n < BATCH) break;
  }
}

static void on_msg(sock_t *s) {
  napi_env env = s->env;
  for (int i = 0; i < BATCH && s->reading && !s->closed; i++) {
    pool_t *pl = s->pool;
    struct iovec iov = {.iov_base = pl->buf, .iov_len = s->slot};
    struct msghdr mh = {.msg_iov = &iov, .msg_iovlen = 1, .msg_control = pl->ctl, .msg_controllen = CTL_SPACE};
    ssize_t n = recvmsg(s->fd, &mh, MSG_DONTWAIT | MSG_CMSG_CLOEXEC);
    int err = n < 0 ? -errno : 0;
    if (err == -EINTR) continue;
    if (err == -EAGAIN || err == -EWOULDBLOCK) break;
    napi_handle_scope scope;
    if (napi_open_handle_scope(env, &scope) != napi_ok) {
      if (n >= 0) close_fds(&mh);
      break;
    }
    if (n < 0) {
      set_reading(s, 0);
      emit_error(s, err);
      napi_close_handle_scope(env, scope);
      break;
    }
    napi_value argv[4];
    /* The bytes first: without memory for them, the descriptors are closed (not left in a JS array) and the
     * connection ends with ENOMEM, as it cannot go on without a gap. */
    argv[1] = copy_buffer(env, pl->buf, (size_t)n);
    if (argv[1] == NULL) {
      close_fds(&mh);
      set_reading(s, 0);
      emit_error(s, -ENOMEM);
      napi_close_handle_scope(env, scope);
      break;
    }
    argv[2] = take_fds(env, &mh);
    napi_valuetype ft = napi_undefined;
    napi_typeof(env, argv[2], &ft);
    int eof = n == 0 && ft == napi_undefined;
    if (eof) {
      set_reading(s, 0);
      napi_get_null(env, &argv[1]);
    }
    argv[0] = num(env, EV_MSG);
    argv[3] = num(env, ((mh.msg_flags & MSG_TRUNC) ? 1 : 0) | ((mh.msg_flags & MSG_CTRUNC) ? 2 : 0));
    emit(s, 4, argv);
    napi_close_handle_scope(env, scope);
    if (eof) break;
  }
}

static void on_accept(sock_t *s) {
  napi_env env = s->env;
  for (int i = 0; i < BATCH && s->reading && !s->closed; i++) {
    int fd = accept4(s->fd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);
    int err = fd < 0 ? -errno : 0;
    if (err == -EINTR || err == -ECONNABORTED) continue;
    if (err == -EAGAIN || err == -EWOULDBLOCK) break;
    napi_handle_scope scope;
    if (napi_open_handle_scope(env, &scope) != napi_ok) {
      if (fd >= 0) close(fd);
      break;
    }
    if (fd < 0) {
      /* EMFILE and the like: readiness stays, so pause rather than spin, and report it. */
      set_reading(s, 0);
      uv_timer_start(&s->timer, on_timer, 100, 0);
      emit_error(s, err);
    } else {
      napi_value argv[2] = {num(env, EV_ACCEPT), num(env, fd)};
      emit(s, 2, argv);
    }
    napi_close_handle_scope(env, scope);
  }
}

/* The timer either ends an accept pause (EMFILE) or retries the backlogs of full receivers. */
static void on_timer(uv_timer_t *t) {
  sock_t *s = t->data;
  if (s->closed) return;
  if (s->mode == MODE_LISTEN) {
    set_reading(s, 1);
    return;
  }
  napi_handle_scope scope;
  if (napi_open_handle_scope(s->env, &scope) != napi_ok) return;
  retry_backlogs(s);
  napi_close_handle_scope(s->env, scope);
}

static void on_poll(uv_poll_t *p, int status, int events) {
  sock_t *s = p->data;
  if (s->closed) return;
  napi_handle_scope scope;
  if (napi_open_handle_scope(s->env, &scope) != napi_ok) return;
  if (status < 0) {
    /* POLLERR (libuv says EBADF and stops the handle): a pending socket error, such as an ICMP port unreachable
     * on connected UDP. The next read returns it (and clears it); without a reader, SO_ERROR does. */
    s->poll_events = 0;
    if (s->reading) {
      events = UV_READABLE;
    } else {
      int e = 0;
      socklen_t l = sizeof e;
      if (getsockopt(s->fd, SOL_SOCKET, SO_ERROR, &e, &l) == 0 && e) emit_error(s, -e);
      events = 0;
    }
  }
  if (events & UV_WRITABLE) flush(s);
  if ((events & UV_READABLE) && s->reading) {
    if (s->mode == MODE_DGRAM) on_dgram(s);
    else if (s->mode == MODE_CONN) on_msg(s);
    else on_accept(s);
  }
  update_poll(s);
  napi_close_handle_scope(s->env, scope);
}

/* ---------- lifetime ---------- */

static void on_handle_closed(uv_handle_t *h) {
  sock_t *s = h->data;
  if (--s->handles_open == 0 && !s->js_alive) free(s);
}

/* Closes the fd and frees everything the handle holds but its record (see the top of the file). */
static void sock_close(sock_t *s) {
  if (s->closed) return;
  s->closed = 1;
  s->reading = 0;
  uv_poll_stop(&s->poll);
  uv_timer_stop(&s->timer);
  uv_close((uv_handle_t *)&s->poll, on_handle_closed);
  uv_close((uv_handle_t *)&s->timer, on_handle_closed);
  close(s->fd);
  s->fd = -1;
  while (s->qlen > 0) {
    free_out(&s->q[s->qhead++]);
    s->qlen--;
  }
  free(s->q);
  free(s->res);
  s->q = NULL;
  s->res = NULL;
  s->qcap = s->nres = 0;
  while (s->npeers > 0) peer_remove(s, &s->peers[s->npeers - 1]);
  if (s->pool) pool_release(s->pool);
  s->pool = NULL;
  napi_remove_env_cleanup_hook(s->env, (void (*)(void *))sock_close, s);
  napi_delete_reference(s->env, s->cb);
  napi_async_destroy(s->env, s->actx);
  s->cb = NULL;
}

static void sock_finalize(napi_env env, void *data, void *hint) {
  sock_t *s = data;
  sock_close(s);
  s->js_alive = 0;
  if (s->handles_open == 0) free(s);
}

static sock_t *handle_arg(napi_env env, napi_value v) {
  void *p = NULL;
  if (napi_get_value_external(env, v, &p) != napi_ok) throw_type(env, "socktool handle expected");
  return p;
}

/* open(fd, mode, slot, callback): a handle over fd, which it owns from then on (closed by hclose(), or when the
 * handle is collected). On failure the fd stays the caller's. */
static napi_value js_open(napi_env env, napi_callback_info info) {
  ARGS(4);
  int fd = int_arg(env, argv[0]), mode = int_arg(env, argv[1]), slot = int_arg(env, argv[2]);
  uv_loop_t *loop;
  if (napi_get_uv_event_loop(env, &loop) != napi_ok) return throw_errno(env, -EINVAL, "open");
  sock_t *s = calloc(1, sizeof *s);
  if (!s) return throw_errno(env, -ENOMEM, "open");
  s->env = env;
  s->fd = fd;
  s->mode = mode;
  s->slot = slot > 0 ? (size_t)slot : 65536;
  s->peer_max = PEER_BACKLOG_BYTES;
  s->total_max = BACKLOG_BYTES;
  s->silence_ms = SILENCE_MS;
  struct sockaddr_storage sa;
  socklen_t len = sizeof sa;
  s->family = getsockname(fd, (struct sockaddr *)&sa, &len) == 0 ? sa.ss_family : AF_UNSPEC;
  int err = 0;
  if (mode != MODE_LISTEN) err = pool_acquire(env, s->slot, mode == MODE_CONN || s->family == AF_UNIX, &s->pool);
  napi_value name;
  if (!err && (napi_create_reference(env, argv[3], 1, &s->cb) != napi_ok ||
               napi_create_string_utf8(env, "socktool:socket", NAPI_AUTO_LENGTH, &name) != napi_ok ||
               napi_async_init(env, NULL, name, &s->actx) != napi_ok)) {
    err = -ENOMEM;
  }
  if (!err && uv_poll_init(loop, &s->poll, fd) != 0) err = -EBADF;
  if (err) {
    if (s->actx) napi_async_destroy(env, s->actx);
    if (s->cb) napi_delete_reference(env, s->cb);
    if (s->pool) pool_release(s->pool);
    free(s);
    return throw_errno(env, err, "open");
  }
  uv_timer_init(loop, &s->timer);
  s->poll.data = s->timer.data = s;
  s->handles_open = 2;
  s->js_alive = 1;
  napi_value ext;
  if (napi_add_env_cleanup_hook(env, (void (*)(void *))sock_close, s) != napi_ok ||
      napi_create_external(env, s, sock_finalize, NULL, &ext) != napi_ok) {
    s->fd = -1; /* still the caller's */
    sock_close(s);
    s->js_alive = 0;
    return throw_errno(env, -ENOMEM, "open");
  }
  return ext;
}

/* backlog(h, peerBytes, totalBytes, silenceMs): the bounds of the unixgram backlogs (see PEER_BACKLOG_BYTES). */
static napi_value js_backlog(napi_env env, napi_callback_info info) {
  ARGS(4);
  sock_t *s = handle_arg(env, argv[0]);
  if (!s) return NULL;
  double peer, total, silence;
  if (napi_get_value_double(env, argv[1], &peer) != napi_ok || napi_get_value_double(env, argv[2], &total) != napi_ok ||
      napi_get_value_double(env, argv[3], &silence) != napi_ok || peer < 1 || total < 1 || silence < 1) {
    return throw_type(env, "backlog bounds (positive numbers)");
  }
  s->peer_max = (size_t)peer;
  s->total_max = (size_t)total;
  s->silence_ms = (uint64_t)silence;
  return undef(env);
}

/* read(h, on): start or stop reading (a full consumer stops it, so the kernel queue pushes back). */
static napi_value js_read(napi_env env, napi_callback_info info) {
  ARGS(2);
  sock_t *s = handle_arg(env, argv[0]);
  if (!s) return NULL;
  bool on = false;
  napi_get_value_bool(env, argv[1], &on);
  set_reading(s, on);
  return undef(env);
}

/* send(h, data, sockaddr | null, fds | null) -> SENT (0), QUEUED (1: reported by EV_SENT), DROPPED (2: a stuck
 * unixgram peer's), or -errno. */
static napi_value js_send(napi_env env, napi_callback_info info) {
  ARGS(4);
  sock_t *s = handle_arg(env, argv[0]);
  if (!s) return NULL;
  if (s->closed) return num(env, -EBADF);
  parts_t parts;
  if (!parts_arg(env, argv[1], &parts)) return throw_type(env, "send: bytes or an array of bytes expected");
  struct sockaddr_storage to;
  socklen_t tolen = 0;
  napi_valuetype t = napi_undefined;
  napi_typeof(env, argv[2], &t);
  if (t == napi_object && !sockaddr_arg(env, argv[2], &to, &tolen)) return throw_type(env, "send: bad sockaddr");
  int fds[MAX_FDS], nfds = 0;
  t = napi_undefined;
  napi_typeof(env, argv[3], &t);
  if (t == napi_object) {
    uint32_t n = 0;
    napi_get_array_length(env, argv[3], &n);
    if (n > MAX_FDS) return num(env, -EINVAL);
    for (uint32_t i = 0; i < n; i++) {
      napi_value v;
      if (napi_get_element(env, argv[3], i, &v) != napi_ok) return num(env, -EINVAL);
      fds[nfds++] = int_arg(env, v);
    }
  }
  /* During a batch, or behind what is queued: in order, after them. */
  if (s->dispatching || s->qlen > 0) return num(env, enqueue(s, &parts, 0, &to, tolen, fds, nfds));
  out_t now = {.len = parts.len, .to = to, .tolen = tolen, .nfds = nfds, .fds = fds};
  peer_t *p = peer_of(s, &now);
  if (!p || p->stuck) {
    ssize_t n = send_iov(s, parts.v, parts.n, &now);
    if (n >= 0 && ((size_t)n == parts.len || s->mode == MODE_DGRAM)) {
      if (p) peer_remove(s, p); /* a stuck peer took one: it is back */
      return num(env, SENT);
    }
    if (n >= 0 || !receiver_full(s, &now, errno)) {
      if (n < 0 && errno != EAGAIN && errno != EWOULDBLOCK) return num(env, -errno);
      /* The socket is full, or a stream took part: the rest waits for room (the descriptors went with a part). */
      size_t off = n > 0 ? (size_t)n : 0;
      int r = enqueue(s, &parts, off, &to, tolen, off ? NULL : fds, off ? 0 : nfds);
      if (r == QUEUED) {
        s->blocked = 1;
        update_poll(s);
      }
      return num(env, r);
    }
    if (p) return num(env, DROPPED); /* a stuck receiver, still full */
  }
  /* The receiver is full, or this peer already waits in a backlog: behind it, in order. */
  if (p && backlog_full(s, p)) return num(env, enqueue(s, &parts, 0, &to, tolen, fds, nfds));
  out_t held;
  int r = out_init(&held, &parts, 0, &to, tolen, fds, nfds);
  if (r < 0) return num(env, r);
  r = hold(s, p, &held);
  if (r != SENT) free_out(&held);
  if (r == QUEUED) r = enqueue(s, &parts, 0, &to, tolen, fds, nfds); /* every backlog together is full */
  update_stall(s);
  update_poll(s);
  return num(env, r);
}

static napi_value js_hclose(napi_env env, napi_callback_info info) {
  ARGS(1);
  sock_t *s = handle_arg(env, argv[0]);
  if (!s) return NULL;
  sock_close(s);
  return undef(env);
}

#define FN(name, fn) {name, NULL, fn, NULL, NULL, NULL, napi_enumerable, NULL}

#include "loadgen.c"

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
  };
  if (napi_define_properties(env, exports, sizeof props / sizeof *props, props) != napi_ok) return NULL;
  /* The platform's numbers, so that the JS side never hard-codes them. */
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
    if (napi_set_named_property(env, obj, consts[i].name, num(env, consts[i].value)) != napi_ok) return NULL;
  }
  if (napi_set_named_property(env, exports, "constants", obj) != napi_ok) return NULL;
  return exports;
}

NAPI_MODULE_INIT() { return init(env, exports); }
