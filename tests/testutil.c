/* testutil.c - helpers shared by the test programs (see testutil.h): value
 * lookups, base64, UTF-8, Prometheus checks, files and subprocesses, JSON
 * through python3. */
#define _GNU_SOURCE
#include "testutil.h"

#include <criterion/criterion.h>

#include <ctype.h>
#include <errno.h>
#include <ftw.h>
#include <math.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

const char *const tu_state_name[4] = {"OK", "WARNING", "CRITICAL", "UNKNOWN"};

double tu_now_s(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

int tu_count(const char *hay, const char *needle)
{
	int n = 0;
	size_t l = strlen(needle);

	while ((hay = strstr(hay, needle)) != NULL) {
		n++;
		hay += l;
	}
	return n;
}

void tu_find_value(const char *text, const char *pre, const char *name, const char *post, const char *stop,
                   char *out, size_t len)
{
	char key[256];
	const char *p;

	snprintf(key, sizeof key, "%s%s%s", pre, name, post);
	p = strstr(text, key);
	out[0] = '\0';
	if (p) {
		size_t n;

		p += strlen(key);
		n = strcspn(p, stop);
		snprintf(out, len, "%.*s", (int)(n < len - 1 ? n : len - 1), p);
	}
}

int tu_perf_field(const char *line, const char *label, char *out, size_t outsz)
{
	const char *p = strchr(line, '|');

	if (p == NULL)
		return 0;
	for (p++; *p;) {
		const char *name, *name_end, *val;

		while (*p == ' ')
			p++;
		if (*p == '\0')
			break;
		if (*p == '\'') {
			name = ++p;
			while (*p && *p != '\'')
				p++;
			name_end = p;
			if (*p)
				p++;
		} else {
			name = p;
			while (*p && *p != '=' && *p != ' ')
				p++;
			name_end = p;
		}
		if (*p != '=')
			break; /* malformed */
		val = ++p;
		while (*p && *p != ' ')
			p++;
		if ((size_t)(name_end - name) == strlen(label) && strncmp(name, label, strlen(label)) == 0) {
			snprintf(out, outsz, "%.*s", (int)(p - val), val);
			return 1;
		}
	}
	return 0;
}

size_t tu_va_args(const char **out, size_t max, va_list ap)
{
	size_t n = 0;
	const char *a;

	while ((a = va_arg(ap, const char *)) != NULL && n < max - 1)
		out[n++] = a;
	out[n] = NULL;
	return n;
}

size_t tu_utf8_len(const unsigned char *p, size_t n)
{
	unsigned char b = p[0], lo = 0x80, hi = 0xbf;
	size_t len;

	if (n == 0)
		return 0;
	if (b <= 0x7f)
		return 1;
	if (b >= 0xc2 && b <= 0xdf)
		len = 2;
	else if (b >= 0xe0 && b <= 0xef)
		len = 3, lo = b == 0xe0 ? 0xa0 : 0x80, hi = b == 0xed ? 0x9f : 0xbf;
	else if (b >= 0xf0 && b <= 0xf4)
		len = 4, lo = b == 0xf0 ? 0x90 : 0x80, hi = b == 0xf4 ? 0x8f : 0xbf;
	else
		return 0;
	if (len > n || p[1] < lo || p[1] > hi)
		return 0;
	for (size_t k = 2; k < len; k++)
		if (p[k] < 0x80 || p[k] > 0xbf)
			return 0;
	return len;
}

int tu_utf8_valid(const unsigned char *s, size_t n)
{
	for (size_t i = 0, k; i < n; i += k)
		if ((k = tu_utf8_len(s + i, n - i)) == 0)
			return 0;
	return 1;
}

char *tu_printable(const void *data, size_t n)
{
	const unsigned char *b = data;
	char *out = malloc(n * 4 + 1), *o = out;

	cr_assert_not_null(out);
	for (size_t i = 0; i < n; i++) {
		if (b[i] == '\n' || (b[i] >= 0x20 && b[i] < 0x7f))
			*o++ = (char)b[i];
		else
			o += sprintf(o, "\\x%02x", b[i]);
	}
	*o = '\0';
	return out;
}

static const char b64_alphabet[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";

size_t tu_b64(const void *data, size_t n, char *out)
{
	const unsigned char *in = data;
	size_t o = 0;

	for (size_t i = 0; i < n; i += 3) {
		unsigned v = (unsigned)in[i] << 16;

		if (i + 1 < n)
			v |= (unsigned)in[i + 1] << 8;
		if (i + 2 < n)
			v |= in[i + 2];
		out[o++] = b64_alphabet[(v >> 18) & 63];
		out[o++] = b64_alphabet[(v >> 12) & 63];
		out[o++] = i + 1 < n ? b64_alphabet[(v >> 6) & 63] : '=';
		out[o++] = i + 2 < n ? b64_alphabet[v & 63] : '=';
	}
	out[o] = '\0';
	return o;
}

char *tu_b64_dup(const void *in, size_t n)
{
	char *out = malloc((n + 2) / 3 * 4 + 1);

	cr_assert_not_null(out);
	tu_b64(in, n, out);
	return out;
}

int tu_prom_name_ok(const char *s, size_t n, int metric)
{
	if (n == 0 || !(isalpha((unsigned char)s[0]) || s[0] == '_' || (metric && s[0] == ':')))
		return 0;
	for (size_t i = 1; i < n; i++)
		if (!(isalnum((unsigned char)s[i]) || s[i] == '_' || (metric && s[i] == ':')))
			return 0;
	return 1;
}

int tu_prom_value_ok(const char *s, double *v)
{
	char *end;
	double d;

	if (!strcmp(s, "NaN") || !strcmp(s, "+Inf") || !strcmp(s, "-Inf")) {
		if (v)
			*v = !strcmp(s, "NaN") ? NAN : s[0] == '+' ? INFINITY : -INFINITY;
		return 1;
	}
	if (!*s || strspn(s, "+-0123456789.eE") != strlen(s))
		return 0;
	d = strtod(s, &end);
	if (v)
		*v = d;
	return *end == '\0';
}

size_t tu_prom_labels(const char *l, size_t i, size_t n)
{
	char seen[8][64];
	int nseen = 0;

	if (l[i++] != '{')
		return 0;
	while (i < n && l[i] != '}') {
		size_t s = i;

		while (i < n && l[i] != '=')
			i++;
		if (i >= n || !tu_prom_name_ok(l + s, i - s, 0) || i - s >= 64 || nseen >= 8 ||
		    (i - s >= 2 && l[s] == '_' && l[s + 1] == '_'))
			return 0;
		for (int k = 0; k < nseen; k++)
			if (strlen(seen[k]) == i - s && !strncmp(seen[k], l + s, i - s))
				return 0;
		memcpy(seen[nseen], l + s, i - s);
		seen[nseen++][i - s] = '\0';
		if (l[++i] != '"')
			return 0;
		for (i++; i < n && l[i] != '"'; i++)
			if (l[i] == '\\' && (++i >= n || !l[i] || !strchr("\\\"n", l[i])))
				return 0;
		if (i >= n)
			return 0;
		i++;
		if (l[i] == ',')
			i++;
		else if (l[i] != '}')
			return 0;
	}
	return i < n ? i + 1 : 0;
}

const char *tu_prom_parse(struct tu_prom *p, const char *text, size_t len)
{
	static char why[1400];
	char families[128][96], cur[96] = "", helped[96] = "";
	int nfam = 0;
	size_t pos = 0;

	p->n = 0;
	if (len == 0 || text[len - 1] != '\n')
		return "empty, or does not end in a newline";
	if (memchr(text, '\0', len))
		return "NUL byte";
	if (!tu_utf8_valid((const unsigned char *)text, len))
		return "not UTF-8";
	while (pos < len) {
		const char *l = text + pos;
		size_t n = (size_t)((const char *)memchr(l, '\n', len - pos) - l), i = 0;
		char line[1200];
		double v;

		pos += n + 1;
		if (n == 0 || n >= sizeof line)
			return "empty or huge line";
		memcpy(line, l, n);
		line[n] = '\0';
		for (const unsigned char *u = (const unsigned char *)line; *u; u++)
			if (*u < 0x20 || *u == 0x7f) {
				snprintf(why, sizeof why, "control byte in: %s", line);
				return why;
			}
		if (!strncmp(line, "# HELP ", 7)) {
			const char *sp = strchr(line + 7, ' ');
			if (!sp || !tu_prom_name_ok(line + 7, (size_t)(sp - line - 7), 1) || sp - line - 7 >= 96)
				return "bad HELP line";
			snprintf(helped, sizeof helped, "%.*s", (int)(sp - line - 7), line + 7);
			for (const char *c = sp; *c; c++)
				if (*c == '\\' && c[1] != '\\' && c[1] != 'n')
					return "bad escape in HELP";
				else if (*c == '\\')
					c++;
			continue;
		}
		if (!strncmp(line, "# TYPE ", 7)) {
			char name[96], type[32], extra[8];
			if (sscanf(line + 7, "%95s %31s %7s", name, type, extra) != 2 || strcmp(name, helped) ||
			    (strcmp(type, "gauge") && strcmp(type, "counter") && strcmp(type, "untyped")))
				return "bad TYPE line (or no HELP just before it)";
			for (int k = 0; k < nfam; k++)
				if (!strcmp(families[k], name)) {
					snprintf(why, sizeof why, "family %s twice", name);
					return why;
				}
			if (nfam >= 128)
				return "too many families";
			strcpy(families[nfam++], name);
			strcpy(cur, name);
			helped[0] = '\0';
			continue;
		}
		if (line[0] == '#')
			return "a comment that is neither HELP nor TYPE";
		while (i < n && line[i] != '{' && line[i] != ' ')
			i++;
		if (!tu_prom_name_ok(line, i, 1) || strlen(cur) != i || strncmp(line, cur, i)) {
			snprintf(why, sizeof why, "sample outside its family: %s", line);
			return why;
		}
		if (line[i] == '{' && !(i = tu_prom_labels(line, i, n))) {
			snprintf(why, sizeof why, "bad labels: %s", line);
			return why;
		}
		if (line[i] != ' ' || !tu_prom_value_ok(line + i + 1, &v)) {
			snprintf(why, sizeof why, "bad value (or a timestamp): %s", line);
			return why;
		}
		if (i >= sizeof p->s[0].key || p->n >= 256)
			return "series name too long, or too many series";
		for (int k = 0; k < p->n; k++)
			if (strlen(p->s[k].key) == i && !strncmp(p->s[k].key, line, i)) {
				snprintf(why, sizeof why, "series repeated: %s", line);
				return why;
			}
		memcpy(p->s[p->n].key, line, i);
		p->s[p->n].key[i] = '\0';
		p->s[p->n++].value = v;
	}
	return NULL;
}

/* All of F, NUL-terminated (never NULL). */
static char *slurp(FILE *f)
{
	char *buf = NULL;
	size_t len = 0, cap = 0, n;
	char tmp[8192];

	while ((n = fread(tmp, 1, sizeof tmp, f)) > 0) {
		if (len + n + 1 > cap) {
			cap = (len + n + 1) * 2;
			buf = realloc(buf, cap);
			cr_assert_not_null(buf);
		}
		memcpy(buf + len, tmp, n);
		len += n;
	}
	if (buf == NULL)
		buf = calloc(1, 1);
	cr_assert_not_null(buf);
	buf[len] = '\0';
	return buf;
}

char *tu_read_file(const char *path)
{
	FILE *f = fopen(path, "r");
	char *buf;

	if (f == NULL) {
		buf = strdup("");
		cr_assert_not_null(buf);
		return buf;
	}
	buf = slurp(f);
	fclose(f);
	return buf;
}

char *tu_temp_file(const char *dir, const char *tag, const void *data, size_t len)
{
	const char *tmp = getenv("TMPDIR");
	char *path = NULL;
	int fd;

	if (dir == NULL)
		dir = tmp && *tmp ? tmp : "/tmp";
	cr_assert_geq(asprintf(&path, "%s/cis-%s-XXXXXX", dir, tag), 0);
	fd = mkstemp(path);
	cr_assert_geq(fd, 0, "mkstemp %s: %s", path, strerror(errno));
	cr_assert_eq(write(fd, data, len), (ssize_t)len, "writing %s: %s", path, strerror(errno));
	close(fd);
	return path;
}

static int rm_entry(const char *path, const struct stat *st, int type, struct FTW *ftw)
{
	(void)st;
	(void)type;
	(void)ftw;
	return remove(path);
}

int tu_rm_tree(const char *dir)
{
	return nftw(dir, rm_entry, 8, FTW_DEPTH | FTW_PHYS) == 0 ? 0 : -1;
}

int tu_run_argv(const char *const *argv)
{
	int status;
	pid_t pid = fork();

	if (pid == 0) {
		execvp(argv[0], (char *const *)argv);
		_exit(127);
	}
	if (pid < 0 || waitpid(pid, &status, 0) != pid)
		return -1;
	return WIFEXITED(status) ? WEXITSTATUS(status) : -1;
}

char *tu_capture(const char *shell_cmd, int *status)
{
	FILE *f = popen(shell_cmd, "r");
	char *buf;

	cr_assert_not_null(f, "popen %s", shell_cmd);
	buf = slurp(f);
	*status = pclose(f);
	return buf;
}

int tu_python_json(const char *json, size_t n, const char *expr, char *out, size_t outsz)
{
	char *path = tu_temp_file(NULL, "json", json, n), *cmd = NULL, *got;
	size_t len;
	int st;

	cr_assert_geq(asprintf(&cmd,
	                       "python3 -c 'import json,sys\n"
	                       "def bad(c): raise ValueError(c)\n"
	                       "d=json.loads(open(sys.argv[1],\"rb\").read().decode(\"utf-8\"),parse_constant=bad)\n"
	                       "print(ascii(eval(sys.argv[2])))' '%s' '%s' 2>/dev/null",
	                       path, expr),
	              0);
	got = tu_capture(cmd, &st);
	len = strlen(got);
	if (len && got[len - 1] == '\n')
		got[--len] = '\0';
	snprintf(out, outsz, "%s", got);
	unlink(path);
	free(path);
	free(cmd);
	free(got);
	return WIFEXITED(st) ? WEXITSTATUS(st) : -1;
}
