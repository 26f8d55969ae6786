/* session_auth.c - the auth step: mechanism choice, IMAP LOGIN and the
 * SASL AUTHENTICATE exchange (base64, SASL-IR, continuations). */
#include "config.h"
#include "session/session_int.h"
#include "session/oauth_step.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#include "net/clock.h"

#include "sasl/base64.h"
#include "sasl/sasl.h"
#include "net/tls.h"

#define SASL_MAX_ROUNDS 16

/* ---------------------------------------------------------------- authentication */

/* Channel binding for this TLS connection: "tls-exporter" on TLS 1.3,
 * "tls-unique" below.  Returns 1 and fills the outputs (when non-NULL) if
 * the backend can provide it, 0 if not (why in s->cb_why). */
static int cb_get(struct sess *s, const char **type, unsigned char *data, size_t *len)
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
		else if (!cb_get(s, NULL, NULL, NULL))
			report_line(s->rep, "server offers channel binding (%s) but it is unavailable here: %s",
				    (*m)->name, s->cb_why);
		else
			report_line(s->rep, "server offers channel binding (%s)", (*m)->name);
		return;
	}
}

static int mech_usable(struct sess *s, const struct sasl_mech *m, int explicit)
{
	const struct probe_config *cfg = s->cfg;
	if ((m->flags & SASL_F_PASSWORD) && !cfg->password)
		return 0;
	if ((m->flags & SASL_F_TOKEN) && !sess_token(s))
		return 0;
	if ((m->flags & SASL_F_CLIENTCERT) && !(cfg->client_cert && s->encrypted))
		return 0;
	if ((m->flags & SASL_F_CB) && !cb_get(s, NULL, NULL, NULL))
		return 0;
	if ((m->flags & SASL_F_PLAINTEXT) && !s->encrypted && !explicit)
		return 0;
	/* acting as another user: a mechanism without an authzid field would
	 * silently check the wrong mailbox */
	if (cfg->authzid && !(m->flags & SASL_F_AUTHZID))
		return 0;
	return 1;
}

/* Called once the server has the last message of the login (the LOGIN
 * command, or the final AUTHENTICATE response; the commands are built by
 * then, so SASL-IR and LITERAL+ were taken from the list in force).  The
 * pre-login capabilities are stale from here on: forget them.  A list the
 * server sends with its tagged OK, or untagged just before it (Gmail),
 * fills them in again; without one, later steps see them as unknown and
 * ask (CAPABILITY) only if they need them (sess_ensure_caps). */
static void forget_caps(struct sess *s)
{
	imap_conn_caps_reset(s->conn);
}

/* --cache-dir: the server lists exactly what it listed when the cache
 * entry was made, so the flight that carries the login may use what it
 * listed after that login (only CAPCACHE_ASSUMABLE; see capcache.h). */
static void assume_cached(struct sess *s)
{
	struct imap_caps after;

	s->assumed = 0;
	if (!s->cc_loaded || s->no_assume || !s->login_caps_known || strcmp(s->cc.before, s->login_caps) != 0)
		return;
	imap_caps_parse(&after, s->cc.after, strlen(s->cc.after));
	s->assumed = after.flags & CAPCACHE_ASSUMABLE & ~imap_conn_caps(s->conn)->flags;
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

/* --pipeline: queue the login command (its bytes go out with the first
 * mailbox flight) instead of waiting for its answer now. */
static int defer(struct sess *s, struct step *st, struct imap_cmd *cmd, const char *cmdname)
{
	unsigned id;
	if (imap_conn_queue(s->conn, cmd, &id) < 0) {
		sess_conn_fail(s, st, cmdname);
		return -1;
	}
	s->pa.active = 1;
	s->pa.id = id;
	s->pa.st = st;
	s->pa.caps_gen = imap_conn_caps_gen(s->conn);
	s->login_pipelined = 1;
	snprintf(s->pa.cmd, sizeof(s->pa.cmd), "%s", cmdname);
	assume_cached(s);
	/* The pre-login capabilities stay in force until the answer: the
	 * flight is built from them (what the greeting promised); see
	 * sess_auth_settle. */
	return 0;
}

int sess_auth_settle(struct sess *s)
{
	struct imap_result res;
	struct step *st = s->pa.st;

	if (!s->pa.active)
		return 0;
	s->pa.active = 0;
	if (imap_conn_wait(s->conn, s->pa.id, &res) < 0) {
		sess_conn_fail(s, st, s->pa.cmd);
		return -1;
	}
	s->auth_done_ns = res.done_ns;
	/* a list in the tagged OK (or untagged before it, as Gmail does)
	 * replaced the pre-login one; without one they are stale */
	if (res.status != IMAP_ST_OK || imap_conn_caps_gen(s->conn) == s->pa.caps_gen)
		forget_caps(s);
	sess_note_alert(s, res.code, res.text);
	if (res.status != IMAP_ST_OK)
		sess_result_fail(s, st, s->pa.cmd, &res);
	else
		sess_ok(st, "%s: %s", s->pa.okmsg, res.text);
	if (st) {
		/* from its bytes on the wire (the flight's write) to its answer */
		st->start_ns = res.sent_ns;
		st->dur_ns = res.done_ns > res.sent_ns ? res.done_ns - res.sent_ns : 0;
	}
	return res.status == IMAP_ST_OK ? 0 : -1;
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
		int q = defer(s, st, &cmd, "LOGIN");
		imap_cmd_free(&cmd);
		return q;
	}
	forget_caps(s);
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
		.token = sess_token(s),
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
		if (!cb_get(s, &type, cb, &cblen)) {
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
		if (cb_get(s, &type, cb, &cblen)) {
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
		rc = defer(s, st, &cmd, cmdname);
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
	forget_caps(s);

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
				s->token_refused |= (m->flags & SASL_F_TOKEN) != 0;
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
		forget_caps(s);   /* a list sent mid-exchange was pre-login too */
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
	return b && imap_caps_has_auth(imap_conn_caps(s->conn), b->name) && mech_usable(s, b, 0) ? b : NULL;
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
	cb_get(s, &type, NULL, NULL);
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
			if (imap_caps_has_auth(caps, (*m)->name) && mech_usable(s, *m, 0)) {
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
	if (!mech_usable(s, m, 1)) {
		sess_fail(s, st, STATE_UNKNOWN, "%s cannot be used with the given credentials or connection%s%s",
			  m->name, (m->flags & SASL_F_CB) && s->cb_why[0] ? ": " : "",
			  (m->flags & SASL_F_CB) ? s->cb_why : "");
		return -1;
	}
	if (!(m->flags & SASL_F_CB))
		note_plus(s, m);
	return do_sasl(s, st, m);
}

/* ---------------------------------------------------------------- --auth all */

#define AUTH_ALL_MAX 16

struct auth_plan {
	unsigned n;
	const char *mode[AUTH_ALL_MAX];      /* --auth value for sess_auth */
	char step[AUTH_ALL_MAX][32];         /* "auth_scram-sha-256" */
};

static void plan_add(struct auth_plan *p, const char *mode)
{
	if (p->n >= AUTH_ALL_MAX)
		return;
	p->mode[p->n] = mode;
	snprintf(p->step[p->n], sizeof(p->step[0]), "auth_%s", mode);
	p->n++;
}

/* Add "NAME (WHY)" to the skipped list; a long list goes out in several
 * "mechanisms skipped:" lines (a long-output line holds 255 bytes). */
#define SKIP_LINE_MAX 200

static void skip_flush(struct sess *s, struct sbuf *sb)
{
	if (sb->len)
		report_line(s->rep, "mechanisms skipped: %s", sb->data);
	sb_reset(sb);
}

static void skip_note(struct sess *s, struct sbuf *sb, const char *name, const char *why)
{
	if (sb->len && sb->len + strlen(name) + strlen(why) + 5 > SKIP_LINE_MAX)
		skip_flush(s, sb);
	sb_printf(sb, "%s%s (%s)", sb->len ? ", " : "", name, why);
}

/* Which mechanisms to try, strongest first (a stable order); the others
 * the server advertises are listed as skipped with the reason. */
static void plan_mechanisms(struct sess *s, struct auth_plan *plan)
{
	const struct imap_caps *caps = imap_conn_caps(s->conn);
	char mem[512];
	struct sbuf skipped;

	sb_init(&skipped, mem, sizeof(mem));
	for (const struct sasl_mech *const *m = sasl_mechs; *m; m++) {
		if (!imap_caps_has_auth(caps, (*m)->name))
			continue;
		if (mech_usable(s, *m, 0)) {
			plan_add(plan, (*m)->option);
		} else if (((*m)->flags & SASL_F_CB) && !cb_get(s, NULL, NULL, NULL)) {
			char why[sizeof(s->cb_why) + 32];
			if (s->encrypted)
				snprintf(why, sizeof(why), "no channel binding: %s", s->cb_why);
			else
				snprintf(why, sizeof(why), "channel binding needs TLS");
			skip_note(s, &skipped, (*m)->name, why);
		} else if (s->cfg->authzid && !((*m)->flags & SASL_F_AUTHZID)) {
			skip_note(s, &skipped, (*m)->name, "cannot carry --authzid");
		} else {
			skip_note(s, &skipped, (*m)->name,
				  ((*m)->flags & SASL_F_PLAINTEXT) && !s->encrypted ? "plaintext on an unencrypted connection" :
				  "no credentials for it");
		}
	}
	if (s->cfg->password && s->encrypted && !(caps->flags & CAP_LOGINDISABLED) && !s->cfg->authzid)
		plan_add(plan, "login");
	else if (s->cfg->password)
		skip_note(s, &skipped, "IMAP LOGIN", s->cfg->authzid ? "cannot carry --authzid" :
			  caps->flags & CAP_LOGINDISABLED ? "LOGINDISABLED" : "plaintext on an unencrypted connection");
	/* advertised but not implemented here */
	for (const char *a = caps->auth; *a; ) {
		a += strspn(a, " ");
		size_t n = strcspn(a, " ");
		if (!n)
			break;
		char name[64];
		snprintf(name, sizeof(name), "%.*s", (int)(n < 63 ? n : 63), a);
		if (!sasl_find(name))
			skip_note(s, &skipped, name, "not implemented");
		a += n;
	}
	skip_flush(s, &skipped);
}

/* Drop the connection of one round (LOGOUT first when it is usable). */
static void drop_connection(struct sess *s)
{
	sess_close(s);
	if (s->conn)
		imap_conn_free(s->conn);
	s->conn = NULL;
	s->encrypted = 0;
	s->greeted = 0;
	s->mech[0] = '\0';
}

void sess_auth_all(struct sess *s)
{
	struct auth_plan plan = { 0 };
	char mem[512];
	struct sbuf failed;
	int any_failed = 0;

	sb_init(&failed, mem, sizeof(mem));
	/* The first connection discovers the mechanisms and tries the first
	 * one; each further mechanism gets a fresh connection, opened only
	 * after the previous one is closed (connection limits). */
	s->auth_mode = "none";
	if (sess_open(s) < 0 || sess_ensure_caps(s) < 0) {
		drop_connection(s);
		return;
	}
	plan_mechanisms(s, &plan);
	if (plan.n == 0) {
		struct step *st = sess_begin(s, "auth");
		const char *offers = imap_conn_caps(s->conn)->auth;
		sess_fail(s, st, STATE_CRITICAL, "no mechanism to test (server offers:%s)", offers[1] ? offers : " none");
		drop_connection(s);
		return;
	}
	for (unsigned i = 0; i < plan.n; i++) {
		if (i > 0) {
			drop_connection(s);
			/* s->failed is per connection here (the report keeps the
			 * first failure): a mechanism that failed must not make
			 * the next connection give up (do_tls() returns
			 * s->failed) */
			any_failed |= s->failed;
			s->failed = 0;
			s->auth_mode = "none";
			if (sess_open(s) < 0) {
				any_failed = 1;
				break;
			}
		}
		s->auth_mode = plan.mode[i];
		s->auth_step = plan.step[i];
		s->auth_tried++;
		if (sess_auth(s) == 0) {
			s->auth_ok++;
		} else {
			any_failed = 1;
			sb_printf(&failed, "%s%s", failed.len ? ", " : "", plan.mode[i]);
		}
		s->auth_step = NULL;
		if (s->timed_out)
			break;
	}
	drop_connection(s);
	s->auth_mode = NULL;
	s->failed |= any_failed;
	if (failed.len)
		report_line(s->rep, "mechanisms that failed: %s", failed.data);
	report_info(s->rep, "mechanisms_ok", "%u", s->auth_ok);
	report_info(s->rep, "mechanisms_tried", "%u", s->auth_tried);
}


