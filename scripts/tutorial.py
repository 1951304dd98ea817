#!/usr/bin/env python3
"""Runs the sessions docs/tutorial.md shows and keeps the document's copies of them true.

Each session starts a real program (an example or `reactor`) with trace mode on, drives it
from here over 127.0.0.1 the way the tutorial tells the reader to, and renders what the
program printed. In docs/tutorial.md a session's output sits between
`<!-- session: NAME -->` and `<!-- /session -->`.

  scripts/tutorial.py --bin build/bin --write   # rerun every session, rewrite the document
  scripts/tutorial.py --bin build/bin --check   # rerun and compare (make test runs this)

Port numbers and timings differ between runs, so --check compares the two after
normalising them (see normalise()); everything else must match line for line.
"""
import argparse
import difflib
import fcntl
import os
import re
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
DOC = ROOT / "docs" / "tutorial.md"
HOST = "127.0.0.1"
SHOWN_PORT = 9000  # the port the tutorial's commands use; runs bind a free one instead
TIMEOUT = 20.0  # every wait here is bounded; only a broken program reaches this


class SessionError(Exception):
    pass


def wait_until(predicate, what, timeout=TIMEOUT):
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        value = predicate()
        if value:
            return value
        time.sleep(0.01)
    raise SessionError(f"timed out waiting for {what}")


class Program:
    """A program under trace: stdout is a pipe (its first line announces the port), stderr
    a file, so that a chatty trace can never block it."""

    def __init__(self, argv, shown, stdin=subprocess.DEVNULL):
        self.argv, self.shown = [str(a) for a in argv], shown
        # O_APPEND: the program shares the file's offset, and trace() seeks it to 0 while
        # the program may be writing; each write must still land at the end.
        self.err = tempfile.TemporaryFile()
        fcntl.fcntl(self.err.fileno(), fcntl.F_SETFL,
                    fcntl.fcntl(self.err.fileno(), fcntl.F_GETFL) | os.O_APPEND)
        env = dict(os.environ, REACTOR_TRACE="1")
        self.proc = subprocess.Popen(self.argv, stdin=stdin, stdout=subprocess.PIPE,
                                     stderr=self.err, env=env)
        self.out = b""
        self.port = None

        self.lock = threading.Lock()
        self.reader = threading.Thread(target=self._read_stdout, daemon=True)
        self.reader.start()

    def _read_stdout(self):
        for line in self.proc.stdout:  # ends at the program's exit
            with self.lock:
                self.out += line

    def stdout(self):
        with self.lock:
            return self.out.decode(errors="replace")

    def wait_stdout(self, pattern, count=1):
        rx = re.compile(pattern, re.M)
        wait_until(lambda: len(rx.findall(self.stdout())) >= count,
                   f"{count} x {pattern!r} on {self.shown}'s stdout")

    def read_listening(self):
        self.wait_stdout(r"^listening on ")
        m = re.match(r"listening on \S+:(\d+)\n", self.stdout())
        if not m:
            raise SessionError(f"{self.shown}: the first line is not 'listening on'")
        self.port = int(m.group(1))
        return self.port

    def trace(self):
        self.err.seek(0)
        return self.err.read().decode(errors="replace")

    def wait_trace(self, pattern, count=1):
        """Until the trace holds `count` lines matching `pattern` (a regex)."""
        rx = re.compile(pattern, re.M)
        wait_until(lambda: len(rx.findall(self.trace())) >= count,
                   f"{count} x {pattern!r} in {self.shown}'s trace")

    def stop(self, sig=signal.SIGTERM):
        if sig is not None and self.proc.poll() is None:
            self.proc.send_signal(sig)
        try:
            self.proc.wait(timeout=TIMEOUT)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            raise SessionError(f"{self.shown} did not stop")
        self.reader.join(TIMEOUT)
        if self.proc.returncode != 0:
            raise SessionError(f"{self.shown} exited with {self.proc.returncode}")

    def render(self, trace=None):
        """The command as the reader types it, then what the program printed on stdout,
        then its trace (or `trace`, a part of it)."""
        text = f"$ {self.shown}\n" + self.stdout() + (self.trace() if trace is None else trace)
        if self.port:
            text = text.replace(f"{HOST}:{self.port}", f"{HOST}:{SHOWN_PORT}")
        return text


def connect(port):
    s = socket.create_connection((HOST, port), timeout=TIMEOUT)
    s.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    return s


def recv_exactly(s, n):
    data = b""
    while len(data) < n:
        chunk = s.recv(n - len(data))
        if not chunk:
            raise SessionError(f"connection closed after {len(data)} of {n} bytes")
        data += chunk
    return data


def recv_to_eof(s, limit=1 << 20):
    chunks, size = [], 0
    while size < limit:
        chunk = s.recv(65536)
        if not chunk:
            return b"".join(chunks)
        chunks.append(chunk)
        size += len(chunk)
    raise SessionError("no end of stream")


# --- the sessions, in the tutorial's order --------------------------------------------

def expect(got, want, what):
    if got != want:
        raise SessionError(f"{what}: got {got!r}, expected {want!r}")


def server(bin_dir, name, *args, shown_args=""):
    """An example server on a free port, shown as the reader starts it."""
    program = Program([bin_dir / "examples" / name, "0", *args],
                      f"REACTOR_TRACE=1 build/bin/examples/{name} {SHOWN_PORT}{shown_args}")
    program.read_listening()
    return program


def echo_round(program, c, line):
    c.sendall(line)
    expect(recv_exactly(c, len(line)), line, "echo")


def close_and_wait(program, c, closes):
    c.close()
    program.wait_trace(r"^trace \d+ unwatch ", closes)


def reactor_echo(bin_dir):
    """`reactor echo --trace`; a client sends a line, reads it back, closes."""
    p = Program([bin_dir / "reactor", "echo", "--port", "0", "--trace"],
                f"build/bin/reactor echo --port {SHOWN_PORT} --trace")
    p.read_listening()
    c = connect(p.port)
    p.wait_trace(r"^trace 0 watch fd=\d+ interest=R$", 3)  # signalfd, listener, client
    echo_round(p, c, b"hello\n")
    p.wait_trace(r"^trace 0 write ")
    close_and_wait(p, c, 1)
    p.stop()
    return p.render()


def selector_echo(bin_dir):
    """Two clients, one after the other, each echoed and closed."""
    p = server(bin_dir, "selector_echo")
    p.shown = p.shown.replace("REACTOR_TRACE=1 ", "")
    for n, line in enumerate([b"hello\n", b"world\n"], 1):
        c = connect(p.port)
        echo_round(p, c, line)
        c.close()
        p.wait_stdout(r"^closing ", n)
    p.stop()
    return p.render()


def one_client(name):
    def session(bin_dir):
        p = server(bin_dir, name)
        c = connect(p.port)
        echo_round(p, c, b"hello\n")
        close_and_wait(p, c, 1)
        p.stop()
        return p.render()
    session.__doc__ = f"{name}: one client echoes a line, then closes."
    return session


def server_received(bin_dir):
    """Two clients; the second one's line arrives in two pieces."""
    p = server(bin_dir, "server_received")
    a = connect(p.port)  # one at a time: two at once may be accepted in one iteration or two
    p.wait_stdout(r"^connected by ", 1)
    b = connect(p.port)
    p.wait_stdout(r"^connected by ", 2)
    a.sendall(b"This is the message.\n")
    want = b"Server received This is the message.\n"
    expect(recv_exactly(a, len(want)), want, "reply to a")
    b.sendall(b"It will be sent ")
    p.wait_trace(r"^trace 0 read fd=\d+ bytes=16$")
    b.sendall(b"in parts.\n")
    want = b"Server received It will be sent in parts.\n"
    expect(recv_exactly(b, len(want)), want, "reply to b")
    close_and_wait(p, a, 1)
    close_and_wait(p, b, 2)
    p.stop()
    return p.render()


def http_hello(bin_dir):
    """One HTTP/1.0 request; the server answers and closes."""
    p = server(bin_dir, "http_hello")
    c = connect(p.port)
    c.sendall(b"GET / HTTP/1.0\r\nHost: 127.0.0.1\r\n\r\n")
    reply = recv_to_eof(c)
    if not reply.endswith(b"\r\n\r\nHello, world!"):
        raise SessionError(f"http_hello answered {reply!r}")
    close_and_wait(p, c, 1)
    p.stop()
    return p.render()


def url_echo(bin_dir):
    """Two requests on one connection; the second asks to close."""
    p = server(bin_dir, "url_echo")
    c = connect(p.port)
    for target, last in [(b"/hello/world", False), (b"/bye", True)]:
        c.sendall(b"GET " + target + b" HTTP/1.1\r\nHost: 127.0.0.1\r\n"
                  + (b"Connection: close\r\n" if last else b"") + b"\r\n")
        p.wait_trace(r"^trace 0 write ", 1 + last)
    reply = recv_to_eof(c)
    if not reply.endswith(b"bye") or b"hello/world" not in reply:
        raise SessionError(f"url_echo answered {reply!r}")
    close_and_wait(p, c, 1)
    p.stop()
    return p.render()


def edge_vs_level(bin_dir):
    """The experiment's three modes, then the edge run again with its trace."""
    out = []
    for mode in ("level", "edge", "edge+drain"):
        p = Program([bin_dir / "examples" / "edge_vs_level", mode],
                    f"build/bin/examples/edge_vs_level {mode}")
        p.stop(sig=None)
        out.append(p.render(trace=""))
    p = Program([bin_dir / "examples" / "edge_vs_level", "edge"],
                "REACTOR_TRACE=1 build/bin/examples/edge_vs_level edge")
    p.stop(sig=None)
    return "".join(out) + p.render()


def partial_writes(bin_dir):
    """A client that reads nothing until the server has had to queue output, then all of its
    8 MiB; the trace is cut after the first round of write interest."""
    p = server(bin_dir, "partial_writes")
    c = socket.socket()
    c.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 64 << 10)
    c.settimeout(TIMEOUT)
    c.connect((HOST, p.port))
    p.wait_trace(r"^trace 0 interest fd=\d+ from=R to=RW$")
    body = recv_to_eof(c, limit=(8 << 20) + 1)
    expect(len(body), 8 << 20, "bytes received")
    if any(body[i] != i % 251 for i in range(0, len(body), 4093)):
        raise SessionError("partial_writes sent bytes out of order")
    close_and_wait(p, c, 1)
    p.stop()
    lines = p.trace().splitlines(keepends=True)
    first = next(i for i, l in enumerate(lines) if " to=RW" in l)
    # Up to the first write interest: after it, how the client's reads and the server's
    # writes interleave differs from run to run.
    cut = lines[:first + 1] + [f"... {len(lines) - first - 1} more lines ...\n"]
    return p.render(trace="".join(cut))


def chat(bin_dir):
    """Two members; each line goes to the other."""
    p = server(bin_dir, "chat")
    a = connect(p.port)
    p.wait_trace(r"^trace 0 watch fd=\d+ interest=R$", 3)
    b = connect(p.port)
    p.wait_trace(r"^trace 0 watch fd=\d+ interest=R$", 4)
    a.sendall(b"ann: hi\n")
    expect(recv_exactly(b, 8), b"ann: hi\n", "b's copy")
    b.sendall(b"bob: hello ann\n")
    expect(recv_exactly(a, 15), b"bob: hello ann\n", "a's copy")
    close_and_wait(p, a, 1)
    close_and_wait(p, b, 2)
    p.stop()
    return p.render()


def timers_signals(bin_dir):
    """Ticks every 300 ms; SIGUSR1 after the one-shot timer fired; then SIGTERM. Each
    signal is answered long before the next tick, even on a loaded machine."""
    p = Program([bin_dir / "examples" / "timers_signals", "300"],
                "REACTOR_TRACE=1 build/bin/examples/timers_signals 300")
    p.wait_stdout(r"^one-shot timer fired")
    p.wait_stdout(r"^tick 3$")
    p.proc.send_signal(signal.SIGUSR1)
    p.wait_stdout(r"^status: ")
    p.stop()
    text = p.render()
    return re.sub(r"^pid \d+:", "pid PID:", text, flags=re.M)


def scale_threads(bin_dir):
    """Two loops; two clients, one per loop. Shown up to the second client's close: how
    three threads interleave their last lines while stopping differs from run to run."""
    p = server(bin_dir, "scale_threads", "2", shown_args=" 2")
    for n in (1, 2):
        c = connect(p.port)
        echo_round(p, c, b"hello\n")
        close_and_wait(p, c, n)
        p.wait_trace(r"^trace 0 accept ", n)  # loop 0 writes its batch on its own time
    trace = p.trace()
    p.stop()
    return p.render(trace=trace)


def tcp_udp_stdin(bin_dir):
    """A TCP client, a UDP datagram, and a line typed on stdin."""
    program = Program([bin_dir / "examples" / "tcp_udp_stdin", "0"],
                      f"REACTOR_TRACE=1 build/bin/examples/tcp_udp_stdin {SHOWN_PORT}",
                      stdin=subprocess.PIPE)
    program.read_listening()
    program.wait_stdout(r"udp", 1)
    udp_port = int(re.findall(r":(\d+)", program.stdout().splitlines()[1])[-1])
    c = connect(program.port)
    echo_round(program, c, b"over tcp\n")
    u = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    u.settimeout(TIMEOUT)
    u.sendto(b"over udp", (HOST, udp_port))
    expect(u.recvfrom(100)[0], b"over udp", "udp echo")
    program.proc.stdin.write(b"typed on stdin\n")
    program.proc.stdin.flush()
    expect(recv_exactly(c, 15), b"typed on stdin\n", "the stdin line")
    close_and_wait(program, c, 1)
    program.proc.stdin.close()
    program.wait_trace(r"^trace 0 unwatch fd=0$")
    program.stop()
    text = program.render()
    return text.replace(f"{HOST}:{udp_port}", f"{HOST}:{SHOWN_PORT}")


SESSIONS = {
    "reactor-echo": reactor_echo,
    "selector-echo": selector_echo,
    "callback-loop": one_client("callback_loop"),
    "echo-server": one_client("echo_server"),
    "server-received": server_received,
    "http-hello": http_hello,
    "url-echo": url_echo,
    "edge-vs-level": edge_vs_level,
    "partial-writes": partial_writes,
    "chat": chat,
    "timers-signals": timers_signals,
    "scale-threads": scale_threads,
    "tcp-udp-stdin": tcp_udp_stdin,
}

# What differs between two honest runs of a session beyond normalise()'s general rules.
SESSION_NOISE = {
    # how much the kernel takes per write, and so how many writes there are
    "partial-writes": [(r"(bytes|queued)=\d+", r"\1=N"), (r"\d+ more lines", "N more lines"),
                       (r"in \d+ sends, \d+ partial, at most \d+ queued",
                        "in N sends, N partial, at most N queued")],
    # when the ticks fall between the signals
    "timers-signals": [(r"^trace 0 (wait|ready|timer|dispatch|signal)[^\n]*\n", "")],
    # whether a loop still had a task to run when it went to wait
    "scale-threads": [(r"timeout_ms=-?\d+", "timeout_ms=N")],
}


def by_loop(text):
    """Loops on different threads write their batches in whichever order they run: keep
    each loop's own lines in order, but put the loops one after the other."""
    lines = text.splitlines(keepends=True)
    rest = [l for l in lines if not l.startswith("trace ")]
    traced = sorted((l for l in lines if l.startswith("trace ")), key=lambda l: int(l.split()[1]))
    return "".join(rest + traced)


SESSION_NORMALISERS = {"scale-threads": by_loop}


# --- the examples' lengths ---------------------------------------------------------------

# The step of each example, in the tutorial's order, for the table of lengths.
STEPS = [("1", "selector_echo"), ("2", "callback_loop"), ("3", "echo_server"), ("3", "co_echo"),
         ("4", "server_received"), ("5", "http_hello"), ("6", "url_echo"), ("6", "co_url_echo"),
         ("7", "edge_vs_level"), ("8", "partial_writes"), ("9", "chat"), ("9", "co_chat"),
         ("10", "timers_signals"), ("11", "scale_threads"), ("11", "scale_processes"),
         ("12", "tcp_udp_stdin")]
COUNT = re.compile(r"(\d+) lines;.*?(?:Python: (\d+)(?: \(([^)\n]*)\))?|(no Python))", re.S)


def line_counts():
    """The table of lengths, from each example's header comment, which must tell the truth
    about its own file."""
    rows = ["| step | example | lines | the tutorial's Python |", "| --- | --- | --- | --- |"]
    for step, name in STEPS:
        text = (ROOT / "examples" / f"{name}.cc").read_text()
        lines = text.count("\n")
        m = COUNT.search(text[:text.find("#include")])
        if not m:
            rows.append(f"| {step} | [{name}](../examples/{name}.cc) | {lines} | – |")
            continue
        if int(m.group(1)) != lines:
            raise SessionError(f"examples/{name}.cc says {m.group(1)} lines but has {lines}")
        python = "none: an exercise in words only" if m.group(4) else (
            m.group(2) + (f" ({m.group(3)})" if m.group(3) else ""))
        if m.group(2) and lines >= int(m.group(2)):
            raise SessionError(f"examples/{name}.cc ({lines} lines) is not shorter than "
                               f"the Python it replaces ({m.group(2)})")
        rows.append(f"| {step} | [{name}](../examples/{name}.cc) | {lines} | {python} |")
    return "\n".join(rows) + "\n"


# --- the document -----------------------------------------------------------------------

COUNTS = re.compile(r"(<!-- counts -->\n)(.*?)(<!-- /counts -->)", re.S)
BLOCK = re.compile(r"(<!-- session: (\S+) -->\n```text\n)(.*?)(```\n<!-- /session -->)", re.S)


def normalise(text, name=""):
    """What may differ between two honest runs: client ports, and when the loop woke up
    (a wait's timeout, and an idle iteration — a wait that ended with nothing ready, as the
    loop's once-a-second memory trim does — present in one run and not the other)."""
    text = re.sub(r"(127\.0\.0\.1|\[::1\]):\d+", r"\1:PORT", text)
    text = re.sub(r"timeout_ms=([1-9]\d*)", "timeout_ms=N", text)
    text = re.sub(r"^trace (\d+) wait [^\n]*\ntrace \1 ready count=0\n", "", text, flags=re.M)
    for pattern, replacement in SESSION_NOISE.get(name, []):
        text = re.sub(pattern, replacement, text, flags=re.M)
    return SESSION_NORMALISERS.get(name, lambda t: t)(text)


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[1])
    ap.add_argument("--bin", type=Path, default=ROOT / "build" / "bin")
    mode = ap.add_mutually_exclusive_group(required=True)
    mode.add_argument("--write", action="store_true", help="rewrite docs/tutorial.md")
    mode.add_argument("--check", action="store_true", help="compare, exit 1 on a difference")
    ap.add_argument("--only", help="run only this session")
    args = ap.parse_args()
    bin_dir = args.bin.resolve()
    doc = DOC.read_text()
    counts = line_counts()
    doc_counts = COUNTS.search(doc)
    if not doc_counts:
        sys.exit("tutorial.md has no <!-- counts --> block")
    found = {m.group(2) for m in BLOCK.finditer(doc)}
    if found != set(SESSIONS):
        sys.exit(f"tutorial.md's sessions {sorted(found)} != the script's {sorted(SESSIONS)}")
    fresh = {name: run(bin_dir) for name, run in SESSIONS.items()
             if not args.only or name == args.only}
    if args.write:
        doc = BLOCK.sub(lambda m: m.group(1) + fresh.get(m.group(2), m.group(3)) + m.group(4),
                        doc)
        DOC.write_text(COUNTS.sub(lambda m: m.group(1) + counts + m.group(3), doc))
        print(f"tutorial: rewrote {len(fresh)} session(s) in {DOC.relative_to(ROOT)}")
        return 0
    stale = [] if doc_counts.group(2) == counts else ["the table of lengths"]
    for m in BLOCK.finditer(doc):
        name, shown = m.group(2), m.group(3)
        if name not in fresh:
            continue
        before, after = normalise(shown, name), normalise(fresh[name], name)
        if before != after:
            stale.append(name)
            sys.stderr.writelines(difflib.unified_diff(
                before.splitlines(True), after.splitlines(True),
                f"{name} in docs/tutorial.md (normalised)", f"{name}, this run (normalised)"))
    if stale:
        sys.stderr.write(f"tutorial: stale sessions: {', '.join(stale)}; rerun "
                         "scripts/tutorial.py --write and review the diff\n")
        return 1
    print(f"tutorial: {len(fresh)} session(s) match docs/tutorial.md")
    return 0


if __name__ == "__main__":
    sys.exit(main())
