"""A real HAProxy (Debian's /usr/sbin/haproxy) for the tests: a generated configuration in a
temporary folder, run in the foreground on loopback ports, stopped with the test.

    with HAProxy(frontend_port, BACKEND_TEMPLATE.format(...)) as proxy:
        ...  # talk to 127.0.0.1:frontend_port

Tests that need it skip (with the reason) only when the binary is missing; scripts/setup.sh
installs it, so CI always has it.
"""

import os
import shutil
import subprocess
import tempfile
import unittest

import harness

HAPROXY = "/usr/sbin/haproxy"

GLOBAL = """\
global
    maxconn 4096
defaults
    timeout connect 2s
    timeout client 30s
    timeout server 30s
"""


def require():
    """Skips the calling test when HAProxy is not installed."""
    if not os.access(HAPROXY, os.X_OK):
        raise unittest.SkipTest(f"{HAPROXY} is missing (scripts/setup.sh installs haproxy)")


class HAProxy:
    """HAProxy with `sections` (frontends, backends) after a minimal global/defaults part.
    start() validates the configuration (haproxy -c) first, so a mistake in a test's
    configuration reads as such, then waits until every port in `ports` accepts."""

    def __init__(self, sections, ports):
        self.sections = sections
        self.ports = ports
        self.dir = None
        self.proc = None
        self.log = None

    def __enter__(self):
        self.start()
        return self

    def __exit__(self, *exc):
        self.stop()
        return False

    def start(self):
        require()
        self.dir = tempfile.mkdtemp(prefix="reactor-haproxy-")
        config = os.path.join(self.dir, "haproxy.cfg")
        with open(config, "w") as f:
            f.write(GLOBAL + self.sections)
        check = subprocess.run([HAPROXY, "-c", "-q", "-f", config], capture_output=True,
                               timeout=harness.START_TIMEOUT)
        if check.returncode != 0:
            raise AssertionError(f"haproxy rejects the configuration:\n{self.sections}\n"
                                 f"{check.stderr.decode(errors='replace')}")
        self.log = open(os.path.join(self.dir, "stderr"), "w+b")
        # -db: foreground, no daemon; the test owns the process and ends it.
        self.proc = subprocess.Popen([HAPROXY, "-db", "-f", config], stdin=subprocess.DEVNULL,
                                     stdout=self.log, stderr=self.log)
        for port in self.ports:
            harness.wait_for(lambda p=port: self._accepts(p), harness.START_TIMEOUT,
                             f"haproxy to listen on port {port}")
        return self

    def _accepts(self, port):
        if self.proc.poll() is not None:
            raise AssertionError(f"haproxy exited with {self.proc.returncode}: {self.output()}")
        return not harness.is_refused((harness.HOST, port))

    def output(self):
        if self.log is None:
            return ""
        self.log.seek(0)
        return self.log.read().decode(errors="replace")

    def stop(self):
        if self.proc and self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(timeout=harness.STOP_TIMEOUT)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(timeout=harness.STOP_TIMEOUT)
        if self.log is not None:
            self.log.close()
            self.log = None
        if self.dir:
            shutil.rmtree(self.dir, ignore_errors=True)
            self.dir = None
