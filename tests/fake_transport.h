/* fake_transport.h - a scripted in-memory struct transport for tests.
 *
 * A test writes the server's side as a script of read events (data, a
 * transient "would block", an injected error, EOF) and gets a struct
 * transport that plays it back through the ordinary helpers in
 * transport.h (transport_read, transport_write_all, transport_wait).
 * Everything the client writes is captured.
 *
 * Chunking: the same script can be delivered in different read sizes
 * (whole events, one byte at a time, random sizes, everything at once, or
 * with a "would block" before every chunk), so one test body can run
 * under every chunking with FAKE_FOR_EACH_CHUNKING.
 *
 * Gates: fake_send_after() holds data back until the client has written a
 * given string, like a real server that answers only what it received.
 *
 * The pollable fd is an eventfd: readable while the script has something
 * to deliver, drained when the script is exhausted or a gate is closed, so
 * a client that reads too far blocks in poll() until its deadline (and
 * sees TR_TIMEOUT) instead of spinning.
 *
 * Ownership: the struct fake belongs to the test (fake_free); the
 * transport from fake_transport() belongs to whoever it is given to
 * (imap_conn) and is freed by its close slot.  Free the transport first. */
#ifndef CIS_TEST_FAKE_TRANSPORT_H
#define CIS_TEST_FAKE_TRANSPORT_H

#include <stddef.h>

#include "net/transport.h"

enum fake_mode {
	FAKE_WHOLE,      /* each data event in one read (if the buffer allows) */
	FAKE_BYTES,      /* one byte per read */
	FAKE_RANDOM,     /* 1..max bytes per read, seeded */
	FAKE_COALESCE,   /* consecutive data events joined in one read */
	FAKE_STALL,      /* whole events, each preceded by a "would block" */
};

struct fake_chunking {
	const char *name;    /* for assertion messages */
	enum fake_mode mode;
	unsigned seed;       /* FAKE_RANDOM */
	unsigned max;        /* FAKE_RANDOM: largest chunk */
};

/* Every chunking, for FAKE_FOR_EACH_CHUNKING. */
extern const struct fake_chunking fake_chunkings[];
extern const unsigned fake_nchunkings;

#define FAKE_FOR_EACH_CHUNKING(ck) \
	for (const struct fake_chunking *ck = fake_chunkings; ck < fake_chunkings + fake_nchunkings; ck++)

struct fake;

/* ck NULL: FAKE_WHOLE.  Aborts on ENOMEM (tests only). */
struct fake *fake_new(const struct fake_chunking *ck);
/* Free the script and capture; the transport must be closed already. */
void fake_free(struct fake *f);

/* The transport (made once; later calls return NULL). */
struct transport *fake_transport(struct fake *f);

/* Script events, played in order.  Each returns its index. */
unsigned fake_send(struct fake *f, const char *s);
unsigned fake_send_n(struct fake *f, const void *data, size_t n);
/* Data held back until the client's output contains gate (searched after
 * the previous gate's match). */
unsigned fake_send_after(struct fake *f, const char *gate, const char *s);
unsigned fake_want_read(struct fake *f);               /* one TR_WANT_READ */
unsigned fake_error(struct fake *f, const char *msg);  /* TR_ERROR, t->err = msg */
unsigned fake_eof(struct fake *f);                     /* TR_EOF from now on */
/* Sleep ms milliseconds in the read, then one TR_WANT_READ (the server is
 * slow: gives later responses a measurably later arrival time). */
unsigned fake_delay(struct fake *f, unsigned ms);

/* Writes: at most n bytes per write call, with a TR_WANT_WRITE between
 * calls (0: unlimited, the default). */
void fake_set_write_chunk(struct fake *f, size_t n);
/* Writes fail with TR_ERROR once `after` bytes were accepted. */
void fake_fail_write_after(struct fake *f, size_t after);

/* Everything written so far (NUL-terminated; may contain NULs: use len). */
const char *fake_written(const struct fake *f);
size_t fake_written_len(const struct fake *f);
/* Client bytes written when event ev started to be delivered, or
 * (size_t)-1 if it was never delivered. */
size_t fake_written_at(const struct fake *f, unsigned ev);
/* Number of write calls that accepted bytes. */
unsigned fake_write_calls(const struct fake *f);
/* Number of read calls (any result). */
unsigned fake_read_calls(const struct fake *f);
/* 1 once every event was delivered. */
int fake_consumed(const struct fake *f);
/* 1 once the transport was closed. */
int fake_closed(const struct fake *f);

#endif
