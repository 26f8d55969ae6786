/* clock.c - CLOCK_MONOTONIC in nanoseconds and the deadline arithmetic every
 * wait in the probe uses (the only clock reads of probes/ go through here). */
#include "config.h"
#include "net/clock.h"

#include <limits.h>
#include <time.h>

int64_t clock_now_ns(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

int clock_ms_until(int64_t deadline_ns)
{
	if (deadline_ns == 0)
		return -1;
	int64_t left = deadline_ns - clock_now_ns();
	if (left <= 0)
		return 0;
	int64_t ms = (left + 999999) / 1000000;
	return ms > INT_MAX ? INT_MAX : (int)ms;
}

int clock_expired(int64_t deadline_ns)
{
	return deadline_ns != 0 && clock_now_ns() >= deadline_ns;
}
