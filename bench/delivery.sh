#!/bin/bash
# bench/delivery.sh - issue 16's benchmark: the probe's `delivery` figure
# next to the delivery delay Postfix logs for the same message, and the
# same bed measured by check_email_delivery (Debian's
# monitoring-plugins-contrib), side by side.
#
#   bench/delivery.sh [-n ROUNDS] [--no-results]
#
# Root only (the Postfix fixture).  Builds nothing: it uses $PROBE, or
# build-openssl/check_imap_session in the source tree.  Starts the test
# suite's Dovecot (CIS_DOVECOT_MTA=1) and Postfix (tests/postfix/fixture.sh)
# in a temporary directory, then, interleaved, ROUNDS times (default 20):
#   probe-idle    check_imap_session --deliver-via (IDLE on the mailbox)
#   probe-poll    the same with --delivery-poll 0.005 (NOOP every 5 ms)
#   postfix       what Postfix logged for the probe-poll message: delay=
#                 (receipt to delivered; 10 ms resolution) of the same queue ID
#   ced           check_email_delivery --wait 1 --imap-check-interval 1 (its
#                 finest: whole seconds): its "elapsed" figure
#   ced-wait5     check_email_delivery with its defaults (--wait 5, IMAP
#                 searched every 5 s)
# and prints min / median / p95 / max of each (seconds); the result goes
# to bench/results/<date>-delivery.txt unless --no-results.
set -eu
export LC_ALL=C

top=$(cd "$(dirname "$0")/.." && pwd)
rounds=20
save=1
while [ $# -gt 0 ]; do
	case $1 in
	-n) rounds=$2; shift 2 ;;
	--no-results) save=0; shift ;;
	*) echo "usage: $0 [-n ROUNDS] [--no-results]" >&2; exit 2 ;;
	esac
done
probe=${PROBE:-$top/build-openssl/check_imap_session}
ced=/usr/lib/nagios/plugins/check_email_delivery
[ "$(id -u)" = 0 ] || { echo "$0: needs root (Postfix)" >&2; exit 1; }
[ -x "$probe" ] || { echo "$0: no probe at $probe (build it, or set PROBE)" >&2; exit 1; }
if [ ! -x "$ced" ]; then
	echo "$0: installing monitoring-plugins-contrib and the Perl modules check_email_delivery needs" >&2
	DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends monitoring-plugins-contrib \
		libnet-smtp-tls-perl libmail-imapclient-perl libio-socket-ssl-perl > /dev/null
fi

state=$(mktemp -d "${TMPDIR:-/tmp}/cis-bench-delivery.XXXXXX")
stop() {
	bash "$top/tests/postfix/fixture.sh" stop "$state" || true
	bash "$top/tests/dovecot/fixture.sh" stop "$state" || true
	rm -rf "$state"
}
trap stop EXIT
CIS_DOVECOT_MTA=1 CIS_FIXTURE_QUIET=1 bash "$top/tests/dovecot/fixture.sh" start "$state"
CIS_FIXTURE_QUIET=1 bash "$top/tests/postfix/fixture.sh" start "$state"
. "$state/env"
. "$state/postfix/env"
export CIS_PW="$DOVECOT_PASS" SSL_CERT_FILE="$DOVECOT_CA"
rcpt="$DOVECOT_USER@$POSTFIX_DOMAIN"

out="$state/samples"
: > "$out"
probe_run() { # LABEL [ARGS...]: delivery= into samples; prints the queue ID
	local label=$1 text d q
	shift
	text=$("$probe" -H 127.0.0.1 -p "$DOVECOT_IMAPS_PORT" -S --cafile "$DOVECOT_CA" -U "$DOVECOT_USER" \
		--password-env CIS_PW --deliver-via 127.0.0.1 --smtp-port "$POSTFIX_SUBMISSION_PORT" --smtp-starttls \
		--rcpt-to "$rcpt" -t 20 -v "$@") || { echo "$label: $(printf '%s' "$text" | head -1)" >&2; return 0; }
	d=$(printf '%s\n' "$text" | head -1 | sed -n 's/.* delivery=\([0-9.]*\)s.*/\1/p')
	[ -n "$d" ] && echo "$label $d" >> "$out"
	q=$(printf '%s\n' "$text" | sed -n 's/^smtp_data: OK .*queued as \([0-9A-F]*\).*/\1/p')
	printf '%s' "$q"
}
postfix_delay() { # QUEUEID: Postfix's delay= for it (waits for the log line)
	local i line
	for i in $(seq 1 40); do
		line=$(grep " $1: to=<" "$POSTFIX_LOG" | grep -o 'delay=[0-9.]*' | head -1) || true
		[ -n "$line" ] && { echo "${line#delay=}"; return; }
		sleep 0.05
	done
}
ced_run() { # LABEL WAIT INTERVAL
	local text e
	text=$("$ced" --smtp-server 127.0.0.1 --smtp-port "$POSTFIX_SUBMISSION_PORT" --smtptls \
		--smtp-username "$DOVECOT_USER" --smtp-password "$DOVECOT_PASS" --imap-server 127.0.0.1 \
		--imap-port "$DOVECOT_IMAPS_PORT" --imapssl --username "$DOVECOT_USER" --password "$DOVECOT_PASS" \
		--mailto "$rcpt" --mailfrom "$rcpt" --wait "$2" --imap-check-interval "$3" --hires 2>&1) || true
	e=$(printf '%s' "$text" | sed -n 's/.*elapsed=\([0-9.]*\)s.*/\1/p')
	if [ -n "$e" ]; then echo "$1 $e" >> "$out"; else echo "$1: $text" >&2; fi
}

for r in $(seq 1 "$rounds"); do
	probe_run probe-idle > /dev/null
	q=$(probe_run probe-poll --delivery-poll 0.005)
	if [ -n "$q" ]; then
		d=$(postfix_delay "$q")
		[ -n "$d" ] && echo "postfix $d" >> "$out"
	fi
	ced_run ced 1 1
	if [ $((r % 4)) = 1 ]; then ced_run ced-wait5 5 5; fi    # 5 s each: a quarter of the rounds
	printf '.' >&2
done
echo >&2

report() {
	echo "check_imap_session --deliver-via vs Postfix's log vs check_email_delivery"
	echo "$(date -u '+%Y-%m-%d %H:%M UTC'), $(nproc) cores, load $(cut -d' ' -f1-3 /proc/loadavg), $rounds rounds"
	echo "loopback: Postfix $(postconf -d mail_version | cut -d' ' -f3) (submission, STARTTLS, SASL by Dovecot, LMTP) -> Dovecot $(dovecot --version | cut -d' ' -f1)"
	echo
	printf '%-12s %5s %9s %9s %9s %9s\n' what n min median p95 max
	for k in probe-idle probe-poll postfix ced ced-wait5; do
		awk -v k="$k" '$1 == k { print $2 }' "$out" | sort -g | awk -v k="$k" '
			{ v[NR] = $1 }
			END {
				if (NR == 0) { printf "%-12s %5d\n", k, 0; exit }
				p95 = v[int(NR * 0.95 + 0.999)]; if (p95 == "") p95 = v[NR]
				med = NR % 2 ? v[(NR + 1) / 2] : (v[NR / 2] + v[NR / 2 + 1]) / 2
				printf "%-12s %5d %9.4f %9.4f %9.4f %9.4f\n", k, NR, v[1], med, p95, v[NR]
			}'
	done
	echo
	echo "probe-idle: from the 250 that ends DATA to the * EXISTS pushed to the IDLEing connection"
	echo "  (Dovecot tells idling clients half a second after the change);"
	echo "probe-poll: the same with NOOP every 5 ms; postfix: delay= of that message (its resolution is 10 ms);"
	echo "ced: check_email_delivery's elapsed= with --wait 1 --imap-check-interval 1 (its finest: --wait 0 means 5);"
	echo "ced-wait5: with its defaults (--wait 5, search every 5 s)"
}
report | tee "$state/report"
if [ $save = 1 ]; then
	mkdir -p "$top/bench/results"
	cp "$state/report" "$top/bench/results/$(date -u +%Y%m%d-%H%M)-delivery.txt"
fi
