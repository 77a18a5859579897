#!/usr/bin/python3
"""Prints one closing line 'N passed, N failed, N skipped' over meson test logs.

Usage: test-summary.py BUILD_DIR... ; exits 1 when any test failed."""
import glob
import json
import sys

passed = failed = skipped = 0
# Each `meson test` run writes meson-logs/<logbase>.json; a build tree may hold several.
for build in sys.argv[1:]:
    lines = []
    for log in sorted(glob.glob(f"{build}/meson-logs/testlog*.json")):
        with open(log) as f:
            lines += f.read().splitlines()
    for line in lines:
        result = json.loads(line).get("result")
        if result in ("OK", "EXPECTEDFAIL"):
            passed += 1
        elif result == "SKIP":
            skipped += 1
        else:
            failed += 1
print(f"{passed} passed, {failed} failed, {skipped} skipped")
sys.exit(1 if failed else 0)
