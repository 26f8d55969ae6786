/* crypto_openssl.c - crypto.h on OpenSSL (1.1.1 or 3.x).
 *
 * One-shot hashes use EVP_Digest() and one-shot MACs HMAC(): neither is
 * deprecated in 3.0 and both exist in 1.1.1.  The keyed HMAC used for
 * PBKDF2 keeps one MAC context and re-initialises it per block, which on
 * OpenSSL 3 is about seven times cheaper than HMAC() (that one fetches the
 * algorithm and allocates a context on every call). */
#include "config.h"

#if defined(WITH_TLS_OPENSSL)

#include "sasl/crypto.h"

#include <limits.h>
#include <stdlib.h>

#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <openssl/opensslv.h>
#include <openssl/rand.h>

#if OPENSSL_VERSION_NUMBER >= 0x30000000L
#include <openssl/core_names.h>
#include <openssl/params.h>
#define CIS_OPENSSL3 1
#endif

/* HMAC with an empty key must still be given a non-NULL key pointer:
 * OpenSSL treats NULL as "keep the previous key". */
static const unsigned char empty_key[1];

/* Start the library the cheap way (no openssl.cnf, no atexit cleanup, no
 * error strings), as tls_openssl.c does: whichever module initialises
 * OpenSSL first decides this for the whole process. */
static void lib_init(void)
{
	static int done;
	if (!done) {
		OPENSSL_init_crypto(OPENSSL_INIT_NO_LOAD_CONFIG | OPENSSL_INIT_NO_ATEXIT |
				    OPENSSL_INIT_NO_LOAD_CRYPTO_STRINGS, NULL);
		done = 1;
	}
}

static const EVP_MD *md_of(enum crypto_hash h)
{
	lib_init();
	switch (h) {
	case CRYPTO_MD5:
		return EVP_md5();
	case CRYPTO_SHA1:
		return EVP_sha1();
	case CRYPTO_SHA256:
		return EVP_sha256();
	}
	return NULL;
}

int crypto_hash(enum crypto_hash h, const void *data, size_t len, unsigned char *out)
{
	const EVP_MD *md = md_of(h);
	unsigned int outlen = 0;

	if (!md)
		return -1;
	if (!data)
		data = empty_key;
	if (EVP_Digest(data, len, out, &outlen, md, NULL) != 1)
		return -1;
	return outlen == crypto_hash_len(h) ? 0 : -1;
}

int crypto_hmac(enum crypto_hash h, const void *key, size_t keylen,
		const void *data, size_t len, unsigned char *out)
{
	const EVP_MD *md = md_of(h);
	unsigned int outlen = 0;

	if (!md || keylen > INT_MAX)
		return -1;
	if (!key || !keylen)
		key = empty_key;
	if (!data)
		data = empty_key;
	if (!HMAC(md, key, (int)keylen, data, len, out, &outlen))
		return -1;
	return outlen == crypto_hash_len(h) ? 0 : -1;
}

#if defined(CIS_OPENSSL3)

struct crypto_hmac_key {
	EVP_MAC_CTX *ctx;
	size_t len;
};

static const char *digest_name(enum crypto_hash h)
{
	lib_init();
	switch (h) {
	case CRYPTO_MD5:
		return "MD5";
	case CRYPTO_SHA1:
		return "SHA1";
	case CRYPTO_SHA256:
		return "SHA256";
	}
	return NULL;
}

struct crypto_hmac_key *crypto_hmac_key_new(enum crypto_hash h, const void *key, size_t keylen)
{
	const char *name = digest_name(h);
	struct crypto_hmac_key *k;
	EVP_MAC *mac;
	OSSL_PARAM params[2];

	if (!name)
		return NULL;
	k = calloc(1, sizeof(*k));
	if (!k)
		return NULL;
	k->len = crypto_hash_len(h);
	mac = EVP_MAC_fetch(NULL, "HMAC", NULL);
	if (mac) {
		k->ctx = EVP_MAC_CTX_new(mac);   /* holds its own reference */
		EVP_MAC_free(mac);
	}
	params[0] = OSSL_PARAM_construct_utf8_string(OSSL_MAC_PARAM_DIGEST, (char *)name, 0);
	params[1] = OSSL_PARAM_construct_end();
	if (!k->ctx || EVP_MAC_init(k->ctx, keylen ? key : empty_key, keylen, params) != 1) {
		crypto_hmac_key_free(k);
		return NULL;
	}
	return k;
}

int crypto_hmac_key_mac(struct crypto_hmac_key *k, const void *data, size_t len,
			unsigned char *out)
{
	size_t outlen = 0;

	/* A NULL key re-initialises the context with the key already set. */
	if (EVP_MAC_init(k->ctx, NULL, 0, NULL) != 1)
		return -1;
	if (EVP_MAC_update(k->ctx, data ? data : empty_key, len) != 1)
		return -1;
	if (EVP_MAC_final(k->ctx, out, &outlen, k->len) != 1)
		return -1;
	return outlen == k->len ? 0 : -1;
}

void crypto_hmac_key_free(struct crypto_hmac_key *k)
{
	if (!k)
		return;
	EVP_MAC_CTX_free(k->ctx);       /* cleanses the key schedule */
	free(k);
}

#else /* OpenSSL 1.1.1: HMAC_CTX is the current API there */

struct crypto_hmac_key {
	HMAC_CTX *ctx;
	size_t len;
};

struct crypto_hmac_key *crypto_hmac_key_new(enum crypto_hash h, const void *key, size_t keylen)
{
	const EVP_MD *md = md_of(h);
	struct crypto_hmac_key *k;

	if (!md || keylen > INT_MAX)
		return NULL;
	k = calloc(1, sizeof(*k));
	if (!k)
		return NULL;
	k->len = crypto_hash_len(h);
	k->ctx = HMAC_CTX_new();
	if (!k->ctx || HMAC_Init_ex(k->ctx, keylen ? key : empty_key, (int)keylen, md, NULL) != 1) {
		crypto_hmac_key_free(k);
		return NULL;
	}
	return k;
}

int crypto_hmac_key_mac(struct crypto_hmac_key *k, const void *data, size_t len,
			unsigned char *out)
{
	unsigned int outlen = 0;

	if (HMAC_Init_ex(k->ctx, NULL, 0, NULL, NULL) != 1)
		return -1;
	if (HMAC_Update(k->ctx, data ? data : empty_key, len) != 1)
		return -1;
	if (HMAC_Final(k->ctx, out, &outlen) != 1)
		return -1;
	return outlen == k->len ? 0 : -1;
}

void crypto_hmac_key_free(struct crypto_hmac_key *k)
{
	if (!k)
		return;
	HMAC_CTX_free(k->ctx);
	free(k);
}

#endif /* CIS_OPENSSL3 */

int crypto_random(void *buf, size_t len)
{
	lib_init();
	unsigned char *p = buf;

	while (len > 0) {
		int n = len > INT_MAX ? INT_MAX : (int)len;
		if (RAND_bytes(p, n) != 1)
			return -1;
		p += n;
		len -= (size_t)n;
	}
	return 0;
}

#endif /* WITH_TLS_OPENSSL */
