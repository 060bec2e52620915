# UDP echo with recvfrom/sendto.
#   python3 examples/python/udp_echo.py server [port]
#   python3 examples/python/udp_echo.py client <port> <message>...
import socket
import sys

role = sys.argv[1]
port = int(sys.argv[2]) if len(sys.argv) > 2 else 0
HOST = '127.0.0.1'
s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
if role == 'server':
    s.bind((HOST, port))
    print('listening', s.getsockname()[1], flush=True)
    while True:
        data, addr = s.recvfrom(65535)
        s.sendto(data, addr)
else:
    s.settimeout(5)
    for message in sys.argv[3:]:
        s.sendto(message.encode('utf-8'), (HOST, port))
        data, addr = s.recvfrom(65535)
        print(data.decode('utf-8'), 'from port', addr[1], flush=True)
    s.close()
