/* untagged.c - the untagged-response router: every untagged response of a
 * connection updates the mailbox state (counts, search and fetch data,
 * LIST, QUOTA...) and the watch on the --append probe message. */
#include "config.h"
#include "session/untagged.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#include "imap/mime.h"
#include "session/step.h"

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
		return seq == s->mb.count.live_exists;
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

	if ((!s->mb.route.nfetch_t && !s->mb.route.watch) || r->ntok == 0 || r->tok[0].type != IMAP_TOK_LIST_OPEN)
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
	if (s->mb.route.watch && have_uid && uid == s->mb.route.watch->uid && !s->mb.route.watch->gone) {
		s->mb.route.watch->seq = r->number;
		s->mb.route.watch->seq_known = 1;
	}
	for (unsigned n = 0; n < s->mb.route.nfetch_t; n++) {
		struct message_info *t = s->mb.route.fetch_t[n];
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
			s->mb.count.unseen = (uint32_t)v;
			s->mb.count.have_unseen = 1;
		} else if (imap_tok_is(r, &r->tok[i], "SIZE")) {
			s->mb.count.size = v;
			s->mb.count.have_size = 1;
		} else if (imap_tok_is(r, &r->tok[i], "MESSAGES") && !s->mb.count.have_exists) {
			s->mb.count.exists = (uint32_t)v;
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
	if (s->mb.count.frozen)
		return;
	if (!strcasecmp(code, "UIDVALIDITY") || !strcasecmp(code, "UIDNEXT") || !strcasecmp(code, "UNSEEN")) {
		if (r->code_arg[0] < '0' || r->code_arg[0] > '9')
			return;
		errno = 0;
		v = strtoull(r->code_arg, &end, 10);
		if (errno || end == r->code_arg)
			return;
		if (!strcasecmp(code, "UIDVALIDITY")) {
			s->mb.count.uidvalidity = v;
			s->mb.count.have_uidvalidity = 1;
		} else if (!strcasecmp(code, "UIDNEXT")) {
			s->mb.count.uidnext = v;
			s->mb.count.have_uidnext = 1;
		} else if (v > 0 && v <= UINT32_MAX) {
			s->mb.count.first_unseen = (uint32_t)v;
			s->mb.count.have_first_unseen = 1;
		}
	} else if (!strcasecmp(code, "READ-ONLY")) {
		s->mb.count.read_only = 1;
	} else if (!strcasecmp(code, "READ-WRITE")) {
		s->mb.count.read_only = 0;
	}
}

static int folder_eq(const char *a, size_t alen, const char *b)
{
	size_t blen = strlen(b);
	if (alen == 5 && blen == 5 && !strncasecmp(a, "INBOX", 5) && !strcasecmp(b, "INBOX"))
		return 1;
	return alen == blen && !memcmp(a, b, alen);
}

void sess_resolve_expected(struct sess *s)
{
	const struct probe_config *cfg = s->cfg;
	for (unsigned k = 0; k < cfg->n_expect_folder; k++)
		if (mbx_ns_resolve(&s->mb.ns, cfg->expect_folder[k], s->mb.list.expect_name[k],
				   sizeof(s->mb.list.expect_name[k])) < 0)
			strlcpy_s(s->mb.list.expect_name[k], cfg->expect_folder[k], sizeof(s->mb.list.expect_name[k]));
	s->mb.list.expect_ready = 1;
}

static void handle_list(struct sess *s, const struct imap_response *r)
{
	struct mailbox_state *mb = &s->mb;
	struct mbx_list_entry e;

	if (!mb->list.active || mbx_parse_list(r, &e) < 0)
		return;
	if (!mb->list.expect_ready)
		sess_resolve_expected(s);    /* NAMESPACE (same flight) has been answered */
	if (e.attrs & MBX_ATTR_NONEXISTENT)
		return;
	mb->list.folders++;
	for (unsigned k = 0; k < MBX_SPECIAL_COUNT; k++)
		if ((e.attrs & (MBX_SPECIAL_FIRST << k)) && !mb->list.special[k][0])
			sanitize_text(mb->list.special[k], sizeof(mb->list.special[k]), e.name, e.name_len);
	for (unsigned k = 0; k < s->cfg->n_expect_folder; k++)
		if (!mb->list.expect_found[k] && folder_eq(e.name, e.name_len, mb->list.expect_name[k]))
			mb->list.expect_found[k] = 1;
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
	mb->count.live_exists = count < mb->count.live_exists ? mb->count.live_exists - (uint32_t)count : 0;
	mb->count.expunged += count < UINT32_MAX ? (unsigned)count : UINT32_MAX;
	if (mb->route.watch) {
		/* by UID from now on: its sequence number may have moved */
		if (mbx_seqset_has(set, r->tok[0].len, mb->route.watch->uid) == 1)
			mb->route.watch->gone = 1;
		mb->route.watch->seq = 0;
	}
}

static void count_literals(struct sess *s, const struct imap_response *r)
{
	for (size_t i = 0; i < r->ntok; i++)
		if (r->tok[i].type == IMAP_TOK_LITERAL)
			s->mb.script.bytes += r->tok[i].full_len;
}

/* "* n EXPUNGE": one message fewer; the watched probe message is gone,
 * or moves down one when a message before it went. */
static void handle_expunge(struct mailbox_state *mb, uint32_t n)
{
	struct probe_watch *w = mb->route.watch;

	if (mb->count.live_exists)
		mb->count.live_exists--;
	mb->count.expunged++;
	if (w && w->seq) {
		if (n == w->seq) {
			w->gone = 1;
			w->seq = 0;
		} else if (n < w->seq) {
			w->seq--;
		}
	}
}

/* ESEARCH: (TAG "a5") names the command; without it, the pending one. */
static void handle_esearch(const struct mb_route *rt, const struct imap_response *r)
{
	for (unsigned k = 0; k < rt->nsearch_t; k++)
		if (mbx_esearch_tagged(r) ? mbx_parse_esearch(r, rt->search_t[k]) == 0 :
					    rt->search_t[k] == rt->search_cur &&
						    mbx_parse_esearch(r, rt->search_t[k]) == 0)
			break;
}

/* An untagged OK/NO/BAD/BYE: its response code, and NO/BAD as a warning
 * in the long output. */
static void handle_status_response(struct sess *s, const struct imap_response *r)
{
	char text[256];

	if (r->code)
		handle_code(s, r);
	if (r->status == IMAP_ST_NO || r->status == IMAP_ST_BAD) {
		sanitize_text(text, sizeof(text), r->text, r->text_len);
		report_line(s->rep, "server warning: %s %s", imap_status_str(r->status), text);
	}
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
	if (mb->script.active)
		count_literals(s, r);
	if (r->status != IMAP_ST_NONE) {
		handle_status_response(s, r);
		return 0;
	}
	if (!r->name)
		return 0;
	if (r->has_number && ascii_ieq(r->name, r->name_len, "EXISTS")) {
		mb->count.live_exists = r->number;
		if (!mb->count.frozen) {
			mb->count.exists = r->number;
			mb->count.have_exists = 1;
		}
	} else if (r->has_number && ascii_ieq(r->name, r->name_len, "RECENT")) {
		if (!mb->count.frozen) {
			mb->count.recent = r->number;
			mb->count.have_recent = 1;
		}
	} else if (r->has_number && ascii_ieq(r->name, r->name_len, "EXPUNGE")) {
		handle_expunge(mb, r->number);
	} else if (ascii_ieq(r->name, r->name_len, "VANISHED")) {
		handle_vanished(s, r);
	} else if (r->has_number && ascii_ieq(r->name, r->name_len, "FETCH")) {
		handle_fetch(s, r);
	} else if (ascii_ieq(r->name, r->name_len, "STATUS")) {
		if (!mb->count.frozen)
			handle_status(s, r);
	} else if (ascii_ieq(r->name, r->name_len, "SEARCH")) {
		/* no correlator: servers run searches one after the other */
		if (mb->route.search_cur)
			mbx_parse_search(r, mb->route.search_cur);
	} else if (ascii_ieq(r->name, r->name_len, "ESEARCH")) {
		handle_esearch(&mb->route, r);
	} else if (ascii_ieq(r->name, r->name_len, "LIST")) {
		handle_list(s, r);
	} else if (ascii_ieq(r->name, r->name_len, "NAMESPACE")) {
		if (!mb->count.frozen && mbx_parse_namespace(r, &mb->ns) < 0)
			report_line(s->rep, "unparseable NAMESPACE response ignored");
	} else if (ascii_ieq(r->name, r->name_len, "QUOTAROOT")) {
		if (mb->quota.asked == 1)
			mbx_parse_quotaroot(r, &mb->quota.got);
	} else if (ascii_ieq(r->name, r->name_len, "QUOTA")) {
		if (mb->quota.asked == 1)
			mbx_parse_quota(r, &mb->quota.got);
	}
	return 0;
}
