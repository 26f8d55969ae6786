/* caps.h - IMAP capabilities: the flags the probe acts on, the AUTH=
 * mechanisms, and the list as sent.  Pure: parsing only; the connection
 * (imap_conn.h) keeps a connection's set up to date. */
#ifndef CIS_IMAP_CAPS_H
#define CIS_IMAP_CAPS_H

#include <stddef.h>
#include <stdint.h>

#include "imap/imap_parse.h"

enum imap_cap {
	CAP_IMAP4REV1     = 1u << 0,
	CAP_IMAP4REV2     = 1u << 1,
	CAP_STARTTLS      = 1u << 2,
	CAP_LOGINDISABLED = 1u << 3,
	CAP_SASL_IR       = 1u << 4,
	CAP_LITERAL_PLUS  = 1u << 5,
	CAP_LITERAL_MINUS = 1u << 6,
	CAP_IDLE          = 1u << 7,
	CAP_NAMESPACE     = 1u << 8,
	CAP_UIDPLUS       = 1u << 9,
	CAP_QUOTA         = 1u << 10,
	CAP_ESEARCH       = 1u << 11,
	CAP_SEARCHRES     = 1u << 12,
	CAP_SPECIAL_USE   = 1u << 13,
	CAP_LIST_STATUS   = 1u << 14,
	CAP_ENABLE        = 1u << 15,
	CAP_ID            = 1u << 16,
	CAP_CONDSTORE     = 1u << 17,
	CAP_UTF8_ACCEPT   = 1u << 18,
	CAP_STATUS_SIZE   = 1u << 19,
	CAP_LIST_EXTENDED = 1u << 20,
	CAP_MOVE          = 1u << 21,
	CAP_UNSELECT      = 1u << 22,
	CAP_BINARY        = 1u << 23,
};

struct imap_caps {
	int known;              /* a capability list has been seen */
	uint32_t flags;         /* enum imap_cap bits */
	char auth[512];         /* " PLAIN LOGIN SCRAM-SHA-256 " (upper case,
	                           space-separated, with a leading and
	                           trailing space for easy searching) */
	char raw[1024];         /* the list as sent (sanitized), for output */
};

/* Replace caps with the space-separated list in s (len n); known = 1.
 * Unknown capabilities only show in raw; AUTH= entries beyond the room in
 * auth are dropped. */
void imap_caps_parse(struct imap_caps *caps, const char *s, size_t n);
/* Replace caps with the list of an untagged "* CAPABILITY a b c" response
 * (its atoms and quoted strings, joined by spaces). */
void imap_caps_from_response(struct imap_caps *caps, const struct imap_response *r);
/* 1 if the server advertised AUTH=mech (case-insensitive). */
int imap_caps_has_auth(const struct imap_caps *caps, const char *mech);

#endif
