/* mbedtls_compat.h - let tls_mbedtls.c code against the mbed TLS 3.x API
 * (3.2 or later) and still build on 2.28 LTS (Debian 12), instead of
 * scattering version #ifs through the backend.
 *
 * Two kinds of shims:
 *  - 3.x names missing from 2.28 (mbedtls_ssl_get_version_number,
 *    mbedtls_ssl_conf_min_tls_version, MBEDTLS_PRIVATE, ...) are defined
 *    here with the 3.x signature;
 *  - functions whose signature changed between the two (pk parsing takes
 *    an RNG in 3.x) or that neither version offers directly (tls-unique,
 *    the last alert received) get a small cis_ wrapper.
 * Only included by tls_mbedtls.c. */
#ifndef CIS_MBEDTLS_COMPAT_H
#define CIS_MBEDTLS_COMPAT_H

#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <mbedtls/version.h>
#include <mbedtls/pk.h>
#include <mbedtls/ssl.h>
#include <mbedtls/x509_crt.h>

#if MBEDTLS_VERSION_NUMBER >= 0x03000000 && MBEDTLS_VERSION_NUMBER < 0x03020000
#error "mbed TLS 3.0/3.1 are not supported: use 2.28 LTS or 3.2 and later"
#endif

#if MBEDTLS_VERSION_NUMBER >= 0x03000000 && defined(MBEDTLS_PSA_CRYPTO_C)
#include <psa/crypto.h>
#endif

/* ------------------------------------------------------------ 2.28 backfill */
#if MBEDTLS_VERSION_NUMBER < 0x03000000

/* 3.x hides struct members behind MBEDTLS_PRIVATE(); 2.28 has them public. */
#ifndef MBEDTLS_PRIVATE
#define MBEDTLS_PRIVATE(member) member
#endif

typedef enum {
	MBEDTLS_SSL_VERSION_UNKNOWN,
	MBEDTLS_SSL_VERSION_TLS1_2 = 0x0303,
	MBEDTLS_SSL_VERSION_TLS1_3 = 0x0304,
} mbedtls_ssl_protocol_version;

static inline mbedtls_ssl_protocol_version
mbedtls_ssl_get_version_number(const mbedtls_ssl_context *ssl)
{
	return (mbedtls_ssl_protocol_version)((ssl->major_ver << 8) | ssl->minor_ver);
}

static inline void mbedtls_ssl_conf_min_tls_version(mbedtls_ssl_config *conf,
						    mbedtls_ssl_protocol_version v)
{
	mbedtls_ssl_conf_min_version(conf, (int)v >> 8, (int)v & 0xff);
}

static inline void mbedtls_ssl_conf_max_tls_version(mbedtls_ssl_config *conf,
						    mbedtls_ssl_protocol_version v)
{
	mbedtls_ssl_conf_max_version(conf, (int)v >> 8, (int)v & 0xff);
}

#endif /* < 3.0 */

/* ------------------------------------------------------------ cis_ wrappers */

/* Once per process, before any other call (3.x needs PSA for TLS 1.3).
 * Returns 0 or an mbedTLS/PSA error code. */
static inline int cis_mbedtls_lib_init(void)
{
#if MBEDTLS_VERSION_NUMBER >= 0x03000000 && defined(MBEDTLS_PSA_CRYPTO_C)
	return psa_crypto_init() == PSA_SUCCESS ? 0 : -1;
#else
	return 0;
#endif
}

/* Parse an unencrypted PEM/DER private key file (3.x wants an RNG for
 * blinding the consistency checks). */
static inline int cis_pk_parse_keyfile(mbedtls_pk_context *pk, const char *path,
				       int (*f_rng)(void *, unsigned char *, size_t), void *p_rng)
{
#if MBEDTLS_VERSION_NUMBER >= 0x03000000
	return mbedtls_pk_parse_keyfile(pk, path, NULL, f_rng, p_rng);
#else
	(void)f_rng;
	(void)p_rng;
	return mbedtls_pk_parse_keyfile(pk, path, NULL);
#endif
}

/* 0 if the private key prv belongs to the public key pub. */
static inline int cis_pk_check_pair(const mbedtls_pk_context *pub, const mbedtls_pk_context *prv,
				    int (*f_rng)(void *, unsigned char *, size_t), void *p_rng)
{
#if MBEDTLS_VERSION_NUMBER >= 0x03000000
	return mbedtls_pk_check_pair(pub, prv, f_rng, p_rng);
#else
	(void)f_rng;
	(void)p_rng;
	return mbedtls_pk_check_pair(pub, prv);
#endif
}

/* Offer x25519, secp256r1, secp384r1 in that order.  Debian's 2.28
 * default list starts with secp521r1, and servers follow the client's
 * order: that makes the handshake cost 2.5 times as much. */
static inline void cis_conf_preferred_groups(mbedtls_ssl_config *conf)
{
#if MBEDTLS_VERSION_NUMBER >= 0x03000000
	static const uint16_t groups[] = {
		MBEDTLS_SSL_IANA_TLS_GROUP_X25519,
		MBEDTLS_SSL_IANA_TLS_GROUP_SECP256R1,
		MBEDTLS_SSL_IANA_TLS_GROUP_SECP384R1,
		MBEDTLS_SSL_IANA_TLS_GROUP_NONE,
	};
	mbedtls_ssl_conf_groups(conf, groups);
#else
	static const mbedtls_ecp_group_id curves[] = {
#if defined(MBEDTLS_ECP_DP_CURVE25519_ENABLED)
		MBEDTLS_ECP_DP_CURVE25519,
#endif
		MBEDTLS_ECP_DP_SECP256R1,
		MBEDTLS_ECP_DP_SECP384R1,
		MBEDTLS_ECP_DP_NONE,
	};
	mbedtls_ssl_conf_curves(conf, curves);
#endif
}

/* tls-unique (RFC 5929) of a TLS 1.2 connection on which no session was
 * resumed: the verify_data of the client's Finished message.  mbed TLS
 * keeps it for secure renegotiation (RFC 5746) when built with
 * MBEDTLS_SSL_RENEGOTIATION (Debian's build is).  Returns the length
 * copied (12) or 0 when unavailable. */
static inline size_t cis_ssl_tls_unique(const mbedtls_ssl_context *ssl, unsigned char *out, size_t outlen)
{
#if defined(MBEDTLS_SSL_RENEGOTIATION)
	size_t n = ssl->MBEDTLS_PRIVATE(verify_data_len);
	if (n == 0 || n > outlen || n > sizeof(ssl->MBEDTLS_PRIVATE(own_verify_data)))
		return 0;
	memcpy(out, ssl->MBEDTLS_PRIVATE(own_verify_data), n);
	return n;
#else
	(void)ssl;
	(void)out;
	(void)outlen;
	return 0;
#endif
}

/* The description byte of the fatal alert that made a call fail with
 * MBEDTLS_ERR_SSL_FATAL_ALERT_MESSAGE, or -1 if not known.  Neither 2.28
 * nor 3.x has an accessor; the record is still in the input buffer. */
static inline int cis_ssl_last_alert(const mbedtls_ssl_context *ssl)
{
	if (ssl->MBEDTLS_PRIVATE(in_msgtype) != MBEDTLS_SSL_MSG_ALERT ||
	    ssl->MBEDTLS_PRIVATE(in_msglen) < 2 || !ssl->MBEDTLS_PRIVATE(in_msg))
		return -1;
	return ssl->MBEDTLS_PRIVATE(in_msg)[1];
}

#endif
