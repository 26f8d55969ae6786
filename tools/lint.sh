#!/bin/sh
# tools/lint.sh - static checks of the project's own C code:
#
#  1. clang builds, both TLS backends, with the project's warning set
#     (configure.ac, "warnings") and -Werror: the library, the plugin, the
#     tests and the fuzz targets (as replay programs).  gcc builds with
#     -Werror are check.sh's (--enable-werror), so gcc and clang both gate.
#  2. cppcheck (warning, performance, portability; errors always) on
#     probes/, plugin/ and fuzz/, once per TLS configuration; checked false
#     positives are listed in tools/cppcheck.supp.
#  3. clang-tidy on probes/ and plugin/ with the clang static analyzer
#     (clang-analyzer-*) and the bugprone-* checks, minus the ones that
#     only restate style choices of this code base (see TIDY_CHECKS).
#
#   tools/lint.sh            everything
#   tools/lint.sh cppcheck   one part: build, cppcheck or tidy
#
# Environment: LINT_BUILDDIR (default build-lint/ in the source tree, with
# openssl/ and mbedtls/ inside), LINT_JOBS (default: the number of cores).
# Exit status 0 only when every part is clean.
set -eu

top=$(cd "$(dirname "$0")/.." && pwd)
bdir=${LINT_BUILDDIR:-$top/build-lint}
jobs=${LINT_JOBS:-$(nproc 2>/dev/null || echo 2)}
parts=${*:-build cppcheck tidy}

# Left out, with the number of findings when measured:
#  easily-swappable-parameters  (many) every (ptr, len, ptr, len) API
#  suspicious-string-compare    (12) the !strcmp() idiom
#  implicit-widening-of-multiplication-result (9) constant sizes (1024 * 1024)
#  narrowing-conversions        (8) gcc's -Wconversion already gates these
#  macro-parentheses            (4) designated-initializer macros
#  branch-clone                 (1) parallel branches written out on purpose
#  clang-analyzer-security.insecureAPI.strcpy / DeprecatedOrUnsafeBufferHandling:
#                               flag every strcat/memcpy whatever the bounds
# Checked false positives of the checks that stay are in tools/tidy.supp.
TIDY_CHECKS='-*,clang-analyzer-*,-clang-analyzer-security.insecureAPI.DeprecatedOrUnsafeBufferHandling,-clang-analyzer-security.insecureAPI.strcpy,bugprone-*,-bugprone-easily-swappable-parameters,-bugprone-suspicious-string-compare,-bugprone-implicit-widening-of-multiplication-result,-bugprone-narrowing-conversions,-bugprone-macro-parentheses,-bugprone-branch-clone,-bugprone-reserved-identifier'

cd "$top"
if [ ! -x configure ] || [ configure.ac -nt configure ] || [ Makefile.am -nt Makefile.in ]; then
	autoreconf -fi >/dev/null
fi

# A configured tree per backend: config.h for the analyzers, and the clang
# -Werror build.
configure_tree() { # BACKEND
	d="$bdir/$1"
	mkdir -p "$d"
	if [ ! -f "$d/Makefile" ] || [ "$top/configure" -nt "$d/Makefile" ]; then
		(cd "$d" && "$top/configure" CC=clang --with-tls="$1" --enable-tests=yes --enable-werror \
			>configure.out 2>&1) || { cat "$d/configure.out"; return 1; }
	fi
}

status=0
t0=$(date +%s)
for b in openssl mbedtls; do configure_tree "$b" || exit 1; done

for part in $parts; do
	t1=$(date +%s)
	case $part in
	build)
		for b in openssl mbedtls; do
			d="$bdir/$b"
			# shellcheck disable=SC2015
			if (cd "$d" && make -j"$jobs" all >make.out 2>&1 &&
				make -j"$jobs" check TESTS= >>make.out 2>&1 &&
				make -j"$jobs" replay-programs >>make.out 2>&1); then
				n=$(grep -c 'warning:' "$d/make.out" || true)
				if [ "$n" -ne 0 ]; then
					echo "lint: clang build ($b): $n warnings"
					grep 'warning:' "$d/make.out" | sort -u
					status=1
				else
					echo "lint: clang -Werror build ($b): clean"
				fi
			else
				echo "lint: clang -Werror build ($b): FAILED"
				grep -E 'warning:|error:' "$d/make.out" | sort -u | head -40
				status=1
			fi
		done
		;;
	cppcheck)
		command -v cppcheck >/dev/null 2>&1 || { echo "lint: cppcheck not installed" >&2; exit 1; }
		common="--enable=warning,performance,portability --std=c11 --inline-suppr --quiet
			--error-exitcode=1 --suppress=missingIncludeSystem --suppressions-list=tools/cppcheck.supp
			-j $jobs -I probes -I plugin -I tests -I fuzz -D_GNU_SOURCE
			--template={file}:{line}:{column}: {severity}: {message} [{id}]"
		ossl=
		for f in probes/*/*.c plugin/*.c fuzz/*.c; do
			case $f in *_mbedtls.c) ;; *) ossl="$ossl $f" ;; esac
		done
		mbed=$(echo probes/*/*_mbedtls.c)
		ok=1
		# shellcheck disable=SC2086
		cppcheck $common -I "$bdir/openssl" $ossl >"$bdir/cppcheck.out" 2>&1 || ok=0
		# shellcheck disable=SC2086
		cppcheck $common -I "$bdir/mbedtls" $mbed >>"$bdir/cppcheck.out" 2>&1 || ok=0
		if [ $ok = 1 ] && ! grep -q ': \(error\|warning\|performance\|portability\):' "$bdir/cppcheck.out"; then
			echo "lint: cppcheck: clean"
		else
			echo "lint: cppcheck: findings"
			cat "$bdir/cppcheck.out"
			status=1
		fi
		;;
	tidy)
		command -v clang-tidy >/dev/null 2>&1 || { echo "lint: clang-tidy not installed" >&2; exit 1; }
		: >"$bdir/tidy.out"
		# shellcheck disable=SC2016 # $0..$2 expand in the inner shell
		for f in probes/*/*.c plugin/*.c; do
			case $f in *_mbedtls.c) echo "$f $bdir/mbedtls" ;; *) echo "$f $bdir/openssl" ;; esac
		done | xargs -P "$jobs" -n 2 sh -c \
			'clang-tidy --quiet --checks="$0" --warnings-as-errors="*" "$1" -- -I"$2" -Iprobes -Iplugin -D_GNU_SOURCE 2>/dev/null' \
			"$TIDY_CHECKS" >>"$bdir/tidy.out" || true
		# findings (not notes), minus the suppressions
		grep -E '^[^ ]+:[0-9]+:[0-9]+: (warning|error): ' "$bdir/tidy.out" | sort -u |
			awk -F'\n' -v supp="$top/tools/tidy.supp" '
			BEGIN { while ((getline l < supp) > 0) if (l !~ /^#/ && l ~ /\|/) s[n++] = l }
			{
				for (i = 0; i < n; i++) {
					split(s[i], f, "|")
					if (index($0, f[1]) && index($0, f[2]) && index($0, f[3])) next
				}
				print
			}' >"$bdir/tidy.findings"
		if [ -s "$bdir/tidy.findings" ]; then
			echo "lint: clang-tidy: findings (details in $bdir/tidy.out)"
			cat "$bdir/tidy.findings"
			status=1
		else
			echo "lint: clang-tidy: clean ($(grep -c . "$top/tools/tidy.supp" >/dev/null && grep -vc '^#\|^$' "$top/tools/tidy.supp") checked false positives suppressed)"
		fi
		;;
	*)
		echo "usage: $0 [build] [cppcheck] [tidy]" >&2
		exit 2
		;;
	esac
	echo "lint: $part took $(($(date +%s) - t1)) s"
done
echo "=== lint: $( [ $status -eq 0 ] && echo clean || echo FAILED ) in $(($(date +%s) - t0)) s"
exit $status
