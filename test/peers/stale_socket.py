#!/usr/bin/env python3
"""Leaves a stale socket file behind, as a crashed server does: bind, listen, exit without unlinking.
usage: stale_socket.py PATH"""
import socket
import sys

s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
s.bind(sys.argv[1])
s.listen(1)
s.close()
