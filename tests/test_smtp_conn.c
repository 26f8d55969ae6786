/* test_smtp_conn.c - smtp_conn against the scripted fake transport: a whole
 * submission (STARTTLS, EHLO again, AUTH, MAIL, RCPT, DATA, QUIT) under
 * every chunking of the server's bytes, AUTH exchanges, and a hostile
 * server: truncated replies, huge lines, endless continuations, 421 in the
 * middle, wrong codes, a close after DATA, injection after the 220 to
 * STARTTLS, unsolicited replies, silence. */
#include "config.h"

#include <criterion/criterion.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "fake_transport.h"
#include "net/clock.h"
#include "smtp/smtp_conn.h"

#define SECRET "s3cr3t-pw"
#define EHLO_PLAIN "250-mx.example.org\r\n250-PIPELINING\r\n250-SIZE 1000000\r\n250-STARTTLS\r\n" \
	"250-ENHANCEDSTATUSCODES\r\n250 8BITMIME\r\n"
#define EHLO_TLS "250-mx.example.org\r\n250-PIPELINING\r\n250-AUTH PLAIN LOGIN\r\n" \
	"250-ENHANCEDSTATUSCODES\r\n250 8BITMIME\r\n"

/* ---------------------------------------------------------------- fixture */

struct fx {
	const struct fake_chunking *ck;
	struct fake *f, *f2;         /* before / after "TLS" */
	struct smtp_conn *c;
	char trace_mem[1 << 16];
	struct sbuf trace;
	struct smtp_result res;
};

static void on_trace(void *ud, const char *dir, const char *line, size_t len)
{
	struct fx *x = ud;

	cr_assert(memchr(line, '\n', len) == NULL && memchr(line, '\r', len) == NULL,
		  "trace line has CR/LF");
	sb_printf(&x->trace, "%s: %.*s\n", dir, (int)len, line);
}

static struct fx *fx_new(const struct fake_chunking *ck, const struct smtp_limits *lim)
{
	struct fx *x = calloc(1, sizeof(*x));
	struct smtp_conn_opts opts = { .trace = on_trace };

	cr_assert_not_null(x);
	opts.trace_ud = x;
	if (lim)
		opts.limits = *lim;
	x->ck = ck;
	sb_init(&x->trace, x->trace_mem, sizeof(x->trace_mem));
	x->f = fake_new(ck);
	x->c = smtp_conn_new(fake_transport(x->f), &opts);
	cr_assert_not_null(x->c);
	smtp_conn_set_deadline(x->c, clock_now_ns() + 3000000000LL);
	return x;
}

/* Pretend the TLS handshake happened: the conversation goes on over f2. */
static void fx_fake_tls(struct fx *x)
{
	x->f2 = fake_new(x->ck);
	transport_close(smtp_conn_transport(x->c));
	smtp_conn_replace_transport(x->c, fake_transport(x->f2));
}

static void fx_free(struct fx *x)
{
	smtp_conn_free(x->c);
	cr_assert(fake_closed(x->f2 ? x->f2 : x->f), "transport not closed by smtp_conn_free");
	fake_free(x->f);
	fake_free(x->f2);
	free(x);
}

/* ---------------------------------------------------------------- auth callbacks */

struct mech {
	int calls;
	const char *replies[4];   /* what to answer, in order (NULL: fail) */
	char seen[4][64];         /* the challenges got ("(initial)" for NULL) */
};

static int mech_fn(void *ud, const unsigned char *chal, size_t len, struct sbuf *out, char *err,
		   size_t errlen)
{
	struct mech *m = ud;
	int i = m->calls++;

	if (i >= 4 || !m->replies[i]) {
		snprintf(err, errlen, "mechanism says no at step %d", i);
		return -1;
	}
	if (chal)
		snprintf(m->seen[i], sizeof(m->seen[i]), "%.*s", (int)len, (const char *)chal);
	else
		snprintf(m->seen[i], sizeof(m->seen[i]), "(initial)");
	sb_puts(out, m->replies[i]);
	return 0;
}

/* PLAIN's message: "\0user\0s3cr3t-pw". */
static int plain_fn(void *ud, const unsigned char *chal, size_t len, struct sbuf *out, char *err, size_t errlen)
{
	static const char m[] = "\0user\0" SECRET;

	(void)ud;
	(void)len;
	(void)err;
	(void)errlen;
	cr_assert_null(chal, "PLAIN is client-first");
	sb_append(out, m, sizeof(m) - 1);
	return 0;
}

/* Answers every challenge with an empty response. */
static int always(void *ud, const unsigned char *chal, size_t len, struct sbuf *out, char *err, size_t errlen)
{
	struct mech *m = ud;

	(void)chal;
	(void)len;
	(void)out;
	(void)err;
	(void)errlen;
	m->calls++;
	return 0;
}

/* ---------------------------------------------------------------- happy path */

Test(smtp_conn, whole_submission_every_chunking)
{
	FAKE_FOR_EACH_CHUNKING(ck) {
		struct fx *x = fx_new(ck, NULL);
		struct fake *f = x->f;

		fake_send(f, "220 mx.example.org ESMTP\r\n");
		fake_send_after(f, "EHLO probe.test\r\n", EHLO_PLAIN);
		fake_send_after(f, "STARTTLS\r\n", "220 2.0.0 Ready to start TLS\r\n");

		cr_assert_eq(smtp_conn_greeting(x->c, &x->res), 0, "%s: %s", ck->name, smtp_conn_errmsg(x->c));
		cr_assert_eq(x->res.code, 220);
		cr_assert_eq(smtp_conn_ehlo(x->c, "probe.test", &x->res), 0, "%s: %s", ck->name,
			     smtp_conn_errmsg(x->c));
		const struct smtp_caps *caps = smtp_conn_caps(x->c);
		cr_assert(caps->flags & SMTP_CAP_STARTTLS);
		cr_assert_not(caps->flags & SMTP_CAP_AUTH);
		cr_assert_eq(caps->size, 1000000);
		cr_assert_eq(smtp_conn_starttls(x->c, &x->res), 0, "%s: %s", ck->name, smtp_conn_errmsg(x->c));
		cr_assert_not(smtp_conn_caps(x->c)->known, "capabilities from before TLS must be gone");
		cr_assert_str_eq(fake_written(f), "EHLO probe.test\r\nSTARTTLS\r\n");

		fx_fake_tls(x);
		struct fake *g = x->f2;
		fake_send_after(g, "EHLO probe.test\r\n", EHLO_TLS);
		fake_send_after(g, "AUTH PLAIN AHVzZXIAczNjcjN0LXB3\r\n", "235 2.7.0 Authentication successful\r\n");
		fake_send_after(g, "MAIL FROM:<probe@example.org>\r\n", "250 2.1.0 Ok\r\n");
		fake_send_after(g, "RCPT TO:<user@example.org>\r\n", "250 2.1.5 Ok\r\n");
		fake_send_after(g, "DATA\r\n", "354 End data with <CR><LF>.<CR><LF>\r\n");
		fake_send_after(g, "\r\n.\r\n", "250 2.0.0 Ok: queued as 4QxYz\r\n");
		fake_send_after(g, "QUIT\r\n", "221 2.0.0 Bye\r\n");
		fake_eof(g);

		cr_assert_eq(smtp_conn_ehlo(x->c, "probe.test", &x->res), 0, "%s: %s", ck->name,
			     smtp_conn_errmsg(x->c));
		caps = smtp_conn_caps(x->c);
		cr_assert(caps->flags & SMTP_CAP_AUTH);
		cr_assert_not(caps->flags & SMTP_CAP_STARTTLS);
		cr_assert(smtp_caps_has_auth(caps, "PLAIN"));

		cr_assert_eq(smtp_conn_auth(x->c, "PLAIN", 1, plain_fn, NULL, &x->res), 0, "%s: %s",
			     ck->name, smtp_conn_errmsg(x->c));
		cr_assert_eq(x->res.code, 235);
		cr_assert_eq(smtp_conn_mail(x->c, "probe@example.org", NULL, &x->res), 0);
		cr_assert_eq(smtp_conn_rcpt(x->c, "user@example.org", &x->res), 0);
		static const char msg[] = "Subject: t\n\n.leading dot\nend";
		cr_assert_eq(smtp_conn_data(x->c, msg, sizeof(msg) - 1, &x->res), 0, "%s: %s", ck->name,
			     smtp_conn_errmsg(x->c));
		cr_assert_eq(x->res.code, 250);
		cr_assert_str_eq(x->res.enh, "2.0.0");
		cr_assert_str_eq(x->res.text, "250 2.0.0 Ok: queued as 4QxYz");
		cr_assert_gt(x->res.done_ns, 0);
		cr_assert_geq(x->res.done_ns, x->res.sent_ns);
		cr_assert_eq(smtp_conn_quit(x->c, &x->res), 0, "%s: %s", ck->name, smtp_conn_errmsg(x->c));
		cr_assert_eq(x->res.code, 221);

		cr_assert_str_eq(fake_written(g),
				 "EHLO probe.test\r\nAUTH PLAIN AHVzZXIAczNjcjN0LXB3\r\n"
				 "MAIL FROM:<probe@example.org>\r\nRCPT TO:<user@example.org>\r\nDATA\r\n"
				 "Subject: t\r\n\r\n..leading dot\r\nend\r\n.\r\nQUIT\r\n");
		/* the trace: secrets redacted, the message summarised */
		const char *t = x->trace.data;
		cr_assert(strstr(t, "C: AUTH PLAIN <redacted>\n"), "%s", t);
		cr_assert_null(strstr(t, "AHVzZXIAczNjcjN0LXB3"), "%s", t);
		cr_assert(strstr(t, "C: <message: "), "%s", t);
		cr_assert_null(strstr(t, "leading dot"), "%s", t);
		cr_assert(strstr(t, "S: 250-PIPELINING\n"), "%s", t);
		cr_assert(strstr(t, "S: 235 2.7.0 Authentication successful\n"), "%s", t);
		cr_assert_eq(smtp_conn_err(x->c), SMTP_E_NONE);
		fx_free(x);
	}
}

/* Greeting and EHLO after TLS, ready for AUTH/MAIL (no STARTTLS). */
static struct fx *ready(const struct fake_chunking *ck, const char *ehlo)
{
	struct fx *x = fx_new(ck, NULL);

	fake_send(x->f, "220 mx ESMTP\r\n");
	fake_send_after(x->f, "EHLO p\r\n", ehlo);
	cr_assert_eq(smtp_conn_greeting(x->c, &x->res), 0, "%s", smtp_conn_errmsg(x->c));
	cr_assert_eq(smtp_conn_ehlo(x->c, "p", &x->res), 0, "%s", smtp_conn_errmsg(x->c));
	return x;
}

/* ---------------------------------------------------------------- AUTH */

Test(smtp_auth, login_without_initial_response)
{
	FAKE_FOR_EACH_CHUNKING(ck) {
		struct fx *x = ready(ck, EHLO_TLS);
		struct mech m = { .replies = { "user", SECRET } };

		fake_send_after(x->f, "AUTH LOGIN\r\n", "334 VXNlcm5hbWU6\r\n");
		fake_send_after(x->f, "dXNlcg==\r\n", "334 UGFzc3dvcmQ6\r\n");
		fake_send_after(x->f, "czNjcjN0LXB3\r\n", "235 ok\r\n");
		cr_assert_eq(smtp_conn_auth(x->c, "LOGIN", 0, mech_fn, &m, &x->res), 0, "%s: %s", ck->name,
			     smtp_conn_errmsg(x->c));
		cr_assert_eq(m.calls, 2);
		cr_assert_str_eq(m.seen[0], "Username:");
		cr_assert_str_eq(m.seen[1], "Password:");
		cr_assert(strstr(x->trace.data, "C: AUTH LOGIN\nS: 334 VXNlcm5hbWU6\nC: <redacted>\n"), "%s",
			  x->trace.data);
		cr_assert_null(strstr(x->trace.data, "czNjcjN0LXB3"));
		fx_free(x);
	}
}

Test(smtp_auth, empty_initial_response_and_empty_challenge)
{
	struct fx *x = ready(NULL, EHLO_TLS);
	struct mech m = { .replies = { "", "" } };

	fake_send_after(x->f, "AUTH EXTERNAL =\r\n", "334 \r\n");
	fake_send_after(x->f, "\r\n", "235 ok\r\n");
	cr_assert_eq(smtp_conn_auth(x->c, "EXTERNAL", 1, mech_fn, &m, &x->res), 0, "%s",
		     smtp_conn_errmsg(x->c));
	cr_assert_str_eq(m.seen[0], "(initial)");
	cr_assert_str_eq(m.seen[1], "");
	cr_assert_str_eq(fake_written(x->f), "EHLO p\r\nAUTH EXTERNAL =\r\n\r\n");
	fx_free(x);
}

Test(smtp_auth, refused_credentials)
{
	struct fx *x = ready(NULL, EHLO_TLS);
	struct mech m = { .replies = { "x" } };

	fake_send_after(x->f, "AUTH PLAIN eA==\r\n", "535 5.7.8 Error: authentication failed: bad\r\n");
	fake_send_after(x->f, "QUIT\r\n", "221 bye\r\n");
	cr_assert_eq(smtp_conn_auth(x->c, "PLAIN", 1, mech_fn, &m, &x->res), -1);
	cr_assert_eq(smtp_conn_err(x->c), SMTP_E_REPLY);
	cr_assert_eq(x->res.code, 535);
	cr_assert_str_eq(smtp_conn_errmsg(x->c), "AUTH PLAIN: 535 5.7.8 Error: authentication failed: bad");
	/* not sticky */
	cr_assert_eq(smtp_conn_quit(x->c, &x->res), 0, "%s", smtp_conn_errmsg(x->c));
	fx_free(x);
}

Test(smtp_auth, challenge_not_base64_cancels)
{
	FAKE_FOR_EACH_CHUNKING(ck) {
		struct fx *x = ready(ck, EHLO_TLS);
		struct mech m = { .replies = { "a", "b" } };

		fake_send_after(x->f, "AUTH X-MECH YQ==\r\n", "334 not base64!\r\n");
		fake_send_after(x->f, "*\r\n", "501 5.7.0 Authentication aborted\r\n");
		fake_send_after(x->f, "QUIT\r\n", "221 bye\r\n");
		cr_assert_eq(smtp_conn_auth(x->c, "X-MECH", 1, mech_fn, &m, &x->res), -1);
		cr_assert_eq(smtp_conn_err(x->c), SMTP_E_AUTH, "%s", ck->name);
		cr_assert(strstr(smtp_conn_errmsg(x->c), "not base64; exchange cancelled"), "%s",
			  smtp_conn_errmsg(x->c));
		cr_assert_eq(x->res.code, 501);
		cr_assert_eq(m.calls, 1);
		cr_assert_eq(smtp_conn_quit(x->c, &x->res), 0, "%s", smtp_conn_errmsg(x->c));
		fx_free(x);
	}
}

Test(smtp_auth, mechanism_error_cancels)
{
	struct fx *x = ready(NULL, EHLO_TLS);
	struct mech m = { .replies = { "first", NULL } };

	fake_send_after(x->f, "AUTH SCRAM-SHA-256 Zmlyc3Q=\r\n", "334 c2VydmVyLWZpcnN0\r\n");
	fake_send_after(x->f, "*\r\n", "501 cancelled\r\n");
	cr_assert_eq(smtp_conn_auth(x->c, "SCRAM-SHA-256", 1, mech_fn, &m, &x->res), -1);
	cr_assert_eq(smtp_conn_err(x->c), SMTP_E_AUTH);
	cr_assert(strstr(smtp_conn_errmsg(x->c), "mechanism says no at step 1"), "%s", smtp_conn_errmsg(x->c));
	cr_assert_str_eq(m.seen[0], "(initial)");
	cr_assert(strstr(x->trace.data, "C: *\nS: 501 cancelled\n"), "%s", x->trace.data);
	fx_free(x);
}

Test(smtp_auth, initial_mechanism_error_sends_nothing)
{
	struct fx *x = ready(NULL, EHLO_TLS);
	struct mech m = { .replies = { NULL } };
	size_t before = fake_written_len(x->f);

	cr_assert_eq(smtp_conn_auth(x->c, "PLAIN", 1, mech_fn, &m, &x->res), -1);
	cr_assert_eq(smtp_conn_err(x->c), SMTP_E_AUTH);
	cr_assert_eq(fake_written_len(x->f), before);
	fx_free(x);
}

Test(smtp_auth, endless_challenges_are_cut)
{
	struct fx *x = ready(NULL, EHLO_TLS);
	struct mech m = { .replies = { "" } };

	fake_send_after(x->f, "AUTH LOGIN\r\n", "334 \r\n");
	for (int i = 0; i < SMTP_AUTH_MAX_ROUNDS; i++)
		fake_send_after(x->f, "\r\n", "334 \r\n");
	fake_send_after(x->f, "*\r\n", "501 cancelled\r\n");
	/* a mechanism that always answers: the connection stops it */
	cr_assert_eq(smtp_conn_auth(x->c, "LOGIN", 0, always, &m, &x->res), -1);
	cr_assert(smtp_conn_err(x->c) == SMTP_E_AUTH, "%d %s", smtp_conn_err(x->c), smtp_conn_errmsg(x->c));
	cr_assert(strstr(smtp_conn_errmsg(x->c), "too many challenges"), "%s", smtp_conn_errmsg(x->c));
	cr_assert_leq(m.calls, SMTP_AUTH_MAX_ROUNDS);
	cr_assert(strstr(fake_written(x->f), "*\r\n"), "the exchange must be cancelled");
	fx_free(x);
}

Test(smtp_auth, server_goes_on_after_cancel)
{
	struct fx *x = ready(NULL, EHLO_TLS);
	struct mech m = { .replies = { "a" } };

	fake_send_after(x->f, "AUTH PLAIN YQ==\r\n", "334 !!!\r\n");
	fake_send_after(x->f, "*\r\n", "235 whatever\r\n");
	cr_assert_eq(smtp_conn_auth(x->c, "PLAIN", 1, mech_fn, &m, &x->res), -1);
	cr_assert_eq(smtp_conn_err(x->c), SMTP_E_PROTOCOL);
	cr_assert(strstr(smtp_conn_errmsg(x->c), "accepted a cancelled exchange"));
	fx_free(x);
}

/* ---------------------------------------------------------------- STARTTLS */

Test(smtp_starttls, not_offered)
{
	struct fx *x = ready(NULL, "250-mx\r\n250 PIPELINING\r\n");
	size_t before = fake_written_len(x->f);

	cr_assert_eq(smtp_conn_starttls(x->c, &x->res), -1);
	cr_assert_eq(smtp_conn_err(x->c), SMTP_E_SECURITY);
	cr_assert(strstr(smtp_conn_errmsg(x->c), "does not offer STARTTLS (EHLO: PIPELINING)"), "%s",
		  smtp_conn_errmsg(x->c));
	cr_assert_eq(fake_written_len(x->f), before, "nothing may be sent");
	/* sticky: nothing else goes out in the clear either */
	cr_assert_eq(smtp_conn_mail(x->c, "a@b", NULL, &x->res), -1);
	cr_assert_eq(smtp_conn_err(x->c), SMTP_E_SECURITY);
	cr_assert_eq(fake_written_len(x->f), before);
	fx_free(x);
}

Test(smtp_starttls, without_ehlo)
{
	struct fx *x = fx_new(NULL, NULL);

	fake_send(x->f, "220 mx\r\n");
	cr_assert_eq(smtp_conn_greeting(x->c, &x->res), 0);
	cr_assert_eq(smtp_conn_starttls(x->c, &x->res), -1);
	cr_assert_eq(smtp_conn_err(x->c), SMTP_E_SECURITY);
	cr_assert_eq(fake_written_len(x->f), 0);
	fx_free(x);
}

Test(smtp_starttls, refused)
{
	struct fx *x = ready(NULL, EHLO_PLAIN);

	fake_send_after(x->f, "STARTTLS\r\n", "454 4.7.0 TLS not available due to local problem\r\n");
	cr_assert_eq(smtp_conn_starttls(x->c, &x->res), -1);
	cr_assert_eq(smtp_conn_err(x->c), SMTP_E_SECURITY);
	cr_assert(strstr(smtp_conn_errmsg(x->c), "refused by the server (454 4.7.0 TLS not available"),
		  "%s", smtp_conn_errmsg(x->c));
	cr_assert_eq(x->res.code, 454);
	cr_assert_eq(smtp_conn_mail(x->c, "a@b", NULL, &x->res), -1, "sticky");
	fx_free(x);
}

Test(smtp_starttls, injection_in_the_same_read)
{
	FAKE_FOR_EACH_CHUNKING(ck) {
		struct fx *x = ready(ck, EHLO_PLAIN);

		fake_send_after(x->f, "STARTTLS\r\n", "220 go ahead\r\n250-injected\r\n250 AUTH PLAIN\r\n");
		cr_assert_eq(smtp_conn_starttls(x->c, &x->res), -1, "%s: injection not seen", ck->name);
		cr_assert_eq(smtp_conn_err(x->c), SMTP_E_SECURITY, "%s", ck->name);
		cr_assert(strstr(smtp_conn_errmsg(x->c), "response injection"), "%s", smtp_conn_errmsg(x->c));
		cr_assert(strstr(smtp_conn_errmsg(x->c), "\"2"), "%s: the injected bytes are quoted: %s",
			  ck->name, smtp_conn_errmsg(x->c));
		fx_free(x);
	}
}

Test(smtp_starttls, injection_in_a_later_segment)
{
	FAKE_FOR_EACH_CHUNKING(ck) {
		struct fx *x = ready(ck, EHLO_PLAIN);

		fake_send_after(x->f, "STARTTLS\r\n", "220 go ahead\r\n");
		fake_send(x->f, "250 injected\r\n");
		cr_assert_eq(smtp_conn_starttls(x->c, &x->res), -1, "%s: injection not seen", ck->name);
		cr_assert_eq(smtp_conn_err(x->c), SMTP_E_SECURITY, "%s", ck->name);
		fx_free(x);
	}
}

Test(smtp_starttls, no_injection_when_the_server_waits)
{
	FAKE_FOR_EACH_CHUNKING(ck) {
		struct fx *x = ready(ck, EHLO_PLAIN);

		fake_send_after(x->f, "STARTTLS\r\n", "220 go ahead\r\n");
		fake_send_after(x->f, "EHLO again\r\n", "250 only after the client spoke\r\n");
		cr_assert_eq(smtp_conn_starttls(x->c, &x->res), 0, "%s: %s", ck->name, smtp_conn_errmsg(x->c));
		fx_free(x);
	}
}

/* ---------------------------------------------------------------- hostile */

Test(smtp_hostile, truncated_reply)
{
	FAKE_FOR_EACH_CHUNKING(ck) {
		struct fx *x = fx_new(ck, NULL);

		fake_send(x->f, "220-mx.example.org\r\n220 ESM");
		fake_eof(x->f);
		cr_assert_eq(smtp_conn_greeting(x->c, &x->res), -1);
		cr_assert_eq(smtp_conn_err(x->c), SMTP_E_EOF, "%s", ck->name);
		cr_assert_str_eq(smtp_conn_errmsg(x->c),
				 "greeting: connection closed by the server in the middle of a reply");
		cr_assert(strstr(x->trace.data, "S: 220 ESM [incomplete]") ||
			  strstr(x->trace.data, "S: ESM [incomplete]"), "%s", x->trace.data);
		fx_free(x);
	}
}

Test(smtp_hostile, silent_server_times_out)
{
	struct fx *x = fx_new(NULL, NULL);
	int64_t t0 = clock_now_ns();

	smtp_conn_set_deadline(x->c, t0 + 200000000LL);
	fake_send(x->f, "220 mx\r\n");
	cr_assert_eq(smtp_conn_greeting(x->c, &x->res), 0);
	cr_assert_eq(smtp_conn_ehlo(x->c, "p", &x->res), -1);
	cr_assert_eq(smtp_conn_err(x->c), SMTP_E_TIMEOUT);
	cr_assert(strstr(smtp_conn_errmsg(x->c), "EHLO: timeout"), "%s", smtp_conn_errmsg(x->c));
	int64_t el = clock_now_ns() - t0;
	cr_assert(el >= 190000000LL && el < 1500000000LL, "%lld ns", (long long)el);
	fx_free(x);
}

Test(smtp_hostile, huge_line)
{
	FAKE_FOR_EACH_CHUNKING(ck) {
		struct fx *x = fx_new(ck, NULL);
		size_t n = 1 << 20;
		char *big = malloc(n + 1);

		memcpy(big, "220 ", 4);
		memset(big + 4, 'A', n - 4);
		big[n] = '\0';
		fake_send(x->f, big);
		free(big);
		cr_assert_eq(smtp_conn_greeting(x->c, &x->res), -1);
		cr_assert_eq(smtp_conn_err(x->c), SMTP_E_LIMIT, "%s", ck->name);
		cr_assert(strstr(smtp_conn_errmsg(x->c), "longer than 2048 bytes"), "%s", smtp_conn_errmsg(x->c));
		cr_assert_lt(x->trace.len, 2000, "the trace of a huge line is cut");
		fx_free(x);
	}
}

Test(smtp_hostile, endless_continuations)
{
	struct fx *x = fx_new(&fake_chunkings[0], NULL);
	struct sbuf sb;

	fake_send(x->f, "220 mx\r\n");
	cr_assert_eq(sb_init_alloc(&sb, 1 << 22), 0);
	for (int i = 0; i < 50000; i++)
		sb_puts(&sb, "250-XFLOOD\r\n");
	fake_send_after(x->f, "EHLO p\r\n", sb.data);
	sb_free(&sb);
	cr_assert_eq(smtp_conn_greeting(x->c, &x->res), 0);
	cr_assert_eq(smtp_conn_ehlo(x->c, "p", &x->res), -1);
	cr_assert_eq(smtp_conn_err(x->c), SMTP_E_LIMIT);
	cr_assert(strstr(smtp_conn_errmsg(x->c), "longer than 128 lines"), "%s", smtp_conn_errmsg(x->c));
	fx_free(x);
}

Test(smtp_hostile, closing_421_mid_session)
{
	FAKE_FOR_EACH_CHUNKING(ck) {
		struct fx *x = ready(ck, EHLO_TLS);

		fake_send_after(x->f, "MAIL FROM:<a@b>\r\n", "250 ok\r\n");
		fake_send_after(x->f, "RCPT TO:<c@d>\r\n", "421 4.3.2 Service shutting down\r\n");
		fake_eof(x->f);
		cr_assert_eq(smtp_conn_mail(x->c, "a@b", NULL, &x->res), 0);
		cr_assert_eq(smtp_conn_rcpt(x->c, "c@d", &x->res), -1);
		cr_assert_eq(smtp_conn_err(x->c), SMTP_E_CLOSING, "%s", ck->name);
		cr_assert_str_eq(smtp_conn_errmsg(x->c),
				 "RCPT TO: server is closing the connection: 421 4.3.2 Service shutting down");
		size_t before = fake_written_len(x->f);
		cr_assert_eq(smtp_conn_data(x->c, "x", 1, &x->res), -1);
		cr_assert_eq(smtp_conn_err(x->c), SMTP_E_CLOSING, "sticky");
		cr_assert_eq(smtp_conn_quit(x->c, &x->res), -1);
		cr_assert_eq(fake_written_len(x->f), before);
		fx_free(x);
	}
}

Test(smtp_hostile, wrong_codes)
{
	struct fx *x = fx_new(NULL, NULL);

	fake_send(x->f, "250 I am not a greeting\r\n");
	cr_assert_eq(smtp_conn_greeting(x->c, &x->res), -1);
	cr_assert_eq(smtp_conn_err(x->c), SMTP_E_PROTOCOL);
	cr_assert_str_eq(smtp_conn_errmsg(x->c),
			 "greeting: unexpected reply (expected 220): 250 I am not a greeting");
	fx_free(x);

	x = ready(NULL, EHLO_TLS);
	fake_send_after(x->f, "MAIL FROM:<a@b>\r\n", "354 go on\r\n");
	cr_assert_eq(smtp_conn_mail(x->c, "a@b", NULL, &x->res), -1);
	cr_assert_eq(smtp_conn_err(x->c), SMTP_E_PROTOCOL);
	fx_free(x);

	/* not SMTP at all */
	x = fx_new(NULL, NULL);
	fake_send(x->f, "* OK IMAP4rev1 ready\r\n");
	cr_assert_eq(smtp_conn_greeting(x->c, &x->res), -1);
	cr_assert_eq(smtp_conn_err(x->c), SMTP_E_PROTOCOL);
	cr_assert(strstr(smtp_conn_errmsg(x->c), "not an SMTP reply line: \"* OK IMAP4rev1 ready\""), "%s",
		  smtp_conn_errmsg(x->c));
	fx_free(x);

	/* codes changing inside a reply */
	x = fx_new(NULL, NULL);
	fake_send(x->f, "220-hello\r\n554 no\r\n");
	cr_assert_eq(smtp_conn_greeting(x->c, &x->res), -1);
	cr_assert_eq(smtp_conn_err(x->c), SMTP_E_PROTOCOL);
	fx_free(x);
}

Test(smtp_hostile, greeting_refused)
{
	struct fx *x = fx_new(NULL, NULL);

	fake_send(x->f, "554-5.7.1 go away\r\n554 5.7.1 really\r\n");
	cr_assert_eq(smtp_conn_greeting(x->c, &x->res), -1);
	cr_assert_eq(smtp_conn_err(x->c), SMTP_E_REPLY);
	cr_assert_str_eq(smtp_conn_errmsg(x->c), "greeting: 554 5.7.1 go away really");
	fx_free(x);
}

Test(smtp_hostile, close_after_data)
{
	FAKE_FOR_EACH_CHUNKING(ck) {
		struct fx *x = ready(ck, EHLO_TLS);

		fake_send_after(x->f, "DATA\r\n", "354 go\r\n");
		fake_eof(x->f);
		cr_assert_eq(smtp_conn_data(x->c, "hello", 5, &x->res), -1);
		cr_assert_eq(smtp_conn_err(x->c), SMTP_E_EOF, "%s: %s", ck->name, smtp_conn_errmsg(x->c));
		cr_assert_str_eq(smtp_conn_errmsg(x->c), "end of DATA: connection closed by the server");
		fx_free(x);
	}
}

Test(smtp_hostile, data_refused_and_message_rejected)
{
	struct fx *x = ready(NULL, EHLO_TLS);

	fake_send_after(x->f, "DATA\r\n", "554 5.5.1 Error: no valid recipients\r\n");
	cr_assert_eq(smtp_conn_data(x->c, "hello", 5, &x->res), -1);
	cr_assert_eq(smtp_conn_err(x->c), SMTP_E_REPLY);
	cr_assert_str_eq(smtp_conn_errmsg(x->c), "DATA: 554 5.5.1 Error: no valid recipients");
	cr_assert_null(strstr(fake_written(x->f), "hello"), "no message after a refused DATA");
	fx_free(x);

	x = ready(NULL, EHLO_TLS);
	fake_send_after(x->f, "DATA\r\n", "354 go\r\n");
	fake_send_after(x->f, "\r\n.\r\n", "552 5.3.4 Message size exceeds fixed limit\r\n");
	cr_assert_eq(smtp_conn_data(x->c, "hello", 5, &x->res), -1);
	cr_assert_eq(smtp_conn_err(x->c), SMTP_E_REPLY);
	cr_assert_str_eq(smtp_conn_errmsg(x->c), "end of DATA: 552 5.3.4 Message size exceeds fixed limit");
	fx_free(x);
}

Test(smtp_hostile, recipient_refused_is_not_sticky)
{
	struct fx *x = ready(NULL, EHLO_TLS);

	fake_send_after(x->f, "RCPT TO:<nobody@example.org>\r\n",
			"550 5.1.1 <nobody@example.org>: Recipient address rejected: User unknown\r\n");
	fake_send_after(x->f, "RSET\r\n", "250 2.0.0 Ok\r\n");
	cr_assert_eq(smtp_conn_rcpt(x->c, "nobody@example.org", &x->res), -1);
	cr_assert_eq(smtp_conn_err(x->c), SMTP_E_REPLY);
	cr_assert_str_eq(smtp_conn_errmsg(x->c),
			 "RCPT TO: 550 5.1.1 <nobody@example.org>: Recipient address rejected: User unknown");
	cr_assert_eq(x->res.code, 550);
	cr_assert_str_eq(x->res.enh, "5.1.1");
	cr_assert_eq(smtp_conn_rset(x->c, &x->res), 0, "%s", smtp_conn_errmsg(x->c));
	fx_free(x);
}

Test(smtp_hostile, unsolicited_reply)
{
	FAKE_FOR_EACH_CHUNKING(ck) {
		struct fx *x = ready(ck, EHLO_TLS);

		fake_send_after(x->f, "MAIL FROM:<a@b>\r\n", "250 ok\r\n250 for the next command\r\n");
		fake_send_after(x->f, "RCPT TO:<c@d>\r\n", "550 no\r\n");
		cr_assert_eq(smtp_conn_mail(x->c, "a@b", NULL, &x->res), 0);
		/* the extra reply may or may not have arrived by now; if it did,
		 * RCPT must not take it as its answer */
		int rc = smtp_conn_rcpt(x->c, "c@d", &x->res);
		cr_assert_eq(rc, -1, "%s", ck->name);
		cr_assert(smtp_conn_err(x->c) == SMTP_E_PROTOCOL || smtp_conn_err(x->c) == SMTP_E_REPLY,
			  "%s: %s", ck->name, smtp_conn_errmsg(x->c));
		if (smtp_conn_err(x->c) == SMTP_E_PROTOCOL)
			cr_assert(strstr(smtp_conn_errmsg(x->c), "nobody asked for"), "%s", smtp_conn_errmsg(x->c));
		fx_free(x);
	}
}

Test(smtp_hostile, quit_without_221)
{
	struct fx *x = ready(NULL, EHLO_TLS);

	fake_eof(x->f);
	cr_assert_eq(smtp_conn_quit(x->c, &x->res), 0, "%s", smtp_conn_errmsg(x->c));
	fx_free(x);

	x = ready(NULL, EHLO_TLS);
	fake_send_after(x->f, "QUIT\r\n", "221 by");
	fake_eof(x->f);
	cr_assert_eq(smtp_conn_quit(x->c, &x->res), -1, "half a reply is no clean close");
	cr_assert_eq(smtp_conn_err(x->c), SMTP_E_EOF);
	fx_free(x);
}

Test(smtp_hostile, write_error)
{
	struct fx *x = ready(NULL, EHLO_TLS);

	fake_fail_write_after(x->f, fake_written_len(x->f) + 3);
	cr_assert_eq(smtp_conn_mail(x->c, "a@b", NULL, &x->res), -1);
	cr_assert_eq(smtp_conn_err(x->c), SMTP_E_IO);
	cr_assert(strstr(smtp_conn_errmsg(x->c), "MAIL FROM: write error: fake: injected write error"), "%s",
		  smtp_conn_errmsg(x->c));
	fx_free(x);
}

Test(smtp_local, bad_arguments_send_nothing)
{
	struct fx *x = ready(NULL, EHLO_TLS);
	size_t before = fake_written_len(x->f);

	cr_assert_eq(smtp_conn_mail(x->c, "a@b>\r\nRCPT TO:<evil@x", NULL, &x->res), -1);
	cr_assert_eq(smtp_conn_err(x->c), SMTP_E_LOCAL);
	cr_assert(strstr(smtp_conn_errmsg(x->c), "MAIL FROM: argument"), "%s", smtp_conn_errmsg(x->c));
	cr_assert_eq(smtp_conn_rcpt(x->c, "", &x->res), -1);
	cr_assert_eq(smtp_conn_err(x->c), SMTP_E_LOCAL);
	cr_assert_eq(smtp_conn_ehlo(x->c, "a b", &x->res), -1);
	cr_assert_eq(smtp_conn_data(x->c, "a\0b", 3, &x->res), -1);
	cr_assert_eq(smtp_conn_err(x->c), SMTP_E_LOCAL);
	cr_assert_eq(fake_written_len(x->f), before);
	/* not sticky */
	fake_send_after(x->f, "MAIL FROM:<a@b>\r\n", "250 ok\r\n");
	cr_assert_eq(smtp_conn_mail(x->c, "a@b", NULL, &x->res), 0);
	fx_free(x);
}

Test(smtp_local, big_message_in_small_writes)
{
	struct fx *x = ready(NULL, EHLO_TLS);
	size_t n = 300000;
	char *msg = malloc(n);

	for (size_t i = 0; i < n; i++)
		msg[i] = (i % 70 == 69) ? '\n' : (i % 70 == 0 ? '.' : 'x');
	fake_set_write_chunk(x->f, 1000);
	fake_send_after(x->f, "DATA\r\n", "354 go\r\n");
	fake_send_after(x->f, "\r\n.\r\n", "250 ok\r\n");
	cr_assert_eq(smtp_conn_data(x->c, msg, n, &x->res), 0, "%s", smtp_conn_errmsg(x->c));
	const char *w = fake_written(x->f);
	cr_assert(strstr(w, "DATA\r\n..xxx"), "dot-stuffed");
	cr_assert_eq(strncmp(w + fake_written_len(x->f) - 5, "\r\n.\r\n", 5), 0);
	free(msg);
	fx_free(x);
}
