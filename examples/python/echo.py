# The one-shot TCP echo pair, as the tutorials write it.
#   python3 examples/python/echo.py server [port]
#   python3 examples/python/echo.py client <port> [message]
import socket
import sys

role = sys.argv[1]
port = int(sys.argv[2]) if len(sys.argv) > 2 else 0
message = sys.argv[3] if len(sys.argv) > 3 else '红烧肉'
HOST = '127.0.0.1'

if role == 'server':
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind((HOST, port))
        s.listen(1)
        print('listening', s.getsockname()[1], flush=True)
        conn, addr = s.accept()
        with conn:
            print('connected by', list(addr), flush=True)
            data = conn.recv(1024)
            conn.sendall(data)
else:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.connect((HOST, port))
        s.sendall(message.encode('utf-8'))
        data = s.recv(1024)
        print('received', data.decode('utf-8'), flush=True)
