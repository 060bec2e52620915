# setblocking(False) and settimeout() on a socket with no data, then with data.
import errno
import json
import socket

server = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
server.bind(('127.0.0.1', 0))
server.listen(1)
client = socket.create_connection(server.getsockname())
conn, _ = server.accept()

conn.setblocking(False)
try:
    conn.recv(1024)
except BlockingIOError as e:
    print('setblocking(False): recv raised BlockingIOError (%s), timeout is %s' % (errno.errorcode[e.errno], conn.gettimeout()))

conn.settimeout(0.2)
try:
    conn.recv(1024)
except TimeoutError:
    print('settimeout(0.2): recv raised TimeoutError, timeout is %s' % conn.gettimeout())

client.sendall(b'now there is data')
conn.settimeout(None)
print('settimeout(None): recv returned %s, timeout is %s' % (json.dumps(conn.recv(1024).decode()), conn.gettimeout()))
for s in (conn, client, server):
    s.close()
