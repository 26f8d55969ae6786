/* transport.c - plain TCP transport and the deadline-aware helpers that
 * every transport shares. */
#include "config.h"
#include "net/transport.h"

#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "net/clock.h"

/* ---------------------------------------------------------------- plain TCP */

static ssize_t tcp_read(struct transport *t, void *buf, size_t len)
{
	ssize_t n = transport_sock_recv(t->fd, buf, len, t->rt);
	if (n > 0)
		return n;
	if (n == 0)
		return TR_EOF;
	if (errno == EAGAIN || errno == EWOULDBLOCK)
		return TR_WANT_READ;
	if (errno == ECONNRESET) {
		snprintf(t->err, sizeof(t->err), "connection reset by peer");
		return TR_ERROR;
	}
	snprintf(t->err, sizeof(t->err), "recv: %s", strerror(errno));
	return TR_ERROR;
}

static ssize_t tcp_write(struct transport *t, const void *buf, size_t len)
{
	ssize_t n = transport_sock_send(t->fd, buf, len, t->rt);
	if (n > 0)
		return n;
	if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK))
		return TR_WANT_WRITE;
	if (n < 0 && errno == EPIPE)
		return TR_EOF;
	snprintf(t->err, sizeof(t->err), "send: %s", n < 0 ? strerror(errno) : "no progress");
	return TR_ERROR;
}

static void tcp_close(struct transport *t)
{
	if (t->fd >= 0)
		close(t->fd);
	free(t);
}

static const struct transport_ops tcp_ops = {
	.name = "tcp",
	.read = tcp_read,
	.write = tcp_write,
	.pending = NULL,
	.close = tcp_close,
};

struct transport *transport_tcp_new(int fd, struct rt_counter *rt)
{
	struct transport *t = calloc(1, sizeof(*t));
	if (!t)
		return NULL;
	t->ops = &tcp_ops;
	t->fd = fd;
	t->rt = rt;
	return t;
}

/* ---------------------------------------------------------------- helpers */

void rt_counter_sent(struct rt_counter *rc)
{
	if (rc)
		rc->sent = 1;
}

void rt_counter_wait(struct rt_counter *rc)
{
	if (rc && rc->sent) {
		rc->count++;
		rc->sent = 0;
	}
}

ssize_t transport_sock_send(int fd, const void *buf, size_t len, struct rt_counter *rt)
{
	for (;;) {
		ssize_t n = send(fd, buf, len, MSG_NOSIGNAL);
		if (n < 0 && errno == EINTR)
			continue;
		if (n > 0)
			rt_counter_sent(rt);
		return n;
	}
}

ssize_t transport_sock_recv(int fd, void *buf, size_t len, struct rt_counter *rt)
{
	for (;;) {
		rt_counter_wait(rt);
		ssize_t n = recv(fd, buf, len, 0);
		if (n < 0 && errno == EINTR)
			continue;
#ifdef TCP_QUICKACK
		if (n > 0) {
			/* flushes the ACK for what was just read, and keeps the
			 * next ones immediate (see transport.h) */
			int one = 1;
			(void)setsockopt(fd, IPPROTO_TCP, TCP_QUICKACK, &one, sizeof(one));
		}
#endif
		return n;
	}
}

/* With a stop flag, poll() sleeps at most this long at a time: a signal
 * that lands between the flag check and poll() (which then does not see
 * EINTR) costs at most this much. */
#define STOP_SLICE_MS 100

static int stopped(const struct transport *t)
{
	return t->stop && *t->stop;
}

int transport_wait(struct transport *t, short events, int64_t deadline_ns)
{
	for (;;) {
		if (stopped(t))
			return 0;
		int ms = clock_ms_until(deadline_ns);
		if (ms == 0)
			return 0;
		if (t->stop && (ms < 0 || ms > STOP_SLICE_MS))
			ms = STOP_SLICE_MS;
		struct pollfd pfd = { .fd = t->fd, .events = events };
		int r = poll(&pfd, 1, ms);
		if (r > 0)
			return 1; /* errors/hangups surface in the next read/write */
		if (r == 0) {
			if (clock_expired(deadline_ns))
				return 0;
			continue;
		}
		if (errno == EINTR)
			continue;
		snprintf(t->err, sizeof(t->err), "poll: %s", strerror(errno));
		return -1;
	}
}

static int wait_for(struct transport *t, ssize_t want, int64_t deadline_ns)
{
	int r = transport_wait(t, want == TR_WANT_WRITE ? POLLOUT : POLLIN, deadline_ns);
	if (r == 0)
		return TR_TIMEOUT;
	return r < 0 ? TR_ERROR : 0;
}

ssize_t transport_read(struct transport *t, void *buf, size_t len, int64_t deadline_ns)
{
	for (;;) {
		if ((clock_expired(deadline_ns) || stopped(t)) && !(t->ops->pending && t->ops->pending(t)))
			return TR_TIMEOUT;
		ssize_t n = t->ops->read(t, buf, len);
		if (n > 0) {
			t->bytes_in += (uint64_t)n;
			return n;
		}
		if (n != TR_WANT_READ && n != TR_WANT_WRITE)
			return n;
		if (n == TR_WANT_READ)
			t->waits++;
		int w = wait_for(t, n, deadline_ns);
		if (w < 0)
			return w;
	}
}

int transport_write_all(struct transport *t, const void *buf, size_t len, int64_t deadline_ns)
{
	const char *p = buf;
	while (len > 0) {
		if (clock_expired(deadline_ns) || stopped(t))
			return TR_TIMEOUT;
		ssize_t n = t->ops->write(t, p, len);
		if (n > 0) {
			t->bytes_out += (uint64_t)n;
			p += n;
			len -= (size_t)n;
			continue;
		}
		if (n != TR_WANT_READ && n != TR_WANT_WRITE)
			return (int)n;
		int w = wait_for(t, n, deadline_ns);
		if (w < 0)
			return w;
	}
	return 0;
}

void transport_close(struct transport *t)
{
	if (t)
		t->ops->close(t);
}
