/* fuzz_text.c - the text paths server bytes take to the output: modified
 * UTF-7 mailbox names, sanitize_text(), JSON strings, a whole report
 * rendered in every format, MIME header decoding, INTERNALDATE and UID
 * sets, base64.
 *
 * Input: byte 0 is a parameter (output buffer sizes, report shape); the
 * rest is split at 0xFF bytes (never valid UTF-8) into up to 8 fields.
 *
 * Invariants (what a monitoring system relies on):
 *  - modified UTF-7: what decodes re-encodes to the very same bytes (the
 *    decoder accepts only the canonical form: this found the null shift
 *    "&AOQ-&AOQ-" being accepted), and valid UTF-8 survives encode +
 *    decode unchanged;
 *  - sanitize_text: fits its buffer, valid UTF-8, no control byte, DEL,
 *    '|', C1 control or bidi override, no leading/trailing/double space;
 *  - JSON strings: quoted, valid UTF-8, no raw control byte, only the
 *    escapes JSON knows;
 *  - rendered reports: nagios output has no control byte but '\n' and
 *    exactly the one '|' that starts the perfdata; JSON is one line;
 *  - base64: decode(encode(x)) == x. */
#include "config.h"

#include "util/base64.h"
#include "fuzz_util.h"
#include "imap/utf7.h"
#include "imap/mailbox_util.h"
#include "imap/mime.h"
#include "report/output.h"
#include "report/report.h"
#include "util/util.h"

#define MAXF 8

struct field {
	const char *p;
	size_t n;
	char *z;        /* NUL-terminated copy (cut at an inner NUL) */
};

/* Check UTF-8 validity; returns 1 if valid. */
static int valid_utf8(const char *s, size_t n)
{
	size_t i = 0;
	uint32_t cp;

	while (i < n) {
		size_t k = utf8_next((const unsigned char *)s + i, n - i, &cp);
		if (k == 0)
			return 0;
		FUZZ_CHECK(k <= 4 && k <= n - i, "utf8_next length %zu", k);
		i += k;
	}
	return 1;
}

static void check_safe_text(const char *s, size_t n, const char *what)
{
	uint32_t cp;
	size_t i = 0;

	FUZZ_CHECK(valid_utf8(s, n), "%s: invalid UTF-8: %.*s", what, (int)n, s);
	while (i < n) {
		size_t k = utf8_next((const unsigned char *)s + i, n - i, &cp);
		FUZZ_CHECK(cp >= 0x20 && cp != 0x7f && cp != '|', "%s: U+%04X at %zu", what, cp, i);
		FUZZ_CHECK(!(cp >= 0x80 && cp < 0xa0), "%s: C1 control U+%04X", what, cp);
		FUZZ_CHECK(cp != 0x200e && cp != 0x200f && !(cp >= 0x202a && cp <= 0x202e) &&
			   !(cp >= 0x2066 && cp <= 0x2069) && cp != 0x2028 && cp != 0x2029,
			   "%s: format character U+%04X", what, cp);
		i += k;
	}
}

static void check_sanitized(const char *s, size_t dstsz, const char *what)
{
	size_t n = strlen(s);

	FUZZ_CHECK(n < dstsz, "%s: %zu bytes in a %zu-byte buffer", what, n, dstsz);
	check_safe_text(s, n, what);
	if (n) {
		FUZZ_CHECK(s[0] != ' ' && s[n - 1] != ' ', "%s: leading/trailing space: '%s'", what, s);
		FUZZ_CHECK(!strstr(s, "  "), "%s: double space: '%s'", what, s);
	}
}

static void t_utf7(const struct field *f)
{
	char out[1024], back[2048];

	/* decode -> encode is the identity: the decoder accepts only the one
	 * canonical spelling of a name */
	if (imap_utf7_decode(f->p, f->n, out, sizeof(out)) == 0) {
		size_t on = strlen(out);
		FUZZ_CHECK(valid_utf8(out, on), "decoded mUTF-7 is not UTF-8");
		FUZZ_CHECK(imap_utf7_encode(out, back, sizeof(back)) == 0, "re-encode failed");
		FUZZ_CHECK(strlen(back) == f->n && !memcmp(back, f->p, f->n), "mUTF-7 '%.*s' re-encodes as '%s'",
			   (int)f->n, f->p, back);
	}
	/* valid UTF-8 -> encode -> decode is the identity */
	if (imap_utf7_encode(f->z, out, sizeof(out)) == 0) {
		FUZZ_CHECK(valid_utf8(f->z, strlen(f->z)), "encoded invalid UTF-8");
		for (const char *p = out; *p; p++)
			FUZZ_CHECK(*p >= 0x20 && *p < 0x7f, "mUTF-7 output byte 0x%02x", (unsigned char)*p);
		FUZZ_CHECK(imap_utf7_decode(out, strlen(out), back, sizeof(back)) == 0, "decode of own '%s' failed",
			   out);
		FUZZ_CHECK(!strcmp(back, f->z), "UTF-8 round trip changed the text");
	}
}

static void t_sanitize(const struct field *f, unsigned param)
{
	size_t sizes[] = { 1, 2, 4, 5, (param % 64) + 1, 300 };
	char dst[300];

	for (size_t k = 0; k < sizeof(sizes) / sizeof(sizes[0]); k++) {
		memset(dst, 'X', sizeof(dst));
		sanitize_text(dst, sizes[k], f->p, f->n);
		check_sanitized(dst, sizes[k], "sanitize_text");
		for (size_t i = sizes[k]; i < sizeof(dst); i++)
			FUZZ_CHECK(dst[i] == 'X', "sanitize_text wrote past dstsz %zu", sizes[k]);
	}
}

static void check_json_string(const char *s, size_t n)
{
	FUZZ_CHECK(n >= 2 && s[0] == '"' && s[n - 1] == '"', "JSON string not quoted: %.*s", (int)n, s);
	FUZZ_CHECK(valid_utf8(s, n), "JSON string is not UTF-8");
	for (size_t i = 1; i + 1 < n; i++) {
		unsigned char c = (unsigned char)s[i];
		FUZZ_CHECK(c >= 0x20, "raw control byte 0x%02x in JSON", c);
		FUZZ_CHECK(c != '"', "unescaped quote in JSON string at %zu", i);
		if (c == '\\') {
			char e = s[++i];
			FUZZ_CHECK(i + 1 < n && strchr("\"\\/bfnrtu", e), "bad JSON escape \\%c", e);
			if (e == 'u') {
				for (int k = 0; k < 4; k++)
					FUZZ_CHECK(i + 1 + (size_t)k < n - 1 &&
						   strchr("0123456789abcdefABCDEF", s[i + 1 + (size_t)k]),
						   "bad \\u escape");
				i += 4;
			}
		}
	}
}

static void t_json(const struct field *f)
{
	struct sbuf sb;

	/* at most 6 bytes per input byte (\u00XX) plus the quotes */
	FUZZ_CHECK(sb_init_alloc(&sb, 6 * f->n + 3) == 0, "sb_init_alloc");
	output_json_string(&sb, f->z);
	FUZZ_CHECK(!sb.truncated, "JSON of a %zu-byte string truncated", strlen(f->z));
	check_json_string(sb.data, sb.len);
	sb_free(&sb);
}

static void t_report(const struct field *fs, unsigned nf, unsigned param)
{
	static struct report rep;      /* 200 KB: not on the stack */
	const char *a = fs[0].z, *b = nf > 1 ? fs[1].z : "", *c = nf > 2 ? fs[2].z : "";
	const char *d = nf > 3 ? fs[3].z : "";

	report_init(&rep, 10.0);
	struct step *st = report_step_begin(&rep, a, 0);
	step_value(st, b, 1.5, c);
	report_step_end(st, 0, (int)(param % 4), (int)(param / 4 % 4), "%s", b);
	st = report_step_begin(&rep, "greeting", 0);
	report_step_end(st, 0, STEP_FAILED, STATE_CRITICAL, "server said: %s", c);
	struct thresholds th = { 0 };
	char err[128];
	(void)range_parse("1:2", &th.warn, err, sizeof(err));
	report_perf(&rep, c, 3.25, d, (int)(param % 12) - 1, &th);
	report_perf(&rep, "messages", 12, "", 0, NULL);
	report_info(&rep, b, "%s", c);
	report_info(&rep, "tls_version", "%s", d);
	report_line(&rep, "%s", d);
	if (param & 0x80)
		report_fail(&rep, STATE_CRITICAL, a, "auth failed: %s", d);
	else
		report_set_summary(&rep, "%s", a);
	report_finish(&rep, 0);

	for (int fmt = 0; fmt < 3; fmt++) {
		struct sbuf out;
		FUZZ_CHECK(sb_init_alloc(&out, OUTPUT_MAX_SIZE) == 0, "sb_init_alloc");
		output_render(&rep, (enum output_format)fmt, (int)(param % 4), &out);
		FUZZ_CHECK(!out.truncated, "format %d output truncated", fmt);
		FUZZ_CHECK(out.len > 0 && out.data[out.len - 1] == '\n', "format %d: no final newline", fmt);
		for (size_t i = 0; i < out.len; i++) {
			unsigned char ch = (unsigned char)out.data[i];
			FUZZ_CHECK(ch >= 0x20 || ch == '\n', "format %d: control byte 0x%02x at %zu", fmt, ch, i);
		}
		FUZZ_CHECK(valid_utf8(out.data, out.len), "format %d: invalid UTF-8", fmt);
		if (fmt == OUTPUT_NAGIOS) {
			size_t l1 = strcspn(out.data, "\n");
			const char *bar = memchr(out.data, '|', l1);
			FUZZ_CHECK(!strncmp(out.data, "IMAP ", 5), "status line: %.*s", (int)l1, out.data);
			FUZZ_CHECK(bar && !memchr(bar + 1, '|', l1 - (size_t)(bar + 1 - out.data)),
				   "status line needs exactly one '|': %.*s", (int)l1, out.data);
			/* long output: no '|' at all (it would start perfdata) */
			FUZZ_CHECK(!memchr(out.data + l1, '|', out.len - l1), "'|' in the long output");
		} else if (fmt == OUTPUT_JSON) {
			FUZZ_CHECK(memchr(out.data, '\n', out.len) == out.data + out.len - 1, "JSON is not one line");
			FUZZ_CHECK(out.data[0] == '{' && out.data[out.len - 2] == '}', "JSON is not one object");
		}
		sb_free(&out);
	}
}

static void t_mime(const struct field *fs, unsigned nf, unsigned param)
{
	char out[256], type[64], bnd[80], dec[512];
	size_t sz = (param % 64) + 1;
	const char *name = nf > 1 ? fs[1].z : "Subject";

	if (mime_header_display(fs[0].p, fs[0].n, name, out, sz))
		check_sanitized(out, sz, "mime_header_display");
	else
		FUZZ_CHECK(out[0] == '\0', "absent field not empty");
	if (mime_header_field(fs[0].p, fs[0].n, name, out, sizeof(out)))
		FUZZ_CHECK(memchr(out, '\0', sizeof(out)) != NULL, "field not terminated");
	size_t dn = mime_decode_words(fs[0].p, fs[0].n, dec, sz);
	FUZZ_CHECK(dn < sz && dec[dn] == '\0', "mime_decode_words length %zu in %zu", dn, sz);
	if (mime_content_type(fs[0].z, type, sizeof(type), bnd, sizeof(bnd))) {
		FUZZ_CHECK(type[0] != '\0', "content type found but empty");
		for (const char *p = type; *p; p++)
			FUZZ_CHECK(!(*p >= 'A' && *p <= 'Z'), "type not lower case: %s", type);
		if (bnd[0] && nf > 2)
			(void)mime_count_parts(fs[2].p, fs[2].n, bnd);
	}
	if (nf > 1)
		(void)mime_count_parts(fs[0].p, fs[0].n, fs[1].z[0] ? fs[1].z : "b");
}

static void t_mailbox(const struct field *f)
{
	time_t t;
	uint64_t count, min, max;
	char age[32];

	if (mbx_parse_datetime(f->p, f->n, &t) == 0) {
		double a = mbx_age(t + 100, t);
		FUZZ_CHECK(a >= 0, "negative age");
		mbx_format_age(a, age, sizeof(age));
	}
	if (mbx_seqset_parse(f->p, f->n, &count, &min, &max) == 0) {
		FUZZ_CHECK(count > 0 && min >= 1 && min <= max && max <= 0xffffffffull,
			   "seqset count %llu min %llu max %llu", (unsigned long long)count,
			   (unsigned long long)min, (unsigned long long)max);
		struct mbx_uidset *u = malloc(sizeof(*u));
		FUZZ_CHECK(u != NULL, "malloc");
		mbx_uidset_init(u);
		mbx_uidset_assign(u, f->p, f->n);
		mbx_uidset_finish(u);
		free(u);
	}
}

static void t_base64(const struct field *f)
{
	unsigned char *dec = malloc(f->n + 1);
	char *enc = malloc(base64_enc_len(f->n));

	FUZZ_CHECK(dec && enc, "malloc");
	size_t el = base64_encode(f->p, f->n, enc);
	FUZZ_CHECK(el + 1 == base64_enc_len(f->n) && enc[el] == '\0', "encoded length %zu", el);
	long dl = base64_decode(enc, el, dec, f->n + 1);
	FUZZ_CHECK(dl == (long)f->n && !memcmp(dec, f->p, f->n), "base64 round trip failed");
	dl = base64_decode(f->p, f->n, dec, f->n + 1);
	FUZZ_CHECK(dl <= (long)f->n, "decoded longer than its input");
	/* the unpadded forms: MIME's lax padding takes the padded and the
	 * unpadded text; every variant decodes at most 3/4 of its input */
	size_t bare = el;
	while (bare > 0 && enc[bare - 1] == '=')
		bare--;
	dl = base64_decode_ex(enc, bare, dec, f->n + 1, BASE64_PAD_OPTIONAL);
	FUZZ_CHECK(dl == (long)f->n && !memcmp(dec, f->p, f->n), "unpadded MIME base64 round trip failed");
	static const unsigned variants[] = { 0, BASE64_PAD_OPTIONAL, BASE64_MUTF7, BASE64_STRICT_BITS };
	for (size_t v = 0; v < sizeof(variants) / sizeof(variants[0]); v++) {
		dl = base64_decode_ex(f->p, f->n, dec, f->n + 1, variants[v]);
		FUZZ_CHECK(dl <= (long)(f->n / 4 * 3 + 2), "variant %zu: decoded %ld bytes from %zu", v, dl, f->n);
	}
	free(dec);
	free(enc);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct field fs[MAXF];
	unsigned nf = 0;

	if (size < 1)
		return 0;
	unsigned param = data[0];
	const char *p = (const char *)data + 1, *end = (const char *)data + size;
	while (nf < MAXF) {
		const char *sep = memchr(p, 0xff, (size_t)(end - p));
		size_t n = sep ? (size_t)(sep - p) : (size_t)(end - p);
		fs[nf].p = p;
		fs[nf].n = n;
		fs[nf].z = malloc(n + 1);
		FUZZ_CHECK(fs[nf].z != NULL, "malloc");
		memcpy(fs[nf].z, p, n);
		fs[nf].z[n] = '\0';
		nf++;
		if (!sep)
			break;
		p = sep + 1;
	}

	for (unsigned i = 0; i < nf; i++) {
		t_utf7(&fs[i]);
		t_sanitize(&fs[i], param);
		t_json(&fs[i]);
		t_mailbox(&fs[i]);
		t_base64(&fs[i]);
	}
	t_report(fs, nf, param);
	t_mime(fs, nf, param);
	for (unsigned i = 0; i < nf; i++)
		free(fs[i].z);
	return 0;
}
