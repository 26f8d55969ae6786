/* fuzz_script.c - the --script parser (script.h) and the commands it
 * builds.
 *
 * Input: byte 0 bit 0: parse the rest as one --search argument line
 * (script_parse_args) instead of a whole script; the rest is the text.
 *
 * Every parsed command is built three times: without a connection
 * (synchronizing literals only), for a server with LITERAL+, and for one
 * with LITERAL- and UTF-8 enabled.  Invariants: a failure gives a
 * one-line message; a command not marked bad has no CR, LF or
 * NUL outside the literals it announces ({n} / {n+} then CRLF then n
 * bytes), so script text can never end a command early or smuggle a
 * second one; every synchronizing-literal pause is right after a literal
 * header. */
#include "config.h"

#include "fuzz_util.h"
#include "imap/imap_conn.h"
#include "session/script.h"

/* A transport that has nothing to say: the connections below only supply
 * capabilities to the command builder. */
static ssize_t null_read(struct transport *t, void *buf, size_t len)
{
	(void)t;
	(void)buf;
	(void)len;
	return TR_EOF;
}

static ssize_t null_write(struct transport *t, const void *buf, size_t len)
{
	(void)t;
	(void)buf;
	return (ssize_t)len;
}

static void null_close(struct transport *t)
{
	free(t);
}

static const struct transport_ops null_ops = {
	.name = "null",
	.read = null_read,
	.write = null_write,
	.close = null_close,
};

static struct imap_conn *conn_with(const char *caps, int utf8)
{
	struct transport *t = calloc(1, sizeof(*t));
	FUZZ_CHECK(t != NULL, "calloc");
	t->ops = &null_ops;
	t->fd = -1;
	/* small parser limits: this connection never reads */
	struct imap_conn_opts opts = { .limits = { .max_text = 1024, .max_tokens = 16 } };
	struct imap_conn *c = imap_conn_new(t, &opts);
	FUZZ_CHECK(c != NULL, "imap_conn_new");
	imap_caps_parse(imap_conn_caps(c), caps, strlen(caps));
	imap_conn_set_utf8(c, utf8);
	return c;
}

/* One line, as script.h promises.  (Other control bytes may be quoted
 * from the script: the session sanitizes messages before output.) */
static void check_msg(const char *err, size_t errlen)
{
	FUZZ_CHECK(memchr(err, '\0', errlen) != NULL, "message not terminated");
	FUZZ_CHECK(err[0] != '\0', "failure without a message");
	FUZZ_CHECK(!strchr(err, '\n') && !strchr(err, '\r'), "line break in message: %s", err);
}

/* Length of a literal header "{n}\r\n" / "{n+}\r\n" at s[0..n), 0 if none;
 * its size in *size. */
static size_t lit_header(const char *s, size_t n, uint64_t *size)
{
	size_t i = 1;
	uint64_t v = 0;

	if (n < 4 || s[0] != '{')
		return 0;
	while (i < n && s[i] >= '0' && s[i] <= '9' && i < 21)
		v = v * 10 + (uint64_t)(s[i++] - '0');
	if (i == 1)
		return 0;
	if (i < n && s[i] == '+')
		i++;
	if (i + 2 >= n || s[i] != '}' || s[i + 1] != '\r' || s[i + 2] != '\n')
		return 0;
	*size = v;
	return i + 3;
}

static void check_cmd(const struct imap_cmd *cmd)
{
	const char *s = cmd->sb.data;
	size_t n = cmd->sb.len, i = 0;
	unsigned sync = 0;

	FUZZ_CHECK(s[n] == '\0', "command not NUL-terminated");
	if (cmd->bad)
		return;
	FUZZ_CHECK(n <= IMAP_CMD_MAX_BYTES, "command of %zu bytes", n);
	FUZZ_CHECK(cmd->nsync <= IMAP_CMD_MAX_LITERALS, "nsync %u", cmd->nsync);
	while (i < n) {
		uint64_t size;
		size_t h = lit_header(s + i, n - i, &size);
		if (h) {
			i += h;
			if (s[i - 4] != '+') {
				FUZZ_CHECK(sync < cmd->nsync && cmd->sync_at[sync] == i,
					   "synchronizing literal at %zu not recorded", i);
				sync++;
			}
			FUZZ_CHECK(size <= n - i, "literal of %llu bytes runs past the end",
				   (unsigned long long)size);
			i += (size_t)size;
			continue;
		}
		FUZZ_CHECK(s[i] != '\r' && s[i] != '\n' && s[i] != '\0',
			   "byte 0x%02x at %zu outside a literal: %.*s", (unsigned char)s[i], i, (int)n, s);
		i++;
	}
	FUZZ_CHECK(sync == cmd->nsync, "%u sync points recorded, %u found", cmd->nsync, sync);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char err[512];

	if (size < 1)
		return 0;
	int args_only = data[0] & 1;
	data++;
	size--;

	/* an exact-size copy without a NUL: the parser must honour len */
	char *text = malloc(size ? size : 1);
	FUZZ_CHECK(text != NULL, "malloc");
	memcpy(text, data, size);

	struct imap_conn *conns[3] = {
		NULL,
		conn_with("IMAP4rev1 LITERAL+", 0),
		conn_with("IMAP4rev2 LITERAL-", 1),
	};

	if (args_only) {
		struct script *scr = script_new();
		size_t first, n;
		int eightbit;
		FUZZ_CHECK(scr != NULL, "script_new");
		if (script_parse_args(scr, text, size, &first, &n, &eightbit, err, sizeof(err)) < 0) {
			check_msg(err, sizeof(err));
		} else {
			FUZZ_CHECK(first + n <= scr->nparts, "parts out of range");
			for (int k = 0; k < 3; k++) {
				struct imap_cmd cmd;
				imap_cmd_init(&cmd, conns[k], "SEARCH");
				script_append_parts(scr, first, n, &cmd);
				check_cmd(&cmd);
				imap_cmd_free(&cmd);
			}
		}
		script_free(scr);
	} else {
		struct script *scr = script_parse(text, size, "fuzz.script", err, sizeof(err));
		if (!scr) {
			check_msg(err, sizeof(err));
		} else {
			FUZZ_CHECK(scr->ncmds <= SCRIPT_MAX_COMMANDS, "%u commands", scr->ncmds);
			for (unsigned i = 0; i < scr->ncmds; i++) {
				const struct script_cmd *sc = &scr->cmd[i];
				FUZZ_CHECK(sc->expect != 0 && (sc->expect & ~7u) == 0, "expect 0x%x", sc->expect);
				FUZZ_CHECK(memchr(sc->name, '\0', sizeof(sc->name)) && sc->name[0], "name");
				/* default names are "script_<verb>", a prefix users cannot take */
				FUZZ_CHECK(!strncmp(sc->name, "script_", 7) || !script_name_reserved(sc->name),
					   "reserved name %s accepted", sc->name);
				FUZZ_CHECK(memchr(sc->verb, '\0', sizeof(sc->verb)) != NULL, "verb");
				FUZZ_CHECK(sc->first_part + sc->nparts <= scr->nparts, "parts out of range");
				for (unsigned j = 0; j < i; j++)
					FUZZ_CHECK(strcmp(scr->cmd[j].name, sc->name) != 0, "name %s twice", sc->name);
				for (int k = 0; k < 3; k++) {
					struct imap_cmd cmd;
					script_build(scr, sc, conns[k], &cmd);
					check_cmd(&cmd);
					imap_cmd_free(&cmd);
				}
			}
			script_free(scr);
		}
	}
	for (int k = 0; k < 3; k++)
		imap_conn_free(conns[k]);
	free(text);
	return 0;
}
