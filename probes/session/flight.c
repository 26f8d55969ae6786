/* flight.c - the pipelining engine: a flight is a group of commands
 * written in one go and answered in order, each with its own step. */
#include "config.h"
#include "session/flight.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#include "net/clock.h"
#include "session/caps.h"
#include "session/step.h"

/* ================================================================ flights */

void fl_init(struct flight *f, struct sess *s, struct sess *cs)
{
	f->s = s;
	f->cs = cs;
	f->n = 0;
}

/* Add a command; step may be NULL (the command belongs to a step of a
 * later command in the same flight, e.g. STATUS with EXAMINE). */
struct fcmd *fl_add(struct flight *f, const char *step, const char *verb)
{
	if (f->n >= FLIGHT_MAX)
		abort();        /* a programming error, caught by the tests */
	struct fcmd *c = &f->c[f->n++];
	memset(c, 0, sizeof(*c));
	if (step)
		c->st = sess_begin(f->s, step);
	imap_cmd_init(&c->cmd, f->cs->link.conn, verb);
	return c;
}

void fl_free(struct flight *f)
{
	for (unsigned i = 0; i < f->n; i++)
		imap_cmd_free(&f->c[i].cmd);
	f->n = 0;
}

/* Give c's step the time its command took: from its first byte on the
 * wire (or that of `from`, an earlier command of the same step) to its
 * tagged response, but not before the previous command of the flight was
 * answered.  So pipelined steps get their marginal cost, and the step
 * durations of a flight add up to its wall time instead of counting the
 * shared round trip several times. */
void fl_time(struct fcmd *c, const struct fcmd *from)
{
	if (!c->st || !c->done)
		return;
	const struct fcmd *first = from && from->done ? from : c;
	int64_t start = first->res.sent_ns;
	if (first->prev_done > start)
		start = first->prev_done;
	c->st->start_ns = start;
	c->st->dur_ns = c->res.done_ns > start ? c->res.done_ns - start : 0;
}

/* A command built on capabilities assumed from the cache (--cache-dir)
 * was refused: the entry is stale.  The session is over (LOGOUT went in
 * the same flight) and session_run() starts it again without the cache;
 * the failure recorded here only shows when there is no time left for
 * that. */
int fl_spec_refused(struct sess *s, struct fcmd *c)
{
	char words[400];

	if (!s->cache.assumed_used || !c || c->res.status == IMAP_ST_OK)
		return 0;
	s->cache.stale = 1;
	sess_format_result(&c->res, words, sizeof(words));
	sess_fail(s, c->st, STATE_CRITICAL,
		  "%s: %s (the command relied on capabilities remembered in --cache-dir, which the server no "
		  "longer lists)", c->cmd.name, words);
	fl_time(c, NULL);
	return 1;
}

/* Untagged "* SEARCH" data (no correlator) goes to the first plain search
 * not answered yet: the one of command `from` or a later one. */
static void fl_targets(struct flight *f, unsigned from)
{
	struct mailbox_state *mb = &f->cs->mb;
	mb->route.search_cur = NULL;
	for (unsigned i = from; i < f->n && !mb->route.search_cur; i++)
		mb->route.search_cur = f->c[i].search_into;
}

/* The flight is over: its data targets are no longer valid. */
static void fl_untarget(struct flight *f)
{
	struct mailbox_state *mb = &f->cs->mb;
	mb->route.nsearch_t = mb->route.nfetch_t = 0;
	mb->route.search_cur = NULL;
}

/* Wait for c's tagged response.  A LOGOUT (the last command of the last
 * flight) is waited for as do_logout() does: BYE then EOF is its answer,
 * and no answer within a second just ends the session. */
static int fl_wait(struct flight *f, struct fcmd *c)
{
	struct imap_conn *conn = f->cs->link.conn;
	if (!c->logout)
		return imap_conn_wait(conn, c->id, &c->res);
	int64_t grace = clock_now_ns() + LOGOUT_GRACE_NS;
	imap_conn_expect_bye(conn);
	imap_conn_set_deadline(conn, f->cs->deadline && f->cs->deadline < grace ? f->cs->deadline : grace);
	int rc = imap_conn_wait(conn, c->id, &c->res);
	imap_conn_set_deadline(conn, f->cs->deadline);
	return rc;
}

/* The logout step of a flight's LOGOUT; 0, or -1 if the connection
 * failed in a way that is not a normal end (recorded). */
static int fl_logout_result(struct flight *f, struct fcmd *c, int waited)
{
	struct sess *s = f->s;
	if (!waited) {
		enum imap_err e = imap_conn_err(f->cs->link.conn);
		if (e == IMAP_E_TIMEOUT && sess_stopped(s))
			sess_ok(c->st, "LOGOUT sent; its answer not awaited after a signal");
		else if (e == IMAP_E_TIMEOUT && !clock_expired(f->cs->deadline))
			sess_ok(c->st, "no reply to LOGOUT within %.1fs; closed", (double)LOGOUT_GRACE_NS / 1e9);
		else if (e == IMAP_E_EOF || e == IMAP_E_BYE)
			sess_ok(c->st, "server closed the connection");
		else
			return -1;
		return 0;
	}
	if (c->res.status == IMAP_ST_NONE) {
		sess_ok(c->st, "BYE %s", c->res.text);
	} else if (c->res.status != IMAP_ST_OK) {
		int failed = s->failed;
		sess_result_fail(s, c->st, "LOGOUT", &c->res);
		s->failed |= failed;
	} else {
		sess_ok(c->st, "%s", c->res.text);
	}
	fl_time(c, NULL);
	return 0;
}

/* The login deferred into this flight (--pipeline) was refused or the
 * connection broke: the flight's other answers are read (they can only
 * be "please log in first") so that the queued LOGOUT ends the session,
 * but none of them names the failure. */
static void fl_drain_after_auth(struct flight *f)
{
	struct imap_conn *conn = f->cs->link.conn;
	int ok = imap_conn_err(conn) == IMAP_E_NONE;
	int64_t grace = clock_now_ns() + LOGOUT_GRACE_NS;

	if (ok)
		imap_conn_set_deadline(conn, f->cs->deadline && f->cs->deadline < grace ? f->cs->deadline : grace);
	for (unsigned i = 0; i < f->n; i++) {
		struct fcmd *c = &f->c[i];
		if (ok && !c->logout)
			ok = imap_conn_wait(conn, c->id, &c->res) == 0;
		else if (ok)
			ok = fl_wait(f, c) == 0;
		if (c->logout) {
			if (ok)
				fl_logout_result(f, c, 1);
			else
				sess_skip(c->st, "not run: the connection failed");
		} else if (c->st) {
			sess_skip(c->st, "not run: authentication failed");
		}
	}
	imap_conn_set_deadline(conn, f->cs->deadline);
}

/* Route every command's data for the whole flight; 1 when the commands
 * must go one at a time: a synchronizing literal, or two untagged
 * "* SEARCH" answers, which cannot be told apart when the server runs the
 * commands concurrently (RFC 3501 5.5: the client must not pipeline them). */
static int fl_route(struct flight *f)
{
	struct mb_route *rt = &f->cs->mb.route;
	unsigned plain_searches = 0;
	int sequential = 0;

	rt->nsearch_t = rt->nfetch_t = 0;
	for (unsigned i = 0; i < f->n; i++) {
		const struct fcmd *c = &f->c[i];
		if (c->cmd.nsync)
			sequential = 1;
		if (c->search_into && !c->tagged)
			plain_searches++;
		if (c->search_into && rt->nsearch_t < MB_TARGETS)
			rt->search_t[rt->nsearch_t++] = c->search_into;
		if (c->fetch_into && rt->nfetch_t < MB_TARGETS)
			rt->fetch_t[rt->nfetch_t++] = c->fetch_into;
	}
	return sequential || plain_searches > 1;
}

/* The deferred login failed (recorded): none of the flight's steps ran.
 * Returns -2 (see fl_pipelined). */
static int fl_login_failed(struct flight *f)
{
	fl_untarget(f);
	for (unsigned j = 0; j < f->n; j++)
		sess_skip(f->c[j].st, "not run: authentication failed");
	return -2;
}

/* c went out: its ESEARCH data will name its tag. */
static void fl_sent(struct flight *f, struct fcmd *c)
{
	if (c->search_into)
		strlcpy_s(c->search_into->tag, imap_conn_last_tag(f->cs->link.conn), sizeof(c->search_into->tag));
}

/* c's tagged response arrived. */
static void fl_answered(struct flight *f, struct fcmd *c)
{
	c->done = 1;
	sess_note_alert(f->s, c->res.code, c->res.text);
}

/* Each command waits for the previous one's answer.  0, or -1 with *at
 * the command that failed. */
static int fl_one_by_one(struct flight *f, unsigned *at)
{
	struct imap_conn *conn = f->cs->link.conn;

	for (unsigned i = 0; i < f->n; i++) {
		struct fcmd *c = &f->c[i];
		*at = i;
		fl_targets(f, i);
		if (imap_conn_send(conn, &c->cmd, &c->id) < 0)
			return -1;
		fl_sent(f, c);
		if (fl_wait(f, c) < 0)
			return -1;
		fl_answered(f, c);
	}
	return 0;
}

/* Every command in one write (after the deferred login's bytes, if one
 * is pending), then the answers in order, the login's first.  0; -1 with
 * *at the command that failed; -2 when the login failed (recorded). */
static int fl_pipelined(struct flight *f, unsigned *at)
{
	struct sess *cs = f->cs;
	struct imap_conn *conn = cs->link.conn;
	int64_t auth_done = 0;

	for (unsigned i = 0; i < f->n; i++) {
		*at = i;
		if (imap_conn_queue(conn, &f->c[i].cmd, &f->c[i].id) < 0)
			return -1;
		fl_sent(f, &f->c[i]);
	}
	*at = 0;
	if (imap_conn_flush(conn) < 0) {
		if (!cs->login.pending.active)
			return -1;
		cs->login.pending.active = 0;
		sess_conn_fail(cs, cs->login.pending.st, cs->login.pending.cmd);
		return fl_login_failed(f);
	}
	if (cs->login.pending.active) {
		if (sess_auth_settle(cs) < 0) {
			fl_drain_after_auth(f);
			fl_untarget(f);
			return -2;
		}
		auth_done = cs->login.done_ns;
	}
	for (unsigned i = 0; i < f->n; i++) {
		struct fcmd *c = &f->c[i];
		*at = i;
		fl_targets(f, i);
		if (fl_wait(f, c) < 0)
			return -1;
		fl_answered(f, c);
		c->prev_done = i > 0 ? f->c[i - 1].res.done_ns : auth_done;
	}
	return 0;
}

/* The connection failed at command i (recorded here): 0 when only the
 * final LOGOUT's goodbye went wrong, else -1. */
static int fl_failed(struct flight *f, unsigned i)
{
	struct sess *s = f->s;
	struct imap_conn *conn = f->cs->link.conn;
	struct step *st = NULL;

	fl_untarget(f);
	if (i < f->n && f->c[i].logout) {
		/* everything else was answered: only the goodbye went wrong */
		if (fl_logout_result(f, &f->c[i], 0) != 0)
			sess_conn_fail_on(s, conn, f->c[i].st, "LOGOUT");
		return 0;
	}
	/* a command refused before the connection broke explains it better
	 * (EXAMINE BAD, then the server hung up): it names the failure */
	for (unsigned j = 0; j < i && j < f->n; j++) {
		struct fcmd *c = &f->c[j];
		if (c->done && c->st && c->res.status != IMAP_ST_OK) {
			sess_result_fail(s, c->st, c->cmd.name, &c->res);
			fl_time(c, NULL);
			break;
		}
	}
	/* the step of the failing command, or of the next one that has a step */
	for (unsigned j = i; j < f->n && !st; j++)
		st = f->c[j].st;
	sess_conn_fail_on(s, conn, st, f->c[i < f->n ? i : 0].cmd.name);
	for (unsigned j = 0; j < f->n; j++)
		if (f->c[j].st && f->c[j].st != st && !f->c[j].done)
			sess_skip(f->c[j].st, "not run: the connection failed");
	return -1;
}

int fl_run(struct flight *f)
{
	unsigned at = 0;
	int rc, sequential = fl_route(f);

	if (sequential && f->cs->login.pending.active && sess_auth_settle(f->cs) < 0)
		rc = fl_login_failed(f);        /* a synchronizing literal: the login first */
	else
		rc = sequential ? fl_one_by_one(f, &at) : fl_pipelined(f, &at);
	if (rc == -2)
		return -1;
	if (rc < 0)
		return fl_failed(f, at);
	fl_untarget(f);
	for (unsigned i = 0; i < f->n; i++)
		if (f->c[i].logout)
			fl_logout_result(f, &f->c[i], 1);
	return 0;
}

/* A tagged NO/BAD: the step fails with the server's words. */
void fl_result_fail(struct flight *f, struct fcmd *c, const char *what)
{
	sess_result_fail(f->s, c->st, what ? what : c->cmd.name, &c->res);
	fl_time(c, NULL);
}
