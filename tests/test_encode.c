/* test_encode.c - the pure encoders and decoders without a connection:
 * IMAP command encoding (imap/encode.c) and the base64 decoder variants
 * (util/base64.c: SASL, MIME, modified UTF-7). */
#include "config.h"

#include <criterion/criterion.h>
#include <stdlib.h>
#include <string.h>

#include "imap/encode.h"
#include "util/base64.h"

/* The command text as a NUL-free comparison: length and bytes. */
static void expect_text(const struct imap_cmd *cmd, const char *want, size_t wlen)
{
	cr_assert_eq(cmd->sb.len, wlen, "length %zu, want %zu: \"%.*s\"", cmd->sb.len, wlen, (int)cmd->sb.len,
		     cmd->sb.data);
	cr_assert(memcmp(cmd->sb.data, want, wlen) == 0, "got \"%.*s\", want \"%.*s\"", (int)cmd->sb.len,
		  cmd->sb.data, (int)wlen, want);
}
#define EXPECT(cmd, lit) expect_text((cmd), (lit), sizeof(lit) - 1)

/* ================================================================ begin / free */

Test(encode, begin_sets_flags_and_verb)
{
	struct imap_cmd cmd;

	imap_cmd_begin(&cmd, "UID SEARCH", 0);
	EXPECT(&cmd, "UID SEARCH");
	cr_assert_str_eq(cmd.name, "UID SEARCH");
	cr_assert_eq(cmd.bad, IMAP_CMD_OK);
	cr_assert(!cmd.nonsync_ok && !cmd.nonsync_small && !cmd.utf8_ok);
	imap_cmd_free(&cmd);

	imap_cmd_begin(&cmd, "X", IMAP_ENC_LITERAL_PLUS | IMAP_ENC_LITERAL_MINUS | IMAP_ENC_UTF8);
	cr_assert(cmd.nonsync_ok && cmd.nonsync_small && cmd.utf8_ok);
	imap_cmd_free(&cmd);
	cr_assert_eq(cmd.nsecret, 0);
	cr_assert_eq(cmd.nsync, 0);
	cr_assert_eq(cmd.sb.len, 0);

	imap_cmd_begin(&cmd, NULL, 0);
	EXPECT(&cmd, "");
	imap_cmd_free(&cmd);

	imap_cmd_begin(&cmd, "NOOP\r\na2 LOGOUT", 0);
	cr_assert_eq(cmd.bad, IMAP_CMD_BAD_CRLF, "a verb with a line break is refused");
	imap_cmd_free(&cmd);
}

/* ================================================================ text */

Test(encode, add_text_is_verbatim_and_multi_token)
{
	struct imap_cmd cmd;

	imap_cmd_begin(&cmd, "UID SEARCH", 0);
	imap_cmd_add_text(&cmd, "RETURN (MIN) UNSEEN");
	imap_cmd_add_text(&cmd, "SUBJECT \"a b\"");
	EXPECT(&cmd, "UID SEARCH RETURN (MIN) UNSEEN SUBJECT \"a b\"");
	cr_assert_eq(cmd.bad, IMAP_CMD_OK);
	imap_cmd_free(&cmd);
}

Test(encode, text_rejects_cr_lf_nul)
{
	static const char *const bad[] = { "UNSEEN\r\na2 DELETE INBOX", "UNSEEN\n", "UNSEEN\rX", "\r" };
	struct imap_cmd cmd;

	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		imap_cmd_begin(&cmd, "SEARCH", 0);
		imap_cmd_add_text(&cmd, bad[i]);
		cr_assert_eq(cmd.bad, IMAP_CMD_BAD_CRLF, "case %zu accepted", i);
		imap_cmd_free(&cmd);
	}
	imap_cmd_begin(&cmd, "SEARCH", 0);
	imap_cmd_put_text(&cmd, "A\0B", 3);
	cr_assert_eq(cmd.bad, IMAP_CMD_BAD_CRLF, "NUL accepted");
	imap_cmd_free(&cmd);

	cr_assert(imap_has_crlf_nul("a\0b", 3));
	cr_assert(imap_has_crlf_nul("a\r", 2));
	cr_assert(imap_has_crlf_nul("\nb", 2));
	cr_assert_not(imap_has_crlf_nul("a\tb \x7f\xc3\xa4", 7));
	cr_assert_not(imap_has_crlf_nul("a\r", 1), "only the n bytes count");
}

Test(encode, put_functions_add_no_space)
{
	struct imap_cmd cmd;

	imap_cmd_begin(&cmd, "", 0);
	imap_cmd_put_text(&cmd, "STORE 1 +FLAGS (", 16);
	imap_cmd_put_string(&cmd, "x y", 3, 0);
	imap_cmd_put_text(&cmd, ")", 1);
	EXPECT(&cmd, "STORE 1 +FLAGS (\"x y\")");
	imap_cmd_free(&cmd);
}

/* ================================================================ astring / string */

Test(encode, astring_atom_or_quoted)
{
	static const struct {
		const char *in, *want;
	} v[] = {
		{ "INBOX", " INBOX" },
		{ "user@example.org", " user@example.org" },
		{ "a+b-c.d/e", " a+b-c.d/e" },
		{ "", " \"\"" },
		{ "NIL", " \"NIL\"" },
		{ "nil", " \"nil\"" },
		{ "NILS", " NILS" },
		{ "a b", " \"a b\"" },
		{ "(", " \"(\"" },
		{ ")", " \")\"" },
		{ "{", " \"{\"" },
		{ "%", " \"%\"" },
		{ "*", " \"*\"" },
		{ "]", " \"]\"" },
		{ "a\tb", " \"a\tb\"" },
		{ "a\x7f", " \"a\x7f\"" },
		{ "say \"hi\"", " \"say \\\"hi\\\"\"" },
		{ "back\\slash", " \"back\\\\slash\"" },
	};
	struct imap_cmd cmd;

	for (size_t i = 0; i < sizeof(v) / sizeof(v[0]); i++) {
		imap_cmd_begin(&cmd, "", 0);
		imap_cmd_add_astring(&cmd, v[i].in, strlen(v[i].in), 0);
		cr_assert_str_eq(cmd.sb.data, v[i].want, "astring \"%s\"", v[i].in);
		cr_assert_eq(cmd.bad, IMAP_CMD_OK);
		imap_cmd_free(&cmd);
	}
}

Test(encode, string_never_an_atom_and_escapes)
{
	struct imap_cmd cmd;

	imap_cmd_begin(&cmd, "SEARCH HEADER Message-ID", 0);
	imap_cmd_add_string(&cmd, "INBOX", 5, 0);
	imap_cmd_add_string(&cmd, "a\"b\\c", 5, 0);
	imap_cmd_add_string(&cmd, "", 0, 0);
	EXPECT(&cmd, "SEARCH HEADER Message-ID \"INBOX\" \"a\\\"b\\\\c\" \"\"");
	imap_cmd_free(&cmd);
}

Test(encode, cr_lf_nul_and_8bit_become_literals)
{
	struct imap_cmd cmd;

	imap_cmd_begin(&cmd, "X", 0);
	imap_cmd_add_astring(&cmd, "a\r\nb", 4, 0);
	imap_cmd_add_string(&cmd, "a\0b", 3, 0);
	imap_cmd_add_astring(&cmd, "\xc3\xa4", 2, 0);
	EXPECT(&cmd, "X {4}\r\na\r\nb {3}\r\na\0b {2}\r\n\xc3\xa4");
	cr_assert_eq(cmd.bad, IMAP_CMD_OK, "literals are how such bytes travel");
	cr_assert_eq(cmd.nsync, 3);
	cr_assert_eq(cmd.sync_at[0], strlen("X {4}\r\n"));
	imap_cmd_free(&cmd);

	/* UTF-8 allowed: valid UTF-8 is quoted (never an atom), invalid is not */
	imap_cmd_begin(&cmd, "X", IMAP_ENC_UTF8);
	imap_cmd_add_astring(&cmd, "Entw\xc3\xbcrfe", 9, 0);
	imap_cmd_add_string(&cmd, "\xc3(", 2, 0);
	imap_cmd_add_string(&cmd, "\xed\xa0\x80", 3, 0);   /* a surrogate */
	EXPECT(&cmd, "X \"Entw\xc3\xbcrfe\" {2}\r\n\xc3( {3}\r\n\xed\xa0\x80");
	imap_cmd_free(&cmd);
}

/* ================================================================ literals */

Test(encode, literal_synchronizing_without_capabilities)
{
	struct imap_cmd cmd;

	imap_cmd_begin(&cmd, "APPEND INBOX", 0);
	imap_cmd_add_literal(&cmd, "abc", 3, 0);
	EXPECT(&cmd, "APPEND INBOX {3}\r\nabc");
	cr_assert_eq(cmd.nsync, 1);
	cr_assert_eq(cmd.sync_at[0], strlen("APPEND INBOX {3}\r\n"), "sending pauses before the bytes");
	imap_cmd_add_literal(&cmd, "", 0, 0);
	EXPECT(&cmd, "APPEND INBOX {3}\r\nabc {0}\r\n");
	cr_assert_eq(cmd.nsync, 2);
	imap_cmd_free(&cmd);
}

Test(encode, literal_plus_and_minus_at_4096)
{
	static char big[IMAP_LITERAL_MINUS_MAX + 2];
	struct imap_cmd cmd;

	cr_assert_eq(IMAP_LITERAL_MINUS_MAX, 4096);
	memset(big, 'x', sizeof(big));

	/* LITERAL-: non-synchronizing up to 4096 bytes, not one more */
	imap_cmd_begin(&cmd, "A", IMAP_ENC_LITERAL_MINUS);
	imap_cmd_add_literal(&cmd, big, 4095, 0);
	imap_cmd_add_literal(&cmd, big, 4096, 0);
	cr_assert_eq(cmd.nsync, 0);
	cr_assert(strncmp(cmd.sb.data, "A {4095+}\r\n", 11) == 0);
	cr_assert(memmem(cmd.sb.data, cmd.sb.len, " {4096+}\r\n", 10) != NULL);
	imap_cmd_add_literal(&cmd, big, 4097, 0);
	cr_assert(memmem(cmd.sb.data, cmd.sb.len, " {4097}\r\n", 9) != NULL);
	cr_assert_eq(cmd.nsync, 1);
	cr_assert_eq(cmd.sync_at[0], cmd.sb.len - 4097);
	imap_cmd_free(&cmd);

	/* LITERAL+: every size non-synchronizing (with or without LITERAL-) */
	for (unsigned f = 0; f < 2; f++) {
		imap_cmd_begin(&cmd, "A", IMAP_ENC_LITERAL_PLUS | (f ? IMAP_ENC_LITERAL_MINUS : 0));
		imap_cmd_add_literal(&cmd, big, 4097, 0);
		cr_assert(strncmp(cmd.sb.data, "A {4097+}\r\n", 11) == 0, "flags %u", f);
		cr_assert_eq(cmd.nsync, 0);
		imap_cmd_free(&cmd);
	}

	/* strings that need a literal follow the same rule */
	big[0] = '\n';
	imap_cmd_begin(&cmd, "A", IMAP_ENC_LITERAL_MINUS);
	imap_cmd_add_string(&cmd, big, 4096, 0);
	imap_cmd_put_string(&cmd, big, 4097, 0);
	cr_assert(strncmp(cmd.sb.data, "A {4096+}\r\n\n", 12) == 0);
	cr_assert(memmem(cmd.sb.data, cmd.sb.len, "x{4097}\r\n\n", 10) != NULL);
	cr_assert_eq(cmd.nsync, 1);
	imap_cmd_free(&cmd);
}

Test(encode, too_many_literals_or_secrets_and_too_long)
{
	struct imap_cmd cmd;

	imap_cmd_begin(&cmd, "X", 0);
	for (int i = 0; i < IMAP_CMD_MAX_LITERALS; i++)
		imap_cmd_add_literal(&cmd, "a", 1, 0);
	cr_assert_eq(cmd.bad, IMAP_CMD_OK, "%d synchronizing literals fit", IMAP_CMD_MAX_LITERALS);
	imap_cmd_add_literal(&cmd, "a", 1, 0);
	cr_assert_eq(cmd.bad, IMAP_CMD_BAD_TOO_MANY);
	imap_cmd_free(&cmd);

	imap_cmd_begin(&cmd, "X", IMAP_ENC_LITERAL_PLUS);
	for (int i = 0; i <= IMAP_CMD_MAX_LITERALS; i++)
		imap_cmd_add_literal(&cmd, "a", 1, 0);
	cr_assert_eq(cmd.bad, IMAP_CMD_OK, "non-synchronizing literals are not counted");
	imap_cmd_free(&cmd);

	imap_cmd_begin(&cmd, "X", 0);
	for (int i = 0; i < IMAP_CMD_MAX_SECRETS; i++)
		imap_cmd_add_astring(&cmd, "s", 1, 1);
	cr_assert_eq(cmd.bad, IMAP_CMD_OK);
	imap_cmd_add_astring(&cmd, "s", 1, 1);
	cr_assert_eq(cmd.bad, IMAP_CMD_BAD_TOO_MANY, "a secret that cannot be redacted is refused");
	imap_cmd_free(&cmd);

	char *huge = malloc(IMAP_CMD_MAX_BYTES);
	cr_assert_not_null(huge);
	memset(huge, 'a', IMAP_CMD_MAX_BYTES);
	imap_cmd_begin(&cmd, "", 0);
	imap_cmd_put_text(&cmd, huge, IMAP_CMD_MAX_BYTES);
	cr_assert_eq(cmd.bad, IMAP_CMD_OK, "exactly IMAP_CMD_MAX_BYTES fit");
	imap_cmd_put_text(&cmd, "a", 1);
	cr_assert_eq(cmd.bad, IMAP_CMD_BAD_TOO_LONG);
	imap_cmd_free(&cmd);
	free(huge);
}

Test(encode, first_reason_sticks)
{
	struct imap_cmd cmd;

	imap_cmd_begin(&cmd, "X", 0);
	imap_cmd_add_text(&cmd, "a\r\n");
	for (int i = 0; i <= IMAP_CMD_MAX_LITERALS; i++)
		imap_cmd_add_literal(&cmd, "a", 1, 0);
	cr_assert_eq(cmd.bad, IMAP_CMD_BAD_CRLF);
	imap_cmd_free(&cmd);
}

/* ================================================================ secrets */

Test(encode, secret_ranges)
{
	struct imap_cmd cmd;

	imap_cmd_begin(&cmd, "LOGIN", 0);
	imap_cmd_add_astring(&cmd, "user", 4, 0);
	imap_cmd_add_astring(&cmd, "pa ss", 5, 1);
	imap_cmd_add_literal(&cmd, "s3cr3t", 6, 1);
	EXPECT(&cmd, "LOGIN user \"pa ss\" {6}\r\ns3cr3t");
	cr_assert_eq(cmd.nsecret, 2);
	cr_assert_eq(cmd.secret[0].off, strlen("LOGIN user "));
	cr_assert_eq(cmd.secret[0].len, strlen("\"pa ss\""), "the quotes belong to the secret");
	cr_assert_eq(cmd.secret[1].off, strlen("LOGIN user \"pa ss\" "));
	cr_assert_eq(cmd.secret[1].len, strlen("{6}\r\ns3cr3t"), "a literal's header too");
	imap_cmd_free(&cmd);
	cr_assert_eq(cmd.nsecret, 0);
}

/* ================================================================ mailbox */

Test(encode, put_mailbox_in_modified_utf7)
{
	struct imap_cmd cmd;
	char name[IMAP_MAILBOX_MAX + 1];

	imap_cmd_begin(&cmd, "", 0);
	imap_cmd_put_text(&cmd, "SELECT ", 7);
	imap_cmd_put_mailbox(&cmd, "Entw\xc3\xbcrfe", 9);
	imap_cmd_put_text(&cmd, " ", 1);
	imap_cmd_put_mailbox(&cmd, "A&B", 3);
	imap_cmd_put_text(&cmd, " ", 1);
	imap_cmd_put_mailbox(&cmd, "INBOX", 5);
	EXPECT(&cmd, "SELECT \"Entw&APw-rfe\" \"A&-B\" \"INBOX\"");
	cr_assert_eq(cmd.bad, IMAP_CMD_OK);
	imap_cmd_free(&cmd);

	imap_cmd_begin(&cmd, "", 0);
	imap_cmd_put_mailbox(&cmd, "\xc3(", 2);
	cr_assert_eq(cmd.bad, IMAP_CMD_BAD_TOO_LONG, "invalid UTF-8 cannot be encoded");
	imap_cmd_free(&cmd);

	memset(name, 'a', sizeof(name));
	imap_cmd_begin(&cmd, "", 0);
	imap_cmd_put_mailbox(&cmd, name, IMAP_MAILBOX_MAX - 1);
	cr_assert_eq(cmd.bad, IMAP_CMD_OK);
	imap_cmd_put_mailbox(&cmd, name, IMAP_MAILBOX_MAX);
	cr_assert_eq(cmd.bad, IMAP_CMD_BAD_TOO_LONG);
	imap_cmd_free(&cmd);
}

/* ================================================================ base64 variants */

struct b64case {
	const char *in;
	long want;              /* -1: refused */
	const char *bytes;      /* the decoded bytes when want > 0 */
};

static void b64_cases(const struct b64case *c, size_t n, unsigned flags, const char *what)
{
	for (size_t i = 0; i < n; i++) {
		unsigned char out[64];
		long got = base64_decode_ex(c[i].in, strlen(c[i].in), out, sizeof(out), flags);
		cr_assert_eq(got, c[i].want, "%s: \"%s\" gave %ld, want %ld", what, c[i].in, got, c[i].want);
		if (got > 0)
			cr_assert(memcmp(out, c[i].bytes, (size_t)got) == 0, "%s: \"%s\" bytes", what, c[i].in);
	}
}

Test(base64_variants, padded_default)
{
	static const struct b64case c[] = {
		{ "", 0, "" },
		{ "Zm9v", 3, "foo" },
		{ "Zg==", 1, "f" },
		{ "Zm8=", 2, "fo" },
		{ "Zh==", 1, "f" },             /* non-zero unused bits are tolerated */
		{ "//79", 3, "\xff\xfe\xfd" },
		{ "Zg", -1, NULL },             /* padding required */
		{ "Zg=", -1, NULL },
		{ "Zg===", -1, NULL },
		{ "Z===", -1, NULL },
		{ "====", -1, NULL },
		{ "Zm9v====", -1, NULL },
		{ "Zm=v", -1, NULL },           /* '=' only at the end */
		{ "Zm9v Zg==", -1, NULL },      /* no whitespace */
		{ "Zm9,", -1, NULL },           /* ',' is not standard */
	};
	b64_cases(c, sizeof(c) / sizeof(c[0]), 0, "padded");
	unsigned char out[2];
	cr_assert_eq(base64_decode("Zm9v", 4, out, 2), -1, "output too small");
	cr_assert_eq(base64_decode("Zg==", 4, out, 1), 1);
	cr_assert_eq(base64_decode("Zm9v", 4, NULL, 0), -1);
}

Test(base64_variants, mime_padding_optional)
{
	static const struct b64case c[] = {
		{ "", 0, "" },
		{ "Zg", 1, "f" },
		{ "Zg=", 1, "f" },
		{ "Zg==", 1, "f" },
		{ "Zg=====", 1, "f" },
		{ "Zm8", 2, "fo" },
		{ "Zm9vYg", 4, "foob" },
		{ "Z", -1, NULL },              /* a lone character is no byte */
		{ "Zm9vY", -1, NULL },
		{ "Zm=v", -1, NULL },
		{ "not*base64", -1, NULL },
		{ "Zm9,", -1, NULL },
	};
	b64_cases(c, sizeof(c) / sizeof(c[0]), BASE64_PAD_OPTIONAL, "MIME");
	unsigned char out[1];
	cr_assert_eq(base64_decode_ex("Zm8", 3, out, 1, BASE64_PAD_OPTIONAL), -1, "output too small");
}

Test(base64_variants, modified_utf7_runs)
{
	static const struct b64case c[] = {
		{ "", 0, "" },
		{ "AOQ", 2, "\x00\xe4" },               /* U+00E4 */
		{ "AOQA5A", 4, "\x00\xe4\x00\xe4" },
		{ "2D3eAA", 4, "\xd8\x3d\xde\x00" },   /* a surrogate pair's units */
		{ "+,+,", 3, "\xfb\xff\xbf" },          /* ',' is 63 */
		{ "//79", -1, NULL },                   /* '/' is not */
		{ "AOQ=", -1, NULL },                   /* no padding at all */
		{ "AOR", -1, NULL },                    /* unused bits must be zero */
		{ "A", -1, NULL },
		{ "AOQA5", -1, NULL },                  /* lone character */
		{ "AO-", -1, NULL },
	};
	b64_cases(c, sizeof(c) / sizeof(c[0]), BASE64_MUTF7, "mUTF-7");
}

Test(base64_variants, flags_combine)
{
	unsigned char out[8];

	/* the padded default tolerates non-zero unused bits, strict does not */
	cr_assert_eq(base64_decode_ex("AOR=", 4, out, sizeof(out), 0), 2);
	cr_assert_eq(base64_decode_ex("AOR=", 4, out, sizeof(out), BASE64_STRICT_BITS), -1);
	cr_assert_eq(base64_decode_ex("AOQ=", 4, out, sizeof(out), BASE64_STRICT_BITS), 2);
	/* the modified alphabet alone still takes padding */
	cr_assert_eq(base64_decode_ex("+,8=", 4, out, sizeof(out), BASE64_ALPHA_MUTF7), 2);
	cr_assert_eq(out[0], 0xfb);
	cr_assert_eq(out[1], 0xff);
	/* no padding: the length need not be a multiple of 4, '=' is refused */
	cr_assert_eq(base64_decode_ex("Zm8", 3, out, sizeof(out), BASE64_PAD_NONE), 2);
	cr_assert_eq(base64_decode_ex("Zm8=", 4, out, sizeof(out), BASE64_PAD_NONE), -1);
}
