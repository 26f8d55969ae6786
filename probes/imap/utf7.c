/* utf7.c - modified UTF-7 (RFC 3501 5.1.3) for mailbox names: encoder and
 * strict decoder (base64 runs through util/base64.c).  Pure. */
#include "config.h"
#include "imap/utf7.h"

#include <stdint.h>
#include <string.h>

#include "util/base64.h"
#include "util/util.h"

/* Base64 characters of a run decoded at a time: a multiple of 8 (48 bits,
 * three whole UTF-16 units), so only the last piece can end mid-unit. */
#define UTF7_CHUNK 512

static const char b64_mod[] =
	"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+,";

struct outp {
	char *p;
	size_t len, cap;
	int full;
};

static void out_c(struct outp *o, char ch)
{
	if (o->len + 1 >= o->cap) {
		o->full = 1;
		return;
	}
	o->p[o->len++] = ch;
}

/* Terminate the output: 0, or -1 with "" when !ok or it did not fit. */
static int out_end(struct outp *o, int ok)
{
	if (!ok || o->full) {
		o->p[0] = '\0';
		return -1;
	}
	o->p[o->len] = '\0';
	return 0;
}

/* Flush a base64 run: remaining bits (zero-padded) and the closing '-'. */
static void utf7_close(struct outp *o, uint32_t *bits, int *nbits)
{
	if (*nbits)
		out_c(o, b64_mod[(*bits << (6 - *nbits)) & 63]);
	out_c(o, '-');
	*bits = 0;
	*nbits = 0;
}

static void utf7_unit(struct outp *o, uint32_t u, uint32_t *bits, int *nbits)
{
	*bits = (*bits << 16) | u;
	*nbits += 16;
	while (*nbits >= 6) {
		*nbits -= 6;
		out_c(o, b64_mod[(*bits >> *nbits) & 63]);
	}
	*bits &= (1u << *nbits) - 1;
}

int imap_utf7_encode(const char *utf8, char *out, size_t outlen)
{
	const unsigned char *s = (const unsigned char *)utf8;
	size_t n = strlen(utf8), i = 0;
	struct outp o = { out, 0, outlen, 0 };
	uint32_t bits = 0;
	int nbits = 0, shifted = 0;

	if (outlen == 0)
		return -1;
	while (i < n) {
		uint32_t cp;
		size_t l = utf8_next(s + i, n - i, &cp);
		if (l == 0)
			goto fail;
		i += l;
		if (cp >= 0x20 && cp <= 0x7e) {
			if (shifted)
				utf7_close(&o, &bits, &nbits);
			shifted = 0;
			out_c(&o, (char)cp);
			if (cp == '&')
				out_c(&o, '-');
			continue;
		}
		if (!shifted)
			out_c(&o, '&');
		shifted = 1;
		if (cp >= 0x10000) {
			cp -= 0x10000;
			utf7_unit(&o, 0xd800 + (cp >> 10), &bits, &nbits);
			utf7_unit(&o, 0xdc00 + (cp & 0x3ff), &bits, &nbits);
		} else {
			utf7_unit(&o, cp, &bits, &nbits);
		}
	}
	if (shifted)
		utf7_close(&o, &bits, &nbits);
	return out_end(&o, 1);
fail:
	return out_end(&o, 0);
}

static void out_utf8(struct outp *o, uint32_t cp)
{
	char b[4];
	size_t n = utf8_encode(cp, b);

	for (size_t k = 0; k < n; k++)
		out_c(o, b[k]);
}

/* UTF-16BE units decoded from a run (nb even); *hi carries a high
 * surrogate over to the next piece. */
static int utf7_units(const unsigned char *b, size_t nb, uint32_t *hi, struct outp *o)
{
	for (size_t k = 0; k + 1 < nb; k += 2) {
		uint32_t u = (uint32_t)b[k] << 8 | b[k + 1];
		if (*hi) {
			if (u < 0xdc00 || u > 0xdfff)
				return -1;
			out_utf8(o, 0x10000 + ((*hi - 0xd800) << 10) + (u - 0xdc00));
			*hi = 0;
		} else if (u >= 0xd800 && u <= 0xdbff) {
			*hi = u;
		} else if ((u >= 0xdc00 && u <= 0xdfff) || u == 0 || (u >= 0x20 && u <= 0x7e)) {
			return -1;              /* lone low surrogate, NUL, or direct */
		} else {
			out_utf8(o, u);
		}
	}
	return 0;
}

/* Decode one base64 run starting after '&'; *i ends after the '-'.  The
 * run must be whole UTF-16 units with zero padding bits (BASE64_MUTF7). */
static int utf7_run(const char *s, size_t n, size_t *i, struct outp *o)
{
	const char *dash = memchr(s + *i, '-', n - *i);
	unsigned char buf[UTF7_CHUNK / 8 * 6];
	uint32_t hi = 0;

	if (!dash)
		return -1;                      /* unterminated */
	size_t end = (size_t)(dash - s);
	if (end == *i)
		return -1;                      /* empty */
	for (size_t p = *i; p < end; p += UTF7_CHUNK) {
		size_t len = end - p < UTF7_CHUNK ? end - p : UTF7_CHUNK;
		long nb = base64_decode_ex(s + p, len, buf, sizeof(buf), BASE64_MUTF7);
		if (nb < 0 || nb % 2 != 0 || utf7_units(buf, (size_t)nb, &hi, o) < 0)
			return -1;
	}
	*i = end + 1;
	return hi ? -1 : 0;
}

int imap_utf7_decode(const char *mutf7, size_t n, char *out, size_t outlen)
{
	struct outp o = { out, 0, outlen, 0 };
	size_t i = 0;

	if (outlen == 0)
		return -1;
	while (i < n) {
		unsigned char ch = (unsigned char)mutf7[i++];
		if (ch < 0x20 || ch > 0x7e)
			goto fail;
		if (ch != '&') {
			out_c(&o, (char)ch);
			continue;
		}
		if (i < n && mutf7[i] == '-') {
			i++;
			out_c(&o, '&');
			continue;
		}
		if (utf7_run(mutf7, n, &i, &o) < 0)
			goto fail;
		/* "-&" straight after a run is a null shift (RFC 3501 5.1.3):
		 * "&AOQ-&AOQ-" must be written "&AOQA5A-"; "&-" is still '&' */
		if (i < n && mutf7[i] == '&' && !(i + 1 < n && mutf7[i + 1] == '-'))
			goto fail;
	}
	return out_end(&o, 1);
fail:
	return out_end(&o, 0);
}
