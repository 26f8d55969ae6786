#!/bin/sh
# packaging/build-deb.sh [openssl|mbedtls|both] [OUTDIR] - build Debian
# binary packages from a clean copy of this tree:
#
#   1. the release tarball (packaging/dist-tarball.sh: `make dist`),
#   2. unpacked next to it as the .orig.tar.gz, packaging/debian/ copied in
#      as debian/ (debian/changelog gets a new entry first if its version is
#      not the tarball's),
#   3. dpkg-buildpackage -us -uc -b, with build profiles choosing the
#      flavours: openssl -> check-imap-session, mbedtls ->
#      check-imap-session-mbedtls, both (default) -> both packages,
#   4. lintian on the result (errors fail the build; warnings are shown).
#
# CIS_TARBALL=FILE builds from that release tarball instead of step 1.
# The .deb files land in OUTDIR (default ./deb-out).  The test suite is not
# run inside the package build (DEB_BUILD_OPTIONS=nocheck) unless
# CIS_DEB_CHECK=1: ./check.sh runs it.  Needs: dpkg-dev, debhelper,
# autoconf, automake, pkg-config, libssl-dev and/or libmbedtls-dev, lintian
# (tools/install-deps.sh debhelper lintian installs what is missing).
set -eu

flavour=${1:-both}
out=${2:-deb-out}
case $flavour in
openssl) profiles=pkg.check-imap-session.nombedtls ;;
mbedtls) profiles=pkg.check-imap-session.noopenssl ;;
both) profiles= ;;
*)
	echo "usage: $0 [openssl|mbedtls|both] [OUTDIR]" >&2
	exit 2
	;;
esac

top=$(cd "$(dirname "$0")/.." && pwd)
mkdir -p "$out"
out=$(cd "$out" && pwd)
work=$(mktemp -d "${TMPDIR:-/tmp}/cis-deb.XXXXXX")
trap 'rm -rf "$work"' EXIT

if [ -n "${CIS_TARBALL:-}" ]; then
	tarball=$(cd "$(dirname "$CIS_TARBALL")" && pwd)/$(basename "$CIS_TARBALL")
else
	tarball=$("$top/packaging/dist-tarball.sh" "$work")
fi
base=$(basename "$tarball" .tar.gz)   # check_imap_session-VERSION
version=${base#check_imap_session-}
echo "=== $base"

cd "$work"
cp "$tarball" "check-imap-session_$version.orig.tar.gz"
tar xzf "$tarball"
cd "$base"
cp -r packaging/debian debian
chmod +x debian/rules

# debian/changelog must name this upstream version.
have=$(dpkg-parsechangelog -S Version)
if [ "${have%-*}" != "$version" ]; then
	echo "=== debian/changelog has $have: adding an entry for $version-1"
	{
		printf 'check-imap-session (%s-1) unstable; urgency=medium\n\n' "$version"
		printf '  * New upstream version %s.\n\n' "$version"
		printf ' -- %s  %s\n\n' "$(dpkg-parsechangelog -S Maintainer)" "$(date -R)"
		cat debian/changelog
	} > debian/changelog.new
	mv debian/changelog.new debian/changelog
fi

# Without the test suite, also drop its build dependencies (nocheck profile).
opts=nocheck
if [ "${CIS_DEB_CHECK:-0}" = 1 ]; then
	opts=
else
	profiles=${profiles:+$profiles,}nocheck
fi
echo "=== dpkg-buildpackage -us -uc -b (flavour: $flavour${profiles:+, profiles $profiles})"
if ! DEB_BUILD_OPTIONS="$opts" dpkg-buildpackage -us -uc -b ${profiles:+-P"$profiles"} > "$work/build.log" 2>&1; then
	tail -n 60 "$work/build.log"
	echo "=== dpkg-buildpackage FAILED (full log above, last 60 lines)"
	exit 1
fi
cd "$work"
debs=$(ls ./*.deb)
for d in $debs; do
	echo "--- $d"
	dpkg-deb -c "$d" | awk '{print "    " $6}'
done

status=0
if command -v lintian > /dev/null 2>&1; then
	changes=$(ls ./*.changes)
	echo "=== lintian $changes"
	lintian --info --display-info --tag-display-limit 0 "$changes" > lintian.out 2>&1 || true
	cat lintian.out
	if grep -q '^E: ' lintian.out; then
		echo "=== lintian reports errors"
		status=1
	fi
else
	echo "=== lintian is not installed: not checked"
fi
cp $debs "$out/"
echo "=== packages in $out:"
(cd "$out" && ls -1 ./*.deb)
exit $status
