#!/bin/sh
# deps.sh - install the Debian packages sluice builds and tests with,
# only those that are missing, with one "apt-get update" before.
set -eu
PKGS="build-essential pkg-config libc-ares-dev libmilter-dev libspf2-dev libopendkim-dev
libopendmarc-dev libhiredis-dev libconfig-dev libssl-dev libcmocka-dev libpcre2-dev
libunbound-dev libpsl-dev libidn2-dev publicsuffix opendmarc
postfix redis-server redis-tools dnsmasq-base swaks miltertest python3
python3-dkim python3-nacl python3-dnspython opendkim opendkim-tools postgrey
iproute2 procps util-linux passwd sasl2-bin libsasl2-modules bind9-utils
faketime libldap-dev slapd ldap-utils bc postsrsd mandoc prometheus curl
debhelper dpkg-dev fakeroot lintian systemd strace clang libclang-rt-14-dev"

missing=""
for p in $PKGS; do
	st=$(dpkg-query -W -f='${Status}' "$p" 2>/dev/null || true)
	case "$st" in
	*" installed") ;;
	*) missing="$missing $p" ;;
	esac
done
if [ -n "$missing" ]; then
	if [ "$(id -u)" -ne 0 ]; then
		echo "deps: missing packages:$missing (run as root to install)" >&2
		exit 1
	fi
	echo "deps: installing$missing"
	# Postfix asks which kind of mail system this is; we configure our own.
	echo "postfix postfix/main_mailer_type select No configuration" |
		debconf-set-selections
	# slapd is only the recipient-validation test's directory: no
	# system-wide database (the test writes its own slapd.conf).
	echo "slapd slapd/no_configuration boolean true" | debconf-set-selections
	apt-get update -q
	DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends $missing
fi
# The daemons drop root to this user after binding their sockets.
if ! getent passwd sluice >/dev/null; then
	[ "$(id -u)" -ne 0 ] || useradd --system --no-create-home --home-dir /nonexistent \
		--shell /usr/sbin/nologin sluice
fi
