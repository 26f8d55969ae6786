/* sasl_cram.c - CRAM-MD5 (RFC 2195): the server sends a challenge, the
 * client answers "user SP hex(HMAC-MD5(password, challenge))".  The
 * password does not cross the wire, but the exchange is open to offline
 * guessing, so it ranks below SCRAM. */
#include "config.h"
#include "sasl/sasl.h"
#include "sasl/crypto.h"

#include <string.h>

enum { CRAM_INIT, CRAM_STARTED, CRAM_ANSWERED, CRAM_FAILED };

static int cram_start(struct sasl *s, struct sbuf *out, int *has_initial)
{
	const struct sasl_creds *c = s->creds;

	sb_reset(out);
	*has_initial = 0;
	if (s->state != CRAM_INIT && s->state != CRAM_STARTED)
		return sasl_fail(s, "exchange already started");
	if (!c->username || !*c->username)
		return sasl_fail(s, "CRAM-MD5 needs a username");
	if (!c->password)
		return sasl_fail(s, "CRAM-MD5 needs a password");
	s->state = CRAM_STARTED;
	return SASL_CONTINUE;
}

static int cram_answer(struct sasl *s, const unsigned char *in, size_t inlen, struct sbuf *out)
{
	static const char hex[] = "0123456789abcdef";
	const char *pw = s->creds->password;
	unsigned char mac[16];
	char digest[2 * sizeof(mac)];

	if (inlen == 0)
		return sasl_fail(s, "empty challenge");
	if (crypto_hmac(CRYPTO_MD5, pw, strlen(pw), in, inlen, mac) != 0)
		return sasl_fail(s, "HMAC-MD5 is not available");
	for (size_t i = 0; i < sizeof(mac); i++) {
		digest[2 * i] = hex[mac[i] >> 4];
		digest[2 * i + 1] = hex[mac[i] & 15];
	}
	sb_puts(out, s->creds->username);
	sb_putc(out, ' ');
	sb_append(out, digest, sizeof(digest));
	secure_zero(mac, sizeof(mac));
	secure_zero(digest, sizeof(digest));
	s->state = CRAM_ANSWERED;
	return sasl_out_check(s, out, SASL_DONE);
}

static int cram_dispatch(struct sasl *s, const unsigned char *in, size_t inlen, struct sbuf *out)
{
	switch (s->state) {
	case CRAM_STARTED:
		return cram_answer(s, in, inlen, out);
	case CRAM_ANSWERED:
		return sasl_fail(s, "unexpected second challenge");
	default:
		return sasl_fail(s, "challenge before start");
	}
}

static int cram_step(struct sasl *s, const unsigned char *in, size_t inlen, struct sbuf *out)
{
	int rc;

	sb_reset(out);
	rc = cram_dispatch(s, in, inlen, out);
	if (rc == SASL_FAIL)
		s->state = CRAM_FAILED;
	return rc;
}

static int cram_finished(struct sasl *s)
{
	return s->state == CRAM_ANSWERED;
}

const struct sasl_mech sasl_cram_md5 = {
	.name = "CRAM-MD5",
	.option = "cram-md5",
	.flags = SASL_F_PASSWORD,
	.strength = 50,
	.state_size = 0,
	.start = cram_start,
	.step = cram_step,
	.finished = cram_finished,
};
