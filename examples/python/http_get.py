# An HTTP GET written on a raw socket, as the tutorials do; --tls wraps it in ssl.
#   python3 examples/python/http_get.py <host> <port> <path> [--tls] [--ca <pem>]
import socket
import ssl
import sys

host, port, path = sys.argv[1], int(sys.argv[2]), sys.argv[3]
flags = sys.argv[4:]
s = socket.create_connection((host, port), timeout=10)
if '--tls' in flags:
    ca = flags[flags.index('--ca') + 1] if '--ca' in flags else None
    s = ssl.create_default_context(cafile=ca).wrap_socket(s, server_hostname=host)
s.sendall(('GET %s HTTP/1.1\r\nHost: %s\r\nConnection: close\r\n\r\n' % (path, host)).encode())
chunks = []
while True:
    data = s.recv(4096)
    if not data:
        break
    chunks.append(data)
s.close()
response = b''.join(chunks)
head, _, body = response.partition(b'\r\n\r\n')
lines = head.decode('latin-1').split('\r\n')
print('status:', lines[0])
print('headers:', len(lines) - 1, flush=True)
sys.stdout.buffer.write(body)
