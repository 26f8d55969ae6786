/* mailbox_util.h - pure helpers for the mailbox steps: INTERNALDATE and
 * age arithmetic, UID sequence sets, and the data of NAMESPACE, LIST,
 * QUOTAROOT/QUOTA, SEARCH and ESEARCH responses taken from a parsed
 * response (imap_parse.h).
 *
 * No I/O, no allocation, no globals: every result lands in a caller-owned
 * struct with fixed-size buffers; what does not fit is cut (and flagged
 * where it matters, e.g. a UID set that is later sent back to the server).
 * Everything read from a response is server-controlled: numbers are range
 * checked, sequence sets are validated before they are ever re-sent, names
 * are copied raw (sanitize before output). */
#ifndef CIS_MAILBOX_UTIL_H
#define CIS_MAILBOX_UTIL_H

#include <stddef.h>
#include <stdint.h>
#include <time.h>

#include "imap/imap_parse.h"

/* ---------------------------------------------------------------- dates */

/* INTERNALDATE "17-Jul-1996 02:44:25 -0700" (the day may be one digit or
 * space-padded; the month name is case-insensitive) to a UTC time_t.
 * Fields are range checked (day 1-31, hour 0-23, minute and second 0-59
 * (60 for a leap second), zone -1259..+1400 with minutes < 60).
 * Returns 0 and sets *out, or -1 if malformed. */
int mbx_parse_datetime(const char *s, size_t n, time_t *out);

/* Age in seconds of something dated `then`, seen at `now`: never negative
 * (a date in the future, clock skew, counts as age 0). */
double mbx_age(time_t now, time_t then);

/* "42s", "17m", "3.5h", "12.0d": short human text for an age. */
void mbx_format_age(double seconds, char *out, size_t outsz);

/* ---------------------------------------------------------------- UID sets */

/* Validate a sequence set as a server sends it in ESEARCH ALL
 * ("4", "4:7,9,12:10"): non-zero 32-bit numbers, ':' ranges, ','
 * separators, nothing else (no '*', no blanks, no empty elements).
 * Returns 0 and the number of UIDs it names (ranges counted inclusively,
 * overlaps counted twice), its lowest and highest; -1 if invalid. */
int mbx_seqset_parse(const char *s, size_t n, uint64_t *count, uint64_t *min, uint64_t *max);

/* 1 if the valid set S (as above) names V, 0 if not, -1 if S is invalid. */
int mbx_seqset_has(const char *s, size_t n, uint64_t v);

#define MBX_SET_MAX 8192

/* A UID set built from single UIDs (plain SEARCH) or taken from ESEARCH
 * ALL, bounded: `overflow` is set (and the text must not be used) when it
 * does not fit in MBX_SET_MAX - 1 bytes. */
struct mbx_uidset {
	char text[MBX_SET_MAX];
	size_t len;
	int overflow;
	uint64_t lo, hi;        /* the open run */
	int open;
};
void mbx_uidset_init(struct mbx_uidset *u);
/* Add one UID (ascending input compresses into ranges; any order works). */
void mbx_uidset_add(struct mbx_uidset *u, uint64_t uid);
/* Close the open run: call before using text. */
void mbx_uidset_finish(struct mbx_uidset *u);
/* Replace with a server-sent set (validated by the caller). */
void mbx_uidset_assign(struct mbx_uidset *u, const char *s, size_t n);

/* ---------------------------------------------------------------- SEARCH */

struct mbx_search {
	char tag[16];           /* accept only ESEARCH (TAG "tag"); "" = any */
	int done;               /* a SEARCH or ESEARCH answer arrived */
	int esearch;            /* ...and it was ESEARCH */
	int bad;                /* an ESEARCH ALL set did not validate */
	uint64_t count;
	uint64_t min, max;      /* valid when count > 0 */
	int have_count, have_minmax;
	struct mbx_uidset set;  /* every UID (plain SEARCH, or ESEARCH ALL) */
	int have_set;
};
void mbx_search_init(struct mbx_search *sr, const char *tag);
/* "* SEARCH 4 5 7" (a trailing "(MODSEQ n)" is ignored). */
void mbx_parse_search(const struct imap_response *r, struct mbx_search *sr);
/* "* ESEARCH (TAG "a5") UID COUNT 2 MIN 4 MAX 5 ALL 4:5".  Returns -1
 * (and changes nothing) when the response carries another command's tag. */
int mbx_parse_esearch(const struct imap_response *r, struct mbx_search *sr);
/* 1 if an ESEARCH response carries a (TAG "...") correlator. */
int mbx_esearch_tagged(const struct imap_response *r);
/* After the command completed: derive count/min/max from the set where
 * the server did not send them (IMAP4rev2 servers answer a plain UID
 * SEARCH with ESEARCH ALL only).  Without COUNT, MIN or MAX alone makes
 * count 1 ("at least one") and min == max. */
void mbx_search_finish(struct mbx_search *sr);

/* ---------------------------------------------------------------- NAMESPACE */

#define MBX_NS_OTHERS 4

struct mbx_namespace {
	int have;               /* a NAMESPACE response was parsed */
	int have_personal;
	char prefix[256];       /* first personal namespace, UTF-8 */
	char delim;             /* its hierarchy delimiter; 0 if NIL */
	unsigned nothers;       /* other users' and shared prefixes (UTF-8) */
	char others[MBX_NS_OTHERS][128];
	char desc[384];         /* "personal \"INBOX.\" (.), other users \"#user/\", shared none" */
};
/* Returns 0, or -1 if the response is malformed (ns is then untouched). */
int mbx_parse_namespace(const struct imap_response *r, struct mbx_namespace *ns);
/* Resolve a folder name (UTF-8) given without the personal prefix:
 * INBOX (any case) and its children, names already starting with the
 * personal prefix or with another namespace's prefix stay as they are;
 * anything else gets the personal prefix.  Returns 1 if the prefix was
 * added, 0 if unchanged, -1 if out is too small. */
int mbx_ns_resolve(const struct mbx_namespace *ns, const char *name, char *out, size_t outsz);

/* ---------------------------------------------------------------- LIST */

enum mbx_list_attr {
	MBX_ATTR_NOSELECT    = 1u << 0,   /* \Noselect */
	MBX_ATTR_NONEXISTENT = 1u << 1,   /* \NonExistent (LIST-EXTENDED) */
	MBX_ATTR_ALL         = 1u << 2,   /* RFC 6154 special-use ... */
	MBX_ATTR_ARCHIVE     = 1u << 3,
	MBX_ATTR_DRAFTS      = 1u << 4,
	MBX_ATTR_FLAGGED     = 1u << 5,
	MBX_ATTR_JUNK        = 1u << 6,
	MBX_ATTR_SENT        = 1u << 7,
	MBX_ATTR_TRASH       = 1u << 8,
	MBX_ATTR_IMPORTANT   = 1u << 9,   /* RFC 8457 */
};
#define MBX_SPECIAL_FIRST ((unsigned)MBX_ATTR_ALL)
#define MBX_SPECIAL_COUNT 8

struct mbx_list_entry {
	char name[512];         /* UTF-8 (modified UTF-7 decoded), or the raw
	                           name when it does not decode */
	size_t name_len;        /* may contain NUL if raw: use it */
	int decoded;            /* name was valid modified UTF-7 */
	char delim;             /* 0 if NIL */
	unsigned attrs;         /* enum mbx_list_attr */
};
/* "* LIST (\HasNoChildren \Sent) "/" Sent".  0, or -1 if malformed. */
int mbx_parse_list(const struct imap_response *r, struct mbx_list_entry *e);
/* Name of the special-use attribute with index i (0..MBX_SPECIAL_COUNT-1,
 * bit MBX_SPECIAL_FIRST << i): "All", "Archive", ... */
const char *mbx_special_name(unsigned i);

/* ---------------------------------------------------------------- QUOTA */

struct mbx_quota {
	int have_root;          /* a QUOTAROOT response arrived */
	unsigned nroots;        /* roots it named */
	unsigned nquota;        /* QUOTA responses seen */
	int have_storage, have_messages;
	double storage_pct, messages_pct;           /* the highest over roots */
	uint64_t storage_used, storage_limit;       /* KiB, of that root */
	uint64_t messages_used, messages_limit;
	char detail[384];       /* "\"User quota\": STORAGE 4/10240 KiB, MESSAGE 10/1000" (raw) */
};
void mbx_quota_init(struct mbx_quota *q);
void mbx_parse_quotaroot(const struct imap_response *r, struct mbx_quota *q);
void mbx_parse_quota(const struct imap_response *r, struct mbx_quota *q);
/* Usage in percent; a limit of 0 means nothing may be stored: 100. */
double mbx_quota_percent(uint64_t used, uint64_t limit);

#endif
