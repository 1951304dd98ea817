"""Benchmark driver: reactor against the peer servers of bench/peers/.

usage: python3 bench/run.py [--quick] [--rounds R] [--only CASES] [--list] [--no-build]
                            [--out DIR] [--report-only] [--splice-tls DOC]

Builds build/bin/reactor (Release) and the peers, then for every case starts each target
server pinned to core 0, loads it from core 1, and takes the rounds in turn (A B C A B C
...) so that drift of a shared machine hits every target alike. Besides throughput it
records the server's CPU time per message over the measured window only, the client's
CPU (to tell when the client, not the server, was the limit), instructions per message
under callgrind, RSS per idle connection, and the Google Benchmark micro-benchmarks.

A full run writes docs/performance.md and docs/performance.png. A --quick or --only run
writes to bench/results/ instead (unless --out says otherwise), so a smoke run never
overwrites the committed report; --splice-tls docs/performance.md puts just the TLS
section of such a run into the committed report, between its markers. Raw numbers: bench/results/results.json; server and
client logs: bench/results/logs/.

Standard library only. Every wait has a deadline; every child runs in its own process
group and every group is killed on the way out, whatever happens.
"""
import argparse
import fnmatch
import json
import os
import shutil
import signal
import sys
import tempfile
import time
from pathlib import Path

from .cases import make_cases
from .common import CLIENT_CPUS, DOCS, LOGS, RESULTS, log, splice
from .machine import build, machine, raise_nofile
from .measurement import Timing
from .processes import Children
from .report import write_report
from .runner import run_case
from .tls_report import BEGIN as TLS_BEGIN, END as TLS_END, tls_section


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
    ap.add_argument("--splice-tls", metavar="DOC",
                    help="also write the TLS section into DOC (e.g. docs/performance.md) "
                         "between its markers, leaving the rest of DOC alone")
    args = ap.parse_args()
    if args.report_only:
        results = json.loads((RESULTS / "results.json").read_text())
        full = not results.get("quick") and "--only" not in results["command"]
        report(results, Path(args.out) if args.out else (DOCS if full else RESULTS),
               args.splice_tls)
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
    report(results, out_dir, args.splice_tls)
    return 0


def report(results, out_dir, splice_tls):
    """performance.md and .png in `out_dir`, the TLS section appended to that file, and
    with `splice_tls` that section alone in its place in another file as well."""
    md, png = write_report(results, out_dir)
    section = tls_section(results)
    if section:
        splice(md, section, TLS_BEGIN, TLS_END)
    log(f"wrote {md} and {png} ({results.get('elapsed_s', 0)} s)")
    if splice_tls:
        if not section:
            sys.exit("--splice-tls: this run has no TLS case")
        splice(Path(splice_tls), section, TLS_BEGIN, TLS_END)
        log(f"wrote the TLS section of {splice_tls}")


def save(results):
    RESULTS.mkdir(parents=True, exist_ok=True)
    (RESULTS / "results.json").write_text(json.dumps(results, indent=1, default=str))
