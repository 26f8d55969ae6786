#!/bin/sh
# Install what building and testing check_imap_session needs on Debian 12,
# if anything is missing.  Needs root (or sudo) only when something is
# missing.
set -eu

pkgs="build-essential autoconf automake libtool pkg-config libssl-dev libmbedtls-dev
libcriterion-dev libjansson-dev dovecot-imapd openssl python3 ca-certificates procps iproute2
icinga2-bin icinga2-common nagios4-core groff-base prometheus
clang libclang-rt-14-dev llvm-14 valgrind cppcheck clang-tidy
debhelper dpkg-dev lintian rpm
dovecot-lmtpd postfix
python3-authlib python3-jwt python3-cryptography"
[ $# -gt 0 ] && pkgs="$pkgs $*"

missing=
for p in $pkgs; do
	dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "ok installed" || missing="$missing $p"
done
[ -z "$missing" ] && exit 0

echo "=== installing:$missing"
SUDO=
[ "$(id -u)" -eq 0 ] || SUDO=sudo
export DEBIAN_FRONTEND=noninteractive
# keep Debian's own dovecot service from starting on install
if [ ! -e /usr/sbin/policy-rc.d ]; then
	printf '#!/bin/sh\nexit 101\n' | $SUDO tee /usr/sbin/policy-rc.d >/dev/null
	$SUDO chmod +x /usr/sbin/policy-rc.d
	trap '$SUDO rm -f /usr/sbin/policy-rc.d' EXIT
fi
# Debian's postfix asks what to configure and, as the system's MTA, would
# replace exim4: the suite runs private instances (tests/postfix/), so the
# system one gets no configuration at all.
case " $missing " in *" postfix "*)
	echo "postfix postfix/main_mailer_type select No configuration" | $SUDO debconf-set-selections ;;
esac
$SUDO apt-get update -qq || true
$SUDO apt-get install -y -qq --no-install-recommends $missing >/dev/null
