#include "config.h"
#include "sasl/base64.h"

#include <limits.h>

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
static int b64_value(unsigned char c)
{
	if (c >= 'A' && c <= 'Z')
		return c - 'A';
	if (c >= 'a' && c <= 'z')
		return c - 'a' + 26;
	if (c >= '0' && c <= '9')
		return c - '0' + 52;
	if (c == '+')
		return 62;
	if (c == '/')
		return 63;
	return -1;
}

/* Decode one group of 4 characters of which the last `pad` are '='. */
static int b64_quad(const unsigned char *q, size_t pad, unsigned char *out)
{
	unsigned long v = 0;

	for (size_t k = 0; k < 4; k++) {
		int d = k < 4 - pad ? b64_value(q[k]) : (q[k] == '=' ? 0 : -1);
		if (d < 0)
			return -1;
		v = v << 6 | (unsigned long)d;
	}
	out[0] = (unsigned char)(v >> 16);
	if (pad < 2)
		out[1] = (unsigned char)(v >> 8);
	if (pad < 1)
		out[2] = (unsigned char)v;
	return 0;
}

long base64_decode(const char *in, size_t n, unsigned char *out, size_t outlen)
{
	const unsigned char *s = (const unsigned char *)in;
	size_t pad = 0;

	if (n % 4 != 0)
		return -1;
	if (n == 0)
		return 0;
	if (s[n - 1] == '=')
		pad = s[n - 2] == '=' ? 2 : 1;
	size_t dlen = n / 4 * 3 - pad;
	if (dlen > outlen || dlen > (size_t)LONG_MAX)
		return -1;
	for (size_t i = 0, o = 0; i < n; i += 4, o += 3)
		if (b64_quad(s + i, i + 4 == n ? pad : 0, out + o) < 0)
			return -1;
	return (long)dlen;
}
