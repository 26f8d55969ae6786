/* delivery.c - --deliver-via, the IMAP side: wait on the mailbox, have the
 * probe message submitted (delivery_smtp.c), time its arrival, find it by
 * its token, fetch its headers (the Received: path), delete it and the
 * leftovers of earlier runs. */
#include "config.h"
#include "session/delivery.h"

#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "net/clock.h"
#include "net/transport.h"
#include "imap/mime.h"
#include "sasl/crypto.h"
#include "smtp/smtp_conn.h"
#include "smtp/smtp_msg.h"
#include "session/delivery_smtp.h"
#include "session/flight.h"
#include "session/step.h"
#include "session/untagged.h"
#include "session/write.h"

/* Without IDLE (and without --delivery-poll) the mailbox is polled with
 * NOOP this often. */
#define POLL_NS (500LL * 1000 * 1000)
/* After a signal, DONE gets this long. */
#define STOP_DONE_NS (300LL * 1000 * 1000)

struct dctx {
	struct sess *s;
	char token[SMTP_TOKEN_MAX];
	int idle;                   /* wait with IDLE (else NOOP polling) */
	int64_t poll_ns;            /* NOOP polling: the interval */
	unsigned idle_id;           /* the IDLE command in progress (0: none) */
	uint32_t base;              /* messages before the submission */
	int64_t arrived_ns;         /* when the EXISTS came (0: not yet) */
	uint64_t uid;               /* the probe message's UID once found */
	struct probe_watch watch;   /* the probe message once found: its
	                               sequence number learnt from the fetch,
	                               kept current, and whether it went */
	struct mbx_search old;      /* leftovers of earlier runs */
	int have_old;
};

/* ---------------------------------------------------------------- waiting */

/* Readable before the deadline: 1 data is there, 0 the deadline passed. */
static int readable(struct imap_conn *c, int64_t deadline)
{
	struct transport *t = imap_conn_transport(c);

	if (imap_conn_buffered(c) > 0 || (t->ops->pending && t->ops->pending(t) > 0))
		return 1;
	return transport_wait(t, POLLIN, deadline) > 0;
}

/* EXISTS/EXPUNGE seen in a low-level read (IDLE: the handler does not see
 * them). */
static void count_untagged(struct sess *s, const struct imap_response *r)
{
	if (!r->name || !r->has_number)
		return;
	if (ascii_ieq(r->name, r->name_len, "EXISTS"))
		s->mb.count.live_exists = r->number;
	else if (ascii_ieq(r->name, r->name_len, "EXPUNGE") && s->mb.count.live_exists)
		s->mb.count.live_exists--;
}

/* IDLE until its "+"; 0, or -1 recorded on st. */
static int idle_begin(struct dctx *d, struct step *st)
{
	struct sess *s = d->s;
	struct imap_cmd cmd;
	struct imap_result res;

	imap_cmd_init(&cmd, s->link.conn, "IDLE");
	int r = imap_conn_send(s->link.conn, &cmd, &d->idle_id);
	imap_cmd_free(&cmd);
	if (r < 0) {
		d->idle_id = 0;
		sess_conn_fail(s, st, "IDLE");
		return -1;
	}
	for (;;) {
		const struct imap_response *resp;
		if (imap_conn_read(s->link.conn, &resp) < 0) {
			d->idle_id = 0;
			sess_conn_fail(s, st, "IDLE");
			return -1;
		}
		if (resp->type == IMAP_RESP_CONTINUATION)
			return 0;
		if (resp->type == IMAP_RESP_TAGGED) {
			if (imap_conn_wait(s->link.conn, d->idle_id, &res) == 0)
				sess_result_fail(s, st, "IDLE", &res);
			else
				sess_conn_fail(s, st, "IDLE");
			d->idle_id = 0;
			return -1;
		}
		count_untagged(s, resp);
	}
}

/* DONE; 0, or -1 recorded on st. */
static int idle_end(struct dctx *d, struct step *st)
{
	struct sess *s = d->s;
	struct imap_result res;
	unsigned id = d->idle_id;

	if (!id)
		return 0;
	d->idle_id = 0;
	if (imap_conn_write_line(s->link.conn, "DONE", 4, 0) < 0) {
		sess_conn_fail(s, st, "DONE");
		return -1;
	}
	/* untagged data before the tagged OK goes through the handler */
	if (imap_conn_wait(s->link.conn, id, &res) < 0) {
		sess_conn_fail(s, st, "DONE");
		return -1;
	}
	if (res.status != IMAP_ST_OK) {
		sess_result_fail(s, st, "IDLE", &res);
		return -1;
	}
	return 0;
}

/* Wait until the mailbox has more than d->base messages, or until
 * deadline: 1 (d->arrived_ns set), 0 the deadline passed, -1 recorded. */
static int wait_exists(struct dctx *d, struct step *st, int64_t deadline)
{
	struct sess *s = d->s;
	struct imap_result res;

	for (;;) {
		if (s->mb.count.live_exists > d->base) {
			d->arrived_ns = clock_now_ns();
			return 1;
		}
		if (sess_stopped(s))
			return 0;
		if (!d->idle) {
			int64_t next = clock_now_ns() + d->poll_ns;
			if (next > deadline)
				next = deadline;
			struct imap_cmd cmd;
			imap_cmd_init(&cmd, s->link.conn, "NOOP");
			int rc = sess_command(s, st, &cmd, &res);
			imap_cmd_free(&cmd);
			if (rc < 0)
				return -1;
			if (s->mb.count.live_exists > d->base) {
				d->arrived_ns = res.done_ns;
				return 1;
			}
			if (clock_now_ns() >= deadline)
				return 0;
			struct timespec ts = { 0, 0 };
			int64_t left = next - clock_now_ns();
			if (left > 0) {
				ts.tv_sec = (time_t)(left / 1000000000LL);
				ts.tv_nsec = (long)(left % 1000000000LL);
				nanosleep(&ts, NULL);
			}
			continue;
		}
		if (!readable(s->link.conn, deadline))
			return 0;
		const struct imap_response *r;
		if (imap_conn_read(s->link.conn, &r) < 0) {
			d->idle_id = 0;
			sess_conn_fail(s, st, "IDLE");
			return -1;
		}
		if (r->type == IMAP_RESP_TAGGED) {
			unsigned id = d->idle_id;
			d->idle_id = 0;
			if (imap_conn_wait(s->link.conn, id, &res) == 0)
				sess_result_fail(s, st, "IDLE (ended by the server)", &res);
			else
				sess_conn_fail(s, st, "IDLE");
			return -1;
		}
		count_untagged(s, r);
		if (s->mb.count.live_exists > d->base) {
			d->arrived_ns = clock_now_ns();
			return 1;
		}
	}
}

/* ---------------------------------------------------------------- find */

/* UID SEARCH for the token (and, the first time, the leftovers of earlier
 * runs) in one flight: 1 found (d->uid), 0 not there, -1 recorded. */
static int find_token(struct dctx *d, struct step *st)
{
	struct sess *s = d->s;
	struct flight f;
	struct mbx_search found;
	struct fcmd *clean = NULL, *find;
	char crit[SMTP_TOKEN_MAX + 64];
	int rc = -1;

	fl_init(&f, s, s);
	if (!d->have_old) {
		clean = add_leftover_search(s, s, &f, NULL, &d->old);
		clean->st = st;
	}
	find = fl_add(&f, NULL, "UID SEARCH");
	find->st = st;
	mbx_search_init(&found, NULL);
	find->search_into = &found;
	snprintf(crit, sizeof(crit), "HEADER %s", SMTP_PROBE_HEADER);
	imap_cmd_add_text(&find->cmd, crit);
	imap_cmd_add_string(&find->cmd, d->token, strlen(d->token), 0);
	if (fl_run(&f) < 0)
		goto out;
	if (clean) {
		if (clean->res.status == IMAP_ST_OK)
			mbx_search_finish(&d->old);
		else
			mbx_search_init(&d->old, NULL);
		d->have_old = 1;
	}
	if (find->res.status != IMAP_ST_OK) {
		fl_result_fail(&f, find, NULL);
		goto out;
	}
	mbx_search_finish(&found);
	if (found.count > 1) {
		sess_fail(s, st, STATE_CRITICAL, "%llu messages carry this run's token %s: refusing to delete any",
			  (unsigned long long)found.count, d->token);
		goto out;
	}
	rc = found.count == 1 ? 1 : 0;
	if (rc)
		d->uid = found.max;
out:
	fl_free(&f);
	return rc;
}

/* ---------------------------------------------------------------- fetch */

struct fetch_ctx {
	struct sess *s;
	uint64_t uid;
	int got;
	struct smtp_path path;
	time_t sent;                /* the probe header's send time */
	int token_ok;               /* the header carries our token */
	const char *token;
};

/* The FETCH data of our UID: the Received: path and the probe header;
 * everything goes on to the session's handler too. */
static int fetch_handler(void *ud, struct imap_conn *c, const struct imap_response *r)
{
	struct fetch_ctx *x = ud;

	if (r->name && ascii_ieq(r->name, r->name_len, "FETCH") && r->ntok && r->tok[0].type == IMAP_TOK_LIST_OPEN) {
		uint64_t uid = 0;
		size_t hdr = 0;
		for (size_t i = 1; i + 1 < r->ntok && r->tok[i].type != IMAP_TOK_LIST_CLOSE; i = imap_tok_skip(r, i + 1)) {
			const struct imap_token *k = &r->tok[i], *v = &r->tok[i + 1];
			if (k->type != IMAP_TOK_ATOM)
				continue;
			if (imap_tok_is(r, k, "UID") && v->type == IMAP_TOK_ATOM) {
				uid = 0;
				for (uint32_t j = 0; j < v->len && j < 20; j++)
					uid = uid * 10 + (uint64_t)(imap_tok_data(r, v)[j] - '0');
			} else if (imap_tok_is(r, k, "BODY[HEADER]") &&
				   (v->type == IMAP_TOK_LITERAL || v->type == IMAP_TOK_QUOTED)) {
				hdr = i + 1;
			}
		}
		if (uid == x->uid && hdr) {
			const struct imap_token *v = &r->tok[hdr];
			const char *h = imap_tok_data(r, v);
			char val[256], tok[SMTP_TOKEN_MAX];
			int64_t ms;
			x->got = 1;
			smtp_path_parse(h, v->len, &x->path);
			if (mime_header_field(h, v->len, SMTP_PROBE_HEADER, val, sizeof(val)) == 1 &&
			    smtp_probe_header_parse(val, strlen(val), tok, sizeof(tok), &ms) == 0) {
				x->token_ok = !strcmp(tok, x->token);
				x->sent = (time_t)(ms / 1000);
			}
		}
	}
	return sess_on_untagged(x->s, c, r);
}

/* UID FETCH uid (BODY.PEEK[HEADER]): the path into the long output. */
static int fetch_path(struct dctx *d, struct step *st)
{
	struct sess *s = d->s;
	struct imap_cmd cmd;
	struct imap_result res;
	struct fetch_ctx x = { .s = s, .uid = d->uid, .token = d->token };
	char set[32];

	snprintf(set, sizeof(set), "%llu", (unsigned long long)d->uid);
	imap_cmd_init(&cmd, s->link.conn, "UID FETCH");
	imap_cmd_add_text(&cmd, set);
	imap_cmd_add_text(&cmd, "(UID BODY.PEEK[HEADER])");
	memset(&d->watch, 0, sizeof(d->watch));
	d->watch.uid = d->uid;
	s->mb.route.watch = &d->watch;      /* the FETCH tells its number */
	imap_conn_set_handler(s->link.conn, fetch_handler, &x);
	int rc = sess_command(s, st, &cmd, &res);
	imap_conn_set_handler(s->link.conn, sess_on_untagged, s);
	s->mb.route.watch = NULL;
	imap_cmd_free(&cmd);
	if (rc < 0)
		return -1;
	if (!x.got) {
		sess_fail(s, st, STATE_CRITICAL, "UID FETCH %s returned no header of the probe message", set);
		return -1;
	}
	if (!x.token_ok) {
		sess_fail(s, st, STATE_CRITICAL, "UID %s does not carry this run's token in its %s header", set,
			  SMTP_PROBE_HEADER);
		return -1;
	}
	sess_step_span(st, res.sent_ns, res.done_ns);
	sess_ok(st, "headers of UID %s: %u Received: field%s", set, x.path.nhops, x.path.nhops == 1 ? "" : "s");
	char mem[2048];
	struct sbuf sb;
	sb_init(&sb, mem, sizeof(mem));
	smtp_path_format(&x.path, x.sent, &sb);
	if (sb.len)
		report_line(s->rep, "delivery path (times as each host stamped them, to the second):");
	for (const char *p = sb.data; *p;) {
		size_t n = strcspn(p, "\n");
		report_line(s->rep, "  %.*s", (int)n, p);
		p += n + (p[n] ? 1 : 0);
	}
	return 0;
}

/* ---------------------------------------------------------------- delete */

/* The message arrived but could not be removed: WARNING (the delivery
 * worked), with its UID; the next run removes it as a leftover. */
static void delete_warn(struct dctx *d, struct step *st, const char *what, const char *words)
{
	struct sess *s = d->s;

	sess_fail(s, st, STATE_WARNING, "the probe message UID %llu %s (%s)", (unsigned long long)d->uid, what, words);
	report_line(s->rep, "the probe message UID %llu stays in %s: the next run removes it",
		    (unsigned long long)d->uid, s->mb.name);
}

/* UID STORE + UID EXPUNGE of the probe message and the leftovers, in one
 * flight; the probe message must be reported gone (EXPUNGE of its
 * sequence number, VANISHED of its UID, or as many EXPUNGEs as UIDs). */
static int delete_found(struct dctx *d)
{
	struct sess *s = d->s;
	char set[MBX_SET_MAX + 32], words[640];
	struct probe_watch *w = &d->watch;
	struct flight f;
	unsigned left = join_set(set, sizeof(set), d->uid, d->have_old ? &d->old : NULL);
	unsigned before = s->mb.count.expunged;
	struct step *st = sess_begin(s, "delete");
	int rc = -1;

	fl_init(&f, s, s);
	struct fcmd *store = fl_add(&f, NULL, "UID STORE");
	store->st = st;
	imap_cmd_add_text(&store->cmd, set);
	imap_cmd_add_text(&store->cmd, "+FLAGS.SILENT (\\Deleted)");
	struct fcmd *expunge = fl_add(&f, NULL, "UID EXPUNGE");
	expunge->st = st;
	imap_cmd_add_text(&expunge->cmd, set);
	s->mb.route.watch = w;
	int fr = fl_run(&f);
	s->mb.route.watch = NULL;
	if (fr < 0)
		goto out;
	if (store->res.status != IMAP_ST_OK || expunge->res.status != IMAP_ST_OK) {
		struct fcmd *bad = store->res.status != IMAP_ST_OK ? store : expunge;
		char res[512];
		sess_format_result(&bad->res, res, sizeof(res));
		snprintf(words, sizeof(words), "%s: %s", bad->cmd.name, res);
		delete_warn(d, st, "arrived but could not be deleted", words);
		goto out;
	}
	unsigned n = s->mb.count.expunged - before;
	if (!w->gone && (w->seq_known || n < left + 1)) {
		snprintf(words, sizeof(words), "%u EXPUNGE%s for %u UID%s", n, n == 1 ? "" : "s", left + 1,
			 left ? "s" : "");
		delete_warn(d, st, "was not reported expunged", words);
		goto out;
	}
	if (left)
		sess_ok(st, "probe message UID %llu removed, and %u left by earlier runs (%u expunged)",
			(unsigned long long)d->uid, left, n);
	else
		sess_ok(st, "probe message UID %llu removed", (unsigned long long)d->uid);
	sess_step_span(st, store->res.sent_ns, expunge->res.done_ns);
	rc = 0;
out:
	fl_free(&f);
	return rc;
}

/* The probe message never arrived: the leftovers stay for a run that
 * succeeds (it deletes them with its own message, in one UID set). */
static void note_leftovers(struct dctx *d)
{
	struct sess *s = d->s;

	if (!d->have_old || !d->old.count || !d->old.have_set || d->old.set.overflow || d->old.bad)
		return;
	report_line(s->rep, "%llu probe message%s left by earlier runs found; removed by a run that succeeds",
		    (unsigned long long)d->old.count, d->old.count == 1 ? "" : "s");
}

/* ---------------------------------------------------------------- the check */

static int make_message(struct dctx *d, struct sbuf *msg)
{
	const struct probe_config *cfg = d->s->cfg;
	unsigned char rnd[12];
	struct timespec now;

	if (crypto_random(rnd, sizeof(rnd)) < 0) {
		uint64_t x = (uint64_t)clock_now_ns() ^ ((uint64_t)getpid() << 32);
		memset(rnd, 0, sizeof(rnd));
		memcpy(rnd, &x, sizeof(x));
	}
	clock_gettime(CLOCK_REALTIME, &now);
	smtp_probe_token(d->token, sizeof(d->token), rnd, sizeof(rnd), now.tv_sec);
	struct smtp_probe_msg m = {
		.from = delivery_from(cfg),
		.to = delivery_rcpt(cfg),
		.token = d->token,
		.date = now.tv_sec,
		.sent_ms = (int64_t)now.tv_sec * 1000 + now.tv_nsec / 1000000,
	};
	return smtp_probe_msg_build(msg, &m);
}

/* After the submission: wait for the message, DONE, find it; again while
 * what arrived was something else.  1 found, 0 not delivered in time,
 * -1 recorded. */
static int await_message(struct dctx *d, int64_t accepted_ns)
{
	struct sess *s = d->s;
	int64_t deadline = s->deadline - sess_deadline_reserve(s);
	struct step *st = sess_begin(s, "delivery");

	for (;;) {
		int w = wait_exists(d, st, deadline);
		if (w < 0)
			return -1;
		if (w == 0 && sess_stopped(s)) {
			/* a signal: end the IDLE briefly, then report it as the
			 * deadline would */
			imap_conn_transport(s->link.conn)->stop = NULL;
			imap_conn_set_deadline(s->link.conn, clock_now_ns() + STOP_DONE_NS);
			(void)idle_end(d, NULL);
			imap_conn_set_deadline(s->link.conn, s->deadline);
			sess_timeout(s, st);
			return -1;
		}
		if (w == 0) {
			if (idle_end(d, st) < 0)
				return -1;
			sess_fail(s, st, s->cfg->timeout_state, "not delivered within %.1fs of the 250 after DATA",
				  clock_ns_to_s(clock_now_ns() - accepted_ns));
			return 0;
		}
		if (idle_end(d, st) < 0)
			return -1;
		int64_t arrived = d->arrived_ns;
		struct step *fst = sess_begin(s, "find");
		int f = find_token(d, fst);
		if (f < 0)
			return -1;
		if (f == 1) {
			s->delivery.have = 1;
			s->delivery.seconds = clock_ns_to_s(arrived > accepted_ns ? arrived - accepted_ns : 0);
			sess_ok(fst, "UID %llu carries the token", (unsigned long long)d->uid);
			sess_ok(st, "* %u EXISTS %.4fs after the 250 that ended DATA%s%.3gs%s", s->mb.count.live_exists,
				s->delivery.seconds, d->idle ? "" : " (NOOP polling every ", d->idle ? 0.0 : clock_ns_to_s(d->poll_ns),
				d->idle ? "" : ")");
			sess_step_span(st, accepted_ns, arrived);
			return 1;
		}
		sess_skip(fst, "what arrived was another message");
		/* something else arrived: wait again from here */
		d->base = s->mb.count.live_exists;
		if (d->idle && idle_begin(d, st) < 0)
			return -1;
	}
}

int sess_delivery(struct sess *s)
{
	struct dctx d = { .s = s };
	struct sbuf msg;
	struct smtp_sent sent;
	struct smtp_conn *sc = NULL;
	char mem[2048];
	int rc = -1;

	sb_init(&msg, mem, sizeof(mem));
	if (make_message(&d, &msg) < 0) {
		sess_fail(s, sess_begin(s, "delivery"), STATE_UNKNOWN,
			  "cannot build the probe message (check --mail-from and --rcpt-to)");
		return -1;
	}
	d.idle = (imap_conn_caps(s->link.conn)->flags & CAP_IDLE) != 0 && !(s->cfg->delivery_poll_s > 0);
	d.poll_ns = s->cfg->delivery_poll_s > 0 ? (int64_t)(s->cfg->delivery_poll_s * 1e9) : POLL_NS;
	d.base = s->mb.count.live_exists;
	struct step *st = sess_begin(s, d.idle ? "idle" : "poll");
	if (d.idle) {
		if (idle_begin(&d, st) < 0)
			return -1;
		sess_ok(st, "idling on %s (%u messages)", s->mb.name, d.base);
	} else {
		sess_ok(st, "%s: polling %s with NOOP every %.3gs (%u messages)",
			s->cfg->delivery_poll_s > 0 ? "--delivery-poll" : "no IDLE", s->mb.name, clock_ns_to_s(d.poll_ns),
			d.base);
	}
	d.base = s->mb.count.live_exists;
	if (delivery_smtp_send(s, msg.data, msg.len, &sent, &sc) < 0) {
		idle_end(&d, NULL);
		return -1;
	}
	int found = await_message(&d, sent.accepted_ns);
	delivery_smtp_quit(s, sc);
	/* delete exactly the UID whose header carries this run's token: a
	 * fetch that could not confirm it leaves the mailbox alone */
	if (found == 1 && fetch_path(&d, sess_begin(s, "fetch_headers")) == 0 && delete_found(&d) == 0)
		rc = 0;
	if (found == 0)
		note_leftovers(&d);
	secure_zero(mem, sizeof(mem));
	return s->failed ? -1 : rc;
}
