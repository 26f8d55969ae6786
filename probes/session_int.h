/* session_int.h - private to the session runner (session*.c): the state
 * of one session and the step helpers every step uses. */
#ifndef CIS_SESSION_INT_H
#define CIS_SESSION_INT_H

#include <stdint.h>
#include <time.h>

#include "imap_conn.h"
#include "report.h"
#include "session.h"
#include "tls.h"

struct mailbox_state {
	int have_exists, have_recent, have_unseen, have_uidvalidity, have_uidnext;
	uint32_t exists, recent, unseen;
	uint64_t uidvalidity, uidnext;
	int read_only;
};

struct message_info {
	int got;
	uint32_t seq;
	uint64_t uid, size, bytes;
	int have_date;
	time_t internaldate;
	char subject[256], from[256], date[96];
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
};

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

/* ---- untagged data and mailbox steps (session_mailbox.c) */
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

#endif
