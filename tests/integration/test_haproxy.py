"""End to end behind a real HAProxy (Debian's /usr/sbin/haproxy, started here in the
foreground on free loopback ports with a generated config): `send-proxy` and
`send-proxy-v2` in front of `reactor echo --proxy-protocol` (byte-exact, `mode tcp`) and
`reactor http --proxy-protocol` (`mode http`), with HAProxy's health checks running every
100 ms. HAProxy 2.6 sends its checks the server's PROXY header too (v1 with the checker's
own addresses; v2 as a LOCAL command), so the checks must pass and must not disturb the
traffic; a check without a header must fail, which shows the checks are real."""

import os
import socket
import subprocess
import tempfile
import unittest

from harness import (IO_TIMEOUT, START_TIMEOUT, STOP_TIMEOUT, Client, Server, assert_echoed,
                     echo_many, free_port, make_rng, output_file, random_payloads, request,
                     wait_for)

HAPROXY = "/usr/sbin/haproxy"


def haproxy_config(mode, listen_port, server_port, server_options, stats_socket, check=""):
    return f"""global
    stats socket {stats_socket} mode 600 level admin
    maxconn 256

defaults
    mode {mode}
    timeout connect 5s
    timeout client 30s
    timeout server 30s
    timeout check 2s
    retries 3

frontend fe
    bind 127.0.0.1:{listen_port}
    default_backend be

backend be
{check}
    server s1 127.0.0.1:{server_port} {server_options}
"""


# An application-level check of the echo server: what HAProxy sends must come back. No
# explicit `tcp-check connect`: without `default` it would drop the server's send-proxy.
ECHO_CHECK = """    option tcp-check
    tcp-check send ping\\n
    tcp-check expect string ping"""
HTTP_CHECK = """    option httpchk GET /
    http-check expect status 200"""


@unittest.skipUnless(os.access(HAPROXY, os.X_OK),
                     f"{HAPROXY} is not installed (scripts/setup.sh installs it)")
class BehindHaproxy(unittest.TestCase):

    def start_haproxy(self, mode, server, server_options, check=""):
        """HAProxy in front of `server`; returns its frontend address."""
        tmp = tempfile.TemporaryDirectory()
        self.addCleanup(tmp.cleanup)
        self.stats_socket = os.path.join(tmp.name, "stats.sock")
        port = free_port()
        path = os.path.join(tmp.name, "haproxy.cfg")
        with open(path, "w") as f:
            f.write(haproxy_config(mode, port, server.port, server_options, self.stats_socket,
                                   check))
        log = output_file()
        self.addCleanup(log.close)
        # -db: foreground, no daemon; killed at cleanup.
        proc = subprocess.Popen([HAPROXY, "-db", "-f", path], stdin=subprocess.DEVNULL,
                                stdout=log, stderr=subprocess.STDOUT)

        def stop():
            if proc.poll() is None:
                proc.kill()
            proc.wait(timeout=STOP_TIMEOUT)
        self.addCleanup(stop)

        def ready():
            if proc.poll() is not None:
                log.seek(0)
                raise AssertionError(f"haproxy exited {proc.returncode}: {log.read()!r}")
            return os.path.exists(self.stats_socket) and self.server_stat() is not None
        wait_for(ready, START_TIMEOUT, "haproxy's stats socket")
        return ("127.0.0.1", port)

    def server_stat(self):
        """s1's row of `show stat` as a dict, or None."""
        with socket.socket(socket.AF_UNIX) as s:
            s.settimeout(IO_TIMEOUT)
            try:
                s.connect(self.stats_socket)
            except (FileNotFoundError, ConnectionRefusedError):
                return None
            s.sendall(b"show stat\n")
            data = b""
            for _ in range(10_000):  # until HAProxy closes: each round reads or ends
                chunk = s.recv(65536)
                if not chunk:
                    break
                data += chunk
        lines = data.decode().splitlines()
        if not lines or not lines[0].startswith("# "):
            return None
        names = lines[0][2:].split(",")
        for line in lines[1:]:
            row = dict(zip(names, line.split(",")))
            if row.get("pxname") == "be" and row.get("svname") == "s1":
                return row
        return None

    def wait_checks(self, passing):
        """Waits until s1's last check passed (or failed), and returns its row."""
        def settled():
            row = self.server_stat()
            status = row and row.get("check_status", "")
            ok = status in ("L4OK", "L6OK", "L7OK")
            return row if status and not status.startswith("*") and ok == passing else None
        return wait_for(settled, IO_TIMEOUT, f"a {'passing' if passing else 'failing'} check")

    def checks_ran(self, row):
        # Checks ran before and during the traffic (every 100 ms): none ever failed.
        self.assertEqual(row["status"], "UP", row)
        self.assertEqual(row["chkfail"], "0", row)
        self.assertEqual(row["chkdown"], "0", row)

    # --- mode tcp: reactor echo ---

    def check_echo(self, send_proxy):
        rng = make_rng(self)
        with Server("echo", "--proxy-protocol") as srv:
            front = self.start_haproxy("tcp", srv, f"{send_proxy} check inter 100ms",
                                       ECHO_CHECK)
            self.wait_checks(passing=True)
            payloads = random_payloads(rng, 8, 512 * 1024)
            received = echo_many(front, payloads, rng)
            assert_echoed(self, payloads, received)
            self.checks_ran(self.server_stat())
            srv.stop()

    def test_echo_send_proxy(self):
        self.check_echo("send-proxy")

    def test_echo_send_proxy_v2(self):
        self.check_echo("send-proxy-v2")

    def test_a_check_without_a_header_fails(self):
        # The control: the same check without send-proxy is refused by the server, so the
        # passing checks above did go through the PROXY stage.
        with Server("echo", "--proxy-protocol") as srv:
            self.start_haproxy("tcp", srv, "check inter 100ms", ECHO_CHECK)
            self.wait_checks(passing=False)
            srv.stop()

    # --- mode http: reactor http ---

    def check_http(self, send_proxy):
        with Server("http", "--proxy-protocol") as srv:
            front = self.start_haproxy("http", srv, f"{send_proxy} check inter 100ms",
                                       HTTP_CHECK)
            self.wait_checks(passing=True)
            for _ in range(3):
                with Client(front) as c:
                    res = c.exchange(request("GET", "/"))
                    self.assertEqual((res.status, res.body), (200, b"Hello, world!"))
                    res = c.exchange(request("POST", "/echo", body=b"x" * 100_000))
                    self.assertEqual((res.status, res.body), (200, b"x" * 100_000))
                    res = c.exchange(request("GET", "/some/path?q=1"))
                    self.assertEqual((res.status, res.body), (200, b"some/path?q=1"))
            self.checks_ran(self.server_stat())
            srv.stop()

    def test_http_send_proxy(self):
        self.check_http("send-proxy")

    def test_http_send_proxy_v2(self):
        self.check_http("send-proxy-v2")


if __name__ == "__main__":
    unittest.main()
