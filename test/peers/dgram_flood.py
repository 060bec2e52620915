"""A datagram flood against an echo server, counting every reply.

usage: dgram_flood.py unixgram PATH|@NAME | udp HOST PORT  SENDERS COUNT WINDOW
Each of SENDERS threads has its own socket (unixgram: autobound, so it can be answered) and sends COUNT numbered
datagrams: at most WINDOW unanswered at a time, or, with WINDOW 0, all of them as fast as it can while a second
thread reads the replies. A sender gives up when no reply comes, or its datagram is not taken, for 5 s. Prints one JSON line:
{"sent": N, "received": N, "lost": N, "corrupt": N}.
"""
import json
import socket
import sys
import threading

kind = sys.argv[1]
if kind == 'unixgram':
    where = sys.argv[2]
    target = '\0' + where[1:] if where.startswith('@') else where
    rest = sys.argv[3:]
else:
    target = (sys.argv[2], int(sys.argv[3]))
    rest = sys.argv[4:]
senders, count, window = (int(x) for x in rest)
IDLE = 5.0
totals = {'sent': 0, 'received': 0, 'corrupt': 0}
lock = threading.Lock()


def make():
    if kind == 'unixgram':
        s = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
        s.bind('')  # autobind: an abstract name the server can answer
    else:
        s = socket.socket(socket.AF_INET6 if ':' in target[0] else socket.AF_INET, socket.SOCK_DGRAM)
        s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 1 << 20)
    s.settimeout(IDLE)
    return s


def payload(me, i):
    return b'%d:%d:' % (me, i) + b'x' * 32


def receive(s, me, want, seen):
    got = corrupt = 0
    while got + corrupt < want:
        try:
            data = s.recv(65536)
        except socket.timeout:
            break
        parts = data.split(b':')
        ok = len(parts) == 3 and parts[0] == b'%d' % me and data == payload(me, int(parts[1]))
        if ok and int(parts[1]) not in seen:
            seen.add(int(parts[1]))
            got += 1
        else:
            corrupt += 1
    return got, corrupt


def sender(me):
    s = make()
    sent = got = corrupt = 0
    seen = set()
    if window == 0:
        result = {}
        reader = threading.Thread(target=lambda: result.update(r=receive(s, me, count, seen)))
        reader.start()
        try:
            for i in range(count):
                s.sendto(payload(me, i), target)
                sent += 1
        except socket.timeout:
            pass  # the server took nothing for IDLE seconds: the rest is not sent, which the totals show
        reader.join()
        got, corrupt = result['r']
    else:
        inflight = 0
        while sent < count or inflight > 0:
            try:
                while sent < count and inflight < window:
                    s.sendto(payload(me, sent), target)
                    sent += 1
                    inflight += 1
            except socket.timeout:
                break
            g, c = receive(s, me, 1, seen)
            if g + c == 0:
                break
            got += g
            corrupt += c
            inflight -= g + c
    with lock:
        totals['sent'] += sent
        totals['received'] += got
        totals['corrupt'] += corrupt


threads = [threading.Thread(target=sender, args=(i,)) for i in range(senders)]
for t in threads:
    t.start()
for t in threads:
    t.join()
totals['lost'] = totals['sent'] - totals['received']
print(json.dumps(totals))
