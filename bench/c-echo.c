/* The plainest C echo servers, the baselines the tutorials teach: datagrams, one blocking recvfrom and one sendto
 * each; streams, a thread per connection doing blocking read and write.
 * usage: c-echo udp|tcp PORT | c-echo unixgram|unix PATH|@name   (first line: "listening on <address>") */
#include <arpa/inet.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <pthread.h>
#include <stdint.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

static void *echo_conn(void *arg) {
  int c = (int)(intptr_t)arg;
  static __thread char buf[65536];
  for (;;) {
    ssize_t n = read(c, buf, sizeof buf);
    if (n <= 0) break;
    for (ssize_t off = 0; off < n;) {
      ssize_t w = send(c, buf + off, (size_t)(n - off), MSG_NOSIGNAL); /* a client gone is not our end */
      if (w <= 0) goto done;
      off += w;
    }
  }
done:
  close(c);
  return NULL;
}

int main(int argc, char **argv) {
  if (argc != 3) {
    fprintf(stderr, "usage: c-echo udp|tcp PORT | c-echo unixgram|unix PATH|@name\n");
    return 2;
  }
  const char *kind = argv[1];
  int stream = strcmp(kind, "tcp") == 0 || strcmp(kind, "unix") == 0;
  int type = stream ? SOCK_STREAM : SOCK_DGRAM;
  int fd;
  if (strcmp(kind, "udp") == 0 || strcmp(kind, "tcp") == 0) {
    struct sockaddr_in sa = {.sin_family = AF_INET, .sin_port = htons(atoi(argv[2]))};
    socklen_t len = sizeof sa;
    sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    fd = socket(AF_INET, type, 0);
    int one = 1;
    setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
    if (bind(fd, (struct sockaddr *)&sa, sizeof sa) < 0) return perror("bind"), 1;
    getsockname(fd, (struct sockaddr *)&sa, &len);
    if (stream) listen(fd, 128);
    printf("listening on %s://127.0.0.1:%d\n", kind, ntohs(sa.sin_port));
  } else {
    struct sockaddr_un sa = {.sun_family = AF_UNIX};
    const char *where = argv[2];
    socklen_t len = sizeof sa;
    strncpy(sa.sun_path, where, sizeof sa.sun_path - 1);
    if (where[0] == '@') {
      sa.sun_path[0] = 0;
      len = (socklen_t)(offsetof(struct sockaddr_un, sun_path) + strlen(where));
    }
    if (where[0] != '@') unlink(where); /* a file left by an earlier round */
    fd = socket(AF_UNIX, type, 0);
    if (bind(fd, (struct sockaddr *)&sa, len) < 0) return perror("bind"), 1;
    if (stream) listen(fd, 128);
    printf(where[0] == '@' ? "listening on %s:%s\n" : "listening on %s://%s\n", kind, where);
  }
  fflush(stdout);
  while (stream) {
    int c = accept(fd, NULL, NULL);
    if (c < 0) continue;
    if (strcmp(kind, "tcp") == 0) {
      int one = 1;
      setsockopt(c, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
    }
    pthread_t t;
    if (pthread_create(&t, NULL, echo_conn, (void *)(intptr_t)c) != 0) close(c);
    else pthread_detach(t);
  }
  static char buf[65536];
  for (;;) {
    struct sockaddr_storage from;
    socklen_t flen = sizeof from;
    ssize_t n = recvfrom(fd, buf, sizeof buf, 0, (struct sockaddr *)&from, &flen);
    if (n >= 0) sendto(fd, buf, (size_t)n, 0, (struct sockaddr *)&from, flen);
  }
}
