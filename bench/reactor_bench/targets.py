"""The servers under test (reactor, raw epoll C, the peers) and how to start one pinned."""
import os
import re
import shutil
import subprocess
from dataclasses import dataclass, field

from .common import (BIN, NOTRACE_BIN, HOST, PEER_BIN, PEER_SRC, PYTHON, SERVER_CPUS, TLS_CERT,
                     TLS_KEY, BenchError)
from .processes import find_descendant, read_line


@dataclass
class Target:
    key: str
    kind: str  # "echo" or "http"
    # "reactor", "co" (reactor's coroutine layer), "baseline" (reactor without trace mode's
    # hooks), "raw" (hand-written epoll C) or "peer"
    role: str
    cmd: list
    comm: str = ""  # when cmd is a wrapper: the name of the process that serves
    needs: str = ""  # a file or program that must exist
    python_module: str = ""


TARGETS = {t.key: t for t in [
    Target("reactor", "echo", "reactor", [BIN / "reactor", "echo"], needs=str(BIN / "reactor")),
    Target("co_echo", "echo", "co", [BIN / "examples" / "co_echo"],
           needs=str(BIN / "examples" / "co_echo")),
    Target("reactor notrace", "echo", "baseline", [NOTRACE_BIN / "reactor", "echo"],
           needs=str(NOTRACE_BIN / "reactor")),
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
    # HTTPS: the same certificate (made by tls.prepare) for both
    Target("reactor https", "http", "reactor",
           [BIN / "reactor", "http", "--tls-cert", TLS_CERT, "--tls-key", TLS_KEY],
           needs=str(BIN / "reactor")),
    Target("nginx https", "http", "peer",
           ["bash", PEER_SRC / "run_nginx_tls.sh", "--tls-cert", TLS_CERT, "--tls-key", TLS_KEY],
           comm="nginx", needs="nginx"),
]}


ECHO_ALL = ["reactor", "epoll C", "libevent", "libev", "libuv", "asio", "py selectors",
            "py asyncio", "py uvloop"]


ECHO_NATIVE = ECHO_ALL[:6]
HTTP_ALL = ["reactor http", "epoll C http", "nginx", "h2o", "evhttp"]
HTTPS_ALL = ["reactor https", "nginx https"]


PY_NOTE = ("The Python peers run only in the cheap ping-pong cases: each would spend most of "
           "a round at 100 % CPU here without telling anything new.")


@dataclass
class Entry:
    """One column of a case: a target, possibly with extra arguments or other cores."""
    label: str
    target: str
    extra: list = field(default_factory=list)
    server_cpus: str = SERVER_CPUS


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
