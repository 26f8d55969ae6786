/* test_imap_auth.c - the AUTHENTICATE engine (imap/imap_auth.c) against the
 * scripted fake transport, with a toy mechanism behind its step callback.
 *
 * The protocol tests run once per chunking of the server's bytes; their
 * assertion messages name the chunking. */
#include "config.h"

#include <criterion/criterion.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "fake_transport.h"
#include "imap/imap_auth.h"
#include "imap/imap_conn.h"
#include "net/clock.h"

struct fx {
	const struct fake_chunking *ck;
	struct fake *f;
	struct imap_conn *c;
	char trace_mem[1 << 14];
	struct sbuf trace;          /* "C: line\n" / "S: line\n" */
	unsigned untagged;          /* untagged responses handed to the caller */
	/* the toy mechanism: answers every challenge with "re:" + challenge,
	 * or refuses once `refuse` challenges were answered */
	unsigned steps, refuse;
	char last_challenge[64];
	char initial_mem[64];
	struct sbuf initial;
};

static void on_trace(void *ud, const char *dir, const char *line, size_t len)
{
	struct fx *x = ud;
	sb_printf(&x->trace, "%s: %.*s\n", dir, (int)len, line);
}

static int on_untagged(void *ud, struct imap_conn *c, const struct imap_response *r)
{
	struct fx *x = ud;
	(void)c;
	(void)r;
	x->untagged++;
	return 0;
}

static int toy_step(void *ud, const unsigned char *in, size_t inlen, struct sbuf *out)
{
	struct fx *x = ud;
	if (x->refuse && x->steps >= x->refuse)
		return -1;
	x->steps++;
	snprintf(x->last_challenge, sizeof(x->last_challenge), "%.*s", (int)inlen, (const char *)in);
	sb_printf(out, "re:%.*s", (int)inlen, (const char *)in);
	return 0;
}

static struct fx *fx_new(const struct fake_chunking *ck, const char *greeting)
{
	struct fx *x = calloc(1, sizeof(*x));
	struct imap_conn_opts opts = { .trace = on_trace };
	struct imap_result res;

	cr_assert_not_null(x);
	opts.trace_ud = x;
	x->ck = ck;
	sb_init(&x->trace, x->trace_mem, sizeof(x->trace_mem));
	sb_init(&x->initial, x->initial_mem, sizeof(x->initial_mem));
	x->f = fake_new(ck);
	x->c = imap_conn_new(fake_transport(x->f), &opts);
	cr_assert_not_null(x->c);
	imap_conn_set_deadline(x->c, clock_now_ns() + 3000000000LL);
	fake_send(x->f, greeting);
	cr_assert_eq(imap_conn_greeting(x->c, &res), 0, "[%s] greeting: %s", ck ? ck->name : "whole",
		     imap_conn_errmsg(x->c));
	return x;
}

static void fx_free(struct fx *x)
{
	imap_conn_free(x->c);
	fake_free(x->f);
	free(x);
}

static struct imap_auth toy(struct fx *x, const char *mech, int with_initial)
{
	struct imap_auth a = {
		.mech = mech,
		.initial = with_initial ? &x->initial : NULL,
		.step = toy_step,
		.step_ud = x,
		.untagged = on_untagged,
		.untagged_ud = x,
	};
	return a;
}

#define GREET_IR "* OK [CAPABILITY IMAP4rev1 SASL-IR AUTH=PLAIN AUTH=TOY] hi\r\n"
#define GREET_NO_IR "* OK [CAPABILITY IMAP4rev1 AUTH=PLAIN AUTH=TOY] hi\r\n"

Test(imap_auth, initial_response_inline_with_sasl_ir)
{
	FAKE_FOR_EACH_CHUNKING(ck) {
		struct fx *x = fx_new(ck, GREET_IR);
		struct imap_result res;
		struct imap_auth a = toy(x, "PLAIN", 1);

		sb_append(&x->initial, "\0u\0p", 4);
		fake_send_after(x->f, "\r\n", "a1 OK [CAPABILITY IMAP4rev1 IDLE] welcome\r\n");
		cr_assert_eq(imap_authenticate(x->c, &a, &res), IMAP_AUTH_DONE, "[%s] %s", ck->name,
			     imap_conn_errmsg(x->c));
		cr_assert_str_eq(fake_written(x->f), "a1 AUTHENTICATE PLAIN AHUAcA==\r\n", "[%s]", ck->name);
		cr_assert_eq(res.status, IMAP_ST_OK);
		cr_assert_str_eq(res.text, "welcome");
		cr_assert_eq(x->steps, 0);
		/* the initial response is a secret: redacted in the trace */
		cr_assert_null(strstr(x->trace.data, "AHUAcA=="), "[%s] %s", ck->name, x->trace.data);
		/* the list sent with the OK replaced the pre-login one */
		cr_assert(imap_conn_caps(x->c)->flags & CAP_IDLE);
		cr_assert(!(imap_conn_caps(x->c)->flags & CAP_SASL_IR));
		fx_free(x);
	}
}

Test(imap_auth, empty_initial_response_is_an_equals_sign)
{
	struct fx *x = fx_new(NULL, GREET_IR);
	struct imap_result res;
	struct imap_auth a = toy(x, "EXTERNAL", 1);

	fake_send_after(x->f, "\r\n", "a1 OK done\r\n");
	cr_assert_eq(imap_authenticate(x->c, &a, &res), IMAP_AUTH_DONE);
	cr_assert_str_eq(fake_written(x->f), "a1 AUTHENTICATE EXTERNAL =\r\n");
	fx_free(x);
}

Test(imap_auth, initial_response_after_a_bare_plus_without_sasl_ir)
{
	FAKE_FOR_EACH_CHUNKING(ck) {
		struct fx *x = fx_new(ck, GREET_NO_IR);
		struct imap_result res;
		struct imap_auth a = toy(x, "PLAIN", 1);

		sb_append(&x->initial, "\0u\0p", 4);
		/* a bare "+" (no space) is an empty challenge */
		fake_send_after(x->f, "PLAIN\r\n", "+\r\n");
		fake_send_after(x->f, "AHUAcA==\r\n", "a1 NO [AUTHENTICATIONFAILED] bad\r\n");
		cr_assert_eq(imap_authenticate(x->c, &a, &res), IMAP_AUTH_DONE, "[%s] %s", ck->name,
			     imap_conn_errmsg(x->c));
		cr_assert_str_eq(fake_written(x->f), "a1 AUTHENTICATE PLAIN\r\nAHUAcA==\r\n", "[%s]", ck->name);
		cr_assert_eq(res.status, IMAP_ST_NO);
		cr_assert_str_eq(res.code, "AUTHENTICATIONFAILED");
		cr_assert_eq(x->steps, 0, "the first challenge asks for the initial response");
		/* no list came after the command: the pre-login one is void */
		cr_assert_eq(imap_conn_caps(x->c)->known, 0);
		fx_free(x);
	}
}

Test(imap_auth, server_first_challenges_go_to_the_step_and_untagged_to_the_handler)
{
	FAKE_FOR_EACH_CHUNKING(ck) {
		struct fx *x = fx_new(ck, GREET_IR);
		struct imap_result res;
		struct imap_auth a = toy(x, "TOY", 0);

		/* "chal1" and "chal2"; the answers "re:chal1", "re:chal2" */
		fake_send_after(x->f, "TOY\r\n", "* OK [ALERT] be nice\r\n+ Y2hhbDE=\r\n");
		fake_send_after(x->f, "cmU6Y2hhbDE=\r\n", "+ Y2hhbDI=\r\n");
		fake_send_after(x->f, "cmU6Y2hhbDI=\r\n", "a1 OK in\r\n");
		cr_assert_eq(imap_authenticate(x->c, &a, &res), IMAP_AUTH_DONE, "[%s] %s", ck->name,
			     imap_conn_errmsg(x->c));
		cr_assert_str_eq(fake_written(x->f), "a1 AUTHENTICATE TOY\r\ncmU6Y2hhbDE=\r\ncmU6Y2hhbDI=\r\n", "[%s]",
				 ck->name);
		cr_assert_eq(x->steps, 2);
		cr_assert_str_eq(x->last_challenge, "chal2");
		cr_assert_eq(x->untagged, 1, "[%s] the ALERT goes to the caller's handler", ck->name);
		cr_assert_eq(res.status, IMAP_ST_OK);
		fx_free(x);
	}
}

Test(imap_auth, a_refused_challenge_cancels_with_a_star)
{
	struct fx *x = fx_new(NULL, GREET_IR);
	struct imap_result res;
	struct imap_auth a = toy(x, "TOY", 0);

	x->refuse = 1;
	fake_send_after(x->f, "TOY\r\n", "+ Y2hhbDE=\r\n");
	fake_send_after(x->f, "cmU6Y2hhbDE=\r\n", "+ Y2hhbDI=\r\n");
	cr_assert_eq(imap_authenticate(x->c, &a, &res), IMAP_AUTH_MECH);
	cr_assert_str_eq(fake_written(x->f), "a1 AUTHENTICATE TOY\r\ncmU6Y2hhbDE=\r\n*\r\n");
	fx_free(x);
}

Test(imap_auth, a_challenge_that_is_not_base64_cancels_with_a_star)
{
	struct fx *x = fx_new(NULL, GREET_IR);
	struct imap_result res;
	struct imap_auth a = toy(x, "TOY", 0);

	fake_send_after(x->f, "TOY\r\n", "+ not base64!\r\n");
	cr_assert_eq(imap_authenticate(x->c, &a, &res), IMAP_AUTH_BASE64);
	cr_assert_str_eq(fake_written(x->f), "a1 AUTHENTICATE TOY\r\n*\r\n");
	cr_assert_eq(x->steps, 0);
	fx_free(x);
}

Test(imap_auth, endless_challenges_stop_at_max_rounds)
{
	struct fx *x = fx_new(NULL, GREET_IR);
	struct imap_result res;
	struct imap_auth a = toy(x, "TOY", 0);

	a.max_rounds = 2;
	fake_send_after(x->f, "TOY\r\n", "+ YQ==\r\n");
	fake_send_after(x->f, "cmU6YQ==\r\n", "+ YQ==\r\n");
	fake_send_after(x->f, "cmU6YQ==\r\n", "+ YQ==\r\n");
	cr_assert_eq(imap_authenticate(x->c, &a, &res), IMAP_AUTH_ROUNDS);
	cr_assert_eq(x->steps, 2);
	fx_free(x);
}

Test(imap_auth, a_broken_connection_is_a_connection_failure)
{
	struct fx *x = fx_new(NULL, GREET_IR);
	struct imap_result res;
	struct imap_auth a = toy(x, "TOY", 0);

	fake_send_after(x->f, "TOY\r\n", "+ YQ==\r\n");
	fake_eof(x->f);
	cr_assert_eq(imap_authenticate(x->c, &a, &res), IMAP_AUTH_CONN);
	cr_assert_eq(imap_conn_err(x->c), IMAP_E_EOF);
	fx_free(x);
}

Test(imap_auth, the_command_alone_for_a_pipelined_login)
{
	struct fx *x = fx_new(NULL, GREET_NO_IR);
	struct imap_cmd cmd;

	sb_append(&x->initial, "\0u\0p", 4);
	/* without SASL-IR the initial response cannot go inline */
	cr_assert_eq(imap_auth_command(&cmd, x->c, "PLAIN", &x->initial), 0);
	cr_assert_str_eq(cmd.name, "AUTHENTICATE PLAIN");
	imap_cmd_free(&cmd);
	/* a server-first mechanism has nothing to carry */
	cr_assert_eq(imap_auth_command(&cmd, x->c, "TOY", NULL), 1);
	imap_cmd_free(&cmd);
	fx_free(x);
}
