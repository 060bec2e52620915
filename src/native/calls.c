/* socktool's addon, raw calls on descriptors (socket, bind, connect, listen, close, dup, limits). */
#include "socktool.h"
#include <limits.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/sysmacros.h>

#ifndef RENAME_EXCHANGE
#define RENAME_EXCHANGE (1 << 1) /* linux/fs.h; musl's headers do not have it */
#endif

/* ---------- raw calls ---------- */

napi_value js_socket(napi_env env, napi_callback_info info) {
  ARGS(2);
  int fd = socket(int_arg(env, argv[0]), int_arg(env, argv[1]) | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
  if (fd < 0) return throw_errno(env, -errno, "socket");
  return js_number(env, fd);
}

napi_value js_bind(napi_env env, napi_callback_info info) {
  ARGS(2);
  struct sockaddr_storage sa;
  socklen_t len;
  if (!sockaddr_arg(env, argv[1], &sa, &len)) return throw_type(env, "bind: sockaddr bytes expected");
  if (bind(int_arg(env, argv[0]), (struct sockaddr *)&sa, len) < 0) return throw_errno(env, -errno, "bind");
  return undef(env);
}

/* Non-blocking connect: throws EINPROGRESS (inet) or EAGAIN (a unix listener's full backlog) for the caller. */
napi_value js_connect(napi_env env, napi_callback_info info) {
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

napi_value js_listen(napi_env env, napi_callback_info info) {
  ARGS(2);
  if (listen(int_arg(env, argv[0]), int_arg(env, argv[1])) < 0) return throw_errno(env, -errno, "listen");
  return undef(env);
}

napi_value js_shutdown(napi_env env, napi_callback_info info) {
  ARGS(2);
  if (shutdown(int_arg(env, argv[0]), int_arg(env, argv[1])) < 0) return throw_errno(env, -errno, "shutdown");
  return undef(env);
}

napi_value js_close(napi_env env, napi_callback_info info) {
  ARGS(1);
  if (close(int_arg(env, argv[0])) < 0 && errno != EINTR) return throw_errno(env, -errno, "close");
  return undef(env);
}

napi_value js_dup(napi_env env, napi_callback_info info) {
  ARGS(1);
  int fd = fcntl(int_arg(env, argv[0]), F_DUPFD_CLOEXEC, 0);
  if (fd < 0) return throw_errno(env, -errno, "dup");
  return js_number(env, fd);
}

/* raiseNofile(): raises the soft descriptor limit to the hard one (as Go does at start since 1.19: select() is
 * not used here, so the old soft default of 1024 protects nothing) and returns the soft limit now. */
napi_value js_raise_nofile(napi_env env, napi_callback_info info) {
  (void)info;
  struct rlimit rl;
  if (getrlimit(RLIMIT_NOFILE, &rl) < 0) return throw_errno(env, -errno, "getrlimit");
  if (rl.rlim_cur < rl.rlim_max) {
    struct rlimit raised = {.rlim_cur = rl.rlim_max, .rlim_max = rl.rlim_max};
    if (setrlimit(RLIMIT_NOFILE, &raised) == 0) rl.rlim_cur = rl.rlim_max;
  }
  return js_number(env, rl.rlim_cur == RLIM_INFINITY ? 1e9 : (double)rl.rlim_cur);
}

/* trimMemory(): gives the pages malloc holds free back to the system (glibc keeps freed heap pages resident; a
 * server that held much for peers that have gone calls this so that its memory comes back). */
napi_value js_trim_memory(napi_env env, napi_callback_info info) {
  (void)info;
#ifdef __GLIBC__
  malloc_trim(0);
#endif
  return undef(env);
}

/* adopt(fd): takes over an inherited socket (socket activation, inetd): close-on-exec, so that programs this
 * process runs do not inherit it, and non-blocking, as the handles expect. ENOTSOCK when it is not a socket. */
napi_value js_adopt(napi_env env, napi_callback_info info) {
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
napi_value js_cloexec(napi_env env, napi_callback_info info) {
  ARGS(1);
  if (fcntl(int_arg(env, argv[0]), F_SETFD, FD_CLOEXEC) < 0) return throw_errno(env, -errno, "fcntl");
  return undef(env);
}

/* exchangePaths(a, b): swaps two names in one step (renameat2 RENAME_EXCHANGE), so that no process looking up
 * either ever finds it missing: `tap` puts its socket in place of a live one, and the live one back, so. EINVAL
 * where the filesystem cannot (then nothing changed). */
napi_value js_exchange_paths(napi_env env, napi_callback_info info) {
  ARGS(2);
  char a[PATH_MAX], b[PATH_MAX];
  size_t al, bl;
  if (napi_get_value_string_utf8(env, argv[0], a, sizeof a, &al) != napi_ok || al >= sizeof a - 1 ||
      napi_get_value_string_utf8(env, argv[1], b, sizeof b, &bl) != napi_ok || bl >= sizeof b - 1) {
    return throw_errno(env, -ENAMETOOLONG, "renameat2");
  }
  if (syscall(SYS_renameat2, AT_FDCWD, a, AT_FDCWD, b, RENAME_EXCHANGE) < 0) return throw_errno(env, -errno, "renameat2");
  return undef(env);
}

/* unixSocketAt(path): the unix socket bound to the file at `path`, as the kernel knows it (sock_diag, as ss -x
 * does): [type, listening], or undefined when no socket is bound to that file (one left behind). Matched by the
 * file's device and inode, so a server that bound it by another name (relative, through a symlink) is found too,
 * and nothing connects to it. The netlink structures are written out here: musl's headers have no linux/. */
struct st_nlmsghdr { uint32_t len; uint16_t type, flags; uint32_t seq, pid; };
struct st_unix_diag_req { uint8_t family, protocol; uint16_t pad; uint32_t states, ino, show, cookie[2]; };
struct st_unix_diag_msg { uint8_t family, type, state, pad; uint32_t ino, cookie[2]; };
struct st_rtattr { uint16_t len, type; };
#define ST_NETLINK_SOCK_DIAG 4
#define ST_SOCK_DIAG_BY_FAMILY 20
#define ST_NLM_F_REQUEST 1
#define ST_NLM_F_DUMP 0x300
#define ST_NLMSG_DONE 3
#define ST_NLMSG_ERROR 2
#define ST_UDIAG_SHOW_VFS 2
#define ST_UNIX_DIAG_VFS 1
#define ST_TCP_LISTEN 10
#define ST_ALIGN(n) (((n) + 3u) & ~3u)

napi_value js_unix_socket_at(napi_env env, napi_callback_info info) {
  ARGS(1);
  char path[PATH_MAX];
  size_t pl;
  if (napi_get_value_string_utf8(env, argv[0], path, sizeof path, &pl) != napi_ok || pl >= sizeof path - 1) {
    return throw_errno(env, -ENAMETOOLONG, "lstat");
  }
  struct stat st;
  if (lstat(path, &st) < 0) return throw_errno(env, -errno, "lstat");
  int fd = socket(AF_NETLINK, SOCK_DGRAM | SOCK_CLOEXEC, ST_NETLINK_SOCK_DIAG);
  if (fd < 0) return throw_errno(env, -errno, "socket");
  struct { struct st_nlmsghdr h; struct st_unix_diag_req r; } req;
  memset(&req, 0, sizeof req);
  req.h.len = sizeof req;
  req.h.type = ST_SOCK_DIAG_BY_FAMILY;
  req.h.flags = ST_NLM_F_REQUEST | ST_NLM_F_DUMP;
  req.r.family = AF_UNIX;
  req.r.states = 0xffffffffu;
  req.r.show = ST_UDIAG_SHOW_VFS;
  if (send(fd, &req, sizeof req, 0) < 0) {
    int e = errno;
    close(fd);
    return throw_errno(env, -e, "send");
  }
  int found_type = -1, listening = 0, done = 0;
  enum { BUF = 32768 };
  char *buf = malloc(BUF);
  if (!buf) {
    close(fd);
    return throw_errno(env, -ENOMEM, "malloc");
  }
  while (!done) {
    ssize_t n = recv(fd, buf, BUF, 0);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) break;
    for (size_t off = 0; off + sizeof(struct st_nlmsghdr) <= (size_t)n;) {
      struct st_nlmsghdr *h = (struct st_nlmsghdr *)(buf + off);
      if (h->len < sizeof *h || off + h->len > (size_t)n) { done = 1; break; }
      if (h->type == ST_NLMSG_DONE || h->type == ST_NLMSG_ERROR) { done = 1; break; }
      struct st_unix_diag_msg *m = (struct st_unix_diag_msg *)(h + 1);
      size_t at = sizeof *h + ST_ALIGN(sizeof *m);
      while (at + sizeof(struct st_rtattr) <= h->len) {
        struct st_rtattr *a = (struct st_rtattr *)((char *)h + at);
        if (a->len < sizeof *a) break;
        if (a->type == ST_UNIX_DIAG_VFS && a->len >= sizeof *a + 8) {
          uint32_t ino, dev;
          memcpy(&ino, (char *)(a + 1), 4);
          memcpy(&dev, (char *)(a + 1) + 4, 4);
          /* The kernel's dev_t: major in the top 12 bits, minor in the low 20. */
          if (ino == (uint32_t)st.st_ino && (dev >> 20) == major(st.st_dev) && (dev & 0xfffff) == minor(st.st_dev) &&
              (found_type < 0 || m->state == ST_TCP_LISTEN)) {
            found_type = m->type;
            listening = m->state == ST_TCP_LISTEN;
          }
        }
        at += ST_ALIGN(a->len);
      }
      off += ST_ALIGN(h->len);
    }
  }
  close(fd);
  free(buf);
  if (found_type < 0) return undef(env);
  napi_value out;
  if (napi_create_array_with_length(env, 2, &out) != napi_ok) return undef(env);
  napi_set_element(env, out, 0, js_number(env, found_type));
  napi_value l;
  napi_get_boolean(env, listening, &l);
  napi_set_element(env, out, 1, l);
  return out;
}
