"""The TLS contract of the servers' command line (issue 11): --tls-cert and --tls-key go
together (one alone: usage error, exit 2), a certificate that cannot be used is a start-up
failure (one line on stderr, exit 1), --tls-handshake-timeout bounds a handshake, the
--metrics scrape counts handshakes exactly, and a drain ends every TLS connection with
close_notify. The real clients (curl, openssl s_client, wrk, `reactor client`) are in
test_tls_clients.py. Certificates are made at run time (tls_certs.py)."""

import os
import shutil
import signal
import ssl
import time
import unittest

from harness import (HOST, IO_TIMEOUT, Deadline, Server, connect, free_port,
                     peer_socket_queues, recv_exactly, recv_until, run_cli, tls_connect,
                     tls_context, unsent_bytes, use_test_certs, wait_for)
from test_metrics import promtool_check, samples, scrape, total

CERTS = use_test_certs(globals())
TCP_SERVERS = ("echo", "chat", "http")


def tls_args(cert="cert", key="key"):
    return ["--tls-cert", CERTS[cert], "--tls-key", CERTS[key]]


class TlsFlagsUsage(unittest.TestCase):

    def assert_one_line_exit_2(self, args):
        result = run_cli(args)
        err = result.stderr.decode(errors="replace")
        self.assertEqual(result.returncode, 2, f"{args}: stderr {err!r}")
        self.assertEqual(result.stdout, b"", f"{args}: wrote to stdout")
        self.assertEqual(len(err.strip().splitlines()), 1, f"{args}: {err!r}")
        return err

    def test_cert_or_key_alone(self):
        for command in TCP_SERVERS:
            for args in (["--tls-cert", CERTS["cert"]], ["--tls-key", CERTS["key"]]):
                with self.subTest(command=command, args=args):
                    err = self.assert_one_line_exit_2([command, "--port", "0", *args])
                    self.assertTrue(err.startswith(f"reactor {command}: "), err)
                    self.assertIn("usage", err)

    def test_handshake_timeout_needs_a_certificate(self):
        for command in TCP_SERVERS:
            with self.subTest(command=command):
                self.assert_one_line_exit_2(
                    [command, "--port", "0", "--tls-handshake-timeout", "500"])

    def test_bad_handshake_timeout(self):
        for value in ("0", "-5", "soon"):
            with self.subTest(value=value):
                result = run_cli(["echo", "--port", "0", *tls_args(),
                                  "--tls-handshake-timeout", value])
                self.assertEqual(result.returncode, 2, result.stderr)
                self.assertEqual(result.stdout, b"")

    def test_udp_echo_takes_none(self):
        for args in (tls_args(), ["--tls-cert", CERTS["cert"]],
                     ["--tls-handshake-timeout", "500"]):
            with self.subTest(args=args):
                result = run_cli(["udp-echo", "--port", "0", *args])
                self.assertEqual(result.returncode, 2, result.stderr)
                self.assertEqual(result.stdout, b"")

    def test_client_flags_need_tls(self):
        for args in (["--tls-ca", CERTS["ca"]], ["--tls-server-name", "localhost"],
                     ["--insecure"]):
            with self.subTest(args=args):
                result = run_cli(["client", HOST, "4433", *args])
                self.assertEqual(result.returncode, 2, result.stderr)
                self.assertEqual(result.stdout, b"")
                self.assertTrue(result.stderr.strip())

    def test_help_lists_them(self):
        for command in TCP_SERVERS:
            with self.subTest(command=command):
                text = run_cli([command, "--help"]).stdout.decode()
                for flag in ("--tls-cert", "--tls-key", "--tls-handshake-timeout"):
                    self.assertIn(flag, text)
        text = run_cli(["client", "--help"]).stdout.decode()
        for flag in ("--tls", "--tls-ca", "--tls-server-name", "--insecure"):
            self.assertIn(flag, text)


class TlsStartupFailure(unittest.TestCase):
    """Each failure: one line `reactor COMMAND: ...` naming the file, exit 1, no stdout."""

    def setUp(self):
        self.dir = os.path.dirname(CERTS["cert"])

    def assert_fails(self, command, cert, key, names):
        args = [command, "--port", "0", "--tls-cert", cert, "--tls-key", key]
        result = run_cli(args)
        err = result.stderr.decode(errors="replace")
        self.assertEqual(result.returncode, 1, f"{args}: stderr {err!r}")
        self.assertEqual(result.stdout, b"", f"{args}: wrote to stdout")
        lines = err.strip().splitlines()
        self.assertEqual(len(lines), 1, f"{args}: want one line on stderr, got {lines}")
        self.assertTrue(lines[0].startswith(f"reactor {command}: "), lines[0])
        self.assertIn(os.path.basename(names), lines[0])

    def garbage(self, name):
        path = os.path.join(self.dir, name)
        with open(path, "w") as f:
            f.write("-----BEGIN CERTIFICATE-----\nnot base64 at all!\n-----END CERTIFICATE-----\n")
        return path

    def test_missing_certificate(self):
        missing = os.path.join(self.dir, "no-such-cert.pem")
        for command in TCP_SERVERS:
            with self.subTest(command=command):
                self.assert_fails(command, missing, CERTS["key"], missing)

    def test_missing_key(self):
        missing = os.path.join(self.dir, "no-such-key.pem")
        for command in TCP_SERVERS:
            with self.subTest(command=command):
                self.assert_fails(command, CERTS["cert"], missing, missing)

    def test_unreadable_key(self):
        # Permissions do not stop root, so where the tests run as root a directory stands
        # in for a file that cannot be read.
        if os.geteuid() == 0:
            unreadable = os.path.join(self.dir, "key-is-a-directory.pem")
            os.makedirs(unreadable, exist_ok=True)
        else:
            unreadable = os.path.join(self.dir, "unreadable-key.pem")
            shutil.copy(CERTS["key"], unreadable)
            os.chmod(unreadable, 0)
        self.assert_fails("echo", CERTS["cert"], unreadable, unreadable)

    def test_garbage_pem(self):
        bad_cert, bad_key = self.garbage("garbage-cert.pem"), self.garbage("garbage-key.pem")
        self.assert_fails("echo", bad_cert, CERTS["key"], bad_cert)
        self.assert_fails("http", CERTS["cert"], bad_key, bad_key)

    def test_key_does_not_match_certificate(self):
        for command in TCP_SERVERS:
            with self.subTest(command=command):
                self.assert_fails(command, CERTS["cert"], CERTS["mismatched_key"],
                                  CERTS["mismatched_key"])

    def test_client_with_a_missing_ca_file(self):
        missing = os.path.join(self.dir, "no-such-ca.pem")
        result = run_cli(["client", HOST, str(free_port()), "--tls", "--tls-ca", missing])
        err = result.stderr.decode(errors="replace")
        self.assertEqual(result.returncode, 1, err)
        self.assertEqual(result.stdout, b"")
        self.assertEqual(len(err.strip().splitlines()), 1, err)
        self.assertTrue(err.startswith("reactor client: "), err)
        self.assertIn("no-such-ca.pem", err)


def echo_once(test, sock, line=b"hello over tls\n"):
    sock.sendall(line)
    test.assertEqual(recv_exactly(sock, len(line), Deadline(IO_TIMEOUT)), line)


class TlsHandshakeTimeout(unittest.TestCase):

    def test_a_silent_connection_is_closed_at_the_deadline(self):
        # 1 s, against the default 10 s: a close within 5 s can only be the flag's. (Not
        # shorter: the handshake that follows must fit in it under a sanitizer too.)
        with Server("echo", *tls_args(), "--tls-handshake-timeout", "1000") as srv:
            with connect(srv.address) as silent:
                started = time.monotonic()
                data, how = recv_until(silent, lambda d: False, Deadline(5.0))
                took = time.monotonic() - started
                self.assertIn(how, ("eof", "reset"), f"still open after {took:.1f}s")
                self.assertEqual(data, b"")
                self.assertGreater(took, 0.5)
            with tls_connect(srv.address, tls_context(CERTS["ca"])) as ok:
                echo_once(self, ok)  # others are served as before
            srv.stop()


class ProxyThenTls(unittest.TestCase):
    """Behind a TCP proxy that sends a PROXY header (HAProxy's send-proxy with TLS passed
    through), the header comes first in clear, then the client's handshake."""

    def test_proxy_header_then_handshake(self):
        with Server("http", *tls_args(), "--proxy-protocol") as srv:
            raw = connect(srv.address)
            raw.sendall(b"PROXY TCP4 203.0.113.7 127.0.0.1 40000 443\r\n")
            context = tls_context(CERTS["ca"], alpn=["http/1.1"])
            with context.wrap_socket(raw, server_hostname=HOST) as tls:
                self.assertEqual(tls.selected_alpn_protocol(), "http/1.1")
                tls.sendall(b"GET /proxied HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
                data, how = recv_until(tls, lambda d: False, Deadline(IO_TIMEOUT))
                self.assertEqual(how, "eof")
                self.assertTrue(data.startswith(b"HTTP/1.1 200 "), data[:80])
                self.assertTrue(data.endswith(b"\r\n\r\nproxied"), data[-80:])
            srv.stop()


class TlsMetrics(unittest.TestCase):

    def test_handshakes_counted_exactly(self):
        port = free_port()
        srv = Server("echo", *tls_args(), "--tls-handshake-timeout", "1000",
                     "--metrics", f"{HOST}:{port}").start()
        self.addCleanup(srv.kill)
        context = tls_context(CERTS["ca"])
        with tls_connect(srv.address, context) as first:
            echo_once(self, first)  # TLS 1.3 tickets come after the handshake: read first
            session = first.session
        with tls_connect(srv.address, context, session=session) as second:
            echo_once(self, second)
            self.assertTrue(second.session_reused, "the second connection did not resume")
        with connect(srv.address) as garbage:  # plain HTTP where a ClientHello belongs
            garbage.sendall(b"GET / HTTP/1.1\r\nHost: x\r\n\r\n")
            recv_until(garbage, lambda d: False, Deadline(IO_TIMEOUT))
        with connect(srv.address) as silent:  # says nothing: cut off after 1 s
            recv_until(silent, lambda d: False, Deadline(IO_TIMEOUT))

        # Each handshake is counted before its connection ends, and the two that completed
        # are closed: four results and two closes are everything this test did.
        def counted():
            values = samples(scrape(port)[2])
            done = (total(values, "reactor_connections_closed_total") == 2 and
                    total(values, "reactor_tls_handshakes_total") == 4)
            return values if done else None
        values = wait_for(counted, IO_TIMEOUT, "every connection counted")
        self.assertEqual(total(values, "reactor_tls_handshakes_total", result="completed"), 2)
        self.assertEqual(total(values, "reactor_tls_handshakes_total", result="failed"), 1)
        self.assertEqual(total(values, "reactor_tls_handshakes_total", result="timeout"), 1)
        self.assertEqual(total(values, "reactor_tls_resumed_total"), 1)
        self.assertIn(("reactor_tls_resumed_total", frozenset({("loop", "0")})), values)
        text = scrape(port)[2]
        self.assertIn("# TYPE reactor_tls_handshakes_total counter", text)
        self.assertIn("# TYPE reactor_tls_resumed_total counter", text)
        promtool_check(self, text)
        srv.stop()

    def test_plain_servers_have_no_tls_series(self):
        for command in ("echo", "http"):
            with self.subTest(command=command):
                port = free_port()
                with Server(command, "--metrics", f"{HOST}:{port}") as srv:
                    text = scrape(port)[2]
                    self.assertNotIn("reactor_tls_", text)
                    srv.stop()


class TlsDrain(unittest.TestCase):

    def test_sigterm_sends_close_notify_and_exits_promptly(self):
        for command in ("echo", "chat"):
            with self.subTest(command=command):
                srv = Server(command, *tls_args(), "--drain-timeout", "20000").start()
                self.addCleanup(srv.kill)
                # A ragged end (no close_notify) raises SSLEOFError here instead of b"".
                sock = tls_connect(srv.address, tls_context(CERTS["ca"]),
                                   suppress_ragged_eofs=False)
                self.addCleanup(sock.close)
                # Quiet, as a drain sees it: the server has read our Finished (so its
                # handshake is over) and its tickets are acknowledged; an unacknowledged
                # byte would rightly make it linger for our FIN, which we never send.
                wait_for(lambda: unsent_bytes(sock) == 0 and peer_socket_queues(sock) == (0, 0),
                         IO_TIMEOUT, "the connection to be quiet")
                started = time.monotonic()
                srv.send_signal(signal.SIGTERM)
                try:
                    rest, how = recv_until(sock, lambda d: False, Deadline(IO_TIMEOUT))
                except ssl.SSLEOFError as e:
                    self.fail(f"{command}: the server ended the stream without close_notify: {e}")
                self.assertEqual((rest, how), (b"", "eof"))
                srv.stop()  # exit 0
                took = time.monotonic() - started
                self.assertLess(took, 3.0, f"exit took {took:.2f}s: held by our open socket")


if __name__ == "__main__":
    unittest.main()
