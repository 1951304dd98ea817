"""One measured run of an echo or wrk load: CPU per message over the measured window only."""
import math
import re
import subprocess
import time
from dataclasses import dataclass

from .common import (BIN, CLIENT_BOUND_CLIENT, CLIENT_BOUND_SERVER, CLIENT_CPUS, HOST, MARGIN,
                     PIPELINE_LUA, BenchError, parse_kv)
from .idle import idle_load
from .processes import LineWatcher, sleep_until
from .procstat import Window
from .targets import start_server
from .tls import tls_idle_load, tls_load_command


@dataclass
class Timing:
    warmup: float
    duration: float


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
    cmd.append(f"{'https' if params.get('tls') else 'http'}://{HOST}:{port}/")
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
        elif case.load == "handshake":
            sample = handshake_load(case, kids, port, pid, timing, log_path)
        elif case.load == "tls-idle":
            sample = tls_idle_load(case, kids, port, pid, log_path)
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


def echo_load(case, kids, port, server_pid, timing, log_path, window=Window):
    p = case.params
    cmd = echo_client_command(p, port, timing)
    client = kids.spawn(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    try:
        watcher = LineWatcher(client.stderr, "connected", log_path)
        t_conn = watcher.wait(40)
        if t_conn is None:
            raise BenchError("load generator never finished connecting: "
                             + " | ".join(watcher.lines[-3:]))
        win = window(server_pid, client.pid)
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


def timed_run(name, cmd, kids, server_pid, timing, log_path, window, end_margin):
    """Runs a load generator that measures for timing.duration after timing.warmup; the
    server's CPU window opens a margin after the warm-up and closes `end_margin` seconds
    after the duration (negative: before). Returns (exit status, output, window); the
    output is appended to log_path."""
    t0 = time.monotonic()
    client = kids.spawn(cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
    try:
        win = window(server_pid, client.pid)
        sleep_until(t0 + timing.warmup + MARGIN)
        win.start()
        sleep_until(t0 + timing.warmup + timing.duration + end_margin)
        win.end()
        out, _ = client.communicate(timeout=timing.warmup + timing.duration + 30)
        out = out.decode(errors="replace")
    except subprocess.TimeoutExpired:
        raise BenchError(f"{name} did not finish in time")
    finally:
        kids.stop(client)
    with open(log_path, "a") as log:
        log.write(out)
    return client.returncode, out, win


def wrk_load(case, kids, port, server_pid, timing, log_path, window=Window):
    rc, out, win = timed_run("wrk", wrk_command(case.params, port, timing), kids, server_pid,
                             timing, log_path, window, MARGIN)
    m = re.search(r"Requests/sec:\s+([\d.]+)", out)
    if rc != 0 or not m:
        raise BenchError(f"wrk exit {rc}: {out.strip()[-300:]}")
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


def handshake_load(case, kids, port, server_pid, timing, log_path, window=Window):
    """tls_load --mode full: a new connection and a full TLS handshake per request."""
    rc, out, win = timed_run("tls_load", tls_load_command(case.params, port, timing), kids,
                             server_pid, timing, log_path, window, -MARGIN)
    kv = parse_kv(out)
    if rc != 0 or "connections_per_sec" not in kv:
        raise BenchError(f"tls_load exit {rc}: {out.strip()[-300:]}")
    if int(kv["resumed"]):  # the point of the case: no handshake may resume
        raise BenchError(f"{kv['resumed']} of {kv['completed']} handshakes resumed")
    extra = {"p50_us": float("nan"), "p99_us": float("nan"), "errors": int(kv["errors"])}
    return finish_sample(case, win, float(kv["connections_per_sec"]), extra)
