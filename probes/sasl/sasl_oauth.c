/* sasl_oauth.c - OAuth 2 bearer tokens: XOAUTH2 (Google/Microsoft) and
 * OAUTHBEARER (RFC 7628).  Both send the token in the initial response.
 * A server that rejects the token sends an error challenge (JSON); the
 * client must answer it (OAUTHBEARER: one byte 0x01, XOAUTH2: empty) and
 * then gets the tagged NO.  The JSON's status and scope end up in s->err,
 * sanitized, so the status line can say why. */
#include "config.h"
#include "sasl/sasl.h"

#include <jansson.h>
#include <stdio.h>
#include <string.h>

enum { OAUTH_INIT, OAUTH_SENT, OAUTH_ERROR_ANSWERED };

#define KVSEP "\x01"

/* ------------------------------------------------------------ validation */

/* Identities and host names are framed by ^A and ',' (GS2): no control
 * bytes, which also rules out ^A. */
static int has_ctl(const char *str)
{
	for (const unsigned char *p = (const unsigned char *)str; *p; p++)
		if (*p < 0x20 || *p == 0x7f)
			return 1;
	return 0;
}

static int oauth_check_creds(struct sasl *s, int need_user)
{
	const struct sasl_creds *c = s->creds;
	const char *mech = s->mech->name;

	if (s->state != OAUTH_INIT && s->state != OAUTH_SENT)
		return sasl_fail(s, "exchange already started");
	if (!c->token)
		return sasl_fail(s, "%s needs a bearer token", mech);
	if (!bearer_token_ok(c->token))
		return sasl_fail(s, "the token contains characters a bearer token cannot have");
	if (need_user && (!c->username || !*c->username))
		return sasl_fail(s, "%s needs a username", mech);
	if ((c->username && has_ctl(c->username)) || (c->authzid && has_ctl(c->authzid)))
		return sasl_fail(s, "control characters in the user name");
	if (c->host && has_ctl(c->host))
		return sasl_fail(s, "control characters in the host name");
	return 0;
}

/* ------------------------------------------------------------ initial responses */

static int xoauth2_start(struct sasl *s, struct sbuf *out, int *has_initial)
{
	sb_reset(out);
	*has_initial = 1;
	if (oauth_check_creds(s, 1) != 0)
		return SASL_FAIL;
	sb_puts(out, "user=");
	sb_puts(out, s->creds->username);
	sb_puts(out, KVSEP "auth=Bearer ");
	sb_puts(out, s->creds->token);
	sb_puts(out, KVSEP KVSEP);
	s->state = OAUTH_SENT;
	return sasl_out_check(s, out, SASL_CONTINUE);
}

/* The GS2 authorization identity: --authzid if given (act as that user),
 * else the user name; omitted when neither is set. */
static const char *oauthbearer_authz(const struct sasl_creds *c)
{
	if (c->authzid && *c->authzid)
		return c->authzid;
	if (c->username && *c->username)
		return c->username;
	return NULL;
}

static int oauthbearer_start(struct sasl *s, struct sbuf *out, int *has_initial)
{
	const struct sasl_creds *c = s->creds;
	const char *authz = oauthbearer_authz(c);

	sb_reset(out);
	*has_initial = 1;
	if (oauth_check_creds(s, 0) != 0)
		return SASL_FAIL;
	sb_puts(out, "n,");
	if (authz) {
		sb_puts(out, "a=");
		sasl_put_saslname(out, authz);
	}
	sb_puts(out, "," KVSEP);
	if (c->host && *c->host)
		sb_printf(out, "host=%s" KVSEP, c->host);
	if (c->port)
		sb_printf(out, "port=%u" KVSEP, c->port);
	sb_puts(out, "auth=Bearer ");
	sb_puts(out, c->token);
	sb_puts(out, KVSEP KVSEP);
	s->state = OAUTH_SENT;
	return sasl_out_check(s, out, SASL_CONTINUE);
}

/* ------------------------------------------------------------ error JSON */

/* The one flat object servers send, e.g.
 * {"status":"invalid_token","schemes":"bearer","scope":"https://..."},
 * parsed with jansson (strict: one value, nothing after it).  A member
 * that is a string or a number is kept as text, ASCII only (RFC 7628
 * status codes and scopes are ASCII; anything else becomes '?'). */
struct oauth_error {
	char status[64];
	char scope[128];
};

static void json_member_text(const json_t *obj, const char *key, char *dst, size_t dstsz)
{
	const json_t *v = json_object_get(obj, key);
	const char *text = NULL;
	char num[32];
	size_t n = 0;

	if (json_is_string(v)) {
		text = json_string_value(v);
	} else if (json_is_integer(v)) {
		snprintf(num, sizeof(num), "%" JSON_INTEGER_FORMAT, json_integer_value(v));
		text = num;
	}
	for (; text && text[n] && n + 1 < dstsz; n++)
		dst[n] = (unsigned char)text[n] < 0x80 ? text[n] : '?';
	dst[n] = '\0';
}

static int parse_error_json(const unsigned char *in, size_t len, struct oauth_error *e)
{
	json_error_t jerr;
	json_t *root = json_loadb((const char *)in, len, JSON_REJECT_DUPLICATES, &jerr);

	if (!json_is_object(root)) {
		json_decref(root);
		return -1;
	}
	json_member_text(root, "status", e->status, sizeof(e->status));
	json_member_text(root, "scope", e->scope, sizeof(e->scope));
	json_decref(root);
	return 0;
}

static void record_server_error(struct sasl *s, const unsigned char *in, size_t inlen)
{
	struct oauth_error e = { { 0 }, { 0 } };
	char status[64], scope[128], raw[160];

	if (inlen == 0) {
		snprintf(s->err, sizeof(s->err), "server sent an empty error challenge");
		return;
	}
	if (parse_error_json(in, inlen, &e) != 0 || !e.status[0]) {
		sanitize_text(raw, sizeof(raw), (const char *)in, inlen);
		snprintf(s->err, sizeof(s->err), "server error: %s", raw);
		return;
	}
	sanitize_text(status, sizeof(status), e.status, strlen(e.status));
	sanitize_text(scope, sizeof(scope), e.scope, strlen(e.scope));
	if (scope[0])
		snprintf(s->err, sizeof(s->err), "%s (scope: %s)", status, scope);
	else
		snprintf(s->err, sizeof(s->err), "%s", status);
}

/* ------------------------------------------------------------ steps */

static int oauth_step(struct sasl *s, const unsigned char *in, size_t inlen, struct sbuf *out)
{
	sb_reset(out);
	if (s->state == OAUTH_ERROR_ANSWERED)
		return sasl_fail(s, "unexpected challenge after the error response");
	if (s->state != OAUTH_SENT)
		return sasl_fail(s, "challenge before start");
	record_server_error(s, in, inlen);
	s->state = OAUTH_ERROR_ANSWERED;
	/* RFC 7628 3.2.3: the client answers the error with a single ^A;
	 * XOAUTH2 expects an empty response. */
	if (s->mech == &sasl_oauthbearer)
		sb_puts(out, KVSEP);
	return sasl_out_check(s, out, SASL_CONTINUE);
}

static int oauth_finished(struct sasl *s)
{
	return s->state == OAUTH_SENT;
}

const struct sasl_mech sasl_oauthbearer = {
	.name = "OAUTHBEARER",
	.option = "oauthbearer",
	.flags = SASL_F_TOKEN | SASL_F_PLAINTEXT | SASL_F_SERVERERR | SASL_F_AUTHZID,
	.strength = 45,
	.state_size = 0,
	.start = oauthbearer_start,
	.step = oauth_step,
	.finished = oauth_finished,
};

const struct sasl_mech sasl_xoauth2 = {
	.name = "XOAUTH2",
	.option = "xoauth2",
	.flags = SASL_F_TOKEN | SASL_F_PLAINTEXT | SASL_F_SERVERERR,
	.strength = 40,
	.state_size = 0,
	.start = xoauth2_start,
	.step = oauth_step,
	.finished = oauth_finished,
};
