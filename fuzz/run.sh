#!/bin/sh
# fuzz/run.sh - build the libFuzzer targets with clang and run each one for
# a bounded time; fails if any target crashes, leaks, hits undefined
# behaviour, breaks one of its invariants, hangs or runs out of memory.
#
#   fuzz/run.sh [SECONDS [TARGET...]]     default: 20 s, every target
#
# Targets: parse conn sasl range script text session http smtp (fuzz/fuzz_TARGET.c).  They
# run two at a time on a 2-core machine (FUZZ_JOBS, default: the number of
# cores).  Seeds come from fuzz/corpus/TARGET/ (read only); what the
# fuzzer learns goes to BUILDDIR/corpus/TARGET/ and is reused by the next
# run; a crashing input is saved as BUILDDIR/artifacts/TARGET-crash-...
# and its log printed.
#
# Environment:
#   FUZZ_BUILDDIR  build directory (default: build-fuzz/ in the source tree);
#                  configured here on first use, with CC=clang and
#                  -fsanitize=fuzzer-no-link,address,undefined
#   FUZZ_CC        compiler (default clang)
#   FUZZ_TLS       TLS backend to build against (default openssl)
#   FUZZ_JOBS      targets run at the same time
#   FUZZ_FLAGS     extra libFuzzer flags, e.g. "-max_len=65536 -dict=..."
#
# Longer runs: see README.md, "Fuzzing".
set -eu

top=$(cd "$(dirname "$0")/.." && pwd)
secs=${1:-20}
[ $# -gt 0 ] && shift
targets=${*:-parse conn sasl range script text session http smtp}
bdir=${FUZZ_BUILDDIR:-$top/build-fuzz}
cc=${FUZZ_CC:-clang}
tls=${FUZZ_TLS:-openssl}
jobs=${FUZZ_JOBS:-$(nproc 2>/dev/null || echo 2)}

if ! command -v "$cc" >/dev/null 2>&1; then
	echo "fuzz/run.sh: $cc not found: libFuzzer needs clang (Debian: apt-get install clang libclang-rt-14-dev)" >&2
	exit 1
fi

cd "$top"
if [ ! -x configure ] || [ configure.ac -nt configure ] || [ Makefile.am -nt Makefile.in ]; then
	echo "=== fuzz: autoreconf"
	autoreconf -fi >/dev/null
fi

mkdir -p "$bdir"
bdir=$(cd "$bdir" && pwd)
cd "$bdir"
san="-fsanitize=fuzzer-no-link,address,undefined -fno-sanitize-recover=all"
if [ ! -f Makefile ] || [ "$top/configure" -nt Makefile ]; then
	echo "=== fuzz: configuring $bdir ($cc, $tls)"
	"$top/configure" CC="$cc" CFLAGS="-g -O1 -fno-omit-frame-pointer $san" \
		--with-tls="$tls" --enable-tests=no >configure.out 2>&1 ||
		{ cat configure.out; exit 1; }
fi
echo "=== fuzz: building targets"
programs=
for t in $targets; do programs="$programs fuzz/fuzz_$t"; done
t0=$(date +%s)
# shellcheck disable=SC2086
make -j"$jobs" $programs >make.out 2>&1 || { tail -60 make.out; exit 1; }
echo "=== fuzz: built in $(($(date +%s) - t0)) s; running each target for $secs s, $jobs at a time"

mkdir -p artifacts logs
# Keep a run well inside its time even when an input is slow: a single
# input over 10 s is a hang, over 1 GiB of RSS is a memory bug.
# detect_leaks: a leak is a failure too.
# Stack traces need llvm-symbolizer; Debian's llvm-14 has it only under a
# versioned name.
if [ -z "${ASAN_SYMBOLIZER_PATH:-}" ] && ! command -v llvm-symbolizer >/dev/null 2>&1; then
	for s in /usr/bin/llvm-symbolizer-*; do
		[ -x "$s" ] && export ASAN_SYMBOLIZER_PATH="$s"
	done
fi
export ASAN_OPTIONS="${ASAN_OPTIONS:-detect_leaks=1:abort_on_error=1:symbolize=1}"
export UBSAN_OPTIONS="${UBSAN_OPTIONS:-halt_on_error=1:print_stacktrace=1}"

run_one() { # TARGET
	t=$1
	mkdir -p "corpus/$t"
	dict=
	case $t in
	parse | conn | script | session) dict="-dict=$top/fuzz/imap.dict" ;;
	smtp) dict="-dict=$top/fuzz/smtp.dict" ;;
	esac
	# shellcheck disable=SC2086
	"./fuzz/fuzz_$t" -max_total_time="$secs" -timeout=10 -rss_limit_mb=1024 \
		-print_final_stats=1 -artifact_prefix="$bdir/artifacts/$t-" $dict ${FUZZ_FLAGS:-} \
		"corpus/$t" "$top/fuzz/corpus/$t" >"logs/$t.log" 2>&1
}

status=0
failed=
# shellcheck disable=SC2086 # a word list
set -- $targets
while [ $# -gt 0 ]; do
	pids=
	names=
	i=0
	while [ $# -gt 0 ] && [ $i -lt "$jobs" ]; do
		run_one "$1" &
		pids="$pids $!"
		names="$names $1"
		shift
		i=$((i + 1))
	done
	k=0
	for pid in $pids; do
		k=$((k + 1))
		name=$(echo "$names" | cut -d' ' -f$((k + 1)))
		if wait "$pid"; then
			execs=$(sed -n 's/^stat::number_of_executed_units: *//p' "logs/$name.log")
			cov=$(grep -o 'cov: [0-9]*' "logs/$name.log" | tail -1)
			echo "fuzz_$name: OK (${execs:-?} runs, ${cov:-cov ?})"
		else
			echo "fuzz_$name: FAILED; log follows ($bdir/logs/$name.log)"
			tail -60 "logs/$name.log"
			status=1
			failed="$failed $name"
		fi
	done
done
if [ $status -ne 0 ]; then
	echo "=== fuzz: FAILED:$failed; inputs in $bdir/artifacts/ (reproduce: $bdir/fuzz/fuzz_TARGET FILE)"
	ls -l "$bdir/artifacts/" 2>/dev/null || true
else
	echo "=== fuzz: all targets ran $secs s without a failure"
fi
exit $status
