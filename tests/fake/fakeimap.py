#!/usr/bin/python3
# fakeimap.py - a scripted, deliberately misbehaving IMAP server for tests.
#
# Written for the test suite only: Python 3 standard library, no code shared
# with the probe.  It listens on 127.0.0.1, prints "PORT <n>" on stdout once
# it is listening, serves one connection (or --connections N, one after the
# other), plays a scenario on each and exits.  It never hangs: after
# --max-seconds it exits whatever it is doing (status 4), and a client that
# goes away at any point ends the connection quietly.
#
#   fakeimap.py [--host 127.0.0.1] [--port 0] [--connections N]
#               [--max-seconds S] [--record FILE] [--record-clear FILE]
#               [--set NAME=VALUE]... [-v] [SCENARIO|-]
#
#   --record FILE        every byte the client sent, at the IMAP level
#                        (decrypted when TLS is on), appended as it arrives
#   --record-clear FILE  only the bytes that arrived outside TLS (what a
#                        network eavesdropper would have seen)
#   --set NAME=VALUE     define $NAME for the scenario
#
# Exit status: 0 scenario played to its end (a client closing during
# "stall" or "drain" counts as the end), 1 usage or scenario error,
# 2 the client went away before the scenario ended, 3 an "expect" did not
# match, 4 --max-seconds reached, 5 a "scram" exchange did not complete
# (the fake rejected the client, or the client cancelled; the log says
# which and why).  With several connections, the first non-zero status
# wins.
#
# ---------------------------------------------------------------- scenarios
#
# One command per line.  Blank lines and lines whose first non-blank
# character is '#' are comments.  The TEXT of send, line, sendrepeat,
# linerepeat, sendfill, sendliteral and set runs to the end of the line,
# blanks and '#' included.  Every other command ignores trailing blanks and
# accepts a trailing "# comment" (a '#' after a blank; in a REGEX write [#]).
#
# TEXT arguments understand the escapes \r \n \t \0 \a \e (ESC) \\ \$ \xHH;
# a backslash before any other character is kept as it is (so IMAP flags
# like \Seen can be written plainly).  $NAME is replaced by a variable:
# $TAG is the tag of the last command read by "expect", $PORT the listening
# port, others come from --set or "set".  An unknown $NAME stays as it is.
#
#   send TEXT            write TEXT
#   line TEXT            write TEXT and CRLF
#   sendraw HEX          write bytes given in hex (blanks ignored): 2a 20 4f 4b
#   sendrepeat N TEXT    write TEXT N times (in large writes)
#   linerepeat N TEXT    write TEXT CRLF N times (e.g. 200000 untagged lines)
#   sendfill N [TEXT]    write N bytes made of TEXT repeated (default "x"),
#                        streamed 64 KiB at a time, never built in memory
#   sendliteral TEXT     write "{len}\r\n" followed by TEXT (len counted
#                        after escapes); follow with "line )" etc.
#   split N [GAP]        the next send* command goes out in N-byte writes,
#                        GAP seconds apart (default 0.01)
#   drip SECONDS         the next send* command goes out one byte at a time,
#                        SECONDS apart
#   expect REGEX         read one client command (CRLF-terminated; literals
#                        {n} are collected, and synchronising ones get an
#                        automatic "+ go ahead"), remember its tag in $TAG and
#                        match REGEX (Python re.match, case-insensitive,
#                        DOTALL) against the text after the tag.  No match:
#                        the connection is dropped, exit status 3.
#                        $NAME variables are substituted in REGEX, escapes
#                        are not (REGEX has its own).  A named group
#                        (?P<NAME>...) sets $NAME to what it matched.
#   expectline REGEX     the same for a whole line with no tag (the answer
#                        to a "+" continuation); $TAG is left alone
#   autocontinue on|off  whether expect answers synchronising literals
#   sleep SECONDS        pause (client bytes arriving meanwhile are recorded)
#   drain SECONDS        read and record for SECONDS or until the client
#                        closes (which then ends the scenario, status 0)
#   discard SECONDS      the same as drain, then forget what arrived, as if
#                        it had never been read (a server that loses
#                        pipelined commands, e.g. Courier after LOGIN)
#   stall                stop sending; read and record until the client
#                        closes (status 0) or --max-seconds
#   stall_handshake      the same; reads as intent before a "tls" command
#   close                close the connection now (mid-line or mid-literal
#                        is fine): FIN, then whatever the client still sends
#                        is recorded until it closes too (at most 2 s), so
#                        no RST can destroy the last replies in flight.
#                        Under TLS no close_notify is sent (a truncation).
#   close_notify         send a TLS close_notify alert (then use close)
#   reset                close with a TCP RST (SO_LINGER 0)
#   shutdown             send FIN (half close), then behave as "stall"
#   tls CERT KEY [VER] [clientca=CAFILE]
#                        TLS handshake now, as the server, with CERT/KEY
#                        (PEM).  At the top this is implicit TLS; after an
#                        "expect STARTTLS" / "line $TAG OK ..." it is
#                        STARTTLS.  VER pins the version: tls1.2 or tls1.3.
#                        clientca=CAFILE requires a client certificate
#                        issued by CAFILE (PEM): a client without one, or
#                        with another, fails the handshake.  The subject of
#                        the certificate is logged (without -v) as
#                        "tls: client certificate CN=..." and put in
#                        $CLIENTCERT ("CN=probe-client").
#   starttls CERT KEY [VER] [clientca=CAFILE]
#                        the same as tls (reads better in scenarios)
#   tls_stall CERT KEY   read the ClientHello, send the server's first
#                        flight (TLS 1.2 is pinned so the handshake really is
#                        unfinished), then stall: a handshake stuck midway
#   set NAME VALUE       define $NAME (escapes and variables expanded)
#   scram MECH PASSWORD [OPTION]...
#                        a real server-side SCRAM exchange (RFC 5802, RFC
#                        7677; RFC 5929 tls-unique channel binding for the
#                        -PLUS variants).  MECH is SCRAM-SHA-1,
#                        SCRAM-SHA-256, SCRAM-SHA-1-PLUS or SCRAM-SHA-256-PLUS.
#                        Reads the client's "AUTHENTICATE MECH [initial
#                        response]" (sets $TAG; without SASL-IR it sends
#                        "+ " for the client-first message), sends
#                        "+ server-first", checks the client-final message
#                        (the c= channel binding: GS2 header plus, for -PLUS,
#                        the binding data; the nonce; the proof against
#                        PASSWORD), sends "+ server-final" (v=) and reads the
#                        client's empty answer.  Then the scenario goes on:
#                        it sends the tagged OK itself ("line $TAG OK ...").
#                        On any mismatch the fake answers "$TAG NO
#                        [AUTHENTICATIONFAILED] SCRAM: <why>" itself; if the
#                        client cancels ("*") it answers "$TAG BAD"; either
#                        way it answers a LOGOUT that may follow and ends the
#                        connection with exit status 5 (the scenario's
#                        remaining commands for it are skipped).
#                        Always logged (without -v): "scram: GS2 header
#                        'y,,'" (the header the client used) and "scram: ok"
#                        or "scram: rejected: <why>" / "scram: client
#                        cancelled ...".  $GS2 is set to the header, $GS2FLAG
#                        to its flag (n, y or p).  OPTIONs:
#                          user=NAME    the authentication identity (n=) must be NAME
#                          iter=N       iteration count (default 4096)
#                          cb=TYPE      binding type a -PLUS client must use
#                                       (default tls-unique, the only one
#                                       Python can compute: TLS 1.2 only, so
#                                       pin the fake with "tls ... tls1.2")
#                          wrongcb      expect different binding data than
#                                       the connection's (every byte
#                                       inverted): a server on the other side
#                                       of a relaying man in the middle
#                          gs2=FLAG     the client's GS2 flag must be FLAG
#                                       (n, y or p)
#                          rejecty      act as a server that supports channel
#                                       binding: a "y" flag is a downgrade
#                                       and fails (RFC 5802 section 6)
#                          forge        send a wrong server signature (v=)
#                          badnonce     server-first with a nonce that does
#                                       not extend the client's (a fresh
#                                       random one): the client must cancel
#                          samenonce    server-first whose nonce is exactly
#                                       the client's, not extended
#                          ferror=TEXT  after checking the proof, send the
#                                       server-final "e=TEXT" (an error)
#                                       instead of "v=...": the client must
#                                       cancel ("*"), or gets "$TAG NO"
#                          nofinal      after checking the proof, send no
#                                       server-final at all and go on with
#                                       the scenario (which then claims
#                                       success: "line $TAG OK ..."), as
#                                       a server that never proves itself;
#                                       logged as "scram: ok (no
#                                       server-final sent)"
#                        (after badnonce, samenonce or ferror the client
#                        cancels and the fake exits 5 as described above.)
#   connection           the commands after it are for the next accepted
#                        connection (the last block serves any further ones)
#   end                  end the scenario here (the rest is ignored)
#
# At the end of a block the connection is closed as by "close".  To wait
# for the client however long it takes (recording all it sends), end the
# block with "stall" instead.
#
# Example:
#   line * OK [CAPABILITY IMAP4rev1 AUTH=PLAIN SASL-IR] fake ready
#   expect LOGIN
#   line $TAG OK [CAPABILITY IMAP4rev1] done
#   expect EXAMINE
#   line * 0 EXISTS
#   line $TAG OK [READ-ONLY] done
#   expect LOGOUT
#   line * BYE bye
#   line $TAG OK bye
#   stall

import base64
import hashlib
import hmac
import os
import re
import select
import signal
import socket
import ssl
import struct
import sys
import time

CHUNK = 65536
MAX_CLIENT_LINE = 1 << 20        # a client line longer than this is a mismatch
MAX_CLIENT_LITERAL = 16 << 20

EXIT_OK, EXIT_USAGE, EXIT_GONE, EXIT_MISMATCH, EXIT_DEADLINE = 0, 1, 2, 3, 4
EXIT_SCRAM = 5

verbose = False


def log(msg):
    try:
        sys.stderr.write("fakeimap: %s\n" % msg)
        sys.stderr.flush()
    except Exception:
        pass


def vlog(msg):
    if verbose:
        log(msg)


def show(b, limit=200):
    """Printable rendering of client/server bytes for the log."""
    s = b[:limit].decode("latin-1")
    s = s.encode("unicode_escape").decode("ascii")
    return s + ("...(%d bytes)" % len(b) if len(b) > limit else "")


class ScenarioError(Exception):
    pass


class ClientGone(Exception):
    pass


class Deadline(Exception):
    pass


class Mismatch(Exception):
    pass


class Finished(Exception):
    """The scenario reached its natural end while waiting (stall, drain)."""


class ScramEnded(Exception):
    """A "scram" exchange was rejected or cancelled; the connection is over."""


# ---------------------------------------------------------------- parsing

_ESC = {"r": b"\r", "n": b"\n", "t": b"\t", "0": b"\0", "a": b"\a",
        "e": b"\x1b", "\\": b"\\", "$": b"$"}
_VAR = re.compile(r"\$([A-Za-z_][A-Za-z0-9_]*)")


def expand(text, variables, escapes=True):
    """Expand escapes and $VARIABLES in TEXT; returns bytes."""
    out = bytearray()
    i, n = 0, len(text)
    while i < n:
        c = text[i]
        if c == "\\" and escapes and i + 1 < n:
            d = text[i + 1]
            if d in _ESC:
                out += _ESC[d]
                i += 2
                continue
            if d == "x" and i + 3 < n and re.match(r"[0-9A-Fa-f]{2}", text[i + 2:i + 4]):
                out.append(int(text[i + 2:i + 4], 16))
                i += 4
                continue
            out += b"\\"
            i += 1
            continue
        if c == "$":
            m = _VAR.match(text, i)
            if m and m.group(1) in variables:
                out += variables[m.group(1)]
                i = m.end()
                continue
        out += c.encode("utf-8")
        i += 1
    return bytes(out)


def strip_comment(arg):
    m = re.search(r"\s#", arg)
    return arg[:m.start()].rstrip() if m else arg


NO_TEXT_CMDS = {"split", "drip", "sleep", "drain", "discard", "stall", "stall_handshake",
                "close", "close_notify", "reset", "shutdown", "tls", "starttls", "tls_stall",
                "autocontinue", "connection", "end", "scram"}
TEXT_CMDS = {"send", "line", "sendrepeat", "linerepeat", "sendfill", "sendliteral", "set"}
ALL_CMDS = NO_TEXT_CMDS | {"send", "line", "sendraw", "sendrepeat", "linerepeat",
                           "sendfill", "sendliteral", "expect", "expectline", "set"}


def tls_parse_args(a, cmd, where):
    """"tls CERT KEY [tls1.2|tls1.3] [clientca=CAFILE]" -> (cert, key,
    version or None, clientca or None)."""
    if len(a) < 2 or len(a) > 4:
        raise ScenarioError("%s: %s CERT KEY [tls1.2|tls1.3] [clientca=CAFILE]" % (where, cmd))
    version = clientca = None
    for w in a[2:]:
        if w.startswith("clientca=") and len(w) > 9 and clientca is None and cmd != "tls_stall":
            clientca = w[9:]
        elif w in ("tls1.2", "tls1.3") and version is None:
            version = w
        else:
            raise ScenarioError("%s: unknown TLS version %r" % (where, w)
                                if "=" not in w else "%s: unknown %s option %r" % (where, cmd, w))
    return a[0], a[1], version, clientca


def number(s, what, integer=False):
    try:
        v = int(s, 0) if integer else float(s)
    except ValueError:
        raise ScenarioError("%s: not a number: %r" % (what, s))
    if v < 0:
        raise ScenarioError("%s: negative: %r" % (what, s))
    return v


def parse(text):
    """Scenario text -> list of blocks, each a list of (lineno, cmd, args)."""
    blocks = [[]]
    for lineno, raw in enumerate(text.splitlines(), 1):
        body = raw.rstrip("\r\n").lstrip(" \t")
        if not body or body.startswith("#"):
            continue
        parts = body.split(None, 1)
        cmd = parts[0].lower()
        arg = parts[1] if len(parts) > 1 else ""
        if cmd not in ALL_CMDS:
            raise ScenarioError("line %d: unknown command %r" % (lineno, cmd))
        if cmd in NO_TEXT_CMDS or cmd not in TEXT_CMDS:
            arg = strip_comment(arg.rstrip(" \t"))
        if cmd == "end":
            break
        if cmd == "connection":
            blocks.append([])
            continue
        # validate early so that a bad scenario fails before PORT is printed
        a = arg.split()
        if cmd in ("sendrepeat", "linerepeat", "sendfill"):
            if not a:
                raise ScenarioError("line %d: %s needs a count" % (lineno, cmd))
            number(a[0], "line %d" % lineno, integer=True)
        elif cmd in ("split",):
            if not a or number(a[0], "line %d" % lineno, integer=True) < 1:
                raise ScenarioError("line %d: split needs a size >= 1" % lineno)
            if len(a) > 1:
                number(a[1], "line %d" % lineno)
        elif cmd in ("drip", "sleep", "drain", "discard"):
            if len(a) != 1:
                raise ScenarioError("line %d: %s needs SECONDS" % (lineno, cmd))
            number(a[0], "line %d" % lineno)
        elif cmd in ("tls", "starttls", "tls_stall"):
            tls_parse_args(a, cmd, "line %d" % lineno)
        elif cmd == "autocontinue":
            if arg not in ("on", "off"):
                raise ScenarioError("line %d: autocontinue on|off" % lineno)
        elif cmd == "sendraw":
            h = re.sub(r"\s+", "", arg)
            if len(h) % 2 or not re.fullmatch(r"[0-9A-Fa-f]*", h):
                raise ScenarioError("line %d: sendraw needs hex bytes" % lineno)
        elif cmd in ("expect", "expectline"):
            try:
                re.compile(arg)
            except re.error as e:
                raise ScenarioError("line %d: bad regex: %s" % (lineno, e))
        elif cmd == "set":
            if len(a) < 1 or not re.fullmatch(r"[A-Za-z_][A-Za-z0-9_]*", a[0]):
                raise ScenarioError("line %d: set NAME VALUE" % lineno)
        elif cmd == "scram":
            scram_parse_args(a, "line %d" % lineno)
        blocks[-1].append((lineno, cmd, arg))
    return blocks


# ---------------------------------------------------------------- connection

class Conn:
    """One client connection: deadline-bounded I/O, optional TLS through
    memory BIOs (so that handshakes can be stalled halfway and bytes the
    client pipelined before the handshake are not lost), recording."""

    def __init__(self, sock, deadline, rec, rec_clear):
        self.sock = sock
        self.deadline = deadline
        self.rec = rec
        self.rec_clear = rec_clear
        self.tls = None
        self.inbio = self.outbio = None
        self.rbuf = bytearray()

    def remaining(self):
        r = self.deadline - time.monotonic()
        if r <= 0:
            raise Deadline()
        return r

    # raw socket ---------------------------------------------------------
    def _raw_recv(self, timeout=None):
        """bytes; b'' on EOF; None if TIMEOUT (seconds) passed first."""
        limit = self.remaining()
        wait = limit if timeout is None else min(limit, max(timeout, 0))
        r, _, _ = select.select([self.sock], [], [], wait)
        if not r:
            if timeout is None or timeout >= limit:
                raise Deadline()
            return None
        try:
            data = self.sock.recv(CHUNK)
        except (ConnectionError, OSError):
            data = b""
        if data and self.tls is None and self.rec_clear:
            self.rec_clear.write(data)
        return data

    def _raw_send(self, data):
        view = memoryview(data)
        while view:
            _, w, _ = select.select([], [self.sock], [], self.remaining())
            if not w:
                raise Deadline()
            try:
                n = self.sock.send(view)
            except BlockingIOError:
                continue
            except (ConnectionError, OSError) as e:
                raise ClientGone("write: %s" % e)
            view = view[n:]

    def _flush_tls(self):
        data = self.outbio.read()
        if data:
            self._raw_send(data)
        return len(data)

    # application level --------------------------------------------------
    def _got(self, data):
        if self.rec:
            self.rec.write(data)
        self.rbuf += data

    def read_some(self, timeout=None):
        """Append client data to rbuf.  False if TIMEOUT passed first;
        raises ClientGone on EOF."""
        if self.tls is None:
            data = self._raw_recv(timeout)
            if data is None:
                return False
            if not data:
                raise ClientGone("client closed")
            self._got(data)
            return True
        while True:
            try:
                data = self.tls.read(CHUNK)
            except ssl.SSLWantReadError:
                self._flush_tls()
                raw = self._raw_recv(timeout)
                if raw is None:
                    return False
                if not raw:
                    raise ClientGone("client closed (TLS)")
                self.inbio.write(raw)
                continue
            except ssl.SSLZeroReturnError:
                raise ClientGone("client sent close_notify")
            except ssl.SSLError as e:
                raise ClientGone("TLS error: %s" % e)
            if not data:
                raise ClientGone("client closed (TLS)")
            self._got(data)
            return True

    def write(self, data):
        if self.tls is None:
            self._raw_send(data)
            return
        try:
            self.tls.write(data)
        except ssl.SSLError as e:
            raise ClientGone("TLS write: %s" % e)
        self._flush_tls()

    def read_line(self):
        while True:
            i = self.rbuf.find(b"\n")
            if i >= 0:
                line = bytes(self.rbuf[:i + 1])
                del self.rbuf[:i + 1]
                return line
            if len(self.rbuf) > MAX_CLIENT_LINE:
                raise Mismatch("client line longer than %d bytes" % MAX_CLIENT_LINE)
            self.read_some()

    def read_exact(self, n):
        while len(self.rbuf) < n:
            self.read_some()
        data = bytes(self.rbuf[:n])
        del self.rbuf[:n]
        return data

    def read_command(self, autocontinue):
        """One logical client line, literals included, CRLF stripped."""
        parts = []
        while True:
            line = self.read_line()
            parts.append(line)
            m = re.search(rb"\{(\d+)(\+?)\}\r?\n\Z", line)
            if not m:
                break
            n = int(m.group(1))
            if n > MAX_CLIENT_LITERAL:
                raise Mismatch("client literal of %d bytes" % n)
            if not m.group(2) and autocontinue:
                self.write(b"+ go ahead\r\n")
            parts.append(self.read_exact(n))
        data = b"".join(parts)
        if data.endswith(b"\r\n"):
            data = data[:-2]
        elif data.endswith(b"\n"):
            data = data[:-1]
        return data

    def idle(self, seconds):
        """Wait SECONDS, recording client data.  ClientGone on EOF."""
        end = time.monotonic() + seconds
        while True:
            left = end - time.monotonic()
            if left <= 0:
                return
            self.read_some(timeout=left)

    def stall(self):
        """Record until the client closes (-> Finished) or the deadline."""
        try:
            while True:
                self.read_some()
        except ClientGone as e:
            vlog("stall ended: %s" % e)
            raise Finished()

    # TLS ------------------------------------------------------------------
    def start_tls(self, cert, key, version=None, stall_midway=False, clientca=None):
        ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        if clientca:
            try:
                ctx.load_verify_locations(cafile=clientca)
            except (OSError, ssl.SSLError) as e:
                raise ScenarioError("cannot load client CA %s: %s" % (clientca, e))
            ctx.verify_mode = ssl.CERT_REQUIRED
        if stall_midway and version is None:
            version = "tls1.2"
        if version == "tls1.2":
            ctx.minimum_version = ssl.TLSVersion.TLSv1_2
            ctx.maximum_version = ssl.TLSVersion.TLSv1_2
        elif version == "tls1.3":
            ctx.minimum_version = ssl.TLSVersion.TLSv1_3
            ctx.maximum_version = ssl.TLSVersion.TLSv1_3
        try:
            ctx.load_cert_chain(cert, key)
        except (OSError, ssl.SSLError) as e:
            raise ScenarioError("cannot load %s / %s: %s" % (cert, key, e))
        self.inbio, self.outbio = ssl.MemoryBIO(), ssl.MemoryBIO()
        self.tls = ctx.wrap_bio(self.inbio, self.outbio, server_side=True)
        if self.rbuf:
            # The client pipelined its ClientHello (or sent junk): feed it.
            vlog("%d bytes already buffered before the handshake" % len(self.rbuf))
            self.inbio.write(bytes(self.rbuf))
            self.rbuf.clear()
        while True:
            try:
                self.tls.do_handshake()
                break
            except ssl.SSLWantReadError:
                sent = self._flush_tls()
                if stall_midway and sent:
                    vlog("first flight sent (%d bytes); stalling the handshake" % sent)
                    self._stall_raw()
                raw = self._raw_recv()
                if not raw:
                    raise ClientGone("client closed during the TLS handshake")
                self.inbio.write(raw)
            except ssl.SSLError as e:
                try:
                    self._flush_tls()   # let the client see our alert
                except (ClientGone, Deadline):
                    pass
                raise ClientGone("TLS handshake failed: %s" % e)
        self._flush_tls()
        vlog("TLS established: %s %s" % (self.tls.version(), self.tls.cipher()[0]))
        if clientca:
            peer = self.tls.getpeercert() or {}
            subject = ",".join("%s=%s" % (k == "commonName" and "CN" or k, v)
                               for rdn in peer.get("subject", ()) for k, v in rdn)
            log("tls: client certificate %s" % (subject or "(none)"))
            return subject
        return None

    def _stall_raw(self):
        try:
            while self._raw_recv():
                pass
        except (ConnectionError, OSError):
            pass
        raise Finished()

    def close_notify(self):
        if self.tls is None:
            return
        try:
            self.tls.unwrap()
        except ssl.SSLWantReadError:
            pass            # the client's close_notify is not awaited
        except ssl.SSLError as e:
            vlog("close_notify: %s" % e)
        self._flush_tls()

    def finish(self, linger=2.0):
        """Graceful close: FIN, record until the client closes (or LINGER
        seconds), then close."""
        try:
            self.sock.shutdown(socket.SHUT_WR)
        except OSError:
            pass
        end = min(time.monotonic() + linger, self.deadline)
        try:
            while True:
                left = end - time.monotonic()
                if left <= 0 or not self.read_some(timeout=left):
                    break
        except (ClientGone, Deadline, Mismatch, OSError):
            pass
        self.close()

    def close(self, rst=False):
        try:
            if rst:
                self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER,
                                     struct.pack("ii", 1, 0))
            self.sock.close()
        except OSError:
            pass


# ---------------------------------------------------------------- SCRAM

SCRAM_MECHS = {"SCRAM-SHA-1": "sha1", "SCRAM-SHA-256": "sha256",
               "SCRAM-SHA-1-PLUS": "sha1", "SCRAM-SHA-256-PLUS": "sha256"}
SCRAM_FLAGS = {"wrongcb", "rejecty", "forge", "badnonce", "samenonce", "nofinal"}
SCRAM_VALUES = {"user", "iter", "cb", "gs2", "ferror"}


def scram_parse_args(a, where):
    """Check "scram MECH PASSWORD [OPTION]..." (after variable expansion,
    or at parse time where the words hold no $NAME); returns a dict."""
    if len(a) < 2:
        raise ScenarioError("%s: scram MECH PASSWORD [OPTION]..." % where)
    opts = {"mech": a[0].upper(), "password": a[1], "iter": 4096, "cb": "tls-unique"}
    if "$" not in a[0] and opts["mech"] not in SCRAM_MECHS:
        raise ScenarioError("%s: scram: unknown mechanism %r (%s)"
                            % (where, a[0], ", ".join(sorted(SCRAM_MECHS))))
    for w in a[2:]:
        if "$" in w:
            continue
        name, sep, value = w.partition("=")
        if not sep and name in SCRAM_FLAGS:
            opts[name] = True
        elif sep and name in SCRAM_VALUES:
            if name == "iter":
                opts[name] = int(number(value, where, integer=True))
                if opts[name] < 1:
                    raise ScenarioError("%s: scram: iter must be >= 1" % where)
            elif name == "gs2" and value not in ("n", "y", "p"):
                raise ScenarioError("%s: scram: gs2=n|y|p" % where)
            else:
                opts[name] = value
        else:
            raise ScenarioError("%s: scram: unknown option %r" % (where, w))
    return opts


def b64e(b):
    return base64.b64encode(b).decode("ascii")


def b64d(text, what):
    try:
        return base64.b64decode(text, validate=True)
    except (ValueError, TypeError):
        raise ScramReject("%s is not valid base64" % what)


class ScramReject(Exception):
    """The client's SCRAM message is wrong: answer NO."""


class ScramCancel(Exception):
    """The client sent "*"."""


def saslname_decode(name):
    if re.search(r"=(?!2C|3D)", name):
        raise ScramReject("bad saslname escape in %r" % name)
    return name.replace("=2C", ",").replace("=3D", "=")


def scram_attrs(text, what):
    """Attributes "a=1,b=2" -> list of (name, value); strict about the shape."""
    out = []
    for part in text.split(","):
        if len(part) < 2 or part[1] != "=" or not part[0].isalpha():
            raise ScramReject("malformed %s: %r" % (what, text))
        out.append((part[0], part[2:]))
    return out


def scram_read_response(conn, what):
    """One client line during AUTHENTICATE (base64 or "*"), CRLF stripped."""
    line = conn.read_line().rstrip(b"\r\n")
    vlog("client: %s" % show(line))
    if line == b"*":
        raise ScramCancel(what)
    return line.decode("latin-1")


def scram_exchange(conn, opts, variables, autocontinue):
    mech = opts["mech"]
    hname = SCRAM_MECHS[mech]
    plus = mech.endswith("-PLUS")

    got = conn.read_command(autocontinue)
    vlog("client: %s" % show(got))
    m = re.match(rb"([^ ]*) AUTHENTICATE ([^ ]+)(?: ([^ ]+))?\Z", got, re.I | re.S)
    if not m or m.group(2).decode("latin-1").upper() != mech:
        raise Mismatch("scram: expected AUTHENTICATE %s, client sent %s" % (mech, show(got)))
    variables["TAG"] = m.group(1)

    # client-first-message = gs2-header client-first-message-bare
    if m.group(3) is not None:
        ir = m.group(3).decode("latin-1")
        if ir == "=":
            raise ScramReject("empty initial response")
        cfm = b64d(ir, "initial response")
    else:
        conn.write(b"+ \r\n")
        cfm = b64d(scram_read_response(conn, "instead of client-first"), "client-first")
    try:
        cfm = cfm.decode("utf-8")
    except UnicodeDecodeError:
        raise ScramReject("client-first is not UTF-8")
    mm = re.match(r"(n|y|p=[A-Za-z0-9.-]+),(a=[^,]*)?,(.*)\Z", cfm, re.S)
    if not mm:
        raise ScramReject("malformed GS2 header in %r" % cfm)
    flag, authzid, bare = mm.group(1), mm.group(2), mm.group(3)
    gs2 = cfm[:len(cfm) - len(bare)]
    variables["GS2"] = gs2.encode("utf-8")
    variables["GS2FLAG"] = flag[0].encode("ascii")
    log("scram: GS2 header '%s' (%s over %s)" % (gs2, mech, conn.tls.version() if conn.tls else "plain TCP"))

    if "gs2" in opts and flag[0] != opts["gs2"]:
        raise ScramReject("GS2 flag '%s', expected '%s'" % (flag[0], opts["gs2"]))
    if plus and flag[0] != "p":
        raise ScramReject("%s without channel binding (GS2 flag '%s')" % (mech, flag[0]))
    if not plus and flag[0] == "p":
        raise ScramReject("channel binding requested with %s (not -PLUS)" % mech)
    if flag == "y" and opts.get("rejecty"):
        raise ScramReject("GS2 flag 'y' but this server supports channel binding (downgrade)")
    cbdata = b""
    if plus:
        cbtype = flag[2:]
        if cbtype != opts["cb"]:
            raise ScramReject("channel binding type %s, expected %s" % (cbtype, opts["cb"]))
        if conn.tls is None:
            raise ScramReject("channel binding over a connection without TLS")
        if cbtype != "tls-unique":
            raise ScenarioError("scram: the fake can only compute tls-unique, not %s" % cbtype)
        if conn.tls.version() != "TLSv1.2":
            raise ScenarioError("scram: tls-unique needs TLS 1.2 (pin the fake: tls CERT KEY tls1.2); "
                                "this is %s" % conn.tls.version())
        cbdata = conn.tls.get_channel_binding("tls-unique")
        if opts.get("wrongcb"):
            cbdata = bytes(b ^ 0xff for b in cbdata)

    attrs = scram_attrs(bare, "client-first-message-bare")
    if len(attrs) < 2 or attrs[0][0] != "n" or attrs[1][0] != "r" or not attrs[1][1]:
        raise ScramReject("malformed client-first-message-bare %r" % bare)
    user = saslname_decode(attrs[0][1])
    if "user" in opts and user != opts["user"]:
        raise ScramReject("user %r, expected %r" % (user, opts["user"]))
    cnonce = attrs[1][1]

    salt = os.urandom(16)
    nonce = cnonce + b64e(os.urandom(18))
    if opts.get("badnonce"):
        nonce = b64e(os.urandom(18)) + b64e(os.urandom(18))
        log("scram: sending a server nonce that does not extend the client's")
    elif opts.get("samenonce"):
        nonce = cnonce
        log("scram: sending the client's nonce back, not extended")
    sfm = "r=%s,s=%s,i=%d" % (nonce, b64e(salt), opts["iter"])
    conn.write(b"+ " + b64e(sfm.encode("utf-8")).encode("ascii") + b"\r\n")

    cf = b64d(scram_read_response(conn, "instead of client-final"), "client-final")
    try:
        cf = cf.decode("utf-8")
    except UnicodeDecodeError:
        raise ScramReject("client-final is not UTF-8")
    i = cf.rfind(",p=")
    if i < 0:
        raise ScramReject("client-final without proof: %r" % cf)
    without_proof, proof = cf[:i], b64d(cf[i + 3:], "proof")
    attrs = scram_attrs(without_proof, "client-final-message")
    if len(attrs) < 2 or attrs[0][0] != "c" or attrs[1][0] != "r":
        raise ScramReject("malformed client-final-message %r" % cf)
    binding = b64d(attrs[0][1], "c=")
    if not binding.startswith(gs2.encode("utf-8")):
        raise ScramReject("c= does not repeat the GS2 header")
    if binding != gs2.encode("utf-8") + cbdata:
        raise ScramReject("channel binding mismatch" if plus else "c= has data after the GS2 header")
    if attrs[1][1] != nonce:
        raise ScramReject("nonce mismatch")

    salted = hashlib.pbkdf2_hmac(hname, opts["password"].encode("utf-8"), salt, opts["iter"])
    client_key = hmac.new(salted, b"Client Key", hname).digest()
    stored_key = hashlib.new(hname, client_key).digest()
    auth_message = ("%s,%s,%s" % (bare, sfm, without_proof)).encode("utf-8")
    client_sig = hmac.new(stored_key, auth_message, hname).digest()
    if len(proof) != len(client_sig):
        raise ScramReject("proof has the wrong length")
    recovered = bytes(a ^ b for a, b in zip(proof, client_sig))
    if not hmac.compare_digest(hashlib.new(hname, recovered).digest(), stored_key):
        raise ScramReject("wrong proof (password)")
    if opts.get("nofinal"):
        log("scram: ok (no server-final sent)")
        return
    if "ferror" in opts:
        log("scram: sending server-final e=%s" % opts["ferror"])
        conn.write(b"+ " + b64e(("e=" + opts["ferror"]).encode("utf-8")).encode("ascii") + b"\r\n")
        last = scram_read_response(conn, "after server-final")
        raise ScramReject("server-final error e=%s (client answered %r)" % (opts["ferror"], last))
    server_key = hmac.new(salted, b"Server Key", hname).digest()
    server_sig = hmac.new(server_key, auth_message, hname).digest()
    if opts.get("forge"):
        server_sig = bytes(b ^ 0x5a for b in server_sig)
        log("scram: sending a forged server signature")
    sfinal = "v=" + b64e(server_sig)
    conn.write(b"+ " + b64e(sfinal.encode("ascii")).encode("ascii") + b"\r\n")
    last = scram_read_response(conn, "after server-final")
    if last != "":
        raise ScramReject("non-empty answer to server-final: %r" % last)
    log("scram: ok")


def scram_command(conn, arg, variables, autocontinue):
    words = [expand(x, variables).decode("utf-8") for x in arg.split()]
    opts = scram_parse_args(words, "scram")
    try:
        scram_exchange(conn, opts, variables, autocontinue)
        return
    except ScramReject as e:
        log("scram: rejected: %s" % e)
        conn.write(b"%s NO [AUTHENTICATIONFAILED] SCRAM: %s\r\n"
                   % (variables.get("TAG", b"*"), str(e).encode("utf-8", "replace")))
    except ScramCancel as e:
        log("scram: client cancelled (%s)" % e)
        conn.write(b"%s BAD AUTHENTICATE cancelled\r\n" % variables.get("TAG", b"*"))
    # a LOGOUT may follow; either way the connection ends here
    try:
        end = time.monotonic() + 2.0
        while True:
            i = conn.rbuf.find(b"\n")
            if i >= 0:
                line = bytes(conn.rbuf[:i + 1]).rstrip(b"\r\n")
                del conn.rbuf[:i + 1]
                vlog("client: %s" % show(line))
                t = line.split(b" ", 1)
                if len(t) == 2 and t[1].upper() == b"LOGOUT":
                    conn.write(b"* BYE Logging out\r\n%s OK Logout completed\r\n" % t[0])
                    break
                continue
            left = end - time.monotonic()
            if left <= 0 or not conn.read_some(timeout=left):
                break
    except (ClientGone, Deadline, Mismatch):
        pass
    conn.finish()
    raise ScramEnded()


# ---------------------------------------------------------------- player

def chunks_fill(total, unit):
    """TOTAL bytes of UNIT repeated, as CHUNK-sized pieces (each a whole
    number of units, so the pattern stays aligned)."""
    if not unit:
        unit = b"x"
    block = unit * max(1, CHUNK // len(unit))
    left = total
    while left > 0:
        piece = block if left >= len(block) else block[:left]
        yield piece
        left -= len(piece)


def chunks_repeat(count, unit):
    if not unit or count <= 0:
        return
    per = max(1, CHUNK // len(unit))
    left = count
    while left > 0:
        k = min(per, left)
        yield unit * k
        left -= k


def play(conn, block, variables):
    pace = None           # None, ("split", n, gap) or ("drip", seconds)
    autocontinue = True

    def emit(chunks):
        nonlocal pace
        p, pace = pace, None
        for c in chunks:
            if p is None:
                conn.write(c)
            elif p[0] == "split":
                n, gap = p[1], p[2]
                for i in range(0, len(c), n):
                    conn.write(c[i:i + n])
                    if gap and i + n < len(c):
                        conn.idle(min(gap, conn.remaining()))
            else:
                for i in range(len(c)):
                    conn.write(c[i:i + 1])
                    if i + 1 < len(c):
                        conn.idle(min(p[1], conn.remaining()))

    for lineno, cmd, arg in block:
        vlog("line %d: %s %s" % (lineno, cmd, show(arg.encode("utf-8", "replace"), 80)))
        if cmd == "send":
            emit([expand(arg, variables)])
        elif cmd == "line":
            emit([expand(arg, variables) + b"\r\n"])
        elif cmd == "sendraw":
            emit([bytes.fromhex(re.sub(r"\s+", "", arg))])
        elif cmd in ("sendrepeat", "linerepeat"):
            a = arg.split(None, 1)
            unit = expand(a[1] if len(a) > 1 else "", variables)
            if cmd == "linerepeat":
                unit += b"\r\n"
            emit(chunks_repeat(int(a[0], 0), unit))
        elif cmd == "sendfill":
            a = arg.split(None, 1)
            unit = expand(a[1], variables) if len(a) > 1 else b"x"
            emit(chunks_fill(int(a[0], 0), unit))
        elif cmd == "sendliteral":
            data = expand(arg, variables)
            emit([b"{%d}\r\n" % len(data) + data])
        elif cmd == "split":
            a = arg.split()
            pace = ("split", int(a[0], 0), float(a[1]) if len(a) > 1 else 0.01)
        elif cmd == "drip":
            pace = ("drip", float(arg))
        elif cmd in ("expect", "expectline"):
            got = conn.read_command(autocontinue)
            vlog("client: %s" % show(got))
            if cmd == "expect":
                m = re.match(rb"([^ ]*) ?(.*)\Z", got, re.S)
                tag, rest = m.group(1), m.group(2)
            else:
                tag, rest = None, got
            pattern = expand(arg, variables, escapes=False).decode("latin-1")
            mm = re.match(pattern, rest.decode("latin-1"), re.I | re.S)
            if not mm:
                raise Mismatch("line %d: expected /%s/, client sent %s"
                               % (lineno, pattern, show(got)))
            if tag is not None:
                variables["TAG"] = tag
            for name, value in mm.groupdict().items():
                if value is not None:
                    variables[name] = value.encode("latin-1")
        elif cmd == "autocontinue":
            autocontinue = arg == "on"
        elif cmd == "sleep":
            conn.idle(min(float(arg), conn.remaining()))
        elif cmd == "drain":
            try:
                conn.idle(min(float(arg), conn.remaining()))
            except ClientGone:
                raise Finished()
        elif cmd == "discard":
            try:
                conn.idle(min(float(arg), conn.remaining()))
            except ClientGone:
                raise Finished()
            if conn.rbuf:
                vlog("discarded %d bytes the client sent" % len(conn.rbuf))
                del conn.rbuf[:]
        elif cmd in ("stall", "stall_handshake"):
            conn.stall()
        elif cmd == "close":
            conn.finish()
            return
        elif cmd == "close_notify":
            conn.close_notify()
        elif cmd == "reset":
            conn.close(rst=True)
            return
        elif cmd == "shutdown":
            try:
                conn.sock.shutdown(socket.SHUT_WR)
            except OSError:
                pass
            conn.stall()
        elif cmd in ("tls", "starttls", "tls_stall"):
            a = [expand(x, variables).decode("utf-8") for x in arg.split()]
            cert, key, version, clientca = tls_parse_args(a, cmd, "line %d" % lineno)
            subject = conn.start_tls(cert, key, version, stall_midway=(cmd == "tls_stall"),
                                     clientca=clientca)
            if subject is not None:
                variables["CLIENTCERT"] = subject.encode("utf-8")
        elif cmd == "set":
            a = arg.split(None, 1)
            variables[a[0]] = expand(a[1] if len(a) > 1 else "", variables)
        elif cmd == "scram":
            scram_command(conn, arg, variables, autocontinue)
    conn.finish()


def serve(args, blocks, variables):
    deadline = time.monotonic() + args["max_seconds"]
    rec = open(args["record"], "ab", buffering=0) if args["record"] else None
    rec_clear = open(args["record_clear"], "ab", buffering=0) if args["record_clear"] else None

    lsock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    lsock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    lsock.bind((args["host"], args["port"]))
    lsock.listen(8)
    port = lsock.getsockname()[1]
    variables.setdefault("PORT", str(port).encode())
    sys.stdout.write("PORT %d\n" % port)
    sys.stdout.flush()

    status = EXIT_OK
    for i in range(args["connections"]):
        left = deadline - time.monotonic()
        if left <= 0:
            log("max-seconds reached while waiting for connection %d" % (i + 1))
            return status or EXIT_DEADLINE
        r, _, _ = select.select([lsock], [], [], left)
        if not r:
            log("max-seconds reached while waiting for connection %d" % (i + 1))
            return status or EXIT_DEADLINE
        sock, peer = lsock.accept()
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        sock.setblocking(False)
        vlog("connection %d from %s:%d" % (i + 1, peer[0], peer[1]))
        conn = Conn(sock, deadline, rec, rec_clear)
        block = blocks[min(i, len(blocks) - 1)]
        one = EXIT_OK
        try:
            play(conn, block, dict(variables))
        except Finished:
            pass
        except ScramEnded:
            one = EXIT_SCRAM
        except ClientGone as e:
            vlog("client went away: %s" % e)
            one = EXIT_GONE
        except Mismatch as e:
            log("mismatch: %s" % e)
            one = EXIT_MISMATCH
        except Deadline:
            log("max-seconds (%g) reached" % args["max_seconds"])
            one = EXIT_DEADLINE
        except ScenarioError as e:
            log("scenario error: %s" % e)
            one = EXIT_USAGE
        conn.close()
        status = status or one
        if one == EXIT_DEADLINE:
            break
    lsock.close()
    return status


def usage(msg=None):
    if msg:
        log(msg)
    sys.stderr.write("usage: fakeimap.py [--host H] [--port P] [--connections N] "
                     "[--max-seconds S] [--record FILE] [--record-clear FILE] "
                     "[--set NAME=VALUE]... [-v] [SCENARIO|-]\n")
    sys.exit(EXIT_USAGE)


def main(argv):
    global verbose
    args = {"host": "127.0.0.1", "port": 0, "connections": 1, "max_seconds": 30.0,
            "record": None, "record_clear": None}
    variables = {}
    scenario = "-"
    it = iter(argv)
    for a in it:
        def val():
            try:
                return next(it)
            except StopIteration:
                usage("%s needs a value" % a)
        if a == "--host":
            args["host"] = val()
        elif a == "--port":
            args["port"] = int(val())
        elif a == "--connections":
            args["connections"] = max(1, int(val()))
        elif a == "--max-seconds":
            args["max_seconds"] = float(val())
        elif a == "--record":
            args["record"] = val()
        elif a == "--record-clear":
            args["record_clear"] = val()
        elif a == "--set":
            k, sep, v = val().partition("=")
            if not sep or not re.fullmatch(r"[A-Za-z_][A-Za-z0-9_]*", k):
                usage("--set NAME=VALUE")
            variables[k] = v.encode("utf-8")
        elif a in ("-v", "--verbose"):
            verbose = True
        elif a in ("-h", "--help"):
            sys.stdout.write(open(__file__).read().split("\nimport ", 1)[0])
            sys.exit(0)
        elif a.startswith("-") and a != "-":
            usage("unknown option %s" % a)
        else:
            scenario = a

    # A backstop that cannot be outrun by anything blocking below.
    signal.signal(signal.SIGALRM, lambda *_: os._exit(EXIT_DEADLINE))
    signal.alarm(int(args["max_seconds"]) + 2)
    signal.signal(signal.SIGTERM, lambda *_: os._exit(EXIT_GONE))
    signal.signal(signal.SIGPIPE, signal.SIG_IGN)

    try:
        text = sys.stdin.read() if scenario == "-" else open(scenario, encoding="utf-8").read()
        blocks = parse(text)
    except (OSError, ScenarioError) as e:
        log(str(e))
        return EXIT_USAGE
    try:
        return serve(args, blocks, variables)
    except OSError as e:
        log("socket error: %s" % e)
        return EXIT_USAGE
    except KeyboardInterrupt:
        return EXIT_GONE


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
