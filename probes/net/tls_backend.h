/* tls_backend.h - the contract between the backend-neutral TLS driver
 * (tls.c) and the one library backend compiled in (tls_openssl.c or
 * tls_mbedtls.c), in the manner of curl's vtls.
 *
 * The driver owns the socket and its recording, the transport (tls.h,
 * transport.h), the handshake loop, the deadline and every message a user
 * reads.  A backend only calls its library: it maps each library result
 * onto enum tls_io at the boundary and puts the library's own words (an
 * alert, a reason) into the message buffer it is given.  Nothing outside
 * the backend files names an OpenSSL or mbedTLS type or error code.
 *
 * Exactly one backend is linked: its functions (tls_be_*) are plain
 * functions, not a table. */
#ifndef CIS_TLS_BACKEND_H
#define CIS_TLS_BACKEND_H

#include <stddef.h>
#include <stdint.h>

#include "net/tls.h"

/* A backend's result for one handshake step, read or write. */
enum tls_io {
	TLS_IO_OK = 0,          /* handshake complete (reads and writes return bytes > 0) */
	TLS_IO_WANT_READ = -1,  /* retry when the socket is readable */
	TLS_IO_WANT_WRITE = -2, /* retry when the socket is writable */
	TLS_IO_CLOSED = -3,     /* the peer sent close_notify */
	TLS_IO_EOF = -4,        /* the stream ended without close_notify */
	TLS_IO_SYSERR = -5,     /* a socket error: errno in tls_sock.sys_errno */
	TLS_IO_ERROR = -6,      /* a TLS failure: the library's words in msg */
};

/* The raw socket under one TLS connection.  The backend's I/O callbacks
 * (an OpenSSL BIO, mbedTLS send/recv callbacks) go through
 * tls_sock_send/recv, which record what the driver's failure messages
 * need: the end of the stream, errno, the first bytes the peer sent. */
struct tls_sock {
	int fd;                   /* connected, non-blocking */
	int eof;                  /* recv() returned 0 */
	int sys_errno;            /* last hard socket error, 0 if none */
	uint64_t raw_in;          /* bytes received from the socket */
	unsigned char first[32];  /* the first bytes the peer sent */
	size_t nfirst;
	struct rt_counter *rt;    /* the session's round trips (transport.h) */
};

/* One recv()/send() on the socket (transport_sock_recv/send: round trips
 * counted, TCP_QUICKACK re-armed).  Return bytes moved (> 0), 0 at the end
 * of the stream (recv), TLS_IO_WANT_READ / TLS_IO_WANT_WRITE when the
 * socket is not ready, or TLS_IO_SYSERR (sys_errno set). */
int tls_sock_recv(struct tls_sock *s, unsigned char *buf, size_t len);
int tls_sock_send(struct tls_sock *s, const unsigned char *buf, size_t len);

/* ---- helpers for backends (tls.c) */

/* Copy at most srclen bytes as printable ASCII ('?' for anything else),
 * stopping at CR/LF.  dst is always NUL-terminated. */
void tls_printable(char *dst, size_t dstlen, const unsigned char *src, size_t srclen);

/* An IPv4/IPv6 literal (an IPv6 zone "%eth0" is ignored) to binary:
 * returns the address length (4 or 16), or 0 for a host name. */
size_t tls_ip_parse(const char *name, unsigned char bin[16]);

/* "hhhhhhhh.N": an OpenSSL hash link name (c_rehash / openssl rehash). */
int tls_is_hash_name(const char *name);

/* The options a backend's process-wide context (trust store, client
 * certificate) is built from, to reuse it while they stay the same. */
struct tls_ctx_key {
	char *cafile, *capath, *client_cert, *client_key;
	int insecure, min_version;
};
int tls_ctx_key_matches(const struct tls_ctx_key *k, const struct tls_options *opt);
void tls_ctx_key_set(struct tls_ctx_key *k, const struct tls_options *opt); /* copies */
void tls_ctx_key_clear(struct tls_ctx_key *k);

/* "imap.example.org, 192.0.2.1, ...": the names a certificate is valid
 * for, at most four, for a name mismatch message.  The backend adds the
 * subjectAltName entries in order, then, if there were none, the CN. */
struct tls_names {
	char *buf;
	size_t len;
	int count;
};
void tls_names_init(struct tls_names *n, char *buf, size_t len);
void tls_names_add(struct tls_names *n, const unsigned char *name, size_t len);
void tls_names_add_ip(struct tls_names *n, const unsigned char *addr, size_t len); /* 4 or 16 bytes */
void tls_names_end(struct tls_names *n); /* "no names" when none was added */

/* The messages of a failed verification. */
void tls_msg_chain(char *err, size_t errlen, const char *why);
void tls_msg_mismatch(char *err, size_t errlen, int ip, const char *names);

/* ---- what each backend implements */

struct tls_be; /* one connection of the backend's library */

/* Set up a client connection over sock for opt: library start-up, the
 * process's cached context, protocol floor, SNI, verification.  The
 * backend may fill info's certificate fields during the handshake.
 * Returns TLS_OK with *out set, or an enum tls_err with err filled
 * (nothing to free). */
int tls_be_new(struct tls_be **out, struct tls_sock *sock, const struct tls_options *opt,
	       struct tls_info *info, char *err, size_t errlen);

/* One step of the client handshake: TLS_IO_OK when it is complete, a
 * TLS_IO_WANT_*, or how it failed (TLS_IO_ERROR: the reason in msg,
 * with a hint when min_version 13 was refused). */
int tls_be_handshake(struct tls_be *b, char *msg, size_t msglen);

/* After the handshake: 1 if the chain or name verification failed (the
 * message in err when err is not NULL), else 0. */
int tls_be_verify_failed(struct tls_be *b, char *err, size_t errlen);

/* After the handshake: fill info with the peer certificate when one was
 * received, and with version and cipher when established. */
void tls_be_describe(struct tls_be *b, int established, struct tls_info *info);

/* Application data: bytes (> 0) or an enum tls_io (reason in msg). */
int tls_be_read(struct tls_be *b, void *buf, size_t len, char *msg, size_t msglen);
int tls_be_write(struct tls_be *b, const void *buf, size_t len, char *msg, size_t msglen);

/* Decrypted bytes a read returns without touching the socket. */
size_t tls_be_pending(struct tls_be *b);

/* Send close_notify if asked (one non-blocking attempt), then free all but
 * the socket.  NULL-safe. */
void tls_be_free(struct tls_be *b, int close_notify);

/* The negotiated version: 12 (TLS 1.2) or 13 (TLS 1.3). */
int tls_be_version(struct tls_be *b);

/* Channel binding material: RFC 5929 tls-unique (the first Finished
 * message; *outlen in: room, out: length) and RFC 5705 keying material
 * (len bytes for label, no context).  0, or -1 with err filled. */
int tls_be_tls_unique(struct tls_be *b, unsigned char *out, size_t *outlen, char *err, size_t errlen);
int tls_be_exporter(struct tls_be *b, const char *label, unsigned char *out, size_t len,
		    char *err, size_t errlen);

#endif
