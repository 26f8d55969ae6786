/* fake_transport.c - scripted in-memory transport for tests. */
#include "config.h"
#include "fake_transport.h"

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <time.h>
#include <unistd.h>

enum ev_type { EV_DATA, EV_WANT_READ, EV_ERROR, EV_EOF, EV_DELAY };

struct fake_ev {
	enum ev_type type;
	char *data;             /* EV_DATA: bytes; EV_ERROR: message */
	size_t len;             /* EV_DELAY: milliseconds */
	char *gate;             /* EV_DATA: wait for this in the output */
	size_t written_at;      /* capture length when delivery started */
};

struct fake {
	struct fake_chunking ck;
	struct fake_ev *ev;
	unsigned nev, evcap;
	unsigned cur;           /* event being delivered */
	size_t off;             /* bytes of it delivered */
	int stalled_once;       /* FAKE_STALL: WANT_READ given for this chunk */
	size_t gate_pos;        /* search for the next gate from here */
	unsigned rnd;

	char *out;
	size_t out_len, out_cap;
	size_t write_chunk;
	int write_blocked;      /* next write returns WANT_WRITE */
	size_t fail_after;
	int fail_set;
	unsigned write_calls, read_calls;

	int efd;
	int readable;           /* eventfd counter is non-zero */
	struct transport *t;
	int made, closed;
};

const struct fake_chunking fake_chunkings[] = {
	{ "whole", FAKE_WHOLE, 0, 0 },
	{ "bytes", FAKE_BYTES, 0, 0 },
	{ "random1", FAKE_RANDOM, 1, 7 },
	{ "random2", FAKE_RANDOM, 2, 19 },
	{ "random3", FAKE_RANDOM, 3, 64 },
	{ "coalesce", FAKE_COALESCE, 0, 0 },
	{ "stall", FAKE_STALL, 0, 0 },
};
const unsigned fake_nchunkings = sizeof(fake_chunkings) / sizeof(fake_chunkings[0]);

static void *xrealloc(void *p, size_t n)
{
	void *q = realloc(p, n ? n : 1);
	if (!q) {
		fprintf(stderr, "fake_transport: out of memory\n");
		abort();
	}
	return q;
}

static char *xmemdup(const void *p, size_t n)
{
	char *q = xrealloc(NULL, n + 1);
	memcpy(q, p, n);
	q[n] = '\0';
	return q;
}

/* Make the eventfd readable (1) or not (0). */
static void set_readable(struct fake *f, int on)
{
	uint64_t v = 1;

	if (on == f->readable)
		return;
	if (on) {
		if (write(f->efd, &v, sizeof(v)) != sizeof(v))
			abort();
	} else {
		if (read(f->efd, &v, sizeof(v)) != sizeof(v))
			abort();
	}
	f->readable = on;
}

struct fake *fake_new(const struct fake_chunking *ck)
{
	struct fake *f = xrealloc(NULL, sizeof(*f));

	memset(f, 0, sizeof(*f));
	f->ck = ck ? *ck : fake_chunkings[0];
	f->rnd = f->ck.seed ? f->ck.seed : 1;
	if (f->ck.max == 0)
		f->ck.max = 16;
	f->efd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
	if (f->efd < 0)
		abort();
	set_readable(f, 1);
	f->out = xrealloc(NULL, 1);
	f->out[0] = '\0';
	return f;
}

void fake_free(struct fake *f)
{
	if (!f)
		return;
	for (unsigned i = 0; i < f->nev; i++) {
		free(f->ev[i].data);
		free(f->ev[i].gate);
	}
	free(f->ev);
	free(f->out);
	if (f->t) {
		/* the transport outlives us: detach it */
		f->t->ctx = NULL;
	}
	close(f->efd);
	free(f);
}

static struct fake_ev *add_ev(struct fake *f, enum ev_type type)
{
	if (f->nev == f->evcap) {
		f->evcap = f->evcap ? f->evcap * 2 : 16;
		f->ev = xrealloc(f->ev, f->evcap * sizeof(*f->ev));
	}
	struct fake_ev *e = &f->ev[f->nev++];
	memset(e, 0, sizeof(*e));
	e->type = type;
	e->written_at = (size_t)-1;
	set_readable(f, 1);     /* the next read re-checks */
	return e;
}

unsigned fake_send_n(struct fake *f, const void *data, size_t n)
{
	struct fake_ev *e = add_ev(f, EV_DATA);
	e->data = xmemdup(data, n);
	e->len = n;
	return f->nev - 1;
}

unsigned fake_send(struct fake *f, const char *s)
{
	return fake_send_n(f, s, strlen(s));
}

unsigned fake_send_after(struct fake *f, const char *gate, const char *s)
{
	unsigned i = fake_send(f, s);
	f->ev[i].gate = xmemdup(gate, strlen(gate));
	return i;
}

unsigned fake_want_read(struct fake *f)
{
	add_ev(f, EV_WANT_READ);
	return f->nev - 1;
}

unsigned fake_error(struct fake *f, const char *msg)
{
	struct fake_ev *e = add_ev(f, EV_ERROR);
	e->data = xmemdup(msg, strlen(msg));
	return f->nev - 1;
}

unsigned fake_delay(struct fake *f, unsigned ms)
{
	add_ev(f, EV_DELAY)->len = ms;
	return f->nev - 1;
}

unsigned fake_eof(struct fake *f)
{
	add_ev(f, EV_EOF);
	return f->nev - 1;
}

void fake_set_write_chunk(struct fake *f, size_t n)
{
	f->write_chunk = n;
}

void fake_fail_write_after(struct fake *f, size_t after)
{
	f->fail_after = after;
	f->fail_set = 1;
}

const char *fake_written(const struct fake *f)
{
	return f->out;
}

size_t fake_written_len(const struct fake *f)
{
	return f->out_len;
}

size_t fake_written_at(const struct fake *f, unsigned ev)
{
	return ev < f->nev ? f->ev[ev].written_at : (size_t)-1;
}

unsigned fake_write_calls(const struct fake *f)
{
	return f->write_calls;
}

unsigned fake_read_calls(const struct fake *f)
{
	return f->read_calls;
}

int fake_consumed(const struct fake *f)
{
	if (f->cur >= f->nev)
		return 1;
	/* EOF is sticky: consumed once it was seen */
	return f->ev[f->cur].type == EV_EOF && f->ev[f->cur].written_at != (size_t)-1;
}

int fake_closed(const struct fake *f)
{
	return f->closed;
}

/* ---------------------------------------------------------------- playback */

static const char *find(const char *hay, size_t n, const char *needle, size_t nl)
{
	for (size_t i = 0; i + nl <= n; i++)
		if (memcmp(hay + i, needle, nl) == 0)
			return hay + i;
	return NULL;
}

static int gate_open(struct fake *f, const struct fake_ev *e, int consume)
{
	if (!e->gate || f->off > 0)
		return 1;
	size_t gl = strlen(e->gate);
	if (f->out_len < f->gate_pos + gl)
		return 0;
	const char *hit = find(f->out + f->gate_pos, f->out_len - f->gate_pos, e->gate, gl);
	if (!hit)
		return 0;
	if (consume)
		f->gate_pos = (size_t)(hit - f->out) + gl;
	return 1;
}

/* Is there something a read would deliver now? */
static int can_deliver(struct fake *f)
{
	if (f->cur >= f->nev)
		return 0;
	return gate_open(f, &f->ev[f->cur], 0);
}

static size_t chunk_size(struct fake *f, size_t left)
{
	size_t n = left;

	switch (f->ck.mode) {
	case FAKE_BYTES:
		n = 1;
		break;
	case FAKE_RANDOM:
		f->rnd = f->rnd * 1103515245u + 12345u;
		n = 1 + (f->rnd >> 16) % f->ck.max;
		break;
	default:
		break;
	}
	return n < left ? n : left;
}

static void mark_start(struct fake *f, struct fake_ev *e)
{
	if (f->off == 0 && e->written_at == (size_t)-1)
		e->written_at = f->out_len;
}

/* Copy data events into buf from the current one on. */
static size_t deliver(struct fake *f, char *buf, size_t len)
{
	size_t got = 0;

	while (got < len && f->cur < f->nev) {
		struct fake_ev *e = &f->ev[f->cur];
		if (e->type != EV_DATA || !gate_open(f, e, 1))
			break;
		mark_start(f, e);
		size_t left = e->len - f->off;
		size_t n = f->ck.mode == FAKE_COALESCE ? left : chunk_size(f, left);
		if (n > len - got)
			n = len - got;
		memcpy(buf + got, e->data + f->off, n);
		got += n;
		f->off += n;
		if (f->off == e->len) {
			f->cur++;
			f->off = 0;
		}
		if (f->ck.mode != FAKE_COALESCE)
			break;
	}
	return got;
}

static ssize_t fake_read(struct transport *t, void *buf, size_t len)
{
	struct fake *f = t->ctx;

	if (!f) {
		snprintf(t->err, sizeof(t->err), "fake: script freed");
		return TR_ERROR;
	}
	f->read_calls++;
	if (f->cur >= f->nev || !can_deliver(f)) {
		set_readable(f, 0);     /* poll() blocks until the deadline */
		return TR_WANT_READ;
	}
	struct fake_ev *e = &f->ev[f->cur];
	switch (e->type) {
	case EV_WANT_READ:
		mark_start(f, e);
		f->cur++;
		return TR_WANT_READ;
	case EV_ERROR:
		mark_start(f, e);
		snprintf(t->err, sizeof(t->err), "%s", e->data);
		f->cur++;
		return TR_ERROR;
	case EV_EOF:
		mark_start(f, e);
		return TR_EOF;  /* stays at EOF */
	case EV_DELAY: {
		struct timespec ts = { (time_t)(e->len / 1000), (long)(e->len % 1000) * 1000000L };
		mark_start(f, e);
		nanosleep(&ts, NULL);
		f->cur++;
		return TR_WANT_READ;
	}
	case EV_DATA:
		break;
	}
	if (f->ck.mode == FAKE_STALL && !f->stalled_once) {
		f->stalled_once = 1;
		return TR_WANT_READ;
	}
	f->stalled_once = 0;
	if (len == 0)
		return TR_WANT_READ;
	return (ssize_t)deliver(f, buf, len);
}

static ssize_t fake_write(struct transport *t, const void *buf, size_t len)
{
	struct fake *f = t->ctx;

	if (!f) {
		snprintf(t->err, sizeof(t->err), "fake: script freed");
		return TR_ERROR;
	}
	if (f->fail_set && f->out_len >= f->fail_after) {
		snprintf(t->err, sizeof(t->err), "fake: injected write error");
		return TR_ERROR;
	}
	if (f->write_blocked) {
		f->write_blocked = 0;
		return TR_WANT_WRITE;
	}
	size_t n = len;
	if (f->write_chunk && n > f->write_chunk)
		n = f->write_chunk;
	if (f->fail_set && n > f->fail_after - f->out_len)
		n = f->fail_after - f->out_len;
	if (n == 0) {
		snprintf(t->err, sizeof(t->err), "fake: injected write error");
		return TR_ERROR;
	}
	f->out = xrealloc(f->out, f->out_len + n + 1);
	memcpy(f->out + f->out_len, buf, n);
	f->out_len += n;
	f->out[f->out_len] = '\0';
	f->write_calls++;
	if (f->write_chunk)
		f->write_blocked = 1;
	if (can_deliver(f))
		set_readable(f, 1);     /* a gate may have opened */
	return (ssize_t)n;
}

static void fake_close(struct transport *t)
{
	struct fake *f = t->ctx;

	if (f) {
		f->closed = 1;
		f->t = NULL;
	}
	free(t);
}

static const struct transport_ops fake_ops = {
	.name = "fake",
	.read = fake_read,
	.write = fake_write,
	.pending = NULL,
	.close = fake_close,
};

struct transport *fake_transport(struct fake *f)
{
	if (f->made)
		return NULL;
	struct transport *t = xrealloc(NULL, sizeof(*t));
	memset(t, 0, sizeof(*t));
	t->ops = &fake_ops;
	t->ctx = f;
	t->fd = f->efd;
	f->t = t;
	f->made = 1;
	return t;
}
