#!/usr/bin/env python3
"""Integration tests of `reactor http`: the real binary over 127.0.0.1, port 0.

Raw-socket clients parse every response strictly (harness.parse_response); curl and
wrk check that real clients agree. Each wait has a deadline; nothing sleeps to synchronise.
The protocol, limit, timeout and drain classes run once per selector backend (see the
end of the module). Classes named Threads* need extra loop threads; they run only when
named on the command line (ctest label "threads"):

    REACTOR_BIN=build/bin/reactor python3 tests/integration/test_http.py [-v] [Class...]
"""

import os
import contextlib
import random
import re
import select
import selectors
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

from harness import (  # noqa: E402
    HOST,
    IO_TIMEOUT,
    Deadline,
    ProtocolError,
    Server,
    chunked,
    connect,
    kernel_share,
    parse_response,
    push_until_stalled,
    reactor_bin,
    request,
)

HELLO = b"Hello, world!"
MIB = 1 << 20


class ServerCase(unittest.TestCase):
    """One `reactor http` per class, started with ARGS on BACKEND."""

    BACKEND = "epoll"
    ARGS = ()

    @classmethod
    def setUpClass(cls):
        cls.server = Server("http", "--backend", cls.BACKEND, *cls.ARGS).start()

    @classmethod
    def tearDownClass(cls):
        try:
            cls.server.stop()
        finally:
            cls.server.kill()

    def client(self, server=None):
        c = (server or self.server).client()
        self.addCleanup(c.close)
        return c

    def assert_ok(self, response, body):
        self.assertEqual(response.status, 200, response)
        self.assertEqual(response.reason, "OK")
        self.assertEqual(response.body, body)

    def assert_error_then_closed(self, client, status, head=None):
        """The next response is `status` with Connection: close, then the server closes."""
        response = client.read_response()
        self.assertEqual(response.status, status, response)
        self.assertEqual(response.header("Connection"), "close", response)
        self.assertEqual(response.header("Content-Type"), "text/plain")
        self.assertTrue(response.body.endswith(b"\n") and len(response.body) > 1, response)
        self.assertEqual(client.wait_closed(), b"", "bytes after the error response")
        return response


def fresh_server(test, *args, backend=None, env=None):
    """A server for one test (its own flags); stopped and checked at cleanup."""
    server = Server("http", "--backend", backend or test.BACKEND, *args, env=env).start()

    def stop():
        try:
            server.stop()
        finally:
            server.kill()

    test.addCleanup(stop)
    return server


# ---------------------------------------------------------------------------------------
# The protocol: GET/HEAD/POST/405, keep-alive, HTTP/1.0, pipelining, chunked, 100-continue.


class ProtocolTest(ServerCase):
    def test_get_root_says_hello(self):
        r = self.client().exchange(request("GET", "/"))
        self.assert_ok(r, HELLO)
        self.assertEqual(r.header("Content-Type"), "text/plain")
        self.assertEqual(r.header("Content-Length"), "13")
        self.assertIsNone(r.header("Connection"), "HTTP/1.1 keep-alive needs no header")

    def test_get_echoes_the_raw_target_without_its_slash(self):
        c = self.client()
        for target in ["/a", "/foo/bar", "/a/b?x=1&y=2", "/%7Euser/a%20b?q=%41%zz", "/echo",
                       "//double", "/x?", "/" + "t" * 8000]:
            with self.subTest(target=target[:40]):
                self.assert_ok(c.exchange(request("GET", target)), target[1:].encode())

    def test_head_has_the_get_headers_and_no_body(self):
        c = self.client()
        for target in ["/", "/some/thing?x=1"]:
            with self.subTest(target=target):
                get = c.exchange(request("GET", target))
                head = c.exchange(request("HEAD", target), head=True)
                self.assertEqual(head.status, 200)
                self.assertEqual(head.body, b"")
                strip = lambda hs: [h for h in hs if h[0] != "Date"]  # noqa: E731
                self.assertEqual(strip(head.headers), strip(get.headers))
                self.assertEqual(head.header("Content-Length"), str(len(get.body)))
        # Nothing followed the HEAD responses: the next answer parses from its first byte.
        self.assertEqual(c.buf, b"")
        self.assert_ok(c.exchange(request("GET", "/")), HELLO)

    def test_post_echo_returns_the_body(self):
        c = self.client()
        for body in [b"", b"x", bytes(range(256)) * 64, b"\r\n\r\nGET / HTTP/1.1\r\n\r\n"]:
            with self.subTest(size=len(body)):
                r = c.exchange(request("POST", "/echo", body))
                self.assert_ok(r, body)
                self.assertEqual(r.header("Content-Type"), "application/octet-stream")
        r = c.exchange(request("POST", "/echo", b"{}", ["Content-Type: application/json"]))
        self.assert_ok(r, b"{}")
        self.assertEqual(r.header("Content-Type"), "application/json")
        # No Content-Length and no Transfer-Encoding: an empty body.
        self.assert_ok(c.exchange(request("POST", "/echo")), b"")

    def test_post_echo_large_body(self):
        body = random.Random(7).randbytes(3 * MIB)
        self.assert_ok(self.client().exchange(request("POST", "/echo", body)), body)

    def test_other_methods_get_405_with_allow(self):
        c = self.client()
        cases = [("PUT", "/", b"data", ["GET", "HEAD"]), ("DELETE", "/x", None, ["GET", "HEAD"]),
                 ("POST", "/", b"", ["GET", "HEAD"]), ("PATCH", "/echo", b"p", ["GET", "HEAD", "POST"]),
                 ("OPTIONS", "/a", None, ["GET", "HEAD"]), ("get", "/", None, ["GET", "HEAD"])]
        for method, target, body, allowed in cases:
            with self.subTest(method=method, target=target):
                r = c.exchange(request(method, target, body))
                self.assertEqual(r.status, 405, r)
                self.assertEqual(r.reason, "Method Not Allowed")
                self.assertEqual(sorted(m.strip() for m in r.header("Allow").split(",")), allowed)
                self.assertIsNone(r.header("Connection"), "a 405 keeps the connection")
        self.assert_ok(c.exchange(request("GET", "/")), HELLO)

    def test_keep_alive_serves_many_requests_on_one_connection(self):
        c = self.client()
        for i in range(30):
            kind = i % 3
            if kind == 0:
                self.assert_ok(c.exchange(request("GET", f"/n{i}")), f"n{i}".encode())
            elif kind == 1:
                r = c.exchange(request("HEAD", "/"), head=True)
                self.assertEqual((r.status, r.body), (200, b""))
            else:
                self.assert_ok(c.exchange(request("POST", "/echo", b"b%d" % i)), b"b%d" % i)
        self.assertTrue(c.is_open())

    def test_connection_close_is_honoured(self):
        c = self.client()
        c.send(request("GET", "/a", headers=["Connection: close"]) + request("GET", "/b"))
        r = c.read_response()
        self.assert_ok(r, b"a")
        self.assertEqual(r.header("Connection"), "close")
        self.assertEqual(c.wait_closed(), b"", "nothing after a Connection: close response")

    def test_http10_without_keep_alive_closes_after_the_response(self):
        c = self.client()
        r = c.exchange(request("GET", "/", version="HTTP/1.0", host=False))
        self.assert_ok(r, HELLO)
        self.assertNotEqual((r.header("Connection") or "").lower(), "keep-alive")
        self.assertEqual(c.wait_closed(), b"")

    def test_http10_with_keep_alive_stays_open(self):
        c = self.client()
        keep = ["Connection: keep-alive"]
        for target in ["/one", "/two"]:
            r = c.exchange(request("GET", target, headers=keep, version="HTTP/1.0", host=False))
            self.assert_ok(r, target[1:].encode())
            self.assertEqual(r.header("Connection"), "keep-alive")
        r = c.exchange(request("POST", "/echo", b"ten", keep, version="HTTP/1.0", host=False))
        self.assert_ok(r, b"ten")
        self.assertEqual(r.header("Connection"), "keep-alive")
        self.assertTrue(c.is_open())
        # The last one without keep-alive ends the connection.
        self.assert_ok(c.exchange(request("GET", "/end", version="HTTP/1.0", host=False)), b"end")
        self.assertEqual(c.wait_closed(), b"")

    def test_100_pipelined_requests_in_one_write_answered_in_order(self):
        c = self.client()
        c.send(b"".join(request("GET", f"/{i}") for i in range(1, 101)))
        bodies = [c.read_response().body for _ in range(100)]
        self.assertEqual(bodies, [str(i).encode() for i in range(1, 101)])
        self.assertTrue(c.is_open())

    def test_pipelined_mixed_requests_answered_in_order(self):
        c = self.client()
        c.send(request("GET", "/first") + request("HEAD", "/h") + request("POST", "/echo", b"body")
               + request("PUT", "/", b"xyz") + request("POST", "/echo", None, ["Transfer-Encoding: chunked"])
               + chunked([b"chu", b"nked"]) + request("GET", "/"))
        self.assert_ok(c.read_response(), b"first")
        self.assertEqual(c.read_response(head=True).header("Content-Length"), "1")
        self.assert_ok(c.read_response(), b"body")
        self.assertEqual(c.read_response().status, 405)
        self.assert_ok(c.read_response(), b"chunked")
        self.assert_ok(c.read_response(), HELLO)

    def test_requests_split_at_arbitrary_points(self):
        rng = random.Random(11)
        stream = b"".join([request("GET", "/s1"), request("POST", "/echo", b"0123456789" * 50),
                           request("POST", "/echo", None, ["Transfer-Encoding: chunked"]),
                           chunked([b"a" * 100, b"b" * 7], [";x=y", ""], ["X-T: 1"]),
                           request("GET", "/s2")])
        c = self.client()
        i = 0
        while i < len(stream):
            n = rng.randint(1, 40)
            c.send(stream[i : i + n])
            i += n
        self.assert_ok(c.read_response(), b"s1")
        self.assert_ok(c.read_response(), b"0123456789" * 50)
        self.assert_ok(c.read_response(), b"a" * 100 + b"b" * 7)
        self.assert_ok(c.read_response(), b"s2")

    def test_empty_lines_between_requests_are_skipped(self):
        c = self.client()
        c.send(b"\r\n" + request("POST", "/echo", b"x") + b"\r\n" + request("GET", "/y"))
        self.assert_ok(c.read_response(), b"x")
        self.assert_ok(c.read_response(), b"y")

    def test_chunked_upload_with_extensions_and_trailers_is_echoed(self):
        pieces = [b"Hello", b", ", b"chunked " * 100, bytes(range(256))]
        body = chunked(pieces, [";name=value", ";flag", ';q="quoted;string"', ""],
                       ["X-Checksum: abc", "X-Other: 1"])
        c = self.client()
        r = c.exchange(request("POST", "/echo", None, ["Transfer-Encoding: chunked"]) + body)
        self.assert_ok(r, b"".join(pieces))
        self.assertEqual(r.header("Content-Length"), str(len(b"".join(pieces))))
        # Names and the chunked token are case-insensitive.
        r = c.exchange(request("POST", "/echo", None, ["TRANSFER-ENCODING: Chunked"]) + chunked([b"CI"]))
        self.assert_ok(r, b"CI")

    def test_chunked_upload_large(self):
        rng = random.Random(3)
        pieces = [rng.randbytes(rng.randint(1, 64 << 10)) for _ in range(40)]
        r = self.client().exchange(request("POST", "/echo", None, ["Transfer-Encoding: chunked"])
                                   + chunked(pieces))
        self.assert_ok(r, b"".join(pieces))

    def test_expect_100_continue_before_the_body(self):
        c = self.client()
        for framing, body in [("Content-Length: 11", b"hello there"),
                              ("Transfer-Encoding: chunked", chunked([b"hello", b" there"]))]:
            with self.subTest(framing=framing):
                c.send(request("POST", "/echo", None, ["Expect: 100-continue", framing]))
                interim = c.read_response(interim=True, timeout=5)
                self.assertEqual((interim.status, interim.reason), (100, "Continue"))
                self.assertEqual(interim.headers, [])
                c.send(body)
                self.assert_ok(c.read_response(), b"hello there")
        self.assert_ok(c.exchange(request("GET", "/after")), b"after")

    def test_expect_100_continue_with_the_body_already_sent(self):
        c = self.client()
        c.send(request("POST", "/echo", b"eager", ["Expect: 100-continue"]) + request("GET", "/next"))
        r = c.read_response(interim=True)
        if r.status == 100:  # allowed, though the body came with the headers
            r = c.read_response()
        self.assert_ok(r, b"eager")
        self.assert_ok(c.read_response(), b"next")

    def test_expect_100_continue_ignored_for_http10(self):
        c = self.client()
        c.send(request("POST", "/echo", None, ["Expect: 100-continue", "Content-Length: 4"],
                       version="HTTP/1.0", host=False))
        # Give the server a moment to (wrongly) answer 100; whatever it sends comes first.
        with selectors.DefaultSelector() as sel:
            sel.register(c.sock, selectors.EVENT_READ)
            sel.select(0.3)
        c.send(b"ten!")
        r = c.read_response(interim=True)
        self.assertEqual(r.status, 200, "no 100 Continue for HTTP/1.0")
        self.assertEqual(r.body, b"ten!")

    # Half-close: the FIN arrives after the request bytes were read, or together with them
    # (the server paused meanwhile). The server's own timeouts are 10 s and more, so only
    # the FIN can explain a close within HALF_CLOSE_S.
    HALF_CLOSE_S = 3

    def half_close_outcomes(self, clients, responses):
        """For each client: "closed" if the server closed within HALF_CLOSE_S after the
        expected responses, else what happened."""
        deadline = time.monotonic() + self.HALF_CLOSE_S
        outcomes = []
        for c in clients:
            try:
                for body in responses:
                    self.assert_ok(c.read_response(timeout=max(deadline - time.monotonic(), 0.01)), body)
                extra = c.wait_closed(timeout=max(deadline - time.monotonic(), 0.01))
                # A request that can never complete may get a 400; nothing else.
                ok = not extra or parse_response(extra)[0].status == 400
                outcomes.append("closed" if ok else f"closed after {extra[:40]!r}")
            except TimeoutError:
                outcomes.append("still open")
        return outcomes

    def half_close(self, data, responses):
        for together in (False, True):
            with self.subTest(fin_with_data=together):
                clients = [self.client() for _ in range(5)]
                for c in clients:  # accepted and registered before the test proper
                    self.assert_ok(c.exchange(request("GET", "/warm")), b"warm")
                with self.server.paused() if together else contextlib.nullcontext():
                    for c in clients:
                        c.send(data)
                        c.sock.shutdown(socket.SHUT_WR)
                self.assertEqual(self.half_close_outcomes(clients, responses), ["closed"] * 5)

    def test_half_close_after_requests_gets_the_answers_then_close(self):
        self.half_close(request("GET", "/h1") + request("POST", "/echo", b"h2") + request("GET", "/h3"),
                        [b"h1", b"h2", b"h3"])

    def test_half_close_in_a_partial_request_closes(self):
        self.half_close(b"GET /partial HTTP/1.1\r\nHost: x\r\n", [])


# ---------------------------------------------------------------------------------------
# Malformed and over-limit requests: the right status, Connection: close, then the close.


def with_host(*lines):
    return ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1")


BAD_REQUESTS = {
    "no Host in HTTP/1.1": b"GET / HTTP/1.1\r\n\r\n",
    "two Host fields": with_host("GET / HTTP/1.1", "Host: a", "Host: b"),
    "bare LF": b"GET / HTTP/1.1\nHost: x\n\n",
    "not HTTP": b"HELLO\r\n\r\n",
    "no version (HTTP/0.9)": b"GET /\r\n\r\n",
    "lower-case version": with_host("GET / http/1.1", "Host: x"),
    "space in target": with_host("GET /a b HTTP/1.1", "Host: x"),
    "fragment in target": with_host("GET /a#b HTTP/1.1", "Host: x"),
    "NUL in target": with_host("GET /a\x00 HTTP/1.1", "Host: x"),
    "control byte in a value": with_host("GET / HTTP/1.1", "Host: x", "X-A: a\x01b"),
    "obs-fold": with_host("GET / HTTP/1.1", "Host: x", "X-A: a", " b"),
    "space before colon": with_host("GET / HTTP/1.1", "Host : x"),
    "Content-Length not a number": with_host("POST /echo HTTP/1.1", "Host: x", "Content-Length: abc"),
    "negative Content-Length": with_host("POST /echo HTTP/1.1", "Host: x", "Content-Length: -1"),
    "Content-Length list": with_host("POST /echo HTTP/1.1", "Host: x", "Content-Length: 1, 1") + b"x",
    "two Content-Length": with_host("POST /echo HTTP/1.1", "Host: x", "Content-Length: 1",
                                    "Content-Length: 1") + b"x",
    "Content-Length overflow": with_host("POST /echo HTTP/1.1", "Host: x",
                                         "Content-Length: 99999999999999999999999"),
    "Content-Length and chunked": with_host("POST /echo HTTP/1.1", "Host: x", "Content-Length: 5",
                                            "Transfer-Encoding: chunked") + b"0\r\n\r\n",
    "chunked in HTTP/1.0": with_host("POST /echo HTTP/1.0", "Transfer-Encoding: chunked") + b"0\r\n\r\n",
    "chunked not last": with_host("POST /echo HTTP/1.1", "Host: x", "Transfer-Encoding: gzip"),
    "bad chunk size": with_host("POST /echo HTTP/1.1", "Host: x", "Transfer-Encoding: chunked") + b"zz\r\n",
    "chunk without CRLF": with_host("POST /echo HTTP/1.1", "Host: x", "Transfer-Encoding: chunked")
    + b"3\r\nabcX\r\n",
}


class ErrorsTest(ServerCase):
    def test_bad_requests_get_400_then_close(self):
        for name, data in BAD_REQUESTS.items():
            with self.subTest(name):
                c = self.client()
                c.send(data)
                self.assert_error_then_closed(c, 400)

    def test_unsupported_versions_get_505_then_close(self):
        for line in ["GET / HTTP/2.0", "GET / HTTP/3.0", "GET / HTTP/0.9", "PRI * HTTP/2.0"]:
            with self.subTest(line):
                c = self.client()
                c.send(with_host(line, "Host: x"))
                self.assert_error_then_closed(c, 505)
        c = self.client()
        c.send(b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n")  # the HTTP/2 connection preface
        self.assert_error_then_closed(c, 505)

    def test_unknown_transfer_coding_gets_501_then_close(self):
        c = self.client()
        c.send(with_host("POST /echo HTTP/1.1", "Host: x", "Transfer-Encoding: gzip, chunked"))
        self.assert_error_then_closed(c, 501)

    def test_good_requests_before_a_bad_one_are_answered_first(self):
        c = self.client()
        c.send(request("GET", "/ok") + request("POST", "/echo", b"fine") + b"BROKEN\r\n\r\n"
               + request("GET", "/never"))
        self.assert_ok(c.read_response(), b"ok")
        self.assert_ok(c.read_response(), b"fine")
        self.assert_error_then_closed(c, 400)

    def test_a_bad_client_does_not_disturb_others(self):
        good = self.client()
        self.assert_ok(good.exchange(request("GET", "/before")), b"before")
        for name, data in list(BAD_REQUESTS.items())[:6]:
            bad = self.client()
            bad.send(data)
            self.assert_error_then_closed(bad, 400)
        self.assert_ok(good.exchange(request("GET", "/after")), b"after")
        self.assert_ok(self.client().exchange(request("GET", "/new")), b"new")


class DefaultLimitsTest(ServerCase):
    """The documented defaults: request line 8192, header block 64 KiB, 100 fields, 16 MiB."""

    def test_request_line_limit_414(self):
        fixed = len("GET / HTTP/1.1") - 1
        ok = self.client().exchange(request("GET", "/" + "a" * (8192 - fixed - 1)))
        self.assertEqual(ok.status, 200, "a request line of exactly 8192 bytes is fine")
        c = self.client()
        c.send(request("GET", "/" + "a" * (8192 - fixed)))
        self.assert_error_then_closed(c, 414)

    def test_request_line_limit_without_line_end(self):
        c = self.client()
        c.send(b"GET /" + b"z" * 9000)  # no CRLF yet: the server must not wait for one
        self.assert_error_then_closed(c, 414)

    def test_header_block_size_431(self):
        self.assertEqual(self.client().exchange(request("GET", "/", headers=["X-Big: " + "b" * 60000])).status, 200)
        for headers in (["X-Big: " + "b" * 70000], [f"X-{i}: " + "v" * 1200 for i in range(60)]):
            with self.subTest(fields=len(headers)):
                c = self.client()
                c.send(request("GET", "/", headers=headers))
                self.assert_error_then_closed(c, 431)

    def test_header_count_431(self):
        ok = self.client().exchange(request("GET", "/", headers=[f"X-{i}: v" for i in range(99)]))
        self.assertEqual(ok.status, 200, "Host plus 99 fields make 100")
        c = self.client()
        c.send(request("GET", "/", headers=[f"X-{i}: v" for i in range(100)]))
        self.assert_error_then_closed(c, 431)

    def test_content_length_over_16_mib_413_before_the_body(self):
        c = self.client()
        c.send(request("POST", "/echo", None, [f"Content-Length: {16 * MIB + 1}"]))
        self.assert_error_then_closed(c, 413)


class FlagLimitsTest(ServerCase):
    """Every limit flag moves its limit."""

    ARGS = ("--max-request-line", "64", "--max-header-bytes", "300", "--max-headers", "4",
            "--max-body", "1000")

    def test_max_request_line(self):
        fixed = len("GET / HTTP/1.1") - 1
        self.assertEqual(self.client().exchange(request("GET", "/" + "a" * (64 - fixed - 1))).status, 200)
        c = self.client()
        c.send(request("GET", "/" + "a" * (64 - fixed)))
        self.assert_error_then_closed(c, 414)

    def test_max_header_bytes(self):
        self.assertEqual(self.client().exchange(request("GET", "/", headers=["X: " + "h" * 200])).status, 200)
        c = self.client()
        c.send(request("GET", "/", headers=["X: " + "h" * 400]))
        self.assert_error_then_closed(c, 431)

    def test_max_headers(self):
        three = [f"X-{i}: v" for i in range(3)]
        self.assertEqual(self.client().exchange(request("GET", "/", headers=three)).status, 200)
        c = self.client()
        c.send(request("GET", "/", headers=three + ["X-4: v"]))
        self.assert_error_then_closed(c, 431)

    def test_max_body_content_length(self):
        self.assert_ok(self.client().exchange(request("POST", "/echo", b"c" * 1000)), b"c" * 1000)
        c = self.client()
        c.send(request("POST", "/echo", b"c" * 1001))
        self.assert_error_then_closed(c, 413)

    def test_max_body_chunked(self):
        te = ["Transfer-Encoding: chunked"]
        r = self.client().exchange(request("POST", "/echo", None, te) + chunked([b"d" * 600, b"d" * 400]))
        self.assert_ok(r, b"d" * 1000)
        c = self.client()
        c.send(request("POST", "/echo", None, te) + chunked([b"d" * 600, b"d" * 401]))
        self.assert_error_then_closed(c, 413)

    def test_trailers_count_against_the_field_limits(self):
        c = self.client()
        c.send(request("POST", "/echo", None, ["Transfer-Encoding: chunked"])
               + chunked([b"t"], trailers=[f"X-T{i}: v" for i in range(8)]))
        self.assert_error_then_closed(c, 431)


# ---------------------------------------------------------------------------------------
# Timeouts: header (from the first byte), body (between reads), idle keep-alive.

TIMEOUT_S = 0.3
EARLY = 0.28  # the server's clock starts after our send: it can never answer sooner


class TimeoutTest(ServerCase):
    ARGS = ("--header-timeout", "300", "--body-timeout", "300", "--idle-timeout", "300")

    def test_partial_headers_get_408_then_close(self):
        c = self.client()
        start = time.monotonic()
        c.send(b"GET / HTTP/1.1\r\nHost: x\r\n")
        r = self.assert_error_then_closed(c, 408)
        self.assertGreaterEqual(time.monotonic() - start, EARLY)
        self.assertIn(b"header", r.body)

    def test_header_timeout_counts_from_the_first_byte_not_each_read(self):
        c = self.client()
        data = b"GET / HTTP/1.1\r\nHost: x\r\nX-Slow: " + b"s" * 1000
        start = time.monotonic()
        with selectors.DefaultSelector() as sel:
            sel.register(c.sock, selectors.EVENT_READ)
            # One byte every 50 ms, each well inside the timeout, until the server answers.
            for i in range(len(data)):
                c.send(data[i : i + 1])
                if sel.select(0.05) or time.monotonic() - start > 5:
                    break
        r = self.assert_error_then_closed(c, 408)
        elapsed = time.monotonic() - start
        self.assertGreaterEqual(elapsed, EARLY)
        self.assertLess(elapsed, 5, "the dribbling client kept the request alive")
        self.assertIn(b"header", r.body)

    def test_idle_keep_alive_connection_closed_silently(self):
        c = self.client()
        self.assert_ok(c.exchange(request("GET", "/idle")), b"idle")
        start = time.monotonic()
        self.assertEqual(c.wait_closed(timeout=5), b"", "an idle close sends nothing")
        self.assertGreaterEqual(time.monotonic() - start, EARLY)

    def test_connection_that_never_sends_closed_silently(self):
        c = self.client()
        start = time.monotonic()
        self.assertEqual(c.wait_closed(timeout=5), b"")
        self.assertGreaterEqual(time.monotonic() - start, EARLY)

    def test_requests_keep_a_connection_alive(self):
        c = self.client()
        start = time.monotonic()
        for i in range(8):  # 8 x 100 ms: longer than the idle timeout in total
            self.assert_ok(c.exchange(request("GET", f"/k{i}")), f"k{i}".encode())
            self.assertTrue(c.is_open())
            deadline = start + 0.1 * (i + 1)
            while time.monotonic() < deadline:
                time.sleep(0.01)  # pacing the client, not synchronising
        self.assertGreater(time.monotonic() - start, TIMEOUT_S)

    def test_stalled_body_gets_408_then_close(self):
        c = self.client()
        c.send(request("POST", "/echo", None, ["Content-Length: 10"]) + b"12345")
        start = time.monotonic()
        r = self.assert_error_then_closed(c, 408)
        self.assertGreaterEqual(time.monotonic() - start, EARLY)
        self.assertIn(b"body", r.body)

    def test_slow_but_steady_body_is_accepted(self):
        c = self.client()
        c.send(request("POST", "/echo", None, ["Content-Length: 10"]))
        start = time.monotonic()
        for i in range(10):  # one byte every 100 ms: 1 s in all, each pause under 300 ms
            while time.monotonic() < start + 0.1 * i:
                time.sleep(0.01)  # pacing
            c.send(b"%d" % i)
        self.assert_ok(c.read_response(), b"0123456789")

    def test_slow_chunked_body_is_accepted(self):
        c = self.client()
        c.send(request("POST", "/echo", None, ["Transfer-Encoding: chunked"]))
        body = chunked([b"ab", b"cd", b"ef"])
        start = time.monotonic()
        for i in range(len(body)):  # a byte every 40 ms
            while time.monotonic() < start + 0.04 * i:
                time.sleep(0.005)  # pacing
            c.send(body[i : i + 1])
        self.assert_ok(c.read_response(), b"abcdef")


# ---------------------------------------------------------------------------------------
# Load and hostile clients.


def run_clients(port, clients, requests_each, timeout):
    """`clients` keep-alive connections, each doing `requests_each` requests one after the
    other, all multiplexed on one selector. Returns {client: [bodies]} and the errors."""
    sel = selectors.DefaultSelector()
    states = []
    errors = []
    try:
        for i in range(clients):
            s = socket.create_connection((HOST, port), timeout=10)
            s.setblocking(False)
            st = {"sock": s, "id": i, "bodies": [], "buf": b"", "out": b""}
            states.append(st)
        for st in states:
            st["out"] = request("GET", f"/c{st['id']}-0")
            sel.register(st["sock"], selectors.EVENT_READ | selectors.EVENT_WRITE, st)
        remaining = clients
        deadline = time.monotonic() + timeout
        while remaining and time.monotonic() < deadline:
            for key, events in sel.select(0.5):
                st = key.data
                s = st["sock"]
                if events & selectors.EVENT_WRITE and st["out"]:
                    n = s.send(st["out"])
                    st["out"] = st["out"][n:]
                    if not st["out"]:
                        sel.modify(s, selectors.EVENT_READ, st)
                if not events & selectors.EVENT_READ:
                    continue
                try:
                    data = s.recv(65536)
                except BlockingIOError:
                    continue
                except OSError as e:
                    data, errors = b"", errors + [(st["id"], repr(e))]
                if not data:
                    errors.append((st["id"], "closed early"))
                    sel.unregister(s)
                    remaining -= 1
                    continue
                st["buf"] += data
                parsed = parse_response(st["buf"])
                if not parsed:
                    continue
                response, used = parsed
                st["buf"] = st["buf"][used:]
                st["bodies"].append(response.body)
                if len(st["bodies"]) == requests_each:
                    sel.unregister(s)
                    remaining -= 1
                else:
                    st["out"] = request("GET", f"/c{st['id']}-{len(st['bodies'])}")
                    sel.modify(s, selectors.EVENT_READ | selectors.EVENT_WRITE, st)
        return {st["id"]: st["bodies"] for st in states}, errors
    finally:
        for st in states:
            st["sock"].close()
        sel.close()


class ConcurrencyTest(ServerCase):
    def check_clients(self, clients, requests_each):
        results, errors = run_clients(self.server.port, clients, requests_each, timeout=30)
        self.assertEqual(errors, [])
        for i, bodies in results.items():
            self.assertEqual(bodies, [f"c{i}-{j}".encode() for j in range(requests_each)], f"client {i}")

    def test_500_concurrent_keep_alive_clients(self):
        self.check_clients(500, 4)


class SlowLorisTest(ServerCase):
    LORISES = 50

    def test_byte_by_byte_headers_do_not_delay_others(self):
        lorises = [self.client() for _ in range(self.LORISES)]
        stop = threading.Event()
        partial = b"GET /loris HTTP/1.1\r\nHost: x\r\nX-Slow: " + b"z" * 5000

        def dribble():
            for i in range(len(partial)):
                for c in lorises:
                    try:
                        c.send(partial[i : i + 1])
                    except OSError:
                        pass
                if stop.wait(0.01):
                    return

        thread = threading.Thread(target=dribble, daemon=True)
        thread.start()
        try:
            keep = self.client()
            for i in range(10):
                start = time.monotonic()
                self.assert_ok(self.client().exchange(request("GET", f"/fresh{i}")), f"fresh{i}".encode())
                self.assert_ok(keep.exchange(request("POST", "/echo", b"k%d" % i)), b"k%d" % i)
                self.assertLess(time.monotonic() - start, 2.0, "a normal client waited on slow ones")
            self.assertEqual(sum(c.is_open() for c in lorises), self.LORISES, "lorises still waiting")
        finally:
            stop.set()
            thread.join(10)

    def test_lorises_are_cut_off_by_the_header_timeout(self):
        server = fresh_server(self, "--header-timeout", "500")
        lorises = [self.client(server) for _ in range(self.LORISES)]
        partial = b"GET /loris HTTP/1.1\r\nHost: x\r\nX-Slow: " + b"z" * 5000
        start = time.monotonic()
        answered = set()
        for i in range(len(partial)):
            for n, c in enumerate(lorises):
                if n in answered:
                    continue
                try:
                    c.send(partial[i : i + 1])
                except OSError:
                    answered.add(n)
            if len(answered) == len(lorises) or time.monotonic() - start > 10:
                break
            readable = selectors.DefaultSelector()
            for n, c in enumerate(lorises):
                if n not in answered:
                    readable.register(c.sock, selectors.EVENT_READ, n)
            for key, _ in readable.select(0.02):
                answered.add(key.data)
            readable.close()
        self.assertEqual(len(answered), self.LORISES)
        for c in lorises:
            self.assert_error_then_closed(c, 408)
        self.assertLess(time.monotonic() - start, 10)


class BackpressureTest(ServerCase):
    def test_client_that_never_reads_keeps_server_memory_bounded(self):
        # Under AddressSanitizer, freed blocks stay resident in its quarantine on purpose;
        # this test is about the server's own buffers, so that quarantine is kept small.
        asan = os.environ.get("ASAN_OPTIONS", "")
        server = fresh_server(self, env={"ASAN_OPTIONS": f"{asan}:quarantine_size_mb=1".lstrip(":")})
        warm = self.client(server)
        big = random.Random(5).randbytes(8 * MIB)
        self.assert_ok(warm.exchange(request("POST", "/echo", big)), big)  # steady state
        baseline = server.rss_bytes()

        # The hog's own buffers are pinned small before it connects, and the kernel's share
        # at both ends is measured, not assumed: what is left of `sent` is what the server
        # process holds, whatever the host's buffer sysctls.
        one = request("POST", "/echo", big)
        hog = connect(server.address, rcvbuf=64 * 1024, sndbuf=64 * 1024)
        self.addCleanup(hog.close)
        hog.setblocking(False)
        sent, stalled = push_until_stalled(hog, one, Deadline(IO_TIMEOUT), 16 * len(one), quiet=1.0)
        self.assertTrue(stalled, f"the server read all {sent >> 20} MiB from a client that never reads")
        in_kernel = kernel_share(hog)
        self.assertIsNotNone(in_kernel, "the server dropped the connection")
        held = sent - in_kernel
        print(f"sent {sent >> 20} MiB; kernel queues {in_kernel >> 10} KiB; server holds {held >> 10} KiB")
        # At most one request being read and one response queued (plus a read's worth).
        self.assertLess(held, 2 * len(one) + MIB, f"sent {sent}, kernel queues {in_kernel}")

        # Another client is served meanwhile.
        other = self.client(server)
        start = time.monotonic()
        self.assert_ok(other.exchange(request("GET", "/other")), b"other")
        self.assert_ok(other.exchange(request("POST", "/echo", big)), big)
        self.assertLess(time.monotonic() - start, 5)

        growth = server.rss_bytes() - baseline
        self.assertLess(growth, 64 * MIB, f"RSS grew {growth >> 10} KiB with {sent >> 20} MiB sent")
        hog.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, b"\x01\x00\x00\x00\x00\x00\x00\x00")
        hog.close()
        self.assert_ok(other.exchange(request("GET", "/after")), b"after")


# ---------------------------------------------------------------------------------------
# Graceful drain on SIGTERM / SIGINT, and the command line.


class DrainTest(unittest.TestCase):
    BACKEND = "epoll"

    def server(self, *args):
        server = Server("http", "--backend", self.BACKEND, *args).start()
        self.addCleanup(server.kill)
        return server

    def client(self, server):
        c = server.client()
        self.addCleanup(c.close)
        return c

    def assert_exits_cleanly(self, server, timeout=10):
        server.stop(timeout=timeout)

    def test_idle_connections_close_at_once_and_the_server_exits_0(self):
        server = self.server("--drain-timeout", "20000")
        idle = [self.client(server) for _ in range(5)]
        for c in idle:
            self.assert_ok_exchange(c)
        start = time.monotonic()
        server.send_signal(signal.SIGTERM)
        for c in idle:
            self.assertEqual(c.wait_closed(timeout=5), b"")
            c.close()
        self.assert_exits_cleanly(server)
        self.assertLess(time.monotonic() - start, 4, "idle connections waited for a timeout")

    def test_sigint_drains_too(self):
        server = self.server()
        c = self.client(server)
        self.assert_ok_exchange(c)
        server.send_signal(signal.SIGINT)
        self.assertEqual(c.wait_closed(timeout=5), b"")
        c.close()
        self.assert_exits_cleanly(server)

    def test_request_in_flight_finishes_with_connection_close(self):
        server = self.server("--drain-timeout", "20000")
        idle = self.client(server)
        self.assert_ok_exchange(idle)
        busy = self.client(server)
        # The interim response proves the server holds this request's headers.
        busy.send(request("POST", "/echo", None, ["Expect: 100-continue", "Content-Length: 8"]))
        self.assertEqual(busy.read_response(interim=True).status, 100)
        server.send_signal(signal.SIGTERM)
        self.assertEqual(idle.wait_closed(timeout=5), b"")  # the drain has begun
        idle.close()
        with self.assertRaises(ConnectionRefusedError, msg="still accepting while draining"):
            socket.create_connection((HOST, server.port), timeout=5).close()
        self.assertIsNone(server.proc.poll(), "exited with a request in flight")
        busy.send(b"finished")
        r = busy.read_response()
        self.assertEqual((r.status, r.body), (200, b"finished"))
        self.assertEqual(r.header("Connection"), "close")
        self.assertEqual(busy.wait_closed(), b"")
        busy.close()
        self.assert_exits_cleanly(server)

    def test_requests_sent_just_before_the_signal_are_answered(self):
        # The requests reach the server's socket before the signal (the server is paused
        # meanwhile, so it finds both in the same loop iteration): they are in flight and
        # each gets its response (Connection: close if read after the drain began), then
        # the close.
        outcomes = []
        for count in (1, 20):
            server = self.server("--drain-timeout", "20000")
            c = server.client()
            self.assert_ok_exchange(c)  # accepted and idle
            with server.paused():
                c.send(b"".join(request("GET", f"/p{i}") for i in range(count)))
                server.send_signal(signal.SIGTERM)
            bodies = []
            try:
                for _ in range(count):
                    bodies.append(c.read_response().body)
                outcomes.append("answered" if bodies == [f"p{i}".encode() for i in range(count)]
                                else f"wrong bodies {bodies}")
                self.assertEqual(c.wait_closed(), b"")
            except ProtocolError as e:
                outcomes.append(f"{len(bodies)} of {count} answered, then {e}")
            finally:
                c.close()
                self.assert_exits_cleanly(server)
        self.assertEqual(outcomes, ["answered"] * 2)

    def test_more_signals_while_draining_change_nothing(self):
        server = self.server("--drain-timeout", "20000")
        idle = self.client(server)
        self.assert_ok_exchange(idle)
        busy = self.client(server)
        busy.send(request("POST", "/echo", None, ["Expect: 100-continue", "Content-Length: 4"]))
        self.assertEqual(busy.read_response(interim=True).status, 100)
        server.send_signal(signal.SIGTERM)
        self.assertEqual(idle.wait_closed(timeout=5), b"")  # the drain has begun
        idle.close()
        for signo in (signal.SIGTERM, signal.SIGINT, signal.SIGTERM):
            server.send_signal(signo)
        busy.send(b"done")
        r = busy.read_response()
        self.assertEqual((r.status, r.body, r.header("Connection")), (200, b"done", "close"))
        self.assertEqual(busy.wait_closed(), b"")
        busy.close()
        self.assert_exits_cleanly(server)

    def test_drain_timeout_resets_what_is_left(self):
        server = self.server("--drain-timeout", "300")
        stuck = self.client(server)
        stuck.send(request("POST", "/echo", None, ["Expect: 100-continue", "Content-Length: 8"]))
        self.assertEqual(stuck.read_response(interim=True).status, 100)
        start = time.monotonic()
        server.send_signal(signal.SIGTERM)
        stuck.wait_closed(timeout=5)
        self.assert_exits_cleanly(server)
        self.assertLess(time.monotonic() - start, 5)

    def assert_ok_exchange(self, c):
        r = c.exchange(request("GET", "/"))
        self.assertEqual((r.status, r.body), (200, HELLO))


class ShutdownSignalsTest(unittest.TestCase):
    def test_signals_until_exit_still_exit_0(self):
        # A supervisor may repeat SIGTERM until the process is gone: however late one
        # lands (during the drain or the teardown after it), the exit status stays 0.
        # The window is narrow, so many quick rounds.
        codes = []
        for _ in range(100):
            with Server("http") as server:
                c = server.client()
                c.exchange(request("GET", "/"))
                open_, deadline = True, time.monotonic() + 10
                while server.proc.poll() is None and time.monotonic() < deadline:
                    os.kill(server.proc.pid, signal.SIGTERM)  # a zombie ignores it
                    if open_ and select.select([c.sock], [], [], 0)[0]:
                        c.close()  # the server closed: answer its FIN with ours
                        open_ = False
                c.close()
                codes.append(server.wait_exit()[0])
        self.assertEqual([c for c in codes if c != 0], [], "exit status after repeated SIGTERM")


class CommandLineTest(unittest.TestCase):
    def run_reactor(self, *args):
        return subprocess.run([reactor_bin(), "http", *args], capture_output=True, timeout=20)

    def test_bad_arguments_exit_2(self):
        for args in (["--port", "nope"], ["--port", "70000"], ["--backend", "kqueue"],
                     ["--max-body", "0"], ["--header-timeout", "0"], ["--threads", "0"],
                     ["--host", "not-an-address"], ["--no-such-flag"], ["stray"]):
            with self.subTest(args=args):
                p = self.run_reactor(*args)
                self.assertEqual(p.returncode, 2, p.stderr)
                self.assertEqual(p.stdout, b"")
                self.assertNotEqual(p.stderr, b"")

    def test_port_in_use_exits_1(self):
        with socket.socket() as taken:
            taken.bind((HOST, 0))
            taken.listen()
            p = self.run_reactor("--port", str(taken.getsockname()[1]))
        self.assertEqual(p.returncode, 1, p.stderr)
        self.assertEqual(p.stdout, b"")
        self.assertIn(b"in use", p.stderr)

    def test_prints_exactly_one_line(self):
        with Server("http") as server:
            self.assertEqual(server.host, HOST)
            self.assertGreater(server.port, 0)
            server.stop()


# ---------------------------------------------------------------------------------------
# Real clients.


class CurlTest(ServerCase):
    def setUp(self):
        if not shutil.which("curl"):
            self.skipTest("curl not installed")

    def curl(self, *args):
        p = subprocess.run(["curl", "-sS", "--max-time", "20", *args], capture_output=True, timeout=30)
        self.assertEqual(p.returncode, 0, p.stderr)
        return p.stdout

    def url(self, path="/"):
        return f"http://{HOST}:{self.server.port}{path}"

    def test_get(self):
        self.assertEqual(self.curl(self.url()), HELLO)
        self.assertEqual(self.curl(self.url("/a/b?c=d")), b"a/b?c=d")

    def test_post_file_echoed(self):
        with tempfile.NamedTemporaryFile() as f:
            data = random.Random(9).randbytes(2 * MIB + 3)
            f.write(data)
            f.flush()
            self.assertEqual(self.curl("--data-binary", f"@{f.name}", self.url("/echo")), data)
            self.assertEqual(self.curl("-H", "Transfer-Encoding: chunked", "--data-binary",
                                       f"@{f.name}", self.url("/echo")), data)
            # Large enough for curl to ask "Expect: 100-continue" first.
            self.assertEqual(self.curl("-H", "Expect: 100-continue", "--expect100-timeout", "10",
                                       "--data-binary", f"@{f.name}", self.url("/echo")), data)

    def test_head(self):
        out = self.curl("-I", self.url())
        lines = out.split(b"\r\n")
        self.assertEqual(lines[0], b"HTTP/1.1 200 OK")
        self.assertIn(b"Content-Length: 13", lines)
        self.assertTrue(out.endswith(b"\r\n\r\n"))

    def test_connection_reused_and_405(self):
        out = self.curl("-w", " %{num_connects}\n", self.url("/one"), self.url("/two"))
        self.assertEqual(out, b"one 1\ntwo 0\n")
        self.assertEqual(self.curl("-o", "/dev/null", "-w", "%{http_code}", "-X", "PUT", self.url()), b"405")
        self.assertEqual(self.curl("--http1.0", self.url("/ten")), b"ten")


class WrkTest(ServerCase):
    def test_wrk_smoke(self):
        if not shutil.which("wrk"):
            self.skipTest("wrk not installed")
        p = subprocess.run(["wrk", "-t1", "-c20", "-d1s", f"http://{HOST}:{self.server.port}/"],
                           capture_output=True, text=True, timeout=30)
        self.assertEqual(p.returncode, 0, p.stderr)
        m = re.search(r"(\d+) requests in", p.stdout)
        self.assertTrue(m, p.stdout)
        self.assertGreater(int(m.group(1)), 0, p.stdout)
        self.assertNotIn("Socket errors", p.stdout)
        self.assertNotIn("Non-2xx", p.stdout)


# ---------------------------------------------------------------------------------------
# Several loop threads (ctest label "threads"; named explicitly, see load_tests).


class ThreadsTest(ServerCase):
    ARGS = ("--threads", "2")

    def test_requests_on_many_connections(self):
        for i in range(8):
            c = self.client()
            self.assert_ok(c.exchange(request("GET", f"/t{i}")), f"t{i}".encode())
            self.assert_ok(c.exchange(request("POST", "/echo", b"e%d" % i)), b"e%d" % i)

    def test_pipelining(self):
        c = self.client()
        c.send(b"".join(request("GET", f"/{i}") for i in range(1, 101)))
        self.assertEqual([c.read_response().body for _ in range(100)], [str(i).encode() for i in range(1, 101)])

    def test_concurrent_clients(self):
        results, errors = run_clients(self.server.port, 300, 3, timeout=30)
        self.assertEqual(errors, [])
        for i, bodies in results.items():
            self.assertEqual(bodies, [f"c{i}-{j}".encode() for j in range(3)])

    def test_drain_closes_connections_on_every_loop(self):
        server = fresh_server(self, *self.ARGS)
        clients = [self.client(server) for _ in range(6)]
        for c in clients:
            self.assert_ok(c.exchange(request("GET", "/")), HELLO)
        server.send_signal(signal.SIGTERM)
        for c in clients:
            self.assertEqual(c.wait_closed(timeout=5), b"")


class ThreadsReusePortTest(ThreadsTest):
    ARGS = ("--threads", "2", "--balancing", "reuse-port")


class ThreadsLeastConnectionsTest(ThreadsTest):
    ARGS = ("--threads", "2", "--balancing", "least-connections")


# ---------------------------------------------------------------------------------------
# The same protocol, limits, timeouts and drain over the other backends.

for _backend in ("epoll-et", "poll"):
    for _base in (ProtocolTest, ErrorsTest, FlagLimitsTest, TimeoutTest, DrainTest, ConcurrencyTest):
        _name = f"{_base.__name__}_{_backend.replace('-', '_')}"
        globals()[_name] = type(_name, (_base,), {"BACKEND": _backend, "__qualname__": _name})
del _backend, _base, _name


def load_tests(loader, tests, pattern):
    """The whole module except the Threads* classes, which run only when named."""
    suite = unittest.TestSuite()
    for name, obj in globals().items():
        if (isinstance(obj, type) and issubclass(obj, unittest.TestCase) and obj is not ServerCase
                and obj.__module__ == __name__ and not name.startswith("Threads")):
            suite.addTests(loader.loadTestsFromTestCase(obj))
    return suite


if __name__ == "__main__":
    unittest.main()
