/* script.c - the --script parser (pure) and the command builder.
 * The language is described in script.h and README.md ("Scripts"). */
#include "config.h"
#include "session/script.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "imap/utf7.h"
#include "util/util.h"

static void set_err(char *err, size_t errlen, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
static void set_err(char *err, size_t errlen, const char *fmt, ...)
{
	va_list ap;
	if (!errlen)
		return;
	va_start(ap, fmt);
	vsnprintf(err, errlen, fmt, ap);
	va_end(ap);
}

/* ---------------------------------------------------------------- storage */

struct script *script_new(void)
{
	return calloc(1, sizeof(struct script));
}

void script_free(struct script *scr)
{
	if (!scr)
		return;
	free(scr->parts);
	free(scr->pool);
	free(scr);
}

static int pool_add(struct script *scr, const char *s, size_t n, size_t *off)
{
	if (scr->pool_len + n + 1 > scr->pool_cap) {
		size_t cap = scr->pool_cap ? scr->pool_cap : 1024;
		while (cap < scr->pool_len + n + 1)
			cap *= 2;
		char *p = realloc(scr->pool, cap);
		if (!p)
			return -1;
		scr->pool = p;
		scr->pool_cap = cap;
	}
	memcpy(scr->pool + scr->pool_len, s, n);
	*off = scr->pool_len;
	scr->pool_len += n;
	scr->pool[scr->pool_len] = '\0';
	return 0;
}

static int part_add(struct script *scr, int kind, const char *s, size_t n)
{
	size_t off;
	if (scr->nparts == scr->parts_cap) {
		size_t cap = scr->parts_cap ? scr->parts_cap * 2 : 32;
		struct script_part *p = realloc(scr->parts, cap * sizeof(*p));
		if (!p)
			return -1;
		scr->parts = p;
		scr->parts_cap = cap;
	}
	if (pool_add(scr, s, n, &off) < 0)
		return -1;
	scr->parts[scr->nparts].kind = kind;
	scr->parts[scr->nparts].off = off;
	scr->parts[scr->nparts].len = n;
	scr->nparts++;
	return 0;
}

/* ---------------------------------------------------------------- names */

int script_name_reserved(const char *name)
{
	static const char *const exact[] = {
		"resolve", "connect", "tls", "greeting", "capability", "starttls", "auth", "logout",
		"namespace", "list", "examine", "select", "status", "quota", "search", "fetch", "age",
		"store", "expunge", "delete", "append", "idle", "push", "time", "cert_days",
		"messages", "recent", "unseen", "matched", "size", "bytes", "folders", "mailbox_bytes",
		"session", "script",
	};
	static const char *const prefixes[] = { "append_", "idle_", "quota_", "script_", "age_", "fetch_" };

	for (size_t i = 0; i < sizeof(exact) / sizeof(exact[0]); i++)
		if (!strcasecmp(name, exact[i]))
			return 1;
	for (size_t i = 0; i < sizeof(prefixes) / sizeof(prefixes[0]); i++)
		if (!strncasecmp(name, prefixes[i], strlen(prefixes[i])))
			return 1;
	return 0;
}

static int name_char(char c)
{
	return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '_' || c == '-';
}

static int name_taken(const struct script *scr, const char *name)
{
	for (unsigned i = 0; i < scr->ncmds; i++)
		if (!strcasecmp(scr->cmd[i].name, name))
			return 1;
	return 0;
}

/* ---------------------------------------------------------------- arguments */

static int is_blank(char c)
{
	return c == ' ' || c == '\t';
}

int script_parse_args(struct script *scr, const char *s, size_t n, size_t *first, size_t *nparts, int *eightbit,
		      char *err, size_t errlen)
{
	char raw[SCRIPT_MAX_LINE], str[SCRIPT_MAX_LINE];
	size_t rl = 0, i = 0;
	int depth = 0;

	*first = scr->nparts;
	*nparts = 0;
	if (eightbit)
		*eightbit = 0;
	if (n > SCRIPT_MAX_LINE) {
		set_err(err, errlen, "line longer than %d bytes", SCRIPT_MAX_LINE);
		return -1;
	}
	while (i < n) {
		unsigned char c = (unsigned char)s[i];
		int tok_start = i == 0 || s[i - 1] == ' ' || s[i - 1] == '\t' || s[i - 1] == '(';
		int mailbox = tok_start && (c == 'm' || c == 'M') && i + 1 < n && s[i + 1] == '"';

		if (c == '"' || mailbox) {
			size_t sl = 0;
			if (mailbox)
				i++;
			for (i++;; i++) {
				if (i >= n) {
					set_err(err, errlen, "unterminated quoted string");
					return -1;
				}
				c = (unsigned char)s[i];
				if (c == '"')
					break;
				if (c == '\\') {
					if (i + 1 >= n) {
						set_err(err, errlen, "unterminated quoted string");
						return -1;
					}
					char e = s[++i];
					switch (e) {
					case '"': c = '"'; break;
					case '\\': c = '\\'; break;
					case 'r': c = '\r'; break;
					case 'n': c = '\n'; break;
					case 't': c = '\t'; break;
					default:
						set_err(err, errlen, "unknown escape \\%c in a quoted string (known: \\\" \\\\ \\r \\n \\t)",
							(e > 0x20 && e < 0x7f) ? e : '?');
						return -1;
					}
				} else if ((c < 0x20 && c != '\t') || c == 0x7f) {
					set_err(err, errlen, "control character 0x%02x in a quoted string (write \\r, \\n or \\t)", c);
					return -1;
				}
				if (c >= 0x80 && eightbit)
					*eightbit = 1;
				str[sl++] = (char)c;
			}
			i++;    /* closing quote */
			if (mailbox) {
				char enc[IMAP_MAILBOX_MAX];
				if (!utf8_valid(str, sl) || memchr(str, '\0', sl) || memchr(str, '\r', sl) ||
				    memchr(str, '\n', sl)) {
					set_err(err, errlen, "m\"...\" mailbox name is not valid UTF-8 or has a line break");
					return -1;
				}
				str[sl] = '\0';
				if (imap_utf7_encode(str, enc, sizeof(enc)) < 0) {
					set_err(err, errlen, "m\"...\" mailbox name is too long");
					return -1;
				}
			}
			if (rl && part_add(scr, SCRIPT_RAW, raw, rl) < 0)
				goto oom;
			rl = 0;
			if (part_add(scr, mailbox ? SCRIPT_MAILBOX : SCRIPT_STRING, str, sl) < 0)
				goto oom;
			continue;
		}
		if (c == '{' && tok_start) {
			size_t k = i + 1;
			while (k < n && s[k] >= '0' && s[k] <= '9')
				k++;
			if (k > i + 1 && k < n && s[k] == '+')
				k++;
			if (k > i + 1 && k < n && s[k] == '}') {
				set_err(err, errlen, "a literal ({n}) cannot be written in a script: write a quoted "
					"string, it is sent as a literal when needed");
				return -1;
			}
		}
		if (c == '\t')
			c = ' ';
		if (c < 0x20 || c == 0x7f) {
			set_err(err, errlen, "control character 0x%02x", c);
			return -1;
		}
		if (c >= 0x80) {
			set_err(err, errlen, "8-bit character outside a quoted string");
			return -1;
		}
		if (c == '(')
			depth++;
		if (c == ')' && --depth < 0) {
			set_err(err, errlen, "unbalanced parentheses: ')' without '('");
			return -1;
		}
		raw[rl++] = (char)c;
		i++;
	}
	if (depth) {
		set_err(err, errlen, "unbalanced parentheses: %d '(' not closed", depth);
		return -1;
	}
	if (rl && part_add(scr, SCRIPT_RAW, raw, rl) < 0)
		goto oom;
	*nparts = scr->nparts - *first;
	return 0;
oom:
	set_err(err, errlen, "out of memory");
	return -1;
}

/* ---------------------------------------------------------------- one line */

static int parse_expect(const char *s, size_t n, unsigned *mask)
{
	size_t i = 0;
	*mask = 0;
	while (i < n) {
		size_t k = i;
		while (k < n && s[k] != ',' && s[k] != '|')
			k++;
		if (ascii_ieq(s + i, k - i, "OK"))
			*mask |= SCRIPT_EXPECT_OK;
		else if (ascii_ieq(s + i, k - i, "NO"))
			*mask |= SCRIPT_EXPECT_NO;
		else if (ascii_ieq(s + i, k - i, "BAD"))
			*mask |= SCRIPT_EXPECT_BAD;
		else
			return -1;
		i = k + 1;
		if (k < n && i == n)
			return -1;  /* trailing comma */
	}
	return *mask ? 0 : -1;
}

static int verb_char(char c)
{
	return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '-' || c == '_' ||
	       c == '.';
}

static int parse_line(struct script *scr, const char *s, size_t n, unsigned lineno, char *err, size_t errlen)
{
	static const char *const refused[] = { "LOGIN", "AUTHENTICATE", "STARTTLS", "LOGOUT", "IDLE", "COMPRESS" };
	struct script_cmd *sc = &scr->cmd[scr->ncmds];
	size_t i = 0, k;
	char msg[256];

	memset(sc, 0, sizeof(*sc));
	sc->line = lineno;
	sc->expect = SCRIPT_EXPECT_OK;

	/* NAME: */
	for (k = 0; k < n && name_char(s[k]); k++)
		;
	if (k < n && s[k] == ':' && (k + 1 == n || is_blank(s[k + 1]))) {
		if (k == 0 || k > 24 || !((s[0] >= 'a' && s[0] <= 'z') || (s[0] >= 'A' && s[0] <= 'Z'))) {
			set_err(err, errlen, "bad step name \"%.*s\": a letter, then up to 23 letters, digits, '_' or '-'",
				(int)(k < 40 ? k : 40), s);
			return -1;
		}
		memcpy(sc->name, s, k);
		sc->name[k] = '\0';
		if (script_name_reserved(sc->name)) {
			set_err(err, errlen, "step name \"%s\" is reserved (the probe uses it for its own steps or counters)",
				sc->name);
			return -1;
		}
		if (name_taken(scr, sc->name)) {
			set_err(err, errlen, "step name \"%s\" is used twice", sc->name);
			return -1;
		}
		i = k + 1;
		while (i < n && is_blank(s[i]))
			i++;
	}

	/* expect STATUS[,STATUS] */
	if (n - i > 7 && !strncasecmp(s + i, "expect", 6) && is_blank(s[i + 6])) {
		i += 6;
		while (i < n && is_blank(s[i]))
			i++;
		for (k = i; k < n && !is_blank(s[k]); k++)
			;
		if (parse_expect(s + i, k - i, &sc->expect) < 0) {
			set_err(err, errlen, "expect needs OK, NO, BAD or a list like NO,BAD; got \"%.*s\"",
				(int)(k - i < 20 ? k - i : 20), s + i);
			return -1;
		}
		i = k;
		while (i < n && is_blank(s[i]))
			i++;
	}

	/* the verb (two words for UID commands) */
	if (i >= n) {
		set_err(err, errlen, "no IMAP command after the step name or expect");
		return -1;
	}
	for (k = i; k < n && verb_char(s[k]); k++)
		;
	if (k == i || (k < n && !is_blank(s[k]))) {
		set_err(err, errlen, "a command must start with an IMAP command name (letters, digits, '-')");
		return -1;
	}
	if (ascii_ieq(s + i, k - i, "UID")) {
		size_t j = k;
		while (j < n && is_blank(s[j]))
			j++;
		size_t e = j;
		while (e < n && verb_char(s[e]))
			e++;
		if (e == j) {
			set_err(err, errlen, "UID must be followed by a command (FETCH, SEARCH, STORE, ...)");
			return -1;
		}
		snprintf(sc->verb, sizeof(sc->verb), "UID %.*s", (int)(e - j < 20 ? e - j : 20), s + j);
	} else {
		snprintf(sc->verb, sizeof(sc->verb), "%.*s", (int)(k - i < 28 ? k - i : 28), s + i);
	}
	for (char *p = sc->verb; *p; p++)
		if (*p >= 'a' && *p <= 'z')
			*p = (char)(*p - 'a' + 'A');
	for (size_t r = 0; r < sizeof(refused) / sizeof(refused[0]); r++) {
		if (!strcmp(sc->verb, refused[r])) {
			set_err(err, errlen, "%s is not allowed in a script (the probe %s)", refused[r],
				!strcmp(refused[r], "LOGOUT") ? "logs out by itself" :
				!strcmp(refused[r], "IDLE") ? "measures IDLE with --idle" :
				!strcmp(refused[r], "COMPRESS") ? "does not compress" :
							       "authenticates by itself");
			return -1;
		}
	}

	if (script_parse_args(scr, s + i, n - i, &sc->first_part, &sc->nparts, NULL, msg, sizeof(msg)) < 0) {
		set_err(err, errlen, "%s", msg);
		return -1;
	}

	/* default name */
	if (!sc->name[0]) {
		char base[32];
		size_t o = 0;
		o += (size_t)snprintf(base, sizeof(base), "script_");
		for (const char *p = sc->verb; *p && o < 24; p++) {
			char c = *p;
			if (c >= 'A' && c <= 'Z')
				c = (char)(c - 'A' + 'a');
			else if (c == ' ')
				c = '_';
			else if (!name_char(c))
				continue;
			base[o++] = c;
		}
		base[o] = '\0';
		snprintf(sc->name, sizeof(sc->name), "%s", base);
		for (unsigned dup = 2; name_taken(scr, sc->name); dup++)
			snprintf(sc->name, sizeof(sc->name), "%s_%u", base, dup);
	}
	scr->ncmds++;
	return 0;
}

struct script *script_parse(const char *text, size_t len, const char *where, char *err, size_t errlen)
{
	char msg[384];
	size_t pos = 0;
	unsigned lineno = 0;

	if (len > SCRIPT_MAX_BYTES) {
		set_err(err, errlen, "%s: larger than %d bytes", where, SCRIPT_MAX_BYTES);
		return NULL;
	}
	struct script *scr = script_new();
	if (!scr) {
		set_err(err, errlen, "%s: out of memory", where);
		return NULL;
	}
	if (len >= 3 && !memcmp(text, "\xef\xbb\xbf", 3))
		pos = 3;        /* UTF-8 byte order mark */
	while (pos < len) {
		const char *nl = memchr(text + pos, '\n', len - pos);
		size_t end = nl ? (size_t)(nl - text) : len;
		size_t s = pos, e = end;
		lineno++;
		pos = nl ? end + 1 : len;

		if (e > s && text[e - 1] == '\r')
			e--;
		if (e - s > SCRIPT_MAX_LINE) {
			set_err(err, errlen, "%s line %u: longer than %d bytes", where, lineno, SCRIPT_MAX_LINE);
			goto fail;
		}
		if (memchr(text + s, '\r', e - s)) {
			set_err(err, errlen, "%s line %u: carriage return inside the line", where, lineno);
			goto fail;
		}
		while (s < e && is_blank(text[s]))
			s++;
		while (e > s && is_blank(text[e - 1]))
			e--;
		if (s == e || text[s] == '#')
			continue;
		if (scr->ncmds >= SCRIPT_MAX_COMMANDS) {
			set_err(err, errlen, "%s line %u: more than %d commands", where, lineno, SCRIPT_MAX_COMMANDS);
			goto fail;
		}
		if (parse_line(scr, text + s, e - s, lineno, msg, sizeof(msg)) < 0) {
			set_err(err, errlen, "%s line %u: %s", where, lineno, msg);
			goto fail;
		}
	}
	if (scr->ncmds == 0) {
		set_err(err, errlen, "%s: no commands (only comments or blank lines)", where);
		goto fail;
	}
	return scr;
fail:
	script_free(scr);
	return NULL;
}

/* ---------------------------------------------------------------- building */

/* Parts go in with the encoder's put_* functions (no space of their own):
 * a script's spacing must survive exactly ("(FLAGS" "x" ")" -> (FLAGS "x")). */
static void put_parts(const struct script *scr, size_t first, size_t n, struct imap_cmd *cmd)
{
	for (size_t i = first; i < first + n && i < scr->nparts; i++) {
		const struct script_part *p = &scr->parts[i];
		const char *d = scr->pool + p->off;
		if (p->kind == SCRIPT_RAW)
			imap_cmd_put_text(cmd, d, p->len);
		else if (p->kind == SCRIPT_STRING)
			imap_cmd_put_string(cmd, d, p->len, 0);
		else
			imap_cmd_put_mailbox(cmd, d, p->len);
	}
}

void script_build(const struct script *scr, const struct script_cmd *sc, const struct imap_conn *conn,
		  struct imap_cmd *cmd)
{
	imap_cmd_init(cmd, conn, "");
	strlcpy_s(cmd->name, sc->verb, sizeof(cmd->name));
	put_parts(scr, sc->first_part, sc->nparts, cmd);
}

void script_append_parts(const struct script *scr, size_t first, size_t n, struct imap_cmd *cmd)
{
	imap_cmd_put_text(cmd, " ", 1);
	put_parts(scr, first, n, cmd);
}
