/* main.c - check_imap_session: argv -> config -> session -> render -> exit.
 *
 * Everything goes to stdout, the status line first; the -vvv protocol
 * trace is collected while the session runs and printed after the report
 * so the first line stays the Nagios status line.
 *
 * SIGTERM, SIGINT and SIGALRM (what timeout(1), Icinga 2, systemd and
 * Nagios send when their limit is up) do not kill the probe: the handler
 * only records the signal, the session treats it as its deadline passing
 * (struct session_env.stop) and the usual complete result is printed. */
#include "config.h"

#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <unistd.h>

#include "options.h"
#include "report/output.h"
#include "report/report.h"
#include "session/session.h"
#include "session/sla.h"
#include "util/util.h"

#define TRACE_MAX (256 * 1024)

/* The signal that asked the run to end, 0 until one did.  Written only by
 * on_signal; read by the session through session_env.stop. */
static volatile sig_atomic_t stop_signal;

static void on_signal(int sig)
{
	if (!stop_signal)
		stop_signal = sig;
}

/* Without SA_RESTART: a blocked poll() or nanosleep() returns EINTR at
 * once, and the waits check the flag. */
static void catch_stop_signals(void)
{
	static const int sigs[] = { SIGTERM, SIGINT, SIGALRM };
	struct sigaction sa;

	memset(&sa, 0, sizeof(sa));
	sa.sa_handler = on_signal;
	sigemptyset(&sa.sa_mask);
	for (size_t i = 0; i < sizeof(sigs) / sizeof(sigs[0]); i++)
		sigaddset(&sa.sa_mask, sigs[i]);
	sa.sa_flags = 0;
	for (size_t i = 0; i < sizeof(sigs) / sizeof(sigs[0]); i++)
		sigaction(sigs[i], &sa, NULL);
}

static void trace_line(void *ud, const char *dir, const char *line, size_t len)
{
	struct sbuf *sb = ud;
	char clean[1024];
	sanitize_text(clean, sizeof(clean), line, len);
	sb_printf(sb, "%s: %s\n", dir, clean);
}

static void write_all(const char *p, size_t n)
{
	while (n > 0) {
		ssize_t w = write(STDOUT_FILENO, p, n);
		if (w <= 0)
			return;
		p += w;
		n -= (size_t)w;
	}
}

int main(int argc, char **argv)
{
	struct options opts;
	struct sbuf out, trace;
	static struct report rep;
	int state;

	signal(SIGPIPE, SIG_IGN);
	catch_stop_signals();
	if (sb_init_alloc(&out, OUTPUT_MAX_SIZE) < 0)
		return STATE_UNKNOWN;

	int r = options_parse(&opts, argc, argv, &out);
	if (r != OPTIONS_OK) {
		if (r == OPTIONS_ERROR) {
			sb_reset(&out);
			sb_printf(&out, "IMAP UNKNOWN - %s\nUsage: check_imap_session -H HOST [options]; see --help\n",
				  opts.err);
		}
		write_all(out.data, out.len);
		options_free(&opts);
		sb_free(&out);
		return STATE_UNKNOWN;
	}

	/* a core dump would hold the secrets in memory (password, tokens,
	 * the OAuth client secret): none while we have any */
	if (opts.cfg.password || opts.cfg.token || opts.cfg.oauth_token_url) {
		struct rlimit nocore = { 0, 0 };
		setrlimit(RLIMIT_CORE, &nocore);
	}

	struct session_env env = { .stop = &stop_signal };
	memset(&trace, 0, sizeof(trace));
	if (opts.cfg.verbose >= 3 && opts.cfg.output == OUTPUT_NAGIOS && sb_init_alloc(&trace, TRACE_MAX) == 0) {
		env.trace = trace_line;
		env.trace_ud = &trace;
	}

	report_init(&rep, opts.cfg.timeout_s);
	if (opts.cfg.repeat > 1)
		state = sla_run(&opts.cfg, &env, &rep);
	else
		state = session_run(&opts.cfg, &env, &rep);
	enum output_format fmt = opts.cfg.output;
	int verbose = opts.cfg.verbose;
	options_free(&opts);

	output_render(&rep, fmt, verbose, &out);
	write_all(out.data, out.len);
	if (trace.data && trace.len) {
		const char *hdr = "Protocol trace (credentials redacted):\n";
		write_all(hdr, strlen(hdr));
		write_all(trace.data, trace.len);
		if (trace.truncated)
			write_all("[trace truncated]\n", 18);
	}
	sb_free(&trace);
	sb_free(&out);
	return state;
}
