/* Echo load generator: keeps N messages in flight against an echo server and counts the replies.
 * usage: loadgen udp|tcp|unix HOST|PATH PORT SIZE INFLIGHT SECONDS   -> prints "<messages per second>"
 * Written in C so that the client is never the bottleneck of what it measures. */
#include <arpa/inet.h>
#include <errno.h>
#include <netdb.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

static double now(void) {
  struct timespec t;
  clock_gettime(CLOCK_MONOTONIC, &t);
  return t.tv_sec + t.tv_nsec / 1e9;
}

static int open_socket(const char *kind, const char *where, const char *port) {
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

int main(int argc, char **argv) {
  if (argc != 7) {
    fprintf(stderr, "usage: loadgen udp|tcp|unix HOST|PATH PORT SIZE INFLIGHT SECONDS\n");
    return 2;
  }
  const char *kind = argv[1];
  size_t size = (size_t)atoi(argv[4]);
  int inflight = atoi(argv[5]);
  double seconds = atof(argv[6]);
  int dgram = strcmp(kind, "udp") == 0;
  int fd = open_socket(kind, argv[2], argv[3]);
  if (fd < 0) {
    perror("loadgen: connect");
    return 1;
  }
  /* A lost datagram must not stall the window: after a quiet 50 ms, send a replacement. */
  struct timeval tv = {0, 50000};
  setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
  char *buf = calloc(1, size > 65536 ? size : 65536);
  for (int i = 0; i < inflight; i++) send(fd, buf, size, 0);
  long replies = 0;
  size_t pending = 0; /* stream bytes received toward the next whole message */
  double start = now(), end = start + seconds;
  while (now() < end) {
    ssize_t n = recv(fd, buf, dgram ? size : 65536, 0);
    if (n < 0) {
      if (errno == EAGAIN || errno == EWOULDBLOCK) {
        if (dgram) send(fd, buf, size, 0);
        continue;
      }
      perror("loadgen: recv");
      return 1;
    }
    if (n == 0) break;
    long whole = 1;
    if (!dgram) {
      pending += (size_t)n;
      whole = (long)(pending / size);
      pending %= size;
    }
    for (long i = 0; i < whole; i++) send(fd, buf, size, 0);
    replies += whole;
  }
  printf("%.0f\n", replies / (now() - start));
  return 0;
}
