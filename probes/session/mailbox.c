/* mailbox.c - the mailbox read steps (the write steps are in write.c,
 * --idle in idle.c, --script in session.c):
 *
 *   [namespace] [list] status+examine/select [quota]     one flight (two
 *                               when the mailbox name needs the namespace)
 *   [search] [age_search]       one flight    } with --pipeline these go
 *   [fetch] [age_fetch]         one flight    } into the examine flight
 *   [store, expunge]            --delete-matched, one flight
 *   [append_cleanup + append, append_find, append_fetch, append_delete]
 *                               (a NOOP goes first in the flight after the
 *                               APPEND when no EXISTS announced the new
 *                               message; append_delete checks the probe
 *                               message was reported expunged)
 *   [idle_login, idle, idle_append, push, idle_done, idle_cleanup]
 *   [the --script steps]
 *
 * A "flight" is a group of independent commands written in one go and
 * answered in order: one round trip for all of them.  Each still gets its
 * own step, timed from its bytes on the wire (or the previous command's
 * answer, whichever is later) to its tagged response.  Untagged data is
 * routed by content (FETCH by UID or sequence number, ESEARCH by its tag),
 * since servers may answer pipelined commands out of order.  Nothing
 * changes mailbox state unless a write option asked for it: EXAMINE,
 * BODY.PEEK, and SELECT only with --select, --delete-matched or --append. */
#include "config.h"
#include "session/mailbox.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#include "net/clock.h"
#include "session/caps.h"
#include "session/flight.h"
#include "imap/utf7.h"
#include "session/script.h"
#include "session/step.h"
#include "session/untagged.h"

/* ================================================================ namespace, list, examine */

static int resolve_mailbox(struct sess *s, struct step *st)
{
	if (mbx_ns_resolve(&s->mb.ns, s->cfg->mailbox, s->mb.name, sizeof(s->mb.name)) < 0 ||
	    imap_utf7_encode(s->mb.name, s->mb.wire, sizeof(s->mb.wire)) < 0) {
		sess_fail(s, st, STATE_UNKNOWN, "mailbox name %s is not valid UTF-8 or too long", s->cfg->mailbox);
		return -1;
	}
	return 0;
}

static void list_message(struct sess *s, char *buf, size_t len)
{
	const struct probe_config *cfg = s->cfg;
	struct sbuf sb;
	int any = 0;

	sb_init(&sb, buf, len);
	sb_printf(&sb, "%u folder%s", s->mb.list.folders, s->mb.list.folders == 1 ? "" : "s");
	for (unsigned k = 0; k < MBX_SPECIAL_COUNT; k++) {
		if (!s->mb.list.special[k][0])
			continue;
		sb_printf(&sb, "%s%s=%s", any ? ", " : "; special-use: ", mbx_special_name(k), s->mb.list.special[k]);
		any = 1;
	}
	if (cfg->n_expect_folder) {
		unsigned found = 0;
		for (unsigned k = 0; k < cfg->n_expect_folder; k++)
			found += s->mb.list.expect_found[k] != 0;
		sb_printf(&sb, "; expected folders: %u of %u present", found, cfg->n_expect_folder);
		for (unsigned k = 0; k < cfg->n_expect_folder; k++)
			if (!s->mb.list.expect_found[k])
				sb_printf(&sb, ", \"%s\" missing", s->mb.list.expect_name[k]);
	}
}

struct search_cmds {
	struct fcmd *search, *asearch;
};

struct examine_cmds {
	struct fcmd *status, *exam, *quota, *fetch;
	int pipelined;                  /* the searches went in this flight */
	struct search_cmds sc;
	/* --pipeline with SEARCHRES: UID SEARCH RETURN (SAVE MAX) and
	 * UID FETCH $ fetch the newest match in the same flight */
	struct fcmd *save, *sfetch;
	struct mbx_search saved;
};

/* --pipeline: LOGOUT may end the last flight when nothing after it
 * depends on the answers (no writes, --idle or --script). */
static int logout_in_flight(const struct sess *s)
{
	const struct probe_config *cfg = s->cfg;
	return cfg->pipeline && s->link.conn && !s->link.logged_out && !cfg->delete_matched && !cfg->append && !cfg->idle &&
	       !cfg->script;
}

static void add_logout(struct sess *s, struct flight *f)
{
	struct fcmd *c = fl_add(f, "logout", "LOGOUT");
	c->logout = 1;
	s->link.logged_out = 1;
}

static struct fcmd *add_newest_fetch(struct sess *s, struct flight *f);
static int use_esearch(struct sess *s);
static void add_criteria(struct sess *s, struct imap_cmd *cmd);
static const char *fetch_items(const struct probe_config *cfg);
static int finish_newest_fetch(struct sess *s, struct flight *f, struct fcmd *fetch, int saved);
static int want_newest(const struct probe_config *cfg);
static void add_searches(struct sess *s, struct flight *f, struct search_cmds *sc, int before_examine);
static int finish_searches(struct sess *s, struct flight *f, struct search_cmds *sc);

/* --pipeline: what would need one more round trip after the EXAMINE goes
 * in its flight instead - the searches, or (without --search) the fetch
 * of the newest message.  Off by default: a failed EXAMINE then also
 * gets answers to commands that can only fail ("no mailbox selected"). */
static void add_pipelined(struct sess *s, struct flight *f, struct examine_cmds *ex)
{
	const struct probe_config *cfg = s->cfg;

	if (!cfg->pipeline)
		return;
	if (cfg->search || cfg->age_oldest_unseen) {
		add_searches(s, f, &ex->sc, 1);
		ex->pipelined = 1;
		if (cfg->search && want_newest(cfg) && sess_caps_have(s, CAP_SEARCHRES) && f->n + 3 <= FLIGHT_MAX) {
			/* RFC 5182 2.4: SAVE with MAX alone saves only the newest
			 * match (with COUNT or ALL it would save them all, hence a
			 * search of its own) */
			memset(&s->msg, 0, sizeof(s->msg));
			s->msg.parts = -1;
			mbx_search_init(&ex->saved, NULL);
			ex->save = fl_add(f, NULL, "UID SEARCH");
			ex->save->search_into = &ex->saved;
			ex->save->tagged = use_esearch(s);
			imap_cmd_add_text(&ex->save->cmd, "RETURN (SAVE MAX)");
			add_criteria(s, &ex->save->cmd);
			ex->sfetch = fl_add(f, "fetch", "UID FETCH");
			imap_cmd_add_text(&ex->sfetch->cmd, "$");
			imap_cmd_add_text(&ex->sfetch->cmd, fetch_items(cfg));
			s->msg.want_max_of = &ex->saved;
			ex->sfetch->fetch_into = &s->msg;
		}
		if (logout_in_flight(s) && !cfg->age_oldest_unseen && (!want_newest(cfg) || ex->sfetch))
			add_logout(s, f);
	} else {
		if (want_newest(cfg))
			ex->fetch = add_newest_fetch(s, f);
		if (logout_in_flight(s))
			add_logout(s, f);
	}
}

static void add_examine(struct sess *s, struct flight *f, struct examine_cmds *e)
{
	const struct probe_config *cfg = s->cfg;
	int write = cfg->select || cfg->delete_matched || cfg->append;
	const char *verb = write ? "SELECT" : "EXAMINE";

	/* STATUS for the unseen count travels in the same flight as EXAMINE:
	 * no extra round trip (SIZE where STATUS=SIZE is offered). */
	e->status = fl_add(f, NULL, "STATUS");
	imap_cmd_add_astring(&e->status->cmd, s->mb.wire, strlen(s->mb.wire), 0);
	imap_cmd_add_text(&e->status->cmd, sess_caps_have(s, CAP_STATUS_SIZE) ? "(UNSEEN SIZE)" : "(UNSEEN)");
	e->exam = fl_add(f, write ? "select" : "examine", verb);
	imap_cmd_add_astring(&e->exam->cmd, s->mb.wire, strlen(s->mb.wire), 0);
	e->quota = NULL;
	if (cfg->quota_step) {
		if (sess_caps_lack(s, CAP_QUOTA)) {
			struct step *st = sess_begin(s, "quota");
			s->mb.quota.asked = 2;
			snprintf(s->mb.quota.note, sizeof(s->mb.quota.note),
				 "server does not support QUOTA (no QUOTA capability)");
			sess_skip(st, "%s", s->mb.quota.note);
			report_line(s->rep, "%s", s->mb.quota.note);
		} else {
			s->mb.quota.asked = 1;
			mbx_quota_init(&s->mb.quota.got);
			e->quota = fl_add(f, "quota", "GETQUOTAROOT");
			imap_cmd_add_astring(&e->quota->cmd, s->mb.wire, strlen(s->mb.wire), 0);
		}
	}
}

static void quota_message(struct sess *s, char *buf, size_t len)
{
	const struct mbx_quota *q = &s->mb.quota.got;
	struct sbuf sb;

	sb_init(&sb, buf, len);
	if (!q->have_storage && !q->have_messages) {
		sb_printf(&sb, "no storage or message limit on %s%s%s", s->mb.name, q->detail[0] ? ": " : "",
			  q->detail);
		return;
	}
	if (q->have_storage)
		sb_printf(&sb, "storage %.1f%% (%llu of %llu KiB)", q->storage_pct,
			  (unsigned long long)q->storage_used, (unsigned long long)q->storage_limit);
	if (q->have_messages)
		sb_printf(&sb, "%smessages %.1f%% (%llu of %llu)", q->have_storage ? ", " : "", q->messages_pct,
			  (unsigned long long)q->messages_used, (unsigned long long)q->messages_limit);
	if (q->nroots > 1)
		sb_printf(&sb, " (%u quota roots: %s)", q->nroots, q->detail);
}

/* After the examine flight: the quota step's outcome. */
static void finish_quota(struct sess *s, struct fcmd *c)
{
	char msg[512];

	if (!c || !c->done)
		return;
	if (c->res.status != IMAP_ST_OK) {
		char words[400];
		sess_format_result(&c->res, words, sizeof(words));
		s->mb.quota.asked = 3;
		snprintf(s->mb.quota.note, sizeof(s->mb.quota.note), "quota not available: %s", words);
		if (c->st)
			report_step_end(c->st, clock_now_ns(), STEP_OK, STATE_OK, "%s", s->mb.quota.note);
		fl_time(c, NULL);
		report_line(s->rep, "%s", s->mb.quota.note);
		return;
	}
	quota_message(s, msg, sizeof(msg));
	sess_ok(c->st, "%s", msg);
	if (s->mb.quota.got.have_storage)
		step_value(c->st, "storage", s->mb.quota.got.storage_pct, "%");
	if (s->mb.quota.got.have_messages)
		step_value(c->st, "messages", s->mb.quota.got.messages_pct, "%");
	fl_time(c, NULL);
}

/* NAMESPACE and LIST into flight f; *ns and *list are their commands (or
 * NULL).  1 when the mailbox name needs the NAMESPACE answer first. */
static int add_ns_list(struct sess *s, struct flight *f, struct fcmd **ns, struct fcmd **list)
{
	const struct probe_config *cfg = s->cfg;
	int need_ns = cfg->namespace_step && strcasecmp(cfg->mailbox, "INBOX") != 0;

	*ns = *list = NULL;
	if (cfg->namespace_step) {
		if (sess_caps_lack(s, CAP_NAMESPACE)) {
			sess_skip(sess_begin(s, "namespace"), "server does not offer NAMESPACE: names used as given");
			report_line(s->rep, "server does not offer NAMESPACE: folder names used as given");
			need_ns = 0;
		} else {
			*ns = fl_add(f, "namespace", "NAMESPACE");
		}
	}
	if (cfg->list_step) {
		/* LIST-EXTENDED + SPECIAL-USE: ask for the special-use attributes
		 * explicitly; otherwise plain LIST (RFC 6154 servers usually
		 * include them anyway). */
		*list = fl_add(f, "list", "LIST");
		imap_cmd_add_text(&(*list)->cmd, "\"\" \"*\"");
		if (sess_caps_have(s, CAP_LIST_EXTENDED) && sess_caps_have(s, CAP_SPECIAL_USE))
			imap_cmd_add_text(&(*list)->cmd, "RETURN (SPECIAL-USE)");
		s->mb.list.active = 1;
	}
	return need_ns;
}

/* The namespace and list steps' outcome; 0, or -1 recorded. */
static int finish_ns_list(struct sess *s, struct flight *f, struct fcmd *ns, struct fcmd *list)
{
	struct mailbox_state *mb = &s->mb;
	char msg[512];

	if (ns) {
		if (ns->res.status != IMAP_ST_OK) {
			fl_result_fail(f, ns, NULL);
			return -1;
		}
		if (!mb->ns.have)
			sess_ok(ns->st, "no NAMESPACE data: names used as given");
		else
			sess_ok(ns->st, "%s", mb->ns.desc);
		fl_time(ns, NULL);
	}
	if (list) {
		if (list->res.status != IMAP_ST_OK) {
			fl_result_fail(f, list, NULL);
			return -1;
		}
		if (!mb->list.expect_ready)
			sess_resolve_expected(s);
		mb->list.done = 1;
		list_message(s, msg, sizeof(msg));
		sess_ok(list->st, "%s", msg);
		step_value(list->st, "folders", mb->list.folders, "");
		fl_time(list, NULL);
	}
	return 0;
}

/* EXAMINE/SELECT was refused: the steps that depended on it. */
static void examine_refused(struct flight *f, const struct examine_cmds *ex)
{
	const char *verb = ex->exam->cmd.name;
	const struct fcmd *after[] = { ex->quota, ex->fetch, ex->sc.search, ex->sc.asearch, ex->sfetch };

	fl_result_fail(f, ex->exam, NULL);
	for (size_t k = 0; k < sizeof(after) / sizeof(after[0]); k++)
		if (after[k])
			sess_skip(after[k]->st, "not evaluated: %s failed", verb);
}

/* The examine step's outcome: the counts; 0, or -1 recorded. */
static int examine_counted(struct sess *s, const struct examine_cmds *ex)
{
	const struct mb_counts *n = &s->mb.count;
	struct fcmd *e = ex->exam;
	char recent[32] = "", unseen[32] = "", size[48] = "";

	s->mb.count.frozen = 1;
	if (!n->have_exists) {
		sess_fail(s, e->st, STATE_CRITICAL, "%s %s: server sent no EXISTS count", e->cmd.name, s->mb.name);
		fl_time(e, ex->status);
		return -1;
	}
	s->mb.count.live_exists = n->exists;
	step_value(e->st, "messages", n->exists, "");
	if (n->have_unseen)
		step_value(e->st, "unseen", n->unseen, "");
	if (n->have_recent)
		snprintf(recent, sizeof(recent), ", %u recent", n->recent);
	if (n->have_unseen)
		snprintf(unseen, sizeof(unseen), ", %u unseen", n->unseen);
	if (n->have_size)
		snprintf(size, sizeof(size), ", %llu bytes", (unsigned long long)n->size);
	sess_ok(e->st, "%s: %u messages%s%s%s%s", s->mb.name, n->exists, recent, unseen, size,
		n->read_only ? " (read-only)" : "");
	fl_time(e, ex->status);
	if (n->have_uidvalidity)
		report_info(s->rep, "uidvalidity", "%llu", (unsigned long long)n->uidvalidity);
	if (n->have_uidnext)
		report_info(s->rep, "uidnext", "%llu", (unsigned long long)n->uidnext);
	return 0;
}

/* What went with the EXAMINE (--pipeline): the searches and the fetch of
 * the newest (matched) message; 0, or -1 recorded. */
static int finish_pipelined(struct sess *s, struct flight *f, struct examine_cmds *ex)
{
	int rc = 0;

	if (ex->pipelined && finish_searches(s, f, &ex->sc) < 0) {
		if (ex->sfetch)
			sess_skip(ex->sfetch->st, "not evaluated: the search failed");
		return -1;
	}
	if (ex->sfetch) {
		s->mb.find.newest_done = 1;
		if (!s->mb.find.search.count) {
			/* $ was empty: the FETCH fetched nothing, as planned */
			memset(&s->msg, 0, sizeof(s->msg));
			sess_skip(ex->sfetch->st, "no message matched");
		} else if (ex->save->res.status != IMAP_ST_OK) {
			sess_result_fail(s, ex->sfetch->st, "UID SEARCH RETURN (SAVE MAX)", &ex->save->res);
			fl_time(ex->sfetch, ex->save);
			rc = -1;
		} else {
			s->msg.want_uid = s->mb.find.search.max;   /* for the messages */
			s->msg.want_max_of = NULL;
			if (finish_newest_fetch(s, f, ex->sfetch, 1) < 0)
				rc = -1;
			else
				fl_time(ex->sfetch, ex->save);
		}
	}
	if (ex->fetch) {
		s->mb.find.newest_done = 1;
		if (finish_newest_fetch(s, f, ex->fetch, 0) < 0)
			rc = -1;
	}
	return rc;
}

/* NAMESPACE, LIST, STATUS + EXAMINE/SELECT, GETQUOTAROOT: one flight, or
 * two when the mailbox name needs the namespace first. */
int sess_read_mailbox(struct sess *s)
{
	struct flight f;
	struct fcmd *ns, *list;
	struct examine_cmds ex = { 0 };
	int rc = -1, ran;

	fl_init(&f, s, s);
	int need_ns = add_ns_list(s, &f, &ns, &list);
	if (!need_ns) {
		if (resolve_mailbox(s, NULL) < 0)
			goto out;
		add_examine(s, &f, &ex);
		add_pipelined(s, &f, &ex);
	}
	ran = fl_run(&f);
	s->mb.list.active = 0;
	if (ran < 0 || finish_ns_list(s, &f, ns, list) < 0)
		goto out;
	if (need_ns) {
		/* the mailbox name depends on the personal namespace */
		fl_free(&f);
		fl_init(&f, s, s);
		if (resolve_mailbox(s, NULL) < 0)
			goto out;
		add_examine(s, &f, &ex);
		add_pipelined(s, &f, &ex);
		if (fl_run(&f) < 0)
			goto out;
	}
	if (ex.exam->res.status != IMAP_ST_OK) {
		examine_refused(&f, &ex);
		goto out;
	}
	if (examine_counted(s, &ex) < 0)
		goto out;
	finish_quota(s, ex.quota);
	if (fl_spec_refused(s, ex.status) || fl_spec_refused(s, ex.save) || fl_spec_refused(s, ex.sfetch))
		goto out;
	rc = finish_pipelined(s, &f, &ex);
out:
	fl_free(&f);
	return rc;
}

/* ================================================================ search, fetch, age */

static void add_criteria(struct sess *s, struct imap_cmd *cmd)
{
	if (!s->prep.crit_8bit) {
		imap_cmd_add_text(cmd, s->cfg->search);
		return;
	}
	/* 8-bit criteria: CHARSET UTF-8 and the strings as literals where
	 * IMAP4rev1 wants them (imap_cmd_add_text would send raw 8-bit
	 * inside quotes). */
	imap_cmd_add_text(cmd, "CHARSET UTF-8");
	script_append_parts(s->prep.crit, s->prep.crit_first, s->prep.crit_n, cmd);
}

static int use_esearch(struct sess *s)
{
	return sess_caps_have(s, CAP_ESEARCH) || sess_caps_have(s, CAP_IMAP4REV2);
}

static const char *fetch_items(const struct probe_config *cfg)
{
	switch (cfg->fetch) {
	case FETCH_FULL:
		return "(UID RFC822.SIZE INTERNALDATE BODY.PEEK[])";
	case FETCH_HEADERS:
		return "(UID RFC822.SIZE INTERNALDATE BODY.PEEK[HEADER.FIELDS (SUBJECT FROM DATE MESSAGE-ID CONTENT-TYPE)])";
	default:
		return "(UID INTERNALDATE)";
	}
}

static void set_age(struct sess *s, const struct message_info *m, const char *what)
{
	char when[40];
	struct tm tm;
	s->mb.age.value = mbx_age(time(NULL), m->internaldate);
	s->mb.age.have = 1;
	gmtime_r(&m->internaldate, &tm);
	strftime(when, sizeof(when), "%Y-%m-%d %H:%M:%S UTC", &tm);
	snprintf(s->mb.age.what, sizeof(s->mb.age.what), "%s (UID %llu, %s)", what, (unsigned long long)m->uid, when);
}

static void fetch_message(struct sess *s, const struct message_info *m, char *buf, size_t len)
{
	struct sbuf sb;
	char age[24];

	sb_init(&sb, buf, len);
	sb_printf(&sb, "UID %llu", (unsigned long long)m->uid);
	if (m->have_size)
		sb_printf(&sb, ", %llu bytes", (unsigned long long)m->size);
	if (m->have_body && m->full)
		sb_printf(&sb, " (%llu fetched)", (unsigned long long)m->bytes);
	if (m->have_date) {
		mbx_format_age(mbx_age(time(NULL), m->internaldate), age, sizeof(age));
		sb_printf(&sb, ", %s old", age);
	}
	if (m->ctype[0] && strcmp(m->ctype, "text/plain")) {
		sb_printf(&sb, ", %s", m->ctype);
		if (m->parts >= 0)
			sb_printf(&sb, " (%d part%s)", m->parts, m->parts == 1 ? "" : "s");
	}
	if (m->have_body)
		sb_printf(&sb, ": \"%s\"%s%s", m->subject, m->from[0] ? " from " : "", m->from);
}

static int want_newest(const struct probe_config *cfg)
{
	return cfg->fetch != FETCH_NONE || (age_thresholds(cfg) && !cfg->age_oldest_unseen);
}

/* UID FETCH of the newest matched message (--search) or of the newest one
 * ("*").  NULL, with a skipped "fetch" step, when there is nothing to
 * fetch.  Without --search this goes in the EXAMINE flight, before the
 * message count is known: finish_newest_fetch sorts that out. */
static struct fcmd *add_newest_fetch(struct sess *s, struct flight *f)
{
	const struct probe_config *cfg = s->cfg;
	struct fcmd *fetch;
	char set[32];

	memset(&s->msg, 0, sizeof(s->msg));
	s->msg.parts = -1;
	if (cfg->search && (!s->mb.find.searched || s->mb.find.search.count == 0)) {
		sess_skip(sess_begin(s, "fetch"), "no message matched");
		return NULL;
	}
	if (s->mb.count.frozen && s->mb.count.exists == 0) {        /* the EXAMINE reply is in */
		sess_skip(sess_begin(s, "fetch"), "mailbox is empty");
		return NULL;
	}
	fetch = fl_add(f, "fetch", "UID FETCH");
	if (cfg->search)
		snprintf(set, sizeof(set), "%llu", (unsigned long long)s->mb.find.search.max);
	else
		snprintf(set, sizeof(set), "*");
	s->msg.want_uid = cfg->search ? s->mb.find.search.max : 0;
	s->msg.want_newest = !cfg->search;
	imap_cmd_add_text(&fetch->cmd, set);
	imap_cmd_add_text(&fetch->cmd, fetch_items(cfg));
	fetch->fetch_into = &s->msg;
	return fetch;
}

/* A FETCH answered without the message asked for is an expunge race
 * only when the server said something was expunged: an EXPUNGE or
 * VANISHED on this connection since the mailbox was opened, or
 * [EXPUNGEISSUED] (RFC 5530) on the answer itself. */
static int expunge_seen(const struct sess *s, const struct fcmd *c)
{
	return s->mb.count.expunged > 0 || !strcasecmp(c->res.code, "EXPUNGEISSUED");
}

/* saved: the command was "UID FETCH $" (SEARCHRES) */
static int finish_newest_fetch(struct sess *s, struct flight *f, struct fcmd *fetch, int saved)
{
	const struct probe_config *cfg = s->cfg;
	struct mailbox_state *mb = &s->mb;
	char msg[512];

	if (mb->count.exists == 0 && !cfg->search) {
		/* pipelined with the EXAMINE of an empty mailbox: whatever the
		 * server said to "UID FETCH *" does not matter */
		memset(&s->msg, 0, sizeof(s->msg));
		sess_skip(fetch->st, "mailbox is empty");
		return 0;
	}
	if (fetch->res.status != IMAP_ST_OK) {
		fl_result_fail(f, fetch, NULL);
		return -1;
	}
	if (!s->msg.got && !expunge_seen(s, fetch)) {
		/* nothing was expunged: the server withheld a message it has */
		if (saved)
			sess_fail(s, fetch->st, STATE_CRITICAL,
				  "server returned no data for UID FETCH $ (the newest match, UID %llu) and reported no "
				  "EXPUNGE", (unsigned long long)mb->find.search.max);
		else if (cfg->search)
			sess_fail(s, fetch->st, STATE_CRITICAL,
				  "server returned no data for UID FETCH %llu although UID SEARCH matched it, and "
				  "reported no EXPUNGE", (unsigned long long)mb->find.search.max);
		else
			sess_fail(s, fetch->st, STATE_CRITICAL,
				  "server returned no data for UID FETCH * although the mailbox has %u message%s, and "
				  "reported no EXPUNGE", mb->count.live_exists, mb->count.live_exists == 1 ? "" : "s");
		fl_time(fetch, NULL);
		return -1;
	}
	if (!s->msg.got) {
		/* expunged by another client between SEARCH (or EXAMINE) and
		 * FETCH: a race, not a server fault.  It matters for the age
		 * only when the age is the newest message's. */
		char gone[160];
		if (!cfg->age_oldest_unseen)
			mb->age.gone = 1;
		if (cfg->search)
			snprintf(gone, sizeof(gone), "matched message UID %llu vanished before it could be "
				 "fetched (expunged meanwhile)", (unsigned long long)mb->find.search.max);
		else
			snprintf(gone, sizeof(gone), "the newest message vanished before it could be fetched "
				 "(expunged meanwhile)");
		sess_ok(fetch->st, "%s", gone);
		report_line(s->rep, "%s", gone);
	} else {
		fetch_message(s, &s->msg, msg, sizeof(msg));
		if (s->msg.have_size)
			step_value(fetch->st, "size", (double)s->msg.size, "B");
		step_value(fetch->st, "bytes", (double)s->msg.bytes, "B");
		sess_ok(fetch->st, "%s", msg);
		if (s->msg.full && s->msg.have_size && s->msg.bytes != s->msg.size)
			report_line(s->rep, "fetched %llu bytes of UID %llu but RFC822.SIZE says %llu",
				    (unsigned long long)s->msg.bytes, (unsigned long long)s->msg.uid,
				    (unsigned long long)s->msg.size);
	}
	fl_time(fetch, NULL);
	return 0;
}

/* The search flight: --search, and the oldest unseen message where the
 * EXAMINE reply did not name it ([UNSEEN n] is gone in IMAP4rev2, and
 * with --pipeline the searches go before that reply is known). */
static void add_searches(struct sess *s, struct flight *f, struct search_cmds *sc, int before_examine)
{
	const struct probe_config *cfg = s->cfg;
	struct mailbox_state *mb = &s->mb;

	memset(sc, 0, sizeof(*sc));
	if (cfg->search) {
		sc->search = fl_add(f, "search", "UID SEARCH");
		mbx_search_init(&mb->find.search, NULL);
		sc->search->search_into = &mb->find.search;
		sc->search->tagged = use_esearch(s);
		if (use_esearch(s))
			imap_cmd_add_text(&sc->search->cmd,
				      cfg->delete_matched ? "RETURN (COUNT MIN MAX ALL)" : "RETURN (COUNT MIN MAX)");
		add_criteria(s, &sc->search->cmd);
	}
	if (!cfg->age_oldest_unseen)
		return;
	if (!before_examine && (mb->count.exists == 0 || (mb->count.have_unseen && mb->count.unseen == 0)))
		return;         /* nothing unseen: nothing stuck */
	if (!before_examine && mb->count.have_first_unseen) {
		mb->find.oldest_seq = mb->count.first_unseen;
		return;
	}
	sc->asearch = fl_add(f, "age_search", "UID SEARCH");
	mbx_search_init(&mb->find.unseen_search, NULL);
	sc->asearch->search_into = &mb->find.unseen_search;
	sc->asearch->tagged = use_esearch(s);
	imap_cmd_add_text(&sc->asearch->cmd, use_esearch(s) ? "RETURN (MIN) UNSEEN" : "UNSEEN");
}

static int finish_searches(struct sess *s, struct flight *f, struct search_cmds *sc)
{
	struct mailbox_state *mb = &s->mb;
	struct fcmd *search = sc->search, *asearch = sc->asearch;

	if (fl_spec_refused(s, search) || fl_spec_refused(s, asearch))
		return -1;
	if (search) {
		if (search->res.status != IMAP_ST_OK) {
			if (search->res.status == IMAP_ST_BAD) {
				char words[400];
				sess_format_result(&search->res, words, sizeof(words));
				sess_fail(s, search->st, STATE_UNKNOWN, "server rejected the --search criteria: %s", words);
				fl_time(search, NULL);
			} else {
				fl_result_fail(f, search, NULL);
			}
			return -1;
		}
		mbx_search_finish(&mb->find.search);
		mb->find.searched = 1;
		step_value(search->st, "matched", (double)mb->find.search.count, "");
		if (mb->find.search.count && mb->find.search.have_minmax)
			sess_ok(search->st, "%llu matched (UIDs %llu..%llu)%s", (unsigned long long)mb->find.search.count,
				(unsigned long long)mb->find.search.min, (unsigned long long)mb->find.search.max,
				mb->find.search.esearch ? " [ESEARCH]" : "");
		else
			sess_ok(search->st, "%llu matched%s", (unsigned long long)mb->find.search.count,
				mb->find.search.esearch ? " [ESEARCH]" : "");
		fl_time(search, NULL);
	}
	if (asearch) {
		if (asearch->res.status != IMAP_ST_OK) {
			fl_result_fail(f, asearch, NULL);
			return -1;
		}
		mbx_search_finish(&mb->find.unseen_search);
		if (mb->find.unseen_search.count && mb->find.unseen_search.have_minmax) {
			mb->find.oldest_uid = mb->find.unseen_search.min;
			sess_ok(asearch->st, "oldest unseen message: UID %llu", (unsigned long long)mb->find.oldest_uid);
		} else {
			sess_ok(asearch->st, "no unseen message");
		}
		fl_time(asearch, NULL);
	}
	mb->find.searches_done = 1;
	return 0;
}

/* The search flight, unless it went with the EXAMINE (--pipeline); 0, or
 * -1 recorded. */
static int search_flight(struct sess *s)
{
	struct flight f;
	struct search_cmds sc;
	int rc = -1;

	if (s->mb.find.searches_done)
		return 0;
	fl_init(&f, s, s);
	add_searches(s, &f, &sc, 0);
	if ((!f.n || fl_run(&f) == 0) && finish_searches(s, &f, &sc) == 0)
		rc = 0;
	fl_free(&f);
	return rc;
}

/* FETCH of the oldest unseen message (--age-oldest-unseen) into *oldest,
 * in flight f. */
static struct fcmd *add_oldest_fetch(struct sess *s, struct flight *f, struct message_info *oldest)
{
	const struct mb_find *fd = &s->mb.find;
	char set[32];

	memset(oldest, 0, sizeof(*oldest));
	oldest->parts = -1;
	if (!fd->oldest_seq && !fd->oldest_uid)
		return NULL;
	struct fcmd *c = fl_add(f, "age_fetch", fd->oldest_seq ? "FETCH" : "UID FETCH");
	snprintf(set, sizeof(set), "%llu", (unsigned long long)(fd->oldest_seq ? fd->oldest_seq : fd->oldest_uid));
	imap_cmd_add_text(&c->cmd, set);
	imap_cmd_add_text(&c->cmd, "(UID INTERNALDATE)");
	oldest->want_seq = fd->oldest_seq;
	oldest->want_uid = fd->oldest_uid;
	c->fetch_into = oldest;
	return c;
}

/* The age_fetch step's outcome; 0, or -1 recorded. */
static int finish_oldest_fetch(struct sess *s, struct flight *f, struct fcmd *afetch, const struct message_info *oldest)
{
	struct mailbox_state *mb = &s->mb;
	char what[64], age[24];

	if (afetch->res.status != IMAP_ST_OK) {
		fl_result_fail(f, afetch, NULL);
		return -1;
	}
	if (mb->find.oldest_seq)
		snprintf(what, sizeof(what), "FETCH %u", mb->find.oldest_seq);
	else
		snprintf(what, sizeof(what), "UID FETCH %llu", (unsigned long long)mb->find.oldest_uid);
	if (oldest->got && oldest->have_date) {
		set_age(s, oldest, "oldest unseen message");
		mbx_format_age(mb->age.value, age, sizeof(age));
		sess_ok(afetch->st, "oldest unseen message UID %llu is %s old", (unsigned long long)oldest->uid, age);
	} else if (oldest->got) {
		sess_fail(s, afetch->st, STATE_CRITICAL, "server returned no INTERNALDATE for %s", what);
		fl_time(afetch, NULL);
		return -1;
	} else if (!expunge_seen(s, afetch)) {
		sess_fail(s, afetch->st, STATE_CRITICAL,
			  "server returned no data for %s although %s named it as the oldest unseen message, "
			  "and reported no EXPUNGE", what, mb->find.oldest_seq ? "[UNSEEN]" : "UID SEARCH UNSEEN");
		fl_time(afetch, NULL);
		return -1;
	} else {
		mb->age.gone = 1;
		sess_ok(afetch->st, "oldest unseen message vanished before it could be fetched (expunged "
			"meanwhile)");
	}
	fl_time(afetch, NULL);
	return 0;
}

/* The fetch flight: the newest matched (or newest) message unless it went
 * with the EXAMINE, and the oldest unseen one for --age-oldest-unseen;
 * 0, or -1 recorded. */
static int fetch_flight(struct sess *s)
{
	struct flight f;
	struct fcmd *fetch = NULL, *afetch;
	struct message_info oldest;
	int rc = -1;

	fl_init(&f, s, s);
	if (want_newest(s->cfg) && !s->mb.find.newest_done)
		fetch = add_newest_fetch(s, &f);
	afetch = add_oldest_fetch(s, &f, &oldest);
	if (f.n && logout_in_flight(s))
		add_logout(s, &f);
	if (f.n && fl_run(&f) < 0)
		goto out;
	if (fetch && finish_newest_fetch(s, &f, fetch, 0) < 0)
		goto out;
	if (afetch && finish_oldest_fetch(s, &f, afetch, &oldest) < 0)
		goto out;
	rc = 0;
out:
	fl_free(&f);
	return rc;
}

/* The age that the --age-* thresholds look at. */
static void settle_age(struct sess *s)
{
	const struct probe_config *cfg = s->cfg;
	struct mb_age *age = &s->mb.age;

	if (cfg->age_oldest_unseen) {
		age->wanted = 1;
		if (!age->have && !age->gone) {
			/* nothing unseen (or nothing at all): nothing is stuck */
			age->value = 0;
			age->have = 1;
			snprintf(age->what, sizeof(age->what), "%s", NO_UNSEEN);
		}
	} else if (s->msg.got && s->msg.have_date) {
		set_age(s, &s->msg, cfg->search ? "newest matched message" : "newest message");
		age->wanted = 1;
	} else if (age_thresholds(cfg)) {
		age->wanted = 1;
	}
}

int sess_read_messages(struct sess *s)
{
	if (search_flight(s) < 0 || fetch_flight(s) < 0)
		return -1;
	settle_age(s);
	return 0;
}
