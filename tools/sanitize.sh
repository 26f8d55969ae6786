#!/bin/sh
# tools/sanitize.sh - build with AddressSanitizer + UndefinedBehaviorSanitizer
# in a build directory of its own and run the whole `make check` there:
# unit tests, the hostile matrix and the Dovecot integration tests, which
# run this tree's (sanitized) check_imap_session as a child.  Then replay
# the fuzz seed corpus through the same sanitized code (make fuzz-replay).
#
#   tools/sanitize.sh [openssl|mbedtls]     (default: openssl)
#
# Any sanitizer report fails the run: -fno-sanitize-recover=all makes UBSan
# fatal, ASan aborts (abort_on_error) and LeakSanitizer's exit code 23 is
# not a plugin state, so a leak in the probe fails the test that ran it.
# Criterion runs each test in a forked child; a child killed by SIGABRT is
# reported as a crashed test and fails the suite.  A leak in a Criterion
# child does not fail its test (Criterion ignores the child's exit code),
# so the test logs are scanned for sanitizer reports afterwards too.
#
# Environment:
#   SAN_CC        compiler (default clang; gcc works too)
#   SAN_BUILDDIR  build directory (default: build-sanitize-BACKEND/ in the
#                 source tree)
#   SAN_JOBS      make -j (default: the number of cores)
#   SAN_FLAGS     replaces the sanitizer flags below
set -eu

top=$(cd "$(dirname "$0")/.." && pwd)
backend=${1:-openssl}
cc=${SAN_CC:-clang}
bdir=${SAN_BUILDDIR:-$top/build-sanitize-$backend}
jobs=${SAN_JOBS:-$(nproc 2>/dev/null || echo 2)}
flags=${SAN_FLAGS:--fsanitize=address,undefined -fno-sanitize-recover=all}

case $backend in
openssl | mbedtls) ;;
*) echo "usage: $0 [openssl|mbedtls]" >&2; exit 2 ;;
esac
command -v "$cc" >/dev/null 2>&1 || { echo "$0: $cc not found" >&2; exit 1; }

cd "$top"
if [ ! -x configure ] || [ configure.ac -nt configure ] || [ Makefile.am -nt Makefile.in ]; then
	autoreconf -fi >/dev/null
fi

mkdir -p "$bdir"
cd "$bdir"
cflags="-O1 -g -fno-omit-frame-pointer $flags"
if [ ! -f Makefile ] || [ "$top/configure" -nt Makefile ] || ! grep -q -- "$flags" config.log 2>/dev/null; then
	echo "=== sanitize ($backend): configuring $bdir with $cc $cflags"
	"$top/configure" CC="$cc" CFLAGS="$cflags" LDFLAGS="$flags" \
		--with-tls="$backend" --enable-tests=yes >configure.out 2>&1 ||
		{ cat configure.out; exit 1; }
fi

# halt_on_error/abort_on_error: the first report kills the process (SIGABRT,
# which Criterion and the integration tests see).  detect_leaks: LSan at
# exit of the probe and of every test process that exits normally.
# print_stacktrace: UBSan reports say where.  symbolize needs
# llvm-symbolizer (clang) or addr2line (gcc): both are in the deps.
# Stack traces need llvm-symbolizer; Debian's llvm-14 has it only under a
# versioned name.
if [ -z "${ASAN_SYMBOLIZER_PATH:-}" ] && ! command -v llvm-symbolizer >/dev/null 2>&1; then
	for s in /usr/bin/llvm-symbolizer-*; do
		[ -x "$s" ] && export ASAN_SYMBOLIZER_PATH="$s"
	done
fi
export ASAN_OPTIONS="halt_on_error=1:abort_on_error=1:detect_leaks=1:check_initialization_order=1:strict_string_checks=1:detect_stack_use_after_return=1:print_summary=1"
export UBSAN_OPTIONS="halt_on_error=1:abort_on_error=1:print_stacktrace=1:print_summary=1"
export LSAN_OPTIONS="print_suppressions=0:suppressions=$top/tools/lsan.supp"
# Sanitized binaries start slower and run 2-3x slower: widen the tests'
# wall-time bounds (tests that honour CIS_TEST_TIME_FACTOR).
export CIS_TEST_TIME_FACTOR="${CIS_TEST_TIME_FACTOR:-3}"
export CIS_REQUIRE_DOVECOT="${CIS_REQUIRE_DOVECOT:-1}"

t0=$(date +%s)
echo "=== sanitize ($backend): building"
make -j"$jobs" >make.out 2>&1 || { tail -80 make.out; exit 1; }
echo "=== sanitize ($backend): make check"
rc=0
make -j"$jobs" check >check.out 2>&1 || rc=$?
grep -h -E '^(PASS|FAIL|XFAIL|XPASS|ERROR|SKIP):' check.out || true
if [ $rc -ne 0 ]; then
	echo "--- sanitize ($backend): failures"
	for log in tests/*.log; do
		case "$log" in */test-suite.log) continue ;; esac
		grep -q -E '^:test-result: (FAIL|ERROR)' "${log%.log}.trs" 2>/dev/null || continue
		echo "----- $log"
		if grep -q -E 'Sanitizer|runtime error:|\[FAIL\]|CRASH' "$log"; then
			grep -E -B2 -A25 'ERROR: AddressSanitizer|ERROR: LeakSanitizer|runtime error:|SUMMARY:|\[FAIL\]|CRASH' "$log" |
				head -150
		else
			tail -40 "$log"
		fi
	done
fi
# Criterion runs each test in a forked child and judges it by its own
# protocol: a crash (ASan, UBSan abort) fails the test, but LeakSanitizer's
# report at a child's exit does not.  So every log is scanned as well.
reports=$(grep -l -E 'ERROR: (Address|Leak)Sanitizer|runtime error:' tests/*.log 2>/dev/null || true)
if [ -n "$reports" ]; then
	rc=1
	for log in $reports; do
		echo "----- sanitizer report in $log"
		grep -E -A20 'ERROR: (Address|Leak)Sanitizer|runtime error:' "$log" | head -80
	done
fi
echo "=== sanitize ($backend): fuzz corpus replay"
make -j"$jobs" fuzz-replay >replay.out 2>&1 || { rc=1; tail -60 replay.out; }
grep -h 'inputs' replay.out || true
echo "=== sanitize ($backend): $( [ $rc -eq 0 ] && echo clean || echo FAILED ) in $(($(date +%s) - t0)) s (build dir $bdir)"
exit $rc
