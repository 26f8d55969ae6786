/* delivery_smtp.c - the SMTP half of --deliver-via: connect, TLS (implicit
 * or STARTTLS, never a plaintext fallback), EHLO, AUTH with the session's
 * SASL mechanisms, MAIL FROM, RCPT TO, DATA; each a timed step. */
#include "config.h"
#include "session/delivery_smtp.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>

#include "net/clock.h"
#include "net/net.h"
#include "net/tls.h"
#include "net/transport.h"
#include "sasl/sasl.h"
#include "smtp/smtp_conn.h"
#include "session/step.h"

/* After a signal, QUIT gets this long. */
#define STOP_QUIT_NS (300LL * 1000 * 1000)

/* ---------------------------------------------------------------- addresses */

static int is_address(const char *s)
{
	const char *at = s ? strchr(s, '@') : NULL;
	return at && at != s && at[1] && !strchr(at + 1, '@');
}

const char *delivery_rcpt(const struct probe_config *cfg)
{
	if (cfg->rcpt_to)
		return cfg->rcpt_to;
	return is_address(cfg->username) ? cfg->username : NULL;
}

const char *delivery_from(const struct probe_config *cfg)
{
	return cfg->mail_from ? cfg->mail_from : delivery_rcpt(cfg);
}

/* ---------------------------------------------------------------- trace */

static void smtp_trace(void *ud, const char *dir, const char *line, size_t len)
{
	const struct session_env *env = ud;
	char d[16];

	snprintf(d, sizeof(d), "SMTP %s", dir);
	env->trace(env->trace_ud, d, line, len);
}

/* ---------------------------------------------------------------- failures */

/* The SMTP connection failed inside st: the step and the server's words. */
static void smtp_fail(struct sess *s, struct step *st, struct smtp_conn *c)
{
	enum smtp_err e = smtp_conn_err(c);

	if (e == SMTP_E_TIMEOUT) {
		sess_timeout(s, st);
		return;
	}
	sess_fail(s, st, e == SMTP_E_LOCAL ? STATE_UNKNOWN : STATE_CRITICAL, "%s", smtp_conn_errmsg(c));
}

/* ---------------------------------------------------------------- connect, TLS */

static struct smtp_conn *smtp_open(struct sess *s, unsigned port)
{
	const struct probe_config *cfg = s->cfg;
	struct net_addrs addrs;
	char err[256], peer[80];
	int timed_out = 0, used = 0;

	struct step *st = sess_begin(s, "smtp_connect");
	if (net_resolve(cfg->deliver_via, port, cfg->family, s->deadline, s->env ? s->env->stop : NULL, &addrs, &timed_out,
			err, sizeof(err)) < 0) {
		if (timed_out)
			sess_timeout(s, st);
		else
			sess_fail(s, st, STATE_CRITICAL, "%s", err);
		return NULL;
	}
	int fd = net_connect(&addrs, s->deadline, s->env ? s->env->stop : NULL, s->rt, &used, &timed_out, err,
			     sizeof(err));
	if (fd < 0) {
		if (timed_out)
			sess_timeout(s, st);
		else
			sess_fail(s, st, STATE_CRITICAL, "%s:%u: %s", cfg->deliver_via, port, err);
		return NULL;
	}
	net_format_addr(&addrs.addr[used], peer, sizeof(peer));
	struct transport *t = transport_tcp_new(fd, s->rt);
	struct smtp_conn_opts opts = { .trace = NULL };
	if (s->env && s->env->trace) {
		opts.trace = smtp_trace;
		opts.trace_ud = (void *)s->env;
	}
	if (t)
		t->stop = s->env ? s->env->stop : NULL;   /* a signal ends every wait */
	struct smtp_conn *c = t ? smtp_conn_new(t, &opts) : NULL;
	if (!c) {
		sess_fail(s, st, STATE_UNKNOWN, "out of memory");
		return NULL;
	}
	smtp_conn_set_deadline(c, s->deadline);
	sess_ok(st, "%s", peer);
	report_info(s->rep, "smtp_peer", "%s", peer);
	return c;
}

static int smtp_tls(struct sess *s, struct smtp_conn *c)
{
	const struct probe_config *cfg = s->cfg;
	struct tls_options opt = {
		.sni = net_is_ip_literal(cfg->deliver_via) ? NULL : cfg->deliver_via,
		.verify_name = cfg->deliver_via,
		.cafile = cfg->cafile,
		.capath = cfg->capath,
		.insecure = cfg->insecure,
		.client_cert = cfg->client_cert,
		.client_key = cfg->client_key,
		.min_version = cfg->tls_min,
	};
	struct tls_info info;
	char err[512];

	struct step *st = sess_begin(s, "smtp_tls");
	memset(&info, 0, sizeof(info));
	int rc = smtp_conn_tls(c, &opt, &info, err, sizeof(err));
	if (rc != TLS_OK) {
		if (rc == TLS_ERR_TIMEOUT) {
			sess_timeout(s, st);
		} else {
			sess_fail(s, st, rc == TLS_ERR_CONFIG ? STATE_UNKNOWN : STATE_CRITICAL, "%s", err);
			if (rc == TLS_ERR_VERIFY && info.has_cert)
				report_line(s->rep, "SMTP server certificate: %s (issuer %s)", info.subject, info.issuer);
		}
		return -1;
	}
	sess_ok(st, "%s %s%s", info.version, info.cipher, info.verified ? ", verified" : ", NOT verified (--insecure)");
	report_info(s->rep, "smtp_tls_version", "%s", info.version);
	if (info.has_cert && time(NULL) > info.not_after) {
		report_fail(s->rep, STATE_CRITICAL, "smtp_tls", "SMTP server certificate expired (%s)", info.subject);
		s->failed = 1;
		return -1;
	}
	return 0;
}

/* EHLO with a domain literal of our own address (always a valid
 * argument, RFC 5321 4.1.4). */
static int smtp_ehlo(struct sess *s, struct smtp_conn *c, const char *step)
{
	struct sockaddr_storage ss;
	socklen_t sl = sizeof(ss);
	char addr[80] = "", dom[96];
	struct smtp_result res;
	struct transport *t = smtp_conn_transport(c);

	if (t->fd >= 0 && getsockname(t->fd, (struct sockaddr *)&ss, &sl) == 0)
		net_format_addr(&ss, addr, sizeof(addr));
	/* "127.0.0.1:34567" / "[::1]:34567" -> "[127.0.0.1]" / "[IPv6:::1]" */
	char *colon = strrchr(addr, ':');
	if (colon)
		*colon = '\0';
	if (addr[0] == '[') {
		size_t n = strlen(addr);
		if (n > 2 && addr[n - 1] == ']')
			addr[n - 1] = '\0';
		snprintf(dom, sizeof(dom), "[IPv6:%s]", addr + 1);
	} else if (addr[0]) {
		snprintf(dom, sizeof(dom), "[%s]", addr);
	} else {
		snprintf(dom, sizeof(dom), "localhost");
	}
	struct step *st = sess_begin(s, step);
	if (smtp_conn_ehlo(c, dom, &res) < 0) {
		smtp_fail(s, st, c);
		return -1;
	}
	const struct smtp_caps *caps = smtp_conn_caps(c);
	sess_ok(st, "%s", caps->raw[0] ? caps->raw : "no extensions");
	sess_step_span(st, res.sent_ns, res.done_ns);
	return 0;
}

/* ---------------------------------------------------------------- AUTH */

/* The session's SASL mechanism behind smtp_conn_auth's callback: the
 * initial response computed before AUTH went out, then step(). */
struct smtp_sasl {
	struct sasl *sasl;
	struct sbuf initial;
	int has_initial;
	const struct sess *s;
};

static int smtp_sasl_fn(void *ud, const unsigned char *chal, size_t len, struct sbuf *out, char *err, size_t errlen)
{
	struct smtp_sasl *x = ud;

	if (!chal) {
		sb_append(out, x->initial.data, x->initial.len);
		return out->truncated ? -1 : 0;
	}
	if (clock_expired(x->s->deadline)) {
		snprintf(err, errlen, "deadline reached");
		return -1;
	}
	int rc = x->sasl->mech->step(x->sasl, chal, len, out);
	if (rc == SASL_FAIL) {
		snprintf(err, errlen, "%s", x->sasl->err[0] ? x->sasl->err : "mechanism failed");
		return -1;
	}
	return 0;
}

/* The mechanism --smtp-auth asks for, or (auto) the strongest one the
 * server lists that the credentials can use, never one that shows the
 * password to an eavesdropper on an unencrypted connection.  NULL with
 * why set when there is none. */
static const struct sasl_mech *smtp_choose(const struct sess *s, const struct smtp_caps *caps, int encrypted,
					   const struct sasl_creds *cr, char *why, size_t whylen)
{
	const struct probe_config *cfg = s->cfg;

	if (cfg->smtp_auth_explicit) {
		const char *name = !strcasecmp(cfg->smtp_auth, "login") ? "auth-login" : cfg->smtp_auth;
		const struct sasl_mech *m = sasl_find(name);
		if (!m) {
			snprintf(why, whylen, "--smtp-auth %s: no such mechanism", cfg->smtp_auth);
			return NULL;
		}
		if (!smtp_caps_has_auth(caps, m->name)) {
			snprintf(why, whylen, "the server does not offer AUTH %s (AUTH:%s)", m->name,
				 caps->auth[1] ? caps->auth : " none");
			return NULL;
		}
		return m;
	}
	for (const struct sasl_mech *const *mp = sasl_mechs; *mp; mp++) {
		const struct sasl_mech *m = *mp;
		if (!smtp_caps_has_auth(caps, m->name) || (m->flags & SASL_F_CB))
			continue;
		if ((m->flags & SASL_F_PLAINTEXT) && !encrypted)
			continue;
		if ((m->flags & SASL_F_PASSWORD) && !cr->password)
			continue;
		if ((m->flags & SASL_F_TOKEN) && !cr->token)
			continue;
		if ((m->flags & SASL_F_CLIENTCERT) && (!cfg->client_cert || !encrypted))
			continue;
		return m;
	}
	snprintf(why, whylen, "no usable mechanism among those offered (AUTH:%s)%s", caps->auth[1] ? caps->auth : " none",
		 encrypted ? "" : "; plaintext mechanisms are not used on an unencrypted connection unless "
				  "--smtp-auth names one");
	return NULL;
}

static int smtp_login(struct sess *s, struct smtp_conn *c)
{
	const struct probe_config *cfg = s->cfg;
	const struct smtp_caps *caps = smtp_conn_caps(c);
	struct sasl_creds cr = {
		.username = cfg->smtp_user ? cfg->smtp_user : cfg->username,
		.password = cfg->smtp_password ? cfg->smtp_password : cfg->password,
		.token = sess_token(s),
		.host = cfg->deliver_via,
	};
	char why[512];
	struct smtp_result res;

	if (cfg->smtp_auth && !strcasecmp(cfg->smtp_auth, "none"))
		return 0;
	struct step *st = sess_begin(s, "smtp_auth");
	if (!(caps->flags & SMTP_CAP_AUTH)) {
		sess_fail(s, st, STATE_CRITICAL, "the server offers no AUTH (EHLO: %s)", caps->raw);
		return -1;
	}
	const struct sasl_mech *m = smtp_choose(s, caps, smtp_conn_encrypted(c), &cr, why, sizeof(why));
	if (!m) {
		sess_fail(s, st, STATE_CRITICAL, "%s", why);
		return -1;
	}
	struct smtp_sasl x = { .s = s };
	x.sasl = sasl_new(m, &cr);
	if (!x.sasl || sb_init_alloc(&x.initial, 8192) < 0) {
		sasl_free(x.sasl);
		sess_fail(s, st, STATE_UNKNOWN, "out of memory");
		return -1;
	}
	int rc = -1;
	if (m->start(x.sasl, &x.initial, &x.has_initial) == SASL_FAIL) {
		sess_fail(s, st, STATE_UNKNOWN, "AUTH %s: %s", m->name, x.sasl->err);
		goto out;
	}
	if (smtp_conn_auth(c, m->name, x.has_initial, smtp_sasl_fn, &x, &res) < 0) {
		smtp_fail(s, st, c);
		goto out;
	}
	if (m->finished && !m->finished(x.sasl)) {
		sess_fail(s, st, STATE_CRITICAL, "AUTH %s: the server accepted without proving itself (%s)", m->name,
			  x.sasl->err[0] ? x.sasl->err : "no server signature");
		goto out;
	}
	sess_ok(st, "%s as %s: %s", m->name, cr.username ? cr.username : "?", res.text);
	sess_step_span(st, res.sent_ns, res.done_ns);
	report_info(s->rep, "smtp_mechanism", "%s", m->name);
	rc = 0;
out:
	sb_free(&x.initial);
	sasl_free(x.sasl);
	return rc;
}

/* ---------------------------------------------------------------- the transaction */

int delivery_smtp_send(struct sess *s, const char *msg, size_t n, struct smtp_sent *out, struct smtp_conn **conn)
{
	const struct probe_config *cfg = s->cfg;
	unsigned port = cfg->smtp_port ? cfg->smtp_port : cfg->smtp_tls == TLSMODE_IMPLICIT ? 465 : 587;
	struct smtp_result res;
	struct step *st;

	*conn = NULL;
	memset(out, 0, sizeof(*out));
	snprintf(s->delivery.via, sizeof(s->delivery.via), "%s:%u", cfg->deliver_via, port);
	struct smtp_conn *c = smtp_open(s, port);
	if (!c)
		return -1;
	if (cfg->smtp_tls == TLSMODE_IMPLICIT && smtp_tls(s, c) < 0)
		goto fail;
	st = sess_begin(s, "smtp_greeting");
	if (smtp_conn_greeting(c, &res) < 0) {
		smtp_fail(s, st, c);
		goto fail;
	}
	sess_ok(st, "%s", res.text);
	if (smtp_ehlo(s, c, "smtp_ehlo") < 0)
		goto fail;
	if (cfg->smtp_tls == TLSMODE_STARTTLS) {
		st = sess_begin(s, "smtp_starttls");
		if (smtp_conn_starttls(c, &res) < 0) {
			smtp_fail(s, st, c);
			goto fail;
		}
		sess_ok(st, "%s", res.text);
		sess_step_span(st, res.sent_ns, res.done_ns);
		if (smtp_tls(s, c) < 0 || smtp_ehlo(s, c, "smtp_ehlo_tls") < 0)
			goto fail;
	}
	if (smtp_login(s, c) < 0)
		goto fail;

	st = sess_begin(s, "smtp_mail");
	if (smtp_conn_mail(c, delivery_from(cfg), NULL, &res) < 0) {
		smtp_fail(s, st, c);
		goto fail;
	}
	sess_ok(st, "%s", res.text);
	sess_step_span(st, res.sent_ns, res.done_ns);
	st = sess_begin(s, "smtp_rcpt");
	if (smtp_conn_rcpt(c, delivery_rcpt(cfg), &res) < 0) {
		smtp_fail(s, st, c);
		goto fail;
	}
	sess_ok(st, "%s", res.text);
	sess_step_span(st, res.sent_ns, res.done_ns);
	st = sess_begin(s, "smtp_data");
	if (smtp_conn_data(c, msg, n, &res) < 0) {
		smtp_fail(s, st, c);
		goto fail;
	}
	sess_ok(st, "%s", res.text);
	sess_step_span(st, res.sent_ns, res.done_ns);
	out->accepted_ns = res.done_ns;
	snprintf(out->reply, sizeof(out->reply), "%s", res.text);
	*conn = c;
	return 0;
fail:
	/* a refusal leaves the connection usable: say goodbye */
	if (smtp_conn_err(c) == SMTP_E_REPLY || smtp_conn_err(c) == SMTP_E_AUTH)
		(void)smtp_conn_quit(c, &res);
	smtp_conn_free(c);
	return -1;
}

void delivery_smtp_quit(struct sess *s, struct smtp_conn *c)
{
	struct smtp_result res;

	if (!c)
		return;
	struct step *st = sess_begin(s, "smtp_quit");
	if (sess_stopped(s)) {
		/* a signal ended the run: still say goodbye, briefly */
		smtp_conn_transport(c)->stop = NULL;
		smtp_conn_set_deadline(c, clock_now_ns() + STOP_QUIT_NS);
	}
	if (smtp_conn_quit(c, &res) < 0) {
		sess_skip(st, "QUIT: %s", smtp_conn_errmsg(c));
		report_line(s->rep, "SMTP QUIT failed: %s", smtp_conn_errmsg(c));
	} else {
		sess_ok(st, "%s", res.code ? res.text : "connection closed");
	}
	smtp_conn_free(c);
}
