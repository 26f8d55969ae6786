/* tls_mbedtls.c - the mbed TLS backend of the TLS driver (tls_backend.h;
 * 2.28 LTS, 3.2+ through mbedtls_compat.h): mbed TLS calls only.
 *
 * Compiled only when config.h defines WITH_TLS_MBEDTLS; otherwise this
 * translation unit is empty, so the build can always list it.
 *
 * What mbed TLS does not do by itself, and this file does:
 *  - it has no system trust store: the distribution's CA bundle is parsed
 *    explicitly, and only when verification is on (about 4-5 ms);
 *  - it checks the host name only when mbedtls_ssl_set_hostname() was
 *    called, and that one name is both the SNI and the name checked.  When
 *    the name to verify is an IP literal (2.28 cannot match iPAddress
 *    SANs), or differs from the SNI, the verify callback replaces the
 *    library's name check with its own (iPAddress / dNSName SANs, else CN);
 *  - it offers secp521r1 first on Debian: the group list is set explicitly.
 *
 * One ssl_config (with the parsed trust store and client certificate) is
 * built per process and shared, reference-counted, by the connections
 * that use the same options.  I/O goes through send/recv callbacks over
 * the driver's socket recorder (tls_sock_send/recv).  Library results are
 * mapped onto enum tls_io here and nowhere else. */
#include "config.h"

#if defined(WITH_TLS_MBEDTLS)

#include "net/tls_backend.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <unistd.h>
#ifdef HAVE_GETRANDOM
#include <sys/random.h>
#endif

#include "net/mbedtls_compat.h"

#include <mbedtls/ctr_drbg.h>
#include <mbedtls/entropy.h>
#include <mbedtls/error.h>
#include <mbedtls/net_sockets.h>
#include <mbedtls/oid.h>

/* Where distributions keep the PEM bundle of trusted CAs. */
static const char *const ca_bundles[] = {
	"/etc/ssl/certs/ca-certificates.crt",                /* Debian, Ubuntu, Arch, Gentoo */
	"/etc/pki/tls/certs/ca-bundle.crt",                  /* Fedora, RHEL */
	"/etc/pki/ca-trust/extracted/pem/tls-ca-bundle.pem", /* RHEL 7+ */
	"/etc/ssl/ca-bundle.pem",                            /* openSUSE */
	"/etc/ssl/cert.pem",                                 /* Alpine, BSDs */
};

/* ---------------------------------------------------------------- state */

/* A configuration shared by the connections made with the same options. */
struct mconf {
	int refs;
	mbedtls_ssl_config conf;
	mbedtls_x509_crt ca;
	mbedtls_x509_crt cert;
	mbedtls_pk_context key;
	struct tls_ctx_key opts;  /* the options it was built from */
};

enum name_check {
	NAME_NONE,   /* no name to check: drop the library's verdict */
	NAME_LIB,    /* the library checks the SNI name, which is the name */
	NAME_OWN,    /* verify_cb checks verify_name itself */
};

/* One TLS connection (struct tls_be of tls_backend.h). */
struct tls_be {
	mbedtls_ssl_context ssl;
	struct mconf *conf;       /* one reference */
	struct tls_sock *sock;    /* the driver's, for the callbacks */
	int min_version;          /* 0, 12, 13 (for the failure hint) */
	/* certificate verification, during tls_start() only */
	enum name_check name_check;
	const char *verify_name;
	int name_is_ip;
	int chain_len;
	int self_signed;
	char names[200];          /* what the leaf is valid for, on mismatch */
	struct tls_info *info;
};

/* Library cache (process-wide, allowed by the no-mutable-state rule):
 * the seeded DRBG and the last configuration. */
static struct {
	int ready;
	mbedtls_ctr_drbg_context drbg;
} rng;

static struct mconf *conf_cache;  /* library cache too: the last configuration built */

/* ---------------------------------------------------------------- helpers */

const char *tls_backend_name(void)
{
	return "mbedtls";
}

const char *tls_backend_version(void)
{
	return MBEDTLS_VERSION_STRING_FULL;
}

static void mbed_err(int code, char *buf, size_t len)
{
	mbedtls_strerror(code, buf, len);
}

/* "file: reason" for a file the user named that we cannot read. */
static int unreadable(const char *what, const char *path, char *err, size_t errlen)
{
	if (access(path, R_OK) == 0)
		return 0;
	snprintf(err, errlen, "%s %s: %s", what, path, strerror(errno));
	return 1;
}

/* ---------------------------------------------------------------- RNG */

/* Seed material straight from the kernel.  mbedtls_entropy_init() would
 * also start Debian's HAVEGE source: 2% of a whole session, for nothing. */
static int kernel_entropy(void *ctx, unsigned char *buf, size_t len)
{
	(void)ctx;
#ifdef HAVE_GETRANDOM
	while (len > 0) {
		ssize_t n = getrandom(buf, len, 0);
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			return MBEDTLS_ERR_ENTROPY_SOURCE_FAILED;
		buf += n;
		len -= (size_t)n;
	}
	return 0;
#else
	int fd = open("/dev/urandom", O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return MBEDTLS_ERR_ENTROPY_SOURCE_FAILED;
	while (len > 0) {
		ssize_t n = read(fd, buf, len);
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			break;
		buf += n;
		len -= (size_t)n;
	}
	close(fd);
	return len == 0 ? 0 : MBEDTLS_ERR_ENTROPY_SOURCE_FAILED;
#endif
}

/* The process's DRBG, seeded on first use. */
static int rng_init(char *err, size_t errlen)
{
	static const char pers[] = "check_imap_session";
	if (rng.ready)
		return 0;
	mbedtls_ctr_drbg_init(&rng.drbg);
	int r = mbedtls_ctr_drbg_seed(&rng.drbg, kernel_entropy, NULL, (const unsigned char *)pers,
				      sizeof(pers) - 1);
	if (r != 0) {
		char why[128];
		mbed_err(r, why, sizeof(why));
		snprintf(err, errlen, "cannot seed the random generator: %s", why);
		mbedtls_ctr_drbg_free(&rng.drbg);
		return -1;
	}
	rng.ready = 1;
	return 0;
}

/* ---------------------------------------------------------------- configuration */

static int load_ca_file(mbedtls_x509_crt *ca, const char *path, char *err, size_t errlen)
{
	char why[128];
	if (unreadable("CA file", path, err, errlen))
		return TLS_ERR_CONFIG;
	int r = mbedtls_x509_crt_parse_file(ca, path);
	if (r < 0) {
		mbed_err(r, why, sizeof(why));
		snprintf(err, errlen, "CA file %s: %s", path, why);
		return TLS_ERR_CONFIG;
	}
	return TLS_OK;
}

/* --capath.  mbedtls_x509_crt_parse_path() parses every file in the
 * directory, and a hashed directory such as Debian's /etc/ssl/certs holds
 * each CA three times (NAME.pem, its HASH.N link, and the bundle
 * ca-certificates.crt): 3x the cost of the bundle.  Where there are hash
 * links, parse only those, each target file once.  Returns the number of
 * files parsed (0: no hash links; the caller falls back), or -1 with errno. */
static int load_ca_hash_links(mbedtls_x509_crt *ca, const char *dir)
{
	DIR *d = opendir(dir);
	if (!d)
		return -1;
	struct { dev_t dev; ino_t ino; } *seen = NULL;
	size_t nseen = 0, cap = 0;
	int parsed = 0;
	struct dirent *de;
	while ((de = readdir(d)) != NULL) {
		char path[4096];
		struct stat st;
		if (!tls_is_hash_name(de->d_name))
			continue;
		if (snprintf(path, sizeof(path), "%s/%s", dir, de->d_name) >= (int)sizeof(path) ||
		    stat(path, &st) != 0 || !S_ISREG(st.st_mode))
			continue;
		size_t i = 0;
		while (i < nseen && !(seen[i].dev == st.st_dev && seen[i].ino == st.st_ino))
			i++;
		if (i < nseen)
			continue; /* another link to a file already parsed */
		if (nseen == cap) {
			size_t ncap = cap ? 2 * cap : 256;
			void *p = realloc(seen, ncap * sizeof(*seen));
			if (!p)
				break;
			seen = p;
			cap = ncap;
		}
		seen[nseen].dev = st.st_dev;
		seen[nseen].ino = st.st_ino;
		nseen++;
		/* like mbedtls_x509_crt_parse_path(): a file that does not
		 * parse is skipped */
		if (mbedtls_x509_crt_parse_file(ca, path) >= 0)
			parsed++;
	}
	closedir(d);
	free(seen);
	return parsed;
}

/* Trust anchors: --cafile/--capath, else $SSL_CERT_FILE, else the first
 * distribution bundle that exists. */
static int load_trust(struct mconf *m, const struct tls_options *opt, char *err, size_t errlen)
{
	char why[128];
	int rc;

	if (opt->cafile && (rc = load_ca_file(&m->ca, opt->cafile, err, errlen)) != TLS_OK)
		return rc;
	if (opt->capath) {
		if (unreadable("CA directory", opt->capath, err, errlen))
			return TLS_ERR_CONFIG;
		int r = load_ca_hash_links(&m->ca, opt->capath);
		if (r <= 0)
			r = mbedtls_x509_crt_parse_path(&m->ca, opt->capath);
		if (r < 0) {
			mbed_err(r, why, sizeof(why));
			snprintf(err, errlen, "CA directory %s: %s", opt->capath, why);
			return TLS_ERR_CONFIG;
		}
	}
	if (!opt->cafile && !opt->capath) {
		const char *env = getenv("SSL_CERT_FILE");
		if (env && *env)
			return load_ca_file(&m->ca, env, err, errlen);
		for (size_t i = 0; i < sizeof(ca_bundles) / sizeof(ca_bundles[0]); i++)
			if (access(ca_bundles[i], R_OK) == 0)
				return load_ca_file(&m->ca, ca_bundles[i], err, errlen);
		snprintf(err, errlen, "no system CA bundle found (use --cafile, --capath or --insecure)");
		return TLS_ERR_CONFIG;
	}
	if (m->ca.raw.p == NULL) {
		snprintf(err, errlen, "no CA certificates found in %s", opt->cafile ? opt->cafile : opt->capath);
		return TLS_ERR_CONFIG;
	}
	return TLS_OK;
}

static int load_client_cert(struct mconf *m, const struct tls_options *opt, char *err, size_t errlen)
{
	char why[128];

	if (!opt->client_cert)
		return TLS_OK; /* a key alone was refused by tls_start() */
	const char *key = opt->client_key ? opt->client_key : opt->client_cert;
	if (unreadable("client certificate", opt->client_cert, err, errlen) ||
	    unreadable("client key", key, err, errlen))
		return TLS_ERR_CONFIG;
	int r = mbedtls_x509_crt_parse_file(&m->cert, opt->client_cert);
	if (r < 0 || m->cert.raw.p == NULL) {
		mbed_err(r < 0 ? r : MBEDTLS_ERR_X509_INVALID_FORMAT, why, sizeof(why));
		snprintf(err, errlen, "client certificate %s: %s", opt->client_cert, why);
		return TLS_ERR_CONFIG;
	}
	r = cis_pk_parse_keyfile(&m->key, key, mbedtls_ctr_drbg_random, &rng.drbg);
	if (r != 0) {
		mbed_err(r, why, sizeof(why));
		snprintf(err, errlen, "client key %s: %s", key, why);
		return TLS_ERR_CONFIG;
	}
	if (cis_pk_check_pair(&m->cert.pk, &m->key, mbedtls_ctr_drbg_random, &rng.drbg) != 0) {
		snprintf(err, errlen, "client key %s does not match certificate %s", key, opt->client_cert);
		return TLS_ERR_CONFIG;
	}
	r = mbedtls_ssl_conf_own_cert(&m->conf, &m->cert, &m->key);
	if (r != 0) {
		mbed_err(r, why, sizeof(why));
		snprintf(err, errlen, "client certificate %s: %s", opt->client_cert, why);
		return TLS_ERR_CONFIG;
	}
	return TLS_OK;
}

static void conf_free(struct mconf *m)
{
	mbedtls_ssl_config_free(&m->conf);
	mbedtls_x509_crt_free(&m->ca);
	mbedtls_x509_crt_free(&m->cert);
	mbedtls_pk_free(&m->key);
	tls_ctx_key_clear(&m->opts);
	free(m);
}

static void conf_put(struct mconf *m)
{
	if (m && --m->refs == 0)
		conf_free(m);
}

static int conf_setup(struct mconf *m, const struct tls_options *opt, char *err, size_t errlen)
{
	char why[128];
	int r = mbedtls_ssl_config_defaults(&m->conf, MBEDTLS_SSL_IS_CLIENT, MBEDTLS_SSL_TRANSPORT_STREAM,
					    MBEDTLS_SSL_PRESET_DEFAULT);
	if (r != 0) {
		mbed_err(r, why, sizeof(why));
		snprintf(err, errlen, "TLS configuration: %s", why);
		return TLS_ERR_INTERNAL;
	}
	mbedtls_ssl_conf_rng(&m->conf, mbedtls_ctr_drbg_random, &rng.drbg);
	mbedtls_ssl_conf_min_tls_version(&m->conf, opt->min_version == 13 ? MBEDTLS_SSL_VERSION_TLS1_3
									   : MBEDTLS_SSL_VERSION_TLS1_2);
	cis_conf_preferred_groups(&m->conf);
#if defined(MBEDTLS_SSL_SESSION_TICKETS)
	mbedtls_ssl_conf_session_tickets(&m->conf, MBEDTLS_SSL_SESSION_TICKETS_DISABLED);
#endif
	if (opt->insecure) {
		mbedtls_ssl_conf_authmode(&m->conf, MBEDTLS_SSL_VERIFY_NONE);
	} else {
		int rc = load_trust(m, opt, err, errlen);
		if (rc != TLS_OK)
			return rc;
		mbedtls_ssl_conf_ca_chain(&m->conf, &m->ca, NULL);
		mbedtls_ssl_conf_authmode(&m->conf, MBEDTLS_SSL_VERIFY_REQUIRED);
	}
	return load_client_cert(m, opt, err, errlen);
}

/* A reference to the configuration for these options: the cached one if
 * the options match, else a new one that replaces it in the cache. */
static struct mconf *conf_get(const struct tls_options *opt, int *rc, char *err, size_t errlen)
{
	struct mconf *m = conf_cache;
	if (m && tls_ctx_key_matches(&m->opts, opt)) {
		m->refs++;
		return m;
	}
	m = calloc(1, sizeof(*m));
	if (!m) {
		snprintf(err, errlen, "out of memory");
		*rc = TLS_ERR_INTERNAL;
		return NULL;
	}
	m->refs = 1;
	mbedtls_ssl_config_init(&m->conf);
	mbedtls_x509_crt_init(&m->ca);
	mbedtls_x509_crt_init(&m->cert);
	mbedtls_pk_init(&m->key);
	*rc = conf_setup(m, opt, err, errlen);
	if (*rc != TLS_OK) {
		conf_free(m);
		return NULL;
	}
	tls_ctx_key_set(&m->opts, opt);
	conf_put(conf_cache);
	conf_cache = m;
	m->refs++; /* the cache's reference */
	return m;
}

/* ---------------------------------------------------------------- certificates */

static time_t x509_to_time(const mbedtls_x509_time *t)
{
	struct tm tm;
	memset(&tm, 0, sizeof(tm));
	tm.tm_year = t->year - 1900;
	tm.tm_mon = t->mon - 1;
	tm.tm_mday = t->day;
	tm.tm_hour = t->hour;
	tm.tm_min = t->min;
	tm.tm_sec = t->sec;
	return timegm(&tm);
}

static void dn_oneline(const mbedtls_x509_name *dn, char *buf, size_t len)
{
	char tmp[1024];
	if (mbedtls_x509_dn_gets(tmp, sizeof(tmp), dn) < 0)
		snprintf(tmp, sizeof(tmp), "(unprintable)");
	size_t n = strnlen(tmp, len - 1); /* cut, like OpenSSL's side */
	memcpy(buf, tmp, n);
	buf[n] = '\0';
}

static void cert_info(const mbedtls_x509_crt *crt, struct tls_info *info)
{
	info->has_cert = 1;
	dn_oneline(&crt->subject, info->subject, sizeof(info->subject));
	dn_oneline(&crt->issuer, info->issuer, sizeof(info->issuer));
	info->not_before = x509_to_time(&crt->valid_from);
	info->not_after = x509_to_time(&crt->valid_to);
}

#define SAN_DNS (MBEDTLS_ASN1_CONTEXT_SPECIFIC | 2)
#define SAN_IP (MBEDTLS_ASN1_CONTEXT_SPECIFIC | 7)

/* The subject's commonName, or NULL. */
static const mbedtls_x509_buf *cert_cn(const mbedtls_x509_crt *crt)
{
	for (const mbedtls_x509_name *n = &crt->subject; n; n = n->next)
		if (n->oid.p && MBEDTLS_OID_CMP(MBEDTLS_OID_AT_CN, &n->oid) == 0)
			return &n->val;
	return NULL;
}

/* RFC 6125 matching of one presented DNS-ID against host: exact
 * (case-insensitive), or "*.rest" matching exactly one leftmost label
 * when rest has at least two labels. */
static int dns_match(const unsigned char *pat, size_t plen, const char *host)
{
	size_t hlen = strlen(host);
	if (hlen && host[hlen - 1] == '.')
		hlen--;
	if (plen == 0 || hlen == 0 || memchr(pat, '\0', plen))
		return 0;
	if (plen == hlen && strncasecmp((const char *)pat, host, hlen) == 0)
		return 1;
	if (plen < 4 || pat[0] != '*' || pat[1] != '.' || !memchr(pat + 2, '.', plen - 2))
		return 0;
	const char *dot = memchr(host, '.', hlen);
	if (!dot || dot == host)
		return 0;
	size_t rest = hlen - (size_t)(dot - host); /* ".example.org" */
	return rest == plen - 1 && strncasecmp((const char *)pat + 1, dot, rest) == 0;
}

/* Non-zero if crt is valid for name (IP literal or DNS name). */
static int cert_matches(const mbedtls_x509_crt *crt, const char *name)
{
	unsigned char ip[16];
	size_t iplen = tls_ip_parse(name, ip);
	int have_dns = 0;
	for (const mbedtls_x509_sequence *s = &crt->subject_alt_names; s && s->buf.p; s = s->next) {
		if (iplen && s->buf.tag == SAN_IP && s->buf.len == iplen && memcmp(s->buf.p, ip, iplen) == 0)
			return 1;
		if (s->buf.tag == SAN_DNS) {
			have_dns = 1;
			if (!iplen && dns_match(s->buf.p, s->buf.len, name))
				return 1;
		}
	}
	if (iplen || have_dns)
		return 0;
	const mbedtls_x509_buf *cn = cert_cn(crt);
	return cn && dns_match(cn->p, cn->len, name);
}

/* The names crt is valid for (subjectAltName DNS and IP entries, else
 * the CN), for a mismatch message. */
static void cert_names(const mbedtls_x509_crt *crt, char *buf, size_t len)
{
	struct tls_names names;
	tls_names_init(&names, buf, len);
	for (const mbedtls_x509_sequence *s = &crt->subject_alt_names; s && s->buf.p; s = s->next) {
		if (s->buf.tag == SAN_DNS)
			tls_names_add(&names, s->buf.p, s->buf.len);
		else if (s->buf.tag == SAN_IP)
			tls_names_add_ip(&names, s->buf.p, s->buf.len);
	}
	const mbedtls_x509_buf *cn = names.count ? NULL : cert_cn(crt);
	if (cn)
		tls_names_add(&names, cn->p, cn->len);
	tls_names_end(&names);
}

/* Called by mbed TLS for each certificate of the chain, the server's own
 * (depth 0) last.  Records the leaf for tls_info and does the name check
 * the library cannot do (see enum name_check).  Never aborts: the flags
 * decide. */
static int verify_cb(void *ctx, mbedtls_x509_crt *crt, int depth, uint32_t *flags)
{
	struct tls_be *c = ctx;
	if (depth + 1 > c->chain_len)
		c->chain_len = depth + 1;
	if (depth != 0)
		return 0;
	cert_info(crt, c->info);
	c->self_signed = c->chain_len == 1 && crt->issuer_raw.len == crt->subject_raw.len &&
			 memcmp(crt->issuer_raw.p, crt->subject_raw.p, crt->subject_raw.len) == 0;
	if (c->name_check != NAME_LIB) {
		*flags &= ~(uint32_t)MBEDTLS_X509_BADCERT_CN_MISMATCH;
		if (c->name_check == NAME_OWN && !cert_matches(crt, c->verify_name))
			*flags |= MBEDTLS_X509_BADCERT_CN_MISMATCH;
	}
	if (*flags & MBEDTLS_X509_BADCERT_CN_MISMATCH)
		cert_names(crt, c->names, sizeof(c->names));
	return 0;
}

/* ---------------------------------------------------------------- socket callbacks */

static int net_send_cb(void *ctx, const unsigned char *buf, size_t len)
{
	struct tls_sock *s = ctx;
	int n = tls_sock_send(s, buf, len);
	if (n >= 0)
		return n;
	if (n == TLS_IO_WANT_WRITE)
		return MBEDTLS_ERR_SSL_WANT_WRITE;
	return s->sys_errno == EPIPE || s->sys_errno == ECONNRESET ? MBEDTLS_ERR_NET_CONN_RESET
								   : MBEDTLS_ERR_NET_SEND_FAILED;
}

static int net_recv_cb(void *ctx, unsigned char *buf, size_t len)
{
	struct tls_sock *s = ctx;
	int n = tls_sock_recv(s, buf, len);
	if (n >= 0)
		return n;
	if (n == TLS_IO_WANT_READ)
		return MBEDTLS_ERR_SSL_WANT_READ;
	return s->sys_errno == ECONNRESET ? MBEDTLS_ERR_NET_CONN_RESET : MBEDTLS_ERR_NET_RECV_FAILED;
}

/* ---------------------------------------------------------------- handshake */

/* OpenSSL's wording (SSL_alert_desc_string_long), for the same messages
 * from both backends. */
static const char *alert_name(int a)
{
	switch (a) {
	case 0: return "close notify";
	case 10: return "unexpected message";
	case 20: return "bad record mac";
	case 22: return "record overflow";
	case 40: return "handshake failure";
	case 42: return "bad certificate";
	case 43: return "unsupported certificate";
	case 44: return "certificate revoked";
	case 45: return "certificate expired";
	case 46: return "certificate unknown";
	case 47: return "illegal parameter";
	case 48: return "unknown CA";
	case 49: return "access denied";
	case 50: return "decode error";
	case 51: return "decrypt error";
	case 70: return "protocol version";
	case 71: return "insufficient security";
	case 80: return "internal error";
	case 86: return "inappropriate fallback";
	case 90: return "user canceled";
	case 109: return "missing extension";
	case 110: return "unsupported extension";
	case 112: return "unrecognized name";
	case 116: return "certificate required";
	case 120: return "no application protocol";
	default: return NULL;
	}
}

/* The chain part of a verification failure, worded like OpenSSL's. */
static const char *chain_reason(uint32_t f, int self_signed)
{
	if (f & MBEDTLS_X509_BADCERT_MISSING)
		return "no certificate from server";
	if (f & MBEDTLS_X509_BADCERT_NOT_TRUSTED)
		return self_signed ? "self-signed certificate" : "unable to get local issuer certificate";
	if (f & MBEDTLS_X509_BADCERT_EXPIRED)
		return "certificate has expired";
	if (f & MBEDTLS_X509_BADCERT_FUTURE)
		return "certificate is not yet valid";
	if (f & MBEDTLS_X509_BADCERT_REVOKED)
		return "certificate revoked";
	if (f & (MBEDTLS_X509_BADCERT_KEY_USAGE | MBEDTLS_X509_BADCERT_EXT_KEY_USAGE |
		 MBEDTLS_X509_BADCERT_NS_CERT_TYPE))
		return "unsuitable certificate purpose";
	if (f & (MBEDTLS_X509_BADCERT_BAD_MD | MBEDTLS_X509_BADCERT_BAD_PK | MBEDTLS_X509_BADCERT_BAD_KEY))
		return "certificate signature algorithm or key too weak";
	return NULL;
}

int tls_be_verify_failed(struct tls_be *c, char *err, size_t errlen)
{
	uint32_t f = mbedtls_ssl_get_verify_result(&c->ssl);
	if (f == 0 || f == (uint32_t)-1)
		return 0;
	if (!err)
		return 1;
	uint32_t chain = f & ~(uint32_t)MBEDTLS_X509_BADCERT_CN_MISMATCH;
	if (chain) {
		const char *why = chain_reason(chain, c->self_signed);
		char info[160];
		if (!why) {
			mbedtls_x509_crt_verify_info(info, sizeof(info), "", chain);
			info[strcspn(info, "\n")] = '\0';
			why = info;
		}
		tls_msg_chain(err, errlen, why);
	} else {
		tls_msg_mismatch(err, errlen, c->name_is_ip, c->names);
	}
	return 1;
}

/* A failed handshake step, read or write (r) as enum tls_io, the reason in
 * msg; during the handshake an alert is named (with a hint when a TLS 1.3
 * floor was refused). */
static int io_result(struct tls_be *c, int r, int handshake, char *msg, size_t msglen)
{
	switch (r) {
	case MBEDTLS_ERR_SSL_WANT_READ:
		return TLS_IO_WANT_READ;
	case MBEDTLS_ERR_SSL_WANT_WRITE:
		return TLS_IO_WANT_WRITE;
	case MBEDTLS_ERR_SSL_PEER_CLOSE_NOTIFY:
		return TLS_IO_CLOSED;
	case 0:
	case MBEDTLS_ERR_SSL_CONN_EOF:
		return TLS_IO_EOF;
	default:
		break;
	}
	if (r == MBEDTLS_ERR_NET_CONN_RESET || c->sock->sys_errno)
		return TLS_IO_SYSERR;
	if (handshake && r == MBEDTLS_ERR_SSL_FATAL_ALERT_MESSAGE) {
		int a = cis_ssl_last_alert(&c->ssl);
		const char *name = alert_name(a);
		if (name)
			snprintf(msg, msglen, "server sent fatal alert: %s", name);
		else
			snprintf(msg, msglen, "server sent fatal alert: %d", a);
		if (a == 70 && c->min_version == 13)
			snprintf(msg + strlen(msg), msglen - strlen(msg), " (server does not offer TLS 1.3?)");
	} else {
		mbed_err(r, msg, msglen);
	}
	return TLS_IO_ERROR;
}

int tls_be_handshake(struct tls_be *c, char *msg, size_t msglen)
{
	int r = mbedtls_ssl_handshake(&c->ssl);
	return r == 0 ? TLS_IO_OK : io_result(c, r, 1, msg, msglen);
}

int tls_be_read(struct tls_be *c, void *buf, size_t len, char *msg, size_t msglen)
{
	for (;;) {
		int r = mbedtls_ssl_read(&c->ssl, buf, len);
		if (r > 0)
			return r;
#if defined(MBEDTLS_ERR_SSL_RECEIVED_NEW_SESSION_TICKET)
		if (r == MBEDTLS_ERR_SSL_RECEIVED_NEW_SESSION_TICKET)
			continue; /* TLS 1.3 (3.x): not application data */
#endif
		return io_result(c, r, 0, msg, msglen);
	}
}

int tls_be_write(struct tls_be *c, const void *buf, size_t len, char *msg, size_t msglen)
{
	int r = mbedtls_ssl_write(&c->ssl, buf, len);
	return r > 0 ? r : io_result(c, r, 0, msg, msglen);
}

size_t tls_be_pending(struct tls_be *c)
{
	return mbedtls_ssl_get_bytes_avail(&c->ssl);
}

/* SNI and the name check.  mbedtls_ssl_set_hostname() sets both the SNI
 * and the name the library checks; when those differ (or the name is an
 * IP literal, which 2.28 cannot match) verify_cb checks instead. */
static int setup_names(struct tls_be *c, const struct tls_options *opt, char *err, size_t errlen)
{
	const char *vname = opt->insecure ? NULL : opt->verify_name;
	unsigned char ip[16];

	c->verify_name = vname;
	c->name_is_ip = vname && tls_ip_parse(vname, ip) != 0;
	if (vname && !c->name_is_ip && opt->sni && strcasecmp(opt->sni, vname) == 0)
		c->name_check = NAME_LIB;
	else
		c->name_check = vname ? NAME_OWN : NAME_NONE;
	int r = mbedtls_ssl_set_hostname(&c->ssl, opt->sni);
	if (r != 0) {
		snprintf(err, errlen, "invalid TLS server name (SNI) \"%s\"", opt->sni ? opt->sni : "");
		return TLS_ERR_CONFIG;
	}
	return TLS_OK;
}

static int conn_setup(struct tls_be *c, const struct tls_options *opt, char *err, size_t errlen)
{
	int r = mbedtls_ssl_setup(&c->ssl, &c->conf->conf);
	if (r != 0) {
		char why[128];
		mbed_err(r, why, sizeof(why));
		snprintf(err, errlen, "TLS setup: %s", why);
		return TLS_ERR_INTERNAL;
	}
	mbedtls_ssl_set_bio(&c->ssl, c->sock, net_send_cb, net_recv_cb, NULL);
	if (!opt->insecure)
		mbedtls_ssl_set_verify(&c->ssl, verify_cb, c);
	return setup_names(c, opt, err, errlen);
}

/* IANA-style cipher suite name, like OpenSSL's standard names:
 * "TLS-ECDHE-RSA-WITH-AES-256-GCM-SHA384" -> "TLS_ECDHE_RSA_WITH_AES_256_GCM_SHA384",
 * "TLS1-3-AES-128-GCM-SHA256" -> "TLS_AES_128_GCM_SHA256". */
static void cipher_name(const char *lib, char *out, size_t len)
{
	if (strncmp(lib, "TLS1-3-", 7) == 0)
		snprintf(out, len, "TLS_%s", lib + 7);
	else
		snprintf(out, len, "%s", lib);
	for (char *p = out; *p; p++)
		if (*p == '-')
			*p = '_';
}

static void fill_info(struct tls_be *c, struct tls_info *info)
{
	snprintf(info->version, sizeof(info->version), "%s", mbedtls_ssl_get_version(&c->ssl));
	const char *cs = mbedtls_ssl_get_ciphersuite(&c->ssl);
	cipher_name(cs ? cs : "", info->cipher, sizeof(info->cipher));
	const mbedtls_x509_crt *crt = mbedtls_ssl_get_peer_cert(&c->ssl);
	if (crt)
		cert_info(crt, info);
}

int tls_be_new(struct tls_be **out, struct tls_sock *sock, const struct tls_options *opt,
	       struct tls_info *info, char *err, size_t errlen)
{
	*out = NULL;
#if !defined(MBEDTLS_SSL_PROTO_TLS1_3)
	if (opt->min_version == 13) {
		snprintf(err, errlen, "TLS 1.3 not supported by %s", MBEDTLS_VERSION_STRING_FULL);
		return TLS_ERR_CONFIG;
	}
#endif
	if (cis_mbedtls_lib_init() != 0) {
		snprintf(err, errlen, "mbed TLS initialisation failed");
		return TLS_ERR_INTERNAL;
	}
	if (rng_init(err, errlen) != 0)
		return TLS_ERR_INTERNAL;
	int rc = TLS_OK;
	struct mconf *conf = conf_get(opt, &rc, err, errlen);
	if (!conf)
		return rc;
	struct tls_be *c = calloc(1, sizeof(*c));
	if (!c) {
		conf_put(conf);
		snprintf(err, errlen, "out of memory");
		return TLS_ERR_INTERNAL;
	}
	mbedtls_ssl_init(&c->ssl);
	c->conf = conf;
	c->sock = sock;
	c->min_version = opt->min_version;
	c->info = info; /* verify_cb describes the certificate */
	rc = conn_setup(c, opt, err, errlen);
	if (rc != TLS_OK) {
		tls_be_free(c, 0);
		return rc;
	}
	*out = c;
	return TLS_OK;
}

void tls_be_describe(struct tls_be *c, int established, struct tls_info *info)
{
	c->info = NULL;
	c->verify_name = NULL;
	if (established)
		fill_info(c, info);
}

void tls_be_free(struct tls_be *c, int close_notify)
{
	if (!c)
		return;
	if (close_notify)
		(void)mbedtls_ssl_close_notify(&c->ssl);
	mbedtls_ssl_free(&c->ssl);
	conf_put(c->conf);
	free(c);
}

/* ---------------------------------------------------------------- channel binding */

int tls_be_version(struct tls_be *c)
{
	return mbedtls_ssl_get_version_number(&c->ssl) == MBEDTLS_SSL_VERSION_TLS1_3 ? 13 : 12;
}

int tls_be_tls_unique(struct tls_be *c, unsigned char *out, size_t *outlen, char *err, size_t errlen)
{
	/* Sessions are never resumed here: the first Finished is ours. */
	size_t n = cis_ssl_tls_unique(&c->ssl, out, *outlen);
	if (n == 0) {
		snprintf(err, errlen, "tls-unique is not available with this mbed TLS build");
		return -1;
	}
	*outlen = n;
	return 0;
}

int tls_be_exporter(struct tls_be *c, const char *label, unsigned char *out, size_t len,
		    char *err, size_t errlen)
{
#if defined(MBEDTLS_SSL_KEYING_MATERIAL_EXPORT)
	int r = mbedtls_ssl_export_keying_material(&c->ssl, out, len, label, strlen(label), NULL, 0, 0);
	if (r != 0) {
		char why[128];
		mbed_err(r, why, sizeof(why));
		snprintf(err, errlen, "tls-exporter: %s", why);
		return -1;
	}
	return 0;
#else
	(void)c;
	(void)label;
	(void)out;
	(void)len;
	snprintf(err, errlen, "tls-exporter is not supported by %s", MBEDTLS_VERSION_STRING_FULL);
	return -1;
#endif
}

#else
typedef int cis_tls_mbedtls_unused; /* ISO C: no empty translation unit */
#endif /* WITH_TLS_MBEDTLS */
