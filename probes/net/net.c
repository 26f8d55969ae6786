/* net.c - resolve and connect under the session deadline. */
#include "config.h"
#include "net/net.h"

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "net/clock.h"
#include "net/transport.h"

int net_is_ip_literal(const char *host)
{
	unsigned char buf[sizeof(struct in6_addr)];
	return inet_pton(AF_INET, host, buf) == 1 || inet_pton(AF_INET6, host, buf) == 1;
}

static void add_results(struct net_addrs *out, const struct addrinfo *res, unsigned port)
{
	for (const struct addrinfo *ai = res; ai && out->count < NET_MAX_ADDRS; ai = ai->ai_next) {
		if (ai->ai_family != AF_INET && ai->ai_family != AF_INET6)
			continue;
		struct sockaddr_storage *ss = &out->addr[out->count];
		memcpy(ss, ai->ai_addr, ai->ai_addrlen);
		if (ai->ai_family == AF_INET)
			((struct sockaddr_in *)ss)->sin_port = htons((uint16_t)port);
		else
			((struct sockaddr_in6 *)ss)->sin6_port = htons((uint16_t)port);
		/* drop duplicates (getaddrinfo repeats addresses per socktype) */
		int dup = 0;
		for (int i = 0; i < out->count; i++)
			if (out->len[i] == ai->ai_addrlen && !memcmp(&out->addr[i], ss, ai->ai_addrlen))
				dup = 1;
		if (!dup)
			out->len[out->count++] = (socklen_t)ai->ai_addrlen;
	}
}

/* With a stop flag, a wait sleeps at most this long at a time (a signal
 * that lands just before the wait would otherwise go unnoticed). */
#define STOP_SLICE_MS 100

static int stopped(const volatile sig_atomic_t *stop)
{
	return stop && *stop;
}

/* Milliseconds to wait now: until the deadline, in slices with a stop
 * flag; 0 once it passed or stop is set. */
static int wait_ms(int64_t deadline_ns, const volatile sig_atomic_t *stop)
{
	int ms = clock_ms_until(deadline_ns);
	if (stopped(stop))
		return 0;
	if (stop && (ms < 0 || ms > STOP_SLICE_MS))
		ms = STOP_SLICE_MS;
	return ms;
}

int net_resolve(const char *host, unsigned port, int family, int64_t deadline_ns,
		const volatile sig_atomic_t *stop, struct net_addrs *out, int *timed_out, char *err,
		size_t errlen)
{
	struct addrinfo hints = {
		.ai_family = family,
		.ai_socktype = SOCK_STREAM,
		.ai_flags = AI_NUMERICHOST,
	};
	struct addrinfo *res = NULL;
	int rc;

	memset(out, 0, sizeof(*out));
	*timed_out = 0;
	rc = getaddrinfo(host, NULL, &hints, &res);
	if (rc == 0)
		goto done;
	if (net_is_ip_literal(host)) {
		snprintf(err, errlen, "%s is not an address of the requested family", host);
		return -1;
	}
	hints.ai_flags = AI_ADDRCONFIG;
#ifdef HAVE_GETADDRINFO_A
	{
		/* Heap-allocated: a lookup that cannot be cancelled keeps
		 * writing into it after we return, so it is then leaked on
		 * purpose (the process is about to report and exit). */
		struct lookup {
			struct gaicb cb;
			struct addrinfo hints;
		} *lk = calloc(1, sizeof(*lk));
		if (!lk) {
			snprintf(err, errlen, "out of memory");
			return -1;
		}
		lk->hints = hints;
		lk->cb.ar_name = host;
		lk->cb.ar_request = &lk->hints;
		struct gaicb *list[1] = { &lk->cb };
		struct sigevent sev = { .sigev_notify = SIGEV_NONE };
		rc = getaddrinfo_a(GAI_NOWAIT, list, 1, &sev);
		if (rc == 0) {
			for (;;) {
				int ms = wait_ms(deadline_ns, stop);
				struct timespec ts = { ms / 1000, (long)(ms % 1000) * 1000000 };
				if (ms != 0)
					gai_suspend((const struct gaicb *const *)list, 1, ms < 0 ? NULL : &ts);
				rc = gai_error(&lk->cb);
				if (rc != EAI_INPROGRESS)
					break;
				if (clock_expired(deadline_ns) || stopped(stop)) {
					if (gai_cancel(&lk->cb) == EAI_CANCELED)
						free(lk);
					*timed_out = 1;
					snprintf(err, errlen, "name lookup of %s timed out", host);
					return -1;
				}
			}
			res = lk->cb.ar_result;
		}
		free(lk);
	}
#else
	rc = getaddrinfo(host, NULL, &hints, &res);
#endif
	if (rc != 0) {
		snprintf(err, errlen, "cannot resolve %s: %s", host,
			 rc == EAI_SYSTEM ? strerror(errno) : gai_strerror(rc));
		return -1;
	}
done:
	add_results(out, res, port);
	freeaddrinfo(res);
	if (out->count == 0) {
		snprintf(err, errlen, "%s has no address of the requested family", host);
		return -1;
	}
	return 0;
}

void net_format_addr(const struct sockaddr_storage *ss, char *buf, size_t len)
{
	char ip[INET6_ADDRSTRLEN] = "?";
	if (ss->ss_family == AF_INET) {
		const struct sockaddr_in *s4 = (const struct sockaddr_in *)ss;
		inet_ntop(AF_INET, &s4->sin_addr, ip, sizeof(ip));
		snprintf(buf, len, "%s:%u", ip, ntohs(s4->sin_port));
	} else if (ss->ss_family == AF_INET6) {
		const struct sockaddr_in6 *s6 = (const struct sockaddr_in6 *)ss;
		inet_ntop(AF_INET6, &s6->sin6_addr, ip, sizeof(ip));
		snprintf(buf, len, "[%s]:%u", ip, ntohs(s6->sin6_port));
	} else {
		snprintf(buf, len, "?");
	}
}

/* Connect one address; returns fd, -1 failed (err set), -2 timed out. */
static int connect_one(const struct sockaddr_storage *ss, socklen_t len, int64_t deadline_ns,
		       const volatile sig_atomic_t *stop, struct rt_counter *rt, char *err, size_t errlen)
{
	char where[INET6_ADDRSTRLEN + 8];
	net_format_addr(ss, where, sizeof(where));

	int fd = socket(ss->ss_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, IPPROTO_TCP);
	if (fd < 0) {
		snprintf(err, errlen, "socket: %s", strerror(errno));
		return -1;
	}
	int one = 1;
	setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));

	/* the SYN, its SYN-ACK (one round trip), then our ACK: a server that
	 * speaks first answers one more round trip later */
	rt_counter_sent(rt);
	if (connect(fd, (const struct sockaddr *)ss, len) == 0) {
		rt_counter_wait(rt);
		rt_counter_sent(rt);
		return fd;
	}
	if (errno != EINPROGRESS) {
		snprintf(err, errlen, "%s: %s", where, strerror(errno));
		close(fd);
		return -1;
	}
	for (;;) {
		int ms = wait_ms(deadline_ns, stop);
		struct pollfd pfd = { .fd = fd, .events = POLLOUT };
		int r = ms == 0 ? 0 : poll(&pfd, 1, ms);
		if (r < 0 && errno == EINTR)
			continue;
		if (r == 0) {
			if (!clock_expired(deadline_ns) && !stopped(stop))
				continue;
			snprintf(err, errlen, "%s: no answer", where);
			close(fd);
			return -2;
		}
		break;
	}
	rt_counter_wait(rt);
	rt_counter_sent(rt);
	int soerr = 0;
	socklen_t sl = sizeof(soerr);
	if (getsockopt(fd, SOL_SOCKET, SO_ERROR, &soerr, &sl) < 0)
		soerr = errno;
	if (soerr) {
		snprintf(err, errlen, "%s: %s", where, strerror(soerr));
		close(fd);
		return -1;
	}
	return fd;
}

int net_connect(const struct net_addrs *addrs, int64_t deadline_ns, const volatile sig_atomic_t *stop,
		struct rt_counter *rt,
		int *used, int *timed_out, char *err, size_t errlen)
{
	*timed_out = 0;
	snprintf(err, errlen, "no address to connect to");
	for (int i = 0; i < addrs->count; i++) {
		int fd = connect_one(&addrs->addr[i], addrs->len[i], deadline_ns, stop, rt, err, errlen);
		if (fd >= 0) {
			*used = i;
			return fd;
		}
		if (fd == -2) {
			*timed_out = 1;
			return -1;
		}
	}
	return -1;
}
