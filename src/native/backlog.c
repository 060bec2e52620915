/* socktool's addon, per-peer backlogs of an unconnected unixgram handle. */
#include "socktool.h"

/* ---------- per-peer backlogs (unconnected unixgram) ---------- */

static uint64_t now_ms(sock_t *s) {
  return uv_now(uv_handle_get_loop((uv_handle_t *)&s->timer));
}

peer_t *peer_find(sock_t *s, const struct sockaddr_storage *to, socklen_t tolen) {
  for (size_t i = 0; i < s->npeers; i++) {
    if (s->peers[i].tolen == tolen && memcmp(&s->peers[i].to, to, tolen) == 0) return &s->peers[i];
  }
  return NULL;
}

/* The peer whose backlog or stuck state a send to `o->to` must respect, if any. */
peer_t *peer_of(sock_t *s, const out_t *o) {
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
void peer_remove(sock_t *s, peer_t *p) {
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
int backlog_full(sock_t *s, const peer_t *p) {
  return p->bytes >= 2 * s->peer_max || s->backlog_bytes >= 2 * s->total_max;
}

/* Whether input from `p` is taken: its backlog is within its share. */
int peer_accepts(const sock_t *s, const peer_t *p) { return p->bytes < s->peer_max; }

/* Reading is held past the total, or while sends wait (see backlog_full): the senders wait, as on a blocking server. */
void update_stall(sock_t *s) {
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
int receiver_full(const sock_t *s, const out_t *o, int err) {
  return (err == EAGAIN || err == EWOULDBLOCK) && s->mode == MODE_DGRAM && s->family == AF_UNIX && o->tolen > 0;
}

/* Holds `o` (a copy, or the queue head moved) for its peer `p` (NULL: make the entry). Returns SENT when held,
 * DROPPED when the peer is stuck, QUEUED when the backlog is full (the caller waits), or -errno. */
int hold(sock_t *s, peer_t *p, const out_t *o) {
  if (!p) p = peer_add(s, &o->to, o->tolen);
  if (!p) return s->npeers >= MAX_PEERS ? -ENOBUFS : -ENOMEM;
  if (p->stuck) return DROPPED;
  if (backlog_full(s, p)) return QUEUED;
  if (backlog_push(s, p, o) < 0) return -ENOMEM;
  start_retry(s);
  return SENT;
}

/* The queue head's receiver is full: it joins its peer's backlog. 0 when dealt with, -1 when it must wait. */
int hold_head(sock_t *s, peer_t *p) {
  int r = hold(s, p, &s->q[s->qhead]);
  if (r == QUEUED) return -1;
  if (r == DROPPED) s->dropped++;
  pop(s, r == DROPPED ? 0 : r, r == SENT);
  return 0;
}

/* Sends what p's backlog can now, oldest first: 1 when the peer took something, 0 when not, -1 when the peer is
 * gone (ECONNREFUSED, ENOENT): what it was owed is lost, and it is forgotten (p is stale then). */
static int drain(sock_t *s, peer_t *p, uint64_t now) {
  int took = 0;
  while (p->len > 0) {
    out_t *o = &p->items[p->head];
    ssize_t n = send_one(s, o);
    if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) break;
    if (n < 0) {
      s->dropped += (uint32_t)p->len;
      peer_remove(s, p);
      return -1;
    }
    backlog_account(s, p, 0, held_size(o));
    free_out(o);
    p->head++;
    p->len--;
    s->backlogged--;
    p->progress = now;
    took = 1;
  }
  return took;
}

/* A datagram came from `from`: a peer that sends is reading, so what it is owed goes now, before what is answered
 * to it in this batch, rather than at the backlogs' next retry (a timer, 1 ms at the soonest, where a blocking
 * server's sendto would have been woken at once: unixgram floods ran at 0.75x a C echo). */
void peer_heard(sock_t *s, const struct sockaddr_storage *from, socklen_t len) {
  peer_t *p = peer_find(s, from, len);
  if (!p || p->len == 0) return;
  if (drain(s, p, now_ms(s)) >= 0 && p->len == 0 && !p->stuck) peer_remove(s, p);
}

/* Sends what each backlog can now, oldest first; a peer that took nothing for `silence` ms loses its backlog. Then
 * the queue moves on, and the timer runs again while anything is held: sooner after progress. */
void retry_backlogs(sock_t *s) {
  uint64_t now = now_ms(s);
  int progress = 0;
  for (size_t i = s->npeers; i-- > 0 && !s->closed;) {
    peer_t *p = &s->peers[i];
    int took = drain(s, p, now);
    if (took < 0) continue; /* forgotten: the peers after i have been seen, and the one moved into i is one of them */
    progress |= took;
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
