"""Shared helpers for the integration tests: the real `reactor` binary over 127.0.0.1.

Every wait here is on a real condition with a deadline; every loop is bounded in both
iterations and time. The binary comes from $REACTOR_BIN (CTest sets it).
"""

import errno
import fcntl
import os
import random
import re
import selectors
import signal
import socket
import struct
import subprocess
import tempfile
import termios
import time
import unittest

HOST = "127.0.0.1"
BACKENDS = ("epoll", "epoll-et", "poll", "select")
BALANCINGS = ("round-robin", "least-connections", "reuse-port")

# Budgets are generous: sanitizer builds run several times slower. A deadline is only
# ever reached when something is wrong, so a long one costs nothing on a healthy run.
START_TIMEOUT = 20.0
STOP_TIMEOUT = 20.0
IO_TIMEOUT = 30.0

_SANITIZER_MARKERS = ("WARNING: ThreadSanitizer", "ERROR: AddressSanitizer",
                      "ERROR: LeakSanitizer", "runtime error:")
_LISTENING = re.compile(rb"^listening on (\S+):(\d+)\n$")


def reactor_bin():
    path = os.environ.get("REACTOR_BIN")
    if not path:
        raise unittest.SkipTest("REACTOR_BIN is not set (run through CTest, or export it)")
    if not os.access(path, os.X_OK):
        raise RuntimeError(f"REACTOR_BIN={path!r} is not an executable")
    return path


def make_rng(test):
    """A seeded RNG; the seed is in the test's output so a failure can be replayed."""
    seed = int(os.environ.get("REACTOR_TEST_SEED", "0")) or random.randrange(1, 2**31)
    print(f"\n{test.id()}: REACTOR_TEST_SEED={seed}", flush=True)
    return random.Random(seed)


class Deadline:
    """A point in time; `left()` is what remains (never negative)."""

    def __init__(self, seconds):
        self.end = time.monotonic() + seconds

    def left(self):
        return max(0.0, self.end - time.monotonic())

    def expired(self):
        return time.monotonic() >= self.end


def wait_for(predicate, timeout, what, interval=0.01):
    """Polls `predicate` until it returns a truthy value (returned) or `timeout` passes.

    Only for conditions that have no event to wait on (RSS, a socket's kernel queue...).
    """
    deadline = Deadline(timeout)
    for _ in range(int(timeout / interval) + 2):
        value = predicate()
        if value:
            return value
        if deadline.expired():
            break
        time.sleep(min(interval, deadline.left()))
    raise AssertionError(f"timed out after {timeout:.1f}s waiting for {what}")


# --- the process under test ------------------------------------------------------------

def run_cli(args, timeout=STOP_TIMEOUT, **kwargs):
    """Runs `reactor ARGS` to completion; returns CompletedProcess with bytes output."""
    return subprocess.run([reactor_bin(), *args], stdin=subprocess.DEVNULL,
                          stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                          timeout=timeout, **kwargs)


def read_pipe_until(pipe, done, deadline, limit=1 << 26):
    """Reads a pipe without blocking past `deadline` until done(data) or EOF.

    Returns (data, eof). Bounded by `limit` bytes.
    """
    data = b""
    fd = pipe.fileno()
    with selectors.DefaultSelector() as sel:
        sel.register(fd, selectors.EVENT_READ)
        while not done(data) and len(data) < limit:
            if deadline.expired() or not sel.select(deadline.left()):
                return data, False
            chunk = os.read(fd, 65536)
            if not chunk:
                return data, True
            data += chunk
    return data, False


class Server:
    """A running `reactor SUBCOMMAND --port 0 ...`; use as a context manager.

    start() waits for the single `listening on HOST:PORT` line; stop() signals it and
    asserts a clean exit (code 0, nothing more on stdout). stderr goes to a file, read by
    `stderr_text()`, so a chatty server can never block on a full pipe.
    """

    def __init__(self, subcommand, *args, preexec_fn=None, env=None):
        self.argv = [reactor_bin(), subcommand, "--port", "0", *args]
        self.preexec_fn = preexec_fn
        self.env = env
        self.proc = None
        self.host = None
        self.port = None
        self._stderr = None

    def __enter__(self):
        self.start()
        return self

    def __exit__(self, *exc):
        self.kill()
        return False

    @property
    def pid(self):
        return self.proc.pid

    @property
    def address(self):
        return (self.host, self.port)

    def start(self, timeout=START_TIMEOUT):
        self._stderr = tempfile.TemporaryFile()
        self.proc = subprocess.Popen(self.argv, stdin=subprocess.DEVNULL,
                                     stdout=subprocess.PIPE, stderr=self._stderr,
                                     preexec_fn=self.preexec_fn, env=self.env)
        line, eof = read_pipe_until(self.proc.stdout, lambda d: b"\n" in d,
                                    Deadline(timeout), limit=4096)
        m = _LISTENING.match(line)
        if not m:
            self.kill()
            raise AssertionError(
                f"{self.argv}: expected one 'listening on HOST:PORT' line on stdout, got "
                f"{line!r} (eof={eof}); stderr: {self.stderr_text()!r}")
        self.host = m.group(1).decode()
        self.port = int(m.group(2))
        return self

    def stderr_text(self):
        if self._stderr is None:
            return ""
        self._stderr.seek(0)
        return self._stderr.read().decode(errors="replace")

    def stderr_excerpt(self, size=4000):
        """The first sanitizer report if there is one (that is the cause), else the end."""
        text = self.stderr_text()
        starts = [i for i in (text.find(m) for m in _SANITIZER_MARKERS) if i >= 0]
        if starts:
            return text[min(starts):min(starts) + size]
        return text[-size:]

    def send_signal(self, signum):
        self.proc.send_signal(signum)

    def wait_exit(self, timeout=STOP_TIMEOUT):
        """Waits for the process to exit; returns (code, rest of stdout)."""
        deadline = Deadline(timeout)
        rest, eof = read_pipe_until(self.proc.stdout, lambda d: False, deadline)
        try:
            code = self.proc.wait(timeout=max(0.1, deadline.left()))
        except subprocess.TimeoutExpired:
            self.kill()
            raise AssertionError(f"{self.argv}: still running {timeout:.0f}s after the "
                                 f"signal; stderr: {self.stderr_text()!r}")
        return code, rest

    def stop(self, signum=signal.SIGINT, timeout=STOP_TIMEOUT):
        """Signals the server and asserts it exits 0 with nothing further on stdout."""
        self.send_signal(signum)
        return self.assert_clean_exit(timeout)

    def assert_clean_exit(self, timeout=STOP_TIMEOUT):
        code, rest = self.wait_exit(timeout)
        if code != 0 or rest:
            raise AssertionError(f"{self.argv}: exit code {code} (want 0), extra stdout "
                                 f"{rest[:200]!r} (want none); stderr:\n"
                                 f"{self.stderr_excerpt()}")
        return code

    def kill(self):
        if self.proc and self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait(timeout=STOP_TIMEOUT)
        if self.proc and self.proc.stdout:
            self.proc.stdout.close()
        if self._stderr is not None:
            self._stderr.close()
            self._stderr = None

    # --- what the kernel says about it ---

    def rss_bytes(self):
        return proc_status_kib(self.pid, "VmRSS") * 1024

    def cpu_seconds(self):
        return cpu_seconds(self.pid)


def proc_status_kib(pid, field):
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith(field + ":"):
                return int(line.split()[1])
    raise AssertionError(f"no {field} in /proc/{pid}/status")


def cpu_seconds(pid):
    """utime + stime of a process (all its threads), in seconds."""
    with open(f"/proc/{pid}/stat") as f:
        stat = f.read()
    fields = stat[stat.rindex(")") + 2:].split()  # comm may hold spaces; skip past it
    ticks = int(fields[11]) + int(fields[12])     # fields 14 and 15 of proc(5)
    return ticks / os.sysconf("SC_CLK_TCK")


# --- sockets ---------------------------------------------------------------------------

def connect(address, timeout=IO_TIMEOUT, rcvbuf=None, sndbuf=None):
    """A blocking TCP connection with `timeout` on every operation."""
    s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    if rcvbuf:
        s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, rcvbuf)
    if sndbuf:
        s.setsockopt(socket.SOL_SOCKET, socket.SO_SNDBUF, sndbuf)
    s.settimeout(timeout)
    try:
        s.connect(address)
    except BaseException:
        s.close()
        raise
    s.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    return s


def recv_exactly(sock, n, deadline):
    """Reads exactly n bytes; fails on EOF or when the deadline passes."""
    chunks, got = [], 0
    for _ in range(n + 1):
        if got >= n:
            break
        sock.settimeout(max(0.001, deadline.left()))
        try:
            chunk = sock.recv(min(n - got, 1 << 20))
        except socket.timeout:
            raise AssertionError(f"timed out with {got} of {n} bytes read")
        if not chunk:
            raise AssertionError(f"EOF after {got} of {n} bytes")
        chunks.append(chunk)
        got += len(chunk)
    return b"".join(chunks)


def recv_until(sock, done, deadline, limit=1 << 28):
    """Reads until done(data) holds, EOF, or the deadline. Returns (data, how) where how
    is 'done', 'eof', 'reset' or 'timeout'."""
    data = bytearray()
    while len(data) <= limit:
        if done(data):
            return bytes(data), "done"
        if deadline.expired():
            return bytes(data), "timeout"
        sock.settimeout(max(0.001, deadline.left()))
        try:
            chunk = sock.recv(1 << 20)
        except socket.timeout:
            return bytes(data), "timeout"
        except ConnectionResetError:
            return bytes(data), "reset"
        if not chunk:
            return bytes(data), "eof"
        data += chunk
    return bytes(data), "limit"


def recv_to_eof(sock, deadline, limit=1 << 28):
    """Everything until EOF; fails on a reset, a timeout or more than `limit` bytes."""
    data, how = recv_until(sock, lambda d: False, deadline, limit)
    if how != "eof":
        raise AssertionError(f"wanted EOF, got {how} after {len(data)} bytes")
    return data


def read_all_to_eof(socks, deadline, limit=1 << 28):
    """Reads every socket concurrently until each reaches EOF (or a reset), or until the
    deadline. Returns [(data, how)] in order, how being 'eof', 'reset' or 'timeout'."""
    results = [[bytearray(), "timeout"] for _ in socks]
    with selectors.DefaultSelector() as sel:
        for i, s in enumerate(socks):
            s.setblocking(False)
            sel.register(s, selectors.EVENT_READ, i)
        open_count = len(socks)
        for _ in range(10_000_000):
            if open_count == 0 or deadline.expired():
                break
            for key, _ in sel.select(min(0.5, deadline.left())):
                i = key.data
                how = None
                try:
                    chunk = socks[i].recv(1 << 20)
                    if not chunk:
                        how = "eof"
                    else:
                        results[i][0] += chunk
                        if len(results[i][0]) > limit:
                            how = "limit"
                except BlockingIOError:
                    continue
                except ConnectionResetError:
                    how = "reset"
                if how:
                    results[i][1] = how
                    sel.unregister(socks[i])
                    open_count -= 1
    return [(bytes(d), how) for d, how in results]


def unsent_bytes(sock):
    """Bytes in this socket's send queue not yet acknowledged by the peer (SIOCOUTQ)."""
    return struct.unpack("i", fcntl.ioctl(sock.fileno(), termios.TIOCOUTQ, b"\0" * 4))[0]


def _hex_addr(addr):
    ip, port = addr
    return f"{struct.unpack('<I', socket.inet_aton(ip))[0]:08X}:{port:04X}"


def peer_socket_queues(sock):
    """(tx_queue, rx_queue) of the *other* end of a loopback connection, from
    /proc/net/tcp; None if that socket is gone."""
    try:
        local, remote = _hex_addr(sock.getpeername()), _hex_addr(sock.getsockname())
    except OSError as e:
        if e.errno == errno.ENOTCONN:  # reset: nothing is left at the other end
            return None
        raise
    with open("/proc/net/tcp") as f:
        next(f)
        for line in f:
            cols = line.split()
            if cols[1] == local and cols[2] == remote:
                tx, rx = cols[4].split(":")
                return int(tx, 16), int(rx, 16)
    return None


def wait_server_read_all(sock, timeout=IO_TIMEOUT):
    """Waits until the server process has read() every byte this client sent: our send
    queue is acknowledged, and the server socket's receive queue is empty."""
    def drained():
        q = peer_socket_queues(sock)
        return unsent_bytes(sock) == 0 and q is not None and q[1] == 0
    wait_for(drained, timeout, "the server to read everything the client sent")


def free_port():
    """A port nothing listens on (bound, then released)."""
    with socket.socket() as s:
        s.bind((HOST, 0))
        return s.getsockname()[1]


# --- echo traffic ----------------------------------------------------------------------

def random_chunks(rng, payload, max_pieces=16):
    """Splits payload at random points (including single bytes)."""
    if len(payload) <= 1:
        return [payload] if payload else []
    cuts = sorted(rng.sample(range(1, len(payload)), min(len(payload) - 1,
                                                          rng.randint(0, max_pieces - 1))))
    bounds = [0, *cuts, len(payload)]
    return [payload[a:b] for a, b in zip(bounds, bounds[1:])]


class _EchoPeer:
    def __init__(self, sock, payload, chunks, half_close):
        self.sock = sock
        self.payload = payload
        self.chunks = chunks  # sent one send() call at a time, in order
        self.half_close = half_close
        self.pending = memoryview(b"")
        self.sent = 0
        self.received = bytearray()
        self.eof = False

    def want_write(self):
        return bool(self.pending) or bool(self.chunks)

    def done(self):
        if self.half_close:
            return self.eof
        return len(self.received) >= len(self.payload)


def echo_many(address, payloads, rng, timeout=IO_TIMEOUT, half_close=False, rcvbuf=None):
    """Opens one connection per payload and drives them all at once from one thread:
    each payload goes out in random pieces (one send() per piece, TCP_NODELAY) while its
    echo is read back. With half_close, each client shuts down its write side after its
    payload and reads until EOF. Returns the list of received byte strings (in payload
    order); raises AssertionError with the details on a stall, reset or early EOF.
    A small `rcvbuf` makes the server queue output (and so reach its high-water mark)."""
    deadline = Deadline(timeout)
    peers = []
    sel = selectors.DefaultSelector()
    try:
        for payload in payloads:
            s = connect(address, timeout=deadline.left(), rcvbuf=rcvbuf)
            s.setblocking(False)
            peer = _EchoPeer(s, payload, random_chunks(rng, payload), half_close)
            peers.append(peer)
            if half_close and not payload:
                s.shutdown(socket.SHUT_WR)
            sel.register(s, _events(peer), peer)
        live = len(peers)
        for _ in range(10_000_000):
            if live == 0:
                break
            if deadline.expired():
                stuck = [(i, p.sent, len(p.payload), len(p.received), p.eof)
                         for i, p in enumerate(peers) if not p.done()]
                raise AssertionError(
                    f"echo stalled; (index, sent, size, received, eof) of unfinished "
                    f"clients: {stuck[:10]}")
            for key, mask in sel.select(min(0.5, deadline.left())):
                peer = key.data
                if mask & selectors.EVENT_WRITE:
                    _write_some(peer)
                if mask & selectors.EVENT_READ:
                    _read_some(peer)
                if peer.done():
                    sel.unregister(peer.sock)
                    live -= 1
                else:
                    sel.modify(peer.sock, _events(peer), peer)
        return [bytes(p.received) for p in peers]
    finally:
        sel.close()
        for p in peers:
            p.sock.close()


def _events(peer):
    return selectors.EVENT_READ | (selectors.EVENT_WRITE if peer.want_write() else 0)


def _write_some(peer):
    for _ in range(64):
        if not peer.pending:
            if not peer.chunks:
                return
            peer.pending = memoryview(peer.chunks.pop(0))
        try:
            n = peer.sock.send(peer.pending)
        except BlockingIOError:
            return
        peer.sent += n
        peer.pending = peer.pending[n:]
        if not peer.pending and not peer.chunks and peer.half_close:
            peer.sock.shutdown(socket.SHUT_WR)


def _read_some(peer):
    for _ in range(64):
        try:
            chunk = peer.sock.recv(1 << 18)
        except BlockingIOError:
            return
        except ConnectionResetError:
            raise AssertionError(f"connection reset after {len(peer.received)} of "
                                 f"{len(peer.payload)} echoed bytes")
        if not chunk:
            peer.eof = True
            if not peer.half_close or len(peer.received) != len(peer.payload):
                raise AssertionError(f"EOF after {len(peer.received)} of "
                                     f"{len(peer.payload)} echoed bytes")
            return
        peer.received += chunk
        if len(peer.received) > len(peer.payload):
            raise AssertionError(f"echoed more ({len(peer.received)}) than sent "
                                 f"({len(peer.payload)})")


def random_payloads(rng, count, max_size):
    """`count` payloads of random content; sizes spread from 1 byte to max_size."""
    sizes = [rng.choice((1, rng.randint(1, 100), rng.randint(1, max_size // 8),
                         rng.randint(1, max_size))) for _ in range(count)]
    return [rng.randbytes(n) for n in sizes]


def assert_echoed(test, payloads, received):
    for i, (sent, got) in enumerate(zip(payloads, received)):
        if sent != got:
            first = next((k for k, (a, b) in enumerate(zip(sent, got)) if a != b),
                         min(len(sent), len(got)))
            test.fail(f"client {i}: sent {len(sent)} bytes, got {len(got)} back; first "
                      f"difference at byte {first}")


def is_refused(address):
    try:
        with socket.create_connection(address, timeout=5):
            return False
    except ConnectionRefusedError:
        return True
    except OSError as e:
        return e.errno == errno.ECONNREFUSED
