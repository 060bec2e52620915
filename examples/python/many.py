# A server for many clients at once, with a thread per client, and a client that opens N connections first.
#   python3 examples/python/many.py server [port]
#   python3 examples/python/many.py client <port> <n>
import socket
import sys
import threading

role = sys.argv[1]
port = int(sys.argv[2]) if len(sys.argv) > 2 else 0
HOST = '127.0.0.1'


def serve_client(conn):
    with conn:
        while True:
            data = conn.recv(1024)
            if not data:
                break
            conn.sendall(b'echo: ' + data)


if role == 'server':
    s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    s.bind((HOST, port))
    s.listen(128)
    print('listening', s.getsockname()[1], flush=True)
    while True:
        conn, _ = s.accept()
        threading.Thread(target=serve_client, args=(conn,), daemon=True).start()
else:
    n = int(sys.argv[3])
    clients = [socket.create_connection((HOST, port)) for _ in range(n)]
    answers = [None] * n
    for i in reversed(range(n)):
        clients[i].sendall(('client %d' % i).encode())
        answers[i] = clients[i].recv(1024).decode()
    print('\n'.join(answers), flush=True)
    for c in clients:
        c.close()
