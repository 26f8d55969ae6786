/* trace.c - the -vvv trace renderer: server lines rebuilt from parsed
 * bytes (literal data summarized), commands with secrets redacted.  Pure. */
#include "config.h"
#include "imap/trace.h"

#include <stdio.h>
#include <string.h>

#include "util/util.h"

/* ---------------------------------------------------------------- server side */

static void tl_append(struct imap_trace_scan *c, const char *s, size_t n)
{
	size_t room = sizeof(c->tl) - c->tl_len;

	if (n > room) {
		c->tl_trunc = 1;
		memcpy(c->tl + c->tl_len, s, room);
		c->tl_len += room;
	} else {
		memcpy(c->tl + c->tl_len, s, n);
		c->tl_len += n;
	}
	if (n >= IMAP_TRACE_TAIL) {
		memcpy(c->tail, s + n - IMAP_TRACE_TAIL, IMAP_TRACE_TAIL);
		c->tail_len = IMAP_TRACE_TAIL;
	} else {
		size_t keep = c->tail_len + n > IMAP_TRACE_TAIL ? IMAP_TRACE_TAIL - n : c->tail_len;
		memmove(c->tail, c->tail + c->tail_len - keep, keep);
		memcpy(c->tail + keep, s, n);
		c->tail_len = keep + n;
	}
}

/* Does the wire line (tail, before its LF) end in a literal header
 * "{n}\r" / "{n+}\r"?  Returns the header length and sets *size. */
static size_t tail_literal(const struct imap_trace_scan *c, uint64_t *size)
{
	const char *t = c->tail;
	size_t n = c->tail_len, i;
	uint64_t v = 0;

	if (n && t[n - 1] == '\r')
		n--;
	if (n < 3 || t[n - 1] != '}')
		return 0;
	i = n - 1;
	if (t[i - 1] == '+')
		i--;
	size_t end = i;
	while (i > 0 && t[i - 1] >= '0' && t[i - 1] <= '9')
		i--;
	if (i == 0 || i == end || t[i - 1] != '{' || end - i > 19)
		return 0;
	for (size_t k = i; k < end; k++)
		v = v * 10 + (uint64_t)(t[k] - '0');
	*size = v;
	return c->tail_len - (i - 1);
}

static void trace_eol(struct imap_trace_scan *c)
{
	uint64_t size;
	size_t hl = tail_literal(c, &size);

	if (hl && size > 0) {
		char sum[40];
		int n = snprintf(sum, sizeof(sum), "{%llu bytes}", (unsigned long long)size);
		if (!c->tl_trunc && hl <= c->tl_len)
			c->tl_len -= hl;
		c->lit_left = size;
		tl_append(c, sum, (size_t)n);
	} else {
		tl_append(c, " ", 1);
	}
	c->tail_len = 0;
}

void imap_trace_feed(struct imap_trace_scan *c, const char *s, size_t n)
{
	while (n > 0) {
		if (c->lit_left) {
			size_t k = n < c->lit_left ? n : (size_t)c->lit_left;
			s += k;
			n -= k;
			c->lit_left -= k;
			continue;
		}
		const char *nl = memchr(s, '\n', n);
		size_t k = nl ? (size_t)(nl - s) : n;
		tl_append(c, s, k);
		s += k;
		n -= k;
		if (nl) {
			s++;
			n--;
			trace_eol(c);
		}
	}
}

int imap_trace_end(struct imap_trace_scan *c, int partial, char *line, size_t linesz)
{
	int worth = c->tl_len || partial;

	sanitize_text(line, linesz - 16, c->tl, c->tl_len);
	if (c->tl_trunc)
		strcat(line, "...");
	if (partial)
		strcat(line, " [incomplete]");
	sanitize_text(c->lastline, sizeof(c->lastline), line, strlen(line));
	c->tl_len = 0;
	c->tl_trunc = 0;
	c->tail_len = 0;
	c->lit_left = 0;
	return worth;
}

/* ---------------------------------------------------------------- client side */

void imap_trace_render_cmd(const char *tag, const struct imap_cmd *cmd, size_t start, size_t end,
			   char *out, size_t outsz)
{
	char raw[IMAP_TRACE_MAX];
	struct sbuf sb;
	size_t pos = start;

	sb_init(&sb, raw, sizeof(raw));
	if (start == 0) {
		sb_puts(&sb, tag);
		sb_putc(&sb, ' ');
	}
	while (pos < end && !sb.truncated) {
		size_t next = end;
		int in_secret = 0;
		for (unsigned i = 0; i < cmd->nsecret; i++) {
			size_t so = cmd->secret[i].off, se = so + cmd->secret[i].len;
			if (pos >= so && pos < se) {
				in_secret = 1;
				next = se < end ? se : end;
				break;
			}
			if (so > pos && so < next)
				next = so;
		}
		if (in_secret)
			sb_puts(&sb, IMAP_TRACE_REDACTED);
		else
			sb_append(&sb, cmd->sb.data + pos, next - pos);
		pos = next;
	}
	sanitize_text(out, outsz - 4, raw, sb.len);
	if (sb.truncated)
		strcat(out, "...");
}
