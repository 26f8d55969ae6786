/* smtp_cmd.c - SMTP command encoding: EHLO, STARTTLS, AUTH (SASL-IR, base64
 * responses, cancel), MAIL FROM / RCPT TO with address checks, the DATA
 * payload (CRLF normalisation, dot-stuffing), QUIT.  Pure. */
#include "config.h"
#include "smtp/smtp_cmd.h"

#include <string.h>

#include "util/base64.h"

const char *smtp_enc_strerror(int rc)
{
	switch (rc) {
	case SMTP_ENC_OK: return "ok";
	case SMTP_ENC_BAD_ARG: return "argument is empty or contains a character not allowed there";
	case SMTP_ENC_TOO_LONG: return "argument or command line too long";
	default: return "unknown encoding error";
	}
}

static int done(const struct sbuf *out, size_t start, size_t max)
{
	if (out->truncated || out->len - start > max)
		return SMTP_ENC_TOO_LONG;
	return SMTP_ENC_OK;
}

/* Printable ASCII without space: 0x21-0x7e. */
static int graphic(const char *s)
{
	for (; *s; s++)
		if ((unsigned char)*s < 0x21 || (unsigned char)*s > 0x7e)
			return 0;
	return 1;
}

static int simple(struct sbuf *out, const char *verb)
{
	size_t start = out->len;

	sb_puts(out, verb);
	sb_puts(out, "\r\n");
	return done(out, start, SMTP_MAX_CMD_LINE);
}

int smtp_enc_ehlo(struct sbuf *out, const char *domain)
{
	size_t start = out->len;

	if (!domain || !*domain || !graphic(domain))
		return SMTP_ENC_BAD_ARG;
	if (strlen(domain) > SMTP_MAX_DOMAIN)
		return SMTP_ENC_TOO_LONG;
	sb_puts(out, "EHLO ");
	sb_puts(out, domain);
	sb_puts(out, "\r\n");
	return done(out, start, SMTP_MAX_CMD_LINE);
}

int smtp_enc_starttls(struct sbuf *out) { return simple(out, "STARTTLS"); }
int smtp_enc_quit(struct sbuf *out) { return simple(out, "QUIT"); }
int smtp_enc_data(struct sbuf *out) { return simple(out, "DATA"); }
int smtp_enc_rset(struct sbuf *out) { return simple(out, "RSET"); }

static int mech_ok(const char *mech)
{
	size_t n = mech ? strlen(mech) : 0;

	if (n == 0 || n > 20)
		return 0;
	for (size_t i = 0; i < n; i++) {
		char c = mech[i];
		if (!((c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') ||
		      c == '-' || c == '_'))
			return 0;
	}
	return 1;
}

/* Append n bytes as base64 (in pieces of 768 input bytes: a multiple of
 * 3, so the pieces' encodings join into the whole one), or fail. */
static int put_b64(struct sbuf *out, const unsigned char *in, size_t n)
{
	char piece[1024 + 1];

	if (n > SMTP_MAX_AUTH_LINE)
		return SMTP_ENC_TOO_LONG;
	for (size_t off = 0; off < n; off += 768) {
		size_t k = n - off < 768 ? n - off : 768;
		size_t len = base64_encode(in + off, k, piece);
		sb_append(out, piece, len);
	}
	secure_zero(piece, sizeof(piece));
	return out->truncated ? SMTP_ENC_TOO_LONG : SMTP_ENC_OK;
}

int smtp_enc_auth(struct sbuf *out, const char *mech, const unsigned char *ir, size_t irlen,
		  int has_ir, size_t *secret_off)
{
	size_t start = out->len;

	if (!mech_ok(mech))
		return SMTP_ENC_BAD_ARG;
	sb_puts(out, "AUTH ");
	sb_puts(out, mech);
	if (secret_off)
		*secret_off = out->len;
	if (has_ir) {
		sb_putc(out, ' ');
		if (secret_off)
			*secret_off = out->len;
		if (irlen == 0)
			sb_putc(out, '=');
		else if (put_b64(out, ir, irlen) != SMTP_ENC_OK)
			return SMTP_ENC_TOO_LONG;
	}
	sb_puts(out, "\r\n");
	return done(out, start, SMTP_MAX_AUTH_LINE);
}

int smtp_enc_auth_response(struct sbuf *out, const unsigned char *resp, size_t len)
{
	size_t start = out->len;

	if (len && put_b64(out, resp, len) != SMTP_ENC_OK)
		return SMTP_ENC_TOO_LONG;
	sb_puts(out, "\r\n");
	return done(out, start, SMTP_MAX_AUTH_LINE);
}

int smtp_enc_auth_cancel(struct sbuf *out) { return simple(out, "*"); }

int smtp_addr_check(const char *addr, int empty_ok)
{
	if (!addr)
		return SMTP_ENC_BAD_ARG;
	if (!*addr)
		return empty_ok ? SMTP_ENC_OK : SMTP_ENC_BAD_ARG;
	if (!graphic(addr) || strpbrk(addr, "<>"))
		return SMTP_ENC_BAD_ARG;
	if (strlen(addr) > SMTP_MAX_ADDR)
		return SMTP_ENC_TOO_LONG;
	return SMTP_ENC_OK;
}

int smtp_enc_mail_from(struct sbuf *out, const char *addr, const char *params)
{
	size_t start = out->len;
	int rc = smtp_addr_check(addr, 1);

	if (rc != SMTP_ENC_OK)
		return rc;
	if (params) {
		for (const char *p = params; *p; p++)
			if ((unsigned char)*p < 0x20 || (unsigned char)*p > 0x7e)
				return SMTP_ENC_BAD_ARG;
	}
	sb_puts(out, "MAIL FROM:<");
	sb_puts(out, addr);
	sb_putc(out, '>');
	if (params && *params) {
		sb_putc(out, ' ');
		sb_puts(out, params);
	}
	sb_puts(out, "\r\n");
	return done(out, start, SMTP_MAX_CMD_LINE);
}

int smtp_enc_rcpt_to(struct sbuf *out, const char *addr)
{
	size_t start = out->len;
	int rc = smtp_addr_check(addr, 0);

	if (rc != SMTP_ENC_OK)
		return rc;
	sb_puts(out, "RCPT TO:<");
	sb_puts(out, addr);
	sb_puts(out, ">\r\n");
	return done(out, start, SMTP_MAX_CMD_LINE);
}

int smtp_enc_message(struct sbuf *out, const char *msg, size_t n)
{
	int bol = 1;   /* at the beginning of a line */

	if (n && memchr(msg, '\0', n))
		return SMTP_ENC_BAD_ARG;
	for (size_t i = 0; i < n; i++) {
		char c = msg[i];
		if (c == '\r' || c == '\n') {
			sb_puts(out, "\r\n");
			if (c == '\r' && i + 1 < n && msg[i + 1] == '\n')
				i++;
			bol = 1;
			continue;
		}
		if (bol && c == '.')
			sb_putc(out, '.');
		sb_putc(out, c);
		bol = 0;
	}
	if (!bol)
		sb_puts(out, "\r\n");
	sb_puts(out, ".\r\n");
	return out->truncated ? SMTP_ENC_TOO_LONG : SMTP_ENC_OK;
}
