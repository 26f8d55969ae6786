/* runprobe.c - run the real check_imap_session binary from a test: fork and
 * exec it with pipes on stdout and stderr, drain both with poll() so neither
 * can fill up and block the child, enforce a hard timeout, and collect the
 * exit status, wall time (CLOCK_MONOTONIC) and peak RSS (wait4); and
 * struct cmd, the command builder with its expectations. */
#define _GNU_SOURCE
#include "runprobe.h"
#include "testutil.h"

#include <criterion/criterion.h>

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/time.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

extern char **environ;

#define RUNL_TIMEOUT_S 30.0
#define MAX_ARGS 256
#define MAX_CAPTURE (16u << 20) /* a runaway probe must not eat the test */

static const char *probe_path(void)
{
	const char *p = getenv("PROBE");

	if (p != NULL && *p != '\0')
		return p;
#ifdef TOP_BUILDDIR
	return TOP_BUILDDIR "/check_imap_session";
#else
	return "./check_imap_session";
#endif
}

struct sink {
	char *buf;
	size_t len, cap;
	int fd;
};

/* Read what is there; returns 0 on EOF or error (fd closed), 1 otherwise. */
static int sink_read(struct sink *s)
{
	char tmp[8192];
	ssize_t n = read(s->fd, tmp, sizeof tmp);

	if (n < 0 && (errno == EINTR || errno == EAGAIN))
		return 1;
	if (n <= 0) {
		close(s->fd);
		s->fd = -1;
		return 0;
	}
	if (s->len + (size_t)n + 1 > s->cap && s->len < MAX_CAPTURE) {
		size_t cap = s->cap ? s->cap : 16384;
		char *nb;

		while (cap < s->len + (size_t)n + 1)
			cap *= 2;
		nb = realloc(s->buf, cap);
		if (nb == NULL)
			return 1; /* keep draining, drop the bytes */
		s->buf = nb;
		s->cap = cap;
	}
	if (s->len + (size_t)n + 1 <= s->cap) {
		memcpy(s->buf + s->len, tmp, (size_t)n);
		s->len += (size_t)n;
	}
	return 1;
}

static char *sink_finish(struct sink *s, size_t *len)
{
	if (s->buf == NULL) {
		s->buf = malloc(1);
		if (s->buf == NULL)
			abort();
	}
	s->buf[s->len] = '\0';
	*len = s->len;
	return s->buf;
}

/* environ plus the extra "NAME=value" entries, which replace same-named ones. */
static char **build_env(const char *const *extra)
{
	size_t n = 0, m = 0, i, j, k = 0;
	char **env;

	while (environ[n] != NULL)
		n++;
	while (extra != NULL && extra[m] != NULL)
		m++;
	env = calloc(n + m + 1, sizeof *env);
	if (env == NULL)
		return NULL;
	for (i = 0; i < n; i++) {
		const char *eq = strchr(environ[i], '=');
		size_t nl = eq ? (size_t)(eq - environ[i]) : strlen(environ[i]);
		int replaced = 0;

		for (j = 0; j < m; j++)
			if (strncmp(extra[j], environ[i], nl) == 0 && extra[j][nl] == '=')
				replaced = 1;
		if (!replaced)
			env[k++] = environ[i];
	}
	for (j = 0; j < m; j++)
		env[k++] = (char *)extra[j];
	env[k] = NULL;
	return env;
}

int probe_run(struct probe_run *r, double hard_timeout_s, const char *const *env,
              const char *const *argv)
{
	const char *path = probe_path();
	const char *args[MAX_ARGS + 2];
	int outp[2], errp[2], status = 0, killed = 0;
	struct sink so = {0}, se = {0};
	struct rusage ru;
	double t0, deadline;
	char **envp;
	size_t n = 0;
	pid_t pid;

	memset(r, 0, sizeof *r);
	r->exit_code = -1;
	args[n++] = path;
	while (argv != NULL && argv[n - 1] != NULL && n <= MAX_ARGS) {
		args[n] = argv[n - 1];
		n++;
	}
	args[n] = NULL;

	envp = build_env(env);
	if (envp == NULL)
		return -1;
	if (pipe2(outp, O_CLOEXEC) != 0) {
		free(envp);
		return -1;
	}
	if (pipe2(errp, O_CLOEXEC) != 0) {
		close(outp[0]);
		close(outp[1]);
		free(envp);
		return -1;
	}
	fflush(NULL);
	t0 = tu_now_s();
	pid = fork();
	if (pid < 0) {
		close(outp[0]);
		close(outp[1]);
		close(errp[0]);
		close(errp[1]);
		free(envp);
		return -1;
	}
	if (pid == 0) {
		/* own process group, so the timeout kill reaches any children */
		setpgid(0, 0);
		if (dup2(outp[1], STDOUT_FILENO) < 0 || dup2(errp[1], STDERR_FILENO) < 0)
			_exit(127);
		int devnull = open("/dev/null", O_RDONLY);
		if (devnull >= 0 && devnull != STDIN_FILENO) {
			dup2(devnull, STDIN_FILENO);
			close(devnull);
		}
		execve(path, (char *const *)args, envp);
		dprintf(STDERR_FILENO, "runprobe: cannot execute %s: %s\n", path, strerror(errno));
		_exit(127);
	}
	setpgid(pid, pid); /* also from the parent: no race with the kill below */
	free(envp);
	close(outp[1]);
	close(errp[1]);
	so.fd = outp[0];
	se.fd = errp[0];
	deadline = t0 + hard_timeout_s;

	while (so.fd >= 0 || se.fd >= 0) {
		struct pollfd pfd[2];
		int nfd = 0, wait_ms, i;
		struct sink *who[2];
		double left = deadline - tu_now_s();

		if (left <= 0 && !killed) {
			kill(-pid, SIGKILL);
			kill(pid, SIGKILL);
			killed = 1;
		}
		/* after the kill, keep draining until the pipes close (a grandchild
		 * holding them open is in the same process group and died too) */
		wait_ms = killed ? 1000 : (int)(left * 1000.0) + 1;
		if (so.fd >= 0) {
			pfd[nfd].fd = so.fd;
			pfd[nfd].events = POLLIN;
			who[nfd++] = &so;
		}
		if (se.fd >= 0) {
			pfd[nfd].fd = se.fd;
			pfd[nfd].events = POLLIN;
			who[nfd++] = &se;
		}
		int pr = poll(pfd, (nfds_t)nfd, wait_ms);
		if (pr < 0 && errno != EINTR)
			break;
		if (pr == 0 && killed)
			break; /* nothing more is coming */
		for (i = 0; i < nfd && pr > 0; i++)
			if (pfd[i].revents & (POLLIN | POLLHUP | POLLERR))
				sink_read(who[i]);
	}
	if (so.fd >= 0)
		close(so.fd);
	if (se.fd >= 0)
		close(se.fd);

	/* the pipes are closed but the probe may still be running (it closed
	 * its stdout early): the hard timeout still applies */
	for (;;) {
		pid_t w = wait4(pid, &status, WNOHANG, &ru);

		if (w == pid)
			break;
		if (w < 0 && errno != EINTR) {
			memset(&ru, 0, sizeof ru);
			break;
		}
		if (!killed && tu_now_s() >= deadline) {
			kill(-pid, SIGKILL);
			kill(pid, SIGKILL);
			killed = 1;
		}
		usleep(2000);
	}
	r->wall_s = tu_now_s() - t0;
	r->maxrss_kb = ru.ru_maxrss;
	if (WIFEXITED(status)) {
		r->exit_code = WEXITSTATUS(status);
	} else if (WIFSIGNALED(status)) {
		r->exit_code = -1;
		r->signal = WTERMSIG(status);
	}
	r->out = sink_finish(&so, &r->out_len);
	r->err = sink_finish(&se, &r->err_len);
	{
		size_t l = strcspn(r->out, "\n");

		if (l >= sizeof r->first_line)
			l = sizeof r->first_line - 1;
		memcpy(r->first_line, r->out, l);
		r->first_line[l] = '\0';
	}
	if (killed)
		fprintf(stderr, "runprobe: %s killed after the hard timeout of %.1f s\n", path,
		        hard_timeout_s);
	return 0;
}

int probe_runl(struct probe_run *r, const char *arg0, ...)
{
	const char *argv[MAX_ARGS + 1];
	size_t n = 0;
	va_list ap;
	const char *a;

	va_start(ap, arg0);
	for (a = arg0; a != NULL && n < MAX_ARGS; a = va_arg(ap, const char *))
		argv[n++] = a;
	va_end(ap);
	argv[n] = NULL;
	return probe_run(r, RUNL_TIMEOUT_S, NULL, argv);
}

void probe_run_free(struct probe_run *r)
{
	free(r->out);
	free(r->err);
	r->out = r->err = NULL;
	r->out_len = r->err_len = 0;
}

const char *fixture_env(const char *name)
{
	const char *v = getenv(name);

	if (v == NULL)
		cr_assert_fail("%s is not set: run this test through tests/run-test.sh "
		               "(make check), which starts the Dovecot fixture", name);
	return v;
}

void probe_run_local(struct probe_run *r, double hard_s, const char *port, const char *const *fixed,
                     const char *const *extra)
{
	const char *argv[96];
	size_t n = 0;

	argv[n++] = "-H";
	argv[n++] = "127.0.0.1";
	argv[n++] = "-p";
	argv[n++] = port;
	for (; fixed && *fixed; fixed++) {
		cr_assert_lt(n, sizeof argv / sizeof *argv - 1, "too many arguments");
		argv[n++] = *fixed;
	}
	for (; extra && *extra; extra++) {
		cr_assert_lt(n, sizeof argv / sizeof *argv - 1, "too many arguments");
		argv[n++] = *extra;
	}
	argv[n] = NULL;
	cr_assert_eq(probe_run(r, hard_s, NULL, argv), 0, "could not start the probe ($PROBE)");
}

void probe_expect_state(const struct probe_run *r, int code, const char *diag)
{
	char prefix[32];

	cr_assert_eq(r->signal, 0, "the probe died of signal %d%s", r->signal, diag);
	cr_assert_eq(r->exit_code, code, "exit code %d, expected %d (%s)%s", r->exit_code, code, tu_state_name[code],
	             diag);
	snprintf(prefix, sizeof prefix, "IMAP %s - ", tu_state_name[code]);
	cr_assert(!strncmp(r->first_line, prefix, strlen(prefix)), "first line does not start with \"%s\"%s", prefix,
	          diag);
}

void probe_expect_summary_va(const struct probe_run *r, int icase, const char *diag, va_list ap)
{
	const char *s = strstr(r->first_line, " - "), *needle;
	char *sum;

	cr_assert_not_null(s, "no summary%s", diag);
	s += 3;
	sum = strndup(s, strcspn(s, "|"));
	cr_assert_not_null(sum);
	while ((needle = va_arg(ap, const char *)) != NULL)
		cr_assert_not_null(icase ? strcasestr(sum, needle) : strstr(sum, needle),
		                   "\"%s\" not in the summary \"%s\"%s", needle, sum, diag);
	free(sum);
}

void probe_expect_no_stderr(const struct probe_run *r, const char *diag)
{
	if (!getenv("CIS_TEST_ALLOW_STDERR"))
		cr_assert_eq(r->err_len, 0, "unexpected output on stderr%s", diag);
}

const char *fixture_adduser(char *buf, size_t bufsz, const char *tag, const char *pass)
{
	static int serial;
	const char *argv[] = {"bash", fixture_env("DOVECOT_FIXTURE"), "adduser", fixture_env("DOVECOT_STATEDIR"),
	                      buf, pass, NULL};

	snprintf(buf, bufsz, "t-%s-%ld-%d", tag, (long)getpid(), serial++);
	cr_assert_eq(tu_run_argv(argv), 0, "fixture.sh adduser %s failed", buf);
	return buf;
}

const char *fixture_file(char *path, size_t pathsz, const char *tag, const char *text)
{
	char *p = tu_temp_file(fixture_env("DOVECOT_STATEDIR"), tag, text, strlen(text));

	snprintf(path, pathsz, "%s", p);
	free(p);
	return path;
}

/* ---------------------------------------------------------------- probe commands */

static const char *arena_dup(struct cmd *c, const char *s)
{
	size_t n = strlen(s) + 1;
	char *p;

	cr_assert(c->used + n <= sizeof c->arena, "test command too long");
	p = c->arena + c->used;
	memcpy(p, s, n);
	c->used += n;
	return p;
}

struct cmd *cmd_new(void)
{
	struct cmd *c = calloc(1, sizeof *c);

	cr_assert_not_null(c);
	return c;
}

void cmd_free(struct cmd *c)
{
	if (c->ran)
		probe_run_free(&c->r);
	free(c);
}

void cmd_add(struct cmd *c, const char *arg)
{
	cr_assert(c->argc + 1 < (int)(sizeof c->argv / sizeof c->argv[0]), "too many arguments");
	c->argv[c->argc++] = arena_dup(c, arg);
	c->argv[c->argc] = NULL;
}

void cmd_addl(struct cmd *c, ...)
{
	va_list ap;
	const char *a;

	va_start(ap, c);
	while ((a = va_arg(ap, const char *)) != NULL)
		cmd_add(c, a);
	va_end(ap);
}

/* FMT formatted into the arena. */
__attribute__((format(printf, 2, 0))) static const char *arena_vprintf(struct cmd *c, const char *fmt, va_list ap)
{
	char buf[4096];

	vsnprintf(buf, sizeof buf, fmt, ap);
	return arena_dup(c, buf);
}

void cmd_addf(struct cmd *c, const char *fmt, ...)
{
	va_list ap;

	cr_assert(c->argc + 1 < (int)(sizeof c->argv / sizeof c->argv[0]), "too many arguments");
	va_start(ap, fmt);
	c->argv[c->argc++] = arena_vprintf(c, fmt, ap);
	va_end(ap);
	c->argv[c->argc] = NULL;
}

void cmd_env(struct cmd *c, const char *fmt, ...)
{
	va_list ap;

	cr_assert(c->envc + 1 < (int)(sizeof c->env / sizeof c->env[0]), "too many environment entries");
	va_start(ap, fmt);
	c->env[c->envc++] = arena_vprintf(c, fmt, ap);
	va_end(ap);
	c->env[c->envc] = NULL;
}

void cmd_fixture_conn(struct cmd *c, enum fixture_mode m, const char *port)
{
	cmd_addl(c, "-H", fixture_env("DOVECOT_HOST"), "-p",
	         port ? port : fixture_env(m == FIXTURE_IMPLICIT ? "DOVECOT_IMAPS_PORT" : "DOVECOT_IMAP_PORT"), NULL);
	if (m == FIXTURE_IMPLICIT)
		cmd_add(c, "--ssl");
	if (m == FIXTURE_STARTTLS)
		cmd_add(c, "--starttls");
	if (m != FIXTURE_PLAIN)
		cmd_addl(c, "--cafile", fixture_env("DOVECOT_CA"), NULL);
}

void cmd_fixture_user(struct cmd *c, const char *user_var, const char *pass_var)
{
	(void)fixture_env(pass_var);
	cmd_addl(c, "-U", fixture_env(user_var), "--password-env", pass_var, NULL);
}

void cmd_run_for(struct cmd *c, double hard_s)
{
	size_t off = (size_t)snprintf(c->line, sizeof c->line, "$PROBE");

	for (int i = 0; i < c->argc && off < sizeof c->line; i++)
		off += (size_t)snprintf(c->line + off, sizeof c->line - off, " '%s'", c->argv[i]);
	if (c->ran)
		probe_run_free(&c->r);
	cr_assert_eq(probe_run(&c->r, hard_s, c->envc ? c->env : NULL, c->argv), 0,
	             "could not start the probe (%s): %s", getenv("PROBE") ? getenv("PROBE") : "?", strerror(errno));
	c->ran = 1;
	cr_assert_eq(c->r.signal, 0, "probe died of signal %d" DUMP_FMT, c->r.signal, DUMP_ARGS(c));
}

void cmd_expect_state(struct cmd *c, int state)
{
	char prefix[32];

	snprintf(prefix, sizeof prefix, "IMAP %s - ", tu_state_name[state]);
	cr_assert_eq(c->r.exit_code, state, "exit code %d, expected %d (%s)" DUMP_FMT, c->r.exit_code, state,
	             tu_state_name[state], DUMP_ARGS(c));
	cr_assert(strncmp(c->r.first_line, prefix, strlen(prefix)) == 0,
	          "first line does not start with \"%s\"" DUMP_FMT, prefix, DUMP_ARGS(c));
}

void cmd_summary(struct cmd *c, char *out, size_t outsz)
{
	const char *s = strstr(c->r.first_line, " - ");

	cr_assert_not_null(s, "no summary" DUMP_FMT, DUMP_ARGS(c));
	s += 3;
	snprintf(out, outsz, "%.*s", (int)strcspn(s, "|"), s);
}

void cmd_expect_summary(struct cmd *c, const char *text)
{
	char sum[sizeof c->r.first_line];

	cmd_summary(c, sum, sizeof sum);
	cr_assert_not_null(strstr(sum, text), "summary lacks \"%s\"" DUMP_FMT, text, DUMP_ARGS(c));
}

void cmd_expect_summary_i(struct cmd *c, const char *text)
{
	char sum[sizeof c->r.first_line];

	cmd_summary(c, sum, sizeof sum);
	cr_assert_not_null(strcasestr(sum, text), "summary lacks \"%s\"" DUMP_FMT, text, DUMP_ARGS(c));
}

void cmd_expect_out(struct cmd *c, const char *text)
{
	cr_assert_not_null(strstr(c->r.out, text), "stdout lacks \"%s\"" DUMP_FMT, text, DUMP_ARGS(c));
}

void cmd_expect_no_out(struct cmd *c, const char *text)
{
	cr_assert_null(strstr(c->r.out, text), "stdout has \"%s\"" DUMP_FMT, text, DUMP_ARGS(c));
}

int cmd_perf_field(struct cmd *c, const char *label, char *out, size_t outsz)
{
	return tu_perf_field(c->r.first_line, label, out, outsz);
}

int cmd_perf_has(struct cmd *c, const char *label)
{
	char v[256];

	return cmd_perf_field(c, label, v, sizeof v);
}

void cmd_expect_perf(struct cmd *c, const char *label)
{
	cr_assert(cmd_perf_has(c, label), "perfdata lacks '%s'" DUMP_FMT, label, DUMP_ARGS(c));
}

void cmd_expect_no_perf(struct cmd *c, const char *label)
{
	cr_assert(!cmd_perf_has(c, label), "perfdata has '%s'" DUMP_FMT, label, DUMP_ARGS(c));
}

double cmd_perf_value(struct cmd *c, const char *label, char *uom, size_t uomsz)
{
	char v[256], *end;
	double d;

	cr_assert(cmd_perf_field(c, label, v, sizeof v), "perfdata lacks '%s'" DUMP_FMT, label, DUMP_ARGS(c));
	d = strtod(v, &end);
	cr_assert(end != v, "perfdata '%s' value \"%s\" is not a number" DUMP_FMT, label, v, DUMP_ARGS(c));
	if (uom)
		snprintf(uom, uomsz, "%.*s", (int)strcspn(end, ";"), end);
	return d;
}

void cmd_perf_part(struct cmd *c, const char *label, int index, char *out, size_t outsz)
{
	char v[256], *p = v;

	cr_assert(cmd_perf_field(c, label, v, sizeof v), "perfdata lacks '%s'" DUMP_FMT, label, DUMP_ARGS(c));
	for (int i = 0; i < index && p; i++) {
		p = strchr(p, ';');
		if (p)
			p++;
	}
	snprintf(out, outsz, "%.*s", p ? (int)strcspn(p, ";") : 0, p ? p : "");
}
