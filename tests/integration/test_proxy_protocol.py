"""`--proxy-protocol` on `reactor echo`, `chat` and `http`: PROXY v1/v2 headers written by
the test (CRC32C TLV right and wrong), a connection without a valid header closed without
a reply, a header trickled one byte at a time, the 3 s header deadline, `--proxy-from`
(trusted peers), and the flags' usage errors. The addresses a header names are checked by
the unit tests (tests/unit/net/proxy_stage_test.cc); here the behaviour is."""

import ipaddress
import re
import struct
import unittest

from harness import (BACKENDS, Deadline, IO_TIMEOUT, Server, connect, parse_trace, recv_exactly,
                     recv_until, request, run_cli, wait_server_read_all)

V2_SIGNATURE = b"\r\n\r\n\x00\r\nQUIT\n"


def crc32c(data):
    """CRC32C (Castagnoli), bit by bit."""
    crc = 0xFFFFFFFF
    for byte in data:
        crc ^= byte
        for _ in range(8):
            crc = (crc >> 1) ^ (0x82F63B78 & -(crc & 1))
    return crc ^ 0xFFFFFFFF


def v1(src="192.0.2.10", dst="198.51.100.7", sport=40000, dport=8080):
    family = "TCP6" if ":" in src else "TCP4"
    return f"PROXY {family} {src} {dst} {sport} {dport}\r\n".encode()


def v2(src="203.0.113.5", dst="192.0.2.1", sport=51000, dport=443, local=False, crc=None):
    """A v2 header; `crc`: None for no CRC32C TLV, True for a right one, False for a wrong
    one."""
    if local:
        return V2_SIGNATURE + b"\x20\x00\x00\x00"
    a, b = ipaddress.ip_address(src), ipaddress.ip_address(dst)
    family = 0x11 if a.version == 4 else 0x21
    body = a.packed + b.packed + struct.pack("!HH", sport, dport)
    if crc is not None:
        body += b"\x03\x00\x04" + b"\x00" * 4
    header = V2_SIGNATURE + bytes([0x21, family]) + struct.pack("!H", len(body)) + body
    if crc is not None:
        value = crc32c(header) ^ (0 if crc else 1)
        header = header[:-4] + struct.pack("!I", value)
    return header


GOOD_HEADERS = {
    "v1 tcp4": v1(),
    "v1 tcp6": v1("2001:db8::10", "2001:db8::7"),
    "v1 unknown": b"PROXY UNKNOWN\r\n",
    "v2 tcp4": v2(),
    "v2 tcp6": v2("2001:db8::1", "2001:db8::2"),
    "v2 local": v2(local=True),
    "v2 crc32c right": v2(crc=True),
}
BAD_HEADERS = {
    "no header": b"hello\r\n",
    "v2 crc32c wrong": v2(crc=False),
    "v1 bad port": b"PROXY TCP4 192.0.2.10 198.51.100.7 40000 70000\r\n",
    "v1 lone LF": b"PROXY TCP4 192.0.2.10 198.51.100.7 40000 8080\n",
    "http request": request("GET", "/"),
}


def assert_closed_unanswered(test, sock, what, timeout=IO_TIMEOUT):
    """The server closes `sock` (FIN or reset) and sends nothing first."""
    data, how = recv_until(sock, lambda d: False, Deadline(timeout))
    test.assertIn(how, ("eof", "reset"), f"{what}: still open")
    test.assertEqual(data, b"", f"{what}: the server replied")


class EchoWithProxyProtocol(unittest.TestCase):

    def test_every_header_kind_on_every_backend(self):
        # Header and data in one write, then more data: echoed exactly, none of the header.
        for backend in BACKENDS:
            with Server("echo", "--proxy-protocol", "--backend", backend) as srv:
                for name, header in GOOD_HEADERS.items():
                    with self.subTest(backend=backend, header=name):
                        with connect(srv.address) as s:
                            s.sendall(header + b"first")
                            self.assertEqual(recv_exactly(s, 5, Deadline(IO_TIMEOUT)), b"first")
                            s.sendall(b"second")
                            self.assertEqual(recv_exactly(s, 6, Deadline(IO_TIMEOUT)), b"second")
                srv.stop()

    def test_bad_headers_are_closed_without_reply(self):
        with Server("echo", "--proxy-protocol") as srv:
            for name, data in BAD_HEADERS.items():
                with self.subTest(header=name):
                    with connect(srv.address) as s:
                        s.sendall(data + b"hello")
                        assert_closed_unanswered(self, s, name)
            srv.stop()

    def test_large_payload_behind_the_header(self):
        payload = bytes(range(256)) * 4096  # 1 MiB
        for backend in ("epoll", "epoll-et"):
            with self.subTest(backend=backend):
                with Server("echo", "--proxy-protocol", "--backend", backend) as srv:
                    with connect(srv.address) as s:
                        s.sendall(v2(crc=True) + payload)
                        got = recv_exactly(s, len(payload), Deadline(IO_TIMEOUT))
                        self.assertTrue(got == payload, "payload changed on the way")
                    srv.stop()

    def test_header_trickled_one_byte_at_a_time(self):
        with Server("echo", "--proxy-protocol") as srv:
            for header in (v1("2001:db8::10", "2001:db8::7"), v2(crc=True)):
                with self.subTest(version=1 if header.startswith(b"PROXY") else 2):
                    with connect(srv.address) as s:  # TCP_NODELAY: one segment per byte
                        for i in range(len(header)):
                            s.sendall(header[i:i + 1])
                        s.sendall(b"ok")
                        self.assertEqual(recv_exactly(s, 2, Deadline(IO_TIMEOUT)), b"ok")
            srv.stop()

    def test_header_deadline_closes_a_silent_connection(self):
        # The deadline is 3 s and no flag changes it: this test waits that long, once.
        with Server("echo", "--proxy-protocol") as srv:
            with connect(srv.address) as silent, connect(srv.address) as partial:
                partial.sendall(b"PROXY TCP4 192.0.2.10 ")
                assert_closed_unanswered(self, silent, "silent", timeout=10)
                assert_closed_unanswered(self, partial, "partial header", timeout=10)
            srv.stop()

    def test_proxy_from_decides_who_may_send_a_header(self):
        with Server("echo", "--proxy-protocol", "--proxy-from", "10.0.0.0/8") as srv:
            with connect(srv.address) as s:
                s.sendall(v1() + b"hello")
                assert_closed_unanswered(self, s, "untrusted loopback")
            srv.stop()
        with Server("echo", "--proxy-protocol", "--proxy-from", "127.0.0.2,::1/128") as srv:
            with connect(srv.address) as s:  # from 127.0.0.1: not listed
                s.sendall(v1() + b"hello")
                assert_closed_unanswered(self, s, "127.0.0.1 not in the list")
            with connect(srv.address, source="127.0.0.2") as s:
                s.sendall(v1() + b"hello")
                self.assertEqual(recv_exactly(s, 5, Deadline(IO_TIMEOUT)), b"hello")
            srv.stop()

    def test_without_the_flag_a_header_is_data(self):
        with Server("echo") as srv:
            with connect(srv.address) as s:
                s.sendall(v1() + b"hello")
                want = v1() + b"hello"
                self.assertEqual(recv_exactly(s, len(want), Deadline(IO_TIMEOUT)), want)
            srv.stop()

    def test_threads(self):
        with Server("echo", "--proxy-protocol", "--threads", "2") as srv:
            socks = [connect(srv.address) for _ in range(8)]
            try:
                for i, s in enumerate(socks):
                    s.sendall(v1(sport=40000 + i) + b"client %d" % i)
                for i, s in enumerate(socks):
                    want = b"client %d" % i
                    self.assertEqual(recv_exactly(s, len(want), Deadline(IO_TIMEOUT)), want)
            finally:
                for s in socks:
                    s.close()
            srv.stop()

    def test_trace_shows_the_stage(self):
        # docs/trace.md: the header's bytes as reads, then the same descriptor watched
        # again as a connection; a refused one closed with reason=error.
        with Server("echo", "--proxy-protocol", "--trace") as srv:
            with connect(srv.address) as s:
                s.sendall(v1() + b"hello")
                self.assertEqual(recv_exactly(s, 5, Deadline(IO_TIMEOUT)), b"hello")
            with connect(srv.address) as s:
                s.sendall(b"hello")
                assert_closed_unanswered(self, s, "no header")
            srv.stop()
            lines = [l for l in parse_trace(srv.stderr_text()) if l.event != "wait"]
        accepts = [l for l in lines if l.event == "accept"]
        self.assertEqual(len(accepts), 2)
        fd = accepts[0].fd
        mine = [(l.event, l.text.split(" ", 3)[3]) for l in lines
                if "fd" in l.fields and l.fd == fd and l.event != "dispatch"]
        self.assertEqual(mine[:5], [
            ("accept", f"fd={fd} peer={accepts[0]['peer']}"), ("watch", f"fd={fd} interest=R"),
            ("read", f"fd={fd} bytes={len(v1())}"), ("unwatch", f"fd={fd}"),
            ("watch", f"fd={fd} interest=R")])
        refused = accepts[1].fd
        self.assertIn(("close", f"fd={refused} reason=error"),
                      [(l.event, l.text.split(" ", 3)[3]) for l in lines
                       if "fd" in l.fields and l.fd == refused])


class HttpWithProxyProtocol(unittest.TestCase):

    def test_requests_behind_v1_and_v2_headers(self):
        with Server("http", "--proxy-protocol") as srv:
            for header in (v1(), v2(crc=True), v2(local=True)):
                with self.subTest(header=header[:12]):
                    with srv.client() as c:
                        c.send(header + request("GET", "/"))
                        res = c.read_response()
                        self.assertEqual((res.status, res.body), (200, b"Hello, world!"))
                        res = c.exchange(request("GET", "/again"))  # keep-alive: no header now
                        self.assertEqual((res.status, res.body), (200, b"again"))
            srv.stop()

    def test_no_header_no_answer(self):
        # Not even a 400: the bytes never reach the HTTP layer.
        with Server("http", "--proxy-protocol") as srv:
            for name, data in BAD_HEADERS.items():
                with self.subTest(header=name):
                    with connect(srv.address) as s:
                        s.sendall(data + request("GET", "/"))
                        assert_closed_unanswered(self, s, name)
            srv.stop()


class ChatWithProxyProtocol(unittest.TestCase):

    def test_lines_relayed_between_proxied_clients(self):
        with Server("chat", "--proxy-protocol") as srv:
            with connect(srv.address) as a:
                a.sendall(v1(sport=40001))
                wait_server_read_all(a)  # its header taken: a is in the room
                with connect(srv.address) as b:
                    b.sendall(v2(sport=40002) + b"hello\n")
                    self.assertEqual(recv_exactly(a, 6, Deadline(IO_TIMEOUT)), b"hello\n")
            srv.stop()


class ProxyFlagsUsage(unittest.TestCase):

    def assert_one_line_exit_2(self, args):
        result = run_cli(args)
        err = result.stderr.decode(errors="replace")
        self.assertEqual(result.returncode, 2, f"{args}: stderr {err!r}")
        self.assertEqual(result.stdout, b"", f"{args}: wrote to stdout")
        self.assertEqual(len(err.strip().splitlines()), 1, f"{args}: {err!r}")

    def test_bad_lists(self):
        for command in ("echo", "chat", "http"):
            for value in ("", "10.0.0.0/33", "10.0.0.0/8,", "not-an-ip", "::1/129", "1.2.3.4/8/8"):
                with self.subTest(command=command, value=value):
                    self.assert_one_line_exit_2(
                        [command, "--port", "0", "--proxy-protocol", "--proxy-from", value])

    def test_proxy_from_needs_proxy_protocol(self):
        for command in ("echo", "chat", "http"):
            with self.subTest(command=command):
                self.assert_one_line_exit_2([command, "--port", "0", "--proxy-from", "10.0.0.0/8"])

    def test_udp_echo_takes_neither(self):
        for args in (["--proxy-protocol"], ["--proxy-from", "127.0.0.1"]):
            with self.subTest(args=args):
                result = run_cli(["udp-echo", "--port", "0", *args])
                self.assertEqual(result.returncode, 2, result.stderr)
                self.assertEqual(result.stdout, b"")

    def test_help_lists_them(self):
        for command in ("echo", "chat", "http"):
            with self.subTest(command=command):
                text = run_cli([command, "--help"]).stdout.decode()
                self.assertTrue(re.search(r"--proxy-protocol\b", text), text)
                self.assertTrue(re.search(r"--proxy-from\b", text), text)


if __name__ == "__main__":
    unittest.main()
