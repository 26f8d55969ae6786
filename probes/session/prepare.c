/* prepare.c - before connecting: check the mailbox options, parse the
 * --search criteria and load the --script file. */
#include "config.h"
#include "session/prepare.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include "imap/utf7.h"
#include "session/script.h"
#include "session/step.h"

/* ================================================================ prepare */

static int prep_fail(struct sess *s, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static int prep_fail(struct sess *s, const char *fmt, ...)
{
	char msg[768];
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	report_fail(s->rep, STATE_UNKNOWN, NULL, "%s", msg);
	s->failed = 1;
	return -1;
}

static struct script *load_script(const char *path, char *err, size_t errlen)
{
	struct stat sb;
	char *buf = NULL;
	size_t len = 0;
	int fd = open(path, O_RDONLY | O_CLOEXEC | O_NOCTTY);

	if (fd < 0) {
		snprintf(err, errlen, "cannot read script %s: %s", path, strerror(errno));
		return NULL;
	}
	if (fstat(fd, &sb) < 0 || !S_ISREG(sb.st_mode)) {
		snprintf(err, errlen, "script %s is not a regular file", path);
		close(fd);
		return NULL;
	}
	buf = malloc(SCRIPT_MAX_BYTES + 1);
	if (!buf) {
		snprintf(err, errlen, "out of memory");
		close(fd);
		return NULL;
	}
	for (;;) {
		ssize_t n = read(fd, buf + len, SCRIPT_MAX_BYTES + 1 - len);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0) {
			snprintf(err, errlen, "cannot read script %s: %s", path, strerror(errno));
			close(fd);
			free(buf);
			return NULL;
		}
		if (n == 0 || (len += (size_t)n) > SCRIPT_MAX_BYTES)
			break;
	}
	close(fd);
	struct script *scr = script_parse(buf, len, path, err, errlen);
	free(buf);
	return scr;
}

int sess_mailbox_prepare(struct sess *s)
{
	const struct probe_config *cfg = s->cfg;
	char tmp[1024], err[512];

	if (cfg->delete_matched && !cfg->search)
		return prep_fail(s, "--delete-matched needs --search: it deletes only the messages the search matched");
	if (cfg->auth == AUTH_NONE || cfg->auth == AUTH_ALL) {
		/* no mailbox is opened: these options would be ignored silently */
		const char *opt = cfg->search ? "--search" : cfg->script ? "--script" : cfg->append ? "--append" :
				  cfg->idle ? "--idle" : cfg->quota_step ? "--quota" : cfg->list_step ? "--list" :
				  cfg->namespace_step ? "--namespace" : cfg->select ? "--select" :
				  cfg->age_oldest_unseen || age_thresholds(cfg) ? "--age-*" :
				  cfg->messages.warn.set || cfg->messages.crit.set ? "--messages-*" :
				  cfg->unseen.warn.set || cfg->unseen.crit.set ? "--unseen-*" :
				  cfg->matched.warn.set || cfg->matched.crit.set ? "--matched-*" : NULL;
		if (opt)
			return prep_fail(s, "%s needs a mailbox, and --auth %s opens none", opt, probe_auth_name(cfg));
	}
	if (imap_utf7_encode(cfg->mailbox, tmp, sizeof(tmp)) < 0)
		return prep_fail(s, "mailbox name %s is not valid UTF-8 or too long", cfg->mailbox);
	for (unsigned k = 0; k < cfg->n_expect_folder; k++)
		if (imap_utf7_encode(cfg->expect_folder[k], tmp, sizeof(tmp)) < 0)
			return prep_fail(s, "--expect-folder %s: not valid UTF-8 or too long", cfg->expect_folder[k]);
	if (cfg->search) {
		s->prep.crit = script_new();
		if (!s->prep.crit)
			return prep_fail(s, "out of memory");
		if (script_parse_args(s->prep.crit, cfg->search, strlen(cfg->search), &s->prep.crit_first, &s->prep.crit_n,
				      &s->prep.crit_8bit, err, sizeof(err)) < 0)
			return prep_fail(s, "--search %s: %s", cfg->search, err);
	}
	if (cfg->script) {
		s->prep.script = load_script(cfg->script, err, sizeof(err));
		if (!s->prep.script)
			return prep_fail(s, "%s", err);
	}
	return 0;
}

void sess_mailbox_release(struct sess *s)
{
	script_free(s->prep.script);
	script_free(s->prep.crit);
	s->prep.script = s->prep.crit = NULL;
}
