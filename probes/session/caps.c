/* caps.c - what the session knows of the server's capabilities: the
 * CAPABILITY step, and the login deferred into the first flight (--pipeline)
 * with the capabilities it may assume from --cache-dir. */
#include "config.h"
#include "session/caps.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#include "session/step.h"

static int capability_step(struct sess *s)
{
	struct imap_cmd cmd;
	struct imap_result res;
	struct step *st = sess_begin(s, "capability");

	imap_cmd_init(&cmd, s->link.conn, "CAPABILITY");
	int rc = sess_command(s, st, &cmd, &res);
	imap_cmd_free(&cmd);
	if (rc < 0)
		return -1;
	if (!imap_conn_caps(s->link.conn)->known) {
		sess_fail(s, st, STATE_CRITICAL, "server sent no capability list");
		return -1;
	}
	sess_ok(st, "%s", imap_conn_caps(s->link.conn)->raw);
	return 0;
}

int sess_ensure_caps(struct sess *s)
{
	if (sess_auth_settle(s) < 0)
		return -1;
	if (imap_conn_caps(s->link.conn)->known)
		return 0;
	return capability_step(s);
}


/* Called once the server has the last message of the login (the LOGIN
 * command, or the final AUTHENTICATE response; the commands are built by
 * then, so SASL-IR and LITERAL+ were taken from the list in force).  The
 * pre-login capabilities are stale from here on: forget them.  A list the
 * server sends with its tagged OK, or untagged just before it (Gmail),
 * fills them in again; without one, later steps see them as unknown and
 * ask (CAPABILITY) only if they need them (sess_ensure_caps). */
void sess_forget_caps(struct sess *s)
{
	imap_conn_caps_reset(s->link.conn);
}

/* --cache-dir: the server lists exactly what it listed when the cache
 * entry was made, so the flight that carries the login may use what it
 * listed after that login (only CAPCACHE_ASSUMABLE; see capcache.h). */
static void assume_cached(struct sess *s)
{
	struct imap_caps after;

	s->cache.assumed = 0;
	if (!s->cache.loaded || s->cache.no_assume || !s->cache.login_caps_known ||
	    strcmp(s->cache.entry.before, s->cache.login_caps) != 0)
		return;
	imap_caps_parse(&after, s->cache.entry.after, strlen(s->cache.entry.after));
	s->cache.assumed = after.flags & CAPCACHE_ASSUMABLE & ~imap_conn_caps(s->link.conn)->flags;
}

/* --pipeline: queue the login command (its bytes go out with the first
 * mailbox flight) instead of waiting for its answer now. */
int sess_defer_login(struct sess *s, struct step *st, struct imap_cmd *cmd, const char *cmdname)
{
	unsigned id;
	if (imap_conn_queue(s->link.conn, cmd, &id) < 0) {
		sess_conn_fail(s, st, cmdname);
		return -1;
	}
	s->login.pending.active = 1;
	s->login.pending.id = id;
	s->login.pending.st = st;
	s->login.pending.caps_gen = imap_conn_caps_gen(s->link.conn);
	s->login.pipelined = 1;
	snprintf(s->login.pending.cmd, sizeof(s->login.pending.cmd), "%s", cmdname);
	assume_cached(s);
	/* The pre-login capabilities stay in force until the answer: the
	 * flight is built from them (what the greeting promised); see
	 * sess_auth_settle. */
	return 0;
}

int sess_auth_settle(struct sess *s)
{
	struct imap_result res;
	struct step *st = s->login.pending.st;

	if (!s->login.pending.active)
		return 0;
	s->login.pending.active = 0;
	if (imap_conn_wait(s->link.conn, s->login.pending.id, &res) < 0) {
		sess_conn_fail(s, st, s->login.pending.cmd);
		return -1;
	}
	s->login.done_ns = res.done_ns;
	/* a list in the tagged OK (or untagged before it, as Gmail does)
	 * replaced the pre-login one; without one they are stale */
	if (res.status != IMAP_ST_OK || imap_conn_caps_gen(s->link.conn) == s->login.pending.caps_gen)
		sess_forget_caps(s);
	sess_note_alert(s, res.code, res.text);
	if (res.status != IMAP_ST_OK)
		sess_result_fail(s, st, s->login.pending.cmd, &res);
	else
		sess_ok(st, "%s: %s", s->login.pending.okmsg, res.text);
	if (st) {
		/* from its bytes on the wire (the flight's write) to its answer */
		st->start_ns = res.sent_ns;
		st->dur_ns = res.done_ns > res.sent_ns ? res.done_ns - res.sent_ns : 0;
	}
	return res.status == IMAP_ST_OK ? 0 : -1;
}


int sess_caps_have(struct sess *s, uint32_t flag)
{
	const struct imap_caps *c = imap_conn_caps(s->link.conn);
	if (c->known && (c->flags & flag))
		return 1;
	/* the login is still in flight: what the cache says it will list */
	if (s->login.pending.active && (s->cache.assumed & flag)) {
		s->cache.assumed_used |= flag;
		return 1;
	}
	return 0;
}

int sess_caps_lack(struct sess *s, uint32_t flag)
{
	const struct imap_caps *c = imap_conn_caps(s->link.conn);
	return c->known && !(c->flags & flag);
}
