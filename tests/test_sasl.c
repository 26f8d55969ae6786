/* test_sasl.c - SASL mechanisms and the crypto backend against RFC test
 * vectors and hostile servers.  Built once per crypto backend. */
#include "config.h"

#include <criterion/criterion.h>
#include <stdio.h>
#include <string.h>

#include "net/clock.h"
#include "sasl/crypto.h"
#include "sasl/sasl.h"
#include "util/util.h"

/* ------------------------------------------------------------ harness */

struct ex {
	struct sasl *s;
	struct sbuf out;
	char mem[4096];
	int has_initial;
};

static void ex_init(struct ex *e, const struct sasl_mech *m, const struct sasl_creds *c)
{
	e->s = sasl_new(m, c);
	cr_assert_not_null(e->s);
	sb_init(&e->out, e->mem, sizeof(e->mem));
	e->has_initial = -1;
}

static void ex_done(struct ex *e)
{
	sasl_free(e->s);
}

static int ex_start(struct ex *e)
{
	return e->s->mech->start(e->s, &e->out, &e->has_initial);
}

static int ex_step_n(struct ex *e, const void *in, size_t n)
{
	return e->s->mech->step(e->s, in, n, &e->out);
}

static int ex_step(struct ex *e, const char *in)
{
	return ex_step_n(e, in, strlen(in));
}

#define assert_out(e, lit) do {                                          \
	cr_assert_eq((e)->out.len, sizeof(lit) - 1, "length %zu, want %zu: %s", \
		     (e)->out.len, sizeof(lit) - 1, (e)->out.data);       \
	cr_assert(memcmp((e)->out.data, lit, sizeof(lit) - 1) == 0,       \
		  "got %s", (e)->out.data);                               \
} while (0)

#define assert_out_str(e, str) cr_assert_str_eq((e)->out.data, str)

/* A failure: SASL_FAIL, a message containing `what`, no secret in it,
 * and nothing left to send. */
static void assert_fail(struct ex *e, int rc, const char *what)
{
	const struct sasl_creds *c = e->s->creds;

	cr_assert_eq(rc, SASL_FAIL, "rc %d, err '%s'", rc, e->s->err);
	cr_assert(strstr(e->s->err, what), "err '%s' lacks '%s'", e->s->err, what);
	if (c->password && *c->password)
		cr_assert_null(strstr(e->s->err, c->password));
	if (c->token && *c->token)
		cr_assert_null(strstr(e->s->err, c->token));
	cr_assert_eq(e->out.len, 0);
}

static void hex(const unsigned char *p, size_t n, char *out)
{
	for (size_t i = 0; i < n; i++)
		sprintf(out + 2 * i, "%02x", p[i]);
}

/* ------------------------------------------------------------ crypto */

static void check_hash(enum crypto_hash h, const char *msg, const char *want)
{
	unsigned char d[CRYPTO_MAX_HASH];
	char x[2 * CRYPTO_MAX_HASH + 1];

	cr_assert_eq(crypto_hash(h, msg, strlen(msg), d), 0);
	hex(d, crypto_hash_len(h), x);
	cr_assert_str_eq(x, want);
}

Test(crypto, hash_lengths)
{
	cr_assert_eq(crypto_hash_len(CRYPTO_MD5), 16);
	cr_assert_eq(crypto_hash_len(CRYPTO_SHA1), 20);
	cr_assert_eq(crypto_hash_len(CRYPTO_SHA256), 32);
}

Test(crypto, hash_abc)
{
	check_hash(CRYPTO_MD5, "abc", "900150983cd24fb0d6963f7d28e17f72");
	check_hash(CRYPTO_SHA1, "abc", "a9993e364706816aba3e25717850c26c9cd0d89d");
	check_hash(CRYPTO_SHA256, "abc",
		   "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
	check_hash(CRYPTO_SHA256, "",
		   "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855");
}

static void check_hmac(enum crypto_hash h, const char *key, const char *msg, const char *want)
{
	unsigned char d[CRYPTO_MAX_HASH];
	char x[2 * CRYPTO_MAX_HASH + 1];

	cr_assert_eq(crypto_hmac(h, key, strlen(key), msg, strlen(msg), d), 0);
	hex(d, crypto_hash_len(h), x);
	cr_assert_str_eq(x, want);
}

/* RFC 2202 / RFC 4231 test case 2 */
Test(crypto, hmac_jefe)
{
	const char *m = "what do ya want for nothing?";

	check_hmac(CRYPTO_MD5, "Jefe", m, "750c783e6ab0b503eaa86e310a5db738");
	check_hmac(CRYPTO_SHA1, "Jefe", m, "effcdf6ae5eb2fa2d27416d5f184df9c259a7c79");
	check_hmac(CRYPTO_SHA256, "Jefe", m,
		   "5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843");
}

Test(crypto, hmac_empty_key_and_data)
{
	check_hmac(CRYPTO_SHA256, "", "",
		   "b613679a0814d9ec772f95d778c35fc5ff1697c493715653c6c712144292c5ad");
}

Test(crypto, hmac_long_key)
{
	char key[200];

	memset(key, 'k', sizeof(key) - 1);
	key[sizeof(key) - 1] = '\0';
	/* a key longer than the block is hashed first; both paths must agree */
	unsigned char a[32], b[32];
	struct crypto_hmac_key *k = crypto_hmac_key_new(CRYPTO_SHA256, key, strlen(key));
	cr_assert_not_null(k);
	cr_assert_eq(crypto_hmac_key_mac(k, "data", 4, a), 0);
	cr_assert_eq(crypto_hmac(CRYPTO_SHA256, key, strlen(key), "data", 4, b), 0);
	cr_assert(memcmp(a, b, 32) == 0);
	crypto_hmac_key_free(k);
}

Test(crypto, keyed_hmac_is_reusable)
{
	const enum crypto_hash hs[] = { CRYPTO_MD5, CRYPTO_SHA1, CRYPTO_SHA256 };

	for (size_t i = 0; i < 3; i++) {
		struct crypto_hmac_key *k = crypto_hmac_key_new(hs[i], "Jefe", 4);
		unsigned char u[CRYPTO_MAX_HASH] = "salt", v[CRYPTO_MAX_HASH] = "salt";
		size_t hl = crypto_hash_len(hs[i]);

		cr_assert_not_null(k);
		for (int n = 0; n < 5; n++) {
			cr_assert_eq(crypto_hmac_key_mac(k, u, hl, u), 0);  /* in place */
			cr_assert_eq(crypto_hmac(hs[i], "Jefe", 4, v, hl, v), 0);
			cr_assert(memcmp(u, v, hl) == 0, "hash %zu round %d", i, n);
		}
		crypto_hmac_key_free(k);
	}
	crypto_hmac_key_free(NULL);
}

Test(crypto, keyed_hmac_empty_key)
{
	unsigned char a[32], b[32];
	struct crypto_hmac_key *k = crypto_hmac_key_new(CRYPTO_SHA256, "", 0);

	cr_assert_not_null(k);
	cr_assert_eq(crypto_hmac_key_mac(k, "", 0, a), 0);
	cr_assert_eq(crypto_hmac(CRYPTO_SHA256, "", 0, "", 0, b), 0);
	cr_assert(memcmp(a, b, 32) == 0);
	crypto_hmac_key_free(k);
}

Test(crypto, random_bytes)
{
	unsigned char a[64] = { 0 }, b[64] = { 0 }, zero[64] = { 0 };

	cr_assert_eq(crypto_random(a, sizeof(a)), 0);
	cr_assert_eq(crypto_random(b, sizeof(b)), 0);
	cr_assert(memcmp(a, b, sizeof(a)) != 0);
	cr_assert(memcmp(a, zero, sizeof(a)) != 0);
	cr_assert_eq(crypto_random(a, 0), 0);
}

Test(crypto, memeq)
{
	cr_assert(crypto_memeq("abc", "abc", 3));
	cr_assert_not(crypto_memeq("abc", "abd", 3));
	cr_assert(crypto_memeq("", "x", 0));
}

/* ------------------------------------------------------------ table */

Test(table, strongest_first)
{
	static const char *const order[] = {
		"SCRAM-SHA-256-PLUS", "SCRAM-SHA-1-PLUS", "SCRAM-SHA-256", "SCRAM-SHA-1",
		"CRAM-MD5", "OAUTHBEARER", "XOAUTH2", "PLAIN", "LOGIN", "EXTERNAL",
	};
	size_t i;

	for (i = 0; sasl_mechs[i]; i++) {
		cr_assert_lt(i, sizeof(order) / sizeof(order[0]));
		cr_assert_str_eq(sasl_mechs[i]->name, order[i]);
		if (i > 0)
			cr_assert_lt(sasl_mechs[i]->strength, sasl_mechs[i - 1]->strength);
		cr_assert_not_null(sasl_mechs[i]->start);
		cr_assert_not_null(sasl_mechs[i]->step);
		cr_assert_not_null(sasl_mechs[i]->finished);
	}
	cr_assert_eq(i, sizeof(order) / sizeof(order[0]));
}

Test(table, flags)
{
	/* SASL_F_AUTHZID: the mechanisms with a field for --authzid */
	cr_assert_eq(sasl_plain.flags, SASL_F_PASSWORD | SASL_F_PLAINTEXT | SASL_F_AUTHZID | SASL_F_DEFERRABLE);
	cr_assert_eq(sasl_login.flags, SASL_F_PASSWORD | SASL_F_PLAINTEXT);
	cr_assert_eq(sasl_cram_md5.flags, SASL_F_PASSWORD);
	cr_assert_eq(sasl_scram_sha256.flags, SASL_F_SCRAM | SASL_F_PASSWORD | SASL_F_AUTHZID);
	cr_assert_eq(sasl_scram_sha1_plus.flags, SASL_F_SCRAM | SASL_F_PASSWORD | SASL_F_CB | SASL_F_AUTHZID);
	cr_assert_eq(sasl_xoauth2.flags, SASL_F_TOKEN | SASL_F_PLAINTEXT | SASL_F_SERVERERR);
	cr_assert_eq(sasl_oauthbearer.flags, SASL_F_TOKEN | SASL_F_PLAINTEXT | SASL_F_SERVERERR | SASL_F_AUTHZID);
	cr_assert_eq(sasl_external.flags, SASL_F_CLIENTCERT | SASL_F_AUTHZID | SASL_F_DEFERRABLE);
	/* the twins: the same SCRAM hash with and without channel binding */
	cr_assert_eq(sasl_scram_sha256.twin, &sasl_scram_sha256_plus);
	cr_assert_eq(sasl_scram_sha256_plus.twin, &sasl_scram_sha256);
	cr_assert_eq(sasl_scram_sha1.twin, &sasl_scram_sha1_plus);
	cr_assert_eq(sasl_scram_sha1_plus.twin, &sasl_scram_sha1);
	cr_assert_null(sasl_plain.twin);
}

Test(table, find)
{
	cr_assert_eq(sasl_find("scram-sha-256"), &sasl_scram_sha256);
	cr_assert_eq(sasl_find("SCRAM-SHA-1-PLUS"), &sasl_scram_sha1_plus);
	cr_assert_eq(sasl_find("Cram-Md5"), &sasl_cram_md5);
	cr_assert_eq(sasl_find("auth-login"), &sasl_login);
	cr_assert_eq(sasl_find("LOGIN"), &sasl_login);      /* IMAP name */
	cr_assert_eq(sasl_find("xoauth2"), &sasl_xoauth2);
	cr_assert_eq(sasl_find("external"), &sasl_external);
	cr_assert_null(sasl_find("scram-sha-512"));
	cr_assert_null(sasl_find("scram-sha-2"));
	cr_assert_null(sasl_find(""));
	cr_assert_null(sasl_find(NULL));
}

Test(table, new_free)
{
	struct sasl_creds c = { .username = "u", .password = "p" };

	for (size_t i = 0; sasl_mechs[i]; i++) {
		struct sasl *s = sasl_new(sasl_mechs[i], &c);
		cr_assert_not_null(s);
		cr_assert_eq(s->state, 0);
		cr_assert_eq(s->err[0], '\0');
		cr_assert_not(s->mech->finished(s));
		sasl_free(s);
	}
	sasl_free(NULL);
	cr_assert_null(sasl_new(&sasl_plain, NULL));
}

/* ------------------------------------------------------------ PLAIN */

Test(plain, rfc4616_no_authzid)
{
	struct sasl_creds c = { .username = "tim", .password = "tanstaaftanstaaf" };
	struct ex e;

	ex_init(&e, &sasl_plain, &c);
	cr_assert_eq(ex_start(&e), SASL_CONTINUE);
	cr_assert_eq(e.has_initial, 1);
	assert_out(&e, "\0tim\0tanstaaftanstaaf");
	cr_assert(e.s->mech->finished(e.s));
	ex_done(&e);
}

Test(plain, rfc4616_authzid)
{
	struct sasl_creds c = { .username = "Kurt", .password = "xipj3plmq", .authzid = "Ursel" };
	struct ex e;

	ex_init(&e, &sasl_plain, &c);
	cr_assert_eq(ex_start(&e), SASL_CONTINUE);
	assert_out(&e, "Ursel\0Kurt\0xipj3plmq");
	ex_done(&e);
}

Test(plain, unexpected_challenge)
{
	struct sasl_creds c = { .username = "tim", .password = "tanstaaftanstaaf" };
	struct ex e;

	ex_init(&e, &sasl_plain, &c);
	ex_start(&e);
	assert_fail(&e, ex_step(&e, "more?"), "unexpected challenge");
	ex_done(&e);
}

Test(plain, needs_password)
{
	struct sasl_creds c = { .username = "tim" };
	struct ex e;

	ex_init(&e, &sasl_plain, &c);
	assert_fail(&e, ex_start(&e), "password");
	cr_assert_not(e.s->mech->finished(e.s));
	ex_done(&e);
}

Test(plain, overflow_is_wiped)
{
	struct sasl_creds c = { .username = "tim", .password = "tanstaaftanstaaf" };
	struct sasl *s = sasl_new(&sasl_plain, &c);
	char mem[12];
	struct sbuf out;
	int hi;

	memset(mem, 0, sizeof(mem));
	sb_init(&out, mem, sizeof(mem));
	cr_assert_eq(s->mech->start(s, &out, &hi), SASL_FAIL);
	cr_assert_eq(out.len, 0);
	for (size_t i = 0; i < sizeof(mem); i++)
		cr_assert_eq(mem[i], '\0');
	cr_assert(strstr(s->err, "does not fit"));
	sasl_free(s);
}

/* ------------------------------------------------------------ LOGIN */

Test(login, two_prompts)
{
	struct sasl_creds c = { .username = "tim", .password = "tanstaaftanstaaf" };
	struct ex e;

	ex_init(&e, &sasl_login, &c);
	cr_assert_eq(ex_start(&e), SASL_CONTINUE);
	cr_assert_eq(e.has_initial, 0);
	cr_assert_eq(e.out.len, 0);
	cr_assert_eq(ex_step(&e, "Username:"), SASL_CONTINUE);
	assert_out_str(&e, "tim");
	cr_assert_not(e.s->mech->finished(e.s));
	cr_assert_eq(ex_step(&e, "Password:"), SASL_DONE);
	assert_out_str(&e, "tanstaaftanstaaf");
	cr_assert(e.s->mech->finished(e.s));
	ex_done(&e);
}

Test(login, prompt_text_is_ignored)
{
	struct sasl_creds c = { .username = "tim", .password = "pw" };
	struct ex e;

	ex_init(&e, &sasl_login, &c);
	ex_start(&e);
	cr_assert_eq(ex_step_n(&e, "", 0), SASL_CONTINUE);
	assert_out_str(&e, "tim");
	cr_assert_eq(ex_step(&e, "User Name"), SASL_DONE);   /* second: password */
	assert_out_str(&e, "pw");
	ex_done(&e);
}

Test(login, third_challenge_fails)
{
	struct sasl_creds c = { .username = "tim", .password = "tanstaaftanstaaf" };
	struct ex e;

	ex_init(&e, &sasl_login, &c);
	ex_start(&e);
	ex_step(&e, "Username:");
	ex_step(&e, "Password:");
	assert_fail(&e, ex_step(&e, "Password:"), "third challenge");
	ex_done(&e);
}

/* ------------------------------------------------------------ CRAM-MD5 */

Test(cram, rfc2195)
{
	struct sasl_creds c = { .username = "tim", .password = "tanstaaftanstaaf" };
	struct ex e;

	ex_init(&e, &sasl_cram_md5, &c);
	cr_assert_eq(ex_start(&e), SASL_CONTINUE);
	cr_assert_eq(e.has_initial, 0);
	cr_assert_not(e.s->mech->finished(e.s));
	cr_assert_eq(ex_step(&e, "<1896.697170952@postoffice.reston.mci.net>"), SASL_DONE);
	assert_out_str(&e, "tim b913a602c7eda7a495b4e6e7334d3890");
	cr_assert(e.s->mech->finished(e.s));
	ex_done(&e);
}

Test(cram, empty_challenge)
{
	struct sasl_creds c = { .username = "tim", .password = "tanstaaftanstaaf" };
	struct ex e;

	ex_init(&e, &sasl_cram_md5, &c);
	ex_start(&e);
	assert_fail(&e, ex_step_n(&e, "", 0), "empty challenge");
	ex_done(&e);
}

Test(cram, second_challenge)
{
	struct sasl_creds c = { .username = "tim", .password = "tanstaaftanstaaf" };
	struct ex e;

	ex_init(&e, &sasl_cram_md5, &c);
	ex_start(&e);
	ex_step(&e, "<1@x>");
	assert_fail(&e, ex_step(&e, "<2@x>"), "unexpected");
	ex_done(&e);
}

/* ------------------------------------------------------------ SCRAM */

/* RFC 5802 section 5 */
#define S1_NONCE  "fyko+d2lbbFgONRv9qkxdawL"
#define S1_SFIRST "r=fyko+d2lbbFgONRv9qkxdawL3rfcNHYJY1ZVvWVs7j,s=QSXCR+Q6sek8bf92,i=4096"
#define S1_CFINAL "c=biws,r=fyko+d2lbbFgONRv9qkxdawL3rfcNHYJY1ZVvWVs7j,p=v0X8v3Bz2T0CJGbJQyF0X+HI4Ts="
#define S1_SFINAL "v=rmF9pqV8S7suAoZWja4dJRkFsKQ="
/* RFC 7677 section 3 */
#define S256_NONCE  "rOprNGfwEbeRWgbNEkqO"
#define S256_SFIRST "r=rOprNGfwEbeRWgbNEkqO%hvYDpWUa2RaTCAfuxFIlj)hNlF$k0,s=W22ZaJ0SNY7soEsUEjb6gQ==,i=4096"
#define S256_CFINAL "c=biws,r=rOprNGfwEbeRWgbNEkqO%hvYDpWUa2RaTCAfuxFIlj)hNlF$k0," \
	"p=dHzbZapWIk4jUhN+Ute9ytag9zjfMHgsqmmiz7AndVQ="
#define S256_SFINAL "v=6rriTRBi23WpRR/wtup+mMhUZUn/dB5nLTJRsjl95G4="

static const struct sasl_creds pencil = { .username = "user", .password = "pencil" };

static void scram_begin(struct ex *e, const struct sasl_mech *m, const struct sasl_creds *c,
			const char *nonce)
{
	ex_init(e, m, c);
	cr_assert_eq(sasl_scram_set_nonce(e->s, nonce), 0);
	cr_assert_eq(ex_start(e), SASL_CONTINUE, "%s", e->s->err);
	cr_assert_eq(e->has_initial, 1);
}

/* A SHA-1 exchange up to a server-first message of the test's choice. */
static int s1_first(struct ex *e, const struct sasl_creds *c, const char *sfirst)
{
	scram_begin(e, &sasl_scram_sha1, c, S1_NONCE);
	return ex_step(e, sfirst);
}

Test(scram, rfc5802_sha1)
{
	struct ex e;

	scram_begin(&e, &sasl_scram_sha1, &pencil, S1_NONCE);
	assert_out_str(&e, "n,,n=user,r=" S1_NONCE);
	cr_assert_eq(ex_step(&e, S1_SFIRST), SASL_CONTINUE, "%s", e.s->err);
	assert_out_str(&e, S1_CFINAL);
	cr_assert_not(e.s->mech->finished(e.s));
	cr_assert_eq(ex_step(&e, S1_SFINAL), SASL_DONE, "%s", e.s->err);
	cr_assert_eq(e.out.len, 0);
	cr_assert(e.s->mech->finished(e.s));
	ex_done(&e);
}

Test(scram, rfc7677_sha256)
{
	struct ex e;

	scram_begin(&e, &sasl_scram_sha256, &pencil, S256_NONCE);
	assert_out_str(&e, "n,,n=user,r=" S256_NONCE);
	cr_assert_eq(ex_step(&e, S256_SFIRST), SASL_CONTINUE, "%s", e.s->err);
	assert_out_str(&e, S256_CFINAL);
	cr_assert_eq(ex_step(&e, S256_SFINAL), SASL_DONE, "%s", e.s->err);
	cr_assert(e.s->mech->finished(e.s));
	ex_done(&e);
}

Test(scram, random_nonce)
{
	struct ex a, b;

	ex_init(&a, &sasl_scram_sha256, &pencil);
	ex_init(&b, &sasl_scram_sha256, &pencil);
	cr_assert_eq(ex_start(&a), SASL_CONTINUE);
	cr_assert_eq(ex_start(&b), SASL_CONTINUE);
	cr_assert_eq(strncmp(a.out.data, "n,,n=user,r=", 12), 0);
	const char *na = a.out.data + 12;
	cr_assert_eq(strlen(na), 32);
	for (const char *p = na; *p; p++)
		cr_assert(*p > 0x20 && *p < 0x7f && *p != ',', "bad nonce char %02x", *p);
	cr_assert_str_neq(na, b.out.data + 12);
	ex_done(&a);
	ex_done(&b);
}

Test(scram, set_nonce_validation)
{
	struct ex e;

	ex_init(&e, &sasl_scram_sha1, &pencil);
	cr_assert_eq(sasl_scram_set_nonce(e.s, "a,b"), -1);
	cr_assert_eq(sasl_scram_set_nonce(e.s, ""), -1);
	cr_assert_eq(sasl_scram_set_nonce(e.s, "sp ace"), -1);
	cr_assert_eq(sasl_scram_set_nonce(e.s, "ok"), 0);
	ex_start(&e);
	cr_assert_eq(sasl_scram_set_nonce(e.s, "late"), -1);   /* after start */
	ex_done(&e);

	ex_init(&e, &sasl_plain, &pencil);
	cr_assert_eq(sasl_scram_set_nonce(e.s, "ok"), -1);     /* not SCRAM */
	ex_done(&e);
}

Test(scram, username_escaping)
{
	struct sasl_creds c = { .username = "a,b=c", .password = "pencil" };
	struct ex e;

	scram_begin(&e, &sasl_scram_sha256, &c, "N");
	assert_out_str(&e, "n,,n=a=2Cb=3Dc,r=N");
	ex_done(&e);
}

Test(scram, authzid_escaping)
{
	struct sasl_creds c = { .username = "user", .password = "pencil", .authzid = "adm,in=" };
	struct ex e;

	scram_begin(&e, &sasl_scram_sha1, &c, "N");
	assert_out_str(&e, "n,a=adm=2Cin=3D,n=user,r=N");
	ex_done(&e);
}

/* Client can bind (cb data present) but the server offered no -PLUS:
 * "y".  c= is base64("y,,") = "eSws"; proof and verifier from an
 * independent implementation (Python hashlib/hmac). */
Test(scram, gs2_y_flag)
{
	static const unsigned char cb[4] = { 1, 2, 3, 4 };
	struct sasl_creds c = { .username = "user", .password = "pencil",
				.cb_type = "tls-exporter", .cb_data = cb, .cb_len = 4 };
	struct ex e;

	scram_begin(&e, &sasl_scram_sha1, &c, S1_NONCE);
	assert_out_str(&e, "y,,n=user,r=" S1_NONCE);
	cr_assert_eq(ex_step(&e, S1_SFIRST), SASL_CONTINUE);
	assert_out_str(&e, "c=eSws,r=fyko+d2lbbFgONRv9qkxdawL3rfcNHYJY1ZVvWVs7j,"
		       "p=BjZF5dV+EkD3YCb3pH3IP8riMGw=");
	cr_assert_eq(ex_step(&e, "v=dsprQ5R2AGYt1kn4bQRwTAE0PTU="), SASL_DONE);
	ex_done(&e);
}

/* The server offers -PLUS but this is the plain variant: "y" would be a
 * downgrade the server must reject (RFC 5802 s. 6), so "n". */
Test(scram, gs2_n_flag_when_server_offers_plus)
{
	static const unsigned char cb[4] = { 1, 2, 3, 4 };
	struct sasl_creds c = { .username = "user", .password = "pencil",
				.cb_type = "tls-exporter", .cb_data = cb, .cb_len = 4,
				.server_offers_plus = 1 };
	struct ex e;

	scram_begin(&e, &sasl_scram_sha1, &c, "N");
	assert_out_str(&e, "n,,n=user,r=N");
	ex_done(&e);

	c.cb_data = NULL;       /* no TLS: nothing to bind to */
	c.cb_len = 0;
	c.server_offers_plus = 0;
	scram_begin(&e, &sasl_scram_sha1, &c, "N");
	assert_out_str(&e, "n,,n=user,r=N");
	ex_done(&e);
}

/* c= = base64("p=tls-exporter,," || 00 01 .. 1f), computed by hand:
 * "p=tls-exporter,," is 16 bytes -> "cD10bHMtZXhwb3J0ZXIsLA", and the
 * bytes 00..1f continue it -> "AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8". */
Test(scram, plus_tls_exporter)
{
	unsigned char cb[32];
	struct sasl_creds c = { .username = "user", .password = "pencil",
				.cb_type = "tls-exporter", .cb_data = cb, .cb_len = sizeof(cb),
				.server_offers_plus = 1 };
	struct ex e;

	for (size_t i = 0; i < sizeof(cb); i++)
		cb[i] = (unsigned char)i;
	scram_begin(&e, &sasl_scram_sha256_plus, &c, S256_NONCE);
	assert_out_str(&e, "p=tls-exporter,,n=user,r=" S256_NONCE);
	cr_assert_eq(ex_step(&e, S256_SFIRST), SASL_CONTINUE, "%s", e.s->err);
	assert_out_str(&e, "c=cD10bHMtZXhwb3J0ZXIsLAABAgMEBQYHCAkKCwwNDg8QERITFBUWFxgZGhscHR4f,"
		       "r=rOprNGfwEbeRWgbNEkqO%hvYDpWUa2RaTCAfuxFIlj)hNlF$k0,"
		       "p=QC6CS20quADQRb3mT99YUH+n3VJxUvzuK0K0E1Vrs2M=");
	cr_assert_eq(ex_step(&e, "v=2GiAgapEppLVlUXbxUDksL3VgYHzuqiK5tR4mhJGgvs="), SASL_DONE);
	cr_assert(e.s->mech->finished(e.s));
	ex_done(&e);
}

Test(scram, plus_with_authzid_sha1)
{
	static const unsigned char cb[12] = { 0xde, 0xad, 0xbe, 0xef, 0xde, 0xad,
					      0xbe, 0xef, 0xde, 0xad, 0xbe, 0xef };
	struct sasl_creds c = { .username = "user", .password = "pencil", .authzid = "adm,in",
				.cb_type = "tls-unique", .cb_data = cb, .cb_len = sizeof(cb) };
	struct ex e;

	scram_begin(&e, &sasl_scram_sha1_plus, &c, S1_NONCE);
	assert_out_str(&e, "p=tls-unique,a=adm=2Cin,n=user,r=" S1_NONCE);
	cr_assert_eq(ex_step(&e, S1_SFIRST), SASL_CONTINUE, "%s", e.s->err);
	assert_out_str(&e, "c=cD10bHMtdW5pcXVlLGE9YWRtPTJDaW4s3q2+796tvu/erb7v,"
		       "r=fyko+d2lbbFgONRv9qkxdawL3rfcNHYJY1ZVvWVs7j,p=ph3wVgsdFRgbHAhkS41GqmFYu4o=");
	cr_assert_eq(ex_step(&e, "v=CftPDa2V83D4XlwZP4ochqx3OLc="), SASL_DONE);
	ex_done(&e);
}

Test(scram, plus_needs_channel_binding)
{
	struct ex e;

	ex_init(&e, &sasl_scram_sha256_plus, &pencil);
	assert_fail(&e, ex_start(&e), "channel binding");
	ex_done(&e);
}

Test(scram, plus_rejects_bad_cb_type)
{
	static const unsigned char cb[4] = { 1 };
	struct sasl_creds c = { .username = "user", .password = "pencil",
				.cb_type = "tls,unique", .cb_data = cb, .cb_len = 4 };
	struct ex e;

	ex_init(&e, &sasl_scram_sha256_plus, &c);
	assert_fail(&e, ex_start(&e), "channel binding type");
	ex_done(&e);
}

Test(scram, needs_password)
{
	struct sasl_creds c = { .username = "user" };
	struct ex e;

	ex_init(&e, &sasl_scram_sha256, &c);
	assert_fail(&e, ex_start(&e), "password");
	ex_done(&e);
}

Test(scram, nonce_not_extended)
{
	struct ex e;

	assert_fail(&e, s1_first(&e, &pencil, "r=XXXX+d2lbbFgONRv9qkxdawL3rfc,s=QSXCR+Q6sek8bf92,i=4096"),
		    "does not extend the client nonce");
	ex_done(&e);
}

Test(scram, nonce_not_longer)
{
	struct ex e;

	assert_fail(&e, s1_first(&e, &pencil, "r=" S1_NONCE ",s=QSXCR+Q6sek8bf92,i=4096"),
		    "does not extend the client nonce");
	ex_done(&e);
}

Test(scram, nonce_prefix_shorter)
{
	struct ex e;

	assert_fail(&e, s1_first(&e, &pencil, "r=fyko,s=QSXCR+Q6sek8bf92,i=4096"),
		    "does not extend the client nonce");
	ex_done(&e);
}

Test(scram, missing_salt)
{
	struct ex e;

	assert_fail(&e, s1_first(&e, &pencil, "r=" S1_NONCE "abc,i=4096"), "expected s=");
	ex_done(&e);
}

Test(scram, empty_salt)
{
	struct ex e;

	assert_fail(&e, s1_first(&e, &pencil, "r=" S1_NONCE "abc,s=,i=4096"), "malformed");
	ex_done(&e);
}

Test(scram, bad_base64_salt)
{
	struct ex e;

	assert_fail(&e, s1_first(&e, &pencil, "r=" S1_NONCE "abc,s=QSX!R+Q6sek8bf92,i=4096"),
		    "not valid base64");
	ex_done(&e);
	assert_fail(&e, s1_first(&e, &pencil, "r=" S1_NONCE "abc,s=QSXCR,i=4096"),
		    "not valid base64");
	ex_done(&e);
}

Test(scram, iterations_zero)
{
	struct ex e;

	assert_fail(&e, s1_first(&e, &pencil, "r=" S1_NONCE "abc,s=QSXCR+Q6sek8bf92,i=0"),
		    "not a positive number");
	ex_done(&e);
}

Test(scram, iterations_not_a_number)
{
	const char *bad[] = { "i=-1", "i=+5", "i=040", "i=12a", "i= 5", "i=0x10" };

	for (size_t k = 0; k < sizeof(bad) / sizeof(bad[0]); k++) {
		char msg[128];
		struct ex e;

		snprintf(msg, sizeof(msg), "r=" S1_NONCE "abc,s=QSXCR+Q6sek8bf92,%s", bad[k]);
		assert_fail(&e, s1_first(&e, &pencil, msg), "not a positive number");
		ex_done(&e);
	}
}

Test(scram, iterations_overflow)
{
	struct ex e;

	assert_fail(&e, s1_first(&e, &pencil, "r=" S1_NONCE "abc,s=QSXCR+Q6sek8bf92,i=4294967296"),
		    "out of range");
	ex_done(&e);
	assert_fail(&e, s1_first(&e, &pencil,
				 "r=" S1_NONCE "abc,s=QSXCR+Q6sek8bf92,i=99999999999999999999999999"),
		    "out of range");
	ex_done(&e);
}

Test(scram, billion_iterations_capped_fast)
{
	struct ex e;
	int64_t t0 = clock_now_ns();

	assert_fail(&e, s1_first(&e, &pencil, "r=" S1_NONCE "abc,s=QSXCR+Q6sek8bf92,i=1000000000"),
		    "iteration count 1000000000 exceeds the limit 1000000");
	cr_assert_lt(clock_now_ns() - t0, 100 * 1000000LL);
	ex_done(&e);
}

Test(scram, custom_cap)
{
	struct sasl_creds c = pencil;
	struct ex e;

	c.max_iterations = 4095;
	assert_fail(&e, s1_first(&e, &c, S1_SFIRST), "iteration count 4096 exceeds the limit 4095");
	ex_done(&e);
	c.max_iterations = 4096;
	cr_assert_eq(s1_first(&e, &c, S1_SFIRST), SASL_CONTINUE);
	ex_done(&e);
}

Test(scram, mandatory_extension_rejected)
{
	struct ex e;

	assert_fail(&e, s1_first(&e, &pencil, "m=ext," S1_SFIRST), "unsupported SCRAM extension");
	ex_done(&e);
}

Test(scram, optional_extension_after_i_ignored)
{
	struct ex e;

	scram_begin(&e, &sasl_scram_sha256, &pencil, S256_NONCE);
	cr_assert_eq(ex_step(&e, S256_SFIRST ",x=ext=val"), SASL_CONTINUE, "%s", e.s->err);
	/* the extension is part of AuthMessage (Python reference) */
	assert_out_str(&e, "c=biws,r=rOprNGfwEbeRWgbNEkqO%hvYDpWUa2RaTCAfuxFIlj)hNlF$k0,"
		       "p=M445JYmXxPCYU4w9BlaAel1v98nw4JqKdsabccSfExQ=");
	cr_assert_eq(ex_step(&e, "v=qyDwbB1Ms9rt2nJX5GjtWoBacg+EBbj/GXAwx0l6/bw="), SASL_DONE);
	ex_done(&e);
}

Test(scram, server_first_garbage)
{
	const char *bad[] = {
		S1_SFIRST ",",                  /* trailing comma */
		S1_SFIRST ",x",                 /* not an attribute */
		S1_SFIRST ",x=",                /* empty value */
		S1_SFIRST ",1=a",               /* attribute name not ALPHA */
		"s=QSXCR+Q6sek8bf92," S1_SFIRST, /* wrong order */
		"r=" S1_NONCE "abc,i=4096,s=QSXCR+Q6sek8bf92",
		"r=" S1_NONCE "abc,s=QSXCR+Q6sek8bf92",
		"garbage",
	};

	for (size_t k = 0; k < sizeof(bad) / sizeof(bad[0]); k++) {
		struct ex e;
		assert_fail(&e, s1_first(&e, &pencil, bad[k]), "malformed");
		ex_done(&e);
	}
}

Test(scram, server_first_nul_byte)
{
	static const char msg[] = "r=" S1_NONCE "a\0b,s=QSXCR+Q6sek8bf92,i=4096";
	struct ex e;

	scram_begin(&e, &sasl_scram_sha1, &pencil, S1_NONCE);
	assert_fail(&e, ex_step_n(&e, msg, sizeof(msg) - 1), "malformed");
	ex_done(&e);
}

Test(scram, server_first_empty)
{
	struct ex e;

	scram_begin(&e, &sasl_scram_sha1, &pencil, S1_NONCE);
	assert_fail(&e, ex_step_n(&e, "", 0), "malformed");
	ex_done(&e);
}

Test(scram, server_first_error)
{
	struct ex e;

	assert_fail(&e, s1_first(&e, &pencil, "e=unknown-user"), "server error: unknown-user");
	ex_done(&e);
}

static void s1_to_final(struct ex *e)
{
	cr_assert_eq(s1_first(e, &pencil, S1_SFIRST), SASL_CONTINUE, "%s", e->s->err);
	assert_out_str(e, S1_CFINAL);
}

Test(scram, forged_server_signature)
{
	struct ex e;

	s1_to_final(&e);
	assert_fail(&e, ex_step(&e, "v=smF9pqV8S7suAoZWja4dJRkFsKQ="), "server signature mismatch");
	cr_assert_not(e.s->mech->finished(e.s));
	ex_done(&e);
}

Test(scram, server_signature_wrong_length)
{
	struct ex e;

	s1_to_final(&e);
	/* the SHA-256 verifier length against a SHA-1 exchange */
	assert_fail(&e, ex_step(&e, S256_SFINAL), "server signature mismatch");
	ex_done(&e);
}

Test(scram, server_signature_bad_base64)
{
	struct ex e;

	s1_to_final(&e);
	assert_fail(&e, ex_step(&e, "v=rmF9pqV8S7suAoZWja4dJRkFsKQ"), "not base64");
	ex_done(&e);
}

Test(scram, server_final_error_sanitized)
{
	static const char msg[] = "e=invalid-proof\r\n| evil\x1b[31m";
	struct ex e;

	s1_to_final(&e);
	int rc = ex_step_n(&e, msg, sizeof(msg) - 1);
	assert_fail(&e, rc, "server error: invalid-proof");
	cr_assert_null(strchr(e.s->err, '|'));
	cr_assert_null(strchr(e.s->err, '\r'));
	cr_assert_null(strchr(e.s->err, '\x1b'));
	cr_assert_not(e.s->mech->finished(e.s));
	ex_done(&e);
}

Test(scram, server_final_trailing_garbage)
{
	const char *bad[] = {
		S1_SFINAL ",",                          /* trailing comma */
		S1_SFINAL ",garbage",                   /* not an attribute */
		(S1_SFINAL "," S1_SFINAL ","),          /* ends in a comma */
		"x" S1_SFINAL,                          /* not v= */
	};

	for (size_t k = 0; k < sizeof(bad) / sizeof(bad[0]); k++) {
		struct ex e;
		s1_to_final(&e);
		assert_fail(&e, ex_step(&e, bad[k]), "malformed");
		cr_assert_not(e.s->mech->finished(e.s));
		ex_done(&e);
	}
}

Test(scram, server_final_extension_ok)
{
	struct ex e;

	s1_to_final(&e);
	cr_assert_eq(ex_step(&e, S1_SFINAL ",x=future"), SASL_DONE, "%s", e.s->err);
	cr_assert(e.s->mech->finished(e.s));
	ex_done(&e);
}

Test(scram, challenge_after_verified)
{
	struct ex e;

	s1_to_final(&e);
	cr_assert_eq(ex_step(&e, S1_SFINAL), SASL_DONE);
	assert_fail(&e, ex_step(&e, S1_SFINAL), "unexpected challenge");
	ex_done(&e);
}

Test(scram, oversized_server_message)
{
	static char msg[4096];
	struct ex e;

	memset(msg, 'a', sizeof(msg) - 1);
	memcpy(msg, "r=" S1_NONCE, strlen("r=" S1_NONCE));
	assert_fail(&e, s1_first(&e, &pencil, msg), "too long");
	ex_done(&e);
}

/* ------------------------------------------------------------ OAuth */

static const struct sasl_creds oauth_creds = {
	.username = "user@example.com",
	.token = "vF9dft4qmTc2Nvb3RlckBhbHRhdmlzdGEuY29tCg==",
	.host = "server.example.com",
	.port = 143,
};

Test(oauth, xoauth2_format)
{
	struct sasl_creds c = { .username = "someuser@example.com",
				.token = "ya29.vF9dft4qmTc2Nvb3RlckBhdHRhdmlzdGEuY29tCg" };
	struct ex e;

	ex_init(&e, &sasl_xoauth2, &c);
	cr_assert_eq(ex_start(&e), SASL_CONTINUE);
	cr_assert_eq(e.has_initial, 1);
	assert_out(&e, "user=someuser@example.com\x01"
		   "auth=Bearer ya29.vF9dft4qmTc2Nvb3RlckBhdHRhdmlzdGEuY29tCg\x01\x01");
	cr_assert(e.s->mech->finished(e.s));
	ex_done(&e);
}

/* RFC 7628 section 4.1 */
Test(oauth, oauthbearer_rfc7628)
{
	struct ex e;

	ex_init(&e, &sasl_oauthbearer, &oauth_creds);
	cr_assert_eq(ex_start(&e), SASL_CONTINUE);
	cr_assert_eq(e.has_initial, 1);
	assert_out(&e, "n,a=user@example.com,\x01host=server.example.com\x01port=143\x01"
		   "auth=Bearer vF9dft4qmTc2Nvb3RlckBhbHRhdmlzdGEuY29tCg==\x01\x01");
	cr_assert(e.s->mech->finished(e.s));
	ex_done(&e);
}

Test(oauth, oauthbearer_escaping_no_host)
{
	struct sasl_creds c = { .username = "a,b=c", .token = "tok" };
	struct ex e;

	ex_init(&e, &sasl_oauthbearer, &c);
	cr_assert_eq(ex_start(&e), SASL_CONTINUE);
	assert_out(&e, "n,a=a=2Cb=3Dc,\x01" "auth=Bearer tok\x01\x01");
	ex_done(&e);
}

Test(oauth, oauthbearer_authzid_wins)
{
	struct sasl_creds c = { .username = "me", .authzid = "shared", .token = "tok", .port = 993 };
	struct ex e;

	ex_init(&e, &sasl_oauthbearer, &c);
	cr_assert_eq(ex_start(&e), SASL_CONTINUE);
	assert_out(&e, "n,a=shared,\x01port=993\x01" "auth=Bearer tok\x01\x01");
	ex_done(&e);
}

Test(oauth, oauthbearer_error_challenge)
{
	static const char json[] =
		"{\"status\":\"invalid_token\",\"schemes\":\"bearer\","
		"\"scope\":\"https://mail.example.com/\"}";
	struct ex e;

	ex_init(&e, &sasl_oauthbearer, &oauth_creds);
	ex_start(&e);
	cr_assert_eq(ex_step(&e, json), SASL_CONTINUE);
	assert_out(&e, "\x01");
	cr_assert_str_eq(e.s->err, "invalid_token (scope: https://mail.example.com/)");
	cr_assert_not(e.s->mech->finished(e.s));
	/* the server's tagged NO follows; another challenge is a violation */
	assert_fail(&e, ex_step(&e, json), "unexpected challenge");
	ex_done(&e);
}

/* Google's XOAUTH2 error: status is an HTTP code, the reply is empty. */
Test(oauth, xoauth2_error_challenge)
{
	struct sasl_creds c = { .username = "u@gmail.com", .token = "ya29.x" };
	struct ex e;

	ex_init(&e, &sasl_xoauth2, &c);
	ex_start(&e);
	cr_assert_eq(ex_step(&e, "{\"status\":\"400\",\"schemes\":\"Bearer\",\"scope\":\"https://mail.google.com/\"}\n"),
		     SASL_CONTINUE);
	cr_assert_eq(e.out.len, 0);
	cr_assert_str_eq(e.s->err, "400 (scope: https://mail.google.com/)");
	cr_assert_not(e.s->mech->finished(e.s));
	ex_done(&e);
}

Test(oauth, error_json_variants)
{
	/* exact: only printable ASCII reaches sanitize_text(); otherwise the
	 * prefix is checked and the sanitizer's own tests cover the rest */
	static const struct {
		const char *in, *want;
		int exact;
	} cases[] = {
		{ "{\"status\":\"invalid_token\"}", "invalid_token", 1 },
		{ " { \"scope\" : \"a b\" , \"status\" : 401 } ", "401 (scope: a b)", 1 },
		{ "{\"x\":{\"y\":[1,2,{\"status\":\"no\"}]},\"status\":\"s\\u0041\\\"q\"}", "sA\"q", 1 },
		{ "{\"status\":\"bad\\u00e9\\n|x\"}", "bad?", 0 },
		{ "{}", "server error: {}", 1 },
		{ "{\"status\":\"x\"} trailing", "server error: {\"status\":\"x\"} trailing", 1 },
		{ "{\"status\":\"unterminated}", "server error: {\"status\":\"unterminated}", 1 },
		{ "{\"status\":\"x\",}", "server error: ", 0 },
		{ "{\"status\" \"x\"}", "server error: ", 0 },
		{ "{\"status\":\"\\q\"}", "server error: ", 0 },
		{ "not json|\x01", "server error: not json", 0 },
		{ "", "server sent an empty error challenge", 1 },
	};

	for (size_t k = 0; k < sizeof(cases) / sizeof(cases[0]); k++) {
		struct ex e;
		ex_init(&e, &sasl_oauthbearer, &oauth_creds);
		ex_start(&e);
		cr_assert_eq(ex_step(&e, cases[k].in), SASL_CONTINUE);
		assert_out(&e, "\x01");
		cr_assert_null(strchr(e.s->err, '|'), "case %zu: %s", k, e.s->err);
		cr_assert_null(strchr(e.s->err, '\n'), "case %zu: %s", k, e.s->err);
		cr_assert_null(strchr(e.s->err, '\x01'), "case %zu: %s", k, e.s->err);
		if (cases[k].exact)
			cr_assert_str_eq(e.s->err, cases[k].want, "case %zu", k);
		else
			cr_assert(strncmp(e.s->err, cases[k].want, strlen(cases[k].want)) == 0,
				  "case %zu: '%s'", k, e.s->err);
		ex_done(&e);
	}
}

Test(oauth, error_json_deep_nesting_rejected)
{
	char json[300];
	struct ex e;
	size_t n = 0;

	n += (size_t)sprintf(json, "{\"a\":");
	for (int i = 0; i < 100; i++)
		json[n++] = '[';
	json[n] = '\0';
	ex_init(&e, &sasl_oauthbearer, &oauth_creds);
	ex_start(&e);
	cr_assert_eq(ex_step(&e, json), SASL_CONTINUE);
	cr_assert(strncmp(e.s->err, "server error: ", 14) == 0, "%s", e.s->err);
	ex_done(&e);
}

Test(oauth, token_with_control_chars)
{
	struct sasl_creds c = { .username = "u", .token = "secret-token\n" };
	struct ex e;

	ex_init(&e, &sasl_xoauth2, &c);
	assert_fail(&e, ex_start(&e), "token");
	ex_done(&e);
	c.token = "sec\x01ret";
	ex_init(&e, &sasl_oauthbearer, &c);
	assert_fail(&e, ex_start(&e), "token");
	ex_done(&e);
}

Test(oauth, needs_token)
{
	struct sasl_creds c = { .username = "u" };
	struct ex e;

	ex_init(&e, &sasl_oauthbearer, &c);
	assert_fail(&e, ex_start(&e), "needs a bearer token");
	ex_done(&e);
}

Test(oauth, user_with_separator)
{
	struct sasl_creds c = { .username = "u\x01" "auth=Bearer evil", .token = "tok-secret" };
	struct ex e;

	ex_init(&e, &sasl_xoauth2, &c);
	assert_fail(&e, ex_start(&e), "control characters");
	ex_done(&e);
}

/* ------------------------------------------------------------ EXTERNAL */

Test(external, empty_and_authzid)
{
	struct sasl_creds c = { .username = "ignored" };
	struct ex e;

	ex_init(&e, &sasl_external, &c);
	cr_assert_eq(ex_start(&e), SASL_CONTINUE);
	cr_assert_eq(e.has_initial, 1);
	cr_assert_eq(e.out.len, 0);
	cr_assert(e.s->mech->finished(e.s));
	ex_done(&e);

	c.authzid = "admin";
	ex_init(&e, &sasl_external, &c);
	cr_assert_eq(ex_start(&e), SASL_CONTINUE);
	assert_out_str(&e, "admin");
	ex_done(&e);
}

Test(external, challenge_fails)
{
	struct sasl_creds c = { 0 };
	struct ex e;

	ex_init(&e, &sasl_external, &c);
	ex_start(&e);
	assert_fail(&e, ex_step(&e, "what?"), "unexpected challenge");
	ex_done(&e);
}

/* ------------------------------------------------------------ all */

/* Without SASL-IR the session asks for the initial response again at the
 * server's first empty challenge: same bytes, same nonce. */
Test(all, start_again_repeats_initial)
{
	static const unsigned char cb[4] = { 1 };
	struct sasl_creds c = { .username = "u", .password = "pw-secret-1", .token = "tok-secret-2",
				.cb_type = "tls-exporter", .cb_data = cb, .cb_len = 4 };

	for (size_t i = 0; sasl_mechs[i]; i++) {
		struct ex e;
		char first[256];
		size_t len;
		int hi;

		ex_init(&e, sasl_mechs[i], &c);
		cr_assert_eq(ex_start(&e), SASL_CONTINUE, "%s: %s", sasl_mechs[i]->name, e.s->err);
		len = e.out.len;
		hi = e.has_initial;
		memcpy(first, e.out.data, len);
		cr_assert_eq(ex_start(&e), SASL_CONTINUE, "%s: %s", sasl_mechs[i]->name, e.s->err);
		cr_assert_eq(e.has_initial, hi);
		cr_assert_eq(e.out.len, len, "%s", sasl_mechs[i]->name);
		cr_assert(memcmp(e.out.data, first, len) == 0, "%s", sasl_mechs[i]->name);
		ex_done(&e);
	}
}

Test(all, start_after_step_fails)
{
	static const unsigned char cb[4] = { 1 };
	struct sasl_creds c = { .username = "u", .password = "pw-secret-1", .token = "tok-secret-2",
				.cb_type = "tls-exporter", .cb_data = cb, .cb_len = 4 };

	for (size_t i = 0; sasl_mechs[i]; i++) {
		struct ex e;

		ex_init(&e, sasl_mechs[i], &c);
		ex_start(&e);
		ex_step(&e, "<1@x>");    /* whatever it makes of it */
		assert_fail(&e, ex_start(&e), "already started");
		ex_done(&e);
	}
}

Test(all, failed_step_is_final)
{
	struct ex e;

	s1_first(&e, &pencil, "r=nope,s=QSXCR+Q6sek8bf92,i=4096");
	cr_assert_eq(ex_step(&e, S1_SFIRST), SASL_FAIL);        /* no second try */
	cr_assert_not(e.s->mech->finished(e.s));
	ex_done(&e);

	struct sasl_creds c = { .username = "tim", .password = "x" };
	ex_init(&e, &sasl_plain, &c);
	ex_start(&e);
	cr_assert_eq(ex_step(&e, "?"), SASL_FAIL);
	cr_assert_not(e.s->mech->finished(e.s));
	ex_done(&e);
}

Test(all, step_before_start_fails)
{
	struct sasl_creds c = { .username = "u", .password = "pw-secret-1", .token = "tok-secret-2" };

	for (size_t i = 0; sasl_mechs[i]; i++) {
		struct ex e;
		ex_init(&e, sasl_mechs[i], &c);
		cr_assert_eq(ex_step(&e, "x"), SASL_FAIL, "%s", sasl_mechs[i]->name);
		cr_assert_not(e.s->mech->finished(e.s));
		ex_done(&e);
	}
}
