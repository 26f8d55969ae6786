/* session_int.h - private to the session runner (session*.c): the state
 * of one session and the step helpers every step uses. */
#ifndef CIS_SESSION_INT_H
#define CIS_SESSION_INT_H

#include <stdint.h>
#include <time.h>

#include "session/capcache.h"
#include "imap/imap_conn.h"
#include "imap/mailbox_util.h"
#include "session/probe.h"
#include "report/report.h"
#include "session/session.h"
#include "net/tls.h"

struct message_info {
	int got;
	uint32_t seq;
	uint64_t uid, size, bytes;
	int have_date;
	time_t internaldate;
	char subject[256], from[256], date[96];
	/* session_mailbox.c */
	uint64_t want_uid;          /* take FETCH data of this UID, */
	uint32_t want_seq;          /* or of this sequence number, */
	int want_newest;            /* or of the highest sequence number, */
	const struct mbx_search *want_max_of;   /* or the MAX of this search
	                               (UID FETCH $ after RETURN (SAVE MAX)) */
	int have_size, have_body;   /* RFC822.SIZE seen; a body section seen */
	int full;                   /* the whole message (BODY[]) was fetched */
	int parts;                  /* multipart: top-level parts (-1 unknown) */
	char msgid[256];            /* Message-ID (sanitized) */
	char ctype[64];             /* "multipart/mixed" */
};

#define MB_TARGETS 6

struct mailbox_state {
	int have_exists, have_recent, have_unseen, have_uidvalidity, have_uidnext;
	uint32_t exists, recent, unseen;
	uint64_t uidvalidity, uidnext;
	int read_only;
	/* session_mailbox.c: what the mailbox steps measured and found */
	int frozen;                 /* counts measured: later EXISTS/STATUS only
	                               update live_exists */
	uint32_t live_exists;       /* EXISTS minus EXPUNGEs, always tracked */
	unsigned expunged;          /* EXPUNGE responses seen */
	int have_first_unseen;      /* [UNSEEN n] in the EXAMINE reply */
	uint32_t first_unseen;
	int have_size;              /* STATUS SIZE (STATUS=SIZE) */
	uint64_t size;
	char name[1024];            /* mailbox as resolved (UTF-8) */
	char wire[1024];            /* ... in modified UTF-7 */
	struct mbx_namespace ns;
	/* LIST */
	int listing, list_done, expect_ready;
	unsigned folders;
	char special[MBX_SPECIAL_COUNT][96];
	char expect_name[PROBE_MAX_FOLDERS][256];   /* resolved --expect-folder */
	unsigned char expect_found[PROBE_MAX_FOLDERS];
	/* QUOTA */
	int quota_asked;            /* 1 asked, 2 not supported, 3 failed */
	struct mbx_quota quota;
	char quota_note[256];
	/* SEARCH */
	/* where SEARCH/ESEARCH and FETCH data of the commands in flight go
	 * (routed by ESEARCH tag, by UID or sequence number; servers may
	 * answer pipelined commands out of order) */
	struct mbx_search *search_t[MB_TARGETS];
	unsigned nsearch_t;
	struct mbx_search *search_cur;    /* plain SEARCH: the first one pending */
	struct message_info *fetch_t[MB_TARGETS];
	unsigned nfetch_t;
	int searched, searches_done, newest_done;
	struct mbx_search search;   /* --search */
	struct mbx_search unseen_search;  /* the oldest unseen, without [UNSEEN n] */
	uint64_t oldest_uid;        /* the oldest unseen message, by UID */
	uint32_t oldest_seq;        /* ... or by sequence number */
	/* age */
	int age_wanted, have_age, age_gone;
	double age;
	char age_what[128];
	/* writes */
	int deleted_set;
	unsigned deleted;
	double push_s;
	int have_push;
	/* --script */
	int script_mode;
	uint64_t script_bytes;
	unsigned script_ok;         /* script commands that passed */
};

struct script;

struct sess {
	const struct probe_config *cfg;
	const struct session_env *env;
	struct report *rep;
	int64_t deadline;
	struct imap_conn *conn;
	int encrypted;
	int tls_have;
	struct tls_info tls;
	char peer[80];
	char mech[32];              /* mechanism used, for the summary */
	struct mailbox_state mb;
	struct message_info msg;
	double cert_days;
	char cert_note[256];        /* -D threshold crossed: why */
	int have_cert_days;
	int failed;                 /* a step failed: stop */
	int timed_out;
	int greeted;                /* the greeting was read: LOGOUT makes sense */
	/* --auth all: the mechanism for this connection and its step name */
	const char *auth_mode;      /* NULL: cfg->auth */
	const char *auth_step;      /* NULL: "auth" */
	unsigned auth_ok, auth_tried;
	char cb_why[128];           /* why channel binding is unavailable */
	int cb_soft;                /* auto tries -PLUS: a refusal is not final */
	char cb_refused[512];       /* ... the server's words when it refused */
	char auth_note[640];        /* a WARNING about the login, for the summary */
	/* session_mailbox.c: parsed before the session starts */
	struct script *script;      /* --script */
	struct script *crit;        /* --search criteria as parts */
	size_t crit_first, crit_n;
	int crit_8bit;
	/* --pipeline: the login command queued to go out with the first
	 * mailbox flight (SASL-IR PLAIN/EXTERNAL, or LOGIN without a
	 * synchronizing literal); sess_auth_settle() collects its result */
	int defer_auth_ok;          /* this connection may defer its login */
	struct {
		int active;
		unsigned id;
		struct step *st;
		char cmd[64];           /* "AUTHENTICATE PLAIN" */
		char okmsg[192];        /* "PLAIN as user" */
		unsigned caps_gen;      /* imap_conn_caps_gen when it went out */
	} pa;
	int64_t auth_done_ns;       /* when the deferred login was answered */
	int login_pipelined;        /* the login went out with a flight */
	char greet[256];            /* the greeting's text (server quirks) */
	int logged_out;             /* LOGOUT went out in the last flight */
	/* --cache-dir (main connection only): the entry read at the start,
	 * the list in force when the login went out, and what the deferred
	 * login flight assumed from the entry */
	int cc_loaded;              /* cc holds this server's entry */
	struct capcache_entry cc;
	char cc_key[CAPCACHE_LIST_MAX];
	char login_caps[CAPCACHE_LIST_MAX];     /* raw list before the login */
	int login_caps_known;
	int no_assume;              /* a repeated session: do not assume */
	uint32_t assumed;           /* CAP_* flags taken from cc.after */
	uint32_t assumed_used;      /* ... that a command in flight relies on */
	int spec_stale;             /* the server refused such a command */
	/* OAuth 2 (oauth_step.c): the access token the oauth_token step got
	 * (owned, wiped by sess_oauth_release), and whether the server
	 * refused a bearer token at the login */
	char *oauth_token;
	int token_refused;
};

/* Capability flags the login flight may take from a cache entry: only
 * command selection, never anything that decides about security. */
#define CAPCACHE_ASSUMABLE (CAP_SEARCHRES | CAP_ESEARCH | CAP_STATUS_SIZE)

/* ---- step helpers (session.c) */

/* Start a step (stamped now); NULL when the report is full. */
struct step *sess_begin(struct sess *s, const char *name);
/* Finish a step successfully with a message. */
void sess_ok(struct step *st, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
/* Finish a step as failed with `state`, recording the failure summary
 * "<step> failed: <message>" and stopping the session. */
void sess_fail(struct sess *s, struct step *st, int state, const char *fmt, ...)
	__attribute__((format(printf, 4, 5)));
/* The deadline ran out inside st: the -t state, "timeout during <step>". */
void sess_timeout(struct sess *s, struct step *st);
/* The connection layer failed inside st (timeout, EOF, protocol...). */
void sess_conn_fail(struct sess *s, struct step *st, const char *what);
/* A tagged NO/BAD for command `cmd` inside st. */
void sess_result_fail(struct sess *s, struct step *st, const char *cmd, const struct imap_result *res);
/* Run a command inside st: 0 on tagged OK, -1 after recording the failure. */
int sess_command(struct sess *s, struct step *st, struct imap_cmd *cmd, struct imap_result *res);
const char *sess_step_name(const struct step *st);
const char *sess_status_word(enum imap_status st);
/* "NO [CODE arg] text" */
void sess_format_result(const struct imap_result *res, char *buf, size_t len);
/* Record an [ALERT] text in the long output. */
void sess_note_alert(struct sess *s, const char *code, const char *text);
/* Make sure capabilities are known (CAPABILITY step if needed). */
int sess_ensure_caps(struct sess *s);
/* Append ", "-separated note text (threshold explanations). */
void sess_note(struct sbuf *notes, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
/* Check v against th: raise the state and add a note when it alerts. */
void sess_check_count(struct sess *s, struct sbuf *notes, const char *what, double v,
		      const struct thresholds *th);
int do_capability(struct sess *s);

/* Connect, TLS, greeting, STARTTLS and login for s (s->conn is set as soon
 * as there is a connection, also on failure).  Returns 1 when the session
 * is authenticated (or PREAUTH), 0 when no login was wanted (--auth none,
 * no user), -1 after a failure (recorded).  Used for the main connection
 * and for the --idle second connection. */
int sess_open(struct sess *s);
/* LOGOUT when the connection is still usable (keeps s->failed as it was). */
void sess_close(struct sess *s);

/* ---- untagged data and mailbox steps (session_mailbox.c) */
/* Before connecting: check the mailbox options, parse --search criteria
 * and --script; 0, or -1 after recording an UNKNOWN failure. */
int sess_mailbox_prepare(struct sess *s);
/* Free what prepare allocated. */
void sess_mailbox_release(struct sess *s);
int sess_on_untagged(void *ud, struct imap_conn *c, const struct imap_response *r);
/* Everything after authentication: examine/select, search, fetch, ...;
 * returns -1 once a step failed (already recorded). */
int sess_mailbox_steps(struct sess *s);
/* Perfdata for the counts the mailbox steps measured. */
void sess_mailbox_perf(struct sess *s);
/* Threshold checks on those counts: raise the state, add notes. */
void sess_mailbox_thresholds(struct sess *s, struct sbuf *notes);
/* ", INBOX: 5 messages (2 unseen)" for the OK summary ("" if nothing). */
void sess_mailbox_summary(struct sess *s, char *buf, size_t len);

/* ---- authentication (session_auth.c) */
int sess_auth(struct sess *s);
/* A login deferred into the first flight (s->pa): read its result and
 * finish the auth step.  0 when nothing was pending or it succeeded, -1
 * after recording the failure (auth failed, as in the sequential mode). */
int sess_auth_settle(struct sess *s);
/* --auth all: one connection per advertised mechanism, in a stable order. */
void sess_auth_all(struct sess *s);

#endif
