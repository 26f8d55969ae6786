#!/bin/bash
# tests/oauth/fixture.sh - the OAuth 2 side of the test suite: a real token
# endpoint (tokenserver.py: Authlib, TLS, signed JWTs, introspection) and a
# Dovecot instance that validates those tokens with its oauth2 passdb.
#
#   fixture.sh start STATEDIR   needs a running Dovecot fixture
#                               (tests/dovecot/fixture.sh) whose env file is
#                               $DOVECOT_STATEDIR/env; writes STATEDIR/env
#   fixture.sh stop STATEDIR    stop both, verify nothing is left
#
# The main fixture is not touched: this is one more Dovecot instance (own
# instance name, base_dir, ports) that offers only XOAUTH2 and OAUTHBEARER
# and whose only passdb is oauth2, sharing the main fixture's users, mail and
# certificates.  tests/run-test.sh starts it for test programs named
# test_dovecot_oauth*.  OAUTH_HOSTILE_URL is a scripted hostile endpoint
# (hostile.py: huge body, endless chunks, no access_token, slow drip...).
# Clients (tests/oauth/tokenserver.py explains the
# file), all for the mailbox user of the main fixture:
#   probe         secret in OAUTH_CLIENT_SECRET, client_secret_post or basic
#   probe-basic   client_secret_basic only
#   short         tokens live 3 s
#   refused       tokens Dovecot refuses (introspection says inactive)
# Refresh tokens for (probe, user) are in OAUTH_REFRESH_TOKEN_FILE and
# OAUTH_REFRESH_TOKEN_FILE_2 (0600; one each for tests that run in parallel).
set -eu
export LC_ALL=C
me=${0##*/}
here=$(cd "$(dirname "$0")" && pwd)
DOVECOT=${DOVECOT:-$(command -v dovecot || echo /usr/sbin/dovecot)}
# Debian's python3 (with python3-authlib), not one earlier in PATH; CIS_PYTHON overrides.
PYTHON=${CIS_PYTHON:-/usr/bin/python3}

die() { echo "$me: $*" >&2; exit 1; }
log() { [ -n "${CIS_FIXTURE_QUIET:-}" ] || echo "$me: $*" >&2; }
usage() { sed -n '2,9s/^# \{0,1\}//p' "$0" >&2; exit 2; }

shq() { printf "'%s'" "$(printf '%s' "$1" | sed "s/'/'\\\\''/g")"; }

alive() {
	local st
	st=$({ cat "/proc/$1/stat"; } 2> /dev/null) || return 1
	st=${st##*) }
	[ "${st%% *}" != Z ]
}

# pids of the Dovecot instance $1 (instance_name) with config $2
instance_pids() {
	local name=$1 conf=$2 p cmd args
	for p in /proc/[0-9]*; do
		{ mapfile -d '' -t args < "$p/cmdline"; } 2> /dev/null || continue
		cmd="${args[*]:-}"
		case $cmd in
		"dovecot-$name/"* | *" -c $conf" | *" -c $conf "*) echo "${p#/proc/}" ;;
		esac
	done
}

free_port() { # a free loopback port from the kernel
	"$PYTHON" -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'
}

cmd_start() {
	[ $# -eq 1 ] || usage
	[ -n "${DOVECOT_STATEDIR:-}" ] && [ -f "$DOVECOT_STATEDIR/env" ] ||
		die "DOVECOT_STATEDIR must name a running Dovecot fixture"
	"$PYTHON" -c 'import authlib, jwt, cryptography' 2> /dev/null ||
		die "python3-authlib, python3-jwt and python3-cryptography are needed (tools/install-deps.sh)"
	mkdir -p "$1"
	STATEDIR=$(cd "$1" && pwd)
	local main_conf="$DOVECOT_STATEDIR/dovecot-main.conf" certdir
	certdir=$(sed -n "s/^export DOVECOT_CERTDIR='\(.*\)'$/\1/p" "$DOVECOT_STATEDIR/env")
	[ -f "$certdir/server.pem" ] || die "no certificates in $certdir"
	local user secret
	user=$(sed -n "s/^export DOVECOT_USER='\(.*\)'$/\1/p" "$DOVECOT_STATEDIR/env")
	secret="cs-$(head -c 18 /dev/urandom | base64 | tr '+/' '-_')"
	local rt="rt-seed-$(head -c 18 /dev/urandom | base64 | tr '+/' '-_')"
	local rt2="rt-seed2-$(head -c 18 /dev/urandom | base64 | tr '+/' '-_')"
	umask 077
	cat > "$STATEDIR/clients.json" <<EOF
{"probe": {"secret": "$secret", "user": "$user"},
 "probe-basic": {"secret": "$secret", "user": "$user", "auth": ["client_secret_basic"]},
 "short": {"secret": "$secret", "user": "$user", "expires_in": 3},
 "refused": {"secret": "$secret", "user": "$user", "active": false}}
EOF
	printf '{"%s": {"client": "probe", "user": "%s", "scope": "imap"},\n "%s": {"client": "probe", "user": "%s", "scope": "imap"}}\n' \
		"$rt" "$user" "$rt2" "$user" > "$STATEDIR/refresh-tokens.json"
	printf '%s\n' "$rt" > "$STATEDIR/refresh-token"
	printf '%s\n' "$rt2" > "$STATEDIR/refresh-token-2"
	printf '%s\n' "$secret" > "$STATEDIR/client-secret"
	umask 022

	# --- the token server (never through a pipe: it keeps stdout open)
	rm -f "$STATEDIR/port"
	"$PYTHON" "$here/tokenserver.py" --cert "$certdir/server.pem" --key "$certdir/server.key" \
		--state "$STATEDIR" > "$STATEDIR/tokenserver.out" 2>&1 < /dev/null &
	echo $! > "$STATEDIR/tokenserver.pid"
	local i
	for i in $(seq 1 200); do
		[ -f "$STATEDIR/port" ] && break
		alive "$(cat "$STATEDIR/tokenserver.pid")" || { cat "$STATEDIR/tokenserver.out" >&2; die "token server died"; }
		sleep 0.05
	done
	[ -f "$STATEDIR/port" ] || die "token server did not come up in 10 s"
	local tport
	tport=$(cat "$STATEDIR/port")
	# --- the hostile endpoint (hostile.py): misbehaviour chosen by path
	rm -f "$STATEDIR/hostile-port"
	"$PYTHON" "$here/hostile.py" --cert "$certdir/server.pem" --key "$certdir/server.key" \
		--state "$STATEDIR" > "$STATEDIR/hostile.out" 2>&1 < /dev/null &
	echo $! > "$STATEDIR/hostile.pid"
	for i in $(seq 1 200); do
		[ -f "$STATEDIR/hostile-port" ] && break
		sleep 0.05
	done
	[ -f "$STATEDIR/hostile-port" ] || { cat "$STATEDIR/hostile.out" >&2; die "hostile endpoint did not come up"; }

	# --- Dovecot with the oauth2 passdb, derived from the main instance's
	# config: same users, mail, TLS and privilege settings; new name, dirs,
	# ports, mechanisms and passdb.
	local rundir="$STATEDIR/run" name port
	[ ${#rundir} -le 60 ] || { rundir=$(mktemp -d /tmp/cis-oauth.XXXXXX); printf '%s\n' "$rundir" > "$STATEDIR/rundir"; }
	mkdir -p "$rundir/state"
	chmod 755 "$rundir" "$STATEDIR"
	name="cisoauth$(printf '%05d' $((RANDOM % 100000)))$$"
	cat > "$STATEDIR/dovecot-oauth2.conf.ext" <<EOF
# Tokens are validated by RFC 7662 introspection at the suite's token server.
introspection_mode = post
introspection_url = https://127.0.0.1:$tport/introspect
force_introspection = yes
username_attribute = sub
active_attribute = active
active_value = true
tls_ca_cert_file = $certdir/ca.pem
timeout_msecs = 5000
EOF
	for i in 1 2 3 4 5; do
		port=$(free_port)
		"$PYTHON" - "$main_conf" "$STATEDIR/dovecot-oauth.conf" "$name" "$rundir" "$STATEDIR" "$port" <<'PY'
import re, sys
src, dst, name, rundir, statedir, port = sys.argv[1:]
c = open(src).read()
def setting(key, value):
    global c
    c = re.sub(r'(?m)^%s = .*$' % re.escape(key), lambda m: '%s = %s' % (key, value), c)
setting('instance_name', name)
setting('base_dir', rundir + '/base')
setting('state_dir', rundir + '/state')
for k in ('log_path', 'info_log_path', 'debug_log_path'):
    setting(k, statedir + '/dovecot-oauth.log')
setting('auth_mechanisms', 'xoauth2 oauthbearer')
setting('auth_master_user_separator', '')
# every passdb goes; the only one left is oauth2
c = re.sub(r'(?ms)^passdb \{.*?^\}\n', '', c)
c = c.replace('userdb {', 'passdb {\n  driver = oauth2\n  mechanisms = xoauth2 oauthbearer\n  args = %s/dovecot-oauth2.conf.ext\n}\nuserdb {' % statedir, 1)
# one listener: imaps on the new port, no plain imap
c = re.sub(r'(?ms)^service imap-login \{\n  inet_listener imap \{.*?^\}\n',
           'service imap-login {\n  inet_listener imap {\n    port = 0\n  }\n  inet_listener imaps {\n    port = %s\n    ssl = yes\n  }\n}\n' % port, c)
c = c.replace('listen = 127.0.0.1, ::1', 'listen = 127.0.0.1')
open(dst, 'w').write(c)
PY
		grep -q "port = $port" "$STATEDIR/dovecot-oauth.conf" || die "could not derive the Dovecot config"
		if "$DOVECOT" -c "$STATEDIR/dovecot-oauth.conf" > "$STATEDIR/dovecot-oauth.out" 2>&1 < /dev/null; then
			break
		fi
		grep -q "Address already in use" "$STATEDIR/dovecot-oauth.out" || {
			cat "$STATEDIR/dovecot-oauth.out" >&2
			cmd_stop "$STATEDIR" || true
			die "Dovecot (oauth2) did not start"
		}
	done
	local out=
	for i in $(seq 1 100); do
		out=$(printf 'a LOGOUT\r\n' | timeout 3 openssl s_client -connect "127.0.0.1:$port" -quiet 2> /dev/null) || true
		case $out in "* OK"*) break ;; esac
		sleep 0.05
	done
	case $out in "* OK"*) ;; *) tail -n 20 "$STATEDIR/dovecot-oauth.log" >&2 || true; cmd_stop "$STATEDIR" || true; die "Dovecot (oauth2) does not answer on $port" ;; esac
	cp "$rundir/base/master.pid" "$STATEDIR/dovecot-oauth.pid"
	{
		e() { printf 'export %s=%s\n' "$1" "$(shq "$2")"; }
		e OAUTH_STATEDIR "$STATEDIR"
		e OAUTH_FIXTURE "$here/fixture.sh"
		e OAUTH_TOKEN_URL "https://127.0.0.1:$tport/token"
		e OAUTH_TOKEN_PORT "$tport"
		e OAUTH_CLIENT_ID probe
		e OAUTH_CLIENT_SECRET_FILE "$STATEDIR/client-secret"
		e OAUTH_REFRESH_TOKEN_FILE "$STATEDIR/refresh-token"
		e OAUTH_REFRESH_TOKEN_FILE_2 "$STATEDIR/refresh-token-2"
		e OAUTH_SCOPE imap
		e OAUTH_USER "$user"
		e OAUTH_REQUEST_LOG "$STATEDIR/requests.log"
		e OAUTH_CA "$certdir/ca.pem"
		e OAUTH_IMAPS_PORT "$port"
		e OAUTH_DOVECOT_LOG "$STATEDIR/dovecot-oauth.log"
		e OAUTH_HOSTILE_URL "https://127.0.0.1:$(cat "$STATEDIR/hostile-port")"
	} > "$STATEDIR/env.tmp"
	mv "$STATEDIR/env.tmp" "$STATEDIR/env"
	log "token server on $tport, Dovecot (oauth2) imaps on $port ($STATEDIR/env)"
}

cmd_stop() {
	[ $# -eq 1 ] || usage
	STATEDIR=$(cd "$1" && pwd)
	local pid conf="$STATEDIR/dovecot-oauth.conf" name pids i
	local which
	for which in tokenserver hostile; do
		[ -f "$STATEDIR/$which.pid" ] || continue
		pid=$(cat "$STATEDIR/$which.pid")
		if alive "$pid" && grep -q "$which.py" "/proc/$pid/cmdline" 2> /dev/null; then
			kill -TERM "$pid" 2> /dev/null || true
			for i in $(seq 1 40); do alive "$pid" || break; sleep 0.05; done
			! alive "$pid" || kill -KILL "$pid" 2> /dev/null || true
		fi
	done
	name=$(sed -n 's/^instance_name = //p' "$conf" 2> /dev/null || true)
	if [ -n "$name" ]; then
		pid=$(cat "$STATEDIR/dovecot-oauth.pid" 2> /dev/null || true)
		[ -z "$pid" ] || kill -TERM "$pid" 2> /dev/null || true
		for i in $(seq 1 60); do
			pids=$(instance_pids "$name" "$conf")
			[ -n "$pids" ] || break
			sleep 0.05
		done
		[ -z "$pids" ] || kill -KILL $pids 2> /dev/null || true
		sleep 0.1
		[ -z "$(instance_pids "$name" "$conf")" ] || die "Dovecot (oauth2) processes left"
	fi
	if [ -f "$STATEDIR/rundir" ]; then rm -rf "$(cat "$STATEDIR/rundir")"; rm -f "$STATEDIR/rundir"; fi
	return 0
}

[ $# -ge 1 ] || usage
cmd=$1
shift
case $cmd in
start) cmd_start "$@" ;;
stop) cmd_stop "$@" ;;
*) usage ;;
esac
