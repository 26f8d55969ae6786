/* mime.h - the little of RFC 5322 / MIME that the probe needs to describe a
 * fetched message: header fields (unfolded), RFC 2047 encoded words, the
 * Content-Type and the number of parts of a multipart body.
 *
 * Pure: no I/O, no allocation, no locale.  Every output buffer is bounded
 * by its size argument and always NUL-terminated (when its size is > 0).
 * Input is untrusted server data: any byte may appear, lengths are
 * explicit, nothing reads past them. */
#ifndef CIS_MIME_H
#define CIS_MIME_H

#include <stddef.h>

/* Copy the value of header field `name` (case-insensitive, the first one)
 * from the header block hdr[0..len) into out, unfolded (a line break
 * followed by blanks continues the field; the line break is dropped), with
 * leading blanks removed.  The header block ends at the first empty line.
 * Returns 1 if the field was found, 0 if not (out is then "").  A value
 * too long for out is cut (not sanitized: see mime_header_display). */
int mime_header_field(const char *hdr, size_t len, const char *name, char *out, size_t outsz);

/* Decode RFC 2047 encoded words (=?charset?B|Q?text?=) in an unfolded
 * header value into UTF-8.  Charsets decoded: UTF-8, US-ASCII, ISO-8859-1
 * (latin1) and ISO-8859-15 (a "*language" suffix, RFC 2231, is ignored);
 * an encoded word in any other charset, or one that is malformed (bad
 * base64, bad =XX escape, missing "?="), is left as it was written.
 * Blanks between two adjacent encoded words are dropped (RFC 2047 6.2).
 * The output is NOT sanitized: decoded bytes may be anything, including
 * control characters and invalid UTF-8 when the sender lied about the
 * charset.  Returns the output length. */
size_t mime_decode_words(const char *in, size_t n, char *out, size_t outsz);

/* The field, decoded and sanitized (sanitize_text): safe for a status line.
 * "" if the field is absent.  Returns 1 if found. */
int mime_header_display(const char *hdr, size_t len, const char *name, char *out, size_t outsz);

/* Parse a Content-Type value: type/subtype lower-cased into type ("" if
 * unparseable) and the boundary parameter (quoted or not) into boundary
 * ("" if none).  Returns 1 when a type was found. */
int mime_content_type(const char *value, char *type, size_t typesz, char *boundary, size_t boundarysz);

/* Number of top-level body parts in a whole message (headers + body) whose
 * multipart boundary is `boundary`: the "--boundary" delimiter lines before
 * the closing "--boundary--".  -1 if no delimiter line was found. */
int mime_count_parts(const char *msg, size_t len, const char *boundary);

#endif
