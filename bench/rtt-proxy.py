#!/usr/bin/env python3
"""rtt-proxy.py - a delaying TCP proxy on loopback, for counting round trips.

    rtt-proxy.py --target HOST:PORT --delay-ms D [--listen ADDR:PORT]
                 [--port-file FILE] [--lifetime SECONDS]

Every chunk read from one side is written to the other side D ms after it
was read, as one send() (TCP_NODELAY on both sides), in order: a fixed
one-way delay in each direction, segment boundaries and ordering kept.
End of stream (a shutdown or close) is delayed the same way.  A connection
reset is passed on at once.

The upstream connection is opened D ms after the client's connection was
accepted: a server that speaks first (an IMAP greeting on a plain port)
then answers one round trip after the client connected, as over a real
link.  The client's own TCP handshake cannot be delayed from user space
(the kernel completes it before accept()), so a client measured through
this proxy is one TCP round trip faster than over a real link of the same
delay; bench/ adds that round trip back, the same for every client.

The kernel here has no netem, hence this.  Timers use select(2)'s
microsecond timeouts; a hop is typically late by 0.1-0.3 ms (Python's
wake-up), which bench/ measures and reports as the proxy's overhead.

Bounded lifetime: the proxy exits after --lifetime seconds (default 900)
and when its parent process goes away.  It prints the listening port on
stdout (and into --port-file) once it is ready.
"""
import argparse
import collections
import errno
import heapq
import os
import selectors
import signal
import socket
import sys
import time

CHUNK = 65536
MAX_QUEUED = 4 << 20  # bytes queued per direction before reading pauses


class Half:
    """One direction: bytes read from src, to be written to dst."""

    def __init__(self, conn, src, dst, name):
        self.conn, self.src, self.dst, self.name = conn, src, dst, name
        self.queue = collections.deque()  # (due, bytes or None for EOF)
        self.queued = 0
        self.pending = b""  # part of a chunk the kernel did not take yet
        self.read_eof = False
        self.done = False  # EOF delivered


class Conn:
    def __init__(self, proxy, client):
        self.proxy = proxy
        self.client = client
        self.server = None
        self.connect_due = None
        self.closed = False
        self.up = Half(self, client, None, "c>s")
        self.down = Half(self, None, client, "s>c")


class Proxy:
    def __init__(self, args):
        self.args = args
        self.delay = args.delay_ms / 1000.0
        host, port = args.target.rsplit(":", 1)
        self.target = (host.strip("[]"), int(port))
        # select(2): microsecond timeouts (epoll's are whole milliseconds,
        # rounded up, which would add up to 1 ms to every hop)
        self.sel = selectors.SelectSelector()
        self.timers = []  # heap of (due, seq, fn)
        self.seq = 0
        self.conns = set()
        self.stats = {"accepted": 0, "bytes_up": 0, "bytes_down": 0}
        lhost, lport = args.listen.rsplit(":", 1)
        fam = socket.AF_INET6 if ":" in lhost.strip("[]") else socket.AF_INET
        self.lsock = socket.socket(fam, socket.SOCK_STREAM)
        self.lsock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self.lsock.bind((lhost.strip("[]"), int(lport)))
        self.lsock.listen(128)
        self.lsock.setblocking(False)
        self.sel.register(self.lsock, selectors.EVENT_READ, ("listen", None))

    # -------------------------------------------------------------- timers
    def at(self, due, fn):
        self.seq += 1
        heapq.heappush(self.timers, (due, self.seq, fn))

    # -------------------------------------------------------------- selector bookkeeping
    def interest(self, sock):
        """(Re-)register sock for what its connection needs now."""
        if sock is None or sock.fileno() < 0:
            return
        conn = self.owner.get(sock)
        if conn is None or conn.closed:
            return
        ev = 0
        for h in (conn.up, conn.down):
            if h.src is sock and not h.read_eof and h.queued < MAX_QUEUED:
                ev |= selectors.EVENT_READ
            if h.dst is sock and h.pending:
                ev |= selectors.EVENT_WRITE
        try:
            key = self.sel.get_key(sock)
        except KeyError:
            key = None
        if ev == 0:
            if key:
                self.sel.unregister(sock)
        elif key is None:
            self.sel.register(sock, ev, ("sock", conn))
        elif key.events != ev:
            self.sel.modify(sock, ev, ("sock", conn))

    # -------------------------------------------------------------- connections
    def accept(self):
        while True:
            try:
                c, _ = self.lsock.accept()
            except (BlockingIOError, InterruptedError):
                return
            c.setblocking(False)
            c.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            conn = Conn(self, c)
            self.conns.add(conn)
            self.owner[c] = conn
            self.stats["accepted"] += 1
            self.interest(c)
            # the client's SYN would reach the server D later
            self.at(time.monotonic() + self.delay, lambda conn=conn: self.connect_upstream(conn))

    def connect_upstream(self, conn):
        if conn.closed:
            return
        try:
            s = socket.create_connection(self.target, timeout=5)
        except OSError as e:
            print(f"rtt-proxy: connect {self.target}: {e}", file=sys.stderr)
            self.abort(conn)
            return
        s.setblocking(False)
        s.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        conn.server = s
        conn.up.dst = s
        conn.down.src = s
        self.owner[s] = conn
        self.interest(s)
        self.flush(conn.up)  # anything the client sent meanwhile that is due

    def abort(self, conn):
        """A reset or error: drop both sides now."""
        if conn.closed:
            return
        conn.closed = True
        for s in (conn.client, conn.server):
            if s is None:
                continue
            try:
                self.sel.unregister(s)
            except (KeyError, ValueError):
                pass
            try:
                s.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, b"\x01\x00\x00\x00\x00\x00\x00\x00")
            except OSError:
                pass
            self.owner.pop(s, None)
            s.close()
        self.conns.discard(conn)

    def maybe_finish(self, conn):
        if conn.up.done and conn.down.done and not conn.closed:
            conn.closed = True
            for s in (conn.client, conn.server):
                if s is None:
                    continue
                try:
                    self.sel.unregister(s)
                except (KeyError, ValueError):
                    pass
                self.owner.pop(s, None)
                s.close()
            self.conns.discard(conn)

    # -------------------------------------------------------------- data
    def readable(self, conn, sock):
        for h in (conn.up, conn.down):
            if h.src is not sock or h.read_eof:
                continue
            try:
                data = sock.recv(CHUNK)
            except (BlockingIOError, InterruptedError):
                return
            except OSError:
                self.abort(conn)
                return
            due = time.monotonic() + self.delay
            if data:
                h.queue.append((due, data))
                h.queued += len(data)
                self.stats["bytes_up" if h is conn.up else "bytes_down"] += len(data)
            else:
                h.read_eof = True
                h.queue.append((due, None))
            self.at(due, lambda h=h: self.flush(h))
            self.interest(sock)

    def flush(self, h):
        """Write every chunk of h that is due, in order."""
        conn = h.conn
        if conn.closed or h.dst is None:
            return
        now = time.monotonic()
        while not h.pending and h.queue and h.queue[0][0] <= now:
            _, data = h.queue.popleft()
            if data is None:
                try:
                    h.dst.shutdown(socket.SHUT_WR)
                except OSError:
                    pass
                h.done = True
                self.maybe_finish(conn)
                return
            h.queued -= len(data)
            h.pending = data
            self.write_pending(h)
        self.interest(h.dst)
        if h.src is not None:
            self.interest(h.src)

    def write_pending(self, h):
        while h.pending:
            try:
                n = h.dst.send(h.pending)
            except (BlockingIOError, InterruptedError):
                return
            except OSError as e:
                if e.errno in (errno.EPIPE, errno.ECONNRESET):
                    self.abort(h.conn)
                    return
                raise
            h.pending = h.pending[n:]

    def writable(self, conn, sock):
        for h in (conn.up, conn.down):
            if h.dst is sock and h.pending:
                self.write_pending(h)
                if conn.closed:
                    return
                self.flush(h)

    # -------------------------------------------------------------- loop
    def run(self):
        self.owner = {}
        end = time.monotonic() + self.args.lifetime
        ppid = os.getppid()
        port = self.lsock.getsockname()[1]
        if self.args.port_file:
            tmp = self.args.port_file + ".tmp"
            with open(tmp, "w") as f:
                f.write(f"{port}\n")
            os.replace(tmp, self.args.port_file)
        print(port, flush=True)
        while True:
            now = time.monotonic()
            if now >= end:
                print("rtt-proxy: lifetime over, exiting", file=sys.stderr)
                return 0
            if os.getppid() != ppid:
                return 0
            while self.timers and self.timers[0][0] <= now:
                _, _, fn = heapq.heappop(self.timers)
                fn()
            timeout = min(end - now, 1.0)
            if self.timers:
                timeout = max(0.0, min(timeout, self.timers[0][0] - time.monotonic()))
            for key, ev in self.sel.select(timeout):
                kind, conn = key.data
                if kind == "listen":
                    self.accept()
                    continue
                if conn.closed:
                    continue
                if ev & selectors.EVENT_WRITE:
                    self.writable(conn, key.fileobj)
                if not conn.closed and ev & selectors.EVENT_READ:
                    self.readable(conn, key.fileobj)


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--target", required=True, help="HOST:PORT to forward to")
    ap.add_argument("--delay-ms", type=float, default=25.0, help="one-way delay per direction (ms)")
    ap.add_argument("--listen", default="127.0.0.1:0", help="ADDR:PORT to listen on (default 127.0.0.1:0)")
    ap.add_argument("--port-file", help="write the listening port here when ready")
    ap.add_argument("--lifetime", type=float, default=900.0, help="exit after this many seconds")
    args = ap.parse_args()
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(0))
    signal.signal(signal.SIGPIPE, signal.SIG_IGN)
    try:
        return Proxy(args).run()
    except KeyboardInterrupt:
        return 0


if __name__ == "__main__":
    sys.exit(main())
