/* test_dovecot_oauth_session.c - the probe fetches its own OAuth 2 token
 * (--oauth-*) from the suite's real token endpoint and logs in to the
 * Dovecot oauth2 instance with it (tests/oauth/fixture.sh, started by
 * tests/run-test.sh): the oauth_token step, the cache (requests counted in
 * the endpoint's log), the refresh-token grant with rotation, a refused
 * token fetched once more, the endpoint's error words, an endpoint that is
 * down, untrusted or hostile (tests/oauth/hostile.py), each bounded by -t
 * and none showing a secret under -vvv. */
#include "config.h"

#include <criterion/criterion.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "oauth/oauth.h"
#include "runprobe.h"
#include "testutil.h"

#define MAXARGS 48

struct run {
	const char *argv[MAXARGS];
	int argc;
	const char *env[4];
	struct probe_run r;
	char cache[64];
	char scope[64];
};

static void add(struct run *c, ...)
{
	va_list ap;
	const char *a;
	va_start(ap, c);
	while ((a = va_arg(ap, const char *)) != NULL) {
		cr_assert_lt(c->argc, MAXARGS - 1);
		c->argv[c->argc++] = a;
	}
	va_end(ap);
	c->argv[c->argc] = NULL;
}

/* The IMAP side (the oauth2 Dovecot) and the endpoint, client "probe";
 * scope: a name of this test's own, so its requests can be counted. */
static void base(struct run *c, const char *scope)
{
	memset(c, 0, sizeof(*c));
	snprintf(c->scope, sizeof(c->scope), "%s", scope);
	snprintf(c->cache, sizeof(c->cache), "/tmp/cis-oauth-probe.XXXXXX");
	cr_assert_not_null(mkdtemp(c->cache));
	add(c, "-H", "127.0.0.1", "-p", fixture_env("OAUTH_IMAPS_PORT"), "--ssl", "--cafile", fixture_env("OAUTH_CA"),
	    "-U", fixture_env("OAUTH_USER"), "--oauth-token-url", fixture_env("OAUTH_TOKEN_URL"), "--oauth-client-id",
	    "probe", "--oauth-client-secret-file", fixture_env("OAUTH_CLIENT_SECRET_FILE"), "--oauth-scope", c->scope,
	    "-t", "8", NULL);
}

static void run(struct run *c, double hard_s)
{
	probe_run_free(&c->r);
	cr_assert_eq(probe_run(&c->r, hard_s * cis_time_factor(), c->env[0] ? c->env : NULL, c->argv), 0);
}

static void done(struct run *c)
{
	char cmd[128];
	probe_run_free(&c->r);
	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", c->cache);
	cr_assert_eq(system(cmd), 0);
}

static int token_requests(const char *scope)
{
	FILE *f = fopen(fixture_env("OAUTH_REQUEST_LOG"), "r");
	char line[512], want[128];
	int n = 0;
	cr_assert_not_null(f);
	snprintf(want, sizeof(want), " scope=%s ", scope);
	while (fgets(line, sizeof(line), f))
		if (!strncmp(line, "/token ", 7) && strstr(line, want))
			n++;
	fclose(f);
	return n;
}

static char *secret_of(const char *var)
{
	char *s = NULL, err[256];
	cr_assert_eq(oauth_secret_read(fixture_env(var), &s, err, sizeof(err)), 0, "%s", err);
	return s;
}

/* No secret of the fixture in anything the probe printed. */
static void no_secrets(const struct run *c)
{
	char *cs = secret_of("OAUTH_CLIENT_SECRET_FILE");
	cr_assert_null(strstr(c->r.out, cs), "client secret in the output");
	cr_assert_null(strstr(c->r.err, cs), "client secret on stderr");
	cr_assert_null(strstr(c->r.out, "eyJ"), "a JWT in the output:\n%s", c->r.out);
	cr_assert_null(strstr(c->r.out, "rt-"), "a refresh token in the output:\n%s", c->r.out);
	secret_free(cs);
}

#define EXPECT(c, code, text)                                                                                 \
	do {                                                                                                  \
		cr_assert_eq((c)->r.exit_code, (code), "exit %d:\n%s", (c)->r.exit_code, (c)->r.out);         \
		cr_assert(strstr((c)->r.out, (text)), "'%s' missing:\n%s", (text), (c)->r.out);              \
	} while (0)

Test(oauth_session, client_credentials_then_cached, .timeout = 60)
{
	struct run c;
	base(&c, "s-cc");
	add(&c, "--cache-dir", c.cache, "-vvv", NULL);
	run(&c, 20);
	EXPECT(&c, 0, "IMAP OK - user@");
	cr_assert(strstr(c.r.out, "oauth_token: OK "), "%s", c.r.out);
	cr_assert(strstr(c.r.out, "oauth_token="), "perfdata: %s", c.r.first_line);
	cr_assert(strstr(c.r.out, "(HTTP 200, TLSv1."), "%s", c.r.out);
	/* -vvv: the request is in the trace, its secret is not */
	cr_assert(strstr(c.r.out, "client_secret=%3Credacted%3E"), "%s", c.r.out);
	cr_assert(strstr(c.r.out, "\"access_token\":\"<redacted>\""), "%s", c.r.out);
	no_secrets(&c);
	cr_assert_eq(token_requests("s-cc"), 1);

	/* the second check in a row: from the cache, no request */
	run(&c, 20);
	EXPECT(&c, 0, "IMAP OK");
	cr_assert(strstr(c.r.out, "oauth_token: OK ") && strstr(c.r.out, "cached token"), "%s", c.r.out);
	cr_assert_eq(token_requests("s-cc"), 1);
	no_secrets(&c);
	done(&c);
}

Test(oauth_session, xoauth2_and_basic_client_auth, .timeout = 60)
{
	struct run c;
	base(&c, "s-basic");
	c.argv[12] = "probe-basic";   /* --oauth-client-id's value */
	cr_assert_str_eq(c.argv[11], "--oauth-client-id");
	add(&c, "--oauth-client-auth", "basic", "--auth", "xoauth2", NULL);
	run(&c, 20);
	EXPECT(&c, 0, "XOAUTH2");
	done(&c);
}

Test(oauth_session, secret_from_the_environment, .timeout = 60)
{
	struct run c;
	char *cs = secret_of("OAUTH_CLIENT_SECRET_FILE");
	char env[256];
	snprintf(env, sizeof(env), "CIS_OAUTH_SECRET=%s", cs);
	base(&c, "s-env");
	c.argv[13] = "--oauth-client-secret-env";
	c.argv[14] = "CIS_OAUTH_SECRET";
	c.env[0] = env;
	run(&c, 20);
	EXPECT(&c, 0, "IMAP OK");
	/* unset: a local configuration error */
	c.argv[14] = "CIS_OAUTH_SECRET_UNSET";
	run(&c, 20);
	EXPECT(&c, 3, "oauth_token failed: --oauth-client-secret-env: CIS_OAUTH_SECRET_UNSET is not set");
	secret_free(cs);
	done(&c);
}

Test(oauth_session, refresh_token_grant_rotates, .timeout = 60)
{
	struct run c;
	char rtfile[128], err[256];
	char *seed = secret_of("OAUTH_REFRESH_TOKEN_FILE"), *after = NULL;
	struct stat st;

	base(&c, "s-refresh");
	snprintf(rtfile, sizeof(rtfile), "%s/refresh", c.cache);
	cr_assert_eq(oauth_secret_write(rtfile, seed, err, sizeof(err)), 0, "%s", err);
	add(&c, "--oauth-refresh-token-file", rtfile, "--oauth-scope", "imap", "-vvv", NULL);
	run(&c, 20);
	EXPECT(&c, 0, "IMAP OK");
	cr_assert(strstr(c.r.out, "refresh token rotated and written back"), "%s", c.r.out);
	cr_assert(strstr(c.r.out, "grant_type=refresh_token&refresh_token=%3Credacted%3E"), "%s", c.r.out);
	cr_assert_null(strstr(c.r.out, seed));
	cr_assert_eq(oauth_secret_read(rtfile, &after, err, sizeof(err)), 0);
	cr_assert_str_neq(after, seed);
	cr_assert_null(strstr(c.r.out, after));
	cr_assert_eq(stat(rtfile, &st), 0);
	cr_assert_eq(st.st_mode & 0777, 0600);
	/* the next run uses the written-back token */
	run(&c, 20);
	EXPECT(&c, 0, "IMAP OK");
	no_secrets(&c);
	secret_free(seed);
	secret_free(after);
	done(&c);
}

Test(oauth_session, wrong_secret_is_critical_with_the_endpoint_words, .timeout = 60)
{
	struct run c;
	char path[128];
	base(&c, "s-wrong");
	snprintf(path, sizeof(path), "%s/secret", c.cache);
	FILE *f = fopen(path, "w");
	fputs("Wrong-Secret-4711\n", f);
	fclose(f);
	c.argv[14] = path;
	add(&c, "-vvv", NULL);
	run(&c, 20);
	EXPECT(&c, 2, "IMAP CRITICAL - oauth_token failed: token endpoint 127.0.0.1:");
	cr_assert(strstr(c.r.first_line, "invalid_client (HTTP 401)"), "%s", c.r.first_line);
	cr_assert_null(strstr(c.r.out, "Wrong-Secret-4711"));
	cr_assert_null(strstr(c.r.out, "connect: OK"), "no IMAP connection after a failed token step");
	done(&c);
}

Test(oauth_session, expired_cached_token_is_fetched_again, .timeout = 60)
{
	struct run c;
	base(&c, "s-expired");
	c.argv[12] = "short";   /* tokens live 3 s: cached for 1.5 s */
	add(&c, "--cache-dir", c.cache, NULL);
	run(&c, 20);
	EXPECT(&c, 0, "IMAP OK");
	run(&c, 20);
	EXPECT(&c, 0, "IMAP OK");
	int cached = token_requests("s-expired");
	cr_assert(cached == 1 || cached == 2, "%d", cached);  /* 2 on a very slow machine */
	usleep(2 * 1000 * 1000);
	run(&c, 20);
	EXPECT(&c, 0, "IMAP OK");
	cr_assert(strstr(c.r.out, "cached token expired or about to expire"), "%s", c.r.out);
	cr_assert_eq(token_requests("s-expired"), cached + 1);
	done(&c);
}

Test(oauth_session, refused_token_dropped_fetched_once_more_then_critical, .timeout = 60)
{
	struct run c;
	char key[2400], path[4200];
	base(&c, "s-refused");
	c.argv[12] = "refused";
	add(&c, "--cache-dir", c.cache, "-v", NULL);
	run(&c, 20);
	EXPECT(&c, 2, "IMAP CRITICAL - auth failed (AUTHENTICATE OAUTHBEARER): NO [AUTHENTICATIONFAILED]");
	cr_assert(strstr(c.r.out, "the server refused the OAuth token: dropped, session repeated with a new one"),
		  "%s", c.r.out);
	cr_assert_eq(token_requests("s-refused"), 2);
	/* and the refused token does not stay in the cache */
	oauth_cache_key(key, sizeof(key), fixture_env("OAUTH_TOKEN_URL"), "refused", "s-refused", "client_credentials");
	cr_assert_eq(oauth_cache_path(path, sizeof(path), c.cache, key), 0);
	cr_assert_eq(access(path, F_OK), -1, "%s is still there", path);
	no_secrets(&c);
	done(&c);
}

Test(oauth_session, endpoint_down_and_untrusted, .timeout = 60)
{
	struct run c;
	base(&c, "s-down");
	c.argv[10] = "https://127.0.0.1:1/token";
	run(&c, 20);
	EXPECT(&c, 2, "IMAP CRITICAL - oauth_token failed: token endpoint 127.0.0.1:1: ");
	cr_assert(strstr(c.r.first_line, "refused"), "%s", c.r.first_line);
	done(&c);

	base(&c, "s-untrusted");
	c.argv[6] = fixture_env("DOVECOT_OTHER_CA");
	run(&c, 20);
	EXPECT(&c, 2, "IMAP CRITICAL - oauth_token failed: token endpoint 127.0.0.1:");
	cr_assert(strstr(c.r.first_line, "TLS"), "%s", c.r.first_line);
	done(&c);
}

Test(oauth_session, unreadable_secret_file_is_unknown, .timeout = 60)
{
	struct run c;
	base(&c, "s-nofile");
	c.argv[14] = "/nonexistent/secret";
	run(&c, 20);
	EXPECT(&c, 3, "IMAP UNKNOWN - oauth_token failed: --oauth-client-secret-file: /nonexistent/secret");
	done(&c);
}

/* The hostile endpoint: each case within -t, with a clear message. */
Test(oauth_session, hostile_endpoint, .timeout = 120)
{
	static const struct {
		const char *path, *want;
		int code;
	} cases[] = {
		{ "/huge", "response body larger than allowed", 2 },
		{ "/huge-close", "response body larger than allowed", 2 },
		{ "/chunks", "too many chunks", 2 },
		{ "/noaccess", "the answer holds no access_token", 2 },
		{ "/notjson", "not a JSON object", 2 },
		{ "/status500", "HTTP 500 Internal Server Error", 2 },
		{ "/hangup", "closed", 2 },
		{ "/drip", "timeout during oauth_token (3s)", 2 },
		{ "/silent", "timeout during oauth_token (3s)", 2 },
	};
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		struct run c;
		char url[256];
		snprintf(url, sizeof(url), "%s%s", fixture_env("OAUTH_HOSTILE_URL"), cases[i].path);
		base(&c, "s-hostile");
		c.argv[10] = url;
		c.argv[18] = "3";   /* -t */
		cr_assert_str_eq(c.argv[17], "-t");
		add(&c, "-vvv", NULL);
		run(&c, 10);
		EXPECT(&c, cases[i].code, cases[i].want);
		cr_assert(strncmp(c.r.first_line, "IMAP CRITICAL - ", 16) == 0, "%s", c.r.first_line);
		cr_assert_lt(c.r.wall_s, 4.5 * cis_time_factor(), "%s took %.1f s", cases[i].path, c.r.wall_s);
		cr_assert_lt(c.r.out_len, 200000, "%s: output %zu bytes", cases[i].path, c.r.out_len);
		cr_assert_lt(c.r.maxrss_kb, 64 * 1024, "%s: %ld kB", cases[i].path, c.r.maxrss_kb);
		no_secrets(&c);
		done(&c);
	}
}

/* While the probe holds the client secret and waits for the endpoint, it
 * cannot dump core (RLIMIT_CORE 0). */
Test(oauth_session, no_core_dump_while_holding_secrets, .timeout = 60)
{
	char cmd[2048], line[256] = "";
	snprintf(cmd, sizeof(cmd),
		 "ulimit -c unlimited 2>/dev/null || ulimit -c 1024; "
		 "'%s' -H 127.0.0.1 -p %s --ssl --cafile '%s' -U u --oauth-token-url '%s/silent' "
		 "--oauth-client-id probe --oauth-client-secret-file '%s' -t 3 > /dev/null & "
		 "sleep 1; grep 'Max core file size' /proc/$!/limits; wait",
		 getenv("PROBE") ? getenv("PROBE") : TOP_BUILDDIR "/check_imap_session", fixture_env("OAUTH_IMAPS_PORT"),
		 fixture_env("OAUTH_CA"), fixture_env("OAUTH_HOSTILE_URL"), fixture_env("OAUTH_CLIENT_SECRET_FILE"));
	FILE *p = popen(cmd, "r");
	cr_assert_not_null(p);
	cr_assert_not_null(fgets(line, sizeof(line), p), "no limits line");
	pclose(p);
	cr_assert(strstr(line, "Max core file size") && strstr(line, " 0 ") && strstr(line, "bytes"), "%s", line);
}
