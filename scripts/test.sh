#!/bin/sh
# Installs what is missing, builds, and runs every test:
#   1. the whole suite under AddressSanitizer + UndefinedBehaviorSanitizer (build-asan/);
#   2. the unit suite, and the daemon in the XMPP integration tests, under valgrind
#      (build-valgrind/);
#   3. each libFuzzer target for a short run (build-fuzz/, clang).
# Ends with the line "N passed, N failed, N skipped"; exits non-zero when anything failed.
set -u
cd "$(dirname "$0")/.."
sh scripts/install-deps.sh --tests || exit 1

status=0
# The closing summary reads every test log of these trees: start from none.
rm -f build-asan/meson-logs/testlog*.json build-valgrind/meson-logs/testlog*.json \
    build-fuzz/meson-logs/testlog*.json

step() {
    echo "== $*"
    "$@" || status=1
}

setup() { # DIR ARGS...
    dir=$1
    shift
    if [ -d "$dir" ]; then
        meson setup --reconfigure "$dir" "$@" >/dev/null
    else
        meson setup "$dir" "$@" >/dev/null
    fi
}

step setup build-asan -Dtests=enabled -Db_sanitize=address,undefined -Db_lundef=false
step ninja -C build-asan
export ASAN_OPTIONS=detect_leaks=1:abort_on_error=1
export UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1
step meson test -C build-asan --print-errorlogs --num-processes 2 --no-suite bench

step setup build-valgrind -Dtests=enabled
step ninja -C build-valgrind
step meson test -C build-valgrind --print-errorlogs --suite unit --setup valgrind
# The daemon itself under valgrind, driven by the XMPP integration tests.
step env CP_DAEMON_WRAPPER="valgrind -q --error-exitcode=99 --leak-check=full --errors-for-leak-kinds=definite" \
    meson test -C build-valgrind --print-errorlogs --logbase testlog-daemon-valgrind \
    --suite integration test_component test_adhoc test_guard test_files test_ctl test_systemd

fuzz_setup() { (CC=clang && export CC && setup build-fuzz -Dtests=enabled -Dfuzz=true -Db_sanitize=address,undefined -Db_lundef=false); }
step fuzz_setup
step ninja -C build-fuzz
step meson test -C build-fuzz --print-errorlogs --suite fuzz

/usr/bin/python3 scripts/test-summary.py build-asan build-valgrind build-fuzz || status=1
exit $status
