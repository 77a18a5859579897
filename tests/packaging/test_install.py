"""Issue 10, "done when": what `meson install` puts on a bare host is what `systemctl start
calpresence` needs, checked without systemd as PID 1. The build tree is installed into a
temporary DESTDIR; there the unit's ExecStart names the installed daemon, systemd-sysusers
creates the unit's user from the installed sysusers.d file, the man pages and the example
configuration are in place, and the installed example passes `calpresence -n`."""

import os
import re
import shutil
import subprocess
import tempfile
import unittest

BUILD = os.environ["CP_BUILD_ROOT"]


class InstallTest(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.dest = tempfile.mkdtemp(prefix="cp-install-")
        subprocess.run(["meson", "install", "-C", BUILD, "--no-rebuild", "--quiet",
                        "--destdir", cls.dest], check=True, capture_output=True)
        prefix = subprocess.run(["meson", "introspect", "--buildoptions", BUILD],
                                capture_output=True, text=True, check=True).stdout
        cls.prefix = re.search(r'"name": "prefix", "value": "([^"]+)"', prefix).group(1)

    @classmethod
    def tearDownClass(cls):
        shutil.rmtree(cls.dest, ignore_errors=True)

    def find(self, name):
        for root, _, files in os.walk(self.dest):
            if name in files:
                return os.path.join(root, name)
        self.fail(f"{name} not installed under {self.dest}")

    def test_unit_starts_the_installed_daemon(self):
        with open(self.find("calpresence.service")) as f:
            unit = f.read()
        binary = re.search(r"^ExecStart=(\S+) -c /etc/calpresence/calpresence\.conf$", unit,
                           re.M).group(1)
        self.assertTrue(os.access(self.dest + binary, os.X_OK), binary)

    def test_sysusers_creates_the_user(self):
        if shutil.which("systemd-sysusers") is None:
            self.skipTest("systemd-sysusers is not installed")
        conf = self.find("calpresence.conf")  # sysusers.d/calpresence.conf
        self.assertIn("sysusers.d", conf)
        subprocess.run(["systemd-sysusers", f"--root={self.dest}", conf], check=True,
                       capture_output=True)
        with open(os.path.join(self.dest, "etc", "passwd")) as f:
            self.assertRegex(f.read(), r"(?m)^calpresence:x:\d+:\d+:[^:]*:/var/lib/calpresence:")

    def test_man_pages_and_example(self):
        for page in ("calpresence.8", "calpresence.conf.5", "calpresence-certs.8",
                     "calpresence-ews.8", "calpresence-ctl.8"):
            self.find(page)
        example = os.path.join(self.dest, "etc", "calpresence", "calpresence.conf.example")
        daemon = os.path.join(self.dest + self.prefix, "bin", "calpresence")
        p = subprocess.run([daemon, "-c", example, "-n"], capture_output=True, text=True)
        self.assertEqual(p.returncode, 0, p.stderr)
        self.assertEqual(p.stdout, "configuration OK\n")
        self.find("operations.md")


if __name__ == "__main__":
    unittest.main(verbosity=2)
