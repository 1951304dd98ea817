#!/usr/bin/env python3
"""Integration tests of `reactor http --access-log`: the real binary over 127.0.0.1.

Exact Combined Log Format lines for known requests (each also parsed by a strict regex,
its date checked against the test's clock), the once-a-second flush with no further
traffic, `-` (stderr), the flush on SIGTERM, SIGHUP reopening under load with no line lost
or repeated, and a path that cannot be opened. Classes named Threads* run --threads 2 and
only when named (ctest label "threads"):

    REACTOR_BIN=build/bin/reactor python3 tests/integration/test_access_log.py [-v] [Class...]
"""

import calendar
import os
import re
import shutil
import signal
import socket
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
    Server,
    connect,
    recv_to_eof,
    request,
    run_cli,
    wait_for,
)

MONTHS = ("Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec")
QUOTED = rb'"((?:[\x20\x21\x23-\x5b\x5d-\x7e]|\\"|\\\\|\\x[0-9A-F]{2})*)"'
# The whole line, strictly: printable ASCII only, every quoted field escaped.
COMBINED = re.compile(
    rb"^(\S+) - - \[(\d{2})/(" + "|".join(MONTHS).encode() +
    rb")/(\d{4}):(\d{2}):(\d{2}):(\d{2}) \+0000\] " + QUOTED + rb" (\d{3}) (\d+|-) " +
    QUOTED + b" " + QUOTED + rb"$")
# What the timer and the reopen may take on a loaded (sanitizer) build; the flush is once
# a second, so a log written only at exit or at 64 KiB still misses this by far.
FLUSH_TIMEOUT = 3.0


def parse_line(test, line):
    """The fields of one log line (bytes, no newline); fails the test unless it is strict
    Combined Log Format. Returns (client, epoch seconds, request, status, size, referer,
    user agent)."""
    m = COMBINED.match(line)
    test.assertIsNotNone(m, f"not a combined log line: {line!r}")
    day, month, year, hh, mm, ss = (m.group(i) for i in range(2, 8))
    when = calendar.timegm((int(year), MONTHS.index(month.decode()) + 1, int(day), int(hh),
                            int(mm), int(ss)))
    return (m.group(1), when, m.group(8), int(m.group(9)), m.group(10), m.group(11),
            m.group(12))


def file_lines(path):
    try:
        with open(path, "rb") as f:
            data = f.read()
    except FileNotFoundError:
        return []
    return data.splitlines(keepends=True)


def exchange_raw(address, data):
    """Sends `data` on a new connection, half-closes, and reads to EOF."""
    with connect(address) as s:
        s.sendall(data)
        s.shutdown(socket.SHUT_WR)
        return recv_to_eof(s, Deadline(IO_TIMEOUT))


class LogCase(unittest.TestCase):
    ARGS = ()

    def setUp(self):
        self.dir = tempfile.mkdtemp(prefix="reactor_access_log_")
        self.addCleanup(shutil.rmtree, self.dir, ignore_errors=True)
        self.path = os.path.join(self.dir, "access.log")

    def start(self, log=None, *args):
        server = Server("http", "--access-log", log or self.path, *self.ARGS, *args).start()
        self.addCleanup(server.kill)
        return server

    def wait_lines(self, n, path=None, timeout=FLUSH_TIMEOUT):
        path = path or self.path
        return wait_for(lambda: len(file_lines(path)) >= n and file_lines(path), timeout,
                        f"{n} lines in {path} (have {len(file_lines(path))})")


class AccessLogTest(LogCase):
    def test_exact_lines_flushed_by_the_timer(self):
        server = self.start()
        before = int(time.time())
        c = server.client()
        c.exchange(request("GET", "/", headers=("User-Agent: curl/8.0",
                                                "Referer: http://example.com/a?b")))
        c.exchange(request("GET", "/search?q=1&r=two"))
        c.exchange(request("HEAD", "/head"), head=True)
        c.exchange(request("POST", "/echo", b"12345"))
        c.exchange(request("PUT", "/nowhere"))
        c.exchange(request("GET", '/quote"d', headers=('User-Agent: a"b\\c\td\xe9',)))
        c.exchange(request("GET", "/old", version="HTTP/1.0", host=False,
                           headers=("Connection: keep-alive",)))
        c.close()
        bad = exchange_raw(server.address, b"BAD\x01 \"LINE\r\nHost: x\r\n\r\n")
        self.assertTrue(bad.startswith(b"HTTP/1.1 400 "), bad[:100])
        bad_size = len(bad.split(b"\r\n\r\n", 1)[1])
        self.assertGreater(bad_size, 0)
        # No more traffic: only the timer can write these out now.
        lines = self.wait_lines(8)
        after = int(time.time())
        want = [
            b'"GET / HTTP/1.1" 200 13 "http://example.com/a?b" "curl/8.0"',
            b'"GET /search?q=1&r=two HTTP/1.1" 200 16 "-" "-"',
            b'"HEAD /head HTTP/1.1" 200 - "-" "-"',
            b'"POST /echo HTTP/1.1" 200 5 "-" "-"',
            b'"PUT /nowhere HTTP/1.1" 405 19 "-" "-"',
            b'"GET /quote\\"d HTTP/1.1" 200 7 "-" "a\\"b\\\\c\\x09d\\xE9"',
            b'"GET /old HTTP/1.0" 200 3 "-" "-"',
            b'"BAD\\x01 \\"LINE" 400 %d "-" "-"' % bad_size,
        ]
        self.assertEqual(len(lines), len(want), lines)
        for line, tail in zip(lines, want):
            self.assertTrue(line.endswith(b"\n"), line)
            client, when, *_ = parse_line(self, line[:-1])
            self.assertEqual(client, b"127.0.0.1")
            # A second of slack below: the steady-to-wall conversion may round across one.
            self.assertTrue(before - 1 <= when <= after, f"{line!r}: not in [{before}, {after}]")
            self.assertEqual(line[line.index(b"] ") + 2:-1], tail)
        server.stop()

    def test_sigterm_flushes_what_is_left(self):
        server = self.start()
        with server.client() as c:
            for i in range(20):
                c.exchange(request("GET", f"/last{i}"))
        server.stop()
        lines = file_lines(self.path)
        self.assertEqual([parse_line(self, line[:-1])[2] for line in lines],
                         [f"GET /last{i} HTTP/1.1".encode() for i in range(20)])

    def test_dash_is_stderr_and_sighup_leaves_it(self):
        server = self.start("-")
        with server.client() as c:
            c.exchange(request("GET", "/to-stderr", headers=("User-Agent: t",)))
            wait_for(lambda: "/to-stderr" in server.stderr_text(), FLUSH_TIMEOUT,
                     "the line on stderr")
            server.proc.send_signal(signal.SIGHUP)  # ignored: the server keeps serving
            c.exchange(request("GET", "/after-hup"))
        server.stop()  # asserts that stdout held only the listening line
        lines = [line.encode() for line in server.stderr_text().splitlines()
                 if line.startswith("127.0.0.1 ")]
        self.assertEqual([parse_line(self, line)[2] for line in lines],
                         [b"GET /to-stderr HTTP/1.1", b"GET /after-hup HTTP/1.1"])
        self.assertFalse(os.path.exists(os.path.join(self.dir, "-")))

    def test_unopenable_path_fails_the_start(self):
        path = os.path.join(self.dir, "missing", "access.log")
        result = run_cli(["http", "--port", "0", "--access-log", path])
        self.assertEqual(result.returncode, 1)
        self.assertEqual(result.stdout, b"")
        self.assertEqual(result.stderr,
                         f"reactor http: cannot open access log {path}: "
                         "No such file or directory\n".encode())

    def test_file_is_appended_to_and_made_0644(self):
        with open(self.path, "wb") as f:
            f.write(b"earlier line\n")
        os.chmod(self.path, 0o600)
        other = os.path.join(self.dir, "new.log")
        server = self.start(other)
        server.client().exchange(request("GET", "/x"))
        server.stop()
        self.assertEqual(os.stat(other).st_mode & 0o777, 0o644 & ~current_umask())
        self.assertEqual(len(file_lines(other)), 1)
        server = self.start()
        server.client().exchange(request("GET", "/y"))
        server.stop()
        lines = file_lines(self.path)
        self.assertEqual(lines[0], b"earlier line\n")
        self.assertEqual(parse_line(self, lines[1][:-1])[2], b"GET /y HTTP/1.1")


def current_umask():
    mask = os.umask(0)
    os.umask(mask)
    return mask


class ReopenCase(LogCase):
    """Clients send N uniquely named requests while the test renames the log and sends
    SIGHUP; the lines across all the files are then exactly the N requests."""

    CONNECTIONS = 4
    PER_CONNECTION = 500
    ROTATIONS = 5

    def setUp(self):
        super().setUp()
        self.answered = 0
        self.lock = threading.Lock()

    def client_thread(self, server, index, errors):
        try:
            with server.client() as c:
                for i in range(self.PER_CONNECTION):
                    response = c.exchange(request("GET", f"/c{index}-{i}"))
                    if response.status != 200:
                        raise AssertionError(f"/c{index}-{i}: {response.status}")
                    with self.lock:
                        self.answered += 1
        except BaseException as e:  # reported by the main thread
            errors.append(e)

    def test_sighup_reopens_without_losing_or_repeating_a_line(self):
        server = self.start()
        errors = []
        threads = [threading.Thread(target=self.client_thread, args=(server, i, errors))
                   for i in range(self.CONNECTIONS)]
        for t in threads:
            t.start()
        rotated = []
        try:
            total = self.CONNECTIONS * self.PER_CONNECTION
            for n in range(self.ROTATIONS):
                # Spread over the load: each file gets the lines of answered requests.
                mark = (n + 1) * total // (self.ROTATIONS + 1)
                wait_for(lambda: errors or self.answered >= mark, IO_TIMEOUT,
                         f"{mark} answers")
                if errors:
                    break
                rotated.append(f"{self.path}.{n}")
                os.rename(self.path, rotated[-1])
                server.proc.send_signal(signal.SIGHUP)
                wait_for(lambda: os.path.exists(self.path), FLUSH_TIMEOUT, "the reopened log")
        finally:
            for t in threads:
                t.join(IO_TIMEOUT)
        self.assertFalse(any(t.is_alive() for t in threads), "a client thread hung")
        self.assertEqual(errors, [])
        server.stop()
        targets = []
        for path in [*rotated, self.path]:
            for line in file_lines(path):
                self.assertTrue(line.endswith(b"\n"), f"{path}: {line!r}")
                target = parse_line(self, line[:-1])[2]
                targets.append(target.split(b" ")[1].decode())
        want = {f"/c{c}-{i}" for c in range(self.CONNECTIONS) for i in range(self.PER_CONNECTION)}
        self.assertEqual(len(targets), len(want), "a line lost or repeated")
        self.assertEqual(set(targets), want)
        self.assertTrue(all(file_lines(p) for p in rotated), "a rotated file got no line")


class ReopenTest(ReopenCase):
    pass


class ThreadsReopenTest(ReopenCase):
    ARGS = ("--threads", "2")


def load_tests(loader, tests, pattern):
    """The whole module except the Threads* classes, which run only when named."""
    suite = unittest.TestSuite()
    for name, obj in globals().items():
        if (isinstance(obj, type) and issubclass(obj, unittest.TestCase)
                and obj not in (LogCase, ReopenCase) and obj.__module__ == __name__
                and not name.startswith("Threads")):
            suite.addTests(loader.loadTestsFromTestCase(obj))
    return suite


if __name__ == "__main__":
    unittest.main()
