/* output.c - the renderers of a report (Monitoring Plugins text, JSON,
 * Prometheus text format) into a buffer: no I/O, no clock. */
#include "config.h"
#include "report/output.h"

#include <math.h>
#include <string.h>

/* Nanoseconds as seconds. */
static double ns_to_s(int64_t ns)
{
	return (double)ns / 1e9;
}


/* Everything in a report should already be sanitized; every renderer still
 * treats each string as hostile, because a bug elsewhere must not become a
 * broken status line or an injected perfdata item. */

/* ---------------------------------------------------------------- helpers */

#define NAME_SZ 64      /* step names, labels, keys after sanitizing */
#define TEXT_SZ 1100    /* summary, messages, lines after sanitizing */

/* Sanitize s (at most ssz bytes, NUL or not) into dst. */
static void clean(char *dst, size_t dstsz, const char *s, size_t ssz)
{
	sanitize_text(dst, dstsz, s, s ? strnlen(s, ssz) : 0);
}

/* From a fixed-size report field. */
#define CLEAN(dst, field) clean(dst, sizeof(dst), field, sizeof(field))

/* Shortest fixed-point spelling with at most 6 decimals: 10, 0.5, -2.25. */
static void put_compact(struct sbuf *out, double v)
{
	char buf[400];
	struct sbuf t;

	sb_init(&t, buf, sizeof buf);
	sb_put_double(&t, v, 6);
	if (strchr(buf, '.')) {
		size_t n = strlen(buf);
		while (buf[n - 1] == '0')
			buf[--n] = '\0';
		if (buf[n - 1] == '.')
			buf[--n] = '\0';
	}
	sb_puts(out, strcmp(buf, "-0") == 0 ? "0" : buf);
}

static int range_text_ok(const struct range *r)
{
	if (!r->set || !r->text[0] || !memchr(r->text, '\0', sizeof r->text))
		return 0;
	return strspn(r->text, "0123456789.:@~+-eE") == strlen(r->text);
}

static const char *outcome_name(int outcome)
{
	switch (outcome) {
	case STEP_OK:
		return "OK";
	case STEP_FAILED:
		return "FAILED";
	case STEP_TIMEOUT:
		return "TIMEOUT";
	case STEP_SKIPPED:
		return "SKIPPED";
	default:
		return "UNKNOWN";
	}
}

static int exit_code(int state)
{
	return state >= STATE_OK && state <= STATE_UNKNOWN ? state : STATE_UNKNOWN;
}

static int step_ran(const struct step *s)
{
	return s->outcome != STEP_SKIPPED;
}

/* ---------------------------------------------------------------- perf list */

/* The perfdata every renderer shows: the duration of each step that ran
 * (first of a repeated name, unless the session gave an item with that
 * label), then the report's own items. */
struct perf_iter {
	const struct report *r;
	unsigned i;
	struct perf tmp;
};

static int has_perf_label(const struct report *r, const char *label)
{
	for (unsigned i = 0; i < r->nperf && i < REPORT_MAX_PERF; i++)
		if (strncmp(r->perf[i].label, label, sizeof r->perf[i].label) == 0)
			return 1;
	return 0;
}

static int step_is_first(const struct report *r, unsigned k)
{
	for (unsigned i = 0; i < k; i++)
		if (step_ran(&r->steps[i]) &&
		    strncmp(r->steps[i].name, r->steps[k].name, sizeof r->steps[k].name) == 0)
			return 0;
	return 1;
}

static int step_has_perf(const struct report *r, unsigned k)
{
	const struct step *s = &r->steps[k];

	return step_ran(s) && s->name[0] && memchr(s->name, '\0', sizeof s->name) &&
	       step_is_first(r, k) && !has_perf_label(r, s->name);
}

static const struct perf *perf_next(struct perf_iter *it)
{
	const struct report *r = it->r;
	unsigned nsteps = r->nsteps < REPORT_MAX_STEPS ? r->nsteps : REPORT_MAX_STEPS;
	unsigned nperf = r->nperf < REPORT_MAX_PERF ? r->nperf : REPORT_MAX_PERF;

	for (; it->i < nsteps; it->i++) {
		const struct step *s = &r->steps[it->i];
		if (!step_has_perf(r, it->i))
			continue;
		memset(&it->tmp, 0, sizeof it->tmp);
		memcpy(it->tmp.label, s->name, sizeof it->tmp.label);
		it->tmp.value = ns_to_s(s->dur_ns);
		strcpy(it->tmp.uom, "s");
		it->tmp.decimals = 6;
		it->tmp.has_min = 1;
		it->tmp.has_max = r->timeout_s > 0 && isfinite(r->timeout_s);
		it->tmp.max = r->timeout_s;
		it->i++;
		return &it->tmp;
	}
	if (it->i - nsteps < nperf)
		return &r->perf[it->i++ - nsteps];
	return NULL;
}

/* ---------------------------------------------------------------- perfdata */

static int label_char_plain(unsigned char c)
{
	return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
	       c == '_' || c == '-' || c == '.' || c == '/';
}

/* The label from at most lsz bytes (a fixed field may lack its NUL). */
static void perf_label_n(struct sbuf *out, const char *label, size_t lsz)
{
	char l[NAME_SZ];
	int quote = 0;

	clean(l, sizeof l, label, lsz);
	for (char *c = l; *c; c++) {
		if (*c == '=')
			*c = '_';
		if (!label_char_plain((unsigned char)*c))
			quote = 1;
	}
	if (!quote && l[0]) {
		sb_puts(out, l);
		return;
	}
	sb_putc(out, '\'');
	for (const char *c = l; *c; c++) {
		if (*c == '\'')
			sb_putc(out, '\'');
		sb_putc(out, *c);
	}
	sb_putc(out, '\'');
}

void output_perf_label(struct sbuf *out, const char *label)
{
	perf_label_n(out, label, 4096);
}

/* A unit may hold letters and '%' only, at most 3 of them. */
static void put_uom(struct sbuf *out, const char *uom)
{
	for (size_t i = 0; i < 3 && uom[i]; i++)
		if ((uom[i] >= 'a' && uom[i] <= 'z') || (uom[i] >= 'A' && uom[i] <= 'Z') || uom[i] == '%')
			sb_putc(out, uom[i]);
}

void output_perf_item(struct sbuf *out, const struct perf *p)
{
	const char *field[2] = { "", "" };
	int last = -1;

	perf_label_n(out, p->label, sizeof p->label);
	sb_putc(out, '=');
	if (isfinite(p->value)) {
		sb_put_double(out, p->value, p->decimals < 0 ? 0 : p->decimals > 9 ? 9 : p->decimals);
		put_uom(out, p->uom);
	} else {
		sb_putc(out, 'U');
	}
	if (range_text_ok(&p->th.warn)) {
		field[0] = p->th.warn.text;
		last = 0;
	}
	if (range_text_ok(&p->th.crit)) {
		field[1] = p->th.crit.text;
		last = 1;
	}
	if (p->has_min && isfinite(p->min))
		last = 2;
	if (p->has_max && isfinite(p->max))
		last = 3;
	for (int k = 0; k <= last; k++) {
		sb_putc(out, ';');
		if (k < 2)
			sb_puts(out, field[k]);
		else if (k == 2 && p->has_min && isfinite(p->min))
			put_compact(out, p->min);
		else if (k == 3)
			put_compact(out, p->max);
	}
}

/* ---------------------------------------------------------------- nagios */

static void nagios_status_line(const struct report *r, struct sbuf *out)
{
	char summary[TEXT_SZ];
	struct perf_iter it = { .r = r };
	const struct perf *p;
	int first = 1;

	sb_puts(out, "IMAP ");
	sb_puts(out, state_name(r->state));
	CLEAN(summary, r->summary);
	if (summary[0]) {
		sb_puts(out, " - ");
		sb_puts(out, summary);
	}
	while ((p = perf_next(&it))) {
		sb_puts(out, first ? " | " : " ");
		output_perf_item(out, p);
		first = 0;
	}
	sb_putc(out, '\n');
}

static void nagios_values(const struct step *s, struct sbuf *out)
{
	unsigned n = s->nvals < STEP_MAX_VALUES ? s->nvals : STEP_MAX_VALUES;
	char key[NAME_SZ];

	for (unsigned i = 0; i < n; i++) {
		CLEAN(key, s->vals[i].key);
		sb_puts(out, i == 0 ? " (" : ", ");
		sb_puts(out, key);
		sb_putc(out, '=');
		put_compact(out, s->vals[i].value);
		put_uom(out, s->vals[i].uom);
	}
	if (n > 0)
		sb_putc(out, ')');
}

static void nagios_step_line(const struct step *s, int verbose, struct sbuf *out)
{
	char name[NAME_SZ], msg[TEXT_SZ];
	const char *word = outcome_name(s->outcome);

	if (s->outcome == STEP_OK && s->state != STATE_OK)
		word = state_name(s->state);
	CLEAN(name, s->name);
	CLEAN(msg, s->msg);
	sb_printf(out, "%s: %s", name[0] ? name : "?", word);
	if (step_ran(s)) {
		sb_putc(out, ' ');
		sb_put_double(out, ns_to_s(s->dur_ns), 4);
		sb_putc(out, 's');
	}
	if (msg[0]) {
		sb_putc(out, ' ');
		sb_puts(out, msg);
	}
	if (verbose > 0)
		nagios_values(s, out);
	sb_putc(out, '\n');
}

static void render_nagios(const struct report *r, int verbose, struct sbuf *out)
{
	unsigned nsteps = r->nsteps < REPORT_MAX_STEPS ? r->nsteps : REPORT_MAX_STEPS;
	unsigned nlines = r->nlines < REPORT_MAX_LINES ? r->nlines : REPORT_MAX_LINES;
	unsigned ninfo = r->ninfo < REPORT_MAX_INFO ? r->ninfo : REPORT_MAX_INFO;
	char a[NAME_SZ], b[TEXT_SZ];

	nagios_status_line(r, out);
	for (unsigned i = 0; i < nsteps; i++)
		if (verbose > 0 || step_ran(&r->steps[i]))
			nagios_step_line(&r->steps[i], verbose, out);
	for (unsigned i = 0; i < nlines; i++) {
		CLEAN(b, r->lines[i]);
		if (b[0])
			sb_printf(out, "%s\n", b);
	}
	for (unsigned i = 0; verbose > 0 && i < ninfo; i++) {
		CLEAN(a, r->info[i].key);
		CLEAN(b, r->info[i].value);
		sb_printf(out, "%s: %s\n", a, b);
	}
}

/* ---------------------------------------------------------------- json */

static void json_escape_cp(struct sbuf *out, uint32_t cp)
{
	static const char hex[] = "0123456789abcdef";
	char u[6] = { '\\', 'u', hex[(cp >> 12) & 15], hex[(cp >> 8) & 15], hex[(cp >> 4) & 15],
		      hex[cp & 15] };

	sb_append(out, u, sizeof u);
}

static void json_string_n(struct sbuf *out, const char *str, size_t n)
{
	const unsigned char *s = (const unsigned char *)str;
	size_t i = 0;

	sb_putc(out, '"');
	while (i < n) {
		uint32_t cp;
		size_t len = utf8_next(s + i, n - i, &cp);
		if (len == 0) {
			json_escape_cp(out, 0xfffd);
			i++;
			continue;
		}
		if (cp == '"' || cp == '\\') {
			sb_putc(out, '\\');
			sb_putc(out, (char)cp);
		} else if (cp == '\n') {
			sb_puts(out, "\\n");
		} else if (cp == '\r') {
			sb_puts(out, "\\r");
		} else if (cp == '\t') {
			sb_puts(out, "\\t");
		} else if (cp < 0x20 || cp == 0x7f || cp == 0x2028 || cp == 0x2029) {
			json_escape_cp(out, cp);
		} else {
			sb_append(out, (const char *)s + i, len);
		}
		i += len;
	}
	sb_putc(out, '"');
}

void output_json_string(struct sbuf *out, const char *s)
{
	if (!s) {
		sb_puts(out, "null");
		return;
	}
	json_string_n(out, s, strlen(s));
}

/* A string from a fixed-size report field, which may lack its NUL. */
static void json_field(struct sbuf *out, const char *s, size_t size)
{
	json_string_n(out, s, strnlen(s, size));
}

#define JSON_FIELD(out, f) json_field(out, f, sizeof(f))

static void json_number(struct sbuf *out, double v, int decimals)
{
	if (!isfinite(v))
		sb_puts(out, "null");
	else if (decimals < 0)
		put_compact(out, v);
	else
		sb_put_double(out, v, decimals);
}

static void json_key(struct sbuf *out, const char *key, int *first)
{
	if (!*first)
		sb_putc(out, ',');
	*first = 0;
	output_json_string(out, key);
	sb_putc(out, ':');
}

static int json_values_dup(const struct step *s, unsigned k)
{
	for (unsigned i = 0; i < k; i++)
		if (strncmp(s->vals[i].key, s->vals[k].key, sizeof s->vals[k].key) == 0)
			return 1;
	return 0;
}

static void json_step(const struct step *s, struct sbuf *out)
{
	unsigned n = s->nvals < STEP_MAX_VALUES ? s->nvals : STEP_MAX_VALUES;
	int first = 1, vfirst = 1;
	char lower[16];

	strlcpy_s(lower, outcome_name(s->outcome), sizeof lower);
	for (char *c = lower; *c; c++)
		*c = (char)(*c - 'A' + 'a');
	sb_putc(out, '{');
	json_key(out, "name", &first);
	JSON_FIELD(out, s->name);
	json_key(out, "outcome", &first);
	output_json_string(out, lower);
	json_key(out, "state", &first);
	output_json_string(out, state_name(s->state));
	json_key(out, "duration", &first);
	json_number(out, step_ran(s) ? ns_to_s(s->dur_ns) : 0, 6);
	json_key(out, "message", &first);
	JSON_FIELD(out, s->msg);
	json_key(out, "values", &first);
	sb_putc(out, '{');
	for (unsigned i = 0; i < n; i++) {
		if (json_values_dup(s, i))
			continue;
		if (!vfirst)
			sb_putc(out, ',');
		vfirst = 0;
		JSON_FIELD(out, s->vals[i].key);
		sb_putc(out, ':');
		json_number(out, s->vals[i].value, -1);
	}
	sb_puts(out, "}}");
}

static void json_perf(const struct perf *p, struct sbuf *out)
{
	int first = 1;

	sb_putc(out, '{');
	json_key(out, "label", &first);
	JSON_FIELD(out, p->label);
	json_key(out, "value", &first);
	json_number(out, p->value, p->decimals < 0 ? 0 : p->decimals > 9 ? 9 : p->decimals);
	json_key(out, "uom", &first);
	JSON_FIELD(out, p->uom);
	json_key(out, "warn", &first);
	output_json_string(out, range_text_ok(&p->th.warn) ? p->th.warn.text : NULL);
	json_key(out, "crit", &first);
	output_json_string(out, range_text_ok(&p->th.crit) ? p->th.crit.text : NULL);
	json_key(out, "min", &first);
	json_number(out, p->has_min ? p->min : NAN, -1);
	json_key(out, "max", &first);
	json_number(out, p->has_max ? p->max : NAN, -1);
	sb_putc(out, '}');
}

static const struct perf *find_perf(const struct report *r, const char *label)
{
	for (unsigned i = 0; i < r->nperf && i < REPORT_MAX_PERF; i++)
		if (strncmp(r->perf[i].label, label, sizeof r->perf[i].label) == 0)
			return &r->perf[i];
	return NULL;
}

/* Session time: total_ns if stamped, else the "time" perf item, else NaN. */
static double session_time(const struct report *r)
{
	const struct perf *t = find_perf(r, "time");

	if (r->total_ns > 0)
		return ns_to_s(r->total_ns);
	return t ? t->value : NAN;
}

static int json_info_dup(const struct report *r, unsigned k)
{
	for (unsigned i = 0; i < k; i++)
		if (strncmp(r->info[i].key, r->info[k].key, sizeof r->info[k].key) == 0)
			return 1;
	return 0;
}

static void json_arrays(const struct report *r, struct sbuf *out, int *first)
{
	unsigned nsteps = r->nsteps < REPORT_MAX_STEPS ? r->nsteps : REPORT_MAX_STEPS;
	unsigned nlines = r->nlines < REPORT_MAX_LINES ? r->nlines : REPORT_MAX_LINES;
	unsigned ninfo = r->ninfo < REPORT_MAX_INFO ? r->ninfo : REPORT_MAX_INFO;
	struct perf_iter it = { .r = r };
	const struct perf *p;
	int ifirst = 1;

	json_key(out, "steps", first);
	sb_putc(out, '[');
	for (unsigned i = 0; i < nsteps; i++) {
		if (i)
			sb_putc(out, ',');
		json_step(&r->steps[i], out);
	}
	sb_putc(out, ']');
	json_key(out, "perfdata", first);
	sb_putc(out, '[');
	for (int k = 0; (p = perf_next(&it)); k++) {
		if (k)
			sb_putc(out, ',');
		json_perf(p, out);
	}
	sb_putc(out, ']');
	json_key(out, "info", first);
	sb_putc(out, '{');
	for (unsigned i = 0; i < ninfo; i++) {
		if (json_info_dup(r, i))
			continue;
		if (!ifirst)
			sb_putc(out, ',');
		ifirst = 0;
		JSON_FIELD(out, r->info[i].key);
		sb_putc(out, ':');
		JSON_FIELD(out, r->info[i].value);
	}
	sb_putc(out, '}');
	json_key(out, "lines", first);
	sb_putc(out, '[');
	for (unsigned i = 0; i < nlines; i++) {
		if (i)
			sb_putc(out, ',');
		JSON_FIELD(out, r->lines[i]);
	}
	sb_putc(out, ']');
}

static void render_json(const struct report *r, struct sbuf *out)
{
	int first = 1;

	sb_putc(out, '{');
	json_key(out, "state", &first);
	output_json_string(out, state_name(r->state));
	json_key(out, "exit_code", &first);
	sb_printf(out, "%d", exit_code(r->state));
	json_key(out, "summary", &first);
	JSON_FIELD(out, r->summary);
	json_key(out, "failed_step", &first);
	if (r->failed_step[0])
		JSON_FIELD(out, r->failed_step);
	else
		sb_puts(out, "null");
	json_key(out, "time", &first);
	json_number(out, session_time(r), 6);
	json_key(out, "timeout", &first);
	json_number(out, r->timeout_s > 0 ? r->timeout_s : NAN, -1);
	json_arrays(r, out, &first);
	sb_puts(out, "}\n");
}

/* ---------------------------------------------------------------- prometheus */

#define PROM_MAX_FAMILIES (REPORT_MAX_PERF + 16)

/* Metric names already written, so a perf label can never produce a
 * second family of the same name (which would make the scrape invalid). */
struct prom_names {
	unsigned n;
	char name[PROM_MAX_FAMILIES][NAME_SZ];
};

static int prom_name_taken(const struct prom_names *pn, const char *name)
{
	for (unsigned i = 0; i < pn->n; i++)
		if (strcmp(pn->name[i], name) == 0)
			return 1;
	return 0;
}

/* Start a family: "# HELP" and "# TYPE" lines; 0 if the name was taken. */
static int prom_family(struct sbuf *out, struct prom_names *pn, const char *name, const char *help)
{
	if (prom_name_taken(pn, name) || pn->n >= PROM_MAX_FAMILIES)
		return 0;
	strlcpy_s(pn->name[pn->n++], name, NAME_SZ);
	sb_printf(out, "# HELP %s ", name);
	for (const char *c = help; *c; c++) {
		if (*c == '\\')
			sb_puts(out, "\\\\");
		else if (*c == '\n')
			sb_puts(out, "\\n");
		else
			sb_putc(out, *c);
	}
	sb_printf(out, "\n# TYPE %s gauge\n", name);
	return 1;
}

static void prom_value(struct sbuf *out, double v, int decimals)
{
	sb_putc(out, ' ');
	if (isnan(v))
		sb_puts(out, "NaN");
	else if (isinf(v))
		sb_puts(out, v > 0 ? "+Inf" : "-Inf");
	else if (decimals < 0)
		put_compact(out, v);
	else
		sb_put_double(out, v, decimals);
	sb_putc(out, '\n');
}

/* name{label="value"} with the value sanitized and escaped. */
static void prom_labelled(struct sbuf *out, const char *name, const char *label, const char *value,
			  size_t valsz)
{
	char v[TEXT_SZ];

	sanitize_text(v, sizeof v, value, strnlen(value, valsz));
	sb_printf(out, "%s{%s=\"", name, label);
	for (const char *c = v; *c; c++) {
		if (*c == '\\' || *c == '"')
			sb_putc(out, '\\');
		sb_putc(out, *c);
	}
	sb_puts(out, "\"}");
}

static void prom_steps(const struct report *r, struct sbuf *out, struct prom_names *pn)
{
	unsigned nsteps = r->nsteps < REPORT_MAX_STEPS ? r->nsteps : REPORT_MAX_STEPS;
	int any = 0;

	for (unsigned i = 0; i < nsteps; i++)
		any |= step_ran(&r->steps[i]);
	if (!any)
		return;
	prom_family(out, pn, "probe_imap_step_duration_seconds", "Duration of each IMAP session step");
	for (unsigned i = 0; i < nsteps; i++) {
		const struct step *s = &r->steps[i];
		if (!step_ran(s) || !step_is_first(r, i))
			continue;
		prom_labelled(out, "probe_imap_step_duration_seconds", "step", s->name, sizeof s->name);
		prom_value(out, ns_to_s(s->dur_ns), 6);
	}
	prom_family(out, pn, "probe_imap_step_success",
		    "1 when the step succeeded (with --repeat: in every session that ran it), else 0");
	for (unsigned i = 0; i < nsteps; i++) {
		const struct step *s = &r->steps[i];
		if (!step_ran(s) || !step_is_first(r, i))
			continue;
		prom_labelled(out, "probe_imap_step_success", "step", s->name, sizeof s->name);
		prom_value(out, s->outcome == STEP_OK ? 1 : 0, 0);
	}
}

/* "cert_not_after" must be a plain integer (seconds since the epoch). */
static int is_unix_time(const char *s)
{
	size_t n = strnlen(s, 32);

	if (*s == '-') {
		s++;
		n--;
	}
	return n > 0 && n <= 20 && strspn(s, "0123456789") == n;
}

static void prom_tls(const struct report *r, struct sbuf *out, struct prom_names *pn)
{
	const char *exp = report_get_info(r, "cert_not_after");
	const char *ver = report_get_info(r, "tls_version");

	if (exp && is_unix_time(exp) &&
	    prom_family(out, pn, "probe_ssl_earliest_cert_expiry",
			"Expiry of the server certificate in unixtime")) {
		sb_printf(out, "probe_ssl_earliest_cert_expiry %s\n", exp);
	}
	if (ver && ver[0] &&
	    prom_family(out, pn, "probe_tls_version_info", "Negotiated TLS version")) {
		prom_labelled(out, "probe_tls_version_info", "version", ver, 256);
		prom_value(out, 1, 0);
	}
}

/* probe_imap_<label> with [a-zA-Z0-9_] only; bytes get "_bytes",
 * seconds "_seconds". */
static void prom_perf_name(char *name, size_t size, const struct perf *p)
{
	struct sbuf sb;
	char l[NAME_SZ];

	CLEAN(l, p->label);
	sb_init(&sb, name, size);
	sb_puts(&sb, "probe_imap_");
	for (const char *c = l; *c; c++) {
		int ok = (*c >= 'a' && *c <= 'z') || (*c >= 'A' && *c <= 'Z') ||
			 (*c >= '0' && *c <= '9');
		sb_putc(&sb, ok ? *c : '_');
	}
	if (strcmp(p->uom, "B") == 0 && (sb.len < 6 || strcmp(name + sb.len - 6, "_bytes") != 0))
		sb_puts(&sb, "_bytes");
	if (strcmp(p->uom, "s") == 0 && (sb.len < 8 || strcmp(name + sb.len - 8, "_seconds") != 0))
		sb_puts(&sb, "_seconds");
}

/* Perf items the exposition carries elsewhere: the session time
 * (probe_duration_seconds), each step's duration (the step families), and
 * cert_days when probe_ssl_earliest_cert_expiry was written (a "days"
 * gauge breaks the base-unit rule that promtool checks). */
static int prom_perf_elsewhere(const struct report *r, const struct perf *p, const struct prom_names *pn)
{
	unsigned nsteps = r->nsteps < REPORT_MAX_STEPS ? r->nsteps : REPORT_MAX_STEPS;

	if (strncmp(p->label, "cert_days", sizeof p->label) == 0)
		return prom_name_taken(pn, "probe_ssl_earliest_cert_expiry");
	if (strncmp(p->uom, "s", sizeof p->uom) != 0)
		return 0;
	if (strncmp(p->label, "time", sizeof p->label) == 0)
		return 1;
	for (unsigned i = 0; i < nsteps; i++)
		if (step_ran(&r->steps[i]) && strncmp(r->steps[i].name, p->label, sizeof p->label) == 0)
			return 1;
	return 0;
}

static void prom_perf(const struct report *r, struct sbuf *out, struct prom_names *pn)
{
	unsigned nperf = r->nperf < REPORT_MAX_PERF ? r->nperf : REPORT_MAX_PERF;
	char name[NAME_SZ], help[NAME_SZ + 32], l[NAME_SZ];

	for (unsigned i = 0; i < nperf; i++) {
		const struct perf *p = &r->perf[i];
		if (prom_perf_elsewhere(r, p, pn))
			continue;
		prom_perf_name(name, sizeof name, p);
		CLEAN(l, p->label);
		strlcpy_s(help, "IMAP check value ", sizeof help);
		strlcpy_s(help + strlen(help), l, sizeof help - strlen(help));
		if (!prom_family(out, pn, name, help))
			continue;
		sb_puts(out, name);
		prom_value(out, p->value, -1);
	}
}

static void render_prometheus(const struct report *r, struct sbuf *out)
{
	struct prom_names pn = { 0 };
	int state = exit_code(r->state);
	double t = session_time(r);

	/* success means OK: every step worked and nothing crossed a threshold
	 * (a WARNING is something to act on, as a failed fail_if_* check is
	 * for blackbox_exporter); probe_imap_state grades it */
	prom_family(out, &pn, "probe_success",
		    "1 when the check is OK (every step worked, no threshold crossed), else 0");
	sb_printf(out, "probe_success %d\n", state == STATE_OK);
	prom_family(out, &pn, "probe_imap_state",
		    "Nagios state of the check: 0 OK, 1 WARNING, 2 CRITICAL, 3 UNKNOWN");
	sb_printf(out, "probe_imap_state %d\n", state);
	if (!isnan(t)) {
		prom_family(out, &pn, "probe_duration_seconds",
			    "Returns how long the probe took to complete in seconds");
		sb_puts(out, "probe_duration_seconds");
		prom_value(out, t, 6);
	}
	prom_steps(r, out, &pn);
	prom_tls(r, out, &pn);
	prom_perf(r, out, &pn);
}

/* ---------------------------------------------------------------- entry */

void output_render(const struct report *r, enum output_format fmt, int verbose, struct sbuf *out)
{
	switch (fmt) {
	case OUTPUT_JSON:
		render_json(r, out);
		break;
	case OUTPUT_PROMETHEUS:
		render_prometheus(r, out);
		break;
	case OUTPUT_NAGIOS:
	default:
		render_nagios(r, verbose, out);
		break;
	}
}
