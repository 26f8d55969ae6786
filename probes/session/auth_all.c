/* auth_all.c - --auth all: one connection per advertised mechanism, each
 * tried as its own step, in a stable order. */
#include "config.h"
#include "session/auth_all.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#include "sasl/sasl.h"
#include "session/auth.h"
#include "session/caps.h"
#include "session/open.h"
#include "session/step.h"

/* ---------------------------------------------------------------- --auth all */

#define AUTH_ALL_MAX 16

struct auth_plan {
	unsigned n;
	struct auth_choice choice[AUTH_ALL_MAX];  /* for sess_auth */
	char step[AUTH_ALL_MAX][32];         /* "auth_scram-sha-256" */
};

/* m NULL: IMAP LOGIN */
static void plan_add(struct auth_plan *p, const struct sasl_mech *m)
{
	if (p->n >= AUTH_ALL_MAX)
		return;
	p->choice[p->n] = (struct auth_choice){
		.mode = m ? AUTH_SASL : AUTH_LOGIN,
		.mech = m,
		.name = m ? m->option : "login",
	};
	snprintf(p->step[p->n], sizeof(p->step[0]), "auth_%s", p->choice[p->n].name);
	p->n++;
}

/* Add "NAME (WHY)" to the skipped list; a long list goes out in several
 * "mechanisms skipped:" lines (a long-output line holds 255 bytes). */
#define SKIP_LINE_MAX 200

static void skip_flush(struct sess *s, struct sbuf *sb)
{
	if (sb->len)
		report_line(s->rep, "mechanisms skipped: %s", sb->data);
	sb_reset(sb);
}

static void skip_note(struct sess *s, struct sbuf *sb, const char *name, const char *why)
{
	if (sb->len && sb->len + strlen(name) + strlen(why) + 5 > SKIP_LINE_MAX)
		skip_flush(s, sb);
	sb_printf(sb, "%s%s (%s)", sb->len ? ", " : "", name, why);
}

/* Which mechanisms to try, strongest first (a stable order); the others
 * the server advertises are listed as skipped with the reason. */
static void plan_mechanisms(struct sess *s, struct auth_plan *plan)
{
	const struct imap_caps *caps = imap_conn_caps(s->link.conn);
	char mem[512];
	struct sbuf skipped;

	sb_init(&skipped, mem, sizeof(mem));
	for (const struct sasl_mech *const *m = sasl_mechs; *m; m++) {
		if (!imap_caps_has_auth(caps, (*m)->name))
			continue;
		if (sess_mech_usable(s, *m, 0)) {
			plan_add(plan, *m);
		} else if (((*m)->flags & SASL_F_CB) && !sess_cb_get(s, NULL, NULL, NULL)) {
			char why[sizeof(s->login.cb_why) + 32];
			if (s->link.encrypted)
				snprintf(why, sizeof(why), "no channel binding: %s", s->login.cb_why);
			else
				snprintf(why, sizeof(why), "channel binding needs TLS");
			skip_note(s, &skipped, (*m)->name, why);
		} else if (s->cfg->authzid && !((*m)->flags & SASL_F_AUTHZID)) {
			skip_note(s, &skipped, (*m)->name, "cannot carry --authzid");
		} else {
			const char *why = "no credentials for it";
			if (((*m)->flags & SASL_F_PLAINTEXT) && !s->link.encrypted)
				why = (*m)->flags & SASL_F_TOKEN ? "bearer token on an unencrypted connection" :
				      "plaintext on an unencrypted connection";
			skip_note(s, &skipped, (*m)->name, why);
		}
	}
	if (s->cfg->password && s->link.encrypted && !(caps->flags & CAP_LOGINDISABLED) && !s->cfg->authzid)
		plan_add(plan, NULL);
	else if (s->cfg->password)
		skip_note(s, &skipped, "IMAP LOGIN", s->cfg->authzid ? "cannot carry --authzid" :
			  caps->flags & CAP_LOGINDISABLED ? "LOGINDISABLED" : "plaintext on an unencrypted connection");
	/* advertised but not implemented here */
	for (const char *a = caps->auth; *a; ) {
		a += strspn(a, " ");
		size_t n = strcspn(a, " ");
		if (!n)
			break;
		char name[64];
		snprintf(name, sizeof(name), "%.*s", (int)(n < 63 ? n : 63), a);
		if (!sasl_find(name))
			skip_note(s, &skipped, name, "not implemented");
		a += n;
	}
	skip_flush(s, &skipped);
}

/* Drop the connection of one round (LOGOUT first when it is usable). */
static void drop_connection(struct sess *s)
{
	sess_close(s);
	if (s->link.conn)
		imap_conn_free(s->link.conn);
	s->link.conn = NULL;
	s->link.encrypted = 0;
	s->link.greeted = 0;
	s->login.mech[0] = '\0';
}

void sess_auth_all(struct sess *s)
{
	static const struct auth_choice none = { .mode = AUTH_NONE, .name = "none" };
	struct auth_plan plan = { 0 };
	char mem[512];
	struct sbuf failed;
	int any_failed = 0;

	sb_init(&failed, mem, sizeof(mem));
	/* The first connection discovers the mechanisms and tries the first
	 * one; each further mechanism gets a fresh connection, opened only
	 * after the previous one is closed (connection limits). */
	s->login.choice = &none;
	if (sess_open(s) < 0 || sess_ensure_caps(s) < 0) {
		drop_connection(s);
		return;
	}
	plan_mechanisms(s, &plan);
	if (plan.n == 0) {
		struct step *st = sess_begin(s, "auth");
		char list[sizeof(imap_conn_caps(s->link.conn)->auth)];
		sess_fail(s, st, STATE_CRITICAL, "no mechanism to test (server offers:%s)",
			  sess_auth_offers(imap_conn_caps(s->link.conn), list, sizeof(list)));
		drop_connection(s);
		return;
	}
	for (unsigned i = 0; i < plan.n; i++) {
		if (i > 0) {
			drop_connection(s);
			/* s->failed is per connection here (the report keeps the
			 * first failure): a mechanism that failed must not make
			 * the next connection give up (do_tls() returns
			 * s->failed) */
			any_failed |= s->failed;
			s->failed = 0;
			s->login.choice = &none;
			if (sess_open(s) < 0) {
				any_failed = 1;
				break;
			}
		}
		s->login.choice = &plan.choice[i];
		s->login.step = plan.step[i];
		s->login.tried++;
		if (sess_auth(s) == 0) {
			s->login.ok++;
		} else {
			any_failed = 1;
			sb_printf(&failed, "%s%s", failed.len ? ", " : "", plan.choice[i].name);
		}
		s->login.step = NULL;
		if (s->timed_out)
			break;
	}
	drop_connection(s);
	s->login.choice = NULL;
	s->failed |= any_failed;
	if (failed.len)
		report_line(s->rep, "mechanisms that failed: %s", failed.data);
	report_info(s->rep, "mechanisms_ok", "%u", s->login.ok);
	report_info(s->rep, "mechanisms_tried", "%u", s->login.tried);
}
