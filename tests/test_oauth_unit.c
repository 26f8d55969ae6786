/* test_oauth_unit.c - unit tests of the OAuth 2 pieces without a network:
 * the token URL, form encoding, the request writer (and its redacted
 * twin), the token endpoint's JSON answers, the token cache and the secret
 * files (probes/oauth/). */
#include "config.h"
#include "oauth/http.h"
#include "oauth/oauth.h"

#include <criterion/criterion.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

/* ------------------------------------------------------------ URL */

Test(url, good)
{
	static const struct {
		const char *in, *host, *path, *authority;
		unsigned port;
	} cases[] = {
		{ "https://login.microsoftonline.com/TENANT/oauth2/v2.0/token", "login.microsoftonline.com",
		  "/TENANT/oauth2/v2.0/token", "login.microsoftonline.com", 443 },
		{ "https://oauth2.googleapis.com/token", "oauth2.googleapis.com", "/token", "oauth2.googleapis.com", 443 },
		{ "HTTPS://Example.ORG", "example.org", "/", "example.org", 443 },
		{ "https://127.0.0.1:8443/t?x=1&y=2", "127.0.0.1", "/t?x=1&y=2", "127.0.0.1:8443", 8443 },
		{ "https://[::1]:9000/token", "::1", "/token", "[::1]:9000", 9000 },
		{ "https://[::1]/", "::1", "/", "[::1]", 443 },
		{ "https://h?q", "h", "/?q", "h", 443 },
		{ "https://h:443/", "h", "/", "h", 443 },
	};
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		struct http_url u;
		char err[200] = "";
		cr_assert_eq(http_url_parse(cases[i].in, &u, err, sizeof(err)), 0, "%s: %s", cases[i].in, err);
		cr_assert_str_eq(u.host, cases[i].host);
		cr_assert_str_eq(u.path, cases[i].path);
		cr_assert_str_eq(u.authority, cases[i].authority);
		cr_assert_eq(u.port, cases[i].port);
	}
}

Test(url, bad)
{
	static const struct {
		const char *in, *want;
	} cases[] = {
		{ "", "empty" },
		{ "http://example.org/token", "https://" },
		{ "ftp://x", "https://" },
		{ "example.org/token", "https://" },
		{ "https://", "no host" },
		{ "https:///token", "no host" },
		{ "https://user:pw@example.org/token", "user information" },
		{ "https://example.org:0/", "port" },
		{ "https://example.org:65536/", "port" },
		{ "https://example.org:x/", "port" },
		{ "https://example.org:/", "port" },
		{ "https://exa mple.org/", "space" },
		{ "https://example.org/a#frag", "'#'" },
		{ "https://example.org/\r\nX: y", "control" },
		{ "https://ex\xc3\xa4mple.org/", "non-ASCII" },
		{ "https://[::1/", "IPv6" },
		{ "https://[::1]x/", "IPv6" },
		{ "https://ex!ample.org/", "host" },
	};
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		struct http_url u;
		char err[200] = "";
		cr_assert_eq(http_url_parse(cases[i].in, &u, err, sizeof(err)), -1, "accepted: %s", cases[i].in);
		cr_assert(strstr(err, cases[i].want), "%s: '%s' lacks '%s'", cases[i].in, err, cases[i].want);
	}
	char *longurl = malloc(5000);
	memcpy(longurl, "https://h/", 10);
	memset(longurl + 10, 'a', 4980);
	longurl[4990] = '\0';
	struct http_url u;
	char err[200];
	cr_assert_eq(http_url_parse(longurl, &u, err, sizeof(err)), -1);
	cr_assert(strstr(err, "too long"), "%s", err);
	free(longurl);
}

/* ------------------------------------------------------------ form, request */

Test(form, encoding)
{
	char mem[512];
	struct sbuf sb;

	sb_init(&sb, mem, sizeof(mem));
	http_form_add(&sb, "grant_type", "client_credentials");
	http_form_add(&sb, "scope", "https://outlook.office365.com/.default offline_access");
	http_form_add(&sb, "client_secret", "a+b/c=d&e%f~g\xc3\xa4*-._");
	cr_assert_str_eq(sb.data, "grant_type=client_credentials"
				  "&scope=https%3A%2F%2Foutlook.office365.com%2F.default+offline_access"
				  "&client_secret=a%2Bb%2Fc%3Dd%26e%25f%7Eg%C3%A4*-._");
}

static const struct oauth_params cc_params = {
	.token_url = "https://127.0.0.1:8443/token",
	.client_id = "probe client",
	.client_secret = "S3cr3t&=",
	.scope = "imap",
};

Test(request, client_secret_post_and_redacted_twin)
{
	struct sbuf body;
	cr_assert_eq(sb_init_alloc(&body, 4096), 0);
	cr_assert_eq(oauth_form_body(&cc_params, 0, &body), 0);
	cr_assert_str_eq(body.data, "grant_type=client_credentials&scope=imap&client_id=probe+client"
				    "&client_secret=S3cr3t%26%3D");
	cr_assert_eq(oauth_form_body(&cc_params, 1, &body), 0);
	cr_assert_str_eq(body.data, "grant_type=client_credentials&scope=imap&client_id=probe+client"
				    "&client_secret=%3Credacted%3E");

	struct oauth_params rp = cc_params;
	rp.refresh_token = "RT-1/x";
	rp.client_secret = NULL;
	rp.scope = NULL;
	cr_assert_eq(oauth_form_body(&rp, 0, &body), 0);
	cr_assert_str_eq(body.data, "grant_type=refresh_token&refresh_token=RT-1%2Fx&client_id=probe+client");
	cr_assert_eq(oauth_form_body(&rp, 1, &body), 0);
	cr_assert_null(strstr(body.data, "RT-1"));
	sb_free(&body);
}

Test(request, basic_auth_and_headers)
{
	struct http_url u;
	char err[100];
	struct sbuf out;

	cr_assert_eq(http_url_parse("https://[::1]:8443/oauth/token?v=2", &u, err, sizeof(err)), 0);
	cr_assert_eq(sb_init_alloc(&out, 4096), 0);
	struct http_request rq = {
		.url = &u,
		.content_type = "application/x-www-form-urlencoded",
		.body = "grant_type=client_credentials",
		.body_len = 29,
		.basic_user = "id:1",
		.basic_pass = "p w",
	};
	cr_assert_eq(http_request_write(&out, &rq), 0);
	/* RFC 6749 2.3.1: "id%3A1:p+w" in base64 */
	cr_assert(strstr(out.data, "Authorization: Basic aWQlM0ExOnArdw==\r\n"), "%s", out.data);
	cr_assert(strncmp(out.data, "POST /oauth/token?v=2 HTTP/1.1\r\nHost: [::1]:8443\r\n", 50) == 0, "%s",
		  out.data);
	cr_assert(strstr(out.data, "\r\nAccept: application/json\r\n"));
	cr_assert(strstr(out.data, "\r\nContent-Type: application/x-www-form-urlencoded\r\n"));
	cr_assert(strstr(out.data, "\r\nContent-Length: 29\r\nConnection: close\r\n\r\ngrant_type=client_credentials"));
	rq.redact_auth = 1;
	cr_assert_eq(http_request_write(&out, &rq), 0);
	cr_assert(strstr(out.data, "Authorization: Basic <redacted>\r\n"));
	cr_assert_null(strstr(out.data, "aWQlM0ExOnArdw"));
	/* header injection through the content type is refused */
	rq.content_type = "text/plain\r\nX-Evil: 1";
	cr_assert_eq(http_request_write(&out, &rq), -1);
	sb_free(&out);
}

/* ------------------------------------------------------------ JSON answers */

static int parse(int status, const char *body, struct oauth_token *tok, struct oauth_result *res)
{
	memset(res, 0, sizeof(*res));
	return oauth_parse_response(status, "Reason", body, strlen(body), tok, res);
}

Test(json, token_ok)
{
	struct oauth_token tok = { 0 };
	struct oauth_result res;

	cr_assert_eq(parse(200, "{\"token_type\":\"Bearer\",\"expires_in\":3599,\"ext_expires_in\":3599,"
				"\"access_token\":\"eyJ0eXAi.eyJhdWQi.sig-_\"}", &tok, &res), OAUTH_OK, "%s", res.message);
	cr_assert_str_eq(tok.access_token, "eyJ0eXAi.eyJhdWQi.sig-_");
	cr_assert_eq(tok.expires_in, 3599);
	cr_assert_null(tok.refresh_token);
	cr_assert_str_eq(tok.token_type, "Bearer");

	/* Google: lower-case type, refresh token rotated, expires_in as string (old Azure AD) */
	cr_assert_eq(parse(200, "{\"access_token\":\"ya29.a0\",\"token_type\":\"bearer\",\"expires_in\":\"3600\","
				"\"refresh_token\":\"1//0g-new\",\"scope\":\"https://mail.google.com/\"}", &tok, &res),
		     OAUTH_OK, "%s", res.message);
	cr_assert_str_eq(tok.refresh_token, "1//0g-new");
	cr_assert_eq(tok.expires_in, 3600);

	/* no expires_in, no token_type: usable, lifetime unknown */
	cr_assert_eq(parse(200, "{\"access_token\":\"t\"}", &tok, &res), OAUTH_OK);
	cr_assert_eq(tok.expires_in, -1);
	oauth_token_free(&tok);
	oauth_token_free(&tok);
}

Test(json, oauth_error)
{
	struct oauth_token tok = { 0 };
	struct oauth_result res;

	cr_assert_eq(parse(401, "{\"error\":\"invalid_client\",\"error_description\":\"AADSTS7000215: Invalid "
				"client secret provided.\\nTrace ID: x|y\",\"error_codes\":[7000215]}", &tok, &res),
		     OAUTH_ERR_DENIED);
	cr_assert_str_eq(res.error, "invalid_client");
	cr_assert_eq(res.http_status, 401);
	cr_assert_str_eq(res.message, "invalid_client (HTTP 401): AADSTS7000215: Invalid client secret "
				      "provided. Trace ID: x?y");
	cr_assert_null(tok.access_token);

	/* an error object wins even with status 200 */
	cr_assert_eq(parse(200, "{\"error\":\"invalid_grant\"}", &tok, &res), OAUTH_ERR_DENIED);
	cr_assert_str_eq(res.message, "invalid_grant (HTTP 200)");

	/* a huge description is bounded */
	char big[4000];
	int n = snprintf(big, sizeof(big), "{\"error\":\"invalid_request\",\"error_description\":\"");
	memset(big + n, 'd', 3000);
	snprintf(big + n + 3000, sizeof(big) - (size_t)n - 3000, "\"}");
	cr_assert_eq(parse(400, big, &tok, &res), OAUTH_ERR_DENIED);
	cr_assert_lt(strlen(res.message), sizeof(res.message));
	cr_assert(strstr(res.message, "..."));
}

Test(json, http_errors_and_unusable_answers)
{
	struct oauth_token tok = { 0 };
	struct oauth_result res;

	cr_assert_eq(parse(503, "<html>down|</html>", &tok, &res), OAUTH_ERR_HTTP);
	cr_assert_str_eq(res.message, "HTTP 503 Reason: <html>down?</html>");
	cr_assert_eq(parse(500, "", &tok, &res), OAUTH_ERR_HTTP);
	cr_assert_str_eq(res.message, "HTTP 500 Reason");

	static const struct {
		const char *body, *want;
	} bad[] = {
		{ "", "not a JSON object" },
		{ "[]", "not a JSON object" },
		{ "{\"access_token\":\"t\"} x", "not a JSON object" },
		{ "{\"token_type\":\"Bearer\"}", "no access_token" },
		{ "{\"access_token\":\"\"}", "no access_token" },
		{ "{\"access_token\":42}", "no access_token" },
		{ "{\"access_token\":\"a b\"}", "not a usable bearer token" },
		{ "{\"access_token\":\"a\\u0000b\"}", "not a JSON object" },
		{ "{\"access_token\":\"\\u00e4\"}", "not a usable bearer token" },
		{ "{\"access_token\":\"t\",\"token_type\":\"mac\"}", "is not Bearer" },
		{ "{\"access_token\":\"t\",\"expires_in\":-5}", "expires_in" },
		{ "{\"access_token\":\"t\",\"expires_in\":\"soon\"}", "expires_in" },
		{ "{\"access_token\":\"t\",\"expires_in\":true}", "expires_in" },
		{ "{\"access_token\":\"t\",\"refresh_token\":7}", "refresh_token" },
		{ "{\"access_token\":\"t\",\"access_token\":\"u\"}", "not a JSON object" },
	};
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		int rc = parse(200, bad[i].body, &tok, &res);
		cr_assert_eq(rc, OAUTH_ERR_RESPONSE, "%s -> %d %s", bad[i].body, rc, res.message);
		cr_assert(strstr(res.message, bad[i].want), "%s: '%s'", bad[i].body, res.message);
		cr_assert_null(tok.access_token);
	}
}

Test(json, redaction)
{
	char out[400];
	static const char body[] = "{\"access_token\":\"AT-SECRET\",\"refresh_token\":\"RT-SECRET\","
				   "\"id_token\":\"ID-SECRET\",\"expires_in\":60,\"token_type\":\"Bearer\"}";
	oauth_redact_body(body, sizeof(body) - 1, out, sizeof(out));
	cr_assert_null(strstr(out, "SECRET"), "%s", out);
	cr_assert(strstr(out, "\"access_token\":\"<redacted>\""), "%s", out);
	cr_assert(strstr(out, "\"expires_in\":60"), "%s", out);
	oauth_redact_body("not json|", 9, out, sizeof(out));
	cr_assert_str_eq(out, "not json?");
}

/* ------------------------------------------------------------ cache */

static char tmpdir[64];

static void mkdir_private(void)
{
	snprintf(tmpdir, sizeof(tmpdir), "/tmp/cis-oauth-unit.XXXXXX");
	cr_assert_not_null(mkdtemp(tmpdir));
}

static void rmtree(void)
{
	char cmd[128];
	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", tmpdir);
	cr_assert_eq(system(cmd), 0);
}

TestSuite(cache, .init = mkdir_private, .fini = rmtree);

Test(cache, key_and_path)
{
	char k1[512], k2[512], p1[256], p2[256];

	oauth_cache_key(k1, sizeof(k1), "https://a/t", "c", "s", NULL);
	oauth_cache_key(k2, sizeof(k2), "https://a/t", "c", "s2", NULL);
	cr_assert_eq(oauth_cache_path(p1, sizeof(p1), "/d", k1), 0);
	cr_assert_eq(oauth_cache_path(p2, sizeof(p2), "/d", k2), 0);
	cr_assert_str_neq(p1, p2);
	cr_assert(strncmp(p1, "/d/oauth-", 9) == 0 && strlen(p1) == 9 + 16 + 5, "%s", p1);
	oauth_cache_key(k2, sizeof(k2), "https://a/t", "c", "s", "refresh_token /etc/rt-alice");
	cr_assert_eq(oauth_cache_path(p2, sizeof(p2), "/d", k2), 0);
	cr_assert_str_neq(p1, p2);
	cr_assert_eq(oauth_cache_path(p1, 10, "/d", k1), -1);
}

Test(cache, store_load_expire)
{
	char key[256], path[256], err[300];
	struct oauth_token tok = { .access_token = strdup("AT-1"), .expires_in = 3600 }, got = { 0 };
	struct stat st;
	time_t now = 1700000000;

	oauth_cache_key(key, sizeof(key), "https://a/t", "c", "s", NULL);
	cr_assert_eq(oauth_cache_path(path, sizeof(path), tmpdir, key), 0);
	cr_assert_eq(oauth_cache_dir_ok(tmpdir, err, sizeof(err)), 0, "%s", err);
	cr_assert_eq(oauth_cache_load(path, key, now, &got, err, sizeof(err)), 0);
	cr_assert_str_eq(err, "no cached token");

	cr_assert_eq(oauth_cache_store(path, key, &tok, now, err, sizeof(err)), 0, "%s", err);
	cr_assert_eq(stat(path, &st), 0);
	cr_assert_eq(st.st_mode & 0777, 0600);

	cr_assert_eq(oauth_cache_load(path, key, now + 10, &got, err, sizeof(err)), 1, "%s", err);
	cr_assert_str_eq(got.access_token, "AT-1");
	cr_assert_eq(got.expires_at, now + 3600);
	/* shortly before the end it is no longer used */
	cr_assert_eq(oauth_cache_load(path, key, now + 3600 - 61, &got, err, sizeof(err)), 1);
	cr_assert_eq(oauth_cache_load(path, key, now + 3600 - 60, &got, err, sizeof(err)), 0);
	cr_assert(strstr(err, "expire"), "%s", err);
	cr_assert_null(got.access_token);
	/* another key: a miss */
	cr_assert_eq(oauth_cache_load(path, "other", now, &got, err, sizeof(err)), 0);
	/* a short-lived token keeps half its life */
	tok.expires_in = 20;
	cr_assert_eq(oauth_cache_store(path, key, &tok, now, err, sizeof(err)), 0);
	cr_assert_eq(oauth_cache_load(path, key, now + 9, &got, err, sizeof(err)), 1);
	cr_assert_eq(oauth_cache_load(path, key, now + 10, &got, err, sizeof(err)), 0);
	/* no lifetime: not cached */
	tok.expires_in = -1;
	cr_assert_eq(oauth_cache_store(path, key, &tok, now, err, sizeof(err)), -1);
	/* dropped */
	cr_assert_eq(oauth_cache_drop(path), 0);
	cr_assert_eq(access(path, F_OK), -1);
	cr_assert_eq(oauth_cache_drop(path), 0);
	oauth_token_free(&tok);
	oauth_token_free(&got);
	/* no temporary file left behind */
	char cmd[200];
	snprintf(cmd, sizeof(cmd), "test -z \"$(ls -A '%s')\"", tmpdir);
	cr_assert_eq(system(cmd), 0);
}

Test(cache, unsafe_files_and_dirs_refused)
{
	char key[] = "k", path[256], err[300];
	struct oauth_token tok = { .access_token = strdup("AT-1"), .expires_in = 3600 }, got = { 0 };
	time_t now = 1700000000;

	cr_assert_eq(oauth_cache_path(path, sizeof(path), tmpdir, key), 0);
	cr_assert_eq(oauth_cache_store(path, key, &tok, now, err, sizeof(err)), 0);
	cr_assert_eq(chmod(path, 0644), 0);
	cr_assert_eq(oauth_cache_load(path, key, now, &got, err, sizeof(err)), -1);
	cr_assert(strstr(err, "readable by others"), "%s", err);
	/* a store replaces it with a private file again */
	cr_assert_eq(oauth_cache_store(path, key, &tok, now, err, sizeof(err)), 0);
	cr_assert_eq(oauth_cache_load(path, key, now, &got, err, sizeof(err)), 1);

	/* a symlink is not followed */
	char link[300];
	snprintf(link, sizeof(link), "%s/link.json", tmpdir);
	cr_assert_eq(symlink(path, link), 0);
	cr_assert_eq(oauth_cache_load(link, key, now, &got, err, sizeof(err)), -1);

	/* garbage */
	FILE *f = fopen(path, "w");
	fputs("{\"magic\":\"nope\"}", f);
	fclose(f);
	chmod(path, 0600);
	cr_assert_eq(oauth_cache_load(path, key, now, &got, err, sizeof(err)), -1);
	cr_assert(strstr(err, "not a token cache file"), "%s", err);

	/* directory writable by others */
	cr_assert_eq(chmod(tmpdir, 0777), 0);
	cr_assert_eq(oauth_cache_dir_ok(tmpdir, err, sizeof(err)), -1);
	cr_assert(strstr(err, "writable by others"), "%s", err);
	cr_assert_eq(chmod(tmpdir, 0700), 0);
	cr_assert_eq(oauth_cache_dir_ok(path, err, sizeof(err)), -1);
	cr_assert(strstr(err, "not a directory"), "%s", err);
	cr_assert_eq(oauth_cache_dir_ok("/nonexistent/x", err, sizeof(err)), -1);
	oauth_token_free(&tok);
	oauth_token_free(&got);
}

Test(cache, secret_files)
{
	char path[256], err[300];
	char *s = NULL;
	struct stat st;

	snprintf(path, sizeof(path), "%s/rt", tmpdir);
	cr_assert_eq(oauth_secret_read(path, &s, err, sizeof(err)), -1);
	cr_assert(strstr(err, "No such file"), "%s", err);
	FILE *f = fopen(path, "w");
	fputs("  RT-old \r\nsecond line\n", f);
	fclose(f);
	cr_assert_eq(oauth_secret_read(path, &s, err, sizeof(err)), 0, "%s", err);
	cr_assert_str_eq(s, "  RT-old");
	secret_free(s);

	cr_assert_eq(oauth_secret_write(path, "RT-new", err, sizeof(err)), 0, "%s", err);
	cr_assert_eq(stat(path, &st), 0);
	cr_assert_eq(st.st_mode & 0777, 0600);
	cr_assert_eq(oauth_secret_read(path, &s, err, sizeof(err)), 0);
	cr_assert_str_eq(s, "RT-new");
	secret_free(s);

	f = fopen(path, "w");
	fputs("\nSECOND-LINE-SECRET\n", f);
	fclose(f);
	cr_assert_eq(oauth_secret_read(path, &s, err, sizeof(err)), -1);
	cr_assert(strstr(err, "empty"), "%s", err);
	cr_assert_null(strstr(err, "SECOND"));
	cr_assert_eq(oauth_secret_read(tmpdir, &s, err, sizeof(err)), -1);

	/* a directory that cannot be written: the old file stays */
	char sub[300];
	snprintf(sub, sizeof(sub), "%s/ro", tmpdir);
	cr_assert_eq(mkdir(sub, 0500), 0);
	snprintf(path, sizeof(path), "%s/rt", sub);
	if (geteuid() != 0) {
		cr_assert_eq(oauth_secret_write(path, "RT", err, sizeof(err)), -1);
		cr_assert(strstr(err, "cannot create"), "%s", err);
	}
	chmod(sub, 0700);
}
