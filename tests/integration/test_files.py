"""Issue 12, item 3: files that are not files. The real build/calpresence, given a FIFO or a
device as its configuration or as a secret file, must refuse it with exit 1 at once instead of
hanging (a FIFO blocks open() until a writer comes) or filling memory (/dev/zero has no line
break). The timeout is a hang detector, not a performance claim. Run with /usr/bin/python3."""

import os
import subprocess
import sys
import tempfile
import unittest

sys.path.insert(0, os.path.dirname(__file__))
import harness as h  # noqa: E402

# Seconds before a run counts as hung; generous, and more under a checker such as valgrind.
HANG = 10 * (5 if h.DAEMON_WRAPPER else 1)


class FilesTest(unittest.TestCase):

    def setUp(self):
        self.dir = tempfile.mkdtemp(prefix="cp-files-")
        self.fifo = os.path.join(self.dir, "fifo")
        os.mkfifo(self.fifo, 0o600)

    def tearDown(self):
        for name in os.listdir(self.dir):
            os.unlink(os.path.join(self.dir, name))
        os.rmdir(self.dir)

    def run_daemon(self, *args):
        """Runs calpresence with ARGS; returns (exit code, stderr). Fails when it hangs."""
        try:
            p = subprocess.run(h.DAEMON_WRAPPER + [h.CALPRESENCE, *args], capture_output=True,
                               text=True, errors="replace", timeout=HANG,
                               stdin=subprocess.DEVNULL)
        except subprocess.TimeoutExpired:
            self.fail(f"calpresence {' '.join(args)} still running after {HANG} s")
        if h.DAEMON_WRAPPER:
            self.assertNotEqual(p.returncode, h.WRAPPER_ERROR_CODE, p.stderr)
        return p.returncode, p.stderr

    def config(self, text):
        path = os.path.join(self.dir, "c.conf")
        with open(path, "w") as f:
            f.write(text)
        return path

    def test_placeholder_secret_refused_at_start_warned_by_n(self):
        """Issue 10: -n passes a file that parses but names the placeholder's line; the daemon
        refuses to start with it instead of failing the handshake over and over."""
        path = self.config("[component]\njid = calendar.localhost\nsecret = change-me\n"
                           f"domains = localhost\n[store]\npath = {self.dir}/c.db\n")
        code, err = self.run_daemon("-c", path, "-n")
        self.assertEqual(code, 0, err)
        self.assertIn(f"{path}:3: warning: the component secret is the placeholder", err)
        code, err = self.run_daemon("-c", path)
        self.assertEqual(code, 1, err)
        self.assertIn(f"{path}:3: the component secret is the placeholder 'change-me': "
                      "refusing to start", err)

    def test_configuration_fifo_refused(self):
        for args in (["-c", self.fifo, "-n"], ["-c", self.fifo]):
            with self.subTest(args=args):
                code, err = self.run_daemon(*args)
                self.assertEqual(code, 1, err)
                self.assertIn(f"{self.fifo}: not a regular file", err)

    def test_configuration_dev_zero_refused(self):
        for args in (["-c", "/dev/zero", "-n"], ["-c", "/dev/zero"]):
            with self.subTest(args=args):
                code, err = self.run_daemon(*args)
                self.assertEqual(code, 1, err)
                self.assertIn("/dev/zero: not a regular file", err)

    def test_configuration_without_line_breaks_refused(self):
        path = self.config("[component]\njid = " + "x" * (1 << 20))
        code, err = self.run_daemon("-c", path, "-n")
        self.assertEqual(code, 1, err)
        self.assertIn(f"{path}:2: line longer than 4096 bytes", err)

    def test_secret_files_fifo_and_dev_zero_refused(self):
        base = ("[component]\njid = calendar.localhost\ndomains = localhost\n{secret}\n"
                "[store]\npath = {dir}/c.db\n")
        cases = [
            (f"secret_file = {self.fifo}", 4, f"secret_file {self.fifo}"),
            ("secret_file = /dev/zero", 4, "secret_file /dev/zero"),
        ]
        for line, lineno, what in cases:
            with self.subTest(line=line):
                path = self.config(base.format(secret=line, dir=self.dir))
                code, err = self.run_daemon("-c", path, "-n")
                self.assertEqual(code, 1, err)
                self.assertIn(f"{path}:{lineno}: {what}: not a regular file", err)


if __name__ == "__main__":
    unittest.main(verbosity=2)
