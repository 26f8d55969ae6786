/* oauth_step.c - the oauth_token step: the access token for the login from
 * the OAuth 2 token endpoint (or the token cache), timed, under the
 * session's deadline, before the IMAP connection opens (oauth/oauth.h). */
#include "config.h"
#include "session/oauth_step.h"

#include <stdio.h>
#include <string.h>
#include <time.h>

#include "oauth/oauth.h"
#include "report/report.h"
#include "session/state.h"
#include "session/step.h"

static void config_of(const struct sess *s, struct oauth_config *c)
{
	const struct probe_config *cfg = s->cfg;

	memset(c, 0, sizeof(*c));
	c->token_url = cfg->oauth_token_url;
	c->client_id = cfg->oauth_client_id;
	c->client_secret_file = cfg->oauth_client_secret_file;
	c->client_secret_env = cfg->oauth_client_secret_env;
	c->scope = cfg->oauth_scope;
	c->refresh_token_file = cfg->oauth_refresh_token_file;
	c->cache_dir = cfg->cache_dir;
	c->auth = cfg->oauth_client_auth ? OAUTH_AUTH_BASIC : OAUTH_AUTH_POST;
	c->cafile = cfg->cafile;
	c->capath = cfg->capath;
	c->insecure = cfg->insecure;
	c->family = cfg->family;
	c->trace = s->env ? s->env->trace : NULL;
	c->trace_ud = s->env ? s->env->trace_ud : NULL;
	c->rt = s->rt;
	c->stop = s->env ? s->env->stop : NULL;
}

int sess_oauth_wanted(const struct sess *s)
{
	return s->cfg->oauth_token_url != NULL && s->cfg->auth != AUTH_NONE;
}

int sess_oauth_token(struct sess *s, int fresh)
{
	struct oauth_config c;
	struct oauth_token tok = { 0 };
	struct oauth_outcome out;

	config_of(s, &c);
	struct step *st = sess_begin(s, "oauth_token");
	int rc = oauth_obtain(&c, fresh, s->deadline, time(NULL), &tok, &out);
	if (out.cache_note[0] && (rc != OAUTH_OK || !out.from_cache))
		report_line(s->rep, "token cache: %s", out.cache_note);
	if (rc != OAUTH_OK) {
		oauth_token_free(&tok);
		if (rc == OAUTH_ERR_TIMEOUT)
			sess_timeout(s, st);
		else
			sess_fail(s, st, rc == OAUTH_ERR_CONFIG || rc == OAUTH_ERR_INTERNAL ? STATE_UNKNOWN : STATE_CRITICAL,
				  "%s%s", rc == OAUTH_ERR_CONFIG ? "" : "token endpoint ", out.res.message);
		return -1;
	}
	sess_oauth_release(s);
	s->oauth.token = tok.access_token;   /* ownership moves to the session */
	tok.access_token = NULL;
	long long left = tok.expires_at ? (long long)(tok.expires_at - time(NULL)) : -1;
	if (out.from_cache)
		sess_ok(st, "cached token, valid for %lld s more", left);
	else
		sess_ok(st, "from %s (HTTP %d, %s%s)", out.res.peer, out.res.http_status, out.res.tls_version,
			out.res.tls_verified ? ", verified" : ", NOT verified (--insecure)");
	if (!out.from_cache && left >= 0)
		report_line(s->rep, "OAuth token: expires in %lld s%s%s", left, out.cached ? ", cached" : "",
			    out.rotated ? ", refresh token rotated and written back" : "");
	report_info(s->rep, "oauth_token", "%s", out.from_cache ? "cache" : "endpoint");
	oauth_token_free(&tok);
	return 0;
}

void sess_oauth_forget(struct sess *s)
{
	struct oauth_config c;

	config_of(s, &c);
	oauth_forget(&c);
}

void sess_oauth_release(struct sess *s)
{
	secret_free(s->oauth.token);
	s->oauth.token = NULL;
}
