/* tls_openssl.c - the OpenSSL (1.1.1 / 3.x) backend of the TLS driver
 * (tls_backend.h): OpenSSL's calls only, its results mapped onto enum tls_io.
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
 * The socket is driven through a tiny BIO of our own over the driver's
 * socket recorder (tls_sock_recv/send), so a handshake failure can say
 * "the server answered in plaintext" or "closed".  Library results are
 * mapped onto enum tls_io here and nowhere else. */
#include "config.h"

#if defined(WITH_TLS_OPENSSL)

#include "net/tls_backend.h"

#include <dirent.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/crypto.h>
#include <openssl/err.h>
#include <openssl/ssl.h>
#include <openssl/x509v3.h>

/* Key exchange groups, cheapest first: Debian's defaults are fine for
 * OpenSSL, but being explicit keeps X25519 as the one key share sent. */
#define CIS_GROUPS "X25519:P-256:P-384"

/* OpenSSL 3 reports an EOF without close_notify as an SSL error with
 * this reason; 1.1.1 as SSL_ERROR_SYSCALL with errno 0 (the socket's eof). */
#ifdef SSL_R_UNEXPECTED_EOF_WHILE_READING
#define IS_UNEXPECTED_EOF(reason) ((reason) == SSL_R_UNEXPECTED_EOF_WHILE_READING)
#else
#define IS_UNEXPECTED_EOF(reason) 0
#endif

#ifndef OPENSSL_INIT_NO_ATEXIT /* before 1.1.1b */
#define OPENSSL_INIT_NO_ATEXIT 0
#endif

/* ---------------------------------------------------------------- state */

/* One TLS connection (struct tls_be of tls_backend.h). */
struct tls_be {
	SSL *ssl;
	struct tls_sock *sock;    /* the driver's, for the BIO */
	int min_version;          /* 0, 12, 13 (for the failure hint) */
};

/* Library cache (process-wide, allowed by the no-mutable-state rule): the
 * SSL_CTX, the options it was built from, and our BIO method. */
static struct {
	SSL_CTX *ctx;
	struct tls_ctx_key key;
} cache;
static BIO_METHOD *fd_bio_method;  /* library cache too: our socket BIO method */

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
	while (!found && (de = readdir(d)) != NULL)
		found = tls_is_hash_name(de->d_name);
	closedir(d);
	return found;
}

/* ---------------------------------------------------------------- the fd BIO */

static int fd_bio_read(BIO *b, char *buf, int len)
{
	struct tls_sock *s = BIO_get_data(b);
	BIO_clear_retry_flags(b);
	if (len <= 0)
		return 0;
	int n = tls_sock_recv(s, (unsigned char *)buf, (size_t)len);
	if (n == TLS_IO_WANT_READ)
		BIO_set_retry_read(b);
	return n < 0 ? -1 : n;
}

static int fd_bio_write(BIO *b, const char *buf, int len)
{
	struct tls_sock *s = BIO_get_data(b);
	BIO_clear_retry_flags(b);
	if (len <= 0)
		return 0;
	int n = tls_sock_send(s, (const unsigned char *)buf, (size_t)len);
	if (n == TLS_IO_WANT_WRITE)
		BIO_set_retry_write(b);
	return n < 0 ? -1 : n;
}

static long fd_bio_ctrl(BIO *b, int cmd, long num, void *ptr)
{
	struct tls_sock *s = BIO_get_data(b);
	(void)num;
	switch (cmd) {
	case BIO_CTRL_FLUSH:
		return 1;
	case BIO_C_GET_FD:
		if (ptr && s)
			*(int *)ptr = s->fd;
		return s ? s->fd : -1;
	case BIO_CTRL_EOF:
		return s ? s->eof : 0;
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
	return 1; /* the socket belongs to the driver */
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

	if (!opt->client_cert)
		return TLS_OK; /* a key alone was refused by tls_start() */
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
	cache.ctx = NULL;
	tls_ctx_key_clear(&cache.key);
}

/* The process's SSL_CTX for these options: built on first use, rebuilt
 * only if the trust store or client certificate options change (an
 * --insecure context has no trust store at all).  Not owned by the
 * caller; each SSL holds its own reference. */
static SSL_CTX *ctx_get(const struct tls_options *opt, int *rc, char *err, size_t errlen)
{
	if (cache.ctx && tls_ctx_key_matches(&cache.key, opt))
		return cache.ctx;
	cache_clear();
	SSL_CTX *ctx = ctx_new(opt, rc, err, errlen);
	if (!ctx)
		return NULL;
	cache.ctx = ctx;
	tls_ctx_key_set(&cache.key, opt);
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

/* The names a certificate is valid for (subjectAltName DNS and IP
 * entries, else the CN), for a mismatch message. */
static void cert_names(X509 *x, char *buf, size_t len)
{
	struct tls_names names;
	tls_names_init(&names, buf, len);
	GENERAL_NAMES *gens = X509_get_ext_d2i(x, NID_subject_alt_name, NULL, NULL);
	for (int i = 0; gens && i < sk_GENERAL_NAME_num(gens); i++) {
		const GENERAL_NAME *g = sk_GENERAL_NAME_value(gens, i);
		const ASN1_STRING *s = g->type == GEN_DNS ? g->d.dNSName : g->type == GEN_IPADD ? g->d.iPAddress : NULL;
		int n = s ? ASN1_STRING_length(s) : 0;
		if (g->type == GEN_DNS)
			tls_names_add(&names, ASN1_STRING_get0_data(s), n > 0 ? (size_t)n : 0);
		else if (s && n > 0)
			tls_names_add_ip(&names, ASN1_STRING_get0_data(s), (size_t)n);
	}
	GENERAL_NAMES_free(gens);
	char cn[128];
	if (names.count == 0 && X509_NAME_get_text_by_NID(X509_get_subject_name(x), NID_commonName, cn, sizeof(cn)) > 0)
		tls_names_add(&names, (const unsigned char *)cn, strlen(cn));
	tls_names_end(&names);
}

/* ---------------------------------------------------------------- handshake and I/O */

int tls_be_verify_failed(struct tls_be *b, char *err, size_t errlen)
{
	long v = SSL_get_verify_result(b->ssl);
	if (v == X509_V_OK)
		return 0;
	if (!err)
		return 1;
	if (v == X509_V_ERR_HOSTNAME_MISMATCH || v == X509_V_ERR_IP_ADDRESS_MISMATCH) {
		char names[200] = "";
		X509 *x = peer_leaf(b->ssl);
		if (x)
			cert_names(x, names, sizeof(names));
		tls_msg_mismatch(err, errlen, v == X509_V_ERR_IP_ADDRESS_MISMATCH, names);
	} else {
		tls_msg_chain(err, errlen, X509_verify_cert_error_string(v));
	}
	return 1;
}

static int is_version_refusal(int reason)
{
	return reason == SSL_R_TLSV1_ALERT_PROTOCOL_VERSION || reason == SSL_R_UNSUPPORTED_PROTOCOL ||
	       reason == SSL_R_NO_PROTOCOLS_AVAILABLE || reason == SSL_R_WRONG_SSL_VERSION;
}

/* A failed SSL_connect/read/write (ret) as enum tls_io, the reason in
 * msg; during the handshake a refused TLS 1.3 floor gets a hint. */
static int io_result(struct tls_be *b, int ret, int handshake, char *msg, size_t msglen)
{
	int e = SSL_get_error(b->ssl, ret);
	unsigned long code = ERR_peek_error();
	int reason = ERR_GET_LIB(code) == ERR_LIB_SSL ? ERR_GET_REASON(code) : 0;
	int r = TLS_IO_ERROR;

	if (e == SSL_ERROR_WANT_READ) {
		r = TLS_IO_WANT_READ;
	} else if (e == SSL_ERROR_WANT_WRITE) {
		r = TLS_IO_WANT_WRITE;
	} else if (e == SSL_ERROR_ZERO_RETURN) {
		r = TLS_IO_CLOSED;
	} else if (IS_UNEXPECTED_EOF(reason)) {
		r = TLS_IO_EOF;
	} else if (e == SSL_ERROR_SYSCALL && b->sock->sys_errno) {
		r = TLS_IO_SYSERR;
	} else {
		size_t n;
		err_text(msg, msglen, "unknown error");
		n = strlen(msg);
		if (handshake && b->min_version == 13 && is_version_refusal(reason))
			snprintf(msg + n, msglen - n, " (server does not offer TLS 1.3?)");
	}
	ERR_clear_error();
	return r;
}

int tls_be_handshake(struct tls_be *b, char *msg, size_t msglen)
{
	ERR_clear_error();
	int r = SSL_connect(b->ssl);
	return r == 1 ? TLS_IO_OK : io_result(b, r, 1, msg, msglen);
}

int tls_be_read(struct tls_be *b, void *buf, size_t len, char *msg, size_t msglen)
{
	ERR_clear_error();
	int n = SSL_read(b->ssl, buf, len > INT_MAX ? INT_MAX : (int)len);
	return n > 0 ? n : io_result(b, n, 0, msg, msglen);
}

int tls_be_write(struct tls_be *b, const void *buf, size_t len, char *msg, size_t msglen)
{
	ERR_clear_error();
	int n = SSL_write(b->ssl, buf, len > INT_MAX ? INT_MAX : (int)len);
	return n > 0 ? n : io_result(b, n, 0, msg, msglen);
}

size_t tls_be_pending(struct tls_be *b)
{
	int n = SSL_pending(b->ssl);
	return n > 0 ? (size_t)n : 0;
}

/* Per-connection settings: protocol floor, SNI, verification. */
static int ssl_setup(struct tls_be *c, SSL_CTX *ctx, const struct tls_options *opt,
		     char *err, size_t errlen)
{
	BIO_METHOD *m = fd_bio();
	c->ssl = m ? SSL_new(ctx) : NULL;
	BIO *b = c->ssl ? BIO_new(m) : NULL;
	if (!b) {
		err_text(err, errlen, "out of memory");
		return TLS_ERR_INTERNAL;
	}
	BIO_set_data(b, c->sock);
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
	unsigned char ip[16];
	size_t iplen = tls_ip_parse(opt->verify_name, ip);
	int ok;
	if (iplen) {
		ok = X509_VERIFY_PARAM_set1_ip(SSL_get0_param(c->ssl), ip, iplen);
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

int tls_be_new(struct tls_be **out, struct tls_sock *sock, const struct tls_options *opt,
	       struct tls_info *info, char *err, size_t errlen)
{
	(void)info; /* described after the handshake */
	*out = NULL;
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
	struct tls_be *b = calloc(1, sizeof(*b));
	if (!b) {
		snprintf(err, errlen, "out of memory");
		return TLS_ERR_INTERNAL;
	}
	b->sock = sock;
	b->min_version = opt->min_version;
	rc = ssl_setup(b, ctx, opt, err, errlen);
	if (rc != TLS_OK) {
		ERR_clear_error();
		tls_be_free(b, 0);
		return rc;
	}
	*out = b;
	return TLS_OK;
}

void tls_be_describe(struct tls_be *b, int established, struct tls_info *info)
{
	X509 *x = peer_leaf(b->ssl);
	if (x)
		cert_info(x, info);
	if (established)
		fill_info(b->ssl, info);
}

void tls_be_free(struct tls_be *b, int close_notify)
{
	if (!b)
		return;
	if (close_notify && SSL_is_init_finished(b->ssl)) {
		ERR_clear_error();
		(void)SSL_shutdown(b->ssl);
	}
	ERR_clear_error();
	SSL_free(b->ssl); /* frees the BIO */
	free(b);
}

/* ---------------------------------------------------------------- channel binding */

int tls_be_version(struct tls_be *b)
{
	return SSL_version(b->ssl) >= TLS1_3_VERSION ? 13 : 12;
}

int tls_be_tls_unique(struct tls_be *b, unsigned char *out, size_t *outlen, char *err, size_t errlen)
{
	/* RFC 5929: the first Finished of the latest handshake, which is ours
	 * on a full handshake and the server's on a resumption. */
	size_t n = SSL_session_reused(b->ssl) ? SSL_get_peer_finished(b->ssl, out, *outlen)
					      : SSL_get_finished(b->ssl, out, *outlen);
	if (n == 0 || n > *outlen) {
		snprintf(err, errlen, "tls-unique: no Finished message available");
		return -1;
	}
	*outlen = n;
	return 0;
}

int tls_be_exporter(struct tls_be *b, const char *label, unsigned char *out, size_t len,
		    char *err, size_t errlen)
{
	ERR_clear_error();
	if (SSL_export_keying_material(b->ssl, out, len, label, strlen(label), NULL, 0, 0) != 1) {
		err_text(err, errlen, "tls-exporter: export failed");
		ERR_clear_error();
		return -1;
	}
	return 0;
}

#else
typedef int cis_tls_openssl_unused; /* ISO C: no empty translation unit */
#endif /* WITH_TLS_OPENSSL */
