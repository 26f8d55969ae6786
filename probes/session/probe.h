/* probe.h - the probe's configuration: what the command line (or an
 * extra-opts file) asked for.  Defaults in probe.c; built by
 * plugin/options.c, read by the session runner.  Strings point into argv or into memory owned by the
 * option parser and live for the whole run. */
#ifndef CIS_PROBE_H
#define CIS_PROBE_H

#include <stdint.h>

#include "report/thresholds.h"
#include "report/output.h"

enum tls_mode {
	TLSMODE_NONE = 0,
	TLSMODE_IMPLICIT,   /* -S/--ssl */
	TLSMODE_STARTTLS,   /* --starttls */
};

enum fetch_mode {
	FETCH_NONE = 0,
	FETCH_HEADERS,      /* default */
	FETCH_FULL,
};

/* --auth, parsed. */
enum auth_mode {
	AUTH_AUTO = 0,      /* the strongest mechanism usable here (default) */
	AUTH_NONE,          /* no login */
	AUTH_ALL,           /* every advertised mechanism, a connection each */
	AUTH_LOGIN,         /* the IMAP LOGIN command */
	AUTH_SASL,          /* AUTHENTICATE with the mechanism auth_mech */
};

#define PROBE_MAX_FOLDERS 16

struct probe_config {
	/* connection */
	const char *host;
	unsigned port;              /* 0: 143 or 993 */
	int family;                 /* AF_UNSPEC, AF_INET, AF_INET6 */
	double timeout_s;           /* -t, default 10 */
	int timeout_state;          /* -t N:STATE, default STATE_CRITICAL */

	/* TLS */
	enum tls_mode tls;
	const char *cafile, *capath, *sni;
	int insecure;
	const char *client_cert, *client_key;
	int tls_min;                /* 0, 12, 13 */
	struct thresholds cert_days;/* -D WARN[,CRIT]: alert when fewer days */
	int cert_days_set;

	/* authentication */
	const char *username;
	char *password;             /* owned by options; wiped at exit */
	const char *authzid;
	char *token;                /* owned by options; wiped at exit */
	enum auth_mode auth;
	const char *auth_mech;      /* AUTH_SASL: the --auth value naming the
	                               mechanism ("plain", "scram-sha-256"...);
	                               NULL otherwise */
	int auth_explicit;          /* the user named --auth */
	/* OAuth 2 (--oauth-*): the probe fetches its own access token from
	 * the token endpoint (oauth/oauth.h); NULL url: not used */
	const char *oauth_token_url;
	const char *oauth_client_id;
	const char *oauth_client_secret_file;
	const char *oauth_client_secret_env;
	const char *oauth_scope;
	const char *oauth_refresh_token_file;
	int oauth_client_auth;      /* 0: client_secret_post, 1: client_secret_basic */

	/* mailbox */
	const char *mailbox;        /* default INBOX */
	int select;                 /* SELECT instead of EXAMINE */
	const char *search;         /* criteria or NULL */
	enum fetch_mode fetch;
	int namespace_step, list_step, quota_step;
	const char *expect_folder[PROBE_MAX_FOLDERS];
	unsigned n_expect_folder;
	int delete_matched, append, idle;
	const char *script;

	/* --deliver-via: end-to-end delivery check (SMTP submission, then
	 * the arrival in the mailbox) */
	const char *deliver_via;    /* SMTP server; NULL: no delivery check */
	unsigned smtp_port;         /* 0: 587, or 465 with --smtp-ssl */
	enum tls_mode smtp_tls;     /* --smtp-starttls, --smtp-ssl; default none,
	                               as for IMAP */
	const char *smtp_user;      /* NULL: the IMAP user */
	char *smtp_password;        /* owned by options; NULL: the IMAP password */
	const char *smtp_auth;      /* NULL "auto", "none" or a mechanism's
	                               --auth name ("login" is AUTH LOGIN) */
	int smtp_auth_explicit;     /* --smtp-auth named a mechanism */
	const char *mail_from;      /* NULL: rcpt_to */
	const char *rcpt_to;        /* NULL: the IMAP user (an address) */
	struct thresholds delivery; /* seconds from the 250 after DATA to the
	                               EXISTS */
	double delivery_poll_s;     /* --delivery-poll: NOOP this often instead
	                               of IDLE; 0: IDLE where offered */

	/* thresholds */
	struct thresholds time;     /* -w/-c on total session time */
	struct thresholds messages, unseen, matched, age, quota;
	struct thresholds availability; /* SLA mode, percent */
	int age_oldest_unseen;

	/* behaviour */
	int pipeline;
	const char *cache_dir;      /* --cache-dir: remembered capabilities */
	int verbose;                /* 0..3 */
	enum output_format output;
	unsigned repeat;            /* SLA mode; 0/1 = once */
	double interval_s;
	double total_timeout_s;     /* --total-timeout: bound of a --repeat run
	                               (default 55) */
};

/* Fill with defaults. */
void probe_config_defaults(struct probe_config *cfg);
/* The --auth value as the user would write it ("auto", "none", "all",
 * "login" or the mechanism's option name), for messages. */
const char *probe_auth_name(const struct probe_config *cfg);

#endif
