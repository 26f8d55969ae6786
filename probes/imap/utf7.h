/* utf7.h - modified UTF-7 (RFC 3501 5.1.3), the encoding of IMAP mailbox
 * names on the wire.  Pure: no I/O, no allocation, no locale. */
#ifndef CIS_IMAP_UTF7_H
#define CIS_IMAP_UTF7_H

#include <stddef.h>

/* Encode a UTF-8 mailbox name as modified UTF-7 into out
 * (NUL-terminated).  Returns 0, or -1 if the input is not valid UTF-8 or
 * out is too small. */
int imap_utf7_encode(const char *utf8, char *out, size_t outlen);
/* Decode n bytes of modified UTF-7 to NUL-terminated UTF-8; -1 if out is
 * too small or the input is invalid: a byte outside 0x20-0x7e, an
 * unterminated or empty shift, a bad base64 character, non-zero or too
 * many padding bits, an unpaired surrogate, U+0000, a printable ASCII
 * character that should have been written directly, or a null shift (a
 * run followed at once by another: "&AOQ-&AOQ-"). */
int imap_utf7_decode(const char *mutf7, size_t n, char *out, size_t outlen);

#endif
