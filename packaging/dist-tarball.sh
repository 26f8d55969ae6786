#!/bin/sh
# packaging/dist-tarball.sh OUTDIR - make the release tarball
# (check_imap_session-VERSION.tar.gz, `make dist`) from a clean copy of this
# source tree and print its path.  Used by build-deb.sh and build-rpm.sh.
#
# The clean copy: in a git checkout, the tracked files plus untracked files
# that are not ignored (so uncommitted work is included, build directories
# are not); otherwise the whole tree without build-* directories.  The
# source tree itself is not touched.  Needs autoconf, automake, pkg-config
# and the development files of one TLS library (OpenSSL or mbed TLS).
set -eu

[ $# -eq 1 ] || { echo "usage: $0 OUTDIR" >&2; exit 2; }
top=$(cd "$(dirname "$0")/.." && pwd)
mkdir -p "$1"
out=$(cd "$1" && pwd)

work=$(mktemp -d "${TMPDIR:-/tmp}/cis-dist.XXXXXX")
trap 'rm -rf "$work"' EXIT
mkdir "$work/src"

if [ -e "$top/.git" ] && command -v git > /dev/null 2>&1; then
	(cd "$top" && git ls-files -z -co --exclude-standard) |
		(cd "$top" && tar --null --ignore-failed-read -T - -cf - 2> /dev/null) |
		(cd "$work/src" && tar xf -)
else
	(cd "$top" && tar --exclude='./build-*' --exclude=./autom4te.cache -cf - .) |
		(cd "$work/src" && tar xf -)
fi

cd "$work/src"
autoreconf -fi > "$work/autoreconf.log" 2>&1 || { cat "$work/autoreconf.log" >&2; exit 1; }
mkdir "$work/build"
cd "$work/build"
if ! "$work/src/configure" --enable-tests=no > configure.log 2>&1 &&
	! "$work/src/configure" --enable-tests=no --with-tls=mbedtls > configure.log 2>&1; then
	cat configure.log >&2
	exit 1
fi
make dist-gzip > dist.log 2>&1 || { cat dist.log >&2; exit 1; }
tarball=$(ls check_imap_session-*.tar.gz)
cp "$tarball" "$out/"
echo "$out/$tarball"
