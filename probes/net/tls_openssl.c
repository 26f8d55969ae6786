/* tls_openssl.c - the OpenSSL (1.1.1 / 3.x) backend of tls.h.
 *
 * Compiled only when config.h defines WITH_TLS_OPENSSL; otherwise this
 * translation unit is empty, so the build can always list it.
 *
 * Start-up cost matters more than anything else here (the probe runs
 * thousands of times a minute and a whole session is a few ms of CPU):
 *  - the library is initialised without reading openssl.cnf, without an
 *    atexit() cleanup and without loading its error strings (OpenSSL 3
 *    cannot load them later once declined: err_text() words the errors a
 *    probe meets itself, and falls back to the numeric code);
 *  - one SSL_CTX per process, created on first use and reused while the
 *    options that shape it (trust store, client certificate, --insecure)
 *    are the same; with --insecure no trust store is loaded at all;
 *  - the system trust store is a hashed directory lookup, which reads one
 *    issuer file when it is needed, instead of parsing the whole bundle
 *    (SSL_CERT_FILE / SSL_CERT_DIR in the environment, or a default
 *    directory without hash links, fall back to OpenSSL's default paths).
 *
 * openssl.cnf is not read, so Debian's system policy is restated here:
 * TLS 1.2 minimum, security level 2.
 *
 * The socket is driven through a tiny BIO of our own over the
 * non-blocking fd: it uses MSG_NOSIGNAL (no SIGPIPE), records the end of
 * the stream, errno, and the first bytes the peer sent, so a handshake
 * failure can say "the server answered in plaintext" or "closed".
 * Library results are mapped onto enum tr_status / enum tls_err here and
 * nowhere else. */
#include "config.h"

#if defined(WITH_TLS_OPENSSL)

#include "net/tls.h"

#include <arpa/inet.h>
#include <ctype.h>
#include <dirent.h>
#include <errno.h>
#include <limits.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include <openssl/crypto.h>
#include <openssl/err.h>
#include <openssl/ssl.h>
#include <openssl/x509v3.h>

#include "net/clock.h"

/* Key exchange groups, cheapest first: Debian's defaults are fine for
 * OpenSSL, but being explicit keeps X25519 as the one key share sent. */
#define CIS_GROUPS "X25519:P-256:P-384"

/* OpenSSL 3 reports an EOF without close_notify as an SSL error with
 * this reason; 1.1.1 as SSL_ERROR_SYSCALL with errno 0 (c->eof). */
#ifdef SSL_R_UNEXPECTED_EOF_WHILE_READING
#define IS_UNEXPECTED_EOF(reason) ((reason) == SSL_R_UNEXPECTED_EOF_WHILE_READING)
#else
#define IS_UNEXPECTED_EOF(reason) 0
#endif

#ifndef OPENSSL_INIT_NO_ATEXIT /* before 1.1.1b */
#define OPENSSL_INIT_NO_ATEXIT 0
#endif

/* RFC 9266 */
#define EXPORTER_LABEL "EXPORTER-Channel-Binding"
#define EXPORTER_LEN 32

/* ---------------------------------------------------------------- state */

/* One TLS connection; t->ctx of the transport. */
struct ossl_conn {
	SSL *ssl;
	int fd;
	int eof;                  /* recv() returned 0 */
	int sys_errno;            /* last hard socket error, 0 if none */
	int broken;               /* fatal error seen: no close_notify */
	uint64_t raw_in;          /* bytes received from the socket */
	unsigned char first[32];  /* first bytes the peer sent */
	size_t nfirst;
};

/* The process-wide SSL_CTX and the options it was built from. */
struct ctx_cache {
	SSL_CTX *ctx;
	int insecure;             /* no trust store loaded */
	char *cafile, *capath, *cert, *key;
};

static struct ctx_cache cache;
static BIO_METHOD *fd_bio_method;

static const struct transport_ops ossl_ops;

/* ---------------------------------------------------------------- helpers */

const char *tls_backend_name(void)
{
	return "openssl";
}

const char *tls_backend_version(void)
{
	return OpenSSL_version(OPENSSL_VERSION);
}

/* Initialise libssl once: no config file, no atexit() cleanup (6% of a
 * whole session's instructions, spent freeing memory the exiting process
 * gives back anyway) and no error strings (5%; OpenSSL 3 cannot load them
 * later once declined, hence err_text()'s own short table). */
static int lib_init(void)
{
	return OPENSSL_init_ssl(OPENSSL_INIT_NO_LOAD_CONFIG | OPENSSL_INIT_NO_ATEXIT |
				OPENSSL_INIT_NO_LOAD_SSL_STRINGS | OPENSSL_INIT_NO_LOAD_CRYPTO_STRINGS,
				NULL) == 1;
}

/* Texts for the errors a probe meets in practice (OpenSSL's own wording). */
static const struct {
	int lib, reason;
	const char *text;
} reasons[] = {
	{ ERR_LIB_SSL, SSL_R_WRONG_VERSION_NUMBER, "wrong version number" },
	{ ERR_LIB_SSL, SSL_R_UNSUPPORTED_PROTOCOL, "unsupported protocol" },
	{ ERR_LIB_SSL, SSL_R_NO_PROTOCOLS_AVAILABLE, "no protocols available" },
	{ ERR_LIB_SSL, SSL_R_CERTIFICATE_VERIFY_FAILED, "certificate verify failed" },
	{ ERR_LIB_SSL, SSL_R_PACKET_LENGTH_TOO_LONG, "packet length too long" },
	{ ERR_LIB_SSL, SSL_R_RECORD_LENGTH_MISMATCH, "record length mismatch" },
	{ ERR_LIB_SSL, SSL_R_NO_CIPHERS_AVAILABLE, "no ciphers available" },
	{ ERR_LIB_SSL, SSL_R_NO_SHARED_GROUPS, "no shared groups" },
	{ ERR_LIB_SSL, SSL_R_NO_SUITABLE_SIGNATURE_ALGORITHM, "no suitable signature algorithm" },
	{ ERR_LIB_SSL, SSL_R_DH_KEY_TOO_SMALL, "dh key too small" },
	{ ERR_LIB_SSL, SSL_R_EE_KEY_TOO_SMALL, "ee key too small" },
	{ ERR_LIB_SSL, SSL_R_CA_KEY_TOO_SMALL, "ca key too small" },
	{ ERR_LIB_SSL, SSL_R_CA_MD_TOO_WEAK, "ca md too weak" },
	{ ERR_LIB_SSL, SSL_R_UNSAFE_LEGACY_RENEGOTIATION_DISABLED, "unsafe legacy renegotiation disabled" },
	{ ERR_LIB_SSL, SSL_R_DECRYPTION_FAILED_OR_BAD_RECORD_MAC, "decryption failed or bad record mac" },
	{ ERR_LIB_SSL, SSL_R_BAD_SIGNATURE, "bad signature" },
	{ ERR_LIB_SSL, SSL_R_WRONG_CURVE, "wrong curve" },
	{ ERR_LIB_SSL, SSL_R_UNEXPECTED_MESSAGE, "unexpected message" },
	{ ERR_LIB_SSL, SSL_R_UNEXPECTED_RECORD, "unexpected record" },
	{ ERR_LIB_SSL, SSL_R_LENGTH_MISMATCH, "length mismatch" },
#ifdef SSL_R_UNEXPECTED_EOF_WHILE_READING
	{ ERR_LIB_SSL, SSL_R_UNEXPECTED_EOF_WHILE_READING, "unexpected eof while reading" },
#endif
	{ ERR_LIB_X509, X509_R_KEY_VALUES_MISMATCH, "key values mismatch" },
	{ ERR_LIB_X509, X509_R_KEY_TYPE_MISMATCH, "key type mismatch" },
	{ ERR_LIB_X509, X509_R_NO_CERTIFICATE_OR_CRL_FOUND, "no certificate or crl found" },
	{ ERR_LIB_PEM, PEM_R_NO_START_LINE, "no start line (not a PEM file?)" },
	{ ERR_LIB_PEM, PEM_R_BAD_PASSWORD_READ, "encrypted key: not supported" },
	{ ERR_LIB_PEM, PEM_R_BAD_DECRYPT, "encrypted key: not supported" },
	{ ERR_LIB_PEM, PEM_R_PROBLEMS_GETTING_PASSWORD, "encrypted key: not supported" },
};

/* Readable text for the oldest queued error (empty queue: fallback). */
static void err_text(char *buf, size_t len, const char *fallback)
{
	unsigned long e = ERR_peek_error();
	int lib = ERR_GET_LIB(e), reason = ERR_GET_REASON(e);
	if (e == 0) {
		snprintf(buf, len, "%s", fallback);
		return;
	}
	if (lib == ERR_LIB_SYS) {
		snprintf(buf, len, "%s", strerror(reason));
		return;
	}
	if (lib == ERR_LIB_SSL && reason >= SSL_AD_REASON_OFFSET) {
		snprintf(buf, len, "server sent fatal alert: %s",
			 SSL_alert_desc_string_long(reason - SSL_AD_REASON_OFFSET));
		return;
	}
	for (size_t i = 0; i < sizeof(reasons) / sizeof(reasons[0]); i++) {
		if (reasons[i].lib == lib && reasons[i].reason == reason) {
			snprintf(buf, len, "%s", reasons[i].text);
			return;
		}
	}
	const char *r = ERR_reason_error_string(e); /* if someone loaded them */
	if (r)
		snprintf(buf, len, "%s", r);
	else
		ERR_error_string_n(e, buf, len); /* "error:0A000126:lib(20)::reason(294)" */
}

/* Copy at most srclen bytes as printable ASCII ('?' for anything else),
 * stopping at CR/LF.  dst always NUL-terminated. */
static void printable(char *dst, size_t dstlen, const unsigned char *src, size_t srclen)
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

/* A TLS record starts with a content type 20..24 and major version 3.
 * Unknown (nothing received yet) counts as TLS. */
static int looks_like_tls(const struct ossl_conn *c)
{
	if (c->nfirst == 0)
		return 1;
	if (c->first[0] < 20 || c->first[0] > 24)
		return 0;
	return c->nfirst < 2 || c->first[1] == 3;
}

/* The record layer reads a 5-byte header first and gives up on it: peek
 * at what else the peer sent, so a message can quote e.g. its greeting. */
static void peek_more(struct ossl_conn *c)
{
	if (c->raw_in != c->nfirst || c->nfirst >= sizeof(c->first))
		return;
	ssize_t n = recv(c->fd, c->first + c->nfirst, sizeof(c->first) - c->nfirst,
			 MSG_PEEK | MSG_DONTWAIT);
	if (n > 0)
		c->nfirst += (size_t)n;
}

/* Parse an IPv4/IPv6 literal (an IPv6 zone "%eth0" is ignored).
 * Returns 1 and fills out (dst, at least 46 bytes) with the bare literal,
 * or 0 for a host name. */
static int ip_literal(const char *name, char *out, size_t outlen)
{
	unsigned char bin[16];
	snprintf(out, outlen, "%s", name);
	char *pct = strchr(out, '%');
	if (pct && strchr(out, ':'))
		*pct = '\0';
	return inet_pton(AF_INET, out, bin) == 1 || inet_pton(AF_INET6, out, bin) == 1;
}

static char *dup_or_null(const char *s)
{
	return s ? strdup(s) : NULL;
}

static int same_str(const char *a, const char *b)
{
	return (!a && !b) || (a && b && strcmp(a, b) == 0);
}

/* 1 if dir holds at least one "hhhhhhhh.N" hash link, i.e. a directory
 * lookup can work (Debian's /etc/ssl/certs; not Fedora's), 0 if not, -1
 * (errno set) if dir cannot be read. */
static int dir_has_hash_links(const char *dir)
{
	DIR *d = opendir(dir);
	if (!d)
		return -1;
	int found = 0;
	struct dirent *de;
	while (!found && (de = readdir(d)) != NULL) {
		const char *n = de->d_name;
		size_t i = 0;
		while (i < 8 && isxdigit((unsigned char)n[i]))
			i++;
		found = i == 8 && n[8] == '.' && isdigit((unsigned char)n[9]);
	}
	closedir(d);
	return found;
}

/* ---------------------------------------------------------------- the fd BIO */

static void note_peer_bytes(struct ossl_conn *c, const char *buf, size_t n)
{
	c->raw_in += n;
	if (c->nfirst < sizeof(c->first)) {
		size_t k = sizeof(c->first) - c->nfirst;
		if (k > n)
			k = n;
		memcpy(c->first + c->nfirst, buf, k);
		c->nfirst += k;
	}
}

static int fd_bio_read(BIO *b, char *buf, int len)
{
	struct ossl_conn *c = BIO_get_data(b);
	BIO_clear_retry_flags(b);
	if (len <= 0)
		return 0;
	for (;;) {
		transport_rt_wait();
		ssize_t n = recv(c->fd, buf, (size_t)len, 0);
		if (n > 0) {
			note_peer_bytes(c, buf, (size_t)n);
			return (int)n;
		}
		if (n == 0) {
			c->eof = 1;
			return 0;
		}
		if (errno == EINTR)
			continue;
		if (errno == EAGAIN || errno == EWOULDBLOCK) {
			BIO_set_retry_read(b);
			return -1;
		}
		c->sys_errno = errno;
		return -1;
	}
}

static int fd_bio_write(BIO *b, const char *buf, int len)
{
	struct ossl_conn *c = BIO_get_data(b);
	BIO_clear_retry_flags(b);
	if (len <= 0)
		return 0;
	for (;;) {
		ssize_t n = send(c->fd, buf, (size_t)len, MSG_NOSIGNAL);
		if (n >= 0) {
			if (n > 0)
				transport_rt_sent();
			return (int)n;
		}
		if (errno == EINTR)
			continue;
		if (errno == EAGAIN || errno == EWOULDBLOCK) {
			BIO_set_retry_write(b);
			return -1;
		}
		c->sys_errno = errno;
		return -1;
	}
}

static long fd_bio_ctrl(BIO *b, int cmd, long num, void *ptr)
{
	struct ossl_conn *c = BIO_get_data(b);
	(void)num;
	switch (cmd) {
	case BIO_CTRL_FLUSH:
		return 1;
	case BIO_C_GET_FD:
		if (ptr && c)
			*(int *)ptr = c->fd;
		return c ? c->fd : -1;
	case BIO_CTRL_EOF:
		return c ? c->eof : 0;
	default:
		return 0;
	}
}

static int fd_bio_create(BIO *b)
{
	BIO_set_init(b, 1);
	return 1;
}

static int fd_bio_destroy(BIO *b)
{
	(void)b;
	return 1; /* the fd and the conn belong to the transport */
}

/* The method table is created once per process and never freed. */
static BIO_METHOD *fd_bio(void)
{
	if (fd_bio_method)
		return fd_bio_method;
	BIO_METHOD *m = BIO_meth_new(BIO_get_new_index() | BIO_TYPE_SOURCE_SINK, "cis_fd");
	if (!m)
		return NULL;
	if (!BIO_meth_set_write(m, fd_bio_write) || !BIO_meth_set_read(m, fd_bio_read) ||
	    !BIO_meth_set_ctrl(m, fd_bio_ctrl) || !BIO_meth_set_create(m, fd_bio_create) ||
	    !BIO_meth_set_destroy(m, fd_bio_destroy)) {
		BIO_meth_free(m);
		return NULL;
	}
	fd_bio_method = m;
	return m;
}

/* ---------------------------------------------------------------- SSL_CTX */

/* Encrypted keys are not supported: never prompt on a terminal. */
static int no_password(char *buf, int size, int rwflag, void *u)
{
	(void)buf;
	(void)size;
	(void)rwflag;
	(void)u;
	return 0;
}

/* Trust anchors: the user's CA file/dir, else the system store as a lazy
 * hashed-directory lookup (full default paths only where that cannot
 * work, or when SSL_CERT_FILE/SSL_CERT_DIR ask for them). */
static int ctx_trust(SSL_CTX *ctx, const struct tls_options *opt, char *err, size_t errlen)
{
	char why[160];

	if (opt->cafile && SSL_CTX_load_verify_locations(ctx, opt->cafile, NULL) != 1) {
		err_text(why, sizeof(why), "no certificates found");
		snprintf(err, errlen, "CA file %s: %s", opt->cafile, why);
		return TLS_ERR_CONFIG;
	}
	if (opt->capath) {
		int h = dir_has_hash_links(opt->capath);
		if (h <= 0) {
			if (h < 0)
				snprintf(err, errlen, "CA directory %s: %s", opt->capath, strerror(errno));
			else
				snprintf(err, errlen, "CA directory %s: no hashed certificate links "
					 "(run 'openssl rehash %s')", opt->capath, opt->capath);
			return TLS_ERR_CONFIG;
		}
		if (SSL_CTX_load_verify_locations(ctx, NULL, opt->capath) != 1) {
			err_text(why, sizeof(why), "unusable");
			snprintf(err, errlen, "CA directory %s: %s", opt->capath, why);
			return TLS_ERR_CONFIG;
		}
	}
	if (opt->cafile || opt->capath)
		return TLS_OK;
	const char *dir = X509_get_default_cert_dir();
	if (getenv(X509_get_default_cert_file_env()) || getenv(X509_get_default_cert_dir_env()) ||
	    dir_has_hash_links(dir) != 1) {
		SSL_CTX_set_default_verify_paths(ctx);
		return TLS_OK;
	}
	if (SSL_CTX_load_verify_locations(ctx, NULL, dir) != 1) {
		err_text(why, sizeof(why), "unusable");
		snprintf(err, errlen, "CA directory %s: %s", dir, why);
		return TLS_ERR_CONFIG;
	}
	return TLS_OK;
}

static int ctx_client_cert(SSL_CTX *ctx, const struct tls_options *opt, char *err, size_t errlen)
{
	char why[160];

	if (!opt->client_cert) {
		if (!opt->client_key)
			return TLS_OK;
		snprintf(err, errlen, "client key %s given without a client certificate", opt->client_key);
		return TLS_ERR_CONFIG;
	}
	const char *key = opt->client_key ? opt->client_key : opt->client_cert;
	if (SSL_CTX_use_certificate_chain_file(ctx, opt->client_cert) != 1) {
		err_text(why, sizeof(why), "unreadable");
		snprintf(err, errlen, "client certificate %s: %s", opt->client_cert, why);
		return TLS_ERR_CONFIG;
	}
	if (SSL_CTX_use_PrivateKey_file(ctx, key, SSL_FILETYPE_PEM) != 1) {
		err_text(why, sizeof(why), "unreadable");
		snprintf(err, errlen, "client key %s: %s", key, why);
		return TLS_ERR_CONFIG;
	}
	if (SSL_CTX_check_private_key(ctx) != 1) {
		snprintf(err, errlen, "client key %s does not match certificate %s", key, opt->client_cert);
		return TLS_ERR_CONFIG;
	}
	return TLS_OK;
}

static SSL_CTX *ctx_new(const struct tls_options *opt, int *rc, char *err, size_t errlen)
{
	SSL_CTX *ctx = SSL_CTX_new(TLS_client_method());
	if (!ctx) {
		err_text(err, errlen, "SSL_CTX_new failed");
		*rc = TLS_ERR_INTERNAL;
		return NULL;
	}
	/* openssl.cnf is not read: state Debian's system policy ourselves. */
	SSL_CTX_set_min_proto_version(ctx, TLS1_2_VERSION);
	SSL_CTX_set_security_level(ctx, 2);
	SSL_CTX_set_options(ctx, SSL_OP_NO_COMPRESSION | SSL_OP_NO_TICKET | SSL_OP_NO_RENEGOTIATION);
	SSL_CTX_set_mode(ctx, SSL_MODE_ENABLE_PARTIAL_WRITE | SSL_MODE_ACCEPT_MOVING_WRITE_BUFFER);
	SSL_CTX_set_session_cache_mode(ctx, SSL_SESS_CACHE_OFF);
	SSL_CTX_set_default_passwd_cb(ctx, no_password);
	if (SSL_CTX_set1_groups_list(ctx, CIS_GROUPS) != 1)
		ERR_clear_error(); /* keep the library defaults */

	*rc = opt->insecure ? TLS_OK : ctx_trust(ctx, opt, err, errlen);
	if (*rc == TLS_OK)
		*rc = ctx_client_cert(ctx, opt, err, errlen);
	if (*rc != TLS_OK) {
		SSL_CTX_free(ctx);
		return NULL;
	}
	return ctx;
}

static void cache_clear(void)
{
	SSL_CTX_free(cache.ctx);
	free(cache.cafile);
	free(cache.capath);
	free(cache.cert);
	free(cache.key);
	memset(&cache, 0, sizeof(cache));
}

/* The process's SSL_CTX for these options: built on first use, rebuilt
 * only if the trust store or client certificate options change (an
 * --insecure context has no trust store at all).  Not owned by the
 * caller; each SSL holds its own reference. */
static SSL_CTX *ctx_get(const struct tls_options *opt, int *rc, char *err, size_t errlen)
{
	if (cache.ctx && cache.insecure == !!opt->insecure && same_str(cache.cafile, opt->cafile) &&
	    same_str(cache.capath, opt->capath) && same_str(cache.cert, opt->client_cert) &&
	    same_str(cache.key, opt->client_key))
		return cache.ctx;
	cache_clear();
	SSL_CTX *ctx = ctx_new(opt, rc, err, errlen);
	if (!ctx)
		return NULL;
	cache.ctx = ctx;
	cache.insecure = !!opt->insecure;
	cache.cafile = dup_or_null(opt->cafile);
	cache.capath = dup_or_null(opt->capath);
	cache.cert = dup_or_null(opt->client_cert);
	cache.key = dup_or_null(opt->client_key);
	return ctx;
}

/* ---------------------------------------------------------------- certificate info */

static void name_oneline(X509_NAME *name, char *buf, size_t len)
{
	buf[0] = '\0';
	BIO *m = BIO_new(BIO_s_mem());
	if (!m)
		return;
	/* "C=DE, O=Example, CN=imap.example.org" in UTF-8, like mbedTLS */
	unsigned long flags = (ASN1_STRFLGS_RFC2253 & ~ASN1_STRFLGS_ESC_MSB) |
			      XN_FLAG_SEP_CPLUS_SPC | XN_FLAG_FN_SN;
	if (X509_NAME_print_ex(m, name, 0, flags) >= 0) {
		int n = BIO_read(m, buf, (int)(len > INT_MAX ? INT_MAX : len - 1));
		buf[n > 0 ? n : 0] = '\0';
	}
	BIO_free(m);
}

static time_t asn1_to_time(const ASN1_TIME *a)
{
	struct tm tm;
	memset(&tm, 0, sizeof(tm));
	if (!a || ASN1_TIME_to_tm(a, &tm) != 1)
		return 0;
	return timegm(&tm);
}

static void cert_info(X509 *x, struct tls_info *info)
{
	info->has_cert = 1;
	name_oneline(X509_get_subject_name(x), info->subject, sizeof(info->subject));
	name_oneline(X509_get_issuer_name(x), info->issuer, sizeof(info->issuer));
	info->not_before = asn1_to_time(X509_get0_notBefore(x));
	info->not_after = asn1_to_time(X509_get0_notAfter(x));
}

/* The server's end-entity certificate, also after a failed verification
 * (then it is only in the received chain).  Not owned by the caller. */
static X509 *peer_leaf(SSL *ssl)
{
#if OPENSSL_VERSION_NUMBER >= 0x30000000L
	X509 *x = SSL_get0_peer_certificate(ssl);
#else
	X509 *x = SSL_get_peer_certificate(ssl);
	X509_free(x); /* the session keeps its reference */
#endif
	if (!x) {
		STACK_OF(X509) *sk = SSL_get_peer_cert_chain(ssl);
		if (sk && sk_X509_num(sk) > 0)
			x = sk_X509_value(sk, 0);
	}
	return x;
}

static void append_name(char *buf, size_t len, int *count, const char *name)
{
	size_t used = strlen(buf);
	if (*count == 4) {
		snprintf(buf + used, len - used, ", ...");
	} else if (*count < 4) {
		char clean[128];
		printable(clean, sizeof(clean), (const unsigned char *)name, strlen(name));
		snprintf(buf + used, len - used, "%s%s", *count ? ", " : "", clean);
	}
	(*count)++;
}

/* "imap.example.org, 192.0.2.1": the names a certificate is valid for
 * (subjectAltName DNS and IP entries, else the CN). */
static void cert_names(X509 *x, char *buf, size_t len)
{
	int count = 0;
	buf[0] = '\0';
	GENERAL_NAMES *gens = X509_get_ext_d2i(x, NID_subject_alt_name, NULL, NULL);
	for (int i = 0; gens && i < sk_GENERAL_NAME_num(gens); i++) {
		const GENERAL_NAME *g = sk_GENERAL_NAME_value(gens, i);
		char one[128];
		if (g->type == GEN_DNS) {
			const unsigned char *p = ASN1_STRING_get0_data(g->d.dNSName);
			int n = ASN1_STRING_length(g->d.dNSName);
			printable(one, sizeof(one), p, n > 0 ? (size_t)n : 0);
		} else if (g->type == GEN_IPADD) {
			int n = ASN1_STRING_length(g->d.iPAddress);
			int af = n == 4 ? AF_INET : n == 16 ? AF_INET6 : 0;
			if (!af || !inet_ntop(af, ASN1_STRING_get0_data(g->d.iPAddress), one, sizeof(one)))
				continue;
		} else {
			continue;
		}
		append_name(buf, len, &count, one);
	}
	GENERAL_NAMES_free(gens);
	if (count == 0) {
		char cn[128];
		if (X509_NAME_get_text_by_NID(X509_get_subject_name(x), NID_commonName, cn, sizeof(cn)) > 0)
			append_name(buf, len, &count, cn);
		else
			snprintf(buf, len, "no names");
	}
}

/* ---------------------------------------------------------------- handshake */

static int verify_failure(SSL *ssl, char *err, size_t errlen)
{
	long v = SSL_get_verify_result(ssl);
	if (v == X509_V_ERR_HOSTNAME_MISMATCH || v == X509_V_ERR_IP_ADDRESS_MISMATCH) {
		char names[200] = "unknown names";
		X509 *x = peer_leaf(ssl);
		if (x)
			cert_names(x, names, sizeof(names));
		snprintf(err, errlen, "%s mismatch: certificate is for %s",
			 v == X509_V_ERR_IP_ADDRESS_MISMATCH ? "IP address" : "host name", names);
	} else {
		snprintf(err, errlen, "certificate verify failed: %s", X509_verify_cert_error_string(v));
	}
	return TLS_ERR_VERIFY;
}

static int is_version_refusal(int reason)
{
	return reason == SSL_R_TLSV1_ALERT_PROTOCOL_VERSION || reason == SSL_R_UNSUPPORTED_PROTOCOL ||
	       reason == SSL_R_NO_PROTOCOLS_AVAILABLE || reason == SSL_R_WRONG_SSL_VERSION;
}

/* Map a failed SSL_connect() onto enum tls_err with a readable message. */
static int handshake_failure(struct ossl_conn *c, const struct tls_options *opt, int sslerr,
			     char *err, size_t errlen)
{
	unsigned long code = ERR_peek_error();
	int reason = ERR_GET_LIB(code) == ERR_LIB_SSL ? ERR_GET_REASON(code) : 0;
	char why[160];

	c->broken = 1;
	if (!opt->insecure && SSL_get_verify_result(c->ssl) != X509_V_OK)
		return verify_failure(c->ssl, err, errlen);
	if (!looks_like_tls(c)) {
		char text[40];
		peek_more(c);
		printable(text, sizeof(text), c->first, c->nfirst);
		snprintf(err, errlen, "TLS handshake failed: server sent \"%s\" (not TLS? plaintext port?)", text);
		return TLS_ERR_HANDSHAKE;
	}
	if (c->eof || sslerr == SSL_ERROR_ZERO_RETURN || IS_UNEXPECTED_EOF(reason)) {
		snprintf(err, errlen, "server closed the connection during the TLS handshake%s",
			 c->raw_in ? "" : " (no reply to ClientHello)");
		return TLS_ERR_EOF;
	}
	if (sslerr == SSL_ERROR_SYSCALL && c->sys_errno) {
		if (c->sys_errno == ECONNRESET || c->sys_errno == EPIPE) {
			snprintf(err, errlen, "connection reset by server during the TLS handshake");
			return TLS_ERR_EOF;
		}
		snprintf(err, errlen, "TLS handshake failed: %s", strerror(c->sys_errno));
		return TLS_ERR_HANDSHAKE;
	}
	err_text(why, sizeof(why), "unknown error");
	snprintf(err, errlen, "TLS handshake failed: %s%s", why,
		 opt->min_version == 13 && is_version_refusal(reason) ? " (server does not offer TLS 1.3?)" : "");
	return TLS_ERR_HANDSHAKE;
}

static int handshake_timeout(const struct ossl_conn *c, char *err, size_t errlen)
{
	if (c->raw_in == 0)
		snprintf(err, errlen, "TLS handshake timed out: no reply from server");
	else
		snprintf(err, errlen, "TLS handshake timed out after %llu bytes from server",
			 (unsigned long long)c->raw_in);
	return TLS_ERR_TIMEOUT;
}

static int handshake(struct transport *t, struct ossl_conn *c, const struct tls_options *opt,
		     int64_t deadline_ns, char *err, size_t errlen)
{
	for (;;) {
		ERR_clear_error();
		int r = SSL_connect(c->ssl);
		if (r == 1)
			return TLS_OK;
		int e = SSL_get_error(c->ssl, r);
		short ev;
		if (e == SSL_ERROR_WANT_READ)
			ev = POLLIN;
		else if (e == SSL_ERROR_WANT_WRITE)
			ev = POLLOUT;
		else
			return handshake_failure(c, opt, e, err, errlen);
		int w = clock_expired(deadline_ns) ? 0 : transport_wait(t, ev, deadline_ns);
		if (w == 0)
			return handshake_timeout(c, err, errlen);
		if (w < 0) {
			snprintf(err, errlen, "%s", t->err);
			return TLS_ERR_INTERNAL;
		}
	}
}

/* Per-connection settings: protocol floor, SNI, verification. */
static int ssl_setup(struct ossl_conn *c, SSL_CTX *ctx, const struct tls_options *opt,
		     char *err, size_t errlen)
{
	BIO_METHOD *m = fd_bio();
	c->ssl = m ? SSL_new(ctx) : NULL;
	BIO *b = c->ssl ? BIO_new(m) : NULL;
	if (!b) {
		err_text(err, errlen, "out of memory");
		return TLS_ERR_INTERNAL;
	}
	BIO_set_data(b, c);
	SSL_set_bio(c->ssl, b, b);
	SSL_set_min_proto_version(c->ssl, opt->min_version == 13 ? TLS1_3_VERSION : TLS1_2_VERSION);
	if (opt->sni && SSL_set_tlsext_host_name(c->ssl, opt->sni) != 1) {
		snprintf(err, errlen, "invalid TLS server name (SNI) \"%s\"", opt->sni);
		return TLS_ERR_CONFIG;
	}
	if (opt->insecure) {
		SSL_set_verify(c->ssl, SSL_VERIFY_NONE, NULL);
		return TLS_OK;
	}
	SSL_set_verify(c->ssl, SSL_VERIFY_PEER, NULL);
	if (!opt->verify_name)
		return TLS_OK;
	char ip[64];
	int ok;
	if (ip_literal(opt->verify_name, ip, sizeof(ip))) {
		ok = X509_VERIFY_PARAM_set1_ip_asc(SSL_get0_param(c->ssl), ip);
	} else {
		SSL_set_hostflags(c->ssl, X509_CHECK_FLAG_NO_PARTIAL_WILDCARDS);
		ok = SSL_set1_host(c->ssl, opt->verify_name);
	}
	if (ok != 1) {
		snprintf(err, errlen, "cannot verify against name \"%s\"", opt->verify_name);
		return TLS_ERR_CONFIG;
	}
	return TLS_OK;
}

static void fill_info(SSL *ssl, struct tls_info *info)
{
	snprintf(info->version, sizeof(info->version), "%s", SSL_get_version(ssl));
	const SSL_CIPHER *ci = SSL_get_current_cipher(ssl);
	const char *name = ci ? SSL_CIPHER_standard_name(ci) : NULL;
	if (ci && !name)
		name = SSL_CIPHER_get_name(ci);
	snprintf(info->cipher, sizeof(info->cipher), "%s", name ? name : "");
}

static void conn_free(struct ossl_conn *c)
{
	if (!c)
		return;
	SSL_free(c->ssl); /* frees the BIO */
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
	if (!lib_init()) {
		err_text(err, errlen, "OpenSSL initialisation failed");
		return TLS_ERR_INTERNAL;
	}
	int rc = TLS_OK;
	SSL_CTX *ctx = ctx_get(opt, &rc, err, errlen);
	if (!ctx) {
		ERR_clear_error();
		return rc;
	}

	struct transport *t = calloc(1, sizeof(*t));
	struct ossl_conn *c = calloc(1, sizeof(*c));
	if (!t || !c) {
		free(t);
		free(c);
		snprintf(err, errlen, "out of memory");
		return TLS_ERR_INTERNAL;
	}
	c->fd = plain->fd;
	t->ops = &ossl_ops;
	t->ctx = c;
	t->fd = plain->fd;
	t->stop = plain->stop;   /* a signal ends the handshake as a timeout */

	rc = ssl_setup(c, ctx, opt, err, errlen);
	if (rc == TLS_OK)
		rc = handshake(t, c, opt, deadline_ns, err, errlen);
	if (c->ssl) {
		X509 *x = peer_leaf(c->ssl);
		if (x)
			cert_info(x, info);
	}
	if (rc != TLS_OK) {
		ERR_clear_error();
		conn_free(c);
		free(t);
		return rc;
	}
	fill_info(c->ssl, info);
	info->verified = !opt->insecure && SSL_get_verify_result(c->ssl) == X509_V_OK;

	plain->fd = -1; /* the fd now belongs to t */
	transport_close(plain);
	*out = t;
	return TLS_OK;
}

/* ---------------------------------------------------------------- transport slots */

/* Map a failed SSL_read/SSL_write onto enum tr_status (message in t->err). */
static ssize_t io_failure(struct transport *t, struct ossl_conn *c, int ret)
{
	int e = SSL_get_error(c->ssl, ret);
	switch (e) {
	case SSL_ERROR_WANT_READ:
		return TR_WANT_READ;
	case SSL_ERROR_WANT_WRITE:
		return TR_WANT_WRITE;
	case SSL_ERROR_ZERO_RETURN:
		snprintf(t->err, sizeof(t->err), "connection closed by server");
		return TR_EOF;
	default:
		break;
	}
	unsigned long code = ERR_peek_error();
	c->broken = 1;
	if (c->eof || (ERR_GET_LIB(code) == ERR_LIB_SSL && IS_UNEXPECTED_EOF(ERR_GET_REASON(code)))) {
		snprintf(t->err, sizeof(t->err), "connection closed without close_notify");
		ERR_clear_error();
		return TR_EOF;
	}
	if (e == SSL_ERROR_SYSCALL && c->sys_errno) {
		if (c->sys_errno == EPIPE) {
			snprintf(t->err, sizeof(t->err), "connection closed by server");
			return TR_EOF;
		}
		if (c->sys_errno == ECONNRESET)
			snprintf(t->err, sizeof(t->err), "connection reset by peer");
		else
			snprintf(t->err, sizeof(t->err), "TLS: %s", strerror(c->sys_errno));
		return TR_ERROR;
	}
	char why[160];
	err_text(why, sizeof(why), "unknown error");
	snprintf(t->err, sizeof(t->err), "TLS: %s", why);
	ERR_clear_error();
	return TR_ERROR;
}

static ssize_t ossl_read(struct transport *t, void *buf, size_t len)
{
	struct ossl_conn *c = t->ctx;
	if (c->broken) {
		snprintf(t->err, sizeof(t->err), "TLS connection already failed");
		return TR_ERROR;
	}
	ERR_clear_error();
	int n = SSL_read(c->ssl, buf, len > INT_MAX ? INT_MAX : (int)len);
	return n > 0 ? n : io_failure(t, c, n);
}

static ssize_t ossl_write(struct transport *t, const void *buf, size_t len)
{
	struct ossl_conn *c = t->ctx;
	if (c->broken) {
		snprintf(t->err, sizeof(t->err), "TLS connection already failed");
		return TR_ERROR;
	}
	ERR_clear_error();
	int n = SSL_write(c->ssl, buf, len > INT_MAX ? INT_MAX : (int)len);
	return n > 0 ? n : io_failure(t, c, n);
}

static size_t ossl_pending(struct transport *t)
{
	struct ossl_conn *c = t->ctx;
	int n = SSL_pending(c->ssl);
	return n > 0 ? (size_t)n : 0;
}

/* Best-effort close_notify (one non-blocking attempt), then free all. */
static void ossl_close(struct transport *t)
{
	struct ossl_conn *c = t->ctx;
	if (!c->broken && SSL_is_init_finished(c->ssl)) {
		ERR_clear_error();
		(void)SSL_shutdown(c->ssl);
		ERR_clear_error();
	}
	if (c->fd >= 0)
		close(c->fd);
	conn_free(c);
	free(t);
}

static const struct transport_ops ossl_ops = {
	.name = "tls",
	.read = ossl_read,
	.write = ossl_write,
	.pending = ossl_pending,
	.close = ossl_close,
};

/* ---------------------------------------------------------------- channel binding */

int tls_channel_binding(struct transport *t, const char *type, unsigned char *out,
			size_t *outlen, char *err, size_t errlen)
{
	if (!t || t->ops != &ossl_ops) {
		snprintf(err, errlen, "channel binding needs a TLS connection");
		return -1;
	}
	struct ossl_conn *c = t->ctx;
	int v = SSL_version(c->ssl);

	if (strcmp(type, "tls-unique") == 0) {
		if (v >= TLS1_3_VERSION) {
			snprintf(err, errlen, "tls-unique is not defined for TLS 1.3 (use tls-exporter)");
			return -1;
		}
		/* RFC 5929: the first Finished of the latest handshake, which is
		 * ours on a full handshake and the server's on a resumption. */
		size_t n = SSL_session_reused(c->ssl) ? SSL_get_peer_finished(c->ssl, out, *outlen)
						      : SSL_get_finished(c->ssl, out, *outlen);
		if (n == 0 || n > *outlen) {
			snprintf(err, errlen, "tls-unique: no Finished message available");
			return -1;
		}
		*outlen = n;
		return 0;
	}
	if (strcmp(type, "tls-exporter") == 0) {
		if (v < TLS1_3_VERSION) {
			snprintf(err, errlen, "tls-exporter is only used with TLS 1.3 (use tls-unique)");
			return -1;
		}
		if (*outlen < EXPORTER_LEN) {
			snprintf(err, errlen, "tls-exporter: buffer too small");
			return -1;
		}
		ERR_clear_error();
		if (SSL_export_keying_material(c->ssl, out, EXPORTER_LEN, EXPORTER_LABEL,
					       strlen(EXPORTER_LABEL), NULL, 0, 0) != 1) {
			err_text(err, errlen, "tls-exporter: export failed");
			ERR_clear_error();
			return -1;
		}
		*outlen = EXPORTER_LEN;
		return 0;
	}
	snprintf(err, errlen, "unknown channel binding type \"%s\"", type);
	return -1;
}

#else
typedef int cis_tls_openssl_unused; /* ISO C: no empty translation unit */
#endif /* WITH_TLS_OPENSSL */
