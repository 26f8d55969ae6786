/* oauth.h - OAuth 2 access tokens for the login: the token request (RFC 6749
 * 4.4 client credentials, 6 refresh token) over the probe's own transport
 * and TLS backend, the JSON answer (jansson), the token cache and the
 * refresh-token file.
 *
 * Layer: oauth -> net, util.  Nothing here reads the probe's config or
 * writes the report; the session's oauth_token step does that.
 *
 * Secrets (client secret, refresh token, access token) never reach a
 * message, an err buffer or a trace line: the trace shows "<redacted>" in
 * their place.  Memory that held one is wiped (secure_zero) when freed.
 * Error strings: every function that fails fills the caller's buffer (or
 * struct oauth_result.message) with a sanitized, bounded message. */
#ifndef CIS_OAUTH_H
#define CIS_OAUTH_H

#include <signal.h>
#include <stddef.h>
#include <stdint.h>
#include <time.h>

#include "util/util.h"

#define OAUTH_MAX_BODY (64 * 1024)     /* token response body cap */
#define OAUTH_MAX_TOKEN (16 * 1024)    /* access / refresh token cap */
#define OAUTH_MAX_SECRET_FILE 8192     /* secret and refresh token files */

/* RFC 6749 2.3.1: how the client secret travels.  POST (client_secret_post,
 * form fields client_id + client_secret) is what Microsoft's and Google's
 * documentation show and the default; BASIC sends an Authorization: Basic
 * header (client_secret_basic), which every RFC 6749 server must accept. */
enum oauth_client_auth { OAUTH_AUTH_POST = 0, OAUTH_AUTH_BASIC };

typedef void (*oauth_trace_fn)(void *ud, const char *dir, const char *line, size_t len);

struct rt_counter;   /* net/transport.h */

struct oauth_params {
	const char *token_url;      /* https://... (http_url_parse) */
	const char *client_id;
	const char *client_secret;  /* NULL: public client (refresh grant) */
	const char *scope;          /* NULL or "": none sent */
	const char *refresh_token;  /* set: refresh_token grant, else client_credentials */
	enum oauth_client_auth auth;
	/* trust, exactly as for the IMAP connection */
	const char *cafile;
	const char *capath;
	int insecure;
	int family;                 /* AF_UNSPEC, AF_INET, AF_INET6 */
	oauth_trace_fn trace;       /* NULL: no trace; dir "C" / "S" / "*" */
	void *trace_ud;
	struct rt_counter *rt;      /* round trips count here (NULL: nowhere) */
	const volatile sig_atomic_t *stop; /* non-zero: a signal ended the run,
	                               waits end as on the deadline (may be NULL) */
};

struct oauth_token {
	char *access_token;         /* owned, wiped by oauth_token_free() */
	char *refresh_token;        /* a new (rotated) refresh token, or NULL */
	char token_type[32];        /* "Bearer" */
	long long expires_in;       /* seconds; -1: not given */
	time_t expires_at;          /* wall clock; 0: unknown (cache only) */
};

enum oauth_status {
	OAUTH_OK = 0,
	OAUTH_ERR_CONFIG,    /* bad URL, unusable CA file...: local -> UNKNOWN */
	OAUTH_ERR_TIMEOUT,   /* the deadline passed */
	OAUTH_ERR_NET,       /* name resolution or connect failed */
	OAUTH_ERR_TLS,       /* handshake or certificate verification failed */
	OAUTH_ERR_HTTP,      /* broken or oversized HTTP, or a status without an OAuth error */
	OAUTH_ERR_DENIED,    /* the endpoint's OAuth error response */
	OAUTH_ERR_RESPONSE,  /* a 200 answer without a usable bearer token */
	OAUTH_ERR_INTERNAL,  /* out of memory */
};

struct oauth_result {
	int status;                 /* enum oauth_status */
	int http_status;            /* 0 if none arrived */
	char error[64];             /* OAuth "error" code (sanitized), "" if none */
	char message[512];          /* one line, sanitized, never a secret */
	char peer[64];              /* "192.0.2.1:443" once connected */
	char tls_version[16];
	int tls_verified;
};

/* ------------------------------------------------------------ the exchange */

/* POST the token request to p->token_url before deadline_ns and parse the
 * answer into tok (freed and refilled).  Returns res->status (OAUTH_OK or
 * an error with res->message filled). */
int oauth_fetch(const struct oauth_params *p, int64_t deadline_ns, struct oauth_token *tok,
		struct oauth_result *res);

/* The form body of the request (grant, scope, refresh token, and client
 * id/secret unless p->auth is BASIC).  redacted: secrets as "<redacted>"
 * (for the trace).  0, or -1 if sb overflowed. */
int oauth_form_body(const struct oauth_params *p, int redacted, struct sbuf *sb);

/* Parse a token endpoint answer (pure): HTTP status and JSON body.
 * OAUTH_OK with tok filled, OAUTH_ERR_DENIED for an OAuth error object
 * ("error", "error_description"), OAUTH_ERR_HTTP for another non-200
 * answer, OAUTH_ERR_RESPONSE for a 200 without a usable bearer token. */
int oauth_parse_response(int http_status, const char *reason, const char *body, size_t len,
			 struct oauth_token *tok, struct oauth_result *res);

/* The body with the values of access_token, refresh_token and id_token
 * replaced by "<redacted>" (JSON), or a sanitized, bounded excerpt when it
 * is not a JSON object; into out (size outlen). */
void oauth_redact_body(const char *body, size_t len, char *out, size_t outlen);

void oauth_token_free(struct oauth_token *tok);   /* wipes; safe twice */

/* Make jansson wipe every block it frees (its copies of the tokens it
 * parsed); called by every function here before it uses jansson. */
void oauth_json_setup(void);

/* ------------------------------------------------------------ cache */

/* The cache key of one token: endpoint URL, client id, scope and grant
 * ("client_credentials", or "refresh_token " + the refresh token file's
 * path, so two users' tokens never share an entry).  Into buf. */
void oauth_cache_key(char *buf, size_t len, const char *url, const char *client_id, const char *scope,
		     const char *grant);
/* DIR/oauth-<16 hex digits of FNV-1a 64 of the key>.json; -1 if too long.
 * The file repeats the key, and a load checks it, so a collision is a miss. */
int oauth_cache_path(char *buf, size_t len, const char *dir, const char *key);
/* The directory is safe for secrets: a directory owned by us (or root)
 * that nobody else can write.  0, or -1 with err filled. */
int oauth_cache_dir_ok(const char *dir, char *err, size_t errlen);
/* The seconds before expires_at at which a cached token stops being
 * used: 60, or half the lifetime for tokens living under two minutes. */
long long oauth_cache_margin(long long lifetime);
/* Load a cached token for key valid at now (plus the margin).  1 hit (tok
 * filled), 0 miss (no file, other key, expired: err says why), -1 the
 * file is unsafe or broken (err says why; the caller fetches anew and the
 * store replaces it). */
int oauth_cache_load(const char *path, const char *key, time_t now, struct oauth_token *tok, char *err,
		     size_t errlen);
/* Store tok (needs expires_in >= 0) under key: mode 0600, written to a
 * temporary file in the same directory and renamed over.  0, or -1. */
int oauth_cache_store(const char *path, const char *key, const struct oauth_token *tok, time_t now,
		      char *err, size_t errlen);
/* Remove the entry (a token the IMAP server refused).  0 or -1. */
int oauth_cache_drop(const char *path);

/* ------------------------------------------------------------ secret files */

/* The first line of FILE (trailing CR/LF and spaces dropped), at most
 * OAUTH_MAX_SECRET_FILE bytes, into *out (malloc'd; free with
 * secret_free).  0, or -1 with err filled (never quoting the file). */
int oauth_secret_read(const char *path, char **out, char *err, size_t errlen);
/* Replace FILE with secret + "\n" atomically (temporary file in the same
 * directory, mode 0600, fsync, rename).  0, or -1 with err filled. */
int oauth_secret_write(const char *path, const char *secret, char *err, size_t errlen);

/* ------------------------------------------------------------ the policy */

/* What the user configured (the plugin's options). */
struct oauth_config {
	const char *token_url;          /* --oauth-token-url */
	const char *client_id;          /* --oauth-client-id */
	const char *client_secret_file; /* --oauth-client-secret-file (wins) */
	const char *client_secret_env;  /* --oauth-client-secret-env */
	const char *scope;              /* --oauth-scope, or NULL */
	const char *refresh_token_file; /* --oauth-refresh-token-file: refresh grant */
	const char *cache_dir;          /* --cache-dir, or NULL: no token cache */
	enum oauth_client_auth auth;
	const char *cafile, *capath;    /* trust, as for IMAP */
	int insecure;
	int family;
	oauth_trace_fn trace;
	void *trace_ud;
	struct rt_counter *rt;          /* round trips count here (may be NULL) */
	const volatile sig_atomic_t *stop; /* as in struct oauth_params */
};

struct oauth_outcome {
	struct oauth_result res;  /* status, endpoint's words, peer, TLS */
	int from_cache;           /* the token came from the cache: no request */
	int cached;               /* a fetched token was stored in the cache */
	int rotated;              /* a new refresh token was written back */
	char cache_note[256];     /* why the cache was not used or written, or "" */
};

/* One access token into tok: from the cache when there is a valid one
 * (unless fresh), else from the endpoint (the grant the config implies),
 * then stored in the cache and, when the endpoint rotated the refresh
 * token, written back to its file.  now is the wall clock (cache times).
 * Returns out->res.status: OAUTH_OK, OAUTH_ERR_CONFIG for local problems
 * (unreadable secret, unsafe cache directory, refresh token not written
 * back), or the exchange's error. */
int oauth_obtain(const struct oauth_config *c, int fresh, int64_t deadline_ns, time_t now, struct oauth_token *tok,
		 struct oauth_outcome *out);
/* The IMAP server refused the token: drop the cache entry. */
void oauth_forget(const struct oauth_config *c);
/* The cache key and file of this configuration (path "" without cache_dir). */
void oauth_config_cache_path(const struct oauth_config *c, char *key, size_t keylen, char *path, size_t pathlen);

#endif
