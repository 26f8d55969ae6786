#!/usr/bin/python3
"""tests/oauth/tokenserver.py - a real OAuth 2 token endpoint for the test suite.

Authlib's RFC 6749 AuthorizationServer (Debian: python3-authlib) with the
client_credentials and refresh_token grants (refresh tokens rotate), on
python3's http.server over TLS (a certificate of the suite's test CA).  It
issues RS256-signed JWT access tokens (python3-jwt) and answers RFC 7662
token introspection, which the suite's Dovecot oauth2 passdb uses to
validate them: signature, expiry, revocation.

    tokenserver.py --cert C --key K --state DIR [--port N]

DIR/clients.json (written by fixture.sh) registers the clients:
    {"CLIENT_ID": {"secret": "...", "user": "MAILBOX USER",
                   "auth": ["client_secret_post", "client_secret_basic"],
                   "expires_in": 3600, "active": true}, ...}
"active": false makes introspection call every token of that client
inactive (a token the IMAP server refuses); "expires_in" sets the lifetime.
DIR/refresh-tokens.json seeds refresh tokens: {"TOKEN": {"client": ID,
"user": U, "scope": S}}.  The server writes DIR/port when it listens and
logs one line per request to DIR/requests.log:
    <path> grant=<grant_type> client=<client_id> scope=<scope> status=<code>
(never a secret).  SIGTERM stops it.
"""

import argparse
import http.server
import json
import os
import secrets
import signal
import socketserver
import ssl
import sys
import threading
import time
import urllib.parse

import jwt
from authlib.oauth2.rfc6749 import AuthorizationServer, ClientMixin, OAuth2Request, TokenMixin
from authlib.oauth2.rfc6749 import grants
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa

ISSUER = "https://cis-tokenserver.test"
AUDIENCE = "imap"

LOCK = threading.Lock()


class Client(ClientMixin):
    def __init__(self, cid, conf):
        self.client_id = cid
        self.secret = conf.get("secret")
        self.user = conf.get("user", "user")
        self.auth = conf.get("auth", ["client_secret_post", "client_secret_basic"])
        self.expires_in = int(conf.get("expires_in", 3600))
        self.active = bool(conf.get("active", True))
        self.grant_types = conf.get("grants", ["client_credentials", "refresh_token"])

    def get_client_id(self):
        return self.client_id

    def get_default_redirect_uri(self):
        return None

    def get_allowed_scope(self, scope):
        return scope or ""

    def check_redirect_uri(self, redirect_uri):
        return False

    def check_client_secret(self, client_secret):
        return self.secret is not None and secrets.compare_digest(self.secret, client_secret)

    def check_endpoint_auth_method(self, method, endpoint):
        if self.secret is None:
            return method == "none"
        return method in self.auth

    def check_response_type(self, response_type):
        return False

    def check_grant_type(self, grant_type):
        return grant_type in self.grant_types


class RefreshToken(TokenMixin):
    def __init__(self, value, conf):
        self.value = value
        self.client_id = conf["client"]
        self.user = conf["user"]
        self.scope = conf.get("scope", "")
        self.revoked = False

    def check_client(self, client):
        return client.get_client_id() == self.client_id

    def get_scope(self):
        return self.scope

    def get_expires_in(self):
        return None

    def is_expired(self):
        return False

    def is_revoked(self):
        return self.revoked


class State:
    def __init__(self, statedir):
        self.dir = statedir
        with open(os.path.join(statedir, "clients.json")) as f:
            self.clients = {cid: Client(cid, c) for cid, c in json.load(f).items()}
        self.refresh = {}
        path = os.path.join(statedir, "refresh-tokens.json")
        if os.path.exists(path):
            with open(path) as f:
                self.refresh = {v: RefreshToken(v, c) for v, c in json.load(f).items()}
        self.key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
        self.pub = self.key.public_key()
        self.log = open(os.path.join(statedir, "requests.log"), "a", buffering=1)


class ClientCredentials(grants.ClientCredentialsGrant):
    TOKEN_ENDPOINT_AUTH_METHODS = ["client_secret_basic", "client_secret_post"]


class Refresh(grants.RefreshTokenGrant):
    TOKEN_ENDPOINT_AUTH_METHODS = ["client_secret_basic", "client_secret_post", "none"]
    INCLUDE_NEW_REFRESH_TOKEN = True   # rotation

    def authenticate_refresh_token(self, refresh_token):
        tok = STATE.refresh.get(refresh_token)
        return tok if tok and not tok.revoked else None

    def authenticate_user(self, credential):
        return credential.user

    def revoke_old_credential(self, credential):
        credential.revoked = True


class Server(AuthorizationServer):
    def query_client(self, client_id):
        return STATE.clients.get(client_id)

    def save_token(self, token, request):
        rt = token.get("refresh_token")
        if rt:
            STATE.refresh[rt] = RefreshToken(rt, {"client": request.client.client_id, "user": request.user,
                                                  "scope": token.get("scope", "")})

    def create_oauth2_request(self, request):
        return request

    def handle_response(self, status, body, headers):
        return status, body, headers

    def send_signal(self, name, *args, **kwargs):
        pass


def generate_token(grant_type, client, user=None, scope=None, expires_in=None, include_refresh_token=True):
    now = int(time.time())
    life = client.expires_in
    sub = user if user else client.user
    claims = {"iss": ISSUER, "aud": AUDIENCE, "sub": sub, "azp": client.client_id, "iat": now, "nbf": now,
              "exp": now + life, "jti": secrets.token_hex(8)}
    if scope:
        claims["scope"] = scope
    token = {"access_token": jwt.encode(claims, STATE.key, algorithm="RS256", headers={"kid": "cis"}),
             "token_type": "Bearer", "expires_in": life}
    if scope:
        token["scope"] = scope
    if include_refresh_token:
        token["refresh_token"] = "rt-" + secrets.token_urlsafe(24)
    return token


def introspect(form):
    """RFC 7662: active + claims, after verifying signature and expiry."""
    try:
        claims = jwt.decode(form.get("token", ""), STATE.pub, algorithms=["RS256"], audience=AUDIENCE,
                            issuer=ISSUER)
    except jwt.PyJWTError:
        return {"active": False}
    client = STATE.clients.get(claims.get("azp"))
    if client is None or not client.active:
        return {"active": False}
    out = {"active": True, "token_type": "Bearer", "client_id": claims["azp"], "username": claims["sub"]}
    out.update({k: claims[k] for k in ("sub", "exp", "iat", "iss", "aud", "scope") if k in claims})
    return out


class Handler(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server_version = "cis-tokenserver/1"

    def log_message(self, fmt, *args):
        pass

    def reply(self, status, body, headers=None):
        data = json.dumps(body).encode()
        self.send_response(status)
        for k, v in (headers or []):
            if k.lower() not in ("content-length", "content-type"):
                self.send_header(k, v)
        self.send_header("Content-Type", "application/json")
        self.send_header("Cache-Control", "no-store")
        self.send_header("Content-Length", str(len(data)))
        self.send_header("Connection", "close")
        self.end_headers()
        self.wfile.write(data)
        self.close_connection = True

    def do_POST(self):
        n = int(self.headers.get("Content-Length") or 0)
        raw = self.rfile.read(min(n, 1 << 20)).decode("utf-8", "replace")
        form = dict(urllib.parse.parse_qsl(raw, keep_blank_values=True))
        path = self.path.split("?")[0]
        with LOCK:
            if path == "/token":
                req = OAuth2Request("POST", "https://127.0.0.1" + self.path, form, dict(self.headers))
                status, body, headers = AUTH.create_token_response(req)
                client = form.get("client_id") or (req.client.client_id if req.client else "-")
            elif path == "/introspect":
                status, body, headers = 200, introspect(form), []
                client = body.get("client_id", "-") if body.get("active") else "-"
            else:
                status, body, headers, client = 404, {"error": "not_found"}, [], "-"
            STATE.log.write("%s grant=%s client=%s scope=%s status=%d active=%s\n" % (
                path, form.get("grant_type", "-"), client, form.get("scope", "-").replace(" ", "+"), status,
                body.get("active", "-") if isinstance(body, dict) else "-"))
        self.reply(status, body, headers)

    def do_GET(self):
        self.reply(404, {"error": "not_found"})


class TLSServer(socketserver.ThreadingMixIn, http.server.HTTPServer):
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
    global STATE, AUTH
    ap = argparse.ArgumentParser()
    ap.add_argument("--cert", required=True)
    ap.add_argument("--key", required=True)
    ap.add_argument("--state", required=True)
    ap.add_argument("--port", type=int, default=0)
    a = ap.parse_args()
    STATE = State(a.state)
    AUTH = Server()
    AUTH.register_token_generator("default", generate_token)
    AUTH.register_grant(ClientCredentials)
    AUTH.register_grant(Refresh)
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    ctx.load_cert_chain(a.cert, a.key)
    srv = TLSServer(("127.0.0.1", a.port), ctx)
    signal.signal(signal.SIGTERM, lambda *_: threading.Thread(target=srv.shutdown).start())
    tmp = os.path.join(a.state, "port.tmp")
    with open(tmp, "w") as f:
        f.write("%d\n" % srv.server_address[1])
    os.rename(tmp, os.path.join(a.state, "port"))
    srv.serve_forever()
    srv.server_close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
