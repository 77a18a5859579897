"""Issue 10 item 5: the man pages lint clean with mandoc, and calpresence.conf(5) says what the
key table and docs/configuration.md say. Run by meson with the generator's path as argument:
test_man.py GEN_CONF_MAN. Skips (exit 77) when mandoc is not installed."""

import glob
import os
import re
import shutil
import subprocess
import sys
import unittest

SOURCE = os.environ.get("CP_SOURCE_ROOT", os.path.join(os.path.dirname(__file__), "..", ".."))
MAN_DIR = os.path.join(SOURCE, "docs", "man")
CONF_PAGE = os.path.join(MAN_DIR, "calpresence.conf.5")
BEGIN = '.\\" BEGIN KEYS'
END = '.\\" END KEYS'
GENERATOR = None


def keys_part(text):
    start = text.index(BEGIN)
    return text[start:text.index(END, start) + len(END)]


def man_sections(text):
    """{section: {key: text of its entry}} from the generated part of the page."""
    out, section, key = {}, None, None
    for line in keys_part(text).splitlines():
        m = re.match(r"\.Ss \\&\[(\w+)\]$", line)
        if m:
            section, key = out.setdefault(m.group(1), {}), None
            continue
        m = re.match(r"\.It Cm (\w+)$", line)
        if m:
            key = m.group(1)
            section[key] = ""
        elif key and not line.startswith(".El"):
            section[key] += line + "\n"
    return out


def reference_rows():
    """(section, key, live, meaning) of every row of docs/configuration.md's key tables."""
    rows, section = [], None
    with open(os.path.join(SOURCE, "docs", "configuration.md")) as f:
        for line in f:
            m = re.match(r"## \[(\w+)\]", line)
            if m:
                section = m.group(1)
            m = re.match(r"\| `(\w+)` \| [^|]+ \| [^|]+ \| (live|restart) \| (.*) \|$", line)
            if m and section:
                rows.append((section, m.group(1), m.group(2) == "live", m.group(3)))
    return rows


class ManTest(unittest.TestCase):
    def test_pages_lint_clean(self):
        pages = sorted(glob.glob(os.path.join(MAN_DIR, "*.[0-9]")))
        self.assertGreaterEqual(len(pages), 4, pages)
        for page in pages:
            with self.subTest(page=os.path.basename(page)):
                p = subprocess.run(["mandoc", "-T", "lint", "-W", "warning", page],
                                   capture_output=True, text=True)
                self.assertEqual(p.stdout + p.stderr, "")
                self.assertEqual(p.returncode, 0)

    def test_conf_page_is_generated_from_the_key_table(self):
        with open(CONF_PAGE) as f:
            page = f.read()
        gen = subprocess.run([GENERATOR], capture_output=True, text=True, check=True).stdout
        self.assertEqual(keys_part(page), gen.rstrip("\n"),
                         f"docs/man/calpresence.conf.5 is out of date: run {GENERATOR} "
                         f"docs/man/calpresence.conf.5")

    def test_conf_page_agrees_with_configuration_md(self):
        with open(CONF_PAGE) as f:
            sections = man_sections(f.read())
        rows = reference_rows()
        self.assertGreater(len(rows), 30)
        documented = set()
        for section, key, live, meaning in rows:
            with self.subTest(key=f"[{section}] {key}"):
                self.assertIn(key, sections.get(section, {}))
                entry = sections[section][key].replace("\\e", "\\")
                self.assertIn(meaning, entry.replace("\n", " "))
                self.assertIn("A reload applies a change" if live else "after a restart", entry)
            documented.add((section, key))
        in_page = {(s, k) for s, keys in sections.items() for k in keys}
        self.assertEqual(in_page - documented, set(), "keys in the page, not in configuration.md")


if __name__ == "__main__":
    if shutil.which("mandoc") is None:
        print("SKIP: mandoc is not installed (apt-get install mandoc; scripts/install-deps.sh "
              "--tests does)")
        sys.exit(77)
    GENERATOR = sys.argv.pop(1)
    unittest.main(verbosity=2)
