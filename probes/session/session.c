/* session.c - the session runner (the top of the session layer): one IMAP
 * session under one deadline, then its summary.
 *
 * resolve, connect, [tls], greeting, [capability], [starttls, tls,
 * capability], auth, [capability], examine/select (+ STATUS in the same
 * flight), [fetch], logout.  Each step is stamped with CLOCK_MONOTONIC and
 * recorded in the report; the first failure ends the session (after a
 * best-effort LOGOUT where the connection is still usable).
 *
 * The layer, top down (each file calls only those below it):
 *   session.c            runner, --script steps, --cache-dir load/store
 *   auth_all.c idle.c    --auth all; --idle (a second connection)
 *   open.c               connect, TLS, greeting, STARTTLS, login, LOGOUT
 *   auth.c  write.c      the auth step; --delete-matched, --append
 *   mailbox.c            EXAMINE/STATUS, search, fetch
 *   flight.c             the pipelining engine
 *   caps.c  untagged.c   capabilities and the deferred login; the
 *                        untagged-response router
 *   prepare.c summary.c  before connecting; after the session
 *   oauth_step.c         the oauth_token step (before connecting)
 *   step.c               the step helpers (the bottom)
 * and state.h, the state they share. */
#include "config.h"
#include "session/session.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#include "net/clock.h"
#include "net/transport.h"
#include "session/auth_all.h"
#include "session/delivery.h"
#include "session/idle.h"
#include "session/mailbox.h"
#include "session/oauth_step.h"
#include "session/open.h"
#include "session/prepare.h"
#include "session/caps.h"
#include "session/state.h"
#include "session/step.h"
#include "session/summary.h"
#include "session/write.h"
#include "session/script.h"

/* ---------------------------------------------------------------- --script */

static int run_script(struct sess *s)
{
	const struct script *scr = s->prep.script;
	static const char *const st_words[] = { "OK", "NO", "BAD" };

	for (unsigned i = 0; i < scr->ncmds; i++) {
		const struct script_cmd *sc = &scr->cmd[i];
		struct imap_cmd cmd;
		struct imap_result res;
		char words[512], want[16] = "";
		unsigned bit;

		struct step *st = sess_begin(s, sc->name);
		script_build(scr, sc, s->link.conn, &cmd);
		s->mb.script.active = 1;
		s->mb.script.bytes = 0;
		int rc = imap_conn_command(s->link.conn, &cmd, &res);
		s->mb.script.active = 0;
		imap_cmd_free(&cmd);
		if (rc < 0) {
			char what[64];
			snprintf(what, sizeof(what), "%s (script line %u)", sc->verb, sc->line);
			sess_conn_fail(s, st, what);
			return -1;
		}
		sess_note_alert(s, res.code, res.text);
		bit = res.status == IMAP_ST_OK ? SCRIPT_EXPECT_OK : res.status == IMAP_ST_NO ? SCRIPT_EXPECT_NO :
		      res.status == IMAP_ST_BAD ? SCRIPT_EXPECT_BAD : 0;
		for (unsigned k = 0; k < 3; k++)
			if (sc->expect & (1u << k))
				snprintf(want + strlen(want), sizeof(want) - strlen(want), "%s%s", want[0] ? "," : "",
					 st_words[k]);
		sess_format_result(&res, words, sizeof(words));
		if (!(bit & sc->expect)) {
			sess_fail(s, st, STATE_CRITICAL, "%s (script line %u): %s, expected %s", sc->verb, sc->line, words,
				  want);
			return -1;
		}
		char extra[64] = "";
		if (s->mb.script.bytes)
			snprintf(extra, sizeof(extra), ", %llu literal bytes", (unsigned long long)s->mb.script.bytes);
		step_value(st, "untagged", res.untagged, "");
		sess_ok(st, "%s: %s (%u untagged%s)%s", sc->verb, words, res.untagged, extra,
			sc->expect != SCRIPT_EXPECT_OK ? " as expected" : "");
		sess_step_span(st, res.sent_ns, res.done_ns);
		s->mb.script.ok++;
	}
	return 0;
}

/* ---------------------------------------------------------------- the steps after login */

static int sess_mailbox_steps(struct sess *s)
{
	const struct probe_config *cfg = s->cfg;

	/* Writes need UIDPLUS (UID EXPUNGE): without it a plain EXPUNGE would
	 * also remove mail that others flagged \Deleted.  Refuse before
	 * anything is touched. */
	if (cfg->delete_matched || cfg->append || cfg->idle || cfg->deliver_via) {
		if (sess_ensure_caps(s) < 0)
			return -1;
		if (!(imap_conn_caps(s->link.conn)->flags & CAP_UIDPLUS)) {
			const char *opt = cfg->delete_matched ? "--delete-matched" : cfg->append ? "--append" :
					  cfg->idle ? "--idle" : "--deliver-via";
			report_fail(s->rep, STATE_UNKNOWN, NULL,
				    "%s refused: the server does not offer UIDPLUS, so UID EXPUNGE is unavailable and "
				    "a plain EXPUNGE could remove other messages flagged \\Deleted", opt);
			s->failed = 1;
			return -1;
		}
	}
	/* QUOTA and NAMESPACE are asked for only when offered: a login answer
	 * without a capability list (GNU Mailutils) leaves that unknown, so
	 * ask for the list first rather than send an extension blind */
	if ((cfg->quota_step || cfg->namespace_step) && sess_ensure_caps(s) < 0)
		return -1;
	if (sess_read_mailbox(s) < 0)
		return -1;
	if (sess_read_messages(s) < 0)
		return -1;
	if (cfg->delete_matched && sess_delete_matched(s) < 0)
		return -1;
	if (cfg->append && sess_append_path(s) < 0)
		return -1;
	if (cfg->idle && sess_idle_push(s) < 0)
		return -1;
	if (cfg->deliver_via && sess_delivery(s) < 0)
		return -1;
	if (s->prep.script && run_script(s) < 0)
		return -1;
	return 0;
}



static void run_steps(struct sess *s)
{
	if (s->cfg->auth == AUTH_ALL) {
		sess_auth_all(s);
		return;
	}
	/* --pipeline: with the plain read path (no namespace, list, quota or
	 * write steps, which need the capabilities the server lists after
	 * login), the login goes out with the first mailbox flight */
	const struct probe_config *cfg = s->cfg;
	s->login.defer_ok = cfg->pipeline && !cfg->namespace_step && !cfg->list_step && !cfg->quota_step &&
			   !cfg->select && !cfg->delete_matched && !cfg->append && !cfg->idle && !cfg->script &&
			   !cfg->deliver_via;
	int open = sess_open(s);
	s->login.defer_ok = 0;
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

	if (!cfg->cache_dir || cfg->auth == AUTH_ALL)
		return;
	capcache_key(s->cache.key, sizeof(s->cache.key), cfg->host, cfg->port, tls_mode_name(cfg->tls),
		     cfg->authzid ? cfg->authzid : cfg->username);
	int r = capcache_load(cfg->cache_dir, s->cache.key, &s->cache.entry, err, sizeof(err));
	s->cache.loaded = r > 0;
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
	const struct imap_caps *caps = s->link.conn ? imap_conn_caps(s->link.conn) : NULL;
	struct capcache_entry e;
	char err[512] = "";
	const char *what = NULL;

	if (!s->cache.key[0])
		return;
	if (s->cache.stale) {
		if (capcache_forget(cfg->cache_dir, s->cache.key, err, sizeof(err)) == 0)
			what = "stale, removed";
		s->cache.loaded = 0;
	}
	if (auth && auth->outcome == STEP_OK && s->cache.login_caps_known && caps && caps->known) {
		memset(&e, 0, sizeof(e));
		snprintf(e.before, sizeof(e.before), "%s", s->cache.login_caps);
		snprintf(e.after, sizeof(e.after), "%s", caps->raw);
		if (!s->cache.loaded || strcmp(e.before, s->cache.entry.before) || strcmp(e.after, s->cache.entry.after)) {
			if (capcache_store(cfg->cache_dir, s->cache.key, &e, err, sizeof(err)) == 0)
				what = "written";
		} else if (s->cache.assumed_used) {
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
static int run_once(struct sess *s, int fresh_token)
{
	if (sess_mailbox_prepare(s) == 0 && (!sess_oauth_wanted(s) || sess_oauth_token(s, fresh_token) == 0)) {
		cache_load(s);
		run_steps(s);
		cache_store(s);
	}
	if (s->link.conn)
		imap_conn_free(s->link.conn);
	s->link.conn = NULL;
	sess_mailbox_release(s);
	sess_oauth_release(s);
	return s->cache.stale && !s->timed_out && !clock_expired(s->deadline) && !sess_stopped(s);
}

/* The server refused the token the oauth_token step got: it leaves the
 * cache, and (once) the session runs again with a fresh one. */
static int token_refused(struct sess *s)
{
	if (!s->login.token_refused || !sess_oauth_wanted(s))
		return 0;
	sess_oauth_forget(s);
	return !s->timed_out && !clock_expired(s->deadline);
}

int session_run(const struct probe_config *cfg, const struct session_env *env, struct report *rep)
{
	struct rt_counter rt = { 0 }; /* every connection of this session counts here */
	struct sess s = {
		.cfg = cfg,
		.env = env,
		.rep = rep,
		.rt = &rt,
	};

	int64_t start = clock_now_ns();
	int64_t deadline = start + (int64_t)(cfg->timeout_s * 1e9);

	int attempt, fresh_token = 0;
	for (attempt = 0;; attempt++) {
		rep->start_ns = start;
		s.deadline = deadline;
		s.cache.no_assume = attempt > 0;
		report_info(rep, "host", "%s", cfg->host);
		report_info(rep, "port", "%u", cfg->port);
		if (attempt > 0 && fresh_token)
			report_line(rep, "the server refused the OAuth token: dropped, session repeated with a new one");
		else if (attempt > 0)
			report_line(rep, "the capabilities remembered in --cache-dir were stale: session repeated "
				    "without them");
		int stale = run_once(&s, fresh_token);
		int refused = token_refused(&s);
		if ((!stale && !refused) || attempt > 0)
			break;
		fresh_token = refused;
		/* a stale cache entry: start over, with a clean report */
		report_init(rep, cfg->timeout_s);
		memset(&s, 0, sizeof(s));
		s.cfg = cfg;
		s.env = env;
		s.rep = rep;
		s.rt = &rt;
	}

	if (attempt > 0 && !fresh_token)
		report_info(rep, "caps_cache", "stale, session repeated");
	if (attempt > 0 && fresh_token)
		report_info(rep, "oauth_token_refused", "once, fetched again");
	report_finish(rep, clock_now_ns());
	/* what the client waited for the server (see struct rt_counter) */
	report_info(rep, "round_trips", "%u", rt.count);
	if (s.login.mech[0] && cfg->auth != AUTH_ALL)
		report_info(rep, "mechanism", "%s", s.login.mech);
	sess_summarize(&s);
	return rep->state;
}
