/* summary.c - the end of a session: perfdata, threshold checks and the
 * one-line OK summary, from what the steps measured. */
#include "config.h"
#include "session/summary.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#include "imap/mailbox_util.h"
#include "net/clock.h"
#include "session/step.h"

static void sess_note(struct sbuf *notes, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void sess_note(struct sbuf *notes, const char *fmt, ...)
{
	va_list ap;
	if (notes->len)
		sb_puts(notes, ", ");
	va_start(ap, fmt);
	sb_vprintf(notes, fmt, ap);
	va_end(ap);
}

static void sess_check_count(struct sess *s, struct sbuf *notes, const char *what, double v,
			     const struct thresholds *th)
{
	int st = thresholds_check(th, v);
	if (st == STATE_OK)
		return;
	report_raise(s->rep, st);
	sess_note(notes, "%s %.0f outside the %s range %s", what, v, st == STATE_CRITICAL ? "critical" : "warning",
	     st == STATE_CRITICAL ? th->crit.text : th->warn.text);
}

/* ================================================================ results */

static void sess_mailbox_perf(struct sess *s)
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

static void sess_mailbox_thresholds(struct sess *s, struct sbuf *notes)
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

static void sess_mailbox_summary(struct sess *s, char *buf, size_t len)
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


/* ---------------------------------------------------------------- summary */

static void add_perfdata(struct sess *s)
{
	const struct probe_config *cfg = s->cfg;
	struct report *rep = s->rep;

	for (unsigned i = 0; i < rep->nsteps; i++) {
		const struct step *st = &rep->steps[i];
		if (st->outcome == STEP_SKIPPED)
			continue;
		struct perf *p = report_perf(rep, st->name, clock_ns_to_s(st->dur_ns), "s", 6, NULL);
		if (p) {
			p->has_min = p->has_max = 1;
			p->min = 0;
			p->max = cfg->timeout_s;
		}
	}
	struct perf *p = report_perf(rep, "time", clock_ns_to_s(rep->total_ns), "s", 6, &cfg->time);
	if (p) {
		p->has_min = p->has_max = 1;
		p->min = 0;
		p->max = cfg->timeout_s;
	}
	if (s->have_cert_days)
		report_perf(rep, "cert_days", s->cert_days, "", 1, cfg->cert_days_set ? &cfg->cert_days : NULL);
	sess_mailbox_perf(s);
}

/* The success summary: threshold notes first, then who/what/how long. */
static void ok_summary(struct sess *s, const char *notes)
{
	const struct probe_config *cfg = s->cfg;
	struct report *rep = s->rep;
	char who[256], via[96] = "", box[256] = "";

	int named = cfg->username && (s->mech[0] || s->auth_tried);
	snprintf(who, sizeof(who), "%s%s%s:%u", named ? cfg->username : "", named ? "@" : "", cfg->host, cfg->port);
	if (s->tls_have)
		snprintf(via, sizeof(via), " %s", s->tls.version);
	if (cfg->auth == AUTH_ALL)
		snprintf(via + strlen(via), sizeof(via) - strlen(via), " %u/%u mechanisms", s->auth_ok, s->auth_tried);
	else if (s->mech[0])
		snprintf(via + strlen(via), sizeof(via) - strlen(via), " %s", s->mech);
	else
		snprintf(via + strlen(via), sizeof(via) - strlen(via), " (no login)");
	sess_mailbox_summary(s, box, sizeof(box));
	report_set_summary(rep, "%s%s%s%s%s in %.3fs", notes, notes[0] ? " - " : "", who, via, box,
			   clock_ns_to_s(rep->total_ns));
}

static void check_thresholds(struct sess *s, struct sbuf *notes)
{
	const struct probe_config *cfg = s->cfg;
	double t = clock_ns_to_s(s->rep->total_ns);
	int state = thresholds_check(&cfg->time, t);

	if (state != STATE_OK) {
		report_raise(s->rep, state);
		sess_note(notes, "session took %.3fs (%s threshold %s)", t, state == STATE_CRITICAL ? "critical" : "warning",
		     state == STATE_CRITICAL ? cfg->time.crit.text : cfg->time.warn.text);
	}
	if (s->cert_note[0])
		sess_note(notes, "%s", s->cert_note);
	if (s->auth_note[0])
		sess_note(notes, "%s", s->auth_note);
	sess_mailbox_thresholds(s, notes);
}

void sess_summarize(struct sess *s)
{
	add_perfdata(s);
	if (!s->failed) {
		char mem[768];
		struct sbuf notes;
		sb_init(&notes, mem, sizeof(mem));
		check_thresholds(s, &notes);
		ok_summary(s, notes.data);
	}
}
