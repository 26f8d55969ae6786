/* capcache.h - remembered capabilities (--cache-dir).
 *
 * Servers such as Dovecot list their post-login extensions (SEARCHRES,
 * ESEARCH...) only after the login, yet --pipeline sends the login and the
 * mailbox commands in one flight.  The cache remembers, per server, port,
 * TLS mode and user, the capability list that was in force when the login
 * went out ("before") and the one the server listed after it ("after").
 * The next run may build its login flight on "after" when the server's
 * list is still exactly "before"; a command the server then refuses makes
 * the session start over without the cache (session.c), so a stale entry
 * costs one repeated session, never a wrong result.
 *
 * Only command selection is ever taken from a cache entry - never anything
 * that decides about security (STARTTLS, LOGINDISABLED, mechanisms) - so a
 * planted file can at worst cost that one repeated session.
 *
 * File format (text, at most CAPCACHE_MAX_FILE bytes):
 *   # check_imap_session capability cache 1
 *   key: <host> <port> <tls mode> <user>
 *   before: <capability list>
 *   after: <capability list>
 * One file per key, named caps-<hex of the first 12 bytes of SHA-256(key)>,
 * replaced atomically (a temporary file and rename), so concurrent runs
 * never see a torn file. */
#ifndef CIS_CAPCACHE_H
#define CIS_CAPCACHE_H

#include <stddef.h>

#include "util/util.h"

#define CAPCACHE_MAX_FILE 8192
#define CAPCACHE_LIST_MAX 1024

struct capcache_entry {
	char before[CAPCACHE_LIST_MAX];
	char after[CAPCACHE_LIST_MAX];
};

/* Make --cache-dir DIR usable before the session: created (mode 0700, as
 * ssh does with its directories) when it does not exist but its parent
 * does; refused when it is not a directory, when other users can write to
 * it (group or world writable, or owned by another user than this one or
 * root: they could plant or replace entries), or when this user cannot
 * write to it.  Returns 1 created, 0 fine as it was, -1 with why in err
 * (no secret in it; the caller makes it UNKNOWN). */
int capcache_dir_prepare(const char *dir, char *err, size_t errlen);

/* The key of a session: "host port mode user" (host in lower case, all
 * sanitized: no control bytes, no newline).  user may be NULL. */
void capcache_key(char *buf, size_t len, const char *host, unsigned port, const char *mode, const char *user);

/* The file for key in dir; -1 if it does not fit in len (or no hash). */
int capcache_path(char *buf, size_t len, const char *dir, const char *key);

/* Parse a file's content: 1 and e filled when it is a valid entry for
 * key, 0 otherwise. */
int capcache_parse(const char *data, size_t n, const char *key, struct capcache_entry *e);

/* Render an entry (the file's whole content). */
void capcache_format(struct sbuf *sb, const char *key, const struct capcache_entry *e);

/* Read the entry for key from dir: 1 found, 0 none (no file, or not a
 * valid entry for this key: why in err, "" for a plain miss), -1 on a read
 * error (why in err). */
int capcache_load(const char *dir, const char *key, struct capcache_entry *e, char *err, size_t errlen);

/* Write the entry for key to dir (atomically): 0, or -1 with why in err. */
int capcache_store(const char *dir, const char *key, const struct capcache_entry *e, char *err, size_t errlen);

/* Remove the entry for key: 0 (also when there was none), or -1. */
int capcache_forget(const char *dir, const char *key, char *err, size_t errlen);

#endif
