/* util.h - small helpers shared by every module: bounded string buffers,
 * secret wiping, sanitizing server text for output.
 *
 * Nothing here allocates except sb_init_alloc() and the growth of a buffer
 * made by it; nothing keeps global state. */
#ifndef CIS_UTIL_H
#define CIS_UTIL_H

#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

/* A growable-but-bounded string buffer.  Appends never overflow: once the
 * bound would be exceeded the buffer is marked truncated, keeps what fitted
 * (cut on a UTF-8 character boundary) and drops every further append until
 * sb_reset().  `data` is always NUL-terminated.
 *
 * Memory is owned by the caller (sb_init with a fixed array: cap == max) or
 * by the buffer (sb_init_alloc: starts small, grows up to max; sb_free).
 * Owned memory may hold secrets (SASL responses), so it is wiped whenever
 * it is released: on growth, sb_reset() and sb_free(). */
struct sbuf {
	char *data;
	size_t len;
	size_t cap;      /* bytes available now, including the NUL */
	int truncated;
	int owned;
	size_t max;      /* bound on cap (== cap for caller memory) */
};
/* mem may be NULL only with cap 0 (then every append truncates). */
void sb_init(struct sbuf *sb, char *mem, size_t cap);
/* Owned buffer holding at most max-1 bytes of text (max >= 1).
 * 0, or -1 (ENOMEM, or max 0: sb is then a valid empty truncating buffer). */
int sb_init_alloc(struct sbuf *sb, size_t max);
/* Wipe and release owned memory; sb becomes an empty, zero-capacity buffer.
 * Safe on caller memory (nothing is freed) and twice in a row. */
void sb_free(struct sbuf *sb);
/* Empty the buffer (wiping the old contents) and clear `truncated`. */
void sb_reset(struct sbuf *sb);
void sb_append(struct sbuf *sb, const char *s, size_t n);
void sb_puts(struct sbuf *sb, const char *s);            /* NULL: nothing */
void sb_putc(struct sbuf *sb, char c);
/* printf-style append.  %f/%g follow the process locale: use
 * sb_put_double() for numbers that a machine will read. */
void sb_printf(struct sbuf *sb, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
void sb_vprintf(struct sbuf *sb, const char *fmt, va_list ap)
	__attribute__((format(printf, 2, 0)));

/* Copy server-controlled bytes into dst (size dstsz, always NUL-terminated)
 * so they are safe on a Nagios status line: tab/CR/LF (and U+2028/U+2029)
 * become one space, other control bytes, DEL, NUL and '|' become '?',
 * invalid UTF-8 bytes become '?' (one per byte), C1 controls and bidi
 * overrides (U+200E/F, U+202A-E, U+2066-9) become '?', so no terminal escape
 * survives; runs of spaces collapse to one and leading/trailing spaces are
 * dropped; when dst is too small the text is cut on a character boundary
 * and ends in "..." (the whole result still fits in dstsz).  src may be
 * NULL when srclen is 0.  dstsz 0: nothing is written.  Returns dst. */
char *sanitize_text(char *dst, size_t dstsz, const char *src, size_t srclen);

/* Length (1-4) of the well-formed UTF-8 sequence at s (n > 0 bytes
 * available), storing its code point in *cp; 0 if s does not start one
 * (overlong, surrogate, > U+10FFFF, bad or missing continuation byte).
 * ASCII bytes, control bytes included, are sequences of length 1. */
size_t utf8_next(const unsigned char *s, size_t n, uint32_t *cp);

/* 1 if s[0..n) is well-formed UTF-8 throughout (as utf8_next), else 0;
 * an empty string is valid. */
int utf8_valid(const char *s, size_t n);

/* Write code point cp (at most U+10FFFF) as UTF-8 into out (room for 4
 * bytes); returns the length, 1-4.  The caller rules out surrogates. */
size_t utf8_encode(uint32_t cp, char *out);

/* Wipe memory that held a secret; not optimised away. */
void secure_zero(void *p, size_t n);
/* Wipe a NUL-terminated secret and free it; NULL-safe. */
void secret_free(char *s);

/* Copy src into dst (size bytes): at most size-1 bytes, always
 * NUL-terminated when size > 0, nothing written when size is 0.  Returns
 * the number of bytes copied (never more than size-1); the copy was cut
 * when that is less than strlen(src). */
size_t strlcpy_s(char *dst, const char *src, size_t size);

/* Case-insensitive ASCII compare of a counted string with a C string:
 * 1 if equal (same length), else 0. */
int ascii_ieq(const char *a, size_t alen, const char *b);

/* 1 when t is a non-empty bearer token that travels intact in SASL and
 * HTTP framing: printable ASCII without space (RFC 6750's b64token is
 * narrower; this keeps the framing safe without rejecting odd but working
 * tokens). */
int bearer_token_ok(const char *t);

/* Format a double in the C locale regardless of setlocale(): "%.*f" with
 * decimals clamped to 0..17, '.' as the decimal point, no grouping, and
 * no "-" on a value that rounds to zero.  NaN and infinities print as
 * "nan", "inf" and "-inf"; callers that need another spelling check
 * isfinite() first. */
void sb_put_double(struct sbuf *sb, double v, int decimals);

/* "SIGTERM", "SIGINT", "SIGALRM", "SIGHUP" or "signal N": the name of a
 * signal that ended a run, for messages.  Never NULL (static storage for
 * the named ones; buf, of at least 16 bytes, for the others). */
const char *signal_name(int sig, char *buf, size_t len);

#endif
