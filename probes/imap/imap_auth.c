/* imap_auth.c - the AUTHENTICATE exchange for any SASL mechanism given as a
 * callback: SASL-IR, base64 framing, continuations, "*" cancel. */
#include "config.h"
#include "imap/imap_auth.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "util/base64.h"

#define IMAP_AUTH_MAX_ROUNDS 16

/* out as base64 in a fresh buffer (NUL-terminated; *len its length, the
 * buffer's size in *cap for wiping); NULL out of memory. */
static char *b64_of(const struct sbuf *out, size_t *len, size_t *cap)
{
	*cap = base64_enc_len(out->len);
	char *b64 = malloc(*cap);
	if (b64)
		*len = base64_encode(out->data, out->len, b64);
	return b64;
}

int imap_auth_command(struct imap_cmd *cmd, struct imap_conn *c, const char *mech, const struct sbuf *initial)
{
	int inline_ir = !initial || (imap_conn_caps(c)->flags & CAP_SASL_IR);

	imap_cmd_init(cmd, c, "AUTHENTICATE");
	imap_cmd_add_text(cmd, mech);
	if (initial && inline_ir) {
		if (initial->len == 0) {
			imap_cmd_add_text(cmd, "=");
		} else {
			size_t len = 0, cap = 0;
			char *b64 = b64_of(initial, &len, &cap);
			if (!b64) {
				imap_cmd_free(cmd);
				return -1;
			}
			imap_cmd_add_astring(cmd, b64, len, 1);
			secure_zero(b64, cap);
			free(b64);
		}
	}
	snprintf(cmd->name, sizeof(cmd->name), "AUTHENTICATE %s", mech);
	return inline_ir;
}

/* Send one base64-encoded response line (redacted in traces). */
static int send_response(struct imap_conn *c, const struct sbuf *out)
{
	size_t len = 0, cap = 0;
	char *b64 = b64_of(out, &len, &cap);
	if (!b64) {
		imap_conn_fail(c, IMAP_E_LOCAL, "out of memory");
		return IMAP_AUTH_NOMEM;
	}
	int rc = imap_conn_write_line(c, b64, len, 1);
	secure_zero(b64, cap);
	free(b64);
	return rc < 0 ? IMAP_AUTH_CONN : 0;
}

/* Decode a challenge and let the mechanism answer it into out. */
static int answer(struct imap_conn *c, const struct imap_auth *a, const struct imap_response *r, struct sbuf *out)
{
	size_t cap = r->text_len + 4;
	unsigned char *chal = malloc(cap);
	long n = chal ? base64_decode(r->text, r->text_len, chal, cap) : -1;
	int rc = 0;

	sb_reset(out);
	if (!chal) {
		imap_conn_fail(c, IMAP_E_LOCAL, "out of memory");
		rc = IMAP_AUTH_NOMEM;
	} else if (n < 0) {
		rc = IMAP_AUTH_BASE64;
	} else if (a->step(a->step_ud, chal, (size_t)n, out) < 0) {
		rc = IMAP_AUTH_MECH;
	}
	free(chal);
	if (rc < 0)
		imap_conn_write_line(c, "*", 1, 0);
	return rc;
}

int imap_authenticate(struct imap_conn *c, const struct imap_auth *a, struct imap_result *res)
{
	struct imap_cmd cmd;
	struct sbuf out;
	unsigned id, rounds = 0, max = a->max_rounds ? a->max_rounds : IMAP_AUTH_MAX_ROUNDS;
	char tag[16];
	int rc;

	memset(res, 0, sizeof(*res));
	int inline_ir = imap_auth_command(&cmd, c, a->mech, a->initial);
	if (inline_ir < 0) {
		imap_conn_fail(c, IMAP_E_LOCAL, "out of memory");
		return IMAP_AUTH_NOMEM;
	}
	/* the initial response SASL-IR could not carry answers the server's
	 * first (empty) challenge */
	int initial_pending = !inline_ir;
	int sent = imap_conn_send(c, &cmd, &id);
	imap_cmd_free(&cmd);
	if (sent < 0)
		return IMAP_AUTH_SEND;
	snprintf(tag, sizeof(tag), "%s", imap_conn_last_tag(c));
	imap_conn_caps_reset(c);
	if (sb_init_alloc(&out, 8192) < 0) {
		imap_conn_fail(c, IMAP_E_LOCAL, "out of memory");
		return IMAP_AUTH_NOMEM;
	}
	for (;;) {
		const struct imap_response *r;
		if (imap_conn_read(c, &r) < 0) {
			rc = IMAP_AUTH_CONN;
			break;
		}
		if (r->type == IMAP_RESP_UNTAGGED) {
			if (a->untagged && a->untagged(a->untagged_ud, c, r) < 0) {
				rc = IMAP_AUTH_CONN;
				break;
			}
			continue;
		}
		if (r->type == IMAP_RESP_TAGGED) {
			if (r->tag_len != strlen(tag) || memcmp(r->tag, tag, r->tag_len))
				rc = IMAP_AUTH_TAG;
			else
				rc = imap_conn_wait(c, id, res) < 0 ? IMAP_AUTH_CONN : IMAP_AUTH_DONE;
			break;
		}
		/* a continuation: the next challenge */
		if (++rounds > max) {
			rc = IMAP_AUTH_ROUNDS;
			break;
		}
		const struct sbuf *resp = a->initial;
		if (!initial_pending) {
			rc = answer(c, a, r, &out);
			if (rc < 0)
				break;
			resp = &out;
		}
		initial_pending = 0;
		rc = send_response(c, resp);
		if (rc < 0)
			break;
		imap_conn_caps_reset(c);    /* a list sent mid-exchange was pre-login too */
	}
	secure_zero(out.data, out.cap);
	sb_free(&out);
	return rc;
}
