/* sasl.h - SASL mechanisms as pure state machines: server challenge in,
 * client response out, no I/O, no clock.  One mechanism per file
 * (sasl_*.c); the IMAP AUTHENTICATE exchange (base64, continuations,
 * SASL-IR) is imap/imap_auth.c, the choice of a mechanism the session's.
 *
 * Ownership: a struct sasl holds copies of nothing; the credentials it
 * points to must outlive it.  sasl_free() wipes the mechanism state.
 * Error messages (sasl->err) never contain secrets. */
#ifndef CIS_SASL_H
#define CIS_SASL_H

#include <stddef.h>
#include <stdint.h>

#include "util/util.h"

struct sasl_creds {
	const char *username;     /* authentication identity */
	const char *authzid;      /* authorization identity, or NULL */
	const char *password;     /* NULL if none */
	const char *token;        /* OAuth 2 bearer token, or NULL */
	const char *host;         /* for OAUTHBEARER host= (may be NULL) */
	unsigned port;            /* for OAUTHBEARER port= (0: omit) */
	unsigned max_iterations;  /* SCRAM cap; 0 = default (1 000 000).  It
	                             bounds the key derivation's time: the
	                             caller checks its deadline around step() */
	/* Channel binding for -PLUS mechanisms (NULL/0 when not TLS). */
	const char *cb_type;      /* "tls-exporter" / "tls-unique" */
	const unsigned char *cb_data;
	size_t cb_len;
	int server_offers_plus;   /* server advertised a -PLUS variant.
	                             SCRAM sends GS2 flag "y" (RFC 5802 s. 6)
	                             only when it could bind (cb_data set) and
	                             the server did NOT advertise -PLUS; a
	                             server that does would fail a "y" as a
	                             downgrade, so then non-PLUS sends "n". */
};

enum sasl_result {
	SASL_FAIL = -1,     /* protocol violation or local error: err set */
	SASL_CONTINUE = 0,  /* send *out and expect another challenge */
	SASL_DONE = 1,      /* send *out (possibly empty); client side complete */
};

struct sasl;

struct sasl_mech {
	const char *name;         /* IMAP name: "PLAIN", "SCRAM-SHA-256" */
	const char *option;       /* --auth value: "plain", "scram-sha-256" */
	unsigned flags;           /* SASL_F_* */
	const struct sasl_mech *twin;  /* the same mechanism with channel
	                             binding (for one without) or without it
	                             (for a -PLUS one); NULL if there is none */
	int strength;             /* auto selection: higher is preferred */
	size_t state_size;        /* bytes of private state */
	/* Produce the first client message.  Returns SASL_CONTINUE with the
	 * initial response in out (used as SASL-IR when the server offers it,
	 * else sent after the first empty challenge), or SASL_CONTINUE with
	 * out empty and *has_initial = 0 for server-first mechanisms
	 * (CRAM-MD5, LOGIN).  start() may be called again until the first
	 * step(): it then returns the same initial response (for a server
	 * without SASL-IR); after a step() it fails. */
	int (*start)(struct sasl *s, struct sbuf *out, int *has_initial);
	/* Answer a decoded challenge.  Both start() and step() reset out
	 * first; on SASL_FAIL out is wiped and empty.  out may hold a secret
	 * (PLAIN, LOGIN): the caller wipes it after sending. */
	int (*step)(struct sasl *s, const unsigned char *in, size_t inlen, struct sbuf *out);
	/* After the server's tagged OK: 1 if the mechanism is satisfied (for
	 * SCRAM: the server signature was verified), 0 if the server claimed
	 * success without proving itself. */
	int (*finished)(struct sasl *s);
	void (*cleanup)(struct sasl *s);
};

#define SASL_F_PASSWORD   0x01  /* needs a password */
#define SASL_F_TOKEN      0x02  /* needs a bearer token */
#define SASL_F_CLIENTCERT 0x04  /* needs a TLS client certificate */
#define SASL_F_PLAINTEXT  0x08  /* sends a secret that grants access on its
                                   own (a password, a bearer token) readable
                                   to anyone on the path: --auth auto and all
                                   use it only over TLS; naming it with
                                   --auth sends it anyway */
#define SASL_F_CB         0x10  /* channel binding (-PLUS) */
#define SASL_F_SERVERERR  0x20  /* server may send an error challenge that
                                   the client must answer (RFC 7628) */
#define SASL_F_AUTHZID    0x40  /* can carry an authorization identity
                                   (--authzid); LOGIN, CRAM-MD5 and XOAUTH2
                                   have no field for one */
#define SASL_F_SCRAM      0x80  /* SCRAM family: when it could bind but does
                                   not, it says so in its GS2 header (RFC
                                   5802 section 6), using the twin's name */
#define SASL_F_DEFERRABLE 0x100 /* done after its initial response (PLAIN,
                                   EXTERNAL): the AUTHENTICATE command may
                                   go out pipelined with later commands */

struct sasl {
	const struct sasl_mech *mech;
	const struct sasl_creds *creds;
	char err[256];          /* after SASL_FAIL, or server error detail */
	int state;              /* mechanism-defined */
	void *priv;             /* state_size bytes, zeroed, wiped on free */
};

/* Every mechanism this build implements, strongest first, NULL-terminated. */
extern const struct sasl_mech *const sasl_mechs[];

/* Look up by --auth option name or IMAP name (case-insensitive). */
const struct sasl_mech *sasl_find(const char *name);

/* Allocate state for mech; NULL on ENOMEM. */
struct sasl *sasl_new(const struct sasl_mech *mech, const struct sasl_creds *creds);
void sasl_free(struct sasl *s);   /* NULL-safe; wipes priv */

/* For tests only: make SCRAM use a fixed client nonce (printable ASCII
 * without ',', 1..64 bytes) instead of 24 random bytes.  Call before
 * start(); returns 0, or -1 if s is not SCRAM or the nonce is invalid. */
int sasl_scram_set_nonce(struct sasl *s, const char *nonce);

/* Helpers shared by the mechanism files (sasl.c); not for session code. */
/* Format a message into s->err (never pass a secret); returns SASL_FAIL. */
int sasl_fail(struct sasl *s, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
/* Wipe and reset a response buffer. */
void sasl_out_wipe(struct sbuf *out);
/* SASL_FAIL (out wiped, err set) if out overflowed, else ok (passed through). */
int sasl_out_check(struct sasl *s, struct sbuf *out, int ok);
/* Append a GS2/SCRAM saslname: ',' -> "=2C", '=' -> "=3D". */
void sasl_put_saslname(struct sbuf *out, const char *name);

/* The individual mechanisms (sasl_*.c). */
extern const struct sasl_mech sasl_plain, sasl_login, sasl_cram_md5,
	sasl_scram_sha1, sasl_scram_sha256, sasl_scram_sha1_plus, sasl_scram_sha256_plus,
	sasl_xoauth2, sasl_oauthbearer, sasl_external;

#endif
