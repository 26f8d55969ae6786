/* session.c - the step runner: one IMAP session under one deadline.
 *
 * resolve, connect, [tls], greeting, [capability], [starttls, tls,
 * capability], auth, [capability], examine/select (+ STATUS in the same
 * flight), [fetch], logout.  Each step is stamped with CLOCK_MONOTONIC and
 * recorded in the report; the first failure ends the session (after a
 * best-effort LOGOUT where the connection is still usable). */
#include "config.h"
#include "session/session_int.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>

#include "session/capcache.h"
#include "net/clock.h"
#include "imap/imap_conn.h"
#include "net/net.h"
#include "net/tls.h"
#include "net/transport.h"

#define LOGOUT_GRACE_NS (1000LL * 1000 * 1000)


/* ---------------------------------------------------------------- helpers */

struct step *sess_begin(struct sess *s, const char *name)
{
	return report_step_begin(s->rep, name);
}

void sess_ok(struct step *st, const char *fmt, ...)
{
	char msg[512];
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	if (st)
		report_step_end(st, STEP_OK, STATE_OK, "%s", msg);
}

const char *sess_step_name(const struct step *st)
{
	return st ? st->name : "session";
}

/* A step failed with state `state`: record it on the step and the report. */
void sess_fail(struct sess *s, struct step *st, int state, const char *fmt, ...)
{
	char msg[768];
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	if (st)
		report_step_end(st, STEP_FAILED, state, "%s", msg);
	report_fail(s->rep, state, sess_step_name(st), "%s failed: %s", sess_step_name(st), msg);
	s->failed = 1;
}

/* After a failure in the flight that carried the login (--pipeline):
 * the likely cause, when the login itself went through. */
static void pipelined_login_hint(struct sess *s)
{
	if (!s->login_pipelined || s->pa.active)
		return;
	const struct step *auth = report_find_step(s->rep, "auth");
	if (auth && auth->outcome == STEP_OK)
		report_line(s->rep, "the login went out together with the next commands (--pipeline); some servers "
			    "lose or garble commands sent before their login answer: check without --pipeline");
}

void sess_timeout(struct sess *s, struct step *st)
{
	pipelined_login_hint(s);
	if (st)
		report_step_end(st, STEP_TIMEOUT, s->cfg->timeout_state, "timed out");
	report_fail(s->rep, s->cfg->timeout_state, sess_step_name(st), "timeout during %s (%gs)",
		    sess_step_name(st), s->cfg->timeout_s);
	s->failed = 1;
	s->timed_out = 1;
}

/* The connection layer failed inside a step. */
void sess_conn_fail(struct sess *s, struct step *st, const char *what)
{
	enum imap_err e = imap_conn_err(s->conn);
	if (e == IMAP_E_TIMEOUT) {
		sess_timeout(s, st);
		return;
	}
	int state = e == IMAP_E_LOCAL ? STATE_UNKNOWN : STATE_CRITICAL;
	if (e == IMAP_E_PROTOCOL)
		pipelined_login_hint(s);
	sess_fail(s, st, state, "%s%s%s", what ? what : "", what ? ": " : "", imap_conn_errmsg(s->conn));
}

const char *sess_status_word(enum imap_status st)
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
void sess_format_result(const struct imap_result *res, char *buf, size_t len)
{
	if (res->code[0] && res->code_arg[0])
		snprintf(buf, len, "%s [%s %s] %s", sess_status_word(res->status), res->code, res->code_arg, res->text);
	else if (res->code[0])
		snprintf(buf, len, "%s [%s] %s", sess_status_word(res->status), res->code, res->text);
	else
		snprintf(buf, len, "%s %s", sess_status_word(res->status), res->text);
}

void sess_note_alert(struct sess *s, const char *code, const char *text)
{
	if (code && !strcasecmp(code, "ALERT"))
		report_line(s->rep, "ALERT from server: %s", text);
}

/* A tagged NO/BAD for `cmd` inside step st. */
void sess_result_fail(struct sess *s, struct step *st, const char *cmd, const struct imap_result *res)
{
	char words[1024];
	sess_format_result(res, words, sizeof(words));
	sess_note_alert(s, res->code, res->text);
	if (st)
		report_step_end(st, STEP_FAILED, STATE_CRITICAL, "%s: %s", cmd, words);
	report_fail(s->rep, STATE_CRITICAL, sess_step_name(st), "%s failed (%s): %s", sess_step_name(st), cmd, words);
	s->failed = 1;
}

/* Run a command inside a step; returns 0 on tagged OK, -1 after recording
 * the failure. */
int sess_command(struct sess *s, struct step *st, struct imap_cmd *cmd, struct imap_result *res)
{
	if (imap_conn_command(s->conn, cmd, res) < 0) {
		sess_conn_fail(s, st, NULL);
		return -1;
	}
	sess_note_alert(s, res->code, res->text);
	if (res->status != IMAP_ST_OK) {
		sess_result_fail(s, st, cmd->name, res);
		return -1;
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

	struct step *st = sess_begin(s, "resolve");
	if (net_resolve(cfg->host, cfg->port, cfg->family, s->deadline, s->env ? s->env->stop : NULL, &addrs,
			&timed_out, err, sizeof(err)) < 0) {
		if (timed_out)
			sess_timeout(s, st);
		else
			sess_fail(s, st, STATE_CRITICAL, "%s", err);
		return -1;
	}
	sess_ok(st, "%d address%s", addrs.count, addrs.count == 1 ? "" : "es");

	st = sess_begin(s, "connect");
	int fd = net_connect(&addrs, s->deadline, s->env ? s->env->stop : NULL, &used, &timed_out, err, sizeof(err));
	if (fd < 0) {
		if (timed_out)
			sess_timeout(s, st);
		else
			sess_fail(s, st, STATE_CRITICAL, "%s", err);
		return -1;
	}
	net_format_addr(&addrs.addr[used], s->peer, sizeof(s->peer));
	sess_ok(st, "%s", s->peer);
	report_info(s->rep, "peer", "%s", s->peer);
	*out = transport_tcp_new(fd);
	if (!*out) {
		sess_fail(s, NULL, STATE_UNKNOWN, "out of memory");
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
	s->cert_days = days;
	s->have_cert_days = 1;
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
			snprintf(s->cert_note, sizeof(s->cert_note), "certificate expires in %.1f days on %s (%s)",
				 days, until, ti->subject);
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

	struct step *st = sess_begin(s, "tls");
	memset(&s->tls, 0, sizeof(s->tls));
	int rc = tls_start(*tr, &opt, s->deadline, &out, &s->tls, err, sizeof(err));
	if (rc != TLS_OK) {
		if (rc == TLS_ERR_TIMEOUT) {
			sess_timeout(s, st);
		} else {
			sess_fail(s, st, rc == TLS_ERR_CONFIG ? STATE_UNKNOWN : STATE_CRITICAL, "%s", err);
			if (rc == TLS_ERR_VERIFY && s->tls.has_cert)
				report_line(s->rep, "server certificate: %s (issuer %s)", s->tls.subject, s->tls.issuer);
		}
		return -1;
	}
	*tr = out;
	s->encrypted = 1;
	s->tls_have = 1;
	sess_ok(st, "%s %s%s", s->tls.version, s->tls.cipher, s->tls.verified ? ", verified" : ", NOT verified (--insecure)");
	report_info(s->rep, "tls_version", "%s", s->tls.version);
	report_info(s->rep, "tls_cipher", "%s", s->tls.cipher);
	report_info(s->rep, "tls_verified", "%s", s->tls.verified ? "yes" : "no");
	check_certificate(s, st);
	return s->failed ? -1 : 0;
}

static int do_greeting(struct sess *s)
{
	struct imap_result res;
	struct step *st = sess_begin(s, "greeting");

	if (imap_conn_greeting(s->conn, &res) < 0) {
		sess_conn_fail(s, st, NULL);
		return -1;
	}
	sess_note_alert(s, res.code, res.text);
	if (res.status == IMAP_ST_BYE) {
		char words[768];
		sess_format_result(&res, words, sizeof(words));
		sess_fail(s, st, STATE_CRITICAL, "server refused the connection: %s", words);
		return -1;
	}
	if (res.status == IMAP_ST_PREAUTH && s->cfg->tls == TLSMODE_STARTTLS) {
		sess_fail(s, st, STATE_CRITICAL, "PREAUTH greeting: STARTTLS is impossible, refusing to go on in plaintext");
		return -1;
	}
	sess_ok(st, "%s %s", sess_status_word(res.status), res.text);
	snprintf(s->greet, sizeof(s->greet), "%s", res.text);
	return res.status == IMAP_ST_PREAUTH ? 1 : 0;
}

int do_capability(struct sess *s)
{
	struct imap_cmd cmd;
	struct imap_result res;
	struct step *st = sess_begin(s, "capability");

	imap_cmd_init(&cmd, s->conn, "CAPABILITY");
	int rc = sess_command(s, st, &cmd, &res);
	imap_cmd_free(&cmd);
	if (rc < 0)
		return -1;
	if (!imap_conn_caps(s->conn)->known) {
		sess_fail(s, st, STATE_CRITICAL, "server sent no capability list");
		return -1;
	}
	sess_ok(st, "%s", imap_conn_caps(s->conn)->raw);
	return 0;
}

int sess_ensure_caps(struct sess *s)
{
	if (sess_auth_settle(s) < 0)
		return -1;
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

	if (sess_ensure_caps(s) < 0)
		return -1;
	struct step *st = sess_begin(s, "starttls");
	if (!(imap_conn_caps(s->conn)->flags & CAP_STARTTLS)) {
		sess_fail(s, st, STATE_CRITICAL, "server does not offer STARTTLS (capabilities: %s)",
			  imap_conn_caps(s->conn)->raw);
		return -1;
	}
	imap_cmd_init(&cmd, s->conn, "STARTTLS");
	int rc = sess_command(s, st, &cmd, &res);
	imap_cmd_free(&cmd);
	if (rc < 0)
		return -1;
	struct transport *tr = imap_conn_transport(s->conn);
	if (imap_conn_buffered(s->conn) > 0 || socket_has_data(tr->fd)) {
		sess_fail(s, st, STATE_CRITICAL,
			  "server sent data after its STARTTLS OK before the TLS handshake (response injection?)");
		return -1;
	}
	sess_ok(st, "%s", res.text);

	if (do_tls(s, &tr) < 0) {
		/* tr was left untouched on failure: the conn still owns it.  No
		 * LOGOUT either: after STARTTLS nothing more may be sent until
		 * TLS is up (RFC 3501/9051 6.2.1), least of all in the clear. */
		s->greeted = 0;
		return -1;
	}
	imap_conn_replace_transport(s->conn, tr);
	imap_conn_caps_reset(s->conn);
	return 0;
}

static void do_logout(struct sess *s)
{
	struct imap_cmd cmd;
	struct imap_result res;
	int64_t now = clock_now_ns();
	int64_t grace = now + LOGOUT_GRACE_NS;

	struct step *st = sess_begin(s, "logout");
	imap_conn_set_deadline(s->conn, s->deadline && s->deadline < grace ? s->deadline : grace);
	imap_conn_expect_bye(s->conn);
	imap_cmd_init(&cmd, s->conn, "LOGOUT");
	int rc = imap_conn_command(s->conn, &cmd, &res);
	imap_cmd_free(&cmd);
	imap_conn_set_deadline(s->conn, s->deadline);
	if (rc < 0) {
		enum imap_err e = imap_conn_err(s->conn);
		if (e == IMAP_E_TIMEOUT && !clock_expired(s->deadline))
			sess_ok(st, "no reply to LOGOUT within %.1fs; closed", (double)LOGOUT_GRACE_NS / 1e9);
		else if (e == IMAP_E_EOF || e == IMAP_E_BYE)
			sess_ok(st, "server closed the connection");
		else if (e == IMAP_E_TIMEOUT)
			sess_timeout(s, st);
		else
			sess_conn_fail(s, st, "LOGOUT");
		return;
	}
	if (res.status != IMAP_ST_OK) {
		sess_result_fail(s, st, "LOGOUT", &res);
		return;
	}
	sess_ok(st, "%s", res.text);
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
	if (s->have_cert_days)
		report_perf(rep, "cert_days", s->cert_days, "", 1, cfg->cert_days_set ? &cfg->cert_days : NULL);
	sess_mailbox_perf(s);
}

/* The success summary: threshold notes first, then who/what/how long. */
static void ok_summary(struct sess *s, const char *notes)
{
	const struct probe_config *cfg = s->cfg;
	struct report *rep = s->rep;
	char who[256], via[96] = "", box[256] = "";

	int named = cfg->username && (s->mech[0] || s->auth_tried);
	snprintf(who, sizeof(who), "%s%s%s:%u", named ? cfg->username : "", named ? "@" : "", cfg->host, cfg->port);
	if (s->tls_have)
		snprintf(via, sizeof(via), " %s", s->tls.version);
	if (!strcmp(cfg->auth, "all"))
		snprintf(via + strlen(via), sizeof(via) - strlen(via), " %u/%u mechanisms", s->auth_ok, s->auth_tried);
	else if (s->mech[0])
		snprintf(via + strlen(via), sizeof(via) - strlen(via), " %s", s->mech);
	else
		snprintf(via + strlen(via), sizeof(via) - strlen(via), " (no login)");
	sess_mailbox_summary(s, box, sizeof(box));
	report_set_summary(rep, "%s%s%s%s%s in %.3fs", notes, notes[0] ? " - " : "", who, via, box,
			   clock_ns_to_s(rep->total_ns));
}

void sess_note(struct sbuf *notes, const char *fmt, ...)
{
	va_list ap;
	if (notes->len)
		sb_puts(notes, ", ");
	va_start(ap, fmt);
	sb_vprintf(notes, fmt, ap);
	va_end(ap);
}

void sess_check_count(struct sess *s, struct sbuf *notes, const char *what, double v,
			const struct thresholds *th)
{
	int st = thresholds_check(th, v);
	if (st == STATE_OK)
		return;
	report_raise(s->rep, st);
	sess_note(notes, "%s %.0f outside the %s range %s", what, v, st == STATE_CRITICAL ? "critical" : "warning",
	     st == STATE_CRITICAL ? th->crit.text : th->warn.text);
}

static void check_thresholds(struct sess *s, struct sbuf *notes)
{
	const struct probe_config *cfg = s->cfg;
	double t = clock_ns_to_s(s->rep->total_ns);
	int state = thresholds_check(&cfg->time, t);

	if (state != STATE_OK) {
		report_raise(s->rep, state);
		sess_note(notes, "session took %.3fs (%s threshold %s)", t, state == STATE_CRITICAL ? "critical" : "warning",
		     state == STATE_CRITICAL ? cfg->time.crit.text : cfg->time.warn.text);
	}
	if (s->cert_note[0])
		sess_note(notes, "%s", s->cert_note);
	if (s->auth_note[0])
		sess_note(notes, "%s", s->auth_note);
	sess_mailbox_thresholds(s, notes);
}

/* ---------------------------------------------------------------- runner */

/* Connect, TLS, greeting, STARTTLS, login: see session_int.h.  Also opens
 * the second connection of --idle (session_mailbox.c). */
int sess_open(struct sess *s)
{
	const struct probe_config *cfg = s->cfg;
	struct transport *tr = NULL;

	if (do_connect(s, &tr) < 0)
		return -1;
	if (cfg->tls == TLSMODE_IMPLICIT && do_tls(s, &tr) < 0) {
		transport_close(tr);
		return -1;
	}
	struct imap_conn_opts copts = {
		.trace = s->env ? s->env->trace : NULL,
		.trace_ud = s->env ? s->env->trace_ud : NULL,
	};
	imap_limits_default(&copts.limits);
	s->conn = imap_conn_new(tr, &copts);
	if (!s->conn) {
		transport_close(tr);
		sess_fail(s, NULL, STATE_UNKNOWN, "out of memory");
		return -1;
	}
	imap_conn_set_deadline(s->conn, s->deadline);
	imap_conn_set_handler(s->conn, sess_on_untagged, s);

	int pre = do_greeting(s);
	if (pre < 0)
		return -1;
	s->greeted = 1;
	if (cfg->tls == TLSMODE_STARTTLS && do_starttls(s) < 0)
		return -1;
	if (!pre && sess_auth(s) < 0)
		return -1;
	return strcmp(cfg->auth, "none") && (pre || s->mech[0]) ? 1 : 0;
}

/* LOGOUT unless the connection is gone or was never greeted. */
void sess_close(struct sess *s)
{
	if (!s->conn || !s->greeted)
		return;
	if (s->pa.active && !s->failed)
		sess_auth_settle(s);
	if (s->logged_out)
		return;         /* LOGOUT went in the last flight, answered there */
	if (!s->timed_out && imap_conn_err(s->conn) != IMAP_E_EOF && imap_conn_err(s->conn) != IMAP_E_BYE &&
	    imap_conn_err(s->conn) != IMAP_E_IO && imap_conn_err(s->conn) != IMAP_E_PROTOCOL &&
	    imap_conn_err(s->conn) != IMAP_E_LIMIT) {
		int failed = s->failed;
		do_logout(s);
		s->failed |= failed;
	}
}

static void run_steps(struct sess *s)
{
	if (!strcmp(s->cfg->auth, "all")) {
		sess_auth_all(s);
		return;
	}
	/* --pipeline: with the plain read path (no namespace, list, quota or
	 * write steps, which need the capabilities the server lists after
	 * login), the login goes out with the first mailbox flight */
	const struct probe_config *cfg = s->cfg;
	s->defer_auth_ok = cfg->pipeline && !cfg->namespace_step && !cfg->list_step && !cfg->quota_step &&
			   !cfg->select && !cfg->delete_matched && !cfg->append && !cfg->idle && !cfg->script;
	int open = sess_open(s);
	s->defer_auth_ok = 0;
	if (open > 0)
		sess_mailbox_steps(s);
	sess_close(s);
}

static const char *tls_mode_name(enum tls_mode m)
{
	return m == TLSMODE_IMPLICIT ? "tls" : m == TLSMODE_STARTTLS ? "starttls" : "plain";
}

/* --cache-dir: read this server's entry before the session. */
static void cache_load(struct sess *s)
{
	const struct probe_config *cfg = s->cfg;
	char err[512];

	if (!cfg->cache_dir || !strcmp(cfg->auth, "all"))
		return;
	capcache_key(s->cc_key, sizeof(s->cc_key), cfg->host, cfg->port, tls_mode_name(cfg->tls),
		     cfg->authzid ? cfg->authzid : cfg->username);
	int r = capcache_load(cfg->cache_dir, s->cc_key, &s->cc, err, sizeof(err));
	s->cc_loaded = r > 0;
	if (err[0])
		report_line(s->rep, "capability cache: %s", err);
	report_info(s->rep, "caps_cache", "%s", r > 0 ? "found" : "none");
}

/* --cache-dir: after the session, remember what the server listed after
 * the login (when it listed anything then), or forget a stale entry. */
static void cache_store(struct sess *s)
{
	const struct probe_config *cfg = s->cfg;
	const struct step *auth = report_find_step(s->rep, "auth");
	const struct imap_caps *caps = s->conn ? imap_conn_caps(s->conn) : NULL;
	struct capcache_entry e;
	char err[512] = "";
	const char *what = NULL;

	if (!s->cc_key[0])
		return;
	if (s->spec_stale) {
		if (capcache_forget(cfg->cache_dir, s->cc_key, err, sizeof(err)) == 0)
			what = "stale, removed";
		s->cc_loaded = 0;
	}
	if (auth && auth->outcome == STEP_OK && s->login_caps_known && caps && caps->known) {
		memset(&e, 0, sizeof(e));
		snprintf(e.before, sizeof(e.before), "%s", s->login_caps);
		snprintf(e.after, sizeof(e.after), "%s", caps->raw);
		if (!s->cc_loaded || strcmp(e.before, s->cc.before) || strcmp(e.after, s->cc.after)) {
			if (capcache_store(cfg->cache_dir, s->cc_key, &e, err, sizeof(err)) == 0)
				what = "written";
		} else if (s->assumed_used) {
			what = "used";
		}
	}
	if (err[0])
		report_line(s->rep, "capability cache not updated: %s", err);
	if (what)
		report_info(s->rep, "caps_cache", "%s", what);
}

/* One session on a fresh struct sess; 1 when it should be run again
 * without the cache (a stale entry was found out in time). */
static int run_once(struct sess *s)
{
	if (sess_mailbox_prepare(s) == 0) {
		cache_load(s);
		run_steps(s);
		cache_store(s);
	}
	if (s->conn)
		imap_conn_free(s->conn);
	s->conn = NULL;
	sess_mailbox_release(s);
	return s->spec_stale && !s->timed_out && !clock_expired(s->deadline);
}

int session_run(const struct probe_config *cfg, const struct session_env *env, struct report *rep)
{
	struct sess s = {
		.cfg = cfg,
		.env = env,
		.rep = rep,
	};

	unsigned rt0 = transport_rt_count();
	int64_t start = clock_now_ns();
	int64_t deadline = start + (int64_t)(cfg->timeout_s * 1e9);

	int attempt;
	for (attempt = 0;; attempt++) {
		rep->start_ns = start;
		s.deadline = deadline;
		s.no_assume = attempt > 0;
		report_info(rep, "host", "%s", cfg->host);
		report_info(rep, "port", "%u", cfg->port);
		if (attempt > 0)
			report_line(rep, "the capabilities remembered in --cache-dir were stale: session repeated "
				    "without them");
		if (!run_once(&s) || attempt > 0)
			break;
		/* a stale cache entry: start over, with a clean report */
		report_init(rep, cfg->timeout_s);
		memset(&s, 0, sizeof(s));
		s.cfg = cfg;
		s.env = env;
		s.rep = rep;
	}

	if (attempt > 0)
		report_info(rep, "caps_cache", "stale, session repeated");
	rep->total_ns = clock_now_ns() - rep->start_ns;
	/* what the client waited for the server (see transport_rt_count) */
	report_info(rep, "round_trips", "%u", transport_rt_count() - rt0);
	if (s.mech[0] && strcmp(cfg->auth, "all"))
		report_info(rep, "mechanism", "%s", s.mech);
	add_perfdata(&s);
	if (!s.failed) {
		char mem[768];
		struct sbuf notes;
		sb_init(&notes, mem, sizeof(mem));
		check_thresholds(&s, &notes);
		ok_summary(&s, notes.data);
	}
	return rep->state;
}
