"""Instructions per message: each server under valgrind --tool=callgrind for a fixed workload."""
import os
import re
import socket
import subprocess
import tempfile
import time
from pathlib import Path

from .common import HOST, LOGS, PEER_SRC, SERVER_CPUS, BenchError, log, slug
from .processes import free_port, read_line, wait_accepting
from .targets import TARGETS


def render(template, out, workdir, port):
    text = Path(template).read_text()
    for key, value in {"@DIR@": str(workdir), "@HOST@": HOST, "@PORT@": str(port),
                       "@ADDR@": f"{HOST}:{port}"}.items():
        text = text.replace(key, value)
    Path(out).write_text(text)


def direct_command(entry, workdir):
    """The serving program itself (valgrind must run it, not a wrapper) and its port;
    port 0 means the program announces the port it bound."""
    t = TARGETS[entry.target]
    if t.comm == "nginx":
        port = free_port()
        render(PEER_SRC / "nginx.conf.in", workdir / "nginx.conf", workdir, port)
        return ["nginx", "-p", workdir, "-c", workdir / "nginx.conf", "-e", "stderr"], port
    if t.comm == "h2o":
        port = free_port()
        render(PEER_SRC / "h2o.conf.in", workdir / "h2o.conf", workdir, port)
        (workdir / "hello.txt").write_text("Hello, world!")
        return ["h2o", "-m", "worker", "-c", workdir / "h2o.conf"], port
    return [*t.cmd, *entry.extra, "--host", HOST, "--port", "0"], 0


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


def callgrind_run(kids, entry, kind, count, tmp, log_path, connections=10):
    workdir = Path(tempfile.mkdtemp(dir=tmp))
    out = workdir / "callgrind.out"
    cmd, port = direct_command(entry, workdir)
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
        fixed_workload(kind, port, count, connections)
    finally:
        rc = kids.stop(proc, grace=120)
    path = Path(f"{out}.{proc.pid}")
    if not path.exists():
        raise BenchError(f"valgrind left no output (exit {rc})")
    return callgrind_total(path), annotate(path), " ".join(str(c) for c in full)


def callgrind_case(case, kids, tmp, record):
    count, kind = case.params["count"], case.params["kind"]
    connections = case.params.get("connections", 10)
    for e in case.entries:
        log_path = LOGS / f"{case.id}-{slug(e.label)}.log"
        try:
            base, base_fn, cmd = callgrind_run(kids, e, kind, 0, tmp, log_path, connections)
            full, full_fn, _ = callgrind_run(kids, e, kind, count, tmp, log_path, connections)
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
