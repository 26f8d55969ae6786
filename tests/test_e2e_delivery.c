/* test_e2e_delivery.c - --deliver-via end to end: the real probe ($PROBE)
 * submits through the suite's Postfix (tests/postfix/fixture.sh: SASL by
 * Dovecot, LMTP delivery) and watches the suite's Dovecot; run by
 * tests/run-test.sh, which starts both (DOVECOT_*, POSTFIX_*).
 *
 * Every case uses a fresh Dovecot user (fixture.sh adduser), so cases may
 * run in parallel, and checks that no probe message is left in the
 * mailbox afterwards, whatever the outcome.  The cases that hold Postfix's
 * queue ("+hold" recipients, postsuper -H/-d ALL) run in one test, one
 * after the other. */
#define _GNU_SOURCE
#include <criterion/criterion.h>

#include <dirent.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "runprobe.h"

#define HARD_TIMEOUT_S 40.0

static const char *env(const char *name)
{
	const char *v = getenv(name);
	cr_assert(v && *v, "%s is not set: run this through tests/run-test.sh", name);
	return v;
}

/* Run argv (NULL-terminated) with its output to /dev/null; the exit status. */
static int run_quiet(const char *const *argv)
{
	pid_t pid = fork();
	cr_assert_geq(pid, 0);
	if (pid == 0) {
		freopen("/dev/null", "w", stdout);
		freopen("/dev/null", "w", stderr);
		execvp(argv[0], (char *const *)argv);
		_exit(127);
	}
	int st;
	waitpid(pid, &st, 0);
	return WIFEXITED(st) ? WEXITSTATUS(st) : -1;
}

/* A fresh user with the standard seeded mailbox. */
static void adduser(char *name, size_t len, const char *tag)
{
	static unsigned n;
	snprintf(name, len, "d-%s-%d-%u", tag, (int)getpid(), n++);
	const char *argv[] = { "bash", env("DOVECOT_FIXTURE"), "adduser", env("DOVECOT_STATEDIR"), name, "pw-deliv", NULL };
	cr_assert_eq(run_quiet(argv), 0, "fixture.sh adduser %s failed", name);
}

/* Probe messages of the delivery check in the user's INBOX. */
static int probes_left(const char *user)
{
	char cmd[1024];
	snprintf(cmd, sizeof(cmd), "doveadm -c '%s/dovecot-main.conf' search -u '%s' mailbox INBOX header "
		 "X-Check-Imap-Session 'probe (delivery)' 2>/dev/null | wc -l", env("DOVECOT_STATEDIR"), user);
	FILE *p = popen(cmd, "r");
	cr_assert_not_null(p);
	int n = -1;
	cr_assert_eq(fscanf(p, "%d", &n), 1, "doveadm search failed");
	pclose(p);
	return n;
}

struct run {
	struct probe_run r;
	char line[4096];
};

/* The probe against the user's mailbox (IMAPS) with --deliver-via
 * 127.0.0.1 and the extra arguments (NULL-terminated). */
static void run_probe(struct run *x, const char *user, const char *pw_env, ...)
{
	const char *argv[64];
	int n = 0;
	static char rcpt[256], pw[64];
	char envpw[128], envbad[128];
	const char *envv[] = { envpw, envbad, NULL };
	va_list ap;

	snprintf(rcpt, sizeof(rcpt), "%s@example.org", user);
	snprintf(pw, sizeof(pw), "pw-deliv");
	snprintf(envpw, sizeof(envpw), "CIS_PW=%s", pw);
	snprintf(envbad, sizeof(envbad), "CIS_BADPW=wrong-%s", pw);
	const char *fixed[] = { "-H", "127.0.0.1", "-p", env("DOVECOT_IMAPS_PORT"), "-S", "--cafile", env("DOVECOT_CA"),
				"-U", user, "--password-env", pw_env ? pw_env : "CIS_PW", "--deliver-via", "127.0.0.1",
				"--rcpt-to", rcpt, "-t", "10" };
	for (size_t i = 0; i < sizeof(fixed) / sizeof(fixed[0]); i++)
		argv[n++] = fixed[i];
	va_start(ap, pw_env);
	const char *a;
	while ((a = va_arg(ap, const char *)) && n < 62)
		argv[n++] = a;
	va_end(ap);
	argv[n] = NULL;
	x->line[0] = '\0';
	for (int i = 0; i < n; i++)
		snprintf(x->line + strlen(x->line), sizeof(x->line) - strlen(x->line), "%s ", argv[i]);
	cr_assert_eq(probe_run(&x->r, HARD_TIMEOUT_S, envv, argv), 0, "cannot run the probe");
}

#define DIAG_FMT "\ncommand: %s\noutput:\n%s\nstderr:\n%s"
#define DIAG_ARGS(x) (x)->line, (x)->r.out, (x)->r.err

static double perf(const struct run *x, const char *label)
{
	char pat[64];
	snprintf(pat, sizeof(pat), " %s=", label);
	const char *p = strstr(x->r.first_line, pat);
	if (!p)
		return -1;
	return strtod(p + strlen(pat), NULL);
}

static void expect_state(struct run *x, int code, const char *needle)
{
	cr_assert_eq(x->r.exit_code, code, "exit %d, expected %d" DIAG_FMT, x->r.exit_code, code, DIAG_ARGS(x));
	if (needle)
		cr_assert(strstr(x->r.out, needle), "output lacks \"%s\"" DIAG_FMT, needle, DIAG_ARGS(x));
}

/* ---------------------------------------------------------------- OK */

Test(e2e_delivery, ok_starttls_and_smtps)
{
	char user[64];
	struct run x;

	adduser(user, sizeof(user), "ok");
	run_probe(&x, user, NULL, "--smtp-port", env("POSTFIX_SUBMISSION_PORT"), "--smtp-starttls",
		  "--delivery-warning", "20", "--delivery-critical", "30", "-v", NULL);
	expect_state(&x, 0, "delivered in ");
	double d = perf(&x, "delivery");
	cr_assert(d > 0 && d < 10, "delivery=%g" DIAG_FMT, d, DIAG_ARGS(&x));
	cr_assert(strstr(x.r.first_line, "delivery=") && strstr(x.r.first_line, "s;~:20;~:30;0;10"),
		  "delivery perfdata carries the thresholds" DIAG_FMT, DIAG_ARGS(&x));
	static const char *const steps[] = { "smtp_connect=", "smtp_greeting=", "smtp_ehlo=", "smtp_starttls=",
					     "smtp_tls=", "smtp_ehlo_tls=", "smtp_auth=", "smtp_mail=", "smtp_rcpt=",
					     "smtp_data=", "find=", "fetch_headers=", "delete=" };
	for (size_t i = 0; i < sizeof(steps) / sizeof(steps[0]); i++)
		cr_assert(strstr(x.r.first_line, steps[i]), "no %s perfdata" DIAG_FMT, steps[i], DIAG_ARGS(&x));
	cr_assert(strstr(x.r.out, "by mx.cis.test with ESMTPSA"), "the path in the long output" DIAG_FMT, DIAG_ARGS(&x));
	cr_assert(strstr(x.r.out, "with LMTP"), "the LMTP hop" DIAG_FMT, DIAG_ARGS(&x));
	cr_assert_eq(probes_left(user), 0, "the probe message is still there" DIAG_FMT, DIAG_ARGS(&x));
	probe_run_free(&x.r);

	/* NOOP polling instead of IDLE: a figure as fine as the interval */
	run_probe(&x, user, NULL, "--smtp-port", env("POSTFIX_SUBMISSION_PORT"), "--smtp-starttls", "--delivery-poll",
		  "0.01", "-v", NULL);
	expect_state(&x, 0, "(NOOP polling every 0.01s)");
	cr_assert(strstr(x.r.first_line, " poll=") && !strstr(x.r.first_line, " idle="), DIAG_FMT, DIAG_ARGS(&x));
	d = perf(&x, "delivery");
	cr_assert(d > 0 && d < 3, "delivery=%g" DIAG_FMT, d, DIAG_ARGS(&x));
	cr_assert_eq(probes_left(user), 0, DIAG_FMT, DIAG_ARGS(&x));
	probe_run_free(&x.r);

	/* implicit TLS, port from --smtp-ssl's default replaced */
	run_probe(&x, user, NULL, "--smtp-port", env("POSTFIX_SMTPS_PORT"), "--smtp-ssl", NULL);
	expect_state(&x, 0, "delivered in ");
	cr_assert(perf(&x, "smtp_tls") >= 0 && !strstr(x.r.first_line, "smtp_starttls="), DIAG_FMT, DIAG_ARGS(&x));
	cr_assert_eq(probes_left(user), 0, DIAG_FMT, DIAG_ARGS(&x));
	probe_run_free(&x.r);
}

/* ---------------------------------------------------------------- refusals */

Test(e2e_delivery, refused_recipient)
{
	char user[64];
	struct run x;

	adduser(user, sizeof(user), "rcpt");
	run_probe(&x, user, NULL, "--smtp-port", env("POSTFIX_SUBMISSION_PORT"), "--smtp-starttls", "--rcpt-to",
		  "nosuchuser@example.org", NULL);
	expect_state(&x, 2, "smtp_rcpt failed: RCPT TO: 550 5.1.1 <nosuchuser@example.org>: Recipient address rejected");
	cr_assert_null(strstr(x.r.first_line, "delivery="), DIAG_FMT, DIAG_ARGS(&x));
	cr_assert_eq(probes_left(user), 0, DIAG_FMT, DIAG_ARGS(&x));
	probe_run_free(&x.r);
}

Test(e2e_delivery, wrong_smtp_password)
{
	char user[64];
	struct run x;

	adduser(user, sizeof(user), "badpw");
	run_probe(&x, user, NULL, "--smtp-port", env("POSTFIX_SUBMISSION_PORT"), "--smtp-starttls",
		  "--smtp-password-env", "CIS_BADPW", "-vvv", NULL);
	expect_state(&x, 2, "smtp_auth failed: AUTH ");
	cr_assert(strstr(x.r.first_line, ": 535 5.7.8 "), "the server's words" DIAG_FMT, DIAG_ARGS(&x));
	cr_assert_null(strstr(x.r.out, "wrong-pw-deliv"), "the password in the output" DIAG_FMT, DIAG_ARGS(&x));
	cr_assert_eq(probes_left(user), 0, DIAG_FMT, DIAG_ARGS(&x));
	probe_run_free(&x.r);
}

Test(e2e_delivery, starttls_not_offered_is_critical)
{
	char user[64];
	struct run x;

	adduser(user, sizeof(user), "nostarttls");
	run_probe(&x, user, NULL, "--smtp-port", env("POSTFIX_PLAIN_PORT"), "--smtp-starttls", "-vvv", NULL);
	expect_state(&x, 2, "smtp_starttls failed: STARTTLS: the server does not offer STARTTLS");
	cr_assert_null(strstr(x.r.out, "SMTP C: AUTH"), "AUTH in the clear" DIAG_FMT, DIAG_ARGS(&x));
	cr_assert_null(strstr(x.r.out, "SMTP C: MAIL"), "went on in the clear" DIAG_FMT, DIAG_ARGS(&x));
	cr_assert_eq(probes_left(user), 0, DIAG_FMT, DIAG_ARGS(&x));
	probe_run_free(&x.r);
}

/* The plain port offers only PLAIN and LOGIN: auto sends no password in
 * the clear; naming the mechanism does, and nothing secret shows at -vvv. */
Test(e2e_delivery, no_password_in_the_clear_unless_named)
{
	char user[64];
	struct run x;

	adduser(user, sizeof(user), "plain");
	run_probe(&x, user, NULL, "--smtp-port", env("POSTFIX_PLAIN_PORT"), "-vvv", NULL);
	expect_state(&x, 2, "smtp_auth failed: no usable mechanism");
	cr_assert(strstr(x.r.first_line, "unencrypted"), DIAG_FMT, DIAG_ARGS(&x));
	cr_assert_null(strstr(x.r.out, "SMTP C: AUTH"), "AUTH sent" DIAG_FMT, DIAG_ARGS(&x));
	probe_run_free(&x.r);

	run_probe(&x, user, NULL, "--smtp-port", env("POSTFIX_PLAIN_PORT"), "--smtp-auth", "plain", "-vvv", NULL);
	expect_state(&x, 0, "delivered in ");
	cr_assert(strstr(x.r.out, "SMTP C: AUTH PLAIN <redacted>"), DIAG_FMT, DIAG_ARGS(&x));
	cr_assert_null(strstr(x.r.out, "pw-deliv"), "the password" DIAG_FMT, DIAG_ARGS(&x));
	/* base64 of "\0user\0pw-deliv" would contain the encoded password */
	cr_assert_null(strstr(x.r.out, "cHctZGVsaXY"), "the password in base64" DIAG_FMT, DIAG_ARGS(&x));
	cr_assert_eq(probes_left(user), 0, DIAG_FMT, DIAG_ARGS(&x));
	probe_run_free(&x.r);

	run_probe(&x, user, NULL, "--smtp-port", env("POSTFIX_PLAIN_PORT"), "--smtp-auth", "login", "-vvv", NULL);
	expect_state(&x, 0, "delivered in ");
	cr_assert(strstr(x.r.out, "SMTP C: AUTH LOGIN\n"), DIAG_FMT, DIAG_ARGS(&x));
	cr_assert_null(strstr(x.r.out, "pw-deliv"), DIAG_FMT, DIAG_ARGS(&x));
	cr_assert_null(strstr(x.r.out, "cHctZGVsaXY"), DIAG_FMT, DIAG_ARGS(&x));
	cr_assert_eq(probes_left(user), 0, DIAG_FMT, DIAG_ARGS(&x));
	probe_run_free(&x.r);
}

/* ---------------------------------------------------------------- thresholds, held mail */

/* 1 when Postfix's hold queue has a message. */
static int hold_queue_used(void)
{
	char dir[1024];
	snprintf(dir, sizeof(dir), "%s/postfix/spool/hold", env("DOVECOT_STATEDIR"));
	DIR *d = opendir(dir);
	if (!d)
		return 0;
	const struct dirent *e;
	int used = 0;
	while (!used && (e = readdir(d)) != NULL)
		used = e->d_name[0] != '.';
	closedir(d);
	return used;
}

/* postsuper on the Postfix instance in the background, `delay` seconds
 * after a message reached the hold queue (at most 60 s of waiting for it:
 * the probe may start slowly, e.g. under valgrind); returns the helper's
 * pid. */
static pid_t postsuper_later(double delay, const char *arg)
{
	pid_t pid = fork();
	cr_assert_geq(pid, 0);
	if (pid == 0) {
		struct timespec poll_ts = { 0, 10 * 1000 * 1000 };
		for (int i = 0; i < 6000 && !hold_queue_used(); i++)
			nanosleep(&poll_ts, NULL);
		struct timespec ts = { (time_t)delay, (long)((delay - (double)(time_t)delay) * 1e9) };
		nanosleep(&ts, NULL);
		const char *argv[] = { "bash", env("POSTFIX_FIXTURE"), "postsuper", env("DOVECOT_STATEDIR"), arg, "ALL", NULL };
		freopen("/dev/null", "w", stdout);
		freopen("/dev/null", "w", stderr);
		execvp(argv[0], (char *const *)argv);
		_exit(127);
	}
	return pid;
}

Test(e2e_delivery, thresholds_and_held_mail)
{
	char user[64], rcpt[128];
	struct run x;
	int st;

	adduser(user, sizeof(user), "held");
	snprintf(rcpt, sizeof(rcpt), "%s+hold@example.org", user);

	/* held for 1.5 s once queued: over the 1 s warning, under the critical */
	pid_t rel = postsuper_later(1.5, "-H");
	run_probe(&x, user, NULL, "--smtp-port", env("POSTFIX_SUBMISSION_PORT"), "--smtp-starttls", "--rcpt-to", rcpt,
		  "--delivery-warning", "1", "--delivery-critical", "8", NULL);
	waitpid(rel, &st, 0);
	expect_state(&x, 1, "delivery took ");
	cr_assert(strstr(x.r.first_line, "(warning threshold ~:1)"), DIAG_FMT, DIAG_ARGS(&x));
	double d = perf(&x, "delivery");
	cr_assert(d >= 1.4 && d < 8, "delivery=%g" DIAG_FMT, d, DIAG_ARGS(&x));
	cr_assert_eq(probes_left(user), 0, DIAG_FMT, DIAG_ARGS(&x));
	probe_run_free(&x.r);

	/* a critical threshold any delivery crosses */
	run_probe(&x, user, NULL, "--smtp-port", env("POSTFIX_SUBMISSION_PORT"), "--smtp-starttls",
		  "--delivery-warning", "0.000001", "--delivery-critical", "0.000002", NULL);
	expect_state(&x, 2, "delivery took ");
	cr_assert(strstr(x.r.first_line, "(critical threshold ~:0.000002)"), DIAG_FMT, DIAG_ARGS(&x));
	cr_assert_eq(probes_left(user), 0, DIAG_FMT, DIAG_ARGS(&x));
	probe_run_free(&x.r);

	/* never released: not delivered within the time left (-t 4) */
	run_probe(&x, user, NULL, "--smtp-port", env("POSTFIX_SUBMISSION_PORT"), "--smtp-starttls", "--rcpt-to", rcpt,
		  "-t", "4", NULL);
	expect_state(&x, 2, "delivery failed: not delivered within ");
	cr_assert_lt(x.r.wall_s, 6, DIAG_FMT, DIAG_ARGS(&x));
	/* the held copy must never arrive */
	const char *del[] = { "bash", env("POSTFIX_FIXTURE"), "postsuper", env("DOVECOT_STATEDIR"), "-d", "ALL", NULL };
	cr_assert_eq(run_quiet(del), 0);
	cr_assert_eq(probes_left(user), 0, DIAG_FMT, DIAG_ARGS(&x));
	probe_run_free(&x.r);
}

/* ---------------------------------------------------------------- leftovers */

Test(e2e_delivery, leftovers_of_earlier_runs_removed)
{
	char user[64], cmd[2048];
	struct run x;

	adduser(user, sizeof(user), "left");
	/* a probe message an interrupted run left an hour ago (maildir: the
	 * file's mtime is its internal date) */
	snprintf(cmd, sizeof(cmd),
		 "set -e; home=$(doveadm -c '%s/dovecot-main.conf' user -f home '%s'); f=$home/Maildir/new/1.left.cis; "
		 "printf 'From: <%s@example.org>\\r\\nSubject: old probe\\r\\nMessage-ID: <cis-old-1@example.org>\\r\\n"
		 "X-Check-Imap-Session: probe (delivery) cis-old-0123456789; sent=1000\\r\\n\\r\\nleft behind\\r\\n' > $f; "
		 "touch -d '1 hour ago' $f; chown --reference=$home/Maildir $f",
		 env("DOVECOT_STATEDIR"), user, user);
	cr_assert_eq(system(cmd), 0, "planting a leftover failed");
	cr_assert_eq(probes_left(user), 1);
	run_probe(&x, user, NULL, "--smtp-port", env("POSTFIX_SUBMISSION_PORT"), "--smtp-starttls", "-v", NULL);
	expect_state(&x, 0, "delivered in ");
	cr_assert(strstr(x.r.out, "and 1 left by earlier runs"), DIAG_FMT, DIAG_ARGS(&x));
	cr_assert_eq(probes_left(user), 0, DIAG_FMT, DIAG_ARGS(&x));
	probe_run_free(&x.r);
}

/* ---------------------------------------------------------------- bad usage */

Test(e2e_delivery, bad_options_are_unknown)
{
	struct run x;

	run_probe(&x, "user", NULL, "--rcpt-to", "a@b\r\nRCPT TO:<evil@x>", NULL);
	expect_state(&x, 3, "--rcpt-to");
	probe_run_free(&x.r);
	run_probe(&x, "user", NULL, "--smtp-auth", "bogus", NULL);
	expect_state(&x, 3, "--smtp-auth bogus");
	probe_run_free(&x.r);
	run_probe(&x, "user", NULL, "--smtp-password-env", "CIS_NO_SUCH_VARIABLE", NULL);
	expect_state(&x, 3, "--smtp-password-env");
	probe_run_free(&x.r);
	run_probe(&x, "user", NULL, "--smtp-auth", "xoauth2", NULL);
	expect_state(&x, 3, "--smtp-auth xoauth2 needs a token");
	probe_run_free(&x.r);
	run_probe(&x, "user", NULL, "--delivery-poll", "0", NULL);
	expect_state(&x, 3, "--delivery-poll 0:");
	probe_run_free(&x.r);

	/* without --deliver-via, and without an address to deliver to */
	static const char *const nodeliver[] = { "-H", "127.0.0.1", "-U", "user", "-P", "x", "--smtp-ssl", NULL };
	cr_assert_eq(probe_run(&x.r, HARD_TIMEOUT_S, NULL, nodeliver), 0);
	cr_assert_eq(x.r.exit_code, 3);
	cr_assert(strstr(x.r.out, "without --deliver-via HOST"), "%s", x.r.out);
	probe_run_free(&x.r);
	static const char *const noaddr[] = { "-H", "127.0.0.1", "-U", "user", "-P", "x", "--deliver-via", "h", NULL };
	cr_assert_eq(probe_run(&x.r, HARD_TIMEOUT_S, NULL, noaddr), 0);
	cr_assert_eq(x.r.exit_code, 3);
	cr_assert(strstr(x.r.out, "needs --rcpt-to ADDRESS"), "%s", x.r.out);
	probe_run_free(&x.r);
}

/* ---------------------------------------------------------------- a hostile SMTP server */

/* The real probe, the IMAP side against Dovecot, the SMTP side against
 * tests/fake/fakesmtp.py MODE: CRITICAL naming the SMTP step and what went
 * wrong, the IDLE ended and the IMAP session logged out cleanly. */
static const struct {
	const char *mode;
	const char *opt;        /* an extra option, or NULL */
	const char *want;       /* in the status line */
} hostile[] = {
	{ "inject", "--smtp-starttls",
	  "smtp_starttls failed: STARTTLS: the server sent data after its 220 before the TLS handshake (response injection?)" },
	{ "no-starttls", "--smtp-starttls", "smtp_starttls failed: STARTTLS: the server does not offer STARTTLS" },
	{ "refuse-starttls", "--smtp-starttls", "smtp_starttls failed: STARTTLS: refused by the server (454 4.7.0 TLS not available" },
	{ "closing", NULL, "smtp_mail failed: MAIL FROM: server is closing the connection: 421 4.3.2 Service shutting down" },
	{ "close-after-data", NULL, "smtp_data failed: end of DATA: connection closed by the server" },
	{ "huge-line", NULL, "smtp_greeting failed: greeting: server reply too large: reply line longer than 2048 bytes" },
	{ "flood", NULL, "smtp_ehlo failed: EHLO: server reply too large: reply longer than 128 lines" },
	{ "wrong-code", NULL, "smtp_greeting failed: greeting: unexpected reply (expected 220): 250 fake.test is not a greeting" },
	{ "truncated", NULL, "smtp_greeting failed: greeting: connection closed by the server in the middle of a reply" },
	{ "rcpt-multiline", NULL,
	  "smtp_rcpt failed: RCPT TO: 550 5.1.1 <x>: Recipient address rejected: first continuation last line" },
};

Test(e2e_delivery, hostile_smtp_server)
{
	char user[64], cmd[1024], port[16];
	struct run x;

	adduser(user, sizeof(user), "hostile");
	for (size_t i = 0; i < sizeof(hostile) / sizeof(hostile[0]); i++) {
		snprintf(cmd, sizeof(cmd), "python3 '%s/tests/fake/fakesmtp.py' %s", env("TOP_SRCDIR"), hostile[i].mode);
		FILE *fk = popen(cmd, "r");
		cr_assert_not_null(fk);
		cr_assert_not_null(fgets(port, sizeof(port), fk), "%s: the fake server did not start", hostile[i].mode);
		port[strcspn(port, "\n")] = '\0';
		run_probe(&x, user, NULL, "--smtp-port", port, "--smtp-auth", "none", "-t", "8",
			  hostile[i].opt ? hostile[i].opt : "-v", "-v", NULL);
		pclose(fk);
		expect_state(&x, 2, hostile[i].want);
		cr_assert(strstr(x.r.first_line, hostile[i].want), "%s: not in the status line" DIAG_FMT, hostile[i].mode,
			  DIAG_ARGS(&x));
		cr_assert(strstr(x.r.out, "\nlogout: OK"), "%s: the IMAP session did not end cleanly" DIAG_FMT,
			  hostile[i].mode, DIAG_ARGS(&x));
		cr_assert_lt(x.r.wall_s, 6, "%s: took %.1fs" DIAG_FMT, hostile[i].mode, x.r.wall_s, DIAG_ARGS(&x));
		probe_run_free(&x.r);
	}
	cr_assert_eq(probes_left(user), 0);
}

/* ---------------------------------------------------------------- a probe message that stays */

/* The IMAP side against tests/fake/fakeimap.py: the message arrives, is
 * found and fetched, but the server refuses UID EXPUNGE.  The delivery
 * worked: WARNING, naming the UID and the server's words. */
static const char delete_refused[] =
	"line * OK [CAPABILITY IMAP4rev1 IDLE UIDPLUS AUTH=PLAIN SASL-IR] fake ready\n"
	"expect AUTHENTICATE PLAIN .*\n"
	"line $TAG OK [CAPABILITY IMAP4rev1 IDLE UIDPLUS] Logged in\n"
	"expect STATUS\n"
	"line * STATUS INBOX (UNSEEN 0)\n"
	"line $TAG OK STATUS completed\n"
	"expect SELECT\n"
	"line * 1 EXISTS\n"
	"line * OK [UIDVALIDITY 1700000000] UIDs valid\n"
	"line $TAG OK [READ-WRITE] SELECT completed\n"
	"expect IDLE\n"
	"line + idling\n"
	"sleep 1\n"
	"line * 2 EXISTS\n"
	"expectline DONE\n"
	"line $TAG OK Idle completed\n"
	"expect UID SEARCH HEADER X-Check-Imap-Session probe .*\n"
	"line * SEARCH\n"
	"line $TAG OK search done\n"
	"expect UID SEARCH HEADER X-Check-Imap-Session \"(?P<TOKEN>cis-[^\"]*)\"\n"
	"line * SEARCH 7\n"
	"line $TAG OK search done\n"
	"expect UID FETCH 7 .*\n"
	"send * 2 FETCH (UID 7 BODY[HEADER] \n"
	"sendliteral X-Check-Imap-Session: probe (delivery) $TOKEN; sent=1\\r\\nSubject: x\\r\\n\\r\\n\n"
	"line )\n"
	"line $TAG OK fetch done\n"
	"expect UID STORE 7 .*\n"
	"line $TAG OK store done\n"
	"expect UID EXPUNGE 7\n"
	"line $TAG NO [CANNOT] expunge refused by policy\n"
	"expect LOGOUT\n"
	"line * BYE bye\n"
	"line $TAG OK Logout completed\n"
	"close\n";

Test(e2e_delivery, delete_refused_is_warning)
{
	char scen[256], cmd[1024], line[64], imap_port[16], smtp_port[16];
	struct run x;

	snprintf(scen, sizeof(scen), "%s/delete-refused.scenario", env("DOVECOT_STATEDIR"));
	FILE *f = fopen(scen, "w");
	cr_assert_not_null(f);
	fputs(delete_refused, f);
	fclose(f);
	snprintf(cmd, sizeof(cmd), "python3 '%s/tests/fake/fakeimap.py' --max-seconds 20 '%s'", env("TOP_SRCDIR"), scen);
	FILE *fi = popen(cmd, "r");
	cr_assert_not_null(fi);
	cr_assert_not_null(fgets(line, sizeof(line), fi), "fakeimap did not start");
	cr_assert(sscanf(line, "PORT %15s", imap_port) == 1, "fakeimap said: %s", line);
	snprintf(cmd, sizeof(cmd), "python3 '%s/tests/fake/fakesmtp.py' accept", env("TOP_SRCDIR"));
	FILE *fs = popen(cmd, "r");
	cr_assert_not_null(fs);
	cr_assert_not_null(fgets(smtp_port, sizeof(smtp_port), fs), "fakesmtp did not start");
	smtp_port[strcspn(smtp_port, "\n")] = '\0';

	const char *argv[] = { "-H", "127.0.0.1", "-p", imap_port, "-U", "user@example.org", "--password-env", "CIS_PW",
			       "--auth", "plain", "--fetch", "none", "--deliver-via", "127.0.0.1", "--smtp-port", smtp_port,
			       "--smtp-auth", "none", "-t", "10", "-v", NULL };
	const char *envv[] = { "CIS_PW=pw-fake", NULL };
	cr_assert_eq(probe_run(&x.r, HARD_TIMEOUT_S, envv, argv), 0);
	snprintf(x.line, sizeof(x.line), "(against fakeimap.py and fakesmtp.py accept)");
	int ri = pclose(fi), rs = pclose(fs);
	expect_state(&x, 1, "delete failed: the probe message UID 7 arrived but could not be deleted "
			    "(UID EXPUNGE: NO [CANNOT] expunge refused by policy)");
	cr_assert(strstr(x.r.out, "the probe message UID 7 stays in INBOX"), DIAG_FMT, DIAG_ARGS(&x));
	cr_assert(strstr(x.r.first_line, " delivery="), DIAG_FMT, DIAG_ARGS(&x));
	cr_assert_eq(ri, 0, "fakeimap: the scenario did not play to its end (status %d)" DIAG_FMT, ri, DIAG_ARGS(&x));
	cr_assert_eq(rs, 0, "fakesmtp exit %d", rs);
	probe_run_free(&x.r);
}
