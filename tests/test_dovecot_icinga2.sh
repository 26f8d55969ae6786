#!/bin/sh
# tests/test_dovecot_icinga2.sh - a real Icinga 2 runs the probe through the
# shipped CheckCommand (packaging/icinga2/check_imap_session.conf) against
# the suite's Dovecot, and we read the results back from its PerfdataWriter.
#
# Run by `make check` through tests/run-test.sh, which starts the Dovecot
# fixture for test_dovecot* programs and exports its DOVECOT_* variables:
#
#   sh tests/run-test.sh tests/test_dovecot_icinga2.sh
#
# Icinga 2 runs in the foreground of its own process group with a private
# configuration and private state, log, spool and run directories under a
# temporary directory (no system service, nothing in /etc or /var), as the
# calling user (root in CI).  It is stopped, and the temporary directory
# removed, on every exit path.  Bounded: about 5 s normally, 45 s at most.
#
# What is checked:
#   - the CheckCommand and the example Service apply rules validate;
#   - STARTTLS with the password from vars (through --password-env and the
#     environment: the password, which has '$', quotes and a backslash,
#     must never appear on a logged command line): OK, and every expected
#     perfdata label is there;
#   - implicit TLS with --password-file and thresholds: OK;
#   - --extra-opts with an ini section (when the probe supports it): OK;
#   - a wrong password: CRITICAL naming the auth step.
#
# Environment: PROBE (the binary), TOP_SRCDIR, DOVECOT_* (the fixture),
# CIS_REQUIRE_TOOLS=1 makes a missing icinga2 an error instead of a skip.
set -u
export LC_ALL=C

TOP_SRCDIR=${TOP_SRCDIR:-$(cd "$(dirname "$0")/.." && pwd)}
PROBE=${PROBE:-${TOP_BUILDDIR:-.}/check_imap_session}
CONF="$TOP_SRCDIR/packaging/icinga2/check_imap_session.conf"
EXAMPLE="$TOP_SRCDIR/packaging/icinga2/example-service.conf"
name=test_dovecot_icinga2
DEADLINE=${CIS_ICINGA2_TIMEOUT:-45}

skip_or_fail() {
	echo "$name: $*"
	if [ "${CIS_REQUIRE_TOOLS:-0}" = 1 ]; then exit 99; fi
	echo "$name: SKIP (set CIS_REQUIRE_TOOLS=1 to make this an error)"
	exit 77
}

ICINGA2=$(command -v icinga2 || echo /usr/sbin/icinga2)
[ -x "$ICINGA2" ] || skip_or_fail "icinga2 is not installed (apt-get install icinga2-bin icinga2-common)"
[ -d /usr/share/icinga2/include ] || skip_or_fail "the Icinga Template Library is missing (apt-get install icinga2-common)"
command -v setsid > /dev/null 2>&1 || skip_or_fail "setsid (util-linux) is missing"
[ -n "${DOVECOT_IMAP_PORT:-}" ] || {
	echo "$name: no Dovecot fixture; run it as: sh tests/run-test.sh $0"
	exit 99
}
[ -x "$PROBE" ] || { echo "$name: $PROBE is not built"; exit 99; }
PROBE=$(cd "$(dirname "$PROBE")" && pwd)/$(basename "$PROBE")

tmp=$(mktemp -d "${TMPDIR:-/tmp}/cis-icinga2.XXXXXX") || exit 99
chmod 0755 "$tmp"
pid=

stop_icinga() {
	[ -n "$pid" ] || return 0
	# The umbrella process (its pid file; $pid unless setsid had to fork)
	# forwards TERM to its worker; both and the helpers share one process
	# group, the umbrella's, which gets a KILL if anything is left after 10 s.
	upid=$(cat "$tmp/run/icinga2.pid" 2> /dev/null) || upid=
	[ -n "$upid" ] || upid=$pid
	if kill -0 "$upid" 2> /dev/null; then
		kill -TERM "$upid" 2> /dev/null
		i=0
		while kill -0 "$upid" 2> /dev/null && [ $i -lt 100 ]; do
			sleep 0.1
			i=$((i + 1))
		done
	fi
	kill -KILL -- "-$upid" 2> /dev/null
	wait "$pid" 2> /dev/null
	pid=
}
cleanup() {
	stop_icinga
	if [ "${CIS_KEEP_ICINGA2:-0}" = 1 ]; then
		echo "$name: kept $tmp"
	else
		rm -rf "$tmp"
	fi
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

mkdir -p "$tmp/etc" "$tmp/lib" "$tmp/log" "$tmp/cache" "$tmp/spool" "$tmp/run"

# A string for the Icinga 2 DSL: backslash and quote escaped, and '$' doubled
# because custom variables are macro-expanded.
icinga_str() {
	printf '"%s"' "$(printf '%s' "$1" | sed -e 's/\\/\\\\/g' -e 's/"/\\"/g' -e 's/\$/$$/g')"
}

pwfile="$tmp/password"
printf '%s\n' "$DOVECOT_PASS" > "$pwfile"
chmod 0600 "$pwfile"
cat > "$tmp/probe.ini" << EOF
# extra-opts for the Icinga 2 test
[icinga_test]
username = $DOVECOT_USER
password-file = $pwfile
cafile = $DOVECOT_CA
EOF
extra_opts=false
if "$PROBE" --help | grep -q -- '--extra-opts'; then
	extra_opts=true
else
	echo "$name: NOTE: the probe has no --extra-opts yet; that service is left out"
fi

run_user=$(id -un)
run_group=$(id -gn)
D="-DConfigDir=$tmp/etc -DDataDir=$tmp/lib -DLogDir=$tmp/log -DCacheDir=$tmp/cache
 -DSpoolDir=$tmp/spool -DInitRunDir=$tmp/run -DPidPath=$tmp/run/icinga2.pid
 -DVarsPath=$tmp/cache/icinga2.vars -DObjectsPath=$tmp/cache/icinga2.debug
 -DStatePath=$tmp/lib/icinga2.state -DModAttrPath=$tmp/lib/modified-attributes.conf
 -DZonesDir=$tmp/etc/zones.d -DRunAsUser=$run_user -DRunAsGroup=$run_group"

# ------------------------------------------------------------------ validate the example
cat > "$tmp/etc/example.conf" << EOF
const PluginDir = "$(dirname "$PROBE")"
include <itl>
include <plugins>
include "$CONF"
template Host "generic-host" { check_command = "dummy" }
template Service "generic-service" { max_check_attempts = 1 }
const ImapProbePassword = "x"
object Host "mail1.example.org" {
  import "generic-host"
  address = "mail1.example.org"
  vars.imap_session = {
    "IMAPS" = { ssl = true }
    "IMAP STARTTLS" = { starttls = true, port = 143 }
  }
  vars.imap_session_username = "probe@example.org"
  vars.imap_session_password = ImapProbePassword
  vars.imap_session_delivery_probe = true
}
include "$EXAMPLE"
EOF
# shellcheck disable=SC2086
"$ICINGA2" daemon -C -c "$tmp/etc/example.conf" $D > "$tmp/validate-example.log" 2>&1 || {
	cat "$tmp/validate-example.log"
	echo "FAIL: the example Service apply rules do not validate"
	exit 1
}
grep -q "Instantiated 3 Services" "$tmp/validate-example.log" || {
	cat "$tmp/validate-example.log"
	echo "FAIL: the example apply rules should create 3 services"
	exit 1
}
echo "ok: CheckCommand and example-service.conf validate (3 services)"

# ------------------------------------------------------------------ the live configuration
ca=$(icinga_str "$DOVECOT_CA")
cat > "$tmp/etc/icinga2.conf" << EOF
const PluginDir = "$(dirname "$PROBE")"
include <itl>
include <plugins>
include "$CONF"

object CheckerComponent "checker" { }
object PerfdataWriter "perfdata" {
  host_perfdata_path = "$tmp/spool/host-perfdata"
  service_perfdata_path = "$tmp/spool/service-perfdata"
  host_temp_path = "$tmp/spool/host-perfdata.tmp"
  service_temp_path = "$tmp/spool/service-perfdata.tmp"
  service_format_template = "RESULT\tSERVICE::\$service.name\$\tSTATE::\$service.state_id\$\tPERFDATA::\$service.perfdata\$\tOUTPUT::\$service.output\$"
  rotation_interval = 1s
}

object Host "dovecot" {
  check_command = "dummy"
  enable_active_checks = false
  address = "$DOVECOT_HOST"
}

template Service "probe" {
  host_name = "dovecot"
  check_command = "imap_session"
  max_check_attempts = 1
  check_interval = 3s
  retry_interval = 3s
  vars.imap_session_timeout = 10
}

object Service "starttls-password-env" {
  import "probe"
  vars.imap_session_port = $DOVECOT_IMAP_PORT
  vars.imap_session_starttls = true
  vars.imap_session_cafile = $ca
  vars.imap_session_username = $(icinga_str "$DOVECOT_AWKWARD_USER")
  vars.imap_session_password = $(icinga_str "$DOVECOT_AWKWARD_PASS")
  vars.imap_session_certificate = "1,0"
}

object Service "imaps-password-file" {
  import "probe"
  vars.imap_session_port = $DOVECOT_IMAPS_PORT
  vars.imap_session_ssl = true
  vars.imap_session_cafile = $ca
  vars.imap_session_username = $(icinga_str "$DOVECOT_USER")
  vars.imap_session_password_file = $(icinga_str "$pwfile")
  vars.imap_session_mailbox = "INBOX"
  vars.imap_session_warning = 8
  vars.imap_session_critical = 9
}

object Service "bad-password" {
  import "probe"
  vars.imap_session_port = $DOVECOT_IMAPS_PORT
  vars.imap_session_ssl = true
  vars.imap_session_cafile = $ca
  vars.imap_session_username = $(icinga_str "$DOVECOT_USER")
  vars.imap_session_password = "not the password"
}
EOF
if $extra_opts; then
	cat >> "$tmp/etc/icinga2.conf" << EOF

object Service "extra-opts" {
  import "probe"
  vars.imap_session_port = $DOVECOT_IMAPS_PORT
  vars.imap_session_ssl = true
  vars.imap_session_extra_opts = $(icinga_str "icinga_test@$tmp/probe.ini")
}
EOF
fi

# shellcheck disable=SC2086
"$ICINGA2" daemon -C -c "$tmp/etc/icinga2.conf" $D > "$tmp/validate.log" 2>&1 || {
	cat "$tmp/validate.log"
	echo "FAIL: the test configuration does not validate"
	exit 1
}

# shellcheck disable=SC2086
setsid "$ICINGA2" daemon -c "$tmp/etc/icinga2.conf" $D -x notice > "$tmp/daemon.log" 2>&1 < /dev/null &
pid=$!

services="starttls-password-env imaps-password-file bad-password"
$extra_opts && services="$services extra-opts"

# The newest result of service $1: its first line (the plugin's long output
# follows on lines of its own) in the snapshot of the perfdata files that
# Icinga has rotated (complete; the temporary file is not, and Icinga
# truncates it when it stops).
snapshot() {
	cat "$tmp"/spool/service-perfdata.[0-9]* > "$tmp/results" 2> /dev/null
}
result() {
	grep -a "^RESULT	SERVICE::$1	" "$tmp/results" | tail -n 1
}

start=$(date +%s)
while :; do
	snapshot
	missing=
	for s in $services; do
		[ -n "$(result "$s")" ] || missing="$missing $s"
	done
	[ -z "$missing" ] && break
	if ! kill -0 "$pid" 2> /dev/null; then
		tail -n 40 "$tmp/daemon.log"
		echo "FAIL: icinga2 exited early"
		exit 1
	fi
	if [ $(($(date +%s) - start)) -ge "$DEADLINE" ]; then
		tail -n 60 "$tmp/daemon.log"
		echo "FAIL: no result within ${DEADLINE}s for:$missing"
		exit 1
	fi
	sleep 0.2
done
stop_icinga
echo "ok: Icinga 2 ran every service in $(($(date +%s) - start))s"

fail=0
field() { # LINE KEY
	printf '%s\n' "$1" | tr '\t' '\n' | sed -n "s/^$2:://p"
}
expect() { # SERVICE STATE LABEL...
	svc=$1 want=$2
	shift 2
	line=$(result "$svc")
	state=$(field "$line" STATE)
	output=$(field "$line" OUTPUT)
	perf=$(field "$line" PERFDATA)
	if [ "$state" != "$want" ]; then
		echo "FAIL: $svc: state $state, expected $want: $output"
		fail=1
		return
	fi
	for label in "$@"; do
		case " $perf" in
		*" $label="* | *" '$label'="*) ;;
		*)
			echo "FAIL: $svc: perfdata label '$label' missing in: $perf"
			fail=1
			;;
		esac
	done
	echo "ok: $svc: state $state: $output"
}

expect starttls-password-env 0 resolve connect greeting starttls tls auth examine logout time messages unseen cert_days
expect imaps-password-file 0 resolve connect tls greeting auth examine logout time messages unseen
$extra_opts && expect extra-opts 0 connect tls auth examine time messages
expect bad-password 2 connect tls auth
case $(field "$(result bad-password)" OUTPUT) in
*auth*) ;;
*)
	echo "FAIL: bad-password: the output does not name the auth step"
	fail=1
	;;
esac

# The password went through the environment: never on a command line.
grep -q -- "--password-env' 'CHECK_IMAP_SESSION_PASSWORD'" "$tmp/daemon.log" || {
	echo "FAIL: no --password-env CHECK_IMAP_SESSION_PASSWORD on the logged command lines"
	fail=1
}
for secret in "$DOVECOT_AWKWARD_PASS" "not the password"; do
	if grep -qF -- "$secret" "$tmp/daemon.log"; then
		echo "FAIL: a password appears in Icinga's log (command line)"
		fail=1
	fi
done

if [ $fail -ne 0 ]; then
	echo "--- last lines of the Icinga 2 log"
	tail -n 30 "$tmp/daemon.log"
	exit 1
fi
echo "PASS: Icinga 2 CheckCommand end to end"
exit 0
