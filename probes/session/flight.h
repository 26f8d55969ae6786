/* flight.h - the pipelining engine.  A flight is a group of independent
 * commands written in one go and answered in order: one round trip for all
 * of them.  Each still gets its own step, timed from its bytes on the wire
 * (or the previous command's answer, whichever is later) to its tagged
 * response.  Their untagged data is routed by content (see untagged.c). */
#ifndef CIS_SESSION_FLIGHT_H
#define CIS_SESSION_FLIGHT_H

#include "session/state.h"

/* The largest flight: NAMESPACE, LIST, STATUS, EXAMINE, GETQUOTAROOT and,
 * with --pipeline, two searches. */
#define FLIGHT_MAX 8

struct fcmd {
	struct step *st;                  /* NULL: part of another command's step */
	struct imap_cmd cmd;
	unsigned id;
	struct imap_result res;
	struct mbx_search *search_into;   /* where its SEARCH/ESEARCH data goes */
	int tagged;                       /* ...and it comes as ESEARCH (TAG "...") */
	struct message_info *fetch_into;  /* where its FETCH data goes */
	int done;                         /* tagged response arrived */
	int64_t prev_done;                /* the previous command's tagged response */
	int logout;                       /* LOGOUT at the end of the last flight */
};

struct flight {
	struct sess *s;                   /* report, steps */
	struct sess *cs;                  /* connection (s, or the --idle one) */
	unsigned n;
	struct fcmd c[FLIGHT_MAX];
};

void fl_init(struct flight *f, struct sess *s, struct sess *cs);
/* Add a command; step may be NULL (the command belongs to a step of a
 * later command in the same flight, e.g. STATUS with EXAMINE). */
struct fcmd *fl_add(struct flight *f, const char *step, const char *verb);
void fl_free(struct flight *f);
/* Give c's step the time its command took (from `from`'s bytes on the
 * wire when it is an earlier command of the same step). */
void fl_time(struct fcmd *c, const struct fcmd *from);
/* A command that relied on capabilities from --cache-dir was refused:
 * 1 (the failure recorded, the session to be repeated), else 0. */
int fl_spec_refused(struct sess *s, struct fcmd *c);
/* Write every command, then collect the tagged responses in order.  0
 * when every command got its tagged response (any status); -1 after a
 * connection failure, recorded on the step concerned, with the other
 * unfinished steps marked as not run. */
int fl_run(struct flight *f);
/* A tagged NO/BAD: the step fails with the server's words. */
void fl_result_fail(struct flight *f, struct fcmd *c, const char *what);

#endif
