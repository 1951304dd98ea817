"""The machine description, the descriptor limit and the build step."""
import os
import platform
import resource
import subprocess
import sys
from pathlib import Path

from .common import BUILD, NOTRACE_BIN, PEER_BIN, PEER_SRC, ROOT, log, now_iso, parse_kv, read_int, sh


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
             ["cmake", "-S", ROOT, "-B", NOTRACE_BIN.parent, "-DCMAKE_BUILD_TYPE=Release",
              "-DREACTOR_TRACE=OFF", "-DREACTOR_BUILD_TESTS=OFF", "-DREACTOR_BUILD_BENCH=OFF",
              "-DREACTOR_BUILD_EXAMPLES=OFF"],
             ["cmake", "--build", NOTRACE_BIN.parent, "-j", str(os.cpu_count() or 2),
              "--target", "reactor_cli"],
             ["make", "-C", PEER_SRC, f"OUT={PEER_BIN}"]]
    for step in steps:
        log("$ " + " ".join(str(s) for s in step))
        r = subprocess.run([str(s) for s in step], stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                           text=True, timeout=1800)
        if r.returncode != 0:
            sys.exit(f"build step failed:\n{r.stdout[-3000:]}")
