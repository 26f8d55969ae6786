/* oauth_obtain.c - one access token for the login, the way the user
 * configured it: secrets from files or the environment, the cache under
 * --cache-dir, the token request, the rotated refresh token written back
 * (see oauth_obtain() in oauth.h). */
#include "config.h"
#include "oauth/oauth.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static int config_fail(struct oauth_outcome *out, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

static int config_fail(struct oauth_outcome *out, const char *fmt, ...)
{
	char raw[sizeof(out->res.message)];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(raw, sizeof(raw), fmt, ap);
	va_end(ap);
	sanitize_text(out->res.message, sizeof(out->res.message), raw, strlen(raw));
	out->res.status = OAUTH_ERR_CONFIG;
	return OAUTH_ERR_CONFIG;
}

/* The client secret: from the file, else the environment; NULL (no error)
 * when neither is configured. */
static int load_client_secret(const struct oauth_config *c, char **secret, struct oauth_outcome *out)
{
	char err[300];

	*secret = NULL;
	if (c->client_secret_file) {
		if (oauth_secret_read(c->client_secret_file, secret, err, sizeof(err)) < 0)
			return config_fail(out, "--oauth-client-secret-file: %s", err);
		return 0;
	}
	if (c->client_secret_env) {
		const char *v = getenv(c->client_secret_env);
		if (!v || !*v)
			return config_fail(out, "--oauth-client-secret-env: %s is not set or empty", c->client_secret_env);
		if (!(*secret = strdup(v)))
			return config_fail(out, "out of memory");
	}
	return 0;
}

void oauth_config_cache_path(const struct oauth_config *c, char *key, size_t keylen, char *path, size_t pathlen)
{
	char grant[1100];

	if (c->refresh_token_file)
		snprintf(grant, sizeof(grant), "refresh_token %s", c->refresh_token_file);
	else
		snprintf(grant, sizeof(grant), "client_credentials");
	oauth_cache_key(key, keylen, c->token_url, c->client_id, c->scope, grant);
	path[0] = '\0';
	if (c->cache_dir && oauth_cache_path(path, pathlen, c->cache_dir, key) < 0)
		path[0] = '\0';
}

/* A cached token, if there is a usable one. 1 hit, 0 miss, or a config error. */
static int try_cache(const struct oauth_config *c, const char *key, const char *path, time_t now,
		     struct oauth_token *tok, struct oauth_outcome *out)
{
	char err[300];

	if (oauth_cache_dir_ok(c->cache_dir, err, sizeof(err)) < 0) {
		config_fail(out, "--cache-dir: %s", err);
		return -1;
	}
	int rc = oauth_cache_load(path, key, now, tok, err, sizeof(err));
	if (rc == 1) {
		out->from_cache = 1;
		out->res.status = OAUTH_OK;
		return 1;
	}
	sanitize_text(out->cache_note, sizeof(out->cache_note), err, strlen(err));
	return 0;
}

int oauth_obtain(const struct oauth_config *c, int fresh, int64_t deadline_ns, time_t now, struct oauth_token *tok,
		 struct oauth_outcome *out)
{
	char key[2400], path[4200], err[300];
	char *secret = NULL, *refresh = NULL;

	memset(out, 0, sizeof(*out));
	oauth_token_free(tok);
	if (!c->token_url || !c->client_id)
		return config_fail(out, "--oauth-token-url and --oauth-client-id are both needed");
	oauth_config_cache_path(c, key, sizeof(key), path, sizeof(path));
	if (c->cache_dir && !path[0])
		return config_fail(out, "--cache-dir: path too long");
	if (c->cache_dir && !fresh) {
		int hit = try_cache(c, key, path, now, tok, out);
		if (hit != 0)
			return hit > 0 ? OAUTH_OK : out->res.status;
	} else if (fresh) {
		snprintf(out->cache_note, sizeof(out->cache_note), "a fresh token was asked for");
	}

	if (load_client_secret(c, &secret, out) != 0)
		return out->res.status;
	if (c->refresh_token_file && oauth_secret_read(c->refresh_token_file, &refresh, err, sizeof(err)) < 0) {
		secret_free(secret);
		return config_fail(out, "--oauth-refresh-token-file: %s", err);
	}
	if (!refresh && !secret) {
		return config_fail(out, "the client credentials grant needs --oauth-client-secret-file or "
					"--oauth-client-secret-env (or use --oauth-refresh-token-file)");
	}
	struct oauth_params p = {
		.token_url = c->token_url,
		.client_id = c->client_id,
		.client_secret = secret,
		.scope = c->scope,
		.refresh_token = refresh,
		.auth = c->auth,
		.cafile = c->cafile,
		.capath = c->capath,
		.insecure = c->insecure,
		.family = c->family,
		.trace = c->trace,
		.trace_ud = c->trace_ud,
		.rt = c->rt,
		.stop = c->stop,
	};
	int rc = oauth_fetch(&p, deadline_ns, tok, &out->res);
	secret_free(secret);
	if (rc == OAUTH_OK && tok->refresh_token && refresh &&
	    strcmp(tok->refresh_token, refresh) != 0) {
		if (oauth_secret_write(c->refresh_token_file, tok->refresh_token, err, sizeof(err)) < 0) {
			secret_free(refresh);
			oauth_token_free(tok);
			return config_fail(out, "the endpoint rotated the refresh token but it could not be written back"
						" (the old one may be void now): %s", err);
		}
		out->rotated = 1;
	}
	secret_free(refresh);
	if (rc == OAUTH_OK && c->cache_dir) {
		if (tok->expires_in < 0)
			snprintf(out->cache_note, sizeof(out->cache_note), "no expires_in: token not cached");
		else if (oauth_cache_store(path, key, tok, now, err, sizeof(err)) < 0)
			sanitize_text(out->cache_note, sizeof(out->cache_note), err, strlen(err));
		else
			out->cached = 1;
	}
	if (rc == OAUTH_OK && tok->expires_in >= 0)
		tok->expires_at = now + (time_t)tok->expires_in;
	return rc;
}

void oauth_forget(const struct oauth_config *c)
{
	char key[2400], path[4200];

	if (!c->cache_dir)
		return;
	oauth_config_cache_path(c, key, sizeof(key), path, sizeof(path));
	if (path[0])
		oauth_cache_drop(path);
}
