/* test_signals.c - a scheduler's time limit (issue 14, section 3): SIGTERM,
 * SIGINT or SIGALRM during a run end it the way its own deadline would at
 * that moment - one complete result (status line, long output, perfdata of
 * what ran) in the -t state, naming the step that was interrupted, after a
 * LOGOUT attempt bounded to a few hundred milliseconds - and the SLA mode's
 * whole-run bound (--total-timeout).
 *
 * Real signals: the test forks and execs the real check_imap_session
 * ($PROBE or TOP_BUILDDIR/check_imap_session) against a slow scripted fake
 * server (tests/fake/fakeimap.py, fakeserver.h), sends the signal after a
 * delay, and reads what the probe printed.  Each test runs its own fake on
 * a free loopback port.  Environment: CIS_TEST_TIME_FACTOR stretches the
 * delays and upper bounds (valgrind, sanitizers). */
#define _GNU_SOURCE
#include <criterion/criterion.h>

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "fakeserver.h"
#include "testutil.h"

#define USER "probeuser"
#define PASS "S3cret-Pa55word-7x"

#define GREET "line * OK [CAPABILITY IMAP4rev1 AUTH=PLAIN] fake ready\n"
#define LOGIN_OK "expect LOGIN\n" FAKE_LOGGED_IN
#define EXAMINE_OK FAKE_EXAMINE_OK
#define LOGOUT_OK FAKE_LOGOUT_OK
/* a whole quick session (--fetch none) */
#define QUICK GREET LOGIN_OK EXAMINE_OK LOGOUT_OK
/* a session whose fetch never gets an answer */
#define STALL_IN_FETCH GREET LOGIN_OK EXAMINE_OK "expect UID FETCH\nstall\n"

struct sigrun {
	int exit_code;          /* -1 if it died of a signal */
	int died_of;            /* that signal */
	double wall_s;          /* start to exit */
	double after_signal_s;  /* signal to exit */
	char out[65536];
	size_t out_len;
	char err[4096];
	char first_line[2048];
	char *diag;
};

static const char *probe_path(void)
{
	const char *p = getenv("PROBE");

	return p && *p ? p : TOP_BUILDDIR "/check_imap_session";
}

static void append(char *buf, size_t cap, size_t *len, int fd)
{
	char tmp[4096];
	ssize_t n = read(fd, tmp, sizeof tmp);

	if (n <= 0)
		return;
	if ((size_t)n > cap - 1 - *len)
		n = (ssize_t)(cap - 1 - *len);
	memcpy(buf + *len, tmp, (size_t)n);
	*len += (size_t)n;
	buf[*len] = '\0';
}

/* Run the probe with ARGV (NULL-terminated, without argv[0]); send SIG
 * DELAY_S seconds after the start (SIG 0: none); collect its stdout and
 * stderr until it exits (killed after HARD_S: a test failure). */
static void run_signal(struct sigrun *r, double delay_s, int sig, double hard_s, const char *const *argv)
{
	const char *args[64];
	int outp[2], errp[2], status = 0;
	size_t n = 0, elen = 0;
	double t0, sent = 0;
	bool signalled = sig == 0, killed = false;

	memset(r, 0, sizeof *r);
	args[n++] = probe_path();
	for (; *argv && n < 63; argv++)
		args[n++] = *argv;
	args[n] = NULL;
	cr_assert_eq(pipe2(outp, O_CLOEXEC), 0);
	cr_assert_eq(pipe2(errp, O_CLOEXEC), 0);
	fflush(NULL);
	t0 = tu_now_s();
	pid_t pid = fork();
	cr_assert_geq(pid, 0);
	if (pid == 0) {
		dup2(outp[1], STDOUT_FILENO);
		dup2(errp[1], STDERR_FILENO);
		execv(args[0], (char *const *)args);
		_exit(127);
	}
	close(outp[1]);
	close(errp[1]);
	int fds[2] = {outp[0], errp[0]};
	while (fds[0] >= 0 || fds[1] >= 0) {
		double t = tu_now_s() - t0;
		if (!signalled && t >= delay_s) {
			kill(pid, sig);
			sent = tu_now_s();
			signalled = true;
		}
		if (!killed && t >= hard_s) {
			kill(pid, SIGKILL);
			killed = true;
		}
		double next = !signalled ? delay_s - t : hard_s - t;
		int ms = next > 0 ? (int)(next * 1000) + 1 : 0;
		struct pollfd p[2];
		int np = 0;
		for (int i = 0; i < 2; i++)
			if (fds[i] >= 0)
				p[np++] = (struct pollfd){.fd = fds[i], .events = POLLIN};
		if (poll(p, (nfds_t)np, killed ? 1000 : ms) <= 0) {
			if (killed)
				break;
			continue;
		}
		for (int i = 0; i < np; i++) {
			if (!(p[i].revents & (POLLIN | POLLHUP | POLLERR)))
				continue;
			int k = p[i].fd == fds[0] ? 0 : 1;
			char peek;
			ssize_t got = read(p[i].fd, &peek, 1);
			if (got <= 0) {
				close(fds[k]);
				fds[k] = -1;
				continue;
			}
			if (k == 0) {
				if (r->out_len < sizeof r->out - 1)
					r->out[r->out_len++] = peek;
				append(r->out, sizeof r->out, &r->out_len, p[i].fd);
			} else {
				if (elen < sizeof r->err - 1)
					r->err[elen++] = peek;
				append(r->err, sizeof r->err, &elen, p[i].fd);
			}
		}
	}
	for (int i = 0; i < 2; i++)
		if (fds[i] >= 0)
			close(fds[i]);
	while (waitpid(pid, &status, 0) < 0 && errno == EINTR)
		;
	double end = tu_now_s();
	r->wall_s = end - t0;
	r->after_signal_s = sent > 0 ? end - sent : 0;
	r->exit_code = WIFEXITED(status) ? WEXITSTATUS(status) : -1;
	r->died_of = WIFSIGNALED(status) ? WTERMSIG(status) : 0;
	size_t l = strcspn(r->out, "\n");
	if (l >= sizeof r->first_line)
		l = sizeof r->first_line - 1;
	memcpy(r->first_line, r->out, l);
	cr_assert_geq(asprintf(&r->diag, "\n--- probe: exit %d, signal %d, wall %.3f s, %.3f s after the signal\n"
	                                 "--- stdout:\n%s\n--- stderr:\n%s",
	                       r->exit_code, r->died_of, r->wall_s, r->after_signal_s, r->out, r->err),
	              0);
}

static void expect_out(const struct sigrun *r, const char *text)
{
	cr_assert_not_null(strstr(r->out, text), "stdout lacks \"%s\"%s", text, r->diag);
}

static void expect_first(const struct sigrun *r, const char *text)
{
	cr_assert_not_null(strstr(r->first_line, text), "the first line lacks \"%s\"%s", text, r->diag);
}

/* Ended by itself with code CODE (no death by signal, nothing on stderr),
 * within BOUND_S of the signal. */
static void expect_ended(const struct sigrun *r, int code, double bound_s)
{
	cr_assert_eq(r->died_of, 0, "the probe died of signal %d: no result%s", r->died_of, r->diag);
	cr_assert_eq(r->exit_code, code, "exit code %d, expected %d%s", r->exit_code, code, r->diag);
	cr_assert_eq(r->err[0], '\0', "output on stderr%s", r->diag);
	cr_assert_leq(r->after_signal_s, bound_s * cis_time_factor(), "%.3f s from the signal to the exit%s",
	              r->after_signal_s, r->diag);
}

static struct fake_server *fake(const char *scn, int connections)
{
	struct fake_opts o = {.connections = connections, .max_seconds = 30, .verbose = true};
	struct fake_server *fs = fake_start_opts(scn, &o);

	cr_assert_not_null(fs, "the fake IMAP server did not start (python3? tests/fake/fakeimap.py?)");
	return fs;
}

/* ---------------------------------------------------------------- one session */

/* The fetch hangs; the signal comes 1 s into a 30 s deadline: the -t
 * state, "terminated during fetch", the steps that ran with their
 * perfdata, a LOGOUT sent, and out well before the deadline. */
static void interrupted_fetch(int sig, const char *signame, const char *tstate, int code, const char *word)
{
	struct fake_server *fs = fake(STALL_IN_FETCH, 1);
	struct sigrun r;
	char t[32], prefix[64];

	snprintf(t, sizeof t, "30%s%s", tstate ? ":" : "", tstate ? tstate : "");
	const char *argv[] = {"-H", "127.0.0.1", "-p", fake_port_str(fs), "-U", USER, "-P", PASS, "--auth", "login",
	                      "-t", t, NULL};
	run_signal(&r, 1.0 * cis_time_factor(), sig, 8 * cis_time_factor(), argv);
	size_t len = 0;
	const char *rec = (const char *)fake_received(fs, &len);
	expect_ended(&r, code, 1.0);
	snprintf(prefix, sizeof prefix, "IMAP %s - terminated during fetch", word);
	cr_assert(!strncmp(r.first_line, prefix, strlen(prefix)), "the first line is not \"%s...\"%s", prefix, r.diag);
	expect_first(&r, signame);
	/* the steps that ran, in the long output and the perfdata */
	expect_out(&r, "\nconnect: OK");
	expect_out(&r, "\nexamine: OK");
	expect_out(&r, "\nfetch: TIMEOUT");
	expect_first(&r, "| ");
	expect_first(&r, "connect=");
	expect_first(&r, "examine=");
	expect_first(&r, "time=");
	/* the LOGOUT attempt, after the interrupted fetch */
	const char *fetch = strstr(rec, "UID FETCH");
	cr_assert_not_null(fetch, "no UID FETCH reached the fake%s", r.diag);
	cr_assert_not_null(strstr(fetch, " LOGOUT\r\n"), "no LOGOUT after the interrupted fetch%s", r.diag);
	cr_assert_null(strstr(r.out, PASS), "the password in the output%s", r.diag);
	free(r.diag);
	fake_free(fs);
}

Test(signals, sigterm_during_fetch_is_critical) { interrupted_fetch(SIGTERM, "SIGTERM", NULL, 2, "CRITICAL"); }
Test(signals, sigint_during_fetch_takes_the_timeout_state) { interrupted_fetch(SIGINT, "SIGINT", "warning", 1, "WARNING"); }
Test(signals, sigalrm_during_fetch_takes_the_timeout_state) { interrupted_fetch(SIGALRM, "SIGALRM", "unknown", 3, "UNKNOWN"); }

/* A server that never answers LOGOUT either: the attempt is bounded to a
 * few hundred milliseconds (the fake stalls after the fetch). */
Test(signals, logout_attempt_is_bounded)
{
	struct fake_server *fs = fake(GREET LOGIN_OK EXAMINE_OK "expect UID FETCH\nexpect LOGOUT\nstall\n", 1);
	struct sigrun r;
	const char *argv[] = {"-H", "127.0.0.1", "-p", fake_port_str(fs), "-U", USER, "-P", PASS, "--auth", "login",
	                      "-t", "30", NULL};

	run_signal(&r, 1.0 * cis_time_factor(), SIGTERM, 8 * cis_time_factor(), argv);
	expect_ended(&r, 2, 0.8);
	expect_first(&r, "terminated during fetch");
	cr_assert_eq(fake_stop(fs), 0, "the fake did not see the LOGOUT (exit %d)%s", fake_stop(fs), r.diag);
	free(r.diag);
	fake_free(fs);
}

/* Waiting for the TCP handshake (nothing answers). */
Test(signals, sigterm_during_connect)
{
	struct fake_blackhole bh;
	struct sigrun r;
	char port[16];

	cr_assert_eq(fake_blackhole_open(&bh), 0, "no blackhole port");
	snprintf(port, sizeof port, "%d", bh.port);
	const char *argv[] = {"-H", "127.0.0.1", "-p", port, "--auth", "none", "-t", "30", NULL};
	run_signal(&r, 0.5 * cis_time_factor(), SIGTERM, 8 * cis_time_factor(), argv);
	fake_blackhole_close(&bh);
	expect_ended(&r, 2, 0.5);
	expect_first(&r, "IMAP CRITICAL - terminated during connect");
	expect_first(&r, "time=");
	free(r.diag);
}

/* In the middle of the TLS handshake (the backend's own wait). */
Test(signals, sigterm_during_the_tls_handshake)
{
	struct fake_certs certs;
	struct sigrun r;
	char *scn = NULL;

	cr_assert_eq(fake_certs_make(&certs), 0, "could not make test certificates");
	cr_assert_geq(asprintf(&scn, "tls_stall %s %s\n", certs.cert, certs.key), 0);
	struct fake_server *fs = fake(scn, 1);
	const char *argv[] = {"-H", "127.0.0.1", "-p", fake_port_str(fs), "-S", "--insecure", "--auth", "none",
	                      "-t", "30", NULL};
	run_signal(&r, 1.0 * cis_time_factor(), SIGTERM, 8 * cis_time_factor(), argv);
	expect_ended(&r, 2, 0.5);
	expect_first(&r, "IMAP CRITICAL - terminated during tls");
	expect_first(&r, "connect=");
	free(r.diag);
	free(scn);
	fake_free(fs);
	fake_certs_remove(&certs);
}

/* JSON output too: one complete document. */
Test(signals, sigterm_json_is_one_document)
{
	struct fake_server *fs = fake(STALL_IN_FETCH, 1);
	struct sigrun r;
	const char *argv[] = {"-H", "127.0.0.1", "-p", fake_port_str(fs), "-U", USER, "-P", PASS, "--auth", "login",
	                      "-t", "30", "--output", "json", NULL};

	run_signal(&r, 1.0 * cis_time_factor(), SIGTERM, 8 * cis_time_factor(), argv);
	expect_ended(&r, 2, 1.0);
	cr_assert_eq(r.out[0], '{', "not JSON%s", r.diag);
	cr_assert_eq(r.out[r.out_len - 2], '}', "not one complete JSON document%s", r.diag);
	expect_out(&r, "\"state\":\"CRITICAL\"");
	expect_out(&r, "terminated during fetch");
	free(r.diag);
	fake_free(fs);
}

/* ---------------------------------------------------------------- SLA mode */

/* Quick sessions 3 s apart; the signal lands in the pause after the
 * first: the result covers it and says so.  (Delays scale with
 * CIS_TEST_TIME_FACTOR, so the first session is over before the signal
 * under valgrind too.) */
Test(signals, sla_sigterm_between_sessions_reports_what_ran)
{
	struct fake_server *fs = fake(QUICK "connection\n" QUICK "connection\n" QUICK "connection\n" QUICK
	                              "connection\n" QUICK, 5);
	struct sigrun r;
	char interval[32];

	snprintf(interval, sizeof interval, "%g", 3.0 * cis_time_factor());
	const char *argv[] = {"-H", "127.0.0.1", "-p", fake_port_str(fs), "-U", USER, "-P", PASS, "--auth", "login",
	                      "--fetch", "none", "-t", "3", "--repeat", "5", "--interval", interval,
	                      "--total-timeout", "600", NULL};

	run_signal(&r, 1.0 * cis_time_factor(), SIGTERM, 8 * cis_time_factor(), argv);
	expect_ended(&r, 2, 0.5);
	expect_first(&r, "IMAP CRITICAL - terminated (SIGTERM) after 1 of 5 sessions");
	expect_first(&r, "availability 100.00% (1 of 1 sessions OK)");
	expect_first(&r, "sessions=1");
	expect_first(&r, "sessions_ok=1");
	expect_first(&r, "time_p50=");
	expect_out(&r, "\nauth: OK");
	expect_out(&r, "\nterminated (SIGTERM) after 1 of 5 sessions\n");
	free(r.diag);
	fake_free(fs);
}

/* The signal interrupts the second session: only the first counts, the
 * interrupted one is neither a success nor a failure of the server. */
Test(signals, sla_sigterm_inside_a_session)
{
	struct fake_server *fs = fake(QUICK "connection\n" GREET LOGIN_OK "expect STATUS\nstall\n", 2);
	struct sigrun r;
	const char *argv[] = {"-H", "127.0.0.1", "-p", fake_port_str(fs), "-U", USER, "-P", PASS, "--auth", "login",
	                      "--fetch", "none", "-t", "10", "--repeat", "3", "--interval", "0", NULL};

	run_signal(&r, 1.0 * cis_time_factor(), SIGTERM, 8 * cis_time_factor(), argv);
	expect_ended(&r, 2, 1.0);
	expect_first(&r, "terminated (SIGTERM) after 1 of 3 sessions");
	expect_first(&r, "(1 of 1 sessions OK)");
	expect_out(&r, "run 2 interrupted: terminated during examine (SIGTERM)");
	free(r.diag);
	fake_free(fs);
}

/* The example of the issue: 3 x 2 s + 2 x 30 s = 66 s, over the default
 * bound of 55 s: UNKNOWN at once with the numbers, nothing connected. */
Test(signals, sla_run_that_cannot_fit_is_unknown_at_once)
{
	struct fake_server *fs = fake(QUICK, 1);
	struct sigrun r;
	const char *argv[] = {"-H", "127.0.0.1", "-p", fake_port_str(fs), "-U", USER, "-P", PASS, "--auth", "login",
	                      "-t", "2", "--repeat", "3", "--interval", "30", NULL};

	run_signal(&r, 0, 0, 8 * cis_time_factor(), argv);
	cr_assert_eq(r.exit_code, 3, "exit %d%s", r.exit_code, r.diag);
	expect_first(&r, "IMAP UNKNOWN - ");
	expect_first(&r, "66");
	expect_first(&r, "3 x 2s + 2 x 30s");
	expect_first(&r, "--total-timeout 55");
	cr_assert_lt(r.wall_s, 1.0 * cis_time_factor(), "took %.3f s%s", r.wall_s, r.diag);
	size_t len = 0;
	fake_received(fs, &len);
	cr_assert_eq(len, 0, "the probe talked to the server%s", r.diag);
	free(r.diag);
	fake_free(fs);
}

/* A larger --total-timeout lets the same run start; a smaller one refuses
 * a run that fits the default. */
Test(signals, total_timeout_option_moves_the_bound)
{
	struct fake_server *fs = fake(QUICK "connection\n" QUICK, 2);
	struct sigrun r;
	const char *ok[] = {"-H", "127.0.0.1", "-p", fake_port_str(fs), "-U", USER, "-P", PASS, "--auth", "login",
	                    "--fetch", "none", "-t", "5", "--repeat", "2", "--interval", "0.1", "--total-timeout", "10.1",
	                    NULL};

	run_signal(&r, 0, 0, 8 * cis_time_factor(), ok);
	cr_assert_eq(r.exit_code, 0, "exit %d%s", r.exit_code, r.diag);
	expect_first(&r, "(2 of 2 sessions OK)");
	free(r.diag);
	fake_free(fs);

	const char *refused[] = {"-H", "127.0.0.1", "-p", "1", "-t", "5", "--repeat", "2", "--interval", "0.1",
	                         "--total-timeout", "10", NULL};
	run_signal(&r, 0, 0, 8 * cis_time_factor(), refused);
	cr_assert_eq(r.exit_code, 3, "exit %d%s", r.exit_code, r.diag);
	expect_first(&r, "--total-timeout 10");
	free(r.diag);

	const char *bad[] = {"-H", "127.0.0.1", "--total-timeout", "0", NULL};
	run_signal(&r, 0, 0, 8 * cis_time_factor(), bad);
	cr_assert_eq(r.exit_code, 3, "exit %d%s", r.exit_code, r.diag);
	expect_first(&r, "--total-timeout");
	free(r.diag);
}

/* Sessions that each run into their deadline, sized to fill the bound
 * exactly: the run never exceeds the bound, stops there and reports what
 * it measured. */
Test(signals, sla_run_stops_at_the_bound)
{
	struct fake_blackhole bh;
	struct sigrun r;
	char port[16];

	cr_assert_eq(fake_blackhole_open(&bh), 0, "no blackhole port");
	snprintf(port, sizeof port, "%d", bh.port);
	const char *argv[] = {"-H", "127.0.0.1", "-p", port, "--auth", "none", "-t", "1", "--repeat", "3",
	                      "--interval", "0.2", "--total-timeout", "3.4", NULL};
	run_signal(&r, 0, 0, 8 * cis_time_factor(), argv);
	fake_blackhole_close(&bh);
	cr_assert_eq(r.died_of, 0, "%s", r.diag);
	cr_assert_eq(r.exit_code, 2, "exit %d%s", r.exit_code, r.diag);
	cr_assert_leq(r.wall_s, 3.4 + 0.5 * cis_time_factor(), "the run took %.3f s, over its bound of 3.4 s%s", r.wall_s,
	              r.diag);
	expect_first(&r, "IMAP CRITICAL - ");
	expect_first(&r, "of 3 sessions");
	expect_first(&r, "timeout during connect");
	free(r.diag);
}
