/* session_mailbox.c - untagged data handling and the mailbox steps
 * (examine/select, fetch). */
#include "config.h"
#include "session_int.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "clock.h"

/* ---------------------------------------------------------------- untagged data */

static int parse_u64(const struct imap_response *r, size_t i, uint64_t *v)
{
	return i < r->ntok ? imap_tok_u64(r, &r->tok[i], v) : -1;
}

static time_t parse_internaldate(const char *s)
{
	/* "17-Jul-1996 02:44:25 -0700" (day may be space-padded) */
	static const char months[] = "JanFebMarAprMayJunJulAugSepOctNovDec";
	char mon[4];
	int d, y, hh, mm, ss, tz;
	struct tm tm = { 0 };

	if (sscanf(s, " %d-%3s-%d %d:%d:%d %d", &d, mon, &y, &hh, &mm, &ss, &tz) != 7)
		return (time_t)-1;
	const char *m = strstr(months, mon);
	if (!m || (m - months) % 3)
		return (time_t)-1;
	tm.tm_mday = d;
	tm.tm_mon = (int)((m - months) / 3);
	tm.tm_year = y - 1900;
	tm.tm_hour = hh;
	tm.tm_min = mm;
	tm.tm_sec = ss;
	time_t t = timegm(&tm);
	int off = (tz / 100) * 3600 + (tz % 100) * 60;
	return t - off;
}

/* Copy header field `name` (unfolded) from a header block. */
static void header_field(const char *hdr, size_t len, const char *name, char *out, size_t outlen)
{
	size_t nlen = strlen(name);
	out[0] = '\0';
	for (size_t i = 0; i + nlen < len; ) {
		if ((i == 0 || hdr[i - 1] == '\n') && !strncasecmp(hdr + i, name, nlen) && hdr[i + nlen] == ':') {
			size_t j = i + nlen + 1, o = 0;
			while (j < len && o + 1 < outlen) {
				if (hdr[j] == '\r' || hdr[j] == '\n') {
					/* folding: CRLF followed by WSP continues */
					size_t k = j;
					while (k < len && (hdr[k] == '\r' || hdr[k] == '\n'))
						k++;
					if (k < len && (hdr[k] == ' ' || hdr[k] == '\t')) {
						j = k;
						continue;
					}
					break;
				}
				out[o++] = hdr[j++];
			}
			out[o] = '\0';
			char tmp[512];
			sanitize_text(tmp, sizeof(tmp) < outlen ? sizeof(tmp) : outlen, out, o);
			snprintf(out, outlen, "%s", tmp);
			return;
		}
		const char *nl = memchr(hdr + i, '\n', len - i);
		if (!nl)
			break;
		i = (size_t)(nl - hdr) + 1;
	}
}

static void handle_fetch(struct sess *s, const struct imap_response *r)
{
	struct message_info *m = &s->msg;
	size_t i = 0;

	if (r->ntok == 0 || r->tok[0].type != IMAP_TOK_LIST_OPEN)
		return;
	m->got = 1;
	m->seq = r->number;
	for (i = 1; i + 1 < r->ntok && r->tok[i].type != IMAP_TOK_LIST_CLOSE; i = imap_tok_skip(r, i + 1)) {
		const struct imap_token *k = &r->tok[i], *v = &r->tok[i + 1];
		const char *name = imap_tok_data(r, k);
		if (k->type != IMAP_TOK_ATOM)
			continue;
		if (imap_tok_is(r, k, "UID")) {
			parse_u64(r, i + 1, &m->uid);
		} else if (imap_tok_is(r, k, "RFC822.SIZE")) {
			parse_u64(r, i + 1, &m->size);
		} else if (imap_tok_is(r, k, "INTERNALDATE") && v->type == IMAP_TOK_QUOTED) {
			time_t t = parse_internaldate(imap_tok_data(r, v));
			if (t != (time_t)-1) {
				m->internaldate = t;
				m->have_date = 1;
			}
		} else if (!strncasecmp(name, "BODY[", 5) || !strncasecmp(name, "BINARY[", 7) ||
			   !strncasecmp(name, "RFC822", 6)) {
			if (v->type == IMAP_TOK_LITERAL || v->type == IMAP_TOK_QUOTED) {
				const char *data = imap_tok_data(r, v);
				m->bytes += v->full_len;
				header_field(data, v->len, "Subject", m->subject, sizeof(m->subject));
				header_field(data, v->len, "From", m->from, sizeof(m->from));
				header_field(data, v->len, "Date", m->date, sizeof(m->date));
			}
		}
	}
}

static void handle_status(struct sess *s, const struct imap_response *r)
{
	/* * STATUS mailbox (MESSAGES n UNSEEN n ...) */
	size_t i = 0;
	if (r->ntok < 2)
		return;
	i = imap_tok_skip(r, 0);
	if (i >= r->ntok || r->tok[i].type != IMAP_TOK_LIST_OPEN)
		return;
	for (i++; i + 1 < r->ntok && r->tok[i].type != IMAP_TOK_LIST_CLOSE; i += 2) {
		uint64_t v;
		if (parse_u64(r, i + 1, &v) < 0)
			continue;
		if (imap_tok_is(r, &r->tok[i], "UNSEEN")) {
			s->mb.unseen = (uint32_t)v;
			s->mb.have_unseen = 1;
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
	if (!strcasecmp(code, "UIDVALIDITY") || !strcasecmp(code, "UIDNEXT")) {
		errno = 0;
		v = strtoull(r->code_arg, &end, 10);
		if (errno || end == r->code_arg)
			return;
		if (code[3] == 'V' || code[3] == 'v') {
			s->mb.uidvalidity = v;
			s->mb.have_uidvalidity = 1;
		} else {
			s->mb.uidnext = v;
			s->mb.have_uidnext = 1;
		}
	} else if (!strcasecmp(code, "READ-ONLY")) {
		s->mb.read_only = 1;
	} else if (!strcasecmp(code, "ALERT")) {
		sess_note_alert(s, code, r->text);
	}
}

int sess_on_untagged(void *ud, struct imap_conn *c, const struct imap_response *r)
{
	struct sess *s = ud;
	(void)c;

	if (r->type != IMAP_RESP_UNTAGGED)
		return 0;
	if (r->status != IMAP_ST_NONE) {
		if (r->code)
			handle_code(s, r);
		if (r->status == IMAP_ST_NO || r->status == IMAP_ST_BAD)
			report_line(s->rep, "server warning: %s %s", sess_status_word(r->status), r->text);
		return 0;
	}
	if (!r->name)
		return 0;
	if (r->has_number && ascii_ieq(r->name, r->name_len, "EXISTS")) {
		s->mb.exists = r->number;
		s->mb.have_exists = 1;
	} else if (r->has_number && ascii_ieq(r->name, r->name_len, "RECENT")) {
		s->mb.recent = r->number;
		s->mb.have_recent = 1;
	} else if (r->has_number && ascii_ieq(r->name, r->name_len, "FETCH")) {
		handle_fetch(s, r);
	} else if (ascii_ieq(r->name, r->name_len, "STATUS")) {
		handle_status(s, r);
	}
	return 0;
}

/* ---------------------------------------------------------------- mailbox */

static int sess_examine(struct sess *s)
{
	const struct probe_config *cfg = s->cfg;
	char name[1024];
	struct imap_cmd status, cmd;
	struct imap_result sres, res;
	unsigned sid, id;
	const char *verb = cfg->select ? "SELECT" : "EXAMINE";
	struct step *st = sess_begin(s, cfg->select ? "select" : "examine");

	if (imap_utf7_encode(cfg->mailbox, name, sizeof(name)) < 0) {
		sess_fail(s, st, STATE_UNKNOWN, "mailbox name %s is not valid UTF-8 or too long", cfg->mailbox);
		return -1;
	}
	/* STATUS for the unseen count travels in the same flight as EXAMINE:
	 * no extra round trip. */
	imap_cmd_init(&status, s->conn, "STATUS");
	imap_cmd_astring(&status, name, strlen(name), 0);
	imap_cmd_atom(&status, "(UNSEEN)");
	imap_cmd_init(&cmd, s->conn, verb);
	imap_cmd_astring(&cmd, name, strlen(name), 0);
	int rc = imap_conn_queue(s->conn, &status, &sid);
	if (rc == 0)
		rc = imap_conn_send(s->conn, &cmd, &id);
	if (rc == 0)
		rc = imap_conn_wait(s->conn, sid, &sres);
	if (rc == 0)
		rc = imap_conn_wait(s->conn, id, &res);
	imap_cmd_free(&status);
	if (rc < 0) {
		imap_cmd_free(&cmd);
		sess_conn_fail(s, st, verb);
		return -1;
	}
	sess_note_alert(s, res.code, res.text);
	if (res.status != IMAP_ST_OK) {
		sess_result_fail(s, st, cmd.name, &res);
		imap_cmd_free(&cmd);
		return -1;
	}
	imap_cmd_free(&cmd);
	if (!s->mb.have_exists) {
		sess_fail(s, st, STATE_CRITICAL, "%s %s: server sent no EXISTS count", verb, cfg->mailbox);
		return -1;
	}
	step_value(st, "messages", s->mb.exists, "");
	if (s->mb.have_unseen)
		step_value(st, "unseen", s->mb.unseen, "");
	char unseen[32] = "";
	if (s->mb.have_unseen)
		snprintf(unseen, sizeof(unseen), ", %u unseen", s->mb.unseen);
	sess_ok(st, "%s: %u messages, %u recent%s%s", cfg->mailbox, s->mb.exists, s->mb.recent, unseen,
		s->mb.read_only ? " (read-only)" : "");
	if (s->mb.have_uidvalidity)
		report_info(s->rep, "uidvalidity", "%llu", (unsigned long long)s->mb.uidvalidity);
	if (s->mb.have_uidnext)
		report_info(s->rep, "uidnext", "%llu", (unsigned long long)s->mb.uidnext);
	return 0;
}

static int sess_fetch(struct sess *s)
{
	const struct probe_config *cfg = s->cfg;
	struct imap_cmd cmd;
	struct imap_result res;
	char seq[16];

	if (cfg->fetch == FETCH_NONE)
		return 0;
	struct step *st = sess_begin(s, "fetch");
	if (s->mb.exists == 0) {
		if (st)
			report_step_end(st, STEP_SKIPPED, STATE_OK, "mailbox is empty");
		return 0;
	}
	snprintf(seq, sizeof(seq), "%u", s->mb.exists);
	imap_cmd_init(&cmd, s->conn, "FETCH");
	imap_cmd_atom(&cmd, seq);
	imap_cmd_atom(&cmd, cfg->fetch == FETCH_FULL ?
		      "(UID RFC822.SIZE INTERNALDATE BODY.PEEK[])" :
		      "(UID RFC822.SIZE INTERNALDATE BODY.PEEK[HEADER.FIELDS (SUBJECT DATE FROM)])");
	int rc = sess_command(s, st, &cmd, &res);
	imap_cmd_free(&cmd);
	if (rc < 0)
		return -1;
	if (!s->msg.got) {
		sess_fail(s, st, STATE_CRITICAL, "FETCH %s returned no message (expunged meanwhile?)", seq);
		return -1;
	}
	step_value(st, "size", (double)s->msg.size, "B");
	step_value(st, "bytes", (double)s->msg.bytes, "B");
	sess_ok(st, "message %u (UID %llu, %llu bytes): \"%s\"%s%s", s->msg.seq, (unsigned long long)s->msg.uid,
		(unsigned long long)s->msg.size, s->msg.subject, s->msg.from[0] ? " from " : "", s->msg.from);
	return 0;
}

int sess_mailbox_steps(struct sess *s)
{
	if (sess_examine(s) < 0)
		return -1;
	if (sess_fetch(s) < 0)
		return -1;
	return 0;
}

void sess_mailbox_perf(struct sess *s)
{
	const struct probe_config *cfg = s->cfg;
	struct report *rep = s->rep;

	if (s->mb.have_exists) {
		report_perf(rep, "messages", s->mb.exists, "", 0, &cfg->messages);
		report_perf(rep, "recent", s->mb.recent, "", 0, NULL);
	}
	if (s->mb.have_unseen)
		report_perf(rep, "unseen", s->mb.unseen, "", 0, &cfg->unseen);
	if (s->msg.got)
		report_perf(rep, "size", (double)s->msg.size, "B", 0, NULL);
}

void sess_mailbox_thresholds(struct sess *s, struct sbuf *notes)
{
	const struct probe_config *cfg = s->cfg;

	if (s->mb.have_exists)
		sess_check_count(s, notes, "messages", s->mb.exists, &cfg->messages);
	if (s->mb.have_unseen)
		sess_check_count(s, notes, "unseen", s->mb.unseen, &cfg->unseen);
}

void sess_mailbox_summary(struct sess *s, char *buf, size_t len)
{
	buf[0] = '\0';
	if (!s->mb.have_exists)
		return;
	snprintf(buf, len, ", %s: %u messages", s->cfg->mailbox, s->mb.exists);
	if (s->mb.have_unseen)
		snprintf(buf + strlen(buf), len - strlen(buf), " (%u unseen)", s->mb.unseen);
}
