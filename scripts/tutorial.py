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
import os
import re
import signal
import socket
import subprocess
import sys
import tempfile
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
        self.err = tempfile.TemporaryFile()
        env = dict(os.environ, REACTOR_TRACE="1")
        self.proc = subprocess.Popen(self.argv, stdin=stdin, stdout=subprocess.PIPE,
                                     stderr=self.err, env=env)
        self.out = b""
        self.port = None

    def read_listening(self):
        line = self.proc.stdout.readline()  # bounded: the program exits or prints it
        m = re.match(rb"listening on \S+:(\d+)\n$", line)
        if not m:
            raise SessionError(f"{self.shown}: no listening line, got {line!r}")
        self.out += line
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
        if self.proc.poll() is None:
            self.proc.send_signal(sig)
        try:
            rest, _ = self.proc.communicate(timeout=TIMEOUT)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            raise SessionError(f"{self.shown} did not stop")
        self.out += rest
        if self.proc.returncode != 0:
            raise SessionError(f"{self.shown} exited with {self.proc.returncode}")

    def render(self):
        """The command as the reader types it, then what the program printed."""
        text = f"$ {self.shown}\n" + self.out.decode(errors="replace") + self.trace()
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
    data = b""
    while len(data) < limit:
        chunk = s.recv(65536)
        if not chunk:
            return data
        data += chunk
    raise SessionError("no end of stream")


# --- the sessions, in the tutorial's order --------------------------------------------

def reactor_echo(bin_dir):
    """`reactor echo --trace`, one client sends a line, reads it back, closes."""
    server = Program([bin_dir / "reactor", "echo", "--port", "0", "--trace"],
                     f"build/bin/reactor echo --port {SHOWN_PORT} --trace")
    port = server.read_listening()
    c = connect(port)
    server.wait_trace(r"^trace 0 watch fd=\d+ interest=R$", 3)  # signalfd, listener, client
    c.sendall(b"hello\n")
    assert recv_exactly(c, 6) == b"hello\n"
    server.wait_trace(r"^trace 0 write ")
    c.close()
    server.wait_trace(r"^trace 0 close ")
    server.stop()
    return server.render()


SESSIONS = {
    "reactor-echo": reactor_echo,
}


# --- the document -----------------------------------------------------------------------

BLOCK = re.compile(r"(<!-- session: (\S+) -->\n```text\n)(.*?)(```\n<!-- /session -->)", re.S)


def normalise(text):
    """What may differ between two honest runs: client ports, and when the loop woke up
    (a wait's timeout, and an idle iteration — a wait that ended with nothing ready, as the
    loop's once-a-second memory trim does — present in one run and not the other)."""
    text = re.sub(r"(127\.0\.0\.1|\[::1\]):\d+", r"\1:PORT", text)
    text = re.sub(r"timeout_ms=([1-9]\d*)", "timeout_ms=N", text)
    text = re.sub(r"^trace (\d+) wait [^\n]*\ntrace \1 ready count=0\n", "", text, flags=re.M)
    return text


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
    found = {m.group(2) for m in BLOCK.finditer(doc)}
    if found != set(SESSIONS):
        sys.exit(f"tutorial.md's sessions {sorted(found)} != the script's {sorted(SESSIONS)}")
    fresh = {name: run(bin_dir) for name, run in SESSIONS.items()
             if not args.only or name == args.only}
    if args.write:
        DOC.write_text(BLOCK.sub(lambda m: m.group(1) + fresh.get(m.group(2), m.group(3))
                                 + m.group(4), doc))
        print(f"tutorial: rewrote {len(fresh)} session(s) in {DOC.relative_to(ROOT)}")
        return 0
    stale = []
    for m in BLOCK.finditer(doc):
        name, shown = m.group(2), m.group(3)
        if name in fresh and normalise(shown) != normalise(fresh[name]):
            stale.append(name)
            sys.stderr.write(f"--- {name}: docs/tutorial.md\n{shown}--- {name}: this run\n"
                             f"{fresh[name]}")
    if stale:
        sys.stderr.write(f"tutorial: stale sessions: {', '.join(stale)}; rerun "
                         "scripts/tutorial.py --write and review the diff\n")
        return 1
    print(f"tutorial: {len(fresh)} session(s) match docs/tutorial.md")
    return 0


if __name__ == "__main__":
    sys.exit(main())
