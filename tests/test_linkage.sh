#!/bin/sh
# tests/test_linkage.sh - the plugin links exactly one TLS library, the one
# it was built for, plus jansson for JSON (issue 17): an mbedTLS build must
# not pull in OpenSSL or GnuTLS (nor an OpenSSL build mbedTLS or GnuTLS).
#
# Environment (set by Makefile.am): PROBE (the binary).
set -u
PROBE=${PROBE:-${TOP_BUILDDIR:-.}/check_imap_session}
[ -x "$PROBE" ] || { echo "ERROR: $PROBE is not built"; exit 99; }
command -v ldd > /dev/null 2>&1 || { echo "SKIP: no ldd"; exit 77; }

libs=$(ldd "$PROBE") || { echo "ERROR: ldd $PROBE failed"; exit 99; }
version=$("$PROBE" --version)
fail=0
has() { printf '%s\n' "$libs" | grep -Eq "$1"; }

has 'libjansson\.so' || { echo "FAIL: not linked with jansson"; fail=1; }
has 'libgnutls' && { echo "FAIL: GnuTLS is linked"; fail=1; }
case $version in
*"mbed TLS"*)
	has 'libmbedtls\.so' || { echo "FAIL: mbedTLS build without libmbedtls"; fail=1; }
	has 'lib(ssl|crypto)\.so' && { echo "FAIL: mbedTLS build links OpenSSL"; fail=1; }
	;;
*OpenSSL*)
	has 'lib(ssl|crypto)\.so' || { echo "FAIL: OpenSSL build without libssl/libcrypto"; fail=1; }
	has 'libmbed' && { echo "FAIL: OpenSSL build links mbedTLS"; fail=1; }
	;;
*) echo "ERROR: unknown TLS backend in: $version"; exit 99 ;;
esac
[ $fail = 0 ] && echo "linkage OK: $version, jansson, one TLS library"
exit $fail
