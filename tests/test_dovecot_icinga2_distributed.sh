#!/bin/sh
# tests/test_dovecot_icinga2_distributed.sh - distributed Icinga 2: a master
# schedules the probe, a satellite runs it (command_endpoint), with the very
# configuration README.md's section "Distributed Icinga 2 (command_endpoint
# on satellites)" shows (packaging/icinga2/distributed/).
#
# Run by `make check` through tests/run-test.sh, which starts the Dovecot
# fixture for test_dovecot* programs and exports its DOVECOT_* variables:
#
#   sh tests/run-test.sh tests/test_dovecot_icinga2_distributed.sh
#
# First, without Icinga: every file of packaging/icinga2/distributed/ is in
# README.md verbatim (the fenced block after "<!-- file: PATH -->"), and
# every such block matches its file, so the README and this test cannot
# drift apart.
#
# Then two Icinga 2 nodes run in the foreground of their own process groups:
# master1.example.org (zone "master") and satellite-berlin.example.org (zone
# "berlin", a child of "master"), each with a private configuration and
# private state, log and run directories under one temporary directory
# (nothing in /etc/icinga2 or /var/lib/icinga2), API listeners on free
# loopback ports, certificates from a CA made here with openssl.  As root
# both drop privileges to user nagios, as Debian's icinga2 does, and the
# extra-opts file is root:nagios 0640 as the README says; as another user
# they run as that user and the file is 0600.  Both nodes are stopped, and
# the directory removed, on every exit path.
#
# The README's files are used with these substitutions only: the master's
# address and port in the satellite's zones.conf (127.0.0.1, a free port),
# the listeners' bind address and port, the hosts' addresses (the fixture's
# 127.0.0.1, plus its IMAPS port and CA as host variables), the login name
# and password (the fixture's), and the extra-opts file's location
# ($MP_CONFIG_FILE instead of /etc/monitoring-plugins/monitoring-plugins.ini).
#
# What is checked, through the master's REST API (reschedule-check, then
# the service's last_check_result, polled with a bound):
#   - the shipped CheckCommand, in the master's zones.d/global-templates/,
#     reaches the satellite by config sync (accept_config);
#   - "imap from satellite-berlin.example.org" on mail.example.org
#     (credentials in the satellite's extra-opts file only): OK with the
#     probe's perfdata, check_source the satellite, `command` filled in
#     with the satellite's plugin path; the satellite's log shows the run,
#     the master's does not;
#   - the same on mail2.example.org, the password in the master's vars
#     (passed in the environment, on no logged command line);
#   - as nagios, an extra-opts file root:root 0600: UNKNOWN "Permission
#     denied" (the README's warning);
#   - a wrong password in the satellite's extra-opts file: CRITICAL at the
#     master, naming the auth step;
#   - a result the satellite did not produce (process-check-result, like
#     the master's own "not connected" UNKNOWN): check_source still names
#     the satellite, `command` is empty (how the README tells them apart);
#   - no password in either node's log.
# About 10 s; every wait is bounded, and all of them together by
# CIS_ICINGA2_TIMEOUT (default 60 s from the master's start: the first
# result, which includes the config sync and the satellite's reload, may
# take up to 40 s of it, every other one 20 s).
#
# Environment: PROBE (the binary), TOP_SRCDIR, DOVECOT_* (the fixture),
# CIS_REQUIRE_TOOLS=1 makes a missing icinga2 an error instead of a skip,
# CIS_KEEP_ICINGA2=1 keeps the temporary directory.
set -u
export LC_ALL=C

TOP_SRCDIR=${TOP_SRCDIR:-$(cd "$(dirname "$0")/.." && pwd)}
PROBE=${PROBE:-${TOP_BUILDDIR:-.}/check_imap_session}
README="$TOP_SRCDIR/README.md"
CONF="$TOP_SRCDIR/packaging/icinga2/check_imap_session.conf"
DIST="$TOP_SRCDIR/packaging/icinga2/distributed"
name=test_dovecot_icinga2_distributed
DEADLINE=${CIS_ICINGA2_TIMEOUT:-60}
FIRST_WAIT=40
NEXT_WAIT=20

MASTER=master1.example.org
SATELLITE=satellite-berlin.example.org
SERVICE="imap from $SATELLITE"

fail=0
bad() { echo "FAIL: $*"; fail=1; }

# ------------------------------------------------------------------ README == files
# The fenced block that follows "<!-- file: PATH -->" in README.md.
readme_block() {
	awk -v want="<!-- file: $1 -->" '
		$0 == want { armed = 1; next }
		armed && !inside && /^```/ { inside = 1; next }
		inside && /^```/ { exit }
		inside { print }
		armed && !inside && !/^```/ && $0 != "" { exit }
	' "$README"
}
for f in "$DIST"/*; do
	rel=packaging/icinga2/distributed/${f##*/}
	readme_block "$rel" > "${TMPDIR:-/tmp}/$name.$$.block"
	if [ ! -s "${TMPDIR:-/tmp}/$name.$$.block" ]; then
		bad "README.md does not show $rel (a fenced block after <!-- file: $rel -->)"
	elif ! cmp -s "$f" "${TMPDIR:-/tmp}/$name.$$.block"; then
		bad "README.md's copy of $rel differs from the file:"
		diff "$f" "${TMPDIR:-/tmp}/$name.$$.block" | head -n 20
	fi
	rm -f "${TMPDIR:-/tmp}/$name.$$.block"
done
grep -o '<!-- file: [^ ]* -->' "$README" | sed 's/<!-- file: \(.*\) -->/\1/' |
	while read -r rel; do
		[ -f "$TOP_SRCDIR/$rel" ] || echo "FAIL: README.md shows $rel, which does not exist"
	done > "${TMPDIR:-/tmp}/$name.$$.missing"
if [ -s "${TMPDIR:-/tmp}/$name.$$.missing" ]; then
	cat "${TMPDIR:-/tmp}/$name.$$.missing"
	fail=1
fi
rm -f "${TMPDIR:-/tmp}/$name.$$.missing"
[ $fail -eq 0 ] || exit 1
echo "ok: README.md shows every file of packaging/icinga2/distributed/ verbatim"

# ------------------------------------------------------------------ prerequisites
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
command -v openssl > /dev/null 2>&1 || skip_or_fail "openssl is missing"
command -v python3 > /dev/null 2>&1 || skip_or_fail "python3 is missing"
[ -n "${DOVECOT_IMAPS_PORT:-}" ] || {
	echo "$name: no Dovecot fixture; run it as: sh tests/run-test.sh $0"
	exit 99
}
[ -x "$PROBE" ] || { echo "$name: $PROBE is not built"; exit 99; }
"$PROBE" --help | grep -q -- '--extra-opts' || { echo "$name: the probe has no --extra-opts"; exit 99; }

tmp=$(mktemp -d "${TMPDIR:-/tmp}/cis-icinga2-dist.XXXXXX") || exit 99
chmod 0755 "$tmp"
M=$tmp/master
S=$tmp/satellite
mpid=
spid=

stop_node() { # DIR PID
	[ -n "$2" ] || return 0
	# The umbrella process (its pid file; the started pid unless setsid had
	# to fork) forwards TERM to its worker; all share the umbrella's process
	# group, which gets a KILL if anything is left after 10 s.
	upid=$(cat "$1/run/icinga2.pid" 2> /dev/null) || upid=
	[ -n "$upid" ] || upid=$2
	if kill -0 "$upid" 2> /dev/null; then
		kill -TERM "$upid" 2> /dev/null
		i=0
		while kill -0 "$upid" 2> /dev/null && [ $i -lt 100 ]; do
			sleep 0.1
			i=$((i + 1))
		done
	fi
	kill -KILL -- "-$upid" 2> /dev/null
	kill -KILL -- "-$2" 2> /dev/null
	wait "$2" 2> /dev/null
}
stop_all() {
	stop_node "$S" "$spid"
	spid=
	stop_node "$M" "$mpid"
	mpid=
}
# shellcheck disable=SC2317 # called by the EXIT trap
cleanup() {
	stop_all
	if [ "${CIS_KEEP_ICINGA2:-0}" = 1 ]; then
		echo "$name: kept $tmp"
	else
		rm -rf "$tmp"
	fi
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM
trap 'exit 129' HUP

# Who the nodes run as, and who may read the extra-opts file.
# (nagios must be able to reach the temporary directory: not so under a
# TMPDIR in root's home, for one.)
if [ "$(id -u)" = 0 ] && id nagios > /dev/null 2>&1 &&
	{ ! command -v runuser > /dev/null 2>&1 || runuser -u nagios -- test -x "$tmp"; }; then
	run_user=nagios
	run_group=$(id -gn nagios)
else
	echo "$name: NOTE: the nodes run as $(id -un), not as nagios"
	run_user=$(id -un)
	run_group=$(id -gn)
fi

for n in "$M" "$S"; do
	mkdir -p "$n/etc/zones.d" "$n/lib/certs" "$n/log" "$n/cache" "$n/spool" "$n/run" "$n/plugins"
done

# Free loopback ports for the two API listeners (the kernel's choice; the
# Dovecot fixture picks below the ephemeral range, so they cannot meet).
ports=$(python3 -c '
import socket
s = [socket.socket() for _ in range(2)]
for x in s:
    x.bind(("127.0.0.1", 0))
print(" ".join(str(x.getsockname()[1]) for x in s))
') || exit 99
mport=${ports% *}
sport=${ports#* }

# A string for the Icinga 2 DSL: backslash and quote escaped, and '$' doubled
# because custom variables are macro-expanded.
icinga_str() {
	printf '"%s"' "$(printf '%s' "$1" | sed -e 's/\\/\\\\/g' -e 's/"/\\"/g' -e 's/\$/$$/g')"
}
# A literal for the replacement side of a sed s/// command.
sed_repl() {
	printf '%s' "$1" | sed -e 's/[\\&|]/\\&/g'
}

# ------------------------------------------------------------------ certificates
(
	cd "$tmp" || exit 1
	openssl req -x509 -newkey rsa:2048 -nodes -keyout ca.key -out ca.crt -days 365 \
		-subj "/CN=Icinga CA (test)" -addext "basicConstraints=critical,CA:TRUE" \
		-addext "keyUsage=critical,keyCertSign,cRLSign" > pki.log 2>&1 || exit 1
	for node in $MASTER $SATELLITE; do
		printf 'basicConstraints=critical,CA:FALSE\nsubjectAltName=DNS:%s\n' "$node" > "$node.ext"
		openssl req -newkey rsa:2048 -nodes -keyout "$node.key" -out "$node.csr" \
			-subj "/CN=$node" >> pki.log 2>&1 || exit 1
		openssl x509 -req -in "$node.csr" -CA ca.crt -CAkey ca.key -CAcreateserial \
			-days 365 -sha256 -extfile "$node.ext" -out "$node.crt" >> pki.log 2>&1 || exit 1
	done
) || {
	cat "$tmp/pki.log"
	echo "$name: could not make the certificates"
	exit 99
}
cp "$tmp/ca.crt" "$tmp/$MASTER.crt" "$tmp/$MASTER.key" "$M/lib/certs/"
cp "$tmp/ca.crt" "$tmp/$SATELLITE.crt" "$tmp/$SATELLITE.key" "$S/lib/certs/"

# ------------------------------------------------------------------ the master
# The objects from the README: the CheckCommand moved to the global zone, the
# hosts and the apply rule in zones.d/master/.
mkdir -p "$M/etc/zones.d/global-templates" "$M/etc/zones.d/master"
cp "$CONF" "$M/etc/zones.d/global-templates/check_imap_session.conf"
cp "$DIST/master-zones.conf" "$M/etc/zones.conf"
# The Dovecot fixture's CA, where the satellite's nagios user can read it.
cp "$DOVECOT_CA" "$tmp/dovecot-ca.pem"
chmod 0644 "$tmp/dovecot-ca.pem"
hostvars="  vars.imap_session_port = $DOVECOT_IMAPS_PORT\\
  vars.imap_session_cafile = $(sed_repl "$(icinga_str "$tmp/dovecot-ca.pem")")"
sed -e "s|^\( *address = \)\"mail2*\.example\.org\".*|\1\"$DOVECOT_HOST\"\\
$hostvars|" \
	-e "s|\"probe@example\.org\"|$(sed_repl "$(icinga_str "$DOVECOT_USER")")|" \
	"$DIST/imap-hosts.conf" > "$M/etc/zones.d/master/imap-hosts.conf"
[ "$(grep -c "imap_session_port = $DOVECOT_IMAPS_PORT" "$M/etc/zones.d/master/imap-hosts.conf")" = 2 ] ||
	{ echo "$name: the hosts of imap-hosts.conf were not adapted (2 addresses expected)"; exit 99; }

api_pass=$(od -An -N12 -tx1 /dev/urandom | tr -d ' \n')
cat > "$M/etc/icinga2.conf" << EOF
/* the test's master: /etc/icinga2/icinga2.conf and constants.conf in one */
const NodeName = "$MASTER"
const ZoneName = "master"
const PluginDir = "$M/plugins"     // empty: the master must not run the probe
const ImapProbePassword = $(icinga_str "$DOVECOT_PASS")

include "zones.conf"
include <itl>
include <plugins>

object CheckerComponent "checker" { }
object ApiListener "api" {
  bind_host = "127.0.0.1"
  bind_port = $mport
}
object ApiUser "cis-test" {
  password = "$api_pass"
  permissions = [ "objects/query/Service", "objects/query/Endpoint", "actions/reschedule-check",
    "actions/process-check-result" ]
}
EOF

# ------------------------------------------------------------------ the satellite
sed -e "s|host = \"192\.0\.2\.10\"|host = \"127.0.0.1\"|" -e "s|port = 5665|port = $mport|" \
	"$DIST/satellite-zones.conf" > "$S/etc/zones.conf"
mkdir -p "$S/etc/features-enabled"
sed -e "s|^}\$|  bind_host = \"127.0.0.1\"\\
  bind_port = $sport\\
}|" "$DIST/satellite-api.conf" > "$S/etc/features-enabled/api.conf"
for f in "$S/etc/zones.conf" "$S/etc/features-enabled/api.conf"; do
	grep -q "$mport\|$sport" "$f" || { echo "$name: $f was not adapted"; exit 99; }
done
cat > "$S/etc/icinga2.conf" << EOF
/* the test's satellite: /etc/icinga2/icinga2.conf and constants.conf in one
 * (no conf.d: node setup --disable-confd) */
const NodeName = "$SATELLITE"
const ZoneName = "berlin"
const PluginDir = "$S/plugins"

include "zones.conf"
include <itl>
include <plugins>
include "features-enabled/*.conf"

object CheckerComponent "checker" { }
EOF
cp "$PROBE" "$S/plugins/check_imap_session"
chmod 0755 "$S/plugins/check_imap_session"

# The extra-opts file, on the satellite only.
INI_DIR=$S/etc/monitoring-plugins
INI=$INI_DIR/monitoring-plugins.ini
write_ini() { # PASSWORD [OWNER:GROUP MODE]
	sed -e "s|^username = .*|username = $(sed_repl "$DOVECOT_USER")|" \
		-e "s|^password = .*|password = $(sed_repl "$1")|" "$DIST/monitoring-plugins.ini" > "$INI.new"
	if [ $# -eq 3 ]; then
		chown "$2" "$INI.new" && chmod "$3" "$INI.new"
	elif [ "$run_user" = nagios ]; then
		chown root:"$run_group" "$INI.new" && chmod 0640 "$INI.new"
	else
		chmod 0600 "$INI.new"
	fi
	mv "$INI.new" "$INI"
}
mkdir -p "$INI_DIR"
if [ "$run_user" = nagios ]; then
	chown root:"$run_group" "$INI_DIR" && chmod 0750 "$INI_DIR"
else
	chmod 0700 "$INI_DIR"
fi
write_ini "$DOVECOT_PASS"
grep -q "^password = " "$INI" || { echo "$name: $INI has no password line"; exit 99; }

# State, log and run directories belong to the user the nodes run as.
for n in "$M" "$S"; do
	chown -R "$run_user:$run_group" "$n/lib" "$n/log" "$n/cache" "$n/spool" "$n/run"
	chmod 0700 "$n/lib/certs"
done

defines() { # DIR
	echo "-DConfigDir=$1/etc -DDataDir=$1/lib -DLogDir=$1/log -DCacheDir=$1/cache
 -DSpoolDir=$1/spool -DInitRunDir=$1/run -DPidPath=$1/run/icinga2.pid
 -DVarsPath=$1/cache/icinga2.vars -DObjectsPath=$1/cache/icinga2.debug
 -DStatePath=$1/lib/icinga2.state -DModAttrPath=$1/lib/modified-attributes.conf
 -DZonesDir=$1/etc/zones.d -DRunAsUser=$run_user -DRunAsGroup=$run_group"
}

# ------------------------------------------------------------------ the REST API client
cat > "$tmp/api.py" << 'EOF'
# The master's REST API: "up" waits for the listener; "run HOST SERVICE
# SECONDS" asks for a check now (reschedule-check, again every 3 s) and
# waits for a result the plugin produced after that (execution_start later,
# `command` filled in), printing its fields; exit 1 with the last result
# seen when none comes in time.  "passive HOST SERVICE OUTPUT" submits an
# UNKNOWN through process-check-result and prints what the master made of it.
import base64, json, os, ssl, sys, time, urllib.parse, urllib.request

base = "https://127.0.0.1:%s/v1" % os.environ["API_PORT"]
auth = base64.b64encode(("cis-test:" + os.environ["API_PASS"]).encode()).decode()
ctx = ssl.create_default_context(cafile=os.environ["API_CA"])
ctx.check_hostname = False      # the certificate names master1.example.org


def call(method, path, body=None):
    data = json.dumps(body).encode() if body is not None else None
    req = urllib.request.Request(base + path, data=data, method=method, headers={
        "Accept": "application/json", "Content-Type": "application/json",
        "Authorization": "Basic " + auth})
    with urllib.request.urlopen(req, context=ctx, timeout=5) as r:
        return json.load(r)


def up(limit):
    end = time.time() + limit
    while True:
        try:
            call("GET", "/objects/endpoints?attrs=connected")
            return 0
        except Exception as e:
            if time.time() > end:
                print("the master's API did not answer: %s" % e)
                return 1
            time.sleep(0.2)


def run(host, service, limit):
    t0 = time.time()
    end = t0 + limit
    # the query README.md shows: ?service=HOST!SERVICE&attrs=last_check_result
    path = "/objects/services?" + urllib.parse.urlencode(
        {"service": host + "!" + service, "attrs": "last_check_result"},
        quote_via=urllib.parse.quote)    # %20 for a space, as curl does: Icinga 2 reads no "+"
    asked = 0
    last = None
    while time.time() < end:
        if time.time() - asked >= 3:
            try:
                call("POST", "/actions/reschedule-check", {
                    "type": "Service", "force": True,
                    "filter": "host.name == h && service.name == s",
                    "filter_vars": {"h": host, "s": service}})
                asked = time.time()
            except Exception as e:
                last = {"output": "reschedule-check failed: %s" % e}
        try:
            cr = call("GET", path)["results"][0]["attrs"]["last_check_result"]
        except Exception as e:
            cr = {"output": "query failed: %s" % e}
        if cr:
            last = cr
            if cr.get("execution_start", 0) >= t0 and cr.get("command"):
                break
        time.sleep(0.2)
    else:
        print("timeout=%d" % limit)
        print("last=%s" % json.dumps(last))
        return 1
    print("state=%d" % cr["state"])
    print("check_source=%s" % cr.get("check_source", ""))
    print("command=%s" % " ".join(cr["command"]))
    print("perfdata= %s" % " ".join(cr.get("performance_data") or []))
    print("output=%s" % (cr.get("output") or "").split("\n")[0])
    return 0


def passive(host, service, output):
    call("POST", "/actions/process-check-result", {
        "type": "Service", "exit_status": 3, "plugin_output": output,
        "filter": "host.name == h && service.name == s",
        "filter_vars": {"h": host, "s": service}})
    path = "/objects/services?" + urllib.parse.urlencode(
        {"service": host + "!" + service, "attrs": "last_check_result"},
        quote_via=urllib.parse.quote)
    cr = call("GET", path)["results"][0]["attrs"]["last_check_result"]
    print("state=%d" % cr["state"])
    print("check_source=%s" % cr.get("check_source", ""))
    print("command=%s" % " ".join(cr.get("command") or []))
    print("output=%s" % (cr.get("output") or "").split("\n")[0])
    return 0


if sys.argv[1] == "up":
    sys.exit(up(float(sys.argv[2])))
if sys.argv[1] == "passive":
    sys.exit(passive(sys.argv[2], sys.argv[3], sys.argv[4]))
sys.exit(run(sys.argv[2], sys.argv[3], float(sys.argv[4])))
EOF
API_PORT=$mport
API_PASS=$api_pass
API_CA=$tmp/ca.crt
export API_PORT API_PASS API_CA

show_logs() {
	echo "--- last lines of the master's log"
	tail -n 30 "$tmp/master.log"
	echo "--- last lines of the satellite's log"
	tail -n 30 "$tmp/satellite.log"
	if [ -f "$S/lib/api/zones-stage/startup.log" ]; then
		echo "--- the satellite's config validation of the synced zones"
		tail -n 20 "$S/lib/api/zones-stage/startup.log"
	fi
}
alive() { # PID WHO
	kill -0 "$1" 2> /dev/null && return 0
	show_logs
	echo "FAIL: the $2 exited early"
	exit 1
}

# ------------------------------------------------------------------ start both nodes
start=$(date +%s)
# shellcheck disable=SC2046
setsid "$ICINGA2" daemon -c "$M/etc/icinga2.conf" $(defines "$M") -x notice \
	> "$tmp/master.log" 2>&1 < /dev/null &
mpid=$!
python3 "$tmp/api.py" up 20 || { alive "$mpid" master; show_logs; exit 1; }
alive "$mpid" master
# shellcheck disable=SC2046
MP_CONFIG_FILE=$INI setsid "$ICINGA2" daemon -c "$S/etc/icinga2.conf" $(defines "$S") -x notice \
	> "$tmp/satellite.log" 2>&1 < /dev/null &
spid=$!

field() { # RESULT KEY
	printf '%s\n' "$1" | sed -n "s/^$2=//p"
}
# check HOST WANT-STATE WAIT LABEL...: run the service of HOST now and
# check the result the master got from the satellite.
check() {
	host=$1 want=$2 wait=$3
	shift 3
	left=$((start + DEADLINE - $(date +%s)))
	[ "$wait" -le "$left" ] || wait=$left
	if [ "$wait" -le 0 ]; then
		show_logs
		echo "FAIL: the whole run took more than ${DEADLINE}s (CIS_ICINGA2_TIMEOUT)"
		exit 1
	fi
	if ! res=$(python3 "$tmp/api.py" run "$host" "$SERVICE" "$wait"); then
		printf '%s\n' "$res"
		show_logs
		echo "FAIL: $host!$SERVICE: no result from the satellite within ${wait}s"
		exit 1
	fi
	state=$(field "$res" state)
	output=$(field "$res" output)
	perf=$(field "$res" perfdata)
	[ "$state" = "$want" ] || bad "$host!$SERVICE: state $state, expected $want: $output"
	[ "$(field "$res" check_source)" = "$SATELLITE" ] ||
		bad "$host!$SERVICE: check_source '$(field "$res" check_source)', expected $SATELLITE"
	case $(field "$res" command) in
	"$S/plugins/check_imap_session "*) ;;
	*) bad "$host!$SERVICE: command '$(field "$res" command)' is not the satellite's plugin" ;;
	esac
	for label in "$@"; do
		case "$perf" in
		*" $label="* | *" '$label'="*) ;;
		*) bad "$host!$SERVICE: perfdata label '$label' missing in:$perf" ;;
		esac
	done
	echo "ok: $host!$SERVICE: state $state from $(field "$res" check_source): $output"
	echo "    command: $(field "$res" command)"
}

# 1. Credentials in the satellite's extra-opts file.  The first wait covers
# the satellite's start, the config sync and the reload it triggers.
check mail.example.org 0 "$FIRST_WAIT" connect tls greeting auth examine logout time messages unseen cert_days
case $(field "$res" command) in
*"'--extra-opts'"* | *" --extra-opts"*) ;;
*) bad "mail.example.org: the command line has no --extra-opts" ;;
esac
[ -f "$S/lib/api/zones/global-templates/_etc/check_imap_session.conf" ] ||
	bad "the CheckCommand did not arrive on the satellite by config sync"
echo "ok: the CheckCommand came by config sync; first result after $(($(date +%s) - start))s"

# 2. The password in the master's vars, across the satellite.
check mail2.example.org 0 "$NEXT_WAIT" connect tls auth examine logout time messages
case $(field "$res" command) in
*--password-env*CHECK_IMAP_SESSION_PASSWORD*) ;;
*) bad "mail2.example.org: the command line has no --password-env CHECK_IMAP_SESSION_PASSWORD" ;;
esac

# The satellite runs as the user the extra-opts file is meant for (it wrote
# the synced file).
owner=$(stat -c %U "$S/lib/api/zones/global-templates/_etc/check_imap_session.conf" 2> /dev/null)
[ "$owner" = "$run_user" ] || bad "the satellite runs as '$owner', expected $run_user"

# 3. As the README warns: root:root 0600 is UNKNOWN "Permission denied" for
# the nagios user (only when the nodes run as nagios).
if [ "$run_user" = nagios ]; then
	write_ini "$DOVECOT_PASS" root:root 0600
	check mail.example.org 3 "$NEXT_WAIT"
	case $output in
	*"Permission denied"*) ;;
	*) bad "an unreadable extra-opts file: the output does not say 'Permission denied': $output" ;;
	esac
fi

# 4. A wrong password on the satellite: CRITICAL at the master.
write_ini "not the password"
check mail.example.org 2 "$NEXT_WAIT" connect tls auth
case $output in
*auth*) ;;
*) bad "the wrong password's output does not name the auth step: $output" ;;
esac

# 5. What the README says about a result the satellite did not produce (as
# the master's own "Remote Icinga instance ... is not connected", which it
# only makes after five minutes up): check_source names the satellite all
# the same, `command` is empty.
fake="Remote Icinga instance '$SATELLITE' is not connected to '$MASTER'"
if res=$(python3 "$tmp/api.py" passive mail.example.org "$SERVICE" "$fake"); then
	[ "$(field "$res" output)" = "$fake" ] || bad "the passive result did not arrive: $res"
	[ "$(field "$res" check_source)" = "$SATELLITE" ] ||
		bad "a result the satellite did not produce: check_source '$(field "$res" check_source)', the README says $SATELLITE"
	[ -z "$(field "$res" command)" ] ||
		bad "a result the satellite did not produce has a command: $(field "$res" command)"
	echo "ok: a result the satellite did not run: check_source $(field "$res" check_source), command empty"
else
	printf '%s\n' "$res"
	bad "process-check-result failed"
fi

alive "$mpid" master
alive "$spid" satellite
stop_all

# The satellite ran the plugin, the master never did.
grep -q "Running command '$S/plugins/check_imap_session'" "$tmp/satellite.log" ||
	bad "the satellite's log shows no run of check_imap_session"
if grep -q "Running command '[^']*check_imap_session'" "$tmp/master.log"; then
	bad "the master's log shows a run of check_imap_session"
fi
for secret in "$DOVECOT_PASS" "not the password"; do
	if grep -qF -- "$secret" "$tmp/master.log" "$tmp/satellite.log"; then
		bad "a password appears in an Icinga log"
	fi
done

if [ $fail -ne 0 ]; then
	show_logs
	exit 1
fi
echo "PASS: master and satellite ran the README's configuration in $(($(date +%s) - start))s"
exit 0
