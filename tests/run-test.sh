#!/bin/sh
# tests/run-test.sh - the automake LOG_COMPILER for every test program:
#
#   sh tests/run-test.sh ./tests/test_foo [args...]
#
# Test programs named test_dovecot* or test_e2e* run inside a throwaway
# Dovecot (tests/dovecot/fixture.sh) started in a fresh temporary state
# directory; its env file (DOVECOT_* variables) is exported to the test, and
# the fixture is stopped afterwards, also on failure or interrupt.  Those
# named test_e2e_delivery* also get a Postfix (tests/postfix/fixture.sh)
# that authenticates through that Dovecot and delivers to it by LMTP
# (POSTFIX_* variables; needs root and Debian's postfix, else a skip).
# Every other test program simply runs.  The exit status is the test's (77 = skip,
# 99 = hard error, as the automake test harness understands them).
#
# Environment:
#   TOP_SRCDIR        source tree (set by Makefile.am; default: this script's ..)
#   CIS_KEEP_FIXTURE  set to 1 to keep the state directory (config, logs, mail)
#   CIS_REQUIRE_DOVECOT  set to 1 to make a missing dovecot a hard error
#                     instead of a skip (CI sets it)
#   TMPDIR            where the state directory is created (default /tmp)

if [ $# -lt 1 ]; then
	echo "usage: $0 TEST-PROGRAM [ARGS...]" >&2
	exit 99
fi

# A shell test script that lost its executable bit still runs.
if [ "${1%.sh}" != "$1" ] && [ ! -x "$1" ]; then
	set -- bash "$@"
	prog=$2
else
	prog=$1
fi

case ${prog##*/} in
test_dovecot* | test_e2e*) ;;
*) exec "$@" ;;
esac

if [ -z "${TOP_SRCDIR:-}" ]; then
	TOP_SRCDIR=$(cd "$(dirname "$0")/.." && pwd)
	export TOP_SRCDIR
fi
fixture="$TOP_SRCDIR/tests/dovecot/fixture.sh"
name=${prog##*/}

if ! command -v dovecot > /dev/null 2>&1 && [ ! -x /usr/sbin/dovecot ]; then
	echo "$name: dovecot is not installed (apt-get install dovecot-imapd)" >&2
	if [ "${CIS_REQUIRE_DOVECOT:-0}" = 1 ]; then exit 99; fi
	echo "$name: SKIP (set CIS_REQUIRE_DOVECOT=1 to make this an error)" >&2
	exit 77
fi
if ! command -v bash > /dev/null 2>&1; then
	echo "$name: bash is needed by $fixture" >&2
	exit 99
fi

if [ -n "${PROBE:-}" ] && [ ! -x "$PROBE" ]; then
	echo "$name: the probe $PROBE does not exist or is not executable" >&2
	exit 99
fi

mta=0
case $name in test_e2e_delivery*) mta=1 ;; esac
if [ $mta = 1 ]; then
	why=
	[ "$(id -u)" = 0 ] || why="needs root (Postfix's master runs as root)"
	[ -x /usr/sbin/postfix ] || why="postfix is not installed (tools/install-deps.sh)"
	[ -x /usr/lib/dovecot/lmtp ] || why="Dovecot's LMTP is not installed (apt-get install dovecot-lmtpd)"
	if [ -n "$why" ]; then
		echo "$name: $why" >&2
		if [ "${CIS_REQUIRE_DOVECOT:-0}" = 1 ]; then exit 99; fi
		echo "$name: SKIP (set CIS_REQUIRE_DOVECOT=1 to make this an error)" >&2
		exit 77
	fi
	CIS_DOVECOT_MTA=1
	export CIS_DOVECOT_MTA
fi
pfixture="$TOP_SRCDIR/tests/postfix/fixture.sh"

statedir=$(mktemp -d "${TMPDIR:-/tmp}/cis-$name.XXXXXX") || exit 99

show_logs() { # LINES
	for f in "$statedir"/dovecot-*.log "$statedir"/oauth/dovecot-oauth.log "$statedir"/oauth/tokenserver.out; do
		[ -f "$f" ] || continue
		echo "----- last $1 lines of $f"
		tail -n "$1" "$f"
	done
	if [ -f "$statedir/postfix/maillog" ]; then
		echo "----- last $1 lines of $statedir/postfix/maillog"
		tail -n "$1" "$statedir/postfix/maillog"
	fi
}

cleanup() {
	trap '' INT TERM HUP
	if [ $mta = 1 ]; then
		bash "$pfixture" stop "$statedir" || echo "$name: Postfix fixture stop FAILED (see above)" >&2
	fi
	if [ -f "$statedir/oauth/env" ] || [ -f "$statedir/oauth/tokenserver.pid" ]; then
		bash "$TOP_SRCDIR/tests/oauth/fixture.sh" stop "$statedir/oauth" ||
			echo "$name: OAuth fixture stop FAILED (see above)" >&2
	fi
	bash "$fixture" stop "$statedir" || echo "$name: fixture stop FAILED (see above)" >&2
	if [ "${CIS_KEEP_FIXTURE:-0}" = 1 ]; then
		echo "$name: fixture state kept in $statedir" >&2
	else
		rm -rf "$statedir"
	fi
}

if ! bash "$fixture" start "$statedir"; then
	echo "$name: could not start the Dovecot fixture" >&2
	show_logs 40 >&2
	cleanup
	exit 99
fi
if [ $mta = 1 ] && ! bash "$pfixture" start "$statedir"; then
	echo "$name: could not start the Postfix fixture" >&2
	show_logs 40 >&2
	cleanup
	exit 99
fi
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM
trap 'exit 129' HUP

set -a
. "$statedir/env"
if [ $mta = 1 ]; then . "$statedir/postfix/env"; fi
set +a

# test_dovecot_oauth*: also the token server and the Dovecot oauth2 instance
# (tests/oauth/fixture.sh), which the other tests never see.
case $name in
test_dovecot_oauth*)
	if ! "${CIS_PYTHON:-/usr/bin/python3}" -c 'import authlib, jwt, cryptography' 2> /dev/null; then
		echo "$name: python3-authlib/python3-jwt missing (tools/install-deps.sh)" >&2
		if [ "${CIS_REQUIRE_DOVECOT:-0}" = 1 ]; then exit 99; fi
		exit 77
	fi
	if ! DOVECOT_STATEDIR="$statedir" bash "$TOP_SRCDIR/tests/oauth/fixture.sh" start "$statedir/oauth"; then
		echo "$name: could not start the OAuth fixture" >&2
		tail -n 20 "$statedir/oauth/tokenserver.out" "$statedir/oauth/dovecot-oauth.log" >&2 2> /dev/null
		exit 99
	fi
	set -a
	. "$statedir/oauth/env"
	set +a
	;;
esac

"$@"
rc=$?
if [ $rc -ne 0 ] && [ $rc -ne 77 ]; then
	echo "$name: exit status $rc; Dovecot fixture logs follow" >&2
	show_logs 60 >&2
fi
exit $rc
