# IPC over an AF_UNIX stream socket: the server answers each line with its length.
#   python3 examples/python/unix_stream.py server <path>
#   python3 examples/python/unix_stream.py client <path> <line>...
import os
import signal
import socket
import sys

role, path = sys.argv[1], sys.argv[2]
s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
if role == 'server':
    s.bind(path)
    s.listen(5)
    print('listening', s.getsockname(), flush=True)
    signal.signal(signal.SIGTERM, lambda *_: (os.unlink(path), sys.exit(0)))
    while True:
        conn, _ = s.accept()
        with conn, conn.makefile('rb') as reader:
            for line in reader:
                text = line.decode('utf-8')
                conn.sendall(('%d bytes: %s' % (len(text.rstrip().encode('utf-8')), text)).encode('utf-8'))
else:
    s.connect(path)
    for line in sys.argv[3:]:
        s.sendall((line + '\n').encode('utf-8'))
    s.shutdown(socket.SHUT_WR)
    while True:
        data = s.recv(1024)
        if not data:
            break
        sys.stdout.buffer.write(data)
    s.close()
