/* base64.h - RFC 4648 base64 (standard alphabet, padded). */
#ifndef CIS_BASE64_H
#define CIS_BASE64_H

#include <stddef.h>

/* Encoded length including the NUL. */
static inline size_t base64_enc_len(size_t n) { return (n + 2) / 3 * 4 + 1; }

/* Encode n bytes into out (at least base64_enc_len(n) bytes); returns the
 * encoded length (without NUL). */
size_t base64_encode(const void *in, size_t n, char *out);

/* Decode; whitespace is not allowed; padding required.  Returns decoded
 * length, or -1 on invalid input or if out (outlen bytes) is too small. */
long base64_decode(const char *in, size_t n, unsigned char *out, size_t outlen);

#endif
