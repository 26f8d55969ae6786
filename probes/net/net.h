/* net.h - name resolution and non-blocking TCP connect under a deadline.
 * Error messages go to a caller buffer and never contain secrets. */
#ifndef CIS_NET_H
#define CIS_NET_H

#include <signal.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/socket.h>

#define NET_MAX_ADDRS 16

struct net_addrs {
	int count;
	struct sockaddr_storage addr[NET_MAX_ADDRS];
	socklen_t len[NET_MAX_ADDRS];
};

/* family: AF_UNSPEC, AF_INET or AF_INET6.  Numeric addresses resolve
 * without a lookup.  Names are looked up asynchronously (getaddrinfo_a)
 * so the deadline holds.  Returns 0, or -1 with err filled; sets
 * *timed_out when the deadline was hit.  stop (may be NULL): once *stop
 * is non-zero (a signal ended the run) the wait ends as on the deadline;
 * the same in net_connect. */
int net_resolve(const char *host, unsigned port, int family, int64_t deadline_ns,
		const volatile sig_atomic_t *stop, struct net_addrs *out, int *timed_out, char *err,
		size_t errlen);

struct rt_counter;

/* Try each address in turn until one connects or the deadline passes.
 * The returned socket is non-blocking with TCP_NODELAY set.  *used gets
 * the index of the address that worked.  The TCP handshake counts in rt
 * (transport.h; may be NULL).  stop as for net_resolve.  Returns fd >= 0,
 * or -1 with err filled (the last address's error) and *timed_out set on
 * the deadline (or stop). */
int net_connect(const struct net_addrs *addrs, int64_t deadline_ns, const volatile sig_atomic_t *stop,
		struct rt_counter *rt,
		int *used, int *timed_out, char *err, size_t errlen);

/* "192.0.2.1:143" / "[2001:db8::1]:993" */
void net_format_addr(const struct sockaddr_storage *ss, char *buf, size_t len);

/* Non-zero if host is an IPv4 or IPv6 literal. */
int net_is_ip_literal(const char *host);

#endif
