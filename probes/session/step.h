/* step.h - the step helpers: every session step begins, ends and fails
 * through these (the bottom of the session layer). */
#ifndef CIS_SESSION_STEP_H
#define CIS_SESSION_STEP_H

#include <stdarg.h>

#include "session/state.h"

/* Start a step (stamped now); NULL when the report is full. */
struct step *sess_begin(struct sess *s, const char *name);
/* Finish a step successfully with a message. */
void sess_ok(struct step *st, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
/* Finish a step as failed with `state`, recording the failure summary
 * "<step> failed: <message>" and stopping the session. */
void sess_fail(struct sess *s, struct step *st, int state, const char *fmt, ...)
	__attribute__((format(printf, 4, 5)));
/* Finish a step as skipped (not run, not evaluated) with a message. */
void sess_skip(struct step *st, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
/* A signal asked the run to end (session_env.stop is set). */
int sess_stopped(const struct sess *s);
/* The deadline ran out inside st: the -t state, "timeout during <step>";
 * or a signal ended the run (sess_stopped): "terminated during <step>". */
void sess_timeout(struct sess *s, struct step *st);
/* The session's connection failed inside st (timeout, EOF, protocol...). */
void sess_conn_fail(struct sess *s, struct step *st, const char *what);
/* Connection c (the main one or the --idle second one) failed inside st,
 * recorded in s's report. */
void sess_conn_fail_on(struct sess *s, struct imap_conn *c, struct step *st, const char *what);
/* A tagged NO/BAD for command `cmd` inside st. */
void sess_result_fail(struct sess *s, struct step *st, const char *cmd, const struct imap_result *res);
/* Run a command inside st: 0 on tagged OK, -1 after recording the failure. */
int sess_command(struct sess *s, struct step *st, struct imap_cmd *cmd, struct imap_result *res);
/* The step's name, "session" for none. */
const char *sess_step_name(const struct step *st);
/* "NO [CODE arg] text" */
void sess_format_result(const struct imap_result *res, char *buf, size_t len);
/* Record an [ALERT] text in the long output. */
void sess_note_alert(struct sess *s, const char *code, const char *text);
/* Give st the time from start to end (monotonic ns). */
void sess_step_span(struct step *st, int64_t start, int64_t end);
/* What a step that waits for the server leaves of the deadline for the
 * steps after it (a quarter of -t, at most 2s). */
int64_t sess_deadline_reserve(const struct sess *s);

#endif
