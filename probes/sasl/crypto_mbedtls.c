/* crypto_mbedtls.c - crypto.h on mbedTLS (2.28 or 3.x).
 *
 * Everything goes through the generic message-digest layer (md.h), whose
 * names are the same in 2.28 and 3.x, so no compatibility shims are needed
 * (the per-algorithm one-shots are the ones that were renamed, e.g.
 * mbedtls_md5_ret() -> mbedtls_md5()).  Random bytes come straight from the
 * kernel: a DRBG would need either global state or a fresh entropy seed per
 * call, and getrandom(2) is what that seed would be read from anyway. */
#include "config.h"

#if defined(WITH_TLS_MBEDTLS)

#include "sasl/crypto.h"

#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <unistd.h>

#if defined(HAVE_GETRANDOM) || (defined(__linux__) && defined(__GLIBC__) && \
	(__GLIBC__ > 2 || (__GLIBC__ == 2 && __GLIBC_MINOR__ >= 25)))
#include <sys/random.h>
#define CIS_HAVE_GETRANDOM 1
#endif

#include <mbedtls/md.h>

/* Non-NULL stand-in for empty inputs. */
static const unsigned char empty_buf[1];

static const mbedtls_md_info_t *md_of(enum crypto_hash h)
{
	switch (h) {
	case CRYPTO_MD5:
		return mbedtls_md_info_from_type(MBEDTLS_MD_MD5);
	case CRYPTO_SHA1:
		return mbedtls_md_info_from_type(MBEDTLS_MD_SHA1);
	case CRYPTO_SHA256:
		return mbedtls_md_info_from_type(MBEDTLS_MD_SHA256);
	}
	return NULL;
}

int crypto_hash(enum crypto_hash h, const void *data, size_t len, unsigned char *out)
{
	const mbedtls_md_info_t *md = md_of(h);

	if (!md)
		return -1;
	return mbedtls_md(md, data ? data : empty_buf, len, out) == 0 ? 0 : -1;
}

int crypto_hmac(enum crypto_hash h, const void *key, size_t keylen,
		const void *data, size_t len, unsigned char *out)
{
	const mbedtls_md_info_t *md = md_of(h);

	if (!md)
		return -1;
	return mbedtls_md_hmac(md, key ? key : empty_buf, keylen,
			       data ? data : empty_buf, len, out) == 0 ? 0 : -1;
}

struct crypto_hmac_key {
	mbedtls_md_context_t ctx;
};

struct crypto_hmac_key *crypto_hmac_key_new(enum crypto_hash h, const void *key, size_t keylen)
{
	const mbedtls_md_info_t *md = md_of(h);
	struct crypto_hmac_key *k;

	if (!md)
		return NULL;
	k = calloc(1, sizeof(*k));
	if (!k)
		return NULL;
	mbedtls_md_init(&k->ctx);
	if (mbedtls_md_setup(&k->ctx, md, 1) != 0 ||
	    mbedtls_md_hmac_starts(&k->ctx, key ? key : empty_buf, keylen) != 0) {
		crypto_hmac_key_free(k);
		return NULL;
	}
	return k;
}

int crypto_hmac_key_mac(struct crypto_hmac_key *k, const void *data, size_t len,
			unsigned char *out)
{
	/* reset restarts from the stored inner pad: the key is kept */
	if (mbedtls_md_hmac_reset(&k->ctx) != 0)
		return -1;
	if (mbedtls_md_hmac_update(&k->ctx, data ? data : empty_buf, len) != 0)
		return -1;
	return mbedtls_md_hmac_finish(&k->ctx, out) == 0 ? 0 : -1;
}

void crypto_hmac_key_free(struct crypto_hmac_key *k)
{
	if (!k)
		return;
	mbedtls_md_free(&k->ctx);       /* zeroizes the pads */
	free(k);
}

#if defined(CIS_HAVE_GETRANDOM)
static ssize_t random_chunk(unsigned char *p, size_t len)
{
	return getrandom(p, len, 0);
}
#else
static ssize_t random_chunk(unsigned char *p, size_t len)
{
	int fd = open("/dev/urandom", O_RDONLY | O_CLOEXEC);
	ssize_t n;

	if (fd < 0)
		return -1;
	n = read(fd, p, len);
	close(fd);
	return n;
}
#endif

int crypto_random(void *buf, size_t len)
{
	unsigned char *p = buf;

	while (len > 0) {
		ssize_t n = random_chunk(p, len);
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			return -1;
		p += n;
		len -= (size_t)n;
	}
	return 0;
}

#endif /* WITH_TLS_MBEDTLS */
