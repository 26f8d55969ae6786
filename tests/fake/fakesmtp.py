#!/usr/bin/env python3
"""tests/fake/fakesmtp.py - a hostile SMTP server for one connection.

    fakesmtp.py MODE      prints its port on stdout, serves one client, exits

Modes (what the server does wrong):
  inject          offers STARTTLS, answers it with 220 and pipelines a forged
                  EHLO answer right behind it (response injection)
  no-starttls     does not offer STARTTLS
  refuse-starttls answers STARTTLS with 454
  closing         answers MAIL FROM with 421 and closes
  close-after-data  accepts everything, then closes after the message
  huge-line       a greeting line of 1 MiB without an end
  flood           answers EHLO with endless 250- continuation lines
  wrong-code      greets with 250
  truncated       sends half a multi-line greeting and closes
  rcpt-multiline  refuses RCPT TO with a three-line 550 reply
  accept          nothing wrong: takes the message (250) and says goodbye
The server gives up after 20 s, so a stuck client cannot hang the suite.
"""
import socket
import sys

mode = sys.argv[1]
srv = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
srv.bind(("127.0.0.1", 0))
srv.listen(1)
srv.settimeout(20)
print(srv.getsockname()[1], flush=True)
conn, _ = srv.accept()
conn.settimeout(20)
rf = conn.makefile("rb")


def send(data):
    try:
        conn.sendall(data.encode("latin-1") if isinstance(data, str) else data)
    except OSError:
        sys.exit(0)


def expect(prefix):
    """Read lines until one starts with prefix (case-insensitive)."""
    while True:
        line = rf.readline()
        if not line:
            sys.exit(0)
        if line.upper().startswith(prefix.encode()):
            return line


EHLO = "250-fake.test\r\n250-PIPELINING\r\n250-AUTH PLAIN\r\n250 8BITMIME\r\n"
EHLO_TLS = "250-fake.test\r\n250-STARTTLS\r\n250 8BITMIME\r\n"

try:
    if mode == "huge-line":
        send("220 " + "A" * (1 << 20))
        rf.readline()
        sys.exit(0)
    if mode == "wrong-code":
        send("250 fake.test is not a greeting\r\n")
        rf.readline()
        sys.exit(0)
    if mode == "truncated":
        send("220-fake.test\r\n220 ES")
        sys.exit(0)
    send("220 fake.test ESMTP\r\n")
    expect("EHLO")
    if mode in ("inject", "refuse-starttls"):
        send(EHLO_TLS)
        expect("STARTTLS")
        if mode == "inject":
            send("220 2.0.0 go ahead\r\n250-fake.test\r\n250 AUTH PLAIN\r\n")
        else:
            send("454 4.7.0 TLS not available due to local problem\r\n")
        rf.readline()
        sys.exit(0)
    if mode == "no-starttls":
        send(EHLO)
        rf.readline()
        sys.exit(0)
    if mode == "flood":
        line = b"250-XFLOOD " + b"x" * 50 + b"\r\n"
        for _ in range(200000):
            send(line)
        sys.exit(0)
    send(EHLO)
    expect("MAIL")
    if mode == "closing":
        send("421 4.3.2 Service shutting down, closing transmission channel\r\n")
        sys.exit(0)
    send("250 2.1.0 Ok\r\n")
    expect("RCPT")
    if mode == "rcpt-multiline":
        send("550-5.1.1 <x>: Recipient address rejected:\r\n550-5.1.1 first continuation\r\n"
             "550 5.1.1 last line\r\n")
        expect("QUIT")
        send("221 bye\r\n")
        sys.exit(0)
    send("250 2.1.5 Ok\r\n")
    expect("DATA")
    send("354 go\r\n")
    while True:
        line = rf.readline()
        if not line or line == b".\r\n":
            break
    if mode == "accept":
        send("250 2.0.0 Ok: queued as FAKE1\r\n")
        expect("QUIT")
        send("221 2.0.0 Bye\r\n")
    # close-after-data: no answer to the message
    sys.exit(0)
finally:
    try:
        conn.close()
    except OSError:
        pass
