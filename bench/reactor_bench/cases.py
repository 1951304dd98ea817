"""Every benchmark case: what load, which targets, which parameters."""
from dataclasses import dataclass, field

from .common import read_int
from .targets import ECHO_ALL, ECHO_NATIVE, HTTP_ALL, HTTPS_ALL, PY_NOTE, Entry


@dataclass
class Case:
    id: str
    title: str
    # "echo", "wrk", "idle", "callgrind", "micro", or for TLS "handshake" (tls_load),
    # "tls-idle", "tls-check" (what is negotiated) and "ktls" (the probe)
    load: str
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
        Case("co-echo", "Coroutine echo (co_echo) vs callback echo: ping-pong, 100 x 64 B", "echo",
             entries(["reactor", "co_echo"]),
             {"mode": "pingpong", "connections": 100, "size": 64}, quick=True,
             notes=["examples/co_echo.cc: the same server written with co::Server and "
                    "`co_await read_some / write`, on the same loop and connections."]),
        Case("callgrind-echo", "Instructions per echo message (callgrind)", "callgrind",
             entries(ECHO_NATIVE + ["co_echo"]), {"kind": "echo", "count": 2000 if quick else 20000},
             unit="Ir/msg", quick=True, rounds=1),
        Case("trace-off", "Trace mode off vs compiled out: echo ping-pong, 100 connections x 64 B",
             "echo", [Entry("reactor", "reactor"), Entry("hooks compiled out", "reactor notrace")],
             {"mode": "pingpong", "connections": 100, "size": 64}, quick=True,
             notes=["The same program with trace mode's hooks compiled out "
                    "(`-DREACTOR_TRACE=OFF`, build-notrace/). The difference is far below this "
                    "machine's noise; the goal row derives it from the instruction counts of "
                    "`callgrind-trace` instead (see there)."]),
        Case("callgrind-trace", "Trace mode's cost: instructions per echo message (callgrind)",
             "callgrind",
             [Entry("reactor", "reactor"), Entry("hooks compiled out", "reactor notrace"),
              Entry("reactor --trace", "reactor", ["--trace"])],
             {"kind": "echo", "count": 2000 if quick else 20000, "connections": 1},
             unit="Ir/msg", quick=True, rounds=1,
             notes=["One connection, so that every message is one loop iteration and the "
                    "count does not depend on how events happened to batch. "
                    "`reactor echo` as shipped (trace mode off), the same program built with "
                    "`-DREACTOR_TRACE=OFF` (the hooks compiled out), and with `--trace` "
                    "(its lines go to the log file)."]),
        Case("callgrind-http", "Instructions per HTTP request (callgrind)", "callgrind",
             entries(HTTP_ALL), {"kind": "http", "count": 2000 if quick else 20000},
             unit="Ir/req", quick=True, rounds=1),
        Case("metrics-http", "Metrics on vs off: HTTP keep-alive, 100 connections (wrk)", "wrk",
             [Entry("reactor http", "reactor http"),
              Entry("reactor http --metrics", "reactor http", ["--metrics", "127.0.0.1:0"])],
             {"connections": 100}, unit="req", quick=True,
             notes=["The difference is below this machine's noise; the goal rows derive it "
                    "from the instruction counts of `callgrind-metrics` and "
                    "`callgrind-metrics-10` times the user share of CPU measured here."]),
        Case("callgrind-metrics", "Metrics' cost: instructions per HTTP request (callgrind)",
             "callgrind",
             [Entry("reactor http", "reactor http"),
              Entry("reactor http --metrics", "reactor http", ["--metrics", "127.0.0.1:0"])],
             {"kind": "http", "count": 2000 if quick else 20000, "connections": 1},
             unit="Ir/req", quick=True, rounds=1,
             notes=["One connection, so that every request is one loop iteration: the worst "
                    "case, the loop's own accounting is paid once per request. `reactor "
                    "http` as shipped (no loop measures itself) and with `--metrics` (every "
                    "loop measures itself, every response is counted; nobody scrapes)."]),
        Case("callgrind-metrics-10",
             "Metrics' cost: instructions per HTTP request, 10 connections (callgrind)",
             "callgrind",
             [Entry("reactor http", "reactor http"),
              Entry("reactor http --metrics", "reactor http", ["--metrics", "127.0.0.1:0"])],
             {"kind": "http", "count": 2000 if quick else 20000, "connections": 10},
             unit="Ir/req", quick=True, rounds=1,
             notes=["As callgrind-http: 10 connections, so an iteration carries several "
                    "requests and the loop's accounting is shared among them."]),
        Case("micro", "Micro-benchmarks (Google Benchmark)", "micro", [], quick=True, rounds=1),
    ] + tls_cases(quick)
    if quick:  # fewer targets where a case is slow per target
        for c in cases:
            if c.load == "callgrind":
                keep = {"reactor", "co_echo", "epoll C", "reactor http", "epoll C http"}
                c.entries = [e for e in c.entries if e.target in keep]
            if c.load == "idle":
                c.entries = [e for e in c.entries if e.target in ("reactor", "epoll C")]
    return cases


# The cases of the TLS section (report.tls_section), in its order.
TLS_CASES = ["tls-check", "https-keepalive", "https-close", "https-resume", "idle-tls-10k", "ktls"]


def tls_cases(quick):
    n = 1000 if quick else 10000
    return [
        Case("tls-check", "HTTPS: what each server negotiates (openssl s_client)", "tls-check",
             entries(HTTPS_ALL), {"tls": True}, quick=True, rounds=1),
        Case("https-keepalive", "HTTPS keep-alive, 100 connections (wrk)", "wrk",
             entries(HTTPS_ALL), {"connections": 100, "tls": True}, unit="req"),
        Case("https-close", "HTTPS new connection per request, full handshake, 100 concurrent "
             "(tls_load)", "handshake", entries(HTTPS_ALL),
             {"connections": 100, "tls": True, "tools": ["tls_load"]}, unit="conn"),
        Case("https-resume", "HTTPS new connection per request, resumed handshake, 100 "
             "concurrent (wrk)", "wrk", entries(HTTPS_ALL),
             {"connections": 100, "close": True, "tls": True}, unit="conn"),
        Case(f"idle-tls-{n // 1000}k", f"Idle TLS connections: RSS per connection at {n:,}",
             "tls-idle",
             # nginx keeps an idle keep-alive connection 300 s: so does reactor here
             [Entry("reactor https", "reactor https", ["--idle-timeout", "300000"]),
              Entry("nginx https", "nginx https")],
             {"connections": n, "tls": True, "tools": ["tls_load"]}, unit="B/conn"),
        Case("ktls", "Kernel TLS: what this kernel and OpenSSL allow (bench/kernel/ktls_probe.c)",
             "ktls", [], {"tls": True, "tools": ["ktls_probe"]}, quick=True, rounds=1),
    ]
