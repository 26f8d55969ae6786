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

/* One message as FETCH data described it (a fetch target). */
struct message_info {
	int got;                    /* FETCH data arrived: the rest is valid */
	uint32_t seq;               /* its sequence number */
	uint64_t uid, size, bytes;  /* UID, RFC822.SIZE, body bytes fetched */
	int have_date;              /* internaldate is valid */
	time_t internaldate;
	char subject[256], from[256], date[96];     /* headers (sanitized) */
	/* which FETCH response it takes (set before the fetch goes out): */
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
 * one probe message is watched at a time, on one connection (the route
 * of its mailbox state). */
struct probe_watch {
	uint64_t uid;
	uint32_t seq;                   /* 0: not known (any more) */
	int seq_known;                  /* it was known at some point */
	int gone;                       /* an EXPUNGE or VANISHED named it */
};

#define MB_TARGETS 6

/* What the server said about the selected mailbox.  Valid once the
 * EXAMINE/SELECT flight is answered (then frozen); each have_* says
 * whether its value was sent at all. */
struct mb_counts {
	int have_exists, have_recent, have_unseen, have_uidvalidity, have_uidnext;
	uint32_t exists;            /* messages (EXISTS, or STATUS MESSAGES) */
	uint32_t recent;            /* RECENT (IMAP4rev1 servers) */
	uint32_t unseen;            /* STATUS UNSEEN: messages without \Seen */
	uint64_t uidvalidity, uidnext;      /* [UIDVALIDITY n], [UIDNEXT n] */
	int read_only;              /* [READ-ONLY]: no writes for this user */
	int frozen;                 /* the counts above are the ones measured:
	                               later EXISTS/STATUS only update
	                               live_exists */
	uint32_t live_exists;       /* EXISTS minus EXPUNGEs, always current */
	unsigned expunged;          /* EXPUNGE/VANISHED'd messages seen since
	                               the mailbox was opened */
	int have_first_unseen;      /* [UNSEEN n] in the EXAMINE reply: */
	uint32_t first_unseen;      /* the first unseen message's number */
	int have_size;              /* STATUS SIZE (STATUS=SIZE) answered: */
	uint64_t size;              /* the mailbox's size in bytes */
};

/* --list: the folders LIST returned.  Valid when done. */
struct mb_list {
	int active;                 /* a LIST is in flight: take its data */
	int done;                   /* the list step succeeded */
	int expect_ready;           /* expect_name is resolved (after NAMESPACE) */
	unsigned folders;           /* folders listed (\NonExistent not counted) */
	char special[MBX_SPECIAL_COUNT][96];        /* first folder of each
	                                               special use, or "" */
	char expect_name[PROBE_MAX_FOLDERS][256];   /* --expect-folder, resolved */
	unsigned char expect_found[PROBE_MAX_FOLDERS];  /* ... listed */
};

/* --quota: GETQUOTAROOT's answer. */
struct mb_quota {
	int asked;                  /* 0 not wanted, 1 asked (got is valid once
	                               answered), 2 not supported, 3 failed */
	struct mbx_quota got;       /* the limits and usage reported */
	char note[256];             /* why there is no quota (asked 2 or 3) */
};

/* Where the untagged data of the commands in flight goes: SEARCH/ESEARCH
 * and FETCH data are routed by ESEARCH tag, by UID or sequence number
 * (servers may answer pipelined commands out of order).  Set by the
 * flight for its whole run, empty between flights. */
struct mb_route {
	struct mbx_search *search_t[MB_TARGETS];    /* searches in flight */
	unsigned nsearch_t;
	struct mbx_search *search_cur;  /* plain SEARCH: the first one pending */
	struct message_info *fetch_t[MB_TARGETS];   /* fetches in flight */
	unsigned nfetch_t;
	struct probe_watch *watch;  /* the probe message watched on this
	                               connection (--append, --idle), or NULL */
};

/* The searches: --search and the oldest unseen message. */
struct mb_find {
	int searched;               /* --search ran: search is valid */
	int searches_done;          /* the search flight is over (it may have
	                               gone with the EXAMINE, --pipeline) */
	int newest_done;            /* the newest message was fetched already */
	struct mbx_search search;   /* --search's result */
	struct mbx_search unseen_search;    /* the oldest unseen message, when
	                                       the EXAMINE did not name it */
	uint64_t oldest_uid;        /* the oldest unseen message by UID (0:
	                               none) */
	uint32_t oldest_seq;        /* ... or by sequence number ([UNSEEN n]) */
};

/* The age the --age-* thresholds look at. */
struct mb_age {
	int wanted;                 /* the options ask for an age */
	int have;                   /* value and what are valid */
	int gone;                   /* the message vanished before the fetch */
	double value;               /* seconds since its INTERNALDATE */
	char what[128];             /* which message ("newest message (UID...") */
};

/* What the write steps did. */
struct mb_writes {
	int deleted_set;            /* --delete-matched ran: deleted is valid */
	unsigned deleted;           /* messages it expunged */
	int have_push;              /* --idle saw the push: push_s is valid */
	double push_s;              /* APPEND's OK to "* n EXISTS", seconds */
};

/* The --script steps. */
struct mb_script {
	int active;                 /* a script command is running: count
	                               the literal bytes of its data */
	uint64_t bytes;             /* ... for the current command */
	unsigned ok;                /* commands that passed */
};

/* The mailbox of one connection: its name and everything the mailbox
 * steps and the untagged handler learn about it. */
struct mailbox_state {
	char name[1024];            /* mailbox as resolved (UTF-8); valid from
	                               the examine flight on */
	char wire[1024];            /* ... in modified UTF-7 */
	struct mbx_namespace ns;    /* NAMESPACE's answer (ns.have) */
	struct mb_counts count;
	struct mb_list list;
	struct mb_quota quota;
	struct mb_route route;
	struct mb_find find;
	struct mb_age age;
	struct mb_writes writes;
	struct mb_script script;
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

/* One connection and what opening it learnt. */
struct sess_link {
	struct imap_conn *conn;     /* set once connected (also when a later
	                               opening step fails); freed by its owner */
	int encrypted;              /* TLS is up on conn (implicit or STARTTLS) */
	int tls_have;               /* tls holds a handshake's facts */
	struct tls_info tls;        /* the TLS version, cipher, certificate */
	char peer[80];              /* the address connected to */
	int greeted;                /* the greeting was read: LOGOUT makes sense */
	char greet[256];            /* the greeting's text (server quirks) */
	int logged_out;             /* LOGOUT went out in the last flight */
};

/* The server certificate against -D. */
struct sess_cert {
	int have_days;              /* a certificate was checked: days is valid */
	double days;                /* days until it expires */
	char note[256];             /* -D threshold crossed: why, else "" */
};

/* A login deferred into the first flight (--pipeline): the command went
 * out queued, its answer is read by sess_auth_settle().  Valid while
 * active. */
struct sess_pending_login {
	int active;
	unsigned id;                /* imap_conn id of the command */
	struct step *st;            /* the auth step, left open */
	char cmd[64];               /* "AUTHENTICATE PLAIN" */
	char okmsg[192];            /* "PLAIN as user" */
	unsigned caps_gen;          /* imap_conn_caps_gen when it went out */
};

/* The auth step of this connection. */
struct sess_login {
	char mech[32];              /* the mechanism used ("" no login yet),
	                               for the summary */
	const struct auth_choice *choice;   /* --auth all: this connection's
	                                       choice; NULL: cfg->auth */
	const char *step;           /* --auth all: the step's name; NULL "auth" */
	unsigned ok, tried;         /* --auth all: mechanisms that worked, tried */
	char cb_why[128];           /* why channel binding is unavailable (after
	                               sess_cb_get returned 0) */
	int cb_soft;                /* auto tries -PLUS: a refusal is not final */
	char cb_refused[512];       /* ... the server's words when it refused */
	char note[640];             /* a WARNING about the login, for the summary */
	int defer_ok;               /* this connection may defer its login into
	                               the first flight (--pipeline, plain read
	                               path) */
	struct sess_pending_login pending;
	int64_t done_ns;            /* when the deferred login was answered */
	int pipelined;              /* the login went out with a flight */
};

/* --cache-dir (main connection only): the entry read at the start, the
 * list in force when the login went out, and what the deferred login's
 * flight assumed from the entry. */
struct sess_cache {
	int loaded;                 /* entry holds this server's entry */
	struct capcache_entry entry;
	char key[CAPCACHE_LIST_MAX];    /* the entry's key; "" no cache */
	char login_caps[CAPCACHE_LIST_MAX];     /* raw list before the login */
	int login_caps_known;       /* ... one was known */
	int no_assume;              /* a repeated session: do not assume */
	uint32_t assumed;           /* CAP_* flags taken from entry.after */
	uint32_t assumed_used;      /* ... that a command in flight relies on */
	int stale;                  /* the server refused such a command: the
	                               entry is stale, the session repeated */
};

/* Parsed before the session starts (prepare.c); freed after it. */
struct sess_prep {
	struct script *script;      /* --script, or NULL */
	struct script *crit;        /* --search criteria as parts, or NULL */
	size_t crit_first, crit_n;  /* ... the parts of the criteria */
	int crit_8bit;              /* ... they have 8-bit text (CHARSET UTF-8) */
};

/* One session (or the --idle second connection, reported into the main
 * session's report). */
struct sess {
	const struct probe_config *cfg;
	const struct session_env *env;
	struct report *rep;         /* where steps and results go */
	struct rt_counter *rt;      /* round trips of the whole run, every
	                               connection counts here (net/transport.h) */
	int64_t deadline;           /* CLOCK_MONOTONIC ns: everything ends here */
	int failed;                 /* a step failed: stop (per connection under
	                               --auth all) */
	int timed_out;              /* the deadline ran out inside a step */
	struct sess_link link;
	struct sess_cert cert;
	struct sess_login login;
	struct sess_cache cache;
	struct sess_prep prep;
	struct mailbox_state mb;
	struct message_info msg;    /* the newest (or newest matched) message */
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
