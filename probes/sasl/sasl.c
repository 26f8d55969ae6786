/* sasl.c - the mechanism table, lookup, state allocation, and the small
 * helpers the mechanism files share. */
#include "config.h"
#include "sasl/sasl.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* Strongest first; the session's auto selection also uses ->strength. */
const struct sasl_mech *const sasl_mechs[] = {
	&sasl_scram_sha256_plus,
	&sasl_scram_sha1_plus,
	&sasl_scram_sha256,
	&sasl_scram_sha1,
	&sasl_cram_md5,
	&sasl_oauthbearer,
	&sasl_xoauth2,
	&sasl_plain,
	&sasl_login,
	&sasl_external,
	NULL,
};

/* Option names are tried first so that a --auth value never resolves to a
 * different mechanism's IMAP name.  Note "login" is the IMAP LOGIN command
 * as an --auth value (the session handles it before calling this); here it
 * matches the IMAP name of AUTHENTICATE LOGIN, whose option is "auth-login". */
const struct sasl_mech *sasl_find(const char *name)
{
	size_t n;

	if (!name)
		return NULL;
	n = strlen(name);
	for (size_t i = 0; sasl_mechs[i]; i++)
		if (ascii_ieq(name, n, sasl_mechs[i]->option))
			return sasl_mechs[i];
	for (size_t i = 0; sasl_mechs[i]; i++)
		if (ascii_ieq(name, n, sasl_mechs[i]->name))
			return sasl_mechs[i];
	return NULL;
}

struct sasl *sasl_new(const struct sasl_mech *mech, const struct sasl_creds *creds)
{
	struct sasl *s;

	if (!mech || !creds)
		return NULL;
	s = calloc(1, sizeof(*s));
	if (!s)
		return NULL;
	s->mech = mech;
	s->creds = creds;
	if (mech->state_size) {
		s->priv = calloc(1, mech->state_size);
		if (!s->priv) {
			free(s);
			return NULL;
		}
	}
	return s;
}

void sasl_free(struct sasl *s)
{
	if (!s)
		return;
	if (s->mech->cleanup)
		s->mech->cleanup(s);
	if (s->priv) {
		secure_zero(s->priv, s->mech->state_size);
		free(s->priv);
	}
	secure_zero(s, sizeof(*s));
	free(s);
}

int sasl_fail(struct sasl *s, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(s->err, sizeof(s->err), fmt, ap);
	va_end(ap);
	return SASL_FAIL;
}

void sasl_out_wipe(struct sbuf *out)
{
	/* Only the bytes written are known to exist: the buffer may grow. */
	if (out->data && out->len)
		secure_zero(out->data, out->len);
	sb_reset(out);
}

int sasl_out_check(struct sasl *s, struct sbuf *out, int ok)
{
	if (!out->truncated)
		return ok;
	sasl_out_wipe(out);
	return sasl_fail(s, "%s response does not fit in the output buffer", s->mech->name);
}

void sasl_put_saslname(struct sbuf *out, const char *name)
{
	for (const char *p = name; *p; p++) {
		if (*p == ',')
			sb_puts(out, "=2C");
		else if (*p == '=')
			sb_puts(out, "=3D");
		else
			sb_putc(out, *p);
	}
}
