/* base64.c - base64 encoding and the one decoder of the probe (SASL,
 * MIME encoded words, modified UTF-7); the variants are flags. */
#include "config.h"
#include "util/base64.h"

#include <limits.h>
#include <stdint.h>

static const char b64_alphabet[] =
	"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";

size_t base64_encode(const void *in, size_t n, char *out)
{
	const unsigned char *s = in;
	size_t o = 0, i = 0;

	for (; n - i >= 3; i += 3) {
		unsigned long v = (unsigned long)s[i] << 16 | (unsigned long)s[i + 1] << 8 | s[i + 2];
		out[o++] = b64_alphabet[(v >> 18) & 63];
		out[o++] = b64_alphabet[(v >> 12) & 63];
		out[o++] = b64_alphabet[(v >> 6) & 63];
		out[o++] = b64_alphabet[v & 63];
	}
	if (n - i == 1) {
		unsigned long v = (unsigned long)s[i] << 16;
		out[o++] = b64_alphabet[(v >> 18) & 63];
		out[o++] = b64_alphabet[(v >> 12) & 63];
		out[o++] = '=';
		out[o++] = '=';
	} else if (n - i == 2) {
		unsigned long v = (unsigned long)s[i] << 16 | (unsigned long)s[i + 1] << 8;
		out[o++] = b64_alphabet[(v >> 18) & 63];
		out[o++] = b64_alphabet[(v >> 12) & 63];
		out[o++] = b64_alphabet[(v >> 6) & 63];
		out[o++] = '=';
	}
	out[o] = '\0';
	return o;
}

/* Value of one alphabet character, -1 for anything else ('=' included). */
static int b64_value(unsigned char c, unsigned flags)
{
	if (c >= 'A' && c <= 'Z')
		return c - 'A';
	if (c >= 'a' && c <= 'z')
		return c - 'a' + 26;
	if (c >= '0' && c <= '9')
		return c - '0' + 52;
	if (c == '+')
		return 62;
	if (c == ((flags & BASE64_ALPHA_MUTF7) ? ',' : '/'))
		return 63;
	return -1;
}

/* The padding after the data: n - i characters from s + i, all '='. */
static int b64_padding_ok(const unsigned char *s, size_t i, size_t n, unsigned flags)
{
	size_t pad = n - i;

	if (pad && (flags & BASE64_PAD_NONE))
		return 0;
	for (size_t k = i; k < n; k++)
		if (s[k] != '=')
			return 0;
	if (flags & (BASE64_PAD_OPTIONAL | BASE64_PAD_NONE))
		return 1;
	return n % 4 == 0 && pad <= 2;
}

long base64_decode_ex(const char *in, size_t n, unsigned char *out, size_t outlen, unsigned flags)
{
	const unsigned char *s = (const unsigned char *)in;
	uint32_t acc = 0;
	unsigned bits = 0;
	size_t o = 0, i = 0;

	if (outlen > (size_t)LONG_MAX)
		outlen = (size_t)LONG_MAX;
	for (; i < n && s[i] != '='; i++) {
		int v = b64_value(s[i], flags);
		if (v < 0)
			return -1;
		acc = (acc << 6) | (uint32_t)v;
		bits += 6;
		if (bits >= 8) {
			bits -= 8;
			if (o >= outlen)
				return -1;
			out[o++] = (unsigned char)(acc >> bits);
			acc &= (1u << bits) - 1;
		}
	}
	if (!b64_padding_ok(s, i, n, flags))
		return -1;
	if (bits >= 6)          /* a lone character cannot end an encoding */
		return -1;
	if ((flags & BASE64_STRICT_BITS) && acc != 0)
		return -1;
	return (long)o;
}

long base64_decode(const char *in, size_t n, unsigned char *out, size_t outlen)
{
	return base64_decode_ex(in, n, out, outlen, 0);
}
