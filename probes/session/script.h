/* script.h - the --script FILE language: a user-written list of IMAP
 * commands run after login, each as its own timed step.
 *
 * Format (documented for users in README.md, "Scripts"):
 *
 *   # a comment (first non-blank character '#'); blank lines are ignored
 *   [NAME:] [expect STATUS[,STATUS]] COMMAND [ARGUMENTS]
 *
 *   NAME      the step name, also its perfdata label: a letter, then up to
 *             23 letters, digits, '_' or '-', then ':' and a blank.  Names
 *             of the probe's own steps and counters (examine, fetch,
 *             messages, time, ...) are reserved; a name may appear once.
 *             Default: "script_" + the command verb in lower case
 *             ("script_select", "script_uid_fetch"), with "_2", "_3"...
 *             when a verb repeats.
 *   expect    the tagged status(es) that make the step pass: OK (the
 *             default), NO, BAD, or a comma-separated list ("expect NO,BAD").
 *   COMMAND   the IMAP command without a tag.  Outside double quotes it is
 *             sent exactly as written (tabs become spaces); it must be
 *             printable ASCII.  "..." is a string, with the escapes \" \\
 *             \r \n \t: it is sent quoted when it can be and as a literal
 *             ({n} / {n+}, the probe handles the continuation) when it holds
 *             CR, LF or (unless the server enabled UTF-8) 8-bit bytes; so a
 *             CR or LF can never end the command early.  m"..." is a
 *             mailbox name in UTF-8, sent in modified UTF-7 (m"Entwürfe" ->
 *             "Entw&APw-rfe").  A literal written by hand ({5}) is refused.
 *
 * Refused commands (the probe drives them itself, or they need a
 * continuation dialogue a script cannot express): LOGIN, AUTHENTICATE,
 * STARTTLS, LOGOUT, IDLE, COMPRESS.
 *
 * Limits: SCRIPT_MAX_BYTES per file, SCRIPT_MAX_LINE bytes per line,
 * SCRIPT_MAX_COMMANDS commands.
 *
 * The parser is pure (text in, struct out, no I/O); script_build turns a
 * parsed command into an imap_cmd for the connection at hand (quoting and
 * literal choice depend on its capabilities). */
#ifndef CIS_SCRIPT_H
#define CIS_SCRIPT_H

#include <stddef.h>

#include "imap/imap_conn.h"

#define SCRIPT_MAX_BYTES    (64 * 1024)
#define SCRIPT_MAX_LINE     8192
#define SCRIPT_MAX_COMMANDS 20

enum script_part_kind {
	SCRIPT_RAW,         /* bytes sent verbatim */
	SCRIPT_STRING,      /* a string: quoted or literal */
	SCRIPT_MAILBOX,     /* a UTF-8 mailbox name: modified UTF-7, quoted */
};

struct script_part {
	int kind;           /* enum script_part_kind */
	size_t off, len;    /* bytes in struct script.pool */
};

/* Bits of struct script_cmd.expect */
#define SCRIPT_EXPECT_OK  1u
#define SCRIPT_EXPECT_NO  2u
#define SCRIPT_EXPECT_BAD 4u

struct script_cmd {
	unsigned line;          /* line number in the file (1-based) */
	char name[32];          /* step name */
	char verb[32];          /* "SELECT", "UID FETCH": for messages */
	unsigned expect;        /* SCRIPT_EXPECT_* bits; never 0 */
	size_t first_part, nparts;
};

struct script {
	unsigned ncmds;
	struct script_cmd cmd[SCRIPT_MAX_COMMANDS];
	struct script_part *parts;   /* owned */
	size_t nparts, parts_cap;
	char *pool;                  /* owned */
	size_t pool_len, pool_cap;
};

/* Parse a whole script.  `where` names the file in messages.  Returns a
 * new script (free with script_free), or NULL with a one-line message in
 * err: "FILE line N: what is wrong" (or "FILE: ..." for file-wide limits). */
struct script *script_parse(const char *text, size_t len, const char *where, char *err, size_t errlen);
void script_free(struct script *scr);

/* Parse one command line (no label, no expect prefix) into parts appended
 * to scr: used for --search criteria too.  Returns 0, or -1 with a message
 * (without file/line) in err.  *first and *nparts get the parts added;
 * *eightbit (may be NULL) is set when a string holds an 8-bit byte. */
int script_parse_args(struct script *scr, const char *s, size_t n, size_t *first, size_t *nparts,
		      int *eightbit, char *err, size_t errlen);

/* An empty script to hold parts from script_parse_args; NULL on ENOMEM. */
struct script *script_new(void);

/* Build the command: imap_cmd_init(cmd, conn, verb) is done here; the
 * command text is the parts, encoded for conn's capabilities.  The
 * caller runs and frees cmd.  A part that cannot be encoded marks the
 * command bad (imap_conn_send then refuses it). */
void script_build(const struct script *scr, const struct script_cmd *sc, const struct imap_conn *conn,
		  struct imap_cmd *cmd);
/* Append parts [first, first+n) to an existing command, after a space. */
void script_append_parts(const struct script *scr, size_t first, size_t n, struct imap_cmd *cmd);

/* 1 if name is a step or perfdata name the probe itself uses. */
int script_name_reserved(const char *name);

#endif
