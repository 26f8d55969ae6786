#!/usr/bin/python3
"""tests/oauth/hostile.py - a scripted, hostile OAuth 2 token endpoint.

A TLS server (certificate of the suite's test CA) that reads a request and
answers according to the request path:

    /huge        200 with Content-Length 100 MB, sending data until closed
    /huge-close  200 without a length, 100 MB of body until closed
    /chunks      200 chunked, endless 1-byte chunks
    /noaccess    200 JSON without access_token
    /notjson     200 text/html
    /drip        the status line one byte a second
    /status500   500 with an HTML body
    /silent      reads the request and never answers
    /hangup      closes the connection without a word

    hostile.py --cert C --key K --state DIR   (writes DIR/hostile-port)
"""

import argparse
import signal
import os
import socket
import socketserver
import ssl
import sys
import threading
import time


class Handler(socketserver.BaseRequestHandler):
    def handle(self):
        s = self.request
        s.settimeout(30)
        data = b""
        try:
            while b"\r\n\r\n" not in data and len(data) < 65536:
                more = s.recv(4096)
                if not more:
                    return
                data += more
            path = data.split(b" ", 2)[1].decode("latin-1") if data.count(b" ") >= 2 else "/"
            getattr(self, "do_" + path.strip("/").replace("-", "_"), self.do_status500)(s)
        except (OSError, ssl.SSLError):
            pass

    @staticmethod
    def send_forever(s, head, piece):
        s.sendall(head)
        end = time.time() + 60
        while time.time() < end:
            s.sendall(piece)

    def do_huge(self, s):
        self.send_forever(s, b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: 100000000\r\n\r\n",
                          b"{" * 16384)

    def do_huge_close(self, s):
        self.send_forever(s, b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\n\r\n", b" " * 16384)

    def do_chunks(self, s):
        self.send_forever(s, b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n", b"1\r\n \r\n" * 512)

    def do_noaccess(self, s):
        body = b'{"token_type":"Bearer","expires_in":3600}'
        s.sendall(b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: %d\r\n\r\n%s"
                  % (len(body), body))

    def do_notjson(self, s):
        body = b"<html><body>Sign in|<script>x</script></body></html>"
        s.sendall(b"HTTP/1.1 200 OK\r\nContent-Type: text/html\r\nContent-Length: %d\r\n\r\n%s" % (len(body), body))

    def do_drip(self, s):
        for b in b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\n{}":
            s.sendall(bytes([b]))
            time.sleep(1)

    def do_status500(self, s):
        body = b"<h1>Internal Server Error</h1>"
        s.sendall(b"HTTP/1.1 500 Internal Server Error\r\nContent-Length: %d\r\n\r\n%s" % (len(body), body))

    def do_silent(self, s):
        time.sleep(60)

    def do_hangup(self, s):
        pass


class Server(socketserver.ThreadingMixIn, socketserver.TCPServer):
    daemon_threads = True
    allow_reuse_address = True

    def __init__(self, addr, ctx):
        super().__init__(addr, Handler)
        self.ctx = ctx

    def get_request(self):
        sock, addr = self.socket.accept()
        sock.settimeout(10)
        try:
            return self.ctx.wrap_socket(sock, server_side=True), addr
        except (ssl.SSLError, OSError):
            sock.close()
            raise


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--cert", required=True)
    ap.add_argument("--key", required=True)
    ap.add_argument("--state", required=True)
    a = ap.parse_args()
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    ctx.load_cert_chain(a.cert, a.key)
    srv = Server(("127.0.0.1", 0), ctx)

    signal.signal(signal.SIGTERM, lambda *_: threading.Thread(target=srv.shutdown).start())
    tmp = os.path.join(a.state, "hostile-port.tmp")
    with open(tmp, "w") as f:
        f.write("%d\n" % srv.server_address[1])
    os.rename(tmp, os.path.join(a.state, "hostile-port"))
    srv.serve_forever()
    return 0


if __name__ == "__main__":
    sys.exit(main())
