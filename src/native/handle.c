/* socktool's addon, handles: one descriptor on a uv_poll_t in one of three modes, its send queue, receiving. */
#include "socktool.h"

static void on_poll(uv_poll_t *p, int status, int events);
static void sock_cleanup(void *data);

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
  napi_value argv[2] = {js_number(s->env, EV_ERROR), js_number(s->env, err)};
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

void free_out(out_t *o) {
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
void pop(sock_t *s, int code, int moved) {
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
  argv[0] = js_number(env, EV_SENT);
  argv[1] = js_number(env, (double)s->nres);
  argv[2] = s->res_failed ? copy_buffer(env, s->res, s->nres * sizeof *s->res) : undef(env);
  if (!argv[2]) return; /* no memory for the codes now: they are reported with the next ones */
  s->nres = 0;
  s->res_failed = 0;
  emit(s, 3, argv);
}

/* Reports the datagrams dropped by policy since the last report: (EV_DROPPED, count). */
static void report_dropped(sock_t *s) {
  if (s->dropped == 0 || s->closed) return;
  napi_value argv[2] = {js_number(s->env, EV_DROPPED), js_number(s->env, s->dropped)};
  s->dropped = 0;
  emit(s, 2, argv);
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

ssize_t send_one(sock_t *s, out_t *o) {
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
void flush(sock_t *s) {
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
      if (!fds || napi_set_element(env, fds, nfds++, js_number(env, fd)) != napi_ok) close(fd);
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
    if (s->backlogged > 0) {
      for (int i = 0; i < n; i++) {
        socklen_t len = pl->msg[i].msg_hdr.msg_namelen;
        if (len == 0 || (i > 0 && len == pl->msg[i - 1].msg_hdr.msg_namelen && memcmp(&pl->name[i], &pl->name[i - 1], len) == 0)) continue;
        peer_heard(s, &pl->name[i], len);
      }
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
    argv[0] = js_number(env, EV_DGRAM);
    argv[1] = js_number(env, kept);
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
    argv[0] = js_number(env, EV_MSG);
    argv[3] = js_number(env, ((mh.msg_flags & MSG_TRUNC) ? 1 : 0) | ((mh.msg_flags & MSG_CTRUNC) ? 2 : 0));
    emit(s, 4, argv);
    napi_close_handle_scope(env, scope);
    /* A stream read short of the buffer has emptied the socket (libuv's rule too): asking again would only be
     * told EAGAIN, a syscall per wake-up. Seqpacket reads are one message each: they go on until EAGAIN. */
    if (eof || (s->bytes && (size_t)n < s->slot)) break;
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
      napi_value argv[2] = {js_number(env, EV_ACCEPT), js_number(env, fd)};
      emit(s, 2, argv);
    }
    napi_close_handle_scope(env, scope);
  }
}

/* The timer either ends an accept pause (EMFILE) or retries the backlogs of full receivers. */
void on_timer(uv_timer_t *t) {
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

/* Closes the fd and frees the native memory the handle holds but its record (see the top of the file). */
static void sock_shut(sock_t *s) {
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
}

/* Closes the handle: its fd and memory, then what it holds of JS (the callback, the async context). */
static void sock_close(sock_t *s) {
  if (s->closed) return;
  sock_shut(s);
  napi_remove_env_cleanup_hook(s->env, sock_cleanup, s);
  napi_delete_reference(s->env, s->cb);
  napi_async_destroy(s->env, s->actx);
  s->cb = NULL;
}

/* The environment is going away with the handle open (the process exits, a worker ends): the fd and memory go, and
 * what the handle holds of JS goes with the environment. Not napi_async_destroy: Deno runs these hooks outside any
 * handle scope (its napi_open_handle_scope opens none), where that call aborts the process. */
static void sock_cleanup(void *data) {
  sock_t *s = data;
  if (!s->closed) sock_shut(s);
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
napi_value js_open(napi_env env, napi_callback_info info) {
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
  int type = 0;
  len = sizeof type;
  s->bytes = mode == MODE_CONN && getsockopt(fd, SOL_SOCKET, SO_TYPE, &type, &len) == 0 && type == SOCK_STREAM;
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
  if (napi_add_env_cleanup_hook(env, sock_cleanup, s) != napi_ok ||
      napi_create_external(env, s, sock_finalize, NULL, &ext) != napi_ok) {
    s->fd = -1; /* still the caller's */
    sock_close(s);
    s->js_alive = 0;
    return throw_errno(env, -ENOMEM, "open");
  }
  return ext;
}

/* backlog(h, peerBytes, totalBytes, silenceMs): the bounds of the unixgram backlogs (see PEER_BACKLOG_BYTES). */
napi_value js_backlog(napi_env env, napi_callback_info info) {
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
napi_value js_read(napi_env env, napi_callback_info info) {
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
napi_value js_send(napi_env env, napi_callback_info info) {
  ARGS(4);
  sock_t *s = handle_arg(env, argv[0]);
  if (!s) return NULL;
  if (s->closed) return js_number(env, -EBADF);
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
    if (n > MAX_FDS) return js_number(env, -EINVAL);
    for (uint32_t i = 0; i < n; i++) {
      napi_value v;
      if (napi_get_element(env, argv[3], i, &v) != napi_ok) return js_number(env, -EINVAL);
      fds[nfds++] = int_arg(env, v);
    }
  }
  /* During a batch, or behind what is queued: in order, after them. */
  if (s->dispatching || s->qlen > 0) return js_number(env, enqueue(s, &parts, 0, &to, tolen, fds, nfds));
  out_t now = {.len = parts.len, .to = to, .tolen = tolen, .nfds = nfds, .fds = fds};
  peer_t *p = peer_of(s, &now);
  if (!p || p->stuck) {
    ssize_t n = send_iov(s, parts.v, parts.n, &now);
    if (n >= 0 && ((size_t)n == parts.len || s->mode == MODE_DGRAM)) {
      if (p) peer_remove(s, p); /* a stuck peer took one: it is back */
      return js_number(env, SENT);
    }
    if (n >= 0 || !receiver_full(s, &now, errno)) {
      if (n < 0 && errno != EAGAIN && errno != EWOULDBLOCK) return js_number(env, -errno);
      /* The socket is full, or a stream took part: the rest waits for room (the descriptors went with a part). */
      size_t off = n > 0 ? (size_t)n : 0;
      int r = enqueue(s, &parts, off, &to, tolen, off ? NULL : fds, off ? 0 : nfds);
      if (r == QUEUED) {
        s->blocked = 1;
        update_poll(s);
      }
      return js_number(env, r);
    }
    if (p) return js_number(env, DROPPED); /* a stuck receiver, still full */
  }
  /* The receiver is full, or this peer already waits in a backlog: behind it, in order. */
  if (p && backlog_full(s, p)) return js_number(env, enqueue(s, &parts, 0, &to, tolen, fds, nfds));
  out_t held;
  int r = out_init(&held, &parts, 0, &to, tolen, fds, nfds);
  if (r < 0) return js_number(env, r);
  r = hold(s, p, &held);
  if (r != SENT) free_out(&held);
  if (r == QUEUED) r = enqueue(s, &parts, 0, &to, tolen, fds, nfds); /* every backlog together is full */
  update_stall(s);
  update_poll(s);
  return js_number(env, r);
}

napi_value js_hclose(napi_env env, napi_callback_info info) {
  ARGS(1);
  sock_t *s = handle_arg(env, argv[0]);
  if (!s) return NULL;
  sock_close(s);
  return undef(env);
}
