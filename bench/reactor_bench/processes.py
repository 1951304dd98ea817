"""Starting, watching and stopping child processes (each the leader of its own group)."""
import os
import select
import signal
import socket
import subprocess
import threading
import time

from .common import HOST, BenchError


def signal_group(proc, sig):
    try:
        os.killpg(proc.pid, sig)
    except (ProcessLookupError, PermissionError):
        pass


class Children:
    """Every process this driver starts, each the leader of its own process group."""

    def __init__(self):
        self.procs = []

    def spawn(self, cmd, **kwargs):
        kwargs.setdefault("stdin", subprocess.DEVNULL)
        proc = subprocess.Popen([str(c) for c in cmd], start_new_session=True, **kwargs)
        self.procs.append(proc)
        return proc

    def stop(self, proc, grace=5.0):
        """SIGTERM to the group, SIGKILL after `grace` seconds; returns the exit status."""
        if proc.poll() is None:
            signal_group(proc, signal.SIGTERM)
            try:
                proc.wait(grace)
            except subprocess.TimeoutExpired:
                signal_group(proc, signal.SIGKILL)
                try:
                    proc.wait(5)
                except subprocess.TimeoutExpired:
                    pass
        signal_group(proc, signal.SIGKILL)  # what the leader left behind (wrapper timers)
        for pipe in (proc.stdout, proc.stderr):
            if pipe:
                pipe.close()
        if proc in self.procs:
            self.procs.remove(proc)
        return proc.returncode

    def kill_all(self):
        for proc in list(self.procs):
            signal_group(proc, signal.SIGKILL)
            try:
                proc.wait(2)
            except subprocess.TimeoutExpired:
                pass
        self.procs.clear()


def read_line(proc, timeout):
    """The first stdout line of `proc`, or what came before the deadline or EOF."""
    fd = proc.stdout.fileno()
    buf = b""
    deadline = time.monotonic() + timeout
    while b"\n" not in buf:
        left = deadline - time.monotonic()
        if left <= 0:
            break
        ready, _, _ = select.select([fd], [], [], left)
        if not ready:
            break
        chunk = os.read(fd, 4096)
        if not chunk:
            break
        buf += chunk
    return buf.decode(errors="replace").split("\n")[0]


class LineWatcher(threading.Thread):
    """Reads a pipe to its end (so it never fills up), copies it to a log, and notes when
    a line containing `marker` first arrives."""

    def __init__(self, pipe, marker, log_path):
        super().__init__(daemon=True)
        self.pipe, self.marker, self.log_path = pipe, marker, log_path
        self.seen = threading.Event()
        self.seen_at = None
        self.lines = []
        self.start()

    def run(self):
        with open(self.log_path, "a") as log:
            for raw in iter(self.pipe.readline, b""):
                line = raw.decode(errors="replace")
                log.write(line)
                self.lines.append(line.rstrip("\n"))
                if not self.seen.is_set() and self.marker in line:
                    self.seen_at = time.monotonic()
                    self.seen.set()

    def wait(self, timeout):
        return self.seen_at if self.seen.wait(timeout) else None


def process_table():
    """{pid: (ppid, comm)} for every process we can see."""
    table = {}
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            with open(f"/proc/{entry}/stat") as f:
                stat = f.read()
        except OSError:
            continue
        comm = stat[stat.index("(") + 1 : stat.rindex(")")]
        table[int(entry)] = (int(stat[stat.rindex(")") + 2 :].split()[1]), comm)
    return table


def find_descendant(root, comm, timeout=10.0):
    """The pid of the first descendant of `root` named `comm` (a wrapper's real server)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        table = process_table()
        frontier, seen = [root], set()
        while frontier:
            pid = frontier.pop()
            seen.add(pid)
            for child, (ppid, name) in table.items():
                if ppid == pid and child not in seen:
                    if name == comm:
                        return child
                    frontier.append(child)
        time.sleep(0.05)
    raise BenchError(f"no process named {comm} under pid {root}")


def sleep_until(t):
    left = t - time.monotonic()
    if left > 0:
        time.sleep(left)


def free_port():
    with socket.socket() as s:
        s.bind((HOST, 0))
        return s.getsockname()[1]


def wait_accepting(proc, port, timeout):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise BenchError(f"exited with status {proc.returncode} before listening")
        try:
            socket.create_connection((HOST, port), timeout=1).close()
            return
        except OSError:
            time.sleep(0.2)
    raise BenchError(f"not accepting on port {port} after {timeout} s")
