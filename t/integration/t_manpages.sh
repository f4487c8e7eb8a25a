#!/bin/bash
# t_manpages.sh - the manual pages cannot drift from the code.
#
# - mandoc -Tlint is clean on every page of man/ (every level, style
#   included; the one message accepted is "referenced manual not found"
#   for a sluice page that exists in man/, since mandoc looks in the
#   installed manuals only);
# - sluice.conf(5) documents exactly the settings of etc/sluice.conf, in
#   both directions (t/tools/conf_settings.py: commented-out settings and
#   the example entries of lists count, see its header), and each value
#   etc/sluice.conf sets is the default the page states;
# - each option in the usage text of sluice-policyd, sluice-milter,
#   sluice-keygen and sluice-ctl is in its page, and each sluice-ctl
#   command of `sluice-ctl -h` is a .Cm of sluice-ctl(8);
# - and the comparison itself can fail: a setting added to a copy of
#   etc/sluice.conf, or removed from a copy of the page, is reported.
# No network namespace: nothing here runs a daemon.
[ -n "${BASH_VERSION:-}" ] || exec bash "$0" "$@"
set -u
cd "$(dirname "$0")/../.." || exit 1
# shellcheck source=t/lib.sh
. t/lib.sh

settings=t/tools/conf_settings.py
conf=etc/sluice.conf
page=man/sluice.conf.5
work=$(mktemp -d) || bail_out "mktemp"
trap 'rm -rf "$work"' EXIT

if ! command -v mandoc >/dev/null; then
	bail_out "mandoc not installed (tools/deps.sh installs it)"
fi

# --- mandoc -Tlint on every page ---------------------------------------
lint_page() {
	local f=$1 out rest line name sec
	out=$(mandoc -Tlint "$f" 2>&1)
	rest=
	while IFS= read -r line; do
		[ -n "$line" ] || continue
		if [[ $line =~ referenced\ manual\ not\ found:\ Xr\ (sluice[-a-z.]*)\ ([0-9]) ]]; then
			name=${BASH_REMATCH[1]} sec=${BASH_REMATCH[2]}
			[ -f "man/$name.$sec" ] && continue
		fi
		rest="$rest$line"$'\n'
	done <<<"$out"
	if [ -z "$rest" ]; then
		ok "mandoc -Tlint clean: $f"
	else
		not_ok "mandoc -Tlint clean: $f" "$rest"
	fi
}
pages=(man/*.[1-9])
[ "${#pages[@]}" -ge 5 ] && ok "5 pages or more in man/ (${#pages[@]})" ||
	not_ok "5 pages or more in man/" "${pages[*]}"
for f in "${pages[@]}"; do lint_page "$f"; done
for n in sluice-milter.8 sluice-policyd.8 sluice-keygen.8 sluice-ctl.8 sluice.conf.5; do
	check "man/$n exists" test -f "man/$n"
done

# --- the settings --------------------------------------------------------
# compare CONF PAGE: prints the differences, status 1 if any
compare() {
	local c m
	c=$("$T_PY" "$settings" conf "$1") || return 2
	m=$("$T_PY" "$settings" man "$2") || return 2
	diff <(printf '%s\n' "$c") <(printf '%s\n' "$m") |
		sed -n -e 's/^< /in etc\/sluice.conf, not in sluice.conf(5): /p' \
			-e 's/^> /in sluice.conf(5), not in etc\/sluice.conf: /p' | grep . && return 1
	return 0
}
n_conf=$("$T_PY" "$settings" conf "$conf" | wc -l)
[ "$n_conf" -ge 100 ] && ok "etc/sluice.conf read: $n_conf settings" ||
	not_ok "etc/sluice.conf read: at least 100 settings" "got $n_conf"
all_conf=$("$T_PY" "$settings" conf "$conf")
for p in redis.sentinel.master milter.srs.secret_file dkim.keys.selector \
	policyd.ratelimit.window policyd.relay.action policyd.recipients.ldap_uri hostname; do
	grep -qx "$p" <<<"$all_conf" && ok "commented setting found: $p" ||
		not_ok "commented setting found: $p"
done
if out=$(compare "$conf" "$page"); then
	ok "sluice.conf(5) and etc/sluice.conf list the same settings"
else
	not_ok "sluice.conf(5) and etc/sluice.conf list the same settings" "$out"
fi
if out=$("$T_PY" "$settings" defaults "$conf" "$page"); then
	ok "every value etc/sluice.conf sets is sluice.conf(5)'s default"
else
	not_ok "every value etc/sluice.conf sets is sluice.conf(5)'s default" "$out"
fi

# The check can fail, in both directions and for a default.
sed 's/^redis = {$/redis = {\n  keepalive = 60;               # a new setting/' "$conf" >"$work/added.conf"
out=$(compare "$work/added.conf" "$page")
assert_match "$out" 'in etc/sluice.conf, not in sluice.conf\(5\): redis.keepalive' \
	"a setting added to etc/sluice.conf alone is reported"
sed '/^\.It Cm policyd\.greylist\.delay /d' "$page" >"$work/removed.5"
out=$(compare "$conf" "$work/removed.5")
assert_match "$out" 'in etc/sluice.conf, not in sluice.conf\(5\): policyd.greylist.delay' \
	"a setting missing from sluice.conf(5) is reported"
sed 's/^\.It Cm redis\.port .*/&\n.It Cm redis.gone Ar integer/' "$page" >"$work/extra.5"
out=$(compare "$conf" "$work/extra.5")
assert_match "$out" 'in sluice.conf\(5\), not in etc/sluice.conf: redis.gone' \
	"a setting only in sluice.conf(5) is reported"
sed 's/^  timeout_ms = 100; /  timeout_ms = 250; /' "$conf" >"$work/default.conf"
out=$("$T_PY" "$settings" defaults "$work/default.conf" "$page")
assert_match "$out" 'redis.timeout_ms: etc/sluice.conf says 250' \
	"a default that differs from the page is reported"

# --- options and commands of the programs --------------------------------
# options_of USAGE: every -x and --long in a usage text, one a line
options_of() { grep -oE '(^|[ [|(])--?[A-Za-z][A-Za-z-]*' <<<"$1" | sed 's/^[ [|(]//' | sort -u; }
check_options() {
	local prog=$1 page=$2 usage o missing=
	if [ ! -x "$SLUICE_BUILD/$prog" ]; then
		not_ok "$prog built ($SLUICE_BUILD/$prog)"
		return
	fi
	usage=$("$SLUICE_BUILD/$prog" -h 2>&1)
	for o in $(options_of "$usage"); do
		o=${o#-}
		case $o in
		-*) grep -qE "^\.(Op |It |)Fl .*\\\\$o\b|Fl \\\\$o\b" "$page" || missing="$missing -$o" ;;
		*) grep -qE "Fl ([A-Za-z]*$o[A-Za-z]*( |$)|$o\b)" "$page" || missing="$missing -$o" ;;
		esac
	done
	if [ -z "$missing" ]; then
		ok "every option of '$prog -h' is in $page"
	else
		not_ok "every option of '$prog -h' is in $page" "missing:$missing" "$usage"
	fi
}
check_options sluice-policyd man/sluice-policyd.8
check_options sluice-milter man/sluice-milter.8
check_options sluice-keygen man/sluice-keygen.8
check_options sluice-ctl man/sluice-ctl.8
if [ -x "$SLUICE_BUILD/sluice-ctl" ]; then
	missing=
	# "  NAME USAGE" lines under "commands:" (ctl/main.c's usage()).
	for c in $("$SLUICE_BUILD/sluice-ctl" -h 2>&1 | sed -n 's/^  \([a-z][a-z-]*\).*/\1/p' | sort -u); do
		grep -qE "^\.(It |)Cm $c\b|^\.Cm $c\b" man/sluice-ctl.8 || missing="$missing $c"
	done
	if [ -z "$missing" ]; then
		ok "every command of 'sluice-ctl -h' is in sluice-ctl(8)"
	else
		not_ok "every command of 'sluice-ctl -h' is in sluice-ctl(8)" "missing:$missing"
	fi
fi

# --- the page is what man shows -------------------------------------------
out=$(mandoc -Tutf8 "$page" 2>&1 | col -b)
assert_match "$out" 'policyd\.greylist\.delay duration \(2m' "sluice.conf(5) renders a setting with its type and default"

done_testing
