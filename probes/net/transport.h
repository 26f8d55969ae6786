/* transport.h - one small function table for byte streams: plain TCP, TLS
 * (tls.h) and the tests' fake transport implement it.
 *
 * Every slot is non-blocking: it either makes progress or says which
 * direction it is waiting for.  The deadline-aware helpers below turn that
 * into blocking-with-deadline calls using poll() on the transport's fd.
 *
 * Error strings: each transport owns an `err` buffer in struct transport;
 * after TR_ERROR it holds a readable message (never a secret). */
#ifndef CIS_TRANSPORT_H
#define CIS_TRANSPORT_H

#include <signal.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

/* Results of read/write slots when no bytes moved. */
enum tr_status {
	TR_WANT_READ = -1,   /* retry when the fd is readable */
	TR_WANT_WRITE = -2,  /* retry when the fd is writable */
	TR_EOF = -3,         /* orderly close by peer */
	TR_ERROR = -4,       /* hard error; message in t->err */
	TR_TIMEOUT = -5,     /* only from the deadline helpers below */
};

struct transport;

/* Round trips of one session, counted as turns of the conversation: a
 * read from a socket counts once if the client sent something since the
 * previous counted read, so a reply that arrives in several segments (or
 * several reads) is still one round trip, and the count does not depend on
 * whether the answer happened to be there before the client asked (fast
 * loopback).  Every send() to a socket calls rt_counter_sent(), every
 * recv() rt_counter_wait() (transport_sock_send/recv below: plain TCP and
 * the TLS backends' socket callbacks); net_connect() counts the TCP
 * handshake.  The session owns one counter (zeroed) and hands it to every
 * connection it opens, so all its connections count into it; NULL counts
 * nothing. */
struct rt_counter {
	unsigned count;     /* round trips so far */
	int sent;           /* the client sent since the last counted read */
};

void rt_counter_sent(struct rt_counter *rc);  /* NULL-safe */
void rt_counter_wait(struct rt_counter *rc);  /* NULL-safe */

struct transport_ops {
	const char *name; /* "tcp", "tls", "fake" */
	/* Read up to len bytes: returns >0 bytes read or an enum tr_status. */
	ssize_t (*read)(struct transport *t, void *buf, size_t len);
	/* Write up to len bytes: returns >0 bytes written or an enum tr_status. */
	ssize_t (*write)(struct transport *t, const void *buf, size_t len);
	/* Bytes already decrypted/buffered inside the transport that a read
	 * will return without touching the fd (TLS records); may be NULL. */
	size_t (*pending)(struct transport *t);
	/* Release everything, including the fd unless it was handed on. */
	void (*close)(struct transport *t);
};

struct transport {
	const struct transport_ops *ops;
	void *ctx;          /* implementation state */
	int fd;             /* pollable descriptor, -1 if none */
	char err[256];      /* message after TR_ERROR */
	uint64_t bytes_in, bytes_out;
	unsigned waits;     /* times a read had to wait for the peer (poll) */
	struct rt_counter *rt; /* where this connection counts round trips; NULL: nowhere */
	/* Set by the owner, may be NULL: once *stop is non-zero (a signal
	 * asked the run to end) the deadline helpers below give up as if the
	 * deadline had passed (TR_TIMEOUT, or 0 from transport_wait).  A TLS
	 * transport takes it over from the plain one it wraps. */
	const volatile sig_atomic_t *stop;
};

/* Plain TCP over an already connected non-blocking socket.  Takes
 * ownership of fd; counts round trips into rt (may be NULL).  Returns NULL
 * on ENOMEM. */
struct transport *transport_tcp_new(int fd, struct rt_counter *rt);

/* The socket calls of every transport over a TCP socket (plain TCP here,
 * the TLS backends' I/O callbacks): one non-blocking send()/recv() with
 * MSG_NOSIGNAL, retried on EINTR, counted in rt.  After a read that got
 * data, TCP_QUICKACK is set again (Linux): the kernel falls back to delayed
 * ACKs once the conversation looks interactive, and a server that leaves
 * Nagle's algorithm on then holds the rest of a multi-line answer until
 * our delayed ACK (up to 40 ms) goes out: time that is ours, not the
 * server's.  Return what send()/recv() return (-1 with errno; EAGAIN when
 * the socket is not ready). */
ssize_t transport_sock_send(int fd, const void *buf, size_t len, struct rt_counter *rt);
ssize_t transport_sock_recv(int fd, void *buf, size_t len, struct rt_counter *rt);

/* Read at least 1 byte (up to len) before deadline_ns.  Returns bytes read
 * (>0), TR_EOF, TR_ERROR or TR_TIMEOUT. */
ssize_t transport_read(struct transport *t, void *buf, size_t len, int64_t deadline_ns);

/* Write all len bytes before deadline_ns.  Returns 0, TR_EOF, TR_ERROR or
 * TR_TIMEOUT. */
int transport_write_all(struct transport *t, const void *buf, size_t len, int64_t deadline_ns);

/* Wait until the fd is ready for `events` (POLLIN/POLLOUT); 1 ready,
 * 0 timeout (or t->stop set), -1 error (message in t->err). */
int transport_wait(struct transport *t, short events, int64_t deadline_ns);

void transport_close(struct transport *t); /* NULL-safe */

#endif
