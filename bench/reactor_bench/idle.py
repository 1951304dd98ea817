"""RSS per idle connection, and a fresh client's round trips while they are held."""
import math
import re
import socket
import statistics
import subprocess
import time

from .common import BIN, CLIENT_CPUS, HOST, BenchError
from .processes import LineWatcher
from .procstat import fd_count, rss_bytes


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
