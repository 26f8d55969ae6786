/* step.c - the step helpers every session step uses: begin, succeed, fail
 * (with the server's words), time out, run one command.  The bottom of the
 * session layer: it calls nothing above it. */
#include "config.h"
#include "session/step.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#include "net/clock.h"

/* ---------------------------------------------------------------- helpers */

struct step *sess_begin(struct sess *s, const char *name)
{
	return report_step_begin(s->rep, name, clock_now_ns());
}

/* End st (NULL: nothing) now with outcome (enum step_outcome) and state OK. */
static void step_end_ok(struct step *st, int outcome, const char *fmt, va_list ap)
	__attribute__((format(printf, 3, 0)));
static void step_end_ok(struct step *st, int outcome, const char *fmt, va_list ap)
{
	char msg[512];
	vsnprintf(msg, sizeof(msg), fmt, ap);
	if (st)
		report_step_end(st, clock_now_ns(), (int)outcome, STATE_OK, "%s", msg);
}

void sess_ok(struct step *st, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	step_end_ok(st, STEP_OK, fmt, ap);
	va_end(ap);
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
		report_step_end(st, clock_now_ns(), STEP_FAILED, state, "%s", msg);
	report_fail(s->rep, state, sess_step_name(st), "%s failed: %s", sess_step_name(st), msg);
	s->failed = 1;
}

/* After a failure in the flight that carried the login (--pipeline):
 * the likely cause, when the login itself went through. */
static void pipelined_login_hint(struct sess *s)
{
	if (!s->login.pipelined || s->login.pending.active)
		return;
	const struct step *auth = report_find_step(s->rep, "auth");
	if (auth && auth->outcome == STEP_OK)
		report_line(s->rep, "the login went out together with the next commands (--pipeline); some servers "
			    "lose or garble commands sent before their login answer: check without --pipeline");
}

int sess_stopped(const struct sess *s)
{
	return s->env && s->env->stop && *s->env->stop;
}

void sess_timeout(struct sess *s, struct step *st)
{
	if (sess_stopped(s)) {
		/* a signal: the way the deadline would end the session now */
		char buf[24];
		const char *sig = signal_name(*s->env->stop, buf, sizeof(buf));
		if (st)
			report_step_end(st, clock_now_ns(), STEP_TIMEOUT, s->cfg->timeout_state, "terminated (%s)", sig);
		report_fail(s->rep, s->cfg->timeout_state, sess_step_name(st), "terminated during %s (%s)",
			    sess_step_name(st), sig);
		s->failed = 1;
		s->timed_out = 1;
		return;
	}
	pipelined_login_hint(s);
	if (st)
		report_step_end(st, clock_now_ns(), STEP_TIMEOUT, s->cfg->timeout_state, "timed out");
	report_fail(s->rep, s->cfg->timeout_state, sess_step_name(st), "timeout during %s (%gs)",
		    sess_step_name(st), s->cfg->timeout_s);
	s->failed = 1;
	s->timed_out = 1;
}

/* The connection layer failed inside a step. */
void sess_conn_fail(struct sess *s, struct step *st, const char *what)
{
	enum imap_err e = imap_conn_err(s->link.conn);
	if (e == IMAP_E_TIMEOUT) {
		sess_timeout(s, st);
		return;
	}
	int state = e == IMAP_E_LOCAL ? STATE_UNKNOWN : STATE_CRITICAL;
	if (e == IMAP_E_PROTOCOL)
		pipelined_login_hint(s);
	sess_fail(s, st, state, "%s%s%s", what ? what : "", what ? ": " : "", imap_conn_errmsg(s->link.conn));
}

/* "NO [CODE arg] text" from a result, for messages. */
void sess_format_result(const struct imap_result *res, char *buf, size_t len)
{
	if (res->code[0] && res->code_arg[0])
		snprintf(buf, len, "%s [%s %s] %s", imap_status_str(res->status), res->code, res->code_arg, res->text);
	else if (res->code[0])
		snprintf(buf, len, "%s [%s] %s", imap_status_str(res->status), res->code, res->text);
	else
		snprintf(buf, len, "%s %s", imap_status_str(res->status), res->text);
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
		report_step_end(st, clock_now_ns(), STEP_FAILED, STATE_CRITICAL, "%s: %s", cmd, words);
	report_fail(s->rep, STATE_CRITICAL, sess_step_name(st), "%s failed (%s): %s", sess_step_name(st), cmd, words);
	s->failed = 1;
}

/* Run a command inside a step; returns 0 on tagged OK, -1 after recording
 * the failure. */
int sess_command(struct sess *s, struct step *st, struct imap_cmd *cmd, struct imap_result *res)
{
	if (imap_conn_command(s->link.conn, cmd, res) < 0) {
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

/* A failure of connection c (the main one or the --idle second one),
 * recorded in the main report. */
void sess_conn_fail_on(struct sess *s, struct imap_conn *c, struct step *st, const char *what)
{
	enum imap_err e = imap_conn_err(c);
	if (e == IMAP_E_TIMEOUT) {
		sess_timeout(s, st);
		return;
	}
	sess_fail(s, st, e == IMAP_E_LOCAL ? STATE_UNKNOWN : STATE_CRITICAL, "%s%s%s", what ? what : "", what ? ": " : "",
		  imap_conn_errmsg(c));
}

void sess_skip(struct step *st, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	step_end_ok(st, STEP_SKIPPED, fmt, ap);
	va_end(ap);
}

int64_t sess_deadline_reserve(const struct sess *s)
{
	int64_t quarter = (int64_t)(s->cfg->timeout_s * 1e9 / 4);
	int64_t two = 2000LL * 1000 * 1000;
	return quarter < two ? quarter : two;
}


void sess_step_span(struct step *st, int64_t start, int64_t end)
{
	if (!st)
		return;
	st->start_ns = start;
	st->dur_ns = end > start ? end - start : 0;
}
