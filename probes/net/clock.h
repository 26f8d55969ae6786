/* clock.h - monotonic time and the whole-session deadline.
 *
 * All durations in the probe are measured with CLOCK_MONOTONIC in
 * nanoseconds.  One deadline bounds the whole session: every connect, read
 * and write computes its poll() timeout from it; nothing uses SIGALRM. */
#ifndef CIS_CLOCK_H
#define CIS_CLOCK_H

#include <stdint.h>

/* Nanoseconds on CLOCK_MONOTONIC (arbitrary epoch). */
int64_t clock_now_ns(void);

/* Milliseconds from now until deadline_ns, rounded up, clamped to
 * [0, INT_MAX]; a deadline of 0 means "none" and returns -1 (poll: block). */
int clock_ms_until(int64_t deadline_ns);

/* Non-zero when the deadline (non-zero) has passed. */
int clock_expired(int64_t deadline_ns);

/* Seconds as a double, for rendering. */
static inline double clock_ns_to_s(int64_t ns) { return (double)ns / 1e9; }

#endif
