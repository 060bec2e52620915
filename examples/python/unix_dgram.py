# IPC over AF_UNIX datagrams: each side binds a path of its own; the server answers reversed.
#   python3 examples/python/unix_dgram.py server <path>
#   python3 examples/python/unix_dgram.py client <path> <own path> <message>...
import os
import signal
import socket
import sys

role, path = sys.argv[1], sys.argv[2]
s = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
if role == 'server':
    s.bind(path)
    print('listening', s.getsockname(), flush=True)
    signal.signal(signal.SIGTERM, lambda *_: (os.unlink(path), sys.exit(0)))
    while True:
        data, sender = s.recvfrom(4096)
        if sender:
            s.sendto(data.decode('utf-8')[::-1].encode('utf-8'), sender)
else:
    s.bind(sys.argv[3])
    s.settimeout(5)
    for message in sys.argv[4:]:
        s.sendto(message.encode('utf-8'), path)
        data, sender = s.recvfrom(4096)
        print(data.decode('utf-8'), 'from', sender, flush=True)
    s.close()
    os.unlink(sys.argv[3])
