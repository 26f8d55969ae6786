/* fuzz_conn.c - the connection layer (imap_conn.h) against a server that
 * sends anything: greeting, commands, literals and their continuations,
 * pipelining, an AUTHENTICATE-style low-level loop, LOGOUT and BYE.
 *
 * Input:
 *   byte 0  bits 0-2: chunking of the server's bytes (tests/fake_transport.h
 *           chunkings, modulo their number); bit 3: small limits (parser
 *           limits and 8 untagged responses per command; else 64 KiB of
 *           text and 4096 tokens per response, 100 000 untagged); bit 4: end with
 *           LOGOUT (expect BYE); bit 5: writes accepted 5 bytes at a time;
 *           bit 6: writes fail after 60 bytes; bit 7: the handler refuses
 *           untagged responses named XABORT
 *   byte 1  the client's program: four 2-bit operations, low bits first
 *           (0 NOOP, 1 LOGIN with a literal password, 2 three pipelined
 *           commands, 3 AUTHENTICATE with base64 challenges)
 *   rest    everything the server sends, then EOF.
 *
 * The script ends in EOF, so the client never waits for its deadline.
 * Invariants: the password never shows in the trace of what the client
 * sent, nor in an error message (unless the server sent it itself); trace lines have no CR/LF; error messages are printable; a
 * sticky error stays sticky. */
#include "config.h"

#include "util/base64.h"
#include "net/clock.h"
#include "fake_transport.h"
#include "fuzz_util.h"
#include "imap/imap_conn.h"

#define PASSWORD "s3cr3t-\xc3\xa9\r\nPW"   /* 8-bit and CRLF: always a literal */

static int has_secret(const char *s, size_t n)
{
	static const char needle[] = "s3cr3t";

	for (size_t i = 0; i + sizeof(needle) - 1 <= n; i++)
		if (memcmp(s + i, needle, sizeof(needle) - 1) == 0)
			return 1;
	return 0;
}

static void on_trace(void *ud, const char *dir, const char *line, size_t len)
{
	(void)ud;
	FUZZ_CHECK(dir && (!strcmp(dir, "C") || !strcmp(dir, "S")), "trace direction");
	FUZZ_CHECK(memchr(line, '\n', len) == NULL && memchr(line, '\r', len) == NULL,
		   "trace line has CR/LF");
	if (!strcmp(dir, "C"))
		FUZZ_CHECK(!has_secret(line, len), "password in trace: %.*s", (int)len, line);
}

struct fx {
	int refuse;
	int refused;      /* the handler said no: not a sticky error */
	unsigned untagged;
};

static int on_untagged(void *ud, struct imap_conn *c, const struct imap_response *r)
{
	struct fx *x = ud;

	x->untagged++;
	if (x->refuse && r->name && r->name_len == 6 && !memcmp(r->name, "XABORT", 6)) {
		imap_conn_fail(c, IMAP_E_PROTOCOL, "handler refused %.*s", (int)r->name_len, r->name);
		x->refused = 1;
		return -1;
	}
	return 0;
}

static int g_server_has_secret;  /* the server itself sent "s3cr3t" */

static void check_err(struct imap_conn *c)
{
	const char *m = imap_conn_errmsg(c);

	FUZZ_CHECK(m != NULL, "errmsg NULL");
	/* server words are quoted in messages: only a secret the server did
	 * not send itself is a leak */
	FUZZ_CHECK(g_server_has_secret || !has_secret(m, strlen(m)), "password in error message: %s", m);
	for (const char *p = m; *p; p++)
		FUZZ_CHECK((unsigned char)*p >= 0x20 && *p != 0x7f, "control byte 0x%02x in error message: %s",
			   (unsigned char)*p, m);
	const char *b = imap_conn_bye_text(c);
	FUZZ_CHECK(b != NULL, "bye text NULL");
}

static int sticky(enum imap_err e)
{
	return e != IMAP_E_NONE && e != IMAP_E_LOCAL;
}

static int op_noop(struct imap_conn *c)
{
	struct imap_cmd cmd;
	struct imap_result res;

	imap_cmd_init(&cmd, c, "NOOP");
	int rc = imap_conn_command(c, &cmd, &res);
	imap_cmd_free(&cmd);
	return rc;
}

static int op_login(struct imap_conn *c)
{
	struct imap_cmd cmd;
	struct imap_result res;

	imap_cmd_init(&cmd, c, "LOGIN");
	imap_cmd_add_astring(&cmd, "user", 4, 0);
	imap_cmd_add_astring(&cmd, PASSWORD, sizeof(PASSWORD) - 1, 1);
	int rc = imap_conn_command(c, &cmd, &res);
	imap_cmd_free(&cmd);
	return rc;
}

static int op_pipeline(struct imap_conn *c)
{
	static const char *const verbs[] = { "NOOP", "CHECK", "SELECT" };
	unsigned id[3];
	int nq = 0, rc = 0;

	for (int i = 0; i < 3; i++) {
		struct imap_cmd cmd;
		imap_cmd_init(&cmd, c, verbs[i]);
		if (i == 2)
			imap_cmd_add_string(&cmd, "INBOX", 5, 0);
		int q = imap_conn_queue(c, &cmd, &id[nq]);
		imap_cmd_free(&cmd);
		if (q < 0)
			break;
		nq++;
	}
	if (nq == 0)
		return -1;
	if (imap_conn_flush(c) < 0)
		return -1;
	/* wait out of order: the later ones' results must be kept meanwhile */
	for (int i = nq - 1; i >= 0; i--) {
		struct imap_result res;
		if (imap_conn_wait(c, id[i], &res) < 0)
			rc = -1;
	}
	return rc;
}

/* An AUTHENTICATE exchange the way the session runs it: low-level reads,
 * base64 challenges answered with a secret line. */
static int op_auth(struct imap_conn *c)
{
	struct imap_cmd cmd;
	unsigned id;
	char tag[16];

	imap_cmd_init(&cmd, c, "AUTHENTICATE");
	imap_cmd_add_text(&cmd, "X-FUZZ");
	int rc = imap_conn_send(c, &cmd, &id);
	imap_cmd_free(&cmd);
	if (rc < 0)
		return -1;
	snprintf(tag, sizeof(tag), "%s", imap_conn_last_tag(c));
	for (int rounds = 0; rounds < 8; rounds++) {
		const struct imap_response *r;
		if (imap_conn_read(c, &r) < 0)
			return -1;
		if (r->type == IMAP_RESP_UNTAGGED)
			continue;
		if (r->type == IMAP_RESP_TAGGED) {
			struct imap_result res;
			int known = r->tag_len == strlen(tag) && !memcmp(r->tag, tag, r->tag_len);
			/* the result is recorded for wait() too */
			if (known)
				return imap_conn_wait(c, id, &res);
			continue;
		}
		unsigned char chal[512];
		long n = base64_decode(r->text, r->text_len, chal, sizeof(chal));
		if (n < 0)
			return imap_conn_write_line(c, "*", 1, 0);
		char b64[64];
		static const char resp[] = "s3cr3t response";
		size_t len = base64_encode(resp, sizeof(resp) - 1, b64);
		if (imap_conn_write_line(c, b64, len, 1) < 0)
			return -1;
		/* a line with CRLF is refused, nothing sent */
		FUZZ_CHECK(imap_conn_write_line(c, "a\r\nb", 4, 0) < 0, "CRLF line accepted");
	}
	return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	if (size < 2)
		return 0;
	unsigned sel = data[0], prog = data[1];
	data += 2;
	size -= 2;
	g_server_has_secret = has_secret((const char *)data, size);

	struct fake *f = fake_new(&fake_chunkings[(sel & 7u) % fake_nchunkings]);
	if (sel & 0x20)
		fake_set_write_chunk(f, 5);
	if (sel & 0x40)
		fake_fail_write_after(f, 60);
	fake_send_n(f, data, size);
	fake_eof(f);

	/* the default limits, scaled down so each run allocates less; or
	 * small ones that the fuzzer can hit */
	struct imap_conn_opts opts = { .limits = { .max_text = 64 * 1024, .max_tokens = 4096 } };
	if (sel & 8) {
		opts.limits.max_text = 600;
		opts.limits.max_tokens = 20;
		opts.limits.max_depth = 3;
		opts.limits.max_literal = 5000;
		opts.limits.max_literal_keep = 10;
		opts.max_untagged = 8;
	}
	opts.trace = on_trace;

	struct fx x = { .refuse = (sel & 0x80) != 0 };
	struct imap_conn *c = imap_conn_new(fake_transport(f), &opts);
	FUZZ_CHECK(c != NULL, "imap_conn_new failed");
	imap_conn_set_deadline(c, clock_now_ns() + 20 * 1000000000LL);
	imap_conn_set_handler(c, on_untagged, &x);

	struct imap_result g;
	if (imap_conn_greeting(c, &g) < 0) {
		check_err(c);
		goto out;
	}
	FUZZ_CHECK(g.status == IMAP_ST_OK || g.status == IMAP_ST_PREAUTH || g.status == IMAP_ST_BYE,
		   "greeting status %d", (int)g.status);
	if (g.status == IMAP_ST_BYE)
		goto out;
	(void)imap_conn_buffered(c);

	for (int i = 0; i < 4; i++) {
		int rc = 0;
		switch ((prog >> (2 * i)) & 3u) {
		case 0: rc = op_noop(c); break;
		case 1: rc = op_login(c); break;
		case 2: rc = op_pipeline(c); break;
		case 3: rc = op_auth(c); break;
		}
		enum imap_err e = imap_conn_err(c);
		if (rc < 0) {
			check_err(c);
			if (sticky(e) && !x.refused) {
				FUZZ_CHECK(op_noop(c) < 0 && imap_conn_err(c) == e, "error %d not sticky", (int)e);
				goto out;
			}
		}
		x.refused = 0;
	}
	if (sel & 0x10) {
		struct imap_cmd cmd;
		struct imap_result res;
		imap_conn_expect_bye(c);
		imap_cmd_init(&cmd, c, "LOGOUT");
		if (imap_conn_command(c, &cmd, &res) < 0)
			check_err(c);
		imap_cmd_free(&cmd);
	}
	struct imap_caps *caps = imap_conn_caps(c);
	FUZZ_CHECK(memchr(caps->auth, '\0', sizeof(caps->auth)) && memchr(caps->raw, '\0', sizeof(caps->raw)),
		   "capability strings not terminated");
	(void)imap_caps_has_auth(caps, "PLAIN");
	(void)imap_conn_waits(c);
out:
	imap_conn_free(c);
	FUZZ_CHECK(fake_closed(f), "transport not closed");
	fake_free(f);
	return 0;
}
