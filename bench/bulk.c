// Bulk TCP transfer for bench/relay.mjs.
//   bulk sink <port>               accepts connections one after another, reads each to EOF, answers the byte
//                                  count and closes; prints "listening on tcp://127.0.0.1:<port>" first
//   bulk send <port> <megabytes>   connects, writes that much, half-closes, waits for the count; prints seconds
#include <arpa/inet.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#define BUF (256 * 1024)
static char buf[BUF];

static struct sockaddr_in loopback(int port) {
  struct sockaddr_in sa = { .sin_family = AF_INET, .sin_port = htons(port) };
  sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  return sa;
}

static int sink(int port) {
  int l = socket(AF_INET, SOCK_STREAM, 0), one = 1;
  setsockopt(l, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
  struct sockaddr_in sa = loopback(port);
  socklen_t len = sizeof sa;
  if (bind(l, (struct sockaddr *)&sa, sizeof sa) || listen(l, 16)) return perror("sink"), 1;
  getsockname(l, (struct sockaddr *)&sa, &len);
  printf("listening on tcp://127.0.0.1:%d\n", ntohs(sa.sin_port));
  fflush(stdout);
  for (;;) {
    int c = accept(l, NULL, NULL);
    if (c < 0) continue;
    long long total = 0;
    ssize_t n;
    while ((n = read(c, buf, BUF)) > 0) total += n;
    int m = snprintf(buf, 64, "%lld\n", total);
    if (write(c, buf, m) != m) perror("sink write");
    close(c);
  }
}

static int send_bulk(int port, long long mb) {
  int s = socket(AF_INET, SOCK_STREAM, 0);
  struct sockaddr_in sa = loopback(port);
  struct timespec t0, t1;
  memset(buf, 'x', BUF);
  clock_gettime(CLOCK_MONOTONIC, &t0);
  if (connect(s, (struct sockaddr *)&sa, sizeof sa)) return perror("connect"), 1;
  long long left = mb * 1024 * 1024;
  while (left > 0) {
    ssize_t n = write(s, buf, left < BUF ? left : BUF);
    if (n <= 0) return perror("write"), 1;
    left -= n;
  }
  shutdown(s, SHUT_WR);
  char answer[64] = { 0 };
  ssize_t got = 0, n;
  while ((n = read(s, answer + got, sizeof answer - 1 - got)) > 0) got += n;
  clock_gettime(CLOCK_MONOTONIC, &t1);
  if (atoll(answer) != mb * 1024 * 1024) return fprintf(stderr, "sink counted %s", answer), 1;
  printf("%.6f\n", (t1.tv_sec - t0.tv_sec) + (t1.tv_nsec - t0.tv_nsec) / 1e9);
  return 0;
}

int main(int argc, char **argv) {
  if (argc == 3 && !strcmp(argv[1], "sink")) return sink(atoi(argv[2]));
  if (argc == 4 && !strcmp(argv[1], "send")) return send_bulk(atoi(argv[2]), atoll(argv[3]));
  fprintf(stderr, "usage: bulk sink <port> | bulk send <port> <megabytes>\n");
  return 2;
}
