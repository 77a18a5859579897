"""Issue 10 item 1: the systemd unit as meson installs it. `systemd-analyze verify` accepts it
and `systemd-analyze security --offline=true` rates it OK or better (the score is printed);
the sysusers.d file declares the user the unit runs as. systemd need not be PID 1. Run by meson:
test_unit.py UNIT SYSUSERS CALPRESENCE. Skips (exit 77) when systemd-analyze is absent."""

import os
import re
import shutil
import subprocess
import sys
import tempfile
import unittest

UNIT = SYSUSERS = CALPRESENCE = None
# systemd-analyze security's levels, best first.
GOOD_ENOUGH = ("SAFE", "OK")


class UnitTest(unittest.TestCase):
    def setUp(self):
        self.dir = tempfile.mkdtemp(prefix="cp-unit-")
        with open(UNIT) as f:
            self.text = f.read()
        # verify checks that ExecStart= names an executable: point it at the one just built.
        m = re.search(r"^ExecStart=(\S+)", self.text, re.M)
        self.assertIsNotNone(m)
        self.installed_binary = m.group(1)
        self.path = os.path.join(self.dir, "calpresence.service")
        with open(self.path, "w") as f:
            f.write(self.text.replace(self.installed_binary, os.path.abspath(CALPRESENCE), 1))

    def tearDown(self):
        shutil.rmtree(self.dir, ignore_errors=True)

    def analyze(self, *args):
        return subprocess.run(["systemd-analyze", *args], capture_output=True, text=True,
                              cwd=self.dir)

    def test_verify(self):
        p = self.analyze("verify", "--man=no", self.path)
        self.assertEqual(p.returncode, 0, p.stdout + p.stderr)
        self.assertEqual(p.stderr.strip(), "", p.stderr)

    def test_security_ok_or_better(self):
        p = self.analyze("security", "--offline=true", self.path)
        m = re.search(r"Overall exposure level for calpresence\.service: ([0-9.]+) (\w+)",
                      p.stdout)
        self.assertIsNotNone(m, p.stdout + p.stderr)
        print(f"systemd-analyze security: exposure {m.group(1)} {m.group(2)}")
        self.assertIn(m.group(2), GOOD_ENOUGH, p.stdout)

    def test_what_the_daemon_relies_on(self):
        for line in ("Type=notify", "StateDirectory=calpresence",
                     "ConfigurationDirectory=calpresence", "User=calpresence",
                     "ExecReload=/bin/kill -HUP $MAINPID", "ProtectSystem=strict",
                     "NoNewPrivileges=yes", "PrivateTmp=yes", "CapabilityBoundingSet=",
                     "RestrictAddressFamilies=AF_UNIX AF_INET AF_INET6",
                     "SystemCallFilter=@system-service", "MemoryDenyWriteExecute=yes"):
            self.assertRegex(self.text, rf"(?m)^{re.escape(line)}$")
        self.assertTrue(self.installed_binary.endswith("/bin/calpresence"),
                        self.installed_binary)
        self.assertTrue(os.path.isabs(self.installed_binary))
        with open(SYSUSERS) as f:
            self.assertRegex(f.read(), r"(?m)^u calpresence - .* /var/lib/calpresence$")


if __name__ == "__main__":
    if shutil.which("systemd-analyze") is None:
        print("SKIP: systemd-analyze is not installed (Debian package systemd)")
        sys.exit(77)
    UNIT, SYSUSERS, CALPRESENCE = sys.argv[1:4]
    del sys.argv[1:4]
    unittest.main(verbosity=2)
