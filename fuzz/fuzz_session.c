/* fuzz_session.c - a whole probe session (session.h: every step, the
 * mailbox code, the report and its rendering) against a server that says
 * anything, over a real loopback TCP connection.
 *
 * Input: byte 0 selects the command line (table below, modulo its size);
 * the rest is the server's side, in segments separated by 0x01 bytes.
 * Segment 0 (the greeting) goes out when the probe connects, segment k
 * once the probe has sent k lines, or when it has been quiet for 3 ms
 * (so a stuck exchange costs milliseconds, not the timeout); after the
 * last one the server half-closes and reads until the probe hangs up.
 * A second connection gets the same script.
 *
 * The probe runs in this process, as plugin/main.c runs it: options_parse,
 * session_run, output_render in every format.  Invariants: the first line
 * is "IMAP <STATE> - ..." and agrees with the returned state; nagios output
 * has no control byte but '\n'; JSON is one line; the password never shows
 * in the output or the protocol trace of what the probe sent (unless the
 * server sent it itself).
 *
 * Not covered here: TLS (fuzz_conn and the hostile matrix do STARTTLS;
 * a TLS server in the fuzzer would fuzz OpenSSL), SCRAM (fuzz_sasl, with a
 * low iteration cap), --idle (a second, concurrent connection). */
#define _GNU_SOURCE
#include "config.h"

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "fuzz_util.h"
#include "options.h"
#include "report/output.h"
#include "report/report.h"
#include "session/session.h"

#define PASSWORD "s3cr3t-Pa55"
#define QUIET_MS 3

static char g_script[64];       /* a --script file, made once */

static const char *const *const cmdlines[] = {
	(const char *const[]){ "--auth", "login", NULL },
	(const char *const[]){ "--auth", "plain", "--search", "ALL", "--fetch", "full", NULL },
	(const char *const[]){ "--auth", "login", "--namespace", "--list", "--quota", "--fetch", "headers",
			       "--expect-folder", "Sent", NULL },
	(const char *const[]){ "--auth", "auth-login", "-m", "Entw\xc3\xbcrfe", "--select", "--search",
			       "SUBJECT \"x\" UNSEEN", "--age-warning", "60", NULL },
	(const char *const[]){ "--auth", "cram-md5", "--append", "--delete-matched", "--search", "ALL", NULL },
	(const char *const[]){ "--auth", "login", "--script", g_script, "--pipeline", NULL },
	(const char *const[]){ "--auth", "none", "--output", "json", "-vvv", "--list", NULL },
	(const char *const[]){ "--auth", "plain", "--pipeline", "--quota", "--namespace", "--fetch", "none",
			       "--messages-warning", "5", "--unseen-critical", "1:", "-vvv", NULL },
};
#define NCMDLINES (sizeof(cmdlines) / sizeof(cmdlines[0]))

/* ---------------------------------------------------------------- server */

struct srv {
	int lfd;
	const uint8_t *data;
	size_t n;
	atomic_int stop;
	int saw_secret;         /* the script itself contains the password */
};

static long now_ms(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec * 1000L + ts.tv_nsec / 1000000L;
}

/* Play the script on one connection. */
static void serve(struct srv *sv, int fd)
{
	size_t pos = 0;              /* next byte of the script to send */
	size_t seg_end = 0;          /* end of the segment being sent */
	unsigned seg = 0, lines = 0;
	int eligible = 1, closed_wr = 0;
	long last = now_ms();
	char buf[4096];

	/* segment 0 */
	const uint8_t *sep = memchr(sv->data, 0x01, sv->n);
	seg_end = sep ? (size_t)(sep - sv->data) : sv->n;
	while (!atomic_load(&sv->stop)) {
		struct pollfd p = { .fd = fd, .events = POLLIN };
		if (eligible && pos < seg_end)
			p.events |= POLLOUT;
		int r = poll(&p, 1, 1);
		if (r < 0 && errno != EINTR)
			break;
		if (p.revents & (POLLIN | POLLHUP | POLLERR)) {
			ssize_t k = read(fd, buf, sizeof(buf));
			if (k <= 0)
				break;          /* the probe hung up */
			for (ssize_t i = 0; i < k; i++)
				lines += buf[i] == '\n';
			last = now_ms();
		}
		if ((p.revents & POLLOUT) && pos < seg_end) {
			ssize_t w = send(fd, sv->data + pos, seg_end - pos, MSG_NOSIGNAL);
			if (w < 0 && errno != EAGAIN && errno != EINTR)
				break;
			if (w > 0) {
				pos += (size_t)w;
				last = now_ms();
			}
		}
		if (pos < seg_end)
			continue;
		/* segment done: the next one? */
		if (seg_end >= sv->n) {
			if (!closed_wr) {
				shutdown(fd, SHUT_WR);
				closed_wr = 1;
			}
			continue;
		}
		eligible = lines > seg || now_ms() - last >= QUIET_MS;
		if (eligible) {
			seg++;
			pos = seg_end + 1;      /* skip the separator */
			sep = memchr(sv->data + pos, 0x01, sv->n - pos);
			seg_end = sep ? (size_t)(sep - sv->data) : sv->n;
		}
	}
}

static void *server(void *arg)
{
	struct srv *sv = arg;

	while (!atomic_load(&sv->stop)) {
		struct pollfd p = { .fd = sv->lfd, .events = POLLIN };
		if (poll(&p, 1, 1) <= 0)
			continue;
		int fd = accept4(sv->lfd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);
		if (fd < 0)
			continue;
		serve(sv, fd);
		close(fd);
	}
	return NULL;
}

/* ---------------------------------------------------------------- probe */

static int contains(const char *s, size_t n, const char *w)
{
	size_t wl = strlen(w);
	for (size_t i = 0; i + wl <= n; i++)
		if (!memcmp(s + i, w, wl))
			return 1;
	return 0;
}

static int g_secret_ok;   /* the server sent the password itself */

static void on_trace(void *ud, const char *dir, const char *line, size_t len)
{
	(void)ud;
	FUZZ_CHECK(memchr(line, '\n', len) == NULL, "trace line with LF");
	if (!strcmp(dir, "C"))
		FUZZ_CHECK(g_secret_ok || !contains(line, len, PASSWORD), "password in the trace: %.*s", (int)len,
			   line);
}

static void remove_script(void)
{
	unlink(g_script);
}

int LLVMFuzzerInitialize(int *argc, char ***argv);
int LLVMFuzzerInitialize(int *argc, char ***argv)
{
	static const char script[] =
		"# fuzz_session\n"
		"sel: SELECT INBOX\n"
		"UID FETCH 1:* (FLAGS BODY.PEEK[HEADER.FIELDS (SUBJECT)])\n"
		"expect NO,BAD APPEND INBOX \"Subject: x\\r\\n\\r\\nbody\"\n"
		"box: EXAMINE m\"Entw\xc3\xbcrfe\"\n";
	(void)argc;
	(void)argv;
	signal(SIGPIPE, SIG_IGN);
	snprintf(g_script, sizeof(g_script), "/tmp/fuzz_session.XXXXXX");
	int fd = mkstemp(g_script);
	FUZZ_CHECK(fd >= 0, "mkstemp: %s", strerror(errno));
	FUZZ_CHECK(write(fd, script, sizeof(script) - 1) == (ssize_t)(sizeof(script) - 1), "write");
	close(fd);
	atexit(remove_script);
	return 0;
}

static void check_output(const struct report *rep, int state)
{
	for (int fmt = 0; fmt < 3; fmt++) {
		struct sbuf out;
		FUZZ_CHECK(sb_init_alloc(&out, OUTPUT_MAX_SIZE) == 0, "sb_init_alloc");
		output_render(rep, (enum output_format)fmt, 3, &out);
		FUZZ_CHECK(g_secret_ok || !contains(out.data, out.len, PASSWORD), "password in output format %d", fmt);
		for (size_t i = 0; i < out.len; i++)
			FUZZ_CHECK((unsigned char)out.data[i] >= 0x20 || out.data[i] == '\n',
				   "format %d: control byte 0x%02x at %zu", fmt, (unsigned char)out.data[i], i);
		if (fmt == OUTPUT_NAGIOS) {
			char want[32];
			snprintf(want, sizeof(want), "IMAP %s", state_name(state));
			FUZZ_CHECK(!strncmp(out.data, want, strlen(want)), "state %d but first line: %.80s", state,
				   out.data);
		} else if (fmt == OUTPUT_JSON) {
			FUZZ_CHECK(out.len > 0 && memchr(out.data, '\n', out.len) == out.data + out.len - 1,
				   "JSON is not one line");
		}
		sb_free(&out);
	}
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static struct report rep;
	char port[16];

	if (size < 1)
		return 0;
	const char *const *extra = cmdlines[data[0] % NCMDLINES];
	data++;
	size--;

	struct srv sv = { .data = data, .n = size };
	sv.lfd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
	FUZZ_CHECK(sv.lfd >= 0, "socket: %s", strerror(errno));
	struct sockaddr_in sa = { .sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
	socklen_t sl = sizeof(sa);
	FUZZ_CHECK(bind(sv.lfd, (struct sockaddr *)&sa, sizeof(sa)) == 0, "bind: %s", strerror(errno));
	FUZZ_CHECK(listen(sv.lfd, 4) == 0, "listen");
	FUZZ_CHECK(getsockname(sv.lfd, (struct sockaddr *)&sa, &sl) == 0, "getsockname");
	snprintf(port, sizeof(port), "%u", (unsigned)ntohs(sa.sin_port));
	g_secret_ok = contains((const char *)data, size, PASSWORD);

	char *argv[40];
	int argc = 0;
	argv[argc++] = (char *)"check_imap_session";
	argv[argc++] = (char *)"-H";
	argv[argc++] = (char *)"127.0.0.1";
	argv[argc++] = (char *)"-p";
	argv[argc++] = port;
	argv[argc++] = (char *)"-U";
	argv[argc++] = (char *)"user";
	argv[argc++] = (char *)"-P";
	argv[argc++] = (char *)PASSWORD;
	argv[argc++] = (char *)"-t";
	argv[argc++] = (char *)"3";
	for (int i = 0; extra[i]; i++)
		argv[argc++] = (char *)extra[i];
	argv[argc] = NULL;

	struct options opts;
	struct sbuf msg;
	FUZZ_CHECK(sb_init_alloc(&msg, 65536) == 0, "sb_init_alloc");
	int r = options_parse(&opts, argc, argv, &msg);
	FUZZ_CHECK(r == OPTIONS_OK, "options: %s", opts.err);
	sb_free(&msg);

	pthread_t th;
	FUZZ_CHECK(pthread_create(&th, NULL, server, &sv) == 0, "pthread_create");

	struct session_env env = { .trace = on_trace };
	report_init(&rep, opts.cfg.timeout_s);
	int state = session_run(&opts.cfg, &env, &rep);
	FUZZ_CHECK(state >= STATE_OK && state <= STATE_UNKNOWN, "state %d", state);
	options_free(&opts);
	check_output(&rep, state);

	atomic_store(&sv.stop, 1);
	pthread_join(th, NULL);
	close(sv.lfd);
	return 0;
}
