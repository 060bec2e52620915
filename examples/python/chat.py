# A two-way chat between a server and a client, taking turns; "bye" from either ends it.
#   python3 examples/python/chat.py server [port]
#   python3 examples/python/chat.py client <port>
import socket
import sys

role = sys.argv[1]
port = int(sys.argv[2]) if len(sys.argv) > 2 else 0
HOST = '127.0.0.1'


def next_line():
    line = sys.stdin.readline()
    return line.rstrip('\n') if line else 'bye'


def hear(conn, who):
    data = conn.recv(1024).decode('utf-8')
    if not data:
        return False
    print('%s: %s' % (who, data), flush=True)
    return data != 'bye'


def say(conn):
    line = next_line()
    conn.sendall(line.encode('utf-8'))
    return line != 'bye'


if role == 'server':
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind((HOST, port))
        s.listen(1)
        print('listening', s.getsockname()[1], flush=True)
        conn, _ = s.accept()
        with conn:
            while hear(conn, 'client') and say(conn):
                pass
else:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.connect((HOST, port))
        while say(s) and hear(s, 'server'):
            pass
