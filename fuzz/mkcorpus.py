#!/usr/bin/env python3
"""fuzz/mkcorpus.py - (re)write the seed corpus in fuzz/corpus/TARGET/.

Seeds are small, readable inputs in each target's input format (see the
comment at the top of fuzz/fuzz_TARGET.c): real server conversations
(Dovecot-style), the hostile cases of issue 6, RFC test vectors, and valid
SCRAM exchanges computed here for the fuzzers' fixed nonce and iteration
cap, so the fuzzers start from deep inside each state machine.

    python3 fuzz/mkcorpus.py          # writes only missing/changed seeds

Inputs the fuzzer found interesting can be added by hand too (a crash's
reproducer, once fixed, belongs in the corpus).
"""
import base64
import hashlib
import hmac
import os

TOP = os.path.dirname(os.path.abspath(__file__))
CRLF = b"\r\n"


def lines(*ls):
    return b"".join(l.encode("latin-1") if isinstance(l, str) else l for l in ls)


def w(target, name, data):
    d = os.path.join(TOP, "corpus", target)
    os.makedirs(d, exist_ok=True)
    p = os.path.join(d, name)
    if isinstance(data, str):
        data = data.encode("latin-1")
    old = None
    if os.path.exists(p):
        with open(p, "rb") as f:
            old = f.read()
    if old != data:
        with open(p, "wb") as f:
            f.write(data)


# ------------------------------------------------------------ server talk
GREETING = "* OK [CAPABILITY IMAP4rev1 SASL-IR LOGIN-REFERRALS ID ENABLE IDLE LITERAL+ STARTTLS AUTH=PLAIN AUTH=SCRAM-SHA-256] Dovecot (Debian) ready.\r\n"
SELECT = (
    "* FLAGS (\\Answered \\Flagged \\Deleted \\Seen \\Draft)\r\n"
    "* OK [PERMANENTFLAGS (\\Answered \\Flagged \\Deleted \\Seen \\Draft \\*)] Flags permitted.\r\n"
    "* 3 EXISTS\r\n* 0 RECENT\r\n* OK [UNSEEN 2] First unseen.\r\n"
    "* OK [UIDVALIDITY 1700000000] UIDs valid\r\n* OK [UIDNEXT 4] Predicted next UID\r\n"
)
FETCH = (
    "* 3 FETCH (UID 3 RFC822.SIZE 321 INTERNALDATE \"17-Jul-1996 02:44:25 -0700\" "
    "FLAGS (\\Seen) BODY[HEADER.FIELDS (SUBJECT DATE)] {58}\r\n"
    "Subject: =?UTF-8?B?UHLDvGZ1bmc=?=\r\nDate: Mon, 7 Feb 1994\r\n\r\n)\r\n"
)
MISC = (
    "* CAPABILITY IMAP4rev1 IMAP4rev2 LITERAL- UTF8=ACCEPT ESEARCH QUOTA NAMESPACE\r\n"
    "* NAMESPACE ((\"INBOX.\" \".\")) ((\"#user/\" \"/\")) ((\"#shared/\" \"/\" \"X-PARAM\" (\"a\")))\r\n"
    "* LIST (\\HasNoChildren \\Sent) \".\" \"INBOX.Sent\"\r\n"
    "* LIST (\\Noselect) NIL {10}\r\nEntw&APw-rfe\r\n"
    "* LIST () \"/\" \"a \\\"b\\\" \\\\c\"\r\n"
    "* SEARCH 2 3 7 8 9\r\n"
    "* SEARCH 1 (MODSEQ 917162500)\r\n"
    "* ESEARCH (TAG \"a1\") UID COUNT 3 MIN 4 MAX 12 ALL 4:5,12\r\n"
    "* ESEARCH (TAG \"a9\") UID ALL 1:4294967295\r\n"
    "* QUOTAROOT INBOX \"User quota\"\r\n"
    "* QUOTA \"User quota\" (STORAGE 10 512 MESSAGE 3 1000)\r\n"
    "* ENABLED UTF8=ACCEPT\r\n"
    "* STATUS INBOX (MESSAGES 3 UNSEEN 1 SIZE 4242)\r\n"
)


def parse_seeds():
    T = "parse"
    session = (GREETING + "a1 OK [CAPABILITY IMAP4rev1 SASL-IR] Logged in\r\n" + SELECT +
               "a2 OK [READ-ONLY] Examine completed (0.001 + 0.000 secs).\r\n" + FETCH +
               "a3 OK Fetch completed.\r\n* BYE Logging out\r\na4 OK Logout completed.\r\n")
    for sel in (0x00, 0x01, 0x07, 0x09):
        w(T, "session-%02x" % sel, bytes([sel]) + session.encode("latin-1"))
    w(T, "misc", b"\x03" + MISC.encode("latin-1"))
    w(T, "misc-small", b"\x0f" + MISC.encode("latin-1"))
    w(T, "literals", b"\x02" + lines(
        "* 1 FETCH (BODY[] {11}\r\na\r\nb\0c\r\n\r\nd X {9}\r\n) \"x\" {5})\r\n",
        "* X {0}\r\n NIL {0}\r\n\r\n", "* X {3+}\r\nabc def\r\n", "* X {0003}\r\nabc\r\n",
        "* X \"{3}\" \"{0}\" \"foo{5}\"\r\n"))
    for i, lit in enumerate(("{99999999999}", "{18446744073709551615}", "{18446744073709551616}",
                             "{4294967285}", "{4294967296}", "{1048577}")):
        w(T, "literal-huge-%d" % i, b"\x01* 1 FETCH (BODY[] " + lit.encode() + b"\r\nxx\r\n")
    w(T, "literal-cut", b"\x00* 1 FETCH (BODY[] {100}\r\nonly a few bytes")
    w(T, "status", b"\x05" + lines(
        "a1 OK\r\n", "a1 OK \r\n", "* OK\r\n", "* BYE\n", "a1 NO [ALERT] \r\n",
        "* OK [ALERT] System shutdown in 10 minutes\r\n",
        "* BYE [REFERRAL imap://u@[::1]:143/INBOX] go away\r\n",
        "* OK [PERMANENTFLAGS (\\Deleted \\Seen \\*)] Limited\r\n",
        "a7 NO [AUTHENTICATIONFAILED] Authentication failed.\r\n",
        "A1 bad Command unknown\r\n", "* PREAUTH [CAPABILITY IMAP4rev1] Logged in as x\r\n",
        "+ \r\n", "+\r\n", "+ ZmFzdA==\r\n", "* 4294967295 EXPUNGE\r\n", "* 4294967296 EXPUNGE\r\n"))
    w(T, "hostile", b"\x07" + lines(
        "* OK hi | there \x1b[31mred\x1b[0m \x07\r\n", "* OK a\0b\r\n", "* OK a\rb\r\n",
        "a1 MAYBE x\r\n", "* (((((((((((((((((((((((((((((((((((x)))\r\n",
        "* X \"unterminated\r\n", "* X [unclosed section\r\n", "garbage\r\n", "\r\n", "*\r\n",
        "* X \xff\xfe\xc0\x80 \xe2\x80\xae\r\n"))
    w(T, "many-untagged", b"\x00" + b"* 1 EXISTS\r\n" * 200 + b"a1 OK done\r\n")
    w(T, "long-line", b"\x04* OK " + b"x" * 3000 + b"\r\n")
    w(T, "bare-lf", b"\x03* OK fine\na1 OK done\n")


def conn_seeds():
    T = "conn"
    g = GREETING.encode()
    # byte 0: chunking/options, byte 1: program (2-bit ops: 0 NOOP 1 LOGIN 2 pipeline 3 AUTH)
    w(T, "noops", b"\x00\x00" + g + b"a1 OK\r\na2 OK\r\na3 OK\r\na4 OK\r\n")
    w(T, "noops-bytes-logout", b"\x11\x00" + g + b"* 1 EXISTS\r\na1 OK\r\na2 OK\r\na3 OK\r\na4 OK\r\n"
      b"* BYE Logging out\r\na5 OK Logout completed.\r\n")
    w(T, "logout-bye-eof", b"\x10\x00" + g + b"a1 OK\r\na2 OK\r\na3 OK\r\na4 OK\r\n* BYE bye\r\n")
    # LOGIN with a synchronizing literal (no LITERAL+ in this greeting)
    g2 = b"* OK [CAPABILITY IMAP4rev1 AUTH=PLAIN] ready\r\n"
    w(T, "login-literal", b"\x02\x01" + g2 + b"+ Ready for literal data\r\n"
      b"a1 OK [CAPABILITY IMAP4rev1 IDLE] Logged in\r\na2 OK\r\na3 OK\r\na4 OK\r\n")
    w(T, "login-no", b"\x00\x01" + g2 + b"a1 NO [AUTHENTICATIONFAILED] Authentication failed.\r\n")
    w(T, "login-literal-plus", b"\x05\x01" + g + b"a1 OK Logged in\r\n")
    w(T, "pipeline", b"\x01\x02" + g + SELECT.encode() + b"a2 OK\r\na1 OK\r\na3 OK [READ-ONLY] done\r\n")
    w(T, "pipeline-small", b"\x0b\x02" + g + SELECT.encode() + b"a1 OK\r\na2 OK\r\na3 OK\r\n")
    w(T, "auth", b"\x06\x03" + g + b"+ \r\n+ " + base64.b64encode(b"challenge") +
      b"\r\n* CAPABILITY IMAP4rev1\r\na1 OK Logged in\r\n")
    w(T, "auth-bad-b64", b"\x00\x03" + g + b"+ !!!notbase64\r\na1 BAD cancelled\r\n")
    w(T, "unknown-tag", b"\x00\x00" + g + b"zz9 OK what\r\n")
    w(T, "bye-mid", b"\x00\x00" + g + b"* BYE [UNAVAILABLE] server shutting down\r\n")
    w(T, "greeting-bye", b"\x00\x00* BYE Too many connections\r\n")
    w(T, "greeting-preauth", b"\x00\x00* PREAUTH [CAPABILITY IMAP4rev1] hi\r\na1 OK\r\n")
    w(T, "greeting-garbage", b"\x00\x00SSH-2.0-OpenSSH_9.2\r\n")
    w(T, "abort-handler", b"\x80\x00" + g + b"* XABORT now\r\na1 OK\r\n")
    w(T, "write-chunks", b"\x60\x05" + g2 + b"+ go\r\na1 OK\r\na2 OK\r\n")
    w(T, "literal-huge", b"\x00\x00" + g + b"* 1 FETCH (BODY[] {18446744073709551615}\r\n")
    w(T, "many-untagged", b"\x08\x00" + g + b"* 1 EXISTS\r\n" * 20 + b"a1 OK\r\n")
    w(T, "enabled-utf8", b"\x00\x01" + g + b"* ENABLED UTF8=ACCEPT\r\na1 OK\r\n")


def scram_final(hname, gs2, server_first, user="user", password="pencil",
                cnonce="fyko+d2lbbFgONRv9qkxdawL"):
    h = getattr(hashlib, hname)
    attrs = dict(kv.split("=", 1) for kv in server_first.split(","))
    salted = hashlib.pbkdf2_hmac(hname, password.encode(), base64.b64decode(attrs["s"]), int(attrs["i"]))
    cfb = "n=%s,r=%s" % (user, cnonce)
    cfwp = "c=%s,r=%s" % (base64.b64encode(gs2).decode(), attrs["r"])
    am = ",".join((cfb, server_first, cfwp)).encode()
    skey = hmac.new(salted, b"Server Key", h).digest()
    return "v=" + base64.b64encode(hmac.new(skey, am, h).digest()).decode()


def sasl_seeds():
    T = "sasl"
    # RFC 5802 vector (SHA-1, i=4096) checks this script's arithmetic
    sf = "r=fyko+d2lbbFgONRv9qkxdawL3rfcNHYJY1ZVvWVs7j,s=QSXCR+Q6sek8bf92,i=4096"
    assert scram_final("sha1", b"n,,", sf) == "v=rmF9pqV8S7suAoZWja4dJRkFsKQ="
    # byte 0: mechanism index (fuzz_sasl.c table), bit 7: authzid
    sf1 = "r=fyko+d2lbbFgONRv9qkxdawL3rfcNHYJY1ZVvWVs7j,s=QSXCR+Q6sek8bf92,i=64"
    w(T, "scram-sha1-ok", "\x00" + sf1 + "\n" + scram_final("sha1", b"n,,", sf1) + "\n")
    sf2 = "r=fyko+d2lbbFgONRv9qkxdawL%hvYDpWUa2RaTCAfuxFIlj)hNlF$k0,s=W22ZaJ0SNY7soEsUEjb6gQ==,i=64"
    w(T, "scram-sha256-ok", "\x01" + sf2 + "\n" + scram_final("sha256", b"n,,", sf2))
    cb = bytes([1, 2, 3, 4, 5, 6, 7, 8]) + bytes(24)
    w(T, "scram-plus-ok", "\x02" + sf2 + "\n" +
      scram_final("sha256", b"p=tls-exporter,," + cb, sf2))
    w(T, "scram-y-ok", "\x03" + sf1 + "\n" + scram_final("sha1", b"y,,", sf1))
    w(T, "scram-authz", "\x80" + sf1 + "\n" + scram_final("sha1", b"n,a=admin=2C=3Dx,", sf1))
    w(T, "scram-rfc-capped", "\x00" + sf)
    w(T, "scram-error", "\x01e=invalid-proof")
    w(T, "scram-ext", "\x00m=must,r=x,s=QSXCR+Q6sek8bf92,i=1")
    w(T, "scram-final-ext", "\x00" + sf1 + "\nv=rmF9pqV8S7suAoZWja4dJRkFsKQ=,x=ext\nextra")
    w(T, "scram-bad", "\x01r=fyko,s=,i=0\n")
    w(T, "xoauth2-error", "\x04" + '{"status":"401","schemes":"bearer","scope":"https://mail.google.com/"}')
    w(T, "oauthbearer-error", "\x05" + '{"status":"invalid_token","scope":"example_scope",'
      '"openid-configuration":"https://example.com/.well-known/openid-configuration"}')
    w(T, "oauth-json-odd", "\x05" + '{ "a" : [1, {"b": [true, false, null]}], "status": "x\\u00e9\\"\\n\\ud83d\\ude00",'
      ' "scope": 1.5e3, "deep": [[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]] }')
    w(T, "oauth-json-bad", "\x04" + '{"status":"unterminated')
    w(T, "login-prompts", "\x06Username:\nPassword:\nMore?")
    w(T, "cram", "\x07<1896.697170952@postoffice.reston.mci.net>")
    w(T, "cram-empty", "\x07")
    w(T, "plain-challenge", "\x08unexpected")
    w(T, "external", "\x09\n")


def range_seeds():
    T = "range"
    for i, r in enumerate(("10", "10:", "~:10", "10:20", "@10:20", ":10", "~:", "@~:", "-1.5", ".5",
                           "2e3", "1e308:", "1,5", "inf", "0x10", " 5", "5 ", "20:10", "1e-320",
                           "-0", "@-1.5e+2:~", "99999999999999999999:1e400")):
        w(T, "r%02d" % i, r)


def script_seeds():
    T = "script"
    script = (
        "# a probe script\n"
        "\n"
        "sel: SELECT INBOX\n"
        "expect NO,BAD SELECT \"does not exist\"\n"
        "UID FETCH 1:* (FLAGS BODY.PEEK[HEADER.FIELDS (SUBJECT)])\n"
        "drafts: EXAMINE m\"Entw\xc3\xbcrfe\"\n"
        "APPEND INBOX (\\Seen) \"Subject: probe\\r\\n\\r\\nbody\\r\\n\"\n"
        "search: UID SEARCH SUBJECT \"caf\xc3\xa9\" UNSEEN\n"
        "\tNOOP\t\n"
        "NOOP\n"
    )
    w(T, "script", b"\x00" + script.encode("latin-1"))
    w(T, "refused", b"\x00LOGIN user pass\nAUTHENTICATE PLAIN\nSTARTTLS\nIDLE\n")
    w(T, "literal", b"\x00APPEND INBOX {5}\r\nhello\n")
    w(T, "reserved", b"\x00connect: NOOP\ntime: NOOP\n")
    w(T, "dup", b"\x00x: NOOP\nx: NOOP\n")
    w(T, "bad-escape", b"\x00SEARCH \"a\\q\"\n")
    w(T, "parens", b"\x00FETCH 1 (FLAGS))\nFETCH 1 ((FLAGS)\n")
    w(T, "ctl", b"\x00NOOP \x1b[31m\nSEARCH \"a\x01\"\n")
    w(T, "args", b"\x01SUBJECT \"probe\" UNSEEN")
    w(T, "args-or", b"\x01OR (FROM \"a\") (TO \"b\\r\\n\") m\"Entw\xc3\xbcrfe\"")
    w(T, "args-8bit", b"\x01SUBJECT \"\xc3\xa4\xc3\xb6\xc3\xbc\" TEXT \"\xff\"")


def text_seeds():
    T = "text"
    S = b"\xff"
    w(T, "utf7", b"\x05" + S.join([b"Entw&APw-rfe", b"&AOQ-&AOQ-", b"&AOQ-&-", b"&-", b"&AOQA5A-", b"&Jjo-!",
                                   b"&ZeVnLIqe-", b"&2D3eAQ-", b"&AAA-", b"a&b", b"&AOQ"]))
    w(T, "utf8", b"\x20" + S.join(["Entwürfe".encode(), "日本語".encode(), "😀".encode(), b"\xc3\x28",
                                   b"\xe2\x80\xae evil", b"a\x1b[31mb|c\x07\r\n\td", b"  lead  trail  ",
                                   b"\xc2\x85\xc2\x9b", b"\xe2\x80\xa8x"]))
    w(T, "mime", b"\x3f" + S.join([
        b"Subject: =?UTF-8?B?w6TDtsO8?= =?ISO-8859-1?Q?caf=E9?=\r\n folded\r\nDate: x\r\n\r\nbody",
        b"Subject",
        b"--b1\r\nContent-Type: text/plain\r\n\r\na\r\n--b1\r\n\r\nb\r\n--b1--\r\n"]))
    w(T, "ctype", b"\x10" + S.join([b"multipart/MIXED; charset=x; boundary=\"b1 x\"", b"Content-Type",
                                     b"--b1 x\r\n\r\n--b1 x--"]))
    w(T, "mime-bad", b"\x02" + S.join([b"Subject: =?UTF-8?B?!!?= =?x?Q?=ZZ?= =?UTF-8*de?q?a_b?=",
                                        b"subject"]))
    w(T, "dates", b"\x00" + S.join([b"17-Jul-1996 02:44:25 -0700", b" 1-Jan-2024 00:00:60 +1400",
                                     b"31-Feb-2024 24:00:00 -1260", b"4:7,9,12:10", b"1:4294967295",
                                     b"0", b"*", b"1,,2"]))
    w(T, "report-fail", b"\x83" + S.join([b"auth", b"mechanism=x|y", b"time=", b"\x1b]0;title\x07"]))
    w(T, "b64", b"\x01" + S.join([b"ZmFzdA==", b"Zg=", b"====", b""]))


def session_seeds():
    T = "session"
    # byte 0: command line (fuzz_session.c table); segments separated by 0x01,
    # segment k sent after the probe's k-th line
    G = ("* OK [CAPABILITY IMAP4rev1 LITERAL+ SASL-IR AUTH=PLAIN AUTH=LOGIN AUTH=CRAM-MD5 NAMESPACE "
         "QUOTA ESEARCH UIDPLUS SPECIAL-USE LIST-STATUS ENABLE] ready\r\n")
    EX = "* FLAGS (\\Seen)\r\n* 3 EXISTS\r\n* 0 RECENT\r\n* OK [UIDVALIDITY 17] x\r\n* OK [UIDNEXT 4] x\r\n"

    def s(name, sel, segs):
        w(T, name, bytes([sel]) + b"\x01".join(x.encode("latin-1") for x in segs))

    s("login", 0, [G, "a1 OK [CAPABILITY IMAP4rev1] Logged in\r\n",
                   "* STATUS INBOX (UNSEEN 1)\r\na2 OK done\r\n", EX + "a3 OK [READ-ONLY] done\r\n",
                   "* 3 FETCH (UID 3 RFC822.SIZE 321 INTERNALDATE \"01-Jan-2024 00:00:00 +0000\" "
                   "BODY[HEADER.FIELDS (SUBJECT DATE FROM)] {20}\r\nSubject: probe\r\n\r\n\r\n)\r\na4 OK done\r\n",
                   "* BYE bye\r\na5 OK bye\r\n"])
    s("login-all-at-once", 0, [G + "a1 OK in\r\n* STATUS INBOX (UNSEEN 1)\r\na2 OK\r\n" + EX +
                               "a3 OK\r\na4 OK\r\n* BYE x\r\na5 OK\r\n"])
    s("plain-search", 1, [G, "a1 OK in\r\n", "* STATUS INBOX (UNSEEN 1)\r\na2 OK\r\n", EX + "a3 OK\r\n",
                          "* ESEARCH (TAG \"a4\") UID COUNT 3 MIN 1 MAX 3 ALL 1:3\r\na4 OK\r\n",
                          "* 3 FETCH (UID 3 BODY[] {40}\r\nSubject: x\r\nContent-Type: text/plain\r\n\r\nhi\r\n)\r\n"
                          "a5 OK\r\n", "a6 OK\r\n"])
    s("ns-list-quota", 2, [G, "a1 OK in\r\n", "* NAMESPACE ((\"INBOX.\" \".\")) NIL NIL\r\na2 OK\r\n",
                           "* LIST (\\HasNoChildren \\Sent) \".\" INBOX.Sent\r\n* LIST () \".\" INBOX\r\na3 OK\r\n",
                           "* QUOTAROOT INBOX \"\"\r\n* QUOTA \"\" (STORAGE 10 100)\r\na4 OK\r\n",
                           "* STATUS INBOX (UNSEEN 0)\r\na5 OK\r\n", EX + "a6 OK\r\n", "a7 OK\r\n", "a8 OK\r\n"])
    s("authlogin-utf7", 3, [G, "+ VXNlcm5hbWU6\r\n", "+ UGFzc3dvcmQ6\r\n", "a1 OK in\r\n",
                            EX + "a2 OK [READ-WRITE] sel\r\n", "* SEARCH 1 2 3\r\na3 OK\r\n", "a4 OK\r\n"])
    s("cram-append", 4, [G, "+ PDE4OTYuNjk3MTcwOTUyQHBvc3RvZmZpY2UucmVzdG9uLm1jaS5uZXQ+\r\n", "a1 OK in\r\n",
                         "+ go\r\n", "a2 OK [APPENDUID 17 4] done\r\n", "* SEARCH 4\r\na3 OK\r\n", "a4 OK\r\n",
                         "* 1 EXPUNGE\r\na5 OK\r\n"])
    s("script", 5, [G, "a1 OK in\r\n", EX + "a2 OK\r\n",
                    "* 1 FETCH (UID 1 FLAGS (\\Seen) BODY[HEADER.FIELDS (SUBJECT)] {0}\r\n)\r\na3 OK\r\n",
                    "a4 NO [TRYCREATE] no\r\n", "a5 OK\r\n"])
    s("preauth-json", 6, ["* PREAUTH [CAPABILITY IMAP4rev1] hi\r\n", "* LIST () \"/\" INBOX\r\na1 OK\r\n",
                          EX + "a2 OK\r\n", "a3 OK\r\n"])
    s("hostile", 7, ["* OK [ALERT] \x1b[31mred|pipe\x07 ready\r\n", "a1 NO [ALERT] locked \xe2\x80\xae\r\n"])
    s("bye", 0, [G, "* BYE [UNAVAILABLE] shutting down\r\n"])
    s("garbage", 1, ["\x00\xff garbage\r\n"])
    s("huge-literal", 0, [G, "a1 OK in\r\n", "* STATUS INBOX (UNSEEN 1)\r\na2 OK\r\n", EX + "a3 OK\r\n",
                          "* 3 FETCH (BODY[] {18446744073709551615}\r\n"])


def http_seeds():
    """fuzz_http: one selector byte (body cap, chunking), then the answer."""
    jwt = "eyJhbGciOiJSUzI1NiJ9.eyJzdWIiOiJ1c2VyIn0.c2lnbmF0dXJl"
    ok = '{"token_type":"Bearer","expires_in":3599,"access_token":"%s","refresh_token":"rt-1"}' % jwt
    w("http", "ok-length", "\x04HTTP/1.1 200 OK\r\nContent-Type: application/json\r\n"
      "Content-Length: %d\r\n\r\n%s" % (len(ok), ok))
    chunked = "".join("%x\r\n%s\r\n" % (len(ok[i:i + 40]), ok[i:i + 40]) for i in range(0, len(ok), 40))
    w("http", "ok-chunked", "\x0cHTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n%s0\r\nX-T: 1\r\n\r\n"
      % chunked)
    w("http", "ok-close", "\x05HTTP/1.0 200 OK\nContent-Type: application/json\n\n" + ok)
    err = '{"error":"invalid_client","error_description":"AADSTS7000215: Invalid client secret provided."}'
    w("http", "invalid-client", "\x04HTTP/1.1 401 Unauthorized\r\nWWW-Authenticate: Basic realm=x\r\n"
      "Content-Length: %d\r\n\r\n%s" % (len(err), err))
    w("http", "continue", "\x04HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 503 Busy\r\nContent-Length: 4\r\n\r\ndown")
    w("http", "no-token", "\x04HTTP/1.1 200 OK\r\nContent-Length: 24\r\n\r\n{\"token_type\":\"Bearer\"}")
    w("http", "huge-length", "\x02HTTP/1.1 200 OK\r\nContent-Length: 99999999999\r\n\r\n{}")
    w("http", "endless-chunks", "\x05HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n" + "1;x=y\r\n{\r\n" * 50)


def main():
    http_seeds()
    parse_seeds()
    conn_seeds()
    sasl_seeds()
    range_seeds()
    script_seeds()
    text_seeds()
    session_seeds()


if __name__ == "__main__":
    main()
