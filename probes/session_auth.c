/* session_auth.c - the auth step: mechanism choice, IMAP LOGIN and the
 * SASL AUTHENTICATE exchange (base64, SASL-IR, continuations). */
#include "config.h"
#include "session_int.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "clock.h"

#include "base64.h"
#include "sasl.h"
#include "tls.h"

#define SASL_MAX_ROUNDS 16

/* ---------------------------------------------------------------- authentication */

static int mech_usable(struct sess *s, const struct sasl_mech *m, int explicit)
{
	const struct probe_config *cfg = s->cfg;
	if ((m->flags & SASL_F_PASSWORD) && !cfg->password)
		return 0;
	if ((m->flags & SASL_F_TOKEN) && !cfg->token)
		return 0;
	if ((m->flags & SASL_F_CLIENTCERT) && !(cfg->client_cert && s->encrypted))
		return 0;
	if ((m->flags & SASL_F_CB) && !s->encrypted)
		return 0;
	if ((m->flags & SASL_F_PLAINTEXT) && !s->encrypted && !explicit)
		return 0;
	return 1;
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
	char err[256];
	struct sbuf out;
	char cmdname[64];
	int rc = -1, has_initial = 0, initial_pending = 0, rounds = 0;

	if (m->flags & SASL_F_CB) {
		const char *type = !strcmp(s->tls.version, "TLSv1.3") ? "tls-exporter" : "tls-unique";
		if (tls_channel_binding(imap_conn_transport(s->conn), type, cb, &cblen, err, sizeof(err)) < 0) {
			sess_fail(s, st, STATE_UNKNOWN, "%s: channel binding unavailable: %s", m->name, err);
			return -1;
		}
		creds.cb_type = type;
		creds.cb_data = cb;
		creds.cb_len = cblen;
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
				if (sa->err[0])
					report_line(s->rep, "%s error from server: %s", m->name, sa->err);
				if (st)
					report_step_end(st, STEP_FAILED, STATE_CRITICAL, "%s: %s", cmdname, words);
				report_fail(s->rep, STATE_CRITICAL, "auth", "auth failed (%s): %s%s%s", cmdname, words,
					    sa->err[0] ? " - " : "", sa->err);
				s->failed = 1;
				goto done;
			}
			if (m->finished && !m->finished(sa)) {
				sess_fail(s, st, STATE_CRITICAL, "%s: server claimed success without completing the exchange%s%s",
					  m->name, sa->err[0] ? ": " : "", sa->err);
				goto done;
			}
			sess_ok(st, "%s as %s%s%s: %s", m->name, cfg->username ? cfg->username : "(certificate)",
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
	}
done:
	secure_zero(out.data, out.cap);
	sb_free(&out);
	sasl_free(sa);
	return rc;
}

int sess_auth(struct sess *s)
{
	const struct probe_config *cfg = s->cfg;
	const char *a = cfg->auth;

	if (!strcmp(a, "none") || (!strcmp(a, "auto") && !cfg->username && !cfg->client_cert))
		return 0;
	if (sess_ensure_caps(s) < 0)
		return -1;

	struct imap_caps *caps = imap_conn_caps(s->conn);
	struct step *st = sess_begin(s, "auth");

	if (!strcmp(a, "login"))
		return do_login(s, st);

	if (!strcmp(a, "auto")) {
		for (const struct sasl_mech *const *m = sasl_mechs; *m; m++)
			if (imap_caps_has_auth(caps, (*m)->name) && mech_usable(s, *m, 0))
				return do_sasl(s, st, *m);
		if (cfg->password && s->encrypted && !(caps->flags & CAP_LOGINDISABLED))
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
		sess_fail(s, st, STATE_UNKNOWN, "%s cannot be used with the given credentials or connection", m->name);
		return -1;
	}
	return do_sasl(s, st, m);
}

