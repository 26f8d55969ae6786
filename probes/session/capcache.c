/* capcache.c - remembered capabilities: see capcache.h. */
#include "config.h"
#include "session/capcache.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "sasl/crypto.h"

#define CAPCACHE_MAGIC "# check_imap_session capability cache 1"
#define CAPCACHE_HASH_BYTES 12

void capcache_key(char *buf, size_t len, const char *host, unsigned port, const char *mode, const char *user)
{
	char raw[1200], h[300];
	size_t i;

	for (i = 0; host && host[i] && i + 1 < sizeof(h); i++)
		h[i] = (host[i] >= 'A' && host[i] <= 'Z') ? (char)(host[i] - 'A' + 'a') : host[i];
	h[i] = '\0';
	snprintf(raw, sizeof(raw), "%s %u %s %s", h, port, mode ? mode : "-", user && *user ? user : "-");
	sanitize_text(buf, len, raw, strlen(raw));
}

int capcache_dir_prepare(const char *dir, char *err, size_t errlen)
{
	struct stat st;
	int created = 0;

	if (!*dir) {
		snprintf(err, errlen, "--cache-dir: empty name");
		return -1;
	}
	if (strlen(dir) > 3000) {
		snprintf(err, errlen, "--cache-dir: name too long");
		return -1;
	}
	if (stat(dir, &st) < 0) {
		if (errno != ENOENT) {
			snprintf(err, errlen, "--cache-dir %s: %s", dir, strerror(errno));
			return -1;
		}
		if (mkdir(dir, 0700) < 0 && errno != EEXIST) {
			snprintf(err, errlen, "--cache-dir %s does not exist and cannot be created: %s", dir,
				 errno == ENOENT ? "its parent directory does not exist either" : strerror(errno));
			return -1;
		}
		created = 1;
		if (stat(dir, &st) < 0) {
			snprintf(err, errlen, "--cache-dir %s: %s", dir, strerror(errno));
			return -1;
		}
	}
	if (!S_ISDIR(st.st_mode)) {
		snprintf(err, errlen, "--cache-dir %s: not a directory", dir);
		return -1;
	}
	if (st.st_mode & (S_IWGRP | S_IWOTH)) {
		snprintf(err, errlen, "--cache-dir %s: other users can write to it (mode %04o): use a directory "
			 "only this user can write to (chmod go-w, or a new one: it is created with mode 0700)", dir,
			 (unsigned)(st.st_mode & 07777));
		return -1;
	}
	if (st.st_uid != geteuid() && st.st_uid != 0) {
		snprintf(err, errlen, "--cache-dir %s: owned by another user (uid %u): use a directory of this user",
			 dir, (unsigned)st.st_uid);
		return -1;
	}
	if (access(dir, W_OK | X_OK) < 0) {
		snprintf(err, errlen, "--cache-dir %s: not writable: %s", dir, strerror(errno));
		return -1;
	}
	return created;
}

int capcache_path(char *buf, size_t len, const char *dir, const char *key)
{
	unsigned char md[CRYPTO_MAX_HASH];
	char hex[2 * CAPCACHE_HASH_BYTES + 1];

	if (crypto_hash(CRYPTO_SHA256, key, strlen(key), md) < 0)
		return -1;
	for (size_t i = 0; i < CAPCACHE_HASH_BYTES; i++)
		snprintf(hex + 2 * i, 3, "%02x", md[i]);
	int n = snprintf(buf, len, "%s/caps-%s", dir, hex);
	return n < 0 || (size_t)n >= len ? -1 : 0;
}

/* The value of "name: value" when line (n bytes, no newline) is that
 * field: copied into out (sanitized); 1, else 0. */
static int field(const char *line, size_t n, const char *name, char *out, size_t outlen)
{
	size_t k = strlen(name);
	if (n < k + 2 || memcmp(line, name, k) || line[k] != ':' || line[k + 1] != ' ')
		return 0;
	if (n - k - 2 >= outlen)
		return -1;      /* longer than any list we write: not ours */
	sanitize_text(out, outlen, line + k + 2, n - k - 2);
	return 1;
}

int capcache_parse(const char *data, size_t n, const char *key, struct capcache_entry *e)
{
	char k[CAPCACHE_LIST_MAX];
	int have_magic = 0, have_key = 0, have_before = 0, have_after = 0;

	memset(e, 0, sizeof(*e));
	k[0] = '\0';
	for (size_t i = 0; i < n;) {
		const char *line = data + i;
		const char *nl = memchr(line, '\n', n - i);
		size_t len = nl ? (size_t)(nl - line) : n - i;
		i += len + (nl ? 1 : 0);
		if (!have_magic) {
			if (len != strlen(CAPCACHE_MAGIC) || memcmp(line, CAPCACHE_MAGIC, len))
				goto bad;
			have_magic = 1;
			continue;
		}
		int r;
		if ((r = field(line, len, "key", k, sizeof(k))) != 0)
			have_key = r;
		else if ((r = field(line, len, "before", e->before, sizeof(e->before))) != 0)
			have_before = r;
		else if ((r = field(line, len, "after", e->after, sizeof(e->after))) != 0)
			have_after = r;
		else if (len)
			goto bad;       /* something we never write */
		if (r < 0)
			goto bad;
	}
	if (!have_magic || have_key != 1 || have_before != 1 || have_after != 1 || strcmp(k, key))
		goto bad;
	return 1;
bad:
	memset(e, 0, sizeof(*e));
	return 0;
}

void capcache_format(struct sbuf *sb, const char *key, const struct capcache_entry *e)
{
	sb_printf(sb, "%s\nkey: %s\nbefore: %s\nafter: %s\n", CAPCACHE_MAGIC, key, e->before, e->after);
}

int capcache_load(const char *dir, const char *key, struct capcache_entry *e, char *err, size_t errlen)
{
	char path[4096], buf[CAPCACHE_MAX_FILE + 1];
	size_t n = 0;

	memset(e, 0, sizeof(*e));
	err[0] = '\0';
	if (capcache_path(path, sizeof(path), dir, key) < 0) {
		snprintf(err, errlen, "cache path too long");
		return -1;
	}
	int fd = open(path, O_RDONLY | O_CLOEXEC | O_NOCTTY | O_NONBLOCK);
	if (fd < 0) {
		if (errno == ENOENT)
			return 0;
		snprintf(err, errlen, "%s: %s", path, strerror(errno));
		return -1;
	}
	struct stat sbuf;
	if (fstat(fd, &sbuf) < 0 || !S_ISREG(sbuf.st_mode)) {
		close(fd);
		snprintf(err, errlen, "%s: not a regular file", path);
		return 0;
	}
	while (n < sizeof(buf)) {
		ssize_t r = read(fd, buf + n, sizeof(buf) - n);
		if (r < 0 && errno == EINTR)
			continue;
		if (r < 0) {
			snprintf(err, errlen, "%s: %s", path, strerror(errno));
			close(fd);
			return -1;
		}
		if (r == 0)
			break;
		n += (size_t)r;
	}
	close(fd);
	if (n > CAPCACHE_MAX_FILE || !capcache_parse(buf, n, key, e)) {
		snprintf(err, errlen, "%s: not a capability cache entry for this server; ignored", path);
		return 0;
	}
	return 1;
}

int capcache_store(const char *dir, const char *key, const struct capcache_entry *e, char *err, size_t errlen)
{
	char path[4096], tmp[4200], mem[CAPCACHE_MAX_FILE];
	struct sbuf sb;

	if (capcache_path(path, sizeof(path), dir, key) < 0) {
		snprintf(err, errlen, "cache path too long");
		return -1;
	}
	const char *base = strrchr(path, '/');
	snprintf(tmp, sizeof(tmp), "%.*s/.%s.%ld.tmp", (int)(base - path), path, base + 1, (long)getpid());
	sb_init(&sb, mem, sizeof(mem));
	capcache_format(&sb, key, e);
	if (sb.truncated) {
		snprintf(err, errlen, "entry too large");
		return -1;
	}
	int fd = open(tmp, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0644);
	if (fd < 0) {
		snprintf(err, errlen, "%s: %s", tmp, strerror(errno));
		return -1;
	}
	const char *p = sb.data;
	size_t left = sb.len;
	while (left) {
		ssize_t w = write(fd, p, left);
		if (w < 0 && errno == EINTR)
			continue;
		if (w <= 0) {
			snprintf(err, errlen, "%s: %s", tmp, w < 0 ? strerror(errno) : "short write");
			close(fd);
			unlink(tmp);
			return -1;
		}
		p += w;
		left -= (size_t)w;
	}
	if (close(fd) < 0 || rename(tmp, path) < 0) {
		snprintf(err, errlen, "%s: %s", path, strerror(errno));
		unlink(tmp);
		return -1;
	}
	return 0;
}

int capcache_forget(const char *dir, const char *key, char *err, size_t errlen)
{
	char path[4096];

	if (capcache_path(path, sizeof(path), dir, key) < 0) {
		snprintf(err, errlen, "cache path too long");
		return -1;
	}
	if (unlink(path) < 0 && errno != ENOENT) {
		snprintf(err, errlen, "%s: %s", path, strerror(errno));
		return -1;
	}
	return 0;
}
