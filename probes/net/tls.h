/* tls.h - the one TLS interface: the driver tls.c over exactly one
 * library backend (tls_backend.h: tls_openssl.c or tls_mbedtls.c).
 * Nothing outside the backend files names an OpenSSL or mbedTLS type or
 * error code: library errors are mapped at the boundary onto enum
 * tr_status (transport.h) / enum tls_err plus a readable message.
 *
 * A TLS session is a struct transport (transport.h) layered over a
 * connected non-blocking socket: tls_start() takes over the fd of the
 * plain transport (which is then freed without closing the fd).
 * Error strings: every function that fails writes a message into the
 * caller's err buffer; messages never contain secrets. */
#ifndef CIS_TLS_H
#define CIS_TLS_H

#include <stddef.h>
#include <stdint.h>
#include <time.h>

#include "net/transport.h"

enum tls_err {
	TLS_OK = 0,
	TLS_ERR_TIMEOUT,     /* deadline hit during the handshake */
	TLS_ERR_EOF,         /* peer closed during the handshake */
	TLS_ERR_VERIFY,      /* chain or host name verification failed */
	TLS_ERR_HANDSHAKE,   /* protocol failure (alert, not TLS, no shared cipher...) */
	TLS_ERR_CONFIG,      /* bad local configuration (CA file, client cert/key) -> UNKNOWN */
	TLS_ERR_INTERNAL,
};

struct tls_options {
	const char *sni;          /* server name to send; NULL: none */
	const char *verify_name;  /* host name or IP literal to check the
	                             certificate against; NULL: none */
	const char *cafile;       /* NULL: default store */
	const char *capath;       /* NULL: default store */
	int insecure;             /* skip chain + name verification */
	const char *client_cert;  /* PEM files, or NULL */
	const char *client_key;
	int min_version;          /* 0 (library default, at least 1.2), 12, 13 */
};

struct tls_info {
	char version[16];         /* "TLSv1.3" */
	char cipher[64];          /* "TLS_AES_256_GCM_SHA384" */
	int has_cert;
	time_t not_before;        /* UTC */
	time_t not_after;         /* UTC */
	char subject[256];        /* one-line subject, e.g. "CN=imap.example.org" */
	char issuer[256];
	int verified;             /* chain + name verified (0 with insecure) */
};

/* Names for --version and the configure summary. */
const char *tls_backend_name(void);     /* "openssl" / "mbedtls" */
const char *tls_backend_version(void);  /* "OpenSSL 3.0.11 19 Sep 2023" */

/* Perform a client handshake over plain->fd before deadline_ns.  On
 * success *out is the TLS transport (plain has been consumed: its fd now
 * belongs to *out, plain itself is freed) and info is filled.  On failure
 * returns an enum tls_err, err is filled, plain is left untouched (the
 * caller closes it) and *out is NULL.  info is filled as far as known
 * (a certificate that failed verification is still described). */
int tls_start(struct transport *plain, const struct tls_options *opt, int64_t deadline_ns,
	      struct transport **out, struct tls_info *info, char *err, size_t errlen);

/* Channel binding data (RFC 5929 / RFC 9266): type "tls-unique" (TLS 1.2)
 * or "tls-exporter" (TLS 1.3).  Returns 0 and fills out and *outlen, or -1 when
 * the binding type is unavailable on this connection/backend (err says
 * why).  t must be a transport returned by tls_start(). */
int tls_channel_binding(struct transport *t, const char *type, unsigned char *out,
			size_t *outlen, char *err, size_t errlen);

#endif
