#!/bin/bash
# tests/dovecot/fixture.sh - a throwaway Dovecot for the test suite.
#
#   fixture.sh start [--fresh] STATEDIR   write config + mail into STATEDIR, start
#                                         Dovecot on free loopback ports, write
#                                         STATEDIR/env (shell "export" lines)
#   fixture.sh stop STATEDIR              stop every instance started there and
#                                         verify that none of its processes remain
#   fixture.sh adduser STATEDIR USER PASS add a user with the standard seeded mail
#                                         (for tests that change mailbox state)
#   fixture.sh status STATEDIR            exit 0 if the fixture there is running
#
# One STATEDIR holds one fixture; fixtures in different STATEDIRs are fully
# independent (own ports, base_dirs, instance names) and may run in parallel.
# "start" always seeds from scratch; it refuses a STATEDIR whose fixture is
# still running unless --fresh is given (which stops it first).
#
# Five Dovecot instances share one passwd-file and one mail tree:
#   main      imap (plain, STARTTLS offered) + imaps, certificate server.pem
#   expired   imaps with expired.pem      (valid 2020-01-01 .. 2021-01-01)
#   wrongname imaps with wrongname.pem    (SAN DNS:other.example only)
#   soon      imaps with soon.pem         (expires 5 days after generation)
#   plainonly imap offering only PLAIN and LOGIN; on 127.0.0.2 it also says
#             LOGINDISABLED before STARTTLS
# See README.md beside this file for the users, the mail and the variables.
# Dovecot 2.3 can pick a certificate by local IP or SNI name but not by port,
# so one instance per certificate keeps every listener on 127.0.0.1, where the
# certificates' IP SAN matches.
#
# Root: Dovecot runs its usual privilege-separated way (login processes as
# dovenull, auth as dovecot) and the mail belongs to an unprivileged mail user
# ($CIS_MAIL_USER, default nobody).  Non-root: everything runs as the caller.
#
# Environment knobs: CIS_MAIL_USER (root only), CIS_CERTDIR (reuse certificates
# made by tests/certs/mkcerts.sh instead of generating them), DOVECOT (path of
# the dovecot binary), CIS_FIXTURE_TIMEOUT (start-up bound, seconds, default 10),
# CIS_DOVECOT_MTA=1 (root only: the main instance also speaks LMTP and offers
# its auth service on unix sockets owned by user postfix, for the Postfix of
# tests/postfix/fixture.sh; nothing changes without it).
set -eu
[ -z "${CIS_FIXTURE_XTRACE:-}" ] || { PS4='+ $EPOCHREALTIME '; set -x; }
export LC_ALL=C

me=${0##*/}
here=$(cd "$(dirname "$0")" && pwd)
srcdir=$(cd "$here/../.." && pwd)
DOVECOT=${DOVECOT:-$(command -v dovecot || echo /usr/sbin/dovecot)}
INSTANCES="main expired wrongname soon plainonly"
MARKER=.cis-dovecot-fixture

die() { echo "$me: $*" >&2; exit 1; }
log() { [ -n "${CIS_FIXTURE_QUIET:-}" ] || echo "$me: $*" >&2; }

# ------------------------------------------------------------------ fixed data
# Users (passwd-file, {PLAIN} so every SASL mechanism works).
USER_NAME=user
USER_PASS=secret
# Quotes, backslash, spaces, UTF-8, '$' and something that looks like an IMAP
# literal.  No ':' (the passwd-file field separator), no control characters.
AWKWARD_NAME=awkward
AWKWARD_PASS='pä$s "w\0rd" {5} ü'
LONG_NAME=longpass
LONG_PASS=$(for i in 0 1 2 3 4 5 6 7 8 9; do printf 'Long-Pass-%s_abcdefghijklmnopqrstuvwxyz0123456789!#%%&*' "$i"; done)
MASTER_NAME=master
MASTER_PASS='m@ster secret'
MASTER_SEP='*'
QUOTA_NAME=quotauser
QUOTA_PASS=quota
QUOTA_MESSAGES=20
QUOTA_STORAGE_KB=1024
CLIENTCERT_NAME=probe-client   # CN of tests/certs client.pem, for EXTERNAL
MECHANISMS="plain login cram-md5 digest-md5 scram-sha-1 scram-sha-256 external"

# Seeded INBOX: 5 messages, 3 seen (1-3), 2 unseen (4-5).
INBOX_MESSAGES=5
INBOX_UNSEEN=2
USER_MESSAGES=10   # all folders: what the quota counts
# Fixed internal dates (file mtimes) of messages 1-4; message 5 gets "now - 60".
D1=1704099600   # 2024-01-01 09:00:00 UTC
D2=1704193200   # 2024-01-02 11:00:00 UTC
D3=1704294000   # 2024-01-03 15:00:00 UTC
D4=1704369600   # 2024-01-04 12:00:00 UTC
SUBJ1='Welcome to the probe test mailbox'
SUBJ2='Quarterly report (multipart)'
SUBJ3_RAW='=?UTF-8?B?R3LDvMOfZSBhdXMgS8O2bG4=?='
SUBJ3='Grüße aus Köln'
SUBJ4='Unseen: please read'
SUBJ5='Newest message'
SPACE_FOLDER='Folder With Space'
SPACE_FOLDER_MESSAGES=2
UTF8_FOLDER='Entwürfe'
UTF8_FOLDER_MUTF7='Entw&APw-rfe'
UTF8_FOLDER_MESSAGES=1
EMPTY_FOLDER='Empty'
CHILD_FOLDER='Archive/2024'

# ------------------------------------------------------------------ helpers
shq() { # shell-quote $1 with single quotes
	printf "'%s'" "$(printf '%s' "$1" | sed "s/'/'\\\\''/g")"
}

abspath() {
	case $1 in /*) printf '%s\n' "$1" ;; *) printf '%s/%s\n' "$(pwd)" "$1" ;; esac
}

# Ports with a listener (or any socket) on this host, from /proc (no ss/python).
used_ports() {
	local sl local_addr rest
	cat /proc/net/tcp /proc/net/tcp6 2> /dev/null |
		while read -r sl local_addr rest; do
			case $local_addr in *:*) echo $((16#${local_addr##*:})) ;; esac
		done
}

# pick_port VAR: a port in 20000-32767 (below Linux's ephemeral range) that
# is not in use right now and not picked before.  Races with other processes
# are handled by retrying the instance's start with new ports.
pick_port() {
	local p
	[ -n "${USED_PORTS:-}" ] || USED_PORTS=" $(used_ports | tr '\n' ' ') "
	while :; do
		p=$((20000 + (RANDOM * 32768 + RANDOM) % 12768))
		case "$USED_PORTS $PICKED " in *" $p "*) continue ;; esac
		PICKED="$PICKED $p"
		printf -v "$1" '%s' "$p"
		return
	done
}

ipv6_lo() { grep -q '^00000000000000000000000000000001 ' /proc/net/if_inet6 2>/dev/null; }

# pids of every process belonging to Dovecot instance $1 (instance_name) with
# config file $2, found by the titles Dovecot gives its children
# ("dovecot-NAME/auth", "dovecot-NAME/imap")
# and by the master's command line (it names our config file).
instance_pids() {
	local name=$1 conf=$2 p cmd args
	for p in /proc/[0-9]*; do
		# builtins only: this loop must stay cheap with hundreds of processes
		{ mapfile -d '' -t args < "$p/cmdline"; } 2> /dev/null || continue
		cmd="${args[*]:-}"
		case $cmd in
		"dovecot-$name/"* | *" -c $conf" | *" -c $conf "*) echo "${p#/proc/}" ;;
		esac
	done
}

# ------------------------------------------------------------------ mail
# write_msg DIR NAME-BASE FLAGS MTIME  (message text on stdin)
write_msg() {
	local dir=$1 base=$2 flags=$3 mtime=$4 f
	f="$dir/cur/$base:2,$flags"
	cat > "$f"
	touch -d "@$mtime" "$f"
}

rfcdate() { date -u -R -d "@$1"; }

seed_inbox() { # MAILDIR NOW
	local md=$1 now=$2 d5=$(($2 - 60))
	mkdir -p "$md/cur" "$md/new" "$md/tmp"
	write_msg "$md" "$D1.M1P1.cis" S "$D1" <<EOF
Return-Path: <alice@example.org>
Date: $(rfcdate "$D1")
From: Alice Example <alice@example.org>
To: Test User <user@example.org>
Subject: $SUBJ1
Message-ID: <seed-1@cis.test>
MIME-Version: 1.0
Content-Type: text/plain; charset=us-ascii

Hello,

this mailbox is seeded by tests/dovecot/fixture.sh.
EOF
	write_msg "$md" "$D2.M2P1.cis" S "$D2" <<EOF
Return-Path: <bob@example.org>
Date: $(rfcdate "$D2")
From: Bob Example <bob@example.org>
To: Test User <user@example.org>
Subject: $SUBJ2
Message-ID: <seed-2@cis.test>
MIME-Version: 1.0
Content-Type: multipart/mixed; boundary="=-cis-boundary-42"

This is a multi-part message in MIME format.

--=-cis-boundary-42
Content-Type: text/plain; charset=utf-8
Content-Transfer-Encoding: 8bit

The report is attached.  Grüße, Bob

--=-cis-boundary-42
Content-Type: text/csv; name="report.csv"
Content-Disposition: attachment; filename="report.csv"
Content-Transfer-Encoding: base64

cXVhcnRlcixyZXZlbnVlClExLDEwMApRMiwxMjAKUTMsOTAKUTQsMTUwCg==

--=-cis-boundary-42--
EOF
	write_msg "$md" "$D3.M3P1.cis" S "$D3" <<EOF
Return-Path: <carol@example.de>
Date: $(rfcdate "$D3")
From: =?UTF-8?Q?Carol_M=C3=BCller?= <carol@example.de>
To: Test User <user@example.org>
Subject: $SUBJ3_RAW
Message-ID: <seed-3@cis.test>
MIME-Version: 1.0
Content-Type: text/plain; charset=utf-8
Content-Transfer-Encoding: 8bit

Viele Grüße aus Köln!
EOF
	write_msg "$md" "$D4.M4P1.cis" "" "$D4" <<EOF
Return-Path: <dave@example.org>
Date: $(rfcdate "$D4")
From: Dave Example <dave@example.org>
To: Test User <user@example.org>
Subject: $SUBJ4
Message-ID: <seed-4@cis.test>
MIME-Version: 1.0
Content-Type: text/plain; charset=us-ascii

This message has not been read yet.
EOF
	write_msg "$md" "$d5.M5P1.cis" "" "$d5" <<EOF
Return-Path: <erin@example.org>
Date: $(rfcdate "$d5")
From: Erin Example <erin@example.org>
To: Test User <user@example.org>
Subject: $SUBJ5
Message-ID: <seed-5@cis.test>
MIME-Version: 1.0
Content-Type: text/plain; charset=us-ascii

The newest message; its internal date is the fixture's start minus 60 s.
EOF
}

folder() { # MAILDIR DISKNAME
	mkdir -p "$1/.$2/cur" "$1/.$2/new" "$1/.$2/tmp"
	: > "$1/.$2/maildirfolder"
}

simple_msg() { # MAILDIR DISKNAME N SUBJECT FLAGS MTIME
	local dir="$1/.$2"
	write_msg "$dir" "$6.M$3P2.cis" "$5" "$6" <<EOF
Date: $(rfcdate "$6")
From: Test User <user@example.org>
To: Someone <someone@example.org>
Subject: $4
Message-ID: <folder-$3@cis.test>
MIME-Version: 1.0
Content-Type: text/plain; charset=utf-8

Seeded folder message $3.
EOF
}

# The standard mail of every user, written once per fixture into
# $RUNDIR/template and copied (with its mtimes: the internal dates) per user.
seed_template() { # DIR NOW
	local md="$1/Maildir"
	mkdir -p "$1"
	seed_inbox "$md" "$2"
	for f in Sent Trash Drafts Junk Archive Archive.2024 "$SPACE_FOLDER" \
		"$UTF8_FOLDER_MUTF7" "$EMPTY_FOLDER"; do
		folder "$md" "$f"
	done
	simple_msg "$md" Sent 1 'Re: Welcome' S "$D2"
	simple_msg "$md" Archive 2 'Archived message' S "$D1"
	simple_msg "$md" "$SPACE_FOLDER" 3 'First in a folder with spaces' S "$D1"
	simple_msg "$md" "$SPACE_FOLDER" 4 'Second in a folder with spaces' "" "$D3"
	simple_msg "$md" "$UTF8_FOLDER_MUTF7" 5 'Entwurf: Grüße' D "$D4"
	printf 'Sent\nTrash\nDrafts\nJunk\nArchive\n%s\n' "$SPACE_FOLDER" > "$md/subscriptions"
}

seed_user() { # HOME
	mkdir -p "${1%/*}"
	cp -a "$RUNDIR/template" "$1"
	if [ -n "$MAIL_CHOWN" ]; then chown -R "$MAIL_CHOWN" "$1"; fi
}

passwd_line() { # NAME PASS [EXTRA]
	printf '%s:{PLAIN}%s:%s:%s::%s/home/%s::%s\n' "$1" "$2" "$MAIL_UID" "$MAIL_GID" \
		"$RUNDIR" "$1" "${3:-}"
}

# ------------------------------------------------------------------ config
# write_conf INSTANCE LISTENER-BLOCK CERT [MECHANISMS [EXTRA-SETTINGS]]
write_conf() {
	local inst=$1 listeners=$2 cert=$3 mechs=${4:-$MECHANISMS} extra=${5:-}
	local conf="$STATEDIR/dovecot-$1.conf" mta_proto= mta_conf=
	if [ "$inst" = main ] && [ -n "${MTA_CONF:-}" ]; then
		mta_proto=" lmtp"
		mta_conf=$MTA_CONF
	fi
	cat > "$conf" <<EOF
# Generated by tests/dovecot/fixture.sh - throwaway, do not edit.
instance_name = $INSTANCE_PREFIX-$inst
base_dir = $RUNDIR/base-$inst
state_dir = $RUNDIR/state-$inst
log_path = $STATEDIR/dovecot-$inst.log
info_log_path = $STATEDIR/dovecot-$inst.log
debug_log_path = $STATEDIR/dovecot-$inst.log
protocols = imap$mta_proto
listen = $LISTEN
shutdown_clients = yes
version_ignore = yes
$USERS_CONF
first_valid_uid = $MAIL_UID
first_valid_gid = 1

ssl = yes
ssl_cert = <$CERTDIR/$cert.pem
ssl_key = <$CERTDIR/$cert.key
$DH_CONF
# Ask for (never require) a client certificate, so EXTERNAL can be tested.
ssl_ca = <$CERTDIR/ca.pem
ssl_verify_client_cert = yes
ssl_require_crl = no
auth_ssl_username_from_cert = yes
ssl_cert_username_field = commonName

# Plaintext auth on the plain port is allowed: the probe must refuse it by
# itself unless told otherwise, and tests check that.
disable_plaintext_auth = no
auth_mechanisms = $mechs
auth_failure_delay = 0
auth_verbose = yes
auth_verbose_passwords = no
auth_master_user_separator = $MASTER_SEP
passdb {
  driver = passwd-file
  args = $RUNDIR/master-users
  master = yes
  pass = yes
}
# EXTERNAL: the user is the client certificate's CN (verified against ssl_ca);
# the userdb must still know it.
passdb {
  driver = static
  args = nopassword=y
  mechanisms = external
}
passdb {
  driver = passwd-file
  args = $RUNDIR/passwd
}
userdb {
  driver = passwd-file
  args = $RUNDIR/passwd
}

mail_location = maildir:~/Maildir
mail_max_userip_connections = 200
mail_plugins = quota
protocol imap {
  mail_plugins = \$mail_plugins imap_quota
}
plugin {
  quota = maildir:User quota
  quota_rule = *:storage=10M:messages=1000
}
namespace inbox {
  inbox = yes
  separator = /
  mailbox Sent {
    special_use = \\Sent
  }
  mailbox Trash {
    special_use = \\Trash
  }
  mailbox Drafts {
    special_use = \\Drafts
  }
  mailbox Junk {
    special_use = \\Junk
  }
  mailbox Archive {
    special_use = \\Archive
  }
}

# Failed logins must not slow down later ones (Dovecot's per-IP penalty).
service anvil {
  unix_listener anvil-auth-penalty {
    mode = 0
  }
}
$SERVICE_CONF
service imap-login {
$listeners
}
$extra
$mta_conf
EOF
}

# ------------------------------------------------------------------ start
start_instance() { # INSTANCE  -> 0 ok, 2 port in use, 1 other failure
	local inst=$1 conf="$STATEDIR/dovecot-$1.conf" out rc=0
	mkdir -p "$RUNDIR/state-$inst"
	# Never capture the master's output through a pipe: it keeps the inherited
	# stdout open for its whole life.
	"$DOVECOT" -c "$conf" > "$STATEDIR/dovecot-$inst.out" 2>&1 < /dev/null || rc=$?
	if [ "$rc" -ne 0 ]; then
		out=$(cat "$STATEDIR/dovecot-$inst.out")
		case $out in *"Address already in use"*) return 2 ;; esac
		return 1
	fi
	return 0
}

# Wait for the greeting on a plain port: proves login and auth processes work.
wait_greeting() { # HOST PORT DEADLINE
	local line
	while [ "$(date +%s%N)" -lt "$3" ]; do
		if line=$(timeout 2 bash -c 'exec 3<>/dev/tcp/'"$1/$2"' || exit 1
			IFS= read -r -t 2 l <&3 || exit 1; printf "%s" "$l"; printf "a LOGOUT\r\n" >&3' 2>/dev/null); then
			case $line in "* OK"*) return 0 ;; esac
		fi
		sleep 0.05
	done
	return 1
}

# Wait for a TLS port to complete a handshake and send its greeting.
wait_tls() { # HOST PORT DEADLINE
	local out
	while [ "$(date +%s%N)" -lt "$3" ]; do
		out=$(printf 'a LOGOUT\r\n' | timeout 3 openssl s_client -connect "$1:$2" \
			-quiet 2> /dev/null) || true
		case $out in "* OK"*) return 0 ;; esac
		sleep 0.05
	done
	return 1
}

cmd_start() {
	local fresh=0
	if [ "${1:-}" = --fresh ]; then fresh=1; shift; fi
	[ $# -eq 1 ] || usage
	[ -x "$DOVECOT" ] || die "dovecot not found (apt-get install dovecot-imapd)"
	command -v openssl > /dev/null || die "openssl not found"
	STATEDIR=$(abspath "$1")

	if [ -d "$STATEDIR" ] && [ -n "$(ls -A "$STATEDIR")" ]; then
		[ -e "$STATEDIR/$MARKER" ] || die "$STATEDIR is not empty and holds no fixture; refusing to touch it"
		if fixture_running; then
			[ $fresh = 1 ] || die "a fixture is still running in $STATEDIR (stop it, or use --fresh)"
			cmd_stop "$STATEDIR"
		fi
		# a previous fixture's statedir: wipe it (including a /tmp rundir)
		if [ -f "$STATEDIR/rundir" ]; then rm -rf "$(cat "$STATEDIR/rundir")"; fi
		find "$STATEDIR" -mindepth 1 -delete
	fi
	mkdir -p "$STATEDIR"
	: > "$STATEDIR/$MARKER"
	local t0 now
	t0=$(date +%s%N)
	now=$(date +%s)

	# --- who runs what
	if [ "$(id -u)" = 0 ]; then
		local mu=${CIS_MAIL_USER:-nobody}
		getent passwd "$mu" > /dev/null || useradd --system --no-create-home \
			--home-dir /nonexistent --shell /usr/sbin/nologin "$mu" ||
			die "cannot create mail user $mu"
		MAIL_UID=$(id -u "$mu")
		MAIL_GID=$(id -g "$mu")
		[ "$MAIL_UID" != 0 ] || die "mail user must not be root"
		MAIL_CHOWN="$MAIL_UID:$MAIL_GID"
		getent passwd dovecot > /dev/null && getent passwd dovenull > /dev/null ||
			die "system users dovecot/dovenull missing (reinstall dovecot-core)"
		USERS_CONF="default_internal_user = dovecot
default_login_user = dovenull"
		SERVICE_CONF=
		chmod 755 "$STATEDIR"
		# Dovecot's unprivileged processes must reach the runtime dir; and
		# unix socket paths are limited to 108 bytes.
		RUNDIR="$STATEDIR/run"
		local ok=1 u
		for u in dovecot "$mu"; do
			setpriv --reuid="$u" --regid="$(id -g "$u")" --clear-groups \
				test -x "$STATEDIR" 2> /dev/null || ok=0
		done
		if [ $ok = 0 ] || [ ${#RUNDIR} -gt 60 ]; then
			RUNDIR=$(mktemp -d /tmp/cis-dovecot.XXXXXX)
			printf '%s\n' "$RUNDIR" > "$STATEDIR/rundir"
		fi
	else
		local me_user
		me_user=$(id -un)
		MAIL_UID=$(id -u)
		MAIL_GID=$(id -g)
		MAIL_CHOWN=
		USERS_CONF="default_internal_user = $me_user
default_internal_group = $(id -gn)
default_login_user = $me_user"
		# chroot needs root
		SERVICE_CONF="service imap-login {
  chroot =
}
service anvil {
  chroot =
}"
		RUNDIR="$STATEDIR/run"
		if [ ${#RUNDIR} -gt 60 ]; then
			RUNDIR=$(mktemp -d /tmp/cis-dovecot.XXXXXX)
			printf '%s\n' "$RUNDIR" > "$STATEDIR/rundir"
		fi
	fi
	mkdir -p "$RUNDIR"
	chmod 755 "$RUNDIR"
	MTA_CONF=
	if [ "${CIS_DOVECOT_MTA:-0}" = 1 ]; then
		[ "$(id -u)" = 0 ] || die "CIS_DOVECOT_MTA=1 needs root (sockets owned by user postfix)"
		getent passwd postfix > /dev/null || die "CIS_DOVECOT_MTA=1: no user postfix (apt-get install postfix)"
		[ -x /usr/lib/dovecot/lmtp ] || die "CIS_DOVECOT_MTA=1: no Dovecot LMTP (apt-get install dovecot-lmtpd)"
		MTA_CONF="# CIS_DOVECOT_MTA=1: Postfix (tests/postfix/fixture.sh) authenticates its
# submission clients here (smtpd_sasl_type = dovecot) and delivers by LMTP;
# recipients are user@domain, users plain names.
service auth {
  unix_listener auth-postfix {
    mode = 0660
    user = postfix
    group = postfix
  }
}
service lmtp {
  unix_listener lmtp-postfix {
    mode = 0660
    user = postfix
    group = postfix
  }
}
protocol lmtp {
  auth_username_format = %Ln
}"
	fi
	INSTANCE_PREFIX="cis$(printf '%05d' $((RANDOM % 100000)))$$"

	# --- certificates
	local mkcerts_pid=
	if [ -n "${CIS_CERTDIR:-}" ]; then
		CERTDIR=$(abspath "$CIS_CERTDIR")
		[ -f "$CERTDIR/ca.pem" ] || die "CIS_CERTDIR=$CERTDIR has no ca.pem"
	else
		# in the background, while the mail is seeded
		CERTDIR="$STATEDIR/certs"
		sh "$srcdir/tests/certs/mkcerts.sh" "$CERTDIR" > "$STATEDIR/mkcerts.log" 2>&1 &
		mkcerts_pid=$!
	fi
	DH_CONF=
	[ -f /usr/share/dovecot/dh.pem ] && DH_CONF="ssl_dh = </usr/share/dovecot/dh.pem"

	# --- users and mail
	{
		passwd_line "$USER_NAME" "$USER_PASS"
		passwd_line "$AWKWARD_NAME" "$AWKWARD_PASS"
		passwd_line "$LONG_NAME" "$LONG_PASS"
		passwd_line "$QUOTA_NAME" "$QUOTA_PASS" \
			"userdb_quota_rule=*:storage=${QUOTA_STORAGE_KB}K:messages=$QUOTA_MESSAGES"
		passwd_line "$CLIENTCERT_NAME" "$(head -c 18 /dev/urandom | base64)"
	} > "$RUNDIR/passwd"
	printf '%s:{PLAIN}%s\n' "$MASTER_NAME" "$MASTER_PASS" > "$RUNDIR/master-users"
	local u
	seed_template "$RUNDIR/template" "$now"
	for u in "$USER_NAME" "$AWKWARD_NAME" "$LONG_NAME" "$QUOTA_NAME" "$CLIENTCERT_NAME"; do
		seed_user "$RUNDIR/home/$u"
	done
	printf '%s\n' "$now" > "$STATEDIR/seed-time"
	if [ -n "$mkcerts_pid" ] && ! wait "$mkcerts_pid"; then
		cat "$STATEDIR/mkcerts.log" >&2
		die "tests/certs/mkcerts.sh failed"
	fi

	# --- configs, ports, start (retry with new ports when one is taken)
	LISTEN=127.0.0.1
	local v6=0
	if ipv6_lo; then LISTEN="127.0.0.1, ::1"; v6=1; fi
	PICKED=
	local inst attempt rc todo failed retry
	local -A PORT pid
	todo=$INSTANCES
	# All instances start in parallel; one whose port was taken in the
	# meantime is retried with fresh ports.
	for attempt in 1 2 3 4 5 6 7 8; do
		for inst in $todo; do
			if [ "$inst" = main ]; then
				pick_port 'PORT[imap]'
				pick_port 'PORT[main]'
				write_conf main "  inet_listener imap {
    port = ${PORT[imap]}
  }
  inet_listener imaps {
    port = ${PORT[main]}
    ssl = yes
  }" server
			elif [ "$inst" = plainonly ]; then
				pick_port 'PORT[plainonly]'
				pick_port 'PORT[logindisabled]'
				write_conf plainonly "  inet_listener imap {
    address = $LISTEN
    port = ${PORT[plainonly]}
  }
  inet_listener imap-logindisabled {
    address = 127.0.0.2
    port = ${PORT[logindisabled]}
  }
  inet_listener imaps {
    port = 0
  }" server "plain login" "# Connections to 127.0.0.2 see LOGINDISABLED before STARTTLS.
local 127.0.0.2 {
  disable_plaintext_auth = yes
}"
			else
				pick_port "PORT[$inst]"
				write_conf "$inst" "  inet_listener imap {
    port = 0
  }
  inet_listener imaps {
    port = ${PORT[$inst]}
    ssl = yes
  }" "$inst"
			fi
			start_instance "$inst" &
			pid[$inst]=$!
		done
		failed=
		retry=
		for inst in $todo; do
			rc=0
			wait "${pid[$inst]}" || rc=$?
			case $rc in
			0) ;;
			2) retry="$retry $inst" ;;
			*) failed="$failed $inst" ;;
			esac
		done
		todo=$retry
		USED_PORTS=
		[ -z "$failed" ] && [ -n "$todo" ] || break
		log "port taken, retrying:$todo"
	done
	failed="$failed $todo"
	if [ -n "${failed// /}" ]; then
		for inst in $failed; do
			echo "--- $inst: output of $DOVECOT -c $STATEDIR/dovecot-$inst.conf:" >&2
			cat "$STATEDIR/dovecot-$inst.out" >&2 || true
			echo "--- $inst: tail of dovecot-$inst.log:" >&2
			tail -n 20 "$STATEDIR/dovecot-$inst.log" >&2 || true
		done
		cmd_stop "$STATEDIR" || true
		die "could not start Dovecot instance(s):$failed"
	fi

	# --- wait until every listener really serves (bounded), all in parallel
	local deadline=$((t0 + ${CIS_FIXTURE_TIMEOUT:-10} * 1000000000)) w what
	local -A waiter
	for w in "greet 127.0.0.1 imap main" "tls 127.0.0.1 main main" \
		"tls 127.0.0.1 expired expired" "tls 127.0.0.1 wrongname wrongname" \
		"tls 127.0.0.1 soon soon" "greet 127.0.0.1 plainonly plainonly" \
		"greet 127.0.0.2 logindisabled plainonly"; do
		set -- $w
		if [ "$1" = greet ]; then
			wait_greeting "$2" "${PORT[$3]}" "$deadline" &
		else
			wait_tls "$2" "${PORT[$3]}" "$deadline" &
		fi
		waiter[$w]=$!
	done
	failed=
	for w in "${!waiter[@]}"; do
		wait "${waiter[$w]}" && continue
		set -- $w
		failed="$failed $4"
		what="an IMAP greeting"
		[ "$1" = greet ] || what="a TLS handshake and greeting"
		echo "$me: no $what on $2 port ${PORT[$3]} ($3) in time" >&2
		tail -n 20 "$STATEDIR/dovecot-$4.log" >&2 || true
	done
	if [ -n "$failed" ]; then
		cmd_stop "$STATEDIR" || true
		die "Dovecot did not come up:$failed"
	fi

	for inst in $INSTANCES; do
		cp "$RUNDIR/base-$inst/master.pid" "$STATEDIR/dovecot-$inst.pid" 2> /dev/null || true
	done

	# --- warm-up: let Dovecot sync every seeded mailbox once, alone.  Tests
	# run in parallel, and concurrent first syncs of a fresh maildir (the
	# new/ -> cur/ move) were seen to answer STATUS with UNSEEN 0.  doveadm
	# reads the mailboxes directly: no IMAP login appears in the logs and
	# \Recent is left alone.
	if command -v doveadm > /dev/null 2>&1; then
		for u in "$USER_NAME" "$AWKWARD_NAME" "$LONG_NAME" "$QUOTA_NAME" "$CLIENTCERT_NAME"; do
			doveadm -c "$STATEDIR/dovecot-main.conf" mailbox status -u "$u" 'messages unseen' '*' \
				> /dev/null 2>> "$STATEDIR/warmup.log" || true
		done
	fi

	# --- the env file
	{
		echo "# Generated by tests/dovecot/fixture.sh; source it."
		e() { printf 'export %s=%s\n' "$1" "$(shq "$2")"; }
		e DOVECOT_STATEDIR "$STATEDIR"
		e DOVECOT_FIXTURE "$here/fixture.sh"
		e DOVECOT_LOG "$STATEDIR/dovecot-main.log"
		e DOVECOT_LOGS "$(for i in $INSTANCES; do printf '%s\n' "$STATEDIR/dovecot-$i.log"; done | paste -sd ' ')"
		e DOVECOT_HOST 127.0.0.1
		e DOVECOT_IPV6 "$v6"
		e DOVECOT_IMAP_PORT "${PORT[imap]}"
		e DOVECOT_IMAPS_PORT "${PORT[main]}"
		e DOVECOT_IMAPS_EXPIRED_PORT "${PORT[expired]}"
		e DOVECOT_IMAPS_WRONGNAME_PORT "${PORT[wrongname]}"
		e DOVECOT_IMAPS_SOON_PORT "${PORT[soon]}"
		e DOVECOT_IMAP_PLAINONLY_PORT "${PORT[plainonly]}"
		e DOVECOT_LOGINDISABLED_HOST 127.0.0.2
		e DOVECOT_LOGINDISABLED_PORT "${PORT[logindisabled]}"
		e DOVECOT_SOON_DAYS 5
		e DOVECOT_WRONGNAME_NAME other.example
		e DOVECOT_CERTDIR "$CERTDIR"
		e DOVECOT_CA "$CERTDIR/ca.pem"
		e DOVECOT_OTHER_CA "$CERTDIR/other-ca.pem"
		e DOVECOT_CLIENT_CERT "$CERTDIR/client.pem"
		e DOVECOT_CLIENT_KEY "$CERTDIR/client.key"
		e DOVECOT_CLIENT_CERT_USER "$CLIENTCERT_NAME"
		e DOVECOT_MECHANISMS "$(echo "$MECHANISMS" | tr a-z A-Z)"
		e DOVECOT_USER "$USER_NAME"
		e DOVECOT_PASS "$USER_PASS"
		e DOVECOT_AWKWARD_USER "$AWKWARD_NAME"
		e DOVECOT_AWKWARD_PASS "$AWKWARD_PASS"
		e DOVECOT_LONG_USER "$LONG_NAME"
		e DOVECOT_LONG_PASS "$LONG_PASS"
		e DOVECOT_MASTER_USER "$MASTER_NAME"
		e DOVECOT_MASTER_PASS "$MASTER_PASS"
		e DOVECOT_MASTER_SEPARATOR "$MASTER_SEP"
		e DOVECOT_QUOTA_USER "$QUOTA_NAME"
		e DOVECOT_QUOTA_PASS "$QUOTA_PASS"
		e DOVECOT_QUOTA_MESSAGES_LIMIT "$QUOTA_MESSAGES"
		e DOVECOT_QUOTA_STORAGE_LIMIT_KB "$QUOTA_STORAGE_KB"
		e DOVECOT_USER_MESSAGES "$USER_MESSAGES"
		e DOVECOT_INBOX_MESSAGES "$INBOX_MESSAGES"
		e DOVECOT_INBOX_UNSEEN "$INBOX_UNSEEN"
		e DOVECOT_INBOX_SEEN $((INBOX_MESSAGES - INBOX_UNSEEN))
		e DOVECOT_INBOX_NEWEST_INTERNALDATE $((now - 60))
		e DOVECOT_INBOX_OLDEST_UNSEEN_INTERNALDATE "$D4"
		e DOVECOT_INBOX_OLDEST_INTERNALDATE "$D1"
		e DOVECOT_INBOX_NEWEST_SUBJECT "$SUBJ5"
		e DOVECOT_INBOX_MULTIPART_SUBJECT "$SUBJ2"
		e DOVECOT_INBOX_RFC2047_SUBJECT "$SUBJ3"
		e DOVECOT_INBOX_RFC2047_SUBJECT_RAW "$SUBJ3_RAW"
		e DOVECOT_SPECIAL_USE "Sent Trash Drafts Junk Archive"
		e DOVECOT_SPACE_FOLDER "$SPACE_FOLDER"
		e DOVECOT_SPACE_FOLDER_MESSAGES "$SPACE_FOLDER_MESSAGES"
		e DOVECOT_UTF8_FOLDER "$UTF8_FOLDER"
		e DOVECOT_UTF8_FOLDER_MUTF7 "$UTF8_FOLDER_MUTF7"
		e DOVECOT_UTF8_FOLDER_MESSAGES "$UTF8_FOLDER_MESSAGES"
		e DOVECOT_EMPTY_FOLDER "$EMPTY_FOLDER"
		e DOVECOT_CHILD_FOLDER "$CHILD_FOLDER"
		if [ -n "$MTA_CONF" ]; then
			e DOVECOT_AUTH_SOCKET "$RUNDIR/base-main/auth-postfix"
			e DOVECOT_LMTP_SOCKET "$RUNDIR/base-main/lmtp-postfix"
		fi
	} > "$STATEDIR/env.tmp"
	mv "$STATEDIR/env.tmp" "$STATEDIR/env"
	local t1
	t1=$(date +%s%N)
	log "Dovecot up in $(( (t1 - t0) / 1000000 )) ms: imap ${PORT[imap]}, imaps ${PORT[main]}," \
		"expired ${PORT[expired]}, wrongname ${PORT[wrongname]}, soon ${PORT[soon]}," \
		"plainonly ${PORT[plainonly]}, logindisabled ${PORT[logindisabled]} ($STATEDIR/env)"
}

# ------------------------------------------------------------------ stop
fixture_running() {
	local inst pid
	for inst in $INSTANCES; do
		pid=$(master_pid "$inst") || continue
		alive "$pid" && return 0
	done
	return 1
}

# kill -0 is not enough: nothing may reap an orphaned master (a container's
# pid 1 often does not), and a zombie still accepts signals.
alive() {
	local st
	st=$({ cat "/proc/$1/stat"; } 2> /dev/null) || return 1
	st=${st##*) }
	[ "${st%% *}" != Z ]
}

load_layout() {
	STATEDIR=$(abspath "$1")
	RUNDIR="$STATEDIR/run"
	if [ -f "$STATEDIR/rundir" ]; then RUNDIR=$(cat "$STATEDIR/rundir"); fi
}

master_pid() { # INSTANCE; prints the running master's pid, if any
	local f="$STATEDIR/dovecot-$1.pid" p args
	[ -f "$f" ] || f="$RUNDIR/base-$1/master.pid"
	[ -f "$f" ] || return 1
	p=$(cat "$f" 2> /dev/null) || return 1
	case $p in '' | *[!0-9]*) return 1 ;; esac
	# Only a live process started with our config file counts: a stale pid
	# file must never make us signal an unrelated process.
	{ mapfile -d '' -t args < "/proc/$p/cmdline"; } 2> /dev/null || return 1
	case " ${args[*]:-} " in *" -c $STATEDIR/dovecot-$1.conf "*) ;; *) return 1 ;; esac
	alive "$p" || return 1
	echo "$p"
}

cmd_stop() {
	[ $# -eq 1 ] || usage
	load_layout "$1"
	[ -e "$STATEDIR/$MARKER" ] || die "no fixture in $STATEDIR"
	local inst pid pids i name conf left=""
	# TERM every master first (they shut down in parallel), then wait.
	for inst in $INSTANCES; do
		pid=$(master_pid "$inst") || continue
		kill -TERM "$pid" 2> /dev/null || true
	done
	local -A names confs
	for inst in $INSTANCES; do
		name=$(sed -n 's/^instance_name = //p' "$STATEDIR/dovecot-$inst.conf" 2> /dev/null) || continue
		[ -n "$name" ] || continue
		names[$inst]=$name
		confs[$inst]="$STATEDIR/dovecot-$inst.conf"
	done
	all_pids() {
		for inst in "${!names[@]}"; do instance_pids "${names[$inst]}" "${confs[$inst]}"; done
	}
	# Dovecot needs about a second to shut down; give it 3, then KILL.
	for i in $(seq 1 60); do
		pids=$(all_pids)
		[ -n "$pids" ] || break
		sleep 0.05
	done
	if [ -n "$pids" ]; then
		log "Dovecot did not stop in 3 s; killing:" $pids
		ps -o pid,ppid,stat,wchan:20,args -p "$(echo $pids | tr ' ' ',')" >&2 || true
		kill -KILL $pids 2> /dev/null || true
		for i in $(seq 1 20); do
			left=$(all_pids)
			[ -n "$left" ] || break
			sleep 0.05
		done
	fi
	[ -z "$left" ] || die "processes still running after stop:$left"
	if [ -f "$STATEDIR/rundir" ]; then
		rm -rf "$(cat "$STATEDIR/rundir")"
		rm -f "$STATEDIR/rundir"
	fi
	return 0
}

cmd_status() {
	[ $# -eq 1 ] || usage
	load_layout "$1"
	fixture_running
}

# ------------------------------------------------------------------ adduser
cmd_adduser() {
	[ $# -eq 3 ] || usage
	load_layout "$1"
	local name=$2 pass=$3 line
	[ -f "$RUNDIR/passwd" ] || die "no fixture in $STATEDIR"
	case $name$pass in *:* | *"
"*) die "user name and password must not contain ':' or newlines" ;; esac
	MAIL_UID=$(sed -n '1s/^[^:]*:[^:]*:\([0-9]*\):.*/\1/p' "$RUNDIR/passwd")
	MAIL_GID=$(sed -n '1s/^[^:]*:[^:]*:[0-9]*:\([0-9]*\):.*/\1/p' "$RUNDIR/passwd")
	MAIL_CHOWN=
	[ "$(id -u)" != 0 ] || MAIL_CHOWN="$MAIL_UID:$MAIL_GID"
	line=$(passwd_line "$name" "$pass")
	[ ! -e "$RUNDIR/home/$name" ] || die "user $name exists"
	seed_user "$RUNDIR/home/$name"
	# Dovecot re-reads the passwd-file when it changes; replace it atomically.
	(
		flock 9
		grep -q "^$name:" "$RUNDIR/passwd" && { echo "$me: user $name exists" >&2; exit 1; }
		cp "$RUNDIR/passwd" "$RUNDIR/passwd.new.$$"
		printf '%s\n' "$line" >> "$RUNDIR/passwd.new.$$"
		mv "$RUNDIR/passwd.new.$$" "$RUNDIR/passwd"
	) 9> "$RUNDIR/passwd.lock"
	# Dovecot checks the passwd-file for changes at most once per second (of
	# its clock): a lookup later in this same second could still miss the
	# new user.  Return only once the second is over.
	local ms
	ms=$(( (1000000000 - 10#$(date +%N)) / 1000000 + 20 ))
	sleep "$((ms / 1000)).$(printf '%03d' $((ms % 1000)))"
}

usage() {
	sed -n '2,12s/^# \{0,1\}//p' "$0" >&2
	exit 2
}

[ $# -ge 1 ] || usage
cmd=$1
shift
case $cmd in
start) cmd_start "$@" ;;
stop) cmd_stop "$@" ;;
status) cmd_status "$@" ;;
adduser) cmd_adduser "$@" ;;
*) usage ;;
esac
