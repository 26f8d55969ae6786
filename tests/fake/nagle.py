#!/usr/bin/python3
# nagle.py - fakeimap.py (next to this file) with Nagle's algorithm left on,
# as many real servers do (Mailutils imap4d, hoodiecrow): every "line" goes
# out as its own small segment, and the next one waits for the client's ACK.
# Same arguments and scenario language as fakeimap.py; for test_quickack.
import os
import runpy
import socket
import sys

_setsockopt = socket.socket.setsockopt


def _keep_nagle(self, level, option, *value):
    if level == socket.IPPROTO_TCP and option == socket.TCP_NODELAY:
        return None
    return _setsockopt(self, level, option, *value)


socket.socket.setsockopt = _keep_nagle
sys.argv[0] = os.path.join(os.path.dirname(os.path.abspath(__file__)), "fakeimap.py")
runpy.run_path(sys.argv[0], run_name="__main__")
