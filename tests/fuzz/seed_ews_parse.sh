#!/bin/sh
# Writes the seeds of fuzz_ews_parse into tests/fuzz/corpus/ews_parse/ from tests/ews/fixtures.
# fuzz_ews_parse reads its first byte as the parser to run (enum target in fuzz_ews_parse.c), so
# each fixture is seeded once behind the byte of each parser it is plausible for: its own
# response parser (by file name), the server-info header, and the error taxonomy with the HTTP
# status it would come with. Run it again when a fixture is added or changed.
set -eu
cd "$(dirname "$0")/../.."
out=tests/fuzz/corpus/ews_parse
rm -rf "$out"
mkdir -p "$out"

# seed BYTE FIXTURE: the fixture behind one byte.
seed() {
    { printf '%b' "\\0$(printf %o "$1")"; cat "tests/ews/fixtures/$2"; } >"$out/$1-$2"
}

for path in tests/ews/fixtures/*.xml; do
    f=${path##*/}
    case $f in
    sendnotification-*) seed 0 "$f" ;;
    getevents-*) seed 1 "$f" ;;
    subscribe-*) seed 2 "$f" ;;
    unsubscribe-*) seed 3 "$f" ;;
    finditem-*) seed 4 "$f" ;;
    getuseravailability-*) seed 5 "$f" ;;
    getfolder-*) seed 6 "$f" ;;
    stream-*) seed 7 "$f" ;;
    esac
    seed 8 "$f"
    case $f in
    fault-* | internal-error-*) seed 12 "$f" ;; # classified at HTTP 500
    *-error-*) seed 9 "$f" ;;                  # an error inside a 200 response
    *) seed 9 "$f" && seed 11 "$f" ;;          # 200, and a 400 carrying a body
    esac
done
