#!/bin/sh
# Installs what is missing, builds, and runs the demo: Prosody, the Exchange simulator and
# calpresence on 127.0.0.1, with an XMPP user watching a colleague's calendar JID.
# DEMO_SECONDS (default 60) sets how long it runs; Ctrl-C stops it earlier.
set -eu
cd "$(dirname "$0")/.."
sh scripts/install-deps.sh --tests
[ -d build ] || meson setup build >/dev/null
ninja -C build
CP_BUILD_ROOT="$PWD/build" exec /usr/bin/python3 tests/demo/demo.py
