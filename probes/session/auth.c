/* auth.c - the auth step: mechanism choice, the -PLUS fallback, IMAP
 * LOGIN and the SASL AUTHENTICATE exchange (base64, SASL-IR, continuations). */
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
#include "sasl/base64.h"
#include "sasl/sasl.h"
#include "session/caps.h"
#include "session/step.h"
#include "session/untagged.h"

#define SASL_MAX_ROUNDS 16

/* ---------------------------------------------------------------- authentication */

/* Channel binding for this TLS connection: "tls-exporter" on TLS 1.3,
 * "tls-unique" below.  Returns 1 and fills the outputs (when non-NULL) if
 * the backend can provide it, 0 if not (why in s->cb_why). */
int sess_cb_get(struct sess *s, const char **type, unsigned char *data, size_t *len)
{
	unsigned char buf[64];
	size_t n = sizeof(buf);
	const char *t;

	if (!s->encrypted) {
		snprintf(s->cb_why, sizeof(s->cb_why), "the connection is not encrypted (use --ssl or --starttls)");
		return 0;
	}
	t = !strcmp(s->tls.version, "TLSv1.3") ? "tls-exporter" : "tls-unique";
	if (tls_channel_binding(imap_conn_transport(s->conn), t, buf, &n, s->cb_why, sizeof(s->cb_why)) < 0)
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
 * --auth all (s->auth_step set): there the -PLUS variants are tried or
 * listed as skipped themselves. */
static void note_plus(struct sess *s, const struct sasl_mech *used)
{
	const struct imap_caps *caps = imap_conn_caps(s->conn);

	if (s->auth_step)
		return;
	for (const struct sasl_mech *const *m = sasl_mechs; *m; m++) {
		if (!((*m)->flags & SASL_F_CB) || *m == used || !imap_caps_has_auth(caps, (*m)->name))
			continue;
		if (!s->encrypted)
			report_line(s->rep, "server offers channel binding (%s) but the connection is not encrypted",
				    (*m)->name);
		else if (!sess_cb_get(s, NULL, NULL, NULL))
			report_line(s->rep, "server offers channel binding (%s) but it is unavailable here: %s",
				    (*m)->name, s->cb_why);
		else
			report_line(s->rep, "server offers channel binding (%s)", (*m)->name);
		return;
	}
}

int sess_mech_usable(struct sess *s, const struct sasl_mech *m, int explicit)
{
	const struct probe_config *cfg = s->cfg;
	if ((m->flags & SASL_F_PASSWORD) && !cfg->password)
		return 0;
	if ((m->flags & SASL_F_TOKEN) && !cfg->token)
		return 0;
	if ((m->flags & SASL_F_CLIENTCERT) && !(cfg->client_cert && s->encrypted))
		return 0;
	if ((m->flags & SASL_F_CB) && !sess_cb_get(s, NULL, NULL, NULL))
		return 0;
	if ((m->flags & SASL_F_PLAINTEXT) && !s->encrypted && !explicit)
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
	if (strstr(s->greet, "Courier-IMAP"))
		return 1;
	return sasl && strstr(s->greet, "Cyrus IMAP") != NULL;
}

static int do_login(struct sess *s, struct step *st)
{
	const struct probe_config *cfg = s->cfg;
	struct imap_cmd cmd;
	struct imap_result res;

	if (imap_conn_caps(s->conn)->flags & CAP_LOGINDISABLED) {
		sess_fail(s, st, STATE_CRITICAL, "server says LOGINDISABLED: IMAP LOGIN is not allowed here%s",
			  s->encrypted ? "" : " (use --starttls or --ssl)");
		return -1;
	}
	snprintf(s->mech, sizeof(s->mech), "IMAP LOGIN");
	imap_cmd_init(&cmd, s->conn, "LOGIN");
	imap_cmd_astring(&cmd, cfg->username, strlen(cfg->username), 0);
	imap_cmd_astring(&cmd, cfg->password, strlen(cfg->password), 1);
	if (s->defer_auth_ok && !cmd.nsync && !login_pipelining_broken(s, 0)) {
		snprintf(s->pa.okmsg, sizeof(s->pa.okmsg), "LOGIN as %s", cfg->username);
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

/* Send one base64-encoded SASL response line (redacted in traces). */
static int sasl_send(struct sess *s, const struct sbuf *out)
{
	size_t n = base64_enc_len(out->len);
	char *b64 = malloc(n);
	if (!b64) {
		imap_conn_fail(s->conn, IMAP_E_LOCAL, "out of memory");
		return -1;
	}
	size_t len = base64_encode(out->data, out->len, b64);
	int rc = imap_conn_write_line(s->conn, b64, len, 1);
	secure_zero(b64, n);
	free(b64);
	return rc;
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

static int do_sasl(struct sess *s, struct step *st, const struct sasl_mech *m)
{
	const struct probe_config *cfg = s->cfg;
	struct sasl_creds creds = {
		.username = cfg->username,
		.authzid = cfg->authzid,
		.password = cfg->password,
		.token = cfg->token,
		.host = cfg->host,
		.port = cfg->port,
		.deadline_ns = s->deadline,
	};
	unsigned char cb[64];
	size_t cblen = sizeof(cb);
	struct sbuf out;
	char cmdname[64];
	int rc = -1, has_initial = 0, initial_pending = 0, rounds = 0;

	if (m->flags & SASL_F_CB) {
		const char *type = NULL;
		if (!sess_cb_get(s, &type, cb, &cblen)) {
			sess_fail(s, st, STATE_UNKNOWN, "%s: channel binding unavailable: %s", m->name,
				  s->encrypted ? s->cb_why : "the connection is not encrypted");
			return -1;
		}
		creds.cb_type = type;
		creds.cb_data = cb;
		creds.cb_len = cblen;
	} else if (!strncmp(m->name, "SCRAM-", 6) && s->encrypted) {
		/* GS2 "y" (we could bind but the server offers no -PLUS): a
		 * server that does offer -PLUS then detects a downgrade
		 * (RFC 5802 section 6) */
		char plus[64];
		const char *type = NULL;
		snprintf(plus, sizeof(plus), "%s-PLUS", m->name);
		if (sess_cb_get(s, &type, cb, &cblen)) {
			creds.cb_type = type;
			creds.cb_data = cb;
			creds.cb_len = cblen;
			creds.server_offers_plus = imap_caps_has_auth(imap_conn_caps(s->conn), plus);
		}
	}
	snprintf(s->mech, sizeof(s->mech), "%s", m->name);
	snprintf(cmdname, sizeof(cmdname), "AUTHENTICATE %s", m->name);

	struct sasl *sa = sasl_new(m, &creds);
	if (!sa || sb_init_alloc(&out, 8192) < 0) {
		sasl_free(sa);
		sess_fail(s, st, STATE_UNKNOWN, "out of memory");
		return -1;
	}
	if (m->start(sa, &out, &has_initial) == SASL_FAIL) {
		sess_fail(s, st, STATE_UNKNOWN, "%s: %s", m->name, sa->err);
		goto done;
	}

	/* AUTHENTICATE MECH [initial-response] */
	struct imap_cmd cmd;
	imap_cmd_init(&cmd, s->conn, "AUTHENTICATE");
	imap_cmd_atom(&cmd, m->name);
	if (has_initial && (imap_conn_caps(s->conn)->flags & CAP_SASL_IR)) {
		if (out.len == 0) {
			imap_cmd_atom(&cmd, "=");
		} else {
			size_t n = base64_enc_len(out.len);
			char *b64 = malloc(n);
			if (!b64) {
				imap_cmd_free(&cmd);
				sess_fail(s, st, STATE_UNKNOWN, "out of memory");
				goto done;
			}
			base64_encode(out.data, out.len, b64);
			imap_cmd_astring(&cmd, b64, strlen(b64), 1);
			secure_zero(b64, n);
			free(b64);
		}
	} else if (has_initial) {
		initial_pending = 1;
	}
	snprintf(cmd.name, sizeof(cmd.name), "%s", cmdname);
	/* --pipeline: a mechanism that is done with its initial response
	 * (PLAIN, EXTERNAL) goes out with the first mailbox flight.  Not the
	 * OAuth ones: on failure they get a "+" with the error, and the server
	 * would take the next pipelined command for the client's answer. */
	if (s->defer_auth_ok && has_initial && !initial_pending && !cmd.nsync && !login_pipelining_broken(s, 1) &&
	    (!strcmp(m->name, "PLAIN") || !strcmp(m->name, "EXTERNAL")) && (!m->finished || m->finished(sa))) {
		snprintf(s->pa.okmsg, sizeof(s->pa.okmsg), "%s as %s%s%s", m->name,
			 cfg->username ? cfg->username : "(certificate)", cfg->authzid ? " for " : "",
			 cfg->authzid ? cfg->authzid : "");
		rc = sess_defer_login(s, st, &cmd, cmdname);
		imap_cmd_free(&cmd);
		goto done;
	}
	unsigned id;
	int sent = imap_conn_send(s->conn, &cmd, &id);
	imap_cmd_free(&cmd);
	if (sent < 0) {
		sess_conn_fail(s, st, NULL);
		goto done;
	}
	const char *tag = imap_conn_last_tag(s->conn);
	char mytag[16];
	snprintf(mytag, sizeof(mytag), "%s", tag);
	sess_forget_caps(s);

	for (;;) {
		const struct imap_response *r;
		if (imap_conn_read(s->conn, &r) < 0) {
			sess_conn_fail(s, st, cmdname);
			goto done;
		}
		if (r->type == IMAP_RESP_UNTAGGED) {
			sess_on_untagged(s, s->conn, r);
			continue;
		}
		if (r->type == IMAP_RESP_TAGGED) {
			if (r->tag_len != strlen(mytag) || memcmp(r->tag, mytag, r->tag_len)) {
				sess_fail(s, st, STATE_CRITICAL, "%s: reply with unknown tag", cmdname);
				goto done;
			}
			struct imap_result res = { .status = r->status };
			snprintf(res.code, sizeof(res.code), "%.*s", (int)r->code_len, r->code ? r->code : "");
			snprintf(res.code_arg, sizeof(res.code_arg), "%.*s", (int)r->code_arg_len,
				 r->code_arg ? r->code_arg : "");
			snprintf(res.text, sizeof(res.text), "%s", r->text ? r->text : "");
			sess_note_alert(s, res.code, res.text);
			if (r->status != IMAP_ST_OK) {
				char words[1024];
				sess_format_result(&res, words, sizeof(words));
				if (s->cb_soft && !credentials_refused(res.code)) {
					/* auto's -PLUS attempt: the caller decides */
					snprintf(s->cb_refused, sizeof(s->cb_refused), "%s%s%s", words,
						 sa->err[0] ? " - " : "", sa->err);
					rc = -2;
					goto done;
				}
				if (sa->err[0])
					report_line(s->rep, "%s error from server: %s", m->name, sa->err);
				if (st)
					report_step_end(st, STEP_FAILED, STATE_CRITICAL, "%s: %s", cmdname, words);
				report_fail(s->rep, STATE_CRITICAL, sess_step_name(st), "%s failed (%s): %s%s%s",
					    sess_step_name(st), cmdname, words,
					    sa->err[0] ? " - " : "", sa->err);
				s->failed = 1;
				goto done;
			}
			if (m->finished && !m->finished(sa)) {
				sess_fail(s, st, STATE_CRITICAL, "%s: server claimed success without completing the exchange%s%s",
					  m->name, sa->err[0] ? ": " : "", sa->err);
				goto done;
			}
			sess_ok(st, "%s as %s%s%s: %s", m->name, cfg->username && !(m->flags & SASL_F_CLIENTCERT) ? cfg->username : "(client certificate)",
				cfg->authzid ? " for " : "", cfg->authzid ? cfg->authzid : "", res.text);
			rc = 0;
			goto done;
		}
		/* continuation */
		if (++rounds > SASL_MAX_ROUNDS) {
			sess_fail(s, st, STATE_CRITICAL, "%s: too many challenges from the server", cmdname);
			goto done;
		}
		if (initial_pending) {
			/* the server's first (empty) challenge asks for the initial
			 * response that SASL-IR could not carry: still in out */
			initial_pending = 0;
		} else {
			sb_reset(&out);
			size_t cap = r->text_len + 4;
			unsigned char *chal = malloc(cap);
			long n = chal ? base64_decode(r->text, r->text_len, chal, cap) : -1;
			if (n < 0) {
				free(chal);
				imap_conn_write_line(s->conn, "*", 1, 0);
				sess_fail(s, st, STATE_CRITICAL, "%s: server sent a challenge that is not valid base64", cmdname);
				goto done;
			}
			int sr = m->step(sa, chal, (size_t)n, &out);
			free(chal);
			if (sr == SASL_FAIL) {
				imap_conn_write_line(s->conn, "*", 1, 0);
				sess_fail(s, st, STATE_CRITICAL, "%s: %s", cmdname, sa->err);
				goto done;
			}
		}
		if (sasl_send(s, &out) < 0) {
			sess_conn_fail(s, st, cmdname);
			goto done;
		}
		sess_forget_caps(s);   /* a list sent mid-exchange was pre-login too */
	}
done:
	secure_zero(out.data, out.cap);
	sb_free(&out);
	sasl_free(sa);
	return rc;
}

/* The mechanism m names without "-PLUS", when the server offers it and
 * it is usable here; else NULL. */
static const struct sasl_mech *without_plus(struct sess *s, const struct sasl_mech *m)
{
	char base[64];
	size_t n = strlen(m->name);

	if (n <= 5 || n - 5 >= sizeof(base) || strcmp(m->name + n - 5, "-PLUS"))
		return NULL;
	snprintf(base, sizeof(base), "%.*s", (int)(n - 5), m->name);
	const struct sasl_mech *b = sasl_find(base);
	return b && imap_caps_has_auth(imap_conn_caps(s->conn), b->name) && sess_mech_usable(s, b, 0) ? b : NULL;
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
	struct imap_caps saved = *imap_conn_caps(s->conn);
	const char *type = NULL;

	if (!base)
		return do_sasl(s, st, m);
	sess_cb_get(s, &type, NULL, NULL);
	s->cb_soft = 1;
	s->cb_refused[0] = '\0';
	int rc = do_sasl(s, st, m);
	s->cb_soft = 0;
	if (rc != -2)
		return rc;
	/* the login failed: the pre-login list is still the one in force */
	*imap_conn_caps(s->conn) = saved;
	rc = do_sasl(s, st, base);
	if (rc == 0) {
		snprintf(s->auth_note, sizeof(s->auth_note),
			 "%s (channel binding %s) refused: %s; %s without channel binding worked (the server cannot "
			 "bind to this TLS connection, or something relays it; --auth %s accepts that)",
			 m->name, type ? type : "?", s->cb_refused, base->name, base->option);
		report_line(s->rep, "%s", s->auth_note);
		report_raise(s->rep, STATE_WARNING);
	} else {
		report_line(s->rep, "%s (channel binding %s) was refused first: %s", m->name, type ? type : "?",
			    s->cb_refused);
	}
	return rc;
}

int sess_auth(struct sess *s)
{
	const struct probe_config *cfg = s->cfg;
	const char *a = s->auth_mode ? s->auth_mode : cfg->auth;

	if (!strcmp(a, "none") || (!strcmp(a, "auto") && !cfg->username && !cfg->client_cert))
		return 0;
	if (sess_ensure_caps(s) < 0)
		return -1;

	struct imap_caps *caps = imap_conn_caps(s->conn);
	struct step *st = sess_begin(s, s->auth_step ? s->auth_step : "auth");

	snprintf(s->login_caps, sizeof(s->login_caps), "%s", caps->raw);
	s->login_caps_known = caps->known;

	if (!strcmp(a, "login"))
		return do_login(s, st);

	if (!strcmp(a, "auto")) {
		for (const struct sasl_mech *const *m = sasl_mechs; *m; m++) {
			if (imap_caps_has_auth(caps, (*m)->name) && sess_mech_usable(s, *m, 0)) {
				if ((*m)->flags & SASL_F_CB)
					return auth_plus(s, st, *m);
				note_plus(s, *m);
				return do_sasl(s, st, *m);
			}
		}
		if (cfg->password && s->encrypted && !(caps->flags & CAP_LOGINDISABLED) && !cfg->authzid)
			return do_login(s, st);
		sess_fail(s, st, STATE_CRITICAL,
			  "no usable authentication mechanism (server offers:%s)%s", caps->auth[1] ? caps->auth : " none ",
			  s->encrypted ? "" : "; plaintext mechanisms are not used on an unencrypted connection"
			  " unless named with --auth (or use --ssl / --starttls)");
		return -1;
	}
	const struct sasl_mech *m = sasl_find(a);
	if (!m) {
		sess_fail(s, st, STATE_UNKNOWN, "mechanism %s is not supported by this build", a);
		return -1;
	}
	if (!imap_caps_has_auth(caps, m->name)) {
		sess_fail(s, st, STATE_CRITICAL, "server does not offer AUTH=%s (offers:%s)", m->name,
			  caps->auth[1] ? caps->auth : " none");
		return -1;
	}
	if (!sess_mech_usable(s, m, 1)) {
		sess_fail(s, st, STATE_UNKNOWN, "%s cannot be used with the given credentials or connection%s%s",
			  m->name, (m->flags & SASL_F_CB) && s->cb_why[0] ? ": " : "",
			  (m->flags & SASL_F_CB) ? s->cb_why : "");
		return -1;
	}
	if (!(m->flags & SASL_F_CB))
		note_plus(s, m);
	return do_sasl(s, st, m);
}
