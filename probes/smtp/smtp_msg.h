/* smtp_msg.h - the delivery probe's message and what its headers tell
 * afterwards, pure (no I/O, no clock: times come from the caller):
 *
 *  - the message: From, To, Subject, Date, a Message-ID and a probe header
 *    (SMTP_PROBE_HEADER) carrying a unique token and the send time, so the
 *    IMAP side can find exactly this message (UID SEARCH HEADER) and
 *    recognise leftovers of earlier runs by age;
 *  - the path it took: the Received: header fields of the delivered copy,
 *    with the time each hop stamped and the delay from the previous hop
 *    (hosts' clocks may disagree: a negative delay is reported as skew,
 *    not hidden);
 *  - RFC 5322 dates. */
#ifndef CIS_SMTP_MSG_H
#define CIS_SMTP_MSG_H

#include <stddef.h>
#include <stdint.h>
#include <time.h>

#include "util/util.h"

/* The marker header of every probe message of check_imap_session (the
 * session's --append/--idle messages carry "probe (append)" etc.), so one
 * leftover search ("HEADER X-Check-Imap-Session probe") finds them all;
 * the delivery probe's value is "probe (delivery) TOKEN; sent=MS". */
#define SMTP_PROBE_HEADER "X-Check-Imap-Session"
#define SMTP_PROBE_PREFIX "probe (delivery) "
#define SMTP_TOKEN_MAX 64

struct smtp_probe_msg {
	const char *from;        /* envelope and From: address */
	const char *to;          /* To: address */
	const char *token;       /* unique, [A-Za-z0-9.-], 8..SMTP_TOKEN_MAX-1 */
	const char *host;        /* for the Message-ID's right-hand side: a
	                            domain (from's when NULL) */
	time_t date;             /* wall clock, for Date: */
	int64_t sent_ms;         /* wall clock in ms, in the probe header */
};

/* Make a token from n (>= 8) random bytes and a wall-clock time: "cis-"
 * + time in base 36 + "-" + hex, at most SMTP_TOKEN_MAX-1 bytes. */
void smtp_probe_token(char *out, size_t outlen, const unsigned char *rnd, size_t n, time_t now);

/* The message text (LF line ends; smtp_enc_message makes them CRLF).
 * Returns 0, or -1 if an argument is unusable (token or address with
 * CR/LF/space or empty, buffer full). */
int smtp_probe_msg_build(struct sbuf *out, const struct smtp_probe_msg *m);

/* Parse the probe header's value "probe (delivery) TOKEN; sent=MS" (the
 * prefix may be missing): 0 with token (NUL-terminated, at most toklen-1
 * bytes) and *sent_ms, or -1. */
int smtp_probe_header_parse(const char *value, size_t n, char *token, size_t toklen, int64_t *sent_ms);

/* RFC 5322 date-time ("Sun, 6 Dec 2026 00:28:00 +0000 (UTC)"; the day of
 * the week, seconds and a trailing comment optional; numeric zones, UT,
 * UTC, GMT, Z and the obsolete US zones) to seconds since the epoch.
 * 0 on success, -1 if it is not one. */
int smtp_date_parse(const char *s, size_t n, time_t *out);
/* "Sun, 06 Dec 2026 00:28:00 +0000" into out (>= 32 bytes). */
void smtp_date_format(time_t t, char *out, size_t outlen);

/* ---------------------------------------------------------------- Received */

#define SMTP_MAX_HOPS 16

struct smtp_hop {
	char by[96];             /* "by" host, sanitized ("" if none) */
	char from[96];           /* "from" host, sanitized */
	char with[32];           /* protocol ("ESMTPSA", "LMTP") */
	int has_time;            /* the date after ';' parsed */
	time_t time;
};

struct smtp_path {
	unsigned nhops;          /* in transit order: hop 0 is the first
	                            server (the bottom-most Received:) */
	struct smtp_hop hop[SMTP_MAX_HOPS];
	unsigned dropped;        /* Received: fields beyond SMTP_MAX_HOPS */
};

/* Collect the Received: fields of a header block hdr[0..len) (it ends at
 * the first empty line), unfolded, oldest first. */
void smtp_path_parse(const char *hdr, size_t len, struct smtp_path *path);

/* One line per hop into out: "hop 1: from A by B with C at TIME, +Ns",
 * the first hop's delay counted from sent (wall clock seconds; 0: not
 * shown), a negative delay written as "clock skew: -Ns".  Lines are
 * separated by '\n'. */
void smtp_path_format(const struct smtp_path *path, time_t sent, struct sbuf *out);

#endif
