#!/bin/bash
# test_e2e_delivery_fixture.sh - the Postfix fixture (tests/postfix/) works:
# Python's smtplib submits with STARTTLS + AUTH PLAIN (and over implicit
# TLS), Postfix authenticates through Dovecot and delivers by LMTP, and the
# message shows up in the Dovecot mailbox; a refused recipient is refused
# at RCPT time; a held message arrives only once released.  Run by
# tests/run-test.sh, which starts both fixtures (POSTFIX_*, DOVECOT_*).
set -eu
fail() { echo "FAIL: $*" >&2; exit 1; }
[ -n "${POSTFIX_SUBMISSION_PORT:-}" ] || fail "no POSTFIX_* environment (run through tests/run-test.sh)"
conf="$DOVECOT_STATEDIR/dovecot-main.conf"

# count TOKEN: messages in the user's INBOX with that X-Cis-Token
count() { doveadm -c "$conf" search -u "$DOVECOT_USER" mailbox INBOX header X-Cis-Token "$1" | wc -l; }

# wait_count TOKEN N SECONDS
wait_count() {
	local end=$(( $(date +%s%N) + $3 * 1000000000 ))
	while [ "$(date +%s%N)" -lt "$end" ]; do
		[ "$(count "$1")" = "$2" ] && return 0
		sleep 0.05
	done
	return 1
}

# send MODE RCPT TOKEN: MODE starttls (submission port) or ssl (smtps port)
send() {
	python3 - "$@" <<'EOF'
import os, smtplib, ssl, sys
mode, rcpt, token = sys.argv[1:4]
ctx = ssl.create_default_context(cafile=os.environ["DOVECOT_CA"])
host = os.environ["POSTFIX_HOST"]
if mode == "ssl":
    s = smtplib.SMTP_SSL(host, int(os.environ["POSTFIX_SMTPS_PORT"]), timeout=10, context=ctx)
else:
    s = smtplib.SMTP(host, int(os.environ["POSTFIX_SUBMISSION_PORT"]), timeout=10)
    s.starttls(context=ctx)
s.login(os.environ["DOVECOT_USER"], os.environ["DOVECOT_PASS"])
msg = ("From: probe@example.org\r\nTo: %s\r\nSubject: fixture %s\r\nX-Cis-Token: %s\r\n\r\nhello\r\n"
       % (rcpt, token, token))
try:
    s.sendmail("probe@example.org", [rcpt], msg)
except smtplib.SMTPRecipientsRefused as e:
    code, text = e.recipients[rcpt]
    print("refused %d %s" % (code, text.decode()))
    sys.exit(3)
s.quit()
EOF
}

tok="fx-$$-$RANDOM"
send starttls "$DOVECOT_USER@$POSTFIX_DOMAIN" "$tok-1" || fail "submission with STARTTLS"
wait_count "$tok-1" 1 10 || fail "message $tok-1 did not arrive in 10 s (count $(count "$tok-1"))"
grep -q "status=sent" "$POSTFIX_LOG" || fail "Postfix logged no delivery"
echo "ok: STARTTLS + AUTH PLAIN on submission, delivered by LMTP"

send ssl "$DOVECOT_USER@$POSTFIX_DOMAIN" "$tok-2" || fail "submission over implicit TLS"
wait_count "$tok-2" 1 10 || fail "message $tok-2 did not arrive"
echo "ok: implicit TLS"

rc=0
out=$(send starttls "$POSTFIX_REFUSED_RCPT" "$tok-3") || rc=$?
[ $rc = 3 ] || fail "refused recipient: exit $rc ($out)"
case $out in "refused 550 5.1.1 "*) ;; *) fail "refused recipient: $out" ;; esac
echo "ok: $POSTFIX_REFUSED_RCPT refused at RCPT time ($out)"

send starttls "$DOVECOT_USER$POSTFIX_HOLD_EXTENSION@$POSTFIX_DOMAIN" "$tok-4" || fail "held submission"
sleep 1
[ "$(count "$tok-4")" = 0 ] || fail "a held message was delivered"
bash "$POSTFIX_FIXTURE" postsuper "$DOVECOT_STATEDIR" -H ALL 2> /dev/null
wait_count "$tok-4" 1 10 || fail "released message did not arrive"
echo "ok: +hold held until released"

# leave the mailbox as it was
doveadm -c "$conf" expunge -u "$DOVECOT_USER" mailbox INBOX header X-Cis-Token "$tok"
[ "$(count "$tok")" = 0 ] || fail "cleanup"
echo "PASS"
