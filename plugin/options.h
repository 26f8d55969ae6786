/* options.h - command line (and extra-opts) to struct probe_config.
 *
 * Ownership: strings in the config point into argv or into memory owned by
 * struct options; options_free() wipes and frees secrets. */
#ifndef CIS_OPTIONS_H
#define CIS_OPTIONS_H

#include <stddef.h>

#include "extra_opts.h"
#include "session/probe.h"

enum options_result {
	OPTIONS_OK = 0,
	OPTIONS_EXIT,    /* --help/--version printed: exit 3 */
	OPTIONS_ERROR,   /* bad usage: message in err, exit UNKNOWN */
};

struct options {
	struct probe_config cfg;
	char *password_buf;   /* from --password-file/-env/-P copy, wiped */
	char *token_buf;
	char *smtp_password_buf;  /* --smtp-password-file/-env, wiped */
	struct extra_opts eo; /* argv with --extra-opts expanded; config
	                         strings may point into it */
	char err[512];
};

/* Parse argv into o->cfg.  Text for --help/--version is written to out.
 * Returns enum options_result. */
int options_parse(struct options *o, int argc, char **argv, struct sbuf *out);
void options_free(struct options *o);

/* The --help text (also checked by tests against the man page). */
void options_help(struct sbuf *out);

#endif
