"""Keeps N unix clients (stream or seqpacket) busy sending, while the server is stopped under them.
usage: busy_clients.py unix|unixpacket PATH N   Prints 'connected' once all are in, 'busy' once every one has had
an echo back; sends (and drains what comes back) for 5 s."""
import socket, sys, time
kind, path, n = sys.argv[1], sys.argv[2], int(sys.argv[3])
socks = []
for i in range(n):
    s = socket.socket(socket.AF_UNIX, socket.SOCK_SEQPACKET if kind == 'unixpacket' else socket.SOCK_STREAM)
    s.connect(path); s.setblocking(False); socks.append(s)
print('connected', flush=True)
echoed = set()
end = time.time() + 5
while time.time() < end:
    for s in socks:
        try: s.send(b'x' * 4096)
        except (BlockingIOError, OSError): pass
        try:
            if s.recv(65536): echoed.add(s)
        except (BlockingIOError, OSError): pass
    if len(echoed) == n:
        print('busy', flush=True)
        echoed.add(None)  # said once
    time.sleep(0.001)
