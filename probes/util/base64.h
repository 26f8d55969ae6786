/* base64.h - base64 (RFC 4648) encoding and the one decoder every layer
 * uses: SASL (padded, standard alphabet), MIME encoded words (padding
 * optional) and modified UTF-7 mailbox names (RFC 3501 5.1.3: ',' for '/',
 * no padding).  Pure: no I/O, no allocation. */
#ifndef CIS_UTIL_BASE64_H
#define CIS_UTIL_BASE64_H

#include <stddef.h>

/* Encoded length including the NUL. */
static inline size_t base64_enc_len(size_t n) { return (n + 2) / 3 * 4 + 1; }

/* Encode n bytes into out (at least base64_enc_len(n) bytes); standard
 * alphabet, padded.  Returns the encoded length (without NUL). */
size_t base64_encode(const void *in, size_t n, char *out);

/* Decoder flags (base64_decode_ex).  0 is RFC 4648 as SASL uses it: the
 * standard alphabet, the length a multiple of 4, at most two '=' and only
 * at the end, no whitespace. */
enum base64_flags {
	/* '=' padding optional and unlimited at the end ("Zg", "Zg==",
	 * "Zg=====" all decode), any length: base64 as mailers write
	 * RFC 2047 encoded words. */
	BASE64_PAD_OPTIONAL = 1u << 0,
	/* No '=' at all (it is an invalid character). */
	BASE64_PAD_NONE     = 1u << 1,
	/* The unused low bits of the last character must be zero. */
	BASE64_STRICT_BITS  = 1u << 2,
	/* The modified alphabet of IMAP mailbox names: ',' instead of '/'. */
	BASE64_ALPHA_MUTF7  = 1u << 3,
};
/* The variant inside a modified UTF-7 shift ("&...-"). */
#define BASE64_MUTF7 (BASE64_ALPHA_MUTF7 | BASE64_PAD_NONE | BASE64_STRICT_BITS)

/* Decode n characters of in into out (outlen bytes) by the rules of flags
 * (enum base64_flags).  Whatever the flags, a lone character after the
 * last full byte (6 bits: no byte) is invalid.  Returns the decoded
 * length, or -1 on invalid input or if out is too small (out may then
 * hold part of the data). */
long base64_decode_ex(const char *in, size_t n, unsigned char *out, size_t outlen, unsigned flags);

/* base64_decode_ex(in, n, out, outlen, 0): padded standard base64. */
long base64_decode(const char *in, size_t n, unsigned char *out, size_t outlen);

#endif
