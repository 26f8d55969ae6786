/* fuzz_smtp.c - the SMTP layer (probes/smtp/) against a server that sends
 * anything: the reply parser fed in two chunkings that must agree, then a
 * whole client conversation over the fake transport.
 *
 * Input:
 *   byte 0  bits 0-2: chunking of the server's bytes (tests/fake_transport.h
 *           chunkings, modulo their number); bit 3: small parser limits
 *           (80-byte lines, 4 lines, 120 bytes of text); bit 4: writes
 *           accepted 5 bytes at a time; bit 5: writes fail after 60 bytes;
 *           bits 6-7: the parser's second chunking (fuzz_util.h modes 1,
 *           2, 3 or 7)
 *   byte 1  the client's program after the greeting and EHLO: three 2-bit
 *           operations, low bits first (0 STARTTLS then EHLO again, 1 AUTH
 *           PLAIN with an initial response, 2 AUTH LOGIN answering
 *           challenges, 3 MAIL, RCPT, DATA); bits 6-7: 0-1 QUIT, 2 RSET
 *           then QUIT, 3 nothing
 *   rest    what the server sends, then EOF, in segments separated by a
 *           form feed (0x0c): the first is sent at once (the greeting),
 *           each further one after the client wrote one more line end, as
 *           a server answering command by command would (unsegmented
 *           input all arrives at once: the client must refuse replies
 *           nobody asked for).  The parser runs see the input whole.
 *           A segment that ends inside a reply leaves the client waiting
 *           for the rest until its deadline (30 ms).
 *
 * Invariants: both parser runs give the same replies, codes in 200-559 and
 * texts without NUL; the password never shows in a client trace line nor
 * in an error message (unless the server sent it itself); trace lines and
 * error messages have no control bytes; a sticky error stays sticky. */
#include "config.h"

#include "fake_transport.h"
#include "fuzz_util.h"
#include "net/clock.h"
#include "smtp/smtp_conn.h"

#define PASSWORD "s3cr3t-pw"

static int has_secret(const char *s, size_t n)
{
	static const char needle[] = "s3cr3t";

	for (size_t i = 0; i + sizeof(needle) - 1 <= n; i++)
		if (memcmp(s + i, needle, sizeof(needle) - 1) == 0)
			return 1;
	return 0;
}

/* The base64 of the PLAIN message and of the password, as they go out. */
static int has_secret_b64(const char *s, size_t n)
{
	static const char *const needles[] = { "AHVzZXIAczNjcjN0LXB3", "czNjcjN0LXB3" };

	for (size_t k = 0; k < 2; k++) {
		size_t l = strlen(needles[k]);
		for (size_t i = 0; i + l <= n; i++)
			if (memcmp(s + i, needles[k], l) == 0)
				return 1;
	}
	return 0;
}

static void check_printable(const char *what, const char *s, size_t n)
{
	for (size_t i = 0; i < n; i++)
		FUZZ_CHECK((unsigned char)s[i] >= 0x20 && s[i] != 0x7f, "control byte 0x%02x in %s",
			   (unsigned char)s[i], what);
}

static void on_trace(void *ud, const char *dir, const char *line, size_t len)
{
	(void)ud;
	FUZZ_CHECK(!strcmp(dir, "C") || !strcmp(dir, "S"), "trace direction");
	check_printable("trace", line, len);
	if (!strcmp(dir, "C"))
		FUZZ_CHECK(!has_secret(line, len) && !has_secret_b64(line, len), "secret in trace: %.*s",
			   (int)len, line);
}

/* ---------------------------------------------------------------- parser */

static uint64_t parse_all(const uint8_t *data, size_t size, const struct smtp_limits *lim, unsigned mode)
{
	struct smtp_parser *p = smtp_parser_new(lim);
	struct fuzz_chunker ck;
	uint64_t h = FUZZ_FNV_INIT;
	size_t off = 0;

	FUZZ_CHECK(p != NULL, "parser_new");
	fuzz_chunker_init(&ck, mode);
	while (off < size) {
		size_t n = fuzz_chunk(&ck, size - off), used = 0;
		int rc = smtp_parser_feed(p, (const char *)data + off, n, &used);
		FUZZ_CHECK(used <= n, "used %zu of %zu", used, n);
		off += used;
		if (rc == SMTP_PARSE_NEED_MORE) {
			FUZZ_CHECK(used == n, "NEED_MORE left bytes");
			continue;
		}
		h = fuzz_fnv_u64(h, (uint64_t)off);
		if (rc == SMTP_PARSE_ERROR) {
			h = fuzz_fnv_u64(h, (uint64_t)smtp_parser_error(p));
			check_printable("parser error", smtp_parser_errmsg(p), strlen(smtp_parser_errmsg(p)));
			break;
		}
		const struct smtp_reply *r = smtp_parser_reply(p);
		FUZZ_CHECK(r && r->code >= 200 && r->code <= 559, "reply code");
		FUZZ_CHECK(r->nlines >= 1 && strlen(r->text) == r->text_len, "reply text");
		h = fuzz_fnv_u64(h, (uint64_t)r->code);
		h = fuzz_fnv(h, r->text, r->text_len);
		h = fuzz_fnv(h, r->enh, strlen(r->enh));
		char fmt[256];
		smtp_reply_format(r, fmt, sizeof(fmt));
		check_printable("formatted reply", fmt, strlen(fmt));
		struct smtp_caps caps;
		smtp_caps_parse(&caps, r);
		FUZZ_CHECK(memchr(caps.auth, '\0', sizeof(caps.auth)) && memchr(caps.raw, '\0', sizeof(caps.raw)),
			   "capability strings not terminated");
		(void)smtp_caps_has_auth(&caps, "PLAIN");
	}
	smtp_parser_free(p);
	return h;
}

/* ---------------------------------------------------------------- client */

static int plain_fn(void *ud, const unsigned char *chal, size_t len, struct sbuf *out, char *err,
		    size_t errlen)
{
	static const char m[] = "\0user\0" PASSWORD;

	(void)ud;
	(void)len;
	if (chal) {
		snprintf(err, errlen, "PLAIN takes no challenge");
		return -1;
	}
	sb_append(out, m, sizeof(m) - 1);
	return 0;
}

static int login_fn(void *ud, const unsigned char *chal, size_t len, struct sbuf *out, char *err,
		    size_t errlen)
{
	int *step = ud;

	(void)chal;
	(void)len;
	switch ((*step)++) {
	case 0: sb_puts(out, "user"); return 0;
	case 1: sb_puts(out, PASSWORD); return 0;
	default: snprintf(err, errlen, "LOGIN is over"); return -1;
	}
}

static int sticky(enum smtp_err e)
{
	return e != SMTP_E_NONE && e != SMTP_E_REPLY && e != SMTP_E_AUTH && e != SMTP_E_LOCAL;
}

static int server_has_secret;

static void check_err(struct smtp_conn *c)
{
	const char *m = smtp_conn_errmsg(c);

	check_printable("error message", m, strlen(m));
	FUZZ_CHECK(server_has_secret || !has_secret(m, strlen(m)), "password in error message: %s", m);
}

static int run_op(struct smtp_conn *c, unsigned op, struct smtp_result *res)
{
	int step = 0;

	switch (op) {
	case 0:
		if (smtp_conn_starttls(c, res) < 0)
			return -1;
		return smtp_conn_ehlo(c, "probe.test", res);
	case 1:
		return smtp_conn_auth(c, "PLAIN", 1, plain_fn, NULL, res);
	case 2:
		return smtp_conn_auth(c, "LOGIN", 0, login_fn, &step, res);
	default:
		if (smtp_conn_mail(c, "probe@example.org", NULL, res) < 0 ||
		    smtp_conn_rcpt(c, "user@example.org", res) < 0)
			return -1;
		return smtp_conn_data(c, "Subject: x\n\n.dot\n", 17, res);
	}
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static const unsigned modes2[] = { 1, 2, 3, 7 };

	if (size < 2)
		return 0;
	unsigned sel = data[0], prog = data[1];
	data += 2;
	size -= 2;
	server_has_secret = has_secret((const char *)data, size);

	struct smtp_limits lim = { 0 };
	if (sel & 8)
		lim = (struct smtp_limits){ .max_line = 80, .max_lines = 4, .max_text = 120 };
	FUZZ_CHECK(parse_all(data, size, &lim, 0) == parse_all(data, size, &lim, modes2[sel >> 6]),
		   "parser results depend on the chunking");

	struct fake *f = fake_new(&fake_chunkings[(sel & 7u) % fake_nchunkings]);
	if (sel & 0x10)
		fake_set_write_chunk(f, 5);
	if (sel & 0x20)
		fake_fail_write_after(f, 60);
	const uint8_t *seg = data, *end = data + size;
	for (int k = 0; seg <= end; k++) {
		const uint8_t *ff = memchr(seg, '\f', (size_t)(end - seg));
		size_t n = ff ? (size_t)(ff - seg) : (size_t)(end - seg);
		if (k == 0) {
			fake_send_n(f, seg, n);
		} else {
			char *part = malloc(n + 1);
			FUZZ_CHECK(part != NULL, "malloc");
			memcpy(part, seg, n);
			part[n] = '\0';     /* a NUL cuts the segment short: fine */
			fake_send_after(f, "\n", part);
			free(part);
		}
		if (!ff)
			break;
		seg = ff + 1;
	}
	fake_eof(f);
	struct smtp_conn_opts opts = { .limits = lim, .trace = on_trace };
	struct smtp_conn *c = smtp_conn_new(fake_transport(f), &opts);
	FUZZ_CHECK(c != NULL, "smtp_conn_new");
	/* a segment that does not complete a reply leaves the client reading
	 * while the next one waits for a line end it never writes: that
	 * read ends at this deadline (a timeout is a valid outcome) */
	smtp_conn_set_deadline(c, clock_now_ns() + 30 * 1000000LL);

	struct smtp_result res;
	if (smtp_conn_greeting(c, &res) < 0 || smtp_conn_ehlo(c, "probe.test", &res) < 0) {
		check_err(c);
		goto out;
	}
	for (int i = 0; i < 3; i++) {
		if (run_op(c, (prog >> (2 * i)) & 3u, &res) < 0) {
			enum smtp_err e = smtp_conn_err(c);
			check_err(c);
			FUZZ_CHECK(e != SMTP_E_NONE, "failure without an error");
			if (sticky(e)) {
				FUZZ_CHECK(smtp_conn_mail(c, "a@b", NULL, &res) < 0 && smtp_conn_err(c) == e,
					   "error %d not sticky", (int)e);
				goto out;
			}
		}
		check_printable("result text", res.text, strlen(res.text));
	}
	switch (prog >> 6) {
	case 2:
		if (smtp_conn_rset(c, &res) < 0)
			check_err(c);
		/* fall through */
	case 0:
	case 1:
		if (smtp_conn_quit(c, &res) < 0)
			check_err(c);
		break;
	default:
		break;
	}
	(void)smtp_conn_waits(c);
out:
	smtp_conn_free(c);
	FUZZ_CHECK(fake_closed(f), "transport not closed");
	fake_free(f);
	return 0;
}
