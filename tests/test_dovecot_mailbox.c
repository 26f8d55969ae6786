/* test_dovecot_mailbox.c - the mailbox checks and scripts (issue 5) with
 * the real check_imap_session binary ($PROBE) against the suite's Dovecot
 * (tests/dovecot/fixture.sh via tests/run-test.sh; the seeded data is
 * described in tests/dovecot/README.md and exported as DOVECOT_*).
 *
 * Read-only cases use the shared user; every case that writes (--select,
 * --append, --delete-matched, --idle, scripts) makes a user of its own with
 * `fixture.sh adduser`, so the seeded counts stay exact for the cases that
 * run in parallel.  Most cases go over implicit TLS and the --idle one over
 * STARTTLS, so both TLS code paths of whichever backend was built are
 * exercised (check.sh builds and runs both backends). */
#define _GNU_SOURCE
#include <criterion/criterion.h>

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "runprobe.h"
#include "testutil.h"

#define HARD_TIMEOUT_S 40.0

TestSuite(dovecot_mailbox, .timeout = 120);

/* ================================================================ commands */

/* A command for USER/PASS (NULL: the shared seeded user) over implicit TLS
 * (or STARTTLS), then the extra arguments, NULL-terminated. */
static struct cmd *probe_v(const char *user, const char *pass, int starttls, va_list ap)
{
	struct cmd *c = cmd_new();
	const char *a;

	cmd_fixture_conn(c, starttls ? FIXTURE_STARTTLS : FIXTURE_IMPLICIT, NULL);
	if (user)
		cmd_addl(c, "-U", user, "-P", pass, NULL);
	else
		cmd_fixture_user(c, "DOVECOT_USER", "DOVECOT_PASS");
	while ((a = va_arg(ap, const char *)) != NULL)
		cmd_add(c, a);
	cmd_run_for(c, HARD_TIMEOUT_S);
	return c;
}

static void expect_perf_text(struct cmd *c, const char *label, const char *want)
{
	char v[128];
	cr_assert(cmd_perf_field(c, label, v, sizeof(v)), "perfdata lacks '%s'" DUMP_FMT, label, DUMP_ARGS(c));
	cr_assert_str_eq(v, want, "perfdata %s is \"%s\", wanted \"%s\"" DUMP_FMT, label, v, want, DUMP_ARGS(c));
}

/* no libm for the tests */
static long rnd(double d)
{
	return (long)(d < 0 ? d - 0.5 : d + 0.5);
}

static double absd(double d)
{
	return d < 0 ? -d : d;
}

static long env_long(const char *name)
{
	return strtol(fixture_env(name), NULL, 10);
}

/* ================================================================ fixture */

/* A user of this test's own, with the standard seeded mail. */
#define OWN_PASS "own-Pa55"
#define own_user(buf, bufsz, tag) fixture_adduser(buf, bufsz, tag, OWN_PASS)

/* Shorthands: R(...) the shared user over TLS, W(user, ...) an own user. */
#define R(...) run_probe(NULL, NULL, 0, __VA_ARGS__, (const char *)NULL)
#define W(user, ...) run_probe(user, OWN_PASS, 0, __VA_ARGS__, (const char *)NULL)
#define W_STARTTLS(user, ...) run_probe(user, OWN_PASS, 1, __VA_ARGS__, (const char *)NULL)

static struct cmd *run_probe(const char *user, const char *pass, int starttls, ...)
{
	va_list ap;
	va_start(ap, starttls);
	struct cmd *c = probe_v(user, pass, starttls, ap);
	va_end(ap);
	return c;
}

/* The number of messages and unseen ones in INBOX as the probe sees it. */
static void inbox_counts(const char *user, long *messages, long *unseen, long *matched_all)
{
	struct cmd *c = W(user, "--fetch", "none", "--search", "ALL");
	cmd_expect_state(c, 0);
	*messages = rnd(cmd_perf_value(c, "messages", NULL, 0));
	*unseen = rnd(cmd_perf_value(c, "unseen", NULL, 0));
	*matched_all = rnd(cmd_perf_value(c, "matched", NULL, 0));
	cmd_free(c);
}

/* ================================================================ reading */

Test(dovecot_mailbox, default_session_counts_and_newest_message)
{
	struct cmd *c = R("--fetch", "headers");
	cmd_expect_state(c, 0);
	cr_assert_eq(rnd(cmd_perf_value(c, "messages", NULL, 0)), env_long("DOVECOT_INBOX_MESSAGES"), DUMP_FMT, DUMP_ARGS(c));
	cr_assert_eq(rnd(cmd_perf_value(c, "unseen", NULL, 0)), env_long("DOVECOT_INBOX_UNSEEN"), DUMP_FMT, DUMP_ARGS(c));
	cmd_expect_out(c, fixture_env("DOVECOT_INBOX_NEWEST_SUBJECT"));
	cmd_expect_out(c, "fetch: OK");
	cmd_expect_out(c, "UID 5");
	/* freshness of a message of known date */
	double want = difftime(time(NULL), (time_t)env_long("DOVECOT_INBOX_NEWEST_INTERNALDATE"));
	cr_assert(absd(cmd_perf_value(c, "age", NULL, 0) - want) <= 5, "age %.0f, expected about %.0f" DUMP_FMT, cmd_perf_value(c, "age", NULL, 0), want,
		  DUMP_ARGS(c));
	cr_assert_gt(cmd_perf_value(c, "fetch_bytes", NULL, 0), 0);
	cmd_free(c);
}

Test(dovecot_mailbox, namespace_list_and_special_use)
{
	struct cmd *c = R("--namespace", "--list", "--expect-folder", "Sent", "--expect-folder",
			  fixture_env("DOVECOT_SPACE_FOLDER"), "--expect-folder", fixture_env("DOVECOT_UTF8_FOLDER"),
			  "--expect-folder", fixture_env("DOVECOT_CHILD_FOLDER"), "--expect-folder", "inbox", "--fetch",
			  "none");
	cmd_expect_state(c, 0);
	cmd_expect_out(c, "namespace: OK");
	cmd_expect_out(c, "personal \"\" (/)");
	cmd_expect_out(c, "special-use: Archive=Archive, Drafts=Drafts, Junk=Junk, Sent=Sent, Trash=Trash");
	cmd_expect_out(c, "expected folders: 5 of 5 present");
	/* INBOX, the five special-use folders, Archive/2024, the space folder,
	 * Entwürfe, Empty */
	cr_assert_eq(rnd(cmd_perf_value(c, "folders", NULL, 0)), 10, DUMP_FMT, DUMP_ARGS(c));
	cmd_free(c);
}

Test(dovecot_mailbox, missing_expected_folder_is_critical_and_named)
{
	struct cmd *c = R("--expect-folder", "Sent", "--expect-folder", "No Such Folder", "--fetch", "none");
	cmd_expect_state(c, 2);
	cmd_expect_summary(c, "folder \"No Such Folder\" missing");
	cmd_expect_out(c, "expected folders: 1 of 2 present");
	cmd_free(c);
}

Test(dovecot_mailbox, utf8_mailbox_name_as_modified_utf7)
{
	struct cmd *c = R("-m", fixture_env("DOVECOT_UTF8_FOLDER"), "-vvv");
	cmd_expect_state(c, 0);
	cmd_expect_out(c, fixture_env("DOVECOT_UTF8_FOLDER_MUTF7"));
	cr_assert_eq(rnd(cmd_perf_value(c, "messages", NULL, 0)), env_long("DOVECOT_UTF8_FOLDER_MESSAGES"), DUMP_FMT, DUMP_ARGS(c));
	cmd_expect_out(c, "Entwurf: Grüße");
	cmd_expect_summary(c, fixture_env("DOVECOT_UTF8_FOLDER"));
	cmd_free(c);
}

Test(dovecot_mailbox, mailbox_with_spaces_and_its_oldest_unseen)
{
	struct cmd *c = R("-m", fixture_env("DOVECOT_SPACE_FOLDER"), "--age-oldest-unseen", "--fetch", "none");
	cmd_expect_state(c, 0);
	cr_assert_eq(rnd(cmd_perf_value(c, "messages", NULL, 0)), env_long("DOVECOT_SPACE_FOLDER_MESSAGES"), DUMP_FMT, DUMP_ARGS(c));
	cr_assert_eq(rnd(cmd_perf_value(c, "unseen", NULL, 0)), 1, DUMP_FMT, DUMP_ARGS(c));
	/* its unseen message is dated 2024-01-03 15:00 UTC */
	double want = difftime(time(NULL), (time_t)1704294000);
	cr_assert(absd(cmd_perf_value(c, "age", NULL, 0) - want) <= 5, DUMP_FMT, DUMP_ARGS(c));
	cmd_free(c);
}

Test(dovecot_mailbox, select_when_asked)
{
	char user[64];
	struct cmd *c = W(own_user(user, sizeof(user), "select"), "--select", "-vvv");
	cmd_expect_state(c, 0);
	cmd_expect_out(c, "select: OK");
	cmd_expect_out(c, " SELECT INBOX");
	cmd_expect_no_out(c, "EXAMINE");
	cmd_free(c);
}

Test(dovecot_mailbox, examine_is_read_only_and_peeks)
{
	/* a full fetch of an unseen message with the default EXAMINE must not
	 * mark it \Seen */
	struct cmd *c = R("--search", "UNSEEN", "--fetch", "full", "-vvv");
	cmd_expect_state(c, 0);
	cmd_expect_out(c, "EXAMINE INBOX");
	cmd_expect_out(c, "BODY.PEEK[]");
	cmd_free(c);
	c = R("--fetch", "none");
	cr_assert_eq(rnd(cmd_perf_value(c, "unseen", NULL, 0)), env_long("DOVECOT_INBOX_UNSEEN"), DUMP_FMT, DUMP_ARGS(c));
	cmd_free(c);
}

Test(dovecot_mailbox, search_unseen_counts_and_fetches_the_newest_match)
{
	struct cmd *c = R("--search", "UNSEEN");
	cmd_expect_state(c, 0);
	cr_assert_eq(rnd(cmd_perf_value(c, "matched", NULL, 0)), env_long("DOVECOT_INBOX_UNSEEN"), DUMP_FMT, DUMP_ARGS(c));
	cmd_expect_out(c, "UIDs 4..5");
	cmd_expect_out(c, fixture_env("DOVECOT_INBOX_NEWEST_SUBJECT"));
	cmd_expect_summary(c, "2 matched");
	cmd_free(c);
}

Test(dovecot_mailbox, utf8_search_and_rfc2047_subject)
{
	struct cmd *c = R("--search", "SUBJECT \"Köln\"", "-vvv");
	cmd_expect_state(c, 0);
	cr_assert_eq(rnd(cmd_perf_value(c, "matched", NULL, 0)), 1, DUMP_FMT, DUMP_ARGS(c));
	cmd_expect_out(c, "CHARSET UTF-8");
	cmd_expect_out(c, fixture_env("DOVECOT_INBOX_RFC2047_SUBJECT"));
	cmd_expect_out(c, "from Carol Müller <carol@example.de>");
	cmd_free(c);
}

Test(dovecot_mailbox, multipart_message_fetched_whole)
{
	struct cmd *c = R("--search", "SUBJECT \"Quarterly\"", "--fetch", "full");
	cmd_expect_state(c, 0);
	cmd_expect_out(c, fixture_env("DOVECOT_INBOX_MULTIPART_SUBJECT"));
	cmd_expect_out(c, "multipart/mixed (2 parts)");
	cr_assert_gt(cmd_perf_value(c, "size", NULL, 0), 500, DUMP_FMT, DUMP_ARGS(c));
	cr_assert_eq(cmd_perf_value(c, "size", NULL, 0), cmd_perf_value(c, "fetch_bytes", NULL, 0), "RFC822.SIZE and the bytes fetched differ" DUMP_FMT,
		     DUMP_ARGS(c));
	cmd_free(c);
}

Test(dovecot_mailbox, count_thresholds)
{
	struct cmd *c = R("--messages-warning", "4", "--fetch", "none");
	cmd_expect_state(c, 1);
	cmd_expect_summary(c, "messages 5 outside the warning range 4");
	expect_perf_text(c, "messages", "5;4");
	cmd_free(c);
	c = R("--unseen-critical", "1", "--fetch", "none");
	cmd_expect_state(c, 2);
	cmd_expect_summary(c, "unseen 2 outside the critical range 1");
	cmd_free(c);
	c = R("--search", "UNSEEN", "--matched-warning", "2:", "--matched-critical", "1:", "--fetch", "none");
	cmd_expect_state(c, 0);
	cmd_free(c);
	c = R("--search", "SUBJECT \"no such subject\"", "--matched-critical", "1:", "--fetch", "none");
	cmd_expect_state(c, 2);
	cmd_expect_summary(c, "matched 0 outside the critical range 1:");
	cmd_free(c);
}

Test(dovecot_mailbox, freshness_of_the_newest_message)
{
	struct cmd *c = R("--age-warning", "3600", "--age-critical", "7200", "--fetch", "none");
	cmd_expect_state(c, 0);
	char v[128];
	cr_assert(cmd_perf_field(c, "age", v, sizeof(v)));
	cr_assert_not_null(strstr(v, "s;~:3600;~:7200;0"), "age perfdata \"%s\"" DUMP_FMT, v, DUMP_ARGS(c));
	cmd_expect_out(c, "fetch: OK");     /* INTERNALDATE only, but fetched */
	cmd_free(c);
}

Test(dovecot_mailbox, freshness_thresholds)
{
	struct cmd *c = R("--age-warning", "3600", "--fetch", "none");
	cmd_expect_state(c, 0);
	cmd_expect_summary(c, "newest ");
	cmd_free(c);
	c = R("--age-critical", "10", "--fetch", "none");
	cmd_expect_state(c, 2);
	cmd_expect_summary(c, "newest message (UID 5,");
	cmd_free(c);
	/* the newest message that matches is old: mail is not arriving */
	c = R("--search", "SUBJECT \"Welcome\"", "--age-warning", "86400", "--fetch", "none");
	cmd_expect_state(c, 1);
	cmd_expect_summary(c, "newest matched message (UID 1, 2024-01-01 09:00:00 UTC) is");
	cmd_free(c);
	/* nothing matches at all: no fresh mail either */
	c = R("--search", "SUBJECT \"no such subject\"", "--age-critical", "86400");
	cmd_expect_state(c, 2);
	cmd_expect_summary(c, "no matching message to measure the age of");
	cmd_free(c);
}

Test(dovecot_mailbox, oldest_unseen_message_age)
{
	struct cmd *c = R("--age-oldest-unseen", "--age-critical", "86400", "--fetch", "none");
	cmd_expect_state(c, 2);
	cmd_expect_summary(c, "oldest unseen message (UID 4, 2024-01-04 12:00:00 UTC)");
	double want = difftime(time(NULL), (time_t)env_long("DOVECOT_INBOX_OLDEST_UNSEEN_INTERNALDATE"));
	cr_assert(absd(cmd_perf_value(c, "age", NULL, 0) - want) <= 5, DUMP_FMT, DUMP_ARGS(c));
	cmd_free(c);
	/* a folder with no unseen mail has nothing stuck: age 0 */
	c = R("-m", "Sent", "--age-oldest-unseen", "--age-critical", "60");
	cmd_expect_state(c, 0);
	cr_assert_eq(cmd_perf_value(c, "age", NULL, 0), 0, DUMP_FMT, DUMP_ARGS(c));
	cmd_free(c);
}

Test(dovecot_mailbox, quota_percentages)
{
	struct cmd *c = R("--quota", "--fetch", "none");
	cmd_expect_state(c, 0);
	/* 10 messages of 1000 */
	double want = (double)env_long("DOVECOT_USER_MESSAGES") * 100.0 / 1000;
	cr_assert_float_eq(cmd_perf_value(c, "quota_messages", NULL, 0), want, 0.006, DUMP_FMT, DUMP_ARGS(c));
	cr_assert_lt(cmd_perf_value(c, "quota_storage", NULL, 0), 1.0, DUMP_FMT, DUMP_ARGS(c));
	cmd_expect_out(c, "quota: OK");
	cmd_free(c);
}

Test(dovecot_mailbox, quota_thresholds_on_a_nearly_full_user)
{
	struct cmd *c = run_probe(fixture_env("DOVECOT_QUOTA_USER"), fixture_env("DOVECOT_QUOTA_PASS"), 0,
				  "--quota-warning", "40", "--quota-critical", "90", "--fetch", "none", (const char *)NULL);
	cmd_expect_state(c, 1);
	cmd_expect_summary(c, "quota messages at 50.0% (warning threshold 40)");
	expect_perf_text(c, "quota_messages", "50.00%;40;90;0;100");
	cmd_free(c);
	c = run_probe(fixture_env("DOVECOT_QUOTA_USER"), fixture_env("DOVECOT_QUOTA_PASS"), 0, "--quota-critical",
		      "60", "--fetch", "none", (const char *)NULL);
	cmd_expect_state(c, 0);
	cmd_expect_summary(c, "quota 50.0%");
	cmd_free(c);
}

Test(dovecot_mailbox, pipeline_gives_the_same_answers)
{
	struct cmd *c = R("--pipeline", "--fetch", "full", "-vvv");
	cmd_expect_state(c, 0);
	cr_assert_eq(rnd(cmd_perf_value(c, "messages", NULL, 0)), env_long("DOVECOT_INBOX_MESSAGES"), DUMP_FMT, DUMP_ARGS(c));
	cr_assert_eq(rnd(cmd_perf_value(c, "unseen", NULL, 0)), env_long("DOVECOT_INBOX_UNSEEN"), DUMP_FMT, DUMP_ARGS(c));
	cmd_expect_out(c, fixture_env("DOVECOT_INBOX_NEWEST_SUBJECT"));
	/* STATUS, EXAMINE and UID FETCH went out before any answer came */
	char *st = strstr(c->r.out, "C: a2 STATUS"), *ex = strstr(c->r.out, "C: a3 EXAMINE"),
	     *fe = strstr(c->r.out, "C: a4 UID FETCH *"), *ans = strstr(c->r.out, "S: * STATUS");
	cr_assert(st && ex && fe && ans && st < ex && ex < fe && fe < ans, "not pipelined" DUMP_FMT, DUMP_ARGS(c));
	cmd_free(c);

	c = R("--pipeline", "--search", "UNSEEN", "--age-oldest-unseen", "--age-warning", "60", "--fetch", "none");
	cmd_expect_state(c, 1);
	cmd_expect_summary(c, "oldest unseen message (UID 4, 2024-01-04 12:00:00 UTC)");
	cr_assert_eq(rnd(cmd_perf_value(c, "matched", NULL, 0)), env_long("DOVECOT_INBOX_UNSEEN"), DUMP_FMT, DUMP_ARGS(c));
	cmd_free(c);
}

/* ================================================================ writing */

Test(dovecot_mailbox, append_leaves_the_mailbox_exactly_as_it_was)
{
	char user[64];
	long m0, u0, a0, m1, u1, a1;
	own_user(user, sizeof(user), "append");
	inbox_counts(user, &m0, &u0, &a0);

	struct cmd *c = W(user, "--append");
	cmd_expect_state(c, 0);
	cmd_expect_out(c, "append_cleanup: OK");
	cmd_expect_out(c, "append: OK");
	cmd_expect_out(c, "(APPENDUID)");
	cmd_expect_out(c, "append_fetch: OK");
	cmd_expect_out(c, "identical to what was appended");
	cmd_expect_out(c, "append_delete: OK");
	cr_assert_gt(cmd_perf_value(c, "append", NULL, 0), 0);
	cr_assert_geq(cmd_perf_value(c, "append_fetch", NULL, 0), 0);
	cr_assert_geq(cmd_perf_value(c, "append_delete", NULL, 0), 0);
	cmd_expect_summary(c, "append/fetch/delete OK");
	cmd_free(c);

	inbox_counts(user, &m1, &u1, &a1);
	cr_assert_eq(m1, m0);
	cr_assert_eq(u1, u0);
	cr_assert_eq(a1, a0);
	c = W(user, "--search", "HEADER X-Check-Imap-Session probe", "--fetch", "none");
	cr_assert_eq(rnd(cmd_perf_value(c, "matched", NULL, 0)), 0, "a probe message was left behind" DUMP_FMT, DUMP_ARGS(c));
	cmd_free(c);
}

Test(dovecot_mailbox, append_removes_probe_messages_left_by_an_interrupted_run)
{
	char user[64], path[256];
	long m0, u0, a0, m1, u1, a1;
	own_user(user, sizeof(user), "leftover");
	inbox_counts(user, &m0, &u0, &a0);
	/* what an interrupted run leaves: a marked message, old enough */
	fixture_file(path, sizeof(path), "script",
		    "plant: APPEND INBOX (\\Seen) \"01-Jan-2024 00:00:00 +0000\" \"From: <probe@x.invalid>\\r\\n"
		    "Subject: left behind\\r\\nMessage-ID: <left@x.invalid>\\r\\n"
		    "X-Check-Imap-Session: probe (--append)\\r\\n\\r\\nleft behind\\r\\n\"\n");
	struct cmd *c = W(user, "--script", path, "--fetch", "none");
	cmd_expect_state(c, 0);
	cmd_free(c);
	inbox_counts(user, &m1, &u1, &a1);
	cr_assert_eq(m1, m0 + 1);

	c = W(user, "--append");
	cmd_expect_state(c, 0);
	cmd_expect_out(c, "1 probe message left by earlier runs");
	cmd_expect_out(c, "and 1 left by earlier runs");
	cmd_free(c);
	inbox_counts(user, &m1, &u1, &a1);
	cr_assert_eq(m1, m0);
	cr_assert_eq(u1, u0);
}

Test(dovecot_mailbox, delete_matched_removes_only_the_matched_messages)
{
	char user[64];
	own_user(user, sizeof(user), "delete");
	struct cmd *c = W(user, "--search", "SUBJECT \"Quarterly\"", "--delete-matched", "--fetch", "none");
	cmd_expect_state(c, 0);
	cr_assert_eq(rnd(cmd_perf_value(c, "matched", NULL, 0)), 1, DUMP_FMT, DUMP_ARGS(c));
	cr_assert_eq(rnd(cmd_perf_value(c, "deleted", NULL, 0)), 1, DUMP_FMT, DUMP_ARGS(c));
	cmd_expect_out(c, "select: OK");
	cmd_expect_out(c, "store: OK");
	cmd_expect_out(c, "1 message expunged (UIDs 2)");
	cmd_free(c);

	long m, u, all;
	inbox_counts(user, &m, &u, &all);
	cr_assert_eq(m, env_long("DOVECOT_INBOX_MESSAGES") - 1);
	cr_assert_eq(u, env_long("DOVECOT_INBOX_UNSEEN"));
	c = W(user, "--search", "SUBJECT \"Quarterly\"", "--fetch", "none");
	cr_assert_eq(rnd(cmd_perf_value(c, "matched", NULL, 0)), 0, DUMP_FMT, DUMP_ARGS(c));
	cmd_free(c);
	c = W(user, "--search", "OR SUBJECT \"Welcome\" SUBJECT \"Newest\"", "--fetch", "none");
	cr_assert_eq(rnd(cmd_perf_value(c, "matched", NULL, 0)), 2, DUMP_FMT, DUMP_ARGS(c));
	cmd_free(c);
	/* nothing matched: nothing to delete, not an error */
	c = W(user, "--search", "SUBJECT \"Quarterly\"", "--delete-matched", "--fetch", "none");
	cmd_expect_state(c, 0);
	cr_assert_eq(rnd(cmd_perf_value(c, "deleted", NULL, 0)), 0, DUMP_FMT, DUMP_ARGS(c));
	cmd_free(c);
}

Test(dovecot_mailbox, idle_reports_push_latency_over_starttls)
{
	char user[64];
	long m0, u0, a0, m1, u1, a1;
	own_user(user, sizeof(user), "idle");
	inbox_counts(user, &m0, &u0, &a0);
	struct cmd *c = W_STARTTLS(user, "--idle", "--fetch", "none", "-t", "20");
	cmd_expect_state(c, 0);
	cmd_expect_out(c, "idle_login: OK");
	cmd_expect_out(c, "idle: OK");
	cmd_expect_out(c, "idle_append: OK");
	cmd_expect_out(c, "push: OK");
	cmd_expect_out(c, "idle_done: OK");
	cmd_expect_out(c, "idle_cleanup: OK");
	double push = cmd_perf_value(c, "push", NULL, 0);
	cr_assert(push >= 0 && push < 15, "push %.3f" DUMP_FMT, push, DUMP_ARGS(c));
	cmd_expect_summary(c, "push ");
	cmd_free(c);
	inbox_counts(user, &m1, &u1, &a1);
	cr_assert_eq(m1, m0, "the --idle probe message was left behind");
	cr_assert_eq(u1, u0);
}

Test(dovecot_mailbox, every_write_at_once)
{
	char user[64];
	own_user(user, sizeof(user), "all");
	struct cmd *c = W(user, "--search", "SUBJECT \"Welcome\"", "--delete-matched", "--append", "--idle", "--quota",
			  "--list", "--namespace", "--fetch", "full", "-t", "20");
	cmd_expect_state(c, 0);
	cr_assert_eq(rnd(cmd_perf_value(c, "deleted", NULL, 0)), 1, DUMP_FMT, DUMP_ARGS(c));
	cmd_expect_out(c, "append_delete: OK");
	cmd_expect_out(c, "push: OK");
	cmd_free(c);
	long m, u, all;
	inbox_counts(user, &m, &u, &all);
	cr_assert_eq(m, env_long("DOVECOT_INBOX_MESSAGES") - 1);
}

/* ================================================================ scripts */

/* The IMAP 101 walk-through of the reference document, as README.md shows
 * it. */
static const char walkthrough[] =
	"# The IMAP 101 walk-through as a check_imap_session script\n"
	"ns:        NAMESPACE\n"
	"mailboxes: LIST \"\" \"*\"\n"
	"inbox:     SELECT \"INBOX\"\n"
	"subjects:  FETCH 1:4 (BODY.PEEK[HEADER.FIELDS (Subject)])\n"
	"unread:    SEARCH UNSEEN\n"
	"message:   FETCH 4 RFC822\n"
	"flag:      STORE 4 +FLAGS (\\Deleted)\n"
	"purge:     EXPUNGE\n"
	"nosuch:    expect NO SELECT \"No Such Folder\"\n";

Test(dovecot_mailbox, script_reproduces_the_seed_walkthrough)
{
	char user[64], path[256];
	own_user(user, sizeof(user), "walk");
	fixture_file(path, sizeof(path), "script", walkthrough);
	struct cmd *c = W(user, "--script", path, "--fetch", "none");
	cmd_expect_state(c, 0);
	static const char *const steps[] = { "ns", "mailboxes", "inbox", "subjects", "unread",
					     "message", "flag", "purge", "nosuch" };
	for (size_t i = 0; i < sizeof(steps) / sizeof(steps[0]); i++) {
		char want[64];
		snprintf(want, sizeof(want), "%s: OK", steps[i]);
		cmd_expect_out(c, want);
		cr_assert_geq(cmd_perf_value(c, steps[i], NULL, 0), 0);
	}
	cmd_expect_out(c, "subjects: OK 0.");
	cmd_expect_out(c, "(4 untagged");
	cmd_expect_out(c, "as expected");
	cmd_expect_summary(c, "script 9 commands OK");
	cmd_free(c);

	/* message 4 (unseen) was read, flagged \Deleted and expunged */
	long m, u, all;
	inbox_counts(user, &m, &u, &all);
	cr_assert_eq(m, env_long("DOVECOT_INBOX_MESSAGES") - 1);
	cr_assert_eq(u, env_long("DOVECOT_INBOX_UNSEEN") - 1);
}

Test(dovecot_mailbox, script_with_an_unmet_expectation_names_the_line)
{
	char path[256];
	fixture_file(path, sizeof(path), "script", "# read only\nEXAMINE INBOX\nwrong: expect NO EXAMINE \"Sent\"\n");
	struct cmd *c = R("--script", path, "--fetch", "none");
	cmd_expect_state(c, 2);
	cmd_expect_summary(c, "wrong failed: EXAMINE (script line 3): OK");
	cmd_expect_summary(c, "expected NO");
	cmd_expect_out(c, "script_examine: OK");
	cmd_free(c);
}

Test(dovecot_mailbox, malformed_script_is_unknown_with_file_and_line)
{
	char path[256], want[320];
	fixture_file(path, sizeof(path), "script", "NOOP\n# fine so far\nAPPEND INBOX {12}\n");
	struct cmd *c = R("--script", path);
	cmd_expect_state(c, 3);
	snprintf(want, sizeof(want), "%s line 3: a literal", path);
	cmd_expect_summary(c, want);
	cmd_expect_no_perf(c, "auth");
	cmd_free(c);
}
