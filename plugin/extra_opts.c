/* extra_opts.c - Monitoring Plugins ini-file options (see extra_opts.h). */
#include "config.h"
#include "extra_opts.h"

#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "util/util.h"

#define OPT_NAME "--extra-opts"

const char *const extra_opts_default_paths[] = {
	"/usr/local/etc/monitoring-plugins/monitoring-plugins.ini",
	"/usr/local/etc/monitoring-plugins.ini",
	"/etc/monitoring-plugins/monitoring-plugins.ini",
	"/etc/monitoring-plugins.ini",
	/* deprecated, still searched by monitoring-plugins */
	"/etc/nagios/plugins.ini",
	"/usr/local/nagios/etc/plugins.ini",
	"/usr/local/etc/nagios/plugins.ini",
	"/etc/opt/nagios/plugins.ini",
	"/etc/nagios-plugins.ini",
	"/usr/local/etc/nagios-plugins.ini",
	"/etc/opt/nagios-plugins.ini",
	NULL,
};

/* File names looked for in each NAGIOS_CONFIG_PATH directory. */
static const char *const path_file_names[] = {
	"monitoring-plugins.ini", "plugins.ini", "nagios-plugins.ini", NULL,
};

static int set_err(char *err, size_t errsz, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
static int set_err(char *err, size_t errsz, const char *fmt, ...)
{
	va_list ap;
	if (errsz == 0)
		return -1;
	va_start(ap, fmt);
	vsnprintf(err, errsz, fmt, ap);
	va_end(ap);
	return -1;
}

/* ---------------------------------------------------------------- default file */

static int exists(const char *path)
{
	return access(path, F_OK) == 0;
}

int extra_opts_default_file(char *buf, size_t bufsz, const char *const *paths)
{
	const char *env = getenv("MP_CONFIG_FILE");
	if (env && *env) {
		if (strlen(env) >= bufsz)
			return -1;
		strlcpy_s(buf, env, bufsz);
		return 0;
	}

	env = getenv("NAGIOS_CONFIG_PATH");
	if (env) {
		const char *p = env;
		while (*p) {
			size_t len = strcspn(p, ":");
			for (const char *const *f = path_file_names; len > 0 && *f; f++) {
				int n = snprintf(buf, bufsz, "%.*s/%s", (int)len, p, *f);
				if (n > 0 && (size_t)n < bufsz && exists(buf))
					return 0;
			}
			p += len;
			if (*p == ':')
				p++;
		}
	}

	for (const char *const *p = paths; p && *p; p++) {
		if (strlen(*p) < bufsz && exists(*p)) {
			strlcpy_s(buf, *p, bufsz);
			return 0;
		}
	}
	if (bufsz)
		buf[0] = '\0';
	return -1;
}

/* ---------------------------------------------------------------- reading */

/* Read a whole file (or stdin for "-") into a NUL-terminated malloc'd
 * buffer of at most EXTRA_OPTS_MAX_FILE bytes.  No stdio: nothing of the
 * contents stays behind in a library buffer.  *cap is the allocation size
 * (for wiping). */
static char *read_file(const char *path, size_t *len, size_t *cap, char *err, size_t errsz)
{
	int fd, own = 1;
	struct stat st;

	if (!strcmp(path, "-")) {
		fd = STDIN_FILENO;
		own = 0;
	} else if ((fd = open(path, O_RDONLY | O_CLOEXEC | O_NOCTTY)) < 0) {
		set_err(err, errsz, "%s: cannot read %s: %s", OPT_NAME, path, strerror(errno));
		return NULL;
	}
	if (own && (fstat(fd, &st) < 0 || !S_ISREG(st.st_mode))) {
		set_err(err, errsz, "%s: %s is not a regular file", OPT_NAME, path);
		close(fd);
		return NULL;
	}

	size_t size = 4096, n = 0;
	char *buf = malloc(size);
	if (!buf) {
		set_err(err, errsz, "%s: out of memory", OPT_NAME);
		goto fail;
	}
	for (;;) {
		if (n + 1 >= size) { /* grow by copying, so no stale copy is left unwiped */
			if (size > EXTRA_OPTS_MAX_FILE) {
				set_err(err, errsz, "%s: %s is larger than %d bytes", OPT_NAME, path,
					EXTRA_OPTS_MAX_FILE);
				goto fail;
			}
			char *nb = malloc(size * 2);
			if (!nb) {
				set_err(err, errsz, "%s: out of memory", OPT_NAME);
				goto fail;
			}
			memcpy(nb, buf, n);
			secure_zero(buf, size);
			free(buf);
			buf = nb;
			size *= 2;
		}
		ssize_t r = read(fd, buf + n, size - n - 1);
		if (r < 0 && errno == EINTR)
			continue;
		if (r < 0) {
			set_err(err, errsz, "%s: cannot read %s: %s", OPT_NAME, path, strerror(errno));
			goto fail;
		}
		if (r == 0)
			break;
		n += (size_t)r;
	}
	if (n > EXTRA_OPTS_MAX_FILE) {
		set_err(err, errsz, "%s: %s is larger than %d bytes", OPT_NAME, path, EXTRA_OPTS_MAX_FILE);
		goto fail;
	}
	if (memchr(buf, '\0', n)) {
		set_err(err, errsz, "%s: %s contains NUL bytes (not a text file)", OPT_NAME, path);
		goto fail;
	}
	if (own)
		close(fd);
	buf[n] = '\0';
	*len = n;
	*cap = size;
	return buf;
fail:
	if (buf) {
		secure_zero(buf, size);
		free(buf);
	}
	if (own)
		close(fd);
	return NULL;
}

/* ---------------------------------------------------------------- parsing */

static int is_space(char c)
{
	return c == ' ' || c == '\t' || c == '\r' || c == '\v' || c == '\f';
}

/* Trim [*s, *e) of white space on both ends. */
static void trim(const char **s, const char **e)
{
	while (*s < *e && is_space(**s))
		(*s)++;
	while (*e > *s && is_space((*e)[-1]))
		(*e)--;
}

static int add_owned(struct extra_opts *eo, char *s)
{
	if (eo->n_owned >= EXTRA_OPTS_MAX_ARGS)
		return -1;
	if (eo->n_owned == eo->cap_owned) {
		size_t nc = eo->cap_owned ? eo->cap_owned * 2 : 16;
		char **n = realloc(eo->owned, nc * sizeof(*n));
		if (!n)
			return -1;
		eo->owned = n;
		eo->cap_owned = nc;
	}
	eo->owned[eo->n_owned++] = s;
	return 0;
}

/* Make the argument(s) for one "key[=value]" and append them to eo->owned. */
static int add_option(struct extra_opts *eo, const char *k, size_t klen, const char *v, size_t vlen,
		      const char *file, char *err, size_t errsz)
{
	char *a, *b = NULL;

	if (klen == 1) { /* "-k" and the value as its own argument */
		if (!(a = malloc(3)))
			goto oom;
		a[0] = '-';
		a[1] = k[0];
		a[2] = '\0';
		if (vlen && !(b = strndup(v, vlen))) {
			free(a);
			goto oom;
		}
	} else {
		size_t n = 2 + klen + (vlen ? 1 + vlen : 0) + 1;
		if (!(a = malloc(n)))
			goto oom;
		memcpy(a, "--", 2);
		memcpy(a + 2, k, klen);
		if (vlen) {
			a[2 + klen] = '=';
			memcpy(a + 3 + klen, v, vlen);
		}
		a[n - 1] = '\0';
	}
	if (add_owned(eo, a) < 0) {
		secure_zero(a, strlen(a));
		free(a);
		if (b) {
			secure_zero(b, vlen);
			free(b);
		}
		goto toomany;
	}
	if (b && add_owned(eo, b) < 0) {
		secure_zero(b, vlen);
		free(b);
		goto toomany;
	}
	return 0;
oom:
	return set_err(err, errsz, "%s: out of memory", OPT_NAME);
toomany:
	if (eo->n_owned >= EXTRA_OPTS_MAX_ARGS)
		return set_err(err, errsz, "%s: %s: more than %d options", OPT_NAME, file, EXTRA_OPTS_MAX_ARGS);
	return set_err(err, errsz, "%s: out of memory", OPT_NAME);
}

/* Parse buf (the whole file) and append the options of every [section]
 * to eo->owned.  *found is set when the section header was seen. */
static int parse_ini(struct extra_opts *eo, const char *buf, size_t len, const char *file,
		     const char *section, int *found, char *err, size_t errsz)
{
	const char *p = buf, *end = buf + len;
	int in_section = 0, seen_header = 0;
	unsigned line = 0;

	*found = 0;
	while (p < end) {
		const char *nl = memchr(p, '\n', (size_t)(end - p));
		const char *s = p, *e = nl ? nl : end;
		p = nl ? nl + 1 : end;
		line++;

		trim(&s, &e);
		if (s == e || *s == '#' || *s == ';')
			continue;

		if (*s == '[') {
			const char *close = memchr(s, ']', (size_t)(e - s));
			if (!close)
				return set_err(err, errsz, "%s: %s line %u: section header without ']'",
					       OPT_NAME, file, line);
			const char *ns = s + 1, *ne = close;
			trim(&ns, &ne);
			const char *rest = close + 1;
			while (rest < e && is_space(*rest))
				rest++;
			if (rest < e && *rest != '#' && *rest != ';')
				return set_err(err, errsz, "%s: %s line %u: unexpected text after the section header",
					       OPT_NAME, file, line);
			seen_header = 1;
			in_section = (size_t)(ne - ns) == strlen(section) && !memcmp(ns, section, (size_t)(ne - ns));
			if (in_section)
				*found = 1;
			continue;
		}

		if (!seen_header)
			return set_err(err, errsz, "%s: %s line %u: option before the first [section] header",
				       OPT_NAME, file, line);
		if (!in_section)
			continue;

		const char *eq = memchr(s, '=', (size_t)(e - s));
		const char *ks = s, *ke = eq ? eq : e;
		const char *vs = eq ? eq + 1 : e, *ve = e;
		trim(&ks, &ke);
		trim(&vs, &ve);
		if (ks == ke)
			return set_err(err, errsz, "%s: %s line %u: '=' without an option name",
				       OPT_NAME, file, line);
		if (*ks == '-')
			return set_err(err, errsz,
				       "%s: %s line %u: write the option name without dashes (name = value)",
				       OPT_NAME, file, line);
		for (const char *c = ks; c < ke; c++) {
			if (is_space(*c) || (unsigned char)*c < 0x20 || *c == 0x7f)
				return set_err(err, errsz, "%s: %s line %u: white space or a control character in the option name",
					       OPT_NAME, file, line);
		}
		if (add_option(eo, ks, (size_t)(ke - ks), vs, (size_t)(ve - vs), file, err, errsz) < 0)
			return -1;
	}
	return 0;
}

/* Expand one locator ("[SECTION][@FILE]", or NULL for the bare option). */
static int expand_one(struct extra_opts *eo, const char *locator, const char *def_section,
		      char *err, size_t errsz)
{
	char section[256], file[4096];
	const char *at = locator ? strchr(locator, '@') : NULL;
	size_t slen = locator ? (at ? (size_t)(at - locator) : strlen(locator)) : 0;

	const char *sname = locator;
	if (slen == 0) { /* no SECTION: the plugin name */
		sname = def_section;
		slen = strlen(def_section);
	}
	if (slen >= sizeof(section))
		return set_err(err, errsz, "%s: section name too long", OPT_NAME);
	memcpy(section, sname, slen);
	section[slen] = '\0';

	if (at) {
		if (!at[1])
			return set_err(err, errsz, "%s: empty file name after '@'", OPT_NAME);
		if (strlen(at + 1) >= sizeof(file))
			return set_err(err, errsz, "%s: file name too long", OPT_NAME);
		strlcpy_s(file, at + 1, sizeof(file));
	} else if (extra_opts_default_file(file, sizeof(file), extra_opts_default_paths) < 0) {
		return set_err(err, errsz,
			       "%s: no config file given (SECTION@FILE) and none found: set MP_CONFIG_FILE "
			       "or create /etc/monitoring-plugins/monitoring-plugins.ini",
			       OPT_NAME);
	}

	size_t len = 0, cap = 0;
	char *buf = read_file(file, &len, &cap, err, errsz);
	if (!buf)
		return -1;
	int found = 0;
	int r = parse_ini(eo, buf, len, file, section, &found, err, errsz);
	secure_zero(buf, cap);
	free(buf);
	if (r < 0)
		return -1;
	if (!found)
		return set_err(err, errsz, "%s: section [%s] not found in %s", OPT_NAME, section, file);
	return 0;
}

int extra_opts_expand(struct extra_opts *eo, int argc, char *const argv[],
		      const char *section, char *err, size_t errsz)
{
	memset(eo, 0, sizeof(*eo));
	if (errsz)
		err[0] = '\0';
	if (argc < 1 || !argv)
		argc = 0;

	/* pass 1: expand every --extra-opts in order */
	int rest = 0; /* arguments kept from the command line, argv[0] excluded */
	int stop = 0;
	for (int i = 1; i < argc; i++) {
		const char *a = argv[i];
		if (stop || strncmp(a, OPT_NAME, strlen(OPT_NAME)) != 0) {
			if (!strcmp(a, "--"))
				stop = 1;
			rest++;
			continue;
		}
		const char *tail = a + strlen(OPT_NAME);
		const char *loc;
		if (*tail == '=') {
			loc = tail + 1;
		} else if (*tail == '\0') {
			loc = NULL;
			if (i + 1 < argc && argv[i + 1][0] != '-')
				loc = argv[++i];
		} else { /* --extra-optsX: not ours, getopt will complain */
			rest++;
			continue;
		}
		if (expand_one(eo, loc, section, err, errsz) < 0)
			return -1;
	}

	/* pass 2: argv[0], the ini arguments, the rest of the command line */
	size_t total = (size_t)(argc > 0 ? 1 : 0) + eo->n_owned + (size_t)rest;
	eo->argv = calloc(total + 1, sizeof(*eo->argv));
	if (!eo->argv)
		return set_err(err, errsz, "%s: out of memory", OPT_NAME);
	size_t n = 0;
	if (argc > 0)
		eo->argv[n++] = argv[0];
	for (size_t k = 0; k < eo->n_owned; k++)
		eo->argv[n++] = eo->owned[k];
	stop = 0;
	for (int i = 1; i < argc; i++) {
		const char *a = argv[i];
		if (!stop && !strncmp(a, OPT_NAME, strlen(OPT_NAME))) {
			const char *tail = a + strlen(OPT_NAME);
			if (*tail == '=')
				continue;
			if (*tail == '\0') {
				if (i + 1 < argc && argv[i + 1][0] != '-')
					i++;
				continue;
			}
		}
		if (!strcmp(a, "--"))
			stop = 1;
		eo->argv[n++] = argv[i];
	}
	eo->argv[n] = NULL;
	eo->argc = (int)n;
	return 0;
}

void extra_opts_free(struct extra_opts *eo)
{
	if (!eo)
		return;
	for (size_t i = 0; i < eo->n_owned; i++) {
		if (eo->owned[i]) {
			secure_zero(eo->owned[i], strlen(eo->owned[i]));
			free(eo->owned[i]);
		}
	}
	free(eo->owned);
	free(eo->argv);
	memset(eo, 0, sizeof(*eo));
}
