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

#define HARD_TIMEOUT_S 40.0

TestSuite(dovecot_mailbox, .timeout = 120);

/* ================================================================ commands */

struct cmd {
	const char *argv[64];
	int argc;
	char arena[8192];
	size_t used;
	char line[4096];
	struct probe_run r;
	int ran;
};

static void add(struct cmd *c, const char *arg)
{
	size_t n = strlen(arg) + 1;
	cr_assert(c->used + n <= sizeof(c->arena) && c->argc + 1 < 64, "test command too long");
	memcpy(c->arena + c->used, arg, n);
	c->argv[c->argc++] = c->arena + c->used;
	c->argv[c->argc] = NULL;
	c->used += n;
}

/* A command for USER/PASS (NULL: the shared seeded user) over implicit TLS
 * (or STARTTLS), then the extra arguments, NULL-terminated. */
static struct cmd *probe_v(const char *user, const char *pass, int starttls, va_list ap)
{
	struct cmd *c = calloc(1, sizeof(*c));
	const char *a;

	cr_assert_not_null(c);
	add(c, "-H");
	add(c, fixture_env("DOVECOT_HOST"));
	add(c, "-p");
	add(c, fixture_env(starttls ? "DOVECOT_IMAP_PORT" : "DOVECOT_IMAPS_PORT"));
	add(c, starttls ? "--starttls" : "--ssl");
	add(c, "--cafile");
	add(c, fixture_env("DOVECOT_CA"));
	add(c, "-U");
	add(c, user ? user : fixture_env("DOVECOT_USER"));
	if (pass) {
		add(c, "-P");
		add(c, pass);
	} else {
		add(c, "--password-env");
		add(c, "DOVECOT_PASS");
	}
	while ((a = va_arg(ap, const char *)) != NULL)
		add(c, a);

	size_t off = (size_t)snprintf(c->line, sizeof(c->line), "$PROBE");
	for (int i = 0; i < c->argc && off < sizeof(c->line); i++)
		off += (size_t)snprintf(c->line + off, sizeof(c->line) - off, " '%s'", c->argv[i]);
	cr_assert_eq(probe_run(&c->r, HARD_TIMEOUT_S, NULL, c->argv), 0, "could not start the probe: %s",
		     strerror(errno));
	c->ran = 1;
	cr_assert_eq(c->r.signal, 0, "probe died of signal %d\ncommand: %s\n%s", c->r.signal, c->line, c->r.out);
	return c;
}

static void done(struct cmd *c)
{
	if (c->ran)
		probe_run_free(&c->r);
	free(c);
}

#define DUMP "\ncommand: %s\n--- stdout:\n%s\n--- stderr:\n%s"
#define DUMPARGS(c) (c)->line, (c)->r.out, (c)->r.err

static void expect_state(struct cmd *c, int state)
{
	static const char *const names[] = { "OK", "WARNING", "CRITICAL", "UNKNOWN" };
	char prefix[32];
	snprintf(prefix, sizeof(prefix), "IMAP %s - ", names[state]);
	cr_assert_eq(c->r.exit_code, state, "exit %d, expected %d" DUMP, c->r.exit_code, state, DUMPARGS(c));
	cr_assert(!strncmp(c->r.first_line, prefix, strlen(prefix)), "first line lacks \"%s\"" DUMP, prefix,
		  DUMPARGS(c));
}

static void expect_summary(struct cmd *c, const char *text)
{
	char sum[sizeof(c->r.first_line)];
	memcpy(sum, c->r.first_line, sizeof(sum));
	char *bar = strchr(sum, '|');
	if (bar)
		*bar = '\0';
	cr_assert_not_null(strstr(sum, text), "summary lacks \"%s\"" DUMP, text, DUMPARGS(c));
}

static void expect_out(struct cmd *c, const char *text)
{
	cr_assert_not_null(strstr(c->r.out, text), "output lacks \"%s\"" DUMP, text, DUMPARGS(c));
}

static void expect_no_out(struct cmd *c, const char *text)
{
	cr_assert_null(strstr(c->r.out, text), "output has \"%s\"" DUMP, text, DUMPARGS(c));
}

/* The perfdata value field of LABEL ("5", "0.0012s;;;0;10"), or NULL. */
static int perf_field(struct cmd *c, const char *label, char *out, size_t outsz)
{
	const char *p = strchr(c->r.first_line, '|');
	size_t ll = strlen(label);
	if (!p)
		return 0;
	for (p++; *p;) {
		while (*p == ' ')
			p++;
		const char *name = p;
		int quoted = *p == '\'';
		if (quoted)
			name = ++p;
		while (*p && *p != '=' && *p != '\'')
			p++;
		size_t nl = (size_t)(p - name);
		if (quoted && *p == '\'')
			p++;
		if (*p != '=')
			return 0;
		const char *v = ++p;
		while (*p && *p != ' ')
			p++;
		if (nl == ll && !strncmp(name, label, ll)) {
			snprintf(out, outsz, "%.*s", (int)(p - v), v);
			return 1;
		}
	}
	return 0;
}

static double perf(struct cmd *c, const char *label)
{
	char v[128];
	cr_assert(perf_field(c, label, v, sizeof(v)), "perfdata lacks '%s'" DUMP, label, DUMPARGS(c));
	return strtod(v, NULL);
}

static void expect_perf_text(struct cmd *c, const char *label, const char *want)
{
	char v[128];
	cr_assert(perf_field(c, label, v, sizeof(v)), "perfdata lacks '%s'" DUMP, label, DUMPARGS(c));
	cr_assert_str_eq(v, want, "perfdata %s is \"%s\", wanted \"%s\"" DUMP, label, v, want, DUMPARGS(c));
}

static void expect_no_perf(struct cmd *c, const char *label)
{
	char v[128];
	cr_assert_not(perf_field(c, label, v, sizeof(v)), "perfdata has '%s'" DUMP, label, DUMPARGS(c));
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

static int run_argv(const char *const *argv)
{
	int status;
	pid_t pid = fork();
	if (pid == 0) {
		execvp(argv[0], (char *const *)argv);
		_exit(127);
	}
	if (pid < 0 || waitpid(pid, &status, 0) != pid)
		return -1;
	return WIFEXITED(status) ? WEXITSTATUS(status) : -1;
}

/* A user of this test's own, with the standard seeded mail. */
static const char *own_user(char *buf, size_t bufsz, const char *tag)
{
	static int serial;
	snprintf(buf, bufsz, "mbx-%s-%ld-%d", tag, (long)getpid(), serial++);
	const char *argv[] = { "bash", fixture_env("DOVECOT_FIXTURE"), "adduser", fixture_env("DOVECOT_STATEDIR"),
			       buf, "own-Pa55", NULL };
	cr_assert_eq(run_argv(argv), 0, "fixture.sh adduser %s failed", buf);
	return buf;
}
#define OWN_PASS "own-Pa55"

static const char *script_file(char *path, size_t pathsz, const char *text)
{
	snprintf(path, pathsz, "%s/script-XXXXXX", fixture_env("DOVECOT_STATEDIR"));
	int fd = mkstemp(path);
	cr_assert_geq(fd, 0, "mkstemp: %s", strerror(errno));
	cr_assert_eq(write(fd, text, strlen(text)), (ssize_t)strlen(text));
	close(fd);
	return path;
}

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
	expect_state(c, 0);
	*messages = rnd(perf(c, "messages"));
	*unseen = rnd(perf(c, "unseen"));
	*matched_all = rnd(perf(c, "matched"));
	done(c);
}

/* ================================================================ reading */

Test(dovecot_mailbox, default_session_counts_and_newest_message)
{
	struct cmd *c = R("--fetch", "headers");
	expect_state(c, 0);
	cr_assert_eq(rnd(perf(c, "messages")), env_long("DOVECOT_INBOX_MESSAGES"), DUMP, DUMPARGS(c));
	cr_assert_eq(rnd(perf(c, "unseen")), env_long("DOVECOT_INBOX_UNSEEN"), DUMP, DUMPARGS(c));
	expect_out(c, fixture_env("DOVECOT_INBOX_NEWEST_SUBJECT"));
	expect_out(c, "fetch: OK");
	expect_out(c, "UID 5");
	/* freshness of a message of known date */
	double want = difftime(time(NULL), (time_t)env_long("DOVECOT_INBOX_NEWEST_INTERNALDATE"));
	cr_assert(absd(perf(c, "age") - want) <= 5, "age %.0f, expected about %.0f" DUMP, perf(c, "age"), want,
		  DUMPARGS(c));
	cr_assert_gt(perf(c, "fetch_bytes"), 0);
	done(c);
}

Test(dovecot_mailbox, namespace_list_and_special_use)
{
	struct cmd *c = R("--namespace", "--list", "--expect-folder", "Sent", "--expect-folder",
			  fixture_env("DOVECOT_SPACE_FOLDER"), "--expect-folder", fixture_env("DOVECOT_UTF8_FOLDER"),
			  "--expect-folder", fixture_env("DOVECOT_CHILD_FOLDER"), "--expect-folder", "inbox", "--fetch",
			  "none");
	expect_state(c, 0);
	expect_out(c, "namespace: OK");
	expect_out(c, "personal \"\" (/)");
	expect_out(c, "special-use: Archive=Archive, Drafts=Drafts, Junk=Junk, Sent=Sent, Trash=Trash");
	expect_out(c, "expected folders: 5 of 5 present");
	/* INBOX, the five special-use folders, Archive/2024, the space folder,
	 * Entwürfe, Empty */
	cr_assert_eq(rnd(perf(c, "folders")), 10, DUMP, DUMPARGS(c));
	done(c);
}

Test(dovecot_mailbox, missing_expected_folder_is_critical_and_named)
{
	struct cmd *c = R("--expect-folder", "Sent", "--expect-folder", "No Such Folder", "--fetch", "none");
	expect_state(c, 2);
	expect_summary(c, "folder \"No Such Folder\" missing");
	expect_out(c, "expected folders: 1 of 2 present");
	done(c);
}

Test(dovecot_mailbox, utf8_mailbox_name_as_modified_utf7)
{
	struct cmd *c = R("-m", fixture_env("DOVECOT_UTF8_FOLDER"), "-vvv");
	expect_state(c, 0);
	expect_out(c, fixture_env("DOVECOT_UTF8_FOLDER_MUTF7"));
	cr_assert_eq(rnd(perf(c, "messages")), env_long("DOVECOT_UTF8_FOLDER_MESSAGES"), DUMP, DUMPARGS(c));
	expect_out(c, "Entwurf: Grüße");
	expect_summary(c, fixture_env("DOVECOT_UTF8_FOLDER"));
	done(c);
}

Test(dovecot_mailbox, mailbox_with_spaces_and_its_oldest_unseen)
{
	struct cmd *c = R("-m", fixture_env("DOVECOT_SPACE_FOLDER"), "--age-oldest-unseen", "--fetch", "none");
	expect_state(c, 0);
	cr_assert_eq(rnd(perf(c, "messages")), env_long("DOVECOT_SPACE_FOLDER_MESSAGES"), DUMP, DUMPARGS(c));
	cr_assert_eq(rnd(perf(c, "unseen")), 1, DUMP, DUMPARGS(c));
	/* its unseen message is dated 2024-01-03 15:00 UTC */
	double want = difftime(time(NULL), (time_t)1704294000);
	cr_assert(absd(perf(c, "age") - want) <= 5, DUMP, DUMPARGS(c));
	done(c);
}

Test(dovecot_mailbox, select_when_asked)
{
	char user[64];
	struct cmd *c = W(own_user(user, sizeof(user), "select"), "--select", "-vvv");
	expect_state(c, 0);
	expect_out(c, "select: OK");
	expect_out(c, " SELECT INBOX");
	expect_no_out(c, "EXAMINE");
	done(c);
}

Test(dovecot_mailbox, examine_is_read_only_and_peeks)
{
	/* a full fetch of an unseen message with the default EXAMINE must not
	 * mark it \Seen */
	struct cmd *c = R("--search", "UNSEEN", "--fetch", "full", "-vvv");
	expect_state(c, 0);
	expect_out(c, "EXAMINE INBOX");
	expect_out(c, "BODY.PEEK[]");
	done(c);
	c = R("--fetch", "none");
	cr_assert_eq(rnd(perf(c, "unseen")), env_long("DOVECOT_INBOX_UNSEEN"), DUMP, DUMPARGS(c));
	done(c);
}

Test(dovecot_mailbox, search_unseen_counts_and_fetches_the_newest_match)
{
	struct cmd *c = R("--search", "UNSEEN");
	expect_state(c, 0);
	cr_assert_eq(rnd(perf(c, "matched")), env_long("DOVECOT_INBOX_UNSEEN"), DUMP, DUMPARGS(c));
	expect_out(c, "UIDs 4..5");
	expect_out(c, fixture_env("DOVECOT_INBOX_NEWEST_SUBJECT"));
	expect_summary(c, "2 matched");
	done(c);
}

Test(dovecot_mailbox, utf8_search_and_rfc2047_subject)
{
	struct cmd *c = R("--search", "SUBJECT \"Köln\"", "-vvv");
	expect_state(c, 0);
	cr_assert_eq(rnd(perf(c, "matched")), 1, DUMP, DUMPARGS(c));
	expect_out(c, "CHARSET UTF-8");
	expect_out(c, fixture_env("DOVECOT_INBOX_RFC2047_SUBJECT"));
	expect_out(c, "from Carol Müller <carol@example.de>");
	done(c);
}

Test(dovecot_mailbox, multipart_message_fetched_whole)
{
	struct cmd *c = R("--search", "SUBJECT \"Quarterly\"", "--fetch", "full");
	expect_state(c, 0);
	expect_out(c, fixture_env("DOVECOT_INBOX_MULTIPART_SUBJECT"));
	expect_out(c, "multipart/mixed (2 parts)");
	cr_assert_gt(perf(c, "size"), 500, DUMP, DUMPARGS(c));
	cr_assert_eq(perf(c, "size"), perf(c, "fetch_bytes"), "RFC822.SIZE and the bytes fetched differ" DUMP,
		     DUMPARGS(c));
	done(c);
}

Test(dovecot_mailbox, count_thresholds)
{
	struct cmd *c = R("--messages-warning", "4", "--fetch", "none");
	expect_state(c, 1);
	expect_summary(c, "messages 5 outside the warning range 4");
	expect_perf_text(c, "messages", "5;4");
	done(c);
	c = R("--unseen-critical", "1", "--fetch", "none");
	expect_state(c, 2);
	expect_summary(c, "unseen 2 outside the critical range 1");
	done(c);
	c = R("--search", "UNSEEN", "--matched-warning", "2:", "--matched-critical", "1:", "--fetch", "none");
	expect_state(c, 0);
	done(c);
	c = R("--search", "SUBJECT \"no such subject\"", "--matched-critical", "1:", "--fetch", "none");
	expect_state(c, 2);
	expect_summary(c, "matched 0 outside the critical range 1:");
	done(c);
}

Test(dovecot_mailbox, freshness_of_the_newest_message)
{
	struct cmd *c = R("--age-warning", "3600", "--age-critical", "7200", "--fetch", "none");
	expect_state(c, 0);
	char v[128];
	cr_assert(perf_field(c, "age", v, sizeof(v)));
	cr_assert_not_null(strstr(v, "s;~:3600;~:7200;0"), "age perfdata \"%s\"" DUMP, v, DUMPARGS(c));
	expect_out(c, "fetch: OK");     /* INTERNALDATE only, but fetched */
	done(c);
}

Test(dovecot_mailbox, freshness_thresholds)
{
	struct cmd *c = R("--age-warning", "3600", "--fetch", "none");
	expect_state(c, 0);
	expect_summary(c, "newest ");
	done(c);
	c = R("--age-critical", "10", "--fetch", "none");
	expect_state(c, 2);
	expect_summary(c, "newest message (UID 5,");
	done(c);
	/* the newest message that matches is old: mail is not arriving */
	c = R("--search", "SUBJECT \"Welcome\"", "--age-warning", "86400", "--fetch", "none");
	expect_state(c, 1);
	expect_summary(c, "newest matched message (UID 1, 2024-01-01 09:00:00 UTC) is");
	done(c);
	/* nothing matches at all: no fresh mail either */
	c = R("--search", "SUBJECT \"no such subject\"", "--age-critical", "86400");
	expect_state(c, 2);
	expect_summary(c, "no matching message to measure the age of");
	done(c);
}

Test(dovecot_mailbox, oldest_unseen_message_age)
{
	struct cmd *c = R("--age-oldest-unseen", "--age-critical", "86400", "--fetch", "none");
	expect_state(c, 2);
	expect_summary(c, "oldest unseen message (UID 4, 2024-01-04 12:00:00 UTC)");
	double want = difftime(time(NULL), (time_t)env_long("DOVECOT_INBOX_OLDEST_UNSEEN_INTERNALDATE"));
	cr_assert(absd(perf(c, "age") - want) <= 5, DUMP, DUMPARGS(c));
	done(c);
	/* a folder with no unseen mail has nothing stuck: age 0 */
	c = R("-m", "Sent", "--age-oldest-unseen", "--age-critical", "60");
	expect_state(c, 0);
	cr_assert_eq(perf(c, "age"), 0, DUMP, DUMPARGS(c));
	done(c);
}

Test(dovecot_mailbox, quota_percentages)
{
	struct cmd *c = R("--quota", "--fetch", "none");
	expect_state(c, 0);
	/* 10 messages of 1000 */
	double want = (double)env_long("DOVECOT_USER_MESSAGES") * 100.0 / 1000;
	cr_assert_float_eq(perf(c, "quota_messages"), want, 0.006, DUMP, DUMPARGS(c));
	cr_assert_lt(perf(c, "quota_storage"), 1.0, DUMP, DUMPARGS(c));
	expect_out(c, "quota: OK");
	done(c);
}

Test(dovecot_mailbox, quota_thresholds_on_a_nearly_full_user)
{
	struct cmd *c = run_probe(fixture_env("DOVECOT_QUOTA_USER"), fixture_env("DOVECOT_QUOTA_PASS"), 0,
				  "--quota-warning", "40", "--quota-critical", "90", "--fetch", "none", (const char *)NULL);
	expect_state(c, 1);
	expect_summary(c, "quota messages at 50.0% (warning threshold 40)");
	expect_perf_text(c, "quota_messages", "50.00%;40;90;0;100");
	done(c);
	c = run_probe(fixture_env("DOVECOT_QUOTA_USER"), fixture_env("DOVECOT_QUOTA_PASS"), 0, "--quota-critical",
		      "60", "--fetch", "none", (const char *)NULL);
	expect_state(c, 0);
	expect_summary(c, "quota 50.0%");
	done(c);
}

Test(dovecot_mailbox, pipeline_gives_the_same_answers)
{
	struct cmd *c = R("--pipeline", "--fetch", "full", "-vvv");
	expect_state(c, 0);
	cr_assert_eq(rnd(perf(c, "messages")), env_long("DOVECOT_INBOX_MESSAGES"), DUMP, DUMPARGS(c));
	cr_assert_eq(rnd(perf(c, "unseen")), env_long("DOVECOT_INBOX_UNSEEN"), DUMP, DUMPARGS(c));
	expect_out(c, fixture_env("DOVECOT_INBOX_NEWEST_SUBJECT"));
	/* STATUS, EXAMINE and UID FETCH went out before any answer came */
	char *st = strstr(c->r.out, "C: a2 STATUS"), *ex = strstr(c->r.out, "C: a3 EXAMINE"),
	     *fe = strstr(c->r.out, "C: a4 UID FETCH *"), *ans = strstr(c->r.out, "S: * STATUS");
	cr_assert(st && ex && fe && ans && st < ex && ex < fe && fe < ans, "not pipelined" DUMP, DUMPARGS(c));
	done(c);

	c = R("--pipeline", "--search", "UNSEEN", "--age-oldest-unseen", "--age-warning", "60", "--fetch", "none");
	expect_state(c, 1);
	expect_summary(c, "oldest unseen message (UID 4, 2024-01-04 12:00:00 UTC)");
	cr_assert_eq(rnd(perf(c, "matched")), env_long("DOVECOT_INBOX_UNSEEN"), DUMP, DUMPARGS(c));
	done(c);
}

/* ================================================================ writing */

Test(dovecot_mailbox, append_leaves_the_mailbox_exactly_as_it_was)
{
	char user[64];
	long m0, u0, a0, m1, u1, a1;
	own_user(user, sizeof(user), "append");
	inbox_counts(user, &m0, &u0, &a0);

	struct cmd *c = W(user, "--append");
	expect_state(c, 0);
	expect_out(c, "append_cleanup: OK");
	expect_out(c, "append: OK");
	expect_out(c, "(APPENDUID)");
	expect_out(c, "append_fetch: OK");
	expect_out(c, "identical to what was appended");
	expect_out(c, "append_delete: OK");
	cr_assert_gt(perf(c, "append"), 0);
	cr_assert_geq(perf(c, "append_fetch"), 0);
	cr_assert_geq(perf(c, "append_delete"), 0);
	expect_summary(c, "append/fetch/delete OK");
	done(c);

	inbox_counts(user, &m1, &u1, &a1);
	cr_assert_eq(m1, m0);
	cr_assert_eq(u1, u0);
	cr_assert_eq(a1, a0);
	c = W(user, "--search", "HEADER X-Check-Imap-Session probe", "--fetch", "none");
	cr_assert_eq(rnd(perf(c, "matched")), 0, "a probe message was left behind" DUMP, DUMPARGS(c));
	done(c);
}

Test(dovecot_mailbox, append_removes_probe_messages_left_by_an_interrupted_run)
{
	char user[64], path[256];
	long m0, u0, a0, m1, u1, a1;
	own_user(user, sizeof(user), "leftover");
	inbox_counts(user, &m0, &u0, &a0);
	/* what an interrupted run leaves: a marked message, old enough */
	script_file(path, sizeof(path),
		    "plant: APPEND INBOX (\\Seen) \"01-Jan-2024 00:00:00 +0000\" \"From: <probe@x.invalid>\\r\\n"
		    "Subject: left behind\\r\\nMessage-ID: <left@x.invalid>\\r\\n"
		    "X-Check-Imap-Session: probe (--append)\\r\\n\\r\\nleft behind\\r\\n\"\n");
	struct cmd *c = W(user, "--script", path, "--fetch", "none");
	expect_state(c, 0);
	done(c);
	inbox_counts(user, &m1, &u1, &a1);
	cr_assert_eq(m1, m0 + 1);

	c = W(user, "--append");
	expect_state(c, 0);
	expect_out(c, "1 probe message left by earlier runs");
	expect_out(c, "and 1 left by earlier runs");
	done(c);
	inbox_counts(user, &m1, &u1, &a1);
	cr_assert_eq(m1, m0);
	cr_assert_eq(u1, u0);
}

Test(dovecot_mailbox, delete_matched_removes_only_the_matched_messages)
{
	char user[64];
	own_user(user, sizeof(user), "delete");
	struct cmd *c = W(user, "--search", "SUBJECT \"Quarterly\"", "--delete-matched", "--fetch", "none");
	expect_state(c, 0);
	cr_assert_eq(rnd(perf(c, "matched")), 1, DUMP, DUMPARGS(c));
	cr_assert_eq(rnd(perf(c, "deleted")), 1, DUMP, DUMPARGS(c));
	expect_out(c, "select: OK");
	expect_out(c, "store: OK");
	expect_out(c, "1 message expunged (UIDs 2)");
	done(c);

	long m, u, all;
	inbox_counts(user, &m, &u, &all);
	cr_assert_eq(m, env_long("DOVECOT_INBOX_MESSAGES") - 1);
	cr_assert_eq(u, env_long("DOVECOT_INBOX_UNSEEN"));
	c = W(user, "--search", "SUBJECT \"Quarterly\"", "--fetch", "none");
	cr_assert_eq(rnd(perf(c, "matched")), 0, DUMP, DUMPARGS(c));
	done(c);
	c = W(user, "--search", "OR SUBJECT \"Welcome\" SUBJECT \"Newest\"", "--fetch", "none");
	cr_assert_eq(rnd(perf(c, "matched")), 2, DUMP, DUMPARGS(c));
	done(c);
	/* nothing matched: nothing to delete, not an error */
	c = W(user, "--search", "SUBJECT \"Quarterly\"", "--delete-matched", "--fetch", "none");
	expect_state(c, 0);
	cr_assert_eq(rnd(perf(c, "deleted")), 0, DUMP, DUMPARGS(c));
	done(c);
}

Test(dovecot_mailbox, idle_reports_push_latency_over_starttls)
{
	char user[64];
	long m0, u0, a0, m1, u1, a1;
	own_user(user, sizeof(user), "idle");
	inbox_counts(user, &m0, &u0, &a0);
	struct cmd *c = W_STARTTLS(user, "--idle", "--fetch", "none", "-t", "20");
	expect_state(c, 0);
	expect_out(c, "idle_login: OK");
	expect_out(c, "idle: OK");
	expect_out(c, "idle_append: OK");
	expect_out(c, "push: OK");
	expect_out(c, "idle_done: OK");
	expect_out(c, "idle_cleanup: OK");
	double push = perf(c, "push");
	cr_assert(push >= 0 && push < 15, "push %.3f" DUMP, push, DUMPARGS(c));
	expect_summary(c, "push ");
	done(c);
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
	expect_state(c, 0);
	cr_assert_eq(rnd(perf(c, "deleted")), 1, DUMP, DUMPARGS(c));
	expect_out(c, "append_delete: OK");
	expect_out(c, "push: OK");
	done(c);
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
	script_file(path, sizeof(path), walkthrough);
	struct cmd *c = W(user, "--script", path, "--fetch", "none");
	expect_state(c, 0);
	static const char *const steps[] = { "ns", "mailboxes", "inbox", "subjects", "unread",
					     "message", "flag", "purge", "nosuch" };
	for (size_t i = 0; i < sizeof(steps) / sizeof(steps[0]); i++) {
		char want[64];
		snprintf(want, sizeof(want), "%s: OK", steps[i]);
		expect_out(c, want);
		cr_assert_geq(perf(c, steps[i]), 0);
	}
	expect_out(c, "subjects: OK 0.");
	expect_out(c, "(4 untagged");
	expect_out(c, "as expected");
	expect_summary(c, "script 9 commands OK");
	done(c);

	/* message 4 (unseen) was read, flagged \Deleted and expunged */
	long m, u, all;
	inbox_counts(user, &m, &u, &all);
	cr_assert_eq(m, env_long("DOVECOT_INBOX_MESSAGES") - 1);
	cr_assert_eq(u, env_long("DOVECOT_INBOX_UNSEEN") - 1);
}

Test(dovecot_mailbox, script_with_an_unmet_expectation_names_the_line)
{
	char path[256];
	script_file(path, sizeof(path), "# read only\nEXAMINE INBOX\nwrong: expect NO EXAMINE \"Sent\"\n");
	struct cmd *c = R("--script", path, "--fetch", "none");
	expect_state(c, 2);
	expect_summary(c, "wrong failed: EXAMINE (script line 3): OK");
	expect_summary(c, "expected NO");
	expect_out(c, "script_examine: OK");
	done(c);
}

Test(dovecot_mailbox, malformed_script_is_unknown_with_file_and_line)
{
	char path[256], want[320];
	script_file(path, sizeof(path), "NOOP\n# fine so far\nAPPEND INBOX {12}\n");
	struct cmd *c = R("--script", path);
	expect_state(c, 3);
	snprintf(want, sizeof(want), "%s line 3: a literal", path);
	expect_summary(c, want);
	expect_no_perf(c, "auth");
	done(c);
}
