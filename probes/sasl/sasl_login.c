/* sasl_login.c - AUTHENTICATE LOGIN (draft-murchison-sasl-login): the
 * server prompts twice; the first prompt is answered with the user name,
 * the second with the password.  The prompt texts ("Username:",
 * "Password:") vary between servers and are not looked at.  This is not
 * the IMAP LOGIN command, which the session handles itself. */
#include "config.h"
#include "sasl/sasl.h"

enum { LOGIN_INIT, LOGIN_STARTED, LOGIN_USER_SENT, LOGIN_PASS_SENT, LOGIN_FAILED };

static int login_start(struct sasl *s, struct sbuf *out, int *has_initial)
{
	const struct sasl_creds *c = s->creds;

	sb_reset(out);
	*has_initial = 0;
	if (s->state != LOGIN_INIT && s->state != LOGIN_STARTED)
		return sasl_fail(s, "exchange already started");
	if (!c->username || !*c->username)
		return sasl_fail(s, "LOGIN needs a username");
	if (!c->password)
		return sasl_fail(s, "LOGIN needs a password");
	s->state = LOGIN_STARTED;
	return SASL_CONTINUE;
}

static int login_step(struct sasl *s, const unsigned char *in, size_t inlen, struct sbuf *out)
{
	(void)in;
	(void)inlen;
	sb_reset(out);
	switch (s->state) {
	case LOGIN_STARTED:
		sb_puts(out, s->creds->username);
		s->state = LOGIN_USER_SENT;
		return sasl_out_check(s, out, SASL_CONTINUE);
	case LOGIN_USER_SENT:
		sb_puts(out, s->creds->password);
		s->state = LOGIN_PASS_SENT;
		return sasl_out_check(s, out, SASL_DONE);
	case LOGIN_PASS_SENT:
		s->state = LOGIN_FAILED;
		return sasl_fail(s, "unexpected third challenge");
	default:
		return sasl_fail(s, "challenge before start");
	}
}

static int login_finished(struct sasl *s)
{
	return s->state == LOGIN_PASS_SENT;
}

const struct sasl_mech sasl_login = {
	.name = "LOGIN",
	.option = "auth-login",
	.flags = SASL_F_PASSWORD | SASL_F_PLAINTEXT,
	.strength = 20,
	.state_size = 0,
	.start = login_start,
	.step = login_step,
	.finished = login_finished,
};
