/* test_extra_opts.c - --extra-opts [SECTION][@FILE]: locators, the default
 * file search, the ini format, ordering against the command line, errors. */
#include "config.h"

#include <criterion/criterion.h>
#include <fcntl.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "extra_opts.h"
#include "testutil.h"

#define PLUGIN "check_imap_session"

static char dir[256];

static void setup(void)
{
	unsetenv("MP_CONFIG_FILE");
	unsetenv("NAGIOS_CONFIG_PATH");
	strcpy(dir, "/tmp/cis-extra-opts-XXXXXX");
	cr_assert_not_null(mkdtemp(dir));
}

static void teardown(void)
{
	if (tu_rm_tree(dir) != 0)
		cr_log_warn("could not remove %s", dir);
}

TestSuite(extra_opts, .init = setup, .fini = teardown);

/* Write `text` to dir/name; returns the path (static buffer per call site). */
static const char *write_file(const char *name, const char *text)
{
	static char paths[8][512];
	static int next;
	char *p = paths[next++ % 8];
	snprintf(p, 512, "%s/%s", dir, name);
	char *slash = strrchr(p, '/');
	if (slash > p + strlen(dir)) { /* make a sub directory */
		*slash = '\0';
		mkdir(p, 0700);
		*slash = '/';
	}
	FILE *f = fopen(p, "w");
	cr_assert_not_null(f, "cannot write %s", p);
	fwrite(text, 1, strlen(text), f);
	fclose(f);
	return p;
}

/* Expand a NULL-terminated argument list; must succeed. */
static void expand_ok(struct extra_opts *eo, const char **args)
{
	int argc = 0;
	while (args[argc])
		argc++;
	char err[512] = "";
	int r = extra_opts_expand(eo, argc, (char *const *)args, PLUGIN, err, sizeof(err));
	cr_assert_eq(r, 0, "expand failed: %s", err);
	cr_assert_eq(eo->argv[eo->argc], NULL);
}

/* Expand; must fail with every string of `want` (NULL-terminated) in err. */
static void expand_fails(const char **args, const char *want1, const char *want2)
{
	struct extra_opts eo;
	int argc = 0;
	while (args[argc])
		argc++;
	char err[512] = "";
	int r = extra_opts_expand(&eo, argc, (char *const *)args, PLUGIN, err, sizeof(err));
	cr_assert_eq(r, -1, "expand succeeded, expected an error with '%s'", want1);
	cr_assert(strstr(err, "--extra-opts") != NULL, "no option name in '%s'", err);
	cr_assert(strstr(err, want1) != NULL, "expected '%s' in '%s'", want1, err);
	if (want2)
		cr_assert(strstr(err, want2) != NULL, "expected '%s' in '%s'", want2, err);
	cr_assert(strchr(err, '\n') == NULL, "newline in '%s'", err);
	cr_assert(strstr(err, "TopSecret") == NULL, "a value leaked into '%s'", err);
	extra_opts_free(&eo);
}

/* eo->argv must equal the NULL-terminated list want. */
static void argv_is(const struct extra_opts *eo, const char **want)
{
	int n = 0;
	while (want[n])
		n++;
	for (int i = 0; i < n && i < eo->argc; i++)
		cr_assert_str_eq(eo->argv[i], want[i], "argv[%d]", i);
	cr_assert_eq(eo->argc, n, "argc %d, expected %d", eo->argc, n);
}

#define ARGS(...) ((const char *[]){ __VA_ARGS__, NULL })

static const char basic_ini[] =
	"# monitoring plugins defaults\n"
	"[check_imap_session]\n"
	"username = probe\n"
	"password-file=/etc/nagios/imap.pw\n"
	"\n"
	"[other]\n"
	"hostname = other.example\n"
	"starttls\n";

/* ---------------------------------------------------------------- forms */

Test(extra_opts, without_extra_opts_argv_is_copied)
{
	struct extra_opts eo;
	const char **in = ARGS(PLUGIN, "-H", "imap.example", "--ssl");
	expand_ok(&eo, in);
	argv_is(&eo, in);
	cr_assert_neq((void *)eo.argv, (void *)in, "argv must be a new array");
	cr_assert_eq(eo.argv[1], in[1], "command-line strings are not copied");
	extra_opts_free(&eo);
}

Test(extra_opts, only_argv0)
{
	struct extra_opts eo;
	expand_ok(&eo, ARGS(PLUGIN));
	argv_is(&eo, ARGS(PLUGIN));
	extra_opts_free(&eo);
}

Test(extra_opts, equals_form_file_only_uses_plugin_section_first)
{
	const char *f = write_file("a.ini", basic_ini);
	char opt[600];
	snprintf(opt, sizeof(opt), "--extra-opts=@%s", f);
	struct extra_opts eo;
	expand_ok(&eo, ARGS(PLUGIN, "-H", "imap.example", opt, "-v"));
	argv_is(&eo, ARGS(PLUGIN, "--username=probe", "--password-file=/etc/nagios/imap.pw", "-H",
			  "imap.example", "-v"));
	extra_opts_free(&eo);
}

Test(extra_opts, separate_form)
{
	const char *f = write_file("a.ini", basic_ini);
	char loc[600];
	snprintf(loc, sizeof(loc), "other@%s", f);
	struct extra_opts eo;
	expand_ok(&eo, ARGS(PLUGIN, "--extra-opts", loc, "-U", "cmdline"));
	argv_is(&eo, ARGS(PLUGIN, "--hostname=other.example", "--starttls", "-U", "cmdline"));
	extra_opts_free(&eo);
}

Test(extra_opts, equals_form_with_section)
{
	const char *f = write_file("a.ini", basic_ini);
	char opt[600];
	snprintf(opt, sizeof(opt), "--extra-opts=other@%s", f);
	struct extra_opts eo;
	expand_ok(&eo, ARGS(PLUGIN, opt));
	argv_is(&eo, ARGS(PLUGIN, "--hostname=other.example", "--starttls"));
	extra_opts_free(&eo);
}

Test(extra_opts, bare_uses_default_section_and_file)
{
	setenv("MP_CONFIG_FILE", write_file("mp.ini", basic_ini), 1);
	struct extra_opts eo;
	expand_ok(&eo, ARGS(PLUGIN, "--extra-opts"));
	argv_is(&eo, ARGS(PLUGIN, "--username=probe", "--password-file=/etc/nagios/imap.pw"));
	extra_opts_free(&eo);
}

Test(extra_opts, bare_followed_by_an_option)
{
	setenv("MP_CONFIG_FILE", write_file("mp.ini", basic_ini), 1);
	struct extra_opts eo;
	expand_ok(&eo, ARGS(PLUGIN, "--extra-opts", "-H", "h", "--extra-opts", "--ssl"));
	argv_is(&eo, ARGS(PLUGIN, "--username=probe", "--password-file=/etc/nagios/imap.pw",
			  "--username=probe", "--password-file=/etc/nagios/imap.pw", "-H", "h", "--ssl"));
	extra_opts_free(&eo);
}

Test(extra_opts, equals_empty_is_bare)
{
	setenv("MP_CONFIG_FILE", write_file("mp.ini", basic_ini), 1);
	struct extra_opts eo;
	expand_ok(&eo, ARGS(PLUGIN, "--extra-opts="));
	argv_is(&eo, ARGS(PLUGIN, "--username=probe", "--password-file=/etc/nagios/imap.pw"));
	extra_opts_free(&eo);
}

Test(extra_opts, section_only_uses_default_file)
{
	setenv("MP_CONFIG_FILE", write_file("mp.ini", basic_ini), 1);
	struct extra_opts eo;
	expand_ok(&eo, ARGS(PLUGIN, "--extra-opts", "other"));
	argv_is(&eo, ARGS(PLUGIN, "--hostname=other.example", "--starttls"));
	extra_opts_free(&eo);
}

Test(extra_opts, several_in_command_line_order)
{
	const char *f = write_file("a.ini", basic_ini);
	char o1[600], o2[600];
	snprintf(o1, sizeof(o1), "--extra-opts=other@%s", f);
	snprintf(o2, sizeof(o2), "@%s", f);
	struct extra_opts eo;
	expand_ok(&eo, ARGS(PLUGIN, "-v", o1, "-w", "5", "--extra-opts", o2));
	argv_is(&eo, ARGS(PLUGIN, "--hostname=other.example", "--starttls", "--username=probe",
			  "--password-file=/etc/nagios/imap.pw", "-v", "-w", "5"));
	extra_opts_free(&eo);
}

Test(extra_opts, double_dash_ends_scanning)
{
	setenv("MP_CONFIG_FILE", write_file("mp.ini", basic_ini), 1);
	struct extra_opts eo;
	expand_ok(&eo, ARGS(PLUGIN, "-H", "h", "--", "--extra-opts"));
	argv_is(&eo, ARGS(PLUGIN, "-H", "h", "--", "--extra-opts"));
	extra_opts_free(&eo);
}

Test(extra_opts, similar_option_names_are_left_alone)
{
	struct extra_opts eo;
	expand_ok(&eo, ARGS(PLUGIN, "--extra-optsX", "--extra"));
	argv_is(&eo, ARGS(PLUGIN, "--extra-optsX", "--extra"));
	extra_opts_free(&eo);
}

Test(extra_opts, stdin_file)
{
	const char *f = write_file("in.ini", "[check_imap_session]\nmailbox=Sent\n");
	int fd = open(f, O_RDONLY);
	cr_assert_geq(fd, 0);
	cr_assert_eq(dup2(fd, STDIN_FILENO), STDIN_FILENO);
	close(fd);
	struct extra_opts eo;
	expand_ok(&eo, ARGS(PLUGIN, "--extra-opts=@-"));
	argv_is(&eo, ARGS(PLUGIN, "--mailbox=Sent"));
	extra_opts_free(&eo);
}

/* ---------------------------------------------------------------- command line wins */

Test(extra_opts, command_line_overrides_the_file)
{
	const char *f = write_file("a.ini", "[check_imap_session]\nhostname=from-file\ntimeout=30\n");
	char opt[600];
	snprintf(opt, sizeof(opt), "--extra-opts=@%s", f);
	struct extra_opts eo;
	expand_ok(&eo, ARGS(PLUGIN, "-H", "from-cmdline", opt));

	static const struct option lo[] = {
		{ "hostname", required_argument, NULL, 'H' },
		{ "timeout", required_argument, NULL, 't' },
		{ NULL, 0, NULL, 0 },
	};
	const char *host = NULL, *timeout = NULL;
	int c;
	optind = 1;
	opterr = 0;
	while ((c = getopt_long(eo.argc, eo.argv, "H:t:", lo, NULL)) != -1) {
		if (c == 'H')
			host = optarg;
		else if (c == 't')
			timeout = optarg;
		else
			cr_assert_fail("unexpected option %c", c);
	}
	cr_assert_str_eq(host, "from-cmdline");
	cr_assert_str_eq(timeout, "30");
	extra_opts_free(&eo);
}

/* ---------------------------------------------------------------- format */

Test(extra_opts, format_details)
{
	const char *f = write_file("fmt.ini",
		"; leading comment\r\n"
		"   # indented comment\n"
		"[ check_imap_session ]   ; comment after the header\n"
		"\thostname\t=\timap.example\t \r\n"
		"ssl\n"
		"insecure =\n"
		"search = SUBJECT \"probe # 1\"  \n"
		"H = short.example\n"
		"v\n"
		"expect-folder = Sent\n"
		"expect-folder = Trash\n"
		"password = p=ss;w#rd\n"
		"[check_imap_sessionX]\n"
		"this line is not parsed = because the section is not ours\n"
		"  and neither is this one\n"
		"[check_imap_session]\n"
		"mailbox=INBOX/Sub folder\n");
	char opt[600];
	snprintf(opt, sizeof(opt), "--extra-opts=@%s", f);
	struct extra_opts eo;
	expand_ok(&eo, ARGS(PLUGIN, opt));
	argv_is(&eo, ARGS(PLUGIN, "--hostname=imap.example", "--ssl", "--insecure",
			  "--search=SUBJECT \"probe # 1\"", "-H", "short.example", "-v",
			  "--expect-folder=Sent", "--expect-folder=Trash", "--password=p=ss;w#rd",
			  "--mailbox=INBOX/Sub folder"));
	extra_opts_free(&eo);
}

Test(extra_opts, no_final_newline_and_empty_section)
{
	const char *f = write_file("a.ini", "[empty]\n[check_imap_session]\nport=993");
	char opt[600];
	snprintf(opt, sizeof(opt), "--extra-opts=@%s", f);
	struct extra_opts eo;
	expand_ok(&eo, ARGS(PLUGIN, opt));
	argv_is(&eo, ARGS(PLUGIN, "--port=993"));
	extra_opts_free(&eo);

	snprintf(opt, sizeof(opt), "--extra-opts=empty@%s", f);
	expand_ok(&eo, ARGS(PLUGIN, opt, "-H", "x"));
	argv_is(&eo, ARGS(PLUGIN, "-H", "x"));
	extra_opts_free(&eo);
}

Test(extra_opts, sections_are_case_sensitive)
{
	const char *f = write_file("a.ini", "[Check_Imap_Session]\nport=1\n");
	char opt[600];
	snprintf(opt, sizeof(opt), "--extra-opts=@%s", f);
	expand_fails(ARGS(PLUGIN, opt), "section [check_imap_session] not found", f);
}

/* ---------------------------------------------------------------- default file */

Test(extra_opts, mp_config_file_wins)
{
	char buf[512];
	const char *mp = write_file("mp.ini", "[x]\n");
	write_file("d1/monitoring-plugins.ini", "[x]\n");
	char path[600];
	snprintf(path, sizeof(path), "%s/d1", dir);
	setenv("NAGIOS_CONFIG_PATH", path, 1);
	setenv("MP_CONFIG_FILE", mp, 1);
	cr_assert_eq(extra_opts_default_file(buf, sizeof(buf), extra_opts_default_paths), 0);
	cr_assert_str_eq(buf, mp);
}

Test(extra_opts, mp_config_file_need_not_exist)
{
	setenv("MP_CONFIG_FILE", "/nonexistent/cis.ini", 1);
	expand_fails(ARGS(PLUGIN, "--extra-opts"), "cannot read /nonexistent/cis.ini", "No such file");
}

Test(extra_opts, nagios_config_path_order)
{
	char buf[512], path[1200], want[600];
	write_file("d1/other.ini", "[x]\n");
	write_file("d2/nagios-plugins.ini", "[x]\n");
	write_file("d2/plugins.ini", "[x]\n");
	write_file("d3/monitoring-plugins.ini", "[x]\n");
	setenv("MP_CONFIG_FILE", "", 1); /* empty: ignored */
	snprintf(path, sizeof(path), "::%s/d1::%s/d2:%s/d3:", dir, dir, dir);
	setenv("NAGIOS_CONFIG_PATH", path, 1);
	cr_assert_eq(extra_opts_default_file(buf, sizeof(buf), NULL), 0);
	snprintf(want, sizeof(want), "%s/d2/plugins.ini", dir);
	cr_assert_str_eq(buf, want);
}

Test(extra_opts, standard_locations_in_order)
{
	char buf[512], p1[600], p2[600], p3[600];
	snprintf(p1, sizeof(p1), "%s/missing.ini", dir);
	snprintf(p2, sizeof(p2), "%s", write_file("second.ini", "[x]\n"));
	snprintf(p3, sizeof(p3), "%s", write_file("third.ini", "[x]\n"));
	const char *const list[] = { p1, p2, p3, NULL };
	setenv("NAGIOS_CONFIG_PATH", "/nonexistent", 1);
	cr_assert_eq(extra_opts_default_file(buf, sizeof(buf), list), 0);
	cr_assert_str_eq(buf, p2);
	const char *const none[] = { p1, NULL };
	cr_assert_eq(extra_opts_default_file(buf, sizeof(buf), none), -1);
}

Test(extra_opts, standard_list_is_upstreams)
{
	static const char *const want[] = {
		"/usr/local/etc/monitoring-plugins/monitoring-plugins.ini",
		"/usr/local/etc/monitoring-plugins.ini",
		"/etc/monitoring-plugins/monitoring-plugins.ini",
		"/etc/monitoring-plugins.ini",
		"/etc/nagios/plugins.ini",
		"/usr/local/nagios/etc/plugins.ini",
		"/usr/local/etc/nagios/plugins.ini",
		"/etc/opt/nagios/plugins.ini",
		"/etc/nagios-plugins.ini",
		"/usr/local/etc/nagios-plugins.ini",
		"/etc/opt/nagios-plugins.ini",
		NULL,
	};
	for (int i = 0; want[i] || extra_opts_default_paths[i]; i++) {
		cr_assert_not_null(want[i]);
		cr_assert_not_null(extra_opts_default_paths[i]);
		cr_assert_str_eq(extra_opts_default_paths[i], want[i]);
	}
}

/* ---------------------------------------------------------------- errors */

static void bad_file(const char *text, const char *want)
{
	const char *f = write_file("bad.ini", text);
	char opt[600];
	snprintf(opt, sizeof(opt), "--extra-opts=@%s", f);
	expand_fails(ARGS(PLUGIN, opt), want, f);
}

Test(extra_opts, missing_file)
{
	char opt[600];
	snprintf(opt, sizeof(opt), "--extra-opts=@%s/none.ini", dir);
	expand_fails(ARGS(PLUGIN, opt), "cannot read", "No such file or directory");
}

Test(extra_opts, missing_section)
{
	const char *f = write_file("a.ini", basic_ini);
	char opt[600];
	snprintf(opt, sizeof(opt), "--extra-opts=nosuch@%s", f);
	expand_fails(ARGS(PLUGIN, opt), "section [nosuch] not found in", f);
}

Test(extra_opts, no_default_file)
{
	/* The standard locations do not exist on a test machine: make sure. */
	char buf[512];
	if (extra_opts_default_file(buf, sizeof(buf), extra_opts_default_paths) == 0)
		cr_skip_test("a standard extra-opts file exists here: %s", buf);
	expand_fails(ARGS(PLUGIN, "--extra-opts"), "no config file", "MP_CONFIG_FILE");
}

Test(extra_opts, empty_file_name)
{
	expand_fails(ARGS(PLUGIN, "--extra-opts=sec@"), "empty file name", NULL);
}

Test(extra_opts, directory_is_not_a_file)
{
	char opt[600];
	snprintf(opt, sizeof(opt), "--extra-opts=@%s", dir);
	expand_fails(ARGS(PLUGIN, opt), "not a regular file", dir);
}

Test(extra_opts, syntax_errors_name_file_and_line)
{
	bad_file("password=TopSecret\n", "line 1: option before the first [section]");
	bad_file("[check_imap_session]\npassword=TopSecret\n = TopSecret\n", "line 3: '=' without an option name");
	bad_file("[check_imap_session]\n--password=TopSecret\n", "line 2: write the option name without dashes");
	bad_file("[check_imap_session]\npass word=TopSecret\n", "line 2: white space or a control character");
	bad_file("[check_imap_session\npassword=TopSecret\n", "line 1: section header without ']'");
	bad_file("[check_imap_session] password=TopSecret\n", "line 1: unexpected text after the section header");
}

Test(extra_opts, nul_byte)
{
	const char *f = write_file("nul.ini", "");
	FILE *fp = fopen(f, "w");
	fwrite("[check_imap_session]\nport=1\0\n", 1, 29, fp);
	fclose(fp);
	char opt[600];
	snprintf(opt, sizeof(opt), "--extra-opts=@%s", f);
	expand_fails(ARGS(PLUGIN, opt), "NUL", f);
}

Test(extra_opts, file_too_large)
{
	char path[600];
	snprintf(path, sizeof(path), "%s/big.ini", dir);
	FILE *fp = fopen(path, "w");
	cr_assert_not_null(fp);
	fputs("[check_imap_session]\n", fp);
	for (int i = 0; i < EXTRA_OPTS_MAX_FILE / 15 + 2; i++)
		fputs("# padding line\n", fp);
	fclose(fp);
	char opt[700];
	snprintf(opt, sizeof(opt), "--extra-opts=@%s", path);
	expand_fails(ARGS(PLUGIN, opt), "larger than", path);
}

Test(extra_opts, too_many_options)
{
	char path[600];
	snprintf(path, sizeof(path), "%s/many.ini", dir);
	FILE *fp = fopen(path, "w");
	cr_assert_not_null(fp);
	fputs("[check_imap_session]\n", fp);
	for (int i = 0; i <= EXTRA_OPTS_MAX_ARGS; i++)
		fputs("verbose\n", fp);
	fclose(fp);
	char opt[700];
	snprintf(opt, sizeof(opt), "--extra-opts=@%s", path);
	expand_fails(ARGS(PLUGIN, opt), "more than", path);
}

Test(extra_opts, free_is_idempotent)
{
	struct extra_opts eo;
	memset(&eo, 0, sizeof(eo));
	extra_opts_free(&eo);
	const char *f = write_file("a.ini", basic_ini);
	char opt[600];
	snprintf(opt, sizeof(opt), "--extra-opts=@%s", f);
	expand_ok(&eo, ARGS(PLUGIN, opt));
	extra_opts_free(&eo);
	extra_opts_free(&eo);
	cr_assert_eq(eo.argv, NULL);
	cr_assert_eq(eo.argc, 0);
}
