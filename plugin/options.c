/* options.c - parse the command line into a struct probe_config. */
#include "config.h"
#include "options.h"

#include <errno.h>
#include <getopt.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#include "net/tls.h"
#include "oauth/http.h"
#include "session/capcache.h"
#include "sasl/sasl.h"
#include "smtp/smtp_cmd.h"
#include "util/util.h"

enum {
	OPT_STARTTLS = 256,
	OPT_CAFILE,
	OPT_CAPATH,
	OPT_INSECURE,
	OPT_SNI,
	OPT_CLIENT_CERT,
	OPT_CLIENT_KEY,
	OPT_TLS_MIN,
	OPT_PASSWORD_FILE,
	OPT_PASSWORD_ENV,
	OPT_AUTHZID,
	OPT_AUTH,
	OPT_TOKEN_FILE,
	OPT_SELECT,
	OPT_SEARCH,
	OPT_FETCH,
	OPT_OUTPUT,
	OPT_NAMESPACE,
	OPT_LIST,
	OPT_EXPECT_FOLDER,
	OPT_MESSAGES_WARN,
	OPT_MESSAGES_CRIT,
	OPT_UNSEEN_WARN,
	OPT_UNSEEN_CRIT,
	OPT_MATCHED_WARN,
	OPT_MATCHED_CRIT,
	OPT_AGE_WARN,
	OPT_AGE_CRIT,
	OPT_AGE_OLDEST_UNSEEN,
	OPT_QUOTA,
	OPT_QUOTA_WARN,
	OPT_QUOTA_CRIT,
	OPT_DELETE_MATCHED,
	OPT_APPEND,
	OPT_IDLE,
	OPT_SCRIPT,
	OPT_PIPELINE,
	OPT_CACHE_DIR,
	OPT_REPEAT,
	OPT_INTERVAL,
	OPT_AVAIL_WARN,
	OPT_AVAIL_CRIT,
	OPT_DELIVER_VIA,
	OPT_SMTP_PORT,
	OPT_SMTP_STARTTLS,
	OPT_SMTP_SSL,
	OPT_SMTP_USER,
	OPT_SMTP_PASSWORD_FILE,
	OPT_SMTP_PASSWORD_ENV,
	OPT_SMTP_AUTH,
	OPT_MAIL_FROM,
	OPT_RCPT_TO,
	OPT_DELIVERY_WARN,
	OPT_DELIVERY_CRIT,
	OPT_DELIVERY_POLL,
	OPT_OAUTH_TOKEN_URL,
	OPT_OAUTH_CLIENT_ID,
	OPT_OAUTH_CLIENT_SECRET_FILE,
	OPT_OAUTH_CLIENT_SECRET_ENV,
	OPT_OAUTH_SCOPE,
	OPT_OAUTH_REFRESH_TOKEN_FILE,
	OPT_OAUTH_CLIENT_AUTH,
	OPT_TOTAL_TIMEOUT,
};

static const struct option long_opts[] = {
	{ "hostname", required_argument, NULL, 'H' },
	{ "port", required_argument, NULL, 'p' },
	{ "ipv4", no_argument, NULL, '4' },
	{ "ipv6", no_argument, NULL, '6' },
	{ "timeout", required_argument, NULL, 't' },
	{ "ssl", no_argument, NULL, 'S' },
	{ "starttls", no_argument, NULL, OPT_STARTTLS },
	{ "cafile", required_argument, NULL, OPT_CAFILE },
	{ "capath", required_argument, NULL, OPT_CAPATH },
	{ "insecure", no_argument, NULL, OPT_INSECURE },
	{ "sni", required_argument, NULL, OPT_SNI },
	{ "certificate", required_argument, NULL, 'D' },
	{ "client-cert", required_argument, NULL, OPT_CLIENT_CERT },
	{ "client-key", required_argument, NULL, OPT_CLIENT_KEY },
	{ "tls-min", required_argument, NULL, OPT_TLS_MIN },
	{ "username", required_argument, NULL, 'U' },
	{ "password", required_argument, NULL, 'P' },
	{ "password-file", required_argument, NULL, OPT_PASSWORD_FILE },
	{ "password-env", required_argument, NULL, OPT_PASSWORD_ENV },
	{ "authzid", required_argument, NULL, OPT_AUTHZID },
	{ "auth", required_argument, NULL, OPT_AUTH },
	{ "token-file", required_argument, NULL, OPT_TOKEN_FILE },
	{ "oauth-token-url", required_argument, NULL, OPT_OAUTH_TOKEN_URL },
	{ "oauth-client-id", required_argument, NULL, OPT_OAUTH_CLIENT_ID },
	{ "oauth-client-secret-file", required_argument, NULL, OPT_OAUTH_CLIENT_SECRET_FILE },
	{ "oauth-client-secret-env", required_argument, NULL, OPT_OAUTH_CLIENT_SECRET_ENV },
	{ "oauth-scope", required_argument, NULL, OPT_OAUTH_SCOPE },
	{ "oauth-refresh-token-file", required_argument, NULL, OPT_OAUTH_REFRESH_TOKEN_FILE },
	{ "oauth-client-auth", required_argument, NULL, OPT_OAUTH_CLIENT_AUTH },
	{ "mailbox", required_argument, NULL, 'm' },
	{ "select", no_argument, NULL, OPT_SELECT },
	{ "search", required_argument, NULL, OPT_SEARCH },
	{ "fetch", required_argument, NULL, OPT_FETCH },
	{ "warning", required_argument, NULL, 'w' },
	{ "critical", required_argument, NULL, 'c' },
	{ "verbose", no_argument, NULL, 'v' },
	{ "output", required_argument, NULL, OPT_OUTPUT },
	{ "namespace", no_argument, NULL, OPT_NAMESPACE },
	{ "list", no_argument, NULL, OPT_LIST },
	{ "expect-folder", required_argument, NULL, OPT_EXPECT_FOLDER },
	{ "messages-warning", required_argument, NULL, OPT_MESSAGES_WARN },
	{ "messages-critical", required_argument, NULL, OPT_MESSAGES_CRIT },
	{ "unseen-warning", required_argument, NULL, OPT_UNSEEN_WARN },
	{ "unseen-critical", required_argument, NULL, OPT_UNSEEN_CRIT },
	{ "matched-warning", required_argument, NULL, OPT_MATCHED_WARN },
	{ "matched-critical", required_argument, NULL, OPT_MATCHED_CRIT },
	{ "age-warning", required_argument, NULL, OPT_AGE_WARN },
	{ "age-critical", required_argument, NULL, OPT_AGE_CRIT },
	{ "age-oldest-unseen", no_argument, NULL, OPT_AGE_OLDEST_UNSEEN },
	{ "quota", no_argument, NULL, OPT_QUOTA },
	{ "quota-warning", required_argument, NULL, OPT_QUOTA_WARN },
	{ "quota-critical", required_argument, NULL, OPT_QUOTA_CRIT },
	{ "delete-matched", no_argument, NULL, OPT_DELETE_MATCHED },
	{ "append", no_argument, NULL, OPT_APPEND },
	{ "idle", no_argument, NULL, OPT_IDLE },
	{ "script", required_argument, NULL, OPT_SCRIPT },
	{ "pipeline", no_argument, NULL, OPT_PIPELINE },
	{ "cache-dir", required_argument, NULL, OPT_CACHE_DIR },
	{ "repeat", required_argument, NULL, OPT_REPEAT },
	{ "interval", required_argument, NULL, OPT_INTERVAL },
	{ "total-timeout", required_argument, NULL, OPT_TOTAL_TIMEOUT },
	{ "availability-warning", required_argument, NULL, OPT_AVAIL_WARN },
	{ "availability-critical", required_argument, NULL, OPT_AVAIL_CRIT },
	{ "deliver-via", required_argument, NULL, OPT_DELIVER_VIA },
	{ "smtp-port", required_argument, NULL, OPT_SMTP_PORT },
	{ "smtp-starttls", no_argument, NULL, OPT_SMTP_STARTTLS },
	{ "smtp-ssl", no_argument, NULL, OPT_SMTP_SSL },
	{ "smtp-user", required_argument, NULL, OPT_SMTP_USER },
	{ "smtp-password-file", required_argument, NULL, OPT_SMTP_PASSWORD_FILE },
	{ "smtp-password-env", required_argument, NULL, OPT_SMTP_PASSWORD_ENV },
	{ "smtp-auth", required_argument, NULL, OPT_SMTP_AUTH },
	{ "mail-from", required_argument, NULL, OPT_MAIL_FROM },
	{ "rcpt-to", required_argument, NULL, OPT_RCPT_TO },
	{ "delivery-warning", required_argument, NULL, OPT_DELIVERY_WARN },
	{ "delivery-critical", required_argument, NULL, OPT_DELIVERY_CRIT },
	{ "delivery-poll", required_argument, NULL, OPT_DELIVERY_POLL },
	{ "help", no_argument, NULL, 'h' },
	{ "version", no_argument, NULL, 'V' },
	{ NULL, 0, NULL, 0 },
};
static const char short_opts[] = "H:p:46t:SD:U:P:m:w:c:vhV";

void options_help(struct sbuf *out)
{
	sb_printf(out, "check_imap_session %s (%s)\n", PACKAGE_VERSION, tls_backend_version());
	sb_puts(out,
"Runs a scripted IMAP session - connect, TLS, authenticate, examine a mailbox,\n"
"fetch the newest message, log out - times every step and reports the result\n"
"in the Monitoring Plugins format.\n"
"\n"
"Usage:\n"
"  check_imap_session -H HOST [-p PORT] [-S | --starttls] [-U USER]\n"
"       [--password-file FILE | --password-env VAR | -P PASS] [--auth MECH]\n"
"       [-m MAILBOX] [-w RANGE] [-c RANGE] [-t SECONDS[:STATE]] [-v]\n"
"\n"
"Connection:\n"
"  -H, --hostname HOST      server name or address (also used for SNI and the\n"
"                           certificate name check)\n"
"  -p, --port PORT          default 143, or 993 with --ssl\n"
"  -4, --ipv4               use IPv4 only\n"
"  -6, --ipv6               use IPv6 only\n"
"  -t, --timeout SECONDS[:STATE]\n"
"                           deadline for the whole session (default 10); STATE\n"
"                           is what a timeout returns: ok, warning, critical\n"
"                           (default) or unknown\n""                           SIGTERM, SIGINT or SIGALRM end the run the same way\n"
"                           (\"terminated during STEP\"), with a full result\n"
"\n"
"TLS:\n"
"  -S, --ssl                implicit TLS (IMAPS, port 993)\n"
"      --starttls           STARTTLS on the plain port; a server that does not\n"
"                           offer it, refuses it or sends PREAUTH is CRITICAL\n"
"      --cafile FILE        trust anchors (PEM); default: the system store\n"
"      --capath DIR         hashed directory of trust anchors\n"
"      --insecure           do not verify the certificate chain or host name\n"
"                           (expiry is still checked)\n"
"      --sni NAME           TLS server name to send (default: the host name;\n"
"                           none for IP addresses)\n"
"  -D, --certificate WARN[,CRIT]\n"
"                           minimum days the server certificate must still be\n"
"                           valid (WARNING / CRITICAL below these)\n"
"      --client-cert FILE   TLS client certificate (PEM)\n"
"      --client-key FILE    its private key (PEM)\n"
"      --tls-min VERSION    lowest TLS version to accept: 1.2 (default), 1.3\n"
"\n"
"Authentication:\n"
"  -U, --username USER      login / authentication identity\n"
"  -P, --password PASS      password (visible in ps: prefer the next two)\n"
"      --password-file FILE first line of FILE is the password\n"
"      --password-env VAR   password from environment variable VAR\n"
"      --authzid USER       SASL authorization identity: log in as --username,\n"
"                           act as USER (master user / admin access)\n"
"      --auth MECH          auto (default: strongest mechanism offered that the\n"
"                           credentials can use; on an unencrypted connection\n"
"                           none that sends a password or bearer token\n"
"                           readable: PLAIN, LOGIN, XOAUTH2, OAUTHBEARER;\n"
"                           name one to send it anyway), login (IMAP LOGIN),\n"
"                           plain, auth-login (AUTHENTICATE LOGIN), cram-md5,\n"
"                           scram-sha-1, scram-sha-256, xoauth2, oauthbearer,\n"
"                           external, none (greeting only, no login), all\n"
"                           (every advertised mechanism this probe implements,\n"
"                           one connection each), scram-sha-1-plus,\n"
"                           scram-sha-256-plus (channel binding)\n"
"      --token-file FILE    OAuth 2 bearer token for xoauth2 / oauthbearer (never\n"
"                           sent unencrypted unless --auth names the mechanism)\n"
"\n"
"OAuth 2 (the probe fetches, caches and renews its own token):\n"
"      --oauth-token-url URL  the token endpoint (https), e.g.\n"
"                           https://login.microsoftonline.com/TENANT/oauth2/v2.0/token\n"
"      --oauth-client-id ID   the application (client) id\n"
"      --oauth-client-secret-file FILE\n"
"                           first line of FILE is the client secret\n"
"      --oauth-client-secret-env VAR\n"
"                           client secret from environment variable VAR\n"
"      --oauth-scope SCOPE    e.g. https://outlook.office365.com/.default\n"
"      --oauth-refresh-token-file FILE\n"
"                           refresh-token grant instead of client credentials;\n"
"                           a rotated refresh token is written back (0600)\n"
"      --oauth-client-auth post|basic\n"
"                           how the secret is sent: in the form (post, default)\n"
"                           or as HTTP Basic (RFC 6749 2.3.1)\n"
"                           The token request is a timed step (oauth_token),\n"
"                           verified with the TLS options below, under -t;\n"
"                           with --cache-dir the token is reused until shortly\n"
"                           before it expires; a token the server refuses is\n"
"                           fetched anew once\n"
"\n"
"Mailbox:\n"
"  -m, --mailbox NAME       mailbox to examine (default INBOX; UTF-8 allowed)\n"
"      --select             SELECT instead of the read-only EXAMINE\n"
"      --fetch MODE         none, headers (default: the newest matched or\n"
"                           newest message's Subject/Date/From, never\n"
"                           setting \\Seen), full (the whole message)\n"
"      --namespace          NAMESPACE step; folder names without the personal\n"
"                           prefix are resolved with it\n"
"      --list               LIST step (special-use folders in the long output)\n"
"      --expect-folder NAME CRITICAL when NAME is missing (repeatable; implies\n"
"                           --list)\n"
"      --search CRITERIA    UID SEARCH with these criteria, e.g. UNSEEN or\n"
"                           'SUBJECT \"probe\" SINCE 1-Jan-2026'\n"
"      --messages-warning RANGE, --messages-critical RANGE\n"
"      --unseen-warning RANGE,   --unseen-critical RANGE\n"
"      --matched-warning RANGE,  --matched-critical RANGE\n"
"                           thresholds on the message, unseen and matched\n"
"                           counts (Nagios range syntax)\n"
"      --age-warning SECONDS, --age-critical SECONDS\n"
"                           alert when the newest matched (or newest) message\n"
"                           is older than this: mail is no longer delivered\n"
"      --age-oldest-unseen  apply the age thresholds to the oldest unseen\n"
"                           message instead (stuck-queue detection)\n"
"      --quota              GETQUOTAROOT step: usage in percent\n"
"      --quota-warning RANGE, --quota-critical RANGE\n"
"                           thresholds on the quota usage in percent\n"
"      --delete-matched     delete (UID EXPUNGE) the messages --search matched\n"
"      --append             write path: APPEND a probe message, find it, fetch\n"
"                           it, delete it\n"
"      --idle               push latency: IDLE on the mailbox while a second\n"
"                           connection appends a probe message\n"
"      --script FILE        run the IMAP commands in FILE after login, each as\n"
"                           its own timed step (format: see the man page)\n"
"\n"
"End-to-end delivery (SMTP submission, then the arrival in the mailbox):\n"
"      --deliver-via HOST   submit a probe message through this SMTP server\n"
"                           while the mailbox is watched (IDLE, or NOOP every\n"
"                           0.5s without it); time its arrival, find it by its\n"
"                           token, delete exactly it (needs UIDPLUS)\n"
"      --smtp-port PORT     default 587, or 465 with --smtp-ssl\n"
"      --smtp-starttls      STARTTLS on the submission port; a server that does\n"
"                           not offer it, refuses it or injects data is\n"
"                           CRITICAL (without this or --smtp-ssl: no TLS)\n"
"      --smtp-ssl           implicit TLS (port 465)\n"
"      --smtp-user USER     SMTP authentication identity (default: -U)\n"
"      --smtp-password-file FILE, --smtp-password-env VAR\n"
"                           SMTP password (default: the IMAP password)\n"
"      --smtp-auth MECH     auto (default: strongest offered; no plaintext\n"
"                           mechanism without TLS), none, or a mechanism:\n"
"                           plain, login, cram-md5, scram-sha-1, scram-sha-256,\n"
"                           xoauth2, oauthbearer, external\n"
"      --mail-from ADDRESS  envelope sender (default: the recipient)\n"
"      --rcpt-to ADDRESS    recipient (default: -U when it is an address)\n"
"      --delivery-warning SECONDS, --delivery-critical SECONDS\n"
"                           thresholds on the delivery time: from the 250 that\n"
"                           ends DATA to the EXISTS in the mailbox\n"
"      --delivery-poll SECONDS\n"
"                           wait with NOOP this often instead of IDLE: finer\n"
"                           than a server's push (Dovecot tells an idling\n"
"                           client half a second after the change)\n"
"\n"
"Performance and SLA:\n"
"      --pipeline           send the commands that do not depend on an answer\n"
"                           together (fewer round trips; each still timed on\n"
"                           its own): the login too with SASL-IR PLAIN or\n"
"                           EXTERNAL or LOGIN, and LOGOUT in the last flight;\n"
"                           extensions only as the greeting lists them, or\n"
"                           as --cache-dir remembers them\n"
"      --cache-dir DIR      remember in DIR what each server lists after login,\n"
"                           so that --pipeline can use those extensions in the\n"
"                           login flight (SEARCH RETURN (SAVE) + FETCH $: one\n"
"                           round trip less); a stale entry costs one repeated\n"
"                           session, never a wrong result\n"
"      --repeat N           run the session N times and report availability\n"
"                           and latency percentiles\n"
"      --interval SECONDS   pause between repeated sessions (default 0)\n"
"      --total-timeout SECONDS\n"
"                           with --repeat: the whole run never takes longer\n"
"                           (default 55, below the usual 60 s plugin limit); a\n"
"                           run that cannot fit (N x -t + (N-1) x --interval)\n"
"                           is UNKNOWN at once, one that reaches the bound\n"
"                           stops and reports the sessions that finished\n"
"      --availability-warning RANGE, --availability-critical RANGE\n"
"                           thresholds on the percentage of sessions that\n"
"                           worked (default: WARNING below 100, CRITICAL at\n"
"                           0); with --repeat, -w/-c apply to the p95 session\n"
"                           time\n"
"\n"
"Thresholds and output:\n"
"  -w, --warning RANGE      WARNING when the total session time (seconds) is\n"
"                           outside RANGE (Nagios range syntax: 10, 10:, ~:10,\n"
"                           10:20, @10:20)\n"
"  -c, --critical RANGE     CRITICAL likewise\n"
"  -v, --verbose            more detail; -vvv prints the protocol trace with\n"
"                           credentials replaced by <redacted>\n"
"      --output FORMAT      nagios (default), json or prometheus\n"
"      --extra-opts [SECTION][@FILE]\n"
"                           read options from an ini file (Monitoring\n"
"                           Plugins style) before the command line; SECTION\n"
"                           defaults to check_imap_session, FILE to\n"
"                           $MP_CONFIG_FILE or the standard locations (e.g.\n"
"                           /etc/monitoring-plugins/monitoring-plugins.ini);\n"
"                           the right place for passwords\n"
"  -h, --help               this help (exits 3)\n"
"  -V, --version            version and TLS library (exits 3)\n"
"\n"
"States: a failed connection, TLS failure, rejected login, missing mailbox,\n"
"protocol violation or timeout is CRITICAL (the timeout state can be\n"
"changed with -t); a crossed threshold is WARNING or CRITICAL; bad options or\n"
"an unreadable password file are UNKNOWN.\n");
}

static int fail(struct options *o, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static int fail(struct options *o, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(o->err, sizeof(o->err), fmt, ap);
	va_end(ap);
	return OPTIONS_ERROR;
}

static int parse_uint(const char *s, unsigned long max, unsigned long *out)
{
	char *end;
	if (!*s || *s == '-' || *s == '+')
		return -1;
	errno = 0;
	unsigned long v = strtoul(s, &end, 10);
	if (errno || *end || v > max)
		return -1;
	*out = v;
	return 0;
}

static int parse_seconds(const char *s, double *out)
{
	char *end;
	if (!*s)
		return -1;
	errno = 0;
	double v = strtod(s, &end);
	if (errno || *end || !(v > 0) || v > 86400)
		return -1;
	*out = v;
	return 0;
}

static int parse_timeout(struct options *o, const char *arg)
{
	char buf[64];
	if (strlen(arg) >= sizeof(buf))
		return fail(o, "-t: argument too long");
	strlcpy_s(buf, arg, sizeof(buf));
	char *colon = strchr(buf, ':');
	if (colon) {
		*colon = '\0';
		int st = state_parse(colon + 1);
		if (st < 0)
			return fail(o, "-t %s: timeout state must be ok, warning, critical or unknown", arg);
		o->cfg.timeout_state = st;
	}
	if (parse_seconds(buf, &o->cfg.timeout_s) < 0)
		return fail(o, "-t %s: timeout must be a number of seconds > 0 (up to 86400)", arg);
	return OPTIONS_OK;
}

/* -D WARN[,CRIT]: alert when fewer days are left, i.e. ranges "WARN:". */
static int parse_cert_days(struct options *o, const char *arg)
{
	char buf[64], rng[80];
	if (strlen(arg) >= sizeof(buf))
		return fail(o, "-D: argument too long");
	strlcpy_s(buf, arg, sizeof(buf));
	char *crit = strchr(buf, ',');
	if (crit)
		*crit++ = '\0';
	unsigned long w, c;
	if (parse_uint(buf, 100000, &w) < 0 || (crit && parse_uint(crit, 100000, &c) < 0))
		return fail(o, "-D %s: expected WARN[,CRIT] as whole numbers of days", arg);
	snprintf(rng, sizeof(rng), "%lu:", w);
	range_parse(rng, &o->cfg.cert_days.warn, o->err, sizeof(o->err));
	if (crit) {
		if (c > w)
			return fail(o, "-D %s: the critical days must not exceed the warning days", arg);
		snprintf(rng, sizeof(rng), "%lu:", c);
		range_parse(rng, &o->cfg.cert_days.crit, o->err, sizeof(o->err));
	}
	o->cfg.cert_days_set = 1;
	return OPTIONS_OK;
}

/* Read the first line of a file holding a secret.  Returns a malloc'd
 * string or NULL with o->err set. */
static char *read_secret_file(struct options *o, const char *path, const char *what)
{
	FILE *f = fopen(path, "re");
	if (!f) {
		fail(o, "cannot read %s file %s: %s", what, path, strerror(errno));
		return NULL;
	}
	char *line = NULL;
	size_t cap = 0;
	ssize_t n = getline(&line, &cap, f);
	int rerr = ferror(f);
	fclose(f);
	if (n < 0 || rerr) {
		if (line)
			secure_zero(line, cap);
		free(line);
		fail(o, "%s file %s is empty", what, path);
		return NULL;
	}
	while (n > 0 && (line[n - 1] == '\n' || line[n - 1] == '\r'))
		line[--n] = '\0';
	if (n == 0) {
		secure_zero(line, cap);
		free(line);
		fail(o, "%s file %s: first line is empty", what, path);
		return NULL;
	}
	return line;
}

static void set_secret(char **slot, char *value)
{
	if (*slot) {
		secure_zero(*slot, strlen(*slot));
		free(*slot);
	}
	*slot = value;
}

static int parse_range_opt(struct options *o, const char *opt, const char *arg, struct range *r)
{
	char err[256];
	if (range_parse(arg, r, err, sizeof(err)) < 0)
		return fail(o, "%s %s: %s", opt, arg, err);
	return OPTIONS_OK;
}

/* --age-warning/--age-critical SECONDS: alert when the message is older,
 * i.e. the range "~:SECONDS"; a full range is accepted too. */
static int parse_age(struct options *o, const char *opt, const char *arg, struct range *r)
{
	char rng[64];
	if (strlen(arg) >= sizeof(rng) - 3)
		return fail(o, "%s: argument too long", opt);
	if (strspn(arg, "0123456789.") == strlen(arg) && *arg) {
		snprintf(rng, sizeof(rng), "~:%s", arg);
		arg = rng;
	}
	return parse_range_opt(o, opt, arg, r);
}

static const char *const auth_names[] = {
	"auto", "none", "login", "plain", "auth-login", "cram-md5", "scram-sha-1",
	"scram-sha-256", "scram-sha-1-plus", "scram-sha-256-plus", "xoauth2",
	"oauthbearer", "external", "all", NULL,
};

static int check_auth(struct options *o, const char *arg)
{
	for (const char *const *n = auth_names; *n; n++) {
		if (!strcasecmp(arg, *n)) {
			o->cfg.auth = !strcmp(*n, "auto") ? AUTH_AUTO : !strcmp(*n, "none") ? AUTH_NONE :
				      !strcmp(*n, "all") ? AUTH_ALL : !strcmp(*n, "login") ? AUTH_LOGIN : AUTH_SASL;
			o->cfg.auth_mech = o->cfg.auth == AUTH_SASL ? *n : NULL;
			o->cfg.auth_explicit = o->cfg.auth != AUTH_AUTO;
			return OPTIONS_OK;
		}
	}
	return fail(o, "--auth %s: unknown mechanism; choices: auto, all, none, login, plain, "
		    "auth-login, cram-md5, scram-sha-1, scram-sha-256, scram-sha-1-plus, scram-sha-256-plus, "
		    "xoauth2, oauthbearer, external", arg);
}

static const char *const smtp_auth_names[] = {
	"auto", "none", "plain", "login", "auth-login", "cram-md5", "scram-sha-1", "scram-sha-256",
	"xoauth2", "oauthbearer", "external", NULL,
};

static int check_smtp_auth(struct options *o, const char *arg)
{
	for (const char *const *n = smtp_auth_names; *n; n++) {
		if (!strcasecmp(arg, *n)) {
			o->cfg.smtp_auth = *n;
			o->cfg.smtp_auth_explicit = strcmp(*n, "auto") && strcmp(*n, "none");
			return OPTIONS_OK;
		}
	}
	return fail(o, "--smtp-auth %s: unknown mechanism; choices: auto, none, plain, login, cram-md5, "
		    "scram-sha-1, scram-sha-256, xoauth2, oauthbearer, external", arg);
}

/* --deliver-via and the options that only make sense with it. */
static int check_delivery(struct options *o)
{
	struct probe_config *cfg = &o->cfg;

	cfg->smtp_password = o->smtp_password_buf;
	if (!cfg->deliver_via) {
		if (cfg->smtp_port || cfg->smtp_user || cfg->smtp_password || cfg->smtp_auth || cfg->mail_from ||
		    cfg->rcpt_to || cfg->delivery.warn.set || cfg->delivery.crit.set || cfg->smtp_tls != TLSMODE_NONE ||
		    cfg->delivery_poll_s > 0)
			return fail(o, "SMTP and delivery options given without --deliver-via HOST");
		return OPTIONS_OK;
	}
	if (cfg->auth == AUTH_ALL || cfg->repeat > 1)
		return fail(o, "--deliver-via cannot be combined with --auth all or --repeat");
	if (cfg->auth == AUTH_NONE || !cfg->username)
		return fail(o, "--deliver-via needs the IMAP login (-U and a password): the mailbox is watched");
	const char *rcpt = cfg->rcpt_to ? cfg->rcpt_to : cfg->username;
	const char *at = strchr(rcpt, '@');
	if (!at || at == rcpt || !at[1] || smtp_addr_check(rcpt, 0) != SMTP_ENC_OK)
		return fail(o, "--deliver-via needs --rcpt-to ADDRESS: the IMAP user %s is not a mail address",
			    cfg->username);
	/* what a named mechanism needs comes from its flags ("login" is the
	 * SASL mechanism LOGIN, whose --auth name is auth-login) */
	const struct sasl_mech *m = NULL;
	if (cfg->smtp_auth_explicit)
		m = sasl_find(!strcasecmp(cfg->smtp_auth, "login") ? "auth-login" : cfg->smtp_auth);
	unsigned needs = m ? m->flags : 0;
	int none = cfg->smtp_auth && !strcmp(cfg->smtp_auth, "none");
	int has_token = cfg->token || cfg->oauth_token_url;
	if (!none && (m ? (needs & SASL_F_PASSWORD) != 0 : !has_token && !cfg->client_cert) && !cfg->smtp_password &&
	    !cfg->password)
		return fail(o, "--deliver-via: no SMTP password (--smtp-password-file, --smtp-password-env, or the "
			    "IMAP one), or --smtp-auth none");
	if ((needs & SASL_F_TOKEN) && !has_token)
		return fail(o, "--smtp-auth %s needs a token (--token-file or --oauth-token-url)", cfg->smtp_auth);
	if ((needs & SASL_F_CLIENTCERT) && !cfg->client_cert)
		return fail(o, "--smtp-auth %s needs a client certificate (--client-cert)", cfg->smtp_auth);
	return OPTIONS_OK;
}

/* --oauth-*: stored as given; check_oauth() judges them together. */
static int handle_oauth(struct options *o, int c, const char *arg)
{
	struct probe_config *cfg = &o->cfg;
	char err[256];
	struct http_url u;

	switch (c) {
	case OPT_OAUTH_TOKEN_URL:
		if (http_url_parse(arg, &u, err, sizeof(err)) < 0)
			return fail(o, "--oauth-token-url: %s", err);
		cfg->oauth_token_url = arg;
		break;
	case OPT_OAUTH_CLIENT_ID:
		if (!*arg || strlen(arg) > 1000)
			return fail(o, "--oauth-client-id: empty or too long");
		cfg->oauth_client_id = arg;
		break;
	case OPT_OAUTH_CLIENT_SECRET_FILE:
		cfg->oauth_client_secret_file = arg;
		break;
	case OPT_OAUTH_CLIENT_SECRET_ENV:
		cfg->oauth_client_secret_env = arg;
		break;
	case OPT_OAUTH_SCOPE:
		if (strlen(arg) > 1000)
			return fail(o, "--oauth-scope: too long");
		cfg->oauth_scope = arg;
		break;
	case OPT_OAUTH_REFRESH_TOKEN_FILE:
		cfg->oauth_refresh_token_file = arg;
		break;
	case OPT_OAUTH_CLIENT_AUTH:
		if (!strcmp(arg, "post") || !strcmp(arg, "basic"))
			cfg->oauth_client_auth = !strcmp(arg, "basic");
		else
			return fail(o, "--oauth-client-auth %s: choices are post and basic", arg);
		break;
	default:
		return fail(o, "unknown option");
	}
	return OPTIONS_OK;
}

/* The --oauth-* options as a whole; local problems are UNKNOWN here,
 * before anything goes on the wire. */
static int check_oauth(struct options *o)
{
	const struct probe_config *cfg = &o->cfg;
	const struct sasl_mech *m = cfg->auth == AUTH_SASL ? sasl_find(cfg->auth_mech) : NULL;

	if (!cfg->oauth_token_url) {
		if (cfg->oauth_client_id || cfg->oauth_client_secret_file || cfg->oauth_client_secret_env ||
		    cfg->oauth_scope || cfg->oauth_refresh_token_file)
			return fail(o, "--oauth-* options need --oauth-token-url");
		return OPTIONS_OK;
	}
	if (!cfg->oauth_client_id)
		return fail(o, "--oauth-token-url needs --oauth-client-id");
	if (o->token_buf)
		return fail(o, "--token-file and --oauth-token-url exclude each other");
	if (!cfg->oauth_client_secret_file && !cfg->oauth_client_secret_env && !cfg->oauth_refresh_token_file)
		return fail(o, "--oauth-token-url needs --oauth-client-secret-file or --oauth-client-secret-env "
			    "(client credentials), or --oauth-refresh-token-file");
	if (cfg->oauth_client_secret_file && cfg->oauth_client_secret_env)
		return fail(o, "--oauth-client-secret-file and --oauth-client-secret-env exclude each other");
	if (cfg->auth != AUTH_AUTO && !(m && (m->flags & SASL_F_TOKEN)))
		return fail(o, "--oauth-token-url is for --auth xoauth2, oauthbearer or auto, not %s",
			    probe_auth_name(cfg));
	if (!cfg->username)
		return fail(o, "--oauth-token-url needs the mailbox user name (-U)");
	if (cfg->password)
		return fail(o, "--oauth-token-url and a password exclude each other");
	return OPTIONS_OK;
}

static int handle(struct options *o, int c, const char *arg)
{
	struct probe_config *cfg = &o->cfg;
	unsigned long v;
	char *s;

	switch (c) {
	case 'H':
		if (!*arg)
			return fail(o, "-H: empty host name");
		cfg->host = arg;
		break;
	case 'p':
		if (parse_uint(arg, 65535, &v) < 0 || v == 0)
			return fail(o, "-p %s: port must be a number from 1 to 65535", arg);
		cfg->port = (unsigned)v;
		break;
	case '4':
		cfg->family = AF_INET;
		break;
	case '6':
		cfg->family = AF_INET6;
		break;
	case 't':
		return parse_timeout(o, arg);
	case 'S':
		cfg->tls = TLSMODE_IMPLICIT;
		break;
	case OPT_STARTTLS:
		cfg->tls = TLSMODE_STARTTLS;
		break;
	case OPT_CAFILE:
		cfg->cafile = arg;
		break;
	case OPT_CAPATH:
		cfg->capath = arg;
		break;
	case OPT_INSECURE:
		cfg->insecure = 1;
		break;
	case OPT_SNI:
		cfg->sni = arg;
		break;
	case 'D':
		return parse_cert_days(o, arg);
	case OPT_CLIENT_CERT:
		cfg->client_cert = arg;
		break;
	case OPT_CLIENT_KEY:
		cfg->client_key = arg;
		break;
	case OPT_TLS_MIN:
		if (!strcmp(arg, "1.2"))
			cfg->tls_min = 12;
		else if (!strcmp(arg, "1.3"))
			cfg->tls_min = 13;
		else
			return fail(o, "--tls-min %s: choices are 1.2 and 1.3", arg);
		break;
	case 'U':
		cfg->username = arg;
		break;
	case 'P':
		if (!(s = strdup(arg)))
			return fail(o, "out of memory");
		set_secret(&o->password_buf, s);
		break;
	case OPT_PASSWORD_FILE:
		if (!(s = read_secret_file(o, arg, "password")))
			return OPTIONS_ERROR;
		set_secret(&o->password_buf, s);
		break;
	case OPT_PASSWORD_ENV: {
		const char *e = getenv(arg);
		if (!e || !*e)
			return fail(o, "--password-env %s: variable is not set or empty", arg);
		if (!(s = strdup(e)))
			return fail(o, "out of memory");
		set_secret(&o->password_buf, s);
		break;
	}
	case OPT_AUTHZID:
		cfg->authzid = arg;
		break;
	case OPT_AUTH:
		return check_auth(o, arg);
	case OPT_TOKEN_FILE:
		if (!(s = read_secret_file(o, arg, "token")))
			return OPTIONS_ERROR;
		set_secret(&o->token_buf, s);
		break;
	case 'm':
		if (!*arg)
			return fail(o, "-m: empty mailbox name");
		if (strpbrk(arg, "\r\n"))
			return fail(o, "-m: mailbox name contains a line break");
		cfg->mailbox = arg;
		break;
	case OPT_SELECT:
		cfg->select = 1;
		break;
	case OPT_SEARCH:
		if (strpbrk(arg, "\r\n"))
			return fail(o, "--search: criteria contain a line break");
		if (!*arg)
			return fail(o, "--search: empty criteria");
		cfg->search = arg;
		break;
	case OPT_FETCH:
		if (!strcmp(arg, "none"))
			cfg->fetch = FETCH_NONE;
		else if (!strcmp(arg, "headers"))
			cfg->fetch = FETCH_HEADERS;
		else if (!strcmp(arg, "full"))
			cfg->fetch = FETCH_FULL;
		else
			return fail(o, "--fetch %s: choices are none, headers, full", arg);
		break;
	case 'w':
		return parse_range_opt(o, "-w", arg, &cfg->time.warn);
	case 'c':
		return parse_range_opt(o, "-c", arg, &cfg->time.crit);
	case 'v':
		if (cfg->verbose < 3)
			cfg->verbose++;
		break;
	case OPT_OUTPUT:
		if (!strcmp(arg, "nagios"))
			cfg->output = OUTPUT_NAGIOS;
		else if (!strcmp(arg, "json"))
			cfg->output = OUTPUT_JSON;
		else if (!strcmp(arg, "prometheus"))
			cfg->output = OUTPUT_PROMETHEUS;
		else
			return fail(o, "--output %s: choices are nagios, json, prometheus", arg);
		break;
	case OPT_NAMESPACE:
		cfg->namespace_step = 1;
		break;
	case OPT_LIST:
		cfg->list_step = 1;
		break;
	case OPT_EXPECT_FOLDER:
		if (!*arg || strpbrk(arg, "\r\n"))
			return fail(o, "--expect-folder: empty name or a line break in it");
		if (cfg->n_expect_folder >= PROBE_MAX_FOLDERS)
			return fail(o, "--expect-folder: at most %d folders", PROBE_MAX_FOLDERS);
		cfg->expect_folder[cfg->n_expect_folder++] = arg;
		cfg->list_step = 1;
		break;
	case OPT_MESSAGES_WARN:
		return parse_range_opt(o, "--messages-warning", arg, &cfg->messages.warn);
	case OPT_MESSAGES_CRIT:
		return parse_range_opt(o, "--messages-critical", arg, &cfg->messages.crit);
	case OPT_UNSEEN_WARN:
		return parse_range_opt(o, "--unseen-warning", arg, &cfg->unseen.warn);
	case OPT_UNSEEN_CRIT:
		return parse_range_opt(o, "--unseen-critical", arg, &cfg->unseen.crit);
	case OPT_MATCHED_WARN:
		return parse_range_opt(o, "--matched-warning", arg, &cfg->matched.warn);
	case OPT_MATCHED_CRIT:
		return parse_range_opt(o, "--matched-critical", arg, &cfg->matched.crit);
	case OPT_AGE_WARN:
		return parse_age(o, "--age-warning", arg, &cfg->age.warn);
	case OPT_AGE_CRIT:
		return parse_age(o, "--age-critical", arg, &cfg->age.crit);
	case OPT_AGE_OLDEST_UNSEEN:
		cfg->age_oldest_unseen = 1;
		break;
	case OPT_QUOTA:
		cfg->quota_step = 1;
		break;
	case OPT_QUOTA_WARN:
		cfg->quota_step = 1;
		return parse_range_opt(o, "--quota-warning", arg, &cfg->quota.warn);
	case OPT_QUOTA_CRIT:
		cfg->quota_step = 1;
		return parse_range_opt(o, "--quota-critical", arg, &cfg->quota.crit);
	case OPT_DELETE_MATCHED:
		cfg->delete_matched = 1;
		break;
	case OPT_APPEND:
		cfg->append = 1;
		break;
	case OPT_IDLE:
		cfg->idle = 1;
		break;
	case OPT_SCRIPT:
		cfg->script = arg;
		break;
	case OPT_PIPELINE:
		cfg->pipeline = 1;
		break;
	case OPT_CACHE_DIR:
		cfg->cache_dir = arg;   /* checked (and created) in check_config */
		break;
	case OPT_REPEAT:
		if (parse_uint(arg, 100000, &v) < 0 || v == 0)
			return fail(o, "--repeat %s: a number of sessions from 1 to 100000", arg);
		cfg->repeat = (unsigned)v;
		break;
	case OPT_INTERVAL: {
		char *end;
		errno = 0;
		double d = strtod(arg, &end);
		if (errno || *end || !(d >= 0) || d > 86400)
			return fail(o, "--interval %s: seconds between sessions, 0 to 86400", arg);
		cfg->interval_s = d;
		break;
	}
	case OPT_TOTAL_TIMEOUT:
		if (parse_seconds(arg, &cfg->total_timeout_s) < 0)
			return fail(o, "--total-timeout %s: seconds > 0 (up to 86400) that a --repeat run may take", arg);
		break;
	case OPT_AVAIL_WARN:
		return parse_range_opt(o, "--availability-warning", arg, &cfg->availability.warn);
	case OPT_AVAIL_CRIT:
		return parse_range_opt(o, "--availability-critical", arg, &cfg->availability.crit);
	case OPT_DELIVER_VIA:
		if (!*arg || strpbrk(arg, " \t\r\n"))
			return fail(o, "--deliver-via: empty host name or a blank in it");
		cfg->deliver_via = arg;
		break;
	case OPT_SMTP_PORT:
		if (parse_uint(arg, 65535, &v) < 0 || v == 0)
			return fail(o, "--smtp-port %s: port must be a number from 1 to 65535", arg);
		cfg->smtp_port = (unsigned)v;
		break;
	case OPT_SMTP_STARTTLS:
		cfg->smtp_tls = TLSMODE_STARTTLS;
		break;
	case OPT_SMTP_SSL:
		cfg->smtp_tls = TLSMODE_IMPLICIT;
		break;
	case OPT_SMTP_USER:
		if (!*arg)
			return fail(o, "--smtp-user: empty user name");
		cfg->smtp_user = arg;
		break;
	case OPT_SMTP_PASSWORD_FILE:
		if (!(s = read_secret_file(o, arg, "SMTP password")))
			return OPTIONS_ERROR;
		set_secret(&o->smtp_password_buf, s);
		break;
	case OPT_SMTP_PASSWORD_ENV: {
		const char *e = getenv(arg);
		if (!e || !*e)
			return fail(o, "--smtp-password-env %s: variable is not set or empty", arg);
		if (!(s = strdup(e)))
			return fail(o, "out of memory");
		set_secret(&o->smtp_password_buf, s);
		break;
	}
	case OPT_SMTP_AUTH:
		return check_smtp_auth(o, arg);
	case OPT_MAIL_FROM:
		if (smtp_addr_check(arg, 0) != SMTP_ENC_OK)
			return fail(o, "--mail-from: not a usable address (printable ASCII, no blanks or <>)");
		cfg->mail_from = arg;
		break;
	case OPT_RCPT_TO:
		if (smtp_addr_check(arg, 0) != SMTP_ENC_OK)
			return fail(o, "--rcpt-to: not a usable address (printable ASCII, no blanks or <>)");
		cfg->rcpt_to = arg;
		break;
	case OPT_DELIVERY_WARN:
		return parse_age(o, "--delivery-warning", arg, &cfg->delivery.warn);
	case OPT_DELIVERY_CRIT:
		return parse_age(o, "--delivery-critical", arg, &cfg->delivery.crit);
	case OPT_DELIVERY_POLL: {
		char *end;
		errno = 0;
		double d = strtod(arg, &end);
		if (errno || *end || !(d >= 0.001) || d > 60)
			return fail(o, "--delivery-poll %s: seconds between NOOPs, 0.001 to 60", arg);
		cfg->delivery_poll_s = d;
		break;
	}
	default:
		return handle_oauth(o, c, arg);
	}
	return OPTIONS_OK;
}

static int check_config(struct options *o)
{
	struct probe_config *cfg = &o->cfg;

	if (!cfg->host)
		return fail(o, "no host given (-H HOST)");
	if (!cfg->port)
		cfg->port = cfg->tls == TLSMODE_IMPLICIT ? 993 : 143;
	cfg->password = o->password_buf;
	if (!cfg->availability.warn.set)
		range_parse("100:", &cfg->availability.warn, o->err, sizeof(o->err));
	if (!cfg->availability.crit.set)
		range_parse("@0:0", &cfg->availability.crit, o->err, sizeof(o->err));
	if (cfg->interval_s > 0 && cfg->repeat < 2)
		return fail(o, "--interval needs --repeat N (N > 1)");
	cfg->token = o->token_buf;
	if (check_oauth(o) != OPTIONS_OK)
		return OPTIONS_ERROR;
	/* a token from --token-file, or one the oauth_token step fetches */
	int has_token = cfg->token || cfg->oauth_token_url;

	/* what the mechanism needs, from its flags (sasl.h) */
	const char *a = probe_auth_name(cfg);
	enum auth_mode mode = cfg->auth;
	const struct sasl_mech *m = mode == AUTH_SASL ? sasl_find(cfg->auth_mech) : NULL;
	unsigned needs = m ? m->flags : 0;
	int wants_password = mode == AUTH_LOGIN || (needs & SASL_F_PASSWORD);
	if (cfg->authzid && (mode == AUTH_LOGIN || (m && !(needs & SASL_F_AUTHZID))))
		return fail(o, "--auth %s cannot carry an authorization identity (--authzid): use plain, "
			    "scram-sha-256, scram-sha-1, external or oauthbearer (or auto)", a);
	if (mode == AUTH_ALL && (!cfg->username || (!cfg->password && !has_token && !cfg->client_cert)))
		return fail(o, "--auth all needs a user name (-U) and a password or token");
	if (wants_password && !cfg->username)
		return fail(o, "--auth %s needs a user name (-U)", a);
	if (wants_password && !cfg->password)
		return fail(o, "--auth %s needs a password (--password-file, --password-env or -P)", a);
	if ((needs & SASL_F_TOKEN) && (!has_token || !cfg->username))
		return fail(o, "--auth %s needs a user name (-U) and a token (--token-file)", a);
	if ((needs & SASL_F_CLIENTCERT) && !cfg->client_cert)
		return fail(o, "--auth external needs a client certificate (--client-cert)");
	if (mode == AUTH_AUTO && cfg->username && !cfg->password && !has_token && !cfg->client_cert)
		return fail(o, "-U given without a password or token (--password-file, --password-env, -P or --token-file)");
	if (cfg->authzid && !cfg->username && !(needs & SASL_F_CLIENTCERT))
		return fail(o, "--authzid needs a user name (-U) to authenticate as");
	if ((cfg->client_cert != NULL) != (cfg->client_key != NULL))
		return fail(o, "--client-cert and --client-key go together");
	if (cfg->tls == TLSMODE_NONE && !cfg->deliver_via &&
	    (cfg->client_cert || cfg->cafile || cfg->capath || cfg->sni || cfg->insecure || cfg->cert_days_set ||
	     cfg->tls_min))
		return fail(o, "TLS options given without --ssl or --starttls");
	if (check_delivery(o) != OPTIONS_OK)
		return OPTIONS_ERROR;
	/* last: it may create the directory, which a bad option must not do */
	if (cfg->cache_dir) {
		char why[512];
		if (capcache_dir_prepare(cfg->cache_dir, why, sizeof(why)) < 0)
			return fail(o, "%s", why);
	}
	return OPTIONS_OK;
}

int options_parse(struct options *o, int argc, char **argv, struct sbuf *out)
{
	int c;

	memset(o, 0, sizeof(*o));
	probe_config_defaults(&o->cfg);
	/* ini-file options go in front of the command line, which wins */
	if (extra_opts_expand(&o->eo, argc, argv, "check_imap_session", o->err, sizeof(o->err)) < 0)
		return OPTIONS_ERROR;
	argc = o->eo.argc;
	argv = o->eo.argv;
	opterr = 0;
	optind = 1;
	while ((c = getopt_long(argc, argv, short_opts, long_opts, NULL)) != -1) {
		if (c == 'h') {
			options_help(out);
			return OPTIONS_EXIT;
		}
		if (c == 'V') {
			sb_printf(out, "check_imap_session %s (%s)\n", PACKAGE_VERSION, tls_backend_version());
			return OPTIONS_EXIT;
		}
		if (c == '?' || c == ':') {
			const char *bad = argv[optind - 1];
			if (optopt && optopt < 256)
				return fail(o, "option -%c needs an argument or is unknown", optopt);
			/* never echo a value: "--pasword=secret" is a typo with a secret */
			return fail(o, "unknown option or missing argument: %.*s", bad ? (int)strcspn(bad, "=") : 1,
				    bad ? bad : "?");
		}
		int r = handle(o, c, optarg);
		if (r != OPTIONS_OK)
			return r;
	}
	if (optind < argc)
		return fail(o, "unexpected argument number %d (not shown: it may be a secret); options start with -",
			    optind);
	return check_config(o);
}

void options_free(struct options *o)
{
	set_secret(&o->password_buf, NULL);
	set_secret(&o->token_buf, NULL);
	set_secret(&o->smtp_password_buf, NULL);
	o->cfg.smtp_password = NULL;
	o->cfg.password = NULL;
	o->cfg.token = NULL;
	extra_opts_free(&o->eo);
}
