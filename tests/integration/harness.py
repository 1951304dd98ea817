"""Shared helpers for the integration tests: the real `reactor` binary over 127.0.0.1.

One way to run a server (Server: `$REACTOR_BIN SUBCOMMAND --port 0 ...`, or another program
that keeps the same contract, see server_command), one deadline
(Deadline), one bounded way to read a socket (recv_until and what is built on it, including
the HTTP Client), and the means to bound and measure the kernel's share of a connection
(connect(rcvbuf=, sndbuf=), kernel_share) so that no test depends on the host's sysctls.

Every wait here is on a real condition with a deadline; every loop is bounded in both
iterations and time. The binary comes from $REACTOR_BIN (CTest sets it).
"""

import contextlib
import errno
import fcntl
import os
import random
import re
import selectors
import shlex
import signal
import socket
import ssl
import struct
import subprocess
import tempfile
import termios
import threading
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


def server_command(subcommand):
    """The command that runs the server `subcommand`: `$REACTOR_BIN SUBCOMMAND`, unless
    $REACTOR_<SUBCOMMAND>_CMD names another (e.g. REACTOR_ECHO_CMD=build/bin/examples/co_echo,
    or REACTOR_CO_HTTP_PROXY_CMD for Server("co_http_proxy")): a program that keeps the same
    contract then runs the same suites."""
    override = os.environ.get(f"REACTOR_{subcommand.upper().replace('-', '_')}_CMD")
    if override:
        return shlex.split(override)
    return [reactor_bin(), subcommand]


def output_file():
    """A temporary file for a child's stderr that the test may read while the child runs.
    The child shares the file's offset: without O_APPEND, a read (seek to 0, read) racing
    with its write would have that write land at the start, over earlier output."""
    f = tempfile.TemporaryFile()
    fcntl.fcntl(f.fileno(), fcntl.F_SETFL, fcntl.fcntl(f.fileno(), fcntl.F_GETFL) | os.O_APPEND)
    return f


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

def run_cli(args, timeout=STOP_TIMEOUT, program=None, keep_trace=False, **kwargs):
    """Runs `reactor ARGS` (or `PROGRAM ARGS`, PROGRAM a list) to completion; returns
    CompletedProcess with bytes output. Unless keep_trace, its stderr holds no trace lines
    (untraced), so the suites that check messages pass unchanged with REACTOR_TRACE=1."""
    result = subprocess.run([*(program or [reactor_bin()]), *args], stdin=subprocess.DEVNULL,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            timeout=timeout, **kwargs)
    if not keep_trace:
        result.stderr = untraced(result.stderr)
    return result


def untraced(stderr):
    """`stderr` (bytes) without trace mode's lines (`trace LOOP EVENT ...`)."""
    return b"".join(line for line in stderr.splitlines(keepends=True)
                    if not line.startswith(b"trace "))


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


def sanitizer_report(text, size=4000):
    """The first sanitizer report in `text` (a process's stderr; that one is the cause), or
    None."""
    starts = [i for i in (text.find(m) for m in _SANITIZER_MARKERS) if i >= 0]
    return text[min(starts):min(starts) + size] if starts else None


class Server:
    """A running `reactor SUBCOMMAND --port 0 ARGS...` (server_command); use as a context
    manager.

    start() waits for the single `listening on HOST:PORT` line. stop() signals it (unless
    the test did already) and asserts a clean exit: code 0, nothing more on stdout, no
    sanitizer report on stderr. stderr goes to a file, read by `stderr_text()`, so a chatty
    server can never block on a full pipe. `env`: variables added to the inherited ones.
    """

    def __init__(self, subcommand, *args, env=None, preexec_fn=None, argv=None):
        """`argv`, when given, is the whole command line instead (a program of its own)."""
        self.argv = argv or [*server_command(subcommand), "--port", "0", *args]
        self.env = {**os.environ, **env} if env else None
        self.preexec_fn = preexec_fn
        self.proc = None
        self.host = None
        self.port = None
        self.signalled = False
        self._stderr = None

    def __enter__(self):
        if self.proc is None:
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
        self._stderr = output_file()
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

    def client(self, **kwargs):
        """An HTTP Client of this server."""
        return Client(self.address, **kwargs)

    def stderr_text(self):
        if self._stderr is None:
            return ""
        self._stderr.seek(0)
        return self._stderr.read().decode(errors="replace")

    def sanitizer_report(self, size=4000):
        """The first sanitizer report on stderr (that is the cause), or None."""
        return sanitizer_report(self.stderr_text(), size)

    def send_signal(self, signum):
        self.signalled = True
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

    def stop(self, signum=signal.SIGTERM, timeout=STOP_TIMEOUT):
        """Signals the server (unless the test did already) and asserts a clean exit."""
        if not self.signalled:
            self.send_signal(signum)
        code, rest = self.wait_exit(timeout)
        report = self.sanitizer_report()
        if code != 0 or rest or report:
            raise AssertionError(f"{self.argv}: exit code {code} (want 0), extra stdout "
                                 f"{rest[:200]!r} (want none); stderr:\n"
                                 f"{report or self.stderr_text()[-4000:]}")
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

    @contextlib.contextmanager
    def paused(self):
        """Stops the process (SIGSTOP) for the duration: whatever clients send meanwhile
        is queued in the kernel and found all at once, in one loop iteration, when it
        continues. Turns "the server may read between two sends" races into certainties."""
        self.proc.send_signal(signal.SIGSTOP)
        try:
            wait_for(lambda: self.state() in ("T", "t"), START_TIMEOUT, "the server to stop")
            yield
        finally:
            self.proc.send_signal(signal.SIGCONT)

    # --- what the kernel says about it ---

    def state(self):
        """The process state letter of proc(5) (R, S, T, Z...)."""
        with open(f"/proc/{self.pid}/stat") as f:
            return f.read().rsplit(")", 1)[1].split()[0]

    def rss_bytes(self):
        return proc_status_kib(self.pid, "VmRSS") * 1024

    def cpu_seconds(self):
        return cpu_seconds(self.pid)


def example_path(name):
    """The tutorial example `name` in $REACTOR_EXAMPLES_DIR (CTest sets it); skips the test
    when the variable is unset."""
    directory = os.environ.get("REACTOR_EXAMPLES_DIR")
    if not directory:
        raise unittest.SkipTest("REACTOR_EXAMPLES_DIR is not set (run through CTest)")
    path = os.path.join(directory, name)
    if not os.access(path, os.X_OK):
        raise RuntimeError(f"{path!r} is not an executable")
    return path


class Example(Server):
    """A Server for a tutorial example (examples/): `NAME PORT ARGS...`, the port positional
    ("0"; port=None passes none), stdin DEVNULL unless given. A thread collects stdout from
    the start, so that a chatty example never blocks on a full pipe. start() waits for the
    first line (`first`) and, unless listening=False, reads the address from its
    `listening on HOST:PORT`. The later lines are read one at a time with line(), or looked
    at all together with lines() and wait_lines(). stop() asserts a clean exit and returns
    the lines line() has not returned."""

    def __init__(self, name, *args, port="0", stdin=subprocess.DEVNULL, listening=True,
                 env=None):
        super().__init__(name, env=env, argv=[example_path(name),
                                              *([port] if port is not None else []), *args])
        self.stdin = stdin
        self.listening = listening
        self.first = None
        self._out = bytearray()
        self._eof = False
        self._read = 1  # lines before this index were returned (the first one by start())
        self._changed = threading.Condition()
        self._reader = None

    def start(self, timeout=START_TIMEOUT):
        self._stderr = output_file()
        self.proc = subprocess.Popen(self.argv, stdin=self.stdin, stdout=subprocess.PIPE,
                                     stderr=self._stderr, env=self.env)
        self._reader = threading.Thread(target=self._collect, daemon=True)
        self._reader.start()
        try:
            self.first = self._wait(lambda ls: ls, "first line", timeout)[0]
            if self.listening:
                m = re.fullmatch(r"listening on (\S+):(\d+)", self.first)
                if not m:
                    raise AssertionError(f"{self.argv}: first line {self.first!r}")
                self.host, self.port = m.group(1), int(m.group(2))
        except BaseException:
            self.kill()
            raise
        return self

    def _collect(self):
        fd = self.proc.stdout.fileno()
        for _ in range(10_000_000):  # bounded: 64 KiB a read, far more than any test prints
            try:
                chunk = os.read(fd, 65536)
            except OSError:
                chunk = b""
            with self._changed:
                self._out += chunk
                self._eof = not chunk
                self._changed.notify_all()
            if not chunk:
                return

    def _complete_lines(self):
        return self._out.decode(errors="replace").split("\n")[:-1]

    def _wait(self, predicate, what, timeout):
        """Waits until predicate(every complete line) is true or stdout ends; returns the
        lines."""
        with self._changed:
            self._changed.wait_for(
                lambda: self._eof or predicate(self._complete_lines()), timeout)
            lines = self._complete_lines()
            if not predicate(lines):
                raise AssertionError(
                    f"{self.argv}: no {what} on stdout ({'EOF' if self._eof else 'timeout'})"
                    f" after {lines[-20:]}; stderr: {self.stderr_text()[-2000:]}")
            return lines

    def lines(self):
        """Every complete line printed after the first one."""
        with self._changed:
            return self._complete_lines()[1:]

    def wait_lines(self, predicate, what, timeout=IO_TIMEOUT):
        """Waits until predicate(lines()) holds; returns lines()."""
        return self._wait(lambda ls: predicate(ls[1:]), what, timeout)[1:]

    def line(self, timeout=IO_TIMEOUT):
        """The next line not yet returned, without its newline; fails at EOF or at the
        deadline."""
        lines = self._wait(lambda ls: len(ls) > self._read, "line", timeout)
        self._read += 1
        return lines[self._read - 1]

    def line_matching(self, pattern, limit=1000):
        """Reads lines until one matches `pattern` (returns the match), skipping at most
        `limit` others."""
        for _ in range(limit):
            m = re.fullmatch(pattern, self.line())
            if m:
                return m
        raise AssertionError(f"no line matching {pattern!r} in {limit} lines")

    def stop(self, signum=signal.SIGTERM, timeout=STOP_TIMEOUT):
        """Signals the example (unless the test did with send_signal) and waits for a clean
        exit; returns the lines line() has not returned."""
        if not self.signalled:
            self.send_signal(signum)
        return self.wait_clean_exit(timeout)

    def wait_clean_exit(self, timeout=STOP_TIMEOUT):
        """After the example was told to stop: asserts exit code 0, no sanitizer report and
        a last line ended by its newline; returns the lines line() has not returned."""
        try:
            code = self.proc.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            raise AssertionError(f"{self.argv}: still running {timeout:.0f}s after the "
                                 f"signal; stderr: {self.stderr_text()[-2000:]!r}")
        self._reader.join(timeout)  # stdout ends with the process (and its children)
        report = self.sanitizer_report()
        if code != 0 or report:
            raise AssertionError(f"{self.argv}: exit code {code} (want 0); stderr:\n"
                                 f"{report or self.stderr_text()[-4000:]}")
        with self._changed:
            if self._out and not self._out.endswith(b"\n"):
                raise AssertionError(f"{self.argv}: unterminated last line "
                                     f"{self._out[-200:]!r}")
            rest = self._complete_lines()[self._read:]
            self._read += len(rest)
            return rest

    def wait_exit(self, timeout=STOP_TIMEOUT):
        """Waits for the process to exit; returns (code, the bytes of stdout not yet
        returned by line())."""
        code = self.proc.wait(timeout=timeout)
        self._reader.join(timeout)
        with self._changed:
            return code, "".join(l + "\n" for l in self._complete_lines()[self._read:]).encode()

    def kill(self):
        if self.proc and self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait(timeout=STOP_TIMEOUT)
        if self._reader is not None:
            # Children that inherited stdout (scale_processes' workers) may hold it open a
            # little longer; the pipe is closed only once the reader is done with it.
            self._reader.join(STOP_TIMEOUT)
            if self._reader.is_alive():
                self.proc.stdout = None
        super().kill()


class ClientProcess:
    """A running `reactor client 127.0.0.1 PORT ARGS...`: pipes on stdin and stdout, stderr
    to an output_file() the test may read while the client runs."""

    def __init__(self, port, *args, stdin=subprocess.PIPE, env=None):
        self._stderr = output_file()
        self.proc = subprocess.Popen([reactor_bin(), "client", HOST, str(port), *args],
                                     stdin=stdin, stdout=subprocess.PIPE, stderr=self._stderr,
                                     env={**os.environ, **env} if env else None)

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()
        return False

    def close(self):
        if self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait(timeout=STOP_TIMEOUT)
        for f in (self.proc.stdin, self.proc.stdout, self._stderr):
            if f and not f.closed:
                f.close()

    def stderr_text(self):
        self._stderr.seek(0)
        return self._stderr.read().decode(errors="replace")

    def write(self, data):
        self.proc.stdin.write(data)
        self.proc.stdin.flush()

    def read_exactly(self, n, timeout=IO_TIMEOUT):
        data, eof = read_pipe_until(self.proc.stdout, lambda d: len(d) >= n,
                                    Deadline(timeout))
        if len(data) != n:
            raise AssertionError(f"client printed {len(data)} of {n} bytes (eof={eof}); "
                                 f"stderr: {self.stderr_text()!r}")
        return data


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

def connect(address, timeout=IO_TIMEOUT, rcvbuf=None, sndbuf=None, source=None):
    """A blocking TCP connection with `timeout` on every operation; `source`: the local
    address to connect from (another loopback address, say 127.0.0.2)."""
    s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    if source:
        s.bind((source, 0))
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


def recv_some(sock, deadline, size=1 << 20):
    """One recv() that waits at most until `deadline`. Returns (chunk, how): how is
    'data', 'eof', 'reset' or 'timeout' (chunk is then b"")."""
    if deadline.expired():
        return b"", "timeout"
    sock.settimeout(max(0.001, deadline.left()))
    try:
        chunk = sock.recv(size)
    except socket.timeout:
        return b"", "timeout"
    except ConnectionResetError:
        return b"", "reset"
    return chunk, ("data" if chunk else "eof")


def recv_until(sock, done, deadline, limit=1 << 28):
    """Reads until done(data) holds, EOF, or the deadline. Returns (data, how) where how
    is 'done', 'eof', 'reset', 'timeout' or 'limit'."""
    data = bytearray()
    while len(data) <= limit:
        if done(data):
            return bytes(data), "done"
        chunk, how = recv_some(sock, deadline)
        if how != "data":
            return bytes(data), how
        data += chunk
    return bytes(data), "limit"


def recv_exactly(sock, n, deadline):
    """Reads exactly n bytes; fails on EOF or at the deadline (AssertionError), or on a
    reset (ConnectionResetError)."""
    data = bytearray()
    while len(data) < n:  # each round reads a byte or more, or fails
        chunk, how = recv_some(sock, deadline, min(n - len(data), 1 << 20))
        if how == "reset":
            raise ConnectionResetError(f"reset after {len(data)} of {n} bytes")
        if how != "data":
            raise AssertionError(f"{'EOF' if how == 'eof' else how} after {len(data)} of {n} bytes")
        data += chunk
    return bytes(data)


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


def received_unread(sock):
    """Bytes that arrived on this socket and that nobody read yet (SIOCINQ)."""
    return struct.unpack("i", fcntl.ioctl(sock.fileno(), termios.FIONREAD, b"\0" * 4))[0]


def kernel_share(sock):
    """Bytes of a loopback connection held in kernel queues at both ends: this socket's
    send and receive queues and those of the server's socket (/proc/net/tcp). Subtracted
    from what a test pushed, it leaves what the server process itself holds, whatever the
    host's buffer sysctls. None once the server's socket is gone."""
    q = peer_socket_queues(sock)
    if q is None:
        return None
    return unsent_bytes(sock) + received_unread(sock) + q[0] + q[1]


def push_until_stalled(sock, chunk, deadline, limit, quiet=0.5, on_wait=None):
    """Sends `chunk` over and over on the non-blocking `sock` until the socket takes
    nothing for `quiet` seconds (the server stopped reading and every queue on the way is
    full), `limit` bytes went out, or the deadline. Returns (bytes sent, stalled).
    `on_wait()` runs before each wait for room (to sample the server meanwhile)."""
    view, sent = memoryview(chunk), 0
    with selectors.DefaultSelector() as sel:
        sel.register(sock, selectors.EVENT_WRITE)
        for _ in range(10_000_000):
            if sent >= limit or deadline.expired():
                break
            if on_wait:
                on_wait()
            wait = min(quiet, deadline.left())
            if not sel.select(wait):
                return sent, wait >= quiet
            offset = sent % len(chunk)
            try:
                sent += sock.send(view[offset:offset + min(len(chunk) - offset, limit - sent)])
            except BlockingIOError:
                continue
    return sent, False


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


# --- TLS ------------------------------------------------------------------------------

def use_test_certs(module_globals):
    """Generates the throw-away certificates of tls_certs.make_certs once for a test module,
    into a directory removed after the module ran; returns the dict of paths (filled in by
    setUpModule, so read it from tests only)."""
    from tls_certs import make_certs  # only the TLS suites need the openssl command
    certs = {}

    def set_up_module():
        directory = tempfile.TemporaryDirectory(prefix="reactor-tls-")
        unittest.addModuleCleanup(directory.cleanup)
        certs.update(make_certs(directory.name))

    module_globals["setUpModule"] = set_up_module
    return certs


def tls_context(ca=None, alpn=None):
    """A client SSLContext that trusts `ca` (a PEM file) only; without `ca`, one that
    verifies nothing. `alpn`: the protocols to offer."""
    if ca:
        context = ssl.create_default_context(cafile=ca)
    else:
        context = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
        context.check_hostname = False
        context.verify_mode = ssl.CERT_NONE
    if alpn:
        context.set_alpn_protocols(alpn)
    return context


def tls_connect(address, context, server_hostname=HOST, timeout=IO_TIMEOUT, session=None,
                suppress_ragged_eofs=True):
    """A TLS connection over connect(address), its handshake done (every operation bounded
    by `timeout`). `server_hostname` is sent as SNI (unless an address) and verified.
    suppress_ragged_eofs=False makes a close without close_notify raise ssl.SSLEOFError
    instead of reading as a clean end."""
    raw = connect(address, timeout=timeout)
    try:
        return context.wrap_socket(raw, server_hostname=server_hostname, session=session,
                                   suppress_ragged_eofs=suppress_ragged_eofs)
    except BaseException:
        raw.close()
        raise


def tls_client(address, context, server_hostname=HOST, timeout=IO_TIMEOUT):
    """An HTTP Client over tls_connect()."""
    return Client(address, timeout, sock=tls_connect(address, context, server_hostname, timeout))


# --- HTTP/1.1 ----------------------------------------------------------------------------

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
_FIELD_LINE = re.compile(
    rb"([!#$%&'*+\-.^_`|~0-9A-Za-z]+): ?([\x21-\x7e]([\t\x20-\x7e]*[\x21-\x7e])?)?\Z")
_IMF_FIXDATE = re.compile(
    r"(Mon|Tue|Wed|Thu|Fri|Sat|Sun), [0-3][0-9] "
    r"(Jan|Feb|Mar|Apr|May|Jun|Jul|Aug|Sep|Oct|Nov|Dec) [0-9]{4} "
    r"[0-2][0-9]:[0-5][0-9]:[0-6][0-9] GMT\Z"
)
MAX_HEAD = 64 * 1024


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
    """An HTTP client on one connect()ed socket; every read has a deadline (a read that
    reaches it raises TimeoutError)."""

    def __init__(self, address, timeout=IO_TIMEOUT, sock=None, **connect_kwargs):
        """`sock`: an already connected socket to use instead (a TLS one, say)."""
        self.sock = sock or connect(address, timeout=timeout, **connect_kwargs)
        self.buf = b""
        self.timeout = timeout

    def close(self):
        self.sock.close()

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()

    def send(self, data):
        self.sock.settimeout(self.timeout)
        self.sock.sendall(data)

    def read_response(self, head=False, timeout=None, interim=False):
        """The next response. Interim (1xx) responses are returned only if `interim`;
        otherwise one is an error (our server sends 100 only when asked)."""
        deadline = Deadline(timeout or self.timeout)
        for _ in range(10_000_000):  # each round reads a byte or more, or ends
            parsed = parse_response(self.buf, head)
            if parsed:
                response, used = parsed
                self.buf = self.buf[used:]
                if response.status < 200 and not interim:
                    raise ProtocolError(f"unexpected interim response {response}")
                return response
            chunk, how = recv_some(self.sock, deadline)
            if how == "timeout":
                raise TimeoutError(f"no whole response in {len(self.buf)} bytes")
            if how != "data":
                raise ProtocolError(f"{how} after {len(self.buf)} bytes: {self.buf[:200]!r}")
            self.buf += chunk
        raise ProtocolError("endless response")

    def exchange(self, data, head=False):
        self.send(data)
        return self.read_response(head=head)

    def wait_closed(self, timeout=None):
        """Reads until the server closes (EOF or reset). Returns the bytes that arrived
        meanwhile; raises TimeoutError if the connection is still open at the deadline."""
        data, how = recv_until(self.sock, lambda d: False, Deadline(timeout or self.timeout))
        extra, self.buf = self.buf + data, b""
        if how not in ("eof", "reset"):
            raise TimeoutError(f"still open ({how}) after {len(extra)} bytes")
        return extra

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


# --- trace mode ------------------------------------------------------------------------

# Each event's keys, in the order a line must give them, and the pattern of each value
# (docs/trace.md). parse_trace() holds every line to this.
_COUNT = r"0|[1-9][0-9]*"
_TRACE_VALUES = {
    "count": _COUNT, "signed": r"-1|" + _COUNT, "interest": r"R|W|RW|-",
    "events": r"-|(?=.)R?W?H?E?", "reason": r"peer|local|aborted|error|timeout",
    "peer": r"[0-9]{1,3}(\.[0-9]{1,3}){3}:[1-9][0-9]*", "word": r"[!-~]+",
}
TRACE_EVENTS = {
    "wait": (("timeout_ms", "signed"),),
    "ready": (("count", "count"),),
    "watch": (("fd", "count"), ("interest", "interest")),
    "interest": (("fd", "count"), ("from", "interest"), ("to", "interest")),
    "unwatch": (("fd", "count"),),
    "dispatch": (("fd", "count"), ("events", "events")),
    "accept": (("fd", "count"), ("peer", "peer")),
    "read": (("fd", "count"), ("bytes", "count")),
    "write": (("fd", "count"), ("bytes", "count"), ("queued", "count")),
    "close": (("fd", "count"), ("reason", "reason")),
    "timer": (("id", "count"),),
    "task": (),
    "signal": (("signo", "count"),),
    "request": (("fd", "count"), ("method", "word"), ("target", "word")),
    "response": (("fd", "count"), ("status", "count")),
    "handshake": (("fd", "count"), ("version", "word"), ("resumed", "count")),
}
_TRACE_HEAD = re.compile(r"trace (0|[1-9][0-9]*) ([a-z]+)((?: \S+)*)\Z")


class TraceLine:
    """One line of trace output: `loop`, `event`, `fields` (dict of str) and `text`.
    Integer fields read as ints through `int(name)`; `fd` directly."""

    def __init__(self, loop, event, fields, text):
        self.loop, self.event, self.fields, self.text = loop, event, fields, text

    def __getitem__(self, key):
        return self.fields[key]

    def int(self, key):
        return int(self.fields[key])

    @property
    def fd(self):
        return int(self.fields["fd"]) if "fd" in self.fields else None

    def __repr__(self):
        return self.text


def parse_trace_line(text):
    """Parses one line strictly (known event, exactly its keys in order, each value in
    its domain); raises AssertionError naming what is wrong."""
    m = _TRACE_HEAD.match(text)
    if not m:
        raise AssertionError(f"not a trace line: {text!r}")
    event = m.group(2)
    if event not in TRACE_EVENTS:
        raise AssertionError(f"unknown event {event!r}: {text!r}")
    pairs = m.group(3).split()
    keys = TRACE_EVENTS[event]
    if len(pairs) != len(keys):
        raise AssertionError(f"{event} wants {len(keys)} fields: {text!r}")
    fields = {}
    for pair, (key, kind) in zip(pairs, keys):
        name, eq, value = pair.partition("=")
        if name != key or not eq or not re.fullmatch(_TRACE_VALUES[kind], value):
            raise AssertionError(f"bad {key}= field {pair!r}: {text!r}")
        fields[key] = value
    return TraceLine(int(m.group(1)), event, fields, text)


def parse_trace(text, others_allowed=False):
    """Every line of `text` (a program's stderr) parsed with parse_trace_line. Lines that
    are not trace lines fail, unless `others_allowed` (then they are skipped: log lines).
    Output that does not end with a newline fails: a line was cut."""
    if text and not text.endswith("\n"):
        raise AssertionError(f"trace output ends mid-line: {text[-200:]!r}")
    lines = []
    for raw in text.splitlines():
        if others_allowed and not raw.startswith("trace "):
            continue
        lines.append(parse_trace_line(raw))
    return lines
