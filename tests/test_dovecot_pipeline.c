/* test_dovecot_pipeline.c - --pipeline against the suite's Dovecot (issue
 * 8): the round trips the probe counts itself (the "round_trips" info
 * value: TCP connect, TLS handshake turns, IMAP turns; see
 * transport_rt_count) and the same answers as the sequential mode, over
 * implicit TLS and STARTTLS, with and without --cache-dir.  The fake
 * server cases (a refused pipelined login, a server without
 * ESEARCH/SEARCHRES, stale and foreign cache entries) are in
 * test_fake_mailbox.c. */
#define _GNU_SOURCE
#include <criterion/criterion.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "runprobe.h"
#include "testutil.h"

TestSuite(dovecot_pipeline, .timeout = 120);

struct res {
	struct probe_run r;
	int rt;
	char line[1024];
};

/* --cache-dir for the next runs (NULL: none) */
static const char *cache_dir;

static void run(struct res *x, int starttls, int pipeline, const char *search, const char *pass)
{
	struct cmd *c = cmd_new();

	memset(x, 0, sizeof(*x));
	cmd_fixture_conn(c, starttls ? FIXTURE_STARTTLS : FIXTURE_IMPLICIT, NULL);
	cmd_addl(c, "-U", fixture_env("DOVECOT_USER"), "-P", pass ? pass : fixture_env("DOVECOT_PASS"), "--auth", "plain",
		 NULL);
	if (search)
		cmd_addl(c, "--search", search, NULL);
	if (pipeline)
		cmd_add(c, "--pipeline");
	if (cache_dir)
		cmd_addl(c, "--cache-dir", cache_dir, NULL);
	cmd_add(c, "-v");
	cmd_run_for(c, 40.0);
	x->r = c->r; /* the run is x's now */
	c->ran = 0;
	cmd_free(c);
	const char *p = strstr(x->r.out, "\nround_trips: ");
	cr_assert_not_null(p, "no round_trips in the output:\n%s", x->r.out);
	x->rt = atoi(p + 14);
	snprintf(x->line, sizeof(x->line), "%s", x->r.first_line);
}

/* The perfdata item "label=value" (up to the next ';' or blank). */
static void perf(const struct res *x, const char *label, char *out, size_t len)
{
	tu_find_value(x->r.first_line, " ", label, "=", "; ", out, len);
}

static void same_answers(const struct res *a, const struct res *b)
{
	static const char *const labels[] = { "messages", "unseen", "matched", "size", "fetch_bytes" };
	for (size_t i = 0; i < sizeof(labels) / sizeof(labels[0]); i++) {
		char va[64], vb[64];
		perf(a, labels[i], va, sizeof(va));
		perf(b, labels[i], vb, sizeof(vb));
		cr_assert_str_eq(va, vb, "%s differs: sequential \"%s\", pipelined \"%s\"\n%s\n%s", labels[i], va, vb,
				 a->r.out, b->r.out);
	}
	const char *sa = strstr(a->r.out, "\nfetch: OK"), *sb = strstr(b->r.out, "\nfetch: OK");
	cr_assert(sa && sb, "no fetch step\n%s\n%s", a->r.out, b->r.out);
	cr_assert_not_null(strstr(sb, "\"Newest message\""), "subject of the newest match\n%s", b->r.out);
	cr_assert_not_null(strstr(sa, "\"Newest message\""), "subject of the newest match\n%s", a->r.out);
}

static void check_mode(int starttls, const char *search, int seq_rt, int pl_rt)
{
	struct res a, b;
	run(&a, starttls, 0, search, NULL);
	run(&b, starttls, 1, search, NULL);
	cr_assert_eq(a.r.exit_code, 0, "sequential:\n%s", a.r.out);
	cr_assert_eq(b.r.exit_code, 0, "pipelined:\n%s", b.r.out);
	if (starttls && strstr(a.r.out, "TLSv1.2")) {
		/* a TLS 1.2 handshake takes 2; over implicit TLS the greeting
		 * travels with the server's Finished, after STARTTLS there is
		 * no greeting to hide the second one */
		seq_rt++;
		pl_rt++;
	}
	cr_assert_eq(a.rt, seq_rt, "sequential: %d round trips, expected %d\n%s", a.rt, seq_rt, a.r.out);
	cr_assert_leq(b.rt, pl_rt, "pipelined: %d round trips, expected at most %d\n%s", b.rt, pl_rt, b.r.out);
	same_answers(&a, &b);
	probe_run_free(&a.r);
	probe_run_free(&b.r);
}

/* One test, the sessions one after the other: Dovecot can answer the very
 * first STATUS of a freshly seeded mailbox with UNSEEN 0 while another
 * session is building its index at the same moment (seen once in a
 * parallel run, sequential mode), so a warm-up session goes first and
 * nothing else reads the mailbox meanwhile.
 *
 * The target session of issue 8: connect, TLS 1.3, greeting, AUTHENTICATE
 * PLAIN, EXAMINE (+STATUS), SEARCH UNSEEN, FETCH, LOGOUT.  Pipelined: the
 * login, STATUS, EXAMINE and SEARCH go in one flight; Dovecot lists
 * SEARCHRES only after login, so the FETCH of the newest match (with the
 * LOGOUT) needs one more: 5 (4 with --cache-dir, see the next test).
 * Without --search everything after the
 * greeting is one flight: 4.  STARTTLS: connect, greeting, STARTTLS, TLS,
 * CAPABILITY (the pre-TLS list is discarded), then as above (TLS 1.2, the
 * mbedTLS build: one more). */
Test(dovecot_pipeline, round_trips_and_same_answers)
{
	struct res w;
	run(&w, 0, 0, NULL, NULL);
	probe_run_free(&w.r);
	check_mode(0, "UNSEEN", 8, 5);
	check_mode(0, NULL, 7, 4);
	check_mode(1, "UNSEEN", 10, 7);
}

/* The info value "key: value" of a -v run ("" if none). */
static void info(const struct res *x, const char *key, char *out, size_t len)
{
	tu_find_value(x->r.out, "\n", key, ": ", "\n", out, len);
}

/* --cache-dir: the first pipelined run learns what Dovecot lists after
 * login (SEARCHRES, ESEARCH); the next one puts UID SEARCH RETURN (SAVE
 * MAX) + UID FETCH $ in the login flight: the target session of issue 8
 * in 4 round trips, with the same answers as the sequential mode.  Over
 * STARTTLS the flight is the same, after the CAPABILITY the discarded
 * pre-TLS list makes necessary. */
Test(dovecot_pipeline, cache_dir_makes_the_pipelined_session_four_round_trips)
{
	char dir[] = "/tmp/cis-capcache-XXXXXX", v[64];
	struct res w, a, b, c, d, e;

	cr_assert_not_null(mkdtemp(dir));
	run(&w, 0, 0, NULL, NULL);      /* warm-up, as above */
	probe_run_free(&w.r);
	run(&a, 0, 0, "UNSEEN", NULL);  /* sequential, no cache */
	cache_dir = dir;
	run(&b, 0, 1, "UNSEEN", NULL);  /* learns */
	run(&c, 0, 1, "UNSEEN", NULL);  /* uses */
	run(&d, 1, 1, "UNSEEN", NULL);  /* STARTTLS: learns */
	run(&e, 1, 1, "UNSEEN", NULL);  /* STARTTLS: uses */
	cache_dir = NULL;
	cr_assert_eq(b.r.exit_code, 0, "%s", b.r.out);
	cr_assert_eq(c.r.exit_code, 0, "%s", c.r.out);
	cr_assert_eq(e.r.exit_code, 0, "%s", e.r.out);
	info(&b, "caps_cache", v, sizeof(v));
	cr_assert_str_eq(v, "written", "first run:\n%s", b.r.out);
	cr_assert_eq(b.rt, 5, "first run (nothing remembered yet): %d round trips\n%s", b.rt, b.r.out);
	info(&c, "caps_cache", v, sizeof(v));
	cr_assert_str_eq(v, "used", "second run:\n%s", c.r.out);
	cr_assert_eq(c.rt, 4, "second run: %d round trips, expected 4\n%s", c.rt, c.r.out);
	same_answers(&a, &c);
	/* STATUS=SIZE, also listed only after login: the size too */
	char sa[64], sc[64];
	perf(&a, "mailbox_bytes", sa, sizeof(sa));
	perf(&c, "mailbox_bytes", sc, sizeof(sc));
	cr_assert(sa[0] && !strcmp(sa, sc), "mailbox_bytes: sequential \"%s\", pipelined \"%s\"\n%s", sa, sc, c.r.out);
	info(&e, "caps_cache", v, sizeof(v));
	cr_assert_str_eq(v, "used", "STARTTLS, second run:\n%s", e.r.out);
	cr_assert_eq(e.rt, d.rt - 1, "STARTTLS: %d round trips after %d\n%s", e.rt, d.rt, e.r.out);
	same_answers(&a, &e);
	probe_run_free(&a.r);
	probe_run_free(&b.r);
	probe_run_free(&c.r);
	probe_run_free(&d.r);
	probe_run_free(&e.r);
	cr_assert_eq(tu_rm_tree(dir), 0, "could not remove %s", dir);
}

Test(dovecot_pipeline, refused_pipelined_login_is_an_auth_failure)
{
	struct res x;
	run(&x, 0, 1, "UNSEEN", "wrong password");
	cr_assert_eq(x.r.exit_code, 2, "%s", x.r.out);
	cr_assert(!strncmp(x.line, "IMAP CRITICAL - auth failed (AUTHENTICATE PLAIN): NO", 52), "%s", x.r.out);
	probe_run_free(&x.r);
}
