/* test_tls.c - the TLS backend (tls.h) against real TLS peers on loopback.
 *
 * Builds against either backend (the same source, compiled once with
 * WITH_TLS_OPENSSL and once with WITH_TLS_MBEDTLS).  Peers:
 *  - `openssl s_server -rev` (an echo server that reverses lines), one per
 *    test, on a free 127.0.0.1 port, with certificates made by
 *    tests/certs/mkcerts.sh into a temporary directory;
 *  - small in-process socket peers that are not TLS servers at all:
 *    one answering in plaintext, one that stalls, one that hangs up.
 * Criterion re-executes the binary for each test, so the certificate
 * directory is passed in the environment (CIS_CERTDIR; set it yourself
 * to reuse an existing directory). */
#include "config.h"

#include <criterion/criterion.h>
#include <criterion/hooks.h>

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/wait.h>
#ifdef __linux__
#include <sys/prctl.h>
#endif
#include <time.h>
#include <unistd.h>

#include "net/clock.h"
#include "net/tls.h"
#include "net/transport.h"

#include "testutil.h"

#ifndef TOP_SRCDIR
#define TOP_SRCDIR "."
#endif

#define CERTS_ENV "CIS_CERTDIR"
#define SEC 1000000000LL

/* ---------------------------------------------------------------- certificates */

static char made_dir[64]; /* only in the runner process */

ReportHook(PRE_ALL)(struct criterion_test_set *set)
{
	(void)set;
	signal(SIGPIPE, SIG_IGN);
	if (getenv(CERTS_ENV))
		return;
	snprintf(made_dir, sizeof(made_dir), "/tmp/cis-tls-test.XXXXXX");
	if (!mkdtemp(made_dir)) {
		perror("mkdtemp");
		exit(1);
	}
	const char *top = getenv("TOP_SRCDIR") ? getenv("TOP_SRCDIR") : TOP_SRCDIR;
	char cmd[1024];
	snprintf(cmd, sizeof(cmd), "sh '%s/tests/certs/mkcerts.sh' '%s'", top, made_dir);
	if (system(cmd) != 0) {
		fprintf(stderr, "test_tls: %s failed\n", cmd);
		tu_rm_tree(made_dir);
		exit(1);
	}
	setenv(CERTS_ENV, made_dir, 1);
}

ReportHook(POST_ALL)(struct criterion_global_stats *stats)
{
	(void)stats;
	if (made_dir[0])
		tu_rm_tree(made_dir);
}

/* Path of a file in the certificate directory.  Not owned by the caller;
 * stays valid for the whole test. */
static const char *cert(const char *name)
{
	static struct {
		char name[32];
		char path[512];
	} paths[24];
	const char *dir = getenv(CERTS_ENV);
	cr_assert(dir, CERTS_ENV " not set");
	size_t i;
	for (i = 0; i < sizeof(paths) / sizeof(paths[0]) && paths[i].name[0]; i++)
		if (strcmp(paths[i].name, name) == 0)
			return paths[i].path;
	cr_assert(i < sizeof(paths) / sizeof(paths[0]), "too many certificate paths");
	snprintf(paths[i].name, sizeof(paths[i].name), "%s", name);
	snprintf(paths[i].path, sizeof(paths[i].path), "%s/%s", dir, name);
	return paths[i].path;
}

static int backend_has_tls13(void)
{
	return strcmp(tls_backend_name(), "mbedtls") != 0 ||
	       strncmp(tls_backend_version(), "mbed TLS 2.", 11) != 0;
}

/* TLS-1.3-only assertions are skipped on mbed TLS 2.28 with a logged
 * reason (not cr_skip_test(): it leaks Criterion's own message buffer,
 * which would spoil the valgrind run). */
#define SKIP_WITHOUT_TLS13()                                                               \
	do {                                                                               \
		if (!backend_has_tls13()) {                                                \
			cr_log_info("skipped: %s has no TLS 1.3", tls_backend_version());  \
			return;                                                            \
		}                                                                          \
	} while (0)

/* ---------------------------------------------------------------- s_server */

struct server {
	pid_t pid;
	int out;   /* its stdout, kept open so it never gets SIGPIPE */
	int port;
};

/* Start `openssl s_server -rev` with DIR/<base>.pem/.key and extra args
 * (NULL-terminated) for one connection; wait for its ACCEPT line. */
static struct server server_start(const char *base, ...)
{
	const char *argv[32];
	int argc = 0;
	char certf[64], keyf[64];
	snprintf(certf, sizeof(certf), "%s.pem", base);
	snprintf(keyf, sizeof(keyf), "%s.key", base);
	argv[argc++] = "openssl";
	argv[argc++] = "s_server";
	argv[argc++] = "-accept";
	argv[argc++] = "127.0.0.1:0";
	argv[argc++] = "-naccept";
	argv[argc++] = "1";
	argv[argc++] = "-rev";
	argv[argc++] = "-cert";
	argv[argc++] = cert(certf);
	argv[argc++] = "-key";
	argv[argc++] = cert(keyf);
	va_list ap;
	va_start(ap, base);
	const char *a;
	while ((a = va_arg(ap, const char *)) != NULL && argc < 30)
		argv[argc++] = a;
	va_end(ap);
	argv[argc] = NULL;

	int p[2];
	cr_assert_eq(pipe(p), 0);
	struct server s = { .out = p[0] };
	s.pid = fork();
	cr_assert(s.pid >= 0);
	if (s.pid == 0) {
#ifdef __linux__
		prctl(PR_SET_PDEATHSIG, SIGTERM); /* a failed test leaves no server behind */
#endif
		dup2(p[1], 1);
		int null = open("/dev/null", O_RDWR);
		dup2(null, 0);
		dup2(null, 2);
		close(p[0]);
		execvp("openssl", (char *const *)argv);
		_exit(127);
	}
	close(p[1]);

	char buf[2048];
	size_t len = 0;
	int64_t deadline = clock_now_ns() + 10 * SEC;
	while (!s.port) {
		struct pollfd pfd = { .fd = s.out, .events = POLLIN };
		cr_assert(poll(&pfd, 1, clock_ms_until(deadline)) > 0, "s_server did not start");
		ssize_t n = read(s.out, buf + len, sizeof(buf) - 1 - len);
		cr_assert(n > 0, "s_server exited");
		len += (size_t)n;
		buf[len] = '\0';
		char *acc = strstr(buf, "ACCEPT ");
		char *eol = acc ? strchr(acc, '\n') : NULL;
		if (eol) {
			*eol = '\0';
			s.port = atoi(strrchr(acc, ':') + 1);
		}
	}
	return s;
}

static void server_stop(struct server *s)
{
	if (s->pid > 0) {
		kill(s->pid, SIGTERM);
		waitpid(s->pid, NULL, 0);
		s->pid = 0;
	}
	if (s->out >= 0)
		close(s->out);
	s->out = -1;
}

/* ---------------------------------------------------------------- raw peers */

enum peer_mode {
	PEER_PLAINTEXT, /* answers like an IMAP server on port 143 */
	PEER_STALL,     /* reads the ClientHello, never answers */
	PEER_HANGUP,    /* reads the ClientHello, closes */
};

struct peer {
	int lfd;
	int port;
	enum peer_mode mode;
	pthread_t thread;
};

static void drain(int fd)
{
	char buf[4096];
	while (read(fd, buf, sizeof(buf)) > 0)
		;
}

/* Serve connections one after the other until peer_stop(). */
static void *peer_main(void *arg)
{
	struct peer *p = arg;
	char buf[4096];
	int fd;
	while ((fd = accept(p->lfd, NULL, NULL)) >= 0) {
		switch (p->mode) {
		case PEER_PLAINTEXT:
			(void)!write(fd, "* OK hello\r\n", 12);
			drain(fd);
			break;
		case PEER_STALL:
			drain(fd); /* until the client gives up */
			break;
		case PEER_HANGUP:
			(void)!read(fd, buf, sizeof(buf));
			break;
		}
		close(fd);
	}
	return NULL;
}

static struct peer *peer_start(enum peer_mode mode)
{
	struct peer *p = calloc(1, sizeof(*p));
	struct sockaddr_in sa = { .sin_family = AF_INET };
	socklen_t sl = sizeof(sa);
	inet_pton(AF_INET, "127.0.0.1", &sa.sin_addr);
	p->mode = mode;
	p->lfd = socket(AF_INET, SOCK_STREAM, 0);
	cr_assert(p->lfd >= 0);
	cr_assert_eq(bind(p->lfd, (struct sockaddr *)&sa, sizeof(sa)), 0);
	cr_assert_eq(listen(p->lfd, 4), 0);
	cr_assert_eq(getsockname(p->lfd, (struct sockaddr *)&sa, &sl), 0);
	p->port = ntohs(sa.sin_port);
	cr_assert_eq(pthread_create(&p->thread, NULL, peer_main, p), 0);
	return p;
}

static void peer_stop(struct peer *p)
{
	shutdown(p->lfd, SHUT_RDWR); /* wakes accept() */
	pthread_join(p->thread, NULL);
	close(p->lfd);
	free(p);
}

/* ---------------------------------------------------------------- client side */

static struct transport *tcp_connect(int port)
{
	struct sockaddr_in sa = { .sin_family = AF_INET, .sin_port = htons((uint16_t)port) };
	inet_pton(AF_INET, "127.0.0.1", &sa.sin_addr);
	int fd = socket(AF_INET, SOCK_STREAM, 0);
	cr_assert(fd >= 0);
	cr_assert_eq(connect(fd, (struct sockaddr *)&sa, sizeof(sa)), 0, "connect: %s", strerror(errno));
	cr_assert_eq(fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) | O_NONBLOCK), 0);
	struct transport *t = transport_tcp_new(fd, NULL);
	cr_assert(t);
	return t;
}

/* Options for a verified connection to "localhost" trusting the test CA. */
static struct tls_options verified_opts(void)
{
	struct tls_options o = {
		.sni = "localhost",
		.verify_name = "localhost",
		.cafile = cert("ca.pem"),
	};
	return o;
}

struct result {
	int rc;
	struct transport *t;   /* on success */
	struct tls_info info;
	char err[256];
	double seconds;
};

/* Connect to port and run tls_start() with opt under a deadline of
 * timeout_s seconds.  On failure the plain transport must be intact:
 * checked, then closed here. */
static struct result handshake(int port, const struct tls_options *opt, double timeout_s)
{
	struct result r = { .err = "" };
	struct transport *plain = tcp_connect(port);
	int fd = plain->fd;
	int64_t t0 = clock_now_ns();
	r.rc = tls_start(plain, opt, t0 + (int64_t)(timeout_s * 1e9), &r.t, &r.info, r.err, sizeof(r.err));
	r.seconds = (double)(clock_now_ns() - t0) / 1e9;
	if (r.rc == TLS_OK) {
		cr_assert(r.t);
		cr_assert_eq(r.t->fd, fd);
		cr_assert_str_empty(r.err);
	} else {
		cr_assert_null(r.t);
		cr_assert_eq(plain->fd, fd, "plain transport must be left untouched on failure");
		cr_assert_str_not_empty(r.err);
		transport_close(plain);
	}
	cr_log_info("rc=%d err=\"%s\" version=%s cipher=%s (%.3f s)", r.rc, r.err, r.info.version,
		    r.info.cipher, r.seconds);
	return r;
}

/* One line through s_server -rev: "hello\n" comes back "olleh\n". */
static void echo_check(struct transport *t)
{
	int64_t deadline = clock_now_ns() + 5 * SEC;
	char buf[64];
	size_t got = 0;
	cr_assert_eq(transport_write_all(t, "hello\n", 6, deadline), 0, "%s", t->err);
	while (got < 6) {
		ssize_t n = transport_read(t, buf + got, sizeof(buf) - got, deadline);
		cr_assert_gt(n, 0, "read: %zd %s", n, t->err);
		got += (size_t)n;
	}
	cr_assert_eq(memcmp(buf, "olleh\n", 6), 0);
}

/* ---------------------------------------------------------------- tests */

TestSuite(tls, .timeout = 60);

Test(tls, backend_names)
{
	cr_assert(strcmp(tls_backend_name(), "openssl") == 0 || strcmp(tls_backend_name(), "mbedtls") == 0);
	cr_assert_str_not_empty(tls_backend_version());
}

Test(tls, verified_handshake_and_info)
{
	struct server s = server_start("server", NULL);
	struct tls_options o = verified_opts();
	struct result r = handshake(s.port, &o, 5);
	cr_assert_eq(r.rc, TLS_OK, "%s", r.err);
	cr_assert(strncmp(r.info.version, "TLSv1.", 6) == 0, "%s", r.info.version);
	cr_assert_str_not_empty(r.info.cipher);
	cr_assert(strncmp(r.info.cipher, "TLS_", 4) == 0, "IANA cipher name expected: %s", r.info.cipher);
	cr_assert(r.info.has_cert);
	cr_assert_str_eq(r.info.subject, "CN=localhost");
	cr_assert_str_eq(r.info.issuer, "CN=check_imap_session test CA");
	time_t now = time(NULL);
	cr_assert_leq(r.info.not_before, now);
	cr_assert_gt(r.info.not_after, now + 300 * 86400);
	cr_assert(r.info.verified);
	cr_assert_str_eq(r.t->ops->name, "tls");
	echo_check(r.t);
	transport_close(r.t);
	server_stop(&s);
}

Test(tls, default_minimum_is_tls12)
{
	/* SECLEVEL=0: OpenSSL 3 needs it to speak TLS 1.1 at all */
	struct server s = server_start("server", "-tls1_1", "-cipher", "DEFAULT@SECLEVEL=0", NULL);
	struct tls_options o = verified_opts();
	struct result r = handshake(s.port, &o, 5);
	cr_assert_eq(r.rc, TLS_ERR_HANDSHAKE, "a TLS 1.1-only server must be refused: %s", r.err);
	server_stop(&s);
}

Test(tls, wrong_ca_fails_verification)
{
	struct server s = server_start("server", NULL);
	struct tls_options o = verified_opts();
	o.cafile = cert("other-ca.pem");
	struct result r = handshake(s.port, &o, 5);
	cr_assert_eq(r.rc, TLS_ERR_VERIFY, "%s", r.err);
	cr_assert(strstr(r.err, "certificate verify failed: unable to get local issuer certificate"), "%s", r.err);
	cr_assert(r.info.has_cert, "a rejected certificate is still described");
	cr_assert_str_eq(r.info.subject, "CN=localhost");
	cr_assert_not(r.info.verified);
	server_stop(&s);
}

Test(tls, insecure_skips_verification_but_describes)
{
	struct server s = server_start("server", NULL);
	struct tls_options o = verified_opts();
	o.cafile = cert("other-ca.pem");
	o.insecure = 1;
	struct result r = handshake(s.port, &o, 5);
	cr_assert_eq(r.rc, TLS_OK, "%s", r.err);
	cr_assert(r.info.has_cert);
	cr_assert_str_eq(r.info.subject, "CN=localhost");
	cr_assert_gt(r.info.not_after, time(NULL));
	cr_assert_not(r.info.verified);
	echo_check(r.t);
	transport_close(r.t);
	server_stop(&s);
}

Test(tls, name_mismatch_fails_verification)
{
	struct server s = server_start("wrongname", NULL);
	struct tls_options o = verified_opts();
	struct result r = handshake(s.port, &o, 5);
	cr_assert_eq(r.rc, TLS_ERR_VERIFY, "%s", r.err);
	cr_assert(strstr(r.err, "host name mismatch: certificate is for other.example"), "%s", r.err);
	cr_assert_str_eq(r.info.subject, "CN=other.example");
	server_stop(&s);
}

Test(tls, ip_san_matches)
{
	struct server s = server_start("server", NULL);
	struct tls_options o = verified_opts();
	o.sni = NULL; /* no SNI for IP literals */
	o.verify_name = "127.0.0.1";
	struct result r = handshake(s.port, &o, 5);
	cr_assert_eq(r.rc, TLS_OK, "%s", r.err);
	cr_assert(r.info.verified);
	transport_close(r.t);
	server_stop(&s);
}

Test(tls, ipv6_san_matches)
{
	struct server s = server_start("server", NULL);
	struct tls_options o = verified_opts();
	o.sni = NULL;
	o.verify_name = "::1";
	struct result r = handshake(s.port, &o, 5);
	cr_assert_eq(r.rc, TLS_OK, "%s", r.err);
	transport_close(r.t);
	server_stop(&s);
}

Test(tls, ip_san_mismatch)
{
	struct server s = server_start("server", NULL);
	struct tls_options o = verified_opts();
	o.sni = NULL;
	o.verify_name = "127.0.0.2";
	struct result r = handshake(s.port, &o, 5);
	cr_assert_eq(r.rc, TLS_ERR_VERIFY, "%s", r.err);
	cr_assert(strstr(r.err, "IP address mismatch: certificate is for localhost, 127.0.0.1, ::1"), "%s", r.err);
	server_stop(&s);
}

Test(tls, ip_literal_not_matched_by_dns_san)
{
	/* a DNS SAN "127.0.0.1" would not count; here: no IP SAN at all */
	struct server s = server_start("wrongname", NULL);
	struct tls_options o = verified_opts();
	o.sni = NULL;
	o.verify_name = "127.0.0.1";
	struct result r = handshake(s.port, &o, 5);
	cr_assert_eq(r.rc, TLS_ERR_VERIFY, "%s", r.err);
	server_stop(&s);
}

Test(tls, sni_differs_from_verified_name)
{
	/* --sni other: the certificate is still checked against the host */
	struct server s = server_start("server", NULL);
	struct tls_options o = verified_opts();
	o.sni = "sni.example";
	struct result r = handshake(s.port, &o, 5);
	cr_assert_eq(r.rc, TLS_OK, "%s", r.err);
	cr_assert(r.info.verified);
	transport_close(r.t);
	server_stop(&s);

	s = server_start("wrongname", NULL);
	o.sni = "other.example";
	r = handshake(s.port, &o, 5);
	cr_assert_eq(r.rc, TLS_ERR_VERIFY, "%s", r.err);
	cr_assert(strstr(r.err, "host name mismatch"), "%s", r.err);
	server_stop(&s);
}

Test(tls, verify_name_case_insensitive)
{
	struct server s = server_start("server", NULL);
	struct tls_options o = verified_opts();
	o.sni = "LocalHost";
	o.verify_name = "LocalHost";
	struct result r = handshake(s.port, &o, 5);
	cr_assert_eq(r.rc, TLS_OK, "%s", r.err);
	transport_close(r.t);
	server_stop(&s);
}

Test(tls, expired_certificate)
{
	struct server s = server_start("expired", NULL);
	struct tls_options o = verified_opts();
	struct result r = handshake(s.port, &o, 5);
	cr_assert_eq(r.rc, TLS_ERR_VERIFY, "%s", r.err);
	cr_assert(strstr(r.err, "expired"), "%s", r.err);
	cr_assert_eq(r.info.not_after, 1609459200, "2021-01-01T00:00:00Z expected");
	server_stop(&s);

	s = server_start("expired", NULL);
	o.insecure = 1;
	r = handshake(s.port, &o, 5);
	cr_assert_eq(r.rc, TLS_OK, "insecure: handshake despite expiry: %s", r.err);
	cr_assert(r.info.has_cert);
	cr_assert_eq(r.info.not_before, 1577836800, "2020-01-01T00:00:00Z expected");
	cr_assert_eq(r.info.not_after, 1609459200);
	cr_assert_lt(r.info.not_after, time(NULL));
	transport_close(r.t);
	server_stop(&s);
}

Test(tls, soon_expiring_certificate)
{
	struct server s = server_start("soon", NULL);
	struct tls_options o = verified_opts();
	struct result r = handshake(s.port, &o, 5);
	cr_assert_eq(r.rc, TLS_OK, "%s", r.err);
	double days = difftime(r.info.not_after, time(NULL)) / 86400.0;
	cr_assert(days > 4.9 && days <= 5.0, "days left %.3f", days);
	transport_close(r.t);
	server_stop(&s);
}

Test(tls, plaintext_peer_fails_fast)
{
	struct peer *p = peer_start(PEER_PLAINTEXT);
	struct tls_options o = verified_opts();
	struct result r = handshake(p->port, &o, 10);
	cr_assert_eq(r.rc, TLS_ERR_HANDSHAKE, "%s", r.err);
	cr_assert(strstr(r.err, "not TLS?"), "%s", r.err);
	cr_assert(strstr(r.err, "* OK hello"), "%s", r.err);
	cr_assert_lt(r.seconds, 3.0, "must not wait for the deadline");
	peer_stop(p);
}

Test(tls, stalling_peer_times_out)
{
	struct peer *p = peer_start(PEER_STALL);
	struct tls_options o = verified_opts();
	struct result r = handshake(p->port, &o, 0.5);
	cr_assert_eq(r.rc, TLS_ERR_TIMEOUT, "%s", r.err);
	cr_assert(strstr(r.err, "timed out"), "%s", r.err);
	cr_assert_geq(r.seconds, 0.49);
	cr_assert_lt(r.seconds, 0.5 + 1.5, "deadline + slack");
	peer_stop(p);
}

Test(tls, hangup_during_handshake_is_eof)
{
	struct peer *p = peer_start(PEER_HANGUP);
	struct tls_options o = verified_opts();
	struct result r = handshake(p->port, &o, 5);
	cr_assert_eq(r.rc, TLS_ERR_EOF, "%s", r.err);
	cr_assert_lt(r.seconds, 3.0);
	peer_stop(p);
}

Test(tls, tls13_minimum_against_tls12_server)
{
	struct server s = server_start("server", "-tls1_2", NULL);
	struct tls_options o = verified_opts();
	o.min_version = 13;
	struct result r = handshake(s.port, &o, 5);
	cr_assert_neq(r.rc, TLS_OK);
	if (backend_has_tls13())
		cr_assert_eq(r.rc, TLS_ERR_HANDSHAKE, "%s", r.err);
	else
		cr_assert(r.rc == TLS_ERR_CONFIG && strstr(r.err, "TLS 1.3 not supported"), "%s", r.err);
	server_stop(&s);
}

Test(tls, tls12_minimum_negotiates_tls13_when_possible)
{
	SKIP_WITHOUT_TLS13();
	struct server s = server_start("server", NULL);
	struct tls_options o = verified_opts();
	o.min_version = 12;
	struct result r = handshake(s.port, &o, 5);
	cr_assert_eq(r.rc, TLS_OK, "%s", r.err);
	cr_assert_str_eq(r.info.version, "TLSv1.3");
	cr_assert_str_eq(r.info.cipher, "TLS_AES_256_GCM_SHA384");
	transport_close(r.t);
	server_stop(&s);
}

/* Configuration errors are found before a byte is sent: the peer never
 * sees a ClientHello, it just accepts. */
Test(tls, bad_options_are_config_errors)
{
	struct peer *p = peer_start(PEER_STALL);
	struct tls_options o = verified_opts();
	o.min_version = 11;
	struct result r = handshake(p->port, &o, 5);
	cr_assert_eq(r.rc, TLS_ERR_CONFIG, "%s", r.err);

	o = verified_opts();
	o.cafile = "/nonexistent/ca.pem";
	r = handshake(p->port, &o, 5);
	cr_assert_eq(r.rc, TLS_ERR_CONFIG, "%s", r.err);
	cr_assert(strstr(r.err, "/nonexistent/ca.pem"), "%s", r.err);

	o = verified_opts();
	o.cafile = cert("server.key"); /* not a certificate */
	r = handshake(p->port, &o, 5);
	cr_assert_eq(r.rc, TLS_ERR_CONFIG, "%s", r.err);
	cr_assert_lt(r.seconds, 1.0);
	peer_stop(p);
}

Test(tls, client_certificate_errors_are_config)
{
	struct peer *p = peer_start(PEER_STALL);
	struct tls_options o = verified_opts();
	o.client_cert = "/nonexistent/client.pem";
	o.client_key = cert("client.key");
	struct result r = handshake(p->port, &o, 5);
	cr_assert_eq(r.rc, TLS_ERR_CONFIG, "%s", r.err);
	cr_assert(strstr(r.err, "/nonexistent/client.pem"), "%s", r.err);

	o.client_cert = cert("client.pem");
	o.client_key = cert("server.key"); /* does not belong to client.pem */
	r = handshake(p->port, &o, 5);
	cr_assert_eq(r.rc, TLS_ERR_CONFIG, "%s", r.err);

	o.client_cert = NULL;
	o.client_key = cert("client.key");
	r = handshake(p->port, &o, 5);
	cr_assert_eq(r.rc, TLS_ERR_CONFIG, "%s", r.err);
	peer_stop(p);
}

Test(tls, client_certificate_accepted)
{
	/* -Verify: the server requires a client certificate from the test CA */
	struct server s = server_start("server", "-Verify", "1", "-CAfile", cert("ca.pem"), NULL);
	struct tls_options o = verified_opts();
	o.client_cert = cert("client.pem");
	o.client_key = cert("client.key");
	struct result r = handshake(s.port, &o, 5);
	cr_assert_eq(r.rc, TLS_OK, "%s", r.err);
	echo_check(r.t);
	transport_close(r.t);
	server_stop(&s);
}

Test(tls, client_certificate_and_key_in_one_file)
{
	char path[] = "/tmp/cis-tls-client.XXXXXX", cmd[1024];
	int fd = mkstemp(path);
	cr_assert(fd >= 0);
	close(fd);
	snprintf(cmd, sizeof(cmd), "cat '%s' '%s' > '%s'", cert("client.pem"), cert("client.key"), path);
	cr_assert_eq(system(cmd), 0);
	struct server s = server_start("server", "-Verify", "1", "-CAfile", cert("ca.pem"), NULL);
	struct tls_options o = verified_opts();
	o.client_cert = path;
	struct result r = handshake(s.port, &o, 5);
	unlink(path);
	cr_assert_eq(r.rc, TLS_OK, "%s", r.err);
	echo_check(r.t);
	transport_close(r.t);
	server_stop(&s);
}

Test(tls, capath_directory)
{
	char dir[] = "/tmp/cis-tls-capath.XXXXXX", cmd[1024];
	cr_assert(mkdtemp(dir));
	snprintf(cmd, sizeof(cmd), "cp '%s' '%s/' && openssl rehash '%s' 2>/dev/null", cert("ca.pem"), dir, dir);
	cr_assert_eq(system(cmd), 0);
	struct server s = server_start("server", NULL);
	struct tls_options o = verified_opts();
	o.cafile = NULL;
	o.capath = dir;
	struct result r = handshake(s.port, &o, 5);
	tu_rm_tree(dir);
	cr_assert_eq(r.rc, TLS_OK, "%s", r.err);
	cr_assert(r.info.verified);
	transport_close(r.t);
	server_stop(&s);

	o.capath = "/nonexistent/capath";
	struct peer *p = peer_start(PEER_STALL);
	r = handshake(p->port, &o, 5);
	cr_assert_eq(r.rc, TLS_ERR_CONFIG, "%s", r.err);
	peer_stop(p);
}

Test(tls, pending_reports_buffered_plaintext)
{
	struct server s = server_start("server", NULL);
	struct tls_options o = verified_opts();
	struct result r = handshake(s.port, &o, 5);
	cr_assert_eq(r.rc, TLS_OK, "%s", r.err);
	int64_t deadline = clock_now_ns() + 5 * SEC;
	cr_assert_eq(transport_write_all(r.t, "abcdef\n", 7, deadline), 0);
	char buf[8];
	ssize_t n = transport_read(r.t, buf, 2, deadline);
	cr_assert_eq(n, 2, "%zd %s", n, r.t->err);
	cr_assert(r.t->ops->pending);
	cr_assert_eq(r.t->ops->pending(r.t), 5, "the rest of the record is buffered");
	n = r.t->ops->read(r.t, buf + 2, 5);
	cr_assert_eq(n, 5);
	cr_assert_eq(memcmp(buf, "fedcba\n", 7), 0);
	cr_assert_eq(r.t->ops->pending(r.t), 0);
	cr_assert_eq(r.t->ops->read(r.t, buf, sizeof(buf)), TR_WANT_READ);
	transport_close(r.t);
	server_stop(&s);
}

Test(tls, server_vanishing_is_eof)
{
	struct server s = server_start("server", NULL);
	struct tls_options o = verified_opts();
	struct result r = handshake(s.port, &o, 5);
	cr_assert_eq(r.rc, TLS_OK, "%s", r.err);
	echo_check(r.t);
	server_stop(&s); /* killed: no close_notify */
	char buf[16];
	ssize_t n = transport_read(r.t, buf, sizeof(buf), clock_now_ns() + 5 * SEC);
	cr_assert_eq(n, TR_EOF, "%zd %s", n, r.t->err);
	cr_assert(strstr(r.t->err, "close_notify"), "%s", r.t->err);
	transport_close(r.t);
}

Test(tls, channel_binding_tls12)
{
	struct server s = server_start("server", "-tls1_2", NULL);
	struct tls_options o = verified_opts();
	struct result r = handshake(s.port, &o, 5);
	cr_assert_eq(r.rc, TLS_OK, "%s", r.err);
	cr_assert_str_eq(r.info.version, "TLSv1.2");
	unsigned char cb[64], cb2[64];
	size_t len = sizeof(cb), len2 = sizeof(cb2);
	char err[256] = "";
	cr_assert_eq(tls_channel_binding(r.t, "tls-unique", cb, &len, err, sizeof(err)), 0, "%s", err);
	cr_assert_eq(len, 12, "TLS 1.2 Finished verify_data is 12 bytes");
	cr_assert_eq(tls_channel_binding(r.t, "tls-unique", cb2, &len2, err, sizeof(err)), 0);
	cr_assert_eq(memcmp(cb, cb2, len), 0, "stable for the connection");
	len = sizeof(cb);
	cr_assert_eq(tls_channel_binding(r.t, "tls-exporter", cb, &len, err, sizeof(err)), -1);
	cr_assert_str_not_empty(err);
	err[0] = '\0';
	cr_assert_eq(tls_channel_binding(r.t, "tls-server-end-point", cb, &len, err, sizeof(err)), -1);
	cr_assert_str_not_empty(err);
	transport_close(r.t);
	server_stop(&s);
}

Test(tls, channel_binding_tls13)
{
	SKIP_WITHOUT_TLS13();
	struct server s = server_start("server", "-tls1_3", NULL);
	struct tls_options o = verified_opts();
	struct result r = handshake(s.port, &o, 5);
	cr_assert_eq(r.rc, TLS_OK, "%s", r.err);
	cr_assert_str_eq(r.info.version, "TLSv1.3");
	unsigned char cb[64];
	size_t len = sizeof(cb);
	char err[256] = "";
	cr_assert_eq(tls_channel_binding(r.t, "tls-exporter", cb, &len, err, sizeof(err)), 0, "%s", err);
	cr_assert_eq(len, 32, "RFC 9266: 32 bytes");
	len = sizeof(cb);
	cr_assert_eq(tls_channel_binding(r.t, "tls-unique", cb, &len, err, sizeof(err)), -1);
	cr_assert(strstr(err, "TLS 1.3"), "%s", err);
	transport_close(r.t);
	server_stop(&s);
}

Test(tls, channel_binding_needs_tls_transport)
{
	struct peer *p = peer_start(PEER_HANGUP);
	struct transport *plain = tcp_connect(p->port);
	unsigned char cb[64];
	size_t len = sizeof(cb);
	char err[256] = "";
	cr_assert_eq(tls_channel_binding(plain, "tls-unique", cb, &len, err, sizeof(err)), -1);
	cr_assert_str_not_empty(err);
	transport_close(plain);
	peer_stop(p);
}

Test(tls, sequential_connections_share_configuration)
{
	/* --auth all: several sessions per process, options changing between */
	for (int i = 0; i < 3; i++) {
		struct server s = server_start("server", NULL);
		struct tls_options o = verified_opts();
		o.insecure = i == 1;
		struct result r = handshake(s.port, &o, 5);
		cr_assert_eq(r.rc, TLS_OK, "round %d: %s", i, r.err);
		cr_assert_eq(r.info.verified, i != 1);
		echo_check(r.t);
		transport_close(r.t);
		server_stop(&s);
	}
}

/* Round trips are turns of the conversation (transport.h): a read counts
 * once after the client sent something, however many reads the answer
 * takes; a NULL counter counts nothing. */
Test(tls, round_trip_counter_counts_turns)
{
	struct rt_counter rt = { 0 };
	rt_counter_wait(&rt);
	cr_assert_eq(rt.count, 0, "nothing sent yet: no round trip");
	rt_counter_sent(&rt);
	rt_counter_sent(&rt);
	rt_counter_wait(&rt);
	rt_counter_wait(&rt);
	cr_assert_eq(rt.count, 1, "two sends then two reads are one turn");
	rt_counter_sent(&rt);
	rt_counter_wait(&rt);
	cr_assert_eq(rt.count, 2);
	rt_counter_sent(NULL);
	rt_counter_wait(NULL);
}

/* The TLS transport counts into the counter of the plain transport it
 * took over: the handshake (TLS 1.3: one round trip; 1.2: two), then one
 * for a line and its echo. */
Test(tls, handshake_and_echo_count_round_trips)
{
	struct server s = server_start("server", NULL);
	struct tls_options o = verified_opts();
	struct rt_counter rt = { 0 };
	struct transport *plain = tcp_connect(s.port);
	plain->rt = &rt;
	struct transport *t = NULL;
	struct tls_info info;
	char err[256] = "";
	int rc = tls_start(plain, &o, clock_now_ns() + 5 * SEC, &t, &info, err, sizeof(err));
	cr_assert_eq(rc, TLS_OK, "%s", err);
	unsigned want = strcmp(info.version, "TLSv1.3") == 0 ? 1 : 2;
	cr_assert_eq(rt.count, want, "%s handshake: %u round trips, want %u", info.version, rt.count, want);
	echo_check(t);
	cr_assert_eq(rt.count, want + 1, "a line and its echo: one more round trip, got %u", rt.count - want);
	transport_close(t);
	server_stop(&s);
}
