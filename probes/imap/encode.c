/* encode.c - IMAP command encoding: text, atoms, quoted strings, literals
 * (LITERAL+/LITERAL-), secret ranges.  Pure; the rules are in encode.h. */
#include "config.h"
#include "imap/encode.h"

#include <stdio.h>
#include <string.h>

#include "imap/utf7.h"

int imap_has_crlf_nul(const char *s, size_t n)
{
	return memchr(s, '\r', n) || memchr(s, '\n', n) || memchr(s, '\0', n);
}

/* Characters that may not appear in an atom (RFC 3501 atom-specials, plus
 * ']' which is legal in an astring but not everywhere). */
static int atom_char(unsigned char ch)
{
	if (ch <= 0x20 || ch >= 0x7f)
		return 0;
	return !strchr("(){%*\"\\]", ch);
}

enum enc { ENC_ATOM, ENC_QUOTED, ENC_LITERAL };

static enum enc classify(const struct imap_cmd *cmd, const char *s, size_t n, int allow_atom)
{
	int atom = allow_atom && n > 0 && !(n == 3 && ascii_ieq(s, 3, "NIL"));
	int eight = 0;

	for (size_t i = 0; i < n; i++) {
		unsigned char ch = (unsigned char)s[i];
		if (ch == 0 || ch == '\r' || ch == '\n')
			return ENC_LITERAL;
		if (ch >= 0x80)
			eight = 1;
		if (!atom_char(ch))
			atom = 0;
	}
	if (eight && (!cmd->utf8_ok || !utf8_valid(s, n)))
		return ENC_LITERAL;
	return atom ? ENC_ATOM : ENC_QUOTED;
}

static void cmd_set_bad(struct imap_cmd *cmd, int why)
{
	if (!cmd->bad)
		cmd->bad = why;
}

static void cmd_put(struct imap_cmd *cmd, const char *s, size_t n)
{
	sb_append(&cmd->sb, s, n);
	if (cmd->sb.truncated)
		cmd_set_bad(cmd, IMAP_CMD_BAD_TOO_LONG);
}

static void cmd_secret(struct imap_cmd *cmd, size_t off)
{
	if (cmd->nsecret >= IMAP_CMD_MAX_SECRETS) {
		cmd_set_bad(cmd, IMAP_CMD_BAD_TOO_MANY);
		return;
	}
	cmd->secret[cmd->nsecret].off = off;
	cmd->secret[cmd->nsecret].len = cmd->sb.len - off;
	cmd->nsecret++;
}

void imap_cmd_begin(struct imap_cmd *cmd, const char *verb, unsigned enc_flags)
{
	memset(cmd, 0, sizeof(*cmd));
	if (sb_init_alloc(&cmd->sb, IMAP_CMD_MAX_BYTES + 1) < 0)
		cmd->bad = IMAP_CMD_BAD_TOO_LONG;
	cmd->nonsync_ok = (enc_flags & IMAP_ENC_LITERAL_PLUS) != 0;
	cmd->nonsync_small = (enc_flags & IMAP_ENC_LITERAL_MINUS) != 0;
	cmd->utf8_ok = (enc_flags & IMAP_ENC_UTF8) != 0;
	if (!verb)
		verb = "";
	strlcpy_s(cmd->name, verb, sizeof(cmd->name));
	if (imap_has_crlf_nul(verb, strlen(verb)))
		cmd_set_bad(cmd, IMAP_CMD_BAD_CRLF);
	cmd_put(cmd, verb, strlen(verb));
}

void imap_cmd_free(struct imap_cmd *cmd)
{
	sb_free(&cmd->sb);      /* wipes */
	cmd->nsecret = 0;
	cmd->nsync = 0;
}

void imap_cmd_put_text(struct imap_cmd *cmd, const char *s, size_t n)
{
	if (imap_has_crlf_nul(s, n))
		cmd_set_bad(cmd, IMAP_CMD_BAD_CRLF);
	cmd_put(cmd, s, n);
}

void imap_cmd_add_text(struct imap_cmd *cmd, const char *s)
{
	cmd_put(cmd, " ", 1);
	imap_cmd_put_text(cmd, s, strlen(s));
}

static void put_quoted(struct imap_cmd *cmd, const char *s, size_t n)
{
	size_t i = 0;

	cmd_put(cmd, "\"", 1);
	while (i < n) {
		size_t k = i;
		while (k < n && s[k] != '"' && s[k] != '\\')
			k++;
		cmd_put(cmd, s + i, k - i);
		if (k < n) {
			char esc[2] = { '\\', s[k] };
			cmd_put(cmd, esc, 2);
			k++;
		}
		i = k;
	}
	cmd_put(cmd, "\"", 1);
}

static void put_literal(struct imap_cmd *cmd, const void *data, size_t n)
{
	char hdr[32];
	int sync = !(cmd->nonsync_ok || (cmd->nonsync_small && n <= IMAP_LITERAL_MINUS_MAX));

	snprintf(hdr, sizeof(hdr), "{%zu%s}\r\n", n, sync ? "" : "+");
	cmd_put(cmd, hdr, strlen(hdr));
	if (sync) {
		if (cmd->nsync >= IMAP_CMD_MAX_LITERALS)
			cmd_set_bad(cmd, IMAP_CMD_BAD_TOO_MANY);
		else
			cmd->sync_at[cmd->nsync++] = cmd->sb.len;
	}
	cmd_put(cmd, data, n);
}

/* An astring (allow_atom) or a string, no space before. */
static void put_string(struct imap_cmd *cmd, const char *s, size_t n, int secret, int allow_atom)
{
	size_t off = cmd->sb.len;

	switch (classify(cmd, s, n, allow_atom)) {
	case ENC_ATOM:
		cmd_put(cmd, s, n);
		break;
	case ENC_QUOTED:
		put_quoted(cmd, s, n);
		break;
	default:
		put_literal(cmd, s, n);
		break;
	}
	if (secret)
		cmd_secret(cmd, off);
}

void imap_cmd_put_string(struct imap_cmd *cmd, const char *s, size_t n, int secret)
{
	put_string(cmd, s, n, secret, 0);
}

void imap_cmd_add_astring(struct imap_cmd *cmd, const char *s, size_t n, int secret)
{
	cmd_put(cmd, " ", 1);
	put_string(cmd, s, n, secret, 1);
}

void imap_cmd_add_string(struct imap_cmd *cmd, const char *s, size_t n, int secret)
{
	cmd_put(cmd, " ", 1);
	put_string(cmd, s, n, secret, 0);
}

void imap_cmd_add_literal(struct imap_cmd *cmd, const void *data, size_t n, int secret)
{
	size_t off;

	cmd_put(cmd, " ", 1);
	off = cmd->sb.len;
	put_literal(cmd, data, n);
	if (secret)
		cmd_secret(cmd, off);
}

void imap_cmd_put_mailbox(struct imap_cmd *cmd, const char *utf8, size_t n)
{
	char name[IMAP_MAILBOX_MAX], enc[IMAP_MAILBOX_MAX];

	if (n >= sizeof(name)) {
		cmd_set_bad(cmd, IMAP_CMD_BAD_TOO_LONG);
		return;
	}
	memcpy(name, utf8, n);
	name[n] = '\0';
	if (imap_utf7_encode(name, enc, sizeof(enc)) < 0) {
		cmd_set_bad(cmd, IMAP_CMD_BAD_TOO_LONG);
		return;
	}
	put_string(cmd, enc, strlen(enc), 0, 0);
}
