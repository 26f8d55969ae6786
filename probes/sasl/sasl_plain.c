/* sasl_plain.c - PLAIN (RFC 4616): authzid NUL authcid NUL passwd, sent as
 * the initial response.  Reveals the password to anyone who can read the
 * stream: the session only uses it under TLS unless told otherwise. */
#include "config.h"
#include "sasl/sasl.h"

enum { PLAIN_INIT, PLAIN_SENT, PLAIN_FAILED };

static int plain_start(struct sasl *s, struct sbuf *out, int *has_initial)
{
	const struct sasl_creds *c = s->creds;

	sb_reset(out);
	*has_initial = 1;
	if (s->state != PLAIN_INIT && s->state != PLAIN_SENT)
		return sasl_fail(s, "exchange already started");
	if (!c->username || !*c->username)
		return sasl_fail(s, "PLAIN needs a username");
	if (!c->password)
		return sasl_fail(s, "PLAIN needs a password");

	if (c->authzid)
		sb_puts(out, c->authzid);
	sb_append(out, "", 1);
	sb_puts(out, c->username);
	sb_append(out, "", 1);
	sb_puts(out, c->password);
	s->state = PLAIN_SENT;
	return sasl_out_check(s, out, SASL_CONTINUE);
}

static int plain_step(struct sasl *s, const unsigned char *in, size_t inlen, struct sbuf *out)
{
	(void)in;
	(void)inlen;
	sb_reset(out);
	s->state = PLAIN_FAILED;
	return sasl_fail(s, "unexpected challenge after the initial response");
}

static int plain_finished(struct sasl *s)
{
	return s->state == PLAIN_SENT;
}

const struct sasl_mech sasl_plain = {
	.name = "PLAIN",
	.option = "plain",
	.flags = SASL_F_PASSWORD | SASL_F_PLAINTEXT | SASL_F_AUTHZID | SASL_F_DEFERRABLE,
	.strength = 30,
	.state_size = 0,
	.start = plain_start,
	.step = plain_step,
	.finished = plain_finished,
};
