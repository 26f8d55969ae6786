#!/bin/sh
# tests/test_nagios.sh - packaging/nagios/check_imap_session.cfg is a valid
# Nagios 4 object configuration: `nagios4 -v` on a minimal main
# configuration (private temporary directory, nothing of /etc/nagios4 used)
# that loads it next to the few objects it expects to exist (generic-host and
# generic-service templates, a time period, a contact, one host in the
# imap-servers hostgroup).  Errors and warnings both fail the test.
#
# Environment: PROBE (the binary; $USER1$ is its directory), TOP_SRCDIR,
# CIS_REQUIRE_TOOLS=1 makes a missing nagios4 an error instead of a skip.
set -u
export LC_ALL=C

TOP_SRCDIR=${TOP_SRCDIR:-$(cd "$(dirname "$0")/.." && pwd)}
PROBE=${PROBE:-${TOP_BUILDDIR:-.}/check_imap_session}
CFG="$TOP_SRCDIR/packaging/nagios/check_imap_session.cfg"
name=test_nagios

NAGIOS=$(command -v nagios4 || echo /usr/sbin/nagios4)
if [ ! -x "$NAGIOS" ]; then
	echo "$name: nagios4 is not installed (apt-get install nagios4-core)"
	[ "${CIS_REQUIRE_TOOLS:-0}" = 1 ] && exit 99
	echo "$name: SKIP (set CIS_REQUIRE_TOOLS=1 to make this an error)"
	exit 77
fi
[ -f "$CFG" ] || { echo "$name: $CFG is missing"; exit 99; }
[ -x "$PROBE" ] || { echo "$name: $PROBE is not built"; exit 99; }
plugindir=$(cd "$(dirname "$PROBE")" && pwd)

tmp=$(mktemp -d "${TMPDIR:-/tmp}/cis-nagios.XXXXXX") || exit 99
trap 'rm -rf "$tmp"' EXIT
mkdir -p "$tmp/spool" "$tmp/rw"

cat > "$tmp/resource.cfg" << EOF
\$USER1\$=$plugindir
EOF
cat > "$tmp/site.cfg" << 'EOF'
define timeperiod {
    timeperiod_name 24x7
    alias           always
    sunday          00:00-24:00
    monday          00:00-24:00
    tuesday         00:00-24:00
    wednesday       00:00-24:00
    thursday        00:00-24:00
    friday          00:00-24:00
    saturday        00:00-24:00
}
define command {
    command_name    notify-none
    command_line    /bin/true
}
define command {
    command_name    check-host-alive
    command_line    /bin/true
}
define contact {
    contact_name                  admin
    host_notifications_enabled    0
    service_notifications_enabled 0
    host_notification_period      24x7
    service_notification_period   24x7
    host_notification_options     n
    service_notification_options  n
    host_notification_commands    notify-none
    service_notification_commands notify-none
}
define contactgroup {
    contactgroup_name admins
    alias             admins
    members           admin
}
define host {
    name                  generic-host
    check_command         check-host-alive
    max_check_attempts    1
    check_period          24x7
    notification_period   24x7
    notification_interval 0
    contact_groups        admins
    register              0
}
define service {
    name                  generic-service
    check_period          24x7
    notification_period   24x7
    notification_interval 0
    max_check_attempts    1
    check_interval        5
    retry_interval        1
    contact_groups        admins
    register              0
}
define host {
    use          generic-host
    host_name    mail1
    address      127.0.0.1
    hostgroups   imap-servers
}
EOF
cat > "$tmp/nagios.cfg" << EOF
log_file=$tmp/nagios.log
cfg_file=$tmp/site.cfg
cfg_file=$CFG
resource_file=$tmp/resource.cfg
object_cache_file=$tmp/objects.cache
precached_object_file=$tmp/objects.precache
status_file=$tmp/status.dat
temp_file=$tmp/nagios.tmp
temp_path=$tmp
lock_file=$tmp/nagios.pid
command_file=$tmp/rw/nagios.cmd
check_result_path=$tmp/spool
state_retention_file=$tmp/retention.dat
nagios_user=$(id -un)
nagios_group=$(id -gn)
use_syslog=0
check_for_updates=0
illegal_macro_output_chars=\`~\$&|'"<>
EOF

"$NAGIOS" -v "$tmp/nagios.cfg" > "$tmp/verify.out" 2>&1
rc=$?
fail=0
if [ $rc -ne 0 ]; then
	echo "FAIL: nagios4 -v exited $rc"
	fail=1
fi
grep -Eq '^Total Warnings: +0$' "$tmp/verify.out" || { echo "FAIL: nagios4 -v reports warnings"; fail=1; }
grep -Eq '^Total Errors: +0$' "$tmp/verify.out" || { echo "FAIL: nagios4 -v reports errors"; fail=1; }
for want in "Checked 3 services" "Checked 5 commands"; do
	grep -q "$want" "$tmp/verify.out" || { echo "FAIL: expected '$want' in the nagios4 -v output"; fail=1; }
done
if [ $fail -ne 0 ]; then
	cat "$tmp/verify.out"
	exit 1
fi

# The plugin named in every command line is the one we built.
grep -E '^ *command_line' "$CFG" | grep -v '\$USER1\$/check_imap_session ' &&
	{ echo "FAIL: a command line does not run \$USER1\$/check_imap_session"; exit 1; }

grep -E 'Checked|Total' "$tmp/verify.out"
echo "PASS: nagios4 -v accepts packaging/nagios/check_imap_session.cfg"
exit 0
