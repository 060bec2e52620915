/*
 * socktool bench's load loop: echo load against one address, on a thread of its own, so that what it measures is
 * the server and not Node's event loop.
 *
 * Each connection (a datagram sender on datagram networks) keeps `window` messages in flight: one for pingpong,
 * N for flood. A message is its sequence number (u32, little-endian) then a fixed pattern; every echo is checked
 * against both (a wrong length, sequence or byte counts as corrupt), and counted once: ok, corrupt or lost, so
 * that these never add up to more than was sent. What no message in flight asked for (a datagram matching none,
 * stream bytes beyond the echoes owed: a server that floods) is counted apart, in bytes, as unexpected. Latency is the time from a message's first
 * byte sent to its echo's last byte received, in a log-linear histogram (16 buckets per power of two, so a
 * percentile is within about 6%). Datagrams: replies come in recvmmsg batches, and the next messages leave in one
 * sendmmsg; a message unanswered for LOSS_NS is counted lost and its place refilled (a late echo of it is
 * unexpected). Streams: in order, so the sequence each echo should carry is known. TLS (tcp, unix, unixpacket): the
 * same loop through OpenSSL, the one Node itself carries (see the TLS section).
 *
 * With a rate (bench --rate) the loop is open: each connection's messages are due at fixed intervals and leave when
 * due (up to `window` in flight), and a message's latency counts from when it was due, not when it left, so that a
 * stall is charged to every message it delayed (no coordinated omission). With sockperf's header (bench
 * --sockperf) each message is a sockperf client's request for an answer, so that a sockperf server echoes it.
 *
 * JS starts a run (loadStart), reads one-second samples while it runs (loadPoll), may stop it early (loadStop),
 * and gets the totals and the histogram when the promise resolves. Everything the run allocates is freed then.
 */
#include "socktool.h"
#include <openssl/err.h>
#include <openssl/ssl.h>
#include <limits.h>
#include <poll.h>
#include <pthread.h>
#include <sys/prctl.h>
#include <time.h>

/* Every OpenSSL function the load loop calls (after the headers' macros: SSL_CTX_add0_chain_cert is SSL_CTX_ctrl).
 * They are the runtime's: Node exports the OpenSSL it carries, and the addon brings none of its own (a second
 * OpenSSL in the process would not share Node's state). Deno and Bun export none, so each is a weak reference: the
 * addon loads anyway, with these NULL, and a TLS load asks first (openssl_missing) instead of dying in the dynamic
 * linker at the first call. The addon test checks that no OpenSSL symbol the addon uses is missing from here. */
#define OPENSSL_CALLS(X)                                                                                          \
  X(BIO_ctrl_pending) X(BIO_free) X(BIO_new) X(BIO_new_mem_buf) X(BIO_read) X(BIO_s_mem) X(BIO_write)            \
  X(ERR_clear_error) X(ERR_peek_error) X(ERR_peek_last_error) X(ERR_pop_to_mark) X(ERR_reason_error_string)      \
  X(ERR_set_mark) X(EVP_PKEY_free) X(PEM_read_bio_PrivateKey) X(PEM_read_bio_X509) X(SSL_CIPHER_get_name)        \
  X(SSL_CTX_check_private_key) X(SSL_CTX_ctrl) X(SSL_CTX_free) X(SSL_CTX_get_cert_store) X(SSL_CTX_new)          \
  X(SSL_CTX_set_verify) X(SSL_CTX_use_PrivateKey) X(SSL_CTX_use_certificate) X(SSL_ctrl) X(SSL_do_handshake)     \
  X(SSL_free) X(SSL_get0_param) X(SSL_get_current_cipher) X(SSL_get_error) X(SSL_get_verify_result)              \
  X(SSL_get_version) X(SSL_is_init_finished) X(SSL_new) X(SSL_read) X(SSL_set1_host) X(SSL_set_bio)              \
  X(SSL_set_connect_state) X(SSL_shutdown) X(SSL_write) X(TLS_client_method) X(X509_STORE_add_cert)              \
  X(X509_VERIFY_PARAM_set1_ip_asc) X(X509_free) X(X509_verify_cert_error_string)
#define WEAK_PRAGMA(text) _Pragma(#text)
#define WEAK(name) WEAK_PRAGMA(weak name)
OPENSSL_CALLS(WEAK)

/* NULL when the runtime has every OpenSSL function the load loop calls, else the first one it lacks. */
static const char *openssl_missing(void) {
#define MISSING(name) if (!name) return #name;
  OPENSSL_CALLS(MISSING)
#undef MISSING
  return NULL;
}

#define LOAD_BATCH 64                    /* messages a sendmmsg, recvmmsg or stream send() at most */
#define BATCH_BYTES (256 << 10)          /* ... and at most this many bytes of them (big messages: fewer) */
#define HIST_SUB 16                      /* buckets per power of two */
#define HIST_BUCKETS (HIST_SUB * 60)     /* up to 2^63 ns */
#define LOSS_NS 100000000LL              /* a datagram unanswered this long is lost */
#define SCAN_NS 10000000LL               /* how often in-flight datagrams are checked for loss */
#define STALL_NS 5000000000LL            /* no echo at all for this long ends the run (a server that stopped) */
#define SAMPLES_MAX 3600                 /* one-second samples kept until JS reads them */
#define HEADER 4                         /* the sequence number at the start of every message */
/* sockperf's message header (its src/message.h, packed, big-endian): a u64 sequence, u16 flags, u32 length (the
 * whole message's). Its server answers a message flagged CLIENT and PONG, not WARMUP, with the client bit cleared. */
#define SP_HEADER 14
#define SP_CLIENT 1
#define SP_PONG 2
#define CT_CHUNK (64 << 10)              /* TLS: ciphertext a send() or recv() at most (below a seqpacket's limit) */

typedef struct {
  double t; /* seconds since the measured part began */
  uint64_t messages, bytes, lost, corrupt;
  uint64_t p99_ns; /* of that second */
} sample_t;

typedef struct {
  int fd;
  uint32_t next_seq;  /* the next message's sequence number */
  uint32_t want_seq;  /* streams: the sequence the next echo must carry */
  int inflight;
  int64_t *sent_at;   /* by sequence % ring */
  uint32_t *sent_seq;
  char *tx, *rx;
  size_t tx_off, tx_len, rx_have, rx_cap;
  int tx_busy;        /* a stream batch is part-way out */
  int owed;           /* stream messages to send once the socket takes them */
  SSL *ssl;           /* TLS: the session, reading from and writing to memory (rbio, wbio) */
  BIO *rbio, *wbio;
  char *ct;           /* TLS: ciphertext taken from wbio, not yet all sent */
  size_t ct_off, ct_len;
  int64_t due0;       /* --rate: when this connection's first message was due */
  uint64_t issued;    /* messages stamped so far (next_seq without its wrap) */
} conn_t;

typedef struct {
  /* what to do */
  struct sockaddr_storage sa;
  socklen_t salen;
  int family, type, conns, window;
  int stream; /* a byte stream: SOCK_STREAM, or TLS (over seqpacket too) */
  int sockperf; /* messages carry sockperf's header, not a bare sequence number */
  size_t header; /* HEADER or SP_HEADER */
  int64_t interval_ns; /* --rate: the time between one connection's messages; 0: the next leaves on an echo */
  size_t size;
  int64_t duration_ns, warmup_ns;
  uint64_t count;
  SSL_CTX *tls;     /* TLS: the client context (trust, client certificate), or NULL */
  char *tls_sni;    /* the name sent as SNI, or NULL */
  char *tls_host;   /* the name or IP address the certificate must carry, or NULL (--insecure) */
  /* the run */
  conn_t *c;
  int ring;
  int batch; /* messages a batch: LOAD_BATCH, fewer for big messages */
  char *pattern;
  int stop; /* set by JS (loadStop), read by the run's thread */
  int err;
  const char *err_op;
  char tls_code[64], tls_detail[256]; /* a TLS failure: Node's code for it (CERT_HAS_EXPIRED …) and its text */
  char tls_version[16], tls_cipher[64]; /* what the first connection agreed on */
  char *ct_in; /* TLS: ciphertext read, on its way into OpenSSL */
  uint64_t messages, bytes, sent, lost, corrupt, unexpected, max_ns;
  int64_t last_echo; /* when any echo last came back (or the run began) */
  int stalled;
  uint64_t hist[HIST_BUCKETS], second_hist[HIST_BUCKETS];
  double seconds;
  pthread_mutex_t mu; /* guards samples and nsamples */
  sample_t *samples; /* published, not yet polled (JS polls every 250 ms) */
  int nsamples;
  napi_async_work work;
  napi_deferred deferred;
  napi_ref self;
} load_t;

static int64_t now_ns(void) {
  struct timespec t;
  clock_gettime(CLOCK_MONOTONIC, &t);
  return (int64_t)t.tv_sec * 1000000000LL + t.tv_nsec;
}

static int hist_index(uint64_t v) {
  if (v < HIST_SUB) return (int)v;
  int e = 63 - __builtin_clzll(v); /* >= 4 */
  return HIST_SUB * (e - 3) + (int)((v >> (e - 4)) - HIST_SUB);
}

/* The upper bound of bucket `i` (what a percentile in it reports). */
static uint64_t hist_upper(int i) {
  if (i < HIST_SUB) return (uint64_t)i;
  int e = i / HIST_SUB + 3, sub = i % HIST_SUB;
  return ((uint64_t)(HIST_SUB + sub + 1) << (e - 4)) - 1;
}

/* The latency at percentile `p` (0..1): its bucket's upper bound, but never above the largest seen (`max`). */
static uint64_t hist_percentile(const uint64_t *h, double p, uint64_t max) {
  uint64_t total = 0;
  for (int i = 0; i < HIST_BUCKETS; i++) total += h[i];
  if (total == 0) return 0;
  uint64_t want = (uint64_t)(p * (double)total + 0.5), seen = 0;
  if (want == 0) want = 1;
  for (int i = 0; i < HIST_BUCKETS; i++) {
    seen += h[i];
    if (seen >= want) return hist_upper(i) < max ? hist_upper(i) : max;
  }
  return 0;
}

static void fail(load_t *l, const char *op) {
  if (!l->err) {
    l->err = errno ? errno : EIO;
    l->err_op = op;
  }
}

/* ---------- TLS ----------
 * OpenSSL as Node itself carries it (node exports its symbols; the addon is built against the headers node-gyp
 * ships; OPENSSL_CALLS above says what happens where the runtime exports none). Each session reads from and writes
 * to memory BIOs, and the load loop moves ciphertext between those and the socket: one way for tcp, unix and
 * unixpacket alike (a seqpacket socket would cut OpenSSL's own reads into its records' sizes). Failures are named
 * as Node names them, so bench says what `connect --tls` would. */

/* Node's name for a certificate verification failure (crypto_common.cc), by OpenSSL's number. */
static const char *verify_code(long v) {
  switch (v) {
#define V(name) case X509_V_ERR_##name: return #name;
    V(UNABLE_TO_GET_ISSUER_CERT) V(UNABLE_TO_GET_CRL) V(UNABLE_TO_DECRYPT_CERT_SIGNATURE)
    V(UNABLE_TO_DECRYPT_CRL_SIGNATURE) V(UNABLE_TO_DECODE_ISSUER_PUBLIC_KEY) V(CERT_SIGNATURE_FAILURE)
    V(CRL_SIGNATURE_FAILURE) V(CERT_NOT_YET_VALID) V(CERT_HAS_EXPIRED) V(CRL_NOT_YET_VALID) V(CRL_HAS_EXPIRED)
    V(ERROR_IN_CERT_NOT_BEFORE_FIELD) V(ERROR_IN_CERT_NOT_AFTER_FIELD) V(ERROR_IN_CRL_LAST_UPDATE_FIELD)
    V(ERROR_IN_CRL_NEXT_UPDATE_FIELD) V(OUT_OF_MEM) V(DEPTH_ZERO_SELF_SIGNED_CERT) V(SELF_SIGNED_CERT_IN_CHAIN)
    V(UNABLE_TO_GET_ISSUER_CERT_LOCALLY) V(UNABLE_TO_VERIFY_LEAF_SIGNATURE) V(CERT_CHAIN_TOO_LONG) V(CERT_REVOKED)
    V(INVALID_CA) V(PATH_LENGTH_EXCEEDED) V(INVALID_PURPOSE) V(CERT_UNTRUSTED) V(CERT_REJECTED)
#undef V
    case X509_V_ERR_HOSTNAME_MISMATCH:
    case X509_V_ERR_IP_ADDRESS_MISMATCH: return "ERR_TLS_CERT_ALTNAME_INVALID";
    default: return "UNSPECIFIED";
  }
}

/* A TLS failure on `c`: a certificate that did not verify (its code and text), else OpenSSL's first reason
 * (ERR_SSL_WRONG_VERSION_NUMBER, "TLS: wrong version number"), else a socket error already recorded. */
static void tls_fail(load_t *l, conn_t *c, const char *op) {
  if (l->err) return ERR_clear_error();
  long v = SSL_get_verify_result(c->ssl);
  unsigned long e = ERR_peek_error();
  if (v != X509_V_OK) {
    snprintf(l->tls_code, sizeof l->tls_code, "%s", verify_code(v));
    if (v == X509_V_ERR_HOSTNAME_MISMATCH || v == X509_V_ERR_IP_ADDRESS_MISMATCH)
      snprintf(l->tls_detail, sizeof l->tls_detail, "the certificate is not for %s", l->tls_host);
    else snprintf(l->tls_detail, sizeof l->tls_detail, "%s", X509_verify_cert_error_string(v));
  } else {
    const char *reason = e ? ERR_reason_error_string(e) : NULL;
    if (!reason) reason = "protocol error";
    int n = snprintf(l->tls_code, sizeof l->tls_code, "ERR_SSL_");
    for (const char *r = reason; *r && n < (int)sizeof l->tls_code - 1; r++, n++)
      l->tls_code[n] = *r == ' ' ? '_' : (char)(*r >= 'a' && *r <= 'z' ? *r - 32 : *r);
    l->tls_code[n] = 0;
    snprintf(l->tls_detail, sizeof l->tls_detail, "TLS: %s", reason);
  }
  ERR_clear_error();
  l->err = EPROTO;
  l->err_op = op;
}

/* Any ciphertext OpenSSL has made and the socket has not yet taken. */
static int tls_pending(conn_t *c) {
  return c->ssl && (c->ct_off < c->ct_len || BIO_ctrl_pending(c->wbio) > 0);
}

/* Sends the ciphertext OpenSSL has made: 0 when all is out, else -1 with errno (EAGAIN: the rest waits for POLLOUT). */
static int tls_flush(conn_t *c) {
  for (;;) {
    if (c->ct_off == c->ct_len) {
      int n = BIO_read(c->wbio, c->ct, CT_CHUNK);
      if (n <= 0) return 0;
      c->ct_off = 0;
      c->ct_len = (size_t)n;
    }
    ssize_t n = send(c->fd, c->ct + c->ct_off, c->ct_len - c->ct_off, MSG_NOSIGNAL | MSG_DONTWAIT);
    if (n < 0) {
      if (errno == EWOULDBLOCK || errno == EINTR) errno = EAGAIN;
      return -1;
    }
    c->ct_off += (size_t)n;
  }
}

/* Reads what ciphertext the socket has into OpenSSL: its length, 0 when the peer closed, or -1 with errno. */
static ssize_t tls_fill(load_t *l, conn_t *c) {
  ssize_t n = recv(c->fd, l->ct_in, CT_CHUNK, MSG_DONTWAIT);
  if (n < 0 && (errno == EWOULDBLOCK || errno == EINTR)) errno = EAGAIN;
  if (n > 0 && BIO_write(c->rbio, l->ct_in, (int)n) != (int)n) {
    errno = ENOMEM;
    return -1;
  }
  return n;
}

/* A send failed for good (EPIPE, ECONNRESET): the server may have said why before it closed (a TLS alert, such as
 * "certificate required" after it checked the client's certificate). Reads what it sent, and names the alert
 * (errno EPROTO, 1) if there was one; else errno is the send's again (0). */
static int tls_said_why(load_t *l, conn_t *c) {
  int sent_errno = errno;
  while (tls_fill(l, c) > 0) {}
  char scratch[256];
  int r = SSL_read(c->ssl, scratch, sizeof scratch);
  if (r <= 0 && SSL_get_error(c->ssl, r) == SSL_ERROR_SSL) {
    tls_fail(l, c, "send");
    errno = EPROTO;
    return 1;
  }
  ERR_clear_error();
  errno = sent_errno;
  return 0;
}

/* Sends the ciphertext that waits: 0, or -1 with errno (EAGAIN: on POLLOUT; EPROTO: the server's alert, named). */
static int tls_send_pending(load_t *l, conn_t *c) {
  if (tls_flush(c) == 0) return 0;
  if (errno != EAGAIN) tls_said_why(l, c);
  return -1;
}

/* Encrypts a batch whole (into memory: OpenSSL takes all of it) once the last one's ciphertext is out, and sends
 * what the socket takes: as send() would, the bytes taken, or -1 with errno (EAGAIN: try again on POLLOUT). */
static ssize_t tls_write(load_t *l, conn_t *c, const char *p, size_t n) {
  if (tls_send_pending(l, c) < 0) return -1;
  int r = SSL_write(c->ssl, p, (int)n);
  if (r <= 0) {
    tls_fail(l, c, "send");
    errno = EPROTO;
    return -1;
  }
  if (tls_send_pending(l, c) < 0 && errno != EAGAIN) return -1;
  return r;
}

/* Decrypts as much as is there, up to `cap`: as recv() would, the bytes, 0 at the end, or -1 with errno. */
static ssize_t tls_read(load_t *l, conn_t *c, char *p, size_t cap) {
  size_t got = 0;
  while (got < cap) {
    int r = SSL_read(c->ssl, p + got, (int)(cap - got > INT_MAX ? INT_MAX : cap - got));
    if (r > 0) {
      got += (size_t)r;
      continue;
    }
    int e = SSL_get_error(c->ssl, r);
    if (e == SSL_ERROR_ZERO_RETURN) break; /* the server's close_notify */
    if (e != SSL_ERROR_WANT_READ) {
      tls_fail(l, c, "recv");
      errno = EPROTO;
      return -1;
    }
    ssize_t n = tls_fill(l, c);
    if (n > 0) continue;
    if (n < 0 && errno != EAGAIN) return -1;
    if (got || n == 0) break;
    return -1; /* EAGAIN, nothing read */
  }
  /* Reading can make OpenSSL answer (a key update): what the socket does not take now goes on POLLOUT. */
  if (tls_pending(c) && tls_flush(c) < 0 && errno != EAGAIN) return -1;
  return (ssize_t)got;
}

/* Waits until `fd` is ready for `events`, or `until` passes (ETIMEDOUT), or the run is stopped (ECANCELED). */
static int wait_fd(load_t *l, int fd, short events, int64_t until) {
  struct pollfd p = {.fd = fd, .events = events};
  for (;;) {
    if (__atomic_load_n(&l->stop, __ATOMIC_RELAXED)) return errno = ECANCELED, -1;
    int64_t left = until - now_ns();
    if (left <= 0) return errno = ETIMEDOUT, -1;
    int n = poll(&p, 1, left > 100000000LL ? 100 : (int)(left / 1000000) + 1);
    if (n > 0) return 0;
    if (n < 0 && errno != EINTR) return -1;
  }
}

/* A client session on `c`'s connected socket, its handshake done (for up to STALL_NS). */
static int tls_connect(load_t *l, conn_t *c) {
  c->ssl = SSL_new(l->tls);
  BIO *in = BIO_new(BIO_s_mem()), *out = BIO_new(BIO_s_mem());
  c->ct = malloc(CT_CHUNK);
  if (!c->ssl || !in || !out || !c->ct) {
    BIO_free(in);
    BIO_free(out);
    return errno = ENOMEM, fail(l, "handshake"), -1;
  }
  SSL_set_bio(c->ssl, in, out); /* the session owns them from here */
  c->rbio = in;
  c->wbio = out;
  SSL_set_connect_state(c->ssl);
  if (l->tls_sni) SSL_set_tlsext_host_name(c->ssl, l->tls_sni);
  if (l->tls_host) {
    struct in6_addr a;
    int ip = inet_pton(AF_INET, l->tls_host, &a) == 1 || inet_pton(AF_INET6, l->tls_host, &a) == 1;
    if (!(ip ? X509_VERIFY_PARAM_set1_ip_asc(SSL_get0_param(c->ssl), l->tls_host) : SSL_set1_host(c->ssl, l->tls_host)))
      return errno = EINVAL, fail(l, "handshake"), -1;
  }
  int64_t until = now_ns() + STALL_NS;
  for (;;) {
    int r = SSL_do_handshake(c->ssl);
    int e = r == 1 ? SSL_ERROR_NONE : SSL_get_error(c->ssl, r);
    if (e != SSL_ERROR_NONE && e != SSL_ERROR_WANT_READ) return tls_fail(l, c, "handshake"), -1;
    int out = tls_flush(c);
    if (out < 0 && errno != EAGAIN) return fail(l, "handshake"), -1;
    if (r == 1 && out == 0) break;
    if (wait_fd(l, c->fd, out < 0 ? POLLOUT : POLLIN, until) < 0) return errno == ECANCELED ? -1 : (fail(l, "handshake"), -1);
    if (out < 0) continue;
    ssize_t n = tls_fill(l, c);
    if (n == 0) errno = ECONNRESET; /* the server closed without a word (it may have logged why) */
    if (n == 0 || (n < 0 && errno != EAGAIN)) return fail(l, "handshake"), -1;
  }
  if (!l->tls_version[0]) {
    snprintf(l->tls_version, sizeof l->tls_version, "%s", SSL_get_version(c->ssl));
    snprintf(l->tls_cipher, sizeof l->tls_cipher, "%s", SSL_CIPHER_get_name(SSL_get_current_cipher(c->ssl)));
  }
  return 0;
}

/* Streams: send() and recv(), through TLS when the run speaks it. */
static ssize_t stream_write(load_t *l, conn_t *c, const char *p, size_t n) {
  return c->ssl ? tls_write(l, c, p, n) : send(c->fd, p, n, MSG_NOSIGNAL | MSG_DONTWAIT);
}

static ssize_t stream_recv(load_t *l, conn_t *c, char *p, size_t cap) {
  return c->ssl ? tls_read(l, c, p, cap) : recv(c->fd, p, cap, MSG_DONTWAIT);
}

static int open_conn(load_t *l, conn_t *c) {
  c->fd = socket(l->family, l->type | SOCK_CLOEXEC, 0);
  if (c->fd < 0) return fail(l, "socket"), -1;
  if (l->family == AF_UNIX && l->type == SOCK_DGRAM) {
    struct sockaddr_un self = {.sun_family = AF_UNIX}; /* autobind: the server needs an address to answer to */
    if (bind(c->fd, (struct sockaddr *)&self, sizeof(sa_family_t)) < 0) return fail(l, "bind"), -1;
  }
  int r;
  do r = connect(c->fd, (struct sockaddr *)&l->sa, l->salen);
  while (r < 0 && errno == EINTR);
  if (r < 0) return fail(l, "connect"), -1;
  if (l->type == SOCK_STREAM && l->family != AF_UNIX) {
    int one = 1;
    setsockopt(c->fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
  }
  fcntl(c->fd, F_SETFL, fcntl(c->fd, F_GETFL) | O_NONBLOCK);
  return l->tls ? tls_connect(l, c) : 0;
}

/* The measured part begins (after the warm-up): counts start from nothing. */
static void reset_counts(load_t *l) {
  l->messages = l->bytes = l->sent = l->lost = l->corrupt = l->unexpected = l->max_ns = 0;
  memset(l->hist, 0, sizeof l->hist);
  memset(l->second_hist, 0, sizeof l->second_hist);
}

static void record(load_t *l, int64_t latency, int measuring) {
  l->last_echo = now_ns();
  if (!measuring) return;
  uint64_t v = latency > 0 ? (uint64_t)latency : 0;
  int i = hist_index(v);
  l->hist[i]++;
  l->second_hist[i]++;
  if (v > l->max_ns) l->max_ns = v;
  l->messages++;
  l->bytes += l->size;
}

/* A message's sequence number (sockperf's: its low 32 bits). */
static uint32_t msg_seq(load_t *l, const char *m) {
  uint32_t seq;
  if (l->sockperf) {
    memcpy(&seq, m + 4, 4);
    return ntohl(seq);
  }
  memcpy(&seq, m, HEADER);
  return seq;
}

/* When message `seq`'s latency starts: under --rate, when it was due, so that a server's stall counts against every
 * message that should have left during it, as a user's requests would (no coordinated omission); else when it left. */
static int64_t origin(load_t *l, conn_t *c, uint32_t seq) {
  if (!l->interval_ns) return c->sent_at[seq % (uint32_t)l->ring];
  uint64_t index = c->issued - (uint32_t)(c->next_seq - seq); /* seq's place among all issued, past any wrap */
  return c->due0 + (int64_t)index * l->interval_ns;
}

/* The messages `c` should send now: what the window has room for, and under --rate no more than are due by `t`. */
static int wanted(load_t *l, conn_t *c, int64_t t) {
  int room = l->window - c->inflight;
  if (!l->interval_ns || room <= 0) return room;
  if (t < c->due0) return 0;
  uint64_t due = (uint64_t)((t - c->due0) / l->interval_ns) + 1;
  return due <= c->issued ? 0 : due - c->issued < (uint64_t)room ? (int)(due - c->issued) : room;
}

/* Checks an echo: its length, its pattern, and its sequence (streams: the one expected; datagrams: one in flight).
 * Returns the sequence, or -1 (counted corrupt). */
static int64_t check(load_t *l, const char *m, size_t len, int64_t expect) {
  if (len != l->size || memcmp(m + l->header, l->pattern + l->header, l->size - l->header) != 0) return -1;
  if (l->sockperf) { /* the answer: our flags but the client bit, our length */
    uint16_t flags;
    uint32_t length;
    memcpy(&flags, m + 8, 2);
    memcpy(&length, m + 10, 4);
    if (ntohs(flags) != SP_PONG || ntohl(length) != l->size) return -1;
  }
  uint32_t seq = msg_seq(l, m);
  if (expect >= 0 && seq != (uint32_t)expect) return -1;
  return seq;
}

static void stamp(load_t *l, conn_t *c, char *m, int measuring) {
  uint32_t seq = c->next_seq++;
  uint32_t at = seq % (uint32_t)l->ring;
  c->issued++;
  if (l->sockperf) {
    uint32_t hi = 0, lo = htonl(seq), length = htonl((uint32_t)l->size);
    uint16_t flags = htons(SP_CLIENT | SP_PONG);
    memcpy(m, &hi, 4);
    memcpy(m + 4, &lo, 4);
    memcpy(m + 8, &flags, 2);
    memcpy(m + 10, &length, 4);
  } else memcpy(m, &seq, HEADER);
  if (c->sent_at[at]) { /* a datagram a whole ring ago still unanswered: lost, before its loss timer said so */
    c->inflight--;
    if (measuring) l->lost++;
  }
  c->sent_at[at] = now_ns();
  c->sent_seq[at] = seq;
  c->inflight++;
  if (measuring) l->sent++;
}

/* Datagrams: sends `n` new messages in sendmmsg batches (fewer if the socket is full). */
static void dgram_send(load_t *l, conn_t *c, int n, int measuring) {
  struct mmsghdr m[LOAD_BATCH];
  struct iovec iov[LOAD_BATCH];
  while (n > 0) {
    int k = n < l->batch ? n : l->batch;
    for (int i = 0; i < k; i++) {
      char *buf = c->tx + (size_t)i * l->size; /* the pattern is there from alloc_run: only the header changes */
      stamp(l, c, buf, measuring);
      iov[i] = (struct iovec){.iov_base = buf, .iov_len = l->size};
      memset(&m[i], 0, sizeof m[i]);
      m[i].msg_hdr.msg_iov = &iov[i];
      m[i].msg_hdr.msg_iovlen = 1;
    }
    int sent = sendmmsg(c->fd, m, (unsigned)k, 0);
    if (sent < 0) sent = 0; /* full, or refused (the server not there yet): the loss timer refills the window */
    for (int i = sent; i < k; i++) {
      c->next_seq--;
      c->issued--;
      c->sent_at[c->next_seq % (uint32_t)l->ring] = 0;
      c->inflight--;
      if (measuring) l->sent--;
    }
    if (sent < k) return;
    n -= k;
  }
}

static void dgram_read(load_t *l, conn_t *c, int measuring) {
  struct mmsghdr m[LOAD_BATCH];
  struct iovec iov[LOAD_BATCH];
  size_t slot = l->size + 1; /* one byte more: a longer echo is seen as such, not cut to size */
  for (int i = 0; i < l->batch; i++) {
    iov[i] = (struct iovec){.iov_base = c->rx + (size_t)i * slot, .iov_len = slot};
    memset(&m[i], 0, sizeof m[i]);
    m[i].msg_hdr.msg_iov = &iov[i];
    m[i].msg_hdr.msg_iovlen = 1;
  }
  int n = recvmmsg(c->fd, m, (unsigned)l->batch, MSG_DONTWAIT, NULL);
  if (n <= 0) return;
  int64_t t = now_ns();
  int answered = 0;
  for (int i = 0; i < n; i++) {
    const char *echo = c->rx + (size_t)i * slot;
    size_t len = m[i].msg_len;
    uint32_t seq = len >= l->header ? msg_seq(l, echo) : 0;
    uint32_t at = seq % (uint32_t)l->ring;
    int ours = len >= l->header && c->sent_seq[at] == seq && c->sent_at[at] != 0;
    if (!ours) { /* a message in flight asked for none of it: a late echo of one counted lost, or a flood */
      if (measuring) l->unexpected += len;
      continue;
    }
    int whole = check(l, echo, len, -1) >= 0;
    if (whole) record(l, t - origin(l, c, seq), measuring);
    else if (measuring) l->corrupt++;
    c->sent_at[at] = 0;
    c->inflight--;
    answered++;
  }
  if (answered) dgram_send(l, c, wanted(l, c, t), measuring);
}

/* Streams: sends what is owed, a batch a send() (the rest of a part-way batch resumes on
 * POLLOUT). A message's time starts when its batch goes. */
static void stream_send(load_t *l, conn_t *c, int measuring) {
  if (c->ssl && tls_send_pending(l, c) < 0) { /* the last batch's ciphertext first */
    if (errno != EAGAIN) fail(l, "send");
    return;
  }
  if (l->interval_ns) c->owed = wanted(l, c, now_ns());
  while (c->owed > 0 || c->tx_busy) {
    if (!c->tx_busy) {
      int k = c->owed < l->batch ? c->owed : l->batch;
      for (int i = 0; i < k; i++) stamp(l, c, c->tx + (size_t)i * l->size, measuring);
      c->owed -= k;
      c->tx_off = 0;
      c->tx_len = (size_t)k * l->size;
      c->tx_busy = 1;
    }
    ssize_t n = stream_write(l, c, c->tx + c->tx_off, c->tx_len - c->tx_off);
    if (n < 0) {
      if (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR) return;
      fail(l, "send");
      return;
    }
    c->tx_off += (size_t)n;
    if (c->tx_off == c->tx_len) c->tx_busy = 0;
  }
}

/* Streams: reads what is there in large chunks, checks each whole echo, and owes a new message for each. */
static void stream_read(load_t *l, conn_t *c, int measuring) {
  for (;;) {
    size_t room = c->rx_cap - c->rx_have;
    ssize_t n = stream_recv(l, c, c->rx + c->rx_have, room);
    if (n < 0) {
      if (errno != EAGAIN && errno != EWOULDBLOCK && errno != EINTR) fail(l, "recv");
      break;
    }
    if (n == 0) {
      errno = ECONNRESET; /* the server closed the connection with echoes owed */
      fail(l, "recv");
      break;
    }
    c->rx_have += (size_t)n;
    int64_t t = now_ns();
    size_t used = 0;
    for (; c->inflight > 0 && c->rx_have - used >= l->size; used += l->size) {
      uint32_t want = c->want_seq++;
      uint32_t at = want % (uint32_t)l->ring;
      int whole = check(l, c->rx + used, l->size, want) >= 0;
      if (!whole && measuring) l->corrupt++;
      record(l, t - origin(l, c, want), measuring && whole);
      c->sent_at[at] = 0;
      c->inflight--;
      c->owed++;
    }
    if (c->inflight <= 0 && c->rx_have > used) { /* nothing is owed: these bytes answer no message */
      if (measuring) l->unexpected += c->rx_have - used;
      used = c->rx_have;
    }
    memmove(c->rx, c->rx + used, c->rx_have - used);
    c->rx_have -= used;
    if (used) stream_send(l, c, measuring);
    /* Less than there was room for: drained, so poll again rather than a recv for EAGAIN. A full read reads on:
     * with TLS, more may wait inside OpenSSL, where poll cannot see it. */
    if ((size_t)n < room) break;
  }
}

/* Datagrams: a message unanswered for LOSS_NS is lost (an echo that comes later will not match), and its place in
 * the window is refilled. */
static void expire(load_t *l, conn_t *c, int64_t t, int measuring) {
  int gone = 0;
  for (int k = 0; k < l->ring; k++) {
    if (c->sent_at[k] && t - c->sent_at[k] >= LOSS_NS) {
      c->sent_at[k] = 0;
      gone++;
    }
  }
  if (!gone) return;
  c->inflight -= gone;
  if (measuring) l->lost += (uint64_t)gone;
  dgram_send(l, c, wanted(l, c, t), measuring);
}

static void publish_sample(load_t *l, int64_t start, uint64_t *last) {
  sample_t s = {.t = (double)(now_ns() - start) / 1e9, .messages = l->messages - last[0], .bytes = l->bytes - last[1],
                .lost = l->lost - last[2], .corrupt = l->corrupt - last[3], .p99_ns = hist_percentile(l->second_hist, 0.99, l->max_ns)};
  last[0] = l->messages, last[1] = l->bytes, last[2] = l->lost, last[3] = l->corrupt;
  memset(l->second_hist, 0, sizeof l->second_hist);
  pthread_mutex_lock(&l->mu);
  if (l->nsamples < SAMPLES_MAX) l->samples[l->nsamples++] = s;
  pthread_mutex_unlock(&l->mu);
}

/* Connections end politely: TLS's close_notify and any ciphertext still queued sent, then EOF, then the echoes
 * still owed read (for up to a second) until the server closes, so that it sees an orderly end rather than a
 * reset for data left unread. */
static void finish_conns(load_t *l, struct pollfd *p) {
  int open = 0;
  for (int i = 0; i < l->conns; i++) {
    conn_t *c = &l->c[i];
    p[i].fd = -1;
    if (c->fd < 0) continue;
    if (c->ssl && SSL_is_init_finished(c->ssl)) SSL_shutdown(c->ssl);
    int queued = c->ssl && tls_flush(c) < 0;
    if (queued && errno != EAGAIN) continue;
    if (!queued && shutdown(c->fd, SHUT_WR) < 0) continue;
    p[i].fd = c->fd;
    p[i].events = POLLIN | (queued ? POLLOUT : 0);
    open++;
  }
  if (l->tls) ERR_clear_error(); /* a failed close_notify: nothing to report */
  for (int64_t until = now_ns() + 1000000000LL; open > 0 && now_ns() < until;) {
    if (poll(p, (nfds_t)l->conns, 100) <= 0) continue;
    for (int i = 0; i < l->conns; i++) {
      conn_t *c = &l->c[i];
      if (p[i].fd < 0 || !p[i].revents) continue;
      if (p[i].revents & POLLOUT) {
        int r = tls_flush(c);
        if (r == 0 && shutdown(c->fd, SHUT_WR) == 0) p[i].events = POLLIN;
        else if (r == 0 || errno != EAGAIN) p[i].fd = -1, open--;
        if (p[i].fd < 0) continue;
      }
      ssize_t n = recv(p[i].fd, c->rx, c->rx_cap, MSG_DONTWAIT);
      if (n == 0 || (n < 0 && errno != EAGAIN && errno != EINTR)) p[i].fd = -1, open--;
    }
  }
}

static void run(napi_env env, void *data) {
  load_t *l = data;
  int stream = l->stream, dgram = !stream;
  if (l->tls) ERR_clear_error(); /* this pool thread's OpenSSL error queue: only this run's errors in it */
  struct pollfd *p = calloc((size_t)l->conns, sizeof *p);
  if (!p) {
    errno = ENOMEM;
    return fail(l, "calloc");
  }
  for (int i = 0; i < l->conns; i++) {
    conn_t *c = &l->c[i];
    if (open_conn(l, c) < 0) { /* failed (l->err says why), or stopped during a TLS handshake */
      free(p);
      return;
    }
    p[i].fd = c->fd;
  }
  int64_t t0 = now_ns(), start = t0 + l->warmup_ns, end = start + l->duration_ns, next_sample = start + 1000000000LL;
  uint64_t last[4] = {0};
  int64_t last_scan = t0;
  l->last_echo = t0;
  int measuring = l->warmup_ns == 0;
  /* --rate: the connections' schedules interleave, so that together they send evenly; and this thread wakes within
   * a microsecond of a message's due time, not the default 50 (restored after: the thread is libuv's). */
  int slack = l->interval_ns ? prctl(PR_GET_TIMERSLACK, 0, 0, 0, 0) : -1;
  if (slack >= 0) prctl(PR_SET_TIMERSLACK, 1000UL, 0, 0, 0);
  for (int i = 0; i < l->conns; i++) l->c[i].due0 = t0 + l->interval_ns * i / l->conns;
  for (int i = 0; i < l->conns && !l->err; i++) {
    conn_t *c = &l->c[i];
    if (dgram) dgram_send(l, c, wanted(l, c, t0), measuring);
    else {
      c->owed = l->window;
      stream_send(l, c, measuring);
    }
  }
  while (!l->err && !__atomic_load_n(&l->stop, __ATOMIC_RELAXED)) {
    int64_t t = now_ns();
    if (!measuring && t >= start) {
      measuring = 1;
      reset_counts(l);
    }
    if (measuring && l->duration_ns && t >= end) break;
    if (measuring && l->count && l->messages >= l->count) break;
    if (t - l->last_echo >= STALL_NS) {
      l->stalled = 1;
      break;
    }
    if (measuring && t >= next_sample) {
      publish_sample(l, start, last);
      next_sample += 1000000000LL;
    }
    int64_t wake = t + 10000000LL; /* at the latest: the loss scan and the samples */
    for (int i = 0; i < l->conns; i++) {
      conn_t *c = &l->c[i];
      if (wanted(l, c, t) > 0) {
        if (dgram) dgram_send(l, c, wanted(l, c, t), measuring);
        else if (l->interval_ns && !c->tx_busy) stream_send(l, c, measuring); /* else echoes send */
      }
      p[i].events = POLLIN | (stream && (c->tx_busy || tls_pending(c)) ? POLLOUT : 0);
      int64_t next_due = c->due0 + (int64_t)c->issued * l->interval_ns;
      if (l->interval_ns && c->inflight < l->window && next_due < wake) wake = next_due;
    }
    if (dgram && t - last_scan >= SCAN_NS) {
      last_scan = t;
      for (int i = 0; i < l->conns; i++) expire(l, &l->c[i], t, measuring);
    }
    int64_t wait = wake - now_ns();
    struct timespec ts = {.tv_sec = 0, .tv_nsec = wait > 0 ? wait : 0};
    int n = ppoll(p, (nfds_t)l->conns, &ts, NULL);
    if (n < 0 && errno != EINTR) {
      fail(l, "poll");
      break;
    }
    for (int i = 0; i < l->conns && n > 0 && !l->err; i++) {
      if (!p[i].revents) continue;
      conn_t *c = &l->c[i];
      if (dgram) dgram_read(l, c, measuring);
      else {
        if (p[i].revents & POLLOUT) stream_send(l, c, measuring);
        if (p[i].revents & (POLLIN | POLLHUP | POLLERR)) stream_read(l, c, measuring);
      }
    }
  }
  if (slack >= 0) prctl(PR_SET_TIMERSLACK, (unsigned long)slack, 0, 0, 0);
  if (!measuring) reset_counts(l); /* stopped in the warm-up: nothing was measured */
  l->seconds = measuring ? (double)(now_ns() - start) / 1e9 : 0;
  if (l->seconds < 0) l->seconds = 0;
  /* What is still in flight at the end is neither lost nor answered: not counted. */
  if (l->type != SOCK_DGRAM) finish_conns(l, p);
  free(p);
  if (l->tls) ERR_clear_error(); /* and none left behind for what runs on this thread next */
}

/* What the run used: its sockets and buffers (the record and its samples live until JS lets go of the handle). */
static void free_run(load_t *l) {
  for (int i = 0; l->c && i < l->conns; i++) {
    conn_t *c = &l->c[i];
    if (c->fd >= 0) close(c->fd);
    if (c->ssl) SSL_free(c->ssl); /* and its BIOs (no call without TLS: the runtime may have no OpenSSL) */
    free(c->ct);
    free(c->sent_at);
    free(c->sent_seq);
    free(c->tx);
    free(c->rx);
  }
  free(l->c);
  l->c = NULL;
  free(l->pattern);
  l->pattern = NULL;
  free(l->ct_in);
  l->ct_in = NULL;
  if (l->tls) SSL_CTX_free(l->tls);
  l->tls = NULL;
  free(l->tls_sni);
  free(l->tls_host);
  l->tls_sni = l->tls_host = NULL;
}

static void finalize_load(napi_env env, void *data, void *hint) {
  load_t *l = data;
  free_run(l);
  free(l->samples);
  pthread_mutex_destroy(&l->mu);
  free(l);
}

static int alloc_run(load_t *l) {
  /* Datagrams: room for every message sent in LOSS_NS at a high rate, so that the loss timer, not the ring, expires them. */
  l->ring = l->stream ? l->window : (l->window * 16 < 4096 ? 4096 : l->window * 16);
  size_t slot = l->size + 1;
  size_t fit = BATCH_BYTES / l->size;
  l->batch = fit < 1 ? 1 : fit > LOAD_BATCH ? LOAD_BATCH : (int)fit;
  l->c = calloc((size_t)l->conns, sizeof *l->c);
  l->pattern = malloc(l->size);
  l->samples = calloc(SAMPLES_MAX, sizeof *l->samples);
  if (l->tls) l->ct_in = malloc(CT_CHUNK);
  if (!l->c || !l->pattern || !l->samples || (l->tls && !l->ct_in)) return -ENOMEM;
  for (size_t i = 0; i < l->size; i++) l->pattern[i] = (char)(i * 7 + 13);
  for (int i = 0; i < l->conns; i++) l->c[i].fd = -1;
  for (int i = 0; i < l->conns; i++) {
    conn_t *c = &l->c[i];
    c->sent_at = calloc((size_t)l->ring, sizeof *c->sent_at);
    c->sent_seq = calloc((size_t)l->ring, sizeof *c->sent_seq);
    c->tx = malloc((size_t)l->batch * l->size);
    /* Streams read in chunks of at least BATCH_BYTES (many echoes a recv); datagrams, a batch of slots. */
    c->rx_cap = (size_t)l->batch * slot;
    if (l->stream && c->rx_cap < BATCH_BYTES) c->rx_cap = BATCH_BYTES;
    c->rx = malloc(c->rx_cap);
    if (!c->sent_at || !c->sent_seq || !c->tx || !c->rx) return -ENOMEM;
    for (int k = 0; k < l->batch; k++) memcpy(c->tx + (size_t)k * l->size, l->pattern, l->size);
  }
  return 0;
}

static napi_value str(napi_env env, const char *s) {
  napi_value v;
  napi_create_string_utf8(env, s, NAPI_AUTO_LENGTH, &v);
  return v;
}

static void set(napi_env env, napi_value obj, const char *name, napi_value v) {
  napi_set_named_property(env, obj, name, v);
}

static void done(napi_env env, napi_status status, void *data) {
  load_t *l = data;
  napi_delete_async_work(env, l->work);
  free_run(l);
  napi_value r, hist;
  napi_create_object(env, &r);
  set(env, r, "messages", js_number(env, (double)l->messages));
  set(env, r, "bytes", js_number(env, (double)l->bytes));
  set(env, r, "sent", js_number(env, (double)l->sent));
  set(env, r, "lost", js_number(env, (double)l->lost));
  set(env, r, "corrupt", js_number(env, (double)l->corrupt));
  set(env, r, "unexpected", js_number(env, (double)l->unexpected));
  set(env, r, "seconds", js_number(env, l->seconds));
  set(env, r, "maxNs", js_number(env, (double)l->max_ns));
  static const double at[4] = {0.5, 0.9, 0.99, 0.999};
  napi_value percentiles;
  napi_create_array_with_length(env, 4, &percentiles);
  for (uint32_t i = 0; i < 4; i++) napi_set_element(env, percentiles, i, js_number(env, (double)hist_percentile(l->hist, at[i], l->max_ns)));
  set(env, r, "percentilesNs", percentiles);
  napi_value stalled;
  napi_get_boolean(env, l->stalled, &stalled);
  set(env, r, "stalled", stalled);
  napi_create_array(env, &hist);
  uint32_t k = 0;
  for (int i = 0; i < HIST_BUCKETS; i++) {
    if (!l->hist[i]) continue;
    napi_value pair;
    napi_create_array_with_length(env, 2, &pair);
    /* A bucket's bound, but never above the largest latency seen (as percentiles): the top row shows the max. */
    napi_set_element(env, pair, 0, js_number(env, (double)(hist_upper(i) < l->max_ns ? hist_upper(i) : l->max_ns)));
    napi_set_element(env, pair, 1, js_number(env, (double)l->hist[i]));
    napi_set_element(env, hist, k++, pair);
  }
  set(env, r, "histogram", hist);
  if (l->tls_version[0]) {
    set(env, r, "tlsVersion", str(env, l->tls_version));
    set(env, r, "tlsCipher", str(env, l->tls_cipher));
  }
  if (l->err) {
    set(env, r, "errno", js_number(env, -l->err));
    set(env, r, "syscall", str(env, l->err_op));
    if (l->tls_code[0]) {
      set(env, r, "tlsCode", str(env, l->tls_code));
      set(env, r, "tlsDetail", str(env, l->tls_detail));
    }
  }
  napi_resolve_deferred(env, l->deferred, r);
  napi_delete_reference(env, l->self);
}

static double num_prop(napi_env env, napi_value obj, const char *name) {
  napi_value v;
  double d = 0;
  if (napi_get_named_property(env, obj, name, &v) == napi_ok) napi_get_value_double(env, v, &d);
  return d;
}

static int bool_prop(napi_env env, napi_value obj, const char *name) {
  napi_value v;
  bool b = false;
  if (napi_get_named_property(env, obj, name, &v) == napi_ok) napi_get_value_bool(env, v, &b);
  return b;
}

/* A string property as a C string of its own (malloc), or NULL when absent; *bad when it cannot be had. */
static char *str_prop(napi_env env, napi_value obj, const char *name, int *bad) {
  napi_value v;
  napi_valuetype t;
  size_t len;
  if (napi_get_named_property(env, obj, name, &v) != napi_ok || napi_typeof(env, v, &t) != napi_ok || t != napi_string) return NULL;
  char *s = NULL;
  if (napi_get_value_string_utf8(env, v, NULL, 0, &len) != napi_ok || !(s = malloc(len + 1)) ||
      napi_get_value_string_utf8(env, v, s, len + 1, &len) != napi_ok) {
    *bad = 1;
    free(s);
    return NULL;
  }
  return s;
}

/* PEM bytes of property `name`, or none (*len 0). */
static char *pem_prop(napi_env env, napi_value obj, const char *name, size_t *len) {
  napi_value v;
  char *p = NULL;
  *len = 0;
  if (napi_get_named_property(env, obj, name, &v) != napi_ok || !bytes_arg(env, v, &p, len)) *len = 0;
  return p;
}

/* The run's TLS client context from `t` ({ ca, cert, key: PEM bytes; sni, host: strings; insecure }): NULL, or
 * what is wrong with them. The trust is `ca` alone, as Node's tls has it (JS passes Node's root certificates
 * when none are given). Called on the main thread: OpenSSL's errors are popped, Node's own left as they were. */
static const char *tls_setup(load_t *l, napi_env env, napi_value t) {
  static char why[256];
  const char *wrong = NULL;
  size_t ca_len, cert_len, key_len;
  char *ca = pem_prop(env, t, "ca", &ca_len), *cert = pem_prop(env, t, "cert", &cert_len), *key = pem_prop(env, t, "key", &key_len);
  int bad = 0;
  l->tls_sni = str_prop(env, t, "sni", &bad);
  l->tls_host = str_prop(env, t, "host", &bad);
  ERR_set_mark();
  l->tls = SSL_CTX_new(TLS_client_method());
  if (bad || !l->tls) {
    wrong = "out of memory";
    goto out;
  }
  SSL_CTX_set_verify(l->tls, l->tls_host ? SSL_VERIFY_PEER : SSL_VERIFY_NONE, NULL);
  if (ca_len) {
    BIO *b = BIO_new_mem_buf(ca, (int)ca_len);
    X509_STORE *store = SSL_CTX_get_cert_store(l->tls);
    X509 *x;
    int n = 0;
    while (b && (x = PEM_read_bio_X509(b, NULL, NULL, NULL))) {
      n += X509_STORE_add_cert(store, x);
      X509_free(x);
    }
    BIO_free(b);
    if (!n) wrong = "the certificate authorities hold no PEM certificate";
  }
  if (!wrong && cert_len) {
    /* The first certificate is the client's, the rest its chain; the key must be that certificate's. */
    BIO *b = BIO_new_mem_buf(cert, (int)cert_len), *k = BIO_new_mem_buf(key, (int)key_len);
    X509 *x = b ? PEM_read_bio_X509(b, NULL, NULL, NULL) : NULL;
    int ok = x && SSL_CTX_use_certificate(l->tls, x);
    X509_free(x);
    while (ok && (x = PEM_read_bio_X509(b, NULL, NULL, NULL))) {
      if (!SSL_CTX_add0_chain_cert(l->tls, x)) X509_free(x), ok = 0; /* on success the context owns x */
    }
    EVP_PKEY *pk = ok && k ? PEM_read_bio_PrivateKey(k, NULL, NULL, NULL) : NULL;
    ok = pk && SSL_CTX_use_PrivateKey(l->tls, pk) && SSL_CTX_check_private_key(l->tls);
    EVP_PKEY_free(pk);
    BIO_free(b);
    BIO_free(k);
    if (!ok) {
      const char *reason = ERR_reason_error_string(ERR_peek_last_error());
      snprintf(why, sizeof why, "bad TLS client certificate or key%s%s", reason ? ": " : "", reason ? reason : "");
      wrong = why;
    }
  }
out:
  ERR_pop_to_mark();
  return wrong;
}

/* loadStart({ sockaddr, family, type, conns, window, size, durationMs, warmupMs, count, rate?, sockperf?, tls? })
 * -> { handle, done } */
napi_value js_load_start(napi_env env, napi_callback_info info) {
  size_t argc = 1;
  napi_value o;
  napi_get_cb_info(env, info, &argc, &o, NULL, NULL);
  load_t *l = calloc(1, sizeof *l);
  if (!l) return throw_errno(env, -ENOMEM, "loadStart");
  pthread_mutex_init(&l->mu, NULL);
  napi_value sav;
  char *sa;
  size_t salen = 0;
  napi_get_named_property(env, o, "sockaddr", &sav);
  if (!bytes_arg(env, sav, &sa, &salen) || salen > sizeof l->sa) {
    finalize_load(env, l, NULL);
    return throw_type(env, "loadStart: sockaddr bytes expected");
  }
  memcpy(&l->sa, sa, salen);
  l->salen = (socklen_t)salen;
  l->family = (int)num_prop(env, o, "family");
  l->type = (int)num_prop(env, o, "type");
  l->conns = (int)num_prop(env, o, "conns");
  l->window = (int)num_prop(env, o, "window");
  l->size = (size_t)num_prop(env, o, "size");
  l->duration_ns = (int64_t)(num_prop(env, o, "durationMs") * 1e6);
  l->warmup_ns = (int64_t)(num_prop(env, o, "warmupMs") * 1e6);
  l->count = (uint64_t)num_prop(env, o, "count");
  l->sockperf = bool_prop(env, o, "sockperf");
  l->header = l->sockperf ? SP_HEADER : HEADER;
  double rate = num_prop(env, o, "rate"); /* messages a second, all connections together */
  l->interval_ns = rate > 0 ? (int64_t)(1e9 * l->conns / rate) : 0;
  if (rate > 0 && l->interval_ns < 1) l->interval_ns = 1;
  if (l->conns < 1 || l->window < 1 || l->size < l->header || (!l->duration_ns && !l->count)) {
    finalize_load(env, l, NULL);
    return throw_type(env, "loadStart: conns, window, size and a duration or a count expected");
  }
  napi_value t;
  napi_valuetype tt;
  if (napi_get_named_property(env, o, "tls", &t) == napi_ok && napi_typeof(env, t, &tt) == napi_ok && tt == napi_object) {
    const char *lacking = openssl_missing();
    if (lacking) {
      finalize_load(env, l, NULL);
      napi_throw_error(env, "ENOTSUP", lacking); /* JS names the runtime */
      return NULL;
    }
    const char *wrong = tls_setup(l, env, t);
    if (wrong) {
      finalize_load(env, l, NULL);
      napi_throw_error(env, "EINVAL", wrong);
      return NULL;
    }
  }
  l->stream = l->type == SOCK_STREAM || l->tls; /* TLS over seqpacket is a byte stream too */
  int r = alloc_run(l);
  if (r < 0) {
    finalize_load(env, l, NULL);
    return throw_errno(env, r, "loadStart");
  }
  napi_value handle, promise, name, result;
  if (napi_create_external(env, l, finalize_load, NULL, &handle) != napi_ok) {
    finalize_load(env, l, NULL);
    return throw_errno(env, -ENOMEM, "loadStart");
  }
  /* From here the handle owns `l`; the reference keeps it alive until the run is done. */
  napi_create_reference(env, handle, 1, &l->self);
  napi_create_promise(env, &l->deferred, &promise);
  napi_create_string_utf8(env, "socktool-load", NAPI_AUTO_LENGTH, &name);
  napi_create_async_work(env, NULL, name, run, done, l, &l->work);
  napi_queue_async_work(env, l->work);
  napi_create_object(env, &result);
  set(env, result, "handle", handle);
  set(env, result, "done", promise);
  return result;
}

static load_t *load_arg(napi_env env, napi_callback_info info) {
  size_t argc = 1;
  napi_value v;
  void *p = NULL;
  napi_get_cb_info(env, info, &argc, &v, NULL, NULL);
  if (napi_get_value_external(env, v, &p) != napi_ok) return NULL;
  return p;
}

/* loadPoll(handle) -> the one-second samples since the last poll: [t, messages, bytes, lost, corrupt, p99Ns][] */
napi_value js_load_poll(napi_env env, napi_callback_info info) {
  load_t *l = load_arg(env, info);
  if (!l) return throw_type(env, "loadPoll: a load handle expected");
  napi_value out;
  napi_create_array(env, &out);
  pthread_mutex_lock(&l->mu);
  for (uint32_t k = 0; k < (uint32_t)l->nsamples; k++) {
    sample_t *s = &l->samples[k];
    napi_value row;
    napi_create_array_with_length(env, 6, &row);
    double f[6] = {s->t, (double)s->messages, (double)s->bytes, (double)s->lost, (double)s->corrupt, (double)s->p99_ns};
    for (uint32_t j = 0; j < 6; j++) napi_set_element(env, row, j, js_number(env, f[j]));
    napi_set_element(env, out, k, row);
  }
  l->nsamples = 0;
  pthread_mutex_unlock(&l->mu);
  return out;
}

napi_value js_load_stop(napi_env env, napi_callback_info info) {
  load_t *l = load_arg(env, info);
  if (!l) return throw_type(env, "loadStop: a load handle expected");
  __atomic_store_n(&l->stop, 1, __ATOMIC_RELAXED);
  return undef(env);
}
