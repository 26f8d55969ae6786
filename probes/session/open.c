/* open.c - opening and closing a connection: resolve, connect, TLS (with
 * the certificate checks), greeting, STARTTLS, then the login; LOGOUT. */
#include "config.h"
#include "session/open.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>
#include <sys/socket.h>

#include "net/clock.h"
#include "net/net.h"
#include "net/tls.h"
#include "net/transport.h"
#include "session/auth.h"
#include "session/caps.h"
#include "session/step.h"
#include "session/untagged.h"

/* After a signal asked the run to end: the LOGOUT attempt's bound, and
 * the line sent when the connection object refuses further commands. */
#define STOP_LOGOUT_NS (300LL * 1000 * 1000)
#define STOP_LOGOUT_LINE "z1 LOGOUT"

/* ---------------------------------------------------------------- steps */

static int do_connect(struct sess *s, struct transport **out)
{
	const struct probe_config *cfg = s->cfg;
	struct net_addrs addrs;
	char err[256];
	int timed_out = 0, used = 0;

	struct step *st = sess_begin(s, "resolve");
	if (net_resolve(cfg->host, cfg->port, cfg->family, s->deadline, s->env ? s->env->stop : NULL, &addrs,
			&timed_out, err, sizeof(err)) < 0) {
		if (timed_out)
			sess_timeout(s, st);
		else
			sess_fail(s, st, STATE_CRITICAL, "%s", err);
		return -1;
	}
	sess_ok(st, "%d address%s", addrs.count, addrs.count == 1 ? "" : "es");

	st = sess_begin(s, "connect");
	int fd = net_connect(&addrs, s->deadline, s->env ? s->env->stop : NULL, s->rt, &used, &timed_out, err,
			     sizeof(err));
	if (fd < 0) {
		if (timed_out)
			sess_timeout(s, st);
		else
			sess_fail(s, st, STATE_CRITICAL, "%s", err);
		return -1;
	}
	net_format_addr(&addrs.addr[used], s->link.peer, sizeof(s->link.peer));
	sess_ok(st, "%s", s->link.peer);
	report_info(s->rep, "peer", "%s", s->link.peer);
	*out = transport_tcp_new(fd, s->rt);
	if (!*out) {
		sess_fail(s, NULL, STATE_UNKNOWN, "out of memory");
		return -1;
	}
	(*out)->stop = s->env ? s->env->stop : NULL;   /* a signal ends every wait */
	return 0;
}

static void check_certificate(struct sess *s, struct step *st)
{
	const struct tls_info *ti = &s->link.tls;
	if (!ti->has_cert)
		return;
	time_t now = time(NULL);
	double days = (double)(ti->not_after - now) / 86400.0;
	char until[32];
	struct tm tm;
	gmtime_r(&ti->not_after, &tm);
	strftime(until, sizeof(until), "%Y-%m-%d %H:%M:%S UTC", &tm);

	report_info(s->rep, "cert_subject", "%s", ti->subject);
	report_info(s->rep, "cert_issuer", "%s", ti->issuer);
	report_info(s->rep, "cert_not_after", "%lld", (long long)ti->not_after);
	s->cert.days = days;
	s->cert.have_days = 1;
	if (st)
		step_value(st, "cert_days", days, "");

	if (now > ti->not_after) {
		report_fail(s->rep, STATE_CRITICAL, "tls", "certificate expired on %s (%s)", until, ti->subject);
		s->failed = 1;
	} else if (now < ti->not_before) {
		report_fail(s->rep, STATE_CRITICAL, "tls", "certificate not valid yet (%s)", ti->subject);
		s->failed = 1;
	} else if (s->cfg->cert_days_set) {
		int state = thresholds_check(&s->cfg->cert_days, days);
		if (state != STATE_OK) {
			report_raise(s->rep, state);
			report_line(s->rep, "certificate %s expires in %.1f days (%s)", ti->subject, days, until);
			snprintf(s->cert.note, sizeof(s->cert.note), "certificate expires in %.1f days on %s (%s)",
				 days, until, ti->subject);
		}
	}
}

static int do_tls(struct sess *s, struct transport **tr)
{
	const struct probe_config *cfg = s->cfg;
	struct tls_options opt = {
		.sni = cfg->sni ? cfg->sni : (net_is_ip_literal(cfg->host) ? NULL : cfg->host),
		.verify_name = cfg->host,
		.cafile = cfg->cafile,
		.capath = cfg->capath,
		.insecure = cfg->insecure,
		.client_cert = cfg->client_cert,
		.client_key = cfg->client_key,
		.min_version = cfg->tls_min,
	};
	char err[512];
	struct transport *out = NULL;

	struct step *st = sess_begin(s, "tls");
	memset(&s->link.tls, 0, sizeof(s->link.tls));
	int rc = tls_start(*tr, &opt, s->deadline, &out, &s->link.tls, err, sizeof(err));
	if (rc != TLS_OK) {
		if (rc == TLS_ERR_TIMEOUT) {
			sess_timeout(s, st);
		} else {
			sess_fail(s, st, rc == TLS_ERR_CONFIG ? STATE_UNKNOWN : STATE_CRITICAL, "%s", err);
			if (rc == TLS_ERR_VERIFY && s->link.tls.has_cert)
				report_line(s->rep, "server certificate: %s (issuer %s)", s->link.tls.subject,
					    s->link.tls.issuer);
		}
		return -1;
	}
	*tr = out;
	s->link.encrypted = 1;
	s->link.tls_have = 1;
	sess_ok(st, "%s %s%s", s->link.tls.version, s->link.tls.cipher,
		s->link.tls.verified ? ", verified" : ", NOT verified (--insecure)");
	report_info(s->rep, "tls_version", "%s", s->link.tls.version);
	report_info(s->rep, "tls_cipher", "%s", s->link.tls.cipher);
	report_info(s->rep, "tls_verified", "%s", s->link.tls.verified ? "yes" : "no");
	check_certificate(s, st);
	return s->failed ? -1 : 0;
}

static int do_greeting(struct sess *s)
{
	struct imap_result res;
	struct step *st = sess_begin(s, "greeting");

	if (imap_conn_greeting(s->link.conn, &res) < 0) {
		sess_conn_fail(s, st, NULL);
		return -1;
	}
	sess_note_alert(s, res.code, res.text);
	if (res.status == IMAP_ST_BYE) {
		char words[768];
		sess_format_result(&res, words, sizeof(words));
		sess_fail(s, st, STATE_CRITICAL, "server refused the connection: %s", words);
		return -1;
	}
	if (res.status == IMAP_ST_PREAUTH && s->cfg->tls == TLSMODE_STARTTLS) {
		sess_fail(s, st, STATE_CRITICAL, "PREAUTH greeting: STARTTLS is impossible, refusing to go on in plaintext");
		return -1;
	}
	sess_ok(st, "%s %s", imap_status_str(res.status), res.text);
	snprintf(s->link.greet, sizeof(s->link.greet), "%s", res.text);
	return res.status == IMAP_ST_PREAUTH ? 1 : 0;
}


/* Anything readable on the socket right now, without consuming it. */
static int socket_has_data(int fd)
{
	char c;
	ssize_t n = recv(fd, &c, 1, MSG_PEEK | MSG_DONTWAIT);
	return n > 0;
}

static int do_starttls(struct sess *s)
{
	struct imap_cmd cmd;
	struct imap_result res;

	if (sess_ensure_caps(s) < 0)
		return -1;
	struct step *st = sess_begin(s, "starttls");
	if (!(imap_conn_caps(s->link.conn)->flags & CAP_STARTTLS)) {
		sess_fail(s, st, STATE_CRITICAL, "server does not offer STARTTLS (capabilities: %s)",
			  imap_conn_caps(s->link.conn)->raw);
		return -1;
	}
	imap_cmd_init(&cmd, s->link.conn, "STARTTLS");
	int rc = sess_command(s, st, &cmd, &res);
	imap_cmd_free(&cmd);
	if (rc < 0)
		return -1;
	struct transport *tr = imap_conn_transport(s->link.conn);
	if (imap_conn_buffered(s->link.conn) > 0 || socket_has_data(tr->fd)) {
		sess_fail(s, st, STATE_CRITICAL,
			  "server sent data after its STARTTLS OK before the TLS handshake (response injection?)");
		return -1;
	}
	sess_ok(st, "%s", res.text);

	if (do_tls(s, &tr) < 0) {
		/* tr was left untouched on failure: the conn still owns it.  No
		 * LOGOUT either: after STARTTLS nothing more may be sent until
		 * TLS is up (RFC 3501/9051 6.2.1), least of all in the clear. */
		s->link.greeted = 0;
		return -1;
	}
	imap_conn_replace_transport(s->link.conn, tr);
	imap_conn_caps_reset(s->link.conn);
	return 0;
}

static void do_logout(struct sess *s)
{
	struct imap_cmd cmd;
	struct imap_result res;
	int64_t now = clock_now_ns();
	/* a signal came before the LOGOUT: still send it, briefly */
	int stop_first = sess_stopped(s);
	int64_t grace = now + (stop_first ? STOP_LOGOUT_NS : LOGOUT_GRACE_NS);

	if (stop_first)
		imap_conn_transport(s->link.conn)->stop = NULL;
	struct step *st = sess_begin(s, "logout");
	imap_conn_set_deadline(s->link.conn, s->deadline && s->deadline < grace ? s->deadline : grace);
	imap_conn_expect_bye(s->link.conn);
	imap_cmd_init(&cmd, s->link.conn, "LOGOUT");
	int rc = imap_conn_command(s->link.conn, &cmd, &res);
	imap_cmd_free(&cmd);
	imap_conn_set_deadline(s->link.conn, s->deadline);
	if (rc < 0) {
		enum imap_err e = imap_conn_err(s->link.conn);
		if (e == IMAP_E_TIMEOUT && sess_stopped(s) && !stop_first)
			sess_timeout(s, st);    /* the signal came during the LOGOUT */
		else if (e == IMAP_E_TIMEOUT && !clock_expired(s->deadline))
			sess_ok(st, "no reply to LOGOUT within %.1fs; closed",
				(double)(stop_first ? STOP_LOGOUT_NS : LOGOUT_GRACE_NS) / 1e9);
		else if (e == IMAP_E_EOF || e == IMAP_E_BYE)
			sess_ok(st, "server closed the connection");
		else if (e == IMAP_E_TIMEOUT)
			sess_timeout(s, st);
		else
			sess_conn_fail(s, st, "LOGOUT");
		return;
	}
	if (res.status != IMAP_ST_OK) {
		sess_result_fail(s, st, "LOGOUT", &res);
		return;
	}
	sess_ok(st, "%s", res.text);
}


/* ---------------------------------------------------------------- runner */

/* Connect, TLS, greeting, STARTTLS, login: see open.h.  Also opens the
 * second connection of --idle (idle.c). */
int sess_open(struct sess *s)
{
	const struct probe_config *cfg = s->cfg;
	struct transport *tr = NULL;

	if (do_connect(s, &tr) < 0)
		return -1;
	if (cfg->tls == TLSMODE_IMPLICIT && do_tls(s, &tr) < 0) {
		transport_close(tr);
		return -1;
	}
	struct imap_conn_opts copts = {
		.trace = s->env ? s->env->trace : NULL,
		.trace_ud = s->env ? s->env->trace_ud : NULL,
	};
	imap_limits_default(&copts.limits);
	s->link.conn = imap_conn_new(tr, &copts);
	if (!s->link.conn) {
		transport_close(tr);
		sess_fail(s, NULL, STATE_UNKNOWN, "out of memory");
		return -1;
	}
	imap_conn_set_deadline(s->link.conn, s->deadline);
	imap_conn_set_handler(s->link.conn, sess_on_untagged, s);

	int pre = do_greeting(s);
	if (pre < 0)
		return -1;
	s->link.greeted = 1;
	if (cfg->tls == TLSMODE_STARTTLS && do_starttls(s) < 0)
		return -1;
	if (!pre && sess_auth(s) < 0)
		return -1;
	return cfg->auth != AUTH_NONE && (pre || s->login.mech[0]) ? 1 : 0;
}

/* A signal cut a command short: the connection refuses further commands
 * (the stream's state is unknown), yet the server deserves its LOGOUT.
 * The line goes out on the transport itself, then whatever the server
 * still sends is read until it closes, at most STOP_LOGOUT_NS. */
static void logout_after_stop(struct sess *s)
{
	struct transport *t = imap_conn_transport(s->link.conn);
	int64_t until = clock_now_ns() + STOP_LOGOUT_NS;
	char buf[4096], sig[24];
	ssize_t n = 0;

	struct step *st = sess_begin(s, "logout");
	t->stop = NULL;
	if (s->env && s->env->trace)
		s->env->trace(s->env->trace_ud, "C", STOP_LOGOUT_LINE, strlen(STOP_LOGOUT_LINE));
	if (transport_write_all(t, STOP_LOGOUT_LINE "\r\n", strlen(STOP_LOGOUT_LINE) + 2, until) < 0) {
		sess_ok(st, "LOGOUT could not be sent: %s", t->err[0] ? t->err : "connection gone");
		return;
	}
	while ((n = transport_read(t, buf, sizeof(buf), until)) > 0)
		;
	const volatile sig_atomic_t *stop = s->env ? s->env->stop : NULL;
	sess_ok(st, "LOGOUT sent after %s; %s", signal_name(stop ? *stop : 0, sig, sizeof(sig)),
		n == TR_TIMEOUT ? "no end within 0.3s, closed" : "server closed the connection");
}

/* LOGOUT unless the connection is gone or was never greeted. */
void sess_close(struct sess *s)
{
	if (!s->link.conn || !s->link.greeted)
		return;
	if (s->timed_out && sess_stopped(s) && !s->link.logged_out &&
	    imap_conn_err(s->link.conn) == IMAP_E_TIMEOUT) {
		logout_after_stop(s);
		return;
	}
	if (s->login.pending.active && !s->failed)
		sess_auth_settle(s);
	if (s->link.logged_out)
		return;         /* LOGOUT went in the last flight, answered there */
	if (!s->timed_out && imap_conn_err(s->link.conn) != IMAP_E_EOF && imap_conn_err(s->link.conn) != IMAP_E_BYE &&
	    imap_conn_err(s->link.conn) != IMAP_E_IO && imap_conn_err(s->link.conn) != IMAP_E_PROTOCOL &&
	    imap_conn_err(s->link.conn) != IMAP_E_LIMIT) {
		int failed = s->failed;
		do_logout(s);
		s->failed |= failed;
	}
}
