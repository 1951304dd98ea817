"""End to end behind a real HAProxy (haproxy.py: Debian's /usr/sbin/haproxy in the
foreground on free loopback ports): `send-proxy` and `send-proxy-v2` in front of
`reactor echo --proxy-protocol` (byte-exact, `mode tcp`) and `reactor http
--proxy-protocol` (`mode http`; its access log names the original client, which connects
from 127.0.0.2 while HAProxy connects from 127.0.0.1), with HAProxy's health checks every
100 ms. HAProxy 2.6 sends its checks the server's PROXY header too (v1 with the checker's
own addresses; v2 as a LOCAL command), so the checks must pass without disturbing the
traffic; the same check without a header must fail, which shows the checks are real."""

import csv
import io
import os
import re
import tempfile
import unittest
import urllib.request

from harness import (IO_TIMEOUT, Client, Server, assert_echoed, echo_many, free_port,
                     make_rng, random_payloads, request, tls_client, tls_context, use_test_certs,
                     wait_for)
from haproxy import HAProxy

CERTS = use_test_certs(globals())

SECTIONS = """\
frontend fe
    mode {mode}
    bind 127.0.0.1:{front}
    default_backend be
backend be
    mode {mode}
    timeout check 2s
{check}
    server s1 127.0.0.1:{server} {options}
listen stats
    mode http
    bind 127.0.0.1:{stats}
    stats enable
    stats uri /stats
"""
# An application-level check of the echo server: what HAProxy sends must come back. No
# explicit `tcp-check connect`: without `default` it would drop the server's send-proxy.
ECHO_CHECK = """    option tcp-check
    tcp-check send ping\\n
    tcp-check expect string ping"""
HTTP_CHECK = """    option httpchk GET /
    http-check expect status 200"""
CLIENT = "127.0.0.2"


class BehindHaproxy(unittest.TestCase):

    def start_haproxy(self, mode, server, options, check):
        """HAProxy in front of `server`; returns its frontend address."""
        front, self.stats_port = free_port(), free_port()
        proxy = HAProxy(SECTIONS.format(mode=mode, front=front, server=server.port,
                                        options=options, check=check, stats=self.stats_port),
                        [front, self.stats_port])
        proxy.start()
        self.addCleanup(proxy.stop)
        return ("127.0.0.1", front)

    def server_stat(self):
        """s1's row of HAProxy's statistics (CSV) as a dict."""
        url = f"http://127.0.0.1:{self.stats_port}/stats;csv"
        with urllib.request.urlopen(url, timeout=IO_TIMEOUT) as r:
            text = r.read().decode()
        for row in csv.DictReader(io.StringIO(text.lstrip("# "))):
            if row["pxname"] == "be" and row["svname"] == "s1":
                return row
        raise AssertionError(f"no be/s1 in {text!r}")

    def wait_checks(self, passing):
        """Waits until s1's last complete check passed (or failed)."""
        def settled():
            status = self.server_stat()["check_status"]
            if not status or status.startswith("*"):  # none yet, or one in progress
                return False
            return (status in ("L4OK", "L6OK", "L7OK")) == passing
        wait_for(settled, IO_TIMEOUT, f"a {'passing' if passing else 'failing'} check")

    def assert_checks_never_failed(self):
        row = self.server_stat()
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
            assert_echoed(self, payloads, echo_many(front, payloads, rng))
            self.assert_checks_never_failed()
            srv.stop()

    def test_echo_send_proxy(self):
        self.check_echo("send-proxy")

    def test_echo_send_proxy_v2(self):
        self.check_echo("send-proxy-v2")

    def test_a_check_without_a_header_fails(self):
        # The control: without send-proxy the same check is refused by the server, so the
        # passing checks above did go through the PROXY stage.
        with Server("echo", "--proxy-protocol") as srv:
            self.start_haproxy("tcp", srv, "check inter 100ms", ECHO_CHECK)
            self.wait_checks(passing=False)
            srv.stop()

    # --- mode http: reactor http ---

    def check_http(self, send_proxy):
        with tempfile.TemporaryDirectory() as tmp:
            log = os.path.join(tmp, "access.log")
            with Server("http", "--proxy-protocol", "--access-log", log) as srv:
                front = self.start_haproxy("http", srv, f"{send_proxy} check inter 100ms",
                                           HTTP_CHECK)
                self.wait_checks(passing=True)
                for i in range(3):
                    with Client(front, source=CLIENT) as c:
                        res = c.exchange(request("GET", f"/from-client-{i}"))
                        self.assertEqual((res.status, res.body), (200, b"from-client-%d" % i))
                        res = c.exchange(request("POST", "/echo", body=b"x" * 100_000))
                        self.assertEqual((res.status, res.body), (200, b"x" * 100_000))
                self.assert_checks_never_failed()
                srv.stop()  # flushes the access log
            with open(log) as f:
                lines = f.read().splitlines()
        mine = [line for line in lines if "/from-client-" in line or "/echo" in line]
        self.assertEqual(len(mine), 6, lines)
        for line in mine:  # the original client, as the PROXY header named it
            self.assertTrue(line.startswith(f"{CLIENT} - - ["), line)
        # The health checks, with HAProxy's own address (v1) or none at all (v2 LOCAL:
        # the socket's peer stands): 127.0.0.1 either way.
        checks = [line for line in lines if re.search(r'"GET / HTTP/1\.[01]" 200 ', line)]
        self.assertTrue(checks, lines)
        for line in checks:
            self.assertTrue(line.startswith("127.0.0.1 - - ["), line)

    def test_http_send_proxy(self):
        self.check_http("send-proxy")

    def test_http_send_proxy_v2(self):
        self.check_http("send-proxy-v2")

    # --- mode tcp, TLS passed through: reactor http --tls-cert terminates it ---

    def test_https_passed_through_with_send_proxy_v2(self):
        """HAProxy forwards the client's TLS untouched after its PROXY v2 header, and checks
        the server over TLS itself (check-ssl): the header, then a handshake, each time."""
        with Server("http", "--proxy-protocol", "--tls-cert", CERTS["cert"], "--tls-key",
                    CERTS["key"]) as srv:
            front = self.start_haproxy("tcp", srv, "send-proxy-v2 check check-ssl verify none "
                                       "inter 100ms", HTTP_CHECK)
            self.wait_checks(passing=True)
            context = tls_context(CERTS["ca"], alpn=["http/1.1"])
            with tls_client(front, context) as client:
                self.assertEqual(client.sock.selected_alpn_protocol(), "http/1.1")
                for path, body in (("/", b"Hello, world!"), ("/through/haproxy", b"through/haproxy")):
                    r = client.exchange(request("GET", path))
                    self.assertEqual((r.status, r.body), (200, body))
            self.assert_checks_never_failed()
            srv.stop()


if __name__ == "__main__":
    unittest.main()
