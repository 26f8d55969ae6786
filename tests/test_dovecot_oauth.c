/* test_dovecot_oauth.c - the OAuth 2 token request against a real token
 * endpoint (tests/oauth/tokenserver.py: Authlib, TLS from the suite's CA,
 * signed JWTs) and those tokens against Dovecot's oauth2 passdb, which
 * validates them by introspection.  tests/run-test.sh starts both
 * (tests/oauth/fixture.sh) for test programs named test_dovecot_oauth*.
 *
 * Library level: oauth_fetch() over the probe's own transport and TLS
 * backend (client credentials with client_secret_post and _basic, the
 * refresh-token grant with rotation, the endpoint's error words, an
 * untrusted certificate, an endpoint that is down, secrets kept out of
 * the trace); then the probe logs in with the token (--token-file). */
#include "config.h"
#include "oauth/oauth.h"

#include <criterion/criterion.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <time.h>
#include <netinet/in.h>
#include <unistd.h>

#include "net/clock.h"
#include "runprobe.h"

static char *read_secret(const char *var)
{
	char *s = NULL, err[256];
	cr_assert_eq(oauth_secret_read(fixture_env(var), &s, err, sizeof(err)), 0, "%s", err);
	return s;
}

struct trace {
	char text[16384];
	size_t len;
};

static void trace_cb(void *ud, const char *dir, const char *line, size_t len)
{
	struct trace *t = ud;
	int n = snprintf(t->text + t->len, sizeof(t->text) - t->len, "%s: %.*s\n", dir, (int)len, line);
	if (n > 0 && (size_t)n < sizeof(t->text) - t->len)
		t->len += (size_t)n;
}

static void params(struct oauth_params *p, char *secret)
{
	memset(p, 0, sizeof(*p));
	p->token_url = fixture_env("OAUTH_TOKEN_URL");
	p->client_id = fixture_env("OAUTH_CLIENT_ID");
	p->client_secret = secret;
	p->scope = fixture_env("OAUTH_SCOPE");
	p->cafile = fixture_env("OAUTH_CA");
}

static int fetch(const struct oauth_params *p, struct oauth_token *tok, struct oauth_result *res)
{
	return oauth_fetch(p, clock_now_ns() + 10 * (int64_t)1000000000, tok, res);
}

/* Log in to the oauth2 Dovecot with the token through the real probe. */
static void login_with(const char *token, const char *mech, int want_exit, const char *want)
{
	char path[] = "/tmp/cis-oauth-token.XXXXXX";
	int fd = mkstemp(path);
	cr_assert_geq(fd, 0);
	cr_assert_eq(write(fd, token, strlen(token)), (ssize_t)strlen(token));
	close(fd);
	struct probe_run r;
	cr_assert_eq(probe_runl(&r, "-H", "127.0.0.1", "-p", fixture_env("OAUTH_IMAPS_PORT"), "--ssl", "--cafile",
				fixture_env("OAUTH_CA"), "-U", fixture_env("OAUTH_USER"), "--auth", mech, "--token-file",
				path, "-t", "10", NULL),
		     0);
	unlink(path);
	cr_assert_eq(r.exit_code, want_exit, "%s: %s", mech, r.out);
	cr_assert(strstr(r.out, want), "%s: '%s' lacks '%s'", mech, r.out, want);
	cr_assert_null(strstr(r.out, token));
	probe_run_free(&r);
}

Test(oauth_fixture, client_credentials_post_then_dovecot_login)
{
	char *secret = read_secret("OAUTH_CLIENT_SECRET_FILE");
	struct oauth_params p;
	struct oauth_token tok = { 0 };
	struct oauth_result res;
	struct trace tr = { .len = 0 };

	params(&p, secret);
	p.trace = trace_cb;
	p.trace_ud = &tr;
	cr_assert_eq(fetch(&p, &tok, &res), OAUTH_OK, "%s", res.message);
	cr_assert_eq(res.http_status, 200);
	cr_assert(res.tls_verified);
	cr_assert_eq(tok.expires_in, 3600);
	cr_assert(strncmp(tok.access_token, "eyJ", 3) == 0, "a JWT");
	cr_assert_null(tok.refresh_token);
	/* the trace shows the exchange, never a secret */
	cr_assert(strstr(tr.text, "C: POST /token HTTP/1.1"), "%s", tr.text);
	cr_assert(strstr(tr.text, "client_secret=%3Credacted%3E"), "%s", tr.text);
	cr_assert(strstr(tr.text, "S: HTTP 200"), "%s", tr.text);
	cr_assert(strstr(tr.text, "\"access_token\":\"<redacted>\""), "%s", tr.text);
	cr_assert_null(strstr(tr.text, secret));
	cr_assert_null(strstr(tr.text, tok.access_token));

	login_with(tok.access_token, "xoauth2", 0, "IMAP OK");
	login_with(tok.access_token, "oauthbearer", 0, "IMAP OK");
	oauth_token_free(&tok);
	secret_free(secret);
}

Test(oauth_fixture, client_secret_basic)
{
	char *secret = read_secret("OAUTH_CLIENT_SECRET_FILE");
	struct oauth_params p;
	struct oauth_token tok = { 0 };
	struct oauth_result res;
	struct trace tr = { .len = 0 };

	params(&p, secret);
	p.client_id = "probe-basic";
	p.auth = OAUTH_AUTH_BASIC;
	p.trace = trace_cb;
	p.trace_ud = &tr;
	cr_assert_eq(fetch(&p, &tok, &res), OAUTH_OK, "%s", res.message);
	cr_assert(strstr(tr.text, "C: Authorization: Basic <redacted>"), "%s", tr.text);
	cr_assert_null(strstr(tr.text, "client_secret"), "%s", tr.text);
	/* this client is registered for Basic only: the form is refused */
	p.auth = OAUTH_AUTH_POST;
	cr_assert_eq(fetch(&p, &tok, &res), OAUTH_ERR_DENIED, "%s", res.message);
	cr_assert_str_eq(res.error, "invalid_client");
	oauth_token_free(&tok);
	secret_free(secret);
}

Test(oauth_fixture, wrong_secret_is_invalid_client)
{
	struct oauth_params p;
	struct oauth_token tok = { 0 };
	struct oauth_result res;

	params(&p, (char *)"not-the-secret");
	cr_assert_eq(fetch(&p, &tok, &res), OAUTH_ERR_DENIED, "%s", res.message);
	cr_assert_eq(res.http_status, 401);
	cr_assert_str_eq(res.error, "invalid_client");
	cr_assert(strstr(res.message, "invalid_client (HTTP 401)"), "%s", res.message);
	cr_assert(strstr(res.message, fixture_env("OAUTH_TOKEN_PORT")), "names the endpoint: %s", res.message);
	cr_assert_null(strstr(res.message, "not-the-secret"));
	cr_assert_null(tok.access_token);
}

Test(oauth_fixture, refresh_grant_rotates)
{
	char *rt = read_secret("OAUTH_REFRESH_TOKEN_FILE");
	char *secret = read_secret("OAUTH_CLIENT_SECRET_FILE");
	struct oauth_params p;
	struct oauth_token tok = { 0 };
	struct oauth_result res;
	char err[256];

	/* a confidential client authenticates on the refresh grant too */
	params(&p, secret);
	p.refresh_token = rt;
	p.scope = NULL;
	cr_assert_eq(fetch(&p, &tok, &res), OAUTH_OK, "%s", res.message);
	cr_assert_not_null(tok.refresh_token, "the server rotates refresh tokens");
	cr_assert_str_neq(tok.refresh_token, rt);
	/* written back atomically, 0600, and the next grant uses it */
	cr_assert_eq(oauth_secret_write(fixture_env("OAUTH_REFRESH_TOKEN_FILE"), tok.refresh_token, err, sizeof(err)),
		     0, "%s", err);
	login_with(tok.access_token, "oauthbearer", 0, "IMAP OK");
	/* the old refresh token is spent */
	cr_assert_eq(fetch(&p, &tok, &res), OAUTH_ERR_DENIED, "%s", res.message);
	cr_assert_str_eq(res.error, "invalid_grant");
	secret_free(rt);
	rt = read_secret("OAUTH_REFRESH_TOKEN_FILE");
	p.refresh_token = rt;
	cr_assert_eq(fetch(&p, &tok, &res), OAUTH_OK, "%s", res.message);
	cr_assert_not_null(tok.refresh_token);
	cr_assert_eq(oauth_secret_write(fixture_env("OAUTH_REFRESH_TOKEN_FILE"), tok.refresh_token, err, sizeof(err)),
		     0, "%s", err);
	oauth_token_free(&tok);
	secret_free(rt);
	secret_free(secret);
}

Test(oauth_fixture, refused_token_fails_the_login)
{
	char *secret = read_secret("OAUTH_CLIENT_SECRET_FILE");
	struct oauth_params p;
	struct oauth_token tok = { 0 };
	struct oauth_result res;

	params(&p, secret);
	p.client_id = "refused";
	cr_assert_eq(fetch(&p, &tok, &res), OAUTH_OK, "%s", res.message);
	login_with(tok.access_token, "xoauth2", 2, "auth failed");
	oauth_token_free(&tok);
	secret_free(secret);
}

Test(oauth_fixture, untrusted_certificate)
{
	char *secret = read_secret("OAUTH_CLIENT_SECRET_FILE");
	struct oauth_params p;
	struct oauth_token tok = { 0 };
	struct oauth_result res;

	params(&p, secret);
	p.cafile = fixture_env("DOVECOT_OTHER_CA");
	cr_assert_eq(fetch(&p, &tok, &res), OAUTH_ERR_TLS, "%s", res.message);
	cr_assert(strstr(res.message, "TLS"), "%s", res.message);
	cr_assert_eq(res.http_status, 0);
	/* --insecure skips the verification */
	p.insecure = 1;
	cr_assert_eq(fetch(&p, &tok, &res), OAUTH_OK, "%s", res.message);
	cr_assert_not(res.tls_verified);
	oauth_token_free(&tok);
	secret_free(secret);
}

Test(oauth_fixture, endpoint_down)
{
	struct oauth_params p;
	struct oauth_token tok = { 0 };
	struct oauth_result res;
	char url[64];

	/* a port nobody listens on: bind one, note it, close it */
	int s = socket(AF_INET, SOCK_STREAM, 0);
	struct sockaddr_in sa = { .sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
	socklen_t sl = sizeof(sa);
	cr_assert_eq(bind(s, (struct sockaddr *)&sa, sizeof(sa)), 0);
	cr_assert_eq(getsockname(s, (struct sockaddr *)&sa, &sl), 0);
	snprintf(url, sizeof(url), "https://127.0.0.1:%u/token", ntohs(sa.sin_port));
	close(s);
	params(&p, (char *)"x");
	p.token_url = url;
	cr_assert_eq(fetch(&p, &tok, &res), OAUTH_ERR_NET, "%s", res.message);
	cr_assert(strstr(res.message, "refused"), "%s", res.message);
}

/* ------------------------------------------------------------ oauth_obtain */

/* /token requests the server logged for this scope (each test its own). */
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

static char cache_dir[64];

static void make_cache_dir(void)
{
	snprintf(cache_dir, sizeof(cache_dir), "/tmp/cis-oauth-cache.XXXXXX");
	cr_assert_not_null(mkdtemp(cache_dir));
}

static void config(struct oauth_config *c, const char *scope)
{
	memset(c, 0, sizeof(*c));
	c->token_url = fixture_env("OAUTH_TOKEN_URL");
	c->client_id = fixture_env("OAUTH_CLIENT_ID");
	c->client_secret_file = fixture_env("OAUTH_CLIENT_SECRET_FILE");
	c->scope = scope;
	c->cache_dir = cache_dir;
	c->cafile = fixture_env("OAUTH_CA");
}

static int obtain(const struct oauth_config *c, int fresh, time_t now, struct oauth_token *tok,
		  struct oauth_outcome *out)
{
	return oauth_obtain(c, fresh, clock_now_ns() + 10 * (int64_t)1000000000, now, tok, out);
}

Test(oauth_obtain, cache_asks_the_endpoint_once, .init = make_cache_dir)
{
	struct oauth_config c;
	struct oauth_token tok = { 0 };
	struct oauth_outcome out;
	char key[2400], path[4200], first[8192];
	time_t now = time(NULL);

	config(&c, "cache-once");
	cr_assert_eq(obtain(&c, 0, now, &tok, &out), OAUTH_OK, "%s", out.res.message);
	cr_assert_not(out.from_cache);
	cr_assert(out.cached, "%s", out.cache_note);
	snprintf(first, sizeof(first), "%s", tok.access_token);
	cr_assert_eq(obtain(&c, 0, now + 30, &tok, &out), OAUTH_OK, "%s", out.res.message);
	cr_assert(out.from_cache);
	cr_assert_str_eq(tok.access_token, first);
	cr_assert_eq(token_requests("cache-once"), 1);
	login_with(tok.access_token, "xoauth2", 0, "IMAP OK");

	/* the cache file is private and holds the key */
	oauth_config_cache_path(&c, key, sizeof(key), path, sizeof(path));
	struct stat st;
	cr_assert_eq(stat(path, &st), 0);
	cr_assert_eq(st.st_mode & 0777, 0600);

	/* near the end of the lifetime (3600 s) it is fetched again */
	cr_assert_eq(obtain(&c, 0, now + 3600 - 30, &tok, &out), OAUTH_OK);
	cr_assert_not(out.from_cache);
	cr_assert(strstr(out.cache_note, "expire"), "%s", out.cache_note);
	cr_assert_eq(token_requests("cache-once"), 2);

	/* a refused token is forgotten: the next run fetches */
	oauth_forget(&c);
	cr_assert_eq(access(path, F_OK), -1);
	cr_assert_eq(obtain(&c, 0, now + 40, &tok, &out), OAUTH_OK);
	cr_assert_not(out.from_cache);
	cr_assert_eq(token_requests("cache-once"), 3);
	/* fresh: the cache is skipped */
	cr_assert_eq(obtain(&c, 1, now + 41, &tok, &out), OAUTH_OK);
	cr_assert_not(out.from_cache);
	cr_assert_eq(token_requests("cache-once"), 4);
	oauth_token_free(&tok);
}

Test(oauth_obtain, short_lived_token_expires_in_the_cache, .init = make_cache_dir)
{
	struct oauth_config c;
	struct oauth_token tok = { 0 };
	struct oauth_outcome out;
	time_t now = time(NULL);

	config(&c, "short-life");
	c.client_id = "short";
	cr_assert_eq(obtain(&c, 0, now, &tok, &out), OAUTH_OK, "%s", out.res.message);
	cr_assert_eq(tok.expires_in, 3);
	cr_assert(out.cached);
	cr_assert_eq(obtain(&c, 0, now, &tok, &out), OAUTH_OK);
	cr_assert(out.from_cache);
	/* 3 s lifetime: used for half of it only */
	cr_assert_eq(obtain(&c, 0, now + 2, &tok, &out), OAUTH_OK);
	cr_assert_not(out.from_cache);
	cr_assert_eq(token_requests("short-life"), 2);
	oauth_token_free(&tok);
}

Test(oauth_obtain, refresh_token_file_rotated, .init = make_cache_dir)
{
	struct oauth_config c;
	struct oauth_token tok = { 0 };
	struct oauth_outcome out;
	struct stat st;
	char err[256];
	const char *rtfile = fixture_env("OAUTH_REFRESH_TOKEN_FILE_2");
	char *before = read_secret("OAUTH_REFRESH_TOKEN_FILE_2"), *after = NULL;

	config(&c, NULL);
	c.refresh_token_file = rtfile;
	cr_assert_eq(obtain(&c, 0, time(NULL), &tok, &out), OAUTH_OK, "%s", out.res.message);
	cr_assert(out.rotated);
	cr_assert(out.cached);
	cr_assert_eq(oauth_secret_read(rtfile, &after, err, sizeof(err)), 0);
	cr_assert_str_neq(after, before);
	cr_assert_eq(stat(rtfile, &st), 0);
	cr_assert_eq(st.st_mode & 0777, 0600);
	login_with(tok.access_token, "oauthbearer", 0, "IMAP OK");
	/* the next fresh grant uses the written-back token */
	cr_assert_eq(obtain(&c, 1, time(NULL), &tok, &out), OAUTH_OK, "%s", out.res.message);
	cr_assert(out.rotated);
	/* the cache entry of a refresh-token configuration is its own */
	char k1[2400], p1[4200], k2[2400], p2[4200];
	oauth_config_cache_path(&c, k1, sizeof(k1), p1, sizeof(p1));
	c.refresh_token_file = NULL;
	oauth_config_cache_path(&c, k2, sizeof(k2), p2, sizeof(p2));
	cr_assert_str_neq(p1, p2);
	oauth_token_free(&tok);
	secret_free(before);
	secret_free(after);
}

Test(oauth_obtain, local_configuration_errors, .init = make_cache_dir)
{
	struct oauth_config c;
	struct oauth_token tok = { 0 };
	struct oauth_outcome out;

	config(&c, "cfg");
	c.client_secret_file = "/nonexistent/secret";
	cr_assert_eq(obtain(&c, 0, time(NULL), &tok, &out), OAUTH_ERR_CONFIG);
	cr_assert(strstr(out.res.message, "--oauth-client-secret-file: /nonexistent/secret"), "%s", out.res.message);
	c.client_secret_file = NULL;
	c.client_secret_env = "CIS_TEST_UNSET_SECRET";
	cr_assert_eq(obtain(&c, 0, time(NULL), &tok, &out), OAUTH_ERR_CONFIG);
	cr_assert(strstr(out.res.message, "CIS_TEST_UNSET_SECRET is not set"), "%s", out.res.message);
	/* the secret from the environment works */
	char *secret = read_secret("OAUTH_CLIENT_SECRET_FILE");
	setenv("CIS_TEST_SECRET", secret, 1);
	c.client_secret_env = "CIS_TEST_SECRET";
	cr_assert_eq(obtain(&c, 0, time(NULL), &tok, &out), OAUTH_OK, "%s", out.res.message);
	/* a cache directory others can write is refused */
	cr_assert_eq(chmod(cache_dir, 0777), 0);
	cr_assert_eq(obtain(&c, 0, time(NULL), &tok, &out), OAUTH_ERR_CONFIG);
	cr_assert(strstr(out.res.message, "writable by others"), "%s", out.res.message);
	chmod(cache_dir, 0700);
	oauth_token_free(&tok);
	secret_free(secret);
}
