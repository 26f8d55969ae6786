/* test_dovecot.c - integration tests: the real check_imap_session binary
 * ($PROBE) against the suite's throwaway Dovecot (tests/dovecot/fixture.sh,
 * started by tests/run-test.sh, which exports the DOVECOT_* variables).
 *
 * Adding a case: build a command with cmd_new() + cmd_plain()/cmd_ssl()/
 * cmd_starttls() + cmd_fixture_user() + cmd_add(), run it with cmd_run(), and check
 * it with cmd_expect_state(), cmd_expect_out(), cmd_perf_has() /
 * cmd_perf_value() (runprobe.h).  Every assertion message carries the command line and the probe's whole output.
 * Cases that need an option the probe does not have yet skip themselves
 * (need_option()), so the suite can run ahead of the implementation. */
#define _GNU_SOURCE
#include <criterion/criterion.h>

#include <arpa/inet.h>
#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "runprobe.h"
#include "testutil.h"

#define HARD_TIMEOUT_S 30.0

enum { ST_OK = 0, ST_WARNING = 1, ST_CRITICAL = 2, ST_UNKNOWN = 3 };

/* ------------------------------------------------------------ commands */

/* -H 127.0.0.1 -p <port from the fixture variable PORT_VAR> */
static void cmd_host(struct cmd *c, const char *host, const char *port_var)
{
	cmd_add(c, "-H");
	cmd_add(c, host);
	cmd_add(c, "-p");
	cmd_add(c, fixture_env(port_var));
}

static void cmd_plain(struct cmd *c) { cmd_fixture_conn(c, FIXTURE_PLAIN, NULL); }
static void cmd_ssl_port(struct cmd *c, const char *port_var)
{
	cmd_fixture_conn(c, FIXTURE_IMPLICIT, fixture_env(port_var));
}
static void cmd_ssl(struct cmd *c) { cmd_fixture_conn(c, FIXTURE_IMPLICIT, NULL); }
static void cmd_starttls(struct cmd *c) { cmd_fixture_conn(c, FIXTURE_STARTTLS, NULL); }
static void cmd_default_user(struct cmd *c) { cmd_fixture_user(c, "DOVECOT_USER", "DOVECOT_PASS"); }

static void cmd_run(struct cmd *c) { cmd_run_for(c, HARD_TIMEOUT_S); }


static void expect_not_ok(struct cmd *c)
{
	cr_assert(c->r.exit_code == ST_WARNING || c->r.exit_code == ST_CRITICAL ||
	              c->r.exit_code == ST_UNKNOWN,
	          "expected a non-OK state, got exit %d" DUMP_FMT, c->r.exit_code, DUMP_ARGS(c));
	cr_assert(strncmp(c->r.first_line, "IMAP OK", 7) != 0, "first line says OK" DUMP_FMT,
	          DUMP_ARGS(c));
}

/* Neither stdout nor stderr contains SECRET. */
static void expect_secret_kept(struct cmd *c, const char *secret, const char *what)
{
	cr_assert(strstr(c->r.out, secret) == NULL && strstr(c->r.err, secret) == NULL,
	          "the %s appears in the output" DUMP_FMT, what, DUMP_ARGS(c));
}

/* ------------------------------------------------------------ perfdata */

/* Every perfdata item is label=number[uom][;...] with C-locale numbers. */
static void expect_perf_wellformed(struct cmd *c)
{
	const char *p = strchr(c->r.first_line, '|');

	cr_assert_not_null(p, "no perfdata" DUMP_FMT, DUMP_ARGS(c));
	for (p++; *p;) {
		while (*p == ' ')
			p++;
		if (!*p)
			break;
		if (*p == '\'') {
			p = strchr(p + 1, '\'');
			cr_assert_not_null(p, "unterminated perfdata label" DUMP_FMT, DUMP_ARGS(c));
			p++;
		} else {
			while (*p && *p != '=' && *p != ' ')
				p++;
		}
		cr_assert_eq(*p, '=', "perfdata item without '='" DUMP_FMT, DUMP_ARGS(c));
		p++;
		cr_assert(*p == '-' || isdigit((unsigned char)*p) || *p == '.',
		          "perfdata value not numeric" DUMP_FMT, DUMP_ARGS(c));
		while (*p && *p != ' ') {
			cr_assert(*p != ',', "decimal comma in perfdata" DUMP_FMT, DUMP_ARGS(c));
			p++;
		}
	}
}

/* ------------------------------------------------------------ probe features */

/* Skip the current test unless `$PROBE --help` mentions OPTION. */
static void need_option(const char *option)
{
	static char *help;

	if (help == NULL) {
		struct probe_run r;

		cr_assert_eq(probe_runl(&r, "--help", NULL), 0, "cannot run the probe");
		/* a broken probe must fail the test, not skip it */
		cr_assert(r.exit_code == ST_UNKNOWN && strstr(r.out, "--hostname") != NULL,
		          "`$PROBE --help` failed (exit %d)\n--- stdout:\n%s\n--- stderr:\n%s",
		          r.exit_code, r.out, r.err);
		help = strdup(r.out);
		probe_run_free(&r);
	}
	if (strstr(help, option) == NULL)
		cr_skip_test("the probe does not offer %s yet", option);
}

/* ------------------------------------------------------------ fixture helpers */

/* Occurrences of NEEDLE in the main instance's log. */
static int log_count(const char *needle)
{
	char *log = tu_read_file(fixture_env("DOVECOT_LOG"));
	int n = tu_count(log, needle);

	free(log);
	return n;
}

/* Wait (bounded) until NEEDLE shows up in the log; Dovecot's log process
 * writes asynchronously. */
static int log_wait(const char *needle, double timeout_s)
{
	struct timespec ts = {0, 20 * 1000 * 1000};
	int i;

	for (i = 0; i < (int)(timeout_s / 0.02); i++) {
		if (log_count(needle) > 0)
			return 1;
		nanosleep(&ts, NULL);
	}
	return 0;
}

/* A loopback TCP socket: listening (backlog only, never accepted) or, with
 * listen_too = 0, bound and closed again so that its port refuses. */
static int loopback_socket(int listen_too, int *port)
{
	struct sockaddr_in sa = {.sin_family = AF_INET};
	socklen_t sl = sizeof sa;
	int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);

	cr_assert(fd >= 0);
	sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	cr_assert_eq(bind(fd, (struct sockaddr *)&sa, sizeof sa), 0, "bind: %s", strerror(errno));
	cr_assert_eq(getsockname(fd, (struct sockaddr *)&sa, &sl), 0);
	*port = ntohs(sa.sin_port);
	if (listen_too) {
		cr_assert_eq(listen(fd, 8), 0);
		return fd;
	}
	close(fd);
	return -1;
}


TestSuite(dovecot, .timeout = 120);

/* ============================================================ issue 2: plain TCP */

Test(dovecot, login_ok_reports_counts_and_every_step)
{
	struct cmd *c = cmd_new();
	char want[64];

	cmd_plain(c);
	cmd_default_user(c);
	cmd_add(c, "--auth");
	cmd_add(c, "login");
	cmd_run(c);
	cmd_expect_state(c, ST_OK);
	snprintf(want, sizeof want, "%s messages", fixture_env("DOVECOT_INBOX_MESSAGES"));
	cmd_expect_summary_i(c, want);
	expect_perf_wellformed(c);
	static const char *const steps[] = {"resolve", "connect", "greeting", "auth", "examine",
	                                    "fetch",   "logout",  "time"};
	for (size_t i = 0; i < sizeof steps / sizeof steps[0]; i++) {
		char uom[16];
		double v = cmd_perf_value(c, steps[i], uom, sizeof uom);

		cr_assert_str_eq(uom, "s", "'%s' has unit \"%s\"" DUMP_FMT, steps[i], uom, DUMP_ARGS(c));
		cr_assert(v >= 0 && v < 10, "'%s'=%g out of range" DUMP_FMT, steps[i], v, DUMP_ARGS(c));
	}
	cr_assert_eq((int)cmd_perf_value(c, "messages", NULL, 0), atoi(fixture_env("DOVECOT_INBOX_MESSAGES")),
	             "messages count" DUMP_FMT, DUMP_ARGS(c));
	cr_assert_eq((int)cmd_perf_value(c, "unseen", NULL, 0), atoi(fixture_env("DOVECOT_INBOX_UNSEEN")),
	             "unseen count" DUMP_FMT, DUMP_ARGS(c));
	cmd_expect_perf(c, "recent");
	/* min 0 and max = the timeout (default 10) on the time values */
	char part[64];
	cmd_perf_part(c, "time", 3, part, sizeof part);
	cr_assert_str_eq(part, "0", "'time' min" DUMP_FMT, DUMP_ARGS(c));
	cmd_perf_part(c, "time", 4, part, sizeof part);
	cr_assert(strtod(part, NULL) == 10.0, "'time' max is \"%s\", not the timeout" DUMP_FMT, part,
	          DUMP_ARGS(c));
	/* the newest message's subject shows up in the long output */
	cmd_expect_out(c, fixture_env("DOVECOT_INBOX_NEWEST_SUBJECT"));
	cmd_free(c);
}

Test(dovecot, perfdata_uses_c_locale_under_a_comma_locale)
{
	struct cmd *c = cmd_new();

	cmd_plain(c);
	cmd_default_user(c);
	cmd_add(c, "--auth");
	cmd_add(c, "login");
	cmd_env(c, "LC_ALL=de_DE.UTF-8");
	cmd_env(c, "LANG=de_DE.UTF-8");
	cmd_run(c);
	cmd_expect_state(c, ST_OK);
	expect_perf_wellformed(c);
	cmd_free(c);
}

Test(dovecot, wrong_password_is_critical_with_the_server_words)
{
	struct cmd *c = cmd_new();

	cmd_plain(c);
	cmd_add(c, "-U");
	cmd_add(c, fixture_env("DOVECOT_USER"));
	cmd_add(c, "--password-env");
	cmd_add(c, "CIS_WRONG_PASS");
	cmd_env(c, "CIS_WRONG_PASS=not-the-password");
	cmd_add(c, "--auth");
	cmd_add(c, "login");
	cmd_run(c);
	cmd_expect_state(c, ST_CRITICAL);
	cmd_expect_summary_i(c, "auth");
	cmd_expect_summary_i(c, "[AUTHENTICATIONFAILED]");
	/* the steps that ran still have perfdata */
	cmd_expect_perf(c, "connect");
	cmd_expect_perf(c, "greeting");
	cmd_expect_no_perf(c, "examine");
	expect_secret_kept(c, "not-the-password", "wrong password");
	cmd_free(c);
}

Test(dovecot, unknown_mailbox_is_critical_naming_examine)
{
	struct cmd *c = cmd_new();

	cmd_plain(c);
	cmd_default_user(c);
	cmd_add(c, "--auth");
	cmd_add(c, "login");
	cmd_add(c, "-m");
	cmd_add(c, "No Such Mailbox");
	cmd_run(c);
	cmd_expect_state(c, ST_CRITICAL);
	cmd_expect_summary_i(c, "examine");
	cmd_expect_perf(c, "auth");
	cmd_free(c);
}

Test(dovecot, closed_port_is_critical_naming_connect)
{
	struct cmd *c = cmd_new();
	int port;

	loopback_socket(0, &port);
	cmd_add(c, "-H");
	cmd_add(c, "127.0.0.1");
	cmd_add(c, "-p");
	cmd_addf(c, "%d", port);
	cmd_add(c, "--auth");
	cmd_add(c, "none");
	cmd_run(c);
	cmd_expect_state(c, ST_CRITICAL);
	cmd_expect_summary_i(c, "connect");
	cr_assert(c->r.wall_s < 5.0, "took %.2f s" DUMP_FMT, c->r.wall_s, DUMP_ARGS(c));
	cmd_free(c);
}

Test(dovecot, silent_server_times_out_during_greeting)
{
	struct cmd *c = cmd_new();
	int port, fd = loopback_socket(1, &port);

	cmd_add(c, "-H");
	cmd_add(c, "127.0.0.1");
	cmd_add(c, "-p");
	cmd_addf(c, "%d", port);
	cmd_add(c, "-U");
	cmd_add(c, "user");
	cmd_add(c, "-P");
	cmd_add(c, "irrelevant");
	cmd_add(c, "--auth");
	cmd_add(c, "login");
	cmd_add(c, "-t");
	cmd_add(c, "1");
	cmd_run_for(c, 10.0);
	close(fd);
	cmd_expect_state(c, ST_CRITICAL);
	cmd_expect_summary_i(c, "timeout during greeting");
	cr_assert(c->r.wall_s < 1.5, "took %.3f s for -t 1" DUMP_FMT, c->r.wall_s, DUMP_ARGS(c));
	cmd_expect_perf(c, "connect");
	cmd_free(c);
}

Test(dovecot, timeout_state_is_configurable)
{
	struct cmd *c = cmd_new();
	int port, fd = loopback_socket(1, &port);

	cmd_add(c, "-H");
	cmd_add(c, "127.0.0.1");
	cmd_add(c, "-p");
	cmd_addf(c, "%d", port);
	cmd_add(c, "--auth");
	cmd_add(c, "none");
	cmd_add(c, "-t");
	cmd_add(c, "1:warning");
	cmd_run_for(c, 10.0);
	close(fd);
	cmd_expect_state(c, ST_WARNING);
	cmd_expect_summary_i(c, "timeout");
	cmd_free(c);
}

static void threshold_case(const char *opt, const char *range, int state)
{
	struct cmd *c = cmd_new();
	char part[64];

	cmd_plain(c);
	cmd_default_user(c);
	cmd_add(c, "--auth");
	cmd_add(c, "login");
	cmd_add(c, opt);
	cmd_add(c, range);
	cmd_run(c);
	cmd_expect_state(c, state);
	/* the threshold shows in the 'time' perfdata */
	cmd_perf_part(c, "time", strcmp(opt, "-w") == 0 ? 1 : 2, part, sizeof part);
	cr_assert(part[0] != '\0', "no %s threshold in 'time' perfdata" DUMP_FMT, opt, DUMP_ARGS(c));
	cmd_free(c);
}

Test(dovecot, warning_threshold_on_total_time) { threshold_case("-w", "0.000001", ST_WARNING); }
Test(dovecot, critical_threshold_on_total_time) { threshold_case("-c", "0.000001", ST_CRITICAL); }
Test(dovecot, threshold_range_inside_is_ok) { threshold_case("-w", "0:100", ST_OK); }
Test(dovecot, inverted_range_alerts_inside) { threshold_case("-c", "@0:100", ST_CRITICAL); }

Test(dovecot, bad_range_is_unknown)
{
	struct cmd *c = cmd_new();

	cmd_plain(c);
	cmd_default_user(c);
	cmd_add(c, "--auth");
	cmd_add(c, "login");
	cmd_add(c, "-w");
	cmd_add(c, "fast");
	cmd_run(c);
	cmd_expect_state(c, ST_UNKNOWN);
	cmd_free(c);
}

/* Without --auth, no password may cross the unencrypted connection in the
 * clear.  Either the probe refuses (and Dovecot's log shows no attempt), or
 * it succeeds with a mechanism that does not reveal the password. */
Test(dovecot, no_plaintext_password_on_the_plain_port_by_default)
{
	struct cmd *c = cmd_new();
	char user[64], needle[128];

	fixture_adduser(user, sizeof user, "noplain", "secret-noplain");
	cmd_plain(c);
	cmd_add(c, "-U");
	cmd_add(c, user);
	cmd_add(c, "--password-env");
	cmd_add(c, "CIS_PW");
	cmd_env(c, "CIS_PW=secret-noplain");
	cmd_run(c);
	if (c->r.exit_code == ST_OK) {
		snprintf(needle, sizeof needle, "Login: user=<%s>, method=", user);
		cr_assert(log_wait(needle, 5.0), "no login line for %s in the log" DUMP_FMT, user,
		          DUMP_ARGS(c));
		char *log = tu_read_file(fixture_env("DOVECOT_LOG"));
		const char *m = strstr(log, needle) + strlen(needle);
		cr_assert(strncmp(m, "PLAIN,", 6) != 0 && strncmp(m, "LOGIN,", 6) != 0,
		          "default auth sent a plaintext password: %.40s" DUMP_FMT, m, DUMP_ARGS(c));
		free(log);
	} else {
		expect_not_ok(c);
		cr_assert(strcasestr(c->r.first_line, "plain") || strcasestr(c->r.first_line, "encrypt") ||
		              strcasestr(c->r.first_line, "tls") || strcasestr(c->r.first_line, "--auth"),
		          "the summary does not say why it refused" DUMP_FMT, DUMP_ARGS(c));
		/* control: an explicit --auth login for the same user now logs in;
		 * once that shows in the log, nothing from the first run can be
		 * pending, and it must be the only login or failure for the user */
		struct cmd *k = cmd_new();
		cmd_plain(k);
		cmd_add(k, "-U");
		cmd_add(k, user);
		cmd_add(k, "--password-env");
		cmd_add(k, "CIS_PW");
		cmd_env(k, "CIS_PW=secret-noplain");
		cmd_add(k, "--auth");
		cmd_add(k, "login");
		cmd_run(k);
		cmd_expect_state(k, ST_OK);
		snprintf(needle, sizeof needle, "Login: user=<%s>,", user);
		cr_assert(log_wait(needle, 5.0), "control login not logged");
		cr_assert_eq(log_count(needle), 1, "more than one login for %s" DUMP_FMT, user,
		             DUMP_ARGS(c));
		snprintf(needle, sizeof needle, "passwd-file(%s,", user);
		cr_assert_eq(log_count(needle), 0, "Dovecot saw an authentication attempt" DUMP_FMT,
		             DUMP_ARGS(c));
		cmd_free(k);
	}
	cmd_free(c);
}

/* A server that offers only PLAIN and LOGIN: the default must refuse. */
Test(dovecot, plaintext_only_server_is_refused_without_explicit_auth)
{
	struct cmd *c = cmd_new();
	char user[64], needle[128];

	fixture_adduser(user, sizeof user, "plainonly", "pw-plainonly");
	cmd_host(c, "127.0.0.1", "DOVECOT_IMAP_PLAINONLY_PORT");
	cmd_add(c, "-U");
	cmd_add(c, user);
	cmd_add(c, "--password-env");
	cmd_add(c, "CIS_PW");
	cmd_env(c, "CIS_PW=pw-plainonly");
	cmd_run(c);
	expect_not_ok(c);
	cr_assert((strcasestr(c->r.first_line, "plain") != NULL) || (strcasestr(c->r.first_line, "encrypt") != NULL) ||
	              (strcasestr(c->r.first_line, "tls") != NULL) || (strcasestr(c->r.first_line, "--auth") != NULL),
	          "the summary does not say why it refused" DUMP_FMT, DUMP_ARGS(c));
	expect_secret_kept(c, "pw-plainonly", "password");

	/* and the explicit --auth login works there (control for the log) */
	struct cmd *k = cmd_new();
	cmd_host(k, "127.0.0.1", "DOVECOT_IMAP_PLAINONLY_PORT");
	cmd_add(k, "-U");
	cmd_add(k, user);
	cmd_add(k, "--password-env");
	cmd_add(k, "CIS_PW");
	cmd_env(k, "CIS_PW=pw-plainonly");
	cmd_add(k, "--auth");
	cmd_add(k, "login");
	cmd_run(k);
	cmd_expect_state(k, ST_OK);
	/* this instance logs to its own file */
	char path[4096];
	snprintf(path, sizeof path, "%s/dovecot-plainonly.log", fixture_env("DOVECOT_STATEDIR"));
	snprintf(needle, sizeof needle, "Login: user=<%s>,", user);
	char *log = NULL;
	for (int i = 0; i < 250; i++) {
		free(log);
		log = tu_read_file(path);
		if (strstr(log, needle))
			break;
		usleep(20000);
	}
	cr_assert_eq(tu_count(log, needle), 1, "expected exactly the control login" DUMP_FMT,
	             DUMP_ARGS(c));
	snprintf(needle, sizeof needle, "passwd-file(%s,", user);
	cr_assert_eq(tu_count(log, needle), 0, "Dovecot saw an authentication attempt" DUMP_FMT,
	             DUMP_ARGS(c));
	free(log);
	cmd_free(k);
	cmd_free(c);
}

Test(dovecot, logindisabled_is_respected_even_with_auth_login)
{
	struct cmd *c = cmd_new();

	cmd_host(c, fixture_env("DOVECOT_LOGINDISABLED_HOST"), "DOVECOT_LOGINDISABLED_PORT");
	cmd_add(c, "-U");
	cmd_add(c, fixture_env("DOVECOT_USER"));
	cmd_add(c, "--password-env");
	cmd_add(c, "DOVECOT_PASS");
	cmd_add(c, "--auth");
	cmd_add(c, "login");
	cmd_run(c);
	expect_not_ok(c);
	cmd_expect_summary_i(c, "LOGINDISABLED");
	cmd_free(c);
}

Test(dovecot, auth_none_checks_availability_only)
{
	struct cmd *c = cmd_new();

	cmd_plain(c);
	cmd_add(c, "--auth");
	cmd_add(c, "none");
	cmd_run(c);
	cmd_expect_state(c, ST_OK);
	cmd_expect_perf(c, "connect");
	cmd_expect_perf(c, "greeting");
	cmd_expect_perf(c, "time");
	cmd_expect_no_perf(c, "auth");
	cmd_expect_no_perf(c, "examine");
	cmd_free(c);
}

Test(dovecot, password_from_file)
{
	struct cmd *c = cmd_new();
	char path[4096], content[256];

	snprintf(content, sizeof content, "%s\n", fixture_env("DOVECOT_PASS"));
	fixture_file(path, sizeof path, "pw", content);
	cmd_plain(c);
	cmd_add(c, "-U");
	cmd_add(c, fixture_env("DOVECOT_USER"));
	cmd_add(c, "--password-file");
	cmd_add(c, path);
	cmd_add(c, "--auth");
	cmd_add(c, "login");
	cmd_run(c);
	unlink(path);
	cmd_expect_state(c, ST_OK);
	cmd_free(c);
}

Test(dovecot, password_from_env)
{
	struct cmd *c = cmd_new();

	cmd_plain(c);
	cmd_add(c, "-U");
	cmd_add(c, fixture_env("DOVECOT_USER"));
	cmd_add(c, "--password-env");
	cmd_add(c, "CIS_SOME_VAR");
	cmd_env(c, "CIS_SOME_VAR=%s", fixture_env("DOVECOT_PASS"));
	cmd_add(c, "--auth");
	cmd_add(c, "login");
	cmd_run(c);
	cmd_expect_state(c, ST_OK);
	cmd_free(c);
}

Test(dovecot, password_on_the_command_line)
{
	struct cmd *c = cmd_new();

	cmd_plain(c);
	cmd_add(c, "-U");
	cmd_add(c, fixture_env("DOVECOT_USER"));
	cmd_add(c, "-P");
	cmd_add(c, fixture_env("DOVECOT_PASS"));
	cmd_add(c, "--auth");
	cmd_add(c, "login");
	cmd_run(c);
	cmd_expect_state(c, ST_OK);
	cmd_free(c);
}

Test(dovecot, unreadable_password_file_is_unknown)
{
	struct cmd *c = cmd_new();
	char path[4096];

	snprintf(path, sizeof path, "%s/no-such-password-file", fixture_env("DOVECOT_STATEDIR"));
	cmd_plain(c);
	cmd_add(c, "-U");
	cmd_add(c, fixture_env("DOVECOT_USER"));
	cmd_add(c, "--password-file");
	cmd_add(c, path);
	cmd_add(c, "--auth");
	cmd_add(c, "login");
	cmd_run(c);
	cmd_expect_state(c, ST_UNKNOWN);
	cmd_free(c);
}

Test(dovecot, unset_password_env_is_unknown)
{
	struct cmd *c = cmd_new();

	cmd_plain(c);
	cmd_add(c, "-U");
	cmd_add(c, fixture_env("DOVECOT_USER"));
	cmd_add(c, "--password-env");
	cmd_add(c, "CIS_DEFINITELY_UNSET_VARIABLE");
	cmd_add(c, "--auth");
	cmd_add(c, "login");
	cmd_run(c);
	cmd_expect_state(c, ST_UNKNOWN);
	cmd_free(c);
}

/* LOGIN must quote or literal-encode: quotes, backslash, UTF-8, "{5}". */
static void login_as(const char *user_var, const char *pass_var)
{
	struct cmd *c = cmd_new();

	cmd_plain(c);
	cmd_fixture_user(c, user_var, pass_var);
	cmd_add(c, "--auth");
	cmd_add(c, "login");
	cmd_run(c);
	cmd_expect_state(c, ST_OK);
	expect_secret_kept(c, fixture_env(pass_var), "password");
	cmd_free(c);
}

Test(dovecot, login_with_awkward_password) { login_as("DOVECOT_AWKWARD_USER", "DOVECOT_AWKWARD_PASS"); }
Test(dovecot, login_with_long_password) { login_as("DOVECOT_LONG_USER", "DOVECOT_LONG_PASS"); }

static void trace_keeps_secret(const char *user_var, const char *pass_var, int on_argv)
{
	struct cmd *c = cmd_new();
	const char *pw = fixture_env(pass_var);

	cmd_plain(c);
	if (on_argv) {
		cmd_add(c, "-U");
		cmd_add(c, fixture_env(user_var));
		cmd_add(c, "-P");
		cmd_add(c, pw);
	} else {
		cmd_fixture_user(c, user_var, pass_var);
	}
	cmd_add(c, "--auth");
	cmd_add(c, "login");
	cmd_add(c, "-vvv");
	cmd_run(c);
	cmd_expect_state(c, ST_OK);
	/* it is a protocol trace: the commands are there ... */
	cr_assert(strstr(c->r.out, "LOGOUT") || strstr(c->r.err, "LOGOUT"),
	          "-vvv shows no protocol trace" DUMP_FMT, DUMP_ARGS(c));
	cr_assert(strstr(c->r.out, "EXAMINE") || strstr(c->r.err, "EXAMINE"),
	          "-vvv shows no protocol trace" DUMP_FMT, DUMP_ARGS(c));
	/* ... but not the password */
	expect_secret_kept(c, pw, "password");
	cmd_free(c);
}

Test(dovecot, trace_never_shows_the_password) { trace_keeps_secret("DOVECOT_USER", "DOVECOT_PASS", 0); }
Test(dovecot, trace_never_shows_an_awkward_password) { trace_keeps_secret("DOVECOT_AWKWARD_USER", "DOVECOT_AWKWARD_PASS", 0); }
Test(dovecot, trace_never_shows_a_password_from_argv) { trace_keeps_secret("DOVECOT_USER", "DOVECOT_PASS", 1); }

Test(dovecot, ipv6_loopback)
{
	struct cmd *c = cmd_new();

	if (strcmp(fixture_env("DOVECOT_IPV6"), "1") != 0)
		cr_skip_test("no IPv6 loopback on this machine");
	cmd_host(c, "::1", "DOVECOT_IMAP_PORT");
	cmd_add(c, "-6");
	cmd_default_user(c);
	cmd_add(c, "--auth");
	cmd_add(c, "login");
	cmd_run(c);
	cmd_expect_state(c, ST_OK);
	cmd_free(c);
}

Test(dovecot, help_and_version_exit_unknown)
{
	struct probe_run r;

	cr_assert_eq(probe_runl(&r, "--help", NULL), 0);
	cr_assert_eq(r.exit_code, ST_UNKNOWN, "--help exit %d", r.exit_code);
	cr_assert(strstr(r.out, "--hostname") != NULL, "--help does not list --hostname");
	probe_run_free(&r);
	cr_assert_eq(probe_runl(&r, "--version", NULL), 0);
	cr_assert_eq(r.exit_code, ST_UNKNOWN, "--version exit %d", r.exit_code);
	probe_run_free(&r);
	cr_assert_eq(probe_runl(&r, "--no-such-option", NULL), 0);
	cr_assert_eq(r.exit_code, ST_UNKNOWN, "bad option exit %d", r.exit_code);
	probe_run_free(&r);
}

/* ============================================================ issue 3: TLS */

Test(dovecot, implicit_tls_ok)
{
	struct cmd *c = cmd_new();

	need_option("--ssl");
	cmd_ssl(c);
	cmd_default_user(c);
	cmd_run(c);
	cmd_expect_state(c, ST_OK);
	cmd_expect_perf(c, "tls");
	cmd_free(c);
}

Test(dovecot, starttls_ok)
{
	struct cmd *c = cmd_new();

	need_option("--starttls");
	cmd_starttls(c);
	cmd_default_user(c);
	cmd_add(c, "--auth");
	cmd_add(c, "login"); /* fine once encrypted */
	cmd_run(c);
	cmd_expect_state(c, ST_OK);
	cmd_free(c);
}

Test(dovecot, starttls_on_logindisabled_server_then_logs_in)
{
	struct cmd *c = cmd_new();

	need_option("--starttls");
	cmd_host(c, "127.0.0.1", "DOVECOT_IMAP_PLAINONLY_PORT");
	cmd_add(c, "--starttls");
	cmd_add(c, "--cafile");
	cmd_add(c, fixture_env("DOVECOT_CA"));
	cmd_default_user(c);
	cmd_run(c);
	cmd_expect_state(c, ST_OK);
	cmd_free(c);
}

Test(dovecot, unknown_ca_is_critical)
{
	struct cmd *c = cmd_new();

	need_option("--cafile");
	cmd_host(c, "127.0.0.1", "DOVECOT_IMAPS_PORT");
	cmd_add(c, "--ssl");
	cmd_add(c, "--cafile");
	cmd_add(c, fixture_env("DOVECOT_OTHER_CA"));
	cmd_default_user(c);
	cmd_run(c);
	cmd_expect_state(c, ST_CRITICAL);
	expect_secret_kept(c, fixture_env("DOVECOT_PASS"), "password");
	cmd_free(c);
}

Test(dovecot, insecure_accepts_unknown_ca)
{
	struct cmd *c = cmd_new();

	need_option("--insecure");
	cmd_host(c, "127.0.0.1", "DOVECOT_IMAPS_PORT");
	cmd_add(c, "--ssl");
	cmd_add(c, "--insecure");
	cmd_default_user(c);
	cmd_run(c);
	cmd_expect_state(c, ST_OK);
	cmd_free(c);
}

Test(dovecot, expired_certificate_is_critical)
{
	struct cmd *c = cmd_new();

	need_option("--ssl");
	cmd_ssl_port(c, "DOVECOT_IMAPS_EXPIRED_PORT");
	cmd_default_user(c);
	cmd_run(c);
	cmd_expect_state(c, ST_CRITICAL);
	cmd_free(c);
}

Test(dovecot, expired_certificate_is_critical_even_insecure)
{
	struct cmd *c = cmd_new();

	need_option("--insecure");
	cmd_host(c, "127.0.0.1", "DOVECOT_IMAPS_EXPIRED_PORT");
	cmd_add(c, "--ssl");
	cmd_add(c, "--insecure");
	cmd_default_user(c);
	cmd_run(c);
	cmd_expect_state(c, ST_CRITICAL);
	cmd_free(c);
}

Test(dovecot, wrong_host_name_is_critical)
{
	struct cmd *c = cmd_new();

	need_option("--ssl");
	cmd_ssl_port(c, "DOVECOT_IMAPS_WRONGNAME_PORT");
	cmd_default_user(c);
	cmd_run(c);
	cmd_expect_state(c, ST_CRITICAL);
	cmd_free(c);
}

Test(dovecot, wrong_host_name_ok_when_insecure)
{
	struct cmd *c = cmd_new();

	need_option("--insecure");
	cmd_host(c, "127.0.0.1", "DOVECOT_IMAPS_WRONGNAME_PORT");
	cmd_add(c, "--ssl");
	cmd_add(c, "--insecure");
	cmd_default_user(c);
	cmd_run(c);
	cmd_expect_state(c, ST_OK);
	cmd_free(c);
}

static void soon_case(const char *days, int state)
{
	struct cmd *c = cmd_new();

	need_option("--certificate");
	cmd_ssl_port(c, "DOVECOT_IMAPS_SOON_PORT");
	cmd_default_user(c);
	cmd_add(c, "-D");
	cmd_add(c, days);
	cmd_run(c);
	cmd_expect_state(c, state);
	double d = cmd_perf_value(c, "cert_days", NULL, 0);
	cr_assert(d > 3.5 && d <= 5.0, "cert_days=%g for a certificate with 5 days left" DUMP_FMT, d,
	          DUMP_ARGS(c));
	cmd_free(c);
}

Test(dovecot, certificate_days_ok) { soon_case("3,1", ST_OK); }
Test(dovecot, certificate_days_warning) { soon_case("10,2", ST_WARNING); }
Test(dovecot, certificate_days_critical) { soon_case("30,10", ST_CRITICAL); }

Test(dovecot, client_certificate_external)
{
	struct cmd *c = cmd_new();

	need_option("--client-cert");
	need_option("external");
	cmd_ssl(c);
	cmd_add(c, "--client-cert");
	cmd_add(c, fixture_env("DOVECOT_CLIENT_CERT"));
	cmd_add(c, "--client-key");
	cmd_add(c, fixture_env("DOVECOT_CLIENT_KEY"));
	cmd_add(c, "--auth");
	cmd_add(c, "external");
	cmd_add(c, "-U");
	cmd_add(c, fixture_env("DOVECOT_CLIENT_CERT_USER"));
	cmd_run(c);
	cmd_expect_state(c, ST_OK);
	cmd_free(c);
}

/* ============================================================ issue 4: SASL */

static const char *const mechs_tls[] = {"login", "plain", "auth-login", "cram-md5", "scram-sha-1",
                                        "scram-sha-256"};
/* mechanisms that never reveal the password: fine on the plain port */
static const char *const mechs_hashed[] = {"cram-md5", "scram-sha-1", "scram-sha-256"};

static void mech_case(const char *mech, int tls, const char *user_var, const char *pass_var,
                      int state)
{
	struct cmd *c = cmd_new();

	need_option(mech);
	need_option("--authzid");
	if (tls)
		cmd_ssl(c);
	else
		cmd_plain(c);
	cmd_fixture_user(c, user_var, pass_var);
	cmd_add(c, "--auth");
	cmd_add(c, mech);
	cmd_add(c, "-vvv");
	cmd_run(c);
	cmd_expect_state(c, state);
	expect_secret_kept(c, fixture_env("DOVECOT_PASS"), "password");
	if (state == ST_CRITICAL)
		cmd_expect_summary_i(c, "[AUTHENTICATIONFAILED]");
	cmd_free(c);
}

Test(dovecot, every_mechanism_over_tls)
{
	for (size_t i = 0; i < sizeof mechs_tls / sizeof mechs_tls[0]; i++) {
		mech_case(mechs_tls[i], 1, "DOVECOT_USER", "DOVECOT_PASS", ST_OK);
		mech_case(mechs_tls[i], 1, "DOVECOT_AWKWARD_USER", "DOVECOT_AWKWARD_PASS", ST_OK);
		mech_case(mechs_tls[i], 1, "DOVECOT_LONG_USER", "DOVECOT_LONG_PASS", ST_OK);
	}
}

Test(dovecot, hashed_mechanisms_on_the_plain_port)
{
	for (size_t i = 0; i < sizeof mechs_hashed / sizeof mechs_hashed[0]; i++)
		mech_case(mechs_hashed[i], 0, "DOVECOT_USER", "DOVECOT_PASS", ST_OK);
}

Test(dovecot, every_mechanism_rejects_a_wrong_password)
{
	setenv("CIS_WRONG", "wrong-password", 1);
	for (size_t i = 0; i < sizeof mechs_tls / sizeof mechs_tls[0]; i++)
		mech_case(mechs_tls[i], 1, "DOVECOT_USER", "CIS_WRONG", ST_CRITICAL);
}

Test(dovecot, plain_with_authzid_through_master_user)
{
	struct cmd *c = cmd_new();

	need_option("--authzid");
	cmd_ssl(c);
	cmd_fixture_user(c, "DOVECOT_MASTER_USER", "DOVECOT_MASTER_PASS");
	cmd_add(c, "--authzid");
	cmd_add(c, fixture_env("DOVECOT_USER"));
	cmd_add(c, "--auth");
	cmd_add(c, "plain");
	cmd_run(c);
	cmd_expect_state(c, ST_OK);
	char want[64];
	snprintf(want, sizeof want, "%s messages", fixture_env("DOVECOT_INBOX_MESSAGES"));
	cmd_expect_summary_i(c, want);
	cmd_free(c);
}

Test(dovecot, auto_over_tls_picks_the_strongest)
{
	struct cmd *c = cmd_new();

	need_option("scram-sha-256");
	cmd_ssl(c);
	cmd_default_user(c);
	cmd_run(c);
	cmd_expect_state(c, ST_OK);
	cmd_expect_summary_i(c, "SCRAM-SHA-256");
	cmd_free(c);
}

/* No mechanism may leak the password or its base64 forms in a trace. */
Test(dovecot, traces_of_every_mechanism_keep_secrets)
{
	const char *user = fixture_env("DOVECOT_USER"), *pw = fixture_env("DOVECOT_PASS");
	unsigned char raw[512];
	char enc_pw[1024], enc_plain[1024];
	size_t n;

	need_option("--authzid");
	tu_b64((const unsigned char *)pw, strlen(pw), enc_pw);
	n = (size_t)snprintf((char *)raw, sizeof raw, "%c%s%c%s", 0, user, 0, pw);
	tu_b64(raw, n, enc_plain);
	for (size_t i = 0; i < sizeof mechs_tls / sizeof mechs_tls[0]; i++) {
		struct cmd *c = cmd_new();

		need_option(mechs_tls[i]);
		cmd_ssl(c);
		cmd_default_user(c);
		cmd_add(c, "--auth");
		cmd_add(c, mechs_tls[i]);
		cmd_add(c, "-vvv");
		cmd_run(c);
		cmd_expect_state(c, ST_OK);
		expect_secret_kept(c, pw, "password");
		expect_secret_kept(c, enc_pw, "base64 password");
		expect_secret_kept(c, enc_plain, "base64 PLAIN message");
		cmd_free(c);
	}
}

/* ============================================================ issue 5: mailboxes */

static void mailbox_count(const char *mailbox_var, const char *count_var)
{
	struct cmd *c = cmd_new();

	cmd_plain(c);
	cmd_default_user(c);
	cmd_add(c, "--auth");
	cmd_add(c, "login");
	cmd_add(c, "-m");
	cmd_add(c, fixture_env(mailbox_var));
	cmd_run(c);
	cmd_expect_state(c, ST_OK);
	cr_assert_eq((int)cmd_perf_value(c, "messages", NULL, 0), count_var ? atoi(fixture_env(count_var)) : 0,
	             "message count of %s" DUMP_FMT, fixture_env(mailbox_var), DUMP_ARGS(c));
	cmd_free(c);
}

Test(dovecot, mailbox_with_spaces) { mailbox_count("DOVECOT_SPACE_FOLDER", "DOVECOT_SPACE_FOLDER_MESSAGES"); }
Test(dovecot, mailbox_with_utf8_name) { mailbox_count("DOVECOT_UTF8_FOLDER", "DOVECOT_UTF8_FOLDER_MESSAGES"); }
Test(dovecot, empty_mailbox) { mailbox_count("DOVECOT_EMPTY_FOLDER", NULL); }

/* More mailbox cases (search, quota, freshness, writes) belong here; the
 * fixture documents its seeded data in tests/dovecot/README.md.  Tests that
 * change mailbox state must use their own user: fixture_adduser(). */
