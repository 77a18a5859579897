#!/bin/sh
# Runs every libFuzzer target (or the ones named) for a number of executions each, seeded with
# the corpus in the tree, and prints one line a target: executions, execs/s, coverage, crashes.
# Not part of CI: 10 million executions of every target take hours (docs/testing.md).
#
#   scripts/fuzz.sh [-n RUNS] [-t SECONDS] [-j JOBS] [TARGET...]
#     -n RUNS     executions per target (default 10000000)
#     -t SECONDS  stop a target after SECONDS instead (to measure a rate); -n still bounds it
#     TARGET      fuzz_adhoc, fuzz_config, ... (default: every target the fuzz tree builds)
#
# The fuzz tree is build-fuzz/ (clang, libFuzzer, AddressSanitizer, UBSan); it is set up when
# absent. New inputs go to build-fuzz/tests/fuzz/corpus_TARGET, crash inputs and logs to
# build-fuzz/fuzz-runs/. Exit status 1 when any target crashed or leaked.
set -eu

cd "$(dirname "$0")/.."
runs=10000000
seconds=0
while getopts n:t: opt; do
    case $opt in
    n) runs=$OPTARG ;;
    t) seconds=$OPTARG ;;
    *) sed -n '5,9p' "$0" >&2; exit 2 ;;
    esac
done
shift $((OPTIND - 1))

build="build-fuzz"
if [ ! -f "$build/build.ninja" ]; then
    CC=clang meson setup "$build" -Dfuzz=true -Db_sanitize=address,undefined -Db_lundef=false
fi
ninja -C "$build" >/dev/null

fuzzdir=$build/tests/fuzz
out=$build/fuzz-runs
mkdir -p "$out"
targets=${*:-$(find "$fuzzdir" -maxdepth 1 -type f -perm -u+x -name "fuzz_*" -printf "%f\n" | sort)}

# The seeds of each target in the tree (libFuzzer only reads the directories after the first).
seeds() {
    case $1 in
    fuzz_ews_stream | fuzz_listener) echo tests/ews/fixtures ;;
    *) echo "tests/fuzz/corpus/${1#fuzz_}" ;;
    esac
}

# -max_len as in tests/fuzz/meson.build.
max_len() {
    case $1 in
    fuzz_certs) echo 8192 ;;
    fuzz_jid) echo 4096 ;;
    *) echo 65536 ;;
    esac
}

failed=0
printf '%-16s %12s %10s %8s %8s %s\n' target execs execs/s cov ft result
for t in $targets; do
    corpus=$fuzzdir/corpus_${t#fuzz_}
    seed=$(seeds "$t")
    mkdir -p "$corpus"
    [ -d "$seed" ] || seed=
    log=$out/$t.log
    status=0
    # shellcheck disable=SC2086
    "$fuzzdir/$t" -runs="$runs" -max_total_time="$seconds" -max_len="$(max_len "$t")" \
        -rss_limit_mb=2048 -error_exitcode=1 -print_final_stats=1 \
        -artifact_prefix="$out/$t-" "$corpus" $seed >"$log" 2>&1 || status=$?
    execs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$log")
    rate=$(sed -n 's/^stat::average_exec_per_sec: *//p' "$log")
    cov=$(grep -o 'cov: [0-9]*' "$log" | tail -n 1 | cut -d' ' -f2)
    ft=$(grep -o 'ft: [0-9]*' "$log" | tail -n 1 | cut -d' ' -f2)
    if [ "$status" -eq 0 ]; then
        result=ok
    else
        result="CRASH (see $log)"
        failed=1
    fi
    printf '%-16s %12s %10s %8s %8s %s\n' "$t" "${execs:-?}" "${rate:-?}" "${cov:-?}" \
        "${ft:-?}" "$result"
done
exit $failed
