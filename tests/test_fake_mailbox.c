/* test_fake_mailbox.c - the mailbox steps against the scripted fake server
 * (tests/fake/fakeimap.py via fakeserver.h), running the real binary
 * ($PROBE, runprobe.h): the server behaviours a real Dovecot does not show
 * on demand - no QUOTA, no UIDPLUS, no IDLE, UIDs that vanish between
 * SEARCH and FETCH, a NO on EXAMINE, IMAP4rev2 answers, a personal
 * namespace prefix, out-of-order pipelined answers, hostile UID sets - and
 * exactly what the probe sends (fake_received).
 *
 * Every scenario ends by expecting LOGOUT, so an unexpected command from
 * the probe makes the fake exit 3 ("expect did not match"); each test
 * checks that status too.  One private fake per test: safe in parallel. */
#define _GNU_SOURCE
#include <criterion/criterion.h>

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "session/capcache.h"
#include "fakeserver.h"
#include "runprobe.h"
#include "testutil.h"

#define USER "probeuser"
#define PASS "Fake-Pa55word-9z"
#define HARD_S 20.0

/* ---------------------------------------------------------------- building blocks */

#define GREET "line * OK [CAPABILITY IMAP4rev1 AUTH=PLAIN] fake ready\n"
#define LOGIN_CAPS(caps) \
	"expect LOGIN\n" \
	"line $TAG OK [CAPABILITY " caps "] Logged in\n"
/* STATUS (UNSEEN) and EXAMINE/SELECT arrive in one flight */
#define EXAMINE_INBOX(exists) \
	"expect STATUS INBOX \\(UNSEEN\\)\n" \
	"line * STATUS INBOX (UNSEEN 1)\n" \
	"line $TAG OK STATUS done\n" \
	"expect EXAMINE INBOX$\n" \
	"line * " exists " EXISTS\n" \
	"line * 0 RECENT\n" \
	"line * OK [UIDVALIDITY 1700000000] UIDs valid\n" \
	"line $TAG OK [READ-ONLY] EXAMINE done\n"
#define SELECT_INBOX(exists) \
	"expect STATUS INBOX \\(UNSEEN\\)\n" \
	"line * STATUS INBOX (UNSEEN 1)\n" \
	"line $TAG OK STATUS done\n" \
	"expect SELECT INBOX$\n" \
	"line * " exists " EXISTS\n" \
	"line * OK [UIDVALIDITY 1700000000] UIDs valid\n" \
	"line $TAG OK [READ-WRITE] SELECT done\n"
#define LOGOUT \
	"expect LOGOUT\n" \
	"line * BYE Logging out\n" \
	"line $TAG OK Logout done\n" \
	"close\n"

/* ---------------------------------------------------------------- helpers */

/* For the next run: connections the fake serves (0: 1), and a --cache-dir
 * entry to plant for its port before the probe starts (dir NULL: none). */
static struct {
	int connections;
	const char *dir, *before, *after;
} pre;

static void cache_key(char *key, size_t len, struct fake_server *fs)
{
	capcache_key(key, len, "127.0.0.1", (unsigned)fake_port(fs), "plain", USER);
}

static void run_v(struct fake_case *c, const char *scenario, va_list ap)
{
	const char *args[48];

	memset(c, 0, sizeof(*c));
	fake_case_start(c, scenario, pre.connections);
	if (pre.dir && pre.before) {
		struct capcache_entry e;
		char key[CAPCACHE_LIST_MAX], err[512];
		memset(&e, 0, sizeof(e));
		snprintf(e.before, sizeof(e.before), "%s", pre.before);
		snprintf(e.after, sizeof(e.after), "%s", pre.after);
		cache_key(key, sizeof(key), c->fs);
		cr_assert_eq(capcache_store(pre.dir, key, &e, err, sizeof(err)), 0, "%s", err);
	}
	tu_va_args(args, sizeof(args) / sizeof(args[0]), ap);
	fake_case_probe(c, NULL, HARD_S, (const char *const[]){ "-U", USER, "-P", PASS, "--auth", "login", NULL }, args);
}

static void run(struct fake_case *c, const char *scenario, ...)
{
	va_list ap;
	va_start(ap, scenario);
	run_v(c, scenario, ap);
	va_end(ap);
}



static void expect_exit(struct fake_case *c, int code, const char *first_line_has)
{
	cr_assert_eq(c->r.exit_code, code, "exit code %d, wanted %d%s", c->r.exit_code, code, c->diag);
	if (first_line_has)
		cr_assert_not_null(strstr(c->r.first_line, first_line_has), "first line lacks \"%s\"%s",
				   first_line_has, c->diag);
}

static void expect_fake_ok(struct fake_case *c)
{
	cr_assert_eq(c->fake_status, 0, "the fake server's scenario did not play to its end (exit %d)%s",
		     c->fake_status, c->diag);
}

static void out_has(struct fake_case *c, const char *s)
{
	cr_assert_not_null(strstr(c->r.out, s), "output lacks \"%s\"%s", s, c->diag);
}

static void out_lacks(struct fake_case *c, const char *s)
{
	cr_assert_null(strstr(c->r.out, s), "output has \"%s\"%s", s, c->diag);
}

static void sent(struct fake_case *c, const char *s)
{
	const char *got = (const char *)c->rec;

	cr_assert_not_null(strstr(got, s), "the probe did not send \"%s\"; it sent:\n%s", s, got);
}

static void not_sent(struct fake_case *c, const char *s)
{
	const char *got = (const char *)c->rec;

	cr_assert_null(strstr(got, s), "the probe sent \"%s\":\n%s", s, got);
}

/* ================================================================ QUOTA */

Test(fake_mailbox, no_quota_capability_is_a_clear_message_not_a_failure)
{
	struct fake_case c;
	run(&c, GREET LOGIN_CAPS("IMAP4rev1 LITERAL+") EXAMINE_INBOX("3") LOGOUT, "--quota", "--fetch", "none", NULL);
	expect_exit(&c, 0, "IMAP OK");
	expect_fake_ok(&c);
	out_has(&c, "server does not support QUOTA");
	out_lacks(&c, "quota_storage=");
	not_sent(&c, "GETQUOTAROOT");
	fake_case_done(&c);
}

Test(fake_mailbox, no_quota_capability_with_thresholds_is_critical)
{
	struct fake_case c;
	run(&c, GREET LOGIN_CAPS("IMAP4rev1 LITERAL+") EXAMINE_INBOX("3") LOGOUT, "--quota-warning", "80", "--fetch",
	    "none", NULL);
	expect_exit(&c, 2, "IMAP CRITICAL - server does not support QUOTA");
	expect_fake_ok(&c);
	not_sent(&c, "GETQUOTAROOT");
	fake_case_done(&c);
}

Test(fake_mailbox, getquotaroot_refused_is_reported)
{
	struct fake_case c;
	run(&c, GREET LOGIN_CAPS("IMAP4rev1 LITERAL+ QUOTA")
		"expect STATUS\nline $TAG OK STATUS done\n"
		"expect EXAMINE\nline * 3 EXISTS\nline $TAG OK [READ-ONLY] done\n"
		"expect GETQUOTAROOT INBOX$\nline $TAG NO Quota is switched off\n" LOGOUT,
	    "--quota", "--fetch", "none", NULL);
	expect_exit(&c, 0, "IMAP OK");
	expect_fake_ok(&c);
	out_has(&c, "quota not available: NO Quota is switched off");
	fake_case_done(&c);
}

Test(fake_mailbox, quota_percentages_and_thresholds)
{
	struct fake_case c;
	run(&c, GREET LOGIN_CAPS("IMAP4rev1 LITERAL+ QUOTA")
		"expect STATUS\nline $TAG OK STATUS done\n"
		"expect EXAMINE\nline * 3 EXISTS\nline $TAG OK [READ-ONLY] done\n"
		"expect GETQUOTAROOT INBOX$\n"
		"line * QUOTAROOT INBOX \"\" \"domain\"\n"
		"line * QUOTA \"\" (STORAGE 900 1000 MESSAGE 5 100)\n"
		"line * QUOTA \"domain\" (STORAGE 10 1000000)\n"
		"line $TAG OK done\n" LOGOUT,
	    "--quota-warning", "50", "--quota-critical", "85", "--fetch", "none", NULL);
	expect_exit(&c, 2, "quota storage at 90.0% (critical threshold 85)");
	expect_fake_ok(&c);
	out_has(&c, "quota_storage=90.00%;50;85;0;100");
	out_has(&c, "quota_messages=5.00%;50;85;0;100");
	fake_case_done(&c);
}

/* ================================================================ UIDPLUS */

Test(fake_mailbox, delete_matched_without_uidplus_is_refused_before_anything_is_touched)
{
	struct fake_case c;
	run(&c, GREET LOGIN_CAPS("IMAP4rev1 LITERAL+ IDLE") LOGOUT, "--search", "ALL", "--delete-matched", NULL);
	expect_exit(&c, 3, "--delete-matched refused: the server does not offer UIDPLUS");
	expect_fake_ok(&c);
	not_sent(&c, "SELECT");
	not_sent(&c, "STORE");
	not_sent(&c, "EXPUNGE");
	fake_case_done(&c);
}

Test(fake_mailbox, append_without_uidplus_is_refused)
{
	struct fake_case c;
	run(&c, GREET LOGIN_CAPS("IMAP4rev1 LITERAL+ IDLE") LOGOUT, "--append", NULL);
	expect_exit(&c, 3, "--append refused");
	expect_fake_ok(&c);
	not_sent(&c, "APPEND");
	fake_case_done(&c);
}

Test(fake_mailbox, delete_matched_with_uidplus_deletes_exactly_the_matched_uids)
{
	struct fake_case c;
	run(&c, GREET LOGIN_CAPS("IMAP4rev1 LITERAL+ UIDPLUS ESEARCH") SELECT_INBOX("9")
		"expect UID SEARCH RETURN \\(COUNT MIN MAX ALL\\) SUBJECT old$\n"
		"line * ESEARCH (TAG \"$TAG\") UID COUNT 3 MIN 2 MAX 9 ALL 2:3,9\n"
		"line $TAG OK done\n"
		"expect UID STORE 2:3,9 \\+FLAGS.SILENT \\(\\\\Deleted\\)$\n"
		"line $TAG OK done\n"
		"expect UID EXPUNGE 2:3,9$\n"
		"line * 7 EXPUNGE\n"
		"line * 2 EXPUNGE\n"
		"line * 2 EXPUNGE\n"
		"line $TAG OK done\n" LOGOUT,
	    "--search", "SUBJECT old", "--delete-matched", "--fetch", "none", NULL);
	expect_exit(&c, 0, "3 matched, 3 deleted");
	expect_fake_ok(&c);
	out_has(&c, "deleted=3");
	out_has(&c, "expunge: OK");
	fake_case_done(&c);
}

Test(fake_mailbox, hostile_esearch_uid_set_is_never_sent_back)
{
	struct fake_case c;
	run(&c, GREET LOGIN_CAPS("IMAP4rev1 LITERAL+ UIDPLUS ESEARCH") SELECT_INBOX("9")
		"expect UID SEARCH RETURN \\(COUNT MIN MAX ALL\\) ALL$\n"
		"line * ESEARCH (TAG \"$TAG\") UID COUNT 9 MIN 1 MAX 9 ALL 1:*\n"
		"line $TAG OK done\n" LOGOUT,
	    "--search", "ALL", "--delete-matched", "--fetch", "none", NULL);
	expect_exit(&c, 3, "malformed");
	expect_fake_ok(&c);
	not_sent(&c, "STORE");
	fake_case_done(&c);
}

/* ================================================================ IDLE */

Test(fake_mailbox, idle_without_the_capability_is_critical_and_appends_nothing)
{
	struct fake_case c;
	run(&c, GREET LOGIN_CAPS("IMAP4rev1 LITERAL+ UIDPLUS") EXAMINE_INBOX("3") LOGOUT, "--idle", "--fetch", "none",
	    NULL);
	expect_exit(&c, 2, "server does not offer IDLE");
	expect_fake_ok(&c);
	not_sent(&c, "APPEND");
	not_sent(&c, " IDLE\r\n");
	fake_case_done(&c);
}

/* ================================================================ SEARCH and FETCH */

Test(fake_mailbox, uid_vanished_between_search_and_fetch)
{
	struct fake_case c;
	run(&c, GREET LOGIN_CAPS("IMAP4rev1 LITERAL+") EXAMINE_INBOX("3")
		"expect UID SEARCH ALL$\n"
		"line * SEARCH 7 9\n"
		"line $TAG OK done\n"
		"expect UID FETCH 9 \\(UID RFC822.SIZE INTERNALDATE BODY.PEEK\\[HEADER.FIELDS\n"
		/* another client expunged UID 9 (message 3) meanwhile; someone
		 * else's flag change is no substitute for it */
		"line * 3 EXPUNGE\n"
		"line * 2 FETCH (FLAGS (\\Seen) UID 7)\n"
		"line $TAG OK done\n" LOGOUT,
	    "--search", "ALL", NULL);
	expect_exit(&c, 0, "IMAP OK");
	expect_fake_ok(&c);
	out_has(&c, "matched message UID 9 vanished before it could be fetched");
	out_has(&c, "matched=2");
	out_lacks(&c, "size=");
	fake_case_done(&c);
}

Test(fake_mailbox, vanished_uid_makes_the_age_unknown)
{
	struct fake_case c;
	run(&c, GREET LOGIN_CAPS("IMAP4rev1 LITERAL+") EXAMINE_INBOX("3")
		"expect UID SEARCH ALL$\nline * SEARCH 7 9\nline $TAG OK done\n"
		"expect UID FETCH 9 \nline * 3 EXPUNGE\nline $TAG OK done\n" LOGOUT,
	    "--search", "ALL", "--age-critical", "3600", NULL);
	expect_exit(&c, 3, "age unknown: the message vanished");
	expect_fake_ok(&c);
	fake_case_done(&c);
}

/* go-imap answers "UID FETCH *" with a bare OK: no EXPUNGE came, so the
 * newest of the 6 messages did not vanish - the server withheld it. */
Test(fake_mailbox, empty_fetch_of_the_newest_without_expunge_is_a_server_fault)
{
	struct fake_case c;
	run(&c, GREET LOGIN_CAPS("IMAP4rev1 LITERAL+") EXAMINE_INBOX("6")
		"expect UID FETCH \\* \\(UID RFC822.SIZE INTERNALDATE BODY.PEEK\n"
		"line $TAG OK Success\n" LOGOUT,
	    NULL);
	expect_exit(&c, 2, "IMAP CRITICAL - fetch failed: server returned no data for UID FETCH * although the "
			   "mailbox has 6 messages, and reported no EXPUNGE");
	expect_fake_ok(&c);
	out_lacks(&c, "vanished");
	out_lacks(&c, "expunged meanwhile");
	fake_case_done(&c);
}

/* The same with --pipeline (UID FETCH * in the EXAMINE flight). */
Test(fake_mailbox, empty_pipelined_fetch_of_the_newest_without_expunge_is_a_server_fault)
{
	struct fake_case c;
	run(&c, GREET LOGIN_CAPS("IMAP4rev1 LITERAL+")
		"expect STATUS INBOX \\(UNSEEN\\)$\nline * STATUS INBOX (UNSEEN 0)\nline $TAG OK done\n"
		"expect EXAMINE INBOX$\nline * 6 EXISTS\nline $TAG OK [READ-ONLY] done\n"
		"expect UID FETCH \\* \nline $TAG OK Success\n" LOGOUT,
	    "--pipeline", NULL);
	expect_exit(&c, 2, "fetch failed: server returned no data for UID FETCH * although the mailbox has 6 messages");
	expect_fake_ok(&c);
	fake_case_done(&c);
}

/* A real race: another client expunged the newest message between
 * EXAMINE and FETCH, and the server said so - still OK. */
Test(fake_mailbox, newest_expunged_before_the_fetch_is_ok)
{
	struct fake_case c;
	run(&c, GREET LOGIN_CAPS("IMAP4rev1 LITERAL+") EXAMINE_INBOX("6")
		"expect UID FETCH \\* \\(UID RFC822.SIZE INTERNALDATE BODY.PEEK\n"
		"line * 6 EXPUNGE\n"
		"line $TAG OK Success\n" LOGOUT,
	    NULL);
	expect_exit(&c, 0, "IMAP OK");
	expect_fake_ok(&c);
	out_has(&c, "fetch: OK");
	out_has(&c, "the newest message vanished before it could be fetched (expunged meanwhile)");
	fake_case_done(&c);
}

/* [EXPUNGEISSUED] (RFC 5530) on the answer says the same. */
Test(fake_mailbox, newest_missing_with_expungeissued_is_a_race)
{
	struct fake_case c;
	run(&c, GREET LOGIN_CAPS("IMAP4rev1 LITERAL+") EXAMINE_INBOX("6")
		"expect UID FETCH \\* \n"
		"line $TAG OK [EXPUNGEISSUED] Some messages were expunged\n" LOGOUT,
	    NULL);
	expect_exit(&c, 0, "IMAP OK");
	expect_fake_ok(&c);
	out_has(&c, "(expunged meanwhile)");
	fake_case_done(&c);
}

Test(fake_mailbox, empty_fetch_of_the_matched_uid_without_expunge_is_a_server_fault)
{
	struct fake_case c;
	run(&c, GREET LOGIN_CAPS("IMAP4rev1 LITERAL+") EXAMINE_INBOX("3")
		"expect UID SEARCH ALL$\nline * SEARCH 7 9\nline $TAG OK done\n"
		"expect UID FETCH 9 \nline $TAG OK done\n" LOGOUT,
	    "--search", "ALL", "--age-critical", "3600", NULL);
	expect_exit(&c, 2, "IMAP CRITICAL - fetch failed: server returned no data for UID FETCH 9 although UID SEARCH "
			   "matched it, and reported no EXPUNGE");
	expect_fake_ok(&c);
	out_lacks(&c, "vanished");
	out_lacks(&c, "age unknown");
	fake_case_done(&c);
}

/* --age-oldest-unseen with nothing unseen: the newest message vanishing
 * (a race) says nothing about a stuck queue - OK, not "age unknown". */
Test(fake_mailbox, oldest_unseen_with_nothing_unseen_ignores_a_vanished_newest_message)
{
	struct fake_case c;
	run(&c, GREET LOGIN_CAPS("IMAP4rev1 LITERAL+")
		"expect STATUS INBOX \\(UNSEEN\\)$\nline * STATUS INBOX (UNSEEN 0)\nline $TAG OK done\n"
		"expect EXAMINE INBOX$\nline * 6 EXISTS\nline $TAG OK [READ-ONLY] done\n"
		"expect UID FETCH \\* \nline * 6 EXPUNGE\nline $TAG OK done\n" LOGOUT,
	    "--age-oldest-unseen", "--age-critical", "3600", NULL);
	expect_exit(&c, 0, "IMAP OK");
	expect_fake_ok(&c);
	out_has(&c, "INBOX: 6 messages (0 unseen), no unseen message in ");
	out_has(&c, "(expunged meanwhile)");
	out_has(&c, " age=0s;");
	out_lacks(&c, "age unknown");
	not_sent(&c, "SEARCH");
	fake_case_done(&c);
}

/* The oldest unseen message named by [UNSEEN n] is not there and nothing
 * was expunged: a server fault, not a vanished message. */
Test(fake_mailbox, empty_fetch_of_the_oldest_unseen_without_expunge_is_a_server_fault)
{
	struct fake_case c;
	run(&c, GREET LOGIN_CAPS("IMAP4rev1 LITERAL+")
		"expect STATUS\nline * STATUS INBOX (UNSEEN 2)\nline $TAG OK done\n"
		"expect EXAMINE INBOX$\nline * 3 EXISTS\nline * OK [UNSEEN 2] first unseen\n"
		"line $TAG OK [READ-ONLY] done\n"
		"expect FETCH 2 \\(UID INTERNALDATE\\)$\nline $TAG OK done\n" LOGOUT,
	    "--fetch", "none", "--age-oldest-unseen", "--age-warning", "86400", NULL);
	expect_exit(&c, 2, "age_fetch failed: server returned no data for FETCH 2 although [UNSEEN] named it");
	expect_fake_ok(&c);
	fake_case_done(&c);
}

Test(fake_mailbox, no_on_examine_is_critical_and_stops)
{
	struct fake_case c;
	run(&c, GREET LOGIN_CAPS("IMAP4rev1 LITERAL+")
		"expect STATUS\nline $TAG NO [NONEXISTENT] Mailbox doesn't exist\n"
		"expect EXAMINE Nope$\nline $TAG NO [NONEXISTENT] Mailbox doesn't exist\n" LOGOUT,
	    "-m", "Nope", "--search", "ALL", NULL);
	expect_exit(&c, 2, "IMAP CRITICAL - examine failed (EXAMINE): NO [NONEXISTENT] Mailbox doesn't exist");
	expect_fake_ok(&c);
	not_sent(&c, "SEARCH");
	not_sent(&c, "FETCH");
	sent(&c, "LOGOUT");
	fake_case_done(&c);
}

Test(fake_mailbox, imap4rev2_esearch_and_no_recent)
{
	struct fake_case c;
	run(&c, GREET LOGIN_CAPS("IMAP4rev2 LITERAL+")
		"expect STATUS\nline * STATUS INBOX (UNSEEN 2)\nline $TAG OK done\n"
		"expect EXAMINE INBOX$\n"
		"line * 4 EXISTS\n"
		"line * OK [UIDVALIDITY 1] x\n"
		"line $TAG OK [READ-ONLY] done\n"
		"expect UID SEARCH RETURN \\(COUNT MIN MAX\\) UNSEEN$\n"
		"line * ESEARCH (TAG \"$TAG\") UID COUNT 2 MIN 3 MAX 8\n"
		"line $TAG OK done\n"
		"expect UID FETCH 8 \n"
		"send * 4 FETCH (UID 8 RFC822.SIZE 99 INTERNALDATE \"01-Jan-2024 00:00:00 +0000\" "
		"BODY[HEADER.FIELDS (SUBJECT)] \n"
		"sendliteral Subject: =?ISO-8859-1?Q?caf=E9?=\\r\\n\\r\\n\n"
		"line )\n"
		"line $TAG OK done\n" LOGOUT,
	    "--search", "UNSEEN", NULL);
	expect_exit(&c, 0, "2 matched");
	expect_fake_ok(&c);
	out_has(&c, "matched=2");
	out_has(&c, "UID 8, 99 bytes");
	out_has(&c, "\"café\"");
	out_lacks(&c, "recent=");
	fake_case_done(&c);
}

Test(fake_mailbox, esearch_all_only_gives_the_count)
{
	/* a server without ESEARCH in its capabilities that answers a plain
	 * UID SEARCH the IMAP4rev2 way anyway */
	struct fake_case c;
	run(&c, GREET LOGIN_CAPS("IMAP4rev1 LITERAL+") EXAMINE_INBOX("5")
		"expect UID SEARCH ALL$\n"
		"line * ESEARCH (TAG \"$TAG\") UID ALL 2,5:6\n"
		"line $TAG OK done\n" LOGOUT,
	    "--search", "ALL", "--fetch", "none", "--matched-warning", "2", NULL);
	expect_exit(&c, 1, "matched 3 outside the warning range 2");
	expect_fake_ok(&c);
	out_has(&c, "matched=3;2");
	fake_case_done(&c);
}

Test(fake_mailbox, eight_bit_criteria_go_as_literals_with_charset)
{
	struct fake_case c;
	run(&c, GREET LOGIN_CAPS("IMAP4rev1") EXAMINE_INBOX("3")
		"expect UID SEARCH CHARSET UTF-8 SUBJECT \\{7\\}\\r\\nGrüße$\n"
		"line * SEARCH\n"
		"line $TAG OK done\n" LOGOUT,
	    "--search", "SUBJECT \"Grüße\"", NULL);
	expect_exit(&c, 0, "0 matched");
	expect_fake_ok(&c);
	out_lacks(&c, "fetch=");
	not_sent(&c, "FETCH");
	fake_case_done(&c);
}

Test(fake_mailbox, pipelined_answers_out_of_order_are_attributed_by_uid_and_sequence)
{
	/* newest (UID FETCH *) and oldest unseen ([UNSEEN 2] -> FETCH 2) go in
	 * one flight; the server answers the second first, as Dovecot may */
	struct fake_case c;
	run(&c, GREET LOGIN_CAPS("IMAP4rev1 LITERAL+")
		"expect STATUS\nline * STATUS INBOX (UNSEEN 2)\nline $TAG OK done\n"
		"expect EXAMINE INBOX$\n"
		"line * 3 EXISTS\n"
		"line * OK [UNSEEN 2] first unseen\n"
		"line $TAG OK [READ-ONLY] done\n"
		"expect UID FETCH \\* \\(UID RFC822.SIZE INTERNALDATE BODY\n"
		"set NEWEST $TAG\n"
		"expect FETCH 2 \\(UID INTERNALDATE\\)$\n"
		"line * 2 FETCH (UID 5 INTERNALDATE \"01-Jan-2020 00:00:00 +0000\")\n"
		"line $TAG OK done\n"
		"line * 3 FETCH (UID 9 RFC822.SIZE 77 INTERNALDATE \"01-Jan-2030 00:00:00 +0000\")\n"
		"line $NEWEST OK done\n" LOGOUT,
	    "--age-oldest-unseen", "--age-warning", "86400", NULL);
	expect_exit(&c, 1, "oldest unseen message (UID 5, 2020-01-01 00:00:00 UTC) is");
	expect_fake_ok(&c);
	out_has(&c, "fetch: OK");
	out_has(&c, "UID 9, 77 bytes");
	out_has(&c, "age_fetch: OK");
	out_has(&c, "oldest unseen message UID 5 is");
	fake_case_done(&c);
}

/* ================================================================ --pipeline */

Test(fake_mailbox, pipeline_sends_the_fetch_with_the_examine)
{
	/* the fake reads all three commands before it answers any: a probe
	 * waiting for the EXAMINE reply first would run into the timeout */
	struct fake_case c;
	run(&c, GREET LOGIN_CAPS("IMAP4rev1 LITERAL+")
		"expect STATUS INBOX \\(UNSEEN\\)$\nset T1 $TAG\n"
		"expect EXAMINE INBOX$\nset T2 $TAG\n"
		"expect UID FETCH \\* \\(UID RFC822.SIZE INTERNALDATE BODY.PEEK\n"
		"line * STATUS INBOX (UNSEEN 1)\n"
		"line $T1 OK done\n"
		"line * 3 EXISTS\n"
		"line $T2 OK [READ-ONLY] done\n"
		"send * 3 FETCH (UID 30 RFC822.SIZE 50 INTERNALDATE \"01-Jan-2024 00:00:00 +0000\" "
		"BODY[HEADER.FIELDS (SUBJECT)] \n"
		"sendliteral Subject: pipelined\\r\\n\\r\\n\n"
		"line )\n"
		"line $TAG OK done\n" LOGOUT,
	    "--pipeline", "-t", "5", NULL);
	expect_exit(&c, 0, "IMAP OK");
	expect_fake_ok(&c);
	out_has(&c, "UID 30, 50 bytes");
	out_has(&c, "\"pipelined\"");
	cr_assert_lt(c.r.wall_s, 3.0);
	fake_case_done(&c);
}

Test(fake_mailbox, pipeline_with_a_failing_examine_names_the_examine)
{
	struct fake_case c;
	run(&c, GREET LOGIN_CAPS("IMAP4rev1 LITERAL+")
		"expect STATUS\nset T1 $TAG\n"
		"expect EXAMINE Nope$\nset T2 $TAG\n"
		"expect UID FETCH\n"
		"line $T1 NO no such mailbox\n"
		"line $T2 NO [NONEXISTENT] no such mailbox\n"
		"line $TAG BAD no mailbox selected\n" LOGOUT,
	    "--pipeline", "-m", "Nope", NULL);
	expect_exit(&c, 2, "examine failed (EXAMINE): NO [NONEXISTENT] no such mailbox");
	expect_fake_ok(&c);
	fake_case_done(&c);
}

Test(fake_mailbox, pipeline_with_a_server_that_hangs_up_after_a_bad_examine)
{
	struct fake_case c;
	run(&c, GREET LOGIN_CAPS("IMAP4rev1 LITERAL+")
		"expect STATUS\nset T1 $TAG\n"
		"expect EXAMINE\nset T2 $TAG\n"
		"expect UID FETCH\n"
		"line $T1 OK done\n"
		"line $T2 BAD what?\n"
		"close\n",
	    "--pipeline", NULL);
	expect_exit(&c, 2, "examine failed (EXAMINE): BAD what?");
	fake_case_done(&c);
}

Test(fake_mailbox, pipeline_sends_the_searches_with_the_examine)
{
	struct fake_case c;
	/* --pipeline sends the LOGIN with this flight, so only what the
	 * greeting lists counts: ESEARCH there */
	run(&c, "line * OK [CAPABILITY IMAP4rev1 AUTH=PLAIN ESEARCH] fake ready\n"
		LOGIN_CAPS("IMAP4rev1 LITERAL+ ESEARCH")
		"expect STATUS\nset T1 $TAG\n"
		"expect EXAMINE INBOX$\nset T2 $TAG\n"
		"expect UID SEARCH RETURN \\(COUNT MIN MAX\\) FLAGGED$\nset T3 $TAG\n"
		"expect UID SEARCH RETURN \\(MIN\\) UNSEEN$\n"
		"line * STATUS INBOX (UNSEEN 1)\nline $T1 OK done\n"
		"line * 8 EXISTS\nline $T2 OK [READ-ONLY] done\n"
		/* answered out of order: ESEARCH tags say which is which */
		"line * ESEARCH (TAG \"$TAG\") UID MIN 6\nline $TAG OK done\n"
		"line * ESEARCH (TAG \"$T3\") UID COUNT 2 MIN 3 MAX 7\nline $T3 OK done\n"
		/* --fetch none: only the oldest unseen message is fetched */
		"expect UID FETCH 6 \\(UID INTERNALDATE\\)$\n"
		"line * 6 FETCH (UID 7 INTERNALDATE \"01-Jan-2030 00:00:00 +0000\")\n"
		"line * 5 FETCH (UID 6 INTERNALDATE \"01-Jan-2020 00:00:00 +0000\")\nline $TAG OK done\n" LOGOUT,
	    "--pipeline", "--search", "FLAGGED", "--fetch", "none", "--age-oldest-unseen", "--age-critical", "60",
	    "-t", "5", NULL);
	expect_exit(&c, 2, "oldest unseen message (UID 6, 2020-01-01 00:00:00 UTC) is");
	expect_fake_ok(&c);
	out_has(&c, "matched=2");
	out_has(&c, "search: OK");
	out_has(&c, "age_search: OK");
	fake_case_done(&c);
}

Test(fake_mailbox, pipeline_with_every_read_option_in_one_flight)
{
	struct fake_case c;
	run(&c, GREET LOGIN_CAPS("IMAP4rev1 LITERAL+ ESEARCH NAMESPACE QUOTA")
		"expect NAMESPACE$\nset T1 $TAG\n"
		"expect LIST\nset T2 $TAG\n"
		"expect STATUS\nset T3 $TAG\n"
		"expect EXAMINE\nset T4 $TAG\n"
		"expect GETQUOTAROOT\nset T5 $TAG\n"
		"expect UID SEARCH RETURN \\(COUNT MIN MAX\\) ALL$\nset T6 $TAG\n"
		"expect UID SEARCH RETURN \\(MIN\\) UNSEEN$\n"
		"line * NAMESPACE ((\"\" \"/\")) NIL NIL\nline $T1 OK done\n"
		"line * LIST () \"/\" INBOX\nline $T2 OK done\n"
		"line * STATUS INBOX (UNSEEN 0)\nline $T3 OK done\n"
		"line * 2 EXISTS\nline $T4 OK [READ-ONLY] done\n"
		"line * QUOTAROOT INBOX \"\"\nline * QUOTA \"\" (STORAGE 1 4)\nline $T5 OK done\n"
		"line * ESEARCH (TAG \"$T6\") UID COUNT 2 MIN 1 MAX 2\nline $T6 OK done\n"
		"line * ESEARCH (TAG \"$TAG\") UID\nline $TAG OK done\n"
		"expect UID FETCH 2 \\(UID RFC822.SIZE INTERNALDATE BODY.PEEK\n"
		"line * 2 FETCH (UID 2 RFC822.SIZE 9 INTERNALDATE \"01-Jan-2024 00:00:00 +0000\")\nline $TAG OK done\n"
		LOGOUT,
	    "--pipeline", "--namespace", "--list", "--quota", "--search", "ALL", "--age-oldest-unseen", "-t", "5", NULL);
	expect_exit(&c, 0, "2 matched");
	expect_fake_ok(&c);
	out_has(&c, "quota_storage=25.00%");
	out_has(&c, "age=0s");
	out_has(&c, "age_search: OK");
	fake_case_done(&c);
}

/* ================================================================ NAMESPACE and LIST */

Test(fake_mailbox, personal_namespace_prefix_and_expected_folders)
{
	struct fake_case c;
	run(&c, GREET LOGIN_CAPS("IMAP4rev1 LITERAL+ NAMESPACE")
		"expect NAMESPACE$\n"
		"line * NAMESPACE ((\"INBOX.\" \".\")) ((\"#users.\" \".\")) NIL\n"
		"line $TAG OK done\n"
		"expect LIST \"\" \"\\*\"$\n"
		"line * LIST (\\HasChildren) \".\" INBOX\n"
		"line * LIST (\\HasNoChildren \\Drafts) \".\" INBOX.Drafts\n"
		"line * LIST (\\HasNoChildren \\Sent) \".\" INBOX.Sent\n"
		"line * LIST (\\NonExistent) \".\" INBOX.Gone\n"
		"line $TAG OK done\n"
		"expect STATUS INBOX.Sent \\(UNSEEN\\)$\nline $TAG OK done\n"
		"expect EXAMINE INBOX.Sent$\nline * 0 EXISTS\nline $TAG OK [READ-ONLY] done\n" LOGOUT,
	    "--namespace", "-m", "Sent", "--expect-folder", "Drafts", "--expect-folder", "#users.bob",
	    "--expect-folder", "Gone", NULL);
	expect_exit(&c, 2, "folder \"#users.bob\" missing, folder \"INBOX.Gone\" missing");
	expect_fake_ok(&c);
	out_has(&c, "personal \"INBOX.\" (.), other users \"#users.\" (.), shared none");
	out_has(&c, "special-use: Drafts=INBOX.Drafts, Sent=INBOX.Sent");
	out_has(&c, "expected folders: 1 of 3 present");
	out_has(&c, "folders=3");
	out_has(&c, "INBOX.Sent: 0 messages");
	fake_case_done(&c);
}

Test(fake_mailbox, list_asks_for_special_use_where_offered)
{
	struct fake_case c;
	run(&c, GREET LOGIN_CAPS("IMAP4rev1 LITERAL+ LIST-EXTENDED SPECIAL-USE")
		"expect LIST \"\" \"\\*\" RETURN \\(SPECIAL-USE\\)$\n"
		"line * LIST (\\Trash) \"/\" \"Deleted Items\"\n"
		"line * LIST () \"/\" Entw&APw-rfe\n"
		"line $TAG OK done\n" EXAMINE_INBOX("0") LOGOUT,
	    "--list", "--expect-folder", "Entwürfe", NULL);
	expect_exit(&c, 0, "IMAP OK");
	expect_fake_ok(&c);
	out_has(&c, "Trash=Deleted Items");
	out_has(&c, "expected folders: 1 of 1 present");
	out_lacks(&c, "fetch=");
	not_sent(&c, "FETCH");
	fake_case_done(&c);
}

Test(fake_mailbox, utf8_mailbox_name_goes_as_modified_utf7_and_quotes_survive)
{
	struct fake_case c;
	run(&c, GREET LOGIN_CAPS("IMAP4rev1 LITERAL+")
		"expect STATUS \"Entw&APw-rfe \\\\\"x\\\\\"\" \\(UNSEEN\\)$\nline $TAG OK done\n"
		"expect EXAMINE \"Entw&APw-rfe \\\\\"x\\\\\"\"$\nline * 0 EXISTS\nline $TAG OK [READ-ONLY] done\n" LOGOUT,
	    "-m", "Entwürfe \"x\"", NULL);
	expect_exit(&c, 0, "Entwürfe \"x\": 0 messages");
	expect_fake_ok(&c);
	fake_case_done(&c);
}

/* ================================================================ --append */

/* SELECT of EXISTS messages, the search for probe messages earlier runs
 * left (LEFTOVERS: their UIDs after a blank, or "" for none), then the
 * APPEND; the scenario goes on with the APPEND's answer. */
#define APPEND_START_IN(exists, leftovers) \
	GREET LOGIN_CAPS("IMAP4rev1 LITERAL+ UIDPLUS") SELECT_INBOX(exists) \
	"expect UID SEARCH HEADER X-Check-Imap-Session probe BEFORE \\d+-\\w+-\\d{4}$\n" \
	"line * SEARCH" leftovers "\n" \
	"line $TAG OK SEARCH done.\n" \
	"expect APPEND INBOX \\(\\\\Seen\\) \\{\\d+\\+\\}\\r\\n.*X-Check-Imap-Session: probe.*\\r\\n$\n"
#define APPEND_START(leftovers) APPEND_START_IN("5", leftovers)
/* The same with WITHIN (the leftover search is OLDER 600, none found) and
 * 3 messages. */
#define APPEND_START_WITHIN \
	GREET LOGIN_CAPS("IMAP4rev1 LITERAL+ UIDPLUS WITHIN") SELECT_INBOX("3") \
	"expect UID SEARCH HEADER X-Check-Imap-Session probe OLDER 600$\n" \
	"line * SEARCH\n" \
	"line $TAG OK done\n" \
	"expect APPEND INBOX\n"

Test(fake_mailbox, append_without_appenduid_finds_by_message_id_and_leaves_a_mismatch_alone)
{
	struct fake_case c;
	run(&c, APPEND_START_IN("3", " 4")
		"line * 5 EXISTS\n"
		"line $TAG OK APPEND done\n"
		"expect UID SEARCH HEADER Message-ID \"<cis\\.\\d+\\.\\d+\\.[0-9a-f]{16}@check-imap-session\\.invalid>\"$\n"
		"line * SEARCH 12\n"
		"line $TAG OK done\n"
		"expect UID FETCH 12 \\(UID RFC822.SIZE BODY.PEEK\\[\\]\\)$\n"
		"send * 5 FETCH (UID 12 RFC822.SIZE 40 BODY[] \n"
		"sendliteral Message-ID: <someone-else@x>\\r\\n\\r\\nhi\\r\\n\n"
		"line )\n"
		"line $TAG OK done\n" LOGOUT,
	    "--append", "--fetch", "none", NULL);
	expect_exit(&c, 2, "append_fetch failed: UID 12 is not the appended message (Message-ID <someone-else@x>)");
	expect_fake_ok(&c);
	out_has(&c, "append_cleanup: OK");
	out_has(&c, "1 probe message left by earlier runs");
	out_has(&c, "append_find: OK");
	out_lacks(&c, "append_delete: OK");
	not_sent(&c, "STORE");
	fake_case_done(&c);
}

/* An APPENDUID whose UID is no nz-number (past 2^64 here, which sscanf
 * would have clamped): not trusted, the message is looked up instead. */
Test(fake_mailbox, append_with_an_impossible_appenduid_finds_by_message_id)
{
	struct fake_case c;
	run(&c, APPEND_START_IN("3", " 4")
		"line * 5 EXISTS\n"
		"line $TAG OK [APPENDUID 1 18446744073709551617] APPEND done\n"
		"expect UID SEARCH HEADER Message-ID \"<cis\\.\\d+\\.\\d+\\.[0-9a-f]{16}@check-imap-session\\.invalid>\"$\n"
		"line * SEARCH 12\n"
		"line $TAG OK done\n"
		"expect UID FETCH 12 \\(UID RFC822.SIZE BODY.PEEK\\[\\]\\)$\n"
		"send * 5 FETCH (UID 12 RFC822.SIZE 40 BODY[] \n"
		"sendliteral Message-ID: <someone-else@x>\\r\\n\\r\\nhi\\r\\n\n"
		"line )\n"
		"line $TAG OK done\n" LOGOUT,
	    "--append", "--fetch", "none", NULL);
	expect_exit(&c, 2, "append_fetch failed: UID 12 is not the appended message (Message-ID <someone-else@x>)");
	expect_fake_ok(&c);
	out_has(&c, "append_cleanup: OK");
	out_has(&c, "1 probe message left by earlier runs");
	out_has(&c, "append_find: OK");
	out_lacks(&c, "append_delete: OK");
	not_sent(&c, "STORE");
	fake_case_done(&c);
}

Test(fake_mailbox, append_refused_by_quota_is_critical_with_the_servers_words)
{
	struct fake_case c;
	run(&c, APPEND_START_WITHIN
		"line $TAG NO [OVERQUOTA] Quota exceeded (mailbox for user is full)\n" LOGOUT,
	    "--append", "--fetch", "none", NULL);
	expect_exit(&c, 2, "append failed (APPEND): NO [OVERQUOTA] Quota exceeded");
	expect_fake_ok(&c);
	not_sent(&c, "STORE");
	fake_case_done(&c);
}

/* ---------------------------------------------------------------- --append against an echoing fake */

/* A scenario cannot know the probe message (its Message-ID is random), so
 * for a --append that fetches it back intact the fake must return what it
 * was given.  This wrapper runs fakeimap.py unchanged (the script the
 * harness would run, $CIS_ECHO_FAKEIMAP), with one addition: after a
 * client command carrying a literal, $LITERAL holds the literal's bytes,
 * so "sendliteral $LITERAL" echoes the APPENDed message. */
static const char echo_wrapper[] =
	"import importlib.util, os, re, sys\n"
	"sys.dont_write_bytecode = True\n"
	"spec = importlib.util.spec_from_file_location('fakeimap', os.environ['CIS_ECHO_FAKEIMAP'])\n"
	"fake = importlib.util.module_from_spec(spec)\n"
	"spec.loader.exec_module(fake)\n"
	"play = fake.play\n"
	"def echo_play(conn, block, variables):\n"
	"    read = conn.read_command\n"
	"    def read_command(autocontinue):\n"
	"        got = read(autocontinue)\n"
	"        m = re.search(rb'\\{(\\d+)\\+?\\}\\r?\\n', got)\n"
	"        if m:\n"
	"            variables['LITERAL'] = got[m.end():m.end() + int(m.group(1))]\n"
	"        return got\n"
	"    conn.read_command = read_command\n"
	"    return play(conn, block, variables)\n"
	"fake.play = echo_play\n"
	"sys.exit(fake.main(sys.argv[1:]))\n";

/* run() with the echoing fake. */
static void run_echo(struct fake_case *c, const char *scenario, ...)
{
	char real[4096];
	const char *env = getenv("FAKEIMAP"), *top = getenv("TOP_SRCDIR");
	char *wrapper = tu_temp_file(NULL, "echofake", echo_wrapper, strlen(echo_wrapper));
	va_list ap;

	/* the script fakeserver.c would run */
	if (env && *env)
		snprintf(real, sizeof(real), "%s", env);
	else
		snprintf(real, sizeof(real), "%s/tests/fake/fakeimap.py", top && *top ? top : TOP_SRCDIR);
	setenv("CIS_ECHO_FAKEIMAP", real, 1);
	setenv("FAKEIMAP", wrapper, 1);
	va_start(ap, scenario);
	run_v(c, scenario, ap);
	va_end(ap);
	if (env)
		setenv("FAKEIMAP", env, 1);
	else
		unsetenv("FAKEIMAP");
	unlink(wrapper);
	free(wrapper);
}

/* The probe message comes back as message SEQ, UID 7, byte for byte. */
#define ECHO_FETCH_7(seq) \
	"send * " seq " FETCH (UID 7 RFC822.SIZE 600 BODY[] \n" \
	"sendliteral $LITERAL\n" \
	"line )\n" \
	"line $TAG OK FETCH completed.\n"

/* Courier-IMAP 5 announces the appended message only with its answer to
 * the next command: UID FETCH of it returned nothing and UID EXPUNGE
 * removed nothing.  The probe sends NOOP first (RFC 3501 6.3.11), in the
 * same flight as the UID FETCH: the fake answers the NOOP only once the
 * UID FETCH has arrived, so a probe waiting in between would time out. */
Test(fake_mailbox, append_unannounced_by_exists_sends_noop_with_the_fetch)
{
	struct fake_case c;
	run_echo(&c, APPEND_START("")
		"line $TAG OK [APPENDUID 1700000000 7] APPEND Ok.\n"
		"expect NOOP$\nset NOOPTAG $TAG\n"
		"expect UID FETCH 7 \\(UID RFC822.SIZE BODY.PEEK\\[\\]\\)$\n"
		"line * 6 EXISTS\n"
		"line * 0 RECENT\n"
		"line $NOOPTAG OK NOOP completed\n"
		ECHO_FETCH_7("6")
		"expect UID STORE 7 \\+FLAGS.SILENT \\(\\\\Deleted\\)$\nline $TAG OK STORE completed.\n"
		"expect UID EXPUNGE 7$\nline * 6 EXPUNGE\nline $TAG OK EXPUNGE completed\n" LOGOUT,
	    "--append", "--fetch", "none", "-t", "5", NULL);
	expect_exit(&c, 0, "IMAP OK");
	expect_fake_ok(&c);
	out_has(&c, "append/fetch/delete OK");
	out_has(&c, "append_fetch: OK");
	out_has(&c, "identical to what was appended (after NOOP: the server had not announced the appended message)");
	out_has(&c, "append_delete: OK");
	out_has(&c, "probe message UID 7 removed");
	cr_assert_lt(c.r.wall_s, 3.0);
	fake_case_done(&c);
}

/* The same server if even NOOP does not announce it: the fetch fails and
 * says why, and the probe message is not claimed removed. */
Test(fake_mailbox, append_never_announced_fails_the_fetch_and_the_delete)
{
	struct fake_case c;
	run(&c, APPEND_START("")
		"line $TAG OK [APPENDUID 1700000000 7] APPEND Ok.\n"
		"expect NOOP$\nline $TAG OK NOOP completed\n"
		"expect UID FETCH 7 \\(UID RFC822.SIZE BODY.PEEK\\[\\]\\)$\nline $TAG OK FETCH completed.\n"
		"expect UID STORE 7 \\+FLAGS.SILENT \\(\\\\Deleted\\)$\nline $TAG OK STORE completed.\n"
		"expect UID EXPUNGE 7$\nline $TAG OK EXPUNGE completed\n" LOGOUT,
	    "--append", "--fetch", "none", NULL);
	expect_exit(&c, 2, "append_fetch failed: UID FETCH 7 returned no message (the server did not announce the "
			   "appended message, not even after NOOP)");
	expect_fake_ok(&c);
	out_has(&c, "append_delete: FAILED");
	out_has(&c, "probe message UID 7 was not expunged (the server reported no EXPUNGE): it stays in INBOX, "
		    "flagged \\Deleted");
	out_lacks(&c, "removed");
	fake_case_done(&c);
}

/* EXISTS with the APPEND's answer (Dovecot): no NOOP, and a server that
 * then answers UID EXPUNGE with a bare OK has not removed the probe
 * message - CRITICAL, or probe messages pile up, one per run. */
Test(fake_mailbox, append_delete_without_expunge_is_critical)
{
	struct fake_case c;
	run_echo(&c, APPEND_START("")
		"line * 6 EXISTS\n"
		"line $TAG OK [APPENDUID 1700000000 7] APPEND done\n"
		"expect UID FETCH 7 \\(UID RFC822.SIZE BODY.PEEK\\[\\]\\)$\n"
		ECHO_FETCH_7("6")
		"expect UID STORE 7 \\+FLAGS.SILENT \\(\\\\Deleted\\)$\nline $TAG OK STORE completed.\n"
		"expect UID EXPUNGE 7$\nline $TAG OK EXPUNGE completed\n" LOGOUT,
	    "--append", "--fetch", "none", NULL);
	expect_exit(&c, 2, "IMAP CRITICAL - append_delete failed: probe message UID 7 was not expunged (the server "
			   "reported no EXPUNGE): it stays in INBOX, flagged \\Deleted");
	expect_fake_ok(&c);
	out_has(&c, "append_fetch: OK");
	out_lacks(&c, "removed");
	out_lacks(&c, "append/fetch/delete OK");
	not_sent(&c, "NOOP");
	fake_case_done(&c);
}

/* The probe message is message 6; the leftover UID 4 (message 4) goes,
 * the probe message does not: its own EXPUNGE is missing. */
Test(fake_mailbox, append_delete_expunging_only_the_leftover_is_critical)
{
	struct fake_case c;
	run_echo(&c, APPEND_START(" 4")
		"line * 6 EXISTS\n"
		"line $TAG OK [APPENDUID 1700000000 7] APPEND done\n"
		"expect UID FETCH 7 \\(UID RFC822.SIZE BODY.PEEK\\[\\]\\)$\n"
		ECHO_FETCH_7("6")
		"expect UID STORE 7,4 \\+FLAGS.SILENT \\(\\\\Deleted\\)$\nline $TAG OK STORE completed.\n"
		"expect UID EXPUNGE 7,4$\nline * 4 EXPUNGE\nline $TAG OK EXPUNGE completed\n" LOGOUT,
	    "--append", "--fetch", "none", NULL);
	expect_exit(&c, 2, "append_delete failed: probe message UID 7 was not expunged (the server reported 1 "
			   "EXPUNGE, none for it)");
	expect_fake_ok(&c);
	fake_case_done(&c);
}

/* Both go; the leftover's EXPUNGE renumbers the probe message from 6 to 5. */
Test(fake_mailbox, append_delete_follows_the_renumbering)
{
	struct fake_case c;
	run_echo(&c, APPEND_START(" 4")
		"line * 6 EXISTS\n"
		"line $TAG OK [APPENDUID 1700000000 7] APPEND done\n"
		"expect UID FETCH 7 \\(UID RFC822.SIZE BODY.PEEK\\[\\]\\)$\n"
		ECHO_FETCH_7("6")
		"expect UID STORE 7,4 \\+FLAGS.SILENT \\(\\\\Deleted\\)$\nline $TAG OK STORE completed.\n"
		"expect UID EXPUNGE 7,4$\nline * 4 EXPUNGE\nline * 5 EXPUNGE\nline $TAG OK EXPUNGE completed\n" LOGOUT,
	    "--append", "--fetch", "none", NULL);
	expect_exit(&c, 0, "append/fetch/delete OK");
	expect_fake_ok(&c);
	out_has(&c, "probe message UID 7 removed, and 1 left by earlier runs (2 expunged)");
	not_sent(&c, "NOOP");
	fake_case_done(&c);
}

/* VANISHED (QRESYNC) names the UID: removed. */
Test(fake_mailbox, append_delete_accepts_vanished)
{
	struct fake_case c;
	run_echo(&c, APPEND_START("")
		"line * 6 EXISTS\n"
		"line $TAG OK [APPENDUID 1700000000 7] APPEND done\n"
		"expect UID FETCH 7 \\(UID RFC822.SIZE BODY.PEEK\\[\\]\\)$\n"
		ECHO_FETCH_7("6")
		"expect UID STORE 7 \\+FLAGS.SILENT \\(\\\\Deleted\\)$\nline $TAG OK STORE completed.\n"
		"expect UID EXPUNGE 7$\nline * VANISHED 7\nline $TAG OK EXPUNGE completed\n" LOGOUT,
	    "--append", "--fetch", "none", NULL);
	expect_exit(&c, 0, "append/fetch/delete OK");
	expect_fake_ok(&c);
	out_has(&c, "probe message UID 7 removed");
	fake_case_done(&c);
}

/* ================================================================ --script */

Test(fake_mailbox, script_literals_expectations_and_line_numbers)
{
	const char *text = "# test script\n"
			   "ping: NOOP\n"
			   "drafts: APPEND m\"Entwürfe\" (\\Draft) \"Subject: hi\\r\\n\\r\\nA9 LOGOUT\\r\\n\"\n"
			   "gone: expect NO SELECT \"No Such\"\n"
			   "oops: expect NO SELECT INBOX\n";
	char *path = tu_temp_file(NULL, "script", text, strlen(text));

	struct fake_case c;
	run(&c, GREET LOGIN_CAPS("IMAP4rev1") EXAMINE_INBOX("1")
		"expect NOOP$\nline $TAG OK done\n"
		/* no LITERAL+: a synchronizing literal, the fake sends "+" */
		"expect APPEND \"Entw&APw-rfe\" \\(\\\\Draft\\) \\{26\\}\\r\\nSubject: hi\\r\\n\\r\\nA9 LOGOUT\\r\\n$\n"
		"line $TAG OK [APPENDUID 1 7] done\n"
		"expect SELECT \"No Such\"$\nline $TAG NO [NONEXISTENT] no such mailbox\n"
		"expect SELECT INBOX$\nline * 1 EXISTS\nline $TAG OK [READ-WRITE] done\n" LOGOUT,
	    "--fetch", "none", "--script", path, NULL);
	unlink(path);
	free(path);
	expect_exit(&c, 2, "oops failed: SELECT (script line 5): OK [READ-WRITE] done, expected NO");
	expect_fake_ok(&c);
	out_has(&c, "ping: OK");
	out_has(&c, "drafts: OK");
	out_has(&c, "gone: OK");
	out_has(&c, "as expected");
	/* the CRLF inside the string never became a command of its own: the
	 * fake saw it inside the APPEND literal and then the next command */
	sent(&c, "{26}\r\nSubject: hi\r\n\r\nA9 LOGOUT\r\n\r\n");
	fake_case_done(&c);
}

Test(fake_mailbox, malformed_script_is_unknown_before_connecting)
{
	const char *text = "NOOP\n\nSELECT \"unterminated\n";
	char *path = tu_temp_file(NULL, "script", text, strlen(text));

	struct fake_case c;
	run(&c, "stall\n", "--script", path, NULL);
	unlink(path);
	free(path);
	expect_exit(&c, 3, " line 3: unterminated quoted string");
	cr_assert_eq(c.rec[0], '\0', "nothing may be sent for a malformed script");
	fake_case_done(&c);
}

Test(fake_mailbox, missing_script_file_is_unknown)
{
	struct fake_case c;
	run(&c, "stall\n", "--script", "/nonexistent/cis.script", NULL);
	expect_exit(&c, 3, "cannot read script /nonexistent/cis.script");
	fake_case_done(&c);
}

Test(fake_mailbox, delete_matched_needs_search)
{
	struct fake_case c;
	run(&c, "stall\n", "--delete-matched", NULL);
	expect_exit(&c, 3, "--delete-matched needs --search");
	cr_assert_eq(c.rec[0], '\0');
	fake_case_done(&c);
}

Test(fake_mailbox, mailbox_options_without_a_login_are_refused)
{
	struct fake_case c;
	run(&c, "stall\n", "--quota", "--auth", "none", NULL);
	expect_exit(&c, 3, "--quota needs a mailbox, and --auth none opens none");
	cr_assert_eq(c.rec[0], '\0');
	fake_case_done(&c);
}

Test(fake_mailbox, unexpected_continuation_is_a_protocol_error_not_a_hang)
{
	struct fake_case c;
	run(&c, GREET LOGIN_CAPS("IMAP4rev1 LITERAL+") EXAMINE_INBOX("3")
		"expect UID SEARCH\n"
		"line + go on\n"
		"stall\n",
	    "--search", "ALL", "-t", "8", NULL);
	expect_exit(&c, 2, "unexpected continuation request");
	cr_assert_lt(c.r.wall_s, 4.0, "the probe waited for the deadline");
	fake_case_done(&c);
}

/* --pipeline sends the login with the first flight: a refused login is
 * "auth failed", not the EXAMINE that the server then also refuses. */
Test(fake_mailbox, pipeline_refused_login_in_the_flight_is_an_auth_failure)
{
	struct fake_case c;
	run(&c, GREET
		"expect LOGIN\nset T0 $TAG\n"
		"expect STATUS INBOX \\(UNSEEN\\)$\nset T1 $TAG\n"
		"expect EXAMINE INBOX$\nset T2 $TAG\n"
		"expect UID SEARCH UNSEEN$\nset T3 $TAG\n"
		"line $T0 NO [AUTHENTICATIONFAILED] Authentication failed.\n"
		"line $T1 BAD Please log in first\n"
		"line $T2 BAD Please log in first\n"
		"line $T3 BAD Please log in first\n" LOGOUT,
	    "--pipeline", "--search", "UNSEEN", "-t", "5", NULL);
	expect_exit(&c, 2, "auth failed (LOGIN): NO [AUTHENTICATIONFAILED] Authentication failed.");
	out_lacks(&c, "examine failed");
	cr_assert_lt(c.r.wall_s, 3.0);
	fake_case_done(&c);
}

/* A server without ESEARCH/SEARCHRES: plain UID SEARCH in the login
 * flight, the FETCH of the newest match and the LOGOUT in the next one. */
Test(fake_mailbox, pipeline_without_esearch_or_searchres)
{
	struct fake_case c;
	run(&c, GREET
		"expect LOGIN\nset T0 $TAG\n"
		"expect STATUS INBOX \\(UNSEEN\\)$\nset T1 $TAG\n"
		"expect EXAMINE INBOX$\nset T2 $TAG\n"
		"expect UID SEARCH UNSEEN$\nset T3 $TAG\n"
		"line $T0 OK [CAPABILITY IMAP4rev1] Logged in\n"
		"line * STATUS INBOX (UNSEEN 2)\n"
		"line $T1 OK done\n"
		"line * 3 EXISTS\n"
		"line $T2 OK [READ-ONLY] done\n"
		"line * SEARCH 7 9\n"
		"line $T3 OK done\n"
		"expect UID FETCH 9 \\(UID INTERNALDATE\\)$\n"
		"line * 3 FETCH (UID 9 INTERNALDATE \"01-Jan-2024 00:00:00 +0000\")\n"
		"line $TAG OK done\n" LOGOUT,
	    "--pipeline", "--search", "UNSEEN", "--fetch", "none", "--age-warning", "1000000000", "-t", "5", NULL);
	expect_exit(&c, 0, "IMAP OK");
	expect_fake_ok(&c);
	out_has(&c, "2 matched (UIDs 7..9)");
	fake_case_done(&c);
}

/* ================================================================ --cache-dir */

/* What the server listed after login, as the cache dir now remembers it
 * for this fake ("" when there is no entry). */
static void cached_after(struct fake_case *c, const char *dir, char *out, size_t len)
{
	struct capcache_entry e;
	char key[CAPCACHE_LIST_MAX], err[512];
	cache_key(key, sizeof(key), c->fs);
	out[0] = '\0';
	if (capcache_load(dir, key, &e, err, sizeof(err)) > 0)
		snprintf(out, len, "%s", e.after);
}

/* A fresh cache dir with an entry to plant for the next run's fake. */
static char *cache_dir_new(const char *before, const char *after, int connections)
{
	char *d = strdup("/tmp/cis-capcache-XXXXXX");
	cr_assert(d && mkdtemp(d));
	pre.dir = d;
	pre.before = before;
	pre.after = after;
	pre.connections = connections;
	return d;
}

static void cache_dir_free(char *d)
{
	cr_assert_eq(tu_rm_tree(d), 0, "could not remove %s", d);
	free(d);
	memset(&pre, 0, sizeof(pre));
}

/* The flight of a pipelined LOGIN + --search UNSEEN, read whole before
 * any answer; T0 LOGIN, T1 STATUS, T2 EXAMINE, T3 the search. */
#define FLIGHT_HEAD(search_re) \
	"expect LOGIN\nset T0 $TAG\n" \
	"expect STATUS INBOX \\(UNSEEN\\)$\nset T1 $TAG\n" \
	"expect EXAMINE INBOX$\nset T2 $TAG\n" \
	"expect UID SEARCH " search_re "\nset T3 $TAG\n"
#define FETCH_70 \
	"send * 7 FETCH (UID 70 RFC822.SIZE 50 INTERNALDATE \"01-Jan-2024 00:00:00 +0000\" " \
	"BODY[HEADER.FIELDS (SUBJECT)] \n" \
	"sendliteral Subject: newest match\\r\\n\\r\\n\n" \
	"line )\n"

#define ANSWER_STATUS_EXAMINE \
	"line * STATUS INBOX (UNSEEN 2)\nline $T1 OK done\n" \
	"line * 7 EXISTS\nline $T2 OK [READ-ONLY] done\n"
/* without SEARCHRES: the plain search's answer, then the fetch flight */
#define PLAIN_SEARCH_THEN_FETCH_70 \
	"line * SEARCH 40 70\nline $T3 OK done\n" \
	"expect UID FETCH 70 \\(UID RFC822.SIZE\nset T5 $TAG\n" \
	"expect LOGOUT\n" FETCH_70 "line $T5 OK done\n"
#define BYE_CLOSE "line * BYE Logging out\nline $TAG OK Logout done\nclose\n"

/* The entry matches the greeting: the login flight carries the ESEARCH
 * count, SEARCH RETURN (SAVE MAX) + UID FETCH $ and the LOGOUT - the fake
 * reads all of it before it answers anything. */
Test(fake_mailbox, cache_dir_entry_puts_searchres_fetch_in_the_login_flight)
{
	struct fake_case c;
	char after[CAPCACHE_LIST_MAX];
	char *dir = cache_dir_new("IMAP4rev1 AUTH=PLAIN", "IMAP4rev1 LITERAL+ ESEARCH SEARCHRES", 0);
	run(&c, GREET FLIGHT_HEAD("RETURN \\(COUNT MIN MAX\\) UNSEEN$")
		"expect UID SEARCH RETURN \\(SAVE MAX\\) UNSEEN$\nset T4 $TAG\n"
		"expect UID FETCH \\$ \\(UID RFC822.SIZE INTERNALDATE BODY.PEEK\nset T5 $TAG\n"
		"expect LOGOUT\n"
		"line $T0 OK [CAPABILITY IMAP4rev1 LITERAL+ ESEARCH SEARCHRES] Logged in\n"
		ANSWER_STATUS_EXAMINE
		"line * ESEARCH (TAG \"$T3\") UID MIN 40 MAX 70 COUNT 2\nline $T3 OK done\n"
		"line * ESEARCH (TAG \"$T4\") UID MAX 70\nline $T4 OK done\n"
		FETCH_70 "line $T5 OK done\n"
		BYE_CLOSE,
	    "--pipeline", "--search", "UNSEEN", "--cache-dir", dir, "-v", "-t", "5", NULL);
	expect_exit(&c, 0, "IMAP OK");
	expect_fake_ok(&c);
	out_has(&c, "2 matched (UIDs 40..70)");
	out_has(&c, "UID 70, 50 bytes");
	out_has(&c, "\"newest match\"");
	out_has(&c, "\ncaps_cache: used\n");
	cr_assert_lt(c.r.wall_s, 3.0);
	cached_after(&c, dir, after, sizeof(after));
	cr_assert_str_eq(after, "IMAP4rev1 LITERAL+ ESEARCH SEARCHRES");
	fake_case_done(&c);
	cache_dir_free(dir);
}

/* The server no longer has SEARCHRES/ESEARCH: it refuses what the entry
 * promised, the probe starts over without it on a new connection (plain
 * SEARCH, then the FETCH of the newest match), reports the real answers
 * and remembers the new list. */
Test(fake_mailbox, cache_dir_stale_entry_repeats_the_session_without_it)
{
	struct fake_case c;
	char after[CAPCACHE_LIST_MAX];
	char *dir = cache_dir_new("IMAP4rev1 AUTH=PLAIN", "IMAP4rev1 LITERAL+ ESEARCH SEARCHRES", 2);
	run(&c, GREET FLIGHT_HEAD("RETURN \\(COUNT MIN MAX\\) UNSEEN$")
		"expect UID SEARCH RETURN \\(SAVE MAX\\) UNSEEN$\nset T4 $TAG\n"
		"expect UID FETCH \\$\nset T5 $TAG\n"
		"expect LOGOUT\n"
		"line $T0 OK [CAPABILITY IMAP4rev1 LITERAL+] Logged in\n"
		ANSWER_STATUS_EXAMINE
		"line $T3 BAD Error in IMAP command: Unknown argument RETURN\n"
		"line $T4 BAD Error in IMAP command: Unknown argument RETURN\n"
		"line $T5 BAD Error in IMAP command: Invalid uidset\n"
		BYE_CLOSE
		"connection\n"
		GREET FLIGHT_HEAD("UNSEEN$")
		"line $T0 OK [CAPABILITY IMAP4rev1 LITERAL+] Logged in\n"
		ANSWER_STATUS_EXAMINE
		PLAIN_SEARCH_THEN_FETCH_70 BYE_CLOSE,
	    "--pipeline", "--search", "UNSEEN", "--cache-dir", dir, "-v", "-t", "5", NULL);
	expect_exit(&c, 0, "IMAP OK");
	expect_fake_ok(&c);
	out_has(&c, "2 matched (UIDs 40..70)");
	out_has(&c, "UID 70, 50 bytes");
	out_has(&c, "were stale: session repeated without them");
	out_has(&c, "\ncaps_cache: stale, session repeated\n");
	out_lacks(&c, "BAD");
	cached_after(&c, dir, after, sizeof(after));
	cr_assert_str_eq(after, "IMAP4rev1 LITERAL+");
	fake_case_done(&c);
	cache_dir_free(dir);
}

/* The greeting is not what the entry was made from (another server
 * version behind the name, STARTTLS...): nothing is assumed, and the
 * entry is replaced by what this server lists (untagged before the
 * tagged OK here, as Gmail does: those are the post-login list). */
Test(fake_mailbox, cache_dir_entry_for_another_greeting_is_not_used)
{
	struct fake_case c;
	char after[CAPCACHE_LIST_MAX];
	char *dir = cache_dir_new("IMAP4rev1 AUTH=PLAIN STARTTLS", "IMAP4rev1 LITERAL+ ESEARCH SEARCHRES", 0);
	run(&c, GREET FLIGHT_HEAD("UNSEEN$")
		"line * CAPABILITY IMAP4rev1 LITERAL+ ESEARCH SEARCHRES X-GM-EXT-1\n"
		"line $T0 OK Logged in\n"
		ANSWER_STATUS_EXAMINE
		PLAIN_SEARCH_THEN_FETCH_70 BYE_CLOSE,
	    "--pipeline", "--search", "UNSEEN", "--cache-dir", dir, "-v", "-t", "5", NULL);
	expect_exit(&c, 0, "IMAP OK");
	expect_fake_ok(&c);
	out_has(&c, "UID 70, 50 bytes");
	out_has(&c, "\ncaps_cache: written\n");
	cached_after(&c, dir, after, sizeof(after));
	cr_assert_str_eq(after, "IMAP4rev1 LITERAL+ ESEARCH SEARCHRES X-GM-EXT-1");
	fake_case_done(&c);
	cache_dir_free(dir);
}

/* --cache-dir is checked before anything is sent: UNKNOWN with the reason. */
Test(fake_mailbox, cache_dir_must_be_a_directory)
{
	static const struct {
		const char *dir, *msg;
	} cases[] = {
		/* created when missing, but only below an existing parent */
		{ "/nonexistent/cis-cache", "IMAP UNKNOWN - --cache-dir /nonexistent/cis-cache does not exist and cannot be "
					    "created: its parent directory does not exist either" },
		{ "/etc/hostname", "IMAP UNKNOWN - --cache-dir /etc/hostname: not a directory" },
		{ "", "IMAP UNKNOWN - --cache-dir: empty name" },
	};
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		struct probe_run r;
		const char *argv[] = { "-H", "127.0.0.1", "--pipeline", "--cache-dir", cases[i].dir, NULL };
		cr_assert_eq(probe_run(&r, HARD_S, NULL, argv), 0);
		cr_assert_eq(r.exit_code, 3, "%s", r.out);
		cr_assert_str_eq(r.first_line, cases[i].msg);
		probe_run_free(&r);
	}
}

/* ================================================================ APPENDUID (fuzzwork reproducers) */

/* [APPENDUID 1700000000 -18446744073709551615]: sscanf("%llu") accepted
 * the minus sign and wrapped the number to 1, so the probe went for UID 1
 * (and deleted it, see the next test).  A malformed APPENDUID must count
 * as no APPENDUID: find the message by its Message-ID instead. */
Test(fake_mailbox, appenduid_with_a_sign_is_not_a_uid)
{
	struct fake_case c;
	run(&c, APPEND_START_WITHIN
		"line * 4 EXISTS\n"
		"line $TAG OK [APPENDUID 1700000000 -18446744073709551615] APPEND done\n"
		"expect UID SEARCH HEADER Message-ID\n"
		"line * SEARCH\n"
		"line $TAG OK done\n" LOGOUT,
	    "--append", "--fetch", "none", NULL);
	expect_exit(&c, 2, "is not found by UID SEARCH");
	expect_fake_ok(&c);
	not_sent(&c, "UID FETCH 1 ");
	not_sent(&c, "STORE");
	fake_case_done(&c);
}

/* The same for a uid-set, a '+' sign or trailing bytes: "+7:9junk" was
 * read as UID 7. */
Test(fake_mailbox, appenduid_uid_set_or_junk_is_not_a_uid)
{
	struct fake_case c;
	run(&c, APPEND_START_WITHIN
		"line * 4 EXISTS\n"
		"line $TAG OK [APPENDUID 1700000000 +7:9junk] APPEND done\n"
		"expect UID SEARCH HEADER Message-ID\n"
		"line * SEARCH\n"
		"line $TAG OK done\n" LOGOUT,
	    "--append", "--fetch", "none", NULL);
	expect_exit(&c, 2, "is not found by UID SEARCH");
	expect_fake_ok(&c);
	not_sent(&c, "UID FETCH 7");
	not_sent(&c, "STORE");
	fake_case_done(&c);
}

/* A well-formed APPENDUID that names another message: the probe fetches
 * UID 12, sees someone else's Message-ID - and must not then delete it. */
Test(fake_mailbox, append_fetch_mismatch_never_deletes_the_other_message)
{
	struct fake_case c;
	run(&c, APPEND_START_WITHIN
		"line * 4 EXISTS\n"
		"line $TAG OK [APPENDUID 1700000000 12] APPEND done\n"
		"expect UID FETCH 12 \\(UID RFC822.SIZE BODY.PEEK\\[\\]\\)$\n"
		"send * 2 FETCH (UID 12 RFC822.SIZE 40 BODY[] \n"
		"sendliteral Message-ID: <the-users-own-mail@x>\\r\\n\\r\\nhi\\r\\n\n"
		"line )\n"
		"line $TAG OK done\n" LOGOUT,
	    "--append", "--fetch", "none", NULL);
	expect_exit(&c, 2, "UID 12 is not the appended message (Message-ID <the-users-own-mail@x>)");
	expect_fake_ok(&c);
	not_sent(&c, "STORE");
	not_sent(&c, "EXPUNGE");
	fake_case_done(&c);
}

/* Two plain UID SEARCHes in one flight (no ESEARCH): a server that runs
 * them concurrently may send both "* SEARCH" lines before either tagged
 * OK, and nothing says which is which.  The probe added the UNSEEN UIDs
 * (7, 8) to the --search FLAGGED result and deleted them with
 * --delete-matched.  A probe that does not pipeline the two (RFC 3501 5.5)
 * waits for the first answer here: the fake, which wants both commands
 * first, stalls into the timeout - and nothing is deleted. */
Test(fake_mailbox, ambiguous_plain_searches_never_feed_delete_matched)
{
	struct fake_case c;
	run(&c, GREET LOGIN_CAPS("IMAP4rev1 LITERAL+ UIDPLUS")
		"expect STATUS INBOX \\(UNSEEN\\)\n"
		"line * STATUS INBOX (UNSEEN 2)\n"
		"line $TAG OK STATUS done\n"
		"expect SELECT INBOX$\n"
		"line * 8 EXISTS\n"
		"line * OK [UIDVALIDITY 1700000000] UIDs valid\n"
		"line $TAG OK [READ-WRITE] SELECT done\n"
		"expect UID SEARCH FLAGGED$\n"
		"set T1 $TAG\n"
		"expect UID SEARCH UNSEEN$\n"
		"line * SEARCH 7 8\n"
		"line * SEARCH 3\n"
		"line $T1 OK done\n"
		"line $TAG OK done\n"
		"drain 5\n",
	    "--fetch", "none", "--search", "FLAGGED", "--delete-matched", "--age-oldest-unseen", "-t", "2", NULL);
	not_sent(&c, "UID STORE");
	not_sent(&c, "UID EXPUNGE");
	fake_case_done(&c);
}

/* STATUS counts are 32-bit: 4294967297 used to show as "1 unseen". */
Test(fake_mailbox, status_count_above_32_bits_is_not_truncated)
{
	struct fake_case c;
	run(&c, GREET LOGIN_CAPS("IMAP4rev1 LITERAL+")
		"expect STATUS INBOX \\(UNSEEN\\)\n"
		"line * STATUS INBOX (UNSEEN 4294967297)\n"
		"line $TAG OK STATUS done\n"
		"expect EXAMINE INBOX$\n"
		"line * 3 EXISTS\n"
		"line $TAG OK [READ-ONLY] EXAMINE done\n" LOGOUT,
	    "--fetch", "none", NULL);
	expect_exit(&c, 0, "IMAP OK");
	expect_fake_ok(&c);
	out_lacks(&c, "unseen=1");
	fake_case_done(&c);
}

/* A tagged OK instead of the "+" a synchronizing literal waits for: the
 * literal was never sent, so the command cannot have succeeded (and the
 * server may yet read the next command as literal data). */
Test(fake_mailbox, tagged_ok_instead_of_continuation_is_a_protocol_error)
{
	const char *text = "app: APPEND INBOX \"Subject: x\\r\\n\\r\\nbody\"\n";
	char *path = tu_temp_file(NULL, "script", text, strlen(text));

	struct fake_case c;
	run(&c, GREET LOGIN_CAPS("IMAP4rev1") EXAMINE_INBOX("1")
		"sleep 0.3\n"
		"line a4 OK [APPENDUID 1 99] APPEND completed\n"
		"drain 2\n",
	    "--fetch", "none", "--script", path, NULL);
	unlink(path);
	free(path);
	expect_exit(&c, 2, "tagged OK before the literal was sent");
	fake_case_done(&c);
}
