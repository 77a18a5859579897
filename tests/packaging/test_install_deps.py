"""Issue 10 item 6: scripts/install-deps.sh without --tests (the "install for real" path)
installs only what the daemon needs and touches no service; with --tests it stops Prosody or
ejabberd only when this very run installed them. dpkg-query, apt-get, systemctl, service and id
are replaced by shims on PATH that log their calls: nothing is installed or stopped."""

import os
import shutil
import subprocess
import tempfile
import unittest

SOURCE = os.environ.get("CP_SOURCE_ROOT", os.path.join(os.path.dirname(__file__), "..", ".."))
SCRIPT = os.path.join(SOURCE, "scripts", "install-deps.sh")

SHIM = """#!/bin/sh
echo "$(basename "$0") $*" >> "$SHIM_LOG"
case "$(basename "$0")" in
dpkg-query)
    # $3 is the package; installed unless listed in SHIM_MISSING
    case " $SHIM_MISSING " in *" $3 "*) exit 1 ;; esac
    echo "install ok installed" ;;
id) echo 0 ;;
esac
exit 0
"""


class InstallDepsTest(unittest.TestCase):
    def setUp(self):
        self.dir = tempfile.mkdtemp(prefix="cp-deps-")
        self.bin = os.path.join(self.dir, "bin")
        os.mkdir(self.bin)
        for name in ("dpkg-query", "apt-get", "systemctl", "service", "id"):
            path = os.path.join(self.bin, name)
            with open(path, "w") as f:
                f.write(SHIM)
            os.chmod(path, 0o755)
        self.log = os.path.join(self.dir, "calls")

    def tearDown(self):
        shutil.rmtree(self.dir, ignore_errors=True)

    def run_script(self, missing, *args):
        open(self.log, "w").close()
        env = dict(os.environ, PATH=f"{self.bin}:/usr/bin:/bin", SHIM_LOG=self.log,
                   SHIM_MISSING=" ".join(missing))
        p = subprocess.run(["sh", SCRIPT, *args], env=env, capture_output=True, text=True)
        with open(self.log) as f:
            calls = f.read().splitlines()
        return p.returncode, calls

    def test_real_install_touches_no_service(self):
        code, calls = self.run_script(["libevent-dev", "prosody"])
        self.assertEqual(code, 0)
        installs = [c for c in calls if c.startswith("apt-get install")]
        self.assertEqual(len(installs), 1, calls)
        self.assertIn("libevent-dev", installs[0])
        self.assertNotIn("prosody", installs[0], "the daemon's install pulls in no XMPP server")
        self.assertNotIn("criterion", " ".join(calls).replace("dpkg-query", ""))
        self.assertFalse([c for c in calls if c.startswith(("systemctl", "service"))], calls)

    def test_tests_stop_only_the_server_they_installed(self):
        code, calls = self.run_script(["prosody", "valgrind"], "--tests")
        self.assertEqual(code, 0)
        services = [c for c in calls if c.startswith(("systemctl", "service"))]
        self.assertIn("systemctl disable --now prosody", services)
        self.assertFalse([c for c in services if "ejabberd" in c], services)

    def test_tests_leave_an_existing_server_alone(self):
        code, calls = self.run_script(["valgrind"], "--tests")
        self.assertEqual(code, 0)
        self.assertTrue([c for c in calls if c.startswith("apt-get install")], calls)
        self.assertFalse([c for c in calls if c.startswith(("systemctl", "service"))], calls)

    def test_nothing_missing_nothing_done(self):
        code, calls = self.run_script([], "--tests")
        self.assertEqual(code, 0)
        self.assertFalse([c for c in calls if not c.startswith("dpkg-query")], calls)


if __name__ == "__main__":
    unittest.main(verbosity=2)
