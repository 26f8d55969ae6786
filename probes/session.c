/* session.c - the step runner: one IMAP session under one deadline.
 *
 * resolve, connect, [tls], greeting, [capability], [starttls, tls,
 * capability], auth, [capability], examine/select (+ STATUS in the same
 * flight), [fetch], logout.  Each step is stamped with CLOCK_MONOTONIC and
 * recorded in the report; the first failure ends the session (after a
 * best-effort LOGOUT where the connection is still usable). */
#include "config.h"
#include "session.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>

#include "base64.h"
#include "clock.h"
#include "imap_conn.h"
#include "net.h"
#include "sasl.h"
#include "tls.h"
#include "transport.h"

#define LOGOUT_GRACE_NS (1000LL * 1000 * 1000)
#define SASL_MAX_ROUNDS 16

struct mailbox_state {
	int have_exists, have_recent, have_unseen, have_uidvalidity, have_uidnext;
	uint32_t exists, recent, unseen;
	uint64_t uidvalidity, uidnext;
	int read_only;
};

struct message_info {
	int got;
	uint32_t seq;
	uint64_t uid, size, bytes;
	int have_date;
	time_t internaldate;
	char subject[256], from[256], date[96];
};

struct sess {
	const struct probe_config *cfg;
	const struct session_env *env;
	struct report *rep;
	int64_t deadline;
	struct imap_conn *conn;
	int encrypted;
	int tls_have;
	struct tls_info tls;
	char peer[80];
	char mech[32];              /* mechanism used, for the summary */
	struct mailbox_state mb;
	struct message_info msg;
	int failed;                 /* a step failed: stop */
	int timed_out;
};

/* ---------------------------------------------------------------- helpers */

static struct step *begin(struct sess *s, const char *name)
{
	return report_step_begin(s->rep, name);
}

static void step_ok(struct step *st, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void step_ok(struct step *st, const char *fmt, ...)
{
	char msg[512];
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	if (st)
		report_step_end(st, STEP_OK, STATE_OK, "%s", msg);
}

static const char *step_name(const struct step *st)
{
	return st ? st->name : "session";
}

/* A step failed with state `state`: record it on the step and the report. */
static void step_fail(struct sess *s, struct step *st, int state, const char *fmt, ...)
	__attribute__((format(printf, 4, 5)));
static void step_fail(struct sess *s, struct step *st, int state, const char *fmt, ...)
{
	char msg[768];
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	if (st)
		report_step_end(st, STEP_FAILED, state, "%s", msg);
	report_fail(s->rep, state, step_name(st), "%s failed: %s", step_name(st), msg);
	s->failed = 1;
}

static void step_timeout(struct sess *s, struct step *st)
{
	if (st)
		report_step_end(st, STEP_TIMEOUT, s->cfg->timeout_state, "timed out");
	report_fail(s->rep, s->cfg->timeout_state, step_name(st), "timeout during %s (%gs)",
		    step_name(st), s->cfg->timeout_s);
	s->failed = 1;
	s->timed_out = 1;
}

/* The connection layer failed inside a step. */
static void conn_fail(struct sess *s, struct step *st, const char *what)
{
	enum imap_err e = imap_conn_err(s->conn);
	if (e == IMAP_E_TIMEOUT) {
		step_timeout(s, st);
		return;
	}
	int state = e == IMAP_E_LOCAL ? STATE_UNKNOWN : STATE_CRITICAL;
	step_fail(s, st, state, "%s%s%s", what ? what : "", what ? ": " : "", imap_conn_errmsg(s->conn));
}

static const char *status_word(enum imap_status st)
{
	switch (st) {
	case IMAP_ST_OK: return "OK";
	case IMAP_ST_NO: return "NO";
	case IMAP_ST_BAD: return "BAD";
	case IMAP_ST_PREAUTH: return "PREAUTH";
	case IMAP_ST_BYE: return "BYE";
	default: return "?";
	}
}

/* "NO [CODE arg] text" from a result, for messages. */
static void format_result(const struct imap_result *res, char *buf, size_t len)
{
	if (res->code[0] && res->code_arg[0])
		snprintf(buf, len, "%s [%s %s] %s", status_word(res->status), res->code, res->code_arg, res->text);
	else if (res->code[0])
		snprintf(buf, len, "%s [%s] %s", status_word(res->status), res->code, res->text);
	else
		snprintf(buf, len, "%s %s", status_word(res->status), res->text);
}

static void note_alert(struct sess *s, const char *code, const char *text)
{
	if (code && !strcasecmp(code, "ALERT"))
		report_line(s->rep, "ALERT from server: %s", text);
}

/* A tagged NO/BAD for `cmd` inside step st. */
static void result_fail(struct sess *s, struct step *st, const char *cmd, const struct imap_result *res)
{
	char words[1024];
	format_result(res, words, sizeof(words));
	note_alert(s, res->code, res->text);
	if (st)
		report_step_end(st, STEP_FAILED, STATE_CRITICAL, "%s: %s", cmd, words);
	report_fail(s->rep, STATE_CRITICAL, step_name(st), "%s failed (%s): %s", step_name(st), cmd, words);
	s->failed = 1;
}

/* Run a command inside a step; returns 0 on tagged OK, -1 after recording
 * the failure. */
static int run_command(struct sess *s, struct step *st, struct imap_cmd *cmd, struct imap_result *res)
{
	if (imap_conn_command(s->conn, cmd, res) < 0) {
		conn_fail(s, st, NULL);
		return -1;
	}
	note_alert(s, res->code, res->text);
	if (res->status != IMAP_ST_OK) {
		result_fail(s, st, cmd->name, res);
		return -1;
	}
	return 0;
}

/* ---------------------------------------------------------------- untagged data */

static int parse_u64(const struct imap_response *r, size_t i, uint64_t *v)
{
	return i < r->ntok ? imap_tok_u64(r, &r->tok[i], v) : -1;
}

static time_t parse_internaldate(const char *s)
{
	/* "17-Jul-1996 02:44:25 -0700" (day may be space-padded) */
	static const char months[] = "JanFebMarAprMayJunJulAugSepOctNovDec";
	char mon[4];
	int d, y, hh, mm, ss, tz;
	struct tm tm = { 0 };

	if (sscanf(s, " %d-%3s-%d %d:%d:%d %d", &d, mon, &y, &hh, &mm, &ss, &tz) != 7)
		return (time_t)-1;
	const char *m = strstr(months, mon);
	if (!m || (m - months) % 3)
		return (time_t)-1;
	tm.tm_mday = d;
	tm.tm_mon = (int)((m - months) / 3);
	tm.tm_year = y - 1900;
	tm.tm_hour = hh;
	tm.tm_min = mm;
	tm.tm_sec = ss;
	time_t t = timegm(&tm);
	int off = (tz / 100) * 3600 + (tz % 100) * 60;
	return t - off;
}

/* Copy header field `name` (unfolded) from a header block. */
static void header_field(const char *hdr, size_t len, const char *name, char *out, size_t outlen)
{
	size_t nlen = strlen(name);
	out[0] = '\0';
	for (size_t i = 0; i + nlen < len; ) {
		if ((i == 0 || hdr[i - 1] == '\n') && !strncasecmp(hdr + i, name, nlen) && hdr[i + nlen] == ':') {
			size_t j = i + nlen + 1, o = 0;
			while (j < len && o + 1 < outlen) {
				if (hdr[j] == '\r' || hdr[j] == '\n') {
					/* folding: CRLF followed by WSP continues */
					size_t k = j;
					while (k < len && (hdr[k] == '\r' || hdr[k] == '\n'))
						k++;
					if (k < len && (hdr[k] == ' ' || hdr[k] == '\t')) {
						j = k;
						continue;
					}
					break;
				}
				out[o++] = hdr[j++];
			}
			out[o] = '\0';
			char tmp[512];
			sanitize_text(tmp, sizeof(tmp) < outlen ? sizeof(tmp) : outlen, out, o);
			snprintf(out, outlen, "%s", tmp);
			return;
		}
		const char *nl = memchr(hdr + i, '\n', len - i);
		if (!nl)
			break;
		i = (size_t)(nl - hdr) + 1;
	}
}

static void handle_fetch(struct sess *s, const struct imap_response *r)
{
	struct message_info *m = &s->msg;
	size_t i = 0;

	if (r->ntok == 0 || r->tok[0].type != IMAP_TOK_LIST_OPEN)
		return;
	m->got = 1;
	m->seq = r->number;
	for (i = 1; i + 1 < r->ntok && r->tok[i].type != IMAP_TOK_LIST_CLOSE; i = imap_tok_skip(r, i + 1)) {
		const struct imap_token *k = &r->tok[i], *v = &r->tok[i + 1];
		const char *name = imap_tok_data(r, k);
		if (k->type != IMAP_TOK_ATOM)
			continue;
		if (imap_tok_is(r, k, "UID")) {
			parse_u64(r, i + 1, &m->uid);
		} else if (imap_tok_is(r, k, "RFC822.SIZE")) {
			parse_u64(r, i + 1, &m->size);
		} else if (imap_tok_is(r, k, "INTERNALDATE") && v->type == IMAP_TOK_QUOTED) {
			time_t t = parse_internaldate(imap_tok_data(r, v));
			if (t != (time_t)-1) {
				m->internaldate = t;
				m->have_date = 1;
			}
		} else if (!strncasecmp(name, "BODY[", 5) || !strncasecmp(name, "BINARY[", 7) ||
			   !strncasecmp(name, "RFC822", 6)) {
			if (v->type == IMAP_TOK_LITERAL || v->type == IMAP_TOK_QUOTED) {
				const char *data = imap_tok_data(r, v);
				m->bytes += v->full_len;
				header_field(data, v->len, "Subject", m->subject, sizeof(m->subject));
				header_field(data, v->len, "From", m->from, sizeof(m->from));
				header_field(data, v->len, "Date", m->date, sizeof(m->date));
			}
		}
	}
}

static void handle_status(struct sess *s, const struct imap_response *r)
{
	/* * STATUS mailbox (MESSAGES n UNSEEN n ...) */
	size_t i = 0;
	if (r->ntok < 2)
		return;
	i = imap_tok_skip(r, 0);
	if (i >= r->ntok || r->tok[i].type != IMAP_TOK_LIST_OPEN)
		return;
	for (i++; i + 1 < r->ntok && r->tok[i].type != IMAP_TOK_LIST_CLOSE; i += 2) {
		uint64_t v;
		if (parse_u64(r, i + 1, &v) < 0)
			continue;
		if (imap_tok_is(r, &r->tok[i], "UNSEEN")) {
			s->mb.unseen = (uint32_t)v;
			s->mb.have_unseen = 1;
		} else if (imap_tok_is(r, &r->tok[i], "MESSAGES") && !s->mb.have_exists) {
			s->mb.exists = (uint32_t)v;
		}
	}
}

static void handle_code(struct sess *s, const struct imap_response *r)
{
	char code[32];
	uint64_t v;
	char *end;

	snprintf(code, sizeof(code), "%.*s", (int)(r->code_len < 31 ? r->code_len : 31), r->code);
	if (!strcasecmp(code, "UIDVALIDITY") || !strcasecmp(code, "UIDNEXT")) {
		errno = 0;
		v = strtoull(r->code_arg, &end, 10);
		if (errno || end == r->code_arg)
			return;
		if (code[3] == 'V' || code[3] == 'v') {
			s->mb.uidvalidity = v;
			s->mb.have_uidvalidity = 1;
		} else {
			s->mb.uidnext = v;
			s->mb.have_uidnext = 1;
		}
	} else if (!strcasecmp(code, "READ-ONLY")) {
		s->mb.read_only = 1;
	} else if (!strcasecmp(code, "ALERT")) {
		note_alert(s, code, r->text);
	}
}

static int on_untagged(void *ud, struct imap_conn *c, const struct imap_response *r)
{
	struct sess *s = ud;
	(void)c;

	if (r->type != IMAP_RESP_UNTAGGED)
		return 0;
	if (r->status != IMAP_ST_NONE) {
		if (r->code)
			handle_code(s, r);
		if (r->status == IMAP_ST_NO || r->status == IMAP_ST_BAD)
			report_line(s->rep, "server warning: %s %s", status_word(r->status), r->text);
		return 0;
	}
	if (!r->name)
		return 0;
	if (r->has_number && ascii_ieq(r->name, r->name_len, "EXISTS")) {
		s->mb.exists = r->number;
		s->mb.have_exists = 1;
	} else if (r->has_number && ascii_ieq(r->name, r->name_len, "RECENT")) {
		s->mb.recent = r->number;
		s->mb.have_recent = 1;
	} else if (r->has_number && ascii_ieq(r->name, r->name_len, "FETCH")) {
		handle_fetch(s, r);
	} else if (ascii_ieq(r->name, r->name_len, "STATUS")) {
		handle_status(s, r);
	}
	return 0;
}

/* ---------------------------------------------------------------- steps */

static int do_connect(struct sess *s, struct transport **out)
{
	const struct probe_config *cfg = s->cfg;
	struct net_addrs addrs;
	char err[256];
	int timed_out = 0, used = 0;

	struct step *st = begin(s, "resolve");
	if (net_resolve(cfg->host, cfg->port, cfg->family, s->deadline, &addrs, &timed_out, err, sizeof(err)) < 0) {
		if (timed_out)
			step_timeout(s, st);
		else
			step_fail(s, st, STATE_CRITICAL, "%s", err);
		return -1;
	}
	step_ok(st, "%d address%s", addrs.count, addrs.count == 1 ? "" : "es");

	st = begin(s, "connect");
	int fd = net_connect(&addrs, s->deadline, &used, &timed_out, err, sizeof(err));
	if (fd < 0) {
		if (timed_out)
			step_timeout(s, st);
		else
			step_fail(s, st, STATE_CRITICAL, "%s", err);
		return -1;
	}
	net_format_addr(&addrs.addr[used], s->peer, sizeof(s->peer));
	step_ok(st, "%s", s->peer);
	report_info(s->rep, "peer", "%s", s->peer);
	*out = transport_tcp_new(fd);
	if (!*out) {
		step_fail(s, NULL, STATE_UNKNOWN, "out of memory");
		return -1;
	}
	return 0;
}

static void check_certificate(struct sess *s, struct step *st)
{
	const struct tls_info *ti = &s->tls;
	if (!ti->has_cert)
		return;
	time_t now = time(NULL);
	double days = (double)(ti->not_after - now) / 86400.0;
	char until[32];
	struct tm tm;
	gmtime_r(&ti->not_after, &tm);
	strftime(until, sizeof(until), "%Y-%m-%d %H:%M:%S UTC", &tm);

	report_info(s->rep, "cert_subject", "%s", ti->subject);
	report_info(s->rep, "cert_issuer", "%s", ti->issuer);
	report_info(s->rep, "cert_not_after", "%lld", (long long)ti->not_after);
	report_perf(s->rep, "cert_days", days, "", 1, s->cfg->cert_days_set ? &s->cfg->cert_days : NULL);
	if (st)
		step_value(st, "cert_days", days, "");

	if (now > ti->not_after) {
		report_fail(s->rep, STATE_CRITICAL, "tls", "certificate expired on %s (%s)", until, ti->subject);
		s->failed = 1;
	} else if (now < ti->not_before) {
		report_fail(s->rep, STATE_CRITICAL, "tls", "certificate not valid yet (%s)", ti->subject);
		s->failed = 1;
	} else if (s->cfg->cert_days_set) {
		int state = thresholds_check(&s->cfg->cert_days, days);
		if (state != STATE_OK) {
			report_raise(s->rep, state);
			report_line(s->rep, "certificate %s expires in %.1f days (%s)", ti->subject, days, until);
			if (!s->rep->summary[0] || s->rep->state == state)
				snprintf(s->rep->summary, sizeof(s->rep->summary),
					 "certificate expires in %.1f days on %s (%s)", days, until, ti->subject);
		}
	}
}

static int do_tls(struct sess *s, struct transport **tr)
{
	const struct probe_config *cfg = s->cfg;
	struct tls_options opt = {
		.sni = cfg->sni ? cfg->sni : (net_is_ip_literal(cfg->host) ? NULL : cfg->host),
		.verify_name = cfg->host,
		.cafile = cfg->cafile,
		.capath = cfg->capath,
		.insecure = cfg->insecure,
		.client_cert = cfg->client_cert,
		.client_key = cfg->client_key,
		.min_version = cfg->tls_min,
	};
	char err[512];
	struct transport *out = NULL;

	struct step *st = begin(s, "tls");
	memset(&s->tls, 0, sizeof(s->tls));
	int rc = tls_start(*tr, &opt, s->deadline, &out, &s->tls, err, sizeof(err));
	if (rc != TLS_OK) {
		if (rc == TLS_ERR_TIMEOUT) {
			step_timeout(s, st);
		} else {
			step_fail(s, st, rc == TLS_ERR_CONFIG ? STATE_UNKNOWN : STATE_CRITICAL, "%s", err);
			if (rc == TLS_ERR_VERIFY && s->tls.has_cert)
				report_line(s->rep, "server certificate: %s (issuer %s)", s->tls.subject, s->tls.issuer);
		}
		return -1;
	}
	*tr = out;
	s->encrypted = 1;
	s->tls_have = 1;
	step_ok(st, "%s %s%s", s->tls.version, s->tls.cipher, s->tls.verified ? ", verified" : ", NOT verified (--insecure)");
	report_info(s->rep, "tls_version", "%s", s->tls.version);
	report_info(s->rep, "tls_cipher", "%s", s->tls.cipher);
	report_info(s->rep, "tls_verified", "%s", s->tls.verified ? "yes" : "no");
	check_certificate(s, st);
	return s->failed ? -1 : 0;
}

static int do_greeting(struct sess *s)
{
	struct imap_result res;
	struct step *st = begin(s, "greeting");

	if (imap_conn_greeting(s->conn, &res) < 0) {
		conn_fail(s, st, NULL);
		return -1;
	}
	note_alert(s, res.code, res.text);
	if (res.status == IMAP_ST_BYE) {
		char words[768];
		format_result(&res, words, sizeof(words));
		step_fail(s, st, STATE_CRITICAL, "server refused the connection: %s", words);
		return -1;
	}
	if (res.status == IMAP_ST_PREAUTH && s->cfg->tls == TLSMODE_STARTTLS) {
		step_fail(s, st, STATE_CRITICAL, "PREAUTH greeting: STARTTLS is impossible, refusing to go on in plaintext");
		return -1;
	}
	step_ok(st, "%s %s", status_word(res.status), res.text);
	return res.status == IMAP_ST_PREAUTH ? 1 : 0;
}

static int do_capability(struct sess *s)
{
	struct imap_cmd cmd;
	struct imap_result res;
	struct step *st = begin(s, "capability");

	imap_cmd_init(&cmd, s->conn, "CAPABILITY");
	int rc = run_command(s, st, &cmd, &res);
	imap_cmd_free(&cmd);
	if (rc < 0)
		return -1;
	if (!imap_conn_caps(s->conn)->known) {
		step_fail(s, st, STATE_CRITICAL, "server sent no capability list");
		return -1;
	}
	step_ok(st, "%s", imap_conn_caps(s->conn)->raw);
	return 0;
}

static int ensure_caps(struct sess *s)
{
	if (imap_conn_caps(s->conn)->known)
		return 0;
	return do_capability(s);
}

/* Anything readable on the socket right now, without consuming it. */
static int socket_has_data(int fd)
{
	char c;
	ssize_t n = recv(fd, &c, 1, MSG_PEEK | MSG_DONTWAIT);
	return n > 0;
}

static int do_starttls(struct sess *s)
{
	struct imap_cmd cmd;
	struct imap_result res;

	if (ensure_caps(s) < 0)
		return -1;
	struct step *st = begin(s, "starttls");
	if (!(imap_conn_caps(s->conn)->flags & CAP_STARTTLS)) {
		step_fail(s, st, STATE_CRITICAL, "server does not offer STARTTLS (capabilities: %s)",
			  imap_conn_caps(s->conn)->raw);
		return -1;
	}
	imap_cmd_init(&cmd, s->conn, "STARTTLS");
	int rc = run_command(s, st, &cmd, &res);
	imap_cmd_free(&cmd);
	if (rc < 0)
		return -1;
	struct transport *tr = imap_conn_transport(s->conn);
	if (imap_conn_buffered(s->conn) > 0 || socket_has_data(tr->fd)) {
		step_fail(s, st, STATE_CRITICAL,
			  "server sent data after its STARTTLS OK before the TLS handshake (response injection?)");
		return -1;
	}
	step_ok(st, "%s", res.text);

	if (do_tls(s, &tr) < 0) {
		/* tr was left untouched on failure: the conn still owns it */
		return -1;
	}
	imap_conn_replace_transport(s->conn, tr);
	imap_conn_caps_reset(s->conn);
	return 0;
}

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
		step_fail(s, st, STATE_CRITICAL, "server says LOGINDISABLED: IMAP LOGIN is not allowed here%s",
			  s->encrypted ? "" : " (use --starttls or --ssl)");
		return -1;
	}
	snprintf(s->mech, sizeof(s->mech), "LOGIN");
	imap_cmd_init(&cmd, s->conn, "LOGIN");
	imap_cmd_astring(&cmd, cfg->username, strlen(cfg->username), 0);
	imap_cmd_astring(&cmd, cfg->password, strlen(cfg->password), 1);
	int rc = run_command(s, st, &cmd, &res);
	imap_cmd_free(&cmd);
	if (rc < 0)
		return -1;
	step_ok(st, "LOGIN as %s: %s", cfg->username, res.text);
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
			step_fail(s, st, STATE_UNKNOWN, "%s: channel binding unavailable: %s", m->name, err);
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
		step_fail(s, st, STATE_UNKNOWN, "out of memory");
		return -1;
	}
	if (m->start(sa, &out, &has_initial) == SASL_FAIL) {
		step_fail(s, st, STATE_UNKNOWN, "%s: %s", m->name, sa->err);
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
				step_fail(s, st, STATE_UNKNOWN, "out of memory");
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
		conn_fail(s, st, NULL);
		goto done;
	}
	const char *tag = imap_conn_last_tag(s->conn);
	char mytag[16];
	snprintf(mytag, sizeof(mytag), "%s", tag);

	for (;;) {
		const struct imap_response *r;
		if (imap_conn_read(s->conn, &r) < 0) {
			conn_fail(s, st, cmdname);
			goto done;
		}
		if (r->type == IMAP_RESP_UNTAGGED) {
			on_untagged(s, s->conn, r);
			continue;
		}
		if (r->type == IMAP_RESP_TAGGED) {
			if (r->tag_len != strlen(mytag) || memcmp(r->tag, mytag, r->tag_len)) {
				step_fail(s, st, STATE_CRITICAL, "%s: reply with unknown tag", cmdname);
				goto done;
			}
			struct imap_result res = { .status = r->status };
			snprintf(res.code, sizeof(res.code), "%.*s", (int)r->code_len, r->code ? r->code : "");
			snprintf(res.code_arg, sizeof(res.code_arg), "%.*s", (int)r->code_arg_len,
				 r->code_arg ? r->code_arg : "");
			snprintf(res.text, sizeof(res.text), "%s", r->text ? r->text : "");
			note_alert(s, res.code, res.text);
			if (r->status != IMAP_ST_OK) {
				char words[1024];
				format_result(&res, words, sizeof(words));
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
				step_fail(s, st, STATE_CRITICAL, "%s: server claimed success without completing the exchange%s%s",
					  m->name, sa->err[0] ? ": " : "", sa->err);
				goto done;
			}
			step_ok(st, "%s as %s%s%s: %s", m->name, cfg->username ? cfg->username : "(certificate)",
				cfg->authzid ? " for " : "", cfg->authzid ? cfg->authzid : "", res.text);
			rc = 0;
			goto done;
		}
		/* continuation */
		if (++rounds > SASL_MAX_ROUNDS) {
			step_fail(s, st, STATE_CRITICAL, "%s: too many challenges from the server", cmdname);
			goto done;
		}
		sb_reset(&out);
		if (initial_pending) {
			initial_pending = 0;
			/* the server's first (empty) challenge asks for our initial response */
			if (m->start(sa, &out, &has_initial) == SASL_FAIL) {
				step_fail(s, st, STATE_UNKNOWN, "%s: %s", m->name, sa->err);
				goto done;
			}
		} else {
			size_t cap = r->text_len + 4;
			unsigned char *chal = malloc(cap);
			long n = chal ? base64_decode(r->text, r->text_len, chal, cap) : -1;
			if (n < 0) {
				free(chal);
				imap_conn_write_line(s->conn, "*", 1, 0);
				step_fail(s, st, STATE_CRITICAL, "%s: server sent a challenge that is not valid base64", cmdname);
				goto done;
			}
			int sr = m->step(sa, chal, (size_t)n, &out);
			free(chal);
			if (sr == SASL_FAIL) {
				imap_conn_write_line(s->conn, "*", 1, 0);
				step_fail(s, st, STATE_CRITICAL, "%s: %s", cmdname, sa->err);
				goto done;
			}
		}
		if (sasl_send(s, &out) < 0) {
			conn_fail(s, st, cmdname);
			goto done;
		}
	}
done:
	secure_zero(out.data, out.cap);
	sb_free(&out);
	sasl_free(sa);
	return rc;
}

static int do_auth(struct sess *s)
{
	const struct probe_config *cfg = s->cfg;
	const char *a = cfg->auth;

	if (!strcmp(a, "none") || (!strcmp(a, "auto") && !cfg->username && !cfg->client_cert))
		return 0;
	if (ensure_caps(s) < 0)
		return -1;

	struct imap_caps *caps = imap_conn_caps(s->conn);
	struct step *st = begin(s, "auth");

	if (!strcmp(a, "login"))
		return do_login(s, st);

	if (!strcmp(a, "auto")) {
		for (const struct sasl_mech *const *m = sasl_mechs; *m; m++)
			if (imap_caps_has_auth(caps, (*m)->name) && mech_usable(s, *m, 0))
				return do_sasl(s, st, *m);
		if (cfg->password && s->encrypted && !(caps->flags & CAP_LOGINDISABLED))
			return do_login(s, st);
		step_fail(s, st, STATE_CRITICAL,
			  "no usable authentication mechanism (server offers:%s)%s", caps->auth[1] ? caps->auth : " none ",
			  s->encrypted ? "" : "; plaintext mechanisms are not used on an unencrypted connection"
			  " unless named with --auth (or use --ssl / --starttls)");
		return -1;
	}
	const struct sasl_mech *m = sasl_find(a);
	if (!m) {
		step_fail(s, st, STATE_UNKNOWN, "mechanism %s is not supported by this build", a);
		return -1;
	}
	if (!imap_caps_has_auth(caps, m->name)) {
		step_fail(s, st, STATE_CRITICAL, "server does not offer AUTH=%s (offers:%s)", m->name,
			  caps->auth[1] ? caps->auth : " none");
		return -1;
	}
	if (!mech_usable(s, m, 1)) {
		step_fail(s, st, STATE_UNKNOWN, "%s cannot be used with the given credentials or connection", m->name);
		return -1;
	}
	return do_sasl(s, st, m);
}

/* ---------------------------------------------------------------- mailbox */

static int do_examine(struct sess *s)
{
	const struct probe_config *cfg = s->cfg;
	char name[1024];
	struct imap_cmd status, cmd;
	struct imap_result sres, res;
	unsigned sid, id;
	const char *verb = cfg->select ? "SELECT" : "EXAMINE";
	struct step *st = begin(s, cfg->select ? "select" : "examine");

	if (imap_utf7_encode(cfg->mailbox, name, sizeof(name)) < 0) {
		step_fail(s, st, STATE_UNKNOWN, "mailbox name %s is not valid UTF-8 or too long", cfg->mailbox);
		return -1;
	}
	/* STATUS for the unseen count travels in the same flight as EXAMINE:
	 * no extra round trip. */
	imap_cmd_init(&status, s->conn, "STATUS");
	imap_cmd_astring(&status, name, strlen(name), 0);
	imap_cmd_atom(&status, "(UNSEEN)");
	imap_cmd_init(&cmd, s->conn, verb);
	imap_cmd_astring(&cmd, name, strlen(name), 0);
	int rc = imap_conn_queue(s->conn, &status, &sid);
	if (rc == 0)
		rc = imap_conn_send(s->conn, &cmd, &id);
	if (rc == 0)
		rc = imap_conn_wait(s->conn, sid, &sres);
	if (rc == 0)
		rc = imap_conn_wait(s->conn, id, &res);
	imap_cmd_free(&status);
	if (rc < 0) {
		imap_cmd_free(&cmd);
		conn_fail(s, st, verb);
		return -1;
	}
	note_alert(s, res.code, res.text);
	if (res.status != IMAP_ST_OK) {
		result_fail(s, st, cmd.name, &res);
		imap_cmd_free(&cmd);
		return -1;
	}
	imap_cmd_free(&cmd);
	if (!s->mb.have_exists) {
		step_fail(s, st, STATE_CRITICAL, "%s %s: server sent no EXISTS count", verb, cfg->mailbox);
		return -1;
	}
	step_value(st, "messages", s->mb.exists, "");
	if (s->mb.have_unseen)
		step_value(st, "unseen", s->mb.unseen, "");
	char unseen[32] = "";
	if (s->mb.have_unseen)
		snprintf(unseen, sizeof(unseen), ", %u unseen", s->mb.unseen);
	step_ok(st, "%s: %u messages, %u recent%s%s", cfg->mailbox, s->mb.exists, s->mb.recent, unseen,
		s->mb.read_only ? " (read-only)" : "");
	if (s->mb.have_uidvalidity)
		report_info(s->rep, "uidvalidity", "%llu", (unsigned long long)s->mb.uidvalidity);
	if (s->mb.have_uidnext)
		report_info(s->rep, "uidnext", "%llu", (unsigned long long)s->mb.uidnext);
	return 0;
}

static int do_fetch(struct sess *s)
{
	const struct probe_config *cfg = s->cfg;
	struct imap_cmd cmd;
	struct imap_result res;
	char seq[16];

	if (cfg->fetch == FETCH_NONE)
		return 0;
	struct step *st = begin(s, "fetch");
	if (s->mb.exists == 0) {
		if (st)
			report_step_end(st, STEP_SKIPPED, STATE_OK, "mailbox is empty");
		return 0;
	}
	snprintf(seq, sizeof(seq), "%u", s->mb.exists);
	imap_cmd_init(&cmd, s->conn, "FETCH");
	imap_cmd_atom(&cmd, seq);
	imap_cmd_atom(&cmd, cfg->fetch == FETCH_FULL ?
		      "(UID RFC822.SIZE INTERNALDATE BODY.PEEK[])" :
		      "(UID RFC822.SIZE INTERNALDATE BODY.PEEK[HEADER.FIELDS (SUBJECT DATE FROM)])");
	int rc = run_command(s, st, &cmd, &res);
	imap_cmd_free(&cmd);
	if (rc < 0)
		return -1;
	if (!s->msg.got) {
		step_fail(s, st, STATE_CRITICAL, "FETCH %s returned no message (expunged meanwhile?)", seq);
		return -1;
	}
	step_value(st, "size", (double)s->msg.size, "B");
	step_value(st, "bytes", (double)s->msg.bytes, "B");
	report_perf(s->rep, "size", (double)s->msg.size, "B", 0, NULL);
	step_ok(st, "message %u (UID %llu, %llu bytes): \"%s\"%s%s", s->msg.seq, (unsigned long long)s->msg.uid,
		(unsigned long long)s->msg.size, s->msg.subject, s->msg.from[0] ? " from " : "", s->msg.from);
	return 0;
}

static void do_logout(struct sess *s)
{
	struct imap_cmd cmd;
	struct imap_result res;
	int64_t now = clock_now_ns();
	int64_t grace = now + LOGOUT_GRACE_NS;

	struct step *st = begin(s, "logout");
	imap_conn_set_deadline(s->conn, s->deadline && s->deadline < grace ? s->deadline : grace);
	imap_conn_expect_bye(s->conn);
	imap_cmd_init(&cmd, s->conn, "LOGOUT");
	int rc = imap_conn_command(s->conn, &cmd, &res);
	imap_cmd_free(&cmd);
	imap_conn_set_deadline(s->conn, s->deadline);
	if (rc < 0) {
		enum imap_err e = imap_conn_err(s->conn);
		if (e == IMAP_E_TIMEOUT && !clock_expired(s->deadline))
			step_ok(st, "no reply to LOGOUT within %.1fs; closed", (double)LOGOUT_GRACE_NS / 1e9);
		else if (e == IMAP_E_EOF || e == IMAP_E_BYE)
			step_ok(st, "server closed the connection");
		else if (e == IMAP_E_TIMEOUT)
			step_timeout(s, st);
		else
			conn_fail(s, st, "LOGOUT");
		return;
	}
	if (res.status != IMAP_ST_OK) {
		result_fail(s, st, "LOGOUT", &res);
		return;
	}
	step_ok(st, "%s", res.text);
}

/* ---------------------------------------------------------------- summary */

static void add_perfdata(struct sess *s)
{
	const struct probe_config *cfg = s->cfg;
	struct report *rep = s->rep;

	for (unsigned i = 0; i < rep->nsteps; i++) {
		const struct step *st = &rep->steps[i];
		if (st->outcome == STEP_SKIPPED)
			continue;
		struct perf *p = report_perf(rep, st->name, clock_ns_to_s(st->dur_ns), "s", 6, NULL);
		if (p) {
			p->has_min = p->has_max = 1;
			p->min = 0;
			p->max = cfg->timeout_s;
		}
	}
	struct perf *p = report_perf(rep, "time", clock_ns_to_s(rep->total_ns), "s", 6, &cfg->time);
	if (p) {
		p->has_min = p->has_max = 1;
		p->min = 0;
		p->max = cfg->timeout_s;
	}
	if (s->mb.have_exists) {
		report_perf(rep, "messages", s->mb.exists, "", 0, &cfg->messages);
		report_perf(rep, "recent", s->mb.recent, "", 0, NULL);
	}
	if (s->mb.have_unseen)
		report_perf(rep, "unseen", s->mb.unseen, "", 0, &cfg->unseen);
	/* keep the order: steps, time, counts, then the rest added earlier */
}

static void ok_summary(struct sess *s)
{
	const struct probe_config *cfg = s->cfg;
	struct report *rep = s->rep;
	char who[256], via[96] = "", box[256] = "";

	snprintf(who, sizeof(who), "%s%s%s:%u", cfg->username && s->mech[0] ? cfg->username : "",
		 cfg->username && s->mech[0] ? "@" : "", cfg->host, cfg->port);
	if (s->tls_have)
		snprintf(via, sizeof(via), " %s", s->tls.version);
	if (s->mech[0])
		snprintf(via + strlen(via), sizeof(via) - strlen(via), " %s", s->mech);
	else
		snprintf(via + strlen(via), sizeof(via) - strlen(via), " (no login)");
	if (s->mb.have_exists) {
		snprintf(box, sizeof(box), ", %s: %u messages", cfg->mailbox, s->mb.exists);
		if (s->mb.have_unseen)
			snprintf(box + strlen(box), sizeof(box) - strlen(box), " (%u unseen)", s->mb.unseen);
	}
	char line[1024];
	snprintf(line, sizeof(line), "%s%s%s in %.3fs", who, via, box, clock_ns_to_s(rep->total_ns));
	if (rep->summary[0]) {
		/* a threshold already said something: keep it first */
		char prev[1024];
		snprintf(prev, sizeof(prev), "%s", rep->summary);
		snprintf(rep->summary, sizeof(rep->summary), "%s - %s", prev, line);
	} else {
		snprintf(rep->summary, sizeof(rep->summary), "%s", line);
	}
}

static void check_thresholds(struct sess *s)
{
	const struct probe_config *cfg = s->cfg;
	struct report *rep = s->rep;
	double t = clock_ns_to_s(rep->total_ns);
	int state = thresholds_check(&cfg->time, t);

	if (state != STATE_OK) {
		report_raise(rep, state);
		const struct range *r = state == STATE_CRITICAL ? &cfg->time.crit : &cfg->time.warn;
		char msg[256];
		snprintf(msg, sizeof(msg), "session took %.3fs (%s threshold %s)", t,
			 state == STATE_CRITICAL ? "critical" : "warning", r->text);
		if (rep->summary[0]) {
			char prev[1024];
			snprintf(prev, sizeof(prev), "%s", rep->summary);
			snprintf(rep->summary, sizeof(rep->summary), "%s, %s", msg, prev);
		} else {
			snprintf(rep->summary, sizeof(rep->summary), "%s", msg);
		}
	}
	if (s->mb.have_exists) {
		int ms = thresholds_check(&cfg->messages, s->mb.exists);
		if (ms != STATE_OK) {
			report_raise(rep, ms);
			report_line(rep, "%u messages in %s is outside the %s range", s->mb.exists, cfg->mailbox,
				    ms == STATE_CRITICAL ? "critical" : "warning");
		}
	}
	if (s->mb.have_unseen) {
		int us = thresholds_check(&cfg->unseen, s->mb.unseen);
		if (us != STATE_OK) {
			report_raise(rep, us);
			report_line(rep, "%u unseen messages in %s is outside the %s range", s->mb.unseen, cfg->mailbox,
				    us == STATE_CRITICAL ? "critical" : "warning");
		}
	}
}

/* ---------------------------------------------------------------- runner */

static void run_steps(struct sess *s)
{
	const struct probe_config *cfg = s->cfg;
	struct transport *tr = NULL;

	if (do_connect(s, &tr) < 0)
		return;
	if (cfg->tls == TLSMODE_IMPLICIT && do_tls(s, &tr) < 0) {
		transport_close(tr);
		return;
	}
	struct imap_conn_opts copts = {
		.trace = s->env ? s->env->trace : NULL,
		.trace_ud = s->env ? s->env->trace_ud : NULL,
	};
	imap_limits_default(&copts.limits);
	s->conn = imap_conn_new(tr, &copts);
	if (!s->conn) {
		transport_close(tr);
		step_fail(s, NULL, STATE_UNKNOWN, "out of memory");
		return;
	}
	imap_conn_set_deadline(s->conn, s->deadline);
	imap_conn_set_handler(s->conn, on_untagged, s);

	int pre = do_greeting(s);
	if (pre < 0)
		return;
	if (cfg->tls == TLSMODE_STARTTLS && do_starttls(s) < 0)
		goto out;
	if (!pre && do_auth(s) < 0)
		goto out;
	if (strcmp(cfg->auth, "none") && (pre || s->mech[0])) {
		if (do_examine(s) < 0)
			goto out;
		if (do_fetch(s) < 0)
			goto out;
	}
out:
	if (!s->timed_out && imap_conn_err(s->conn) != IMAP_E_EOF && imap_conn_err(s->conn) != IMAP_E_BYE &&
	    imap_conn_err(s->conn) != IMAP_E_IO && imap_conn_err(s->conn) != IMAP_E_PROTOCOL &&
	    imap_conn_err(s->conn) != IMAP_E_LIMIT) {
		int failed = s->failed;
		do_logout(s);
		s->failed |= failed;
	}
}

int session_run(const struct probe_config *cfg, const struct session_env *env, struct report *rep)
{
	struct sess s = {
		.cfg = cfg,
		.env = env,
		.rep = rep,
	};

	rep->start_ns = clock_now_ns();
	s.deadline = rep->start_ns + (int64_t)(cfg->timeout_s * 1e9);
	report_info(rep, "host", "%s", cfg->host);
	report_info(rep, "port", "%u", cfg->port);

	run_steps(&s);
	if (s.conn)
		imap_conn_free(s.conn);

	rep->total_ns = clock_now_ns() - rep->start_ns;
	if (s.mech[0])
		report_info(rep, "mechanism", "%s", s.mech);
	add_perfdata(&s);
	if (!s.failed) {
		check_thresholds(&s);
		ok_summary(&s);
	}
	return rep->state;
}
