#!/bin/sh
# demo.sh - see check_imap_session work, from a clean clone on Debian 12.
#
# Installs what is missing (build tools, OpenSSL headers, dovecot-imapd; needs
# root or sudo only then), builds the probe in ./build-demo, starts a
# throwaway Dovecot on free loopback ports (tests/dovecot/fixture.sh: nothing
# is changed in the system's own Dovecot), runs the probe against it in
# several ways, printing each command and its output, and stops Dovecot again.
# As root with Debian's postfix installed, a throwaway Postfix
# (tests/postfix/fixture.sh) joins it for an end-to-end delivery check.
#
#   ./demo.sh            build directory ./build-demo
#   CIS_DEMO_BUILD=DIR ./demo.sh
set -eu

top=$(cd "$(dirname "$0")" && pwd)
build=${CIS_DEMO_BUILD:-$top/build-demo}
jobs=$(nproc 2> /dev/null || echo 2)

if [ -t 1 ]; then
	say() { printf '\n\033[1m=== %s\033[0m\n' "$*"; }
else
	say() { printf '\n=== %s\n' "$*"; }
fi

# ------------------------------------------------------------ dependencies
say "dependencies"
if [ -x "$top/tools/install-deps.sh" ] || [ -f "$top/tools/install-deps.sh" ]; then
	sh "$top/tools/install-deps.sh"
else
	missing=
	for p in build-essential autoconf automake pkg-config libssl-dev dovecot-imapd openssl; do
		dpkg-query -W -f='${Status}' "$p" 2> /dev/null | grep -q "ok installed" || missing="$missing $p"
	done
	if [ -n "$missing" ]; then
		SUDO=
		[ "$(id -u)" -eq 0 ] || SUDO=sudo
		$SUDO env DEBIAN_FRONTEND=noninteractive apt-get update -qq
		$SUDO env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq $missing
	fi
fi
echo "all there"

# ------------------------------------------------------------ build
say "build (in $build)"
cd "$top"
if [ ! -x configure ] || [ configure.ac -nt configure ] || [ Makefile.am -nt Makefile.in ]; then
	echo "autoreconf -fi"
	autoreconf -fi > "$top/autoreconf.out" 2>&1 || { cat "$top/autoreconf.out"; exit 1; }
	rm -f "$top/autoreconf.out"
fi
mkdir -p "$build"
cd "$build"
if [ ! -f Makefile ] || [ "$top/configure" -nt Makefile ]; then
	echo "$top/configure"
	"$top/configure" > configure.out 2>&1 || { cat configure.out; exit 1; }
	sed -n '/check_imap_session [0-9]/,$p' configure.out
fi
echo "make"
make -j"$jobs" > make.out 2>&1 || { tail -40 make.out; exit 1; }
probe="$build/check_imap_session"
"$probe" --version || true

# ------------------------------------------------------------ Dovecot
say "a throwaway Dovecot on loopback"
state=$(mktemp -d "${TMPDIR:-/tmp}/cis-demo.XXXXXX")
# Postfix for the delivery check: root only, with postfix and Dovecot's LMTP
mta=0
if [ "$(id -u)" = 0 ] && [ -x /usr/sbin/postfix ] && [ -x /usr/lib/dovecot/lmtp ]; then
	mta=1
	CIS_DOVECOT_MTA=1
	export CIS_DOVECOT_MTA
fi
stop_dovecot() {
	trap '' INT TERM
	if [ $mta = 1 ]; then
		say "stopping Postfix"
		bash "$top/tests/postfix/fixture.sh" stop "$state" || true
	fi
	say "stopping Dovecot"
	bash "$top/tests/dovecot/fixture.sh" stop "$state" && rm -rf "$state"
}
trap stop_dovecot EXIT
trap 'exit 130' INT
trap 'exit 143' TERM
bash "$top/tests/dovecot/fixture.sh" start "$state"
. "$state/env"
echo "users: $DOVECOT_USER (password in \$DOVECOT_PASS), $DOVECOT_AWKWARD_USER, master user $DOVECOT_MASTER_USER"
echo "INBOX: $DOVECOT_INBOX_MESSAGES messages, $DOVECOT_INBOX_UNSEEN unseen; CA: $DOVECOT_CA"
echo "log: $DOVECOT_LOG"
if [ $mta = 1 ]; then
	say "a throwaway Postfix beside it (SASL through Dovecot, delivery by LMTP)"
	bash "$top/tests/postfix/fixture.sh" start "$state"
	. "$state/postfix/env"
fi

# ------------------------------------------------------------ the probe
# show the command (with the probe's short name), run it, show the exit status
run() {
	what=$1
	shift
	say "$what"
	printf '$ check_imap_session'
	for a in "$@"; do
		case $a in
		*[!A-Za-z0-9_./:,@=+-]* | '') printf " '%s'" "$a" ;;
		*) printf ' %s' "$a" ;;
		esac
	done
	printf '\n'
	rc=0
	"$probe" "$@" || rc=$?
	echo "[exit status $rc]"
}

H="-H 127.0.0.1"
run "plain IMAP LOGIN (only because --auth login says so: the password crosses the network in the clear)" \
	$H -p "$DOVECOT_IMAP_PORT" -U "$DOVECOT_USER" --password-env DOVECOT_PASS --auth login

run "implicit TLS (IMAPS), verified against the test CA, strongest SASL mechanism" \
	$H -p "$DOVECOT_IMAPS_PORT" --ssl --cafile "$DOVECOT_CA" -U "$DOVECOT_USER" --password-env DOVECOT_PASS

run "STARTTLS on the plain port, with certificate expiry thresholds (days)" \
	$H -p "$DOVECOT_IMAP_PORT" --starttls --cafile "$DOVECOT_CA" -U "$DOVECOT_USER" \
	--password-env DOVECOT_PASS -D 30,7

export DEMO_WRONG_PASSWORD=not-the-password
run "a wrong password: CRITICAL with the server's own words" \
	$H -p "$DOVECOT_IMAPS_PORT" --ssl --cafile "$DOVECOT_CA" -U "$DOVECOT_USER" \
	--password-env DEMO_WRONG_PASSWORD

run "a certificate that expires in $DOVECOT_SOON_DAYS days against -D 10,3: WARNING" \
	$H -p "$DOVECOT_IMAPS_SOON_PORT" --ssl --cafile "$DOVECOT_CA" -U "$DOVECOT_USER" \
	--password-env DOVECOT_PASS -D 10,3

run "-vvv: the whole protocol trace, credentials redacted" \
	$H -p "$DOVECOT_IMAP_PORT" --starttls --cafile "$DOVECOT_CA" -U "$DOVECOT_USER" \
	--password-env DOVECOT_PASS --auth plain -vvv

mkdir -p "$state/capcache"
for n in first second; do
	run "--pipeline --cache-dir, $n run (the first learns what Dovecot lists after login, the second sends SEARCH RETURN (SAVE) + FETCH \$ with the login: see round_trips)" \
		$H -p "$DOVECOT_IMAPS_PORT" --ssl --cafile "$DOVECOT_CA" -U "$DOVECOT_USER" \
		--password-env DOVECOT_PASS --auth plain --search UNSEEN --pipeline --cache-dir "$state/capcache" -v
done

if [ $mta = 1 ]; then
	run "end-to-end delivery: submit a probe message through Postfix (STARTTLS, AUTH), time its arrival in the IDLEing mailbox, delete it" \
		$H -p "$DOVECOT_IMAPS_PORT" --ssl --cafile "$DOVECOT_CA" -U "$DOVECOT_USER" --password-env DOVECOT_PASS \
		--deliver-via 127.0.0.1 --smtp-port "$POSTFIX_SUBMISSION_PORT" --smtp-starttls \
		--rcpt-to "$DOVECOT_USER@$POSTFIX_DOMAIN" --delivery-warning 5 --delivery-critical 20 -v
else
	say "end-to-end delivery (--deliver-via): skipped, needs root and Debian's postfix"
fi

say "done: exit codes 0/1/2/3 are OK/WARNING/CRITICAL/UNKNOWN"
