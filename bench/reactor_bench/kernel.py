"""Where the server's kernel time per message goes: system-call entry/exit against the
rest (TCP over loopback, epoll, copies), for the echo and HTTP keep-alive cases.

Three kinds of run, each on a fresh server, the targets in turn round after round:
- plain: the server's CPU per message (utime + stime from /proc), as in the other cases;
- counted: the same with `perf stat` counting the server's system calls (tracepoints);
- profile (first round only): `perf record -e cpu-clock -g` on the server, each kernel
  sample put in a class by the functions on its stack.
And the cost of an empty system call on this machine, from bench/kernel/syscall_cost.c
(pinned like the server, timed with its own thread CPU clock).
"""
import argparse
import json
import os
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from .common import (BUILD, CLIENT_CPUS, DOCS, LOGS, RESULTS, ROOT, SERVER_CPUS, BenchError, log,
                     now_iso, slug, splice)
from .cases import make_cases
from .machine import raise_nofile
from .measurement import Timing, echo_load, wrk_load
from .processes import Children
from .procstat import Window
from .runner import command_template
from .stats import num, spread
from .targets import TARGETS, start_server

SYSCALLS = ["epoll_wait", "epoll_pwait", "read", "write", "readv", "writev", "recvfrom",
            "sendto", "recvmsg", "sendmsg", "epoll_ctl", "accept4", "close"]
COST_SRC = ROOT / "bench" / "kernel" / "syscall_cost.c"
COST_BIN = BUILD / "bench-tools" / "syscall_cost"
PERF_EVENTS = ["raw_syscalls:sys_enter"] + [f"syscalls:sys_enter_{s}" for s in SYSCALLS]

# A kernel sample is "syscall entry/exit" when its innermost function (skipping interrupt
# flag and lock helpers, where a paravirtual guest's timer samples tend to land) is entry
# or exit code or the thin per-call part of a system call (descriptor lookup, the
# __sys_* wrapper). Otherwise it goes to the class of the innermost function on its stack
# that matches one; matching none, it is "other kernel" (page faults, timers, ...).
ENTRY_EXIT = re.compile(
    r"^_*(entry_SYSCALL|do_syscall_64|syscall_|exit_to_user_mode|x64_sys_|sys_|fdget|fget|"
    r"fput|sockfd_lookup|ksys_|rw_verify_area|import_iovec|import_single_range)")
HELPER = re.compile(r"^_*(pvm_|raw_callee_save|raw_spin_unlock|raw_spin_lock|native_)")
CLASSES = [
    ("TCP/IP and loopback", re.compile(
        r"^_*(tcp_|inet|ip_|ipv4_|sk_|sock|skb_|kfree_skb|consume_skb|alloc_skb|loopback_|"
        r"dev_|netif_|net_|napi_|process_backlog|do_softirq|release_sock|lock_sock|nf_|"
        r"validate_xmit|sch_direct|qdisc|security_socket|kmalloc_reserve|dst_)")),
    ("epoll", re.compile(r"^_*(ep_|do_epoll|epoll)")),
    ("copy to/from user", re.compile(r"(copy_user|copy_to_iter|copy_from_iter|copyin|"
                                     r"copyout|rep_movs|copy_to_user|copy_from_user)")),
]


def sample_class(frames):
    """The class of one sample from its kernel frames, innermost first."""
    if not frames:
        return "user"
    inner = [f for f in frames if not HELPER.match(f)]
    if inner and ENTRY_EXIT.match(inner[0]):
        return "syscall entry/exit"
    return next((name for f in frames for name, rx in CLASSES if rx.search(f)), "other kernel")


def syscall_cost(kids, log_path, calls=1000000, rounds=7):
    """({kind: (median, min, max) ns} of an empty system call, pinned like the server;
    the command shown in the report)."""
    COST_BIN.parent.mkdir(parents=True, exist_ok=True)
    subprocess.run(["cc", "-O2", "-Wall", "-Wextra", "-Werror", "-o", str(COST_BIN),
                    str(COST_SRC)], check=True, timeout=120)
    cmd = ["taskset", "-c", SERVER_CPUS, str(COST_BIN), str(calls), str(rounds)]
    proc = kids.spawn(cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
    try:
        out, _ = proc.communicate(timeout=300)
    finally:
        kids.stop(proc)
    text = out.decode(errors="replace")
    with open(log_path, "a") as f:
        f.write(" ".join(cmd) + "\n" + text)
    costs = {}
    for line in text.splitlines():
        parts = line.split()
        if len(parts) == 4:
            costs[parts[0]] = tuple(float(v) for v in parts[1:])
    if proc.returncode != 0 or len(costs) != 2:
        raise BenchError(f"syscall_cost failed: {text[-200:]}")
    return costs, " ".join(cmd).replace(str(ROOT) + "/", "")


def perf_window(argv_for_pid, sink):
    """A Window that also runs `perf` on the server over the measured window and puts
    perf's output in `sink` (a list) when the window closes."""

    class PerfWindow(Window):
        def start(self):
            self.perf = subprocess.Popen(argv_for_pid(self.server_pid), stdin=subprocess.DEVNULL,
                                         stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                                         start_new_session=True)
            time.sleep(0.3)  # perf has attached before the window opens
            super().start()

        def end(self):
            super().end()
            self.perf.send_signal(signal.SIGINT)
            try:
                sink.append(self.perf.communicate(timeout=120)[0].decode(errors="replace"))
            except subprocess.TimeoutExpired:
                self.perf.kill()
                self.perf.communicate()

    return PerfWindow


def count_argv(pid):
    """Counts every system call and the main kinds; duration_time gives perf's own span."""
    return ["perf", "stat", "-x,", "-e", ",".join(["duration_time"] + PERF_EVENTS), "-p", str(pid)]


def record_argv(path):
    return lambda pid: ["perf", "record", "-q", "-e", "cpu-clock", "-F", "2000", "-g",
                        "-o", str(path), "-p", str(pid)]


def parse_counts(text):
    """{'all': n, 'read': n, ..., 'seconds': s} from `perf stat -x,` output."""
    counts = {}
    for line in text.splitlines():
        fields = line.split(",")
        if len(fields) < 3 or not fields[0].isdigit():
            continue
        if fields[2] == "duration_time":
            counts["seconds"] = int(fields[0]) / 1e9
        elif fields[2] == "raw_syscalls:sys_enter":
            counts["all"] = int(fields[0])
        elif fields[2].startswith("syscalls:sys_enter_"):
            counts[fields[2][len("syscalls:sys_enter_"):]] = int(fields[0])
    if "all" not in counts or not counts.get("seconds"):
        raise BenchError(f"perf stat gave no counts: {text.strip()[-300:]}")
    return counts


def classify(script_text):
    """{class: share of the samples} from `perf script` output with call chains."""
    totals, n = {}, 0
    for block in script_text.split("\n\n"):
        if not block.strip():
            continue
        lines = [ln.split() for ln in block.strip().splitlines()[1:]]
        cls = sample_class([f[1].split("+")[0] for f in lines
                            if len(f) >= 3 and "kernel.kallsyms" in f[-1]])
        totals[cls] = totals.get(cls, 0) + 1
        n += 1
    return {k: v / n for k, v in totals.items()} if n else {}


# ----------------------------------------------------------------------------------------
# Running


def one_run(case, entry, kids, timing, mode, tmp, log_path):
    """One fresh server under `case`'s load; `mode` is plain, counted or profile."""
    sink, data = [], Path(tmp) / f"perf-{slug(entry.label)}.data"
    window = {"plain": Window, "counted": perf_window(count_argv, sink),
              "profile": perf_window(record_argv(data), sink)}[mode]
    proc, port, pid = start_server(kids, entry, log_path)
    try:
        time.sleep(0.2)
        load = echo_load if case.load == "echo" else wrk_load
        sample = load(case, kids, port, pid, timing, log_path, window=window)
        if proc.poll() is not None:
            raise BenchError(f"server exited with status {proc.returncode} during the run")
    finally:
        kids.stop(proc)
    sample["mode"] = mode
    if mode == "counted":
        counts = parse_counts(sink[0] if sink else "")
        messages = sample["rate"] * counts["seconds"]
        sample["per_msg"] = {k: v / messages for k, v in counts.items() if k != "seconds"}
    elif mode == "profile":
        script = subprocess.run(["perf", "script", "-i", str(data)], capture_output=True,
                                text=True, timeout=300).stdout
        sample["classes"] = classify(script)
        sample["profile_samples"] = script.count("cpu-clock:")
    return sample


def run(kids, cases, timing, rounds, tmp):
    """The cost of an empty system call, then the rounds; returns the results (a dict)."""
    log_path = LOGS / "kernel-syscall-cost.log"
    results = {"cost": [], "runs": {}, "commands": {}}
    costs, results["commands"]["syscall_cost"] = syscall_cost(kids, log_path)
    results["cost"].append(costs)
    for r in range(rounds):
        modes = ["plain", "counted"] + (["profile"] if r == 0 else [])
        for case in cases:
            for entry in case.entries:
                for mode in modes:
                    key = f"{case.id}/{entry.label}"
                    try:
                        s = one_run(case, entry, kids, timing, mode, tmp,
                                    LOGS / f"kernel-{case.id}-{slug(entry.label)}.log")
                    except (BenchError, OSError, subprocess.SubprocessError) as err:
                        s = {"mode": mode, "error": str(err)}
                        log(f"  r{r + 1} {key:28} {mode:8} FAILED: {err}")
                    else:
                        log(f"  r{r + 1} {key:28} {mode:8} {s['cpu_us']:.2f} us/{case.unit}"
                            + (f", {s['per_msg']['all']:.2f} syscalls/{case.unit}"
                               if "per_msg" in s else ""))
                    results["runs"].setdefault(key, []).append(s)
    costs, _ = syscall_cost(kids, log_path)  # again at the end: the machine drifts
    results["cost"].append(costs)
    return results


# ----------------------------------------------------------------------------------------
# Report section


BEGIN, END = "<!-- kernel-split: begin -->", "<!-- kernel-split: end -->"


def empty_call_ns(results):
    """Median over both kinds and both calibrations, with the lowest and highest."""
    meds = [v[0] for c in results["cost"] for v in c.values()]
    return spread(meds)


def samples(results, key, mode):
    return [s for s in results["runs"].get(key, []) if s.get("mode") == mode and "error" not in s]


def mmr(values, digits=3):
    med, lo, hi = spread(values)
    return f"{num(med, digits)} ({num(lo, digits)}–{num(hi, digits)})"


def split_rows(results, cases):
    """The main table, and {label: (entry/exit share of CPU per message)} for reactor."""
    ns = empty_call_ns(results)[0]
    rows = ["| case | target | server CPU µs per unit | user / sys µs | system calls per unit | "
            "main calls per unit | entry/exit µs per unit (calls × empty call) | "
            "entry/exit share of CPU | of sys |", "|" + " --- |" * 9]
    shares = {}
    for case in cases:
        for e in case.entries:
            key = f"{case.id}/{e.label}"
            plain, counted = samples(results, key, "plain"), samples(results, key, "counted")
            if not plain or not counted:
                rows.append(f"| {case.id} | {e.label} |" + " – |" * 7)
                continue
            cpu = spread([s["cpu_us"] for s in plain])[0]
            sys_us = spread([s["sys_us"] for s in plain])[0]
            calls = [s["per_msg"]["all"] for s in counted]
            entry_us = spread(calls)[0] * ns / 1000
            main = {k: spread([s["per_msg"].get(k, 0) for s in counted])[0] for k in SYSCALLS}
            main_txt = ", ".join(f"{k} {num(v)}" for k, v in sorted(main.items(), key=lambda kv: -kv[1])
                                 if v >= 0.005)
            rows.append(f"| {case.id} | {e.label} | {mmr([s['cpu_us'] for s in plain])} | "
                        f"{num(spread([s['user_us'] for s in plain])[0])} / {num(sys_us)} | "
                        f"{mmr(calls)} | {main_txt} | {num(entry_us)} | "
                        f"{entry_us / cpu * 100:.0f}% | {entry_us / sys_us * 100:.0f}% |")
            shares[key] = (entry_us / cpu, entry_us, cpu)
    return rows, shares


def profile_rows(results, cases):
    names = ["user", "syscall entry/exit", "TCP/IP and loopback", "epoll", "copy to/from user",
             "other kernel"]
    rows = ["| case | target | samples | server CPU µs per unit | " + " | ".join(names) + " |",
            "|" + " --- |" * (len(names) + 4)]
    for case in cases:
        for e in case.entries:
            for s in samples(results, f"{case.id}/{e.label}", "profile"):
                c = s["classes"]
                rows.append(f"| {case.id} | {e.label} | {s['profile_samples']:,} | "
                            f"{num(s['cpu_us'])} | "
                            + " | ".join(f"{c.get(n, 0) * 100:.0f}% ({num(c.get(n, 0) * s['cpu_us'])})"
                                         for n in names) + " |")
    return rows


def section(results, cases):
    ns_med, ns_lo, ns_hi = empty_call_ns(results)
    rows, shares = split_rows(results, cases)
    costs = results["cost"]
    cost_txt = "; ".join(f"{k} {num(v[0])} ns ({num(v[1])}–{num(v[2])})"
                         for c in costs for k, v in c.items())
    L = [BEGIN, "## Kernel time per message: system-call entry/exit against TCP", "",
         f"Generated by `{results['command']}` on {results['date']} (also the last step of "
         "`make bench`); the rest of this file is not regenerated by it. Load average "
         f"{results['loadavg'][0]} at the start and {results['loadavg'][1]} at the end, "
         "on 2 cores: the machine was shared with other work (compilers, tests) throughout, "
         "so every figure below is a median over rounds with the min–max beside it, and "
         "the absolute numbers are this noisy virtual machine's, not a quiet host's.", "",
         "**The question**: of the server's CPU per message, how much is the cost of "
         "entering and leaving the kernel once per system call, which io_uring could "
         "amortise (one `io_uring_enter` for many receives and sends), and how much is "
         "the work the kernel does anyway (TCP over loopback, epoll, copies), which it "
         "would not save.", "",
         "**An empty system call here** (`bench/kernel/syscall_cost.c`: 10⁶ "
         "`syscall(SYS_getppid)` and 10⁶ `read(-1, …)`, pinned to core "
         f"{SERVER_CPUS}, timed by the thread's own CPU clock, median of 7 rounds; run "
         f"before and after the rest): {cost_txt}. Taken as {num(ns_med)} ns per call. "
         "That is expensive: this guest runs with page-table isolation (PTI, "
         "`/sys/devices/system/cpu/vulnerabilities/meltdown`) under a paravirtual "
         "hypervisor, so each entry and exit switches page tables; on a bare-metal "
         "machine without PTI an empty call is typically an order of magnitude cheaper.", "",
         "**Method**: three kinds of run, each on a fresh server pinned to core "
         f"{SERVER_CPUS} with the load generator on core {CLIENT_CPUS}, the targets in turn "
         f"round after round ({results['rounds']} round(s), "
         f"{results['timing']['warmup']:g} s warm-up, {results['timing']['duration']:g} s "
         "measured): *plain* (server CPU per message from `/proc/PID/stat` utime + stime "
         "over the measured window, as in the cases above), *counted* (the same, with "
         "`perf stat` counting the server's system calls on the `raw_syscalls:sys_enter` "
         "and `syscalls:sys_enter_*` tracepoints over the window), and, in the first round, "
         "*profile* (`perf record -e cpu-clock -F 2000 -g` on the server; each sample "
         "goes to a class by its kernel stack: entry/exit when its innermost function is "
         "entry or exit code or the per-call part of a system call such as descriptor "
         "lookup, else TCP/IP, epoll or copy by the innermost function of those layers "
         "on the stack). Entry/exit per message = system calls per message × the empty "
         "call. Hardware counters are not available in this guest (`perf stat -e cycles` "
         "is not supported), so everything is time.", "",
         "Echo: 100 connections × 64 B ping-pong (`reactor bench echo`), per message. HTTP: "
         "keep-alive `GET /`, 100 connections (`wrk -t1`), per request. Server CPU and "
         "user / sys come from the plain runs, the system-call counts from the counted runs "
         "(tracepoint counting itself adds some kernel time, so their CPU is not used).", ""]
    L += rows + [""]
    prof = profile_rows(results, cases)
    if len(prof) > 2:
        L += ["Profile (first round): share of the server's samples by class, and that share "
              "of the run's CPU per unit in µs. The timer sample of a paravirtual guest "
              "tends to land where interrupts are re-enabled, so a sample is classed by its "
              "stack rather than by the function it landed in; treat these as a cross-check "
              "of the table above, not as a second measurement of the same precision.", ""]
        L += prof + [""]
    L += conclusion(shares, results) + [""]
    L += ["Commands:", "", "```",
          "cmake -S . -B build -DCMAKE_BUILD_TYPE=Release && cmake --build build -j2 --target reactor_cli",
          "make -C bench/peers OUT=$PWD/build/peers",
          results["command"], "# which runs, per target and round:",
          results["commands"]["syscall_cost"]]
    for c in results["commands"].get("runs", []):
        L.append(c)
    L += ["```", END]
    return "\n".join(L) + "\n"


def profile_note(results, key):
    prof = samples(results, key, "profile")
    if not prof:
        return ""
    c = prof[0]["classes"]
    parts = ", ".join(f"{name} {c.get(name, 0) * 100:.0f}%" for name in
                      ("syscall entry/exit", "TCP/IP and loopback", "epoll", "user"))
    return f" The profile agrees in kind: {parts}."


def user_over_raw(results):
    """{case: median user µs of reactor minus that of raw epoll C} from the plain runs."""
    out = {}
    for case, mine, raw in (("echo", "echo-pp-100x64/reactor", "echo-pp-100x64/epoll C"),
                            ("HTTP", "http-keepalive/reactor http", "http-keepalive/epoll C http")):
        a, b = samples(results, mine, "plain"), samples(results, raw, "plain")
        if a and b:
            out[case] = spread([s["user_us"] for s in a])[0] - spread([s["user_us"] for s in b])[0]
    return out


def conclusion(shares, results):
    """The verdict on io_uring, computed from reactor's shares (see the rule stated)."""
    mine = {k: v for k, v in shares.items() if k.endswith("/reactor") or k.endswith("/reactor http")}
    if not mine:
        return ["**Conclusion**: no complete reactor measurement in this run."]
    L = ["**Conclusion.** For reactor:"]
    for key, (share, entry_us, cpu) in mine.items():
        what = "echo, per message" if key.startswith("echo") else "HTTP keep-alive, per request"
        L.append(f"- {what}: {num(entry_us)} of {num(cpu)} µs is "
                 f"entry/exit, {share * 100:.0f}%; the other {num(cpu - entry_us)} µs is the "
                 "work of the calls themselves (TCP over loopback, epoll) and reactor's "
                 "user time." + profile_note(results, key))
    lo = min(v[0] for v in mine.values())
    hi = max(v[0] for v in mine.values())
    L += ["", f"That {lo * 100:.0f}–{hi * 100:.0f}% is the ceiling of what an io_uring "
          "backend could save per message on this machine: even with every receive and "
          "send of a loop iteration batched into one `io_uring_enter` (or none, with "
          "submission-queue polling, which costs a core), the TCP and copy work remains, "
          "and io_uring adds its own per-operation work (queue entries, completions run as "
          "task work) that this does not measure. In the other direction, the empty "
          "call leaves out the indirect cost of each crossing (with PTI, TLB and cache "
          "refills after the switch, which show up as user and kernel time of the code that "
          "follows), so the true share is somewhat higher than the figure. The rule applied here: worth building "
          "next if the ceiling is at least 25% in both cases, not worth it below 10%, "
          "a modest gain between."]
    if lo >= 0.25:
        verdict = ("**Worth building next** on machines like this one: system-call entry "
                   "and exit are a large enough part of the CPU per message that batching "
                   "them is the biggest single saving left in the kernel path.")
    elif hi < 0.10:
        verdict = ("**Not worth building next**: the kernel's CPU per message is the TCP "
                   "work itself, which io_uring does not remove.")
    else:
        verdict = ("**A modest gain, not the next thing to build on this evidence**: "
                   "batching could save part of the CPU per message at most, and less once "
                   "io_uring's own per-operation work is paid.")
    extra = user_over_raw(results)
    if extra:
        verdict += (" For scale, reactor's own user time above raw epoll C's, from the same "
                    "plain runs: " + "; ".join(f"{num(v)} µs ({k})" for k, v in extra.items())
                    + " per unit, to set against the entry/exit figures above.")
    cheap = [(e / 10) / (cpu - 0.9 * e) for _, e, cpu in mine.values()]
    L += ["", verdict + " On hardware where an empty system call costs a tenth of what it "
          "costs here (no PTI; assumed, not measured), the same call counts would make the "
          f"ceiling {min(cheap) * 100:.0f}–{max(cheap) * 100:.0f}% (entry/exit ÷ 10 over the "
          "CPU per unit less the 90% of entry/exit saved)."]
    return L


def pick_cases():
    """echo-pp-100x64 and http-keepalive as run.py defines them, reactor and raw epoll C."""
    by_id = {c.id: c for c in make_cases(False, raise_nofile())}
    cases = [by_id["echo-pp-100x64"], by_id["http-keepalive"]]
    for c in cases:
        c.entries = [e for e in c.entries if TARGETS[e.target].role in ("reactor", "raw")]
    return cases


def measure_all(cases, timing, rounds):
    LOGS.mkdir(parents=True, exist_ok=True)
    try:  # the driver sleeps most of the time; keep it off the server's core
        os.sched_setaffinity(0, {int(CLIENT_CPUS)})
    except OSError:
        pass
    kids = Children()
    tmp = Path(tempfile.mkdtemp(prefix="reactor-kernel."))
    loadavg = [Path("/proc/loadavg").read_text().split()[0]]
    log(f"== kernel split: {', '.join(c.id for c in cases)}")
    try:
        results = run(kids, cases, timing, rounds, tmp)
    finally:
        kids.kill_all()
        shutil.rmtree(tmp, ignore_errors=True)
    results.update({"command": "python3 bench/kernel_split.py" + "".join(f" {a}" for a in sys.argv[1:]),
                    "date": now_iso(), "rounds": rounds,
                    "loadavg": loadavg + [Path("/proc/loadavg").read_text().split()[0]],
                    "timing": {"warmup": timing.warmup, "duration": timing.duration}})
    results["commands"]["runs"] = [
        line for c in cases for e in c.entries
        for line in (f"# {c.id}, {e.label}: server, then load", *command_template(c, e, timing))] + [
        "perf stat -x, -e duration_time,raw_syscalls:sys_enter,syscalls:sys_enter_read,... "
        "-p SERVER_PID   # counted: over the measured window, stopped by SIGINT",
        "perf record -q -e cpu-clock -F 2000 -g -o FILE -p SERVER_PID; perf script -i FILE"
        "   # profile"]
    RESULTS.mkdir(parents=True, exist_ok=True)
    (RESULTS / "kernel.json").write_text(json.dumps(results, indent=1, default=str))
    return results


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--rounds", type=int, default=3, help="rounds (default 3)")
    ap.add_argument("--duration", type=float, default=4.0, help="measured seconds per run")
    ap.add_argument("--out", default=str(DOCS / "performance.md"),
                    help="the file whose kernel-split section is written")
    ap.add_argument("--report-only", action="store_true",
                    help="rewrite the section from bench/results/kernel.json, measure nothing")
    args = ap.parse_args()
    cases = pick_cases()
    if args.report_only:
        results = json.loads((RESULTS / "kernel.json").read_text())
    else:
        if not shutil.which("perf"):
            sys.exit("perf not found (Debian: apt-get install linux-perf)")
        results = measure_all(cases, Timing(1.0, max(1.0, args.duration)),
                              max(1, min(args.rounds, 20)))
    splice(Path(args.out), section(results, cases), BEGIN, END)
    log(f"wrote {args.out} (section between the kernel-split markers)")
    return 0
