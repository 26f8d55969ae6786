/* test_dovecot_authall.c - `--auth all` (issue 9) against the suite's
 * throwaway Dovecot (tests/dovecot/fixture.sh, started by tests/run-test.sh,
 * which exports the DOVECOT_* variables): every mechanism Dovecot
 * advertises, each on its own connection, over implicit TLS, STARTTLS and
 * the plain port; wrong passwords; the whole-session deadline across
 * connections; and that the connections are opened one after another.
 *
 * The expected mechanisms come from the fixture's DOVECOT_MECHANISMS, so a
 * fixture that offers more (or fewer) mechanisms changes the expectations
 * with it: a mechanism this probe implements must show up as a timed step
 * (auth_plain, auth_scram-sha-256, ...), any other must be listed as
 * skipped.
 *
 * For connection counting and delays the probe talks to Dovecot through a
 * small TCP relay in this process (struct relay): it counts the
 * connections, the most that were open at once (from the client's side:
 * before it accepts a connection it first reads whatever the others sent,
 * so a close the probe did before connecting again is always seen), can
 * hold each new connection for a while before connecting it to Dovecot,
 * and records what the client sent.
 *
 * Environment: CIS_TEST_TIME_FACTOR multiplies the upper wall-time bounds
 * (valgrind, sanitizers); PROBE, TOP_SRCDIR: see runprobe.h. */
#define _GNU_SOURCE
#include <criterion/criterion.h>

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "fakeserver.h"
#include "runprobe.h"
#include "testutil.h"

#define HARD_TIMEOUT_S 60.0

enum { ST_OK = 0, ST_WARNING = 1, ST_CRITICAL = 2, ST_UNKNOWN = 3 };

/* ------------------------------------------------------------ mechanisms */

/* What `--auth all` does with each mechanism Dovecot may advertise. */
struct mech {
	const char *imap;  /* AUTH= name */
	const char *label; /* perfdata / step label, NULL: not implemented */
	bool plaintext;    /* reveals the password: not on a plain connection */
	bool cert;         /* needs a client certificate */
};

static const struct mech known[] = {
	{"SCRAM-SHA-256", "auth_scram-sha-256", false, false},
	{"SCRAM-SHA-1", "auth_scram-sha-1", false, false},
	{"CRAM-MD5", "auth_cram-md5", false, false},
	{"PLAIN", "auth_plain", true, false},
	{"LOGIN", "auth_auth-login", true, false},
	{"EXTERNAL", "auth_external", false, true},
};

/* The strongest-first order the probe promises (IMAP LOGIN last). */
static const char *const order[] = {"auth_scram-sha-256-plus", "auth_scram-sha-1-plus",
                                    "auth_scram-sha-256", "auth_scram-sha-1", "auth_cram-md5",
                                    "auth_plain", "auth_auth-login", "auth_external", "auth_login"};

static const struct mech *mech_lookup(const char *imap)
{
	for (size_t i = 0; i < sizeof known / sizeof known[0]; i++)
		if (!strcasecmp(known[i].imap, imap))
			return &known[i];
	return NULL;
}

/* DOVECOT_MECHANISMS, split: returns the count, names in names[][32]. */
static int fixture_mechs(char names[][32], int max)
{
	char buf[512];
	int n = 0;

	snprintf(buf, sizeof buf, "%s", fixture_env("DOVECOT_MECHANISMS"));
	for (char *save = NULL, *t = strtok_r(buf, " ", &save); t && n < max; t = strtok_r(NULL, " ", &save))
		snprintf(names[n++], 32, "%s", t);
	cr_assert_gt(n, 0, "DOVECOT_MECHANISMS is empty");
	return n;
}

/* ------------------------------------------------------------ the probe */

/* Connection (cmd_fixture_conn): implicit TLS, STARTTLS or plain, to
 * Dovecot's port or (port != NULL) to a relay in front of it. */

/* -U user --password-env PASS_VAR --auth all: the password is never in argv. */
static void cmd_all(struct cmd *c, const char *pass_var)
{
	cmd_fixture_user(c, "DOVECOT_USER", pass_var);
	cmd_addl(c, "--auth", "all", NULL);
}

static void cmd_run(struct cmd *c) { cmd_run_for(c, HARD_TIMEOUT_S * cis_time_factor()); }

/* Every long-output line that starts with PREFIX, joined with ", " (a
 * long list may take several lines), or "" if none. */
static void out_line(struct cmd *c, const char *prefix, char *line, size_t linesz)
{
	const char *p = c->r.out;
	size_t off = 0;

	line[0] = '\0';
	while (p && *p && off < linesz) {
		const char *nl = strchr(p, '\n');
		size_t n = nl ? (size_t)(nl - p) : strlen(p);
		if (!strncmp(p, prefix, strlen(prefix)))
			off += (size_t)snprintf(line + off, linesz - off, "%s%.*s", off ? ", " : "", (int)n, p);
		p = nl ? nl + 1 : NULL;
	}
}

/* The perfdata labels of the first line, in order, NUL-separated in buf;
 * returns how many. */
static int perf_labels(struct cmd *c, char labels[][48], int max)
{
	const char *p = strchr(c->r.first_line, '|');
	int n = 0;

	cr_assert_not_null(p, "no perfdata" DUMP_FMT, DUMP_ARGS(c));
	for (p++; *p && n < max;) {
		while (*p == ' ')
			p++;
		if (!*p)
			break;
		const char *s = p;
		size_t len;
		if (*p == '\'') {
			s = ++p;
			p = strchr(p, '\'');
			cr_assert_not_null(p, "unterminated perfdata label" DUMP_FMT, DUMP_ARGS(c));
			len = (size_t)(p - s);
			p++;
		} else {
			p += strcspn(p, "= ");
			len = (size_t)(p - s);
		}
		cr_assert_eq(*p, '=', "perfdata item without '='" DUMP_FMT, DUMP_ARGS(c));
		snprintf(labels[n++], 48, "%.*s", (int)len, s);
		p += strcspn(p, " ");
	}
	return n;
}

static bool perf_has(struct cmd *c, const char *label)
{
	char labels[64][48];
	int n = perf_labels(c, labels, 64);

	for (int i = 0; i < n; i++)
		if (!strcmp(labels[i], label))
			return true;
	return false;
}

/* The auth_* labels, in perfdata order, joined with ' '. */
static void auth_sequence(struct cmd *c, char *out, size_t outsz)
{
	char labels[64][48];
	int n = perf_labels(c, labels, 64);
	size_t off = 0;

	out[0] = '\0';
	for (int i = 0; i < n; i++)
		if (!strncmp(labels[i], "auth_", 5))
			off += (size_t)snprintf(out + off, outsz - off, "%s%s", off ? " " : "", labels[i]);
}

/* ------------------------------------------------------------ expectations */

/* Over MODE with the password: which labels must run, which mechanisms
 * must be listed as skipped; returns the number expected to run. */
static int expect_all_mechanisms(struct cmd *c, enum fixture_mode m)
{
	char names[16][32], skipped[2048], want[128];
	int n = fixture_mechs(names, 16), run = 0;

	out_line(c, "mechanisms skipped: ", skipped, sizeof skipped);
	for (int i = 0; i < n; i++) {
		const struct mech *k = mech_lookup(names[i]);
		bool runs = k && !k->cert && !(k->plaintext && m == FIXTURE_PLAIN);
		if (runs) {
			cr_assert(perf_has(c, k->label), "no perfdata for %s ('%s')" DUMP_FMT, names[i], k->label,
			          DUMP_ARGS(c));
			snprintf(want, sizeof want, "\n%s: OK ", k->label);
			cmd_expect_out(c, want);
			run++;
			continue;
		}
		if (k)
			cr_assert(!perf_has(c, k->label), "%s ran although it should be skipped" DUMP_FMT, names[i],
			          DUMP_ARGS(c));
		snprintf(want, sizeof want, "%s (%s", names[i],
		         !k ? "not implemented" : k->cert ? "no credentials" : "plaintext on an unencrypted");
		cr_assert_not_null(strstr(skipped, want), "\"%s\" not in the skipped list \"%s\"" DUMP_FMT, want,
		                   skipped, DUMP_ARGS(c));
	}
	/* IMAP LOGIN: only under TLS */
	if (m != FIXTURE_PLAIN) {
		cr_assert(perf_has(c, "auth_login"), "no perfdata for IMAP LOGIN ('auth_login')" DUMP_FMT, DUMP_ARGS(c));
		cmd_expect_out(c, "\nauth_login: OK ");
		run++;
	} else {
		cr_assert(!perf_has(c, "auth_login"), "IMAP LOGIN ran on a plain connection" DUMP_FMT, DUMP_ARGS(c));
		cr_assert_not_null(strstr(skipped, "IMAP LOGIN (plaintext"), "IMAP LOGIN not listed as skipped" DUMP_FMT,
		                   DUMP_ARGS(c));
	}
	return run;
}

/* The auth_* labels appear strongest first. */
static void expect_order(struct cmd *c)
{
	char seq[1024];
	size_t last = 0;

	auth_sequence(c, seq, sizeof seq);
	for (char *save = NULL, *t = strtok_r(seq, " ", &save); t; t = strtok_r(NULL, " ", &save)) {
		size_t k = 0;
		while (k < sizeof order / sizeof order[0] && strcmp(order[k], t))
			k++;
		cr_assert_lt(k, sizeof order / sizeof order[0], "unexpected step %s" DUMP_FMT, t, DUMP_ARGS(c));
		cr_assert_geq(k, last, "%s is out of the strongest-first order" DUMP_FMT, t, DUMP_ARGS(c));
		last = k;
	}
}

static void expect_n_of_n(struct cmd *c, int n)
{
	char want[64];

	snprintf(want, sizeof want, " %d/%d mechanisms", n, n);
	cmd_expect_summary_i(c, want);
}

/* ------------------------------------------------------------ the relay */

#define RELAY_MAX 32
#define RELAY_BUF 65536

struct pair {
	int cfd, sfd;        /* client side, Dovecot side (-1: not yet) */
	double connect_at;   /* when to connect to Dovecot */
	unsigned char buf[RELAY_BUF]; /* client bytes not yet forwarded */
	size_t len;
};

struct relay {
	int lfd, port, upstream;
	char port_str[16];
	double delay_s;
	int stop[2];
	pthread_t th;
	pthread_mutex_t mu;
	struct pair *p[RELAY_MAX];
	/* results (under mu) */
	int accepted, active, max_active;
	unsigned char *rec; /* everything the clients sent */
	size_t rec_len, rec_cap;
	char err[256];
};

static void relay_record(struct relay *r, const unsigned char *d, size_t n)
{
	pthread_mutex_lock(&r->mu);
	if (r->rec_len + n + 1 > r->rec_cap) {
		size_t cap = (r->rec_len + n + 1) * 2;
		unsigned char *nb = realloc(r->rec, cap);
		if (nb) {
			r->rec = nb;
			r->rec_cap = cap;
		}
	}
	if (r->rec_len + n + 1 <= r->rec_cap) {
		memcpy(r->rec + r->rec_len, d, n);
		r->rec_len += n;
		r->rec[r->rec_len] = '\0';
	}
	pthread_mutex_unlock(&r->mu);
}

static void pair_close(struct relay *r, int i)
{
	struct pair *p = r->p[i];

	close(p->cfd);
	if (p->sfd >= 0)
		close(p->sfd);
	free(p);
	r->p[i] = NULL;
	pthread_mutex_lock(&r->mu);
	r->active--;
	pthread_mutex_unlock(&r->mu);
}

static int write_all(int fd, const unsigned char *d, size_t n)
{
	while (n > 0) {
		ssize_t w = send(fd, d, n, MSG_NOSIGNAL);
		if (w < 0 && errno == EINTR)
			continue;
		if (w < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) {
			struct pollfd pf = {.fd = fd, .events = POLLOUT};
			poll(&pf, 1, 1000);
			continue;
		}
		if (w <= 0)
			return -1;
		d += w;
		n -= (size_t)w;
	}
	return 0;
}

/* Read what the client sent (without waiting): buffered or forwarded.
 * Returns -1 when the client has closed (or reset) the connection. */
static int pair_client_read(struct relay *r, struct pair *p)
{
	for (;;) {
		if (p->len == sizeof p->buf)
			return 0; /* full: read again once forwarded */
		ssize_t n = recv(p->cfd, p->buf + p->len, sizeof p->buf - p->len, MSG_DONTWAIT);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK))
			return 0;
		if (n <= 0)
			return -1;
		relay_record(r, p->buf + p->len, (size_t)n);
		p->len += (size_t)n;
		if (p->sfd >= 0) {
			if (write_all(p->sfd, p->buf, p->len) < 0)
				return -1;
			p->len = 0;
		}
	}
}

static int pair_connect(struct relay *r, struct pair *p)
{
	struct sockaddr_in sa = {.sin_family = AF_INET, .sin_port = htons((uint16_t)r->upstream)};
	int one = 1;

	sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	p->sfd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (p->sfd < 0 || connect(p->sfd, (struct sockaddr *)&sa, sizeof sa) < 0)
		return -1;
	setsockopt(p->sfd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
	if (p->len && write_all(p->sfd, p->buf, p->len) < 0)
		return -1;
	p->len = 0;
	return 0;
}

static void *relay_main(void *arg)
{
	struct relay *r = arg;

	for (;;) {
		struct pollfd pf[2 + 2 * RELAY_MAX];
		int map[2 + 2 * RELAY_MAX], n = 0;
		double now = tu_now_s(), next = -1;

		pf[n] = (struct pollfd){.fd = r->stop[0], .events = POLLIN};
		map[n++] = -1;
		pf[n] = (struct pollfd){.fd = r->lfd, .events = POLLIN};
		map[n++] = -2;
		for (int i = 0; i < RELAY_MAX; i++) {
			struct pair *p = r->p[i];
			if (!p)
				continue;
			if (p->sfd < 0 && p->connect_at <= now && pair_connect(r, p) < 0) {
				snprintf(r->err, sizeof r->err, "relay: cannot connect to port %d: %s", r->upstream,
				         strerror(errno));
				pair_close(r, i);
				continue;
			}
			if (p->sfd < 0 && (next < 0 || p->connect_at < next))
				next = p->connect_at;
			pf[n] = (struct pollfd){.fd = p->cfd, .events = POLLIN};
			map[n++] = i;
			if (p->sfd >= 0) {
				pf[n] = (struct pollfd){.fd = p->sfd, .events = POLLIN};
				map[n++] = RELAY_MAX + i;
			}
		}
		int wait_ms = next < 0 ? 1000 : (int)((next - now) * 1000) + 1;
		if (poll(pf, (nfds_t)n, wait_ms < 0 ? 0 : wait_ms) < 0 && errno != EINTR)
			break;
		if (pf[0].revents)
			break;
		for (int k = 2; k < n; k++) {
			if (!pf[k].revents)
				continue;
			int i = map[k] % RELAY_MAX;
			struct pair *p = r->p[i];
			if (!p)
				continue;
			if (map[k] < RELAY_MAX) {
				if (pair_client_read(r, p) < 0)
					pair_close(r, i);
			} else {
				unsigned char buf[RELAY_BUF];
				ssize_t got = recv(p->sfd, buf, sizeof buf, MSG_DONTWAIT);
				if (got < 0 && (errno == EAGAIN || errno == EINTR))
					continue;
				if (got <= 0 || write_all(p->cfd, buf, (size_t)got) < 0)
					pair_close(r, i);
			}
		}
		if (!pf[1].revents)
			continue;
		/* Before a new connection counts, read what the others sent:
		 * a close the client made before connecting again is in their
		 * receive queues by now (loopback delivers in order). */
		for (int i = 0; i < RELAY_MAX; i++)
			if (r->p[i] && pair_client_read(r, r->p[i]) < 0)
				pair_close(r, i);
		int cfd = accept4(r->lfd, NULL, NULL, SOCK_CLOEXEC);
		if (cfd < 0)
			continue;
		int slot = 0;
		while (slot < RELAY_MAX && r->p[slot])
			slot++;
		struct pair *p = slot < RELAY_MAX ? calloc(1, sizeof *p) : NULL;
		if (!p) {
			close(cfd);
			snprintf(r->err, sizeof r->err, "relay: too many connections");
			continue;
		}
		int one = 1;
		setsockopt(cfd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
		p->cfd = cfd;
		p->sfd = -1;
		p->connect_at = tu_now_s() + r->delay_s;
		r->p[slot] = p;
		pthread_mutex_lock(&r->mu);
		r->accepted++;
		r->active++;
		if (r->active > r->max_active)
			r->max_active = r->active;
		pthread_mutex_unlock(&r->mu);
	}
	for (int i = 0; i < RELAY_MAX; i++)
		if (r->p[i])
			pair_close(r, i);
	return NULL;
}

/* A relay on a free loopback port in front of 127.0.0.1:UPSTREAM that
 * holds every new connection DELAY_S seconds before connecting it. */
static struct relay *relay_start(const char *upstream, double delay_s)
{
	struct relay *r = calloc(1, sizeof *r);
	struct sockaddr_in sa = {.sin_family = AF_INET};
	socklen_t sl = sizeof sa;

	cr_assert_not_null(r);
	r->upstream = atoi(upstream);
	r->delay_s = delay_s;
	pthread_mutex_init(&r->mu, NULL);
	r->lfd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
	cr_assert_geq(r->lfd, 0);
	sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	cr_assert_eq(bind(r->lfd, (struct sockaddr *)&sa, sizeof sa), 0, "bind: %s", strerror(errno));
	cr_assert_eq(getsockname(r->lfd, (struct sockaddr *)&sa, &sl), 0);
	cr_assert_eq(listen(r->lfd, 16), 0);
	r->port = ntohs(sa.sin_port);
	snprintf(r->port_str, sizeof r->port_str, "%d", r->port);
	cr_assert_eq(pipe2(r->stop, O_CLOEXEC), 0);
	cr_assert_eq(pthread_create(&r->th, NULL, relay_main, r), 0);
	return r;
}

static void relay_stop(struct relay *r)
{
	if (r->stop[1] < 0)
		return;
	cr_assert_eq(write(r->stop[1], "x", 1), 1);
	pthread_join(r->th, NULL);
	close(r->stop[0]);
	close(r->stop[1]);
	close(r->lfd);
	r->stop[1] = -1;
}

static void relay_free(struct relay *r)
{
	relay_stop(r);
	free(r->rec);
	free(r);
}

/* ============================================================ tests */

TestSuite(authall, .timeout = 180);

/* Every mechanism over MODE, twice: N/N, a timed step per mechanism, the
 * skipped ones listed, and the same strongest-first order both times. */
static void all_mechanisms(enum fixture_mode m)
{
	char seq1[1024], seq2[1024];
	int run = 0;

	for (int round = 0; round < 2; round++) {
		struct cmd *c = cmd_new();
		cmd_fixture_conn(c, m, NULL);
		cmd_all(c, "DOVECOT_PASS");
		cmd_run(c);
		cmd_expect_state(c, ST_OK);
		run = expect_all_mechanisms(c, m);
		expect_n_of_n(c, run);
		expect_order(c);
		if (m != FIXTURE_PLAIN)
			cmd_expect_summary_i(c, "TLSv1.");
		auth_sequence(c, round ? seq2 : seq1, sizeof seq1);
		cr_assert_not_null(strstr(c->r.out, "mechanisms skipped: "), "no skipped line" DUMP_FMT, DUMP_ARGS(c));
		cr_assert_null(strstr(c->r.out, "mechanisms that failed"), "a mechanism failed" DUMP_FMT, DUMP_ARGS(c));
		/* the password never shows (it only was in the environment) */
		cr_assert_null(strstr(c->r.out, fixture_env("DOVECOT_PASS")), "password in the output" DUMP_FMT,
		               DUMP_ARGS(c));
		cmd_free(c);
	}
	cr_assert_str_eq(seq1, seq2, "the order changed between two runs");
	cr_assert_geq(run, m == FIXTURE_PLAIN ? 3 : 6, "fewer mechanisms than the fixture offers: %d", run);
}

Test(authall, every_mechanism_over_implicit_tls) { all_mechanisms(FIXTURE_IMPLICIT); }
Test(authall, every_mechanism_over_starttls) { all_mechanisms(FIXTURE_STARTTLS); }

/* Without TLS only the mechanisms that never reveal the password run. */
Test(authall, plain_port_runs_only_non_plaintext_mechanisms)
{
	struct relay *r = relay_start(fixture_env("DOVECOT_IMAP_PORT"), 0);
	struct cmd *c = cmd_new();

	all_mechanisms(FIXTURE_PLAIN);
	/* and, through the relay, nothing the client sent carries the password */
	cmd_fixture_conn(c, FIXTURE_PLAIN, r->port_str);
	cmd_all(c, "DOVECOT_PASS");
	cmd_run(c);
	relay_stop(r);
	cmd_expect_state(c, ST_OK);
	cr_assert_eq(r->max_active, 1, "%d connections open at once", r->max_active);
	cr_assert(!fake_buf_contains_secret(r->rec, r->rec_len, fixture_env("DOVECOT_PASS")),
	          "the password crossed the unencrypted connection" DUMP_FMT, DUMP_ARGS(c));
	cr_assert_not_null(r->rec, "the relay saw nothing");
	cr_assert_not_null(strcasestr((char *)r->rec, "AUTHENTICATE SCRAM-SHA-256"), "control: no SCRAM seen");
	cmd_free(c);
	relay_free(r);
}

/* --output json: valid JSON with an auth_* step per mechanism. */
Test(authall, json_output_has_every_step)
{
	struct cmd *c = cmd_new();
	char names[16][32], want[128], py[64];
	int n = fixture_mechs(names, 16);

	cmd_fixture_conn(c, FIXTURE_IMPLICIT, NULL);
	cmd_all(c, "DOVECOT_PASS");
	cmd_addl(c, "--output", "json", NULL);
	cmd_run(c);
	cr_assert_eq(c->r.exit_code, ST_OK, "exit %d" DUMP_FMT, c->r.exit_code, DUMP_ARGS(c));
	for (int i = 0; i < n; i++) {
		const struct mech *k = mech_lookup(names[i]);
		if (!k || k->cert)
			continue;
		snprintf(want, sizeof want, "{\"name\":\"%s\",\"outcome\":\"ok\"", k->label);
		cmd_expect_out(c, want);
	}
	cmd_expect_out(c, "{\"name\":\"auth_login\",\"outcome\":\"ok\"");
	cmd_expect_out(c, "\"mechanisms_ok\":\"");
	cmd_expect_out(c, "\"state\":\"OK\"");
	/* well-formed: let Python's json module parse it */
	int rc = tu_python_json(c->r.out, c->r.out_len,
	                        "d[\"info\"][\"mechanisms_ok\"] == d[\"info\"][\"mechanisms_tried\"] == "
	                        "str(len([x[\"name\"] for x in d[\"steps\"] if x[\"name\"].startswith(\"auth_\")]))",
	                        py, sizeof py);
	cr_assert(rc == 0 && !strcmp(py, "True"), "the JSON output does not parse or disagrees (%d, %s)" DUMP_FMT, rc,
	          py, DUMP_ARGS(c));
	cmd_free(c);
}

/* A wrong password: CRITICAL naming the first (strongest) mechanism and
 * Dovecot's words; the other mechanisms are still tried, each failing. */
Test(authall, wrong_password_is_critical_naming_the_mechanism)
{
	struct cmd *c = cmd_new();
	char failed[1024];

	setenv("CIS_WRONG", "wrong-password", 1);
	cmd_fixture_conn(c, FIXTURE_IMPLICIT, NULL);
	cmd_all(c, "CIS_WRONG");
	cmd_run(c);
	cmd_expect_state(c, ST_CRITICAL);
	cmd_expect_summary_i(c, "auth_scram-sha-256");
	cmd_expect_summary_i(c, "AUTHENTICATE SCRAM-SHA-256");
	cmd_expect_summary_i(c, "[AUTHENTICATIONFAILED]");
	cmd_expect_out(c, "\nauth_scram-sha-256: FAILED ");
	out_line(c, "mechanisms that failed: ", failed, sizeof failed);
	for (const char *const *m = (const char *const[]){"scram-sha-256", "scram-sha-1", "cram-md5", "plain",
	                                                    "auth-login", "login", NULL};
	     *m; m++)
		cr_assert_not_null(strstr(failed, *m), "%s not in \"%s\"" DUMP_FMT, *m, failed, DUMP_ARGS(c));
	cmd_free(c);
}

/* The deadline spans all connections.  Each connection is held 0.3 s by the
 * relay before Dovecot sees it, so with -t 1 the fourth connection cannot
 * finish in time: the probe must stop at the deadline naming the step it
 * interrupted, after at least one mechanism has worked (the deadline is for
 * the whole session, not per connection) and before the last.  Both times
 * grow with CIS_TEST_TIME_FACTOR (a probe under valgrind needs longer for
 * its first connection). */
static void deadline_case(const char *state_suffix, int state)
{
	double t = 1.0 * cis_time_factor();
	struct relay *r = relay_start(fixture_env("DOVECOT_IMAPS_PORT"), 0.3 * cis_time_factor());
	struct cmd *c = cmd_new();
	char sum[2048], timeout[64];

	snprintf(timeout, sizeof timeout, "%g%s", t, state_suffix);
	cmd_fixture_conn(c, FIXTURE_IMPLICIT, r->port_str);
	cmd_all(c, "DOVECOT_PASS");
	cmd_addl(c, "-t", timeout, NULL);
	cmd_run(c);
	relay_stop(r);
	cmd_expect_state(c, state);
	cmd_summary(c, sum, sizeof sum);
	const char *p = strstr(sum, "timeout during ");
	cr_assert_not_null(p, "summary does not name a timeout" DUMP_FMT, DUMP_ARGS(c));
	p += strlen("timeout during ");
	static const char *const steps[] = {"resolve", "connect", "tls", "greeting", "capability", "logout", "auth_"};
	bool named = false;
	for (size_t i = 0; i < sizeof steps / sizeof steps[0]; i++)
		named |= !strncmp(p, steps[i], strlen(steps[i]));
	cr_assert(named, "the timeout names no connection or auth_* step" DUMP_FMT, DUMP_ARGS(c));
	cr_assert(perf_has(c, "auth_scram-sha-256"), "not even the first mechanism ran" DUMP_FMT, DUMP_ARGS(c));
	cr_assert(!perf_has(c, "auth_login"), "the last mechanism ran despite the deadline" DUMP_FMT, DUMP_ARGS(c));
	cr_assert_geq(r->accepted, 2, "only %d connection(s)", r->accepted);
	cr_assert_lt(r->accepted, 6, "%d connections: the deadline did not stop the run", r->accepted);
	cr_assert_geq(c->r.wall_s, t - 0.05, "stopped at %.3f s, before the %.1f s deadline" DUMP_FMT, c->r.wall_s, t,
	              DUMP_ARGS(c));
	cr_assert_leq(c->r.wall_s, t + 1.0 * cis_time_factor(), "took %.3f s with -t %s" DUMP_FMT, c->r.wall_s, timeout,
	              DUMP_ARGS(c));
	cmd_free(c);
	relay_free(r);
}

Test(authall, deadline_spans_all_connections) { deadline_case("", ST_CRITICAL); }
Test(authall, deadline_state_is_configurable) { deadline_case(":warning", ST_WARNING); }

/* One connection per mechanism, each opened only after the previous one is
 * closed (connection limits): counted by the relay. */
static void sequential_case(enum fixture_mode m)
{
	struct relay *r = relay_start(fixture_env(m == FIXTURE_IMPLICIT ? "DOVECOT_IMAPS_PORT" : "DOVECOT_IMAP_PORT"), 0);
	struct cmd *c = cmd_new();

	cmd_fixture_conn(c, m, r->port_str);
	cmd_all(c, "DOVECOT_PASS");
	cmd_run(c);
	relay_stop(r);
	cr_assert_str_empty(r->err, "%s", r->err);
	cmd_expect_state(c, ST_OK);
	int run = expect_all_mechanisms(c, m);
	expect_n_of_n(c, run);
	cr_assert_eq(r->accepted, run, "%d connections for %d mechanisms" DUMP_FMT, r->accepted, run, DUMP_ARGS(c));
	cr_assert_eq(r->max_active, 1, "%d connections were open at once" DUMP_FMT, r->max_active, DUMP_ARGS(c));
	cmd_free(c);
	relay_free(r);
}

Test(authall, connections_one_after_another_implicit_tls) { sequential_case(FIXTURE_IMPLICIT); }
Test(authall, connections_one_after_another_starttls) { sequential_case(FIXTURE_STARTTLS); }

/* EXTERNAL with the fixture's client certificate: the only mechanism these
 * credentials can use; the password mechanisms are listed as skipped.
 * (With a password as well, Dovecot takes the user name from the
 * certificate for every mechanism, so the two do not mix.) */
Test(authall, external_with_a_client_certificate)
{
	struct cmd *c = cmd_new();
	char skipped[2048];

	cr_assert_not_null(strstr(fixture_env("DOVECOT_MECHANISMS"), "EXTERNAL"), "the fixture offers no EXTERNAL");
	cmd_fixture_conn(c, FIXTURE_IMPLICIT, NULL);
	cmd_addl(c, "-U", fixture_env("DOVECOT_CLIENT_CERT_USER"), "--client-cert", fixture_env("DOVECOT_CLIENT_CERT"),
	         "--client-key", fixture_env("DOVECOT_CLIENT_KEY"), "--auth", "all", NULL);
	cmd_run(c);
	cmd_expect_state(c, ST_OK);
	expect_n_of_n(c, 1);
	cr_assert(perf_has(c, "auth_external"), "no auth_external" DUMP_FMT, DUMP_ARGS(c));
	cmd_expect_out(c, "\nauth_external: OK ");
	out_line(c, "mechanisms skipped: ", skipped, sizeof skipped);
	cr_assert_not_null(strstr(skipped, "SCRAM-SHA-256 (no credentials"), "%s" DUMP_FMT, skipped, DUMP_ARGS(c));
	cr_assert_not_null(strstr(skipped, "PLAIN (no credentials"), "%s" DUMP_FMT, skipped, DUMP_ARGS(c));
	cmd_free(c);
}

/* The plain-only instance (PLAIN and LOGIN): nothing to test without TLS
 * (CRITICAL, and no password sent), both plus IMAP LOGIN with STARTTLS. */
Test(authall, plaintext_only_server)
{
	struct relay *r = relay_start(fixture_env("DOVECOT_IMAP_PLAINONLY_PORT"), 0);
	struct cmd *c = cmd_new();

	cmd_fixture_conn(c, FIXTURE_PLAIN, r->port_str);
	cmd_all(c, "DOVECOT_PASS");
	cmd_run(c);
	relay_stop(r);
	cmd_expect_state(c, ST_CRITICAL);
	cmd_expect_summary_i(c, "no mechanism to test");
	cr_assert(!fake_buf_contains_secret(r->rec, r->rec_len, fixture_env("DOVECOT_PASS")),
	          "the password crossed the unencrypted connection" DUMP_FMT, DUMP_ARGS(c));
	cmd_free(c);
	relay_free(r);

	c = cmd_new();
	cmd_addl(c, "-H", fixture_env("DOVECOT_HOST"), "-p", fixture_env("DOVECOT_IMAP_PLAINONLY_PORT"), "--starttls",
	         "--cafile", fixture_env("DOVECOT_CA"), NULL);
	cmd_all(c, "DOVECOT_PASS");
	cmd_run(c);
	cmd_expect_state(c, ST_OK);
	expect_n_of_n(c, 3);
	cr_assert(perf_has(c, "auth_plain") && perf_has(c, "auth_auth-login") && perf_has(c, "auth_login"),
	          "PLAIN, LOGIN or IMAP LOGIN missing" DUMP_FMT, DUMP_ARGS(c));
	expect_order(c);
	cmd_free(c);
}
