/*
 * What the addon's units share: the constants and records of a handle, the argument macros, and the calls one
 * unit makes into another. Built with -fvisibility=hidden: nothing here is exported from the shared object but
 * the module's init.
 */
#ifndef SOCKTOOL_H
#define SOCKTOOL_H

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
  int bytes; /* a byte stream (SOCK_STREAM): a short read has drained it */
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

/* The call's first n arguments; missing ones read as undefined (N-API fills them so). */
#define ARGS(n)                                                              \
  size_t argc = n;                                                           \
  napi_value argv[n];                                                        \
  if (napi_get_cb_info(env, info, &argc, argv, NULL, NULL) != napi_ok) return NULL


/* Small argument and value helpers, inline: they are on every send and every event. */
static inline int int_arg(napi_env env, napi_value v) {
  int32_t x = -1;
  napi_get_value_int32(env, v, &x);
  return x;
}

static inline int bytes_arg(napi_env env, napi_value v, char **data, size_t *len) {
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
static inline int parts_arg(napi_env env, napi_value v, parts_t *parts) {
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
static inline int sockaddr_arg(napi_env env, napi_value v, struct sockaddr_storage *sa, socklen_t *len) {
  char *p;
  size_t n;
  if (!bytes_arg(env, v, &p, &n) || n > sizeof *sa || n < sizeof(sa_family_t)) return 0;
  memset(sa, 0, sizeof *sa);
  memcpy(sa, p, n);
  *len = (socklen_t)n;
  return 1;
}

static inline napi_value js_number(napi_env env, double x) {
  napi_value v;
  napi_create_double(env, x, &v);
  return v;
}

static inline napi_value undef(napi_env env) {
  napi_value v;
  napi_get_undefined(env, &v);
  return v;
}

/* A property of the exports object: a JS name for a C function. */
#define FN(name, fn) {name, NULL, fn, NULL, NULL, NULL, napi_enumerable, NULL}

/* helpers.c: N-API helpers: errors thrown as Node system errors, arguments read, values made */
napi_value throw_errno(napi_env env, int err, const char *syscall);
napi_value throw_type(napi_env env, const char *what);
napi_value copy_buffer(napi_env env, const void *p, size_t n);
napi_value answer(napi_env env, const void *p, size_t n, const char *syscall);

/* calls.c: raw calls on descriptors (socket, bind, connect, listen, close, dup, limits) */
napi_value js_socket(napi_env env, napi_callback_info info);
napi_value js_bind(napi_env env, napi_callback_info info);
napi_value js_connect(napi_env env, napi_callback_info info);
napi_value js_listen(napi_env env, napi_callback_info info);
napi_value js_shutdown(napi_env env, napi_callback_info info);
napi_value js_close(napi_env env, napi_callback_info info);
napi_value js_dup(napi_env env, napi_callback_info info);
napi_value js_raise_nofile(napi_env env, napi_callback_info info);
napi_value js_trim_memory(napi_env env, napi_callback_info info);
napi_value js_exchange_paths(napi_env env, napi_callback_info info);
napi_value js_unix_socket_at(napi_env env, napi_callback_info info);
napi_value js_adopt(napi_env env, napi_callback_info info);
napi_value js_cloexec(napi_env env, napi_callback_info info);

/* options.c: socket options, names and credentials on any descriptor */
napi_value js_getsockname(napi_env env, napi_callback_info info);
napi_value js_getpeername(napi_env env, napi_callback_info info);
napi_value js_getsockopt(napi_env env, napi_callback_info info);
napi_value js_setsockopt(napi_env env, napi_callback_info info);
napi_value js_inet_sockaddr(napi_env env, napi_callback_info info);
napi_value js_ifname(napi_env env, napi_callback_info info);

/* pool.c: the receive area every handle of a thread shares */
int pool_acquire(napi_env env, size_t slot, int ctl, pool_t **out);
void pool_release(pool_t *p);

/* backlog.c: per-peer backlogs of an unconnected unixgram handle */
peer_t *peer_find(sock_t *s, const struct sockaddr_storage *to, socklen_t tolen);
peer_t *peer_of(sock_t *s, const out_t *o);
void peer_remove(sock_t *s, peer_t *p);
int backlog_full(sock_t *s, const peer_t *p);
int peer_accepts(const sock_t *s, const peer_t *p);
void update_stall(sock_t *s);
int receiver_full(const sock_t *s, const out_t *o, int err);
int hold(sock_t *s, peer_t *p, const out_t *o);
int hold_head(sock_t *s, peer_t *p);
void retry_backlogs(sock_t *s);
void peer_heard(sock_t *s, const struct sockaddr_storage *from, socklen_t len);

/* handle.c: handles: one descriptor on a uv_poll_t in one of three modes, its send queue, receiving */
void free_out(out_t *o);
void pop(sock_t *s, int code, int moved);
ssize_t send_one(sock_t *s, out_t *o);
void flush(sock_t *s);
void on_timer(uv_timer_t *t);
napi_value js_open(napi_env env, napi_callback_info info);
napi_value js_backlog(napi_env env, napi_callback_info info);
napi_value js_read(napi_env env, napi_callback_info info);
napi_value js_send(napi_env env, napi_callback_info info);
napi_value js_hclose(napi_env env, napi_callback_info info);

/* loadgen.c: socktool bench's load loop */
napi_value js_load_start(napi_env env, napi_callback_info info);
napi_value js_load_poll(napi_env env, napi_callback_info info);
napi_value js_load_stop(napi_env env, napi_callback_info info);

#endif
