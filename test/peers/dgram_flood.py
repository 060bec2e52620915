"""A datagram flood against an echo server, counting every reply.

usage: dgram_flood.py unixgram PATH|@NAME | udp HOST PORT  SENDERS COUNT WINDOW [MIN MAX [FLOODERS FLOOD]]
Each of SENDERS threads has its own socket (unixgram: autobound, so it can be answered) and sends COUNT numbered
datagrams: at most WINDOW unanswered at a time, or, with WINDOW 0, all of them as fast as it can while a second
thread reads the replies. A sender gives up when no reply comes, or its datagram is not taken, for 5 s. With MIN
and MAX, datagrams are MIN to MAX bytes (sizes spread evenly, the same on every run); otherwise about 40. With
FLOODERS, that many more senders each send FLOOD datagrams as fast as the server takes them and never read a reply
(counted apart: they are not owed anything). Prints one JSON line:
{"sent": N, "received": N, "lost": N, "corrupt": N[, "flooded": N]}.
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
senders, count, window = (int(x) for x in rest[:3])
low, high = (int(x) for x in rest[3:5]) if len(rest) >= 5 else (0, 0)
flooders, flood = (int(x) for x in rest[5:7]) if len(rest) >= 7 else (0, 0)
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
    head = b'%d:%d:' % (me, i)
    if high == 0:
        return head + b'x' * 32
    size = low + (me * 7919 + i * 104729) % (high - low + 1)
    return head + b'x' * max(0, size - len(head))


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


def flooder(me):
    s = make()
    s.settimeout(0.5)
    sent = 0
    while sent < flood:
        try:
            s.sendto(payload(me, sent), target)
        except socket.timeout:
            continue  # the server takes nothing now: try again (its input from us is being dropped)
        sent += 1
    with lock:
        totals['flooded'] = totals.get('flooded', 0) + sent
    return s  # kept open, never read, until the end


flooding = []
flood_threads = [threading.Thread(target=lambda k=k: flooding.append(flooder(senders + k))) for k in range(flooders)]
for t in flood_threads:
    t.start()
threads = [threading.Thread(target=sender, args=(i,)) for i in range(senders)]
for t in threads:
    t.start()
for t in threads + flood_threads:
    t.join()
totals['lost'] = totals['sent'] - totals['received']
print(json.dumps(totals))
