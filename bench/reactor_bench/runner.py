"""Runs one case: the rounds, the targets in turn, one sample per run."""
import math
import subprocess

from .callgrind import callgrind_case
from .common import BIN, CLIENT_CPUS, HOST, LOGS, ROOT, BenchError, log, now_iso, slug
from .measurement import echo_client_command, measure, wrk_command
from .micro import micro_case
from .targets import TARGETS, available, server_command
from .tls import check_case, ktls_case, prepare, tls_load_command


def command_template(case, entry, timing):
    server = " ".join(str(c) for c in server_command(entry))
    if case.load == "echo":
        client = " ".join(echo_client_command(case.params, "PORT", timing))
    elif case.load == "wrk":
        client = " ".join(f"'{c}'" if " " in c else c for c in wrk_command(case.params, "PORT", timing))
    elif case.load in ("handshake", "tls-idle"):
        client = " ".join(tls_load_command(case.params, "PORT",
                                           timing if case.load == "handshake" else None))
    else:
        n = case.params["connections"]
        client = (f"taskset -c {CLIENT_CPUS} {BIN / 'reactor'} bench echo --host {HOST} --port PORT "
                  f"--mode idle --connections {n} --duration 600 --warmup 0 "
                  f"--sources {max(1, math.ceil(n / 20000))}")
    return server.replace(str(ROOT) + "/", ""), client.replace(str(ROOT) + "/", "")


def run_case(case, kids, timing, rounds, tmp, results):
    res = results["cases"].setdefault(case.id, {})
    res.update({"title": case.title, "load": case.load, "unit": case.unit, "notes": case.notes,
                "params": case.params, "entries": [], "runs": {}, "skipped": {}})
    case.commands = {}
    res["commands"] = case.commands
    live = []
    for e in case.entries:
        why = available(e.target)
        if why:
            res["skipped"][e.label] = why
        else:
            live.append(e)
            res["entries"].append({"label": e.label, "target": e.target,
                                   "role": TARGETS[e.target].role if e.target in TARGETS else ""})

    def record(entry, sample):
        res["runs"].setdefault(entry.label, []).append(sample)

    log(f"== {case.id}: {case.title}")
    res["started"] = now_iso()
    try:
        prepare(case)
    except (OSError, subprocess.SubprocessError) as err:
        res["skipped"] = {e.label: f"could not prepare the case: {err}" for e in case.entries}
        log(f"  FAILED to prepare: {err}")
        return
    if case.load == "tls-check":
        check_case(case, live, kids, tmp, record)
    elif case.load == "ktls":
        ktls_case(case, kids, record)
    elif case.load == "callgrind":
        callgrind_case(case, kids, tmp, record)
    elif case.load == "micro":
        micro_case(case, kids, timing.duration < 3, record)
    else:
        n_rounds = case.rounds or rounds
        for e in live:
            case.commands[e.label] = command_template(case, e, timing)
        for r in range(n_rounds):
            for e in live:
                log_path = LOGS / f"{case.id}-{slug(e.label)}.log"
                with open(log_path, "a") as f:
                    f.write(f"--- round {r + 1}\n")
                try:
                    sample = measure(case, e, kids, timing, log_path)
                    record(e, sample)
                    log(f"  r{r + 1} {e.label:16} {describe(case, sample)}")
                except (BenchError, OSError, subprocess.SubprocessError) as err:
                    record(e, {"error": str(err)})
                    log(f"  r{r + 1} {e.label:16} FAILED: {err}")
    res["finished"] = now_iso()


def describe(case, s):
    if case.load in ("idle", "tls-idle"):
        return f"{s['rate']:.0f} B/conn (RSS {s['rss_before'] >> 10} -> {s['rss_after'] >> 10} KiB)"
    flag = "  [client-bound]" if s.get("client_bound") else ""
    return (f"{s['rate']:12,.1f} {case.unit}/s  server {s['server_util'] * 100:5.1f}% "
            f"client {s['client_util'] * 100:5.1f}%  {s['cpu_us']:.3f} us/{case.unit}{flag}")
