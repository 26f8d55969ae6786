/* idle.c - --idle: IDLE on the main connection, APPEND through a second
 * one, and the time until the server pushes "* n EXISTS". */
#include "config.h"
#include "session/idle.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>
#include <poll.h>

#include "net/clock.h"
#include "net/transport.h"
#include "session/flight.h"
#include "session/open.h"
#include "session/prepare.h"
#include "session/step.h"
#include "session/write.h"

/* ================================================================ --idle */

static void idle_trace(void *ud, const char *dir, const char *line, size_t len)
{
	const struct session_env *env = ud;
	char d[8];
	snprintf(d, sizeof(d), "%s2", dir);
	env->trace(env->trace_ud, d, line, len);
}

/* Readable before the deadline, without leaving a sticky timeout on the
 * connection: 1 data is there, 0 the deadline passed. */
static int conn_readable(struct imap_conn *c, int64_t deadline)
{
	struct transport *t = imap_conn_transport(c);
	if (imap_conn_buffered(c) > 0 || (t->ops->pending && t->ops->pending(t) > 0))
		return 1;
	return transport_wait(t, POLLIN, deadline) != 0;
}

/* Remove the --idle probe message through the second connection: SELECT,
 * the leftover search and the Message-ID search (the UID the server named
 * in APPENDUID is not trusted on its own; two plain SEARCHes make fl_run
 * send them one at a time), then UID STORE + UID EXPUNGE. */
static void idle_cleanup(struct sess *s, struct sess *s2, uint64_t uid, const struct probe_msg *pm)
{
	struct mbx_search old, found;
	struct flight f;
	struct fcmd *sel, *clean, *find;
	struct step *st = sess_begin(s, "idle_cleanup");
	struct imap_result rs, re;
	struct probe_watch w;
	char set[MBX_SET_MAX + 32], msg[512];
	unsigned left;
	int rc;

	fl_init(&f, s, s2);
	sel = fl_add(&f, NULL, "SELECT");
	sel->st = st;
	imap_cmd_add_astring(&sel->cmd, s->mb.wire, strlen(s->mb.wire), 0);
	clean = add_leftover_search(s, s2, &f, NULL, &old);
	clean->st = st;
	/* always: APPENDUID came from the other connection and was never
	 * checked against the message */
	find = add_msgid_search(&f, NULL, &found, pm);
	find->st = st;
	if (fl_run(&f) < 0)
		goto out;
	if (sel->res.status != IMAP_ST_OK) {
		sess_result_fail(s, st, "SELECT (second connection)", &sel->res);
		goto out;
	}
	if (clean->res.status == IMAP_ST_OK)
		mbx_search_finish(&old);
	else
		mbx_search_init(&old, NULL);
	mbx_search_finish(&found);
	if (find->res.status != IMAP_ST_OK || !found.count) {
		sess_fail(s, st, STATE_CRITICAL, "the probe message %s was not found for removal", pm->msgid);
		goto out;
	}
	uid = found.max;
	left = join_set(set, sizeof(set), uid, &old);
	memset(&w, 0, sizeof(w));
	w.uid = uid;
	s2->mb.route.watch = &w;
	rc = delete_probe(s, s2, st, uid, set, left, &w, msg, sizeof(msg), &rs, &re);
	s2->mb.route.watch = NULL;
	if (rc < 0)
		goto out;
	sess_ok(st, "%s", msg);
	sess_step_span(st, sel->res.sent_ns, re.done_ns);
out:
	fl_free(&f);
}

/* IDLE on the first connection until its "+"; 0, or -1 recorded. */
static int idle_start(struct sess *s, struct step *st, unsigned *idle_id)
{
	struct imap_cmd cmd;
	struct imap_result res;

	imap_cmd_init(&cmd, s->link.conn, "IDLE");
	int r = imap_conn_send(s->link.conn, &cmd, idle_id);
	imap_cmd_free(&cmd);
	if (r < 0) {
		sess_conn_fail(s, st, "IDLE");
		return -1;
	}
	for (;;) {
		const struct imap_response *resp;
		if (imap_conn_read(s->link.conn, &resp) < 0) {
			sess_conn_fail(s, st, "IDLE");
			return -1;
		}
		if (resp->type == IMAP_RESP_CONTINUATION)
			return 0;
		if (resp->type == IMAP_RESP_TAGGED) {
			if (imap_conn_wait(s->link.conn, *idle_id, &res) == 0)
				sess_result_fail(s, st, "IDLE", &res);
			else
				sess_conn_fail(s, st, "IDLE");
			return -1;
		}
		if (resp->name && resp->has_number && ascii_ieq(resp->name, resp->name_len, "EXISTS"))
			s->mb.count.live_exists = resp->number;
		else if (resp->name && resp->has_number && ascii_ieq(resp->name, resp->name_len, "EXPUNGE") &&
			 s->mb.count.live_exists)
			s->mb.count.live_exists--;
	}
}

/* Read the idling connection until "* n EXISTS" with n above the count
 * known when the APPEND completed (t_ok).  1 push seen, 0 no push (or
 * IDLE ended by the server, *idling cleared), both recorded. */
static int idle_wait_push(struct sess *s, struct step *st, unsigned idle_id, int64_t t_ok, int *idling)
{
	struct mailbox_state *mb = &s->mb;
	struct imap_result res;
	int64_t push_deadline = s->deadline - sess_deadline_reserve(s);

	for (;;) {
		const struct imap_response *resp;
		if (!conn_readable(s->link.conn, push_deadline)) {
			sess_fail(s, st, STATE_CRITICAL,
				  "no EXISTS on the idling connection within %.1fs of the APPEND (no push)",
				  clock_ns_to_s(clock_now_ns() - t_ok));
			return 0;
		}
		if (imap_conn_read(s->link.conn, &resp) < 0) {
			sess_conn_fail(s, st, "IDLE");
			*idling = 0;
			return 0;
		}
		if (resp->type == IMAP_RESP_TAGGED) {
			*idling = 0;
			if (imap_conn_wait(s->link.conn, idle_id, &res) == 0)
				sess_result_fail(s, st, "IDLE (ended by the server)", &res);
			else
				sess_conn_fail(s, st, "IDLE");
			return 0;
		}
		if (!resp->name || !resp->has_number)
			continue;
		if (ascii_ieq(resp->name, resp->name_len, "EXISTS")) {
			if (resp->number > mb->count.live_exists) {
				int64_t now = clock_now_ns();
				mb->count.live_exists = resp->number;
				mb->writes.push_s = clock_ns_to_s(now > t_ok ? now - t_ok : 0);
				mb->writes.have_push = 1;
				sess_ok(st, "* %u EXISTS arrived %.4fs after the APPEND completed", resp->number,
					mb->writes.push_s);
				sess_step_span(st, t_ok, now);
				return 1;
			}
			mb->count.live_exists = resp->number;
		} else if (ascii_ieq(resp->name, resp->name_len, "EXPUNGE") && mb->count.live_exists) {
			mb->count.live_exists--;
		}
	}
}

/* The second connection: its own session state and report (its own
 * connect/TLS/login steps, summed up as one step of the main report). */
struct second {
	struct sess *s2;
	struct report *rep2;
	struct session_env env2;
};

/* Open and log in the second connection as the idle_login step; 0, or -1
 * recorded (sc->s2 may be set either way: idle_second_close). */
static int idle_second_open(struct sess *s, struct second *sc)
{
	struct step *st = sess_begin(s, "idle_login");

	sc->rep2 = malloc(sizeof(*sc->rep2));
	sc->s2 = calloc(1, sizeof(*sc->s2));
	if (!sc->rep2 || !sc->s2) {
		sess_fail(s, st, STATE_UNKNOWN, "out of memory");
		return -1;
	}
	report_init(sc->rep2, s->cfg->timeout_s);
	if (s->env && s->env->trace) {
		sc->env2.trace = idle_trace;
		sc->env2.trace_ud = (void *)s->env;
	}
	sc->env2.stop = s->env ? s->env->stop : NULL;  /* a signal ends both connections */
	struct sess *s2 = sc->s2;
	s2->cfg = s->cfg;
	s2->env = &sc->env2;
	s2->rep = sc->rep2;
	s2->rt = s->rt;
	s2->deadline = s->deadline;
	if (sess_open(s2) <= 0) {
		if (s2->timed_out)
			sess_timeout(s, st);
		else
			sess_fail(s, st, sc->rep2->state == STATE_UNKNOWN ? STATE_UNKNOWN : STATE_CRITICAL,
				  "second connection: %s", sc->rep2->failed ? sc->rep2->summary : "no login");
		return -1;
	}
	sess_ok(st, "second connection to %s%s%s, %s", s2->link.peer, s2->link.tls_have ? " " : "",
		s2->link.tls_have ? s2->link.tls.version : "", s2->login.mech[0] ? s2->login.mech : "PREAUTH");
	return 0;
}

static void idle_second_close(struct second *sc)
{
	struct sess *s2 = sc->s2;
	if (s2) {
		sess_close(s2);
		if (s2->link.conn)
			imap_conn_free(s2->link.conn);
		sess_mailbox_release(s2);
	}
	free(s2);
	free(sc->rep2);
}

/* APPEND pm through the second connection (idle_append), then wait for
 * the push on the idling one.  1 appended (*uid from APPENDUID or 0) and
 * the push seen, 0 appended without a push, -1 not appended; all
 * recorded. */
static int idle_append_push(struct sess *s, struct sess *s2, unsigned idle_id, const struct probe_msg *pm,
			    uint64_t *uid, int *idling)
{
	struct step *st = sess_begin(s, "idle_append");
	struct imap_cmd cmd;
	struct imap_result res;

	imap_cmd_init(&cmd, s2->link.conn, "APPEND");
	append_args(&cmd, s->mb.wire, pm);
	int r = imap_conn_command(s2->link.conn, &cmd, &res);
	imap_cmd_free(&cmd);
	if (r < 0) {
		sess_conn_fail_on(s, s2->link.conn, st, "APPEND (second connection)");
		return -1;
	}
	sess_note_alert(s, res.code, res.text);
	if (res.status != IMAP_ST_OK) {
		sess_result_fail(s, st, "APPEND", &res);
		return -1;
	}
	*uid = appenduid(&res, 0, 0);
	sess_ok(st, "probe message appended through the second connection%s", *uid ? " (APPENDUID)" : "");
	sess_step_span(st, res.sent_ns, res.done_ns);
	/* the push: from the APPEND's tagged OK to "* n EXISTS" */
	return idle_wait_push(s, sess_begin(s, "push"), idle_id, res.done_ns, idling) == 1 ? 1 : 0;
}

/* DONE ends the IDLE (idle_done step); 0, or -1 recorded. */
static int idle_done(struct sess *s, unsigned idle_id)
{
	struct step *st = sess_begin(s, "idle_done");
	struct imap_result res;

	if (imap_conn_write_line(s->link.conn, "DONE", 4, 0) < 0 || imap_conn_wait(s->link.conn, idle_id, &res) < 0) {
		sess_conn_fail(s, st, "DONE");
		return -1;
	}
	if (res.status != IMAP_ST_OK) {
		sess_result_fail(s, st, "IDLE", &res);
		return -1;
	}
	sess_ok(st, "%s", res.text);
	return 0;
}

int sess_idle_push(struct sess *s)
{
	struct second sc = { 0 };
	struct probe_msg pm;
	struct step *st;
	unsigned idle_id = 0;
	int idling = 0, rc = -1;
	uint64_t uid = 0;

	if (!(imap_conn_caps(s->link.conn)->flags & CAP_IDLE)) {
		sess_fail(s, sess_begin(s, "idle"), STATE_CRITICAL, "server does not offer IDLE (capabilities: %s)",
			  imap_conn_caps(s->link.conn)->raw);
		return -1;
	}
	if (idle_second_open(s, &sc) < 0)
		goto out;
	/* IDLE on the first connection */
	st = sess_begin(s, "idle");
	if (idle_start(s, st, &idle_id) < 0)
		goto out;
	idling = 1;
	sess_ok(st, "idling on %s (%u messages)", s->mb.name, s->mb.count.live_exists);

	make_probe_msg(&pm, "--idle");
	int pushed = idle_append_push(s, sc.s2, idle_id, &pm, &uid, &idling);
	rc = pushed == 1 ? 0 : -1;
	if (idling && idle_done(s, idle_id) < 0)
		rc = -1;
	/* the probe message goes, whatever happened */
	if (pushed >= 0 && imap_conn_err(sc.s2->link.conn) == IMAP_E_NONE)
		idle_cleanup(s, sc.s2, uid, &pm);
	if (s->failed)
		rc = -1;
out:
	idle_second_close(&sc);
	return rc;
}
