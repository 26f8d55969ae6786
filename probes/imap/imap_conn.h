/* imap_conn.h - an IMAP client connection: generated tags, sending
 * commands (with literals), reading responses until a tagged completion,
 * capability tracking, BYE handling, and pipelining.  Commands are built
 * with encode.h, capabilities parsed by caps.h, the trace rendered by
 * trace.h.
 *
 * All I/O goes through a struct transport (transport.h) and obeys the one
 * deadline given in imap_conn_set_deadline().  Untagged responses are
 * handed to the registered handler as they arrive; CAPABILITY data and
 * [CAPABILITY ...] codes update the capability set before the handler
 * sees them.
 *
 * Errors: functions returning int give 0 on success and -1 on failure;
 * then imap_conn_err() tells the kind and imap_conn_errmsg() a readable,
 * sanitized message (server words included, never a secret).  TIMEOUT,
 * EOF, IO, BYE, LIMIT and PROTOCOL errors found while reading or writing
 * are sticky: the byte stream can no longer be trusted, so every later
 * call fails at once with the same error.  LOCAL errors (a bad command)
 * and a handler's imap_conn_fail() leave the connection usable.
 *
 * Timing: a command's sent_ns is taken just before its first byte is
 * written; done_ns is the time the read that delivered the last byte of
 * its tagged response returned (not the time the caller got round to
 * parsing it), so pipelined commands each get their own completion time. */
#ifndef CIS_IMAP_CONN_H
#define CIS_IMAP_CONN_H

#include <stddef.h>
#include <stdint.h>

#include "imap/caps.h"
#include "imap/encode.h"
#include "imap/imap_parse.h"
#include "net/transport.h"
#include "util/util.h"

/* ---------------------------------------------------------------- commands */

struct imap_conn;

/* Start a command with verb ("LOGIN", "UID SEARCH"...), encoded for what
 * conn allows: literals are {n} or {n+} by its LITERAL+/LITERAL-
 * capabilities at this moment, quoted strings carry UTF-8 once it
 * ENABLEd UTF8=ACCEPT or IMAP4rev2 (imap_cmd_begin in encode.h).  conn may
 * be NULL (then only synchronizing literals and no 8-bit quoted strings).
 * A synchronizing literal makes imap_conn_send() wait for the server's
 * "+" before sending its bytes. */
void imap_cmd_init(struct imap_cmd *cmd, const struct imap_conn *conn, const char *verb);

/* ---------------------------------------------------------------- connection */

enum imap_err {
	IMAP_E_NONE = 0,
	IMAP_E_TIMEOUT,     /* deadline passed */
	IMAP_E_EOF,         /* server closed the connection */
	IMAP_E_IO,          /* transport error */
	IMAP_E_PROTOCOL,    /* unparseable or unexpected response, unknown tag */
	IMAP_E_LIMIT,       /* a size/count limit was exceeded */
	IMAP_E_BYE,         /* server sent BYE (outside LOGOUT) and closed */
	IMAP_E_LOCAL,       /* bad command (e.g. CR/LF in user input), ENOMEM */
};

/* Called for every untagged response (after capability bookkeeping) and
 * for a continuation that no command is waiting for.  Return 0 to go on,
 * -1 to abort the wait with IMAP_E_PROTOCOL (set a message with
 * imap_conn_fail()). */
typedef int (*imap_untagged_fn)(void *ud, struct imap_conn *c, const struct imap_response *r);

/* Trace sink: dir "C" or "S", one line without CRLF, secrets redacted. */
typedef void (*imap_trace_fn)(void *ud, const char *dir, const char *line, size_t len);

struct imap_conn_opts {
	struct imap_limits limits;   /* each zero field: the parser default */
	unsigned max_untagged;       /* per command; 0: default 100 000 */
	imap_trace_fn trace;
	void *trace_ud;
};

struct imap_result {
	enum imap_status status;     /* OK/NO/BAD; IMAP_ST_NONE if no tagged
	                                response arrived */
	char tag[16];
	char code[32];               /* response code name, "" if none */
	char code_arg[256];          /* raw, truncated */
	char text[512];              /* human text (raw, truncated; sanitize
	                                before output) */
	int64_t sent_ns;             /* when the command was sent */
	int64_t done_ns;             /* when its tagged response arrived */
	unsigned untagged;           /* untagged responses while it ran */
};

#define IMAP_CONN_MAX_INFLIGHT 16   /* outstanding commands (pipelining) */
#define IMAP_CONN_INBUF 16384       /* bytes read per transport read */

/* Takes ownership of t.  opts may be NULL (all defaults).  Returns NULL on
 * ENOMEM. */
struct imap_conn *imap_conn_new(struct transport *t, const struct imap_conn_opts *opts);
void imap_conn_free(struct imap_conn *c);    /* closes the transport */

void imap_conn_set_deadline(struct imap_conn *c, int64_t deadline_ns);
void imap_conn_set_handler(struct imap_conn *c, imap_untagged_fn fn, void *ud);

/* The transport in use (for STARTTLS: take it, wrap it, put it back).
 * replace does not close the old transport (the new one took it over);
 * the connection owns the new one. */
struct transport *imap_conn_transport(struct imap_conn *c);
void imap_conn_replace_transport(struct imap_conn *c, struct transport *t);
/* Bytes received but not yet parsed: must be 0 right after the tagged OK
 * to STARTTLS (anything else is an injection attempt). */
size_t imap_conn_buffered(const struct imap_conn *c);

struct imap_caps *imap_conn_caps(struct imap_conn *c);
/* Forget all capabilities (after STARTTLS). */
void imap_conn_caps_reset(struct imap_conn *c);
/* How many capability lists the server has sent on this connection (in a
 * greeting, a response code or a CAPABILITY response): a list that arrived
 * after some point shows as a different number. */
unsigned imap_conn_caps_gen(const struct imap_conn *c);

/* Quoted strings may carry UTF-8 (the server accepted ENABLE UTF8=ACCEPT
 * or IMAP4rev2).  Set automatically when an untagged "ENABLED" response
 * lists one of them; commands built afterwards use it. */
void imap_conn_set_utf8(struct imap_conn *c, int on);
int imap_conn_utf8(const struct imap_conn *c);

/* Read the greeting: an untagged OK, PREAUTH or BYE.  Capabilities in it
 * are recorded.  res->status gets the status; text/code copied into res.
 * A BYE greeting returns 0 with status IMAP_ST_BYE (the caller decides).
 * Anything else (tagged, continuation, data, garbage) is IMAP_E_PROTOCOL
 * with a sanitized excerpt of what the server sent. */
int imap_conn_greeting(struct imap_conn *c, struct imap_result *res);

/* Send a command (tag assigned here) and return at once; *id names it for
 * imap_conn_wait().  Synchronizing literals wait for "+" (bounded by the
 * deadline); responses arriving meanwhile are handled as in wait, and if
 * the server answers the command itself with a tagged NO/BAD instead of
 * "+", the rest is not sent and 0 is returned (wait gives the result).
 * Several commands may be outstanding (pipelining, at most
 * IMAP_CONN_MAX_INFLIGHT).  Queued commands and this one (up to its first
 * synchronizing literal) go out in one write.  A bad command fails with
 * IMAP_E_LOCAL ("LOGIN: argument contains CR/LF or NUL"), nothing sent. */
int imap_conn_send(struct imap_conn *c, struct imap_cmd *cmd, unsigned *id);

/* Queue a command's bytes without writing them yet (pipelining: the next
 * imap_conn_send/flush writes everything in one go).  Not allowed for
 * commands with synchronizing literals. */
int imap_conn_queue(struct imap_conn *c, struct imap_cmd *cmd, unsigned *id);
int imap_conn_flush(struct imap_conn *c);

/* Read responses until the command `id` completes; untagged ones go to the
 * handler; tagged responses for other outstanding commands are recorded
 * for their own wait.  Fills res.  Returns 0 when a tagged response
 * arrived (whatever its status), -1 on error.  After imap_conn_expect_bye,
 * BYE followed by EOF also returns 0, with res->status IMAP_ST_NONE and
 * the BYE text in res->text.  The id is released when wait returns 0.
 * Errors: TIMEOUT, EOF, IO, BYE, PROTOCOL (unknown tag, unexpected
 * continuation, unparseable response, handler said no), LIMIT (more than
 * max_untagged untagged responses, or a parser limit), LOCAL (bad id). */
int imap_conn_wait(struct imap_conn *c, unsigned id, struct imap_result *res);

/* send + wait. */
int imap_conn_command(struct imap_conn *c, struct imap_cmd *cmd, struct imap_result *res);

/* Low level, for AUTHENTICATE and IDLE: read the next response of any
 * kind (untagged ones also go through capability bookkeeping but NOT to
 * the handler).  *r is valid until the next read.  Queued commands are
 * flushed first.  A tagged response completes its command as in wait (an
 * unknown tag is IMAP_E_PROTOCOL): imap_conn_wait(id) afterwards returns
 * its result at once; if nobody waits, its slot is reused when needed. */
int imap_conn_read(struct imap_conn *c, const struct imap_response **r);
/* Write one raw line (CRLF added; queued commands go first, in the same
 * write).  A line with CR, LF or NUL is refused (IMAP_E_LOCAL).
 * secret: trace shows "<redacted>". */
int imap_conn_write_line(struct imap_conn *c, const char *line, size_t len, int secret);
/* The tag of the last command sent or queued ("" if none; for matching in
 * low-level loops).  Tags are "a1", "a2", ... */
const char *imap_conn_last_tag(const struct imap_conn *c);

/* Mark the connection as expecting BYE (LOGOUT): BYE then EOF is not an
 * error. */
void imap_conn_expect_bye(struct imap_conn *c);

enum imap_err imap_conn_err(const struct imap_conn *c);
const char *imap_conn_errmsg(const struct imap_conn *c);
/* Set an error from a handler. */
void imap_conn_fail(struct imap_conn *c, enum imap_err e, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));
/* Text of a BYE seen on this connection ("" if none). */
const char *imap_conn_bye_text(const struct imap_conn *c);
/* Number of times a read had to wait for the server (round-trip count),
 * summed over every transport the connection used. */
unsigned imap_conn_waits(const struct imap_conn *c);

#endif
