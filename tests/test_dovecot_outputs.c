/* test_dovecot_outputs.c - issue 7's outputs and SLA mode, end to end: the
 * real check_imap_session binary ($PROBE) against the suite's Dovecot
 * (tests/dovecot/fixture.sh via tests/run-test.sh, DOVECOT_* variables) and
 * against the scripted fake server (tests/fake/fakeimap.py) where a server
 * has to misbehave on purpose.
 *
 *   json        --output json parsed by Python's json module in strict mode
 *               (no duplicate keys, no NaN/Infinity, UTF-8, exactly one
 *               document and its newline on stdout) and checked against the
 *               schema in output.h; the test then reads the document
 *               through a flattened "path <TAB> type <TAB> value" listing.
 *   prometheus  --output prometheus through `promtool check metrics`
 *               (Debian's prometheus package; lint problems count as
 *               failures) when it is installed, and always through the
 *               strict exposition checker below (families, names, labels,
 *               escapes, values, no repeated series).
 *   sla         --repeat/--interval: availability, percentiles, thresholds,
 *               pacing, and the wall-time bound of a run whose every
 *               session times out.
 *
 * Environment: CIS_TEST_TIME_FACTOR (testutil.h) widens the upper time
 * bounds; CIS_REQUIRE_PROMTOOL=1 makes a missing promtool a failure instead
 * of a note on stderr; FAKEIMAP, FAKEIMAP_PYTHON: see fakeserver.h. */
#define _GNU_SOURCE
#include <criterion/criterion.h>

#include <ctype.h>
#include <errno.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "fakeserver.h"
#include "runprobe.h"
#include "testutil.h"

#define HARD_TIMEOUT_S 40.0

enum { ST_OK = 0, ST_WARNING = 1, ST_CRITICAL = 2, ST_UNKNOWN = 3 };

TestSuite(json, .timeout = 120);
TestSuite(prometheus, .timeout = 120);
TestSuite(sla, .timeout = 120);

/* ================================================================ commands */

/* The shared seeded user, password from the environment, at PORT_VAR; with
 * implicit TLS (and the fixture's CA) when tls is set. */
static struct cmd *fixture_cmd(const char *port_var, int tls)
{
	struct cmd *c = cmd_new();

	cmd_fixture_conn(c, tls ? FIXTURE_IMPLICIT : FIXTURE_PLAIN, fixture_env(port_var));
	cmd_fixture_user(c, "DOVECOT_USER", "DOVECOT_PASS");
	return c;
}

static void run_limit(struct cmd *c, double hard_s) { cmd_run_for(c, hard_s * cis_time_factor()); }

static void run(struct cmd *c) { run_limit(c, HARD_TIMEOUT_S); }

static void expect_exit(struct cmd *c, int code)
{
	cr_assert_eq(c->r.exit_code, code, "exit code %d, expected %d" DUMP_FMT, c->r.exit_code, code, DUMP_ARGS(c));
	if (!getenv("CIS_TEST_ALLOW_STDERR"))
		cr_assert_eq(c->r.err_len, 0, "the probe wrote to stderr" DUMP_FMT, DUMP_ARGS(c));
}

/* Exit code and "IMAP <STATE> - " agree (the nagios format). */
static void expect_state(struct cmd *c, int state)
{
	expect_exit(c, state);
	cmd_expect_state(c, state);
}

/* ================================================================ nagios perfdata */

/* Value of LABEL; its unit must be UOM. */
static double perf_value(struct cmd *c, const char *label, const char *uom)
{
	char got[64];
	double d = cmd_perf_value(c, label, got, sizeof got);

	cr_assert(isfinite(d), "perfdata '%s' is not a finite number" DUMP_FMT, label, DUMP_ARGS(c));
	cr_assert_str_eq(got, uom, "perfdata '%s': unit is \"%s\", not \"%s\"" DUMP_FMT, label, got, uom, DUMP_ARGS(c));
	return d;
}

static void expect_perf_part(struct cmd *c, const char *label, int index, const char *want)
{
	char got[128];

	cmd_perf_part(c, label, index, got, sizeof got);
	cr_assert_str_eq(got, want, "perfdata '%s' field %d is \"%s\", expected \"%s\"" DUMP_FMT, label, index, got,
	                 want, DUMP_ARGS(c));
}

/* ================================================================ JSON */

/* Strict parse + schema check in Python, then a flat listing of the
 * document: one "path\ttype\tvalue" line per node (type obj, arr, str, num,
 * bool, null; value: the length, the string JSON-escaped without its
 * quotes, or the number).  Problems: one "ERROR\t..." line, exit 1. */
static const char json_checker[] =
	"import json, sys\n"
	"out = sys.stdout.buffer\n"
	"def fail(msg):\n"
	"    out.write(('ERROR\\t' + msg + '\\n').encode('utf-8', 'backslashreplace')); sys.exit(1)\n"
	"raw = open(sys.argv[1], 'rb').read()\n"
	"try:\n"
	"    text = raw.decode('utf-8')\n"
	"except UnicodeDecodeError as e:\n"
	"    fail('stdout is not UTF-8: %s' % e)\n"
	"def pairs(kv):\n"
	"    keys = [k for k, _ in kv]\n"
	"    if len(keys) != len(set(keys)): fail('repeated key in %r' % keys)\n"
	"    return dict(kv)\n"
	"def const(c): fail('not JSON: %s' % c)\n"
	"dec = json.JSONDecoder(object_pairs_hook=pairs, parse_constant=const, strict=True)\n"
	"try:\n"
	"    doc, end = dec.raw_decode(text)\n"
	"except ValueError as e:\n"
	"    fail('does not parse: %s' % e)\n"
	"if text[end:] != '\\n': fail('stdout has more than the JSON document and its newline: %r' % text[end:end + 120])\n"
	"def num(v): return isinstance(v, (int, float)) and not isinstance(v, bool)\n"
	"def want(ok, what):\n"
	"    if not ok: fail(what)\n"
	"STATES = ['OK', 'WARNING', 'CRITICAL', 'UNKNOWN']\n"
	"want(isinstance(doc, dict), 'not an object')\n"
	"want(sorted(doc) == sorted(['state', 'exit_code', 'summary', 'failed_step', 'time', 'timeout', 'steps',\n"
	"     'perfdata', 'info', 'lines']), 'top-level keys %r' % sorted(doc))\n"
	"want(doc['state'] in STATES, 'state %r' % doc['state'])\n"
	"want(type(doc['exit_code']) is int and doc['exit_code'] == STATES.index(doc['state']), 'exit_code')\n"
	"want(isinstance(doc['summary'], str), 'summary')\n"
	"want(doc['failed_step'] is None or isinstance(doc['failed_step'], str), 'failed_step')\n"
	"want(doc['time'] is None or (num(doc['time']) and doc['time'] >= 0), 'time')\n"
	"want(doc['timeout'] is None or (num(doc['timeout']) and doc['timeout'] > 0), 'timeout')\n"
	"want(isinstance(doc['steps'], list), 'steps')\n"
	"for s in doc['steps']:\n"
	"    want(isinstance(s, dict) and sorted(s) == sorted(['name', 'outcome', 'state', 'duration', 'message',\n"
	"         'values']), 'step keys %r' % s)\n"
	"    want(isinstance(s['name'], str) and s['name'], 'step name %r' % s)\n"
	"    want(s['outcome'] in ('ok', 'failed', 'timeout', 'skipped'), 'step outcome %r' % s)\n"
	"    want(s['state'] in STATES, 'step state %r' % s)\n"
	"    want(num(s['duration']) and s['duration'] >= 0, 'step duration %r' % s)\n"
	"    want(isinstance(s['message'], str), 'step message %r' % s)\n"
	"    want(isinstance(s['values'], dict) and all(v is None or num(v) for v in s['values'].values()),\n"
	"         'step values %r' % s)\n"
	"want(isinstance(doc['perfdata'], list), 'perfdata')\n"
	"for p in doc['perfdata']:\n"
	"    want(isinstance(p, dict) and sorted(p) == sorted(['label', 'value', 'uom', 'warn', 'crit', 'min', 'max']),\n"
	"         'perf keys %r' % p)\n"
	"    want(isinstance(p['label'], str) and p['label'], 'perf label %r' % p)\n"
	"    want(p['value'] is None or num(p['value']), 'perf value %r' % p)\n"
	"    want(isinstance(p['uom'], str), 'perf uom %r' % p)\n"
	"    for k in ('warn', 'crit'): want(p[k] is None or isinstance(p[k], str), 'perf %s %r' % (k, p))\n"
	"    for k in ('min', 'max'): want(p[k] is None or num(p[k]), 'perf %s %r' % (k, p))\n"
	"labels = [p['label'] for p in doc['perfdata']]\n"
	"want(len(labels) == len(set(labels)), 'repeated perfdata label in %r' % labels)\n"
	"want(isinstance(doc['info'], dict) and all(isinstance(v, str) for v in doc['info'].values()), 'info')\n"
	"want(isinstance(doc['lines'], list) and all(isinstance(v, str) for v in doc['lines']), 'lines')\n"
	"def esc(s): return json.dumps(s, ensure_ascii=False)[1:-1]\n"
	"def put(path, t, v): out.write(('%s\\t%s\\t%s\\n' % (path, t, v)).encode('utf-8', 'backslashreplace'))\n"
	"def walk(v, path):\n"
	"    if isinstance(v, dict):\n"
	"        put(path, 'obj', len(v))\n"
	"        for k, x in v.items(): walk(x, (path + '.' if path else '') + esc(k))\n"
	"    elif isinstance(v, list):\n"
	"        put(path, 'arr', len(v))\n"
	"        for i, x in enumerate(v): walk(x, '%s.%d' % (path, i))\n"
	"    elif isinstance(v, bool): put(path, 'bool', 'true' if v else 'false')\n"
	"    elif v is None: put(path, 'null', '')\n"
	"    elif isinstance(v, str): put(path, 'str', esc(v))\n"
	"    else: put(path, 'num', repr(v))\n"
	"walk(doc, '')\n";

struct jent {
	char *path, *type, *val;
};

struct jdoc {
	char *buf;
	struct jent *e;
	size_t n;
	struct cmd *c; /* for messages */
};

/* Validate the probe's stdout as the JSON document and load its listing. */
static void json_load(struct jdoc *d, struct cmd *c)
{
	char *script = tu_temp_file(NULL, "outputs-checker", json_checker, strlen(json_checker));
	char *doc = tu_temp_file(NULL, "outputs-doc", c->r.out, c->r.out_len);
	char *sh = NULL;
	int status;

	memset(d, 0, sizeof *d);
	d->c = c;
	cr_assert_geq(asprintf(&sh, "python3 '%s' '%s' 2>&1", script, doc), 0);
	d->buf = tu_capture(sh, &status);
	unlink(script);
	unlink(doc);
	free(script);
	free(doc);
	free(sh);
	cr_assert(WIFEXITED(status) && WEXITSTATUS(status) == 0, "the JSON output fails the check: %s" DUMP_FMT,
	          d->buf, DUMP_ARGS(c));
	for (char *p = d->buf; *p;) {
		char *nl = strchr(p, '\n'), *t1, *t2;

		cr_assert_not_null(nl, "listing line without newline");
		*nl = '\0';
		t1 = strchr(p, '\t');
		t2 = t1 ? strchr(t1 + 1, '\t') : NULL;
		cr_assert(t1 && t2, "bad listing line %s", p);
		*t1 = *t2 = '\0';
		d->e = realloc(d->e, (d->n + 1) * sizeof *d->e);
		cr_assert_not_null(d->e);
		d->e[d->n++] = (struct jent){ p, t1 + 1, t2 + 1 };
		p = nl + 1;
	}
}

static void json_free(struct jdoc *d)
{
	free(d->buf);
	free(d->e);
}

__attribute__((format(printf, 2, 0)))
static const struct jent *jfindv(const struct jdoc *d, const char *fmt, va_list ap)
{
	char path[512];

	vsnprintf(path, sizeof path, fmt, ap);
	for (size_t i = 0; i < d->n; i++)
		if (!strcmp(d->e[i].path, path))
			return &d->e[i];
	return NULL;
}

static const struct jent *jfind(const struct jdoc *d, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static const struct jent *jfind(const struct jdoc *d, const char *fmt, ...)
{
	va_list ap;
	const struct jent *e;

	va_start(ap, fmt);
	e = jfindv(d, fmt, ap);
	va_end(ap);
	return e;
}

/* The node at the path, which must exist and have type TYPE. */
static const char *jget(const struct jdoc *d, const char *type, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));
static const char *jget(const struct jdoc *d, const char *type, const char *fmt, ...)
{
	va_list ap;
	const struct jent *e;
	char path[512];

	va_start(ap, fmt);
	vsnprintf(path, sizeof path, fmt, ap);
	va_end(ap);
	e = jfind(d, "%s", path);
	cr_assert_not_null(e, "JSON has no %s" DUMP_FMT, path, DUMP_ARGS(d->c));
	cr_assert_str_eq(e->type, type, "JSON %s is a %s, not a %s" DUMP_FMT, path, e->type, type, DUMP_ARGS(d->c));
	return e->val;
}

#define jstr(d, ...) jget(d, "str", __VA_ARGS__)
#define jnum(d, ...) strtod(jget(d, "num", __VA_ARGS__), NULL)
#define jlen(d, ...) atoi(jget(d, "arr", __VA_ARGS__))

/* Index of the step (or perfdata item) whose name (label) is NAME; -1. */
static int jindex(const struct jdoc *d, const char *array, const char *key, const char *name)
{
	int n = jlen(d, "%s", array);

	for (int i = 0; i < n; i++) {
		const struct jent *e = jfind(d, "%s.%d.%s", array, i, key);
		if (e && !strcmp(e->type, "str") && !strcmp(e->val, name))
			return i;
	}
	return -1;
}

static int jstep(const struct jdoc *d, const char *name)
{
	int i = jindex(d, "steps", "name", name);

	cr_assert_geq(i, 0, "JSON has no step \"%s\"" DUMP_FMT, name, DUMP_ARGS(d->c));
	return i;
}

static int jperf(const struct jdoc *d, const char *label)
{
	int i = jindex(d, "perfdata", "label", label);

	cr_assert_geq(i, 0, "JSON has no perfdata item \"%s\"" DUMP_FMT, label, DUMP_ARGS(d->c));
	return i;
}

static void jexpect_str(const struct jdoc *d, const char *want, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));
static void jexpect_str(const struct jdoc *d, const char *want, const char *fmt, ...)
{
	char path[512];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(path, sizeof path, fmt, ap);
	va_end(ap);
	const char *got = jstr(d, "%s", path);
	cr_assert_str_eq(got, want, "JSON %s is \"%s\", expected \"%s\"" DUMP_FMT, path, got, want, DUMP_ARGS(d->c));
}

/* Every step is well formed and its duration fits in the session time. */
static void jexpect_steps_sane(const struct jdoc *d)
{
	int n = jlen(d, "steps");
	double total = jnum(d, "time");

	cr_assert_gt(n, 0, "no steps" DUMP_FMT, DUMP_ARGS(d->c));
	for (int i = 0; i < n; i++) {
		double dur = jnum(d, "steps.%d.duration", i);
		cr_assert(dur >= 0 && dur <= total + 1e-6, "step %d: duration %g outside 0..%g" DUMP_FMT, i, dur, total,
		          DUMP_ARGS(d->c));
		(void)jstr(d, "steps.%d.message", i);
		(void)jget(d, "obj", "steps.%d.values", i);
	}
}

/* ================================================================ Prometheus */

struct prom {
	struct tu_prom e; /* the series */
	struct cmd *c;
};


static int have_promtool(void)
{
	return system("command -v promtool >/dev/null 2>&1") == 0;
}

/* The probe's stdout is a valid exposition: promtool (when installed) and
 * the strict checker above. */
static void prom_load(struct prom *p, struct cmd *c)
{
	const char *why;

	memset(p, 0, sizeof *p);
	p->c = c;
	why = tu_prom_parse(&p->e, c->r.out, c->r.out_len);
	cr_assert_null(why, "not a valid exposition: %s" DUMP_FMT, why, DUMP_ARGS(c));
	if (have_promtool()) {
		char *file = tu_temp_file(NULL, "outputs-prom", c->r.out, c->r.out_len), *sh = NULL, *res;
		int status;

		cr_assert_geq(asprintf(&sh, "promtool check metrics < '%s' 2>&1", file), 0);
		res = tu_capture(sh, &status);
		unlink(file);
		cr_assert(WIFEXITED(status) && WEXITSTATUS(status) == 0,
		          "promtool check metrics: exit %d: %s" DUMP_FMT, WIFEXITED(status) ? WEXITSTATUS(status) : -1,
		          res, DUMP_ARGS(c));
		free(res);
		free(sh);
		free(file);
	} else {
		cr_assert(!getenv("CIS_REQUIRE_PROMTOOL") || strcmp(getenv("CIS_REQUIRE_PROMTOOL"), "1"),
		          "promtool is not installed (Debian: apt-get install prometheus) and CIS_REQUIRE_PROMTOOL=1");
		fprintf(stderr, "note: promtool not installed; only the test's own exposition checker ran\n");
	}
}

static const struct tu_prom_series *prom_find(const struct prom *p, const char *key)
{
	for (int i = 0; i < p->e.n; i++)
		if (!strcmp(p->e.s[i].key, key))
			return &p->e.s[i];
	return NULL;
}

static double prom_get(const struct prom *p, const char *key)
{
	const struct tu_prom_series *s = prom_find(p, key);

	cr_assert_not_null(s, "no series %s" DUMP_FMT, key, DUMP_ARGS(p->c));
	return s->value;
}

static void prom_expect(const struct prom *p, const char *key, double want)
{
	double got = prom_get(p, key);

	cr_assert(got == want, "%s is %g, expected %g" DUMP_FMT, key, got, want, DUMP_ARGS(p->c));
}

/* ================================================================ certificates */

/* notAfter of a PEM certificate, from the openssl command line tool. */
static long long cert_not_after(const char *pem)
{
	char *sh = NULL, *res;
	int status;
	struct tm tm;

	cr_assert_geq(asprintf(&sh, "openssl x509 -noout -enddate -in '%s' 2>&1", pem), 0);
	res = tu_capture(sh, &status);
	free(sh);
	cr_assert(WIFEXITED(status) && WEXITSTATUS(status) == 0 && !strncmp(res, "notAfter=", 9),
	          "openssl x509 -enddate %s: %s", pem, res);
	memset(&tm, 0, sizeof tm);
	cr_assert_not_null(strptime(res + 9, "%b %d %H:%M:%S %Y GMT", &tm), "cannot read %s", res);
	free(res);
	return (long long)timegm(&tm);
}

static char *certdir_file(const char *name)
{
	char *p = NULL;

	cr_assert_geq(asprintf(&p, "%s/%s", fixture_env("DOVECOT_CERTDIR"), name), 0);
	return p;
}

/* ================================================================ fake server */

/* The probe's requests after a successful login with --fetch none: STATUS
 * pipelined with EXAMINE, then LOGOUT (as in test_hostile.c). */
#define FAKE_CAPS "IMAP4rev1 AUTH=PLAIN SASL-IR LITERAL+"
#define FAKE_GREETING "line * OK [CAPABILITY " FAKE_CAPS "] fake server ready\n"
#define FAKE_AUTH_OK \
	"expect AUTHENTICATE PLAIN\n" \
	"line $TAG OK [CAPABILITY IMAP4rev1] Logged in\n"
#define FAKE_AUTH_NO \
	"expect AUTHENTICATE PLAIN\n" \
	"line $TAG NO [AUTHENTICATIONFAILED] Authentication failed.\n"
#define FAKE_EXAMINE \
	"expect STATUS\n" \
	"line * STATUS INBOX (UNSEEN 1)\n" \
	"line $TAG OK STATUS completed\n" \
	"expect EXAMINE\n" \
	"line * FLAGS (\\Seen)\n" \
	"line * 3 EXISTS\n" \
	"line * 0 RECENT\n" \
	"line * OK [UIDVALIDITY 1700000000] UIDs valid\n" \
	"line * OK [UIDNEXT 4] Predicted next UID\n" \
	"line $TAG OK [READ-ONLY] EXAMINE completed\n"
#define FAKE_GOOD FAKE_GREETING FAKE_AUTH_OK FAKE_EXAMINE FAKE_LOGOUT_OK
#define FAKE_BAD FAKE_GREETING FAKE_AUTH_NO FAKE_LOGOUT_OK

static struct fake_server *fake(const char *scenario, int connections)
{
	struct fake_opts o = { .connections = connections, .max_seconds = 60 };
	struct fake_server *fs = fake_start_opts(scenario, &o);

	cr_assert_not_null(fs, "the fake IMAP server did not start (python3? tests/fake/fakeimap.py?)");
	return fs;
}

/* -H 127.0.0.1 -p PORT -U probe -P ... --auth plain (an explicit plaintext
 * mechanism: the fake has no TLS) --fetch none. */
static struct cmd *fake_cmd(struct fake_server *fs)
{
	struct cmd *c = cmd_new();

	cmd_addl(c, "-H", "127.0.0.1", "-p", fake_port_str(fs), "-U", "probe", "-P", "fake-secret-pw", "--auth", "plain",
	     "--fetch", "none", NULL);
	return c;
}

/* ================================================================ json: Dovecot */

/* An OK session: state, exit code, summary, every step with all its
 * fields, the counts, and -w/-c in the time item. */
Test(json, ok_session_has_every_field)
{
	struct cmd *c = fixture_cmd("DOVECOT_IMAP_PORT", 0);
	struct jdoc d;
	char want[64];

	cmd_addl(c, "-w", "5", "-c", "8", "-t", "12", "--output", "json", NULL);
	run(c);
	expect_exit(c, ST_OK);
	cr_assert_eq(c->r.out[0], '{', "stdout does not start with the JSON object" DUMP_FMT, DUMP_ARGS(c));
	json_load(&d, c);
	jexpect_str(&d, "OK", "state");
	cr_assert_eq(jnum(&d, "exit_code"), 0);
	cr_assert_not_null(strstr(jstr(&d, "summary"), "INBOX: 5 messages (2 unseen)"), "summary" DUMP_FMT,
	                   DUMP_ARGS(c));
	(void)jget(&d, "null", "failed_step");
	cr_assert_eq(jnum(&d, "timeout"), 12);
	cr_assert(jnum(&d, "time") > 0 && jnum(&d, "time") < 12, "time" DUMP_FMT, DUMP_ARGS(c));
	jexpect_steps_sane(&d);
	/* every step of the default script ran and is complete */
	for (const char *const *s = (const char *const[]){ "resolve", "connect", "greeting", "auth", "examine", "fetch",
	                                                   "logout", NULL };
	     *s; s++) {
		int i = jstep(&d, *s);
		jexpect_str(&d, "ok", "steps.%d.outcome", i);
		jexpect_str(&d, "OK", "steps.%d.state", i);
		cr_assert_gt(strlen(jstr(&d, "steps.%d.message", i)), 0, "step %s has no message" DUMP_FMT, *s,
		             DUMP_ARGS(c));
	}
	/* no tls step on the plain port (no STARTTLS asked for) */
	cr_assert_lt(jindex(&d, "steps", "name", "tls"), 0, "a tls step without TLS" DUMP_FMT, DUMP_ARGS(c));
	/* the counts: step values and perfdata */
	int ex = jstep(&d, "examine");
	cr_assert_eq(jnum(&d, "steps.%d.values.messages", ex), 5);
	cr_assert_eq(jnum(&d, "steps.%d.values.unseen", ex), 2);
	cr_assert_eq(jnum(&d, "perfdata.%d.value", jperf(&d, "messages")), 5);
	cr_assert_eq(jnum(&d, "perfdata.%d.value", jperf(&d, "unseen")), 2);
	/* thresholds where they apply, and the step durations in seconds */
	int t = jperf(&d, "time");
	jexpect_str(&d, "5", "perfdata.%d.warn", t);
	jexpect_str(&d, "8", "perfdata.%d.crit", t);
	jexpect_str(&d, "s", "perfdata.%d.uom", t);
	cr_assert_eq(jnum(&d, "perfdata.%d.min", t), 0);
	cr_assert_eq(jnum(&d, "perfdata.%d.max", t), 12);
	int a = jperf(&d, "auth");
	jexpect_str(&d, "s", "perfdata.%d.uom", a);
	cr_assert_str_eq(jfind(&d, "perfdata.%d.warn", a)->type, "null");
	snprintf(want, sizeof want, "%.6f", jnum(&d, "steps.%d.duration", jstep(&d, "auth")));
	cr_assert_eq(jnum(&d, "perfdata.%d.value", a), strtod(want, NULL), "auth perf and step disagree" DUMP_FMT,
	             DUMP_ARGS(c));
	jexpect_str(&d, fixture_env("DOVECOT_HOST"), "info.host");
	cr_assert_not_null(jfind(&d, "info.mechanism"), "no mechanism fact" DUMP_FMT, DUMP_ARGS(c));
	/* the password went nowhere */
	cr_assert_null(strstr(c->r.out, fixture_env("DOVECOT_PASS")), "password in the output" DUMP_FMT, DUMP_ARGS(c));
	json_free(&d);
	cmd_free(c);
}

/* Implicit TLS with -D: TLS version and cipher, the certificate's expiry
 * as the server's certificate has it, cert_days with the -D thresholds. */
Test(json, tls_session_reports_tls_and_certificate_expiry)
{
	struct cmd *c = fixture_cmd("DOVECOT_IMAPS_PORT", 1);
	char *pem = certdir_file("server.pem");
	long long not_after = cert_not_after(pem);
	struct jdoc d;

	cmd_addl(c, "-D", "3,1", "-w", "5", "-c", "8", "--output", "json", NULL);
	run(c);
	expect_exit(c, ST_OK);
	json_load(&d, c);
	jexpect_str(&d, "OK", "state");
	jexpect_steps_sane(&d);
	int tls = jstep(&d, "tls");
	jexpect_str(&d, "ok", "steps.%d.outcome", tls);
	const char *ver = jstr(&d, "info.tls_version"), *cipher = jstr(&d, "info.tls_cipher");
	cr_assert(!strcmp(ver, "TLSv1.2") || !strcmp(ver, "TLSv1.3"), "tls_version \"%s\"" DUMP_FMT, ver, DUMP_ARGS(c));
	cr_assert_gt(strlen(cipher), 3, "tls_cipher \"%s\"" DUMP_FMT, cipher, DUMP_ARGS(c));
	cr_assert_not_null(strstr(jstr(&d, "steps.%d.message", tls), ver), "the tls step does not name %s" DUMP_FMT,
	                   ver, DUMP_ARGS(c));
	jexpect_str(&d, "yes", "info.tls_verified");
	/* expiry: the exact notAfter, and days that agree with it */
	const char *na = jstr(&d, "info.cert_not_after");
	cr_assert_eq(strtoll(na, NULL, 10), not_after, "cert_not_after %s, the certificate says %lld" DUMP_FMT, na,
	             not_after, DUMP_ARGS(c));
	double days = jnum(&d, "steps.%d.values.cert_days", tls);
	double expect_days = (double)(not_after - (long long)time(NULL)) / 86400.0;
	cr_assert(fabs(days - expect_days) < 0.01, "cert_days %g, expected about %g" DUMP_FMT, days, expect_days,
	          DUMP_ARGS(c));
	int cd = jperf(&d, "cert_days");
	cr_assert(fabs(jnum(&d, "perfdata.%d.value", cd) - days) < 0.1, "cert_days perf" DUMP_FMT, DUMP_ARGS(c));
	jexpect_str(&d, "3:", "perfdata.%d.warn", cd);
	jexpect_str(&d, "1:", "perfdata.%d.crit", cd);
	int t = jperf(&d, "time");
	jexpect_str(&d, "5", "perfdata.%d.warn", t);
	jexpect_str(&d, "8", "perfdata.%d.crit", t);
	cr_assert_eq(jnum(&d, "perfdata.%d.value", jperf(&d, "messages")), 5);
	cr_assert_eq(jnum(&d, "perfdata.%d.value", jperf(&d, "unseen")), 2);
	json_free(&d);
	free(pem);
	cmd_free(c);
}

/* A certificate that expires in DOVECOT_SOON_DAYS days against -D 10,2:
 * WARNING in the state, the exit code and the tls step. */
Test(json, expiring_certificate_warns)
{
	struct cmd *c = fixture_cmd("DOVECOT_IMAPS_SOON_PORT", 1);
	double soon = atof(fixture_env("DOVECOT_SOON_DAYS"));
	struct jdoc d;

	cmd_addl(c, "-D", "10,2", "--output", "json", NULL);
	run(c);
	expect_exit(c, ST_WARNING);
	json_load(&d, c);
	jexpect_str(&d, "WARNING", "state");
	cr_assert_eq(jnum(&d, "exit_code"), 1);
	cr_assert_not_null(strstr(jstr(&d, "summary"), "certificate expires in"), "summary" DUMP_FMT, DUMP_ARGS(c));
	int tls = jstep(&d, "tls");
	double days = jnum(&d, "steps.%d.values.cert_days", tls);
	cr_assert(days > soon - 0.1 && days <= soon + 0.001, "cert_days %g, expected just under %g" DUMP_FMT, days, soon,
	          DUMP_ARGS(c));
	int cd = jperf(&d, "cert_days");
	jexpect_str(&d, "10:", "perfdata.%d.warn", cd);
	jexpect_str(&d, "2:", "perfdata.%d.crit", cd);
	json_free(&d);
	cmd_free(c);
}

/* A rejected login: CRITICAL, the failed step named, its outcome, the
 * server's words, and the steps that ran before it still there. */
Test(json, failing_login_names_the_step)
{
	struct cmd *c = cmd_new();
	struct jdoc d;

	setenv("CIS_WRONG_PASS", "not-the-password", 1);
	cmd_addl(c, "-H", fixture_env("DOVECOT_HOST"), "-p", fixture_env("DOVECOT_IMAPS_PORT"), "--ssl", "--cafile",
	     fixture_env("DOVECOT_CA"), "-U", fixture_env("DOVECOT_USER"), "--password-env", "CIS_WRONG_PASS",
	     "--output", "json", NULL);
	run(c);
	expect_exit(c, ST_CRITICAL);
	json_load(&d, c);
	jexpect_str(&d, "CRITICAL", "state");
	cr_assert_eq(jnum(&d, "exit_code"), 2);
	jexpect_str(&d, "auth", "failed_step");
	const char *sum = jstr(&d, "summary");
	cr_assert(strstr(sum, "auth failed") && strstr(sum, "AUTHENTICATIONFAILED"), "summary \"%s\"" DUMP_FMT, sum,
	          DUMP_ARGS(c));
	int au = jstep(&d, "auth");
	jexpect_str(&d, "failed", "steps.%d.outcome", au);
	jexpect_str(&d, "CRITICAL", "steps.%d.state", au);
	cr_assert_not_null(strstr(jstr(&d, "steps.%d.message", au), "AUTHENTICATIONFAILED"), "auth message" DUMP_FMT,
	                   DUMP_ARGS(c));
	jexpect_str(&d, "ok", "steps.%d.outcome", jstep(&d, "connect"));
	jexpect_str(&d, "ok", "steps.%d.outcome", jstep(&d, "tls"));
	(void)jperf(&d, "connect");
	(void)jperf(&d, "auth");
	cr_assert_lt(jindex(&d, "steps", "name", "examine"), 0, "examine after a failed login" DUMP_FMT, DUMP_ARGS(c));
	cr_assert_null(strstr(c->r.out, "not-the-password"), "password in the output" DUMP_FMT, DUMP_ARGS(c));
	json_free(&d);
	cmd_free(c);
}

/* ================================================================ json: hostile server */

/* Control bytes, an ANSI escape, invalid UTF-8 (a lone continuation byte,
 * a truncated sequence, an overlong '/', an encoded surrogate, a code point
 * above U+10FFFF), U+2028, DEL, quotes, backslashes and '|': in the
 * greeting and in the NO that refuses the login; the second scenario adds
 * a NUL to the NO (a protocol violation, reported with the line quoted). */
#define HOSTILE_BYTES "\\x01\\x02\\x1b[31mred\\x1b[0m \"q\\\"uote\" back\\\\slash\\\\ | pipe |x=1 " \
	"\\xff\\xfe \\xc3\\x28 \\xc0\\xaf \\xed\\xa0\\x80 \\xf4\\x90\\x80\\x80 \\xe2\\x80\\xa8 \\x7f\\x9b \\t tab"
#define HOSTILE_GREETING "line * OK [CAPABILITY " FAKE_CAPS "] hi " HOSTILE_BYTES " end\n"
#define HOSTILE_SCENARIO \
	HOSTILE_GREETING \
	"expect AUTHENTICATE PLAIN\n" \
	"line $TAG NO [AUTHENTICATIONFAILED] denied " HOSTILE_BYTES " {5} done\n" \
	FAKE_LOGOUT_OK
#define HOSTILE_NUL_SCENARIO \
	HOSTILE_GREETING \
	"expect AUTHENTICATE PLAIN\n" \
	"line $TAG NO [AUTHENTICATIONFAILED] denied " HOSTILE_BYTES " nul\\0after {5} done\n" \
	FAKE_LOGOUT_OK

static void hostile_json_case(const char *scenario, const char *extra)
{
	struct fake_server *fs = fake(scenario, 1);
	struct cmd *c = fake_cmd(fs);
	struct jdoc d;

	cmd_addl(c, "--output", "json", NULL);
	if (extra)
		cmd_add(c, extra);
	run(c);
	fake_stop(fs);
	expect_exit(c, ST_CRITICAL);
	/* nothing but the document: python checks UTF-8, one document and its
	 * newline; here: no NUL, no escape byte, no trace, no status line */
	cr_assert_eq(strlen(c->r.out), c->r.out_len, "NUL byte on stdout" DUMP_FMT, DUMP_ARGS(c));
	cr_assert_null(strchr(c->r.out, '\x1b'), "ESC on stdout" DUMP_FMT, DUMP_ARGS(c));
	cr_assert_eq(c->r.out[0], '{', "stdout does not start with the JSON object" DUMP_FMT, DUMP_ARGS(c));
	cr_assert_null(strstr(c->r.out, "IMAP CRITICAL"), "a status line on stdout" DUMP_FMT, DUMP_ARGS(c));
	cr_assert_null(strstr(c->r.out, "Protocol trace"), "the trace on stdout" DUMP_FMT, DUMP_ARGS(c));
	json_load(&d, c);
	jexpect_str(&d, "CRITICAL", "state");
	jexpect_str(&d, "auth", "failed_step");
	const char *sum = jstr(&d, "summary");
	cr_assert_not_null(strstr(sum, "[AUTHENTICATIONFAILED] denied"), "the server's words are not in the summary" DUMP_FMT,
	                   DUMP_ARGS(c));
	cr_assert_not_null(strstr(jstr(&d, "steps.%d.message", jstep(&d, "auth")), "denied"),
	                   "the server's words are not in the auth step" DUMP_FMT, DUMP_ARGS(c));
	cr_assert_not_null(strstr(jstr(&d, "steps.%d.message", jstep(&d, "greeting")), "hi"),
	                   "greeting text missing" DUMP_FMT, DUMP_ARGS(c));
	/* the listing escapes control characters as JSON does: none may have
	 * survived sanitizing either */
	for (size_t i = 0; i < d.n; i++)
		if (!strcmp(d.e[i].type, "str"))
			cr_assert(!strstr(d.e[i].val, "\\u001b") && !strstr(d.e[i].val, "\\u0000"),
			          "%s keeps a control byte: %s" DUMP_FMT, d.e[i].path, d.e[i].val, DUMP_ARGS(c));
	cr_assert_null(strstr(c->r.out, "fake-secret-pw"), "password in the output" DUMP_FMT, DUMP_ARGS(c));
	json_free(&d);
	cmd_free(c);
	fake_free(fs);
}

Test(json, hostile_bytes_from_the_server_stay_valid_json) { hostile_json_case(HOSTILE_SCENARIO, NULL); }
Test(json, hostile_nul_from_the_server_stays_valid_json) { hostile_json_case(HOSTILE_NUL_SCENARIO, NULL); }
/* -vvv collects the protocol trace; it belongs to the nagios format only */
Test(json, hostile_bytes_with_vvv_still_only_json) { hostile_json_case(HOSTILE_NUL_SCENARIO, "-vvv"); }

/* The same bytes, Prometheus format: still a valid exposition. */
Test(prometheus, hostile_server_still_valid)
{
	struct fake_server *fs = fake(HOSTILE_NUL_SCENARIO, 1);
	struct cmd *c = fake_cmd(fs);
	struct prom p;

	cmd_addl(c, "--output", "prometheus", "-vvv", NULL);
	run(c);
	fake_stop(fs);
	expect_exit(c, ST_CRITICAL);
	prom_load(&p, c);
	prom_expect(&p, "probe_success", 0);
	prom_expect(&p, "probe_imap_state", 2);
	prom_expect(&p, "probe_imap_step_success{step=\"auth\"}", 0);
	prom_expect(&p, "probe_imap_step_success{step=\"greeting\"}", 1);
	cmd_free(c);
	fake_free(fs);
}

/* ================================================================ prometheus: Dovecot */

Test(prometheus, tls_session_is_a_valid_exposition)
{
	struct cmd *c = fixture_cmd("DOVECOT_IMAPS_PORT", 1);
	char *pem = certdir_file("server.pem");
	long long not_after = cert_not_after(pem);
	struct prom p;

	cmd_addl(c, "-D", "3,1", "-w", "5", "--output", "prometheus", NULL);
	run(c);
	expect_exit(c, ST_OK);
	cr_assert(!strncmp(c->r.out, "# HELP probe_success ", 21), "stdout does not start with probe_success" DUMP_FMT,
	          DUMP_ARGS(c));
	prom_load(&p, c);
	prom_expect(&p, "probe_success", 1);
	prom_expect(&p, "probe_imap_state", 0);
	double total = prom_get(&p, "probe_duration_seconds");
	cr_assert(total > 0 && total < 10, "probe_duration_seconds %g" DUMP_FMT, total, DUMP_ARGS(c));
	for (const char *const *s = (const char *const[]){ "resolve", "connect", "tls", "greeting", "auth", "examine",
	                                                   "fetch", "logout", NULL };
	     *s; s++) {
		char key[128];
		snprintf(key, sizeof key, "probe_imap_step_duration_seconds{step=\"%s\"}", *s);
		double v = prom_get(&p, key);
		cr_assert(v >= 0 && v <= total + 1e-6, "%s = %g (total %g)" DUMP_FMT, key, v, total, DUMP_ARGS(c));
		snprintf(key, sizeof key, "probe_imap_step_success{step=\"%s\"}", *s);
		prom_expect(&p, key, 1);
	}
	prom_expect(&p, "probe_ssl_earliest_cert_expiry", (double)not_after);
	cr_assert(prom_find(&p, "probe_tls_version_info{version=\"TLSv1.3\"}") ||
	              prom_find(&p, "probe_tls_version_info{version=\"TLSv1.2\"}"),
	          "no probe_tls_version_info" DUMP_FMT, DUMP_ARGS(c));
	prom_expect(&p, "probe_imap_messages", 5);
	prom_expect(&p, "probe_imap_unseen", 2);
	cr_assert_null(strstr(c->r.out, "IMAP OK"), "a status line in the exposition" DUMP_FMT, DUMP_ARGS(c));
	free(pem);
	cmd_free(c);
}

Test(prometheus, failing_login_is_probe_success_0)
{
	struct cmd *c = cmd_new();
	struct prom p;

	setenv("CIS_WRONG_PASS", "not-the-password", 1);
	cmd_addl(c, "-H", fixture_env("DOVECOT_HOST"), "-p", fixture_env("DOVECOT_IMAP_PORT"), "-U",
	     fixture_env("DOVECOT_USER"), "--password-env", "CIS_WRONG_PASS", "--output", "prometheus", NULL);
	run(c);
	expect_exit(c, ST_CRITICAL);
	prom_load(&p, c);
	prom_expect(&p, "probe_success", 0);
	prom_expect(&p, "probe_imap_state", 2);
	prom_expect(&p, "probe_imap_step_success{step=\"auth\"}", 0);
	prom_expect(&p, "probe_imap_step_success{step=\"connect\"}", 1);
	(void)prom_get(&p, "probe_imap_step_duration_seconds{step=\"auth\"}");
	cr_assert_null(prom_find(&p, "probe_imap_messages"), "counts without a mailbox" DUMP_FMT, DUMP_ARGS(c));
	cr_assert_null(prom_find(&p, "probe_ssl_earliest_cert_expiry"), "a certificate without TLS" DUMP_FMT,
	               DUMP_ARGS(c));
	cmd_free(c);
}

Test(prometheus, refused_connection_is_still_valid)
{
	int port, fd = fake_refusing_port(&port);
	char ps[16];
	struct cmd *c = cmd_new();
	struct prom p;

	cr_assert_geq(fd, 0);
	snprintf(ps, sizeof ps, "%d", port);
	cmd_addl(c, "-H", "127.0.0.1", "-p", ps, "--auth", "none", "--output", "prometheus", NULL);
	run(c);
	close(fd);
	expect_exit(c, ST_CRITICAL);
	prom_load(&p, c);
	prom_expect(&p, "probe_success", 0);
	prom_expect(&p, "probe_imap_step_success{step=\"connect\"}", 0);
	cmd_free(c);
}

/* ================================================================ sla */

/* 5 sessions against Dovecot: OK, the summary, percentiles in order, the
 * availability item with its default thresholds, a line per step. */
Test(sla, five_sessions_all_ok)
{
	struct cmd *c = fixture_cmd("DOVECOT_IMAP_PORT", 0);
	char label[64];

	cmd_addl(c, "--repeat", "5", NULL);
	run(c);
	expect_state(c, ST_OK);
	cmd_expect_summary(c, "availability 100.00% (5 of 5 sessions OK)");
	cmd_expect_summary(c, "session time p50 ");
	double last = 0;
	for (const char *const *q = (const char *const[]){ "p50", "p95", "p99", "max", NULL }; *q; q++) {
		snprintf(label, sizeof label, "time_%s", *q);
		double v = perf_value(c, label, "s");
		cr_assert(v > 0 && v >= last, "%s = %g is below the previous percentile %g" DUMP_FMT, label, v, last,
		          DUMP_ARGS(c));
		last = v;
		expect_perf_part(c, label, 3, "0");
		expect_perf_part(c, label, 4, "10");
	}
	for (const char *const *s = (const char *const[]){ "connect", "greeting", "auth", "examine", "fetch", "logout",
	                                                   NULL };
	     *s; s++) {
		char line[64];
		snprintf(label, sizeof label, "%s_p95", *s);
		double p95 = perf_value(c, label, "s");
		snprintf(label, sizeof label, "%s_p50", *s);
		cr_assert_leq(perf_value(c, label, "s"), p95, "%s above its p95" DUMP_FMT, label, DUMP_ARGS(c));
		snprintf(label, sizeof label, "%s_max", *s);
		cr_assert_geq(perf_value(c, label, "s"), p95, "%s below its p95" DUMP_FMT, label, DUMP_ARGS(c));
		snprintf(line, sizeof line, "\n%s: OK ", *s);
		cmd_expect_out(c, line);
	}
	cmd_expect_out(c, "(5 runs)");
	cr_assert_eq(perf_value(c, "availability", "%"), 100.0);
	expect_perf_part(c, "availability", 1, "100:");
	expect_perf_part(c, "availability", 2, "@0:0");
	expect_perf_part(c, "availability", 3, "0");
	expect_perf_part(c, "availability", 4, "100");
	cr_assert_eq(perf_value(c, "sessions", ""), 5);
	cr_assert_eq(perf_value(c, "sessions_ok", ""), 5);
	/* the session's own counts are still reported */
	cr_assert_eq(perf_value(c, "messages", ""), 5);
	cr_assert_eq(perf_value(c, "unseen", ""), 2);
	cmd_free(c);
}

/* JSON of an SLA run: the percentiles as each step's values. */
Test(sla, json_carries_the_percentiles)
{
	struct cmd *c = fixture_cmd("DOVECOT_IMAPS_PORT", 1);
	struct jdoc d;

	cmd_addl(c, "--repeat", "3", "-w", "5", "--output", "json", NULL);
	run(c);
	expect_exit(c, ST_OK);
	json_load(&d, c);
	jexpect_str(&d, "OK", "state");
	cr_assert_not_null(strstr(jstr(&d, "summary"), "availability 100.00% (3 of 3 sessions OK)"), "summary" DUMP_FMT,
	                   DUMP_ARGS(c));
	for (const char *const *s = (const char *const[]){ "connect", "tls", "greeting", "auth", "examine", "logout",
	                                                   NULL };
	     *s; s++) {
		int i = jstep(&d, *s);
		double p50 = jnum(&d, "steps.%d.values.p50", i), p95 = jnum(&d, "steps.%d.values.p95", i);
		double p99 = jnum(&d, "steps.%d.values.p99", i), max = jnum(&d, "steps.%d.values.max", i);
		cr_assert(0 <= p50 && p50 <= p95 && p95 <= p99 && p99 <= max, "%s: p50 %g p95 %g p99 %g max %g" DUMP_FMT,
		          *s, p50, p95, p99, max, DUMP_ARGS(c));
		cr_assert_eq(jnum(&d, "steps.%d.values.runs", i), 3);
		cr_assert_eq(jnum(&d, "steps.%d.duration", i), p50);
	}
	int av = jperf(&d, "availability");
	cr_assert_eq(jnum(&d, "perfdata.%d.value", av), 100);
	jexpect_str(&d, "%", "perfdata.%d.uom", av);
	jexpect_str(&d, "100:", "perfdata.%d.warn", av);
	jexpect_str(&d, "@0:0", "perfdata.%d.crit", av);
	/* -w applies to the p95 session time */
	jexpect_str(&d, "5", "perfdata.%d.warn", jperf(&d, "time_p95"));
	(void)jperf(&d, "time_p50");
	(void)jperf(&d, "time_p99");
	(void)jperf(&d, "time_max");
	(void)jperf(&d, "auth_p95");
	cr_assert_eq(jnum(&d, "perfdata.%d.value", jperf(&d, "sessions")), 3);
	jexpect_str(&d, "100.00", "info.availability");
	jexpect_str(&d, "OK", "info.worst_session_state");
	/* facts of the sessions: TLS and the certificate */
	(void)jstr(&d, "info.tls_version");
	(void)jstr(&d, "info.cert_not_after");
	json_free(&d);
	cmd_free(c);
}

Test(sla, prometheus_of_an_sla_run)
{
	struct cmd *c = fixture_cmd("DOVECOT_IMAPS_PORT", 1);
	struct prom p;

	cmd_addl(c, "--repeat", "3", "--output", "prometheus", NULL);
	run(c);
	expect_exit(c, ST_OK);
	prom_load(&p, c);
	prom_expect(&p, "probe_success", 1);
	prom_expect(&p, "probe_imap_availability", 100);
	prom_expect(&p, "probe_imap_sessions", 3);
	prom_expect(&p, "probe_imap_sessions_ok", 3);
	double p50 = prom_get(&p, "probe_imap_time_p50_seconds"), p95 = prom_get(&p, "probe_imap_time_p95_seconds");
	cr_assert(p50 > 0 && p50 <= p95, "p50 %g p95 %g" DUMP_FMT, p50, p95, DUMP_ARGS(c));
	(void)prom_get(&p, "probe_imap_step_duration_seconds{step=\"auth\"}");
	(void)prom_get(&p, "probe_ssl_earliest_cert_expiry");
	cmd_free(c);
}

/* --interval paces the sessions: 4 sessions, 3 pauses of 0.2 s. */
Test(sla, interval_paces_the_sessions)
{
	struct cmd *c = fixture_cmd("DOVECOT_IMAP_PORT", 0);

	cmd_addl(c, "--repeat", "4", "--interval", "0.2", NULL);
	run(c);
	expect_state(c, ST_OK);
	cmd_expect_summary(c, "(4 of 4 sessions OK)");
	cr_assert_geq(c->r.wall_s, 0.6, "4 sessions 0.2 s apart took %.3f s" DUMP_FMT, c->r.wall_s, DUMP_ARGS(c));
	cr_assert_lt(c->r.wall_s, 10.0 * cis_time_factor(), "took %.3f s" DUMP_FMT, c->r.wall_s, DUMP_ARGS(c));
	cmd_free(c);
}

/* Every other session refuses the login: 50% -> WARNING by default. */
static struct fake_server *half_failing(void)
{
	return fake(FAKE_GOOD "connection\n" FAKE_BAD "connection\n" FAKE_GOOD "connection\n" FAKE_BAD, 4);
}

Test(sla, half_failing_is_warning_by_default)
{
	struct fake_server *fs = half_failing();
	struct cmd *c = fake_cmd(fs);

	cmd_addl(c, "--repeat", "4", NULL);
	run(c);
	fake_stop(fs);
	expect_state(c, ST_WARNING);
	cmd_expect_summary(c, "availability 50.00% (2 of 4 sessions OK)");
	cmd_expect_summary(c, "run 4: auth failed");
	cmd_expect_out(c, "\nlast failure: run 4: auth failed");
	cr_assert_eq(perf_value(c, "availability", "%"), 50);
	cr_assert_eq(perf_value(c, "sessions", ""), 4);
	cr_assert_eq(perf_value(c, "sessions_ok", ""), 2);
	cmd_expect_out(c, "(4 runs)"); /* greeting ran in every session */
	/* auth too, but failed in two: not a success of the step */
	cmd_expect_out(c, "\nauth: FAILED ");
	cmd_expect_out(c, "(4 runs, 2 failed)");
	cmd_expect_out(c, "\nexamine: OK "); /* only in the good ones, always OK */
	cmd_expect_out(c, "(2 runs)");
	cr_assert_null(strstr(c->r.out, "fake-secret-pw"), "password in the output" DUMP_FMT, DUMP_ARGS(c));
	cmd_free(c);
	fake_free(fs);
}

/* Prometheus of the same run: a WARNING is no success, and a step that
 * failed in some sessions is no success either (issue 14). */
Test(sla, half_failing_prometheus_success_values)
{
	struct fake_server *fs = half_failing();
	struct cmd *c = fake_cmd(fs);
	struct prom p;

	cmd_addl(c, "--repeat", "4", "--output", "prometheus", NULL);
	run(c);
	fake_stop(fs);
	expect_exit(c, ST_WARNING);
	prom_load(&p, c);
	prom_expect(&p, "probe_success", 0);
	prom_expect(&p, "probe_imap_state", 1);
	prom_expect(&p, "probe_imap_step_success{step=\"greeting\"}", 1);
	prom_expect(&p, "probe_imap_step_success{step=\"auth\"}", 0);
	prom_expect(&p, "probe_imap_step_success{step=\"examine\"}", 1);
	prom_expect(&p, "probe_imap_sessions", 4);
	prom_expect(&p, "probe_imap_sessions_ok", 2);
	cmd_free(c);
	fake_free(fs);
}

Test(sla, half_failing_is_critical_below_the_critical_availability)
{
	struct fake_server *fs = half_failing();
	struct cmd *c = fake_cmd(fs);

	cmd_addl(c, "--repeat", "4", "--availability-critical", "60:", NULL);
	run(c);
	fake_stop(fs);
	expect_state(c, ST_CRITICAL);
	cmd_expect_summary(c, "availability 50.00% (2 of 4 sessions OK)");
	expect_perf_part(c, "availability", 2, "60:");
	cmd_free(c);
	fake_free(fs);
}

Test(sla, half_failing_is_ok_inside_a_relaxed_warning)
{
	struct fake_server *fs = half_failing();
	struct cmd *c = fake_cmd(fs);

	cmd_addl(c, "--repeat", "4", "--availability-warning", "50:", "--output", "json", NULL);
	run(c);
	fake_stop(fs);
	expect_exit(c, ST_OK);
	struct jdoc d;
	json_load(&d, c);
	jexpect_str(&d, "OK", "state");
	jexpect_str(&d, "50.00", "info.availability");
	jexpect_str(&d, "CRITICAL", "info.worst_session_state");
	json_free(&d);
	cmd_free(c);
	fake_free(fs);
}

/* Every session fails (a wrong password against Dovecot): CRITICAL. */
Test(sla, all_sessions_failing_is_critical)
{
	struct cmd *c = cmd_new();

	setenv("CIS_WRONG_PASS", "not-the-password", 1);
	cmd_addl(c, "-H", fixture_env("DOVECOT_HOST"), "-p", fixture_env("DOVECOT_IMAP_PORT"), "-U",
	     fixture_env("DOVECOT_USER"), "--password-env", "CIS_WRONG_PASS", "--repeat", "3", NULL);
	run(c);
	expect_state(c, ST_CRITICAL);
	cmd_expect_summary(c, "availability 0.00% (0 of 3 sessions OK)");
	cmd_expect_summary(c, "run 3: auth failed");
	cr_assert_eq(perf_value(c, "availability", "%"), 0);
	cr_assert_eq(perf_value(c, "sessions_ok", ""), 0);
	cmd_free(c);
}

/* -c applies to the p95 session time. */
Test(sla, critical_on_p95_session_time)
{
	struct cmd *c = fixture_cmd("DOVECOT_IMAP_PORT", 0);

	cmd_addl(c, "--repeat", "3", "-c", "0.000001", NULL);
	run(c);
	expect_state(c, ST_CRITICAL);
	cmd_expect_summary(c, "availability 100.00% (3 of 3 sessions OK)");
	expect_perf_part(c, "time_p95", 2, "0.000001");
	cr_assert_eq(perf_value(c, "availability", "%"), 100);
	cmd_free(c);
}

/* -w on the p95 session time: crossed -> WARNING, not crossed -> OK. */
Test(sla, warning_on_p95_session_time)
{
	struct cmd *c = fixture_cmd("DOVECOT_IMAP_PORT", 0);

	cmd_addl(c, "--repeat", "2", "-w", "0.000001", NULL);
	run(c);
	expect_state(c, ST_WARNING);
	expect_perf_part(c, "time_p95", 1, "0.000001");
	cmd_free(c);
	c = fixture_cmd("DOVECOT_IMAP_PORT", 0);
	cmd_addl(c, "--repeat", "2", "-w", "30", NULL);
	run(c);
	expect_state(c, ST_OK);
	cmd_free(c);
}

Test(sla, interval_without_repeat_is_unknown)
{
	struct cmd *c = fixture_cmd("DOVECOT_IMAP_PORT", 0);

	cmd_addl(c, "--interval", "0.5", NULL);
	run(c);
	expect_state(c, ST_UNKNOWN);
	cmd_expect_summary(c, "--repeat");
	cmd_free(c);
	c = fixture_cmd("DOVECOT_IMAP_PORT", 0);
	cmd_addl(c, "--repeat", "0", NULL);
	run(c);
	expect_state(c, ST_UNKNOWN);
	cmd_free(c);
}

/* The session's own checks still count in SLA mode: a certificate that
 * expires in 5 days against -D 10,2 is WARNING whatever the availability. */
Test(sla, certificate_threshold_still_applies)
{
	struct cmd *c = fixture_cmd("DOVECOT_IMAPS_SOON_PORT", 1);

	cmd_addl(c, "--repeat", "2", "-D", "10,2", NULL);
	run(c);
	expect_state(c, ST_WARNING);
	cmd_expect_summary(c, "availability 100.00% (2 of 2 sessions OK)");
	cmd_expect_summary(c, "certificate expires in");
	expect_perf_part(c, "cert_days", 1, "10:");
	expect_perf_part(c, "cert_days", 2, "2:");
	cmd_free(c);
}

/* A problem of the command line that only the session finds (here:
 * --search with --auth all) is UNKNOWN at once, as without --repeat: not
 * "availability 0%", and no pauses. */
Test(sla, configuration_problem_is_unknown_at_once)
{
	struct cmd *c = fixture_cmd("DOVECOT_IMAPS_PORT", 1);

	cmd_addl(c, "--auth", "all", "--search", "ALL", "--repeat", "2", "--interval", "20", NULL);
	run(c);
	expect_state(c, ST_UNKNOWN);
	cmd_expect_summary(c, "--search");
	cr_assert_null(strstr(c->r.first_line, "availability"), "reported as an availability" DUMP_FMT, DUMP_ARGS(c));
	cr_assert_lt(c->r.wall_s, 2.0 * cis_time_factor(), "it waited for the interval (%.3f s)" DUMP_FMT, c->r.wall_s,
	             DUMP_ARGS(c));
	cmd_free(c);
}

/* Bounded: every session has its own -t deadline, so N sessions that all
 * time out take about N*t + (N-1)*interval, and no more. */
Test(sla, every_session_timing_out_stays_bounded)
{
	struct fake_blackhole bh;
	char port[16];
	struct cmd *c = cmd_new();

	cr_assert_eq(fake_blackhole_open(&bh), 0, "no blackhole port");
	snprintf(port, sizeof port, "%d", bh.port);
	cmd_addl(c, "-H", "127.0.0.1", "-p", port, "--auth", "none", "-t", "1", "--repeat", "3", "--interval", "0.2",
	     NULL);
	run_limit(c, 20);
	fake_blackhole_close(&bh);
	expect_state(c, ST_CRITICAL);
	cmd_expect_summary(c, "availability 0.00% (0 of 3 sessions OK)");
	cmd_expect_summary(c, "timeout during connect");
	cr_assert_geq(c->r.wall_s, 3.4, "3 timeouts of 1 s, 0.2 s apart, took only %.3f s" DUMP_FMT, c->r.wall_s,
	              DUMP_ARGS(c));
	cr_assert_lt(c->r.wall_s, 3.4 + 1.0 * cis_time_factor(), "took %.3f s, more than 3*t + 2*interval" DUMP_FMT,
	             c->r.wall_s, DUMP_ARGS(c));
	cmd_free(c);
}
