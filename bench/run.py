#!/usr/bin/env python3
"""Benchmark driver: reactor against the peer servers of bench/peers/.

usage: python3 bench/run.py [--quick] [--rounds R] [--only CASES] [--list] [--no-build]
                            [--out DIR] [--report-only]

Builds build/bin/reactor (Release) and the peers, then for every case starts each target
server pinned to core 0, loads it from core 1, and takes the rounds in turn (A B C A B C
...) so that drift of a shared machine hits every target alike. Besides throughput it
records the server's CPU time per message over the measured window only, the client's
CPU (to tell when the client, not the server, was the limit), instructions per message
under callgrind, RSS per idle connection, and the Google Benchmark micro-benchmarks.

A full run writes docs/performance.md and docs/performance.png. A --quick or --only run
writes to bench/results/ instead (unless --out says otherwise), so a smoke run never
overwrites the committed report. Raw numbers: bench/results/results.json; server and
client logs: bench/results/logs/.

Standard library only. Every wait has a deadline; every child runs in its own process
group and every group is killed on the way out, whatever happens.
"""
import argparse
import datetime
import fnmatch
import json
import math
import os
import platform
import re
import resource
import select
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
BUILD = ROOT / "build"
BIN = BUILD / "bin"
PEER_BIN = BUILD / "peers"
PEER_SRC = ROOT / "bench" / "peers"
PIPELINE_LUA = ROOT / "bench" / "pipeline.lua"
RESULTS = ROOT / "bench" / "results"
LOGS = RESULTS / "logs"
DOCS = ROOT / "docs"
PYTHON = "/usr/bin/python3"  # the Debian interpreter: it has uvloop for the peer
HOST = "127.0.0.1"
SERVER_CPUS = "0"
CLIENT_CPUS = "1"
TICK = os.sysconf("SC_CLK_TCK")
MARGIN = 0.2  # seconds kept clear at both ends of the client's own measuring window
CLIENT_BOUND_CLIENT = 0.95  # client at >= 95 % of its core ...
CLIENT_BOUND_SERVER = 0.90  # ... while the server stayed below 90 %: the client was the limit
RAW_TOLERANCE = 1.03  # reactor may use up to 3 % more CPU per message than raw epoll


class BenchError(Exception):
    """One run failed; the case records why and carries on with the next run."""


# ----------------------------------------------------------------------------------------
# Processes


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


# ----------------------------------------------------------------------------------------
# /proc sampling


def stat_fields(path):
    with open(path) as f:
        stat = f.read()
    return stat[stat.rindex(")") + 2 :].split()  # [0] is field 3 (state)


def cpu_seconds(pid):
    """utime + stime of the whole process (every thread, living or gone)."""
    user, system = cpu_split(pid)
    return user + system


def cpu_split(pid):
    """(utime, stime) of the whole process, in seconds."""
    fields = stat_fields(f"/proc/{pid}/stat")
    return int(fields[11]) / TICK, int(fields[12]) / TICK


def thread_cpu_seconds(pid):
    out = {}
    for tid in os.listdir(f"/proc/{pid}/task"):
        try:
            fields = stat_fields(f"/proc/{pid}/task/{tid}/stat")
        except OSError:
            continue
        out[int(tid)] = (int(fields[11]) + int(fields[12])) / TICK
    return out


def rss_bytes(pid):
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) * 1024
    raise BenchError(f"no VmRSS for pid {pid}")


def fd_count(pid):
    return len(os.listdir(f"/proc/{pid}/fd"))


class Window:
    """Server and client CPU between start() and end(), by the driver's clock."""

    def __init__(self, server_pid, client_pid):
        self.server_pid, self.client_pid = server_pid, client_pid

    def _sample(self):
        return (time.monotonic(), cpu_split(self.server_pid), cpu_seconds(self.client_pid),
                thread_cpu_seconds(self.server_pid))

    def start(self):
        self.a = self._sample()

    def end(self):
        self.b = self._sample()
        (t0, s0, c0, th0), (t1, s1, c1, th1) = self.a, self.b
        self.seconds = t1 - t0
        self.server_user = (s1[0] - s0[0]) / self.seconds
        self.server_sys = (s1[1] - s0[1]) / self.seconds
        self.server_util = self.server_user + self.server_sys
        self.client_util = (c1 - c0) / self.seconds
        self.thread_utils = sorted(((th1[t] - th0.get(t, 0.0)) / self.seconds for t in th1),
                                   reverse=True)


# ----------------------------------------------------------------------------------------
# Targets and cases


@dataclass
class Target:
    key: str
    kind: str  # "echo" or "http"
    role: str  # "reactor", "raw" (hand-written epoll C) or "peer"
    cmd: list
    comm: str = ""  # when cmd is a wrapper: the name of the process that serves
    needs: str = ""  # a file or program that must exist
    python_module: str = ""


TARGETS = {t.key: t for t in [
    Target("reactor", "echo", "reactor", [BIN / "reactor", "echo"], needs=str(BIN / "reactor")),
    Target("epoll C", "echo", "raw", [PEER_BIN / "echo_epoll"], needs=str(PEER_BIN / "echo_epoll")),
    Target("libevent", "echo", "peer", [PEER_BIN / "echo_libevent"], needs=str(PEER_BIN / "echo_libevent")),
    Target("libev", "echo", "peer", [PEER_BIN / "echo_libev"], needs=str(PEER_BIN / "echo_libev")),
    Target("libuv", "echo", "peer", [PEER_BIN / "echo_libuv"], needs=str(PEER_BIN / "echo_libuv")),
    Target("asio", "echo", "peer", [PEER_BIN / "echo_asio"], needs=str(PEER_BIN / "echo_asio")),
    Target("py selectors", "echo", "peer", [PYTHON, PEER_SRC / "echo_selectors.py"], needs=PYTHON),
    Target("py asyncio", "echo", "peer", [PYTHON, PEER_SRC / "echo_asyncio.py"], needs=PYTHON),
    Target("py uvloop", "echo", "peer", [PYTHON, PEER_SRC / "echo_uvloop.py"], needs=PYTHON,
           python_module="uvloop"),
    Target("reactor http", "http", "reactor", [BIN / "reactor", "http"], needs=str(BIN / "reactor")),
    Target("epoll C http", "http", "raw", [PEER_BIN / "http_epoll"], needs=str(PEER_BIN / "http_epoll")),
    Target("nginx", "http", "peer", ["bash", PEER_SRC / "run_nginx.sh"], comm="nginx", needs="nginx"),
    Target("h2o", "http", "peer", ["bash", PEER_SRC / "run_h2o.sh"], comm="h2o", needs="h2o"),
    Target("evhttp", "http", "peer", [PEER_BIN / "http_evhttp"], needs=str(PEER_BIN / "http_evhttp")),
]}
ECHO_ALL = ["reactor", "epoll C", "libevent", "libev", "libuv", "asio", "py selectors",
            "py asyncio", "py uvloop"]
ECHO_NATIVE = ECHO_ALL[:6]
HTTP_ALL = ["reactor http", "epoll C http", "nginx", "h2o", "evhttp"]
PY_NOTE = ("The Python peers run only in the cheap ping-pong cases: each would spend most of "
           "a round at 100 % CPU here without telling anything new.")


@dataclass
class Entry:
    """One column of a case: a target, possibly with extra arguments or other cores."""
    label: str
    target: str
    extra: list = field(default_factory=list)
    server_cpus: str = SERVER_CPUS


@dataclass
class Case:
    id: str
    title: str
    load: str  # "echo", "wrk", "idle", "callgrind" or "micro"
    entries: list
    params: dict = field(default_factory=dict)
    unit: str = "msg"  # what the rate and the CPU per unit count
    notes: list = field(default_factory=list)
    quick: bool = False
    rounds: int = 0  # 0: --rounds


def entries(keys):
    return [Entry(k, k) for k in keys]


def make_cases(quick, nofile):
    idle_max = max(1000, (nofile - 200) // 1000 * 1000)
    idle_sizes = [1000] if quick else [10000, 100000]
    cases = [
        Case("echo-pp-1x64", "Echo ping-pong, 1 connection x 64 B", "echo", entries(ECHO_ALL),
             {"mode": "pingpong", "connections": 1, "size": 64}),
        Case("echo-pp-100x64", "Echo ping-pong, 100 connections x 64 B", "echo", entries(ECHO_ALL),
             {"mode": "pingpong", "connections": 100, "size": 64}, quick=True),
        Case("echo-pp-100x16k", "Echo ping-pong, 100 connections x 16 KiB", "echo",
             entries(ECHO_NATIVE), {"mode": "pingpong", "connections": 100, "size": 16384},
             notes=[PY_NOTE]),
        Case("echo-pp-1000x1k", "Echo ping-pong, 1000 connections x 1 KiB", "echo",
             entries(ECHO_NATIVE), {"mode": "pingpong", "connections": 1000, "size": 1024},
             notes=[PY_NOTE]),
        Case("echo-throughput", "Echo throughput, 10 connections x 64 KiB window", "echo",
             entries(ECHO_NATIVE),
             {"mode": "throughput", "connections": 10, "size": 16384, "window": 65536},
             unit="MiB", notes=[PY_NOTE, "Rate in MiB/s echoed; CPU per MiB echoed."]),
        Case("http-keepalive", "HTTP keep-alive, 100 connections (wrk)", "wrk", entries(HTTP_ALL),
             {"connections": 100}, unit="req", quick=True),
        Case("http-pipelined", "HTTP keep-alive pipelined x16, 100 connections (wrk)", "wrk",
             entries(HTTP_ALL), {"connections": 100, "pipeline": 16}, unit="req"),
        Case("http-close", "HTTP new connection per request, 100 concurrent (wrk)", "wrk",
             entries([k for k in HTTP_ALL if k != "epoll C http"]),
             {"connections": 100, "close": True}, unit="conn",
             notes=["Every request on a fresh connection (`Connection: close`): the accept "
                    "path. The raw epoll C HTTP peer does not parse headers and never closes, "
                    "so wrk would keep its connections alive: it is left out, and this case "
                    "has no raw-epoll ratio."]),
    ]
    for n in idle_sizes:
        fit = min(n, idle_max)
        note = []
        if fit < n:
            note = [f"{n:,} connections asked for; the descriptor limit here allows "
                    f"{nofile:,} per process (hard RLIMIT_NOFILE, which this container does "
                    f"not let us raise; fs.nr_open = {read_int('/proc/sys/fs/nr_open'):,}), "
                    f"so this is the largest size that fits: {fit:,}."]
        cases.append(Case(f"idle-{n // 1000}k", f"Idle connections: RSS per connection at {fit:,}",
                          "idle", entries(ECHO_NATIVE), {"connections": fit}, unit="B/conn",
                          quick=n == idle_sizes[0], rounds=1, notes=note))
    cases += [
        Case("threads-echo", "reactor echo --threads 1 vs 2: ping-pong, 100 x 64 B", "echo",
             [Entry("reactor x1", "reactor", ["--threads", "1"], "0,1"),
              Entry("reactor x2", "reactor", ["--threads", "2"], "0,1")],
             {"mode": "pingpong", "connections": 100, "size": 64},
             notes=["Server free to use both cores, load generator pinned to core 1: with two "
                    "cores the client competes with the second loop thread for core 1."]),
        Case("threads-http", "reactor http --threads 1 vs 2: keep-alive, 100 connections", "wrk",
             [Entry("reactor http x1", "reactor http", ["--threads", "1"], "0,1"),
              Entry("reactor http x2", "reactor http", ["--threads", "2"], "0,1")],
             {"connections": 100}, unit="req",
             notes=["Server free to use both cores, wrk pinned to core 1 (see above)."]),
        Case("callgrind-echo", "Instructions per echo message (callgrind)", "callgrind",
             entries(ECHO_NATIVE), {"kind": "echo", "count": 2000 if quick else 20000},
             unit="Ir/msg", quick=True, rounds=1),
        Case("callgrind-http", "Instructions per HTTP request (callgrind)", "callgrind",
             entries(HTTP_ALL), {"kind": "http", "count": 2000 if quick else 20000},
             unit="Ir/req", quick=True, rounds=1),
        Case("micro", "Micro-benchmarks (Google Benchmark)", "micro", [], quick=True, rounds=1),
    ]
    if quick:  # fewer targets where a case is slow per target
        for c in cases:
            if c.load == "callgrind":
                keep = {"reactor", "epoll C", "reactor http", "epoll C http"}
                c.entries = [e for e in c.entries if e.target in keep]
            if c.load == "idle":
                c.entries = [e for e in c.entries if e.target in ("reactor", "epoll C")]
    return cases


def read_int(path):
    try:
        with open(path) as f:
            return int(f.read().split()[0])
    except (OSError, ValueError, IndexError):
        return 0


def available(target):
    t = TARGETS[target]
    if t.needs and not (os.path.exists(t.needs) or shutil.which(t.needs)):
        return f"{t.needs} not found"
    if t.python_module:
        r = subprocess.run([PYTHON, "-c", f"import {t.python_module}"], capture_output=True,
                           timeout=30)
        if r.returncode != 0:
            return f"{PYTHON} cannot import {t.python_module}"
    return ""


# ----------------------------------------------------------------------------------------
# One measured run


@dataclass
class Timing:
    warmup: float
    duration: float


def server_command(entry, cpus=None):
    t = TARGETS[entry.target]
    return ["taskset", "-c", cpus or entry.server_cpus, *t.cmd, *entry.extra,
            "--host", HOST, "--port", "0"]


def start_server(kids, entry, log_path):
    t = TARGETS[entry.target]
    with open(log_path, "ab") as log:
        proc = kids.spawn(server_command(entry), stdout=subprocess.PIPE, stderr=log)
    line = read_line(proc, 20)
    m = re.search(r"listening on \S+:(\d+)$", line)
    if not m:
        kids.stop(proc)
        raise BenchError(f"{entry.label}: no 'listening on' line (got {line!r})")
    pid = find_descendant(proc.pid, t.comm) if t.comm else proc.pid
    return proc, int(m.group(1)), pid


def parse_kv(text):
    out = {}
    for line in text.splitlines():
        key, sep, value = line.partition(":")
        if sep:
            out[key.strip()] = value.strip()
    return out


def echo_client_command(params, port, timing):
    cmd = ["taskset", "-c", CLIENT_CPUS, BIN / "reactor", "bench", "echo", "--host", HOST,
           "--port", port, "--mode", params["mode"], "--connections", params["connections"],
           "--size", params["size"], "--duration", f"{timing.duration:g}",
           "--warmup", f"{timing.warmup:g}"]
    if "window" in params:
        cmd += ["--window", params["window"]]
    return [str(c) for c in cmd]


def wrk_command(params, port, timing):
    seconds = math.ceil(timing.warmup + timing.duration + 2 * MARGIN)
    cmd = ["taskset", "-c", CLIENT_CPUS, "wrk", "-t1", f"-c{params['connections']}",
           f"-d{seconds}s", "--latency"]
    if params.get("pipeline"):
        cmd += ["-s", str(PIPELINE_LUA)]
    if params.get("close"):
        cmd += ["-H", "Connection: close"]
    cmd.append(f"http://{HOST}:{port}/")
    if params.get("pipeline"):
        cmd += ["--", str(params["pipeline"])]
    return cmd


def measure(case, entry, kids, timing, log_path):
    """Starts the entry's server, loads it, returns one sample (a dict)."""
    proc, port, pid = start_server(kids, entry, log_path)
    try:
        time.sleep(0.2)
        if case.load == "echo":
            sample = echo_load(case, kids, port, pid, timing, log_path)
        elif case.load == "wrk":
            sample = wrk_load(case, kids, port, pid, timing, log_path)
        else:
            sample = idle_load(case, kids, port, pid, log_path)
        if proc.poll() is not None:
            raise BenchError(f"server exited with status {proc.returncode} during the run")
        return sample
    finally:
        kids.stop(proc)


def finish_sample(case, win, rate, extra):
    if rate <= 0:
        raise BenchError("no messages in the measured window")
    sample = {"rate": rate, "server_util": win.server_util, "client_util": win.client_util,
              "cpu_us": win.server_util / rate * 1e6, "window_s": win.seconds,
              "user_us": win.server_user / rate * 1e6, "sys_us": win.server_sys / rate * 1e6,
              "threads": [round(u, 4) for u in win.thread_utils if u >= 0.01]}
    sample["client_bound"] = (win.client_util >= CLIENT_BOUND_CLIENT
                              and win.server_util < CLIENT_BOUND_SERVER)
    sample.update(extra)
    return sample


def echo_load(case, kids, port, server_pid, timing, log_path):
    p = case.params
    cmd = echo_client_command(p, port, timing)
    client = kids.spawn(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    try:
        watcher = LineWatcher(client.stderr, "connected", log_path)
        t_conn = watcher.wait(40)
        if t_conn is None:
            raise BenchError("load generator never finished connecting: "
                             + " | ".join(watcher.lines[-3:]))
        win = Window(server_pid, client.pid)
        sleep_until(t_conn + timing.warmup + MARGIN)
        win.start()
        sleep_until(t_conn + timing.warmup + timing.duration - MARGIN)
        win.end()
        rc = client.wait(timing.warmup + timing.duration + 30)
        out = client.stdout.read().decode(errors="replace")
        watcher.join(5)
    except subprocess.TimeoutExpired:
        raise BenchError("load generator did not finish in time")
    finally:
        kids.stop(client)
    kv = parse_kv(out)
    if rc != 0 or "messages_per_sec" not in kv:
        raise BenchError(f"load generator exit {rc}: {out.strip()[-200:]} "
                         + " | ".join(watcher.lines[-3:]))
    if int(kv.get("connected", 0)) != p["connections"] or int(kv.get("errors", 1)) != 0:
        raise BenchError(f"connected {kv.get('connected')}, errors {kv.get('errors')}")
    rate = float(kv["mib_per_sec"]) if case.unit == "MiB" else float(kv["messages_per_sec"])
    extra = {"msgs_per_sec": float(kv["messages_per_sec"]), "mib_per_sec": float(kv["mib_per_sec"]),
             "p50_us": float(kv.get("latency_us_p50", "nan")),
             "p99_us": float(kv.get("latency_us_p99", "nan"))}
    return finish_sample(case, win, rate, extra)


WRK_UNITS = {"us": 1.0, "ms": 1e3, "s": 1e6}


def wrk_load(case, kids, port, server_pid, timing, log_path):
    cmd = wrk_command(case.params, port, timing)
    t0 = time.monotonic()
    client = kids.spawn(cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
    try:
        win = Window(server_pid, client.pid)
        sleep_until(t0 + timing.warmup + MARGIN)
        win.start()
        sleep_until(t0 + timing.warmup + timing.duration + MARGIN)
        win.end()
        out, _ = client.communicate(timeout=timing.warmup + timing.duration + 30)
        out = out.decode(errors="replace")
    except subprocess.TimeoutExpired:
        raise BenchError("wrk did not finish in time")
    finally:
        kids.stop(client)
    with open(log_path, "a") as log:
        log.write(out)
    m = re.search(r"Requests/sec:\s+([\d.]+)", out)
    if client.returncode != 0 or not m:
        raise BenchError(f"wrk exit {client.returncode}: {out.strip()[-300:]}")
    # wrk prints 0 for a percentile it has no samples for (pipelining: one per batch)
    lat = {q: float(v) * WRK_UNITS[u] or float("nan")
           for q, v, u in re.findall(r"^\s+(50|99)%\s+([\d.]+)(us|ms|s)\s*$", out, re.M)}
    errors = sum(int(x) for x in re.findall(r"(?:connect|read|write|timeout) (\d+)", out))
    non2xx = re.search(r"Non-2xx or 3xx responses: (\d+)", out)
    extra = {"p50_us": lat.get("50", float("nan")), "p99_us": lat.get("99", float("nan")),
             "socket_errors": errors, "non_2xx": int(non2xx.group(1)) if non2xx else 0}
    if extra["non_2xx"]:
        raise BenchError(f"{extra['non_2xx']} responses were not 2xx")
    return finish_sample(case, win, float(m.group(1)), extra)


def idle_load(case, kids, port, server_pid, log_path):
    n = case.params["connections"]
    time.sleep(0.5)
    before, fds_before = rss_bytes(server_pid), fd_count(server_pid)
    sources = max(1, math.ceil(n / 20000))
    cmd = ["taskset", "-c", CLIENT_CPUS, BIN / "reactor", "bench", "echo", "--host", HOST,
           "--port", port, "--mode", "idle", "--connections", n, "--duration", "600",
           "--warmup", "0", "--sources", sources]
    client = kids.spawn(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    try:
        watcher = LineWatcher(client.stderr, "connected", log_path)
        if watcher.wait(90) is None:
            raise BenchError("idle client never finished connecting")
        m = re.search(r"(\d+) connected, (\d+) failed", " ".join(watcher.lines))
        if not m or int(m.group(1)) != n:
            raise BenchError(f"idle client: {' | '.join(watcher.lines[-3:])}")
        held = wait_accepted(server_pid, fds_before, n, client)
        if held < n // 2:
            raise BenchError(f"server holds only {held} of {n} connections")
        time.sleep(1.0)
        after = rss_bytes(server_pid)
        probe_p50, probe_max = probe_round_trips(port)
    finally:
        kids.stop(client)
    per = (after - before) / held
    return {"rate": per, "cpu_us": per, "rss_before": before, "rss_after": after,
            "connections": held, "asked": n, "sources": sources, "client_bound": False,
            "probe_p50_us": probe_p50, "probe_max_us": probe_max}


def probe_round_trips(port, count=200, size=64):
    """Median and worst round trip (µs) of `count` echoes of `size` bytes from a fresh
    client while the idle connections are held: is a normal client still served promptly?
    Timed from Python, so a few tens of µs of each figure are the driver's own."""
    message, times = b"p" * size, []
    with socket.create_connection((HOST, int(port)), timeout=10) as s:
        s.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        for _ in range(count):
            start, got = time.perf_counter(), 0
            s.sendall(message)
            while got < size:
                chunk = s.recv(size - got)
                if not chunk:
                    raise BenchError("the server closed the probe connection")
                got += len(chunk)
            times.append((time.perf_counter() - start) * 1e6)
    return statistics.median(times), max(times)


def wait_accepted(server_pid, fds_before, n, client, deadline_s=90.0, settle_s=8.0):
    """How many of `n` connections the server holds once it has them all, or once the
    count stopped moving for `settle_s`. "Connected" on the client's side is not
    "accepted": a server with a short accept queue gets the overflow later, as the
    kernel retransmits its SYN-ACKs."""
    start = last_change = time.monotonic()
    last = -1
    while True:
        held = fd_count(server_pid) - fds_before
        now = time.monotonic()
        if held >= n or now - start > deadline_s or client.poll() is not None:
            return min(held, n)
        if held != last:
            last, last_change = held, now
        elif now - last_change > settle_s:
            return held
        time.sleep(0.2)


# ----------------------------------------------------------------------------------------
# Callgrind


def free_port():
    with socket.socket() as s:
        s.bind((HOST, 0))
        return s.getsockname()[1]


def render(template, out, workdir, port):
    text = Path(template).read_text()
    for key, value in {"@DIR@": str(workdir), "@HOST@": HOST, "@PORT@": str(port),
                       "@ADDR@": f"{HOST}:{port}"}.items():
        text = text.replace(key, value)
    Path(out).write_text(text)


def direct_command(target, workdir):
    """The serving program itself (valgrind must run it, not a wrapper) and its port;
    port 0 means the program announces the port it bound."""
    t = TARGETS[target]
    if t.comm == "nginx":
        port = free_port()
        render(PEER_SRC / "nginx.conf.in", workdir / "nginx.conf", workdir, port)
        return ["nginx", "-p", workdir, "-c", workdir / "nginx.conf", "-e", "stderr"], port
    if t.comm == "h2o":
        port = free_port()
        render(PEER_SRC / "h2o.conf.in", workdir / "h2o.conf", workdir, port)
        (workdir / "hello.txt").write_text("Hello, world!")
        return ["h2o", "-m", "worker", "-c", workdir / "h2o.conf"], port
    return [*t.cmd, "--host", HOST, "--port", "0"], 0


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


HTTP_REQUEST = b"GET / HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n"


def fixed_workload(kind, port, count, connections=10, timeout=600):
    """`count` echo round trips of 64 B or keep-alive GET / requests, spread over
    `connections` connections that all run at once; zero just opens and closes them."""
    import selectors
    socks = []
    for _ in range(connections):
        s = socket.create_connection((HOST, port), timeout=30)
        s.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        socks.append(s)
    try:
        if count == 0:
            time.sleep(0.5)
            return
        message = b"m" * 64 if kind == "echo" else HTTP_REQUEST
        left = {s: count // connections for s in socks}
        left[socks[0]] += count % connections
        got = {s: b"" for s in socks}
        sel = selectors.DefaultSelector()
        for s in socks:
            s.setblocking(False)
            sel.register(s, selectors.EVENT_READ)
            s.sendall(message)
        active, deadline = len(socks), time.monotonic() + timeout
        while active:
            if time.monotonic() > deadline:
                raise BenchError("fixed workload did not finish in time")
            events = sel.select(30)
            if not events:
                raise BenchError("fixed workload stalled for 30 s")
            for key, _ in events:
                s = key.fileobj
                data = s.recv(65536)
                if not data:
                    raise BenchError("server closed a connection during the workload")
                got[s] += data
                if not response_complete(kind, got[s]):
                    continue
                got[s] = b""
                left[s] -= 1
                if left[s] > 0:
                    s.sendall(message)
                else:
                    sel.unregister(s)
                    active -= 1
    finally:
        for s in socks:
            s.close()
        time.sleep(0.5)  # let the server see the closes before it is stopped


def response_complete(kind, data):
    if kind == "echo":
        return len(data) >= 64
    head_end = data.find(b"\r\n\r\n")
    if head_end < 0:
        return False
    m = re.search(rb"(?im)^content-length:\s*(\d+)", data[:head_end])
    return len(data) >= head_end + 4 + (int(m.group(1)) if m else 0)


def callgrind_total(path):
    with open(path) as f:
        for line in f:
            if line.startswith(("summary:", "totals:")):
                return int(line.split()[1])
    raise BenchError(f"no totals in {path}")


def annotate(path):
    """{function: self Ir} from callgrind_annotate."""
    r = subprocess.run(["callgrind_annotate", "--inclusive=no", "--threshold=100", str(path)],
                       capture_output=True, text=True, timeout=120)
    out = {}
    for line in r.stdout.splitlines():
        m = re.match(r"^\s*([\d,]+)\s+(?:\(\s*[\d.]+%\)\s+)?(\S.*?)\s*$", line)
        if m and ":" in m.group(2):
            name = re.sub(r"\s+\[[^\]]*\]$", "", m.group(2))
            out[name] = out.get(name, 0) + int(m.group(1).replace(",", ""))
    return out


def callgrind_run(kids, target, kind, count, tmp, log_path):
    workdir = Path(tempfile.mkdtemp(dir=tmp))
    out = workdir / "callgrind.out"
    cmd, port = direct_command(target, workdir)
    full = ["taskset", "-c", SERVER_CPUS, "valgrind", "--tool=callgrind",
            f"--callgrind-out-file={out}.%p", *cmd]
    # Symbols bound at start-up, not at first call: lazy binding would charge the
    # messages with resolving the functions only they use, while the baseline skips it.
    env = dict(os.environ, LD_BIND_NOW="1")
    with open(log_path, "ab") as log:
        proc = kids.spawn(full, stdout=subprocess.PIPE, stderr=log, env=env)
    try:
        if port == 0:
            m = re.search(r"listening on \S+:(\d+)$", read_line(proc, 120))
            if not m:
                raise BenchError("no 'listening on' line under valgrind")
            port = int(m.group(1))
        else:
            wait_accepting(proc, port, 120)
        fixed_workload(kind, port, count)
    finally:
        rc = kids.stop(proc, grace=120)
    path = Path(f"{out}.{proc.pid}")
    if not path.exists():
        raise BenchError(f"valgrind left no output (exit {rc})")
    return callgrind_total(path), annotate(path), " ".join(str(c) for c in full)


def callgrind_case(case, kids, tmp, record):
    count, kind = case.params["count"], case.params["kind"]
    for e in case.entries:
        log_path = LOGS / f"{case.id}-{slug(e.label)}.log"
        try:
            base, base_fn, cmd = callgrind_run(kids, e.target, kind, 0, tmp, log_path)
            full, full_fn, _ = callgrind_run(kids, e.target, kind, count, tmp, log_path)
            per_fn = {k: (full_fn.get(k, 0) - base_fn.get(k, 0)) / count
                      for k in set(full_fn) | set(base_fn)}
            top = [kv for kv in sorted(per_fn.items(), key=lambda kv: -kv[1])[:15] if kv[1] >= 0.5]
            record(e, {"rate": (full - base) / count, "cpu_us": (full - base) / count,
                       "ir_total": full, "ir_baseline": base, "count": count,
                       "top": [[round(v, 1), k] for k, v in top], "client_bound": False})
            case.commands[e.label] = cmd
            log(f"  {e.label:16} {(full - base) / count:10.0f} Ir/{case.unit[3:]}")
        except (BenchError, OSError, subprocess.SubprocessError) as err:
            record(e, {"error": str(err)})
            log(f"  {e.label:16} FAILED: {err}")


# ----------------------------------------------------------------------------------------
# Micro-benchmarks

MICRO = [("buffer_bench", SERVER_CPUS), ("timer_bench", SERVER_CPUS),
         ("selector_bench", SERVER_CPUS), ("loop_post_bench", "0,1"),
         ("http_parser_bench", SERVER_CPUS)]


def micro_case(case, kids, quick, record):
    min_time = "0.02" if quick else "0.5"
    for name, cpus in MICRO:
        binary = BIN / name
        if not binary.exists():
            record(Entry(name, name), {"error": f"{binary} not built"})
            continue
        json_out = RESULTS / f"micro-{name}.json"
        cmd = ["taskset", "-c", cpus, binary, f"--benchmark_min_time={min_time}",
               f"--benchmark_out={json_out}", "--benchmark_out_format=json"]
        case.commands[name] = " ".join(str(c) for c in cmd)
        with open(LOGS / f"micro-{name}.log", "wb") as logf:
            proc = kids.spawn(cmd, stdout=logf, stderr=subprocess.STDOUT)
            try:
                proc.wait(900)
            except subprocess.TimeoutExpired:
                pass
            kids.stop(proc)
        try:
            data = json.loads(json_out.read_text())
        except (OSError, ValueError) as err:
            record(Entry(name, name), {"error": f"no JSON output ({err})"})
            continue
        rows = []
        for b in data.get("benchmarks", []):
            rows.append({"name": b["name"], "real_time": b.get("real_time"),
                         "cpu_time": b.get("cpu_time"), "time_unit": b.get("time_unit", "ns"),
                         "iterations": b.get("iterations"),
                         "items_per_second": b.get("items_per_second"),
                         "bytes_per_second": b.get("bytes_per_second"),
                         "error": b.get("error_message") if b.get("error_occurred") else None})
        record(Entry(name, name), {"benchmarks": rows, "context": data.get("context", {})})
        log(f"  {name}: {len(rows)} benchmarks")


# ----------------------------------------------------------------------------------------
# Running the cases


def slug(text):
    return re.sub(r"[^a-z0-9]+", "-", text.lower()).strip("-")


def log(msg):
    print(msg, flush=True)


def command_template(case, entry, timing):
    server = " ".join(str(c) for c in server_command(entry))
    if case.load == "echo":
        client = " ".join(echo_client_command(case.params, "PORT", timing))
    elif case.load == "wrk":
        client = " ".join(f"'{c}'" if " " in c else c for c in wrk_command(case.params, "PORT", timing))
    else:
        n = case.params["connections"]
        client = (f"taskset -c {CLIENT_CPUS} {BIN / 'reactor'} bench echo --host {HOST} --port PORT "
                  f"--mode idle --connections {n} --duration 600 --warmup 0 "
                  f"--sources {max(1, math.ceil(n / 20000))}")
    return server.replace(str(ROOT) + "/", ""), client.replace(str(ROOT) + "/", "")


def run_case(case, kids, timing, rounds, tmp, results):
    res = results["cases"].setdefault(case.id, {})
    res.update({"title": case.title, "load": case.load, "unit": case.unit, "notes": case.notes,
                "params": case.params, "entries": [], "runs": {}, "skipped": {}})
    case.commands = {}
    res["commands"] = case.commands
    live = []
    for e in case.entries:
        why = available(e.target)
        if why:
            res["skipped"][e.label] = why
        else:
            live.append(e)
            res["entries"].append({"label": e.label, "target": e.target,
                                   "role": TARGETS[e.target].role if e.target in TARGETS else ""})

    def record(entry, sample):
        res["runs"].setdefault(entry.label, []).append(sample)

    log(f"== {case.id}: {case.title}")
    res["started"] = now_iso()
    if case.load == "callgrind":
        callgrind_case(case, kids, tmp, record)
    elif case.load == "micro":
        micro_case(case, kids, timing.duration < 3, record)
    else:
        n_rounds = case.rounds or rounds
        for e in live:
            case.commands[e.label] = command_template(case, e, timing)
        for r in range(n_rounds):
            for e in live:
                log_path = LOGS / f"{case.id}-{slug(e.label)}.log"
                with open(log_path, "a") as f:
                    f.write(f"--- round {r + 1}\n")
                try:
                    sample = measure(case, e, kids, timing, log_path)
                    record(e, sample)
                    log(f"  r{r + 1} {e.label:16} {describe(case, sample)}")
                except (BenchError, OSError, subprocess.SubprocessError) as err:
                    record(e, {"error": str(err)})
                    log(f"  r{r + 1} {e.label:16} FAILED: {err}")
    res["finished"] = now_iso()


def describe(case, s):
    if case.load == "idle":
        return f"{s['rate']:.0f} B/conn (RSS {s['rss_before'] >> 10} -> {s['rss_after'] >> 10} KiB)"
    flag = "  [client-bound]" if s.get("client_bound") else ""
    return (f"{s['rate']:12,.1f} {case.unit}/s  server {s['server_util'] * 100:5.1f}% "
            f"client {s['client_util'] * 100:5.1f}%  {s['cpu_us']:.3f} us/{case.unit}{flag}")


def now_iso():
    return datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%d %H:%M:%S UTC")


# ----------------------------------------------------------------------------------------
# Machine and build


def sh(cmd, timeout=30):
    try:
        return subprocess.run(cmd, capture_output=True, text=True, timeout=timeout).stdout.strip()
    except (OSError, subprocess.SubprocessError):
        return ""


def machine():
    lscpu = parse_kv(sh(["lscpu"]))
    mem = parse_kv(Path("/proc/meminfo").read_text())
    versions = {}
    for pkg in ["libevent-dev", "libev-dev", "libuv1-dev", "libasio-dev", "nginx-light", "h2o",
                "python3-uvloop", "wrk", "valgrind", "libbenchmark-dev"]:
        v = sh(["dpkg-query", "-W", "-f=${Version}", pkg])
        if v:
            versions[pkg] = v
    return {
        "cpu": lscpu.get("Model name", platform.processor()),
        "cpus": lscpu.get("CPU(s)", str(os.cpu_count())),
        "threads_per_core": lscpu.get("Thread(s) per core", "?"),
        "hypervisor": lscpu.get("Hypervisor vendor", ""),
        "kernel": platform.release(),
        "memory": mem.get("MemTotal", "?"),
        "compiler": sh(["c++", "--version"]).split("\n")[0],
        "python": sys.version.split()[0],
        "loadavg_start": Path("/proc/loadavg").read_text().split()[:3],
        "versions": versions,
        "date": now_iso(),
    }


def raise_nofile():
    """Raises RLIMIT_NOFILE for this process, so every child inherits it. The hard limit
    itself can only go up with CAP_SYS_RESOURCE, which a container may not grant."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    want = read_int("/proc/sys/fs/nr_open") or hard
    if want > hard:
        try:
            resource.setrlimit(resource.RLIMIT_NOFILE, (want, want))
            return want
        except (ValueError, OSError):
            pass
    resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
    return hard


def build():
    steps = [["cmake", "-S", ROOT, "-B", BUILD, "-DCMAKE_BUILD_TYPE=Release"],
             ["cmake", "--build", BUILD, "-j", str(os.cpu_count() or 2)],
             ["make", "-C", PEER_SRC, f"OUT={PEER_BIN}"]]
    for step in steps:
        log("$ " + " ".join(str(s) for s in step))
        r = subprocess.run([str(s) for s in step], stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                           text=True, timeout=1800)
        if r.returncode != 0:
            sys.exit(f"build step failed:\n{r.stdout[-3000:]}")


# ----------------------------------------------------------------------------------------
# Report

def good(res, label):
    return [s for s in res["runs"].get(label, []) if "error" not in s]


def spread(values):
    return statistics.median(values), min(values), max(values)


def num(x, digits=3):
    """A number with about `digits` significant figures, thousands separated."""
    if x is None or (isinstance(x, float) and math.isnan(x)):
        return "–"
    if abs(x) >= 10 ** (digits - 1):
        return f"{x:,.0f}"
    return f"{x:.{max(0, digits - 1 - int(math.floor(math.log10(abs(x))))) if x else 0}f}"


def cell(values, digits=3):
    med, lo, hi = spread(values)
    return num(med, digits) if lo == hi else f"{num(med, digits)} ({num(lo, digits)}–{num(hi, digits)})"


RATE_UNITS = {"msg": "msg/s", "req": "req/s", "conn": "conn/s", "MiB": "MiB/s"}


def baselines(res):
    """Median cost per unit of the raw epoll entry and of the best (cheapest) peer."""
    raw, best = None, None
    for e in res["entries"]:
        samples = good(res, e["label"])
        if not samples:
            continue
        cost = statistics.median(s["cpu_us"] for s in samples)
        if e["role"] == "raw":
            raw = (e["label"], cost)
        elif e["role"] == "peer" and (best is None or cost < best[1]):
            best = (e["label"], cost)
    return raw, best


def ratio(cost, base):
    return f"{cost / base[1]:.2f}×" if base and base[1] > 0 else "–"


def failures(res, label):
    bad = [s["error"] for s in res["runs"].get(label, []) if "error" in s]
    return f"{len(bad)} run(s) failed: {bad[0][:160]}" if bad else ""


def load_table(res):
    unit = res["unit"]
    raw, best = baselines(res)
    threads = res["load"] in ("echo", "wrk") and any(
        len(s.get("threads", [])) > 1 for e in res["entries"] for s in good(res, e["label"]))
    head = (f"| target | {RATE_UNITS[unit]} | server CPU µs/{unit} | user / sys | vs raw epoll | "
            f"vs best peer | server CPU | client CPU | latency p50 / p99 µs |"
            + (" CPU per server thread |" if threads else "") + " notes |")
    rows = [head, "|" + " --- |" * (head.count("|") - 1)]
    for e in res["entries"]:
        label, samples = e["label"], good(res, e["label"])
        if not samples:
            rows.append(f"| {label} |" + " – |" * (head.count("|") - 3) + f" {failures(res, label)} |")
            continue
        cost = statistics.median(s["cpu_us"] for s in samples)
        notes = []
        bound = sum(1 for s in samples if s.get("client_bound"))
        if bound:
            notes.append(f"client-bound in {bound} of {len(samples)} rounds")
        if failures(res, label):
            notes.append(failures(res, label))
        p50 = statistics.median(s["p50_us"] for s in samples)
        p99 = statistics.median(s["p99_us"] for s in samples)
        row = (f"| {'**' + label + '**' if e['role'] == 'reactor' else label} | "
               f"{cell([s['rate'] for s in samples])} | {cell([s['cpu_us'] for s in samples])} | "
               f"{num(statistics.median(s['user_us'] for s in samples))} / "
               f"{num(statistics.median(s['sys_us'] for s in samples))} | "
               f"{ratio(cost, raw) if e['role'] != 'raw' else '1.00×'} | "
               f"{ratio(cost, best) if best and e['label'] != best[0] else ('1.00×' if best else '–')} | "
               f"{statistics.median(s['server_util'] for s in samples) * 100:.0f}% | "
               f"{statistics.median(s['client_util'] for s in samples) * 100:.0f}% | "
               f"{num(p50)} / {num(p99)} |")
        if threads:
            shares = []
            for i in range(max(len(s["threads"]) for s in samples)):
                vals = [s["threads"][i] for s in samples if i < len(s["threads"])]
                shares.append(f"{statistics.median(vals) * 100:.0f}%")
            row += " " + " / ".join(shares) + " |"
        rows.append(row + " " + "; ".join(notes) + " |")
    return rows


def idle_table(res):
    raw, best = baselines(res)
    rows = ["| target | connections | server RSS before | after | bytes per connection | "
            "vs raw epoll | vs best peer | fresh client round trip p50 / max µs | notes |",
            "|" + " --- |" * 9]
    for e in res["entries"]:
        label, samples = e["label"], good(res, e["label"])
        if not samples:
            rows.append(f"| {label} | – | – | – | – | – | – | – | {failures(res, label)} |")
            continue
        s = samples[0]
        flag = "above 128 B" if e["role"] == "reactor" and s["rate"] > 128 else ""
        if s["connections"] < s.get("asked", s["connections"]):
            flag = (flag + "; " if flag else "") + (
                f"accepted {s['connections']:,} of {s['asked']:,} (its accept queue overflowed; "
                "the rest still waited on SYN-ACK retransmits); bytes are per accepted connection")
        rows.append(f"| {'**' + label + '**' if e['role'] == 'reactor' else label} | "
                    f"{s['connections']:,} | {s['rss_before'] / 1024:,.0f} KiB | "
                    f"{s['rss_after'] / 1024:,.0f} KiB | {s['rate']:,.0f} | "
                    f"{ratio(s['rate'], raw) if e['role'] != 'raw' else '1.00×'} | "
                    f"{ratio(s['rate'], best) if best and label != best[0] else '1.00×' if best else '–'} | "
                    f"{probe(s)} | {flag} |")
    return rows


def probe(sample):
    if "probe_p50_us" not in sample:
        return "–"
    return f"{num(sample['probe_p50_us'])} / {num(sample['probe_max_us'])}"


def callgrind_table(res):
    raw, best = baselines(res)
    count = res["params"]["count"]
    rows = [f"| target | Ir, {count:,} {res['params']['kind']} round trips | Ir, 0 (baseline) | "
            f"{res['unit']} | vs raw epoll | vs best peer |", "|" + " --- |" * 6]
    for e in res["entries"]:
        label, samples = e["label"], good(res, e["label"])
        if not samples:
            rows.append(f"| {label} | – | – | – | – | {failures(res, label)} |")
            continue
        s = samples[0]
        rows.append(f"| {'**' + label + '**' if e['role'] == 'reactor' else label} | "
                    f"{s['ir_total']:,} | {s['ir_baseline']:,} | {s['rate']:,.0f} | "
                    f"{ratio(s['rate'], raw) if e['role'] != 'raw' else '1.00×'} | "
                    f"{ratio(s['rate'], best) if best and label != best[0] else '1.00×' if best else '–'} |")
    return rows


def callgrind_top(res):
    out = []
    for e in res["entries"]:
        if e["role"] not in ("reactor", "raw"):
            continue
        for s in good(res, e["label"]):
            out += ["", f"Where {e['label']}'s instructions per {res['unit'][3:]} go (self Ir per "
                    f"{res['unit'][3:]}, full run minus baseline, top {len(s['top'])}; "
                    "`???` = no symbol, mostly libc and the dynamic loader):", "", "```"]
            out += [f"{v:9.1f}  {name}" for v, name in s["top"]]
            out.append("```")
    return out


MICRO_KEYS = {
    "BM_LoopScheduleThenCancel": "1M run_after + 1M cancel through EventLoop (storage already grown)",
    "BM_LoopScheduleThenCancelCold": "the same on a fresh EventLoop (storage grows from nothing)",
    "BM_LoopScheduleCancelPairs": "1M × (run_after, cancel) through EventLoop",
    "BM_QueueScheduleThenCancel": "1M add + 1M cancel on detail::TimerQueue",
    "BM_QueueRunDue": "1M due timers fired by one run_due() (heap of 1M, random deadlines)",
}


def time_str(value, unit):
    ns = value * {"ns": 1, "us": 1e3, "ms": 1e6, "s": 1e9}[unit]
    for div, u in ((1e9, "s"), (1e6, "ms"), (1e3, "µs")):
        if ns >= div:
            return f"{num(ns / div)} {u}"
    return f"{num(ns)} ns"


def micro_tables(res):
    out = []
    keys = []
    for label, runs in res["runs"].items():
        for run in runs:
            if "error" in run:
                out += ["", f"`{label}`: {run['error']}"]
                continue
            shown = re.sub(r" --benchmark_out\S*", "", res["commands"].get(label, ""))
            out += ["", f"`{label}` (`{shown.replace(str(ROOT) + '/', '')}`):", "",
                    "| benchmark | time | CPU | rate |", "| --- | --- | --- | --- |"]
            for b in run["benchmarks"]:
                if b.get("error"):
                    out.append(f"| {b['name']} | – | – | error: {b['error']} |")
                    continue
                rate = ""
                if b.get("items_per_second"):
                    rate = f"{num(b['items_per_second'] / 1e6)} M items/s"
                elif b.get("bytes_per_second"):
                    rate = f"{num(b['bytes_per_second'] / 2**30)} GiB/s"
                out.append(f"| {b['name']} | {time_str(b['real_time'], b['time_unit'])} | "
                           f"{time_str(b['cpu_time'], b['time_unit'])} | {rate} |")
                if b["name"] in MICRO_KEYS and b.get("items_per_second"):
                    keys.append(f"- {MICRO_KEYS[b['name']]}: "
                                f"{time_str(b['real_time'], b['time_unit'])} per million, "
                                f"{num(1e9 / b['items_per_second'])} ns per timer.")
                elif b["name"] in MICRO_KEYS:
                    keys.append(f"- {MICRO_KEYS[b['name']]}: "
                                f"{time_str(b['real_time'], b['time_unit'])} per million.")
    return keys, out


def summary_rows(results):
    rows = ["| case | unit | reactor | raw epoll C | reactor / raw | best peer | "
            "reactor / best peer | reactor rate / best peer rate |", "|" + " --- |" * 8]
    for cid, res in results["cases"].items():
        if res["load"] not in ("echo", "wrk", "idle", "callgrind") or cid.startswith("threads"):
            continue
        raw, best = baselines(res)
        me = next((e for e in res["entries"] if e["role"] == "reactor"), None)
        if not me or not good(res, me["label"]):
            continue
        samples = good(res, me["label"])
        cost = statistics.median(s["cpu_us"] for s in samples)
        unit = {"idle": "RSS B/conn", "callgrind": res["unit"]}.get(
            res["load"], f"server CPU µs/{res['unit']}")
        rate_ratio = "–"
        if best and res["load"] in ("echo", "wrk"):
            mine = statistics.median(s["rate"] for s in samples)
            theirs = statistics.median(s["rate"] for s in good(res, best[0]))
            rate_ratio = f"{mine / theirs:.2f}×"
        rows.append(f"| {res['title']} | {unit} | {num(cost)} | {num(raw[1]) if raw else '–'} | "
                    f"{ratio(cost, raw)} | {best[0] + ' ' + num(best[1]) if best else '–'} | "
                    f"{ratio(cost, best)} | {rate_ratio} |")
    return rows


def findings(results):
    out = []
    for cid, res in results["cases"].items():
        if res["load"] not in ("echo", "wrk", "idle", "callgrind") or cid.startswith("threads"):
            continue
        raw, best = baselines(res)
        me = next((e for e in res["entries"] if e["role"] == "reactor"), None)
        if not me or not good(res, me["label"]):
            continue
        samples = good(res, me["label"])
        med, lo, hi = spread([s["cpu_us"] for s in samples])
        if res["load"] == "idle":
            if med > 128:
                out.append(f"- **{res['title']}**: reactor holds {med:,.0f} B of RSS per idle "
                           "connection, above the 128 B budget.")
            continue
        if raw and med > raw[1] * RAW_TOLERANCE:
            raw_s = [s["cpu_us"] for s in good(res, raw[0])]
            overlap = lo <= max(raw_s)
            what = "instructions" if res["load"] == "callgrind" else "server CPU"
            out.append(f"- **{res['title']}**: reactor needs {med / raw[1]:.2f}× the {what} per "
                       f"{res['unit'].split('/')[-1]} of raw epoll C ({num(med)} vs {num(raw[1])}"
                       + ("" if res["load"] == "callgrind" else
                          f"; reactor {num(lo)}–{num(hi)}, raw {num(min(raw_s))}–{num(max(raw_s))}"
                          + ("; the ranges overlap, so partly noise" if overlap else ""))
                       + ").")
    for cid, res in results["cases"].items():
        for e in res.get("entries", []):
            samples = good(res, e["label"])
            bound = [s for s in samples if s.get("client_bound")]
            if bound:
                out.append(f"- {res['title']}, {e['label']}: the load generator was the limit in "
                           f"{len(bound)} of {len(samples)} rounds (client at "
                           f"{statistics.median(s['client_util'] for s in bound) * 100:.0f}% of its "
                           f"core, server at {statistics.median(s['server_util'] for s in bound) * 100:.0f}%): "
                           "the rate there is the client's, CPU per message is still the server's.")
    for res in results["cases"].values():
        if res["load"] != "micro":
            continue
        for label, runs in res["runs"].items():
            for run in runs:
                for b in run.get("benchmarks", []):
                    if b.get("error"):
                        out.append(f"- Micro-benchmark `{label}` {b['name']}: {b['error']}.")
                if "error" in run:
                    out.append(f"- Micro-benchmark `{label}`: {run['error']}.")
    return out or ["- Nothing above the thresholds in this run."]


def chart(results, png):
    panels = []
    for cid, res in results["cases"].items():
        if res["load"] not in ("echo", "wrk", "idle", "callgrind") or cid.startswith("threads"):
            continue
        rows = []
        for e in res["entries"]:
            samples = good(res, e["label"])
            if samples:
                med, lo, hi = spread([s["cpu_us"] for s in samples])
                color = {"reactor": 1, "raw": 2}.get(e["role"], 3)
                rows.append((e["label"], med, lo, hi, color))
        if rows:
            unit = {"idle": "RSS bytes per connection",
                    "callgrind": f"instructions per {res['unit'][3:]} (log scale)"}.get(
                        res["load"], f"server CPU µs per {res['unit']}")
            panels.append((res["title"], unit, rows, res["load"] == "callgrind"))
    if not panels or not shutil.which("gnuplot"):
        return False
    tmp = Path(tempfile.mkdtemp(prefix="reactor-chart."))
    cols = 3
    nrows = math.ceil(len(panels) / cols)
    gp = [f'set terminal pngcairo size 1500,{330 * nrows + 60} font "DejaVu Sans,9"',
          f"set output '{png}'", 'set datafile separator "\\t"',
          "set style fill solid 0.85 border -1", "set boxwidth 0.7", "set grid ytics",
          'set linetype 1 lc rgb "#c0392b"', 'set linetype 2 lc rgb "#7f8c8d"',
          'set linetype 3 lc rgb "#2e86c1"', "set xtics rotate by -30 left nomirror",
          "set key off", "set bmargin 5",
          f'set multiplot layout {nrows},{cols} title "reactor (red) vs raw epoll C (grey) and '
          f'peers (blue): median over rounds, bars = min–max; lower is better"']
    for i, (title, unit, rows, log_scale) in enumerate(panels):
        data = tmp / f"p{i}.dat"
        raw = next((r[1] for r in rows if r[4] == 2), None)
        top = max(r[3] for r in rows) * (3 if log_scale else 1.15)
        if raw and top > raw * 4 and not log_scale:  # Python peers would flatten the rest
            top = raw * 4
        bottom = min(r[2] for r in rows) / 3 if log_scale else 0
        gp.append("set logscale y" if log_scale else "unset logscale y")
        with open(data, "w") as f:
            for label, med, lo, hi, color in rows:
                f.write(f"{label}\t{med}\t{lo}\t{hi}\t{color}\t{min(med, top * 0.9)}\t{num(med)}\n")
        gp += [f'set title "{title}"', f'set ylabel "{unit}"', f"set xrange [-0.6:{len(rows) - 0.4}]",
               f"set yrange [{bottom}:{top}]",
               f"plot '{data}' using 0:2:5:xtic(1) with boxes lc variable, "
               f"'' using 0:3:(0):($4-$3) with vectors heads size screen 0.006,90 lc rgb 'black', "
               f"'' using 0:6:7 with labels offset 0,0.7 font ',8'"]
    gp.append("unset multiplot")
    script = tmp / "chart.gp"
    script.write_text("\n".join(gp) + "\n")
    r = subprocess.run(["gnuplot", str(script)], capture_output=True, text=True, timeout=120)
    shutil.rmtree(tmp, ignore_errors=True)
    if r.returncode != 0:
        log("gnuplot failed: " + r.stderr[-500:])
    return r.returncode == 0


def write_report(results, out_dir):
    out_dir.mkdir(parents=True, exist_ok=True)
    md, png = out_dir / "performance.md", out_dir / "performance.png"
    have_chart = chart(results, png)
    m, t = results["machine"], results["timing"]
    L = ["# Performance", "",
         "<!-- Generated by bench/run.py from its measurements; do not edit by hand. -->", "",
         f"Generated by `{results['command']}` (also `make bench`) on {m['date']}, in "
         f"{results.get('elapsed_s', 0) // 60} min. Every number below comes from that run; "
         "rerun the command to reproduce them (`--quick` for a 2–3 minute smoke run, which "
         "writes to bench/results/ instead).", "",
         "## Machine", "",
         "| | |", "| --- | --- |",
         f"| CPU | {m['cpu']} ({m['cpus']} CPUs, {m['threads_per_core']} thread(s) per core"
         + (f", {m['hypervisor']} guest" if m.get("hypervisor") else "") + ") |",
         f"| kernel | {m['kernel']} |", f"| memory | {m['memory']} |",
         f"| compiler | {m['compiler']} (reactor: CMake Release; C peers: -O2) |",
         f"| load average at start / end | {' '.join(m['loadavg_start'])} / "
         f"{' '.join(m.get('loadavg_end', []))} |",
         f"| descriptors per process | {results['nofile']:,} (RLIMIT_NOFILE, raised to the hard limit) |",
         "| packages | " + ", ".join(f"{k} {v}" for k, v in m["versions"].items()) + " |", "",
         "The machine is shared and virtualised: other work ran beside this benchmark. That is "
         "why every case takes several rounds with the targets interleaved and reports the "
         "median with the min–max range; compare ratios within a case rather than absolute "
         "numbers across runs.", "",
         "## How it is measured", "",
         f"- Server pinned to core {SERVER_CPUS}, load generator to core {CLIENT_CPUS} (`taskset`); "
         f"the driver itself sleeps on core {CLIENT_CPUS}. {results['rounds']} round(s) per case, "
         "targets alternating A B C A B C …, each run on a fresh server process.",
         f"- Each run: {t['warmup']:g} s warm-up, then {t['duration']:g} s measured. Echo load comes "
         "from `reactor bench echo` (one thread, one loop); HTTP load from `wrk -t1`.",
         "- **Server CPU per message** = (utime + stime of the server process, from "
         "`/proc/PID/stat`, sampled at the start and the end of the measured window only, so "
         "start-up and warm-up are excluded) ÷ window length ÷ the client's rate. For HTTP, "
         "per request; for the accept case, per connection; for throughput, per MiB echoed. "
         f"Clock-tick resolution is 1/{TICK} s. Most of it is kernel time (the user / sys "
         "columns split it): the TCP loopback path of read and write, the same for every "
         "target, so library overhead shows mainly in the user column and in the instruction "
         "counts below. A server that gets larger batches per wake-up (for instance because "
         "other work on the machine delayed it) pays less per message, so compare targets at "
         "similar server CPU %.",
         f"- **Client-bound**: the client used ≥ {CLIENT_BOUND_CLIENT * 100:.0f}% of its core while "
         f"the server stayed below {CLIENT_BOUND_SERVER * 100:.0f}% of its own. The rate then "
         "describes the load generator; CPU per message still describes the server.",
         "- **Ratios**: to the hand-written raw epoll C server of the same kind, and to the "
         "best (cheapest per message) library peer of the case. Lower is better.",
         "- **Instructions per message**: the server runs under `valgrind --tool=callgrind` "
         "for a fixed workload driven from Python (10 connections at once, each doing its share "
         "of the round trips); a second run with the same 10 connections and zero messages "
         "gives the start-up, connection and shutdown cost, which is subtracted. Kernel work "
         "is not counted by callgrind.",
         "- **RSS per idle connection**: `VmRSS` of the server before, and after N connections "
         "from `reactor bench echo --mode idle` are accepted (the server's descriptor count "
         "confirms it), divided by N. Kernel socket memory is not in RSS. While they are held, "
         "a fresh client times 200 echo round trips of 64 B (from Python, so a few tens of µs "
         "are the driver's own): a normal client must still be served promptly.",
         ""]
    L += ["## Summary", ""] + summary_rows(results) + [""]
    L += ["## Findings (computed from the tables)", "",
          f"Flags: reactor above raw epoll C by more than {(RAW_TOLERANCE - 1) * 100:.0f}% in CPU "
          "(or instructions) per message, RSS above 128 B per idle connection, and every run "
          "where the client was the limit.", ""] + findings(results) + [""]
    if have_chart:
        L += ["## Chart", "", "![server CPU per message by target](performance.png)", "",
              "Bars taller than four times raw epoll C are clipped; the label gives the value.", ""]
    for cid, res in results["cases"].items():
        L += [f"## {res['title']}", "", f"Case `{cid}`."]
        if res["load"] in ("echo", "wrk"):
            L += [""] + load_table(res)
        elif res["load"] == "idle":
            L += [""] + idle_table(res)
        elif res["load"] == "callgrind":
            L += [""] + callgrind_table(res) + callgrind_top(res)
        elif res["load"] == "micro":
            keys, tables = micro_tables(res)
            L += ["", "Pinned to core 0, except `loop_post_bench` (cross-thread: both cores). "
                  "Debian's libbenchmark warns that it was built as a debug library; that "
                  "concerns its own bookkeeping, not the code measured.", ""]
            if keys:
                L += ["Timers, the numbers that matter:", ""] + keys
            L += tables
        for note in res["notes"]:
            L += ["", note]
        for label, why in res["skipped"].items():
            L += ["", f"{label} skipped: {why}."]
        L.append("")
    L += ["## Commands", "", "Build: `cmake -S . -B build -DCMAKE_BUILD_TYPE=Release && "
          "cmake --build build -j` and `make -C bench/peers OUT=build/peers`. `PORT` is the port "
          "the server announced (`listening on HOST:PORT`); every server gets "
          "`--host 127.0.0.1 --port 0`.", ""]
    for cid, res in results["cases"].items():
        cmds = res.get("commands", {})
        if not cmds:
            continue
        L += [f"`{cid}`:", "", "```"]
        for label, c in cmds.items():
            if isinstance(c, (list, tuple)):
                L.append(f"# {label}\n{c[0]}\n{c[1]}")
            else:
                L.append(f"# {label}\n{c.replace(str(ROOT) + '/', '')}")
        L += ["```", ""]
    md.write_text("\n".join(L).rstrip() + "\n")
    return md, png


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--quick", action="store_true", help="1 round, short runs, fewer cases")
    ap.add_argument("--rounds", type=int, help="rounds per case (default 3; --quick 1)")
    ap.add_argument("--only", help="comma-separated case ids or patterns, e.g. 'echo-*,micro'")
    ap.add_argument("--list", action="store_true", help="list the cases and exit")
    ap.add_argument("--no-build", action="store_true", help="use the binaries as they are")
    ap.add_argument("--out", help="where performance.md/.png go (default: docs/ for a full run)")
    ap.add_argument("--report-only", action="store_true",
                    help="rewrite the report from bench/results/results.json, measure nothing")
    args = ap.parse_args()
    if args.report_only:
        results = json.loads((RESULTS / "results.json").read_text())
        full = not results.get("quick") and "--only" not in results["command"]
        md, png = write_report(results, Path(args.out) if args.out else (DOCS if full else RESULTS))
        log(f"wrote {md} and {png}")
        return 0

    nofile = raise_nofile()
    cases = make_cases(args.quick, nofile)
    if args.list:
        for c in cases:
            print(f"{c.id:18} {'quick ' if c.quick else '      '}{c.title}")
        return 0
    if args.only:
        pats = [p.strip() for p in args.only.split(",") if p.strip()]
        cases = [c for c in cases if any(fnmatch.fnmatch(c.id, p) for p in pats)]
        if not cases:
            sys.exit(f"--only {args.only}: no such case (see --list)")
    elif args.quick:
        cases = [c for c in cases if c.quick]
    rounds = max(1, min(args.rounds or (1 if args.quick else 3), 20))
    timing = Timing(0.5, 1.5) if args.quick else Timing(1.0, 4.0)
    full_run = not args.quick and not args.only
    out_dir = Path(args.out) if args.out else (DOCS if full_run else RESULTS)

    if not args.no_build:
        build()
    LOGS.mkdir(parents=True, exist_ok=True)
    for old in LOGS.glob("*.log"):
        old.unlink()
    try:  # the driver itself sleeps most of the time; keep it off the server's core
        os.sched_setaffinity(0, {int(CLIENT_CPUS)})
    except OSError:
        pass

    command = "python3 bench/run.py" + "".join(
        f" {a}" for a in sys.argv[1:])
    results = {"command": command, "machine": machine(), "nofile": nofile, "rounds": rounds,
               "timing": {"warmup": timing.warmup, "duration": timing.duration},
               "quick": args.quick, "cases": {}}
    kids = Children()

    def on_signal(signo, _frame):
        raise KeyboardInterrupt(f"signal {signo}")

    signal.signal(signal.SIGTERM, on_signal)
    signal.signal(signal.SIGHUP, on_signal)
    started = time.monotonic()
    tmp = Path(tempfile.mkdtemp(prefix="reactor-bench."))
    try:
        for case in cases:
            run_case(case, kids, timing, rounds, tmp, results)
            save(results)
    except KeyboardInterrupt:
        log("interrupted: the report covers the cases that finished")
    finally:
        kids.kill_all()
        shutil.rmtree(tmp, ignore_errors=True)
    results["machine"]["loadavg_end"] = Path("/proc/loadavg").read_text().split()[:3]
    results["elapsed_s"] = round(time.monotonic() - started)
    save(results)
    md, png = write_report(results, out_dir)
    log(f"wrote {md} and {png} ({results['elapsed_s']} s)")
    return 0


def save(results):
    RESULTS.mkdir(parents=True, exist_ok=True)
    (RESULTS / "results.json").write_text(json.dumps(results, indent=1, default=str))


if __name__ == "__main__":
    sys.exit(main())
