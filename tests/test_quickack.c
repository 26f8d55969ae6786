/* test_quickack.c - step times against a server that leaves Nagle's algorithm
 * on (tests/fake/nagle.py): multi-line answers are timed in milliseconds.
 *
 * Such a server sends the first line of an answer at once and holds the
 * next small segment until the client ACKs the first; Linux delays that
 * ACK by up to 40 ms once the conversation looks interactive.  The probe
 * re-arms TCP_QUICKACK after every read (net/transport.c), so the answers
 * below (CAPABILITY: 2 segments; STATUS + EXAMINE: 6) must take a few
 * milliseconds, not 40 or more, on loopback.  Plain TCP and implicit TLS
 * (the backend this build uses). */
#define _GNU_SOURCE
#include "config.h"

#include <criterion/criterion.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "fakeserver.h"
#include "runprobe.h"
#include "testutil.h"

#define HARD_S 20.0
/* well below one delayed ACK (40 ms), well above a loopback answer */
#define MAX_STEP_S 0.025
#define TRIES 3

#define ANSWERS \
	"line * OK fake ready\n" \
	"expect CAPABILITY\n" \
	"line * CAPABILITY IMAP4rev1 AUTH=PLAIN SASL-IR LITERAL+\n" \
	"line $TAG OK CAPABILITY done\n" \
	"expect LOGIN\n" \
	"line $TAG OK [CAPABILITY IMAP4rev1 LITERAL+] Logged in\n" \
	"expect STATUS INBOX \\(UNSEEN\\)\n" \
	"line * STATUS INBOX (UNSEEN 1)\n" \
	"line $TAG OK STATUS done\n" \
	"expect EXAMINE INBOX$\n" \
	"line * 3 EXISTS\n" \
	"line * 0 RECENT\n" \
	"line * OK [UIDVALIDITY 1700000000] UIDs valid\n" \
	"line $TAG OK [READ-ONLY] EXAMINE done\n" \
	"expect LOGOUT\n" \
	"line * BYE Logging out\n" \
	"line $TAG OK Logout done\n" \
	"close\n"

static void use_nagle_fake(void)
{
	char path[1024];
	const char *top = getenv("TOP_SRCDIR");
	snprintf(path, sizeof(path), "%s/tests/fake/nagle.py", top && *top ? top : TOP_SRCDIR);
	cr_assert_eq(setenv("FAKEIMAP", path, 1), 0);
}

/* The value of perfdata label `name` ("capability=0.000412s;..."), or -1. */
static double perf_seconds(const char *line, const char *name)
{
	const char *bar = strchr(line, '|');
	size_t n = strlen(name);
	for (const char *p = bar; p && (p = strstr(p, name)) != NULL; p += n) {
		if ((p[-1] == ' ' || p[-1] == '|') && p[n] == '=')
			return strtod(p + n + 1, NULL);
	}
	return -1;
}

struct timing {
	double capability, examine;
};

/* One session against the Nagle fake: the two step times. */
static struct timing one_session(const char *scenario, const char *const *extra)
{
	struct fake_server *fs = fake_start(scenario);
	cr_assert_not_null(fs, "the fake IMAP server did not start");
	const char *argv[24] = { "-H", "127.0.0.1", "-p", fake_port_str(fs), "-U", "probeuser", "-P", "Pa55-w0rd-x",
				 "--auth", "login", "--fetch", "none", "-t", "10" };
	size_t n = 14;
	for (; extra && *extra; extra++)
		argv[n++] = *extra;
	argv[n] = NULL;
	struct probe_run r;
	cr_assert_eq(probe_run(&r, HARD_S * cis_time_factor(), NULL, argv), 0, "could not start the probe");
	int status = fake_stop(fs);
	cr_assert_eq(r.exit_code, 0, "probe: %s\n%s\nfake log:\n%s", r.first_line, r.out, fake_log(fs));
	cr_assert_eq(status, 0, "fake exit %d:\n%s", status, fake_log(fs));
	struct timing t = {
		.capability = perf_seconds(r.first_line, "capability"),
		.examine = perf_seconds(r.first_line, "examine"),
	};
	cr_assert(t.capability >= 0 && t.examine >= 0, "no capability/examine perfdata: %s", r.first_line);
	cr_log_info("capability=%.6f s examine=%.6f s", t.capability, t.examine);
	probe_run_free(&r);
	fake_free(fs);
	return t;
}

/* The best of a few sessions (a loaded machine may delay one), which
 * without the fix is never under one delayed ACK. */
static void expect_fast(const char *scenario, const char *const *extra)
{
	double limit = MAX_STEP_S * cis_time_factor();
	struct timing best = { 1e9, 1e9 };
	use_nagle_fake();
	for (int i = 0; i < TRIES && (best.capability > limit || best.examine > limit); i++) {
		struct timing t = one_session(scenario, extra);
		if (t.capability < best.capability)
			best.capability = t.capability;
		if (t.examine < best.examine)
			best.examine = t.examine;
	}
	cr_expect_lt(best.capability, limit, "CAPABILITY (2 segments) took %.1f ms: a delayed-ACK stall?",
		     best.capability * 1e3);
	cr_expect_lt(best.examine, limit, "STATUS + EXAMINE (6 segments) took %.1f ms: a delayed-ACK stall?",
		     best.examine * 1e3);
}

Test(quickack, plain_tcp_multiline_answers_in_milliseconds, .timeout = 90)
{
	expect_fast(ANSWERS, NULL);
}

Test(quickack, tls_multiline_answers_in_milliseconds, .timeout = 90)
{
	struct fake_certs certs;
	cr_assert_eq(fake_certs_make(&certs), 0, "could not make test certificates (openssl CLI?)");
	char *scenario = NULL;
	cr_assert_geq(asprintf(&scenario, "tls %s %s\n%s", certs.cert, certs.key, ANSWERS), 0);
	const char *const extra[] = { "-S", "--cafile", certs.ca, "--sni", "localhost", NULL };
	expect_fast(scenario, extra);
	free(scenario);
	fake_certs_remove(&certs);
}
