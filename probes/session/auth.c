/* auth.c - the auth step's policy: which mechanism, the -PLUS fallback,
 * IMAP LOGIN, deferring the login into the first flight (--pipeline) and
 * reporting; the AUTHENTICATE exchange itself is imap/imap_auth.c. */
#include "config.h"
#include "session/auth.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#include "net/clock.h"
#include "net/tls.h"
#include "imap/imap_auth.h"
#include "sasl/sasl.h"
#include "session/caps.h"
#include "session/step.h"
#include "session/untagged.h"

/* ---------------------------------------------------------------- authentication */

/* Channel binding for this TLS connection: "tls-exporter" on TLS 1.3,
 * "tls-unique" below.  Returns 1 and fills the outputs (when non-NULL) if
 * the backend can provide it, 0 if not (why in s->login.cb_why). */
int sess_cb_get(struct sess *s, const char **type, unsigned char *data, size_t *len)
{
	unsigned char buf[64];
	size_t n = sizeof(buf);
	const char *t;

	if (!s->link.encrypted) {
		snprintf(s->login.cb_why, sizeof(s->login.cb_why),
			 "the connection is not encrypted (use --ssl or --starttls)");
		return 0;
	}
	t = !strcmp(s->link.tls.version, "TLSv1.3") ? "tls-exporter" : "tls-unique";
	if (tls_channel_binding(imap_conn_transport(s->link.conn), t, buf, &n, s->login.cb_why,
				sizeof(s->login.cb_why)) < 0)
		return 0;
	if (type)
		*type = t;
	if (data && len && *len >= n) {
		memcpy(data, buf, n);
		*len = n;
	}
	return 1;
}

/* A -PLUS variant the server offers (for the long output).  Not under
 * --auth all (s->login.step set): there the -PLUS variants are tried or
 * listed as skipped themselves. */
static void note_plus(struct sess *s, const struct sasl_mech *used)
{
	const struct imap_caps *caps = imap_conn_caps(s->link.conn);

	if (s->login.step)
		return;
	for (const struct sasl_mech *const *m = sasl_mechs; *m; m++) {
		if (!((*m)->flags & SASL_F_CB) || *m == used || !imap_caps_has_auth(caps, (*m)->name))
			continue;
		if (!s->link.encrypted)
			report_line(s->rep, "server offers channel binding (%s) but the connection is not encrypted",
				    (*m)->name);
		else if (!sess_cb_get(s, NULL, NULL, NULL))
			report_line(s->rep, "server offers channel binding (%s) but it is unavailable here: %s",
				    (*m)->name, s->login.cb_why);
		else
			report_line(s->rep, "server offers channel binding (%s)", (*m)->name);
		return;
	}
}

const char *sess_auth_offers(const struct imap_caps *caps, char *buf, size_t len)
{
	size_t n = strlen(caps->auth);

	while (n > 0 && caps->auth[n - 1] == ' ')
		n--;
	if (n == 0)
		return " none";
	snprintf(buf, len, "%.*s", (int)n, caps->auth);
	return buf;
}

int sess_mech_usable(struct sess *s, const struct sasl_mech *m, int explicit)
{
	const struct probe_config *cfg = s->cfg;
	if ((m->flags & SASL_F_PASSWORD) && !cfg->password)
		return 0;
	if ((m->flags & SASL_F_TOKEN) && !sess_token(s))
		return 0;
	if ((m->flags & SASL_F_CLIENTCERT) && !(cfg->client_cert && s->link.encrypted))
		return 0;
	if ((m->flags & SASL_F_CB) && !sess_cb_get(s, NULL, NULL, NULL))
		return 0;
	if ((m->flags & SASL_F_PLAINTEXT) && !s->link.encrypted && !explicit)
		return 0;
	/* acting as another user: a mechanism without an authzid field would
	 * silently check the wrong mailbox */
	if (cfg->authzid && !(m->flags & SASL_F_AUTHZID))
		return 0;
	return 1;
}

/* Servers known to lose or garble commands pipelined behind their login
 * (RFC 3501 5.5 allows it; these do not cope), recognised by their
 * default greeting: Courier-IMAP hands the connection to another process
 * after LOGIN and drops what was already sent; Cyrus 3.x garbles what
 * follows an AUTHENTICATE with SASL-IR and answers the login twice.  For
 * them the login waits for its answer and the rest still goes in one
 * flight. */
static int login_pipelining_broken(const struct sess *s, int sasl)
{
	if (strstr(s->link.greet, "Courier-IMAP"))
		return 1;
	return sasl && strstr(s->link.greet, "Cyrus IMAP") != NULL;
}

static int do_login(struct sess *s, struct step *st)
{
	const struct probe_config *cfg = s->cfg;
	struct imap_cmd cmd;
	struct imap_result res;

	if (imap_conn_caps(s->link.conn)->flags & CAP_LOGINDISABLED) {
		sess_fail(s, st, STATE_CRITICAL, "server says LOGINDISABLED: IMAP LOGIN is not allowed here%s",
			  s->link.encrypted ? "" : " (use --starttls or --ssl)");
		return -1;
	}
	snprintf(s->login.mech, sizeof(s->login.mech), "IMAP LOGIN");
	imap_cmd_init(&cmd, s->link.conn, "LOGIN");
	imap_cmd_add_astring(&cmd, cfg->username, strlen(cfg->username), 0);
	imap_cmd_add_astring(&cmd, cfg->password, strlen(cfg->password), 1);
	if (s->login.defer_ok && !cmd.nsync && !login_pipelining_broken(s, 0)) {
		snprintf(s->login.pending.okmsg, sizeof(s->login.pending.okmsg), "LOGIN as %s", cfg->username);
		int q = sess_defer_login(s, st, &cmd, "LOGIN");
		imap_cmd_free(&cmd);
		return q;
	}
	sess_forget_caps(s);
	int rc = sess_command(s, st, &cmd, &res);
	imap_cmd_free(&cmd);
	if (rc < 0)
		return -1;
	sess_ok(st, "LOGIN as %s: %s", cfg->username, res.text);
	return 0;
}

/* A response code that blames the credentials or the account, not the
 * mechanism (RFC 5530). */
static int credentials_refused(const char *code)
{
	static const char *const codes[] = { "AUTHENTICATIONFAILED", "AUTHORIZATIONFAILED", "EXPIRED",
					     "CONTACTADMIN", "PRIVACYREQUIRED" };
	for (size_t i = 0; i < sizeof(codes) / sizeof(codes[0]); i++)
		if (!strcasecmp(code, codes[i]))
			return 1;
	return 0;
}

/* The credentials for m on this connection, with channel binding (into
 * cb, cbsize bytes) when m binds - or, for a SCRAM mechanism that could
 * bind, the GS2 "y" flag's data (RFC 5802 section 6: a server that offers
 * the -PLUS twin then detects a downgrade).  0, or -1 recorded. */
static int sasl_creds_for(struct sess *s, struct step *st, const struct sasl_mech *m, struct sasl_creds *creds,
			  unsigned char *cb, size_t cbsize)
{
	const struct probe_config *cfg = s->cfg;
	const char *type = NULL;
	size_t cblen = cbsize;

	*creds = (struct sasl_creds){
		.username = cfg->username,
		.authzid = cfg->authzid,
		.password = cfg->password,
		.token = sess_token(s),
		.host = cfg->host,
		.port = cfg->port,
	};
	if (m->flags & SASL_F_CB) {
		if (!sess_cb_get(s, &type, cb, &cblen)) {
			sess_fail(s, st, STATE_UNKNOWN, "%s: channel binding unavailable: %s", m->name,
				  s->link.encrypted ? s->login.cb_why : "the connection is not encrypted");
			return -1;
		}
	} else if ((m->flags & SASL_F_SCRAM) && s->link.encrypted && sess_cb_get(s, &type, cb, &cblen)) {
		creds->server_offers_plus = m->twin && imap_caps_has_auth(imap_conn_caps(s->link.conn), m->twin->name);
	} else {
		return 0;
	}
	creds->cb_type = type;
	creds->cb_data = cb;
	creds->cb_len = cblen;
	return 0;
}

/* "PLAIN as user for authzid", the auth step's message. */
static void as_whom(const struct sess *s, const struct sasl_mech *m, char *buf, size_t len)
{
	const struct probe_config *cfg = s->cfg;
	snprintf(buf, len, "%s as %s%s%s", m->name,
		 cfg->username && !(m->flags & SASL_F_CLIENTCERT) ? cfg->username : "(client certificate)",
		 cfg->authzid ? " for " : "", cfg->authzid ? cfg->authzid : "");
}

/* --pipeline: a mechanism that is done with an initial response that
 * fits in the command (PLAIN, EXTERNAL) goes out with the first mailbox
 * flight.  Not the OAuth ones: on failure they get a "+" with the error,
 * and the server would take the next pipelined command for the client's
 * answer.  1 deferred, 0 not deferrable, -1 recorded. */
static int sasl_defer(struct sess *s, struct step *st, struct sasl *sa, const struct sbuf *initial)
{
	const struct probe_config *cfg = s->cfg;
	const struct sasl_mech *m = sa->mech;
	struct imap_cmd cmd;

	if (!s->login.defer_ok || !(m->flags & SASL_F_DEFERRABLE) || login_pipelining_broken(s, 1) ||
	    (m->finished && !m->finished(sa)))
		return 0;
	int inline_ir = imap_auth_command(&cmd, s->link.conn, m->name, initial);
	if (inline_ir < 0) {
		sess_fail(s, st, STATE_UNKNOWN, "out of memory");
		return -1;
	}
	if (!inline_ir || cmd.nsync) {
		imap_cmd_free(&cmd);
		return 0;
	}
	snprintf(s->login.pending.okmsg, sizeof(s->login.pending.okmsg), "%s as %s%s%s", m->name,
		 cfg->username ? cfg->username : "(certificate)", cfg->authzid ? " for " : "",
		 cfg->authzid ? cfg->authzid : "");
	int rc = sess_defer_login(s, st, &cmd, cmd.name);
	imap_cmd_free(&cmd);
	return rc < 0 ? -1 : 1;
}

/* The mechanism's side of imap_authenticate(): challenge in, response
 * out.  The deadline is checked after each step (SCRAM's key derivation
 * reads no clock; its iteration cap bounds it). */
struct sasl_turn {
	struct sasl *sa;
	int64_t deadline;
	int timed_out;              /* the deadline passed during a step */
};

static int sasl_turn_step(void *ud, const unsigned char *in, size_t inlen, struct sbuf *out)
{
	struct sasl_turn *t = ud;
	int r = t->sa->mech->step(t->sa, in, inlen, out);
	if (r != SASL_FAIL && clock_expired(t->deadline)) {
		t->timed_out = 1;
		return -1;
	}
	return r == SASL_FAIL ? -1 : 0;
}

/* The tagged NO/BAD to AUTHENTICATE: -2 when auto's -PLUS attempt was
 * refused for the mechanism's sake (the caller decides), else -1
 * recorded. */
static int sasl_refused(struct sess *s, struct step *st, const struct sasl *sa, const char *cmdname,
			const struct imap_result *res)
{
	char words[1024];
	const char *dash = sa->err[0] ? " - " : "";

	sess_format_result(res, words, sizeof(words));
	if (s->login.cb_soft && !credentials_refused(res->code)) {
		snprintf(s->login.cb_refused, sizeof(s->login.cb_refused), "%s%s%s", words, dash, sa->err);
		return -2;
	}
	if (sa->err[0])
		report_line(s->rep, "%s error from server: %s", sa->mech->name, sa->err);
	if (st)
		report_step_end(st, clock_now_ns(), STEP_FAILED, STATE_CRITICAL, "%s: %s", cmdname, words);
	report_fail(s->rep, STATE_CRITICAL, sess_step_name(st), "%s failed (%s): %s%s%s", sess_step_name(st), cmdname,
		    words, dash, sa->err);
	s->failed = 1;
	s->login.token_refused |= (sa->mech->flags & SASL_F_TOKEN) != 0;
	return -1;
}

/* How imap_authenticate() ended, as the auth step's outcome: 0, -2 (see
 * sasl_refused) or -1 recorded. */
static int sasl_outcome(struct sess *s, struct step *st, struct sasl *sa, const struct sasl_turn *turn, int end,
			const struct imap_result *res)
{
	const struct sasl_mech *m = sa->mech;
	char cmdname[64], who[320];

	snprintf(cmdname, sizeof(cmdname), "AUTHENTICATE %s", m->name);
	switch (end) {
	case IMAP_AUTH_DONE:
		break;
	case IMAP_AUTH_SEND:
		sess_conn_fail(s, st, NULL);
		return -1;
	case IMAP_AUTH_MECH:
		if (turn->timed_out)
			sess_timeout(s, st);
		else
			sess_fail(s, st, STATE_CRITICAL, "%s: %s", cmdname, sa->err);
		return -1;
	case IMAP_AUTH_BASE64:
		sess_fail(s, st, STATE_CRITICAL, "%s: server sent a challenge that is not valid base64", cmdname);
		return -1;
	case IMAP_AUTH_ROUNDS:
		sess_fail(s, st, STATE_CRITICAL, "%s: too many challenges from the server", cmdname);
		return -1;
	case IMAP_AUTH_TAG:
		sess_fail(s, st, STATE_CRITICAL, "%s: reply with unknown tag", cmdname);
		return -1;
	default:
		sess_conn_fail(s, st, cmdname);
		return -1;
	}
	sess_note_alert(s, res->code, res->text);
	if (res->status != IMAP_ST_OK)
		return sasl_refused(s, st, sa, cmdname, res);
	if (m->finished && !m->finished(sa)) {
		sess_fail(s, st, STATE_CRITICAL, "%s: server claimed success without completing the exchange%s%s",
			  m->name, sa->err[0] ? ": " : "", sa->err);
		return -1;
	}
	as_whom(s, m, who, sizeof(who));
	sess_ok(st, "%s: %s", who, res->text);
	return 0;
}

/* AUTHENTICATE with mechanism m: 0 logged in (or deferred), -2 auto's
 * -PLUS attempt refused (see auth_plus), -1 recorded. */
static int do_sasl(struct sess *s, struct step *st, const struct sasl_mech *m)
{
	struct sasl_creds creds;
	unsigned char cb[64];
	struct sbuf initial;
	struct imap_result res;
	int has_initial = 0, rc = -1;

	if (sasl_creds_for(s, st, m, &creds, cb, sizeof(cb)) < 0)
		return -1;
	snprintf(s->login.mech, sizeof(s->login.mech), "%s", m->name);
	struct sasl *sa = sasl_new(m, &creds);
	if (!sa || sb_init_alloc(&initial, 8192) < 0) {
		sasl_free(sa);
		sess_fail(s, st, STATE_UNKNOWN, "out of memory");
		return -1;
	}
	if (m->start(sa, &initial, &has_initial) == SASL_FAIL) {
		sess_fail(s, st, STATE_UNKNOWN, "%s: %s", m->name, sa->err);
		goto done;
	}
	rc = has_initial ? sasl_defer(s, st, sa, &initial) : 0;
	if (rc != 0) {
		rc = rc > 0 ? 0 : -1;
		goto done;
	}
	struct sasl_turn turn = { .sa = sa, .deadline = s->deadline };
	struct imap_auth a = {
		.mech = m->name,
		.initial = has_initial ? &initial : NULL,
		.step = sasl_turn_step,
		.step_ud = &turn,
		.untagged = sess_on_untagged,
		.untagged_ud = s,
	};
	int end = imap_authenticate(s->link.conn, &a, &res);
	rc = sasl_outcome(s, st, sa, &turn, end, &res);
done:
	secure_zero(initial.data, initial.cap);
	sb_free(&initial);
	sasl_free(sa);
	return rc;
}

/* The twin of the -PLUS mechanism m without channel binding, when the
 * server offers it and it is usable here; else NULL. */
static const struct sasl_mech *without_plus(struct sess *s, const struct sasl_mech *m)
{
	const struct sasl_mech *b = (m->flags & SASL_F_CB) ? m->twin : NULL;
	return b && imap_caps_has_auth(imap_conn_caps(s->link.conn), b->name) && sess_mech_usable(s, b, 0) ? b : NULL;
}

/* --auth auto picked a -PLUS mechanism.  Servers that advertise one but
 * cannot bind to this TLS connection exist (Cyrus 3.6 knows only
 * tls-unique, which TLS 1.3 does not have; GNU Mailutils advertises -PLUS
 * without support; a TLS-terminating proxy in front of the server sees
 * another connection): when the server refuses the -PLUS exchange, the
 * same mechanism without channel binding is tried once on the same
 * connection ("n" flag: a deliberate choice, not a downgrade) and a
 * WARNING names what failed - users' clients that bind fail the same way,
 * and a relaying man in the middle would look alike.  Only a refusal by
 * the server counts; a server signature that does not verify, a broken
 * connection or a timeout stay fatal. */
static int auth_plus(struct sess *s, struct step *st, const struct sasl_mech *m)
{
	const struct sasl_mech *base = without_plus(s, m);
	struct imap_caps saved = *imap_conn_caps(s->link.conn);
	const char *type = NULL;

	if (!base)
		return do_sasl(s, st, m);
	sess_cb_get(s, &type, NULL, NULL);
	s->login.cb_soft = 1;
	s->login.cb_refused[0] = '\0';
	int rc = do_sasl(s, st, m);
	s->login.cb_soft = 0;
	if (rc != -2)
		return rc;
	/* the login failed: the pre-login list is still the one in force */
	*imap_conn_caps(s->link.conn) = saved;
	rc = do_sasl(s, st, base);
	if (rc == 0) {
		snprintf(s->login.note, sizeof(s->login.note),
			 "%s (channel binding %s) refused: %s; %s without channel binding worked (the server cannot "
			 "bind to this TLS connection, or something relays it; --auth %s accepts that)",
			 m->name, type ? type : "?", s->login.cb_refused, base->name, base->option);
		report_line(s->rep, "%s", s->login.note);
		report_raise(s->rep, STATE_WARNING);
	} else {
		report_line(s->rep, "%s (channel binding %s) was refused first: %s", m->name, type ? type : "?",
			    s->login.cb_refused);
	}
	return rc;
}

int sess_auth(struct sess *s)
{
	const struct probe_config *cfg = s->cfg;
	enum auth_mode a = s->login.choice ? s->login.choice->mode : cfg->auth;

	if (a == AUTH_NONE || (a == AUTH_AUTO && !cfg->username && !cfg->client_cert))
		return 0;
	if (sess_ensure_caps(s) < 0)
		return -1;

	struct imap_caps *caps = imap_conn_caps(s->link.conn);
	struct step *st = sess_begin(s, s->login.step ? s->login.step : "auth");

	snprintf(s->cache.login_caps, sizeof(s->cache.login_caps), "%s", caps->raw);
	s->cache.login_caps_known = caps->known;

	if (a == AUTH_LOGIN)
		return do_login(s, st);

	if (a == AUTH_AUTO) {
		for (const struct sasl_mech *const *m = sasl_mechs; *m; m++) {
			if (imap_caps_has_auth(caps, (*m)->name) && sess_mech_usable(s, *m, 0)) {
				if ((*m)->flags & SASL_F_CB)
					return auth_plus(s, st, *m);
				note_plus(s, *m);
				return do_sasl(s, st, *m);
			}
		}
		if (cfg->password && s->link.encrypted && !(caps->flags & CAP_LOGINDISABLED) && !cfg->authzid)
			return do_login(s, st);
		char list[sizeof(caps->auth)];
		sess_fail(s, st, STATE_CRITICAL, "no usable authentication mechanism (server offers:%s)%s",
			  sess_auth_offers(caps, list, sizeof(list)),
			  s->link.encrypted ? "" : "; a password or bearer token is not sent readable on an unencrypted "
			  "connection unless --auth names the mechanism (or use --ssl / --starttls)");
		return -1;
	}
	const struct sasl_mech *m = s->login.choice ? s->login.choice->mech : sasl_find(cfg->auth_mech);
	if (!m) {
		sess_fail(s, st, STATE_UNKNOWN, "mechanism %s is not supported by this build", probe_auth_name(cfg));
		return -1;
	}
	if (!imap_caps_has_auth(caps, m->name)) {
		char list[sizeof(caps->auth)];
		sess_fail(s, st, STATE_CRITICAL, "server does not offer AUTH=%s (offers:%s)", m->name,
			  sess_auth_offers(caps, list, sizeof(list)));
		return -1;
	}
	if (!sess_mech_usable(s, m, 1)) {
		sess_fail(s, st, STATE_UNKNOWN, "%s cannot be used with the given credentials or connection%s%s",
			  m->name, (m->flags & SASL_F_CB) && s->login.cb_why[0] ? ": " : "",
			  (m->flags & SASL_F_CB) ? s->login.cb_why : "");
		return -1;
	}
	if (!(m->flags & SASL_F_CB))
		note_plus(s, m);
	return do_sasl(s, st, m);
}
