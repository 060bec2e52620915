/* Echo load generator: keeps N messages in flight against an echo server and counts the replies.
 * usage: loadgen udp|unixgram|tcp|unix HOST|PATH PORT SIZE INFLIGHT SECONDS
 *   -> prints "<messages per second> <datagrams resent after a quiet 50 ms> <p50 us> <p99 us>"
 * Latency is each reply's time since its request left: a stream's replies come back in order (a ring of send
 * times); a datagram carries its send time in its first 8 bytes (SIZE >= 8), as replies may be lost or reordered.
 * Written in C, with datagrams in recvmmsg/sendmmsg batches, so that the client is never the bottleneck of
 * what it measures (a server that does one syscall per datagram spends more per message than this does). */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <errno.h>
#include <netdb.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <sys/un.h>
#include <stddef.h>
#include <stdint.h>
#include <time.h>
#include <unistd.h>

static double now(void) {
  struct timespec t;
  clock_gettime(CLOCK_MONOTONIC, &t);
  return t.tv_sec + t.tv_nsec / 1e9;
}

/* A unix address: a path, or @name for the abstract namespace (exact length, as Python and socat use). */
static socklen_t unix_addr(struct sockaddr_un *sa, const char *where) {
  memset(sa, 0, sizeof *sa);
  sa->sun_family = AF_UNIX;
  strncpy(sa->sun_path, where, sizeof sa->sun_path - 1);
  if (where[0] != '@') return sizeof *sa;
  sa->sun_path[0] = 0;
  return (socklen_t)(offsetof(struct sockaddr_un, sun_path) + strlen(where));
}

static int open_socket(const char *kind, const char *where, const char *port) {
  if (strcmp(kind, "unixgram") == 0) {
    struct sockaddr_un sa;
    socklen_t len = unix_addr(&sa, where);
    sa_family_t family = AF_UNIX;
    int fd = socket(AF_UNIX, SOCK_DGRAM, 0);
    /* autobind, so that the server can answer */
    if (fd < 0 || bind(fd, (struct sockaddr *)&family, sizeof family) < 0) return -1;
    if (connect(fd, (struct sockaddr *)&sa, len) < 0) return -1;
    return fd;
  }
  if (strcmp(kind, "unix") == 0) {
    struct sockaddr_un sa = {.sun_family = AF_UNIX};
    strncpy(sa.sun_path, where, sizeof sa.sun_path - 1);
    int fd = socket(AF_UNIX, SOCK_STREAM, 0);
    if (fd < 0 || connect(fd, (struct sockaddr *)&sa, sizeof sa) < 0) return -1;
    return fd;
  }
  struct addrinfo hints = {0}, *ai;
  hints.ai_socktype = strcmp(kind, "udp") == 0 ? SOCK_DGRAM : SOCK_STREAM;
  if (getaddrinfo(where, port, &hints, &ai) != 0) return -1;
  int fd = socket(ai->ai_family, ai->ai_socktype, 0);
  if (fd < 0 || connect(fd, ai->ai_addr, ai->ai_addrlen) < 0) return -1;
  freeaddrinfo(ai);
  return fd;
}

#define BATCH 64

static uint64_t now_ns(void) {
  struct timespec t;
  clock_gettime(CLOCK_MONOTONIC, &t);
  return (uint64_t)t.tv_sec * 1000000000u + (uint64_t)t.tv_nsec;
}

/* Latencies in a log-linear histogram (HdrHistogram's idea): 64 buckets per power of two, so a percentile is
 * within 1.6 % of the true value. Bucket i < 64 holds i ns; above, [2^e, 2^(e+1)) ns splits into 64. */
#define SUB 64
static long hist[SUB * 40];
static long samples;

static void record(uint64_t ns) {
  unsigned i = (unsigned)ns;
  if (ns >= SUB) {
    int e = 63 - __builtin_clzll(ns);
    i = (unsigned)(SUB * (e - 5) + (ns >> (e - 6)) - SUB);
  }
  if (i >= sizeof hist / sizeof *hist) i = sizeof hist / sizeof *hist - 1;
  hist[i]++;
  samples++;
}

/* The smallest latency (us) that at least `q` of the samples did not exceed: the upper edge of its bucket. */
static double percentile(double q) {
  long want = (long)(q * (double)samples + 0.5), seen = 0;
  for (unsigned i = 0; i < sizeof hist / sizeof *hist; i++) {
    seen += hist[i];
    if (seen >= want && seen > 0) {
      if (i < SUB) return (i + 1) / 1e3;
      unsigned e = i / SUB + 5, m = i % SUB + SUB; /* bucket [m, m+1) << (e - 6) */
      return (double)((uint64_t)(m + 1) << (e - 6)) / 1e3;
    }
  }
  return 0;
}

static void stamp(char *msg, size_t size) {
  if (size < sizeof(uint64_t)) return;
  uint64_t t = now_ns();
  memcpy(msg, &t, sizeof t);
}

static void stamped(const char *msg, size_t size) {
  if (size < sizeof(uint64_t)) return;
  uint64_t t;
  memcpy(&t, msg, sizeof t);
  record(now_ns() - t);
}

/* Datagrams: wait for at least one reply, take every reply that is there in one recvmmsg, answer each with a
 * new request in one sendmmsg. */
static long run_dgram(int fd, char *buf, size_t size, int inflight, double end, long *resent) {
  struct mmsghdr m[BATCH];
  struct iovec iov[BATCH];
  for (int i = 0; i < BATCH; i++) {
    iov[i].iov_base = buf + (size_t)i * size;
    iov[i].iov_len = size;
    memset(&m[i], 0, sizeof m[i]);
    m[i].msg_hdr.msg_iov = &iov[i];
    m[i].msg_hdr.msg_iovlen = 1;
  }
  for (int left = inflight; left > 0;) {
    int k = left < BATCH ? left : BATCH;
    for (int i = 0; i < k; i++) stamp(iov[i].iov_base, size);
    int n = sendmmsg(fd, m, (unsigned)k, 0);
    if (n > 0) left -= n;
  }
  long replies = 0;
  while (now() < end) {
    int n = recvmmsg(fd, m, BATCH, MSG_WAITFORONE, NULL);
    if (n < 0) {
      if (errno == EAGAIN || errno == EWOULDBLOCK) {
        /* quiet for 50 ms: one was lost (udp); keep the window full */
        stamp(buf, size);
        send(fd, buf, size, 0);
        (*resent)++;
        continue;
      }
      if (errno == EINTR || errno == ECONNREFUSED) continue;
      perror("loadgen: recvmmsg");
      exit(1);
    }
    replies += n;
    for (int i = 0; i < n; i++) {
      stamped(iov[i].iov_base, (size_t)m[i].msg_len);
      iov[i].iov_len = size;
      stamp(iov[i].iov_base, size);
    }
    for (int sent = 0; sent < n;) {
      int r = sendmmsg(fd, m + sent, (unsigned)(n - sent), 0);
      if (r > 0) sent += r;
      else if (errno != EINTR && errno != EAGAIN) break;
    }
  }
  return replies;
}

int main(int argc, char **argv) {
  if (argc != 7) {
    fprintf(stderr, "usage: loadgen udp|unixgram|tcp|unix HOST|PATH PORT SIZE INFLIGHT SECONDS\n");
    return 2;
  }
  const char *kind = argv[1];
  size_t size = (size_t)atoi(argv[4]);
  int inflight = atoi(argv[5]);
  double seconds = atof(argv[6]);
  int dgram = strcmp(kind, "udp") == 0 || strcmp(kind, "unixgram") == 0;
  int fd = open_socket(kind, argv[2], argv[3]);
  if (fd < 0) {
    perror("loadgen: connect");
    return 1;
  }
  /* A lost datagram must not stall the window: after a quiet 50 ms, send a replacement. */
  struct timeval tv = {0, 50000};
  setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
  char *buf = calloc(BATCH, size > 65536 ? size : 65536);
  long replies = 0, resent = 0;
  double start = now(), end = start + seconds;
  if (dgram) {
    replies = run_dgram(fd, buf, size, inflight, end, &resent);
  } else {
    /* Replies come back in order: the send times wait in a ring, oldest at `head`. Requests are written only as
     * far as the socket takes them, reading in between: a window larger than both sides' buffers (64 KiB x 8 on
     * unix) would otherwise block both in write. A request's time is when it was due, not when it got out. */
    uint64_t *sent_at = calloc((size_t)inflight, sizeof *sent_at);
    size_t head = 0, unsent = (size_t)inflight * size; /* bytes of due requests not yet written */
    for (int i = 0; i < inflight; i++) sent_at[i] = now_ns();
    size_t pending = 0; /* stream bytes received toward the next whole message */
    while (now() < end) {
      /* One send per message, as an echo's clients write them (the rest of one cut short first). */
      while (unsent) {
        ssize_t n = send(fd, buf, unsent % size ? unsent % size : size, MSG_DONTWAIT);
        if (n <= 0) break;
        unsent -= (size_t)n;
      }
      /* Blocking reads while everything due is written (ping-pong: one send, one recv); else wait for either. */
      ssize_t n = recv(fd, buf, 65536, unsent ? MSG_DONTWAIT : 0);
      if (n < 0) {
        if (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR) {
          struct pollfd p = {.fd = fd, .events = POLLIN | (unsent ? POLLOUT : 0)};
          poll(&p, 1, 50);
          continue;
        }
        perror("loadgen: recv");
        return 1;
      }
      if (n == 0) break;
      pending += (size_t)n;
      long whole = (long)(pending / size);
      pending %= size;
      for (long i = 0; i < whole; i++) {
        uint64_t t = now_ns();
        record(t - sent_at[head]);
        sent_at[head] = t; /* the request due now takes the answered one's place at the ring's end */
        head = (head + 1) % (size_t)inflight;
      }
      unsent += (size_t)whole * size;
      replies += whole;
    }
  }
  printf("%.0f %ld %.1f %.1f\n", replies / (now() - start), resent, percentile(0.5), percentile(0.99));
  return 0;
}
