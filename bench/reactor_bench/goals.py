"""The goals the project has set itself (issues 7, 9, 10 and 11), checked against a run's results."""
import statistics

from .stats import good, num

# (case, what is compared, limit, text). "ratio:PEER" compares reactor's median server CPU
# per unit with PEER's; "ir" and "bytes" compare reactor's own figure with an absolute limit;
# "co:..." measures the coroutine example (role "co") instead of reactor. "ir-ratio:PEER"
# compares instruction counts (callgrind) instead of CPU time. "trace-share": see trace_share();
# "metrics-share": see metrics_share().
GOALS = [
    ("http-keepalive", "ratio:nginx", 0.85, "HTTP keep-alive: server CPU per request ≤ 0.85× nginx"),
    ("http-keepalive", "ratio:h2o", 0.75, "HTTP keep-alive: server CPU per request ≤ 0.75× h2o"),
    ("callgrind-http", "ir", 1500, "HTTP keep-alive: ≤ 1,500 instructions per minimal request"),
    ("callgrind-echo", "ir", 250, "Echo: ≤ 250 instructions per message"),
    ("http-close", "ratio:h2o", 1.0, "New connection per request: server CPU per connection ≤ 1.0× h2o"),
    ("idle-10k", "bytes", 96, "Idle memory: ≤ 96 B per connection at 10,000"),
    ("idle-100k", "bytes", 96, "Idle memory: ≤ 96 B per connection at 19,000"),
    ("callgrind-trace", "trace-share", 0.005,
     "Trace mode off: server CPU per echo message ≤ 1.005× the hooks compiled out"),
    ("co-echo", "co:ratio:reactor", 1.03,
     "Coroutine echo: server CPU per message ≤ 1.03× the callback echo"),
    ("callgrind-metrics", "metrics-share", 0.01,
     "Metrics on: server CPU per HTTP request ≤ 1.01× metrics off (one connection, the worst "
     "case)"),
    ("callgrind-metrics-10", "metrics-share", 0.01,
     "Metrics on: server CPU per HTTP request ≤ 1.01× metrics off (10 connections)"),
    ("https-keepalive", "ratio:nginx https", 0.90,
     "HTTPS keep-alive: server CPU per request ≤ 0.90× nginx"),
    ("https-close", "ratio:nginx https", 1.0,
     "HTTPS, full handshake per connection: server CPU per connection ≤ 1.0× nginx"),
    ("https-resume", "ratio:nginx https", 1.0,
     "HTTPS, resumed handshake per connection: server CPU per connection ≤ 1.0× nginx"),
    ("idle-tls-10k", "ratio:nginx https", 1.0,
     "Idle TLS connection: RSS per connection ≤ nginx's, at 10,000"),
]


def reactor_entry(res, role="reactor"):
    return next((e for e in res["entries"] if e["role"] == role), None)


def measure(res, kind):
    """(the subject's figure as text, the value compared with the limit) or None."""
    role = "reactor"
    if kind.startswith("co:"):
        role, kind = "co", kind[3:]
    me = reactor_entry(res, role)
    mine = good(res, me["label"]) if me else []
    if not mine:
        return None
    if kind in ("ir", "bytes"):
        value = mine[0]["rate"]
        return f"{value:,.0f}", value
    what, peer = kind.split(":", 1)
    theirs = good(res, peer)
    if not theirs:
        return None
    if what == "ir-ratio":
        cost, base = mine[0]["rate"], theirs[0]["rate"]
        return f"{cost / base:.3f}× ({cost:,.0f} against {base:,.0f} Ir)", cost / base
    cost = statistics.median(s["cpu_us"] for s in mine)
    base = statistics.median(s["cpu_us"] for s in theirs)
    unit = "B" if res["unit"] == "B/conn" else "µs"  # an idle case compares RSS, not CPU
    return f"{cost / base:.2f}× ({num(cost)} against {num(base)} {unit})", cost / base


def trace_share(results):
    """What trace mode's hooks add to the server's CPU per message while tracing is off.
    Too small to see in CPU time on a noisy machine, so: the extra user-space instructions
    per message (callgrind-trace: shipped vs hooks compiled out, exact) as a share of all
    user-space instructions, times the user share of the server's CPU per message
    (trace-off: user / (user + sys) of the hooks-compiled-out build). The hooks add no
    system call, so they add no kernel time."""
    ir = results["cases"].get("callgrind-trace")
    cpu = results["cases"].get("trace-off")
    shipped = good(ir, "reactor") if ir else []
    bare = good(ir, "hooks compiled out") if ir else []
    timed = good(cpu, "hooks compiled out") if cpu else []
    if not (shipped and bare and timed):
        return None
    extra = shipped[0]["rate"] / bare[0]["rate"] - 1
    user = statistics.median(s["user_us"] / s["cpu_us"] for s in timed)
    share = extra * user
    return (f"+{share * 100:.2f} % (instructions +{extra * 100:.2f} % × user share of CPU "
            f"{user * 100:.0f} %)", share)


def metrics_share(results, case):
    """What metrics add to the server's CPU per HTTP request, estimated as trace_share()
    does: the extra user-space instructions per request (`case`: `reactor http --metrics`
    against `reactor http`, exact under callgrind) times the user share of the server's CPU
    per request (metrics-http: user / (user + sys) of `reactor http`, metrics off). Metrics
    add no system call, so no kernel time."""
    ir = results["cases"].get(case)
    cpu = results["cases"].get("metrics-http")
    on = good(ir, "reactor http --metrics") if ir else []
    off = good(ir, "reactor http") if ir else []
    timed = good(cpu, "reactor http") if cpu else []
    if not (on and off and timed):
        return None
    cost, base = on[0]["rate"], off[0]["rate"]
    extra = cost / base - 1
    user = statistics.median(s["user_us"] / s["cpu_us"] for s in timed)
    share = extra * user
    return (f"{1 + share:.4f}× (instructions {cost / base:.3f}×: {cost:,.0f} against "
            f"{base:,.0f} Ir, × user share of CPU {user * 100:.0f} %)", share)


def goal_rows(results, only=None):
    """The goals table; `only`: just the goals of these cases."""
    rows = ["| goal | measured | verdict |", "| --- | --- | --- |"]
    for case, kind, limit, text in GOALS:
        if only is not None and case not in only:
            continue
        res = results["cases"].get(case)
        if kind == "trace-share":
            got = trace_share(results)
        elif kind == "metrics-share":
            got = metrics_share(results, case)
        else:
            got = measure(res, kind) if res else None
        if got is None:
            rows.append(f"| {text} | – | not measured in this run |")
            continue
        shown, value = got
        rows.append(f"| {text} | {shown} | {'met' if value <= limit else '**not met**'} |")
    return rows
