#!/bin/bash
# bench/run.sh - issue 8's benchmark, in one command.
#
#   bench/run.sh [-n N] [-r RUNS] [-d DELAY_MS] [-b "openssl mbedtls"]
#                [-s SECTIONS] [--no-results] [--keep]
#
#   -n N          rounds of the interleaved cost and trust-store runs (default 30)
#   -r RUNS       runs per cell of the round-trip measurement (default 9)
#   -d DELAY_MS   one-way delay of the proxy for round trips (default 25)
#   -b BACKENDS   TLS backends to build and measure (default "openssl mbedtls")
#   -s SECTIONS   comma list of cost,rss,trust,rtt,waits,profile (default: all)
#   --no-results  do not write bench/results/<date>-<backend>.txt
#   --keep        leave Dovecot running afterwards (stop it with
#                 tests/dovecot/fixture.sh stop bench/work/dovecot)
#
# What it does, on a fresh Debian 12 machine as root (or with sudo):
#  1. installs what it needs (tools/install-deps.sh, plus the reference
#     monitoring-plugins-basic, valgrind and strace);
#  2. snapshots the working tree into bench/work/src (others may be editing
#     it) and builds check_imap_session there for each TLS backend, out of
#     tree, with the default CFLAGS (-g -O2), tests off;
#  3. starts the test suite's Dovecot (tests/dovecot/fixture.sh) in
#     bench/work/dovecot;
#  4. runs bench/bench.py: every contender N times interleaved (the
#     reference `check_imap -S`, our probe with each backend, and with
#     --pipeline when the probe supports it) measuring wall, CPU and peak
#     RSS from wait4() (bench/runstat.c), where that RSS is (private vs
#     shared, bench/rss-at-exit.c), the trust store variants, round trips
#     through bench/rtt-proxy.py, client waits under strace, and a
#     callgrind profile;
#  5. prints the summary, writes bench/results/<date>-<backend>.txt and
#     bench/work/out/{summary.txt,bench.json,readme-table.md};
#  6. stops Dovecot.
#
# Not part of `make check`.  Everything it creates lives in bench/work/
# (ignored by git) and a temporary directory, except the results files.
set -euo pipefail

here=$(cd "$(dirname "$0")" && pwd)
top=$(cd "$here/.." && pwd)
work="$here/work"

n=30 runs=9 delay=25 backends="openssl mbedtls" sections="cost,rss,trust,rtt,waits,profile"
results=1 keep=0
usage() { sed -n '2,16s/^# \{0,1\}//p' "$0" >&2; exit 2; }
while [ $# -gt 0 ]; do
	case $1 in
	-n) n=$2; shift 2 ;;
	-r) runs=$2; shift 2 ;;
	-d) delay=$2; shift 2 ;;
	-b) backends=$2; shift 2 ;;
	-s) sections=$2; shift 2 ;;
	--no-results) results=0; shift ;;
	--keep) keep=1; shift ;;
	-h | --help) usage ;;
	*) echo "run.sh: unknown argument $1" >&2; usage ;;
	esac
done
case "$n$runs$delay" in *[!0-9]*) echo "run.sh: -n, -r and -d take whole numbers" >&2; exit 2 ;; esac
[ "$n" -gt 0 ] && [ "$runs" -gt 0 ] && [ "$delay" -gt 0 ] || { echo "run.sh: -n, -r, -d must be > 0" >&2; exit 2; }

say() { echo "=== $*" >&2; }

# ------------------------------------------------------------------ 1. dependencies
say "dependencies"
"$top/tools/install-deps.sh" monitoring-plugins-basic valgrind strace
ref=/usr/lib/nagios/plugins/check_imap
[ -x "$ref" ] || { echo "run.sh: $ref missing (monitoring-plugins-basic)" >&2; exit 1; }

# ------------------------------------------------------------------ 2. snapshot + build
mkdir -p "$work"
say "snapshot of the working tree -> bench/work/src"
rm -rf "$work/src"
mkdir -p "$work/src"
if git -C "$top" rev-parse --is-inside-work-tree > /dev/null 2>&1; then
	# tracked and untracked-but-not-ignored files, as they are now
	(cd "$top" && git ls-files -z -c -o --exclude-standard | grep -zv '^bench/' |
		xargs -0 sh -c 'for f; do [ -e "$f" ] && printf "%s\0" "$f"; done' sh |
		tar --null -cf - -T -) | tar -xf - -C "$work/src"
	git -C "$top" rev-parse HEAD > "$work/src/.bench-head" 2> /dev/null || true
	git -C "$top" diff HEAD 2> /dev/null | sha256sum | cut -c1-12 > "$work/src/.bench-diff" || true
else
	(cd "$top" && tar --exclude=./bench/work --exclude='./build-*' --exclude=./.git -cf - .) |
		tar -xf - -C "$work/src"
fi
if ! (cd "$work/src" && autoreconf -fi > "$work/autoreconf.log" 2>&1); then
	# An automake warning (made an error by AM_INIT_AUTOMAKE's -Werror) in a
	# tree someone is editing should not stop a measurement: retry the
	# snapshot without -Werror, and say so.
	grep -h 'warning' "$work/autoreconf.log" >&2 || true
	echo "run.sh: autoreconf failed; retrying the snapshot without automake's -Werror" >&2
	sed -i '/AM_INIT_AUTOMAKE/s/ -Werror//' "$work/src/configure.ac"
	(cd "$work/src" && autoreconf -fi > "$work/autoreconf.log" 2>&1) ||
		{ cat "$work/autoreconf.log" >&2; echo "run.sh: autoreconf failed" >&2; exit 1; }
fi

probe_args=()
for b in $backends; do
	say "build: $b (bench/work/build-$b)"
	bd="$work/build-$b"
	rm -rf "$bd"
	mkdir -p "$bd"
	if ! (cd "$bd" && "$work/src/configure" --with-tls="$b" --enable-tests=no > configure.out 2>&1); then
		tail -30 "$bd/configure.out" >&2
		echo "run.sh: configure --with-tls=$b failed" >&2
		exit 1
	fi
	if ! make -C "$bd" -j"$(nproc)" check_imap_session > "$bd/make.out" 2>&1; then
		grep -E 'error|undefined' "$bd/make.out" | head -20 >&2 || tail -20 "$bd/make.out" >&2
		echo "run.sh: the probe does not build with $b (the tree is being edited?)" >&2
		exit 1
	fi
	probe_args+=(--probe "$b=$bd/check_imap_session")
done

say "build: runstat, rss-at-exit.so"
cc -O2 -Wall -Wextra -o "$work/runstat" "$here/runstat.c"
cc -shared -fPIC -O2 -Wall -Wextra -o "$work/rss-at-exit.so" "$here/rss-at-exit.c"

# ------------------------------------------------------------------ 3. Dovecot
say "Dovecot (tests/dovecot/fixture.sh start bench/work/dovecot)"
fixture="$top/tests/dovecot/fixture.sh"
stop_fixture() { [ "$keep" = 1 ] || "$fixture" stop "$work/dovecot" > /dev/null 2>&1 || true; }
trap stop_fixture EXIT
trap 'exit 130' INT TERM
CIS_FIXTURE_QUIET=1 "$fixture" start --fresh "$work/dovecot"

# ------------------------------------------------------------------ 4-5. measure, report
date=$(date +%Y-%m-%d)
resargs=()
[ "$results" = 1 ] && resargs=(--results-dir "$here/results" --date "$date")
cmd="bench/run.sh -n $n -r $runs -d $delay"
say "measuring (n=$n, round-trip runs=$runs, delay=${delay} ms, sections=$sections)"
python3 "$here/bench.py" --env "$work/dovecot/env" --runstat "$work/runstat" \
	"${probe_args[@]}" --ref "$ref" -n "$n" --rtt-runs "$runs" --delay-ms "$delay" \
	--sections "$sections" --rss-preload "$work/rss-at-exit.so" --out-dir "$work/out" --command "$cmd" "${resargs[@]}"
say "done: bench/work/out/summary.txt, bench/work/out/readme-table.md" \
	"$([ "$results" = 1 ] && echo ", bench/results/$date-*.txt")"
