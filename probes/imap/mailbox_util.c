/* mailbox_util.c - dates, UID sets and the data of NAMESPACE, LIST, QUOTA,
 * SEARCH and ESEARCH responses.  Pure: see mailbox_util.h. */
#include "config.h"
#include "imap/mailbox_util.h"

#include <math.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>

#include "imap/imap_parse.h"
#include "imap/utf7.h"
#include "util/util.h"

/* ---------------------------------------------------------------- dates */

static int digits(const char *s, size_t n, size_t *i, size_t min, size_t max, int *out)
{
	size_t k = 0;
	int v = 0;
	while (*i < n && k < max && s[*i] >= '0' && s[*i] <= '9') {
		v = v * 10 + (s[*i] - '0');
		(*i)++;
		k++;
	}
	if (k < min)
		return -1;
	*out = v;
	return 0;
}

static int expect_ch(const char *s, size_t n, size_t *i, char c)
{
	if (*i >= n || s[*i] != c)
		return -1;
	(*i)++;
	return 0;
}

int mbx_parse_datetime(const char *s, size_t n, time_t *out)
{
	static const char months[12][4] = { "jan", "feb", "mar", "apr", "may", "jun",
					    "jul", "aug", "sep", "oct", "nov", "dec" };
	static const int mdays[12] = { 31, 29, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31 };
	size_t i = 0;
	int d, mon = -1, y, hh, mm, ss, zh, zm, sign;
	struct tm tm;

	if (i < n && s[i] == ' ')
		i++;
	if (digits(s, n, &i, 1, 2, &d) < 0 || expect_ch(s, n, &i, '-') < 0 || i + 3 > n)
		return -1;
	for (int m = 0; m < 12; m++)
		if (!strncasecmp(s + i, months[m], 3))
			mon = m;
	if (mon < 0)
		return -1;
	i += 3;
	if (expect_ch(s, n, &i, '-') < 0 || digits(s, n, &i, 4, 4, &y) < 0 || expect_ch(s, n, &i, ' ') < 0 ||
	    digits(s, n, &i, 2, 2, &hh) < 0 || expect_ch(s, n, &i, ':') < 0 ||
	    digits(s, n, &i, 2, 2, &mm) < 0 || expect_ch(s, n, &i, ':') < 0 ||
	    digits(s, n, &i, 2, 2, &ss) < 0 || expect_ch(s, n, &i, ' ') < 0 || i >= n)
		return -1;
	if (s[i] != '+' && s[i] != '-')
		return -1;
	sign = s[i++] == '-' ? -1 : 1;
	if (digits(s, n, &i, 2, 2, &zh) < 0 || digits(s, n, &i, 2, 2, &zm) < 0 || i != n)
		return -1;
	if (d < 1 || d > mdays[mon] || hh > 23 || mm > 59 || ss > 60 || zm > 59 || zh > 14 || y < 1900)
		return -1;
	memset(&tm, 0, sizeof(tm));
	tm.tm_mday = d;
	tm.tm_mon = mon;
	tm.tm_year = y - 1900;
	tm.tm_hour = hh;
	tm.tm_min = mm;
	tm.tm_sec = ss;
	time_t t = timegm(&tm);
	*out = t - sign * (time_t)(zh * 3600 + zm * 60);
	return 0;
}

double mbx_age(time_t now, time_t then)
{
	double a = difftime(now, then);
	return a > 0 ? a : 0;
}

void mbx_format_age(double s, char *out, size_t outsz)
{
	if (s < 120)
		snprintf(out, outsz, "%.0fs", s);
	else if (s < 7200)
		snprintf(out, outsz, "%.0fm", s / 60);
	else if (s < 2 * 86400)
		snprintf(out, outsz, "%.1fh", s / 3600);
	else
		snprintf(out, outsz, "%.1fd", s / 86400);
}

/* ---------------------------------------------------------------- UID sets */

/* A nz-number of at most 10 digits that fits in 32 bits. */
static int set_number(const char *s, size_t n, size_t *i, uint64_t *v)
{
	size_t start = *i;
	uint64_t x = 0;
	while (*i < n && s[*i] >= '0' && s[*i] <= '9' && *i - start < 10) {
		x = x * 10 + (uint64_t)(s[*i] - '0');
		(*i)++;
	}
	if (*i == start || (*i < n && s[*i] >= '0' && s[*i] <= '9'))
		return -1;
	if (s[start] == '0' || x > 0xffffffffu)
		return -1;
	*v = x;
	return 0;
}

int mbx_seqset_parse(const char *s, size_t n, uint64_t *count, uint64_t *min, uint64_t *max)
{
	uint64_t c = 0, lo_all = UINT64_MAX, hi_all = 0;
	size_t i = 0;

	if (n == 0)
		return -1;
	while (i < n) {
		uint64_t a, b;
		if (set_number(s, n, &i, &a) < 0)
			return -1;
		b = a;
		if (i < n && s[i] == ':') {
			i++;
			if (set_number(s, n, &i, &b) < 0)
				return -1;
		}
		uint64_t lo = a < b ? a : b, hi = a < b ? b : a;
		c += hi - lo + 1;
		if (lo < lo_all)
			lo_all = lo;
		if (hi > hi_all)
			hi_all = hi;
		if (i < n) {
			if (s[i] != ',' || i + 1 == n)
				return -1;
			i++;
		}
	}
	*count = c;
	*min = lo_all;
	*max = hi_all;
	return 0;
}

int mbx_seqset_has(const char *s, size_t n, uint64_t v)
{
	uint64_t c, lo, hi;
	size_t i = 0;

	if (mbx_seqset_parse(s, n, &c, &lo, &hi) < 0)
		return -1;
	while (i < n) {
		uint64_t a = 0, b = 0;
		(void)set_number(s, n, &i, &a);  /* validated above */
		b = a;
		if (i < n && s[i] == ':') {
			i++;
			(void)set_number(s, n, &i, &b);
		}
		if (v >= (a < b ? a : b) && v <= (a < b ? b : a))
			return 1;
		i++;                            /* the ',' */
	}
	return 0;
}

void mbx_uidset_init(struct mbx_uidset *u)
{
	u->len = 0;
	u->text[0] = '\0';
	u->overflow = 0;
	u->open = 0;
}

static void uidset_emit(struct mbx_uidset *u)
{
	char tmp[48];
	int k;
	if (u->lo == u->hi)
		k = snprintf(tmp, sizeof(tmp), "%s%llu", u->len ? "," : "", (unsigned long long)u->lo);
	else
		k = snprintf(tmp, sizeof(tmp), "%s%llu:%llu", u->len ? "," : "", (unsigned long long)u->lo,
			     (unsigned long long)u->hi);
	if (k < 0 || u->len + (size_t)k >= sizeof(u->text)) {
		u->overflow = 1;
		return;
	}
	memcpy(u->text + u->len, tmp, (size_t)k + 1);
	u->len += (size_t)k;
}

void mbx_uidset_add(struct mbx_uidset *u, uint64_t uid)
{
	if (u->open && uid == u->hi + 1) {
		u->hi = uid;
		return;
	}
	if (u->open)
		uidset_emit(u);
	u->lo = u->hi = uid;
	u->open = 1;
}

void mbx_uidset_finish(struct mbx_uidset *u)
{
	if (u->open)
		uidset_emit(u);
	u->open = 0;
}

void mbx_uidset_assign(struct mbx_uidset *u, const char *s, size_t n)
{
	mbx_uidset_init(u);
	if (n >= sizeof(u->text)) {
		u->overflow = 1;
		return;
	}
	memcpy(u->text, s, n);
	u->text[n] = '\0';
	u->len = n;
}

/* ---------------------------------------------------------------- SEARCH */

void mbx_search_init(struct mbx_search *sr, const char *tag)
{
	memset(sr, 0, sizeof(*sr));
	strlcpy_s(sr->tag, tag ? tag : "", sizeof(sr->tag));
	mbx_uidset_init(&sr->set);
}

void mbx_parse_search(const struct imap_response *r, struct mbx_search *sr)
{
	sr->done = 1;
	sr->have_set = 1;
	sr->have_count = 1;
	for (size_t i = 0; i < r->ntok; i++) {
		uint64_t v;
		if (r->tok[i].depth != 0 || imap_tok_u64(r, &r->tok[i], &v) < 0 || v == 0)
			continue;       /* "(MODSEQ n)" and junk */
		if (v > UINT32_MAX) {
			sr->bad = 1;    /* not a UID: the set must never be re-sent */
			continue;
		}
		if (!sr->count || v < sr->min)
			sr->min = v;
		if (!sr->count || v > sr->max)
			sr->max = v;
		sr->count++;
		sr->have_minmax = 1;
		mbx_uidset_add(&sr->set, v);
	}
}

int mbx_esearch_tagged(const struct imap_response *r)
{
	return r->ntok > 2 && r->tok[0].type == IMAP_TOK_LIST_OPEN && imap_tok_is(r, &r->tok[1], "TAG");
}

int mbx_parse_esearch(const struct imap_response *r, struct mbx_search *sr)
{
	size_t i = 0;

	/* search-correlator: (TAG "a5") */
	if (i < r->ntok && r->tok[i].type == IMAP_TOK_LIST_OPEN) {
		if (i + 3 < r->ntok && imap_tok_is(r, &r->tok[i + 1], "TAG") && sr->tag[0]) {
			const struct imap_token *t = &r->tok[i + 2];
			if (!ascii_ieq(imap_tok_data(r, t), t->len, sr->tag))
				return -1;
		}
		i = imap_tok_skip(r, i);
	}
	if (i < r->ntok && imap_tok_is(r, &r->tok[i], "UID"))
		i++;
	sr->done = 1;
	sr->esearch = 1;
	while (i + 1 < r->ntok) {
		const struct imap_token *k = &r->tok[i], *v = &r->tok[i + 1];
		uint64_t x;
		if (imap_tok_is(r, k, "COUNT") && imap_tok_u64(r, v, &x) == 0) {
			sr->count = x;
			sr->have_count = 1;
		} else if (imap_tok_is(r, k, "MIN") && imap_tok_u64(r, v, &x) == 0) {
			sr->min = x;
			sr->have_minmax |= 1;
		} else if (imap_tok_is(r, k, "MAX") && imap_tok_u64(r, v, &x) == 0) {
			sr->max = x;
			sr->have_minmax |= 2;
		} else if (imap_tok_is(r, k, "ALL")) {
			uint64_t c, lo, hi;
			const char *s = imap_tok_data(r, v);
			if (v->type != IMAP_TOK_ATOM || mbx_seqset_parse(s, v->len, &c, &lo, &hi) < 0) {
				sr->bad = 1;
			} else {
				mbx_uidset_assign(&sr->set, s, v->len);
				sr->have_set = 1;
			}
		}
		i = imap_tok_skip(r, i + 1);
	}
	return 0;
}

void mbx_search_finish(struct mbx_search *sr)
{
	uint64_t c, lo, hi;

	mbx_uidset_finish(&sr->set);
	if (sr->have_set && !sr->set.overflow && sr->set.len &&
	    mbx_seqset_parse(sr->set.text, sr->set.len, &c, &lo, &hi) == 0) {
		if (!sr->have_count) {
			sr->count = c;
			sr->have_count = 1;
		}
		if (sr->have_minmax != 3) {
			sr->min = lo;
			sr->max = hi;
		}
		sr->have_minmax = 3;
	}
	if (sr->have_minmax == 1)
		sr->max = sr->min;     /* RETURN (MIN) alone */
	else if (sr->have_minmax == 2)
		sr->min = sr->max;     /* RETURN (MAX) alone */
	if (sr->have_minmax)
		sr->have_minmax = 3;
	if (sr->done && !sr->have_count) {
		/* no COUNT asked for: MIN or MAX means at least one match; an
		 * ESEARCH with nothing in it means none */
		sr->count = sr->have_minmax ? 1 : 0;
		sr->have_count = 1;
	}
	if (sr->count == 0)
		sr->have_minmax = 0;
}

/* ---------------------------------------------------------------- NAMESPACE */

/* Copy a string token (quoted, literal or atom) decoding modified UTF-7. */
static void tok_mailbox(const struct imap_response *r, const struct imap_token *t, char *out, size_t outsz,
			int *decoded)
{
	const char *s = imap_tok_data(r, t);
	int ok = imap_utf7_decode(s, t->len, out, outsz) == 0;
	if (!ok) {
		size_t n = t->len < outsz - 1 ? t->len : outsz - 1;
		memcpy(out, s, n);
		out[n] = '\0';
	}
	if (decoded)
		*decoded = ok;
}

static int is_string(const struct imap_token *t)
{
	return t->type == IMAP_TOK_QUOTED || t->type == IMAP_TOK_LITERAL || t->type == IMAP_TOK_ATOM;
}

int mbx_parse_namespace(const struct imap_response *r, struct mbx_namespace *out)
{
	static const char *const group_name[3] = { "personal", "other users", "shared" };
	struct mbx_namespace ns;
	struct sbuf d;
	size_t i = 0;

	memset(&ns, 0, sizeof(ns));
	sb_init(&d, ns.desc, sizeof(ns.desc));
	for (int g = 0; g < 3; g++) {
		if (i >= r->ntok)
			return -1;
		sb_printf(&d, "%s%s ", g ? ", " : "", group_name[g]);
		if (r->tok[i].type == IMAP_TOK_NIL) {
			sb_puts(&d, "none");
			i++;
			continue;
		}
		if (r->tok[i].type != IMAP_TOK_LIST_OPEN)
			return -1;
		size_t end = imap_tok_skip(r, i), j = i + 1;
		int first = 1;
		while (j < end && r->tok[j].type == IMAP_TOK_LIST_OPEN) {
			size_t inner_end = imap_tok_skip(r, j);
			if (j + 2 >= inner_end || !is_string(&r->tok[j + 1]))
				return -1;
			char prefix[256], delim = 0;
			const struct imap_token *dt = &r->tok[j + 2];
			tok_mailbox(r, &r->tok[j + 1], prefix, sizeof(prefix), NULL);
			if (dt->type == IMAP_TOK_QUOTED && dt->len == 1)
				delim = imap_tok_data(r, dt)[0];
			else if (dt->type != IMAP_TOK_NIL)
				return -1;
			char shown[160];
			sanitize_text(shown, sizeof(shown), prefix, strlen(prefix));
			sb_printf(&d, "%s\"%s\"", first ? "" : " ", shown);
			if (delim)
				sb_printf(&d, " (%c)", delim);
			first = 0;
			if (g == 0 && !ns.have_personal) {
				ns.have_personal = 1;
				strlcpy_s(ns.prefix, prefix, sizeof(ns.prefix));
				ns.delim = delim;
			} else if (g > 0 && prefix[0] && ns.nothers < MBX_NS_OTHERS) {
				strlcpy_s(ns.others[ns.nothers++], prefix, sizeof(ns.others[0]));
			}
			j = inner_end;
		}
		if (first)
			sb_puts(&d, "none");
		i = end;
	}
	ns.have = 1;
	*out = ns;
	return 0;
}

static int is_inbox_path(const char *name, char delim)
{
	if (strncasecmp(name, "INBOX", 5))
		return 0;
	return name[5] == '\0' || (delim && name[5] == delim);
}

static int has_prefix(const char *name, const char *prefix)
{
	size_t n = strlen(prefix);
	if (!n)
		return 0;
	/* "INBOX" in a prefix matches in any case, the rest exactly */
	if (n >= 5 && !strncasecmp(prefix, "INBOX", 5))
		return !strncasecmp(name, prefix, 5) && !strncmp(name + 5, prefix + 5, n - 5);
	return !strncmp(name, prefix, n);
}

int mbx_ns_resolve(const struct mbx_namespace *ns, const char *name, char *out, size_t outsz)
{
	int add = ns && ns->have && ns->have_personal && ns->prefix[0] && !is_inbox_path(name, ns->delim) &&
		  !has_prefix(name, ns->prefix);
	for (unsigned k = 0; add && k < ns->nothers; k++)
		if (has_prefix(name, ns->others[k]))
			add = 0;
	int n = snprintf(out, outsz, "%s%s", add ? ns->prefix : "", name);
	if (n < 0 || (size_t)n >= outsz)
		return -1;
	return add;
}

/* ---------------------------------------------------------------- LIST */

static const struct {
	const char *flag;
	unsigned bit;
} list_attrs[] = {
	{ "\\Noselect", MBX_ATTR_NOSELECT },
	{ "\\NonExistent", MBX_ATTR_NONEXISTENT },
	{ "\\All", MBX_ATTR_ALL },
	{ "\\Archive", MBX_ATTR_ARCHIVE },
	{ "\\Drafts", MBX_ATTR_DRAFTS },
	{ "\\Flagged", MBX_ATTR_FLAGGED },
	{ "\\Junk", MBX_ATTR_JUNK },
	{ "\\Sent", MBX_ATTR_SENT },
	{ "\\Trash", MBX_ATTR_TRASH },
	{ "\\Important", MBX_ATTR_IMPORTANT },
};

const char *mbx_special_name(unsigned i)
{
	static const char *const names[MBX_SPECIAL_COUNT] = {
		"All", "Archive", "Drafts", "Flagged", "Junk", "Sent", "Trash", "Important",
	};
	return i < MBX_SPECIAL_COUNT ? names[i] : "?";
}

int mbx_parse_list(const struct imap_response *r, struct mbx_list_entry *e)
{
	size_t i = 0;

	memset(e, 0, sizeof(*e));
	if (r->ntok < 4 || r->tok[0].type != IMAP_TOK_LIST_OPEN)
		return -1;
	for (i = 1; i < r->ntok && r->tok[i].type != IMAP_TOK_LIST_CLOSE; i++) {
		for (size_t k = 0; k < sizeof(list_attrs) / sizeof(list_attrs[0]); k++)
			if (imap_tok_is(r, &r->tok[i], list_attrs[k].flag))
				e->attrs |= list_attrs[k].bit;
	}
	i++;
	if (i + 1 >= r->ntok)
		return -1;
	const struct imap_token *dt = &r->tok[i], *nt = &r->tok[i + 1];
	if (dt->type == IMAP_TOK_QUOTED && dt->len == 1)
		e->delim = imap_tok_data(r, dt)[0];
	else if (dt->type != IMAP_TOK_NIL)
		return -1;
	if (!is_string(nt) && nt->type != IMAP_TOK_NIL)
		return -1;
	tok_mailbox(r, nt, e->name, sizeof(e->name), &e->decoded);
	e->name_len = e->decoded ? strlen(e->name) : (nt->len < sizeof(e->name) - 1 ? nt->len : sizeof(e->name) - 1);
	return 0;
}

/* ---------------------------------------------------------------- QUOTA */

void mbx_quota_init(struct mbx_quota *q)
{
	memset(q, 0, sizeof(*q));
}

double mbx_quota_percent(uint64_t used, uint64_t limit)
{
	if (limit == 0)
		return 100.0;
	return (double)used * 100.0 / (double)limit;
}

void mbx_parse_quotaroot(const struct imap_response *r, struct mbx_quota *q)
{
	q->have_root = 1;
	/* mailbox name, then the roots */
	for (size_t i = 1; i < r->ntok; i++)
		if (r->tok[i].depth == 0 && is_string(&r->tok[i]))
			q->nroots++;
}

void mbx_parse_quota(const struct imap_response *r, struct mbx_quota *q)
{
	struct sbuf d;
	char root[96];

	if (r->ntok < 2 || !is_string(&r->tok[0]) || r->tok[1].type != IMAP_TOK_LIST_OPEN)
		return;
	q->nquota++;
	/* append to what earlier QUOTA responses wrote */
	size_t had = strnlen(q->detail, sizeof(q->detail) - 1);
	char keep[sizeof(q->detail)];
	memcpy(keep, q->detail, had);
	sb_init(&d, q->detail, sizeof(q->detail));
	sb_append(&d, keep, had);
	sanitize_text(root, sizeof(root), imap_tok_data(r, &r->tok[0]), r->tok[0].len);
	sb_printf(&d, "%s\"%s\":", d.len ? "; " : "", root);
	size_t end = imap_tok_skip(r, 1);
	for (size_t i = 2; i + 2 < end; i += 3) {
		const struct imap_token *name = &r->tok[i];
		uint64_t used, limit;
		if (name->type != IMAP_TOK_ATOM || imap_tok_u64(r, &r->tok[i + 1], &used) < 0 ||
		    imap_tok_u64(r, &r->tok[i + 2], &limit) < 0)
			break;
		double pct = mbx_quota_percent(used, limit);
		char res[32];
		sanitize_text(res, sizeof(res), imap_tok_data(r, name), name->len);
		if (imap_tok_is(r, name, "STORAGE")) {
			sb_printf(&d, " STORAGE %llu/%llu KiB", (unsigned long long)used, (unsigned long long)limit);
			if (!q->have_storage || pct > q->storage_pct) {
				q->storage_pct = pct;
				q->storage_used = used;
				q->storage_limit = limit;
			}
			q->have_storage = 1;
		} else if (imap_tok_is(r, name, "MESSAGE")) {
			sb_printf(&d, " MESSAGE %llu/%llu", (unsigned long long)used, (unsigned long long)limit);
			if (!q->have_messages || pct > q->messages_pct) {
				q->messages_pct = pct;
				q->messages_used = used;
				q->messages_limit = limit;
			}
			q->have_messages = 1;
		} else {
			sb_printf(&d, " %s %llu/%llu", res, (unsigned long long)used, (unsigned long long)limit);
		}
	}
}
