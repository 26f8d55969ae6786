#!/bin/sh
# packaging/check-packages.sh [OUTDIR] - what CI runs for the packages: one
# release tarball (packaging/dist-tarball.sh), then from it both Debian
# flavours (build-deb.sh both: dpkg-buildpackage + lintian, errors fail)
# and both RPMs (build-rpm.sh openssl, mbedtls), and a look inside each
# package for the plugin, the man page and the examples.
# OUTDIR (default ./packages-out) receives the tarball and the packages.
# CIS_TARBALL=FILE uses that tarball instead of making one.
set -eu

top=$(cd "$(dirname "$0")/.." && pwd)
out=${1:-packages-out}
mkdir -p "$out"
out=$(cd "$out" && pwd)

echo "=== release tarball"
if [ -z "${CIS_TARBALL:-}" ]; then
	CIS_TARBALL=$("$top/packaging/dist-tarball.sh" "$out")
fi
export CIS_TARBALL
echo "$CIS_TARBALL"

"$top/packaging/build-deb.sh" both "$out"
"$top/packaging/build-rpm.sh" openssl "$out"
"$top/packaging/build-rpm.sh" mbedtls "$out"

fail=0
need() { # LISTING PACKAGE PATTERN...
	list=$1 pkg=$2
	shift 2
	for pat in "$@"; do
		grep -q -- "$pat" "$list" || { echo "FAIL: $pkg lacks $pat"; fail=1; }
	done
}
for d in "$out"/check-imap-session_*.deb "$out"/check-imap-session-mbedtls_*.deb; do
	dpkg-deb -c "$d" > "$out/list.txt"
	need "$out/list.txt" "$(basename "$d")" ./usr/lib/nagios/plugins/check_imap_session \
		./usr/share/man/man1/check_imap_session.1.gz examples/check_imap_session.conf \
		examples/example-service.conf examples/check_imap_session.cfg examples/extra-opts.ini.example
done
for r in "$out"/check_imap_session-[0-9]*.rpm "$out"/check_imap_session-mbedtls-[0-9]*.rpm; do
	rpm -qpl "$r" > "$out/list.txt" 2> /dev/null
	need "$out/list.txt" "$(basename "$r")" /nagios/plugins/check_imap_session \
		/man1/check_imap_session.1 examples/check_imap_session.conf examples/check_imap_session.cfg
done
rm -f "$out/list.txt"
[ $fail -eq 0 ] || exit 1
echo "=== packages OK:"
(cd "$out" && ls -1)
