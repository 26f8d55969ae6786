/* tls_mbedtls.c - the mbed TLS backend of tls.h (2.28 LTS; 3.2+ through
 * mbedtls_compat.h).
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
 * that use the same options.  I/O goes through our own send/recv
 * callbacks over the non-blocking fd (MSG_NOSIGNAL; they remember EOF,
 * errno and the first bytes the peer sent).  Library results are mapped
 * onto enum tr_status / enum tls_err here and nowhere else. */
#include "config.h"

#if defined(WITH_TLS_MBEDTLS)

#include "net/tls.h"

#include <arpa/inet.h>
#include <ctype.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
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

#include "net/clock.h"

#define EXPORTER_LABEL "EXPORTER-Channel-Binding" /* RFC 9266 */
#define EXPORTER_LEN 32

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
	/* the options it was built from */
	char *cafile, *capath, *client_cert, *client_key;
	int insecure, min_version;
};

enum name_check {
	NAME_NONE,   /* no name to check: drop the library's verdict */
	NAME_LIB,    /* the library checks the SNI name, which is the name */
	NAME_OWN,    /* verify_cb checks verify_name itself */
};

/* One TLS connection; t->ctx of the transport. */
struct mconn {
	mbedtls_ssl_context ssl;
	struct mconf *conf;       /* one reference */
	int fd;
	int eof;                  /* recv() returned 0 */
	int sys_errno;            /* last hard socket error, 0 if none */
	int broken;               /* fatal error seen: no close_notify */
	uint64_t raw_in;          /* bytes received from the socket */
	unsigned char first[32];  /* first bytes the peer sent */
	size_t nfirst;
	/* certificate verification, during tls_start() only */
	enum name_check name_check;
	const char *verify_name;
	int name_is_ip;
	int chain_len;
	int self_signed;
	char names[200];          /* what the leaf is valid for, on mismatch */
	struct tls_info *info;
};

static struct {
	int ready;
	mbedtls_ctr_drbg_context drbg;
} rng;

static struct mconf *conf_cache;

static const struct transport_ops mtls_ops;

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
static int looks_like_tls(const struct mconn *c)
{
	if (c->nfirst == 0)
		return 1;
	if (c->first[0] < 20 || c->first[0] > 24)
		return 0;
	return c->nfirst < 2 || c->first[1] == 3;
}

/* The record layer reads a 5-byte header first and gives up on it: peek
 * at what else the peer sent, so a message can quote e.g. its greeting. */
static void peek_more(struct mconn *c)
{
	if (c->raw_in != c->nfirst || c->nfirst >= sizeof(c->first))
		return;
	ssize_t n = recv(c->fd, c->first + c->nfirst, sizeof(c->first) - c->nfirst,
			 MSG_PEEK | MSG_DONTWAIT);
	if (n > 0)
		c->nfirst += (size_t)n;
}

/* IPv4/IPv6 literal to binary (an IPv6 zone "%eth0" is ignored).
 * Returns the address length (4 or 16), or 0 for a host name. */
static size_t ip_parse(const char *name, unsigned char bin[16])
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

static char *dup_or_null(const char *s)
{
	return s ? strdup(s) : NULL;
}

static int same_str(const char *a, const char *b)
{
	return (!a && !b) || (a && b && strcmp(a, b) == 0);
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

/* "hhhhhhhh.N": an OpenSSL hash link (c_rehash / openssl rehash). */
static int is_hash_name(const char *n)
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
		if (!is_hash_name(de->d_name))
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

	if (!opt->client_cert) {
		if (!opt->client_key)
			return TLS_OK;
		snprintf(err, errlen, "client key %s given without a client certificate", opt->client_key);
		return TLS_ERR_CONFIG;
	}
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
	free(m->cafile);
	free(m->capath);
	free(m->client_cert);
	free(m->client_key);
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
	if (m && m->insecure == !!opt->insecure && m->min_version == opt->min_version &&
	    same_str(m->cafile, opt->cafile) && same_str(m->capath, opt->capath) &&
	    same_str(m->client_cert, opt->client_cert) && same_str(m->client_key, opt->client_key)) {
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
	m->cafile = dup_or_null(opt->cafile);
	m->capath = dup_or_null(opt->capath);
	m->client_cert = dup_or_null(opt->client_cert);
	m->client_key = dup_or_null(opt->client_key);
	m->insecure = !!opt->insecure;
	m->min_version = opt->min_version;
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
	size_t iplen = ip_parse(name, ip);
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

static void append_name(char *buf, size_t len, int *count, const unsigned char *p, size_t n)
{
	size_t used = strlen(buf);
	if (*count == 4) {
		snprintf(buf + used, len - used, ", ...");
	} else if (*count < 4) {
		char clean[128];
		printable(clean, sizeof(clean), p, n);
		snprintf(buf + used, len - used, "%s%s", *count ? ", " : "", clean);
	}
	(*count)++;
}

/* "imap.example.org, 192.0.2.1": the names crt is valid for. */
static void cert_names(const mbedtls_x509_crt *crt, char *buf, size_t len)
{
	int count = 0;
	buf[0] = '\0';
	for (const mbedtls_x509_sequence *s = &crt->subject_alt_names; s && s->buf.p; s = s->next) {
		char ip[INET6_ADDRSTRLEN];
		if (s->buf.tag == SAN_DNS)
			append_name(buf, len, &count, s->buf.p, s->buf.len);
		else if (s->buf.tag == SAN_IP && (s->buf.len == 4 || s->buf.len == 16) &&
			 inet_ntop(s->buf.len == 4 ? AF_INET : AF_INET6, s->buf.p, ip, sizeof(ip)))
			append_name(buf, len, &count, (const unsigned char *)ip, strlen(ip));
	}
	if (count == 0) {
		const mbedtls_x509_buf *cn = cert_cn(crt);
		if (cn)
			append_name(buf, len, &count, cn->p, cn->len);
		else
			snprintf(buf, len, "no names");
	}
}

/* Called by mbed TLS for each certificate of the chain, the server's own
 * (depth 0) last.  Records the leaf for tls_info and does the name check
 * the library cannot do (see enum name_check).  Never aborts: the flags
 * decide. */
static int verify_cb(void *ctx, mbedtls_x509_crt *crt, int depth, uint32_t *flags)
{
	struct mconn *c = ctx;
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
	struct mconn *c = ctx;
	for (;;) {
		ssize_t n = send(c->fd, buf, len, MSG_NOSIGNAL);
		if (n >= 0) {
			if (n > 0)
				transport_rt_sent();
			return (int)n;
		}
		if (errno == EINTR)
			continue;
		if (errno == EAGAIN || errno == EWOULDBLOCK)
			return MBEDTLS_ERR_SSL_WANT_WRITE;
		c->sys_errno = errno;
		return errno == EPIPE || errno == ECONNRESET ? MBEDTLS_ERR_NET_CONN_RESET
							     : MBEDTLS_ERR_NET_SEND_FAILED;
	}
}

static int net_recv_cb(void *ctx, unsigned char *buf, size_t len)
{
	struct mconn *c = ctx;
	for (;;) {
		transport_rt_wait();
		ssize_t n = recv(c->fd, buf, len, 0);
		if (n > 0) {
			c->raw_in += (uint64_t)n;
			if (c->nfirst < sizeof(c->first)) {
				size_t k = sizeof(c->first) - c->nfirst;
				if (k > (size_t)n)
					k = (size_t)n;
				memcpy(c->first + c->nfirst, buf, k);
				c->nfirst += k;
			}
			return (int)n;
		}
		if (n == 0) {
			c->eof = 1;
			return 0;
		}
		if (errno == EINTR)
			continue;
		if (errno == EAGAIN || errno == EWOULDBLOCK)
			return MBEDTLS_ERR_SSL_WANT_READ;
		c->sys_errno = errno;
		return errno == ECONNRESET ? MBEDTLS_ERR_NET_CONN_RESET : MBEDTLS_ERR_NET_RECV_FAILED;
	}
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

static int verify_failure(struct mconn *c, uint32_t f, char *err, size_t errlen)
{
	uint32_t chain = f & ~(uint32_t)MBEDTLS_X509_BADCERT_CN_MISMATCH;
	if (chain) {
		const char *why = chain_reason(chain, c->self_signed);
		char info[160];
		if (!why) {
			mbedtls_x509_crt_verify_info(info, sizeof(info), "", chain);
			info[strcspn(info, "\n")] = '\0';
			why = info;
		}
		snprintf(err, errlen, "certificate verify failed: %s", why);
	} else {
		snprintf(err, errlen, "%s mismatch: certificate is for %s",
			 c->name_is_ip ? "IP address" : "host name", c->names[0] ? c->names : "unknown names");
	}
	return TLS_ERR_VERIFY;
}

/* Map a failed mbedtls_ssl_handshake() onto enum tls_err. */
static int handshake_failure(struct mconn *c, const struct tls_options *opt, int r,
			     char *err, size_t errlen)
{
	char why[160];

	c->broken = 1;
	if (!opt->insecure) {
		uint32_t f = mbedtls_ssl_get_verify_result(&c->ssl);
		if (f != 0 && f != (uint32_t)-1)
			return verify_failure(c, f, err, errlen);
	}
	if (!looks_like_tls(c)) {
		char text[40];
		peek_more(c);
		printable(text, sizeof(text), c->first, c->nfirst);
		snprintf(err, errlen, "TLS handshake failed: server sent \"%s\" (not TLS? plaintext port?)", text);
		return TLS_ERR_HANDSHAKE;
	}
	if (c->eof || r == MBEDTLS_ERR_SSL_CONN_EOF || r == MBEDTLS_ERR_SSL_PEER_CLOSE_NOTIFY) {
		snprintf(err, errlen, "server closed the connection during the TLS handshake%s",
			 c->raw_in ? "" : " (no reply to ClientHello)");
		return TLS_ERR_EOF;
	}
	if (r == MBEDTLS_ERR_NET_CONN_RESET) {
		snprintf(err, errlen, "connection reset by server during the TLS handshake");
		return TLS_ERR_EOF;
	}
	if (c->sys_errno) {
		snprintf(err, errlen, "TLS handshake failed: %s", strerror(c->sys_errno));
		return TLS_ERR_HANDSHAKE;
	}
	if (r == MBEDTLS_ERR_SSL_FATAL_ALERT_MESSAGE) {
		int a = cis_ssl_last_alert(&c->ssl);
		const char *name = alert_name(a);
		if (name)
			snprintf(why, sizeof(why), "server sent fatal alert: %s", name);
		else
			snprintf(why, sizeof(why), "server sent fatal alert: %d", a);
		if (a == 70 && opt->min_version == 13)
			snprintf(why + strlen(why), sizeof(why) - strlen(why), " (server does not offer TLS 1.3?)");
	} else {
		mbed_err(r, why, sizeof(why));
	}
	snprintf(err, errlen, "TLS handshake failed: %s", why);
	return TLS_ERR_HANDSHAKE;
}

static int handshake_timeout(const struct mconn *c, char *err, size_t errlen)
{
	if (c->raw_in == 0)
		snprintf(err, errlen, "TLS handshake timed out: no reply from server");
	else
		snprintf(err, errlen, "TLS handshake timed out after %llu bytes from server",
			 (unsigned long long)c->raw_in);
	return TLS_ERR_TIMEOUT;
}

static int handshake(struct transport *t, struct mconn *c, const struct tls_options *opt,
		     int64_t deadline_ns, char *err, size_t errlen)
{
	for (;;) {
		int r = mbedtls_ssl_handshake(&c->ssl);
		if (r == 0)
			return TLS_OK;
		short ev;
		if (r == MBEDTLS_ERR_SSL_WANT_READ)
			ev = POLLIN;
		else if (r == MBEDTLS_ERR_SSL_WANT_WRITE)
			ev = POLLOUT;
		else
			return handshake_failure(c, opt, r, err, errlen);
		int w = clock_expired(deadline_ns) ? 0 : transport_wait(t, ev, deadline_ns);
		if (w == 0)
			return handshake_timeout(c, err, errlen);
		if (w < 0) {
			snprintf(err, errlen, "%s", t->err);
			return TLS_ERR_INTERNAL;
		}
	}
}

/* SNI and the name check.  mbedtls_ssl_set_hostname() sets both the SNI
 * and the name the library checks; when those differ (or the name is an
 * IP literal, which 2.28 cannot match) verify_cb checks instead. */
static int setup_names(struct mconn *c, const struct tls_options *opt, char *err, size_t errlen)
{
	const char *vname = opt->insecure ? NULL : opt->verify_name;
	unsigned char ip[16];

	c->verify_name = vname;
	c->name_is_ip = vname && ip_parse(vname, ip) != 0;
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

static int conn_setup(struct mconn *c, const struct tls_options *opt, char *err, size_t errlen)
{
	int r = mbedtls_ssl_setup(&c->ssl, &c->conf->conf);
	if (r != 0) {
		char why[128];
		mbed_err(r, why, sizeof(why));
		snprintf(err, errlen, "TLS setup: %s", why);
		return TLS_ERR_INTERNAL;
	}
	mbedtls_ssl_set_bio(&c->ssl, c, net_send_cb, net_recv_cb, NULL);
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

static void fill_info(struct mconn *c, struct tls_info *info)
{
	snprintf(info->version, sizeof(info->version), "%s", mbedtls_ssl_get_version(&c->ssl));
	const char *cs = mbedtls_ssl_get_ciphersuite(&c->ssl);
	cipher_name(cs ? cs : "", info->cipher, sizeof(info->cipher));
	const mbedtls_x509_crt *crt = mbedtls_ssl_get_peer_cert(&c->ssl);
	if (crt)
		cert_info(crt, info);
}

static void conn_free(struct mconn *c)
{
	mbedtls_ssl_free(&c->ssl);
	conf_put(c->conf);
	free(c);
}

static int check_options(const struct tls_options *opt, char *err, size_t errlen)
{
	if (opt->min_version != 0 && opt->min_version != 12 && opt->min_version != 13) {
		snprintf(err, errlen, "unsupported minimum TLS version %d (use 12 or 13)", opt->min_version);
		return TLS_ERR_CONFIG;
	}
#if !defined(MBEDTLS_SSL_PROTO_TLS1_3)
	if (opt->min_version == 13) {
		snprintf(err, errlen, "TLS 1.3 not supported by %s", MBEDTLS_VERSION_STRING_FULL);
		return TLS_ERR_CONFIG;
	}
#endif
	return TLS_OK;
}

int tls_start(struct transport *plain, const struct tls_options *opt, int64_t deadline_ns,
	      struct transport **out, struct tls_info *info, char *err, size_t errlen)
{
	*out = NULL;
	memset(info, 0, sizeof(*info));
	int rc = check_options(opt, err, errlen);
	if (rc != TLS_OK)
		return rc;
	if (cis_mbedtls_lib_init() != 0) {
		snprintf(err, errlen, "mbed TLS initialisation failed");
		return TLS_ERR_INTERNAL;
	}
	if (rng_init(err, errlen) != 0)
		return TLS_ERR_INTERNAL;
	struct mconf *conf = conf_get(opt, &rc, err, errlen);
	if (!conf)
		return rc;

	struct transport *t = calloc(1, sizeof(*t));
	struct mconn *c = calloc(1, sizeof(*c));
	if (!t || !c) {
		free(t);
		free(c);
		conf_put(conf);
		snprintf(err, errlen, "out of memory");
		return TLS_ERR_INTERNAL;
	}
	mbedtls_ssl_init(&c->ssl);
	c->conf = conf;
	c->fd = plain->fd;
	c->info = info;
	t->ops = &mtls_ops;
	t->ctx = c;
	t->fd = plain->fd;
	t->stop = plain->stop;   /* a signal ends the handshake as a timeout */

	rc = conn_setup(c, opt, err, errlen);
	if (rc == TLS_OK)
		rc = handshake(t, c, opt, deadline_ns, err, errlen);
	c->info = NULL;
	c->verify_name = NULL;
	if (rc != TLS_OK) {
		conn_free(c);
		free(t);
		return rc;
	}
	fill_info(c, info);
	info->verified = !opt->insecure && mbedtls_ssl_get_verify_result(&c->ssl) == 0;

	plain->fd = -1; /* the fd now belongs to t */
	transport_close(plain);
	*out = t;
	return TLS_OK;
}

/* ---------------------------------------------------------------- transport slots */

/* Map a failed mbedtls_ssl_read/write onto enum tr_status (message in t->err). */
static ssize_t io_failure(struct transport *t, struct mconn *c, int r)
{
	char why[128];
	switch (r) {
	case MBEDTLS_ERR_SSL_WANT_READ:
		return TR_WANT_READ;
	case MBEDTLS_ERR_SSL_WANT_WRITE:
		return TR_WANT_WRITE;
	case MBEDTLS_ERR_SSL_PEER_CLOSE_NOTIFY:
		snprintf(t->err, sizeof(t->err), "connection closed by server");
		return TR_EOF;
	default:
		break;
	}
	c->broken = 1;
	if (r == 0 || r == MBEDTLS_ERR_SSL_CONN_EOF || c->eof) {
		snprintf(t->err, sizeof(t->err), "connection closed without close_notify");
		return TR_EOF;
	}
	if (c->sys_errno == EPIPE) {
		snprintf(t->err, sizeof(t->err), "connection closed by server");
		return TR_EOF;
	}
	if (r == MBEDTLS_ERR_NET_CONN_RESET) {
		snprintf(t->err, sizeof(t->err), "connection reset by peer");
		return TR_ERROR;
	}
	if (c->sys_errno) {
		snprintf(t->err, sizeof(t->err), "TLS: %s", strerror(c->sys_errno));
		return TR_ERROR;
	}
	mbed_err(r, why, sizeof(why));
	snprintf(t->err, sizeof(t->err), "TLS: %s", why);
	return TR_ERROR;
}

static ssize_t mtls_read(struct transport *t, void *buf, size_t len)
{
	struct mconn *c = t->ctx;
	if (c->broken) {
		snprintf(t->err, sizeof(t->err), "TLS connection already failed");
		return TR_ERROR;
	}
	for (;;) {
		int r = mbedtls_ssl_read(&c->ssl, buf, len);
		if (r > 0)
			return r;
#if defined(MBEDTLS_ERR_SSL_RECEIVED_NEW_SESSION_TICKET)
		if (r == MBEDTLS_ERR_SSL_RECEIVED_NEW_SESSION_TICKET)
			continue; /* TLS 1.3 (3.x): not application data */
#endif
		return io_failure(t, c, r);
	}
}

static ssize_t mtls_write(struct transport *t, const void *buf, size_t len)
{
	struct mconn *c = t->ctx;
	if (c->broken) {
		snprintf(t->err, sizeof(t->err), "TLS connection already failed");
		return TR_ERROR;
	}
	int r = mbedtls_ssl_write(&c->ssl, buf, len);
	return r > 0 ? r : io_failure(t, c, r);
}

static size_t mtls_pending(struct transport *t)
{
	struct mconn *c = t->ctx;
	return mbedtls_ssl_get_bytes_avail(&c->ssl);
}

/* Best-effort close_notify (one non-blocking attempt), then free all. */
static void mtls_close(struct transport *t)
{
	struct mconn *c = t->ctx;
	if (!c->broken)
		(void)mbedtls_ssl_close_notify(&c->ssl);
	if (c->fd >= 0)
		close(c->fd);
	conn_free(c);
	free(t);
}

static const struct transport_ops mtls_ops = {
	.name = "tls",
	.read = mtls_read,
	.write = mtls_write,
	.pending = mtls_pending,
	.close = mtls_close,
};

/* ---------------------------------------------------------------- channel binding */

static int binding_exporter(struct mconn *c, unsigned char *out, size_t *outlen, char *err, size_t errlen)
{
	if (mbedtls_ssl_get_version_number(&c->ssl) != MBEDTLS_SSL_VERSION_TLS1_3) {
		snprintf(err, errlen, "tls-exporter is only used with TLS 1.3 (use tls-unique)");
		return -1;
	}
#if defined(MBEDTLS_SSL_KEYING_MATERIAL_EXPORT)
	if (*outlen < EXPORTER_LEN) {
		snprintf(err, errlen, "tls-exporter: buffer too small");
		return -1;
	}
	int r = mbedtls_ssl_export_keying_material(&c->ssl, out, EXPORTER_LEN, EXPORTER_LABEL,
						   strlen(EXPORTER_LABEL), NULL, 0, 0);
	if (r != 0) {
		char why[128];
		mbed_err(r, why, sizeof(why));
		snprintf(err, errlen, "tls-exporter: %s", why);
		return -1;
	}
	*outlen = EXPORTER_LEN;
	return 0;
#else
	(void)out;
	(void)outlen;
	snprintf(err, errlen, "tls-exporter is not supported by %s", MBEDTLS_VERSION_STRING_FULL);
	return -1;
#endif
}

int tls_channel_binding(struct transport *t, const char *type, unsigned char *out,
			size_t *outlen, char *err, size_t errlen)
{
	if (!t || t->ops != &mtls_ops) {
		snprintf(err, errlen, "channel binding needs a TLS connection");
		return -1;
	}
	struct mconn *c = t->ctx;

	if (strcmp(type, "tls-unique") == 0) {
		if (mbedtls_ssl_get_version_number(&c->ssl) != MBEDTLS_SSL_VERSION_TLS1_2) {
			snprintf(err, errlen, "tls-unique is not defined for TLS 1.3 (use tls-exporter)");
			return -1;
		}
		/* Sessions are never resumed here: the first Finished is ours. */
		size_t n = cis_ssl_tls_unique(&c->ssl, out, *outlen);
		if (n == 0) {
			snprintf(err, errlen, "tls-unique is not available with this mbed TLS build");
			return -1;
		}
		*outlen = n;
		return 0;
	}
	if (strcmp(type, "tls-exporter") == 0)
		return binding_exporter(c, out, outlen, err, errlen);
	snprintf(err, errlen, "unknown channel binding type \"%s\"", type);
	return -1;
}

#else
typedef int cis_tls_mbedtls_unused; /* ISO C: no empty translation unit */
#endif /* WITH_TLS_MBEDTLS */
