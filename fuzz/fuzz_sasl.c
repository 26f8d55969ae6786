/* fuzz_sasl.c - the SASL mechanisms' handling of server messages
 * (sasl.h): SCRAM server-first and server-final, OAuth error JSON, LOGIN
 * prompts, CRAM-MD5 challenges, and challenges where none is expected
 * (PLAIN, EXTERNAL).
 *
 * Input: byte 0 selects the mechanism (modulo the table below) and, in
 * bit 7, whether an authzid is used; the rest is the server's decoded
 * challenges separated by '\n' (so the seeds stay readable; a challenge
 * with a LF in it is a rare case the parsers must reject anyway).
 *
 * SCRAM uses a fixed client nonce (the RFC 5802/7677 one, so the RFC
 * server-first messages are valid seeds) and an iteration cap of 64, so a
 * hostile count costs no time.
 *
 * Invariants: start() and every step() return one of the three results;
 * after SASL_FAIL the output is empty and err is set; err is
 * NUL-terminated, printable and never holds the password or token. */
#include "config.h"

#include "net/clock.h"
#include "fuzz_util.h"
#include "sasl/sasl.h"
#include "util/util.h"

#define PASSWORD "pencil"
#define TOKEN "vF9dft4qmTc2Nvb3RlckBhbHRhdmlzdGEuY29tCg"

struct mech_case {
	const struct sasl_mech *mech;
	int cb;   /* give channel binding data */
};

static const struct mech_case cases[] = {
	{ &sasl_scram_sha1, 0 },
	{ &sasl_scram_sha256, 0 },
	{ &sasl_scram_sha256_plus, 1 },
	{ &sasl_scram_sha1, 1 },        /* GS2 "y" flag */
	{ &sasl_xoauth2, 0 },
	{ &sasl_oauthbearer, 0 },
	{ &sasl_login, 0 },
	{ &sasl_cram_md5, 0 },
	{ &sasl_plain, 0 },
	{ &sasl_external, 0 },
};
#define NCASES (sizeof(cases) / sizeof(cases[0]))

static int contains(const char *hay, const char *needle)
{
	return strstr(hay, needle) != NULL;
}

/* The server may quote anything back, even a word that happens to be the
 * password: a secret in err only counts when the input did not have it. */
static int input_has(const uint8_t *d, size_t n, const char *w)
{
	size_t wl = strlen(w);

	for (size_t i = 0; i + wl <= n; i++)
		if (!memcmp(d + i, w, wl))
			return 1;
	return 0;
}

static const uint8_t *g_in;
static size_t g_inlen;

static void check_err(const struct sasl *s)
{
	FUZZ_CHECK(memchr(s->err, '\0', sizeof(s->err)) != NULL, "err not NUL-terminated");
	FUZZ_CHECK(!contains(s->err, PASSWORD) || input_has(g_in, g_inlen, PASSWORD), "password in err: %s",
		   s->err);
	FUZZ_CHECK(!contains(s->err, TOKEN) || input_has(g_in, g_inlen, TOKEN), "token in err: %s", s->err);
	for (const char *p = s->err; *p; p++)
		FUZZ_CHECK((unsigned char)*p >= 0x20 && *p != 0x7f, "control byte 0x%02x in err: %s",
			   (unsigned char)*p, s->err);
}

static void check_result(const struct sasl *s, int rc, const struct sbuf *out, const char *where)
{
	FUZZ_CHECK(rc == SASL_FAIL || rc == SASL_CONTINUE || rc == SASL_DONE, "%s returned %d", where, rc);
	FUZZ_CHECK(out->data[out->len] == '\0', "%s: output not NUL-terminated", where);
	if (rc == SASL_FAIL) {
		FUZZ_CHECK(out->len == 0, "%s: SASL_FAIL with %zu bytes to send", where, out->len);
		FUZZ_CHECK(s->err[0] != '\0', "%s: SASL_FAIL without a message", where);
	}
	check_err(s);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static const unsigned char cb[32] = { 1, 2, 3, 4, 5, 6, 7, 8 };

	if (size < 1)
		return 0;
	const struct mech_case *mc = &cases[(data[0] & 0x7f) % NCASES];
	int authz = (data[0] & 0x80) != 0;
	data++;
	size--;
	g_in = data;
	g_inlen = size;

	struct sasl_creds creds = {
		.username = "user",
		.authzid = authz ? "admin,=x" : NULL,
		.password = PASSWORD,
		.token = TOKEN,
		.host = "imap.example.org",
		.port = 993,
		.max_iterations = 64,
		.cb_type = mc->cb ? "tls-exporter" : NULL,
		.cb_data = mc->cb ? cb : NULL,
		.cb_len = mc->cb ? sizeof(cb) : 0,
	};
	struct sasl *s = sasl_new(mc->mech, &creds);
	FUZZ_CHECK(s != NULL, "sasl_new failed");
	if (s->mech->option && !strncmp(s->mech->option, "scram", 5))
		FUZZ_CHECK(sasl_scram_set_nonce(s, "fyko+d2lbbFgONRv9qkxdawL") == 0, "set nonce");

	struct sbuf out;
	FUZZ_CHECK(sb_init_alloc(&out, 8192) == 0, "sb_init_alloc");
	int has_initial = -1;
	int rc = s->mech->start(s, &out, &has_initial);
	check_result(s, rc, &out, "start");
	FUZZ_CHECK(has_initial == 0 || has_initial == 1, "has_initial %d", has_initial);

	size_t pos = 0;
	int steps = 0;
	while (rc != SASL_FAIL && pos <= size && steps < 16) {
		const uint8_t *lf = memchr(data + pos, '\n', size - pos);
		size_t len = lf ? (size_t)(lf - (data + pos)) : size - pos;

		/* an exact-size copy: an overread is caught */
		unsigned char *chal = malloc(len ? len : 1);
		FUZZ_CHECK(chal != NULL, "malloc");
		memcpy(chal, data + pos, len);
		rc = s->mech->step(s, chal, len, &out);
		free(chal);
		check_result(s, rc, &out, "step");
		steps++;
		if (!lf)
			break;
		pos += len + 1;
	}
	if (s->mech->finished)
		(void)s->mech->finished(s);
	check_err(s);
	sb_free(&out);
	sasl_free(s);
	return 0;
}
