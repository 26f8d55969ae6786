/* crypto.h - hashes, HMAC, PBKDF2 and random bytes from the same library
 * as the TLS backend (crypto_openssl.c or crypto_mbedtls.c; exactly one is
 * compiled in).  Nothing outside those files names a library type.
 * All functions return 0 on success and -1 on failure. */
#ifndef CIS_CRYPTO_H
#define CIS_CRYPTO_H

#include <stddef.h>
#include <stdint.h>

enum crypto_hash {
	CRYPTO_MD5,
	CRYPTO_SHA1,
	CRYPTO_SHA256,
};

#define CRYPTO_MAX_HASH 32

/* Digest length in bytes (16, 20, 32); the same for every backend. */
static inline size_t crypto_hash_len(enum crypto_hash h)
{
	switch (h) {
	case CRYPTO_MD5:
		return 16;
	case CRYPTO_SHA1:
		return 20;
	case CRYPTO_SHA256:
		return 32;
	}
	return 0;
}

int crypto_hash(enum crypto_hash h, const void *data, size_t len, unsigned char *out);

int crypto_hmac(enum crypto_hash h, const void *key, size_t keylen,
		const void *data, size_t len, unsigned char *out);

/* A keyed HMAC for computing many MACs under one key (PBKDF2 / SCRAM Hi):
 * the key schedule is done once, so each MAC costs two compression rounds
 * instead of a library lookup and a context allocation.  The key material
 * is wiped by crypto_hmac_key_free(). */
struct crypto_hmac_key;

/* NULL on failure (ENOMEM, or the hash is not available in this build). */
struct crypto_hmac_key *crypto_hmac_key_new(enum crypto_hash h, const void *key, size_t keylen);

/* HMAC of data under the key into out (crypto_hash_len(h) bytes); data and
 * out may be the same buffer.  The key stays usable for the next call. */
int crypto_hmac_key_mac(struct crypto_hmac_key *k, const void *data, size_t len,
			unsigned char *out);

void crypto_hmac_key_free(struct crypto_hmac_key *k); /* NULL-safe */

/* Cryptographically secure random bytes (library DRBG or getrandom). */
int crypto_random(void *buf, size_t len);

/* Constant-time comparison: 1 if equal, 0 if not (generic: inline here, so
 * both backends share it). */
static inline int crypto_memeq(const void *a, const void *b, size_t n)
{
	const volatile unsigned char *x = a, *y = b;
	unsigned char d = 0;
	for (size_t i = 0; i < n; i++)
		d |= (unsigned char)(x[i] ^ y[i]);
	return d == 0;
}

#endif
