"""CPU time, RSS and descriptor counts of a running process, from /proc."""
import os
import time

from .common import TICK, BenchError


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
