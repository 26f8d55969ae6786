/* fakeserver.c - start/stop tests/fake/fakeimap.py and read what it
 * recorded; run the probe against it (struct fake_case).  See
 * fakeserver.h.  Test-only code: plain POSIX + Linux. */
#define _GNU_SOURCE
#include "fakeserver.h"
#include "runprobe.h"
#include "testutil.h"

#include <criterion/criterion.h>

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <arpa/inet.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>
#ifdef __linux__
#include <sys/prctl.h>
#endif

#define FAKE_PATH_MAX 512

struct fake_server {
	pid_t pid;
	int port;
	char port_str[16];
	int stopped;            /* fake_stop ran */
	int status;             /* its result */
	char dir[FAKE_PATH_MAX - 32];
	char scenario[FAKE_PATH_MAX];
	char record[FAKE_PATH_MAX];
	char record_clear[FAKE_PATH_MAX];
	char logfile[FAKE_PATH_MAX];
	unsigned char *rec;     /* loaded lazily */
	size_t rec_len;
	unsigned char *rec_clear;
	size_t rec_clear_len;
	char *log;
};

/* Live servers and certificate directories, cleaned up at exit even when
 * a failed assertion skipped the test's own cleanup. */
#define FAKE_MAX_LIVE 32
static struct fake_server *live_servers[FAKE_MAX_LIVE];
static char live_certdirs[FAKE_MAX_LIVE][256];
static int atexit_done;

static void rm_tree_flat(const char *dir);
static void cleanup_at_exit(void);

static void track(void)
{
	if (!atexit_done) {
		atexit_done = 1;
		atexit(cleanup_at_exit);
	}
}

static void track_server(struct fake_server *fs, int add)
{
	track();
	for (size_t i = 0; i < FAKE_MAX_LIVE; i++) {
		if (add && !live_servers[i]) {
			live_servers[i] = fs;
			return;
		}
		if (!add && live_servers[i] == fs) {
			live_servers[i] = NULL;
			return;
		}
	}
}

static void track_certdir(const char *dir, int add)
{
	track();
	for (size_t i = 0; i < FAKE_MAX_LIVE; i++) {
		if (add && !live_certdirs[i][0]) {
			snprintf(live_certdirs[i], sizeof live_certdirs[i], "%s", dir);
			return;
		}
		if (!add && !strcmp(live_certdirs[i], dir)) {
			live_certdirs[i][0] = '\0';
			return;
		}
	}
}

/* ---------------------------------------------------------------- utils */

static void sleep_s(double s)
{
	struct timespec ts;
	ts.tv_sec = (time_t)s;
	ts.tv_nsec = (long)((s - (double)ts.tv_sec) * 1e9);
	while (nanosleep(&ts, &ts) == -1 && errno == EINTR)
		;
}

static const char *tmpdir(void)
{
	const char *t = getenv("TMPDIR");
	return t && *t ? t : "/tmp";
}

static int write_file(const char *path, const void *data, size_t len)
{
	int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
	const char *p = data;
	if (fd < 0)
		return -1;
	while (len > 0) {
		ssize_t n = write(fd, p, len);
		if (n < 0) {
			if (errno == EINTR)
				continue;
			close(fd);
			return -1;
		}
		p += n;
		len -= (size_t)n;
	}
	return close(fd);
}

/* Whole file, NUL-terminated; "" (allocated) if missing. */
static unsigned char *read_file(const char *path, size_t *len)
{
	unsigned char *buf = NULL;
	size_t cap = 0, used = 0;
	int fd = open(path, O_RDONLY | O_CLOEXEC);

	if (fd >= 0) {
		for (;;) {
			ssize_t n;
			if (cap - used < 65537) {
				size_t ncap = cap ? cap * 2 : 65536 * 2;
				unsigned char *nb = realloc(buf, ncap);
				if (!nb)
					break;
				buf = nb;
				cap = ncap;
			}
			n = read(fd, buf + used, cap - used - 1);
			if (n < 0 && errno == EINTR)
				continue;
			if (n <= 0)
				break;
			used += (size_t)n;
		}
		close(fd);
	}
	if (!buf) {
		buf = malloc(1);
		if (!buf)
			abort();
	}
	buf[used] = '\0';
	if (len)
		*len = used;
	return buf;
}

static int file_exists(const char *path)
{
	return access(path, R_OK) == 0;
}

static void script_path(char *out, size_t n)
{
	const char *env = getenv("FAKEIMAP");
	const char *top = getenv("TOP_SRCDIR");

	if (env && *env) {
		snprintf(out, n, "%s", env);
		return;
	}
	if (top && *top) {
		snprintf(out, n, "%s/tests/fake/fakeimap.py", top);
		if (file_exists(out))
			return;
	}
#ifdef TOP_SRCDIR
	snprintf(out, n, "%s/tests/fake/fakeimap.py", TOP_SRCDIR);
	if (file_exists(out))
		return;
#endif
	snprintf(out, n, "tests/fake/fakeimap.py");
}

static void certs_script_path(char *out, size_t n)
{
	const char *top = getenv("TOP_SRCDIR");

	if (top && *top) {
		snprintf(out, n, "%s/tests/certs/mkcerts.sh", top);
		if (file_exists(out))
			return;
	}
#ifdef TOP_SRCDIR
	snprintf(out, n, "%s/tests/certs/mkcerts.sh", TOP_SRCDIR);
	if (file_exists(out))
		return;
#endif
	snprintf(out, n, "tests/certs/mkcerts.sh");
}

static void rm_tree_flat(const char *dir)
{
	DIR *d = opendir(dir);
	struct dirent *e;
	char path[FAKE_PATH_MAX + 256];

	if (d) {
		while ((e = readdir(d)) != NULL) {
			if (!strcmp(e->d_name, ".") || !strcmp(e->d_name, ".."))
				continue;
			snprintf(path, sizeof path, "%s/%s", dir, e->d_name);
			unlink(path);
		}
		closedir(d);
	}
	rmdir(dir);
}

/* Run argv with stdout to /dev/null (stderr kept); exit status or -1. */
static int run_quiet(char *const argv[])
{
	int st;
	pid_t pid = fork();

	if (pid < 0)
		return -1;
	if (pid == 0) {
		int nul = open("/dev/null", O_RDWR);
		if (nul >= 0) {
			dup2(nul, 0);
			dup2(nul, 1);
		}
		execvp(argv[0], argv);
		_exit(127);
	}
	while (waitpid(pid, &st, 0) < 0)
		if (errno != EINTR)
			return -1;
	return WIFEXITED(st) ? WEXITSTATUS(st) : -1;
}

/* ---------------------------------------------------------------- start */

struct fake_server *fake_start(const char *scenario)
{
	struct fake_opts o = { .connections = 1, .max_seconds = 30, .verbose = true };
	return fake_start_opts(scenario, &o);
}

struct fake_server *fake_start_opts(const char *scenario, const struct fake_opts *opts)
{
	struct fake_server *fs = calloc(1, sizeof *fs);
	char script[FAKE_PATH_MAX], conns[16], maxs[32];
	const char *py_env = getenv("FAKEIMAP_PYTHON");
	const char *python = py_env && *py_env ? py_env : "/usr/bin/python3";
	char *argv[16];
	int argc = 0, pfd[2], logfd;
	char line[128];
	size_t got = 0;
	double deadline;

	if (!fs)
		return NULL;
	fs->pid = -1;
	snprintf(fs->dir, sizeof fs->dir, "%s/fakeimap.XXXXXX", tmpdir());
	if (!mkdtemp(fs->dir)) {
		fprintf(stderr, "fake_start: mkdtemp %s: %s\n", fs->dir, strerror(errno));
		free(fs);
		return NULL;
	}
	snprintf(fs->scenario, sizeof fs->scenario, "%s/scenario", fs->dir);
	snprintf(fs->record, sizeof fs->record, "%s/record", fs->dir);
	snprintf(fs->record_clear, sizeof fs->record_clear, "%s/record-clear", fs->dir);
	snprintf(fs->logfile, sizeof fs->logfile, "%s/log", fs->dir);
	if (write_file(fs->scenario, scenario, strlen(scenario)) < 0) {
		fprintf(stderr, "fake_start: cannot write %s: %s\n", fs->scenario, strerror(errno));
		rm_tree_flat(fs->dir);
		free(fs);
		return NULL;
	}
	script_path(script, sizeof script);
	snprintf(conns, sizeof conns, "%d", opts && opts->connections > 0 ? opts->connections : 1);
	snprintf(maxs, sizeof maxs, "%g", opts && opts->max_seconds > 0 ? opts->max_seconds : 30.0);

	argv[argc++] = (char *)python;
	argv[argc++] = script;
	argv[argc++] = (char *)"--connections";
	argv[argc++] = conns;
	argv[argc++] = (char *)"--max-seconds";
	argv[argc++] = maxs;
	argv[argc++] = (char *)"--record";
	argv[argc++] = fs->record;
	argv[argc++] = (char *)"--record-clear";
	argv[argc++] = fs->record_clear;
	if (!opts || opts->verbose)
		argv[argc++] = (char *)"-v";
	argv[argc++] = fs->scenario;
	argv[argc] = NULL;

	logfd = open(fs->logfile, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
	if (logfd < 0 || pipe2(pfd, O_CLOEXEC) < 0) {
		fprintf(stderr, "fake_start: %s\n", strerror(errno));
		if (logfd >= 0)
			close(logfd);
		rm_tree_flat(fs->dir);
		free(fs);
		return NULL;
	}
	{
		pid_t parent = getpid();
		fs->pid = fork();
		if (fs->pid == 0) {
			int nul = open("/dev/null", O_RDONLY);
#ifdef __linux__
			/* Never outlive a crashed test. */
			prctl(PR_SET_PDEATHSIG, SIGTERM);
			if (getppid() != parent)
				_exit(2);
#endif
			(void)parent;
			if (nul >= 0)
				dup2(nul, 0);
			dup2(pfd[1], 1);
			dup2(logfd, 2);
			if (!py_env && access(python, X_OK) != 0)
				argv[0] = (char *)"python3";
			execvp(argv[0], argv);
			_exit(127);
		}
	}
	close(pfd[1]);
	close(logfd);
	if (fs->pid < 0) {
		fprintf(stderr, "fake_start: fork: %s\n", strerror(errno));
		close(pfd[0]);
		rm_tree_flat(fs->dir);
		free(fs);
		return NULL;
	}

	/* Wait for "PORT <n>\n". */
	deadline = tu_now_s() + 10.0;
	while (got < sizeof line - 1 && !memchr(line, '\n', got)) {
		struct pollfd p = { .fd = pfd[0], .events = POLLIN };
		double left = deadline - tu_now_s();
		ssize_t n;
		if (left <= 0)
			break;
		if (poll(&p, 1, (int)(left * 1000) + 1) <= 0)
			continue;
		n = read(pfd[0], line + got, sizeof line - 1 - got);
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			break;
		got += (size_t)n;
	}
	close(pfd[0]);
	line[got] = '\0';
	if (sscanf(line, "PORT %d", &fs->port) != 1 || fs->port <= 0) {
		fake_stop_grace(fs, 0.5);
		fprintf(stderr, "fake_start: the fake server did not start (%s %s): %s\n",
			python, script, fake_log(fs));
		fake_free(fs);
		return NULL;
	}
	snprintf(fs->port_str, sizeof fs->port_str, "%d", fs->port);
	track_server(fs, 1);
	return fs;
}

int fake_port(const struct fake_server *fs)
{
	return fs->port;
}

const char *fake_port_str(const struct fake_server *fs)
{
	return fs->port_str;
}

/* ---------------------------------------------------------------- stop */

static int reap(pid_t pid, int *st, double timeout_s)
{
	double end = tu_now_s() + timeout_s;
	for (;;) {
		pid_t r = waitpid(pid, st, WNOHANG);
		if (r == pid)
			return 1;
		if (r < 0 && errno != EINTR)
			return -1;
		if (tu_now_s() >= end)
			return 0;
		sleep_s(0.005);
	}
}

int fake_stop_grace(struct fake_server *fs, double grace_s)
{
	int st = 0, r;

	if (fs->stopped)
		return fs->status;
	fs->stopped = 1;
	if (fs->pid <= 0) {
		fs->status = -1;
		return -1;
	}
	r = reap(fs->pid, &st, grace_s);
	if (r == 0) {
		kill(fs->pid, SIGTERM);
		r = reap(fs->pid, &st, 2.0);
		if (r == 0) {
			kill(fs->pid, SIGKILL);
			r = reap(fs->pid, &st, 5.0);
		}
		fs->status = -1;
		return -1;
	}
	if (r < 0)
		fs->status = -1;
	else
		fs->status = WIFEXITED(st) ? WEXITSTATUS(st) : -1;
	return fs->status;
}

int fake_stop(struct fake_server *fs)
{
	return fake_stop_grace(fs, 2.0);
}

/* ---------------------------------------------------------------- records */

const unsigned char *fake_received(struct fake_server *fs, size_t *len)
{
	fake_stop(fs);
	if (!fs->rec)
		fs->rec = read_file(fs->record, &fs->rec_len);
	if (len)
		*len = fs->rec_len;
	return fs->rec;
}

const unsigned char *fake_received_clear(struct fake_server *fs, size_t *len)
{
	fake_stop(fs);
	if (!fs->rec_clear)
		fs->rec_clear = read_file(fs->record_clear, &fs->rec_clear_len);
	if (len)
		*len = fs->rec_clear_len;
	return fs->rec_clear;
}

const char *fake_log(struct fake_server *fs)
{
	fake_stop(fs);
	if (!fs->log)
		fs->log = (char *)read_file(fs->logfile, NULL);
	return fs->log;
}

bool fake_buf_contains_secret(const unsigned char *buf, size_t len, const char *secret)
{
	size_t sl = strlen(secret), k;
	unsigned char *tmp;
	char *enc, *q;
	bool found = false;

	if (sl == 0)
		return false;
	if (memmem(buf, len, secret, sl))
		return true;

	/* The quoted-string form: " and \ escaped with a backslash. */
	q = malloc(2 * sl + 1);
	tmp = malloc(sl + 3);
	enc = malloc(4 * ((sl + 2) / 3 + 1) + 8);
	if (!q || !tmp || !enc)
		abort();
	{
		size_t j = 0;
		for (k = 0; k < sl; k++) {
			if (secret[k] == '"' || secret[k] == '\\')
				q[j++] = '\\';
			q[j++] = secret[k];
		}
		if (j != sl && memmem(buf, len, q, j))
			found = true;
	}

	/* Base64 at each of the three alignments the secret can have inside a
	 * larger blob: only the characters that depend on the secret's bytes
	 * alone are searched for. */
	for (k = 0; k < 3 && !found; k++) {
		size_t groups = (k + sl) / 3, begin = k ? 4 : 0, end = 4 * groups;
		memset(tmp, 0, k);
		memcpy(tmp + k, secret, sl);
		tu_b64(tmp, k + sl, enc);
		if (end > begin && end - begin >= 4 && memmem(buf, len, enc + begin, end - begin))
			found = true;
	}
	/* And the whole secret encoded on its own, padding included. */
	if (!found) {
		size_t n = tu_b64((const unsigned char *)secret, sl, enc);
		if (memmem(buf, len, enc, n))
			found = true;
	}
	free(q);
	free(tmp);
	free(enc);
	return found;
}

bool fake_saw(struct fake_server *fs, const char *secret)
{
	size_t n;
	const unsigned char *b = fake_received(fs, &n);
	return fake_buf_contains_secret(b, n, secret);
}

bool fake_saw_clear(struct fake_server *fs, const char *secret)
{
	size_t n;
	const unsigned char *b = fake_received_clear(fs, &n);
	return fake_buf_contains_secret(b, n, secret);
}

void fake_free(struct fake_server *fs)
{
	if (!fs)
		return;
	fake_stop(fs);
	track_server(fs, 0);
	rm_tree_flat(fs->dir);
	free(fs->rec);
	free(fs->rec_clear);
	free(fs->log);
	free(fs);
}

/* ---------------------------------------------------------------- certs */

int fake_certs_make(struct fake_certs *c)
{
	char script[FAKE_PATH_MAX], subj_alt[] = "subjectAltName=DNS:localhost,IP:127.0.0.1";
	int rc;

	memset(c, 0, sizeof *c);
	snprintf(c->dir, sizeof c->dir, "%s/fakecerts.XXXXXX", tmpdir());
	if (!mkdtemp(c->dir)) {
		fprintf(stderr, "fake_certs_make: mkdtemp: %s\n", strerror(errno));
		return -1;
	}
	snprintf(c->ca, sizeof c->ca, "%s/ca.pem", c->dir);
	snprintf(c->cert, sizeof c->cert, "%s/server.pem", c->dir);
	snprintf(c->key, sizeof c->key, "%s/server.key", c->dir);

	certs_script_path(script, sizeof script);
	if (file_exists(script)) {
		char *argv[] = { (char *)"sh", script, c->dir, NULL };
		rc = run_quiet(argv);
	} else {
		char *argv[] = { (char *)"openssl", (char *)"req", (char *)"-x509",
			(char *)"-newkey", (char *)"ec", (char *)"-pkeyopt",
			(char *)"ec_paramgen_curve:prime256v1", (char *)"-nodes",
			(char *)"-subj", (char *)"/CN=localhost", (char *)"-addext", subj_alt,
			(char *)"-days", (char *)"30", (char *)"-keyout", c->key,
			(char *)"-out", c->cert, NULL };
		rc = run_quiet(argv);
		if (rc == 0) {
			size_t n;
			unsigned char *pem = read_file(c->cert, &n);
			rc = write_file(c->ca, pem, n);
			free(pem);
		}
	}
	track_certdir(c->dir, 1);
	if (rc != 0 || !file_exists(c->cert) || !file_exists(c->key)) {
		fprintf(stderr, "fake_certs_make: could not make certificates in %s\n", c->dir);
		fake_certs_remove(c);
		return -1;
	}
	return 0;
}

void fake_certs_remove(struct fake_certs *c)
{
	if (c->dir[0]) {
		track_certdir(c->dir, 0);
		rm_tree_flat(c->dir);
	}
	c->dir[0] = '\0';
}

static void cleanup_at_exit(void)
{
	for (size_t i = 0; i < FAKE_MAX_LIVE; i++) {
		struct fake_server *fs = live_servers[i];
		if (fs) {
			if (!fs->stopped && fs->pid > 0) {
				kill(fs->pid, SIGKILL);
				waitpid(fs->pid, NULL, 0);
				fs->stopped = 1;
			}
			rm_tree_flat(fs->dir);
			live_servers[i] = NULL;
		}
		if (live_certdirs[i][0]) {
			rm_tree_flat(live_certdirs[i]);
			live_certdirs[i][0] = '\0';
		}
	}
}

/* ---------------------------------------------------------------- ports */

int fake_refusing_port(int *port)
{
	struct sockaddr_in sa;
	socklen_t sl = sizeof sa;
	int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);

	if (fd < 0)
		return -1;
	memset(&sa, 0, sizeof sa);
	sa.sin_family = AF_INET;
	sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	sa.sin_port = 0;
	if (bind(fd, (struct sockaddr *)&sa, sizeof sa) < 0 ||
	    getsockname(fd, (struct sockaddr *)&sa, &sl) < 0) {
		close(fd);
		return -1;
	}
	*port = ntohs(sa.sin_port);
	return fd;
}

int fake_blackhole_open(struct fake_blackhole *b)
{
	struct sockaddr_in sa;
	socklen_t sl = sizeof sa;

	memset(b, 0, sizeof *b);
	for (size_t i = 0; i < sizeof b->fill_fd / sizeof *b->fill_fd; i++)
		b->fill_fd[i] = -1;
	b->listen_fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (b->listen_fd < 0)
		return -1;
	memset(&sa, 0, sizeof sa);
	sa.sin_family = AF_INET;
	sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	if (bind(b->listen_fd, (struct sockaddr *)&sa, sizeof sa) < 0 || listen(b->listen_fd, 0) < 0 ||
	    getsockname(b->listen_fd, (struct sockaddr *)&sa, &sl) < 0) {
		fake_blackhole_close(b);
		return -1;
	}
	b->port = ntohs(sa.sin_port);
	/* Fill the accept queue (never accepted); later SYNs are dropped. */
	for (size_t i = 0; i < sizeof b->fill_fd / sizeof *b->fill_fd; i++) {
		b->fill_fd[i] = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
		if (b->fill_fd[i] >= 0)
			(void)connect(b->fill_fd[i], (struct sockaddr *)&sa, sizeof sa);
	}
	sleep_s(0.05);
	return 0;
}

void fake_blackhole_close(struct fake_blackhole *b)
{
	for (size_t i = 0; i < sizeof b->fill_fd / sizeof *b->fill_fd; i++)
		if (b->fill_fd[i] >= 0)
			close(b->fill_fd[i]);
	if (b->listen_fd >= 0)
		close(b->listen_fd);
	memset(b, 0, sizeof *b);
	b->listen_fd = -1;
}

/* ---------------------------------------------------------------- diagnostics */

char *fake_diag(const struct probe_run *r, struct fake_server *fs, int fake_status, const unsigned char *rec,
                size_t rec_len)
{
	const char *log = fs ? fake_log(fs) : "(no fake server)";
	size_t loglen = strlen(log);
	char *out, *err, *got, *logp, *d = NULL;

	if (loglen > 4000)
		log += loglen - 4000, loglen = 4000;
	if (rec_len > 3000)
		rec_len = 3000;
	out = tu_printable(r->out ? r->out : "", r->out ? r->out_len : 0);
	err = tu_printable(r->err ? r->err : "", r->err ? r->err_len : 0);
	got = rec ? tu_printable(rec, rec_len) : NULL;
	logp = tu_printable(log, loglen);
	if (asprintf(&d,
	             "\n--- probe: exit %d, signal %d, wall %.3f s, maxrss %ld kB\n--- stdout:\n%s\n--- stderr:\n%s"
	             "%s%s\n--- fake server (exit %d), last lines of its log:\n%s",
	             r->exit_code, r->signal, r->wall_s, r->maxrss_kb, out, err,
	             got ? "\n--- what the fake received:\n" : "", got ? got : "", fake_status, logp) < 0)
		abort();
	free(out);
	free(err);
	free(got);
	free(logp);
	return d;
}

/* ---------------------------------------------------------------- a probe run against the fake */

void fake_case_certs(struct fake_case *c)
{
	if (!c->have_certs) {
		cr_assert_eq(fake_certs_make(&c->certs), 0, "could not make test certificates (openssl CLI?)");
		c->have_certs = true;
	}
}

char *fake_case_scenario(struct fake_case *c, const char *tls, const char *caps, const char *body)
{
	char *s = NULL, *t = NULL;

	if (tls) {
		fake_case_certs(c);
		cr_assert_geq(asprintf(&t, "tls %s %s %s\n", c->certs.cert, c->certs.key, tls), 0);
	}
	cr_assert_geq(asprintf(&s, "%sline * OK [CAPABILITY %s] fake ready\n%s", t ? t : "", caps, body), 0);
	free(t);
	return s;
}

void fake_case_start(struct fake_case *c, const char *scn, int connections)
{
	struct fake_opts o = {.connections = connections ? connections : 1, .max_seconds = 30, .verbose = true};

	c->fs = fake_start_opts(scn, &o);
	cr_assert_not_null(c->fs, "the fake IMAP server did not start (python3? tests/fake/fakeimap.py?)");
}

void fake_case_probe(struct fake_case *c, const char *port, double hard_s, const char *const *fixed,
                     const char *const *extra)
{
	probe_run_local(&c->r, hard_s, port ? port : fake_port_str(c->fs), fixed, extra);
	if (c->fs) {
		c->fake_status = fake_stop(c->fs);
		c->rec = fake_received(c->fs, &c->rec_len);
	}
	c->log = strdup(c->fs ? fake_log(c->fs) : "");
	cr_assert_not_null(c->log);
	c->diag = fake_diag(&c->r, c->fs, c->fake_status, c->rec, c->rec_len);
}

void fake_case_run(struct fake_case *c, char *scn, int connections, double hard_s, const char *const *fixed,
                   const char *const *extra)
{
	fake_case_start(c, scn, connections);
	free(scn);
	fake_case_probe(c, NULL, hard_s, fixed, extra);
}

void fake_case_done(struct fake_case *c)
{
	fake_free(c->fs);
	if (c->have_certs)
		fake_certs_remove(&c->certs);
	if (c->file[0])
		unlink(c->file);
	probe_run_free(&c->r);
	free(c->log);
	free(c->diag);
}

void fake_case_expect_out(struct fake_case *c, const char *text)
{
	cr_assert_not_null(strstr(c->r.out, text), "stdout lacks \"%s\"%s", text, c->diag);
}

void fake_case_expect_no_out(struct fake_case *c, const char *text)
{
	cr_assert_null(strstr(c->r.out, text), "stdout has \"%s\"%s", text, c->diag);
}

void fake_case_expect_log(struct fake_case *c, const char *text)
{
	cr_assert_not_null(strstr(c->log, text), "the fake's log lacks \"%s\"%s", text, c->diag);
}

void fake_case_expect_fake_status(struct fake_case *c, int status)
{
	cr_assert_eq(c->fake_status, status, "the fake exited %d, expected %d%s", c->fake_status, status, c->diag);
}
