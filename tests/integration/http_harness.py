"""Helpers for the `reactor http` integration tests (Python stdlib only).

- HttpServer: runs `$REACTOR_BIN http --port 0 ...`, reads the one `listening on HOST:PORT`
  line with a deadline, stops it with a signal and returns its exit code.
- parse_response(): a strict HTTP/1.1 response parser (status line, header syntax, exactly
  one Date of the IMF-fixdate shape, Content-Length framing); incremental, so a selector
  loop can feed it whatever arrived.
- Client: a blocking raw-socket client with a deadline on every read.

Every wait here is bounded: a broken server fails a test, it never hangs one.
"""

import contextlib
import os
import re
import selectors
import signal
import socket
import subprocess
import tempfile
import time
import unittest

HOST = "127.0.0.1"
# Generous bounds: the suite must pass under AddressSanitizer on a busy machine too.
STARTUP_TIMEOUT = 10.0
READ_TIMEOUT = 10.0
STOP_TIMEOUT = 15.0


def reactor_bin():
    path = os.environ.get("REACTOR_BIN")
    if not path:
        raise unittest.SkipTest("REACTOR_BIN is not set (ctest sets it)")
    return path


class ProtocolError(AssertionError):
    """The server sent something that is not a well-formed HTTP/1.1 response."""


class Response:
    def __init__(self, status, reason, headers, body):
        self.status = status
        self.reason = reason
        self.headers = headers  # [(name, value)] in wire order, case preserved
        self.body = body

    def header(self, name):
        """The value of the only field named `name` (case-insensitive), or None."""
        values = self.header_all(name)
        if len(values) > 1:
            raise ProtocolError(f"{name} repeated: {values}")
        return values[0] if values else None

    def header_all(self, name):
        return [v for n, v in self.headers if n.lower() == name.lower()]

    def __repr__(self):
        return f"<Response {self.status} {self.reason} {self.headers} body={self.body[:80]!r}>"


_STATUS_LINE = re.compile(rb"HTTP/1\.1 ([1-5][0-9][0-9]) ([\t\x20-\x7e]*)\Z")
_FIELD_LINE = re.compile(rb"([!#$%&'*+\-.^_`|~0-9A-Za-z]+): ?([\x21-\x7e]([\t\x20-\x7e]*[\x21-\x7e])?)?\Z")
_IMF_FIXDATE = re.compile(
    r"(Mon|Tue|Wed|Thu|Fri|Sat|Sun), [0-3][0-9] "
    r"(Jan|Feb|Mar|Apr|May|Jun|Jul|Aug|Sep|Oct|Nov|Dec) [0-9]{4} "
    r"[0-2][0-9]:[0-5][0-9]:[0-6][0-9] GMT\Z"
)
MAX_HEAD = 64 * 1024
SANITIZER_MARKERS = ("ERROR: AddressSanitizer", "ERROR: LeakSanitizer", "WARNING: ThreadSanitizer",
                     "runtime error:")


def parse_response(buf, head=False):
    """Parses one response at the start of `buf` (bytes).

    Returns (Response, bytes consumed), or None when `buf` does not hold a whole response
    yet. `head`: the response answers a HEAD request (headers only). Raises ProtocolError
    for anything malformed, including a response our server should never produce (chunked
    framing, no Content-Length, a missing or odd Date).
    """
    end = buf.find(b"\r\n\r\n")
    if end < 0:
        if len(buf) > MAX_HEAD:
            raise ProtocolError(f"no end of header block in {len(buf)} bytes")
        return None
    lines = buf[:end].split(b"\r\n")
    m = _STATUS_LINE.match(lines[0])
    if not m:
        raise ProtocolError(f"bad status line {lines[0][:200]!r}")
    status = int(m.group(1))
    reason = m.group(2).decode("ascii")
    headers = []
    for line in lines[1:]:
        if b"\n" in line or b"\r" in line:
            raise ProtocolError(f"bare CR or LF in field line {line!r}")
        f = _FIELD_LINE.match(line)
        if not f:
            raise ProtocolError(f"bad field line {line!r}")
        headers.append((f.group(1).decode("ascii"), (f.group(2) or b"").decode("ascii")))
    response = Response(status, reason, headers, b"")
    start = end + 4
    if status >= 200:  # interim responses carry no Date requirement and no body
        dates = response.header_all("Date")
        if len(dates) != 1 or not _IMF_FIXDATE.match(dates[0]):
            raise ProtocolError(f"want exactly one IMF-fixdate Date header: {headers}")
    if response.header_all("Transfer-Encoding"):
        raise ProtocolError(f"unexpected Transfer-Encoding: {headers}")
    lengths = response.header_all("Content-Length")
    if status < 200 or status in (204, 304):
        if lengths and status != 304:
            raise ProtocolError(f"{status} with Content-Length: {headers}")
        return response, start
    if len(lengths) != 1 or not re.fullmatch(r"[0-9]+", lengths[0]):
        raise ProtocolError(f"want exactly one Content-Length: {headers}")
    if head:
        return response, start
    length = int(lengths[0])
    if len(buf) < start + length:
        return None
    response.body = bytes(buf[start : start + length])
    return response, start + length


def request(method, target, body=None, headers=(), version="HTTP/1.1", host=True):
    """Serializes one request; a Content-Length is added when `body` is given."""
    lines = [f"{method} {target} {version}"]
    if host:
        lines.append("Host: test")
    lines.extend(headers)
    if body is not None:
        lines.append(f"Content-Length: {len(body)}")
    head = ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1")
    return head + (body or b"")


def chunked(pieces, extensions=None, trailers=()):
    """A chunked body of `pieces` (bytes); extensions[i] follows piece i's size."""
    out = b""
    for i, piece in enumerate(pieces):
        ext = extensions[i] if extensions else ""
        out += f"{len(piece):x}{ext}\r\n".encode() + piece + b"\r\n"
    out += b"0\r\n"
    for t in trailers:
        out += t.encode("latin-1") + b"\r\n"
    return out + b"\r\n"


class Client:
    """A blocking TCP client whose every read has a deadline."""

    def __init__(self, port, host=HOST, timeout=READ_TIMEOUT):
        self.sock = socket.create_connection((host, port), timeout=timeout)
        self.sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        self.buf = b""
        self.timeout = timeout

    def close(self):
        self.sock.close()

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()

    def send(self, data):
        self.sock.sendall(data)

    def _recv(self, deadline):
        remaining = deadline - time.monotonic()
        if remaining <= 0:
            raise TimeoutError("deadline passed")
        self.sock.settimeout(remaining)
        return self.sock.recv(1 << 20)

    def read_response(self, head=False, timeout=None, interim=False):
        """The next response. Interim (1xx) responses are returned only if `interim`;
        otherwise one is an error (our server sends 100 only when asked)."""
        deadline = time.monotonic() + (timeout or self.timeout)
        while True:
            parsed = parse_response(self.buf, head)
            if parsed:
                response, used = parsed
                self.buf = self.buf[used:]
                if response.status < 200 and not interim:
                    raise ProtocolError(f"unexpected interim response {response}")
                return response
            data = self._recv(deadline)
            if not data:
                raise ProtocolError(f"EOF after {len(self.buf)} bytes: {self.buf[:200]!r}")
            self.buf += data

    def exchange(self, data, head=False):
        self.send(data)
        return self.read_response(head=head)

    def wait_closed(self, timeout=None):
        """Reads until the server closes (EOF or reset). Returns the bytes that arrived
        meanwhile; raises TimeoutError if the connection is still open at the deadline."""
        deadline = time.monotonic() + (timeout or self.timeout)
        extra, self.buf = self.buf, b""
        while True:
            try:
                data = self._recv(deadline)
            except (ConnectionResetError, BrokenPipeError):
                return extra
            if not data:
                return extra
            extra += data

    def is_open(self):
        """False once the server closed or reset the connection (a non-blocking peek)."""
        self.sock.setblocking(False)
        try:
            return len(self.sock.recv(1, socket.MSG_PEEK)) > 0
        except BlockingIOError:
            return True
        except (ConnectionResetError, BrokenPipeError):
            return False
        finally:
            self.sock.settimeout(self.timeout)


class HttpServer:
    """The real `reactor http` process; a context manager."""

    def __init__(self, *args, subcommand="http", env=None):
        """`env`: variables added to (or replacing) the inherited environment."""
        self.args = [reactor_bin(), subcommand, "--port", "0", *args]
        self.signalled = False
        self.stderr = tempfile.TemporaryFile()
        self.proc = subprocess.Popen(
            self.args, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=self.stderr,
            env={**os.environ, **(env or {})},
        )
        self.host, self.port = self._read_address()

    def _read_address(self):
        line = self._read_line(STARTUP_TIMEOUT)
        m = re.fullmatch(r"listening on (\S+):([0-9]+)\n", line)
        if not m:
            self.kill()
            raise AssertionError(f"{self.args}: want 'listening on HOST:PORT', got {line!r}"
                                 f" stderr={self.error_output()!r}")
        return m.group(1), int(m.group(2))

    def _read_line(self, timeout):
        deadline = time.monotonic() + timeout
        data = b""
        with selectors.DefaultSelector() as sel:
            sel.register(self.proc.stdout, selectors.EVENT_READ)
            while not data.endswith(b"\n"):
                remaining = deadline - time.monotonic()
                if remaining <= 0 or not sel.select(remaining):
                    break
                chunk = os.read(self.proc.stdout.fileno(), 1)  # never read past the line
                if not chunk:
                    break
                data += chunk
        return data.decode("utf-8", "replace")

    def error_output(self):
        self.stderr.seek(0)
        return self.stderr.read().decode("utf-8", "replace")

    def client(self, **kw):
        return Client(self.port, **kw)

    def rss_kib(self):
        with open(f"/proc/{self.proc.pid}/status") as f:
            for line in f:
                if line.startswith("VmRSS:"):
                    return int(line.split()[1])
        raise AssertionError("no VmRSS")

    @contextlib.contextmanager
    def paused(self):
        """Stops the process (SIGSTOP) for the duration: whatever clients send meanwhile
        is queued in the kernel and found all at once, in one loop iteration, when it
        continues. Turns "the server may read between two sends" races into certainties."""
        self.proc.send_signal(signal.SIGSTOP)
        try:
            if not wait_for(lambda: self._state() in ("T", "t"), STARTUP_TIMEOUT):
                raise AssertionError("the server did not stop")
            yield
        finally:
            self.proc.send_signal(signal.SIGCONT)

    def _state(self):
        with open(f"/proc/{self.proc.pid}/stat") as f:
            return f.read().rsplit(")", 1)[1].split()[0]

    def send_signal(self, signo):
        self.signalled = True
        self.proc.send_signal(signo)

    def wait(self, timeout=STOP_TIMEOUT):
        """The exit code; kills the process and fails if it does not exit in time."""
        try:
            return self.proc.wait(timeout)
        except subprocess.TimeoutExpired:
            self.kill()
            raise AssertionError(f"{self.args} did not exit within {timeout} s")

    def stop(self, signo=signal.SIGTERM, timeout=STOP_TIMEOUT):
        """Signals (unless a test did already), waits, and returns (exit code, what was
        left on stdout)."""
        if self.proc.poll() is None and not self.signalled:
            self.send_signal(signo)
        code = self.wait(timeout)
        rest = self.proc.stdout.read()
        return code, rest

    def stop_cleanly(self, signo=signal.SIGTERM, timeout=STOP_TIMEOUT):
        """stop(), then fails unless the exit was 0, stdout held nothing after the address
        line and stderr holds no sanitizer report."""
        code, rest = self.stop(signo, timeout)
        errors = self.error_output()
        report = next((m for m in SANITIZER_MARKERS if m in errors), None)
        if code != 0 or rest or report:
            raise AssertionError(f"{self.args}: exit {code}, stdout after the address {rest[:200]!r}, "
                                 f"stderr:\n{errors[-4000:]}")

    def kill(self):
        if self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait()

    def close(self):
        self.kill()
        self.proc.stdout.close()
        self.stderr.close()

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()


def wait_for(predicate, timeout, interval=0.01):
    """Polls `predicate` until it holds or `timeout` passes; returns its last value."""
    deadline = time.monotonic() + timeout
    while True:
        value = predicate()
        if value or time.monotonic() >= deadline:
            return value
        time.sleep(interval)
