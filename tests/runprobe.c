/* runprobe.c - run the real check_imap_session binary from a test: fork and
 * exec it with pipes on stdout and stderr, drain both with poll() so neither
 * can fill up and block the child, enforce a hard timeout, and collect the
 * exit status, wall time (CLOCK_MONOTONIC) and peak RSS (wait4). */
#define _GNU_SOURCE
#include "runprobe.h"

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

static double now_s(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

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
	t0 = now_s();
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
		double left = deadline - now_s();

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
		if (!killed && now_s() >= deadline) {
			kill(-pid, SIGKILL);
			kill(pid, SIGKILL);
			killed = 1;
		}
		usleep(2000);
	}
	r->wall_s = now_s() - t0;
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
