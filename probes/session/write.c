/* write.c - the steps that change the mailbox: --delete-matched, and
 * --append (write a probe message, fetch it back, delete it). */
#include "config.h"
#include "session/write.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>
#include <unistd.h>

#include "net/clock.h"
#include "sasl/crypto.h"
#include "session/flight.h"
#include "session/step.h"

#define PROBE_MARKER_HEADER "X-Check-Imap-Session"
#define PROBE_MARKER_VALUE  "probe"
#define PROBE_DOMAIN        "check-imap-session.invalid"
/* Probe messages left behind are removed once they are this old (or twice
 * the timeout, whichever is longer), so a probe never deletes the message
 * of another probe run that is still in progress. */
#define LEFTOVER_MIN_AGE_S 600

/* ================================================================ delete-matched */

/* UID STORE set +FLAGS.SILENT (\Deleted) then UID EXPUNGE set, in one
 * flight on cs's connection.  st_store and st_expunge are steps begun by
 * the caller (the same step for both is fine).  On success the steps are
 * left open for the caller, with the two tagged results (for timing) in
 * rstore/rexpunge and the number of EXPUNGE responses in *expunged; -1
 * after the failure was recorded. */
static int delete_uids(struct sess *s, struct sess *cs, const char *set, struct step *st_store,
		       struct step *st_expunge, unsigned *expunged, struct imap_result *rstore,
		       struct imap_result *rexpunge)
{
	struct flight f;
	struct fcmd *store, *expunge;
	unsigned before = cs->mb.count.expunged;
	int rc = -1;

	fl_init(&f, s, cs);
	store = fl_add(&f, NULL, "UID STORE");
	store->st = st_store;
	imap_cmd_add_text(&store->cmd, set);
	imap_cmd_add_text(&store->cmd, "+FLAGS.SILENT (\\Deleted)");
	expunge = fl_add(&f, NULL, "UID EXPUNGE");
	expunge->st = st_expunge;
	imap_cmd_add_text(&expunge->cmd, set);
	if (fl_run(&f) < 0)
		goto out;
	if (store->res.status != IMAP_ST_OK) {
		fl_result_fail(&f, store, NULL);
		if (st_expunge != st_store)
			sess_skip(st_expunge, "not run: UID STORE failed");
		goto out;
	}
	if (expunge->res.status != IMAP_ST_OK) {
		fl_result_fail(&f, expunge, NULL);
		goto out;
	}
	*expunged = cs->mb.count.expunged - before;
	*rstore = store->res;
	*rexpunge = expunge->res;
	rc = 0;
out:
	fl_free(&f);
	return rc;
}

int sess_delete_matched(struct sess *s)
{
	struct mailbox_state *mb = &s->mb;
	struct imap_result rs, re;
	unsigned n = 0;

	if (!mb->find.searched || mb->find.search.count == 0) {
		sess_skip(sess_begin(s, "store"), "no message matched: nothing to delete");
		mb->writes.deleted_set = 1;
		return 0;
	}
	if (!mb->find.search.have_set || mb->find.search.set.overflow || mb->find.search.bad || !mb->find.search.set.len) {
		sess_fail(s, sess_begin(s, "store"), STATE_UNKNOWN, "cannot delete: the matched UID set %s; narrow --search",
			  mb->find.search.bad ? "sent by the server is malformed" : "is too large for one command");
		return -1;
	}
	if (mb->count.read_only) {
		sess_fail(s, sess_begin(s, "store"), STATE_CRITICAL,
			  "cannot delete: %s is read-only for this user ([READ-ONLY])", mb->name);
		return -1;
	}
	struct step *st_store = sess_begin(s, "store");
	struct step *st_exp = sess_begin(s, "expunge");
	if (delete_uids(s, s, mb->find.search.set.text, st_store, st_exp, &n, &rs, &re) < 0)
		return -1;
	mb->writes.deleted = n;
	mb->writes.deleted_set = 1;
	sess_ok(st_store, "\\Deleted set on UIDs %s", mb->find.search.set.text);
	sess_step_span(st_store, rs.sent_ns, rs.done_ns);
	step_value(st_exp, "deleted", n, "");
	sess_ok(st_exp, "%u message%s expunged (UIDs %s)", n, n == 1 ? "" : "s", mb->find.search.set.text);
	sess_step_span(st_exp, re.sent_ns > rs.done_ns ? re.sent_ns : rs.done_ns, re.done_ns);
	return 0;
}

/* ================================================================ probe messages */

static const char *const month_names[12] = { "Jan", "Feb", "Mar", "Apr", "May", "Jun",
					     "Jul", "Aug", "Sep", "Oct", "Nov", "Dec" };

/* A small message with a unique Message-ID and the marker header that
 * lets a later run find it if this one is interrupted.  Dates are
 * written by hand: strftime's %a/%b follow the locale. */
void make_probe_msg(struct probe_msg *pm, const char *purpose)
{
	static const char *const wd[] = { "Sun", "Mon", "Tue", "Wed", "Thu", "Fri", "Sat" };
	unsigned char rnd[8];
	char hex[17];
	time_t now = time(NULL);
	struct tm tm;

	if (crypto_random(rnd, sizeof(rnd)) < 0) {
		uint64_t x = (uint64_t)clock_now_ns() ^ ((uint64_t)getpid() << 32);
		memcpy(rnd, &x, sizeof(rnd));
	}
	for (int i = 0; i < 8; i++)
		snprintf(hex + 2 * i, 3, "%02x", rnd[i]);
	snprintf(pm->msgid, sizeof(pm->msgid), "<cis.%lld.%ld.%s@%s>", (long long)now, (long)getpid(), hex,
		 PROBE_DOMAIN);
	gmtime_r(&now, &tm);
	int n = snprintf(pm->text, sizeof(pm->text),
			 "Date: %s, %d %s %d %02d:%02d:%02d +0000\r\n"
			 "From: check_imap_session <probe@" PROBE_DOMAIN ">\r\n"
			 "To: <probe@" PROBE_DOMAIN ">\r\n"
			 "Subject: check_imap_session %s probe\r\n"
			 "Message-ID: %s\r\n"
			 PROBE_MARKER_HEADER ": " PROBE_MARKER_VALUE " (%s)\r\n"
			 "MIME-Version: 1.0\r\n"
			 "Content-Type: text/plain; charset=us-ascii\r\n"
			 "\r\n"
			 "Written by the check_imap_session monitoring probe (%s) and deleted\r\n"
			 "right away.  If you can read this, a probe run was interrupted; a\r\n"
			 "later run removes it.\r\n",
			 wd[tm.tm_wday], tm.tm_mday, month_names[tm.tm_mon], tm.tm_year + 1900, tm.tm_hour, tm.tm_min,
			 tm.tm_sec, purpose, pm->msgid, purpose, purpose);
	pm->len = n > 0 && (size_t)n < sizeof(pm->text) ? (size_t)n : strlen(pm->text);
}

/* A capability word the enum does not track (e.g. WITHIN). */
static int caps_word(struct imap_conn *c, const char *word)
{
	const char *raw = imap_conn_caps(c)->raw;
	size_t n = strlen(word);
	for (const char *p = raw; *p;) {
		while (*p == ' ')
			p++;
		const char *e = p;
		while (*e && *e != ' ')
			e++;
		if ((size_t)(e - p) == n && !strncasecmp(p, word, n))
			return 1;
		p = e;
	}
	return 0;
}

/* "UID SEARCH HEADER X-Check-Imap-Session probe OLDER n" (WITHIN) or
 * "... BEFORE <today>": probe messages left behind by earlier runs that
 * are old enough not to belong to a run still in progress. */
struct fcmd *add_msgid_search(struct flight *f, const char *step, struct mbx_search *found,
			      const struct probe_msg *pm)
{
	struct fcmd *find = fl_add(f, step, "UID SEARCH");
	mbx_search_init(found, NULL);
	find->search_into = found;
	imap_cmd_add_text(&find->cmd, "HEADER Message-ID");
	imap_cmd_add_string(&find->cmd, pm->msgid, strlen(pm->msgid), 0);
	return find;
}

struct fcmd *add_leftover_search(struct sess *s, struct sess *cs, struct flight *f, const char *step,
					struct mbx_search *into)
{
	struct fcmd *c = fl_add(f, step, "UID SEARCH");
	char crit[96];

	mbx_search_init(into, NULL);
	c->search_into = into;
	imap_cmd_add_text(&c->cmd, "HEADER " PROBE_MARKER_HEADER " " PROBE_MARKER_VALUE);
	if (caps_word(cs->link.conn, "WITHIN")) {
		double older = 2 * s->cfg->timeout_s;
		if (older < LEFTOVER_MIN_AGE_S)
			older = LEFTOVER_MIN_AGE_S;
		snprintf(crit, sizeof(crit), "OLDER %.0f", older);
	} else {
		time_t now = time(NULL) - 86400;
		struct tm tm;
		gmtime_r(&now, &tm);
		snprintf(crit, sizeof(crit), "BEFORE %d-%s-%d", tm.tm_mday, month_names[tm.tm_mon], tm.tm_year + 1900);
	}
	imap_cmd_add_text(&c->cmd, crit);
	return c;
}

void append_args(struct imap_cmd *cmd, const char *wire, const struct probe_msg *pm)
{
	imap_cmd_add_astring(cmd, wire, strlen(wire), 0);
	imap_cmd_add_text(cmd, "(\\Seen)");
	imap_cmd_add_literal(cmd, pm->text, pm->len, 0);
}

/* An nz-number (RFC 3501: 1 to 4294967295, no sign, no blanks) at *p;
 * *p moves past it.  0 if there is none. */
static uint64_t nz_number(const char **p)
{
	const char *s = *p;
	uint64_t v = 0;

	if (*s < '1' || *s > '9')
		return 0;
	for (; *s >= '0' && *s <= '9'; s++) {
		v = v * 10 + (uint64_t)(*s - '0');
		if (v > UINT32_MAX)
			return 0;
	}
	*p = s;
	return v;
}

/* [APPENDUID uidvalidity uid] (RFC 4315): the UID, or 0 (not that code,
 * not exactly two numbers - a set from MULTIAPPEND is not ours -, another
 * UIDVALIDITY than the mailbox's). */
uint64_t appenduid(const struct imap_result *res, int have_validity, uint64_t validity)
{
	const char *p = res->code_arg;
	if (strcasecmp(res->code, "APPENDUID"))
		return 0;
	uint64_t v = nz_number(&p);
	if (!v || *p++ != ' ')
		return 0;
	uint64_t u = nz_number(&p);
	if (!u || *p)
		return 0;
	if (have_validity && v != validity)
		return 0;
	return u;
}

/* The probe's own UID plus usable leftover UIDs, as one set; returns how
 * many leftovers were added. */
unsigned join_set(char *out, size_t outsz, uint64_t uid, const struct mbx_search *old)
{
	int n = snprintf(out, outsz, "%llu", (unsigned long long)uid);
	if (old && old->count && old->have_set && !old->set.overflow && !old->bad && old->set.len &&
	    (size_t)n + 1 + old->set.len < outsz) {
		snprintf(out + n, outsz - (size_t)n, ",%s", old->set.text);
		return (unsigned)old->count;
	}
	return 0;
}

/* Did UID STORE + UID EXPUNGE of the probe message (and `left`
 * leftovers) remove it?  The watch says so when an EXPUNGE of its
 * sequence number or a VANISHED of its UID came.  Otherwise the counts:
 * `expunges` EXPUNGE/VANISHED'd messages and a live count `drop`.
 * 1 gone; 0 not gone (why in buf); 2 some of the set went but nothing
 * says whether the probe message did (why in buf). */
static int probe_gone(const struct probe_watch *w, unsigned expunges, uint32_t drop, unsigned left, char *why,
		      size_t len)
{
	unsigned removed = expunges > drop ? expunges : drop;

	if (w->gone)
		return 1;
	if (removed == 0) {
		snprintf(why, len, "the server reported no EXPUNGE");
		return 0;
	}
	if (w->seq_known && expunges) {
		/* its sequence number was tracked: the EXPUNGEs were others' */
		snprintf(why, len, "the server reported %u EXPUNGE%s, none for it", expunges, expunges == 1 ? "" : "s");
		return 0;
	}
	if (removed >= left + 1)
		return 1;
	snprintf(why, len, "%u of the %u messages were expunged; the server's responses do not say which", removed,
		 left + 1);
	return 2;
}

/* UID STORE + UID EXPUNGE of the probe message (and leftovers) on cs's
 * connection, then check that it went: the message of the step that
 * (st, left open) says so, or -1 recorded: the delete failed, or the
 * server kept the probe message (CRITICAL: probe messages would pile up
 * in the mailbox, one per run). */
int delete_probe(struct sess *s, struct sess *cs, struct step *st, uint64_t uid, const char *set,
			unsigned left, struct probe_watch *w, char *msg, size_t msglen, struct imap_result *rs,
			struct imap_result *re)
{
	uint32_t live_before = cs->mb.count.live_exists;
	unsigned n = 0;
	char why[160];
	int gone;

	if (delete_uids(s, cs, set, st, st, &n, rs, re) < 0)
		return -1;
	gone = probe_gone(w, n, live_before > cs->mb.count.live_exists ? live_before - cs->mb.count.live_exists : 0, left, why,
			  sizeof(why));
	if (gone == 0) {
		sess_fail(s, st, STATE_CRITICAL,
			  "probe message UID %llu was not expunged (%s): it stays in %s, flagged \\Deleted",
			  (unsigned long long)uid, why, s->mb.name);
		sess_step_span(st, rs->sent_ns, re->done_ns);
		return -1;
	}
	if (gone == 2)
		snprintf(msg, msglen, "UID EXPUNGE of the probe message UID %llu and %u left by earlier runs: %s",
			 (unsigned long long)uid, left, why);
	else if (left)
		snprintf(msg, msglen, "probe message UID %llu removed, and %u left by earlier runs (%u expunged)",
			 (unsigned long long)uid, left, n);
	else
		snprintf(msg, msglen, "probe message UID %llu removed", (unsigned long long)uid);
	return 0;
}

/* Remove the probe message (and leftovers) as one step. */
static int remove_probe(struct sess *s, struct sess *cs, const char *step, struct probe_watch *w,
			const struct mbx_search *old)
{
	char set[MBX_SET_MAX + 32], msg[512];
	struct imap_result rs, re;
	unsigned left = join_set(set, sizeof(set), w->uid, old);
	struct step *st = sess_begin(s, step);

	if (delete_probe(s, cs, st, w->uid, set, left, w, msg, sizeof(msg), &rs, &re) < 0)
		return -1;
	sess_ok(st, "%s", msg);
	sess_step_span(st, rs.sent_ns, re.done_ns);
	return 0;
}

/* ================================================================ --append */

/* Whether the server has told this session about the appended message.
 * RFC 3501 6.3.11: a server that does not send EXISTS for it (Courier-IMAP
 * announces it only with its answer to a later command) may hide it from
 * the commands that follow - UID FETCH returns nothing, UID EXPUNGE
 * removes nothing; the client may send NOOP to be told.  The NOOP goes
 * first in the flight of the next command, which the server then answers
 * knowing the message: no extra round trip, and none at all for servers
 * that send EXISTS with the APPEND's answer (Dovecot). */
struct append_notice {
	uint32_t exists_before;         /* live count before the APPEND flight */
	unsigned expunged_before;       /* EXPUNGEs seen by then */
	int noop;                       /* a NOOP went out for it */
};

static int append_announced(const struct sess *s, const struct append_notice *an)
{
	const struct mailbox_state *mb = &s->mb;
	return (uint64_t)mb->count.live_exists + (mb->count.expunged - an->expunged_before) > an->exists_before;
}

/* The NOOP for an unannounced APPEND, first in flight f: NULL when none
 * is needed (or one was sent already). */
static struct fcmd *append_noop(struct sess *s, struct flight *f, struct append_notice *an)
{
	if (an->noop || append_announced(s, an))
		return NULL;
	an->noop = 1;
	return fl_add(f, NULL, "NOOP");
}

static const char *noop_note(const struct sess *s, const struct fcmd *noop, const struct append_notice *an)
{
	if (!noop)
		return "";
	return append_announced(s, an) ? " (after NOOP: the server had not announced the appended message)" :
					 " (the server did not announce the appended message, not even after NOOP)";
}

/* Leftover search + APPEND (one flight), then find the new UID.  *uid is
 * set once the message is known to exist. */
static int append_write(struct sess *s, const struct probe_msg *pm, struct mbx_search *old, uint64_t *uid,
			struct append_notice *an)
{
	struct mailbox_state *mb = &s->mb;
	struct mbx_search found;
	struct flight f;
	struct fcmd *clean, *app, *find, *noop;
	int rc = -1;

	fl_init(&f, s, s);
	clean = add_leftover_search(s, s, &f, "append_cleanup", old);
	app = fl_add(&f, "append", "APPEND");
	append_args(&app->cmd, mb->wire, pm);
	an->exists_before = mb->count.live_exists;
	an->expunged_before = mb->count.expunged;
	if (fl_run(&f) < 0)
		goto out;
	if (clean->res.status != IMAP_ST_OK) {
		/* not fatal: say so and go on without removing leftovers */
		char words[400];
		sess_format_result(&clean->res, words, sizeof(words));
		report_step_end(clean->st, clock_now_ns(), STEP_OK, STATE_OK,
				"search for leftover probe messages failed: %s", words);
		mbx_search_init(old, NULL);
	} else {
		mbx_search_finish(old);
		sess_ok(clean->st, "%llu probe message%s left by earlier runs", (unsigned long long)old->count,
			old->count == 1 ? "" : "s");
	}
	fl_time(clean, NULL);
	if (app->res.status != IMAP_ST_OK) {
		fl_result_fail(&f, app, NULL);
		goto out;
	}
	*uid = appenduid(&app->res, mb->count.have_uidvalidity, mb->count.uidvalidity);
	step_value(app->st, "bytes", (double)pm->len, "B");
	sess_ok(app->st, "%zu bytes appended to %s%s", pm->len, mb->name, *uid ? " (APPENDUID)" : "");
	fl_time(app, NULL);
	fl_free(&f);

	if (*uid) {
		sess_skip(sess_begin(s, "append_find"), "UID %llu from APPENDUID", (unsigned long long)*uid);
		return 0;
	}
	/* no UIDPLUS answer: find it by its Message-ID */
	fl_init(&f, s, s);
	noop = append_noop(s, &f, an);
	find = add_msgid_search(&f, "append_find", &found, pm);
	if (fl_run(&f) < 0)
		goto out;
	if (find->res.status != IMAP_ST_OK) {
		fl_result_fail(&f, find, NULL);
		goto out;
	}
	mbx_search_finish(&found);
	if (!found.count || !found.have_minmax) {
		sess_fail(s, find->st, STATE_CRITICAL, "the appended message %s is not found by UID SEARCH%s", pm->msgid,
			  noop_note(s, noop, an));
		fl_time(find, noop);
		goto out;
	}
	*uid = found.max;
	sess_ok(find->st, "UID %llu (by Message-ID)%s", (unsigned long long)*uid, noop_note(s, noop, an));
	fl_time(find, noop);
	rc = 0;
out:
	fl_free(&f);
	return rc;
}

/* Fetch the probe message back whole and check it is the one appended. */
static int append_fetch(struct sess *s, uint64_t uid, const struct probe_msg *pm, struct append_notice *an)
{
	struct flight f;
	struct fcmd *fetch, *noop;
	struct message_info got;
	char set[32];
	int rc = -1;

	fl_init(&f, s, s);
	noop = append_noop(s, &f, an);
	fetch = fl_add(&f, "append_fetch", "UID FETCH");
	snprintf(set, sizeof(set), "%llu", (unsigned long long)uid);
	imap_cmd_add_text(&fetch->cmd, set);
	imap_cmd_add_text(&fetch->cmd, "(UID RFC822.SIZE BODY.PEEK[])");
	memset(&got, 0, sizeof(got));
	got.parts = -1;
	got.want_uid = uid;
	fetch->fetch_into = &got;
	if (fl_run(&f) < 0)
		goto out;
	if (fetch->res.status != IMAP_ST_OK) {
		fl_result_fail(&f, fetch, NULL);
		goto out;
	}
	if (!got.got || !got.have_body)
		sess_fail(s, fetch->st, STATE_CRITICAL, "UID FETCH %llu returned no message%s", (unsigned long long)uid,
			  noop_note(s, noop, an));
	else if (strcmp(got.msgid, pm->msgid)) {
		sess_fail(s, fetch->st, STATE_CRITICAL, "UID %llu is not the appended message (Message-ID %s)",
			  (unsigned long long)uid, got.msgid[0] ? got.msgid : "missing");
		rc = -2;        /* someone else's message: never delete it */
	}
	else if (got.bytes != pm->len)
		sess_fail(s, fetch->st, STATE_CRITICAL, "UID %llu came back with %llu bytes, %zu were appended",
			  (unsigned long long)uid, (unsigned long long)got.bytes, pm->len);
	else
		rc = 0;
	if (rc == 0) {
		step_value(fetch->st, "bytes", (double)got.bytes, "B");
		sess_ok(fetch->st, "UID %llu: %llu bytes, identical to what was appended%s", (unsigned long long)uid,
			(unsigned long long)got.bytes, noop_note(s, noop, an));
	}
	fl_time(fetch, noop);
out:
	fl_free(&f);
	return rc;
}

int sess_append_path(struct sess *s)
{
	struct mbx_search old;
	struct probe_msg pm;
	struct append_notice an = { 0 };
	struct probe_watch w;
	uint64_t uid = 0;
	int rc;

	if (s->mb.count.read_only) {
		sess_fail(s, sess_begin(s, "append"), STATE_CRITICAL, "%s is read-only for this user ([READ-ONLY])",
			  s->mb.name);
		return -1;
	}
	make_probe_msg(&pm, "--append");
	rc = append_write(s, &pm, &old, &uid, &an);
	if (!uid)
		return -1;      /* not appended, or not found: a later run cleans up */
	/* from here on, what the server says about it (its sequence number
	 * in the FETCH, then EXPUNGE or VANISHED) is watched */
	memset(&w, 0, sizeof(w));
	w.uid = uid;
	s->mb.route.watch = &w;
	int fetched = rc == 0 ? append_fetch(s, uid, &pm, &an) : -1;
	if (fetched < 0)
		rc = -1;
	if (fetched == -2) {
		/* the UID the server named holds another message: leave it (the
		 * probe message, if it exists, goes with a later run's leftover
		 * search, which matches on the probe's own header) */
		sess_skip(sess_begin(s, "append_delete"), "not run: UID %llu is not the probe message",
			  (unsigned long long)uid);
		s->mb.route.watch = NULL;
		return rc;
	}
	/* fetched or not, the message goes */
	if (imap_conn_err(s->link.conn) == IMAP_E_NONE && remove_probe(s, s, "append_delete", &w, &old) < 0)
		rc = -1;
	s->mb.route.watch = NULL;
	return rc;
}
