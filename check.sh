#!/bin/sh
# check.sh - the whole test suite: build check_imap_session with each TLS
# backend in its own build directory and run `make check` there.
#
#   ./check.sh                 both backends (openssl, mbedtls)
#   ./check.sh openssl         one backend
#
# On a fresh Debian 12 machine run as root (or with sudo): missing build
# dependencies are installed with apt-get first.
set -eu

top=$(cd "$(dirname "$0")" && pwd)
backends=${*:-openssl mbedtls}
jobs=$(nproc 2>/dev/null || echo 2)
# the suite must not skip its real-server tests silently
export CIS_REQUIRE_DOVECOT=1 CIS_REQUIRE_TOOLS=1 CIS_REQUIRE_PROMTOOL=1

"$top/tools/install-deps.sh"

cd "$top"
if [ ! -x configure ] || [ configure.ac -nt configure ] || [ Makefile.am -nt Makefile.in ]; then
	echo "=== autoreconf"
	autoreconf -fi >/dev/null
fi

status=0
for b in $backends; do
	dir="$top/build-$b"
	echo "=== TLS backend: $b (build directory $dir)"
	mkdir -p "$dir"
	(
		cd "$dir"
		if [ ! -f Makefile ] || [ "$top/configure" -nt Makefile ]; then
			"$top/configure" --with-tls="$b" --enable-tests=yes --enable-werror >configure.out 2>&1 ||
				{ cat configure.out; exit 1; }
			sed -n '/check_imap_session [0-9]/,$p' configure.out
		fi
		make -j"$jobs" >make.out 2>&1 || { cat make.out; exit 1; }
		rc=0
		make -j"$jobs" check >check.out 2>&1 || rc=$?
		echo "--- $b: test results"
		grep -h -E '^(PASS|FAIL|XFAIL|XPASS|ERROR|SKIP):' check.out || true
		for log in tests/*.log; do
			[ -f "$log" ] || continue
			case "$log" in */test-suite.log) continue ;; esac
			printf '%s (%s): ' "$(basename "$log" .log)" "$b"
			grep -h 'Synthesis' "$log" || echo "(no Criterion summary)"
		done
		if [ $rc -ne 0 ]; then
			echo "--- $b: failures"
			cat tests/test-suite.log 2>/dev/null | tail -200
		fi
		exit $rc
	) || status=1
done

# Reliability (issue 6): sanitizers, valgrind, fuzzing, static checks.
# CIS_QUICK=1 skips them (a fast local run); CI runs everything.
if [ "${CIS_QUICK:-0}" != 1 ]; then
	for b in $backends; do
		echo "=== ASan + UBSan: $b"
		"$top/tools/sanitize.sh" "$b" || status=1
	done
	for b in $backends; do
		# code outside tls_*/crypto_* is the same with either backend: all of
		# it under valgrind once (mbedTLS, cheaper), the TLS-dependent tests
		# with OpenSSL
		mode=full
		[ "$b" = openssl ] && [ "$backends" != openssl ] && mode=tls
		echo "=== valgrind: $b ($mode)"
		"$top/tools/valgrind.sh" "$b" "$mode" || status=1
	done
	echo "=== fuzz smoke (20 s per target)"
	"$top/fuzz/run.sh" 20 || status=1
	echo "=== lint (clang -Werror, cppcheck, clang-tidy)"
	"$top/tools/lint.sh" || status=1
	# Ecosystem (issue 7): the release tarball builds and passes its own
	# suite, and both .deb flavours (lintian) and both RPMs build from it.
	first=$(echo $backends | cut -d' ' -f1)
	echo "=== make distcheck ($first)"
	(cd "$top/build-$first" && make distcheck >distcheck.out 2>&1) ||
		{ tail -60 "$top/build-$first/distcheck.out"; status=1; }
	grep -h '^# \(PASS\|FAIL\|ERROR\)' "$top/build-$first/distcheck.out" 2>/dev/null || true
	echo "=== packages (.deb both flavours + lintian, RPM both flavours)"
	"$top/packaging/check-packages.sh" "$top/packages-out" >"$top/packages-out.log" 2>&1 ||
		{ tail -60 "$top/packages-out.log"; status=1; }
	grep -E '^(=== |OK|FAIL)' "$top/packages-out.log" | tail -15 || true
fi

if [ $status -eq 0 ]; then
	echo "=== all test suites passed ($backends)"
else
	echo "=== some test suites FAILED"
fi
exit $status
