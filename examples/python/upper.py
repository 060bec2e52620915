# The upper-casing server of the tutorials, and its client.
#   python3 examples/python/upper.py server [port]
#   python3 examples/python/upper.py client <port> <line>...
import socket
import sys

role = sys.argv[1]
port = int(sys.argv[2]) if len(sys.argv) > 2 else 0
HOST = '127.0.0.1'

if role == 'server':
    s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    s.bind((HOST, port))
    s.listen(5)
    print('listening', s.getsockname()[1], flush=True)
    while True:
        conn, addr = s.accept()
        print('connected by', list(addr), flush=True)
        with conn:
            try:
                while True:
                    data = conn.recv(1024)
                    if not data:
                        break
                    conn.sendall(data.decode('utf-8').upper().encode('utf-8'))
            except OSError as e:
                print('client gone:', e.__class__.__name__, flush=True)
else:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.connect((HOST, port))
        for line in sys.argv[3:]:
            s.sendall(line.encode('utf-8'))
            print(s.recv(1024).decode('utf-8'), flush=True)
