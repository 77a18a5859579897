#!/bin/sh
# Installs, from Debian 12's packages, everything calpresence needs to build, test and run the
# demo (prometheus brings promtool, which checks the /metrics output). Run as root. Skips
# apt-get entirely when everything is already installed.
set -eu

PACKAGES="build-essential meson ninja-build pkg-config clang libclang-rt-14-dev
 libstrophe-dev libcurl4-openssl-dev libxml2-dev libssl-dev libsqlite3-dev libevent-dev
 libidn-dev libcriterion-dev libxml2-utils openssl sqlite3 valgrind procps
 prosody prosody-modules ejabberd python3 python3-slixmpp python3-exchangelib
 prometheus"

missing=""
for p in $PACKAGES; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed' ||
        missing="$missing $p"
done
[ -z "$missing" ] && exit 0

if [ "$(id -u)" -ne 0 ]; then
    echo "install-deps: missing packages:$missing; run this script as root" >&2
    exit 1
fi
echo "install-deps: installing$missing"
export DEBIAN_FRONTEND=noninteractive
apt-get update -q
# shellcheck disable=SC2086
apt-get install -y -q --no-install-recommends $missing
# Prosody's and ejabberd's packages start system-wide services; the tests run private instances
# instead. Each step is harmless when the service is already stopped, so a rerun is safe.
for s in prosody ejabberd; do
    if command -v systemctl >/dev/null 2>&1; then systemctl disable --now "$s" >/dev/null 2>&1 || true; fi
done
service prosody stop >/dev/null 2>&1 || true
# ejabberd's init script asks the node with a client that starts epmd, which would stay behind:
# call it only when the node runs (its pid file, from /etc/default/ejabberd).
if [ -s /run/ejabberd/ejabberd.pid ]; then service ejabberd stop >/dev/null 2>&1 || true; fi
