#!/bin/sh
# Installs, from Debian 12's packages, what calpresence needs. Run as root. Skips apt-get
# entirely when everything is already installed.
#
#   sh scripts/install-deps.sh          build and run the daemon: compilers and libraries only.
#                                       Safe on a production host: it starts, stops and
#                                       reconfigures no service.
#   sh scripts/install-deps.sh --tests  also what the test suite and the demo use (Criterion,
#                                       Prosody, ejabberd, slixmpp, valgrind, prometheus for
#                                       promtool, ...). Installing prosody, ejabberd or
#                                       prometheus starts their system services; the tests run
#                                       private instances (and need only promtool), so a service
#                                       this very run installed is stopped and disabled again.
#                                       A service that was installed before is never touched.
set -eu

RUNTIME="build-essential meson ninja-build pkg-config
 libstrophe-dev libcurl4-openssl-dev libxml2-dev libssl-dev libsqlite3-dev libevent-dev
 libidn-dev openssl sqlite3"
TESTS="clang libclang-rt-14-dev libcriterion-dev libxml2-utils valgrind procps mandoc systemd
 prosody prosody-modules ejabberd python3 python3-slixmpp python3-exchangelib
 prometheus"

case "${1:-}" in
"") PACKAGES=$RUNTIME ;;
--tests) PACKAGES="$RUNTIME $TESTS" ;;
*)
    echo "usage: install-deps.sh [--tests]" >&2
    exit 2
    ;;
esac

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

# Only with --tests, and only for a server package this run installed: an XMPP server that was
# there before is someone's production service.
for s in prosody ejabberd prometheus; do
    case " $missing " in *" $s "*) ;; *) continue ;; esac
    echo "install-deps: $s was installed for the tests: stopping and disabling its system service"
    if command -v systemctl >/dev/null 2>&1; then systemctl disable --now "$s" >/dev/null 2>&1 || true; fi
    if [ "$s" != ejabberd ]; then service "$s" stop >/dev/null 2>&1 || true; fi
    # ejabberd's init script asks the node with a client that starts epmd, which would stay
    # behind: call it only when the node runs (its pid file, from /etc/default/ejabberd).
    if [ "$s" = ejabberd ] && [ -s /run/ejabberd/ejabberd.pid ]; then
        service ejabberd stop >/dev/null 2>&1 || true
    fi
done
