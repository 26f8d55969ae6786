/* sasl_external.c - EXTERNAL (RFC 4422 appendix A): the identity comes
 * from outside SASL (the TLS client certificate); the initial response is
 * the authorization identity, or empty to act as the certificate's own. */
#include "config.h"
#include "sasl/sasl.h"

enum { EXT_INIT, EXT_SENT, EXT_FAILED };

static int external_start(struct sasl *s, struct sbuf *out, int *has_initial)
{
	sb_reset(out);
	*has_initial = 1;
	if (s->state != EXT_INIT && s->state != EXT_SENT)
		return sasl_fail(s, "exchange already started");
	if (s->creds->authzid)
		sb_puts(out, s->creds->authzid);
	s->state = EXT_SENT;
	return sasl_out_check(s, out, SASL_CONTINUE);
}

static int external_step(struct sasl *s, const unsigned char *in, size_t inlen, struct sbuf *out)
{
	(void)in;
	(void)inlen;
	sb_reset(out);
	s->state = EXT_FAILED;
	return sasl_fail(s, "unexpected challenge after the initial response");
}

static int external_finished(struct sasl *s)
{
	return s->state == EXT_SENT;
}

const struct sasl_mech sasl_external = {
	.name = "EXTERNAL",
	.option = "external",
	.flags = SASL_F_CLIENTCERT | SASL_F_AUTHZID | SASL_F_DEFERRABLE,
	.strength = 10,
	.state_size = 0,
	.start = external_start,
	.step = external_step,
	.finished = external_finished,
};
