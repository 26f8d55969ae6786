/* oauth_token.c - the OAuth 2 token request over the probe's transport and
 * TLS backend, and its JSON answer parsed with jansson (see oauth.h). */
#include "config.h"
#include "oauth/oauth.h"

#include <jansson.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "net/net.h"
#include "net/tls.h"
#include "net/transport.h"
#include "oauth/http.h"

#define REDACTED "<redacted>"

static int set_msg(struct oauth_result *res, int st, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));

/* Fill res->message (sanitized) and res->status; returns the status. */
static int set_msg(struct oauth_result *res, int st, const char *fmt, ...)
{
	char raw[sizeof(res->message)];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(raw, sizeof(raw), fmt, ap);
	va_end(ap);
	sanitize_text(res->message, sizeof(res->message), raw, strlen(raw));
	res->status = st;
	return st;
}

void oauth_token_free(struct oauth_token *tok)
{
	if (!tok)
		return;
	secret_free(tok->access_token);
	secret_free(tok->refresh_token);
	memset(tok, 0, sizeof(*tok));
	tok->expires_in = -1;
}

/* ------------------------------------------------------------ JSON */

/* jansson copies what it parses (the lexer's buffer, every string) into
 * its own heap blocks and frees them without wiping: with this allocator
 * every block it frees is wiped first, so no token text outlives a parse.
 * Each block carries its size in front (16 bytes keep the alignment). */
#define WIPE_HDR 16

static void *wipe_malloc(size_t n)
{
	if (n > SIZE_MAX - WIPE_HDR)
		return NULL;
	unsigned char *p = malloc(n + WIPE_HDR);
	if (!p)
		return NULL;
	memcpy(p, &n, sizeof(n));
	return p + WIPE_HDR;
}

static void wipe_free(void *q)
{
	size_t n;

	if (!q)
		return;
	unsigned char *p = (unsigned char *)q - WIPE_HDR;
	memcpy(&n, p, sizeof(n));
	secure_zero(q, n);
	free(p);
}

void oauth_json_setup(void)
{
	/* the same pair every time: never switched while a value is alive
	 * (every user of jansson in probes/ releases what it parsed before
	 * returning) */
	json_set_alloc_funcs(wipe_malloc, wipe_free);
}

static void member_text(const json_t *obj, const char *key, char *dst, size_t dstsz)
{
	const json_t *v = json_object_get(obj, key);
	dst[0] = '\0';
	if (json_is_string(v))
		sanitize_text(dst, dstsz, json_string_value(v), json_string_length(v));
}

/* expires_in: a number, or a numeric string (some endpoints send "3599"). */
static int member_expires(const json_t *obj, long long *out)
{
	const json_t *v = json_object_get(obj, "expires_in");
	long long n;

	*out = -1;
	if (!v || json_is_null(v))
		return 0;
	if (json_is_integer(v)) {
		n = (long long)json_integer_value(v);
	} else if (json_is_real(v)) {
		double d = json_real_value(v);
		if (!(d >= 0 && d < 1e10))
			return -1;
		n = (long long)d;
	} else if (json_is_string(v)) {
		const char *s = json_string_value(v);
		char *end;
		if (!*s || strlen(s) > 10 || strspn(s, "0123456789") != strlen(s))
			return -1;
		n = strtoll(s, &end, 10);
	} else {
		return -1;
	}
	if (n < 0 || n > 10LL * 366 * 86400)
		return -1;
	*out = n;
	return 0;
}

static char *dup_secret(const char *s, size_t n)
{
	char *d = malloc(n + 1);
	if (d) {
		memcpy(d, s, n);
		d[n] = '\0';
	}
	return d;
}

static int parse_error_object(int http_status, const json_t *root, struct oauth_result *res)
{
	char desc[300], uri[200];

	member_text(root, "error", res->error, sizeof(res->error));
	member_text(root, "error_description", desc, sizeof(desc));
	member_text(root, "error_uri", uri, sizeof(uri));
	set_msg(res, OAUTH_ERR_DENIED, "%s (HTTP %d)%s%s", res->error, http_status, desc[0] ? ": " : "", desc);
	return res->status;
}

static int parse_token_object(const json_t *root, struct oauth_token *tok, struct oauth_result *res)
{
	const json_t *at = json_object_get(root, "access_token");
	const json_t *rt = json_object_get(root, "refresh_token");
	char type[64];

	if (!json_is_string(at) || json_string_length(at) == 0)
		return set_msg(res, OAUTH_ERR_RESPONSE, "the answer holds no access_token");
	if (json_string_length(at) > OAUTH_MAX_TOKEN || strlen(json_string_value(at)) != json_string_length(at) ||
	    !bearer_token_ok(json_string_value(at)))
		return set_msg(res, OAUTH_ERR_RESPONSE, "the access_token is not a usable bearer token"
					  " (too long, or characters other than printable ASCII)");
	member_text(root, "token_type", type, sizeof(type));
	if (json_object_get(root, "token_type") && strcasecmp(type, "bearer") != 0)
		return set_msg(res, OAUTH_ERR_RESPONSE, "token_type \"%s\" is not Bearer", type);
	if (member_expires(root, &tok->expires_in) < 0)
		return set_msg(res, OAUTH_ERR_RESPONSE, "invalid expires_in in the answer");
	if (rt && !json_is_null(rt)) {
		if (!json_is_string(rt) || json_string_length(rt) == 0 || json_string_length(rt) > OAUTH_MAX_TOKEN ||
		    strlen(json_string_value(rt)) != json_string_length(rt) || !bearer_token_ok(json_string_value(rt)))
			return set_msg(res, OAUTH_ERR_RESPONSE, "the answer's refresh_token is not usable");
		tok->refresh_token = dup_secret(json_string_value(rt), json_string_length(rt));
	}
	tok->access_token = dup_secret(json_string_value(at), json_string_length(at));
	if (!tok->access_token || (rt && json_is_string(rt) && !tok->refresh_token)) {
		oauth_token_free(tok);
		return set_msg(res, OAUTH_ERR_INTERNAL, "out of memory");
	}
	snprintf(tok->token_type, sizeof(tok->token_type), "Bearer");
	res->status = OAUTH_OK;
	return OAUTH_OK;
}

int oauth_parse_response(int http_status, const char *reason, const char *body, size_t len,
			 struct oauth_token *tok, struct oauth_result *res)
{
	json_error_t jerr;
	char excerpt[160];

	oauth_json_setup();
	json_t *root = len ? json_loadb(body, len, JSON_REJECT_DUPLICATES, &jerr) : NULL;
	int rc;

	oauth_token_free(tok);
	res->http_status = http_status;
	res->error[0] = '\0';
	if (json_is_object(root) && json_is_string(json_object_get(root, "error"))) {
		rc = parse_error_object(http_status, root, res);
	} else if (http_status != 200) {
		sanitize_text(excerpt, sizeof(excerpt), body, len > 400 ? 400 : len);
		set_msg(res, OAUTH_ERR_HTTP, "HTTP %d %s%s%s", http_status, reason ? reason : "",
			excerpt[0] ? ": " : "", excerpt);
		rc = res->status;
	} else if (!json_is_object(root)) {
		set_msg(res, OAUTH_ERR_RESPONSE, "the answer is not a JSON object%s%s", root ? "" : ": ",
			root ? "" : jerr.text);
		rc = res->status;
	} else {
		rc = parse_token_object(root, tok, res);
	}
	json_decref(root);   /* wiped block by block (oauth_json_setup) */
	return rc;
}

void oauth_redact_body(const char *body, size_t len, char *out, size_t outlen)
{
	static const char *const keys[] = { "access_token", "refresh_token", "id_token" };
	json_error_t jerr;

	oauth_json_setup();
	json_t *root = len ? json_loadb(body, len, JSON_REJECT_DUPLICATES, &jerr) : NULL;
	if (!json_is_object(root)) {
		json_decref(root);
		sanitize_text(out, outlen, body, len > 300 ? 300 : len);
		return;
	}
	for (size_t i = 0; i < sizeof(keys) / sizeof(keys[0]); i++) {
		json_t *v = json_object_get(root, keys[i]);
		if (json_is_string(v))
			json_object_set_new(root, keys[i], json_string(REDACTED));
	}
	char text[2048];
	size_t n = json_dumpb(root, text, sizeof(text), JSON_COMPACT | JSON_SORT_KEYS);
	sanitize_text(out, outlen, text, n <= sizeof(text) ? n : sizeof(text));
	json_decref(root);
}

/* ------------------------------------------------------------ request */

int oauth_form_body(const struct oauth_params *p, int redacted, struct sbuf *sb)
{
	sb_reset(sb);
	if (p->refresh_token) {
		http_form_add(sb, "grant_type", "refresh_token");
		http_form_add(sb, "refresh_token", redacted ? REDACTED : p->refresh_token);
	} else {
		http_form_add(sb, "grant_type", "client_credentials");
	}
	if (p->scope && *p->scope)
		http_form_add(sb, "scope", p->scope);
	if (p->auth != OAUTH_AUTH_BASIC || !p->client_secret) {
		http_form_add(sb, "client_id", p->client_id);
		if (p->client_secret)
			http_form_add(sb, "client_secret", redacted ? REDACTED : p->client_secret);
	}
	return sb->truncated ? -1 : 0;
}

static void trace_text(const struct oauth_params *p, const char *dir, const char *text)
{
	const char *s = text;
	while (p->trace && *s) {
		const char *e = strstr(s, "\r\n");
		size_t n = e ? (size_t)(e - s) : strlen(s);
		if (n || e)
			p->trace(p->trace_ud, dir, s, n);
		s += n + (e ? 2 : 0);
		if (e && e[2] == '\r' && e[3] == '\n') {   /* the blank line: body follows */
			p->trace(p->trace_ud, dir, "", 0);
			s = e + 4;
			if (*s)
				p->trace(p->trace_ud, dir, s, strlen(s));
			break;
		}
	}
}

/* Build the request (and its redacted twin for the trace). */
static int build_request(const struct oauth_params *p, const struct http_url *u, struct sbuf *req,
			 struct oauth_result *res)
{
	struct sbuf body, shown;
	int rc = -1;

	if (sb_init_alloc(&body, OAUTH_MAX_TOKEN * 2 + 8192) < 0) {
		set_msg(res, OAUTH_ERR_INTERNAL, "out of memory");
		return -1;
	}
	int basic = p->auth == OAUTH_AUTH_BASIC && p->client_secret;
	struct http_request rq = {
		.url = u,
		.content_type = "application/x-www-form-urlencoded",
		.basic_user = basic ? p->client_id : NULL,
		.basic_pass = basic ? p->client_secret : NULL,
	};
	if (oauth_form_body(p, 0, &body) == 0) {
		rq.body = body.data;
		rq.body_len = body.len;
		rc = http_request_write(req, &rq);
	}
	if (rc < 0)
		set_msg(res, OAUTH_ERR_CONFIG, "the token request is too large or malformed");
	if (rc == 0 && p->trace && sb_init_alloc(&shown, req->max) == 0) {
		oauth_form_body(p, 1, &body);
		rq.body = body.data;
		rq.body_len = body.len;
		rq.redact_auth = 1;
		if (http_request_write(&shown, &rq) == 0)
			trace_text(p, "C", shown.data);
		sb_free(&shown);
	}
	sb_free(&body);
	return rc;
}

/* ------------------------------------------------------------ exchange */

static int connect_endpoint(const struct oauth_params *p, const struct http_url *u, int64_t deadline,
			    struct transport **out, struct oauth_result *res)
{
	struct net_addrs addrs;
	char err[512];
	int timed_out = 0, used = 0;

	if (net_resolve(u->host, u->port, p->family, deadline, p->stop, &addrs, &timed_out, err, sizeof(err)) < 0) {
		set_msg(res, timed_out ? OAUTH_ERR_TIMEOUT : OAUTH_ERR_NET, "%s: %s", u->authority,
			timed_out ? "timed out resolving the name" : err);
		return -1;
	}
	int fd = net_connect(&addrs, deadline, p->stop, p->rt, &used, &timed_out, err, sizeof(err));
	if (fd < 0) {
		set_msg(res, timed_out ? OAUTH_ERR_TIMEOUT : OAUTH_ERR_NET, "%s: %s", u->authority,
			timed_out ? "timed out connecting" : err);
		return -1;
	}
	net_format_addr(&addrs.addr[used], res->peer, sizeof(res->peer));
	struct transport *plain = transport_tcp_new(fd, p->rt);
	if (!plain) {
		set_msg(res, OAUTH_ERR_INTERNAL, "out of memory");
		return -1;
	}
	plain->stop = p->stop;
	struct tls_options opt = {
		.sni = net_is_ip_literal(u->host) ? NULL : u->host,
		.verify_name = u->host,
		.cafile = p->cafile,
		.capath = p->capath,
		.insecure = p->insecure,
	};
	struct tls_info info;
	memset(&info, 0, sizeof(info));
	int rc = tls_start(plain, &opt, deadline, out, &info, err, sizeof(err));
	if (rc != TLS_OK) {
		transport_close(plain);
		set_msg(res, rc == TLS_ERR_TIMEOUT ? OAUTH_ERR_TIMEOUT : rc == TLS_ERR_CONFIG ? OAUTH_ERR_CONFIG : OAUTH_ERR_TLS,
			"%s: TLS: %s", u->authority, rc == TLS_ERR_TIMEOUT ? "timed out in the handshake" : err);
		return -1;
	}
	snprintf(res->tls_version, sizeof(res->tls_version), "%s", info.version);
	res->tls_verified = info.verified;
	return 0;
}

static int read_response(const struct oauth_params *p, const struct http_url *u, struct transport *t,
			 int64_t deadline, struct http_resp *r, struct oauth_result *res)
{
	unsigned char buf[4096];

	for (;;) {
		ssize_t n = transport_read(t, buf, sizeof(buf), deadline);
		int rc;
		if (n == TR_TIMEOUT) {
			set_msg(res, OAUTH_ERR_TIMEOUT, "%s: timed out waiting for the %s", u->authority,
				r->headers_done ? "response body" : "response");
			return -1;
		}
		if (n == TR_ERROR) {
			set_msg(res, OAUTH_ERR_NET, "%s: reading the response: %s", u->authority, t->err);
			return -1;
		}
		rc = n == TR_EOF ? http_resp_eof(r) : http_resp_feed(r, buf, (size_t)n, NULL);
		secure_zero(buf, sizeof(buf));
		if (rc == HTTP_ERROR) {
			set_msg(res, OAUTH_ERR_HTTP, "%s: invalid HTTP response: %s", u->authority, r->err);
			res->http_status = r->status;
			return -1;
		}
		if (rc == HTTP_DONE)
			return 0;
	}
}

int oauth_fetch(const struct oauth_params *p, int64_t deadline_ns, struct oauth_token *tok,
		struct oauth_result *res)
{
	struct http_url u;
	struct sbuf req;
	struct http_resp r;
	struct transport *t = NULL;
	char err[256];

	memset(res, 0, sizeof(*res));
	oauth_token_free(tok);
	if (http_url_parse(p->token_url, &u, err, sizeof(err)) < 0)
		return set_msg(res, OAUTH_ERR_CONFIG, "--oauth-token-url: %s", err);
	if (!p->client_id || !*p->client_id)
		return set_msg(res, OAUTH_ERR_CONFIG, "no OAuth client id");
	if (!p->refresh_token && !p->client_secret)
		return set_msg(res, OAUTH_ERR_CONFIG, "the client credentials grant needs a client secret");
	if (sb_init_alloc(&req, OAUTH_MAX_TOKEN * 4 + 16384) < 0)
		return set_msg(res, OAUTH_ERR_INTERNAL, "out of memory");
	if (build_request(p, &u, &req, res) < 0) {
		sb_free(&req);
		return res->status;
	}
	if (connect_endpoint(p, &u, deadline_ns, &t, res) < 0) {
		sb_free(&req);
		return res->status;
	}
	int rc = transport_write_all(t, req.data, req.len, deadline_ns);
	sb_free(&req);
	if (rc != 0) {
		set_msg(res, rc == TR_TIMEOUT ? OAUTH_ERR_TIMEOUT : OAUTH_ERR_NET, "%s: sending the request: %s",
			u.authority, rc == TR_TIMEOUT ? "timed out" : rc == TR_EOF ? "connection closed" : t->err);
		transport_close(t);
		return res->status;
	}
	if (http_resp_init(&r, OAUTH_MAX_BODY) < 0) {
		transport_close(t);
		return set_msg(res, OAUTH_ERR_INTERNAL, "out of memory");
	}
	if (read_response(p, &u, t, deadline_ns, &r, res) == 0) {
		if (p->trace) {
			char line[700];
			int n = snprintf(line, sizeof(line), "HTTP %d %s (Content-Type: %s, %zu body bytes)", r.status,
					 r.reason, r.content_type[0] ? r.content_type : "none", r.body.len);
			p->trace(p->trace_ud, "S", line, (size_t)n < sizeof(line) ? (size_t)n : sizeof(line) - 1);
			oauth_redact_body(r.body.data, r.body.len, line, sizeof(line));
			p->trace(p->trace_ud, "S", line, strlen(line));
		}
		oauth_parse_response(r.status, r.reason, r.body.data, r.body.len, tok, res);
		if (res->status != OAUTH_OK && res->status != OAUTH_ERR_INTERNAL) {
			char inner[sizeof(res->message)];
			snprintf(inner, sizeof(inner), "%s", res->message);
			set_msg(res, res->status, "%s: %s", u.authority, inner);
		}
	}
	http_resp_free(&r);
	transport_close(t);
	return res->status;
}
