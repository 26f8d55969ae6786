/* mime.c - header fields, RFC 2047 encoded words, Content-Type and
 * multipart part counting for describing a fetched message.  Pure. */
#include "config.h"
#include "imap/mime.h"

#include <stdint.h>
#include <string.h>
#include <strings.h>

#include "util/base64.h"
#include "util/util.h"

#define EW_MAX_TEXT 1024        /* encoded-text accepted per word (RFC: 75) */

static int is_blank(char c)
{
	return c == ' ' || c == '\t';
}

static char lower(char c)
{
	return c >= 'A' && c <= 'Z' ? (char)(c - 'A' + 'a') : c;
}

/* Bounded output with a running length. */
struct out {
	char *p;
	size_t len, cap;   /* cap includes the NUL */
};

static void out_put(struct out *o, const char *s, size_t n)
{
	if (o->cap == 0)
		return;
	if (n > o->cap - 1 - o->len)
		n = o->cap - 1 - o->len;
	memcpy(o->p + o->len, s, n);
	o->len += n;
	o->p[o->len] = '\0';
}

/* ---------------------------------------------------------------- header fields */

/* Index just past the end of the line starting at i (after its LF), or len. */
static size_t line_end(const char *s, size_t len, size_t i, size_t *content_end)
{
	const char *nl = memchr(s + i, '\n', len - i);
	size_t e = nl ? (size_t)(nl - s) : len;
	size_t ce = e;
	if (ce > i && s[ce - 1] == '\r')
		ce--;
	*content_end = ce;
	return nl ? e + 1 : len;
}

int mime_header_field(const char *hdr, size_t len, const char *name, char *out, size_t outsz)
{
	size_t nlen = strlen(name), i = 0;
	struct out o = { out, 0, outsz };

	if (outsz)
		out[0] = '\0';
	if (!hdr)
		return 0;
	while (i < len) {
		size_t ce, next = line_end(hdr, len, i, &ce);
		if (ce == i)
			return 0;       /* empty line: end of the header */
		size_t k = i + nlen;
		if (ce - i > nlen && !strncasecmp(hdr + i, name, nlen)) {
			while (k < ce && is_blank(hdr[k]))
				k++;
			if (k < ce && hdr[k] == ':') {
				k++;
				while (k < ce && is_blank(hdr[k]))
					k++;
				out_put(&o, hdr + k, ce - k);
				/* continuation lines */
				while (next < len && is_blank(hdr[next])) {
					size_t cce, nn = line_end(hdr, len, next, &cce);
					out_put(&o, hdr + next, cce - next);
					next = nn;
				}
				while (o.len > 0 && is_blank(out[o.len - 1]))
					out[--o.len] = '\0';
				return 1;
			}
		}
		i = next;
	}
	return 0;
}

/* ---------------------------------------------------------------- RFC 2047 */

static int hexval(char c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	if (c >= 'A' && c <= 'F')
		return c - 'A' + 10;
	if (c >= 'a' && c <= 'f')
		return c - 'a' + 10;
	return -1;
}

static long q_decode(const char *s, size_t n, unsigned char *out, size_t outsz)
{
	size_t o = 0;

	for (size_t i = 0; i < n; i++) {
		unsigned char c = (unsigned char)s[i];
		if (o >= outsz)
			return -1;
		if (c == '_') {
			out[o++] = ' ';
		} else if (c == '=') {
			if (i + 2 >= n)
				return -1;
			int h = hexval(s[i + 1]), l = hexval(s[i + 2]);
			if (h < 0 || l < 0)
				return -1;
			out[o++] = (unsigned char)(h << 4 | l);
			i += 2;
		} else {
			out[o++] = c;
		}
	}
	return (long)o;
}

enum cs { CS_UNKNOWN, CS_UTF8, CS_ASCII, CS_LATIN1, CS_LATIN9 };

static enum cs charset_of(const char *s, size_t n)
{
	static const struct { const char *name; enum cs cs; } names[] = {
		{ "utf-8", CS_UTF8 }, { "utf8", CS_UTF8 },
		{ "us-ascii", CS_ASCII }, { "ascii", CS_ASCII },
		{ "iso-8859-1", CS_LATIN1 }, { "iso8859-1", CS_LATIN1 }, { "iso_8859-1", CS_LATIN1 },
		{ "latin1", CS_LATIN1 }, { "l1", CS_LATIN1 },
		{ "iso-8859-15", CS_LATIN9 }, { "iso8859-15", CS_LATIN9 }, { "iso_8859-15", CS_LATIN9 },
		{ "latin-9", CS_LATIN9 }, { "latin9", CS_LATIN9 },
	};
	const char *star = memchr(s, '*', n);   /* RFC 2231 language */
	if (star)
		n = (size_t)(star - s);
	for (size_t i = 0; i < sizeof(names) / sizeof(names[0]); i++)
		if (ascii_ieq(s, n, names[i].name))
			return names[i].cs;
	return CS_UNKNOWN;
}

static void put_cp(struct out *o, uint32_t cp)
{
	char b[4];

	out_put(o, b, utf8_encode(cp, b));
}

static uint32_t latin9_cp(unsigned char c)
{
	switch (c) {
	case 0xa4: return 0x20ac;
	case 0xa6: return 0x0160;
	case 0xa8: return 0x0161;
	case 0xb4: return 0x017d;
	case 0xb8: return 0x017e;
	case 0xbc: return 0x0152;
	case 0xbd: return 0x0153;
	case 0xbe: return 0x0178;
	default: return c;
	}
}

/* Try to decode the encoded word at s (which starts with "=?").  On success
 * appends UTF-8 to o, sets *used and returns 1; otherwise returns 0 and
 * leaves o alone. */
static int decode_word(const char *s, size_t n, size_t *used, struct out *o)
{
	size_t i = 2, cs_start = 2, cs_len, t_start, t_len;
	unsigned char raw[EW_MAX_TEXT];
	long rl;

	while (i < n && s[i] != '?' && i - cs_start <= 64) {
		unsigned char c = (unsigned char)s[i];
		if (c <= 0x20 || c >= 0x7f || c == '=')
			return 0;
		i++;
	}
	if (i >= n || s[i] != '?' || i == cs_start)
		return 0;
	cs_len = i - cs_start;
	if (i + 2 >= n || s[i + 2] != '?')
		return 0;
	char enc = lower(s[i + 1]);
	if (enc != 'b' && enc != 'q')
		return 0;
	t_start = i + 3;
	i = t_start;
	while (i + 1 < n && !(s[i] == '?' && s[i + 1] == '=')) {
		unsigned char c = (unsigned char)s[i];
		if (c <= 0x20 || c >= 0x7f || c == '?' || i - t_start >= EW_MAX_TEXT)
			return 0;
		i++;
	}
	if (i + 1 >= n)
		return 0;
	t_len = i - t_start;

	enum cs cs = charset_of(s + cs_start, cs_len);
	if (cs == CS_UNKNOWN)
		return 0;
	rl = enc == 'b' ? base64_decode_ex(s + t_start, t_len, raw, sizeof(raw), BASE64_PAD_OPTIONAL) :
			  q_decode(s + t_start, t_len, raw, sizeof(raw));
	if (rl < 0)
		return 0;
	for (long k = 0; k < rl; k++) {
		unsigned char c = raw[k];
		if (c < 0x80 || cs == CS_UTF8 || cs == CS_ASCII)
			out_put(o, (const char *)&raw[k], 1);   /* bad bytes: sanitizer's job */
		else
			put_cp(o, cs == CS_LATIN9 ? latin9_cp(c) : c);
	}
	*used = i + 2;
	return 1;
}

size_t mime_decode_words(const char *in, size_t n, char *out, size_t outsz)
{
	struct out o = { out, 0, outsz };
	size_t i = 0, pend = 0, pend_at = 0;
	int prev_ew = 0;

	if (outsz)
		out[0] = '\0';
	while (i < n) {
		size_t used = 0;
		if (in[i] == '=' && i + 1 < n && in[i + 1] == '?' && decode_word(in + i, n - i, &used, &o)) {
			pend = 0;               /* blanks between encoded words vanish */
			prev_ew = 1;
			i += used;
			continue;
		}
		if (pend) {
			out_put(&o, in + pend_at, pend);
			pend = 0;
		}
		if (prev_ew && is_blank(in[i])) {
			pend_at = i;
			while (i < n && is_blank(in[i]))
				i++;
			pend = i - pend_at;
			continue;
		}
		out_put(&o, in + i, 1);
		prev_ew = 0;
		i++;
	}
	if (pend)
		out_put(&o, in + pend_at, pend);
	return o.len;
}

int mime_header_display(const char *hdr, size_t len, const char *name, char *out, size_t outsz)
{
	char raw[2048], dec[2048];

	if (outsz)
		out[0] = '\0';
	if (!mime_header_field(hdr, len, name, raw, sizeof(raw)))
		return 0;
	size_t n = mime_decode_words(raw, strlen(raw), dec, sizeof(dec));
	sanitize_text(out, outsz, dec, n);
	return 1;
}

/* ---------------------------------------------------------------- Content-Type */

int mime_content_type(const char *v, char *type, size_t typesz, char *boundary, size_t boundarysz)
{
	struct out t = { type, 0, typesz }, b = { boundary, 0, boundarysz };
	size_t i = 0, n = strlen(v);
	int slash = 0;

	if (typesz)
		type[0] = '\0';
	if (boundarysz)
		boundary[0] = '\0';
	while (i < n && is_blank(v[i]))
		i++;
	while (i < n && v[i] != ';' && !is_blank(v[i]) && v[i] != '(') {
		char c = lower(v[i++]);
		if ((unsigned char)c <= 0x20 || (unsigned char)c >= 0x7f)
			break;
		slash |= c == '/';
		out_put(&t, &c, 1);
	}
	if (!slash && typesz)
		type[0] = '\0';
	/* parameters: ; name = value */
	while (i < n) {
		while (i < n && v[i] != ';')
			i++;
		if (i >= n)
			break;
		i++;
		while (i < n && is_blank(v[i]))
			i++;
		size_t ns = i;
		while (i < n && v[i] != '=' && v[i] != ';' && !is_blank(v[i]))
			i++;
		size_t nl = i - ns;
		while (i < n && is_blank(v[i]))
			i++;
		if (i >= n || v[i] != '=')
			continue;
		i++;
		while (i < n && is_blank(v[i]))
			i++;
		int want = ascii_ieq(v + ns, nl, "boundary");
		if (i < n && v[i] == '"') {
			for (i++; i < n && v[i] != '"'; i++) {
				if (v[i] == '\\' && i + 1 < n)
					i++;
				if (want)
					out_put(&b, v + i, 1);
			}
			if (i < n)
				i++;
		} else {
			while (i < n && v[i] != ';' && !is_blank(v[i])) {
				if (want)
					out_put(&b, v + i, 1);
				i++;
			}
		}
		if (want)
			break;
	}
	return slash;
}

int mime_count_parts(const char *msg, size_t len, const char *boundary)
{
	size_t blen = strlen(boundary), i = 0;
	int parts = 0, seen = 0, in_body = 0;

	if (!blen)
		return -1;
	while (i < len) {
		size_t ce, next = line_end(msg, len, i, &ce);
		if (!in_body) {
			if (ce == i)
				in_body = 1;
		} else if (ce - i >= 2 + blen && msg[i] == '-' && msg[i + 1] == '-' &&
			   !memcmp(msg + i + 2, boundary, blen)) {
			size_t k = i + 2 + blen;
			if (ce - k >= 2 && msg[k] == '-' && msg[k + 1] == '-')
				return parts;           /* closing delimiter */
			while (k < ce && is_blank(msg[k]))
				k++;
			if (k == ce) {
				parts++;
				seen = 1;
			}
		}
		i = next;
	}
	return seen ? parts : -1;
}
