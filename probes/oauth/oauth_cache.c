/* oauth_cache.c - the access token cache under --cache-dir and the secret
 * files (client secret, refresh token with rotation written back): mode
 * 0600, atomic replacement, no file or directory others can touch (see
 * oauth.h). */
#include "config.h"
#include "oauth/oauth.h"

#include <errno.h>
#include <fcntl.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#define CACHE_MAGIC "check_imap_session oauth token cache 1"
#define CACHE_MAX_FILE (OAUTH_MAX_TOKEN * 2 + 8192)

/* ------------------------------------------------------------ key, path */

void oauth_cache_key(char *buf, size_t len, const char *url, const char *client_id, const char *scope,
		     const char *grant)
{
	snprintf(buf, len, "%s\n%s\n%s\n%s", url ? url : "", client_id ? client_id : "", scope ? scope : "",
		 grant ? grant : "client_credentials");
}

int oauth_cache_path(char *buf, size_t len, const char *dir, const char *key)
{
	uint64_t h = 0xcbf29ce484222325ULL;   /* FNV-1a 64 */

	for (const unsigned char *p = (const unsigned char *)key; *p; p++) {
		h ^= *p;
		h *= 0x100000001b3ULL;
	}
	int n = snprintf(buf, len, "%s/oauth-%016llx.json", dir, (unsigned long long)h);
	return n < 0 || (size_t)n >= len ? -1 : 0;
}

int oauth_cache_dir_ok(const char *dir, char *err, size_t errlen)
{
	struct stat st;

	if (stat(dir, &st) < 0) {
		snprintf(err, errlen, "cache directory %s: %s", dir, strerror(errno));
		return -1;
	}
	if (!S_ISDIR(st.st_mode)) {
		snprintf(err, errlen, "cache directory %s is not a directory", dir);
		return -1;
	}
	if (st.st_uid != geteuid() && st.st_uid != 0) {
		snprintf(err, errlen, "cache directory %s belongs to another user: not used for tokens", dir);
		return -1;
	}
	if (st.st_mode & (S_IWGRP | S_IWOTH)) {
		snprintf(err, errlen, "cache directory %s is writable by others: not used for tokens", dir);
		return -1;
	}
	return 0;
}

long long oauth_cache_margin(long long lifetime)
{
	return lifetime >= 120 ? 60 : lifetime / 2;
}

/* ------------------------------------------------------------ files */

/* Read a whole small regular file owned by us and private (0600 or
 * stricter) into *out (malloc'd, NUL-terminated).  private_only: refuse
 * a file others can read.  0, 1 (no such file), -1 (err filled). */
static int read_private(const char *path, int private_only, size_t max, char **out, size_t *outlen, char *err,
			size_t errlen)
{
	struct stat st;
	int fd = open(path, O_RDONLY | O_CLOEXEC | O_NOCTTY | O_NONBLOCK | O_NOFOLLOW);

	*out = NULL;
	if (fd < 0) {
		if (errno == ENOENT)
			return 1;
		snprintf(err, errlen, "%s: %s", path, strerror(errno));
		return -1;
	}
	if (fstat(fd, &st) < 0 || !S_ISREG(st.st_mode)) {
		snprintf(err, errlen, "%s is not a regular file", path);
		close(fd);
		return -1;
	}
	if (private_only && (st.st_uid != geteuid() || (st.st_mode & 077))) {
		snprintf(err, errlen, "%s is readable by others or not ours: not used", path);
		close(fd);
		return -1;
	}
	if ((size_t)st.st_size > max) {
		snprintf(err, errlen, "%s is larger than %zu bytes", path, max);
		close(fd);
		return -1;
	}
	char *buf = malloc(max + 1);
	size_t n = 0;
	if (!buf) {
		close(fd);
		snprintf(err, errlen, "out of memory");
		return -1;
	}
	for (;;) {
		ssize_t r = read(fd, buf + n, max - n);
		if (r < 0 && errno == EINTR)
			continue;
		if (r < 0) {
			snprintf(err, errlen, "%s: %s", path, strerror(errno));
			secure_zero(buf, max + 1);
			free(buf);
			close(fd);
			return -1;
		}
		n += (size_t)r;
		if (r == 0 || n == max)
			break;
	}
	close(fd);
	buf[n] = '\0';
	*out = buf;
	*outlen = n;
	return 0;
}

/* Write data to a fresh temporary file beside path (0600), fsync, rename. */
static int write_atomic(const char *path, const char *data, size_t len, char *err, size_t errlen)
{
	char tmp[4200];
	unsigned char rnd[6];
	int fd = -1;

	for (int attempt = 0; attempt < 8 && fd < 0; attempt++) {
		int rf = open("/dev/urandom", O_RDONLY | O_CLOEXEC);
		if (rf < 0 || read(rf, rnd, sizeof(rnd)) != (ssize_t)sizeof(rnd)) {
			if (rf >= 0)
				close(rf);
			snprintf(err, errlen, "cannot read /dev/urandom");
			return -1;
		}
		close(rf);
		int n = snprintf(tmp, sizeof(tmp), "%s.tmp-%02x%02x%02x%02x%02x%02x", path, rnd[0], rnd[1], rnd[2],
				 rnd[3], rnd[4], rnd[5]);
		if (n < 0 || (size_t)n >= sizeof(tmp)) {
			snprintf(err, errlen, "path too long");
			return -1;
		}
		fd = open(tmp, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0600);
		if (fd < 0 && errno != EEXIST) {
			snprintf(err, errlen, "cannot create a file beside %s: %s", path, strerror(errno));
			return -1;
		}
	}
	if (fd < 0) {
		snprintf(err, errlen, "cannot create a temporary file beside %s", path);
		return -1;
	}
	size_t off = 0;
	while (off < len) {
		ssize_t w = write(fd, data + off, len - off);
		if (w < 0 && errno == EINTR)
			continue;
		if (w <= 0)
			break;
		off += (size_t)w;
	}
	if (off != len || fchmod(fd, 0600) < 0 || fsync(fd) < 0) {
		snprintf(err, errlen, "writing %s: %s", tmp, strerror(errno));
		close(fd);
		unlink(tmp);
		return -1;
	}
	if (close(fd) < 0 || rename(tmp, path) < 0) {
		snprintf(err, errlen, "replacing %s: %s", path, strerror(errno));
		unlink(tmp);
		return -1;
	}
	return 0;
}

/* ------------------------------------------------------------ cache */

int oauth_cache_load(const char *path, const char *key, time_t now, struct oauth_token *tok, char *err,
		     size_t errlen)
{
	char *data = NULL;
	size_t len = 0;
	json_error_t jerr;
	int rc;

	oauth_token_free(tok);
	oauth_json_setup();
	rc = read_private(path, 1, CACHE_MAX_FILE, &data, &len, err, errlen);
	if (rc == 1) {
		snprintf(err, errlen, "no cached token");
		return 0;
	}
	if (rc < 0)
		return -1;
	json_t *root = json_loadb(data, len, JSON_REJECT_DUPLICATES, &jerr);
	secure_zero(data, len);
	free(data);
	const json_t *at = json_object_get(root, "access_token");
	const json_t *ea = json_object_get(root, "expires_at");
	const json_t *ob = json_object_get(root, "obtained_at");
	const json_t *mg = json_object_get(root, "magic");
	const json_t *k = json_object_get(root, "key");
	rc = -1;
	if (!json_is_string(mg) || strcmp(json_string_value(mg), CACHE_MAGIC) != 0 || !json_is_string(k) ||
	    !json_is_string(at) || !json_is_integer(ea) || !json_is_integer(ob)) {
		snprintf(err, errlen, "%s is not a token cache file of this version", path);
	} else if (strcmp(json_string_value(k), key) != 0) {
		snprintf(err, errlen, "cached token is for another endpoint, client or scope");
		rc = 0;
	} else {
		long long expires_at = (long long)json_integer_value(ea);
		long long margin = oauth_cache_margin(expires_at - (long long)json_integer_value(ob));
		if ((long long)now + margin >= expires_at) {
			snprintf(err, errlen, "cached token expired or about to expire");
			rc = 0;
		} else if (json_string_length(at) == 0 || json_string_length(at) > OAUTH_MAX_TOKEN ||
			   strlen(json_string_value(at)) != json_string_length(at)) {
			snprintf(err, errlen, "%s holds no usable token", path);
		} else {
			tok->access_token = strdup(json_string_value(at));
			snprintf(tok->token_type, sizeof(tok->token_type), "Bearer");
			tok->expires_at = (time_t)expires_at;
			tok->expires_in = expires_at - (long long)now;
			rc = tok->access_token ? 1 : -1;
			if (!tok->access_token)
				snprintf(err, errlen, "out of memory");
		}
	}
	json_decref(root);   /* wiped block by block (oauth_json_setup) */
	return rc;
}

int oauth_cache_store(const char *path, const char *key, const struct oauth_token *tok, time_t now,
		      char *err, size_t errlen)
{
	if (!tok->access_token || tok->expires_in < 0) {
		snprintf(err, errlen, "the token has no lifetime (expires_in): not cached");
		return -1;
	}
	oauth_json_setup();
	json_t *root = json_pack("{s:s, s:s, s:s, s:I, s:I}", "magic", CACHE_MAGIC, "key", key, "access_token",
				 tok->access_token, "obtained_at", (json_int_t)now, "expires_at",
				 (json_int_t)now + (json_int_t)tok->expires_in);
	size_t cap = CACHE_MAX_FILE, n = 0;
	char *text = root ? malloc(cap) : NULL;
	if (text)
		n = json_dumpb(root, text, cap, JSON_INDENT(1) | JSON_SORT_KEYS);
	json_decref(root);
	if (!text || n == 0 || n >= cap) {
		if (text)
			secure_zero(text, cap);
		free(text);
		snprintf(err, errlen, "%s", text ? "the token is too large to cache" : "out of memory");
		return -1;
	}
	int rc = write_atomic(path, text, n, err, errlen);
	secure_zero(text, cap);
	free(text);
	return rc;
}

int oauth_cache_drop(const char *path)
{
	return unlink(path) < 0 && errno != ENOENT ? -1 : 0;
}

/* ------------------------------------------------------------ secret files */

int oauth_secret_read(const char *path, char **out, char *err, size_t errlen)
{
	char *data = NULL;
	size_t len = 0;
	int rc = read_private(path, 0, OAUTH_MAX_SECRET_FILE, &data, &len, err, errlen);

	*out = NULL;
	if (rc == 1) {
		snprintf(err, errlen, "%s: %s", path, strerror(ENOENT));
		return -1;
	}
	if (rc < 0)
		return -1;
	size_t n = strcspn(data, "\r\n");
	while (n && (data[n - 1] == ' ' || data[n - 1] == '\t'))
		n--;
	secure_zero(data + n, len - n);
	data[n] = '\0';
	if (n == 0 || memchr(data, '\0', n) || strlen(data) != n) {
		snprintf(err, errlen, "%s: the first line is empty", path);
		secret_free(data);
		return -1;
	}
	*out = data;
	return 0;
}

int oauth_secret_write(const char *path, const char *secret, char *err, size_t errlen)
{
	size_t n = strlen(secret);
	char *line = malloc(n + 2);

	if (!line) {
		snprintf(err, errlen, "out of memory");
		return -1;
	}
	memcpy(line, secret, n);
	line[n] = '\n';
	line[n + 1] = '\0';
	int rc = write_atomic(path, line, n + 1, err, errlen);
	secure_zero(line, n + 1);
	free(line);
	return rc;
}
