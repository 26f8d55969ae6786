/* tls.c - the backend-neutral TLS driver behind tls.h: the socket recorder,
 * the handshake loop, the TLS transport and every failure message; the
 * library calls are in the backend (tls_backend.h). */
#include "config.h"
#include "net/tls.h"

#include <arpa/inet.h>
#include <ctype.h>
#include <errno.h>
#include <limits.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "net/clock.h"
#include "net/tls_backend.h"

/* RFC 9266 */
#define EXPORTER_LABEL "EXPORTER-Channel-Binding"
#define EXPORTER_LEN 32

/* One TLS connection; t->ctx of the transport. */
struct tls_conn {
	struct tls_sock sock;
	struct tls_be *be;
	int broken;               /* fatal error seen: no close_notify */
};

static const struct transport_ops tls_ops;

/* ---------------------------------------------------------------- the socket */

int tls_sock_recv(struct tls_sock *s, unsigned char *buf, size_t len)
{
	ssize_t n = transport_sock_recv(s->fd, buf, len > INT_MAX ? INT_MAX : len, s->rt);
	if (n > 0) {
		s->raw_in += (uint64_t)n;
		if (s->nfirst < sizeof(s->first)) {
			size_t k = sizeof(s->first) - s->nfirst;
			if (k > (size_t)n)
				k = (size_t)n;
			memcpy(s->first + s->nfirst, buf, k);
			s->nfirst += k;
		}
		return (int)n;
	}
	if (n == 0) {
		s->eof = 1;
		return 0;
	}
	if (errno == EAGAIN || errno == EWOULDBLOCK)
		return TLS_IO_WANT_READ;
	s->sys_errno = errno;
	return TLS_IO_SYSERR;
}

int tls_sock_send(struct tls_sock *s, const unsigned char *buf, size_t len)
{
	ssize_t n = transport_sock_send(s->fd, buf, len > INT_MAX ? INT_MAX : len, s->rt);
	if (n >= 0)
		return (int)n;
	if (errno == EAGAIN || errno == EWOULDBLOCK)
		return TLS_IO_WANT_WRITE;
	s->sys_errno = errno;
	return TLS_IO_SYSERR;
}

/* A TLS record starts with a content type 20..24 and major version 3.
 * Unknown (nothing received yet) counts as TLS. */
static int looks_like_tls(const struct tls_sock *s)
{
	if (s->nfirst == 0)
		return 1;
	if (s->first[0] < 20 || s->first[0] > 24)
		return 0;
	return s->nfirst < 2 || s->first[1] == 3;
}

/* The record layer reads a 5-byte header first and gives up on it: peek
 * at what else the peer sent, so a message can quote e.g. its greeting. */
static void peek_more(struct tls_sock *s)
{
	if (s->raw_in != s->nfirst || s->nfirst >= sizeof(s->first))
		return;
	ssize_t n = recv(s->fd, s->first + s->nfirst, sizeof(s->first) - s->nfirst, MSG_PEEK | MSG_DONTWAIT);
	if (n > 0)
		s->nfirst += (size_t)n;
}

/* ---------------------------------------------------------------- helpers for backends */

void tls_printable(char *dst, size_t dstlen, const unsigned char *src, size_t srclen)
{
	size_t o = 0;
	for (size_t i = 0; i < srclen && o + 1 < dstlen; i++) {
		if (src[i] == '\r' || src[i] == '\n')
			break;
		dst[o++] = (src[i] >= 0x20 && src[i] < 0x7f) ? (char)src[i] : '?';
	}
	if (dstlen)
		dst[o] = '\0';
}

size_t tls_ip_parse(const char *name, unsigned char bin[16])
{
	char tmp[64];
	snprintf(tmp, sizeof(tmp), "%s", name);
	char *pct = strchr(tmp, '%');
	if (pct && strchr(tmp, ':'))
		*pct = '\0';
	if (inet_pton(AF_INET, tmp, bin) == 1)
		return 4;
	if (inet_pton(AF_INET6, tmp, bin) == 1)
		return 16;
	return 0;
}

int tls_is_hash_name(const char *n)
{
	size_t i = 0;
	while (i < 8 && isxdigit((unsigned char)n[i]))
		i++;
	if (i != 8 || n[8] != '.' || !isdigit((unsigned char)n[9]))
		return 0;
	for (i = 10; n[i]; i++)
		if (!isdigit((unsigned char)n[i]))
			return 0;
	return 1;
}

static int same_str(const char *a, const char *b)
{
	return (!a && !b) || (a && b && strcmp(a, b) == 0);
}

static char *dup_or_null(const char *s)
{
	return s ? strdup(s) : NULL;
}

int tls_ctx_key_matches(const struct tls_ctx_key *k, const struct tls_options *opt)
{
	return k->insecure == !!opt->insecure && k->min_version == opt->min_version &&
	       same_str(k->cafile, opt->cafile) && same_str(k->capath, opt->capath) &&
	       same_str(k->client_cert, opt->client_cert) && same_str(k->client_key, opt->client_key);
}

void tls_ctx_key_set(struct tls_ctx_key *k, const struct tls_options *opt)
{
	tls_ctx_key_clear(k);
	k->cafile = dup_or_null(opt->cafile);
	k->capath = dup_or_null(opt->capath);
	k->client_cert = dup_or_null(opt->client_cert);
	k->client_key = dup_or_null(opt->client_key);
	k->insecure = !!opt->insecure;
	k->min_version = opt->min_version;
}

void tls_ctx_key_clear(struct tls_ctx_key *k)
{
	free(k->cafile);
	free(k->capath);
	free(k->client_cert);
	free(k->client_key);
	memset(k, 0, sizeof(*k));
}

void tls_names_init(struct tls_names *n, char *buf, size_t len)
{
	n->buf = buf;
	n->len = len;
	n->count = 0;
	buf[0] = '\0';
}

void tls_names_add(struct tls_names *n, const unsigned char *name, size_t len)
{
	size_t used = strlen(n->buf);
	if (n->count == 4) {
		snprintf(n->buf + used, n->len - used, ", ...");
	} else if (n->count < 4) {
		char clean[128];
		tls_printable(clean, sizeof(clean), name, len);
		snprintf(n->buf + used, n->len - used, "%s%s", n->count ? ", " : "", clean);
	}
	n->count++;
}

void tls_names_add_ip(struct tls_names *n, const unsigned char *addr, size_t len)
{
	char ip[INET6_ADDRSTRLEN];
	if ((len == 4 || len == 16) && inet_ntop(len == 4 ? AF_INET : AF_INET6, addr, ip, sizeof(ip)))
		tls_names_add(n, (const unsigned char *)ip, strlen(ip));
}

void tls_names_end(struct tls_names *n)
{
	if (n->count == 0)
		snprintf(n->buf, n->len, "no names");
}

void tls_msg_chain(char *err, size_t errlen, const char *why)
{
	snprintf(err, errlen, "certificate verify failed: %s", why);
}

void tls_msg_mismatch(char *err, size_t errlen, int ip, const char *names)
{
	snprintf(err, errlen, "%s mismatch: certificate is for %s", ip ? "IP address" : "host name",
		 names[0] ? names : "unknown names");
}

/* ---------------------------------------------------------------- handshake */

/* A failed handshake step r (why: the backend's words) as enum tls_err. */
static int handshake_failure(struct tls_conn *c, const struct tls_options *opt, int r, const char *why,
			     char *err, size_t errlen)
{
	c->broken = 1;
	if (!opt->insecure && tls_be_verify_failed(c->be, err, errlen))
		return TLS_ERR_VERIFY;
	if (!looks_like_tls(&c->sock)) {
		char text[40];
		peek_more(&c->sock);
		tls_printable(text, sizeof(text), c->sock.first, c->sock.nfirst);
		snprintf(err, errlen, "TLS handshake failed: server sent \"%s\" (not TLS? plaintext port?)", text);
		return TLS_ERR_HANDSHAKE;
	}
	if (c->sock.eof || r == TLS_IO_EOF || r == TLS_IO_CLOSED) {
		snprintf(err, errlen, "server closed the connection during the TLS handshake%s",
			 c->sock.raw_in ? "" : " (no reply to ClientHello)");
		return TLS_ERR_EOF;
	}
	if (r == TLS_IO_SYSERR) {
		int e = c->sock.sys_errno;
		if (e == ECONNRESET || e == EPIPE) {
			snprintf(err, errlen, "connection reset by server during the TLS handshake");
			return TLS_ERR_EOF;
		}
		snprintf(err, errlen, "TLS handshake failed: %s", strerror(e));
		return TLS_ERR_HANDSHAKE;
	}
	snprintf(err, errlen, "TLS handshake failed: %s", why[0] ? why : "unknown error");
	return TLS_ERR_HANDSHAKE;
}

static int handshake_timeout(const struct tls_conn *c, char *err, size_t errlen)
{
	if (c->sock.raw_in == 0)
		snprintf(err, errlen, "TLS handshake timed out: no reply from server");
	else
		snprintf(err, errlen, "TLS handshake timed out after %llu bytes from server",
			 (unsigned long long)c->sock.raw_in);
	return TLS_ERR_TIMEOUT;
}

static int handshake(struct transport *t, struct tls_conn *c, const struct tls_options *opt,
		     int64_t deadline_ns, char *err, size_t errlen)
{
	for (;;) {
		char why[200] = "";
		int r = tls_be_handshake(c->be, why, sizeof(why));
		if (r == TLS_IO_OK)
			return TLS_OK;
		short ev;
		if (r == TLS_IO_WANT_READ)
			ev = POLLIN;
		else if (r == TLS_IO_WANT_WRITE)
			ev = POLLOUT;
		else
			return handshake_failure(c, opt, r, why, err, errlen);
		int w = clock_expired(deadline_ns) ? 0 : transport_wait(t, ev, deadline_ns);
		if (w == 0)
			return handshake_timeout(c, err, errlen);
		if (w < 0) {
			snprintf(err, errlen, "%s", t->err);
			return TLS_ERR_INTERNAL;
		}
	}
}

static void conn_free(struct tls_conn *c, int close_notify)
{
	tls_be_free(c->be, close_notify);
	free(c);
}

int tls_start(struct transport *plain, const struct tls_options *opt, int64_t deadline_ns,
	      struct transport **out, struct tls_info *info, char *err, size_t errlen)
{
	*out = NULL;
	memset(info, 0, sizeof(*info));
	if (opt->min_version != 0 && opt->min_version != 12 && opt->min_version != 13) {
		snprintf(err, errlen, "unsupported minimum TLS version %d (use 12 or 13)", opt->min_version);
		return TLS_ERR_CONFIG;
	}
	if (!opt->client_cert && opt->client_key) {
		snprintf(err, errlen, "client key %s given without a client certificate", opt->client_key);
		return TLS_ERR_CONFIG;
	}

	struct transport *t = calloc(1, sizeof(*t));
	struct tls_conn *c = calloc(1, sizeof(*c));
	if (!t || !c) {
		free(t);
		free(c);
		snprintf(err, errlen, "out of memory");
		return TLS_ERR_INTERNAL;
	}
	c->sock.fd = plain->fd;
	c->sock.rt = plain->rt;
	t->ops = &tls_ops;
	t->ctx = c;
	t->fd = plain->fd;
	t->rt = plain->rt;
	t->stop = plain->stop;   /* a signal ends the handshake as a timeout */

	int rc = tls_be_new(&c->be, &c->sock, opt, info, err, errlen);
	if (rc == TLS_OK) {
		rc = handshake(t, c, opt, deadline_ns, err, errlen);
		tls_be_describe(c->be, rc == TLS_OK, info);
	}
	if (rc != TLS_OK) {
		conn_free(c, 0);
		free(t);
		return rc;
	}
	info->verified = !opt->insecure && !tls_be_verify_failed(c->be, NULL, 0);

	plain->fd = -1; /* the fd now belongs to t */
	transport_close(plain);
	*out = t;
	return TLS_OK;
}

/* ---------------------------------------------------------------- transport slots */

/* A failed read or write (r: enum tls_io, why: the backend's words) as
 * enum tr_status, the message in t->err. */
static ssize_t io_failure(struct transport *t, struct tls_conn *c, int r, const char *why)
{
	switch (r) {
	case TLS_IO_WANT_READ:
		return TR_WANT_READ;
	case TLS_IO_WANT_WRITE:
		return TR_WANT_WRITE;
	case TLS_IO_CLOSED:
		snprintf(t->err, sizeof(t->err), "connection closed by server");
		return TR_EOF;
	default:
		break;
	}
	c->broken = 1;
	if (r == TLS_IO_EOF || c->sock.eof) {
		snprintf(t->err, sizeof(t->err), "connection closed without close_notify");
		return TR_EOF;
	}
	if (r == TLS_IO_SYSERR) {
		int e = c->sock.sys_errno;
		if (e == EPIPE) {
			snprintf(t->err, sizeof(t->err), "connection closed by server");
			return TR_EOF;
		}
		if (e == ECONNRESET)
			snprintf(t->err, sizeof(t->err), "connection reset by peer");
		else
			snprintf(t->err, sizeof(t->err), "TLS: %s", strerror(e));
		return TR_ERROR;
	}
	snprintf(t->err, sizeof(t->err), "TLS: %s", why[0] ? why : "unknown error");
	return TR_ERROR;
}

/* One read (into rbuf) or write (from wbuf) through the backend. */
static ssize_t tls_io(struct transport *t, void *rbuf, const void *wbuf, size_t len)
{
	struct tls_conn *c = t->ctx;
	char why[160] = "";
	if (c->broken) {
		snprintf(t->err, sizeof(t->err), "TLS connection already failed");
		return TR_ERROR;
	}
	size_t n = len > INT_MAX ? INT_MAX : len;
	int r = rbuf ? tls_be_read(c->be, rbuf, n, why, sizeof(why)) : tls_be_write(c->be, wbuf, n, why, sizeof(why));
	return r > 0 ? r : io_failure(t, c, r, why);
}

static ssize_t tls_read(struct transport *t, void *buf, size_t len)
{
	return tls_io(t, buf, NULL, len);
}

static ssize_t tls_write(struct transport *t, const void *buf, size_t len)
{
	return tls_io(t, NULL, buf, len);
}

static size_t tls_pending(struct transport *t)
{
	struct tls_conn *c = t->ctx;
	return tls_be_pending(c->be);
}

/* Best-effort close_notify (one non-blocking attempt), then free all. */
static void tls_close(struct transport *t)
{
	struct tls_conn *c = t->ctx;
	int fd = c->sock.fd;
	conn_free(c, !c->broken);
	if (fd >= 0)
		close(fd);
	free(t);
}

static const struct transport_ops tls_ops = {
	.name = "tls",
	.read = tls_read,
	.write = tls_write,
	.pending = tls_pending,
	.close = tls_close,
};

/* ---------------------------------------------------------------- channel binding */

int tls_channel_binding(struct transport *t, const char *type, unsigned char *out,
			size_t *outlen, char *err, size_t errlen)
{
	if (!t || t->ops != &tls_ops) {
		snprintf(err, errlen, "channel binding needs a TLS connection");
		return -1;
	}
	struct tls_conn *c = t->ctx;
	int v = tls_be_version(c->be);

	if (strcmp(type, "tls-unique") == 0) {
		if (v != 12) {
			snprintf(err, errlen, "tls-unique is not defined for TLS 1.3 (use tls-exporter)");
			return -1;
		}
		return tls_be_tls_unique(c->be, out, outlen, err, errlen);
	}
	if (strcmp(type, "tls-exporter") == 0) {
		if (v != 13) {
			snprintf(err, errlen, "tls-exporter is only used with TLS 1.3 (use tls-unique)");
			return -1;
		}
		if (*outlen < EXPORTER_LEN) {
			snprintf(err, errlen, "tls-exporter: buffer too small");
			return -1;
		}
		if (tls_be_exporter(c->be, EXPORTER_LABEL, out, EXPORTER_LEN, err, errlen) != 0)
			return -1;
		*outlen = EXPORTER_LEN;
		return 0;
	}
	snprintf(err, errlen, "unknown channel binding type \"%s\"", type);
	return -1;
}
