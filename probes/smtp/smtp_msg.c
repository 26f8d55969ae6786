/* smtp_msg.c - the delivery probe's message (headers with a unique token),
 * its probe header, RFC 5322 dates, and the Received: path with per-hop
 * delays.  Pure: times come from the caller. */
#include "config.h"
#include "smtp/smtp_msg.h"

#include <stdio.h>
#include <string.h>

static int is_digit(char c) { return c >= '0' && c <= '9'; }
static int is_space(char c) { return c == ' ' || c == '\t' || c == '\r' || c == '\n'; }

static char lower(char c)
{
	return (c >= 'A' && c <= 'Z') ? (char)(c - 'A' + 'a') : c;
}

/* ---------------------------------------------------------------- dates */

static const char *const months[] = { "Jan", "Feb", "Mar", "Apr", "May", "Jun",
				      "Jul", "Aug", "Sep", "Oct", "Nov", "Dec" };
static const char *const wdays[] = { "Sun", "Mon", "Tue", "Wed", "Thu", "Fri", "Sat" };

/* Days since 1970-01-01 of a proleptic Gregorian date (H. Hinnant). */
static int64_t days_from_civil(int64_t y, unsigned m, unsigned d)
{
	y -= m <= 2;
	int64_t era = (y >= 0 ? y : y - 399) / 400;
	unsigned yoe = (unsigned)(y - era * 400);
	unsigned mp = m > 2 ? m - 3 : m + 9;
	unsigned doy = (153 * mp + 2) / 5 + d - 1;
	unsigned doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
	return era * 146097 + (int64_t)doe - 719468;
}

void smtp_date_format(time_t t, char *out, size_t outlen)
{
	struct tm tm;

	gmtime_r(&t, &tm);
	snprintf(out, outlen, "%s, %02d %s %04d %02d:%02d:%02d +0000", wdays[tm.tm_wday % 7], tm.tm_mday,
		 months[tm.tm_mon % 12], tm.tm_year + 1900, tm.tm_hour, tm.tm_min, tm.tm_sec);
}

struct cursor {
	const char *s;
	size_t n, i;
};

static void skip_cfws(struct cursor *c)
{
	for (;;) {
		while (c->i < c->n && is_space(c->s[c->i]))
			c->i++;
		if (c->i < c->n && c->s[c->i] == '(') {
			int depth = 0;
			for (; c->i < c->n; c->i++) {
				if (c->s[c->i] == '(')
					depth++;
				else if (c->s[c->i] == ')' && --depth == 0) {
					c->i++;
					break;
				}
			}
			continue;
		}
		return;
	}
}

static int read_num(struct cursor *c, int min_digits, int max_digits, long *v)
{
	int k = 0;

	*v = 0;
	while (c->i < c->n && is_digit(c->s[c->i]) && k < max_digits) {
		*v = *v * 10 + (c->s[c->i++] - '0');
		k++;
	}
	return k >= min_digits && !(c->i < c->n && is_digit(c->s[c->i])) ? 0 : -1;
}

static size_t read_word(struct cursor *c, char *w, size_t wl)
{
	size_t k = 0;

	while (c->i < c->n && ((c->s[c->i] >= 'A' && c->s[c->i] <= 'Z') || (c->s[c->i] >= 'a' && c->s[c->i] <= 'z'))) {
		if (k + 1 < wl)
			w[k++] = lower(c->s[c->i]);
		c->i++;
	}
	w[k] = '\0';
	return k;
}

static int zone_offset(struct cursor *c, long *off)
{
	char w[8];

	if (c->i < c->n && (c->s[c->i] == '+' || c->s[c->i] == '-')) {
		int neg = c->s[c->i++] == '-';
		long v;
		if (read_num(c, 4, 4, &v) < 0 || v % 100 > 59)
			return -1;
		*off = (v / 100 * 3600 + v % 100 * 60) * (neg ? -1 : 1);
		return 0;
	}
	if (read_word(c, w, sizeof(w)) == 0)
		return -1;
	static const struct { const char *n; int h; } zones[] = {
		{ "ut", 0 }, { "utc", 0 }, { "gmt", 0 }, { "z", 0 }, { "est", -5 }, { "edt", -4 },
		{ "cst", -6 }, { "cdt", -5 }, { "mst", -7 }, { "mdt", -6 }, { "pst", -8 }, { "pdt", -7 },
	};
	for (size_t i = 0; i < sizeof(zones) / sizeof(zones[0]); i++) {
		if (!strcmp(w, zones[i].n)) {
			*off = zones[i].h * 3600L;
			return 0;
		}
	}
	return -1;
}

int smtp_date_parse(const char *s, size_t n, time_t *out)
{
	struct cursor c = { s, n, 0 };
	char w[16];
	long day, year, hh, mm, ss = 0, off = 0;
	int mon = -1;

	skip_cfws(&c);
	size_t save = c.i;
	if (read_word(&c, w, sizeof(w)) > 0) {   /* day of the week */
		skip_cfws(&c);
		if (c.i >= c.n || c.s[c.i] != ',')
			return -1;
		c.i++;
		skip_cfws(&c);
	} else {
		c.i = save;
	}
	if (read_num(&c, 1, 2, &day) < 0 || day < 1 || day > 31)
		return -1;
	skip_cfws(&c);
	if (read_word(&c, w, sizeof(w)) != 3)
		return -1;
	for (int i = 0; i < 12; i++)
		if (lower(months[i][0]) == w[0] && months[i][1] == w[1] && months[i][2] == w[2])
			mon = i;
	if (mon < 0)
		return -1;
	skip_cfws(&c);
	if (read_num(&c, 2, 4, &year) < 0)
		return -1;
	if (year < 50)
		year += 2000;
	else if (year < 1000)
		year += 1900;
	skip_cfws(&c);
	if (read_num(&c, 1, 2, &hh) < 0 || c.i >= c.n || c.s[c.i] != ':')
		return -1;
	c.i++;
	if (read_num(&c, 2, 2, &mm) < 0)
		return -1;
	if (c.i < c.n && c.s[c.i] == ':') {
		c.i++;
		if (read_num(&c, 2, 2, &ss) < 0)
			return -1;
	}
	if (hh > 23 || mm > 59 || ss > 60)
		return -1;
	skip_cfws(&c);
	if (zone_offset(&c, &off) < 0)
		return -1;
	skip_cfws(&c);
	if (c.i != c.n)
		return -1;
	int64_t days = days_from_civil(year, (unsigned)mon + 1, (unsigned)day);
	*out = (time_t)(days * 86400 + hh * 3600 + mm * 60 + ss - off);
	return 0;
}

/* ---------------------------------------------------------------- the message */

static int token_ok(const char *t)
{
	size_t n = t ? strlen(t) : 0;

	if (n < 8 || n >= SMTP_TOKEN_MAX)
		return 0;
	for (size_t i = 0; i < n; i++)
		if (!((t[i] >= 'a' && t[i] <= 'z') || (t[i] >= 'A' && t[i] <= 'Z') || is_digit(t[i]) ||
		      t[i] == '-' || t[i] == '.'))
			return 0;
	return 1;
}

static int addr_ok(const char *a)
{
	if (!a || !*a)
		return 0;
	for (; *a; a++)
		if ((unsigned char)*a <= 0x20 || (unsigned char)*a >= 0x7f || *a == '<' || *a == '>')
			return 0;
	return 1;
}

void smtp_probe_token(char *out, size_t outlen, const unsigned char *rnd, size_t n, time_t now)
{
	static const char digits[] = "0123456789abcdefghijklmnopqrstuvwxyz";
	char t36[16];
	size_t k = 0;
	uint64_t v = now > 0 ? (uint64_t)now : 0;
	struct sbuf sb;
	char mem[SMTP_TOKEN_MAX];

	do {
		t36[k++] = digits[v % 36];
		v /= 36;
	} while (v && k < sizeof(t36));
	sb_init(&sb, mem, sizeof(mem));
	sb_puts(&sb, "cis-");
	while (k)
		sb_putc(&sb, t36[--k]);
	sb_putc(&sb, '-');
	for (size_t i = 0; i < n && i < 12; i++)
		sb_printf(&sb, "%02x", rnd[i]);
	strlcpy_s(out, sb.data, outlen);
}

int smtp_probe_msg_build(struct sbuf *out, const struct smtp_probe_msg *m)
{
	char date[40];
	const char *host = m->host;

	if (!token_ok(m->token) || !addr_ok(m->from) || !addr_ok(m->to))
		return -1;
	if (!host || !*host) {
		const char *at = strrchr(m->from, '@');
		host = at && at[1] ? at + 1 : "localhost";
	}
	if (!addr_ok(host))
		return -1;
	smtp_date_format(m->date, date, sizeof(date));
	sb_printf(out, "From: <%s>\nTo: <%s>\n", m->from, m->to);
	sb_printf(out, "Subject: check_imap_session delivery probe %s\n", m->token);
	sb_printf(out, "Date: %s\n", date);
	sb_printf(out, "Message-ID: <%s@%s>\n", m->token, host);
	sb_printf(out, "%s: %s%s; sent=%lld\n", SMTP_PROBE_HEADER, SMTP_PROBE_PREFIX, m->token, (long long)m->sent_ms);
	sb_puts(out, "MIME-Version: 1.0\nContent-Type: text/plain; charset=us-ascii\n"
		     "Auto-Submitted: auto-generated\n\n"
		     "This message was sent by check_imap_session to measure how long mail\n"
		     "takes to arrive.  The probe deletes it as soon as it has arrived; if\n"
		     "you see it, a probe run failed and the next run will remove it.\n");
	return out->truncated ? -1 : 0;
}

int smtp_probe_header_parse(const char *value, size_t n, char *token, size_t toklen, int64_t *sent_ms)
{
	size_t i = 0, t0;

	size_t pl = strlen(SMTP_PROBE_PREFIX);

	while (i < n && is_space(value[i]))
		i++;
	if (n - i >= pl && memcmp(value + i, SMTP_PROBE_PREFIX, pl) == 0)
		i += pl;
	t0 = i;
	while (i < n && value[i] != ';' && !is_space(value[i]))
		i++;
	size_t tl = i - t0;
	if (tl == 0 || tl >= toklen)
		return -1;
	memcpy(token, value + t0, tl);
	token[tl] = '\0';
	if (!token_ok(token))
		return -1;
	while (i < n && is_space(value[i]))
		i++;
	if (i >= n || value[i] != ';')
		return -1;
	i++;
	while (i < n && is_space(value[i]))
		i++;
	if (n - i < 6 || memcmp(value + i, "sent=", 5) != 0)
		return -1;
	i += 5;
	int64_t v = 0;
	size_t d0 = i;
	while (i < n && is_digit(value[i]) && i - d0 < 15)
		v = v * 10 + (value[i++] - '0');
	while (i < n && is_space(value[i]))
		i++;
	if (i == d0 || i != n)
		return -1;
	*sent_ms = v;
	return 0;
}

/* ---------------------------------------------------------------- Received */

/* The word after keyword kw (" by ", " from "...) in s[0..n), sanitized. */
static void clause(const char *s, size_t n, const char *kw, char *out, size_t outlen)
{
	size_t kl = strlen(kw);

	out[0] = '\0';
	for (size_t i = 0; i + kl <= n; i++) {
		if ((i == 0 || is_space(s[i - 1])) && ascii_ieq(s + i, kl, kw) && i + kl < n &&
		    is_space(s[i + kl])) {
			size_t a = i + kl;
			while (a < n && is_space(s[a]))
				a++;
			size_t b = a;
			while (b < n && !is_space(s[b]) && s[b] != ';')
				b++;
			sanitize_text(out, outlen, s + a, b - a);
			return;
		}
	}
}

static void add_hop(struct smtp_path *p, const char *v, size_t n)
{
	if (p->nhops == SMTP_MAX_HOPS) {
		p->dropped++;
		return;
	}
	struct smtp_hop *h = &p->hop[p->nhops++];
	memset(h, 0, sizeof(*h));
	const char *semi = NULL;
	for (size_t i = n; i > 0; i--)
		if (v[i - 1] == ';') {
			semi = v + i - 1;
			break;
		}
	size_t body = semi ? (size_t)(semi - v) : n;
	clause(v, body, "from", h->from, sizeof(h->from));
	clause(v, body, "by", h->by, sizeof(h->by));
	clause(v, body, "with", h->with, sizeof(h->with));
	if (semi && smtp_date_parse(semi + 1, n - body - 1, &h->time) == 0)
		h->has_time = 1;
}

void smtp_path_parse(const char *hdr, size_t len, struct smtp_path *path)
{
	char val[2048];
	size_t i = 0;

	memset(path, 0, sizeof(*path));
	while (i < len) {
		size_t eol = i;
		while (eol < len && hdr[eol] != '\n')
			eol++;
		size_t ll = eol - i;
		if (ll > 0 && hdr[i + ll - 1] == '\r')
			ll--;
		if (ll == 0)
			break;   /* the end of the header block */
		if (ll > 9 && ascii_ieq(hdr + i, 9, "Received:")) {
			/* unfold: the field goes on while lines start with a blank */
			size_t vl = 0;
			size_t j = i + 9;
			for (;;) {
				size_t e = j;
				while (e < len && hdr[e] != '\n')
					e++;
				size_t k = e;
				if (k > j && hdr[k - 1] == '\r')
					k--;
				for (size_t x = j; x < k && vl + 1 < sizeof(val); x++)
					val[vl++] = hdr[x] == '\t' ? ' ' : hdr[x];
				if (e + 1 < len && (hdr[e + 1] == ' ' || hdr[e + 1] == '\t')) {
					if (vl + 1 < sizeof(val))
						val[vl++] = ' ';
					j = e + 1;
					continue;
				}
				eol = e;
				break;
			}
			add_hop(path, val, vl);
		}
		i = eol < len ? eol + 1 : len;
	}
	/* header order is newest first: reverse into transit order */
	for (unsigned a = 0, b = path->nhops ? path->nhops - 1 : 0; a < b; a++, b--) {
		struct smtp_hop t = path->hop[a];
		path->hop[a] = path->hop[b];
		path->hop[b] = t;
	}
}

void smtp_path_format(const struct smtp_path *path, time_t sent, struct sbuf *out)
{
	time_t prev = sent;
	int have_prev = sent != 0;

	for (unsigned i = 0; i < path->nhops; i++) {
		const struct smtp_hop *h = &path->hop[i];
		if (i)
			sb_putc(out, '\n');
		sb_printf(out, "hop %u:", i + 1);
		if (h->from[0])
			sb_printf(out, " from %s", h->from);
		if (h->by[0])
			sb_printf(out, " by %s", h->by);
		if (h->with[0])
			sb_printf(out, " with %s", h->with);
		if (!h->has_time) {
			sb_puts(out, h->from[0] || h->by[0] || h->with[0] ? ", no time stamp" : " no time stamp");
			have_prev = 0;
			continue;
		}
		char date[40];
		struct tm tm;
		gmtime_r(&h->time, &tm);
		strftime(date, sizeof(date), "%H:%M:%S", &tm);
		sb_printf(out, " at %s UTC", date);
		if (have_prev) {
			long long d = (long long)(h->time - prev);
			if (d < 0)
				sb_printf(out, ", clock skew: %llds (stamped before the previous hop)", d);
			else
				sb_printf(out, ", +%llds", d);
		}
		prev = h->time;
		have_prev = 1;
	}
	if (path->dropped)
		sb_printf(out, "\n(%u more Received: fields not shown)", path->dropped);
}
