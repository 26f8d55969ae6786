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

	if (mb->count.have_exists) {
		report_perf(rep, "messages", mb->count.exists, "", 0, &cfg->messages);
		if (mb->count.have_recent)
			report_perf(rep, "recent", mb->count.recent, "", 0, NULL);
	}
	if (mb->count.have_unseen)
		report_perf(rep, "unseen", mb->count.unseen, "", 0, &cfg->unseen);
	if (mb->count.have_size)
		report_perf(rep, "mailbox_bytes", (double)mb->count.size, "B", 0, NULL);
	if (mb->find.searched)
		report_perf(rep, "matched", (double)mb->find.search.count, "", 0, &cfg->matched);
	if (s->msg.got && s->msg.have_size)
		report_perf(rep, "size", (double)s->msg.size, "B", 0, NULL);
	if (s->msg.got && s->msg.have_body)
		report_perf(rep, "fetch_bytes", (double)s->msg.bytes, "B", 0, NULL);
	if (mb->age.have) {
		p = report_perf(rep, "age", mb->age.value, "s", 0, &cfg->age);
		if (p) {
			p->has_min = 1;
			p->min = 0;
			p->has_max = 0;
		}
	}
	if (mb->list.done)
		report_perf(rep, "folders", mb->list.folders, "", 0, NULL);
	if (mb->quota.asked == 1 && mb->quota.got.have_storage) {
		p = report_perf(rep, "quota_storage", mb->quota.got.storage_pct, "%", 2, &cfg->quota);
		if (p) {
			p->has_min = p->has_max = 1;
			p->min = 0;
			p->max = 100;
		}
	}
	if (mb->quota.asked == 1 && mb->quota.got.have_messages) {
		p = report_perf(rep, "quota_messages", mb->quota.got.messages_pct, "%", 2, &cfg->quota);
		if (p) {
			p->has_min = p->has_max = 1;
			p->min = 0;
			p->max = 100;
		}
	}
	if (mb->writes.deleted_set)
		report_perf(rep, "deleted", mb->writes.deleted, "", 0, NULL);
}

static void sess_mailbox_thresholds(struct sess *s, struct sbuf *notes)
{
	const struct probe_config *cfg = s->cfg;
	struct mailbox_state *mb = &s->mb;
	char age[24];

	for (unsigned k = 0; mb->list.done && k < cfg->n_expect_folder; k++) {
		if (!mb->list.expect_found[k]) {
			report_raise(s->rep, STATE_CRITICAL);
			sess_note(notes, "folder \"%s\" missing", mb->list.expect_name[k]);
		}
	}
	if (mb->count.have_exists)
		sess_check_count(s, notes, "messages", mb->count.exists, &cfg->messages);
	if (mb->count.have_unseen)
		sess_check_count(s, notes, "unseen", mb->count.unseen, &cfg->unseen);
	if (mb->find.searched)
		sess_check_count(s, notes, "matched", (double)mb->find.search.count, &cfg->matched);
	if (age_thresholds(cfg)) {
		if (mb->age.have) {
			int st = thresholds_check(&cfg->age, mb->age.value);
			if (st != STATE_OK) {
				report_raise(s->rep, st);
				mbx_format_age(mb->age.value, age, sizeof(age));
				sess_note(notes, "%s is %s old (%s threshold %s s)", mb->age.what, age,
					  st == STATE_CRITICAL ? "critical" : "warning",
					  st == STATE_CRITICAL ? cfg->age.crit.text : cfg->age.warn.text);
			}
		} else if (mb->age.gone) {
			report_raise(s->rep, STATE_UNKNOWN);
			sess_note(notes, "age unknown: the message vanished before it could be fetched");
		} else {
			report_raise(s->rep, STATE_CRITICAL);
			sess_note(notes, "no %smessage to measure the age of", cfg->search ? "matching " : "");
		}
	}
	if (cfg->quota.warn.set || cfg->quota.crit.set) {
		const struct mbx_quota *q = &mb->quota.got;
		if (mb->quota.asked == 2 || mb->quota.asked == 3) {
			report_raise(s->rep, STATE_CRITICAL);
			sess_note(notes, "%s", mb->quota.asked == 2 ? "server does not support QUOTA" : mb->quota.note);
		} else if (mb->quota.asked == 1 && (q->have_storage || q->have_messages)) {
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
	if (!mb->count.have_exists)
		return;
	sb_printf(&sb, ", %s: %u messages", mb->name[0] ? mb->name : s->cfg->mailbox, mb->count.exists);
	if (mb->count.have_unseen)
		sb_printf(&sb, " (%u unseen)", mb->count.unseen);
	if (mb->find.searched)
		sb_printf(&sb, ", %llu matched", (unsigned long long)mb->find.search.count);
	if (mb->age.have && s->cfg->age_oldest_unseen && !strcmp(mb->age.what, NO_UNSEEN)) {
		sb_printf(&sb, ", %s", NO_UNSEEN);
	} else if (mb->age.have && (age_thresholds(s->cfg) || s->cfg->age_oldest_unseen)) {
		mbx_format_age(mb->age.value, age, sizeof(age));
		sb_printf(&sb, ", %s %s", s->cfg->age_oldest_unseen ? "oldest unseen" : "newest", age);
	}
	if (mb->quota.asked == 1 && (mb->quota.got.have_storage || mb->quota.got.have_messages))
		sb_printf(&sb, ", quota %.1f%%",
			  mb->quota.got.storage_pct > mb->quota.got.messages_pct ? mb->quota.got.storage_pct :
										     mb->quota.got.messages_pct);
	if (mb->writes.deleted_set)
		sb_printf(&sb, ", %u deleted", mb->writes.deleted);
	if (s->cfg->append && report_find_step(s->rep, "append_fetch"))
		sb_printf(&sb, ", append/fetch/delete OK");
	if (mb->writes.have_push)
		sb_printf(&sb, ", push %.3fs", mb->writes.push_s);
	if (s->cfg->script && mb->script.ok)
		sb_printf(&sb, ", script %u command%s OK", mb->script.ok, mb->script.ok == 1 ? "" : "s");
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
	if (s->cert.have_days)
		report_perf(rep, "cert_days", s->cert.days, "", 1, cfg->cert_days_set ? &cfg->cert_days : NULL);
	sess_mailbox_perf(s);
}

/* The success summary: threshold notes first, then who/what/how long. */
static void ok_summary(struct sess *s, const char *notes)
{
	const struct probe_config *cfg = s->cfg;
	struct report *rep = s->rep;
	char who[256], via[96] = "", box[256] = "";

	int named = cfg->username && (s->login.mech[0] || s->login.tried);
	snprintf(who, sizeof(who), "%s%s%s:%u", named ? cfg->username : "", named ? "@" : "", cfg->host, cfg->port);
	if (s->link.tls_have)
		snprintf(via, sizeof(via), " %s", s->link.tls.version);
	if (cfg->auth == AUTH_ALL)
		snprintf(via + strlen(via), sizeof(via) - strlen(via), " %u/%u mechanisms", s->login.ok, s->login.tried);
	else if (s->login.mech[0])
		snprintf(via + strlen(via), sizeof(via) - strlen(via), " %s", s->login.mech);
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
	if (s->cert.note[0])
		sess_note(notes, "%s", s->cert.note);
	if (s->login.note[0])
		sess_note(notes, "%s", s->login.note);
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
