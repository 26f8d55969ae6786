/* session_mailbox.c - everything after login, and the untagged data it
 * needs:
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
#include "session/session_int.h"

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "net/clock.h"
#include "sasl/crypto.h"
#include "imap/mime.h"
#include "session/script.h"
#include "net/transport.h"

#define PROBE_MARKER_HEADER "X-Check-Imap-Session"
#define PROBE_MARKER_VALUE  "probe"
#define PROBE_DOMAIN        "check-imap-session.invalid"
/* The largest flight: NAMESPACE, LIST, STATUS, EXAMINE, GETQUOTAROOT and,
 * with --pipeline, two searches. */
#define FLIGHT_MAX 8
/* Probe messages left behind are removed once they are this old (or twice
 * the timeout, whichever is longer), so a probe never deletes the message
 * of another probe run that is still in progress. */
#define LEFTOVER_MIN_AGE_S 600
/* --age-oldest-unseen with nothing unseen: the age is 0, and this is
 * what it is about */
#define NO_UNSEEN "no unseen message"

/* The probe message of --append while it exists: whether the server
 * reported it expunged, by "* n EXPUNGE" for its sequence number (learnt
 * from a FETCH response carrying its UID and kept up to date as other
 * EXPUNGEs renumber the mailbox) or by a VANISHED naming its UID.  Only
 * one probe message is watched at a time, on one connection (mb). */
struct probe_watch {
	const struct mailbox_state *mb;
	uint64_t uid;
	uint32_t seq;                   /* 0: not known (any more) */
	int seq_known;                  /* it was known at some point */
	int gone;                       /* an EXPUNGE or VANISHED named it */
};
static struct probe_watch *probe_watch;

/* ================================================================ untagged data */

static int parse_u64(const struct imap_response *r, size_t i, uint64_t *v)
{
	return i < r->ntok ? imap_tok_u64(r, &r->tok[i], v) : -1;
}

static int is_section(const char *name, size_t len, const char *prefix)
{
	size_t n = strlen(prefix);
	return len >= n && !strncasecmp(name, prefix, n);
}

/* The body section that holds the whole message: BODY[], BINARY[],
 * RFC822 (a partial "<origin>" suffix counts too). */
static int whole_section(const char *name, size_t len)
{
	return ascii_ieq(name, len, "RFC822") || is_section(name, len, "BODY[]") || is_section(name, len, "BINARY[]");
}

static void describe_message(struct message_info *m, const char *data, size_t len, int whole)
{
	char ct[256], type[64], boundary[128];

	mime_header_display(data, len, "Subject", m->subject, sizeof(m->subject));
	mime_header_display(data, len, "From", m->from, sizeof(m->from));
	mime_header_display(data, len, "Date", m->date, sizeof(m->date));
	mime_header_display(data, len, "Message-ID", m->msgid, sizeof(m->msgid));
	if (mime_header_field(data, len, "Content-Type", ct, sizeof(ct)) &&
	    mime_content_type(ct, type, sizeof(type), boundary, sizeof(boundary))) {
		sanitize_text(m->ctype, sizeof(m->ctype), type, strlen(type));
		if (whole && !strncmp(type, "multipart/", 10) && boundary[0])
			m->parts = mime_count_parts(data, len, boundary);
	}
}

static int fetch_wants(const struct sess *s, const struct message_info *t, int have_uid, uint64_t uid,
		       uint32_t seq)
{
	if (t->want_max_of)
		return have_uid && (t->want_max_of->have_minmax & 2) && uid == t->want_max_of->max;
	if (t->want_uid)
		return have_uid && uid == t->want_uid;
	if (t->want_seq)
		return seq == t->want_seq;
	if (t->want_newest)
		return seq == s->mb.live_exists;
	return 0;
}

/* A FETCH response: merged into every fetch target of the flight that
 * asked for this message (by UID, by sequence number, or the newest one);
 * other FETCH responses (flag updates, other clients) are ignored. */
static void handle_fetch(struct sess *s, const struct imap_response *r)
{
	uint64_t uid = 0, size = 0;
	int have_uid = 0, have_size = 0, have_date = 0;
	time_t date = 0;
	size_t body = 0;

	if ((!s->mb.nfetch_t && !probe_watch) || r->ntok == 0 || r->tok[0].type != IMAP_TOK_LIST_OPEN)
		return;
	for (size_t i = 1; i + 1 < r->ntok && r->tok[i].type != IMAP_TOK_LIST_CLOSE; i = imap_tok_skip(r, i + 1)) {
		const struct imap_token *k = &r->tok[i], *v = &r->tok[i + 1];
		const char *name = imap_tok_data(r, k);
		if (k->type != IMAP_TOK_ATOM)
			continue;
		if (imap_tok_is(r, k, "UID")) {
			have_uid = parse_u64(r, i + 1, &uid) == 0;
		} else if (imap_tok_is(r, k, "RFC822.SIZE")) {
			have_size = parse_u64(r, i + 1, &size) == 0;
		} else if (imap_tok_is(r, k, "INTERNALDATE") && v->type == IMAP_TOK_QUOTED) {
			have_date = mbx_parse_datetime(imap_tok_data(r, v), v->len, &date) == 0;
		} else if ((is_section(name, k->len, "BODY[") || is_section(name, k->len, "BINARY[") ||
			    is_section(name, k->len, "RFC822")) &&
			   (v->type == IMAP_TOK_LITERAL || v->type == IMAP_TOK_QUOTED)) {
			body = i + 1;
		}
	}
	if (probe_watch && probe_watch->mb == &s->mb && have_uid && uid == probe_watch->uid && !probe_watch->gone) {
		probe_watch->seq = r->number;
		probe_watch->seq_known = 1;
	}
	for (unsigned n = 0; n < s->mb.nfetch_t; n++) {
		struct message_info *t = s->mb.fetch_t[n];
		if (!fetch_wants(s, t, have_uid, uid, r->number))
			continue;
		t->got = 1;
		t->seq = r->number;
		if (have_uid)
			t->uid = uid;
		if (have_size) {
			t->size = size;
			t->have_size = 1;
		}
		if (have_date) {
			t->internaldate = date;
			t->have_date = 1;
		}
		if (body) {
			const struct imap_token *v = &r->tok[body], *k = &r->tok[body - 1];
			t->bytes += v->full_len;
			t->have_body = 1;
			t->full = whole_section(imap_tok_data(r, k), k->len);
			describe_message(t, imap_tok_data(r, v), v->len, t->full);
		}
	}
}

static void handle_status(struct sess *s, const struct imap_response *r)
{
	/* * STATUS mailbox (MESSAGES n UNSEEN n SIZE n) */
	size_t i;
	if (r->ntok < 2)
		return;
	i = imap_tok_skip(r, 0);
	if (i >= r->ntok || r->tok[i].type != IMAP_TOK_LIST_OPEN)
		return;
	for (i++; i + 1 < r->ntok && r->tok[i].type != IMAP_TOK_LIST_CLOSE; i += 2) {
		uint64_t v;
		if (parse_u64(r, i + 1, &v) < 0)
			continue;
		if (v > UINT32_MAX && !imap_tok_is(r, &r->tok[i], "SIZE"))
			continue;       /* counts are 32-bit: never truncate */
		if (imap_tok_is(r, &r->tok[i], "UNSEEN")) {
			s->mb.unseen = (uint32_t)v;
			s->mb.have_unseen = 1;
		} else if (imap_tok_is(r, &r->tok[i], "SIZE")) {
			s->mb.size = v;
			s->mb.have_size = 1;
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
	if (!strcasecmp(code, "ALERT")) {
		sess_note_alert(s, code, r->text);
		return;
	}
	if (s->mb.frozen)
		return;
	if (!strcasecmp(code, "UIDVALIDITY") || !strcasecmp(code, "UIDNEXT") || !strcasecmp(code, "UNSEEN")) {
		if (r->code_arg[0] < '0' || r->code_arg[0] > '9')
			return;
		errno = 0;
		v = strtoull(r->code_arg, &end, 10);
		if (errno || end == r->code_arg)
			return;
		if (!strcasecmp(code, "UIDVALIDITY")) {
			s->mb.uidvalidity = v;
			s->mb.have_uidvalidity = 1;
		} else if (!strcasecmp(code, "UIDNEXT")) {
			s->mb.uidnext = v;
			s->mb.have_uidnext = 1;
		} else if (v > 0 && v <= UINT32_MAX) {
			s->mb.first_unseen = (uint32_t)v;
			s->mb.have_first_unseen = 1;
		}
	} else if (!strcasecmp(code, "READ-ONLY")) {
		s->mb.read_only = 1;
	} else if (!strcasecmp(code, "READ-WRITE")) {
		s->mb.read_only = 0;
	}
}

static int folder_eq(const char *a, size_t alen, const char *b)
{
	size_t blen = strlen(b);
	if (alen == 5 && blen == 5 && !strncasecmp(a, "INBOX", 5) && !strcasecmp(b, "INBOX"))
		return 1;
	return alen == blen && !memcmp(a, b, alen);
}

static void resolve_expected(struct sess *s)
{
	const struct probe_config *cfg = s->cfg;
	for (unsigned k = 0; k < cfg->n_expect_folder; k++)
		if (mbx_ns_resolve(&s->mb.ns, cfg->expect_folder[k], s->mb.expect_name[k],
				   sizeof(s->mb.expect_name[k])) < 0)
			strlcpy_s(s->mb.expect_name[k], cfg->expect_folder[k], sizeof(s->mb.expect_name[k]));
	s->mb.expect_ready = 1;
}

static void handle_list(struct sess *s, const struct imap_response *r)
{
	struct mailbox_state *mb = &s->mb;
	struct mbx_list_entry e;

	if (!mb->listing || mbx_parse_list(r, &e) < 0)
		return;
	if (!mb->expect_ready)
		resolve_expected(s);    /* NAMESPACE (same flight) has been answered */
	if (e.attrs & MBX_ATTR_NONEXISTENT)
		return;
	mb->folders++;
	for (unsigned k = 0; k < MBX_SPECIAL_COUNT; k++)
		if ((e.attrs & (MBX_SPECIAL_FIRST << k)) && !mb->special[k][0])
			sanitize_text(mb->special[k], sizeof(mb->special[k]), e.name, e.name_len);
	for (unsigned k = 0; k < s->cfg->n_expect_folder; k++)
		if (!mb->expect_found[k] && folder_eq(e.name, e.name_len, mb->expect_name[k]))
			mb->expect_found[k] = 1;
}

/* "* VANISHED 5:7,9" (RFC 7162, QRESYNC): those UIDs are expunged, like
 * one EXPUNGE each.  "* VANISHED (EARLIER) ..." only answers a
 * resynchronization and changes no count. */
static void handle_vanished(struct sess *s, const struct imap_response *r)
{
	struct mailbox_state *mb = &s->mb;
	uint64_t count, lo, hi;

	if (r->ntok != 1 || r->tok[0].type != IMAP_TOK_ATOM)
		return;
	const char *set = imap_tok_data(r, &r->tok[0]);
	if (mbx_seqset_parse(set, r->tok[0].len, &count, &lo, &hi) < 0)
		return;
	mb->live_exists = count < mb->live_exists ? mb->live_exists - (uint32_t)count : 0;
	mb->expunged += count < UINT32_MAX ? (unsigned)count : UINT32_MAX;
	if (probe_watch && probe_watch->mb == mb) {
		/* by UID from now on: its sequence number may have moved */
		if (mbx_seqset_has(set, r->tok[0].len, probe_watch->uid) == 1)
			probe_watch->gone = 1;
		probe_watch->seq = 0;
	}
}

static void count_literals(struct sess *s, const struct imap_response *r)
{
	for (size_t i = 0; i < r->ntok; i++)
		if (r->tok[i].type == IMAP_TOK_LITERAL)
			s->mb.script_bytes += r->tok[i].full_len;
}

int sess_on_untagged(void *ud, struct imap_conn *c, const struct imap_response *r)
{
	struct sess *s = ud;
	struct mailbox_state *mb = &s->mb;

	if (r->type == IMAP_RESP_CONTINUATION) {
		/* Nobody asked for one: waiting would only run into the deadline. */
		char text[128];
		sanitize_text(text, sizeof(text), r->text, r->text_len);
		imap_conn_fail(c, IMAP_E_PROTOCOL, "unexpected continuation request from the server: \"+ %s\"", text);
		return -1;
	}
	if (r->type != IMAP_RESP_UNTAGGED)
		return 0;
	if (mb->script_mode)
		count_literals(s, r);
	if (r->status != IMAP_ST_NONE) {
		if (r->code)
			handle_code(s, r);
		if (r->status == IMAP_ST_NO || r->status == IMAP_ST_BAD) {
			char text[256];
			sanitize_text(text, sizeof(text), r->text, r->text_len);
			report_line(s->rep, "server warning: %s %s", sess_status_word(r->status), text);
		}
		return 0;
	}
	if (!r->name)
		return 0;
	if (r->has_number && ascii_ieq(r->name, r->name_len, "EXISTS")) {
		mb->live_exists = r->number;
		if (!mb->frozen) {
			mb->exists = r->number;
			mb->have_exists = 1;
		}
	} else if (r->has_number && ascii_ieq(r->name, r->name_len, "RECENT")) {
		if (!mb->frozen) {
			mb->recent = r->number;
			mb->have_recent = 1;
		}
	} else if (r->has_number && ascii_ieq(r->name, r->name_len, "EXPUNGE")) {
		if (mb->live_exists)
			mb->live_exists--;
		mb->expunged++;
		if (probe_watch && probe_watch->mb == mb && probe_watch->seq) {
			if (r->number == probe_watch->seq) {
				probe_watch->gone = 1;
				probe_watch->seq = 0;
			} else if (r->number < probe_watch->seq) {
				probe_watch->seq--;
			}
		}
	} else if (ascii_ieq(r->name, r->name_len, "VANISHED")) {
		handle_vanished(s, r);
	} else if (r->has_number && ascii_ieq(r->name, r->name_len, "FETCH")) {
		handle_fetch(s, r);
	} else if (ascii_ieq(r->name, r->name_len, "STATUS")) {
		if (!mb->frozen)
			handle_status(s, r);
	} else if (ascii_ieq(r->name, r->name_len, "SEARCH")) {
		/* no correlator: servers run searches one after the other */
		if (mb->search_cur)
			mbx_parse_search(r, mb->search_cur);
	} else if (ascii_ieq(r->name, r->name_len, "ESEARCH")) {
		/* (TAG "a5") names the command; without it, the pending one */
		for (unsigned k = 0; k < mb->nsearch_t; k++)
			if (mbx_esearch_tagged(r) ? mbx_parse_esearch(r, mb->search_t[k]) == 0 :
						    mb->search_t[k] == mb->search_cur &&
							    mbx_parse_esearch(r, mb->search_t[k]) == 0)
				break;
	} else if (ascii_ieq(r->name, r->name_len, "LIST")) {
		handle_list(s, r);
	} else if (ascii_ieq(r->name, r->name_len, "NAMESPACE")) {
		if (!mb->frozen && mbx_parse_namespace(r, &mb->ns) < 0)
			report_line(s->rep, "unparseable NAMESPACE response ignored");
	} else if (ascii_ieq(r->name, r->name_len, "QUOTAROOT")) {
		if (mb->quota_asked == 1)
			mbx_parse_quotaroot(r, &mb->quota);
	} else if (ascii_ieq(r->name, r->name_len, "QUOTA")) {
		if (mb->quota_asked == 1)
			mbx_parse_quota(r, &mb->quota);
	}
	return 0;
}

/* ================================================================ helpers */

static int age_thresholds(const struct probe_config *cfg);

static int caps_have(struct sess *s, uint32_t flag)
{
	const struct imap_caps *c = imap_conn_caps(s->conn);
	if (c->known && (c->flags & flag))
		return 1;
	/* the login is still in flight: what the cache says it will list */
	if (s->pa.active && (s->assumed & flag)) {
		s->assumed_used |= flag;
		return 1;
	}
	return 0;
}

static int caps_lack(struct sess *s, uint32_t flag)
{
	const struct imap_caps *c = imap_conn_caps(s->conn);
	return c->known && !(c->flags & flag);
}

/* A failure of connection c (the main one or the --idle second one),
 * recorded in the main report. */
static void conn_fail(struct sess *s, struct imap_conn *c, struct step *st, const char *what)
{
	enum imap_err e = imap_conn_err(c);
	if (e == IMAP_E_TIMEOUT) {
		sess_timeout(s, st);
		return;
	}
	sess_fail(s, st, e == IMAP_E_LOCAL ? STATE_UNKNOWN : STATE_CRITICAL, "%s%s%s", what ? what : "", what ? ": " : "",
		  imap_conn_errmsg(c));
}

static void skip_step(struct step *st, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void skip_step(struct step *st, const char *fmt, ...)
{
	char msg[512];
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	if (st)
		report_step_end(st, STEP_SKIPPED, STATE_OK, "%s", msg);
}

static int64_t step_deadline_reserve(const struct sess *s)
{
	int64_t quarter = (int64_t)(s->cfg->timeout_s * 1e9 / 4);
	int64_t two = 2000LL * 1000 * 1000;
	return quarter < two ? quarter : two;
}

/* ================================================================ flights */

struct fcmd {
	struct step *st;                  /* NULL: part of another command's step */
	struct imap_cmd cmd;
	unsigned id;
	struct imap_result res;
	struct mbx_search *search_into;   /* where its SEARCH/ESEARCH data goes */
	int tagged;                       /* ...and it comes as ESEARCH (TAG "...") */
	struct message_info *fetch_into;  /* where its FETCH data goes */
	int done;                         /* tagged response arrived */
	int64_t prev_done;                /* the previous command's tagged response */
	int logout;                       /* LOGOUT at the end of the last flight */
};

struct flight {
	struct sess *s;                   /* report, steps */
	struct sess *cs;                  /* connection (s, or the --idle one) */
	unsigned n;
	struct fcmd c[FLIGHT_MAX];
};

static void fl_init(struct flight *f, struct sess *s, struct sess *cs)
{
	f->s = s;
	f->cs = cs;
	f->n = 0;
}

/* Add a command; step may be NULL (the command belongs to a step of a
 * later command in the same flight, e.g. STATUS with EXAMINE). */
static struct fcmd *fl_add(struct flight *f, const char *step, const char *verb)
{
	if (f->n >= FLIGHT_MAX)
		abort();        /* a programming error, caught by the tests */
	struct fcmd *c = &f->c[f->n++];
	memset(c, 0, sizeof(*c));
	if (step)
		c->st = sess_begin(f->s, step);
	imap_cmd_init(&c->cmd, f->cs->conn, verb);
	return c;
}

static void fl_free(struct flight *f)
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
static void fl_time(struct fcmd *c, const struct fcmd *from)
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
static int spec_refused(struct sess *s, struct fcmd *c)
{
	char words[400];

	if (!s->assumed_used || !c || c->res.status == IMAP_ST_OK)
		return 0;
	s->spec_stale = 1;
	sess_format_result(&c->res, words, sizeof(words));
	sess_fail(s, c->st, STATE_CRITICAL,
		  "%s: %s (the command relied on capabilities remembered in --cache-dir, which the server no "
		  "longer lists)", c->cmd.name, words);
	fl_time(c, NULL);
	return 1;
}

/* Write every command (one write when none needs a synchronizing literal;
 * otherwise one after the other), then collect the tagged responses in
 * order.  0 when every command got its tagged response (any status); -1
 * after a connection failure, recorded on the step concerned, with the
 * other unfinished steps marked as not run. */
static void fl_targets(struct flight *f, unsigned from)
{
	struct mailbox_state *mb = &f->cs->mb;
	mb->search_cur = NULL;
	for (unsigned i = from; i < f->n && !mb->search_cur; i++)
		mb->search_cur = f->c[i].search_into;
}

static void fl_untarget(struct flight *f)
{
	struct mailbox_state *mb = &f->cs->mb;
	mb->nsearch_t = mb->nfetch_t = 0;
	mb->search_cur = NULL;
}

#define LOGOUT_GRACE_NS (1000LL * 1000 * 1000)

/* Wait for c's tagged response.  A LOGOUT (the last command of the last
 * flight) is waited for as do_logout() does: BYE then EOF is its answer,
 * and no answer within a second just ends the session. */
static int fl_wait(struct flight *f, struct fcmd *c)
{
	struct imap_conn *conn = f->cs->conn;
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
		enum imap_err e = imap_conn_err(f->cs->conn);
		if (e == IMAP_E_TIMEOUT && !clock_expired(f->cs->deadline))
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
	struct imap_conn *conn = f->cs->conn;
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
				skip_step(c->st, "not run: the connection failed");
		} else if (c->st) {
			skip_step(c->st, "not run: authentication failed");
		}
	}
	imap_conn_set_deadline(conn, f->cs->deadline);
}

static int fl_run(struct flight *f)
{
	struct sess *s = f->s, *cs = f->cs;
	struct mailbox_state *mb = &cs->mb;
	struct imap_conn *conn = cs->conn;
	int sequential = 0;
	unsigned i = 0;
	int64_t auth_done = 0;

	/* every command's data targets are live for the whole flight */
	mb->nsearch_t = mb->nfetch_t = 0;
	unsigned plain_searches = 0;
	for (i = 0; i < f->n; i++) {
		if (f->c[i].cmd.nsync)
			sequential = 1;
		if (f->c[i].search_into && !f->c[i].tagged)
			plain_searches++;
		if (f->c[i].search_into && mb->nsearch_t < MB_TARGETS)
			mb->search_t[mb->nsearch_t++] = f->c[i].search_into;
		if (f->c[i].fetch_into && mb->nfetch_t < MB_TARGETS)
			mb->fetch_t[mb->nfetch_t++] = f->c[i].fetch_into;
	}
	/* Two untagged "* SEARCH" answers in one flight cannot be told apart
	 * when the server runs the commands concurrently (RFC 3501 5.5: the
	 * client must not pipeline them): one at a time then. */
	if (plain_searches > 1)
		sequential = 1;
	if (sequential && cs->pa.active) {
		/* a synchronizing literal in the flight: the login first */
		if (sess_auth_settle(cs) < 0) {
			fl_untarget(f);
			for (unsigned j = 0; j < f->n; j++)
				skip_step(f->c[j].st, "not run: authentication failed");
			return -1;
		}
		auth_done = cs->auth_done_ns;
	}
	for (i = 0; i < f->n; i++) {
		struct fcmd *c = &f->c[i];
		int rc;
		if (sequential) {
			fl_targets(f, i);
			rc = imap_conn_send(conn, &c->cmd, &c->id);
		} else {
			rc = imap_conn_queue(conn, &c->cmd, &c->id);
		}
		if (rc < 0)
			goto fail;
		if (c->search_into)
			strlcpy_s(c->search_into->tag, imap_conn_last_tag(conn), sizeof(c->search_into->tag));
		if (sequential) {
			rc = fl_wait(f, c);
			if (rc < 0)
				goto fail;
			c->done = 1;
			sess_note_alert(s, c->res.code, c->res.text);
		}
	}
	if (!sequential) {
		if (imap_conn_flush(conn) < 0) {
			i = 0;
			if (cs->pa.active) {
				cs->pa.active = 0;
				sess_conn_fail(cs, cs->pa.st, cs->pa.cmd);
				fl_untarget(f);
				for (unsigned j = 0; j < f->n; j++)
					skip_step(f->c[j].st, "not run: authentication failed");
				return -1;
			}
			goto fail;
		}
		if (cs->pa.active) {
			/* the login went out first in this write: its answer first */
			if (sess_auth_settle(cs) < 0) {
				fl_drain_after_auth(f);
				fl_untarget(f);
				return -1;
			}
			auth_done = cs->auth_done_ns;
		}
		for (i = 0; i < f->n; i++) {
			struct fcmd *c = &f->c[i];
			fl_targets(f, i);
			if (fl_wait(f, c) < 0)
				goto fail;
			c->done = 1;
			c->prev_done = i > 0 ? f->c[i - 1].res.done_ns : auth_done;
			sess_note_alert(s, c->res.code, c->res.text);
		}
	}
	fl_untarget(f);
	for (i = 0; i < f->n; i++)
		if (f->c[i].logout)
			fl_logout_result(f, &f->c[i], 1);
	return 0;
fail:
	if (i < f->n && f->c[i].logout) {
		/* everything else was answered: only the goodbye went wrong */
		fl_untarget(f);
		if (fl_logout_result(f, &f->c[i], 0) == 0)
			return 0;
		conn_fail(s, conn, f->c[i].st, "LOGOUT");
		return 0;
	}
	fl_untarget(f);
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
	{
		/* the step of the failing command, or of the next one that has a step */
		struct step *st = NULL;
		for (unsigned j = i; j < f->n && !st; j++)
			st = f->c[j].st;
		conn_fail(s, conn, st, f->c[i < f->n ? i : 0].cmd.name);
		for (unsigned j = 0; j < f->n; j++)
			if (f->c[j].st && f->c[j].st != st && !f->c[j].done)
				skip_step(f->c[j].st, "not run: the connection failed");
	}
	return -1;
}

/* A tagged NO/BAD: the step fails with the server's words. */
static void fl_result_fail(struct flight *f, struct fcmd *c, const char *what)
{
	sess_result_fail(f->s, c->st, what ? what : c->cmd.name, &c->res);
	fl_time(c, NULL);
}

/* ================================================================ prepare */

static int prep_fail(struct sess *s, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static int prep_fail(struct sess *s, const char *fmt, ...)
{
	char msg[768];
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	report_fail(s->rep, STATE_UNKNOWN, NULL, "%s", msg);
	s->failed = 1;
	return -1;
}

static struct script *load_script(const char *path, char *err, size_t errlen)
{
	struct stat sb;
	char *buf = NULL;
	size_t len = 0;
	int fd = open(path, O_RDONLY | O_CLOEXEC | O_NOCTTY);

	if (fd < 0) {
		snprintf(err, errlen, "cannot read script %s: %s", path, strerror(errno));
		return NULL;
	}
	if (fstat(fd, &sb) < 0 || !S_ISREG(sb.st_mode)) {
		snprintf(err, errlen, "script %s is not a regular file", path);
		close(fd);
		return NULL;
	}
	buf = malloc(SCRIPT_MAX_BYTES + 1);
	if (!buf) {
		snprintf(err, errlen, "out of memory");
		close(fd);
		return NULL;
	}
	for (;;) {
		ssize_t n = read(fd, buf + len, SCRIPT_MAX_BYTES + 1 - len);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0) {
			snprintf(err, errlen, "cannot read script %s: %s", path, strerror(errno));
			close(fd);
			free(buf);
			return NULL;
		}
		if (n == 0 || (len += (size_t)n) > SCRIPT_MAX_BYTES)
			break;
	}
	close(fd);
	struct script *scr = script_parse(buf, len, path, err, errlen);
	free(buf);
	return scr;
}

int sess_mailbox_prepare(struct sess *s)
{
	const struct probe_config *cfg = s->cfg;
	char tmp[1024], err[512];

	if (cfg->delete_matched && !cfg->search)
		return prep_fail(s, "--delete-matched needs --search: it deletes only the messages the search matched");
	if (!strcmp(cfg->auth, "none") || !strcmp(cfg->auth, "all")) {
		/* no mailbox is opened: these options would be ignored silently */
		const char *opt = cfg->search ? "--search" : cfg->script ? "--script" : cfg->append ? "--append" :
				  cfg->idle ? "--idle" : cfg->quota_step ? "--quota" : cfg->list_step ? "--list" :
				  cfg->namespace_step ? "--namespace" : cfg->select ? "--select" :
				  cfg->age_oldest_unseen || age_thresholds(cfg) ? "--age-*" :
				  cfg->messages.warn.set || cfg->messages.crit.set ? "--messages-*" :
				  cfg->unseen.warn.set || cfg->unseen.crit.set ? "--unseen-*" :
				  cfg->matched.warn.set || cfg->matched.crit.set ? "--matched-*" : NULL;
		if (opt)
			return prep_fail(s, "%s needs a mailbox, and --auth %s opens none", opt, cfg->auth);
	}
	if (imap_utf7_encode(cfg->mailbox, tmp, sizeof(tmp)) < 0)
		return prep_fail(s, "mailbox name %s is not valid UTF-8 or too long", cfg->mailbox);
	for (unsigned k = 0; k < cfg->n_expect_folder; k++)
		if (imap_utf7_encode(cfg->expect_folder[k], tmp, sizeof(tmp)) < 0)
			return prep_fail(s, "--expect-folder %s: not valid UTF-8 or too long", cfg->expect_folder[k]);
	if (cfg->search) {
		s->crit = script_new();
		if (!s->crit)
			return prep_fail(s, "out of memory");
		if (script_parse_args(s->crit, cfg->search, strlen(cfg->search), &s->crit_first, &s->crit_n,
				      &s->crit_8bit, err, sizeof(err)) < 0)
			return prep_fail(s, "--search %s: %s", cfg->search, err);
	}
	if (cfg->script) {
		s->script = load_script(cfg->script, err, sizeof(err));
		if (!s->script)
			return prep_fail(s, "%s", err);
	}
	return 0;
}

void sess_mailbox_release(struct sess *s)
{
	script_free(s->script);
	script_free(s->crit);
	s->script = s->crit = NULL;
}

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
	sb_printf(&sb, "%u folder%s", s->mb.folders, s->mb.folders == 1 ? "" : "s");
	for (unsigned k = 0; k < MBX_SPECIAL_COUNT; k++) {
		if (!s->mb.special[k][0])
			continue;
		sb_printf(&sb, "%s%s=%s", any ? ", " : "; special-use: ", mbx_special_name(k), s->mb.special[k]);
		any = 1;
	}
	if (cfg->n_expect_folder) {
		unsigned found = 0;
		for (unsigned k = 0; k < cfg->n_expect_folder; k++)
			found += s->mb.expect_found[k] != 0;
		sb_printf(&sb, "; expected folders: %u of %u present", found, cfg->n_expect_folder);
		for (unsigned k = 0; k < cfg->n_expect_folder; k++)
			if (!s->mb.expect_found[k])
				sb_printf(&sb, ", \"%s\" missing", s->mb.expect_name[k]);
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
	return cfg->pipeline && s->conn && !s->logged_out && !cfg->delete_matched && !cfg->append && !cfg->idle &&
	       !cfg->script;
}

static void add_logout(struct sess *s, struct flight *f)
{
	struct fcmd *c = fl_add(f, "logout", "LOGOUT");
	c->logout = 1;
	s->logged_out = 1;
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
		if (cfg->search && want_newest(cfg) && caps_have(s, CAP_SEARCHRES) && f->n + 3 <= FLIGHT_MAX) {
			/* RFC 5182 2.4: SAVE with MAX alone saves only the newest
			 * match (with COUNT or ALL it would save them all, hence a
			 * search of its own) */
			memset(&s->msg, 0, sizeof(s->msg));
			s->msg.parts = -1;
			mbx_search_init(&ex->saved, NULL);
			ex->save = fl_add(f, NULL, "UID SEARCH");
			ex->save->search_into = &ex->saved;
			ex->save->tagged = use_esearch(s);
			imap_cmd_atom(&ex->save->cmd, "RETURN (SAVE MAX)");
			add_criteria(s, &ex->save->cmd);
			ex->sfetch = fl_add(f, "fetch", "UID FETCH");
			imap_cmd_atom(&ex->sfetch->cmd, "$");
			imap_cmd_atom(&ex->sfetch->cmd, fetch_items(cfg));
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
	imap_cmd_astring(&e->status->cmd, s->mb.wire, strlen(s->mb.wire), 0);
	imap_cmd_atom(&e->status->cmd, caps_have(s, CAP_STATUS_SIZE) ? "(UNSEEN SIZE)" : "(UNSEEN)");
	e->exam = fl_add(f, write ? "select" : "examine", verb);
	imap_cmd_astring(&e->exam->cmd, s->mb.wire, strlen(s->mb.wire), 0);
	e->quota = NULL;
	if (cfg->quota_step) {
		if (caps_lack(s, CAP_QUOTA)) {
			struct step *st = sess_begin(s, "quota");
			s->mb.quota_asked = 2;
			snprintf(s->mb.quota_note, sizeof(s->mb.quota_note),
				 "server does not support QUOTA (no QUOTA capability)");
			skip_step(st, "%s", s->mb.quota_note);
			report_line(s->rep, "%s", s->mb.quota_note);
		} else {
			s->mb.quota_asked = 1;
			mbx_quota_init(&s->mb.quota);
			e->quota = fl_add(f, "quota", "GETQUOTAROOT");
			imap_cmd_astring(&e->quota->cmd, s->mb.wire, strlen(s->mb.wire), 0);
		}
	}
}

static void quota_message(struct sess *s, char *buf, size_t len)
{
	const struct mbx_quota *q = &s->mb.quota;
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
		s->mb.quota_asked = 3;
		snprintf(s->mb.quota_note, sizeof(s->mb.quota_note), "quota not available: %s", words);
		if (c->st)
			report_step_end(c->st, STEP_OK, STATE_OK, "%s", s->mb.quota_note);
		fl_time(c, NULL);
		report_line(s->rep, "%s", s->mb.quota_note);
		return;
	}
	quota_message(s, msg, sizeof(msg));
	sess_ok(c->st, "%s", msg);
	if (s->mb.quota.have_storage)
		step_value(c->st, "storage", s->mb.quota.storage_pct, "%");
	if (s->mb.quota.have_messages)
		step_value(c->st, "messages", s->mb.quota.messages_pct, "%");
	fl_time(c, NULL);
}

/* NAMESPACE, LIST, STATUS + EXAMINE/SELECT, GETQUOTAROOT: one flight, or
 * two when the mailbox name needs the namespace first. */
static int read_mailbox(struct sess *s)
{
	const struct probe_config *cfg = s->cfg;
	struct mailbox_state *mb = &s->mb;
	struct flight f;
	struct fcmd *ns = NULL, *list = NULL;
	struct examine_cmds ex = { 0 };
	int need_ns = cfg->namespace_step && strcasecmp(cfg->mailbox, "INBOX") != 0;
	int rc = 0;

	fl_init(&f, s, s);
	if (cfg->namespace_step) {
		if (caps_lack(s, CAP_NAMESPACE)) {
			skip_step(sess_begin(s, "namespace"), "server does not offer NAMESPACE: names used as given");
			report_line(s->rep, "server does not offer NAMESPACE: folder names used as given");
			need_ns = 0;
		} else {
			ns = fl_add(&f, "namespace", "NAMESPACE");
		}
	}
	if (cfg->list_step) {
		/* LIST-EXTENDED + SPECIAL-USE: ask for the special-use attributes
		 * explicitly; otherwise plain LIST (RFC 6154 servers usually
		 * include them anyway). */
		list = fl_add(&f, "list", "LIST");
		imap_cmd_atom(&list->cmd, "\"\" \"*\"");
		if (caps_have(s, CAP_LIST_EXTENDED) && caps_have(s, CAP_SPECIAL_USE))
			imap_cmd_atom(&list->cmd, "RETURN (SPECIAL-USE)");
		mb->listing = 1;
	}
	if (!need_ns) {
		if (resolve_mailbox(s, NULL) < 0) {
			fl_free(&f);
			return -1;
		}
		add_examine(s, &f, &ex);
		add_pipelined(s, &f, &ex);
	}
	rc = fl_run(&f);
	mb->listing = 0;
	if (rc < 0)
		goto out;

	if (ns) {
		if (ns->res.status != IMAP_ST_OK) {
			fl_result_fail(&f, ns, NULL);
			rc = -1;
			goto out;
		}
		if (!mb->ns.have)
			sess_ok(ns->st, "no NAMESPACE data: names used as given");
		else
			sess_ok(ns->st, "%s", mb->ns.desc);
		fl_time(ns, NULL);
	}
	if (list) {
		char msg[512];
		if (list->res.status != IMAP_ST_OK) {
			fl_result_fail(&f, list, NULL);
			rc = -1;
			goto out;
		}
		if (!mb->expect_ready)
			resolve_expected(s);
		mb->list_done = 1;
		list_message(s, msg, sizeof(msg));
		sess_ok(list->st, "%s", msg);
		step_value(list->st, "folders", mb->folders, "");
		fl_time(list, NULL);
	}
	if (need_ns) {
		/* the mailbox name depends on the personal namespace */
		fl_free(&f);
		fl_init(&f, s, s);
		if (resolve_mailbox(s, NULL) < 0)
			return -1;
		add_examine(s, &f, &ex);
		add_pipelined(s, &f, &ex);
		if (fl_run(&f) < 0) {
			rc = -1;
			goto out;
		}
	}

	/* examine / select */
	struct fcmd *e = ex.exam;
	const char *verb = e->cmd.name;
	if (e->res.status != IMAP_ST_OK) {
		fl_result_fail(&f, e, NULL);
		if (ex.quota)
			skip_step(ex.quota->st, "not evaluated: %s failed", verb);
		if (ex.fetch)
			skip_step(ex.fetch->st, "not evaluated: %s failed", verb);
		if (ex.sc.search)
			skip_step(ex.sc.search->st, "not evaluated: %s failed", verb);
		if (ex.sc.asearch)
			skip_step(ex.sc.asearch->st, "not evaluated: %s failed", verb);
		if (ex.sfetch)
			skip_step(ex.sfetch->st, "not evaluated: %s failed", verb);
		rc = -1;
		goto out;
	}
	mb->frozen = 1;
	if (!mb->have_exists) {
		sess_fail(s, e->st, STATE_CRITICAL, "%s %s: server sent no EXISTS count", verb, mb->name);
		fl_time(e, ex.status);
		rc = -1;
		goto out;
	}
	mb->live_exists = mb->exists;
	step_value(e->st, "messages", mb->exists, "");
	if (mb->have_unseen)
		step_value(e->st, "unseen", mb->unseen, "");
	char recent[32] = "", unseen[32] = "", size[48] = "";
	if (mb->have_recent)
		snprintf(recent, sizeof(recent), ", %u recent", mb->recent);
	if (mb->have_unseen)
		snprintf(unseen, sizeof(unseen), ", %u unseen", mb->unseen);
	if (mb->have_size)
		snprintf(size, sizeof(size), ", %llu bytes", (unsigned long long)mb->size);
	sess_ok(e->st, "%s: %u messages%s%s%s%s", mb->name, mb->exists, recent, unseen, size,
		mb->read_only ? " (read-only)" : "");
	fl_time(e, ex.status);
	if (mb->have_uidvalidity)
		report_info(s->rep, "uidvalidity", "%llu", (unsigned long long)mb->uidvalidity);
	if (mb->have_uidnext)
		report_info(s->rep, "uidnext", "%llu", (unsigned long long)mb->uidnext);
	finish_quota(s, ex.quota);
	if (spec_refused(s, ex.status) || spec_refused(s, ex.save) || spec_refused(s, ex.sfetch)) {
		rc = -1;
		goto out;
	}
	if (ex.pipelined && finish_searches(s, &f, &ex.sc) < 0) {
		if (ex.sfetch)
			skip_step(ex.sfetch->st, "not evaluated: the search failed");
		rc = -1;
		goto out;
	}
	if (ex.sfetch) {
		s->mb.newest_done = 1;
		if (!mb->search.count) {
			/* $ was empty: the FETCH fetched nothing, as planned */
			memset(&s->msg, 0, sizeof(s->msg));
			skip_step(ex.sfetch->st, "no message matched");
		} else if (ex.save->res.status != IMAP_ST_OK) {
			sess_result_fail(s, ex.sfetch->st, "UID SEARCH RETURN (SAVE MAX)", &ex.save->res);
			fl_time(ex.sfetch, ex.save);
			rc = -1;
		} else {
			s->msg.want_uid = mb->search.max;   /* for the messages */
			s->msg.want_max_of = NULL;
			if (finish_newest_fetch(s, &f, ex.sfetch, 1) < 0)
				rc = -1;
			else
				fl_time(ex.sfetch, ex.save);
		}
	}
	if (ex.fetch) {
		s->mb.newest_done = 1;
		if (finish_newest_fetch(s, &f, ex.fetch, 0) < 0)
			rc = -1;
	}
out:
	fl_free(&f);
	return rc;
}

/* ================================================================ search, fetch, age */

static void add_criteria(struct sess *s, struct imap_cmd *cmd)
{
	if (!s->crit_8bit) {
		imap_cmd_raw_checked(cmd, s->cfg->search);
		return;
	}
	/* 8-bit criteria: CHARSET UTF-8 and the strings as literals where
	 * IMAP4rev1 wants them (imap_cmd_raw_checked would send raw 8-bit
	 * inside quotes). */
	imap_cmd_atom(cmd, "CHARSET UTF-8");
	script_append_parts(s->crit, s->crit_first, s->crit_n, cmd);
}

static int use_esearch(struct sess *s)
{
	return caps_have(s, CAP_ESEARCH) || caps_have(s, CAP_IMAP4REV2);
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

static int age_thresholds(const struct probe_config *cfg)
{
	return cfg->age.warn.set || cfg->age.crit.set;
}

static void set_age(struct sess *s, const struct message_info *m, const char *what)
{
	char when[40];
	struct tm tm;
	s->mb.age = mbx_age(time(NULL), m->internaldate);
	s->mb.have_age = 1;
	gmtime_r(&m->internaldate, &tm);
	strftime(when, sizeof(when), "%Y-%m-%d %H:%M:%S UTC", &tm);
	snprintf(s->mb.age_what, sizeof(s->mb.age_what), "%s (UID %llu, %s)", what, (unsigned long long)m->uid, when);
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
	if (cfg->search && (!s->mb.searched || s->mb.search.count == 0)) {
		skip_step(sess_begin(s, "fetch"), "no message matched");
		return NULL;
	}
	if (s->mb.frozen && s->mb.exists == 0) {        /* the EXAMINE reply is in */
		skip_step(sess_begin(s, "fetch"), "mailbox is empty");
		return NULL;
	}
	fetch = fl_add(f, "fetch", "UID FETCH");
	if (cfg->search)
		snprintf(set, sizeof(set), "%llu", (unsigned long long)s->mb.search.max);
	else
		snprintf(set, sizeof(set), "*");
	s->msg.want_uid = cfg->search ? s->mb.search.max : 0;
	s->msg.want_newest = !cfg->search;
	imap_cmd_atom(&fetch->cmd, set);
	imap_cmd_atom(&fetch->cmd, fetch_items(cfg));
	fetch->fetch_into = &s->msg;
	return fetch;
}

/* A FETCH answered without the message asked for is an expunge race
 * only when the server said something was expunged: an EXPUNGE or
 * VANISHED on this connection since the mailbox was opened, or
 * [EXPUNGEISSUED] (RFC 5530) on the answer itself. */
static int expunge_seen(const struct sess *s, const struct fcmd *c)
{
	return s->mb.expunged > 0 || !strcasecmp(c->res.code, "EXPUNGEISSUED");
}

/* saved: the command was "UID FETCH $" (SEARCHRES) */
static int finish_newest_fetch(struct sess *s, struct flight *f, struct fcmd *fetch, int saved)
{
	const struct probe_config *cfg = s->cfg;
	struct mailbox_state *mb = &s->mb;
	char msg[512];

	if (mb->exists == 0 && !cfg->search) {
		/* pipelined with the EXAMINE of an empty mailbox: whatever the
		 * server said to "UID FETCH *" does not matter */
		memset(&s->msg, 0, sizeof(s->msg));
		skip_step(fetch->st, "mailbox is empty");
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
				  "EXPUNGE", (unsigned long long)mb->search.max);
		else if (cfg->search)
			sess_fail(s, fetch->st, STATE_CRITICAL,
				  "server returned no data for UID FETCH %llu although UID SEARCH matched it, and "
				  "reported no EXPUNGE", (unsigned long long)mb->search.max);
		else
			sess_fail(s, fetch->st, STATE_CRITICAL,
				  "server returned no data for UID FETCH * although the mailbox has %u message%s, and "
				  "reported no EXPUNGE", mb->live_exists, mb->live_exists == 1 ? "" : "s");
		fl_time(fetch, NULL);
		return -1;
	}
	if (!s->msg.got) {
		/* expunged by another client between SEARCH (or EXAMINE) and
		 * FETCH: a race, not a server fault.  It matters for the age
		 * only when the age is the newest message's. */
		char gone[160];
		if (!cfg->age_oldest_unseen)
			mb->age_gone = 1;
		if (cfg->search)
			snprintf(gone, sizeof(gone), "matched message UID %llu vanished before it could be "
				 "fetched (expunged meanwhile)", (unsigned long long)mb->search.max);
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
		mbx_search_init(&mb->search, NULL);
		sc->search->search_into = &mb->search;
		sc->search->tagged = use_esearch(s);
		if (use_esearch(s))
			imap_cmd_atom(&sc->search->cmd,
				      cfg->delete_matched ? "RETURN (COUNT MIN MAX ALL)" : "RETURN (COUNT MIN MAX)");
		add_criteria(s, &sc->search->cmd);
	}
	if (!cfg->age_oldest_unseen)
		return;
	if (!before_examine && (mb->exists == 0 || (mb->have_unseen && mb->unseen == 0)))
		return;         /* nothing unseen: nothing stuck */
	if (!before_examine && mb->have_first_unseen) {
		mb->oldest_seq = mb->first_unseen;
		return;
	}
	sc->asearch = fl_add(f, "age_search", "UID SEARCH");
	mbx_search_init(&mb->unseen_search, NULL);
	sc->asearch->search_into = &mb->unseen_search;
	sc->asearch->tagged = use_esearch(s);
	imap_cmd_atom(&sc->asearch->cmd, use_esearch(s) ? "RETURN (MIN) UNSEEN" : "UNSEEN");
}

static int finish_searches(struct sess *s, struct flight *f, struct search_cmds *sc)
{
	struct mailbox_state *mb = &s->mb;
	struct fcmd *search = sc->search, *asearch = sc->asearch;

	if (spec_refused(s, search) || spec_refused(s, asearch))
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
		mbx_search_finish(&mb->search);
		mb->searched = 1;
		step_value(search->st, "matched", (double)mb->search.count, "");
		if (mb->search.count && mb->search.have_minmax)
			sess_ok(search->st, "%llu matched (UIDs %llu..%llu)%s", (unsigned long long)mb->search.count,
				(unsigned long long)mb->search.min, (unsigned long long)mb->search.max,
				mb->search.esearch ? " [ESEARCH]" : "");
		else
			sess_ok(search->st, "%llu matched%s", (unsigned long long)mb->search.count,
				mb->search.esearch ? " [ESEARCH]" : "");
		fl_time(search, NULL);
	}
	if (asearch) {
		if (asearch->res.status != IMAP_ST_OK) {
			fl_result_fail(f, asearch, NULL);
			return -1;
		}
		mbx_search_finish(&mb->unseen_search);
		if (mb->unseen_search.count && mb->unseen_search.have_minmax) {
			mb->oldest_uid = mb->unseen_search.min;
			sess_ok(asearch->st, "oldest unseen message: UID %llu", (unsigned long long)mb->oldest_uid);
		} else {
			sess_ok(asearch->st, "no unseen message");
		}
		fl_time(asearch, NULL);
	}
	mb->searches_done = 1;
	return 0;
}

static int read_messages(struct sess *s)
{
	const struct probe_config *cfg = s->cfg;
	struct mailbox_state *mb = &s->mb;
	struct flight f;
	struct search_cmds sc;
	struct fcmd *fetch = NULL, *afetch = NULL;
	struct message_info oldest;
	int rc = -1;

	/* ---- search flight (unless it went with the EXAMINE: --pipeline) */
	fl_init(&f, s, s);
	if (!mb->searches_done) {
		add_searches(s, &f, &sc, 0);
		if (f.n && fl_run(&f) < 0)
			goto out;
		if (finish_searches(s, &f, &sc) < 0)
			goto out;
		fl_free(&f);
	}

	/* ---- fetch flight: the newest matched (or newest) message unless it
	 * went with the EXAMINE, and the oldest unseen one for
	 * --age-oldest-unseen */
	fl_init(&f, s, s);
	if (want_newest(cfg) && !mb->newest_done)
		fetch = add_newest_fetch(s, &f);
	memset(&oldest, 0, sizeof(oldest));
	oldest.parts = -1;
	if (mb->oldest_seq || mb->oldest_uid) {
		char set[32];
		afetch = fl_add(&f, "age_fetch", mb->oldest_seq ? "FETCH" : "UID FETCH");
		snprintf(set, sizeof(set), "%llu",
			 (unsigned long long)(mb->oldest_seq ? mb->oldest_seq : mb->oldest_uid));
		imap_cmd_atom(&afetch->cmd, set);
		imap_cmd_atom(&afetch->cmd, "(UID INTERNALDATE)");
		oldest.want_seq = mb->oldest_seq;
		oldest.want_uid = mb->oldest_uid;
		afetch->fetch_into = &oldest;
	}
	if (f.n && logout_in_flight(s))
		add_logout(s, &f);
	if (f.n && fl_run(&f) < 0)
		goto out;
	if (fetch && finish_newest_fetch(s, &f, fetch, 0) < 0)
		goto out;
	if (afetch) {
		if (afetch->res.status != IMAP_ST_OK) {
			fl_result_fail(&f, afetch, NULL);
			goto out;
		}
		char what[64];
		if (mb->oldest_seq)
			snprintf(what, sizeof(what), "FETCH %u", mb->oldest_seq);
		else
			snprintf(what, sizeof(what), "UID FETCH %llu", (unsigned long long)mb->oldest_uid);
		if (oldest.got && oldest.have_date) {
			char age[24];
			set_age(s, &oldest, "oldest unseen message");
			mbx_format_age(mb->age, age, sizeof(age));
			sess_ok(afetch->st, "oldest unseen message UID %llu is %s old", (unsigned long long)oldest.uid, age);
		} else if (oldest.got) {
			sess_fail(s, afetch->st, STATE_CRITICAL, "server returned no INTERNALDATE for %s", what);
			fl_time(afetch, NULL);
			goto out;
		} else if (!expunge_seen(s, afetch)) {
			sess_fail(s, afetch->st, STATE_CRITICAL,
				  "server returned no data for %s although %s named it as the oldest unseen message, "
				  "and reported no EXPUNGE", what, mb->oldest_seq ? "[UNSEEN]" : "UID SEARCH UNSEEN");
			fl_time(afetch, NULL);
			goto out;
		} else {
			mb->age_gone = 1;
			sess_ok(afetch->st, "oldest unseen message vanished before it could be fetched (expunged "
				"meanwhile)");
		}
		fl_time(afetch, NULL);
	}

	/* ---- the age that --age-* thresholds look at */
	if (cfg->age_oldest_unseen) {
		mb->age_wanted = 1;
		if (!mb->have_age && !mb->age_gone) {
			/* nothing unseen (or nothing at all): nothing is stuck */
			mb->age = 0;
			mb->have_age = 1;
			snprintf(mb->age_what, sizeof(mb->age_what), "%s", NO_UNSEEN);
		}
	} else if (s->msg.got && s->msg.have_date) {
		set_age(s, &s->msg, cfg->search ? "newest matched message" : "newest message");
		mb->age_wanted = 1;
	} else if (age_thresholds(cfg)) {
		mb->age_wanted = 1;
	}
	rc = 0;
out:
	fl_free(&f);
	return rc;
}

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
	unsigned before = cs->mb.expunged;
	int rc = -1;

	fl_init(&f, s, cs);
	store = fl_add(&f, NULL, "UID STORE");
	store->st = st_store;
	imap_cmd_atom(&store->cmd, set);
	imap_cmd_atom(&store->cmd, "+FLAGS.SILENT (\\Deleted)");
	expunge = fl_add(&f, NULL, "UID EXPUNGE");
	expunge->st = st_expunge;
	imap_cmd_atom(&expunge->cmd, set);
	if (fl_run(&f) < 0)
		goto out;
	if (store->res.status != IMAP_ST_OK) {
		fl_result_fail(&f, store, NULL);
		if (st_expunge != st_store)
			skip_step(st_expunge, "not run: UID STORE failed");
		goto out;
	}
	if (expunge->res.status != IMAP_ST_OK) {
		fl_result_fail(&f, expunge, NULL);
		goto out;
	}
	*expunged = cs->mb.expunged - before;
	*rstore = store->res;
	*rexpunge = expunge->res;
	rc = 0;
out:
	fl_free(&f);
	return rc;
}

static void step_span(struct step *st, int64_t start, int64_t end)
{
	if (!st)
		return;
	st->start_ns = start;
	st->dur_ns = end > start ? end - start : 0;
}

static int delete_matched(struct sess *s)
{
	struct mailbox_state *mb = &s->mb;
	struct imap_result rs, re;
	unsigned n = 0;

	if (!mb->searched || mb->search.count == 0) {
		skip_step(sess_begin(s, "store"), "no message matched: nothing to delete");
		mb->deleted_set = 1;
		return 0;
	}
	if (!mb->search.have_set || mb->search.set.overflow || mb->search.bad || !mb->search.set.len) {
		sess_fail(s, sess_begin(s, "store"), STATE_UNKNOWN, "cannot delete: the matched UID set %s; narrow --search",
			  mb->search.bad ? "sent by the server is malformed" : "is too large for one command");
		return -1;
	}
	if (mb->read_only) {
		sess_fail(s, sess_begin(s, "store"), STATE_CRITICAL,
			  "cannot delete: %s is read-only for this user ([READ-ONLY])", mb->name);
		return -1;
	}
	struct step *st_store = sess_begin(s, "store");
	struct step *st_exp = sess_begin(s, "expunge");
	if (delete_uids(s, s, mb->search.set.text, st_store, st_exp, &n, &rs, &re) < 0)
		return -1;
	mb->deleted = n;
	mb->deleted_set = 1;
	sess_ok(st_store, "\\Deleted set on UIDs %s", mb->search.set.text);
	step_span(st_store, rs.sent_ns, rs.done_ns);
	step_value(st_exp, "deleted", n, "");
	sess_ok(st_exp, "%u message%s expunged (UIDs %s)", n, n == 1 ? "" : "s", mb->search.set.text);
	step_span(st_exp, re.sent_ns > rs.done_ns ? re.sent_ns : rs.done_ns, re.done_ns);
	return 0;
}

/* ================================================================ probe messages */

struct probe_msg {
	char msgid[128];
	char text[1024];
	size_t len;
};

static const char *const month_names[12] = { "Jan", "Feb", "Mar", "Apr", "May", "Jun",
					     "Jul", "Aug", "Sep", "Oct", "Nov", "Dec" };

/* A small message with a unique Message-ID and the marker header that
 * lets a later run find it if this one is interrupted.  Dates are
 * written by hand: strftime's %a/%b follow the locale. */
static void make_probe_msg(struct probe_msg *pm, const char *purpose)
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
static struct fcmd *add_leftover_search(struct sess *s, struct sess *cs, struct flight *f, const char *step,
					struct mbx_search *into)
{
	struct fcmd *c = fl_add(f, step, "UID SEARCH");
	char crit[96];

	mbx_search_init(into, NULL);
	c->search_into = into;
	imap_cmd_atom(&c->cmd, "HEADER " PROBE_MARKER_HEADER " " PROBE_MARKER_VALUE);
	if (caps_word(cs->conn, "WITHIN")) {
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
	imap_cmd_atom(&c->cmd, crit);
	return c;
}

static void append_args(struct imap_cmd *cmd, const char *wire, const struct probe_msg *pm)
{
	imap_cmd_astring(cmd, wire, strlen(wire), 0);
	imap_cmd_atom(cmd, "(\\Seen)");
	imap_cmd_literal(cmd, pm->text, pm->len, 0);
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
static uint64_t appenduid(const struct imap_result *res, int have_validity, uint64_t validity)
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
static unsigned join_set(char *out, size_t outsz, uint64_t uid, const struct mbx_search *old)
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
static int delete_probe(struct sess *s, struct sess *cs, struct step *st, uint64_t uid, const char *set,
			unsigned left, struct probe_watch *w, char *msg, size_t msglen, struct imap_result *rs,
			struct imap_result *re)
{
	uint32_t live_before = cs->mb.live_exists;
	unsigned n = 0;
	char why[160];
	int gone;

	if (delete_uids(s, cs, set, st, st, &n, rs, re) < 0)
		return -1;
	gone = probe_gone(w, n, live_before > cs->mb.live_exists ? live_before - cs->mb.live_exists : 0, left, why,
			  sizeof(why));
	if (gone == 0) {
		sess_fail(s, st, STATE_CRITICAL,
			  "probe message UID %llu was not expunged (%s): it stays in %s, flagged \\Deleted",
			  (unsigned long long)uid, why, s->mb.name);
		step_span(st, rs->sent_ns, re->done_ns);
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
	step_span(st, rs.sent_ns, re.done_ns);
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
	return (uint64_t)mb->live_exists + (mb->expunged - an->expunged_before) > an->exists_before;
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
	an->exists_before = mb->live_exists;
	an->expunged_before = mb->expunged;
	if (fl_run(&f) < 0)
		goto out;
	if (clean->res.status != IMAP_ST_OK) {
		/* not fatal: say so and go on without removing leftovers */
		char words[400];
		sess_format_result(&clean->res, words, sizeof(words));
		report_step_end(clean->st, STEP_OK, STATE_OK, "search for leftover probe messages failed: %s", words);
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
	*uid = appenduid(&app->res, mb->have_uidvalidity, mb->uidvalidity);
	step_value(app->st, "bytes", (double)pm->len, "B");
	sess_ok(app->st, "%zu bytes appended to %s%s", pm->len, mb->name, *uid ? " (APPENDUID)" : "");
	fl_time(app, NULL);
	fl_free(&f);

	if (*uid) {
		skip_step(sess_begin(s, "append_find"), "UID %llu from APPENDUID", (unsigned long long)*uid);
		return 0;
	}
	/* no UIDPLUS answer: find it by its Message-ID */
	fl_init(&f, s, s);
	noop = append_noop(s, &f, an);
	find = fl_add(&f, "append_find", "UID SEARCH");
	mbx_search_init(&found, NULL);
	find->search_into = &found;
	imap_cmd_atom(&find->cmd, "HEADER Message-ID");
	imap_cmd_string(&find->cmd, pm->msgid, strlen(pm->msgid), 0);
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
	imap_cmd_atom(&fetch->cmd, set);
	imap_cmd_atom(&fetch->cmd, "(UID RFC822.SIZE BODY.PEEK[])");
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

static int append_path(struct sess *s)
{
	struct mbx_search old;
	struct probe_msg pm;
	struct append_notice an = { 0 };
	struct probe_watch w;
	uint64_t uid = 0;
	int rc;

	if (s->mb.read_only) {
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
	w.mb = &s->mb;
	w.uid = uid;
	probe_watch = &w;
	int fetched = rc == 0 ? append_fetch(s, uid, &pm, &an) : -1;
	if (fetched < 0)
		rc = -1;
	if (fetched == -2) {
		/* the UID the server named holds another message: leave it (the
		 * probe message, if it exists, goes with a later run's leftover
		 * search, which matches on the probe's own header) */
		skip_step(sess_begin(s, "append_delete"), "not run: UID %llu is not the probe message",
			  (unsigned long long)uid);
		probe_watch = NULL;
		return rc;
	}
	/* fetched or not, the message goes */
	if (imap_conn_err(s->conn) == IMAP_E_NONE && remove_probe(s, s, "append_delete", &w, &old) < 0)
		rc = -1;
	probe_watch = NULL;
	return rc;
}

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
	imap_cmd_astring(&sel->cmd, s->mb.wire, strlen(s->mb.wire), 0);
	clean = add_leftover_search(s, s2, &f, NULL, &old);
	clean->st = st;
	/* always: APPENDUID came from the other connection and was never
	 * checked against the message */
	find = fl_add(&f, NULL, "UID SEARCH");
	find->st = st;
	mbx_search_init(&found, NULL);
	find->search_into = &found;
	imap_cmd_atom(&find->cmd, "HEADER Message-ID");
	imap_cmd_string(&find->cmd, pm->msgid, strlen(pm->msgid), 0);
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
	w.mb = &s2->mb;
	w.uid = uid;
	probe_watch = &w;
	rc = delete_probe(s, s2, st, uid, set, left, &w, msg, sizeof(msg), &rs, &re);
	probe_watch = NULL;
	if (rc < 0)
		goto out;
	sess_ok(st, "%s", msg);
	step_span(st, sel->res.sent_ns, re.done_ns);
out:
	fl_free(&f);
}

/* IDLE on the first connection until its "+"; 0, or -1 recorded. */
static int idle_start(struct sess *s, struct step *st, unsigned *idle_id)
{
	struct imap_cmd cmd;
	struct imap_result res;

	imap_cmd_init(&cmd, s->conn, "IDLE");
	int r = imap_conn_send(s->conn, &cmd, idle_id);
	imap_cmd_free(&cmd);
	if (r < 0) {
		sess_conn_fail(s, st, "IDLE");
		return -1;
	}
	for (;;) {
		const struct imap_response *resp;
		if (imap_conn_read(s->conn, &resp) < 0) {
			sess_conn_fail(s, st, "IDLE");
			return -1;
		}
		if (resp->type == IMAP_RESP_CONTINUATION)
			return 0;
		if (resp->type == IMAP_RESP_TAGGED) {
			if (imap_conn_wait(s->conn, *idle_id, &res) == 0)
				sess_result_fail(s, st, "IDLE", &res);
			else
				sess_conn_fail(s, st, "IDLE");
			return -1;
		}
		if (resp->name && resp->has_number && ascii_ieq(resp->name, resp->name_len, "EXISTS"))
			s->mb.live_exists = resp->number;
		else if (resp->name && resp->has_number && ascii_ieq(resp->name, resp->name_len, "EXPUNGE") &&
			 s->mb.live_exists)
			s->mb.live_exists--;
	}
}

/* Read the idling connection until "* n EXISTS" with n above the count
 * known when the APPEND completed (t_ok).  1 push seen, 0 no push (or
 * IDLE ended by the server, *idling cleared), both recorded. */
static int idle_wait_push(struct sess *s, struct step *st, unsigned idle_id, int64_t t_ok, int *idling)
{
	struct mailbox_state *mb = &s->mb;
	struct imap_result res;
	int64_t push_deadline = s->deadline - step_deadline_reserve(s);

	for (;;) {
		const struct imap_response *resp;
		if (!conn_readable(s->conn, push_deadline)) {
			sess_fail(s, st, STATE_CRITICAL,
				  "no EXISTS on the idling connection within %.1fs of the APPEND (no push)",
				  clock_ns_to_s(clock_now_ns() - t_ok));
			return 0;
		}
		if (imap_conn_read(s->conn, &resp) < 0) {
			sess_conn_fail(s, st, "IDLE");
			*idling = 0;
			return 0;
		}
		if (resp->type == IMAP_RESP_TAGGED) {
			*idling = 0;
			if (imap_conn_wait(s->conn, idle_id, &res) == 0)
				sess_result_fail(s, st, "IDLE (ended by the server)", &res);
			else
				sess_conn_fail(s, st, "IDLE");
			return 0;
		}
		if (!resp->name || !resp->has_number)
			continue;
		if (ascii_ieq(resp->name, resp->name_len, "EXISTS")) {
			if (resp->number > mb->live_exists) {
				int64_t now = clock_now_ns();
				mb->live_exists = resp->number;
				mb->push_s = clock_ns_to_s(now > t_ok ? now - t_ok : 0);
				mb->have_push = 1;
				sess_ok(st, "* %u EXISTS arrived %.4fs after the APPEND completed", resp->number, mb->push_s);
				step_span(st, t_ok, now);
				return 1;
			}
			mb->live_exists = resp->number;
		} else if (ascii_ieq(resp->name, resp->name_len, "EXPUNGE") && mb->live_exists) {
			mb->live_exists--;
		}
	}
}

static int idle_push(struct sess *s)
{
	const struct probe_config *cfg = s->cfg;
	struct mailbox_state *mb = &s->mb;
	struct report *rep2 = NULL;
	struct sess *s2 = NULL;
	struct session_env env2 = { 0 };
	struct imap_cmd cmd;
	struct imap_result res;
	struct probe_msg pm;
	struct step *st;
	unsigned idle_id = 0;
	int idling = 0, appended = 0, rc = -1, r;
	uint64_t uid = 0;

	if (!(imap_conn_caps(s->conn)->flags & CAP_IDLE)) {
		sess_fail(s, sess_begin(s, "idle"), STATE_CRITICAL, "server does not offer IDLE (capabilities: %s)",
			  imap_conn_caps(s->conn)->raw);
		return -1;
	}

	/* ---- the second connection: the session's own connect/TLS/login
	 * steps, recorded in a report of its own, summed up as one step here */
	st = sess_begin(s, "idle_login");
	rep2 = malloc(sizeof(*rep2));
	s2 = calloc(1, sizeof(*s2));
	if (!rep2 || !s2) {
		sess_fail(s, st, STATE_UNKNOWN, "out of memory");
		goto out;
	}
	report_init(rep2, cfg->timeout_s);
	if (s->env && s->env->trace) {
		env2.trace = idle_trace;
		env2.trace_ud = (void *)s->env;
	}
	s2->cfg = cfg;
	s2->env = &env2;
	s2->rep = rep2;
	s2->rt = s->rt;
	s2->deadline = s->deadline;
	if (sess_open(s2) <= 0) {
		if (s2->timed_out)
			sess_timeout(s, st);
		else
			sess_fail(s, st, rep2->state == STATE_UNKNOWN ? STATE_UNKNOWN : STATE_CRITICAL,
				  "second connection: %s", rep2->failed ? rep2->summary : "no login");
		goto out;
	}
	sess_ok(st, "second connection to %s%s%s, %s", s2->peer, s2->tls_have ? " " : "",
		s2->tls_have ? s2->tls.version : "", s2->mech[0] ? s2->mech : "PREAUTH");

	/* ---- IDLE on the first connection */
	st = sess_begin(s, "idle");
	if (idle_start(s, st, &idle_id) < 0)
		goto out;
	idling = 1;
	sess_ok(st, "idling on %s (%u messages)", mb->name, mb->live_exists);

	/* ---- APPEND on the second connection */
	st = sess_begin(s, "idle_append");
	make_probe_msg(&pm, "--idle");
	imap_cmd_init(&cmd, s2->conn, "APPEND");
	append_args(&cmd, mb->wire, &pm);
	r = imap_conn_command(s2->conn, &cmd, &res);
	imap_cmd_free(&cmd);
	if (r < 0) {
		conn_fail(s, s2->conn, st, "APPEND (second connection)");
	} else if (sess_note_alert(s, res.code, res.text), res.status != IMAP_ST_OK) {
		sess_result_fail(s, st, "APPEND", &res);
	} else {
		appended = 1;
		uid = appenduid(&res, 0, 0);
		sess_ok(st, "probe message appended through the second connection%s", uid ? " (APPENDUID)" : "");
		step_span(st, res.sent_ns, res.done_ns);
		/* ---- the push: from the APPEND's tagged OK to "* n EXISTS" */
		if (idle_wait_push(s, sess_begin(s, "push"), idle_id, res.done_ns, &idling) == 1)
			rc = 0;
	}

	/* ---- DONE */
	if (idling) {
		st = sess_begin(s, "idle_done");
		if (imap_conn_write_line(s->conn, "DONE", 4, 0) < 0 || imap_conn_wait(s->conn, idle_id, &res) < 0) {
			sess_conn_fail(s, st, "DONE");
			rc = -1;
		} else if (res.status != IMAP_ST_OK) {
			sess_result_fail(s, st, "IDLE", &res);
			rc = -1;
		} else {
			sess_ok(st, "%s", res.text);
		}
	}
	/* ---- the probe message goes, whatever happened */
	if (appended && imap_conn_err(s2->conn) == IMAP_E_NONE)
		idle_cleanup(s, s2, uid, &pm);
	if (s->failed)
		rc = -1;
out:
	if (s2) {
		sess_close(s2);
		if (s2->conn)
			imap_conn_free(s2->conn);
		sess_mailbox_release(s2);
	}
	free(s2);
	free(rep2);
	return rc;
}

/* ================================================================ --script */

static int run_script(struct sess *s)
{
	const struct script *scr = s->script;
	static const char *const st_words[] = { "OK", "NO", "BAD" };

	for (unsigned i = 0; i < scr->ncmds; i++) {
		const struct script_cmd *sc = &scr->cmd[i];
		struct imap_cmd cmd;
		struct imap_result res;
		char words[512], want[16] = "";
		unsigned bit;

		struct step *st = sess_begin(s, sc->name);
		script_build(scr, sc, s->conn, &cmd);
		s->mb.script_mode = 1;
		s->mb.script_bytes = 0;
		int rc = imap_conn_command(s->conn, &cmd, &res);
		s->mb.script_mode = 0;
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
		if (s->mb.script_bytes)
			snprintf(extra, sizeof(extra), ", %llu literal bytes", (unsigned long long)s->mb.script_bytes);
		step_value(st, "untagged", res.untagged, "");
		sess_ok(st, "%s: %s (%u untagged%s)%s", sc->verb, words, res.untagged, extra,
			sc->expect != SCRIPT_EXPECT_OK ? " as expected" : "");
		step_span(st, res.sent_ns, res.done_ns);
		s->mb.script_ok++;
	}
	return 0;
}

/* ================================================================ the steps */

int sess_mailbox_steps(struct sess *s)
{
	const struct probe_config *cfg = s->cfg;

	/* Writes need UIDPLUS (UID EXPUNGE): without it a plain EXPUNGE would
	 * also remove mail that others flagged \Deleted.  Refuse before
	 * anything is touched. */
	if (cfg->delete_matched || cfg->append || cfg->idle) {
		if (sess_ensure_caps(s) < 0)
			return -1;
		if (!(imap_conn_caps(s->conn)->flags & CAP_UIDPLUS)) {
			const char *opt = cfg->delete_matched ? "--delete-matched" : cfg->append ? "--append" : "--idle";
			report_fail(s->rep, STATE_UNKNOWN, NULL,
				    "%s refused: the server does not offer UIDPLUS, so UID EXPUNGE is unavailable and "
				    "a plain EXPUNGE could remove other messages flagged \\Deleted", opt);
			s->failed = 1;
			return -1;
		}
	}
	if (read_mailbox(s) < 0)
		return -1;
	if (read_messages(s) < 0)
		return -1;
	if (cfg->delete_matched && delete_matched(s) < 0)
		return -1;
	if (cfg->append && append_path(s) < 0)
		return -1;
	if (cfg->idle && idle_push(s) < 0)
		return -1;
	if (s->script && run_script(s) < 0)
		return -1;
	return 0;
}

/* ================================================================ results */

void sess_mailbox_perf(struct sess *s)
{
	const struct probe_config *cfg = s->cfg;
	struct mailbox_state *mb = &s->mb;
	struct report *rep = s->rep;
	struct perf *p;

	if (mb->have_exists) {
		report_perf(rep, "messages", mb->exists, "", 0, &cfg->messages);
		if (mb->have_recent)
			report_perf(rep, "recent", mb->recent, "", 0, NULL);
	}
	if (mb->have_unseen)
		report_perf(rep, "unseen", mb->unseen, "", 0, &cfg->unseen);
	if (mb->have_size)
		report_perf(rep, "mailbox_bytes", (double)mb->size, "B", 0, NULL);
	if (mb->searched)
		report_perf(rep, "matched", (double)mb->search.count, "", 0, &cfg->matched);
	if (s->msg.got && s->msg.have_size)
		report_perf(rep, "size", (double)s->msg.size, "B", 0, NULL);
	if (s->msg.got && s->msg.have_body)
		report_perf(rep, "fetch_bytes", (double)s->msg.bytes, "B", 0, NULL);
	if (mb->have_age) {
		p = report_perf(rep, "age", mb->age, "s", 0, &cfg->age);
		if (p) {
			p->has_min = 1;
			p->min = 0;
			p->has_max = 0;
		}
	}
	if (mb->list_done)
		report_perf(rep, "folders", mb->folders, "", 0, NULL);
	if (mb->quota_asked == 1 && mb->quota.have_storage) {
		p = report_perf(rep, "quota_storage", mb->quota.storage_pct, "%", 2, &cfg->quota);
		if (p) {
			p->has_min = p->has_max = 1;
			p->min = 0;
			p->max = 100;
		}
	}
	if (mb->quota_asked == 1 && mb->quota.have_messages) {
		p = report_perf(rep, "quota_messages", mb->quota.messages_pct, "%", 2, &cfg->quota);
		if (p) {
			p->has_min = p->has_max = 1;
			p->min = 0;
			p->max = 100;
		}
	}
	if (mb->deleted_set)
		report_perf(rep, "deleted", mb->deleted, "", 0, NULL);
}

void sess_mailbox_thresholds(struct sess *s, struct sbuf *notes)
{
	const struct probe_config *cfg = s->cfg;
	struct mailbox_state *mb = &s->mb;
	char age[24];

	for (unsigned k = 0; mb->list_done && k < cfg->n_expect_folder; k++) {
		if (!mb->expect_found[k]) {
			report_raise(s->rep, STATE_CRITICAL);
			sess_note(notes, "folder \"%s\" missing", mb->expect_name[k]);
		}
	}
	if (mb->have_exists)
		sess_check_count(s, notes, "messages", mb->exists, &cfg->messages);
	if (mb->have_unseen)
		sess_check_count(s, notes, "unseen", mb->unseen, &cfg->unseen);
	if (mb->searched)
		sess_check_count(s, notes, "matched", (double)mb->search.count, &cfg->matched);
	if (age_thresholds(cfg)) {
		if (mb->have_age) {
			int st = thresholds_check(&cfg->age, mb->age);
			if (st != STATE_OK) {
				report_raise(s->rep, st);
				mbx_format_age(mb->age, age, sizeof(age));
				sess_note(notes, "%s is %s old (%s threshold %s s)", mb->age_what, age,
					  st == STATE_CRITICAL ? "critical" : "warning",
					  st == STATE_CRITICAL ? cfg->age.crit.text : cfg->age.warn.text);
			}
		} else if (mb->age_gone) {
			report_raise(s->rep, STATE_UNKNOWN);
			sess_note(notes, "age unknown: the message vanished before it could be fetched");
		} else {
			report_raise(s->rep, STATE_CRITICAL);
			sess_note(notes, "no %smessage to measure the age of", cfg->search ? "matching " : "");
		}
	}
	if (cfg->quota.warn.set || cfg->quota.crit.set) {
		const struct mbx_quota *q = &mb->quota;
		if (mb->quota_asked == 2 || mb->quota_asked == 3) {
			report_raise(s->rep, STATE_CRITICAL);
			sess_note(notes, "%s", mb->quota_asked == 2 ? "server does not support QUOTA" : mb->quota_note);
		} else if (mb->quota_asked == 1 && (q->have_storage || q->have_messages)) {
			int storage = q->have_storage && (!q->have_messages || q->storage_pct >= q->messages_pct);
			double pct = storage ? q->storage_pct : q->messages_pct;
			int st = thresholds_check(&cfg->quota, pct);
			if (st != STATE_OK) {
				report_raise(s->rep, st);
				sess_note(notes, "quota %s at %.1f%% (%s threshold %s)", storage ? "storage" : "messages", pct,
					  st == STATE_CRITICAL ? "critical" : "warning",
					  st == STATE_CRITICAL ? cfg->quota.crit.text : cfg->quota.warn.text);
			}
		}
	}
}

void sess_mailbox_summary(struct sess *s, char *buf, size_t len)
{
	struct mailbox_state *mb = &s->mb;
	struct sbuf sb;
	char age[24];

	sb_init(&sb, buf, len);
	if (!mb->have_exists)
		return;
	sb_printf(&sb, ", %s: %u messages", mb->name[0] ? mb->name : s->cfg->mailbox, mb->exists);
	if (mb->have_unseen)
		sb_printf(&sb, " (%u unseen)", mb->unseen);
	if (mb->searched)
		sb_printf(&sb, ", %llu matched", (unsigned long long)mb->search.count);
	if (mb->have_age && s->cfg->age_oldest_unseen && !strcmp(mb->age_what, NO_UNSEEN)) {
		sb_printf(&sb, ", %s", NO_UNSEEN);
	} else if (mb->have_age && (age_thresholds(s->cfg) || s->cfg->age_oldest_unseen)) {
		mbx_format_age(mb->age, age, sizeof(age));
		sb_printf(&sb, ", %s %s", s->cfg->age_oldest_unseen ? "oldest unseen" : "newest", age);
	}
	if (mb->quota_asked == 1 && (mb->quota.have_storage || mb->quota.have_messages))
		sb_printf(&sb, ", quota %.1f%%",
			  mb->quota.storage_pct > mb->quota.messages_pct ? mb->quota.storage_pct : mb->quota.messages_pct);
	if (mb->deleted_set)
		sb_printf(&sb, ", %u deleted", mb->deleted);
	if (s->cfg->append && report_find_step(s->rep, "append_fetch"))
		sb_printf(&sb, ", append/fetch/delete OK");
	if (mb->have_push)
		sb_printf(&sb, ", push %.3fs", mb->push_s);
	if (s->cfg->script && mb->script_ok)
		sb_printf(&sb, ", script %u command%s OK", mb->script_ok, mb->script_ok == 1 ? "" : "s");
}
