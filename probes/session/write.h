/* write.h - the steps that change the mailbox, and the probe message
 * that --append and --idle write and delete. */
#ifndef CIS_SESSION_WRITE_H
#define CIS_SESSION_WRITE_H

#include "session/state.h"

struct flight;
struct fcmd;

/* The probe message, as made by make_probe_msg(). */
struct probe_msg {
	char msgid[128];            /* its unique Message-ID, "<cis...>" */
	char text[1024];            /* the whole message, CRLF lines */
	size_t len;                 /* bytes of text */
};

/* --delete-matched: UID STORE + UID EXPUNGE of what --search matched. */
int sess_delete_matched(struct sess *s);
/* --append: write a probe message, fetch it back, delete it. */
int sess_append_path(struct sess *s);

/* A small message with a unique Message-ID and the marker header. */
void make_probe_msg(struct probe_msg *pm, const char *purpose);
/* The arguments of APPEND of pm to the mailbox wire (modified UTF-7). */
void append_args(struct imap_cmd *cmd, const char *wire, const struct probe_msg *pm);
/* [APPENDUID uidvalidity uid]: the UID, or 0. */
uint64_t appenduid(const struct imap_result *res, int have_validity, uint64_t validity);
/* The probe's UID plus usable leftover UIDs as one set; how many
 * leftovers were added. */
unsigned join_set(char *out, size_t outsz, uint64_t uid, const struct mbx_search *old);
/* The search for probe messages left behind by earlier runs, into `into`. */
/* Queue "UID SEARCH HEADER Message-ID <id>" of pm into f, its matches
 * into found (initialised here); step may be NULL. */
struct fcmd *add_msgid_search(struct flight *f, const char *step, struct mbx_search *found,
			      const struct probe_msg *pm);
struct fcmd *add_leftover_search(struct sess *s, struct sess *cs, struct flight *f, const char *step,
				 struct mbx_search *into);
/* UID STORE + UID EXPUNGE of the probe message (and leftovers) on cs's
 * connection, checked with the watch w: 0 (msg says what happened) or -1
 * recorded. */
int delete_probe(struct sess *s, struct sess *cs, struct step *st, uint64_t uid, const char *set,
		 unsigned left, struct probe_watch *w, char *msg, size_t msglen, struct imap_result *rs,
		 struct imap_result *re);

#endif
