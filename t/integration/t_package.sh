#!/bin/bash
# t_package.sh - the Debian package, built, checked, installed and purged
# on this machine, as an admin would (issue 12's "Done when").
#
# Builds with `make deb` (dpkg-buildpackage -us -uc -b in a copy of the
# tree; DEB_BUILD_OPTIONS=nocheck: make check runs the unit tests
# itself), runs lintian (any E: or W: fails), checks the sysusers.d file
# makes the sluice user in an empty root, installs the .deb with apt-get,
# then: the user exists, the conffile is registered, `sluice-policyd -t`
# and `sluice-milter -t` accept the installed /etc/sluice/sluice.conf, the
# units are installed but not enabled and nothing was started,
# `systemd-analyze verify` is silent on the installed units and
# `systemd-analyze security` scores them; then `apt-get purge` and every
# file and the conffile are gone (the user stays: Debian leaves system
# users in place, files may still be theirs).
#
# When systemd runs as PID 1, the units are also started, reloaded and
# stopped with systemctl; otherwise (CI containers, this machine) that
# part is skipped with a message. Takes the apt lock (/tmp/apt.lock) like
# every apt-get here, and its own lock so that two runs never meet.
set -u
. "$(dirname "$0")/../lib.sh"

STATE=/run/sluice-t.package-$$
installed=
cleanup() {
	if [ -n "$installed" ]; then
		flock /tmp/apt.lock env DEBIAN_FRONTEND=noninteractive apt-get purge -y -q sluice \
			>/dev/null 2>&1
	fi
	if [ -n "${SLUICE_T_KEEP:-}" ]; then
		echo "# kept $STATE"
	else
		rm -rf "$STATE"
	fi
}
trap 'cleanup; harness_stop' EXIT
[ "$(id -u)" -eq 0 ] || bail_out "needs root (apt-get install)"
for c in dpkg-buildpackage lintian systemd-analyze systemd-sysusers; do
	command -v $c >/dev/null || bail_out "$c missing (make deps)"
done
mkdir -p -m 0755 "$STATE" || bail_out "mkdir $STATE"
exec 9>/tmp/sluice-t-package.lock
flock -w 600 9 || bail_out "another t_package.sh holds /tmp/sluice-t-package.lock"
if dpkg-query -W -f='${Status}' sluice 2>/dev/null | grep -q ' installed'; then
	bail_out "a sluice package is already installed here: not touching it"
fi
[ ! -e /etc/sluice ] || bail_out "/etc/sluice exists (a make install?): the package would meet it"

# ---- build
start=$SECONDS
if out=$(make -C "$T_REPO" --no-print-directory deb BUILD="$STATE/build" \
	DEB_BUILD_OPTIONS="nocheck noddebs" 2>&1); then
	ok "make deb built the package ($((SECONDS - start)) s)"
else
	bail_out "make deb failed" "$(printf '%s\n' "$out" | tail -n 30)"
fi
deb=$(printf '%s\n' "$out" | tail -n 1)
[ -f "$deb" ] || bail_out "make deb printed no .deb path (last line: $deb)"
assert_match "$deb" "^$STATE/build/deb/sluice_[^/]+_[a-z0-9]+\.deb$" "make deb prints the .deb's path"

contents=$(dpkg-deb -c "$deb" | awk '{print $6}')
for f in ./usr/sbin/sluice-policyd ./usr/sbin/sluice-milter ./usr/sbin/sluice-keygen \
	./usr/sbin/sluice-ctl ./etc/sluice/sluice.conf ./lib/systemd/system/sluice-policyd.service \
	./lib/systemd/system/sluice-milter.service ./usr/lib/sysusers.d/sluice.conf; do
	assert_match "$contents" "^$(re_escape "$f")$" "the package holds $f"
done
for m in "$T_REPO"/man/*.5 "$T_REPO"/man/*.8; do
	[ -e "$m" ] || continue
	s=${m##*.}
	assert_match "$contents" "^\./usr/share/man/man$s/$(re_escape "${m##*/}")\.gz$" \
		"the package holds man page ${m##*/}"
done
depends=$(dpkg-deb -f "$deb" Depends)
assert_match "$depends" "libmilter1\.0\.1.*libunbound8|libunbound8.*libmilter" \
	"Depends has the libraries the Makefile links (shlibs:Depends): $depends"
assert_match "$(dpkg-deb -f "$deb" Depends)" "systemd-sysusers|systemd \|" \
	"Depends names what runs the sysusers.d file"

# ---- lintian (as nobody: lintian warns about root, and reads only)
chmod 0755 "$STATE" "$STATE/build" "$STATE/build/deb"
lint=$(cd /tmp && runuser -u nobody -- lintian --fail-on error,warning "$deb" 2>&1)
status=$?
if [ "$status" -eq 0 ] && ! printf '%s\n' "$lint" | grep -q '^[EW]: '; then
	ok "lintian: no error, no warning"
else
	not_ok "lintian: no error, no warning (exit status $status)" "$lint"
fi
[ -z "$lint" ] || diag "lintian said:" "$lint"

# ---- the sysusers.d file makes the user (in an empty root: here it exists already)
root=$STATE/sysroot
mkdir -p "$root/etc" "$root/extract"
: >"$root/etc/passwd"
: >"$root/etc/group"
dpkg-deb -x "$deb" "$root/extract"
systemd-sysusers --root="$root" "$root/extract/usr/lib/sysusers.d/sluice.conf" >/dev/null 2>&1
assert_match "$(cat "$root/etc/passwd")" '^sluice:x:[0-9]+:[0-9]+:sluice mail gateway:/nonexistent:/usr/sbin/nologin$' \
	"sysusers.d: an empty system gets the user sluice, no home, no shell"
assert_match "$(cat "$root/etc/group")" '^sluice:x:[0-9]+:' "sysusers.d: and its group sluice"

# ---- install
user_before=$(getent passwd sluice || true)
if out=$(flock /tmp/apt.lock env DEBIAN_FRONTEND=noninteractive \
	apt-get install -y -q --no-install-recommends "$deb" 2>&1); then
	installed=1
	ok "apt-get install ./sluice_*.deb"
else
	bail_out "apt-get install failed" "$(printf '%s\n' "$out" | tail -n 20)"
fi
check "the user sluice exists" getent passwd sluice
[ -n "$user_before" ] && diag "(the user existed before: make deps makes it for the tests)"
assert_match "$(dpkg-query -W -f='${Conffiles}' sluice)" "^ /etc/sluice/sluice\.conf [0-9a-f]{32}$" \
	"/etc/sluice/sluice.conf is a conffile"
for d in policyd milter; do
	out=$(/usr/sbin/sluice-$d -t 2>&1)
	assert_match "$out" "^/etc/sluice/sluice\.conf: configuration is valid$" \
		"/usr/sbin/sluice-$d -t accepts the installed config"
done
check "sluice-keygen runs (-h)" /usr/sbin/sluice-keygen -h
for u in sluice-policyd sluice-milter; do
	check "$u.service installed, not enabled" \
		sh -c "test -f /lib/systemd/system/$u.service && ! ls /etc/systemd/system/*.wants/$u.service"
	out=$(systemd-analyze verify "/lib/systemd/system/$u.service" 2>&1)
	assert_eq "$out" "" "systemd-analyze verify $u.service: no complaint"
	score=$(systemd-analyze security --offline=yes "/lib/systemd/system/$u.service" 2>&1 |
		sed -nE 's/^→ Overall exposure level for [^:]+: ([0-9.]+) .*/\1/p')
	diag "systemd-analyze security $u.service: exposure $score"
	check "$u.service: exposure $score is below 2.0" awk -v s="${score:-99}" 'BEGIN { exit !(s < 2.0) }'
done
check "nothing was started by the install" sh -c "! pgrep -f '^/usr/sbin/sluice-(policyd|milter)'"

# ---- under a running systemd only
# sd_booted(3): systemd is the running init when /run/systemd/system exists.
if [ "$(ps -p 1 -o comm= 2>/dev/null)" = systemd ] && [ -d /run/systemd/system ]; then
	for u in sluice-policyd sluice-milter; do
		check "systemctl start $u (Type=notify: returns after READY=1)" systemctl start "$u"
		check "$u is active" systemctl is-active "$u"
		check "$u: its socket is in /run/sluice, group postfix" \
			sh -c "stat -c %G /run/sluice/${u#sluice-}.sock | grep -qx postfix"
		check "systemctl reload $u" systemctl reload "$u"
		check "$u is active after the reload" systemctl is-active "$u"
		check "systemctl stop $u" systemctl stop "$u"
	done
else
	diag "SKIP: systemd is not PID 1 here ($(ps -p 1 -o comm=)): the units are not started with systemctl" \
		"(t_service.sh checks the notify protocol against a stand-in for systemd's socket)"
fi

# ---- purge
if out=$(flock /tmp/apt.lock env DEBIAN_FRONTEND=noninteractive apt-get purge -y -q sluice 2>&1); then
	installed=
	ok "apt-get purge sluice"
else
	not_ok "apt-get purge sluice" "$(printf '%s\n' "$out" | tail -n 20)"
fi
check "dpkg knows no sluice any more" sh -c "! dpkg-query -W -f='\${Status}' sluice 2>/dev/null | grep -q installed"
for f in $contents; do
	f=${f#.}
	case $f in
	*/) continue ;;	# directories are shared (/usr/sbin) or checked below
	esac
	[ ! -e "$f" ] || [ -d "$f" ] || not_ok "left after purge: $f"
done
ok "no file of the package is left after purge"
check "the conffile and /etc/sluice are gone" sh -c "! test -e /etc/sluice"
check "no unit is left enabled or masked" sh -c "! ls /etc/systemd/system/*.wants/sluice-* /etc/systemd/system/sluice-* 2>/dev/null"
check "the user sluice stays (Debian does not remove system users)" getent passwd sluice
done_testing
