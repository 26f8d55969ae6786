/* encode.h - IMAP command encoding (RFC 3501/9051): the text of one
 * command after its tag, built part by part into a struct imap_cmd.
 *
 * Pure: no I/O, no clock; the only allocation is the command's own
 * buffer.  The connection (imap_conn.h) sends a built command: it adds
 * the tag and the final CRLF and pauses at each synchronizing literal
 * until the server's "+".
 *
 * Naming: imap_cmd_add_X appends a space and then X; imap_cmd_put_X
 * appends X alone (for callers that write their own spacing, as --script
 * does).  X says what is appended:
 *   text     bytes verbatim (one or more tokens: "RETURN (MIN) UNSEEN");
 *            CR, LF or NUL marks the command bad
 *   astring  an atom when every byte is an ATOM-CHAR (not one of
 *            (){ %*"\] , not CTL, not 8-bit, not empty, not "NIL"), else
 *            as a string
 *   string   a quoted string (\ and " escaped) when it has no CR, LF, NUL
 *            and (unless the command allows UTF-8 and the bytes are valid
 *            UTF-8) no 8-bit byte; else a literal
 *   mailbox  a UTF-8 name in modified UTF-7, as a string
 *   literal  {n}CRLF + the bytes: non-synchronizing {n+} with LITERAL+, or
 *            with LITERAL- up to IMAP_LITERAL_MINUS_MAX bytes; else
 *            synchronizing (its offset recorded in sync_at)
 * A secret part (the whole literal, header included, for a literal) is
 * recorded as a byte range; the trace shows it as "<redacted>".  The
 * buffer is wiped by imap_cmd_free(). */
#ifndef CIS_IMAP_ENCODE_H
#define CIS_IMAP_ENCODE_H

#include <stddef.h>

#include "util/util.h"

#define IMAP_CMD_MAX_LITERALS 8
#define IMAP_CMD_MAX_SECRETS  8
#define IMAP_CMD_MAX_BYTES    (1u << 20)  /* text after the tag, literals included */
#define IMAP_LITERAL_MINUS_MAX 4096       /* RFC 7888: LITERAL- {n+} limit */
#define IMAP_MAILBOX_MAX      1024        /* imap_cmd_put_mailbox: bytes, NUL included */

/* Why a command is bad (struct imap_cmd.bad); imap_conn_send/queue refuse
 * a bad command with IMAP_E_LOCAL. */
enum imap_cmd_bad {
	IMAP_CMD_OK = 0,
	IMAP_CMD_BAD_CRLF,      /* CR, LF or NUL in a non-literal part */
	IMAP_CMD_BAD_TOO_MANY,  /* more than IMAP_CMD_MAX_LITERALS synchronizing
	                           literals or IMAP_CMD_MAX_SECRETS secrets */
	IMAP_CMD_BAD_TOO_LONG,  /* longer than IMAP_CMD_MAX_BYTES, or ENOMEM */
};

/* What the server lets a command use (imap_cmd_begin flags). */
enum imap_enc_flags {
	IMAP_ENC_LITERAL_PLUS  = 1u << 0,  /* LITERAL+: every literal {n+} */
	IMAP_ENC_LITERAL_MINUS = 1u << 1,  /* LITERAL-: {n+} up to 4096 bytes */
	IMAP_ENC_UTF8          = 1u << 2,  /* UTF8=ACCEPT / IMAP4rev2 enabled:
	                                      quoted strings may hold UTF-8 */
};

/* A command being built: text after the tag, without the final CRLF. */
struct imap_cmd {
	struct sbuf sb;                 /* owned; freed by imap_cmd_free */
	int nonsync_ok;                 /* LITERAL+ */
	int nonsync_small;              /* LITERAL- (up to 4096 bytes) */
	unsigned nsync;                 /* offsets where sending pauses */
	size_t sync_at[IMAP_CMD_MAX_LITERALS];
	unsigned nsecret;               /* byte ranges to redact in traces */
	struct { size_t off, len; } secret[IMAP_CMD_MAX_SECRETS];
	int bad;                        /* enum imap_cmd_bad: a part could
	                                   not be encoded */
	char name[32];                  /* the verb, for messages ("LOGIN") */
	int utf8_ok;                    /* quoted strings may carry UTF-8
	                                   (UTF8=ACCEPT / IMAP4rev2 enabled) */
};

/* Start a command with verb ("LOGIN", "UID SEARCH"; "" for none) and the
 * enum imap_enc_flags the server allows.  (imap_cmd_init in imap_conn.h
 * takes the flags from a connection.) */
void imap_cmd_begin(struct imap_cmd *cmd, const char *verb, unsigned enc_flags);
void imap_cmd_free(struct imap_cmd *cmd);

/* " " + s verbatim (one or more tokens); the command is marked bad if s
 * has CR, LF or NUL (user-supplied search criteria go through here). */
void imap_cmd_add_text(struct imap_cmd *cmd, const char *s);
/* " " + an astring for n bytes of s.  secret: redact in traces. */
void imap_cmd_add_astring(struct imap_cmd *cmd, const char *s, size_t n, int secret);
/* " " + a string (quoted, or a literal when it cannot be quoted). */
void imap_cmd_add_string(struct imap_cmd *cmd, const char *s, size_t n, int secret);
/* " " + a literal of n bytes. */
void imap_cmd_add_literal(struct imap_cmd *cmd, const void *data, size_t n, int secret);

/* n bytes of s verbatim, without a space before; bad on CR, LF or NUL. */
void imap_cmd_put_text(struct imap_cmd *cmd, const char *s, size_t n);
/* A string (as imap_cmd_add_string) without a space before. */
void imap_cmd_put_string(struct imap_cmd *cmd, const char *s, size_t n, int secret);

/* A mailbox name given as n bytes of UTF-8, in modified UTF-7 (utf7.h) as
 * a string, without a space before (--script's m"..."); the command is
 * marked bad (TOO_LONG) when its encoding does not fit
 * IMAP_MAILBOX_MAX - 1 bytes or it is not valid UTF-8. */
void imap_cmd_put_mailbox(struct imap_cmd *cmd, const char *utf8, size_t n);

/* 1 if s[0..n) holds a CR, LF or NUL (cannot go on a command line). */
int imap_has_crlf_nul(const char *s, size_t n);

#endif
