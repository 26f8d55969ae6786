/* util.c - small helpers shared by every layer: bounded string buffers,
 * secret wiping, UTF-8, sanitizing server text, C-locale numbers. */
#include "config.h"
#include "util/util.h"

#include <errno.h>
#include <locale.h>
#include <math.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* ---------------------------------------------------------------- memory */

void secure_zero(void *p, size_t n)
{
	if (!p || n == 0)
		return;
#ifdef HAVE_EXPLICIT_BZERO
	explicit_bzero(p, n);
#else
	volatile unsigned char *v = p;
	while (n--)
		*v++ = 0;
#endif
}

size_t strlcpy_s(char *dst, const char *src, size_t size)
{
	if (!dst || size == 0)
		return 0;
	size_t n = src ? strnlen(src, size - 1) : 0;
	memcpy(dst, src ? src : "", n);
	dst[n] = '\0';
	return n;
}

int ascii_ieq(const char *a, size_t alen, const char *b)
{
	if (!a || !b)
		return 0;
	for (size_t i = 0; i < alen; i++) {
		unsigned char x = (unsigned char)a[i], y = (unsigned char)b[i];
		if (y == '\0')
			return 0;
		if (x >= 'A' && x <= 'Z')
			x = (unsigned char)(x - 'A' + 'a');
		if (y >= 'A' && y <= 'Z')
			y = (unsigned char)(y - 'A' + 'a');
		if (x != y)
			return 0;
	}
	return b[alen] == '\0';
}

/* ---------------------------------------------------------------- UTF-8 */

size_t utf8_next(const unsigned char *s, size_t n, uint32_t *cp)
{
	unsigned char b = s[0];
	size_t len;
	uint32_t c;
	unsigned char lo = 0x80, hi = 0xbf; /* allowed range of byte 2 */

	if (b < 0x80) {
		*cp = b;
		return 1;
	}
	if (b >= 0xc2 && b <= 0xdf) {
		len = 2;
		c = b & 0x1f;
	} else if (b >= 0xe0 && b <= 0xef) {
		len = 3;
		c = b & 0x0f;
		if (b == 0xe0)
			lo = 0xa0;      /* no overlongs */
		else if (b == 0xed)
			hi = 0x9f;      /* no surrogates */
	} else if (b >= 0xf0 && b <= 0xf4) {
		len = 4;
		c = b & 0x07;
		if (b == 0xf0)
			lo = 0x90;      /* no overlongs */
		else if (b == 0xf4)
			hi = 0x8f;      /* nothing above U+10FFFF */
	} else {
		return 0;
	}
	if (n < len || s[1] < lo || s[1] > hi)
		return 0;
	for (size_t i = 1; i < len; i++) {
		if ((s[i] & 0xc0) != 0x80)
			return 0;
		c = (c << 6) | (s[i] & 0x3f);
	}
	*cp = c;
	return len;
}

int utf8_valid(const char *s, size_t n)
{
	const unsigned char *u = (const unsigned char *)s;
	uint32_t cp;

	for (size_t i = 0; i < n;) {
		size_t l = utf8_next(u + i, n - i, &cp);
		if (l == 0)
			return 0;
		i += l;
	}
	return 1;
}

size_t utf8_encode(uint32_t cp, char *out)
{
	if (cp < 0x80) {
		out[0] = (char)cp;
		return 1;
	}
	if (cp < 0x800) {
		out[0] = (char)(0xc0 | (cp >> 6));
		out[1] = (char)(0x80 | (cp & 0x3f));
		return 2;
	}
	if (cp < 0x10000) {
		out[0] = (char)(0xe0 | (cp >> 12));
		out[1] = (char)(0x80 | ((cp >> 6) & 0x3f));
		out[2] = (char)(0x80 | (cp & 0x3f));
		return 3;
	}
	out[0] = (char)(0xf0 | (cp >> 18));
	out[1] = (char)(0x80 | ((cp >> 12) & 0x3f));
	out[2] = (char)(0x80 | ((cp >> 6) & 0x3f));
	out[3] = (char)(0x80 | (cp & 0x3f));
	return 4;
}

/* Longest prefix of s[0..len) that does not end inside a UTF-8 sequence
 * (assuming the bytes before it were whole). */
static size_t utf8_cut(const char *s, size_t len)
{
	const unsigned char *u = (const unsigned char *)s;
	size_t i = len;
	unsigned back = 0;

	while (i > 0 && back < 3 && (u[i - 1] & 0xc0) == 0x80) {
		i--;
		back++;
	}
	if (i == 0 || u[i - 1] < 0xc0)
		return len;             /* ASCII or stray continuation bytes */
	size_t need = u[i - 1] >= 0xf0 ? 4 : u[i - 1] >= 0xe0 ? 3 : 2;
	return back + 1 >= need ? len : i - 1;
}

/* ---------------------------------------------------------------- sbuf */

/* Stands in for data when cap is 0; every writer checks cap first. */
static const char sb_empty[1] = "";

void sb_init(struct sbuf *sb, char *mem, size_t cap)
{
	sb->len = 0;
	sb->owned = 0;
	if (!mem || cap == 0) {
		sb->data = (char *)sb_empty;
		sb->cap = sb->max = 0;
		sb->truncated = 0;
		return;
	}
	sb->data = mem;
	sb->cap = sb->max = cap;
	sb->truncated = 0;
	mem[0] = '\0';
}

int sb_init_alloc(struct sbuf *sb, size_t max)
{
	size_t first = max < 256 ? max : 256;

	sb_init(sb, NULL, 0);
	if (max == 0)
		return -1;
	char *p = malloc(first);
	if (!p)
		return -1;
	sb_init(sb, p, first);
	sb->max = max;
	sb->owned = 1;
	return 0;
}

void sb_free(struct sbuf *sb)
{
	if (sb->owned && sb->data != sb_empty) {
		secure_zero(sb->data, sb->cap);
		free(sb->data);
	}
	sb_init(sb, NULL, 0);
}

void sb_reset(struct sbuf *sb)
{
	if (sb->cap > 0) {
		secure_zero(sb->data, sb->len);
		sb->data[0] = '\0';
	}
	sb->len = 0;
	sb->truncated = 0;
}

/* Make room for `more` bytes of text plus the NUL; 0 on success. */
static int sb_reserve(struct sbuf *sb, size_t more)
{
	if (sb->cap > 0 && more < sb->cap - sb->len)
		return 0;
	if (!sb->owned || more >= sb->max - sb->len)
		return -1;
	size_t need = sb->len + more + 1;
	size_t ncap = sb->cap > sb->max / 2 ? sb->max : sb->cap * 2;
	if (ncap < need)
		ncap = need;
	char *p = malloc(ncap);
	if (!p)
		return -1;
	memcpy(p, sb->data, sb->len + 1);
	secure_zero(sb->data, sb->cap);
	free(sb->data);
	sb->data = p;
	sb->cap = ncap;
	return 0;
}

/* Before giving up on an append: let an owned buffer use all of max. */
static void sb_grow_full(struct sbuf *sb)
{
	if (sb->owned && sb->cap < sb->max)
		sb_reserve(sb, sb->max - 1 - sb->len);
}

/* Mark truncated, keeping the first `keep` bytes already in place. */
static void sb_overflow(struct sbuf *sb, size_t keep)
{
	if (sb->cap > 0) {
		size_t cut = utf8_cut(sb->data, keep);
		secure_zero(sb->data + cut, keep - cut);
		sb->len = cut;
		sb->data[cut] = '\0';
	}
	sb->truncated = 1;
}

void sb_append(struct sbuf *sb, const char *s, size_t n)
{
	if (sb->truncated || n == 0)
		return;
	if (sb_reserve(sb, n) == 0) {
		memcpy(sb->data + sb->len, s, n);
		sb->len += n;
		sb->data[sb->len] = '\0';
		return;
	}
	sb_grow_full(sb);
	if (sb->cap == 0) {
		sb->truncated = 1;
		return;
	}
	size_t room = sb->cap - 1 - sb->len;
	memcpy(sb->data + sb->len, s, room);
	sb_overflow(sb, sb->len + room);
}

void sb_puts(struct sbuf *sb, const char *s)
{
	if (s)
		sb_append(sb, s, strlen(s));
}

void sb_putc(struct sbuf *sb, char c)
{
	sb_append(sb, &c, 1);
}

void sb_vprintf(struct sbuf *sb, const char *fmt, va_list ap)
{
	va_list aq;
	int n;

	if (sb->truncated)
		return;
	if (sb->cap == 0) {
		sb->truncated = 1;
		return;
	}
	size_t room = sb->cap - sb->len;
	va_copy(aq, ap);
	n = vsnprintf(sb->data + sb->len, room, fmt, aq);
	va_end(aq);
	if (n < 0) {
		sb_overflow(sb, sb->len);
		return;
	}
	if ((size_t)n < room) {
		sb->len += (size_t)n;
		return;
	}
	if (sb_reserve(sb, (size_t)n) == 0) {
		va_copy(aq, ap);
		vsnprintf(sb->data + sb->len, (size_t)n + 1, fmt, aq);
		va_end(aq);
		sb->len += (size_t)n;
		return;
	}
	if (sb->owned && sb->cap < sb->max) {
		sb_grow_full(sb);
		va_copy(aq, ap);
		vsnprintf(sb->data + sb->len, sb->cap - sb->len, fmt, aq);
		va_end(aq);
	}
	sb_overflow(sb, sb->cap - 1);
}

void sb_printf(struct sbuf *sb, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	sb_vprintf(sb, fmt, ap);
	va_end(ap);
}

/* ---------------------------------------------------------------- numbers */

/* Replace the locale's radix string in buf with '.' (in place). */
static void fix_radix(char *buf, const char *radix)
{
	size_t rl = radix ? strlen(radix) : 0;
	char *p;

	if (rl == 0 || (rl == 1 && radix[0] == '.'))
		return;
	p = strstr(buf, radix);
	if (!p)
		return;
	*p = '.';
	memmove(p + 1, p + rl, strlen(p + rl) + 1);
}

/* "-0.00" -> "0.00": a value that rounds to zero has no sign. */
static const char *drop_negative_zero(const char *buf)
{
	if (buf[0] != '-')
		return buf;
	for (const char *p = buf + 1; *p; p++)
		if (*p != '0' && *p != '.')
			return buf;
	return buf + 1;
}

void sb_put_double(struct sbuf *sb, double v, int decimals)
{
	char buf[400]; /* DBL_MAX has 309 integer digits */

	if (isnan(v)) {
		sb_puts(sb, "nan");
		return;
	}
	if (isinf(v)) {
		sb_puts(sb, v < 0 ? "-inf" : "inf");
		return;
	}
	if (decimals < 0)
		decimals = 0;
	if (decimals > 17)
		decimals = 17;

	locale_t c = newlocale(LC_NUMERIC_MASK, "C", (locale_t)0);
	if (c != (locale_t)0) {
		locale_t old = uselocale(c);
		snprintf(buf, sizeof buf, "%.*f", decimals, v);
		uselocale(old);
		freelocale(c);
	} else {
		/* No locale object: format in the current one and repair. */
		snprintf(buf, sizeof buf, "%.*f", decimals, v);
		fix_radix(buf, localeconv()->decimal_point);
	}
	sb_puts(sb, drop_negative_zero(buf));
}

/* ---------------------------------------------------------------- sanitizer */

enum tok_kind { TOK_CHAR, TOK_SPACE };

static int is_unsafe_cp(uint32_t cp)
{
	return (cp >= 0x80 && cp <= 0x9f) ||          /* C1 controls, CSI */
	       cp == 0x200e || cp == 0x200f ||         /* LRM, RLM */
	       (cp >= 0x202a && cp <= 0x202e) ||       /* embeddings, overrides */
	       (cp >= 0x2066 && cp <= 0x2069);         /* isolates */
}

/* Classify the character at s: returns bytes consumed; *out and *outlen hold
 * its safe spelling when *kind is TOK_CHAR. */
static size_t next_token(const unsigned char *s, size_t n, const unsigned char **out,
			 size_t *outlen, enum tok_kind *kind)
{
	static const unsigned char qmark = '?';
	uint32_t cp;
	size_t len = utf8_next(s, n, &cp);

	*kind = TOK_CHAR;
	*out = &qmark;
	*outlen = 1;
	if (len == 0)
		return 1;
	if (cp == ' ' || cp == '\t' || cp == '\r' || cp == '\n' || cp == 0x2028 || cp == 0x2029) {
		*kind = TOK_SPACE;
		return len;
	}
	if (cp < 0x20 || cp == 0x7f || cp == '|' || is_unsafe_cp(cp))
		return len;
	*out = s;
	*outlen = len;
	return len;
}

char *sanitize_text(char *dst, size_t dstsz, const char *src, size_t srclen)
{
	const unsigned char *s = (const unsigned char *)src;
	size_t lim, o = 0, safe = 0, i = 0;
	int space = 0;

	if (!dst || dstsz == 0)
		return dst;
	if (!src)
		srclen = 0;
	lim = dstsz - 1;
	while (i < srclen) {
		const unsigned char *t;
		size_t tl;
		enum tok_kind kind;

		i += next_token(s + i, srclen - i, &t, &tl, &kind);
		if (kind == TOK_SPACE) {
			space = o > 0;
			continue;
		}
		if (o + tl + (size_t)space > lim)
			goto cut;
		if (space)
			dst[o++] = ' ';
		space = 0;
		memcpy(dst + o, t, tl);
		o += tl;
		if (o + 3 <= lim)
			safe = o;
	}
	dst[o] = '\0';
	return dst;
cut:
	o = safe;
	for (int k = 0; k < 3 && o < lim; k++)
		dst[o++] = '.';
	dst[o] = '\0';
	return dst;
}

const char *signal_name(int sig, char *buf, size_t len)
{
	switch (sig) {
	case SIGTERM: return "SIGTERM";
	case SIGINT: return "SIGINT";
	case SIGALRM: return "SIGALRM";
	case SIGHUP: return "SIGHUP";
	default:
		snprintf(buf, len, "signal %d", sig);
		return buf;
	}
}

int bearer_token_ok(const char *t)
{
	if (!*t)
		return 0;
	for (const unsigned char *p = (const unsigned char *)t; *p; p++)
		if (*p <= 0x20 || *p >= 0x7f)
			return 0;
	return 1;
}

void secret_free(char *s)
{
	if (s) {
		secure_zero(s, strlen(s));
		free(s);
	}
}
