"""Real TLS clients against the real servers (issue 11): curl (--cacert) gets from
`reactor http --tls-cert` exactly what a plain instance answers, with ALPN http/1.1;
`openssl s_client` talks TLS 1.3 and 1.2 to `reactor echo` and is refused 1.0 and 1.1 by
the server (a protocol_version alert); Python's ssl module runs echo, chat and HTTP
keep-alive over TLS; wrk drives HTTPS; and `reactor client --tls` verifies the server
(refusing an unknown CA or a wrong name, accepting with --insecure)."""

import re
import shutil
import subprocess
import unittest

from harness import (HOST, IO_TIMEOUT, STOP_TIMEOUT, ClientProcess, Deadline, Server,
                     make_rng, parse_trace, read_pipe_until, recv_exactly, request, run_cli, tls_client,
                     tls_connect, tls_context, use_test_certs, wait_server_read_all)

CERTS = use_test_certs(globals())


def tls_args(cert="cert", key="key"):
    return ["--tls-cert", CERTS[cert], "--tls-key", CERTS[key]]


def tls_server(test, command, *args, cert="cert", key="key"):
    srv = Server(command, *tls_args(cert, key), *args).start()
    test.addCleanup(srv.kill)
    return srv


def need(program):
    path = shutil.which(program)
    if not path:
        raise unittest.SkipTest(f"{program} is not installed")
    return path


class Curl(unittest.TestCase):
    """curl verifies the server against the test CA, by address and by name."""

    REQUESTS = [([], "/"), ([], "/some/path?q=1&r=%20x"),
                (["--data-binary", "posted body\n", "-H", "Content-Type: text/plain"], "/echo"),
                (["-X", "DELETE"], "/")]

    def curl(self, url, *args):
        """(status, body, verbose stderr) of one curl request."""
        result = subprocess.run(
            [need("curl"), "-sS", "-v", "--max-time", "10", "--cacert", CERTS["ca"],
             "-w", "\n%{http_code}", *args, url],
            capture_output=True, timeout=IO_TIMEOUT)
        stderr = result.stderr.decode(errors="replace")
        self.assertEqual(result.returncode, 0, f"curl {url}: {stderr[-2000:]}")
        body, _, status = result.stdout.rpartition(b"\n")
        return int(status), body, stderr

    def test_same_answers_as_plain_http_with_alpn(self):
        plain = Server("http").start()
        self.addCleanup(plain.kill)
        secure = tls_server(self, "http")
        resolve = ["--resolve", f"localhost:{secure.port}:{HOST}"]
        for args, path in self.REQUESTS:
            want_status, want_body, _ = self.curl(f"http://{HOST}:{plain.port}{path}", *args)
            for base in (f"https://{HOST}:{secure.port}", f"https://localhost:{secure.port}"):
                with self.subTest(url=base + path, args=args):
                    status, body, verbose = self.curl(base + path, *resolve, *args)
                    self.assertEqual((status, body), (want_status, want_body))
                    alpn = [line for line in verbose.splitlines() if "ALPN" in line]
                    self.assertRegex("\n".join(alpn),
                                     r"ALPN[:,] server accepted (to use )?http/1\.1")
        plain.stop()
        secure.stop()


class OpensslSClient(unittest.TestCase):

    def s_client(self, port, *args):
        return subprocess.Popen(
            [need("openssl"), "s_client", "-connect", f"{HOST}:{port}", "-CAfile",
             CERTS["ca"], "-verify_return_error", "-brief", *args],
            stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE)

    def test_tls_1_3_and_1_2_echo(self):
        srv = tls_server(self, "echo")
        for version, name in (("-tls1_3", "TLSv1.3"), ("-tls1_2", "TLSv1.2")):
            with self.subTest(version=version):
                client = self.s_client(srv.port, version)
                try:
                    line = f"hello over {name}\n".encode()
                    client.stdin.write(line)
                    client.stdin.flush()
                    echoed, _ = read_pipe_until(client.stdout, lambda d: line in d,
                                                Deadline(IO_TIMEOUT))
                    self.assertIn(line, echoed)
                finally:
                    client.kill()
                    _, err = client.communicate(timeout=STOP_TIMEOUT)
                self.assertIn(f"Protocol version: {name}", err.decode(errors="replace"))
        srv.stop()

    def test_tls_1_0_and_1_1_are_refused_by_the_server(self):
        # SECLEVEL=0 makes the local client willing to offer them, so the refusal seen is
        # the server's: its protocol_version alert (70).
        srv = tls_server(self, "echo")
        for version in ("-tls1", "-tls1_1"):
            with self.subTest(version=version):
                client = self.s_client(srv.port, version, "-cipher", "DEFAULT@SECLEVEL=0")
                out, err = client.communicate(b"", timeout=IO_TIMEOUT)
                text = (out + err).decode(errors="replace")
                self.assertNotEqual(client.returncode, 0, text)
                self.assertRegex(text, r"alert protocol version")
                self.assertIn("alert number 70", text)
        srv.stop()


class PythonSsl(unittest.TestCase):

    def test_echo(self):
        rng = make_rng(self)
        srv = tls_server(self, "echo")
        context = tls_context(CERTS["ca"], alpn=["h2", "http/1.1"])
        for name in (HOST, "localhost"):
            with self.subTest(server_hostname=name):
                with tls_connect(srv.address, context, server_hostname=name) as sock:
                    self.assertIsNone(sock.selected_alpn_protocol())  # echo offers none
                    for size in (1, 100, 16384, 16385, 300_000):
                        data = rng.randbytes(size)
                        sock.sendall(data)
                        got = recv_exactly(sock, size, Deadline(IO_TIMEOUT))
                        self.assertTrue(got == data, f"{size} bytes echoed differently")
        srv.stop()

    def test_trace_shows_the_handshake_then_plaintext(self):
        srv = tls_server(self, "echo", "--trace")
        with tls_connect(srv.address, tls_context(CERTS["ca"])) as sock:
            sock.sendall(b"hello\n")
            self.assertEqual(recv_exactly(sock, 6, Deadline(IO_TIMEOUT)), b"hello\n")
        srv.stop()
        story = [(l.event, l.fields) for l in parse_trace(srv.stderr_text())
                 if l.event in ("accept", "handshake", "read", "write")]
        fd = story[0][1]["fd"]
        self.assertEqual([e for e, _ in story[:4]], ["accept", "handshake", "read", "write"])
        self.assertEqual(story[1][1], {"fd": fd, "version": "TLSv1.3", "resumed": "0"})
        self.assertEqual(story[2][1], {"fd": fd, "bytes": "6"})  # plaintext, not the record
        self.assertEqual(story[3][1], {"fd": fd, "bytes": "6", "queued": "0"})

    def test_chat_two_clients(self):
        srv = tls_server(self, "chat")
        context = tls_context(CERTS["ca"])
        with tls_connect(srv.address, context) as a:
            a.sendall(b"join a\n")  # a is a member once the server has read its line
            wait_server_read_all(a)
            with tls_connect(srv.address, context) as b:
                b.sendall(b"hello from b\n")
                self.assertEqual(recv_exactly(a, 13, Deadline(IO_TIMEOUT)), b"hello from b\n")
                a.sendall(b"hello from a\n")
                self.assertEqual(recv_exactly(b, 13, Deadline(IO_TIMEOUT)), b"hello from a\n")
        srv.stop()

    def test_http_keep_alive(self):
        srv = tls_server(self, "http")
        with tls_client(srv.address, tls_context(CERTS["ca"], alpn=["http/1.1"]),
                        server_hostname="localhost") as c:
            self.assertEqual(c.sock.selected_alpn_protocol(), "http/1.1")
            for i in range(5):
                r = c.exchange(request("GET", f"/item/{i}"))
                self.assertEqual((r.status, r.body), (200, f"item/{i}".encode()))
            r = c.exchange(request("POST", "/echo", body=b"x" * 100_000))
            self.assertEqual((r.status, len(r.body)), (200, 100_000))
            r = c.exchange(request("GET", "/"))
            self.assertEqual((r.status, r.body), (200, b"Hello, world!"))
        srv.stop()


class Wrk(unittest.TestCase):

    def test_https_load(self):
        srv = tls_server(self, "http")
        result = subprocess.run([need("wrk"), "-t1", "-c10", "-d1s", f"https://{HOST}:{srv.port}/"],
                                capture_output=True, timeout=IO_TIMEOUT)
        out = result.stdout.decode(errors="replace")
        self.assertEqual(result.returncode, 0, out + result.stderr.decode(errors="replace"))
        m = re.search(r"^\s*(\d+) requests in", out, re.M)
        self.assertTrue(m, out)
        self.assertGreater(int(m.group(1)), 0, out)
        self.assertNotIn("Socket errors", out)
        self.assertNotIn("Non-2xx", out)
        srv.stop()


class ReactorClient(unittest.TestCase):
    """`reactor client --tls`: verifies by default; a refusal is one line and exit 1."""

    def assert_refused(self, port, *args):
        result = run_cli(["client", HOST, str(port), "--tls", *args])
        err = result.stderr.decode(errors="replace")
        self.assertEqual(result.returncode, 1, err)
        self.assertEqual(result.stdout, b"")
        lines = err.strip().splitlines()
        self.assertEqual(len(lines), 1, f"want one line on stderr, got {lines}")
        self.assertTrue(lines[0].startswith(f"reactor client: TLS handshake with {HOST}:{port}"
                                            " failed: "), lines[0])
        return lines[0]

    def assert_echoes(self, port, *args):
        with ClientProcess(port, "--tls", *args) as client:
            for i in range(3):
                line = b"line %d over tls\n" % i
                client.write(line)
                self.assertEqual(client.read_exactly(len(line)), line)
            client.proc.stdin.close()
            rest, eof = read_pipe_until(client.proc.stdout, lambda d: False,
                                        Deadline(IO_TIMEOUT))
            self.assertEqual((rest, eof), (b"", True))
            self.assertEqual(client.proc.wait(timeout=STOP_TIMEOUT), 0, client.stderr_text())

    def test_verified_by_address_and_by_name(self):
        srv = tls_server(self, "echo")
        self.assert_echoes(srv.port, "--tls-ca", CERTS["ca"])
        self.assert_echoes(srv.port, "--tls-ca", CERTS["ca"], "--tls-server-name", "localhost")
        srv.stop()

    def test_unknown_to_the_system_store(self):
        srv = tls_server(self, "echo")
        self.assertIn("verify", self.assert_refused(srv.port))
        srv.stop()

    def test_wrong_name(self):
        srv = tls_server(self, "echo")
        line = self.assert_refused(srv.port, "--tls-ca", CERTS["ca"],
                                   "--tls-server-name", "wrong.example")
        self.assertRegex(line, r"verify|mismatch")
        srv.stop()

    def test_unknown_ca(self):
        srv = tls_server(self, "echo", cert="other_cert", key="other_key")
        self.assertIn("verify", self.assert_refused(srv.port, "--tls-ca", CERTS["ca"]))
        srv.stop()

    def test_insecure_accepts_what_verification_refuses(self):
        for cert, key in (("other_cert", "other_key"), ("wrong_name_cert", "wrong_name_key")):
            with self.subTest(cert=cert):
                srv = tls_server(self, "echo", cert=cert, key=key)
                self.assert_refused(srv.port, "--tls-ca", CERTS["ca"])
                self.assert_echoes(srv.port, "--insecure")
                srv.stop()


if __name__ == "__main__":
    unittest.main()
