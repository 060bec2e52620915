/* The plainest C datagram echo server: one blocking recvfrom and one sendto per datagram, the baseline the
 * tutorials teach. usage: c-echo udp PORT | c-echo unixgram PATH|@name   (first line: "listening on <address>") */
#include <arpa/inet.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

int main(int argc, char **argv) {
  if (argc != 3) {
    fprintf(stderr, "usage: c-echo udp PORT | c-echo unixgram PATH|@name\n");
    return 2;
  }
  int fd;
  if (strcmp(argv[1], "udp") == 0) {
    struct sockaddr_in sa = {.sin_family = AF_INET, .sin_port = htons(atoi(argv[2]))};
    socklen_t len = sizeof sa;
    sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    fd = socket(AF_INET, SOCK_DGRAM, 0);
    if (bind(fd, (struct sockaddr *)&sa, sizeof sa) < 0) return perror("bind"), 1;
    getsockname(fd, (struct sockaddr *)&sa, &len);
    printf("listening on udp://127.0.0.1:%d\n", ntohs(sa.sin_port));
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
    fd = socket(AF_UNIX, SOCK_DGRAM, 0);
    if (bind(fd, (struct sockaddr *)&sa, len) < 0) return perror("bind"), 1;
    printf(where[0] == '@' ? "listening on unixgram:%s\n" : "listening on unixgram://%s\n", where);
  }
  fflush(stdout);
  static char buf[65536];
  for (;;) {
    struct sockaddr_storage from;
    socklen_t flen = sizeof from;
    ssize_t n = recvfrom(fd, buf, sizeof buf, 0, (struct sockaddr *)&from, &flen);
    if (n >= 0) sendto(fd, buf, (size_t)n, 0, (struct sockaddr *)&from, flen);
  }
}
