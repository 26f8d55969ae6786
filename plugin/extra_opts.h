/* extra_opts.h - Monitoring Plugins "--extra-opts [SECTION][@FILE]".
 *
 * Every --extra-opts on the command line names a section of an ini file;
 * the options in that section are inserted, in order, in front of the rest
 * of the command line, so the command line still wins for options that
 * take one value ("processed first no matter where --extra-opts appears",
 * as the Monitoring Plugins document it).  The --extra-opts arguments
 * themselves are removed.  Forms:
 *
 *   --extra-opts=SECTION@FILE   --extra-opts SECTION@FILE
 *   --extra-opts=@FILE          section: the plugin name
 *   --extra-opts=SECTION        file: the default file (below)
 *   --extra-opts  (bare, or followed by an argument starting with '-')
 *                               default section in the default file
 *   FILE "-" reads standard input.  Scanning stops at "--".
 *
 * Default file (as monitoring-plugins lib/parse_ini.c): $MP_CONFIG_FILE if
 * set and not empty; else the first of monitoring-plugins.ini, plugins.ini,
 * nagios-plugins.ini found in a directory of the colon-separated
 * $NAGIOS_CONFIG_PATH (deprecated); else the first existing path of
 * extra_opts_default_paths[].
 *
 * File format, line by line (leading and trailing white space ignored,
 * CRLF accepted):
 *   empty line; "# ..." or "; ..." comment (whole lines only: a '#' inside
 *   a value is part of the value);
 *   "[ name ]" section header (case-sensitive; a comment may follow);
 *   "key = value"  -> "--key=value" (the value is taken literally up to
 *                     the end of the line: no quoting, no escapes, quotes
 *                     are part of the value);
 *   "key =" or "key" -> "--key" (an option without argument);
 *   a one-letter key gives the short option: "H = host" -> "-H" "host".
 * Keys may repeat (like repeated options).  Sections may repeat: all of
 * them are used.  Lines in other sections are skipped unparsed; a key line
 * before the first section header is an error, as upstream.  A section
 * that is present but empty is not an error (upstream treats it as
 * missing); a section that is absent is.
 *
 * Secrets: the file contents and every argument made from them are wiped
 * before their memory is released.  Error messages name files, line
 * numbers and sections, never values. */
#ifndef CIS_EXTRA_OPTS_H
#define CIS_EXTRA_OPTS_H

#include <stddef.h>

/* Bounds: bigger files or more options are an error. */
#define EXTRA_OPTS_MAX_FILE  (1024 * 1024)
#define EXTRA_OPTS_MAX_ARGS  4096

struct extra_opts {
	int argc;       /* merged argument count */
	char **argv;    /* merged argv, argv[argc] == NULL; argv[0] and the
			 * command-line arguments point into the caller's
			 * argv, the ini arguments into `owned` */
	/* private */
	char **owned;   /* strings made from ini files, wiped when freed */
	size_t n_owned;
	size_t cap_owned;
};

/* Build eo->argv from argv with every --extra-opts expanded; `section` is
 * the default section (the plugin name).  Without any --extra-opts,
 * eo->argv is a plain copy of the pointer array.  0 on success; -1 with a
 * message in err (errsz bytes, always terminated) on a missing file or
 * section, a syntax error, too much data or no memory (the plugin then
 * exits UNKNOWN).  eo must be released with extra_opts_free() in both
 * cases; the caller's argv is not modified and must outlive eo. */
int extra_opts_expand(struct extra_opts *eo, int argc, char *const argv[],
		      const char *section, char *err, size_t errsz);

/* Wipe and free everything eo owns.  Safe on a zeroed struct and twice. */
void extra_opts_free(struct extra_opts *eo);

/* The standard locations searched after MP_CONFIG_FILE and
 * NAGIOS_CONFIG_PATH, NULL-terminated (the list of monitoring-plugins
 * 2.x, the deprecated nagios paths last). */
extern const char *const extra_opts_default_paths[];

/* The default file: writes its path to buf (bufsz bytes) and returns 0,
 * or returns -1 when none is found.  `paths` is the standard list
 * (extra_opts_default_paths; tests pass their own). */
int extra_opts_default_file(char *buf, size_t bufsz, const char *const *paths);

#endif
