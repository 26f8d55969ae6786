/* fakeserver.h - run the scripted fake IMAP server (tests/fake/fakeimap.py)
 * from a C test and inspect what the client sent to it; struct fake_case
 * runs the probe against it and keeps everything for the checks.
 *
 * The scenario language is documented at the top of fakeimap.py.  Each
 * fake_start() runs one private server process on a free loopback port with
 * its own temporary directory, so tests can run in parallel.
 *
 * Ownership: a struct fake_server and every pointer it hands out belong to
 * the helper; they stay valid until fake_free().  No function here prints
 * on success; failures to start are explained on stderr.
 *
 * Where things are found:
 *   $FAKEIMAP            the server script (default:
 *                        $TOP_SRCDIR/tests/fake/fakeimap.py, then the
 *                        TOP_SRCDIR compiled in)
 *   $FAKEIMAP_PYTHON     the interpreter (default /usr/bin/python3, then
 *                        python3 from $PATH)
 *   $TMPDIR              where the per-server directory is made (/tmp) */
#ifndef CIS_TEST_FAKESERVER_H
#define CIS_TEST_FAKESERVER_H

#include <stdbool.h>
#include <stddef.h>

#include "runprobe.h"

struct fake_server;

struct fake_opts {
	int connections;        /* connections to serve, one after the other; 0 = 1 */
	double max_seconds;     /* the fake's own hard limit; 0 = 30 */
	bool verbose;           /* fake logs every step and client line (default on
	                           through fake_start; see fake_log()) */
};

/* Start a server playing SCENARIO.  Blocks until it listens (at most 10 s).
 * Returns NULL (with a message on stderr) if it could not be started or the
 * scenario did not parse. */
struct fake_server *fake_start(const char *scenario);
struct fake_server *fake_start_opts(const char *scenario, const struct fake_opts *opts);

/* The port the server listens on, as a number and as a string for argv. */
int fake_port(const struct fake_server *fs);
const char *fake_port_str(const struct fake_server *fs);

/* Wait for the server to finish (it normally does once the client has
 * gone); after GRACE seconds send SIGTERM, later SIGKILL.  Returns the
 * fake's exit status (0 scenario played to the end, 2 client went away
 * early, 3 an expect did not match, 4 max-seconds, 5 a "scram" exchange
 * was rejected or cancelled; see fakeimap.py), or -1
 * if it had to be killed.  Idempotent: a second call returns the same. */
int fake_stop(struct fake_server *fs);
int fake_stop_grace(struct fake_server *fs, double grace_s);

/* What the client sent, at the IMAP level (decrypted under TLS), or only
 * the bytes that crossed the wire in clear text.  Stops the server first if
 * it is still running.  The buffer is NUL-terminated (*len excludes it) and
 * may contain NULs itself.  Never NULL: an empty record is "". */
const unsigned char *fake_received(struct fake_server *fs, size_t *len);
const unsigned char *fake_received_clear(struct fake_server *fs, size_t *len);

/* Did the client send SECRET to the server, in any form a mechanism would
 * carry it: the raw bytes, or base64 of it at any alignment inside a larger
 * blob (AUTHENTICATE PLAIN "\0user\0secret", AUTH=LOGIN, XOAUTH2...).
 * fake_saw looks at everything received, fake_saw_clear only at what was
 * sent outside TLS.  SECRET should be at least 6 bytes long for the base64
 * check to be meaningful. */
bool fake_saw(struct fake_server *fs, const char *secret);
bool fake_saw_clear(struct fake_server *fs, const char *secret);
/* The same over any buffer (exposed for the helper's own tests). */
bool fake_buf_contains_secret(const unsigned char *buf, size_t len, const char *secret);

/* The fake's own log (its stderr: scenario steps, client lines, why it
 * stopped), for failure messages.  Stops the server first. Never NULL. */
const char *fake_log(struct fake_server *fs);

/* Stop if needed, remove the temporary directory, free everything. */
void fake_free(struct fake_server *fs);

/* Throwaway certificates for TLS scenarios: tests/certs/mkcerts.sh DIR when
 * it exists (ca.pem, server.pem, server.key, expired.pem, ...), otherwise a
 * self-signed P-256 server.pem/server.key for localhost and 127.0.0.1, also
 * copied to ca.pem.  Paths are absolute. */
struct fake_certs {
	char dir[256];
	char ca[320];
	char cert[320];
	char key[320];
};
int fake_certs_make(struct fake_certs *c);      /* 0 or -1 (message on stderr) */
void fake_certs_remove(struct fake_certs *c);

/* A TCP port on 127.0.0.1 that refuses connections for as long as the
 * returned descriptor stays open (bound, never listening: no race with
 * other tests picking the same port).  Returns the fd or -1. */
int fake_refusing_port(int *port);

/* A port on 127.0.0.1 where connect() hangs: a listener with backlog 0
 * whose accept queue is already full, so the kernel drops further SYNs.
 * For "timeout during connect" without any network.  0 or -1. */
struct fake_blackhole {
	int port;
	int listen_fd;
	int fill_fd[3];
};
int fake_blackhole_open(struct fake_blackhole *b);
void fake_blackhole_close(struct fake_blackhole *b);

/* What a probe run against the fake did, for failure messages (malloc'd):
 * the probe's exit, signal, wall time, RSS, stdout and stderr; what the
 * fake received (REC, REC_LEN; REC NULL: left out); the fake's exit
 * status and the tail of its log (FS NULL: none).  Non-printable bytes
 * are escaped. */
char *fake_diag(const struct probe_run *r, struct fake_server *fs, int fake_status, const unsigned char *rec,
                size_t rec_len);

/* ---------------------------------------------------------------- scenario building blocks */

/* In the fake's language (fakeimap.py), for the default session after the
 * greeting: a login that succeeded, the STATUS + EXAMINE of INBOX (3
 * messages, 1 unseen), the LOGOUT; and the rest of a default session
 * (--fetch none) after a successful login. */
#define FAKE_LOGGED_IN "line $TAG OK [CAPABILITY IMAP4rev1] Logged in\n"
#define FAKE_STATUS_OK \
	"expect STATUS\n" \
	"line * STATUS INBOX (UNSEEN 1)\n" \
	"line $TAG OK STATUS completed\n"
#define FAKE_EXAMINE_OK \
	FAKE_STATUS_OK \
	"expect EXAMINE\n" \
	"line * 3 EXISTS\n" \
	"line * OK [UIDVALIDITY 1700000000] UIDs valid\n" \
	"line $TAG OK [READ-ONLY] EXAMINE completed\n"
#define FAKE_LOGOUT_OK \
	"expect LOGOUT\n" \
	"line * BYE Logging out\n" \
	"line $TAG OK Logout completed\n" \
	"close\n"
#define FAKE_SESSION_REST FAKE_LOGGED_IN FAKE_EXAMINE_OK FAKE_LOGOUT_OK

/* ---------------------------------------------------------------- a probe run against the fake */

/* One case: the fake (with certificates made on first need), the probe's
 * run and what it left.  Zero it before use; fake_case_done() frees it. */
struct fake_case {
	struct fake_certs certs;
	bool have_certs;
	char file[256];           /* a file of the case's, removed by fake_case_done ("": none) */
	struct fake_server *fs;
	struct probe_run r;
	int fake_status;
	char *log;                /* the fake's log */
	const unsigned char *rec; /* what the probe sent (owned by fs) */
	size_t rec_len;
	char *diag;               /* fake_diag(): ends every failure message */
};

/* Make the test certificates (once). */
void fake_case_certs(struct fake_case *c);
/* A scenario: with TLS set ("" or a version, "clientca" to require the
 * test client certificate) "tls CERT KEY TLS" first, then the greeting
 * with CAPS, then BODY (every "%" in it taken literally).  malloc'd. */
char *fake_case_scenario(struct fake_case *c, const char *tls, const char *caps, const char *body);
/* Start the fake with SCN for CONNECTIONS connections (0: 1). */
void fake_case_start(struct fake_case *c, const char *scn, int connections);
/* Run the probe against PORT (NULL: the fake's; see probe_run_local for
 * FIXED and EXTRA), then stop the fake, if any, and collect everything. */
void fake_case_probe(struct fake_case *c, const char *port, double hard_s, const char *const *fixed,
                     const char *const *extra);
/* Both, with SCN freed. */
void fake_case_run(struct fake_case *c, char *scn, int connections, double hard_s, const char *const *fixed,
                   const char *const *extra);
void fake_case_done(struct fake_case *c);
/* stdout has (lacks) TEXT; the fake's log has TEXT; the fake exited STATUS. */
void fake_case_expect_out(struct fake_case *c, const char *text);
void fake_case_expect_no_out(struct fake_case *c, const char *text);
void fake_case_expect_log(struct fake_case *c, const char *text);
void fake_case_expect_fake_status(struct fake_case *c, int status);

#endif
