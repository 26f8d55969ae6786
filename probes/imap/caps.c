/* caps.c - parsing IMAP capability lists into flags and AUTH= mechanisms.
 * Pure. */
#include "config.h"
#include "imap/caps.h"

#include <string.h>

#include "util/util.h"

static const struct {
	const char *name;
	uint32_t flag;
} cap_names[] = {
	{ "IMAP4REV1", CAP_IMAP4REV1 },
	{ "IMAP4REV2", CAP_IMAP4REV2 },
	{ "STARTTLS", CAP_STARTTLS },
	{ "LOGINDISABLED", CAP_LOGINDISABLED },
	{ "SASL-IR", CAP_SASL_IR },
	{ "LITERAL+", CAP_LITERAL_PLUS },
	{ "LITERAL-", CAP_LITERAL_MINUS },
	{ "IDLE", CAP_IDLE },
	{ "NAMESPACE", CAP_NAMESPACE },
	{ "UIDPLUS", CAP_UIDPLUS },
	{ "QUOTA", CAP_QUOTA },
	{ "ESEARCH", CAP_ESEARCH },
	{ "SEARCHRES", CAP_SEARCHRES },
	{ "SPECIAL-USE", CAP_SPECIAL_USE },
	{ "LIST-STATUS", CAP_LIST_STATUS },
	{ "ENABLE", CAP_ENABLE },
	{ "ID", CAP_ID },
	{ "CONDSTORE", CAP_CONDSTORE },
	{ "UTF8=ACCEPT", CAP_UTF8_ACCEPT },
	{ "STATUS=SIZE", CAP_STATUS_SIZE },
	{ "LIST-EXTENDED", CAP_LIST_EXTENDED },
	{ "MOVE", CAP_MOVE },
	{ "UNSELECT", CAP_UNSELECT },
	{ "BINARY", CAP_BINARY },
};

static int is_space(char ch)
{
	return ch == ' ' || ch == '\t' || ch == '\r' || ch == '\n';
}

static void caps_add_auth(struct imap_caps *caps, const char *m, size_t n)
{
	size_t len = strlen(caps->auth);

	if (n == 0 || len + n + 2 > sizeof(caps->auth))
		return;
	for (size_t i = 0; i < n; i++) {
		char ch = m[i];
		if (ch >= 'a' && ch <= 'z')
			ch = (char)(ch - 'a' + 'A');
		else if ((unsigned char)ch < 0x21 || (unsigned char)ch > 0x7e)
			ch = '?';
		caps->auth[len++] = ch;
	}
	caps->auth[len++] = ' ';
	caps->auth[len] = '\0';
}

static void caps_add_word(struct imap_caps *caps, const char *w, size_t n)
{
	if (n > 5 && ascii_ieq(w, 5, "AUTH=")) {
		caps_add_auth(caps, w + 5, n - 5);
		return;
	}
	for (size_t i = 0; i < sizeof(cap_names) / sizeof(cap_names[0]); i++) {
		if (ascii_ieq(w, n, cap_names[i].name)) {
			caps->flags |= cap_names[i].flag;
			return;
		}
	}
}

void imap_caps_parse(struct imap_caps *caps, const char *s, size_t n)
{
	memset(caps, 0, sizeof(*caps));
	caps->known = 1;
	strcpy(caps->auth, " ");
	if (!s)
		n = 0;
	for (size_t i = 0; i < n;) {
		while (i < n && is_space(s[i]))
			i++;
		size_t start = i;
		while (i < n && !is_space(s[i]))
			i++;
		if (i > start)
			caps_add_word(caps, s + start, i - start);
	}
	sanitize_text(caps->raw, sizeof(caps->raw), s, n);
}

int imap_caps_has_auth(const struct imap_caps *caps, const char *mech)
{
	char pat[64];
	size_t n = mech ? strlen(mech) : 0;

	if (n == 0 || n + 3 > sizeof(pat))
		return 0;
	pat[0] = ' ';
	for (size_t i = 0; i < n; i++) {
		char ch = mech[i];
		if (ch == ' ')
			return 0;
		pat[i + 1] = (ch >= 'a' && ch <= 'z') ? (char)(ch - 'a' + 'A') : ch;
	}
	pat[n + 1] = ' ';
	pat[n + 2] = '\0';
	return strstr(caps->auth, pat) != NULL;
}

/* "* CAPABILITY a b c": the tokens joined by spaces. */
void imap_caps_from_response(struct imap_caps *caps, const struct imap_response *r)
{
	char buf[4096];
	size_t len = 0;

	for (size_t i = 0; i < r->ntok; i++) {
		const struct imap_token *t = &r->tok[i];
		if (t->type != IMAP_TOK_ATOM && t->type != IMAP_TOK_QUOTED)
			continue;
		if (len + t->len + 1 >= sizeof(buf))
			break;
		if (len)
			buf[len++] = ' ';
		memcpy(buf + len, imap_tok_data(r, t), t->len);
		len += t->len;
	}
	imap_caps_parse(caps, buf, len);
}
