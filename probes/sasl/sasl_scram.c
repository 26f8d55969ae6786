/* sasl_scram.c - SCRAM-SHA-1 and SCRAM-SHA-256 (RFC 5802, RFC 7677) and
 * their -PLUS channel-binding variants.
 *
 * States: INIT -> FIRST_SENT (client-first) -> FINAL_SENT (client-final,
 * proof) -> VERIFIED (server signature checked).  Server messages are
 * parsed strictly: the nonce must extend ours (checked in constant time),
 * the salt must be valid base64, the iteration count a positive number no
 * larger than the cap, and anything that does not follow the grammar is
 * rejected.  The key derivation (Hi = PBKDF2) reads no clock: the
 * iteration cap bounds its time, and the caller checks its deadline
 * around step().
 *
 * Not done: SASLprep of the user name and password (they are sent as the
 * UTF-8 bytes given; identical for ASCII). */
#include "config.h"
#include "sasl/sasl.h"
#include "util/base64.h"
#include "sasl/crypto.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

enum { SCRAM_INIT, SCRAM_FIRST_SENT, SCRAM_FINAL_SENT, SCRAM_VERIFIED, SCRAM_FAILED };

#define SCRAM_NONCE_BYTES      24      /* random bytes; 32 base64 chars */
#define SCRAM_MAX_NONCE        64      /* client nonce characters */
#define SCRAM_MAX_CLIENT_FIRST 1024    /* gs2 header + client-first-message-bare */
#define SCRAM_MAX_SERVER_MSG   2048    /* server-first / server-final */
#define SCRAM_MAX_CB           256     /* channel binding data bytes */
#define SCRAM_DEFAULT_MAX_ITER 1000000u
#define B64_LEN(n)             (((n) + 2) / 3 * 4 + 1)

struct scram {
	char cnonce[SCRAM_MAX_NONCE + 1];
	size_t cnonce_len;
	char cfm[SCRAM_MAX_CLIENT_FIRST];  /* gs2 header, then client-first-bare */
	size_t cfm_len;
	size_t gs2_len;
	unsigned char server_sig[CRYPTO_MAX_HASH];
};

/* Derived keys, wiped as soon as the client-final message is built. */
struct scram_keys {
	unsigned char client_key[CRYPTO_MAX_HASH];
	unsigned char stored_key[CRYPTO_MAX_HASH];
	unsigned char server_key[CRYPTO_MAX_HASH];
};

/* What the server-first message told us. */
struct server_first {
	const char *nonce;              /* points into the message */
	size_t nonce_len;
	unsigned char salt[SCRAM_MAX_SERVER_MSG];
	size_t salt_len;
	uint32_t iter;
};

/* ------------------------------------------------------------ helpers */

static int is_scram(const struct sasl_mech *m)
{
	return m == &sasl_scram_sha1 || m == &sasl_scram_sha256 ||
	       m == &sasl_scram_sha1_plus || m == &sasl_scram_sha256_plus;
}

static enum crypto_hash scram_hash(const struct sasl *s)
{
	if (s->mech == &sasl_scram_sha1 || s->mech == &sasl_scram_sha1_plus)
		return CRYPTO_SHA1;
	return CRYPTO_SHA256;
}

static int is_plus(const struct sasl *s)
{
	return (s->mech->flags & SASL_F_CB) != 0;
}

static int is_alpha(int c)
{
	return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z');
}

/* printable = %x21-2B / %x2D-7E (no ','). */
static int printable_ok(const char *p, size_t n)
{
	for (size_t i = 0; i < n; i++)
		if (p[i] < 0x21 || p[i] > 0x7e || p[i] == ',')
			return 0;
	return 1;
}

/* cb-name = 1*(ALPHA / DIGIT / "." / "-") */
static int cb_name_ok(const char *t)
{
	if (!*t)
		return 0;
	for (; *t; t++)
		if (!is_alpha(*t) && !(*t >= '0' && *t <= '9') && *t != '.' && *t != '-')
			return 0;
	return 1;
}

static int can_bind(const struct sasl_creds *c)
{
	return c->cb_type && c->cb_data && c->cb_len > 0;
}

/* One "x=value" attribute of a server message. */
struct attr {
	char name;
	const char *val;
	size_t len;
};

struct attr_iter {
	const char *p, *end;
};

/* Returns 1 with the next attribute (ALPHA "=" 1*value-char, ',' between
 * attributes), 0 at the end, -1 when the text does not follow the grammar
 * (empty value, missing '=', trailing ','). */
static int next_attr(struct attr_iter *it, struct attr *a)
{
	const char *p = it->p, *comma;

	if (p == it->end)
		return 0;
	if (it->end - p < 3 || !is_alpha(p[0]) || p[1] != '=')
		return -1;
	comma = memchr(p + 2, ',', (size_t)(it->end - (p + 2)));
	a->name = p[0];
	a->val = p + 2;
	a->len = (size_t)((comma ? comma : it->end) - a->val);
	if (a->len == 0)
		return -1;
	if (comma && comma + 1 == it->end)
		return -1;
	it->p = comma ? comma + 1 : it->end;
	return 1;
}

/* The rest of a message must be optional extensions (ignored). */
static int only_extensions(struct attr_iter *it)
{
	struct attr a;
	int r;

	while ((r = next_attr(it, &a)) == 1)
		;
	return r;
}

static int server_error(struct sasl *s, const struct attr *a)
{
	char text[160];

	sanitize_text(text, sizeof(text), a->val, a->len);
	return sasl_fail(s, "server error: %s", text);
}

static int check_message(struct sasl *s, const unsigned char *in, size_t inlen, const char *what)
{
	if (inlen > SCRAM_MAX_SERVER_MSG)
		return sasl_fail(s, "%s too long (%zu bytes)", what, inlen);
	if (inlen == 0 || memchr(in, '\0', inlen))
		return sasl_fail(s, "malformed %s", what);
	return 0;
}

/* ------------------------------------------------------------ client-first */

int sasl_scram_set_nonce(struct sasl *s, const char *nonce)
{
	size_t n;
	struct scram *p;

	if (!s || !nonce || !is_scram(s->mech) || s->state != SCRAM_INIT)
		return -1;
	n = strlen(nonce);
	if (n == 0 || n > SCRAM_MAX_NONCE || !printable_ok(nonce, n))
		return -1;
	p = s->priv;
	memcpy(p->cnonce, nonce, n + 1);
	p->cnonce_len = n;
	return 0;
}

static int scram_make_nonce(struct scram *p)
{
	unsigned char raw[SCRAM_NONCE_BYTES];

	if (p->cnonce_len)
		return 0;       /* fixed by a test */
	if (crypto_random(raw, sizeof(raw)) != 0)
		return -1;
	/* 24 bytes encode to 32 characters without '=' padding or ','. */
	p->cnonce_len = base64_encode(raw, sizeof(raw), p->cnonce);
	secure_zero(raw, sizeof(raw));
	return 0;
}

/* gs2-header = gs2-cbind-flag "," [ "a=" saslname ] "," */
static int scram_gs2_header(struct sasl *s, struct sbuf *b)
{
	const struct sasl_creds *c = s->creds;

	if (is_plus(s)) {
		if (!can_bind(c))
			return sasl_fail(s, "%s needs channel binding data (TLS)", s->mech->name);
		if (!cb_name_ok(c->cb_type))
			return sasl_fail(s, "invalid channel binding type");
		if (c->cb_len > SCRAM_MAX_CB)
			return sasl_fail(s, "channel binding data too long (%zu bytes)", c->cb_len);
		sb_printf(b, "p=%s,", c->cb_type);
	} else if (can_bind(c) && !c->server_offers_plus) {
		/* We could bind but the server did not offer -PLUS: say so,
		 * so that a server that does support it detects a downgrade. */
		sb_puts(b, "y,");
	} else {
		sb_puts(b, "n,");
	}
	if (c->authzid && *c->authzid) {
		sb_puts(b, "a=");
		sasl_put_saslname(b, c->authzid);
	}
	sb_putc(b, ',');
	return 0;
}

static int scram_start(struct sasl *s, struct sbuf *out, int *has_initial)
{
	const struct sasl_creds *c = s->creds;
	struct scram *p = s->priv;
	struct sbuf b;

	sb_reset(out);
	*has_initial = 1;
	if (s->state == SCRAM_FIRST_SENT) {     /* asked again: same message */
		sb_append(out, p->cfm, p->cfm_len);
		return sasl_out_check(s, out, SASL_CONTINUE);
	}
	if (s->state != SCRAM_INIT)
		return sasl_fail(s, "exchange already started");
	if (!c->username || !*c->username)
		return sasl_fail(s, "%s needs a username", s->mech->name);
	if (!c->password)
		return sasl_fail(s, "%s needs a password", s->mech->name);
	if (scram_make_nonce(p) != 0)
		return sasl_fail(s, "no random bytes for the client nonce");

	sb_init(&b, p->cfm, sizeof(p->cfm));
	if (scram_gs2_header(s, &b) != 0)
		return SASL_FAIL;
	p->gs2_len = b.len;
	sb_puts(&b, "n=");
	sasl_put_saslname(&b, c->username);
	sb_puts(&b, ",r=");
	sb_append(&b, p->cnonce, p->cnonce_len);
	if (b.truncated)
		return sasl_fail(s, "user name or authorization identity too long");
	p->cfm_len = b.len;

	sb_append(out, p->cfm, p->cfm_len);
	s->state = SCRAM_FIRST_SENT;
	return sasl_out_check(s, out, SASL_CONTINUE);
}

/* ------------------------------------------------------------ server-first */

/* posit-number = %x31-39 *DIGIT, as a uint32_t. */
static int parse_iterations(struct sasl *s, const struct attr *a, uint32_t *iter)
{
	uint64_t v = 0;

	if (a->val[0] < '1' || a->val[0] > '9')
		return sasl_fail(s, "iteration count is not a positive number");
	for (size_t i = 0; i < a->len; i++) {
		if (a->val[i] < '0' || a->val[i] > '9')
			return sasl_fail(s, "iteration count is not a positive number");
		v = v * 10 + (uint64_t)(a->val[i] - '0');
		if (v > UINT32_MAX)
			return sasl_fail(s, "iteration count out of range");
	}
	*iter = (uint32_t)v;
	return 0;
}

static int parse_nonce(struct sasl *s, const struct attr *a, struct server_first *sf)
{
	const struct scram *p = s->priv;

	if (!printable_ok(a->val, a->len))
		return sasl_fail(s, "malformed server nonce");
	if (a->len <= p->cnonce_len || !crypto_memeq(a->val, p->cnonce, p->cnonce_len))
		return sasl_fail(s, "server nonce does not extend the client nonce");
	sf->nonce = a->val;
	sf->nonce_len = a->len;
	return 0;
}

static int parse_salt(struct sasl *s, const struct attr *a, struct server_first *sf)
{
	long n = base64_decode(a->val, a->len, sf->salt, sizeof(sf->salt));

	if (n <= 0)
		return sasl_fail(s, "server salt is not valid base64");
	sf->salt_len = (size_t)n;
	return 0;
}

/* server-first-message = [reserved-mext ","] nonce "," salt ","
 *                        iteration-count ["," extensions] */
static int parse_server_first(struct sasl *s, const char *msg, size_t len, struct server_first *sf)
{
	const struct sasl_creds *c = s->creds;
	unsigned cap = c->max_iterations ? c->max_iterations : SCRAM_DEFAULT_MAX_ITER;
	struct attr_iter it = { msg, msg + len };
	struct attr a;
	int r = next_attr(&it, &a);

	if (r == 1 && a.name == 'e')
		return server_error(s, &a);
	if (r == 1 && a.name == 'm')
		return sasl_fail(s, "server requires an unsupported SCRAM extension (m=)");
	if (r != 1 || a.name != 'r')
		return sasl_fail(s, "malformed server-first-message (expected r=)");
	if (parse_nonce(s, &a, sf) != 0)
		return -1;
	if (next_attr(&it, &a) != 1 || a.name != 's')
		return sasl_fail(s, "malformed server-first-message (expected s=)");
	if (parse_salt(s, &a, sf) != 0)
		return -1;
	if (next_attr(&it, &a) != 1 || a.name != 'i')
		return sasl_fail(s, "malformed server-first-message (expected i=)");
	if (parse_iterations(s, &a, &sf->iter) != 0)
		return -1;
	if (only_extensions(&it) != 0)
		return sasl_fail(s, "malformed server-first-message (trailing data)");
	if (sf->iter > cap)
		return sasl_fail(s, "iteration count %u exceeds the limit %u", (unsigned)sf->iter, cap);
	return 0;
}

/* ------------------------------------------------------------ keys */

/* Hi(password, salt, i) = PBKDF2-HMAC with one output block. */
static int scram_hi(struct sasl *s, const struct server_first *sf, unsigned char *out)
{
	enum crypto_hash h = scram_hash(s);
	size_t hl = crypto_hash_len(h);
	const char *pw = s->creds->password;
	unsigned char block[sizeof(sf->salt) + 4];
	unsigned char u[CRYPTO_MAX_HASH];
	struct crypto_hmac_key *k;
	int rc = 0;

	k = crypto_hmac_key_new(h, pw, strlen(pw));
	if (!k)
		return sasl_fail(s, "HMAC is not available");
	memcpy(block, sf->salt, sf->salt_len);
	memcpy(block + sf->salt_len, "\0\0\0\1", 4);        /* INT(1) */
	if (crypto_hmac_key_mac(k, block, sf->salt_len + 4, u) != 0)
		rc = -1;
	memcpy(out, u, hl);
	for (uint32_t i = 1; rc == 0 && i < sf->iter; i++) {
		if (crypto_hmac_key_mac(k, u, hl, u) != 0) {
			rc = -1;
			break;
		}
		for (size_t j = 0; j < hl; j++)
			out[j] ^= u[j];
	}
	crypto_hmac_key_free(k);
	secure_zero(u, sizeof(u));
	if (rc != 0)
		return sasl_fail(s, "HMAC failed");
	return 0;
}

static int scram_derive(struct sasl *s, const struct server_first *sf, struct scram_keys *k)
{
	enum crypto_hash h = scram_hash(s);
	size_t hl = crypto_hash_len(h);
	unsigned char salted[CRYPTO_MAX_HASH];
	int rc = 0;

	if (scram_hi(s, sf, salted) != 0)
		return -1;
	if (crypto_hmac(h, salted, hl, "Client Key", 10, k->client_key) != 0 ||
	    crypto_hash(h, k->client_key, hl, k->stored_key) != 0 ||
	    crypto_hmac(h, salted, hl, "Server Key", 10, k->server_key) != 0)
		rc = sasl_fail(s, "hash function failed");
	secure_zero(salted, sizeof(salted));
	return rc;
}

/* ------------------------------------------------------------ client-final */

/* channel-binding = "c=" base64(gs2-header [cbind-data]) */
static void put_channel_binding(struct sasl *s, struct sbuf *out)
{
	const struct scram *p = s->priv;
	const struct sasl_creds *c = s->creds;
	unsigned char in[SCRAM_MAX_CLIENT_FIRST + SCRAM_MAX_CB];
	char enc[B64_LEN(sizeof(in))];
	size_t n = p->gs2_len;

	memcpy(in, p->cfm, n);
	if (is_plus(s)) {       /* cb_len was bounded in scram_gs2_header() */
		memcpy(in + n, c->cb_data, c->cb_len);
		n += c->cb_len;
	}
	sb_puts(out, "c=");
	sb_append(out, enc, base64_encode(in, n, enc));
}

/* AuthMessage = client-first-message-bare "," server-first-message ","
 *               client-final-message-without-proof */
static int scram_sign(struct sasl *s, const char *sfm, size_t sfm_len, const struct sbuf *cfwp,
		      const struct scram_keys *k, unsigned char *proof)
{
	struct scram *p = s->priv;
	enum crypto_hash h = scram_hash(s);
	size_t hl = crypto_hash_len(h);
	size_t bare_len = p->cfm_len - p->gs2_len;
	size_t len = bare_len + 1 + sfm_len + 1 + cfwp->len;
	unsigned char sig[CRYPTO_MAX_HASH];
	char *am = malloc(len);
	int rc = 0;

	if (!am)
		return sasl_fail(s, "out of memory");
	memcpy(am, p->cfm + p->gs2_len, bare_len);
	am[bare_len] = ',';
	memcpy(am + bare_len + 1, sfm, sfm_len);
	am[bare_len + 1 + sfm_len] = ',';
	memcpy(am + bare_len + 2 + sfm_len, cfwp->data, cfwp->len);

	if (crypto_hmac(h, k->stored_key, hl, am, len, sig) != 0 ||
	    crypto_hmac(h, k->server_key, hl, am, len, p->server_sig) != 0)
		rc = sasl_fail(s, "hash function failed");
	for (size_t i = 0; i < hl; i++)
		proof[i] = k->client_key[i] ^ sig[i];
	secure_zero(sig, sizeof(sig));
	free(am);
	return rc;
}

static int scram_client_final(struct sasl *s, const char *sfm, size_t sfm_len,
			      const struct server_first *sf, struct sbuf *out)
{
	size_t hl = crypto_hash_len(scram_hash(s));
	struct scram_keys k;
	unsigned char proof[CRYPTO_MAX_HASH];
	char proof64[B64_LEN(CRYPTO_MAX_HASH)];
	int rc = SASL_CONTINUE;

	if (scram_derive(s, sf, &k) != 0) {
		secure_zero(&k, sizeof(k));
		return SASL_FAIL;
	}
	put_channel_binding(s, out);
	sb_puts(out, ",r=");
	sb_append(out, sf->nonce, sf->nonce_len);
	rc = sasl_out_check(s, out, SASL_CONTINUE);
	if (rc != SASL_FAIL && scram_sign(s, sfm, sfm_len, out, &k, proof) != 0)
		rc = SASL_FAIL;
	if (rc != SASL_FAIL) {
		sb_puts(out, ",p=");
		sb_append(out, proof64, base64_encode(proof, hl, proof64));
		rc = sasl_out_check(s, out, SASL_CONTINUE);
	}
	secure_zero(&k, sizeof(k));
	secure_zero(proof, sizeof(proof));
	secure_zero(proof64, sizeof(proof64));
	return rc;
}

static int scram_server_first(struct sasl *s, const unsigned char *in, size_t inlen, struct sbuf *out)
{
	struct server_first sf = { .nonce = NULL };
	int rc;

	if (check_message(s, in, inlen, "server-first-message") != 0)
		return SASL_FAIL;
	if (parse_server_first(s, (const char *)in, inlen, &sf) != 0)
		rc = SASL_FAIL;
	else
		rc = scram_client_final(s, (const char *)in, inlen, &sf, out);
	if (rc == SASL_FAIL) {
		sasl_out_wipe(out);
		return rc;
	}
	s->state = SCRAM_FINAL_SENT;
	return rc;
}

/* ------------------------------------------------------------ server-final */

/* server-final-message = (server-error / verifier) ["," extensions] */
static int scram_server_final(struct sasl *s, const unsigned char *in, size_t inlen)
{
	const struct scram *p = s->priv;
	size_t hl = crypto_hash_len(scram_hash(s));
	struct attr_iter it = { (const char *)in, (const char *)in + inlen };
	unsigned char v[SCRAM_MAX_SERVER_MSG];
	struct attr a;
	long n;
	int r;

	if (check_message(s, in, inlen, "server-final-message") != 0)
		return SASL_FAIL;
	r = next_attr(&it, &a);
	if (r == 1 && a.name == 'e')
		return server_error(s, &a);
	if (r != 1 || a.name != 'v')
		return sasl_fail(s, "malformed server-final-message (expected v=)");
	if (only_extensions(&it) != 0)
		return sasl_fail(s, "malformed server-final-message (trailing data)");
	n = base64_decode(a.val, a.len, v, sizeof(v));
	if (n < 0)
		return sasl_fail(s, "malformed server-final-message (v= is not base64)");
	if ((size_t)n != hl || !crypto_memeq(v, p->server_sig, hl))
		return sasl_fail(s, "server signature mismatch");
	s->state = SCRAM_VERIFIED;
	return SASL_DONE;
}

static int scram_dispatch(struct sasl *s, const unsigned char *in, size_t inlen, struct sbuf *out)
{
	switch (s->state) {
	case SCRAM_FIRST_SENT:
		return scram_server_first(s, in, inlen, out);
	case SCRAM_FINAL_SENT:
		return scram_server_final(s, in, inlen);
	case SCRAM_VERIFIED:
		return sasl_fail(s, "unexpected challenge after the server signature");
	default:
		return sasl_fail(s, "challenge before start");
	}
}

/* Any failure ends the exchange: start() and finished() then say so. */
static int scram_step(struct sasl *s, const unsigned char *in, size_t inlen, struct sbuf *out)
{
	int rc;

	sb_reset(out);
	rc = scram_dispatch(s, in, inlen, out);
	if (rc == SASL_FAIL)
		s->state = SCRAM_FAILED;
	return rc;
}

static int scram_finished(struct sasl *s)
{
	/* an OK without the server-final message: say why that is fatal */
	if (s->state == SCRAM_FINAL_SENT)
		sasl_fail(s, "no server signature (server-final message): the server did not prove itself");
	return s->state == SCRAM_VERIFIED;
}

#define SCRAM_MECH(NAME, OPTION, FLAGS, TWIN, STRENGTH) { \
	.name = NAME,                                   \
	.option = OPTION,                               \
	.flags = SASL_F_SCRAM | (FLAGS),                \
	.twin = &(TWIN),                                \
	.strength = STRENGTH,                           \
	.state_size = sizeof(struct scram),             \
	.start = scram_start,                           \
	.step = scram_step,                             \
	.finished = scram_finished,                     \
}

const struct sasl_mech sasl_scram_sha256_plus =
	SCRAM_MECH("SCRAM-SHA-256-PLUS", "scram-sha-256-plus", SASL_F_PASSWORD | SASL_F_CB | SASL_F_AUTHZID,
		   sasl_scram_sha256, 100);
const struct sasl_mech sasl_scram_sha1_plus =
	SCRAM_MECH("SCRAM-SHA-1-PLUS", "scram-sha-1-plus", SASL_F_PASSWORD | SASL_F_CB | SASL_F_AUTHZID,
		   sasl_scram_sha1, 90);
const struct sasl_mech sasl_scram_sha256 =
	SCRAM_MECH("SCRAM-SHA-256", "scram-sha-256", SASL_F_PASSWORD | SASL_F_AUTHZID, sasl_scram_sha256_plus, 80);
const struct sasl_mech sasl_scram_sha1 =
	SCRAM_MECH("SCRAM-SHA-1", "scram-sha-1", SASL_F_PASSWORD | SASL_F_AUTHZID, sasl_scram_sha1_plus, 70);
