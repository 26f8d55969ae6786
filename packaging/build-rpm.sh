#!/bin/sh
# packaging/build-rpm.sh [openssl|mbedtls] [OUTDIR] - build the RPM from the
# release tarball with `rpmbuild -tb` (the tarball carries the spec,
# packaging/rpm/check_imap_session.spec, with its version).
#
#   1. the release tarball (packaging/dist-tarball.sh: `make dist` from a
#      clean copy of this tree), or CIS_TARBALL=FILE,
#   2. rpmbuild -tb [--with mbedtls] in a private _topdir,
#   3. the binary RPM(s) copied to OUTDIR (default ./rpm-out) and listed.
#
# On Debian (rpm package) the build dependencies cannot be checked against
# an RPM database: --nodeps is passed there, and no debuginfo package is
# made.  CIS_RPM_CHECK=1 adds --with check (runs the test suite).
set -eu

flavour=${1:-openssl}
out=${2:-rpm-out}
case $flavour in
openssl) with= ;;
mbedtls) with="--with mbedtls" ;;
*)
	echo "usage: $0 [openssl|mbedtls] [OUTDIR]" >&2
	exit 2
	;;
esac
command -v rpmbuild > /dev/null 2>&1 || { echo "$0: rpmbuild is missing (Debian: apt-get install rpm)" >&2; exit 1; }

top=$(cd "$(dirname "$0")/.." && pwd)
mkdir -p "$out"
out=$(cd "$out" && pwd)
work=$(mktemp -d "${TMPDIR:-/tmp}/cis-rpm.XXXXXX")
trap 'rm -rf "$work"' EXIT

if [ -n "${CIS_TARBALL:-}" ]; then
	tarball=$CIS_TARBALL
else
	tarball=$("$top/packaging/dist-tarball.sh" "$work")
fi
echo "=== rpmbuild -tb $with $(basename "$tarball")"

extra=
if [ -e /etc/debian_version ]; then
	extra="--nodeps"
	set -- --define "debug_package %{nil}"
else
	set --
fi
[ "${CIS_RPM_CHECK:-0}" = 1 ] && with="$with --with check"

# shellcheck disable=SC2086
if ! rpmbuild -tb $with $extra --define "_topdir $work/rpmbuild" "$@" "$tarball" > "$work/rpmbuild.log" 2>&1; then
	tail -n 60 "$work/rpmbuild.log"
	echo "=== rpmbuild FAILED (last 60 lines above)"
	exit 1
fi
for r in "$work"/rpmbuild/RPMS/*/*.rpm; do
	echo "--- $(basename "$r")"
	rpm -qp --qf '    %{NAME} %{VERSION}-%{RELEASE} %{ARCH}: %{SUMMARY}\n' "$r" 2> /dev/null
	rpm -qpl "$r" 2> /dev/null | sed 's/^/    /'
	cp "$r" "$out/"
done
echo "=== packages in $out"
exit 0
