/* state.h - the state of one session (one connection and what its steps
 * found), shared by the session layer's files (the .c files of session/). */
#ifndef CIS_SESSION_STATE_H
#define CIS_SESSION_STATE_H

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

/* The probe message of --append while it exists: whether the server
 * reported it expunged, by "* n EXPUNGE" for its sequence number (learnt
 * from a FETCH response carrying its UID and kept up to date as other
 * EXPUNGEs renumber the mailbox) or by a VANISHED naming its UID.  Only
 * one probe message is watched at a time, on one connection (the mailbox_state whose watch it is). */
struct probe_watch {
	uint64_t uid;
	uint32_t seq;                   /* 0: not known (any more) */
	int seq_known;                  /* it was known at some point */
	int gone;                       /* an EXPUNGE or VANISHED named it */
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
	struct probe_watch *watch;       /* the probe message watched on this
	                                     connection, or NULL */
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
struct sasl_mech;

/* What an auth step does: --auth as parsed, or (--auth all) one entry of
 * the plan. */
struct auth_choice {
	enum auth_mode mode;            /* not AUTH_ALL */
	const struct sasl_mech *mech;   /* AUTH_SASL: the mechanism */
	const char *name;               /* its --auth value, for messages */
};

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
	const struct auth_choice *auth_for;   /* NULL: cfg->auth */
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
};

/* Capability flags the login flight may take from a cache entry: only
 * command selection, never anything that decides about security. */
#define CAPCACHE_ASSUMABLE (CAP_SEARCHRES | CAP_ESEARCH | CAP_STATUS_SIZE)

/* LOGOUT gets this long for its answer (or the deadline, if sooner). */
#define LOGOUT_GRACE_NS (1000LL * 1000 * 1000)

/* --age-oldest-unseen with nothing unseen: the age is 0, and this is
 * what it is about */
#define NO_UNSEEN "no unseen message"

/* The user set an --age-* threshold. */
static inline int age_thresholds(const struct probe_config *cfg)
{
	return cfg->age.warn.set || cfg->age.crit.set;
}

#endif
