#!/bin/sh
# tests/test_docs.sh - the documentation is in step with the program:
#
#   - every long option in `check_imap_session --help` is described in the
#     OPTIONS section of the man page and appears in README.md;
#   - every long option the man page's OPTIONS section or README's options
#     table describes exists in --help;
#   - --help and the option table in plugin/options.c list the same options
#     (--extra-opts is handled before getopt, so it may be missing there);
#   - the man page formats without groff warnings and names the version
#     that --version prints.
#
# Environment (set by Makefile.am): PROBE (the binary), TOP_SRCDIR.
set -u
export LC_ALL=C.UTF-8

TOP_SRCDIR=${TOP_SRCDIR:-$(cd "$(dirname "$0")/.." && pwd)}
PROBE=${PROBE:-${TOP_BUILDDIR:-.}/check_imap_session}
MAN="$TOP_SRCDIR/doc/check_imap_session.1"
README="$TOP_SRCDIR/README.md"
OPTIONS_C="$TOP_SRCDIR/plugin/options.c"

fail=0
bad() { echo "FAIL: $*"; fail=1; }

if ! command -v groff > /dev/null 2>&1; then
	echo "SKIP: groff is not installed (apt-get install groff-base)"
	exit 77
fi
[ -x "$PROBE" ] || { echo "ERROR: $PROBE is not built"; exit 99; }
for f in "$MAN" "$README" "$OPTIONS_C"; do
	[ -f "$f" ] || { echo "ERROR: $f is missing"; exit 99; }
done

tmp=$(mktemp -d "${TMPDIR:-/tmp}/cis-docs.XXXXXX") || exit 99
trap 'rm -rf "$tmp"' EXIT

# Long option names (without dashes) in a text on stdin, sorted, unique.
longopts() {
	grep -oE -- '(^|[^A-Za-z0-9-])--[a-z0-9][a-z0-9-]*[a-z0-9]' | sed 's/^[^-]*--//' | sort -u
}

# ------------------------------------------------------------------ --help
"$PROBE" --help > "$tmp/help.txt"
rc=$?
[ $rc -eq 3 ] || bad "--help exits $rc, expected 3"
longopts < "$tmp/help.txt" > "$tmp/help.opts"
n=$(wc -l < "$tmp/help.opts")
[ "$n" -ge 20 ] || bad "only $n long options found in --help"
echo "--help lists $n long options"

# ------------------------------------------------------------------ man page
warnings=$(groff -man -Tutf8 -ww -z "$MAN" 2>&1)
[ -z "$warnings" ] || bad "groff warnings for $MAN:
$warnings"

# Render on one very long line per paragraph (no hyphenation at line ends),
# plain text, ASCII hyphens.
groff -man -Tutf8 -rLL=2000n -P-c -P-b -P-o -P-u "$MAN" 2> /dev/null |
	sed 's/\xe2\x88\x92/-/g; s/\xe2\x80\x90/-/g' > "$tmp/man.txt"
# The OPTIONS section: from the heading to the next heading.
sed -n '/^OPTIONS$/,/^[A-Z][A-Z -]*$/p' "$tmp/man.txt" | sed '$d' > "$tmp/man-options.txt"
[ -s "$tmp/man-options.txt" ] || bad "no OPTIONS section in the rendered man page"
longopts < "$tmp/man-options.txt" > "$tmp/man.opts"

while read -r o; do
	grep -qx -- "$o" "$tmp/man.opts" || bad "--$o is in --help but not in the man page's OPTIONS section"
done < "$tmp/help.opts"
while read -r o; do
	grep -qx -- "$o" "$tmp/help.opts" || bad "--$o is in the man page's OPTIONS section but not in --help"
done < "$tmp/man.opts"

version=$("$PROBE" --version | sed -n '1s/^check_imap_session \([^ ]*\).*/\1/p')
grep -q "^\.TH .*\"check_imap_session $version\"" "$MAN" ||
	bad "the man page's .TH line does not name version $version (--version)"

# ------------------------------------------------------------------ README
longopts < "$README" > "$tmp/readme.opts"
while read -r o; do
	grep -qx -- "$o" "$tmp/readme.opts" || bad "--$o is in --help but not in README.md"
done < "$tmp/help.opts"
# The first column of README's "## Options" table.
sed -n '/^## Options/,/^## /p' "$README" | grep '^| `' | cut -d'|' -f2 | longopts > "$tmp/readme-table.opts"
[ -s "$tmp/readme-table.opts" ] || bad "no options table under '## Options' in README.md"
while read -r o; do
	grep -qx -- "$o" "$tmp/help.opts" || bad "--$o is in README's options table but not in --help"
done < "$tmp/readme-table.opts"

# ------------------------------------------------------------------ options.c
# Entries of the getopt table: { "name", no_argument|required_argument|...
grep -oE '\{ *"[a-z0-9-]+", *(no|required|optional)_argument' "$OPTIONS_C" |
	sed 's/^{ *"\([^"]*\)".*/\1/' | sort -u > "$tmp/code.opts"
[ -s "$tmp/code.opts" ] || bad "no getopt table found in $OPTIONS_C"
while read -r o; do
	grep -qx -- "$o" "$tmp/help.opts" || bad "--$o is accepted (plugin/options.c) but not in --help"
done < "$tmp/code.opts"
while read -r o; do
	[ "$o" = extra-opts ] && continue
	grep -qx -- "$o" "$tmp/code.opts" || bad "--$o is in --help but not in the getopt table of plugin/options.c"
done < "$tmp/help.opts"

# ------------------------------------------------------------------ packaging
# Options the shipped Icinga 2 and Nagios definitions use must exist...
ICINGA_CONF="$TOP_SRCDIR/packaging/icinga2/check_imap_session.conf"
for f in "$ICINGA_CONF" "$TOP_SRCDIR/packaging/icinga2/example-service.conf" \
	"$TOP_SRCDIR/packaging/nagios/check_imap_session.cfg"; do
	[ -f "$f" ] || { bad "$f is missing"; continue; }
	longopts < "$f" | while read -r o; do
		grep -qx -- "$o" "$tmp/help.opts" || echo "FAIL: --$o (in ${f#"$TOP_SRCDIR"/}) is not an option of the plugin"
	done
done > "$tmp/pkg.fail"
[ -s "$tmp/pkg.fail" ] && { cat "$tmp/pkg.fail"; fail=1; }
# ...and the CheckCommand has an argument for every option, under its long
# name or its short letter ("-H, --hostname" in --help).  --password is
# deliberately left out (the password goes through --password-env).
if [ -f "$ICINGA_CONF" ]; then
	while read -r o; do
		case $o in password | help | version) continue ;; esac
		short=$(sed -n "s/^ *\(-[A-Za-z0-9]\), --$o\([ =]\|\$\).*/\1/p" "$tmp/help.txt" | head -n 1)
		grep -q "^[[:space:]]*\"--$o\" = {" "$ICINGA_CONF" && continue
		[ -n "$short" ] && grep -q "^[[:space:]]*\"$short\" = {" "$ICINGA_CONF" && continue
		bad "--$o has no argument in the Icinga 2 CheckCommand (packaging/icinga2/check_imap_session.conf)"
	done < "$tmp/help.opts"
fi

if [ $fail -ne 0 ]; then
	echo "documentation is out of step with the program (see above)"
	exit 1
fi
echo "PASS: --help, man page, README.md and plugin/options.c agree"
exit 0
