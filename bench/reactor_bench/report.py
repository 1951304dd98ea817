"""docs/performance.md from the results."""
import re
import statistics

from .cases import TLS_CASES
from .chart import chart
from .goals import goal_rows
from .common import (CLIENT_BOUND_CLIENT, CLIENT_BOUND_SERVER, CLIENT_CPUS, RAW_TOLERANCE, ROOT,
                     SERVER_CPUS, TICK)
from .stats import cell, good, num, spread


RATE_UNITS = {"msg": "msg/s", "req": "req/s", "conn": "conn/s", "MiB": "MiB/s"}


def baselines(res):
    """Median cost per unit of the raw epoll entry and of the best (cheapest) peer."""
    raw, best = None, None
    for e in res["entries"]:
        samples = good(res, e["label"])
        if not samples:
            continue
        cost = statistics.median(s["cpu_us"] for s in samples)
        if e["role"] == "raw":
            raw = (e["label"], cost)
        elif e["role"] == "peer" and (best is None or cost < best[1]):
            best = (e["label"], cost)
    return raw, best


def ratio(cost, base):
    return f"{cost / base[1]:.2f}×" if base and base[1] > 0 else "–"


def failures(res, label):
    bad = [s["error"] for s in res["runs"].get(label, []) if "error" in s]
    return f"{len(bad)} run(s) failed: {bad[0][:160]}" if bad else ""


def load_table(res):
    unit = res["unit"]
    raw, best = baselines(res)
    threads = res["load"] in ("echo", "wrk") and any(
        len(s.get("threads", [])) > 1 for e in res["entries"] for s in good(res, e["label"]))
    head = (f"| target | {RATE_UNITS[unit]} | server CPU µs/{unit} | user / sys | vs raw epoll | "
            f"vs best peer | server CPU | client CPU | latency p50 / p99 µs |"
            + (" CPU per server thread |" if threads else "") + " notes |")
    rows = [head, "|" + " --- |" * (head.count("|") - 1)]
    for e in res["entries"]:
        label, samples = e["label"], good(res, e["label"])
        if not samples:
            rows.append(f"| {label} |" + " – |" * (head.count("|") - 3) + f" {failures(res, label)} |")
            continue
        cost = statistics.median(s["cpu_us"] for s in samples)
        notes = []
        bound = sum(1 for s in samples if s.get("client_bound"))
        if bound:
            notes.append(f"client-bound in {bound} of {len(samples)} rounds")
        if failures(res, label):
            notes.append(failures(res, label))
        p50 = statistics.median(s["p50_us"] for s in samples)
        p99 = statistics.median(s["p99_us"] for s in samples)
        row = (f"| {'**' + label + '**' if e['role'] == 'reactor' else label} | "
               f"{cell([s['rate'] for s in samples])} | {cell([s['cpu_us'] for s in samples])} | "
               f"{num(statistics.median(s['user_us'] for s in samples))} / "
               f"{num(statistics.median(s['sys_us'] for s in samples))} | "
               f"{ratio(cost, raw) if e['role'] != 'raw' else '1.00×'} | "
               f"{ratio(cost, best) if best and e['label'] != best[0] else ('1.00×' if best else '–')} | "
               f"{statistics.median(s['server_util'] for s in samples) * 100:.0f}% | "
               f"{statistics.median(s['client_util'] for s in samples) * 100:.0f}% | "
               f"{num(p50)} / {num(p99)} |")
        if threads:
            shares = []
            for i in range(max(len(s["threads"]) for s in samples)):
                vals = [s["threads"][i] for s in samples if i < len(s["threads"])]
                shares.append(f"{statistics.median(vals) * 100:.0f}%")
            row += " " + " / ".join(shares) + " |"
        rows.append(row + " " + "; ".join(notes) + " |")
    return rows


def idle_table(res, budget=128):
    """`budget`: bytes per connection above which reactor's row is flagged (None: never)."""
    raw, best = baselines(res)
    rows = ["| target | connections | server RSS before (first round) | after | bytes per connection | "
            "vs raw epoll | vs best peer | fresh client round trip p50 / max µs | notes |",
            "|" + " --- |" * 9]
    for e in res["entries"]:
        label, samples = e["label"], good(res, e["label"])
        if not samples:
            rows.append(f"| {label} | – | – | – | – | – | – | – | {failures(res, label)} |")
            continue
        s = samples[0]
        per = statistics.median(x["rate"] for x in samples)  # several rounds: the median
        flag = (f"above {budget} B" if budget and e["role"] == "reactor" and per > budget
                else "")
        if s["connections"] < s.get("asked", s["connections"]):
            flag = (flag + "; " if flag else "") + (
                f"accepted {s['connections']:,} of {s['asked']:,} (its accept queue overflowed; "
                "the rest still waited on SYN-ACK retransmits); bytes are per accepted connection")
        rows.append(f"| {'**' + label + '**' if e['role'] == 'reactor' else label} | "
                    f"{s['connections']:,} | {s['rss_before'] / 1024:,.0f} KiB | "
                    f"{s['rss_after'] / 1024:,.0f} KiB | {cell([x['rate'] for x in samples])} | "
                    f"{ratio(per, raw) if e['role'] != 'raw' else '1.00×'} | "
                    f"{ratio(per, best) if best and label != best[0] else '1.00×' if best else '–'} | "
                    f"{probe(s)} | {flag} |")
    return rows


def probe(sample):
    if "probe_p50_us" not in sample:
        return "–"
    return f"{num(sample['probe_p50_us'])} / {num(sample['probe_max_us'])}"


def callgrind_table(res):
    raw, best = baselines(res)
    count = res["params"]["count"]
    rows = [f"| target | Ir, {count:,} {res['params']['kind']} round trips | Ir, 0 (baseline) | "
            f"{res['unit']} | vs raw epoll | vs best peer |", "|" + " --- |" * 6]
    for e in res["entries"]:
        label, samples = e["label"], good(res, e["label"])
        if not samples:
            rows.append(f"| {label} | – | – | – | – | {failures(res, label)} |")
            continue
        s = samples[0]
        rows.append(f"| {'**' + label + '**' if e['role'] == 'reactor' else label} | "
                    f"{s['ir_total']:,} | {s['ir_baseline']:,} | {s['rate']:,.0f} | "
                    f"{ratio(s['rate'], raw) if e['role'] != 'raw' else '1.00×'} | "
                    f"{ratio(s['rate'], best) if best and label != best[0] else '1.00×' if best else '–'} |")
    return rows


def callgrind_top(res):
    out = []
    for e in res["entries"]:
        if e["role"] not in ("reactor", "raw"):
            continue
        for s in good(res, e["label"]):
            out += ["", f"Where {e['label']}'s instructions per {res['unit'][3:]} go (self Ir per "
                    f"{res['unit'][3:]}, full run minus baseline, top {len(s['top'])}; "
                    "`???` = no symbol, mostly libc and the dynamic loader):", "", "```"]
            out += [f"{v:9.1f}  {name}" for v, name in s["top"]]
            out.append("```")
    return out


MICRO_KEYS = {
    "BM_LoopScheduleThenCancel": "1M run_after + 1M cancel through EventLoop (storage already grown)",
    "BM_LoopScheduleThenCancelCold": "the same on a fresh EventLoop (storage grows from nothing)",
    "BM_LoopScheduleCancelPairs": "1M × (run_after, cancel) through EventLoop",
    "BM_QueueScheduleThenCancel": "1M add + 1M cancel on detail::TimerQueue",
    "BM_QueueRunDue": "1M due timers fired by one run_due() (heap of 1M, random deadlines)",
}


def time_str(value, unit):
    ns = value * {"ns": 1, "us": 1e3, "ms": 1e6, "s": 1e9}[unit]
    for div, u in ((1e9, "s"), (1e6, "ms"), (1e3, "µs")):
        if ns >= div:
            return f"{num(ns / div)} {u}"
    return f"{num(ns)} ns"


def micro_tables(res):
    out = []
    keys = []
    for label, runs in res["runs"].items():
        for run in runs:
            if "error" in run:
                out += ["", f"`{label}`: {run['error']}"]
                continue
            shown = re.sub(r" --benchmark_out\S*", "", res["commands"].get(label, ""))
            out += ["", f"`{label}` (`{shown.replace(str(ROOT) + '/', '')}`):", "",
                    "| benchmark | time | CPU | rate |", "| --- | --- | --- | --- |"]
            for b in run["benchmarks"]:
                if b.get("error"):
                    out.append(f"| {b['name']} | – | – | error: {b['error']} |")
                    continue
                rate = ""
                if b.get("items_per_second"):
                    rate = f"{num(b['items_per_second'] / 1e6)} M items/s"
                elif b.get("bytes_per_second"):
                    rate = f"{num(b['bytes_per_second'] / 2**30)} GiB/s"
                out.append(f"| {b['name']} | {time_str(b['real_time'], b['time_unit'])} | "
                           f"{time_str(b['cpu_time'], b['time_unit'])} | {rate} |")
                if b["name"] in MICRO_KEYS and b.get("items_per_second"):
                    keys.append(f"- {MICRO_KEYS[b['name']]}: "
                                f"{time_str(b['real_time'], b['time_unit'])} per million, "
                                f"{num(1e9 / b['items_per_second'])} ns per timer.")
                elif b["name"] in MICRO_KEYS:
                    keys.append(f"- {MICRO_KEYS[b['name']]}: "
                                f"{time_str(b['real_time'], b['time_unit'])} per million.")
    return keys, out


def summary_rows(results):
    rows = ["| case | unit | reactor | raw epoll C | reactor / raw | best peer | "
            "reactor / best peer | reactor rate / best peer rate |", "|" + " --- |" * 8]
    for cid, res in results["cases"].items():
        if res["load"] not in ("echo", "wrk", "idle", "callgrind") or cid.startswith("threads"):
            continue
        raw, best = baselines(res)
        me = next((e for e in res["entries"] if e["role"] == "reactor"), None)
        if not me or not good(res, me["label"]):
            continue
        samples = good(res, me["label"])
        cost = statistics.median(s["cpu_us"] for s in samples)
        unit = {"idle": "RSS B/conn", "callgrind": res["unit"]}.get(
            res["load"], f"server CPU µs/{res['unit']}")
        rate_ratio = "–"
        if best and res["load"] in ("echo", "wrk"):
            mine = statistics.median(s["rate"] for s in samples)
            theirs = statistics.median(s["rate"] for s in good(res, best[0]))
            rate_ratio = f"{mine / theirs:.2f}×"
        rows.append(f"| {res['title']} | {unit} | {num(cost)} | {num(raw[1]) if raw else '–'} | "
                    f"{ratio(cost, raw)} | {best[0] + ' ' + num(best[1]) if best else '–'} | "
                    f"{ratio(cost, best)} | {rate_ratio} |")
    return rows


def findings(results):
    out = []
    for cid, res in results["cases"].items():
        if res["load"] not in ("echo", "wrk", "idle", "callgrind") or cid.startswith("threads"):
            continue
        raw, best = baselines(res)
        me = next((e for e in res["entries"] if e["role"] == "reactor"), None)
        if not me or not good(res, me["label"]):
            continue
        samples = good(res, me["label"])
        med, lo, hi = spread([s["cpu_us"] for s in samples])
        if res["load"] == "idle":
            if med > 128:
                out.append(f"- **{res['title']}**: reactor holds {med:,.0f} B of RSS per idle "
                           "connection, above the 128 B budget.")
            continue
        if raw and med > raw[1] * RAW_TOLERANCE:
            raw_s = [s["cpu_us"] for s in good(res, raw[0])]
            overlap = lo <= max(raw_s)
            what = "instructions" if res["load"] == "callgrind" else "server CPU"
            out.append(f"- **{res['title']}**: reactor needs {med / raw[1]:.2f}× the {what} per "
                       f"{res['unit'].split('/')[-1]} of raw epoll C ({num(med)} vs {num(raw[1])}"
                       + ("" if res["load"] == "callgrind" else
                          f"; reactor {num(lo)}–{num(hi)}, raw {num(min(raw_s))}–{num(max(raw_s))}"
                          + ("; the ranges overlap, so partly noise" if overlap else ""))
                       + ").")
    for cid, res in results["cases"].items():
        for e in res.get("entries", []):
            samples = good(res, e["label"])
            bound = [s for s in samples if s.get("client_bound")]
            if bound:
                out.append(f"- {res['title']}, {e['label']}: the load generator was the limit in "
                           f"{len(bound)} of {len(samples)} rounds (client at "
                           f"{statistics.median(s['client_util'] for s in bound) * 100:.0f}% of its "
                           f"core, server at {statistics.median(s['server_util'] for s in bound) * 100:.0f}%): "
                           "the rate there is the client's, CPU per message is still the server's.")
    for res in results["cases"].values():
        if res["load"] != "micro":
            continue
        for label, runs in res["runs"].items():
            for run in runs:
                for b in run.get("benchmarks", []):
                    if b.get("error"):
                        out.append(f"- Micro-benchmark `{label}` {b['name']}: {b['error']}.")
                if "error" in run:
                    out.append(f"- Micro-benchmark `{label}`: {run['error']}.")
    return out or ["- Nothing above the thresholds in this run."]


def write_report(results, out_dir):
    out_dir.mkdir(parents=True, exist_ok=True)
    md, png = out_dir / "performance.md", out_dir / "performance.png"
    have_chart = chart(results, png)
    m, t = results["machine"], results["timing"]
    L = ["# Performance", "",
         "<!-- Generated by bench/run.py from its measurements; do not edit by hand. -->", "",
         f"Generated by `{results['command']}` (also `make bench`) on {m['date']}, in "
         f"{results.get('elapsed_s', 0) // 60} min. Every number below comes from that run; "
         "rerun the command to reproduce them (`--quick` for a 2–3 minute smoke run, which "
         "writes to bench/results/ instead).", "",
         "## Machine", "",
         "| | |", "| --- | --- |",
         f"| CPU | {m['cpu']} ({m['cpus']} CPUs, {m['threads_per_core']} thread(s) per core"
         + (f", {m['hypervisor']} guest" if m.get("hypervisor") else "") + ") |",
         f"| kernel | {m['kernel']} |", f"| memory | {m['memory']} |",
         f"| compiler | {m['compiler']} (reactor: CMake Release; C peers: -O2) |",
         f"| load average at start / end | {' '.join(m['loadavg_start'])} / "
         f"{' '.join(m.get('loadavg_end', []))} |",
         f"| descriptors per process | {results['nofile']:,} (RLIMIT_NOFILE, raised to the hard limit) |",
         "| packages | " + ", ".join(f"{k} {v}" for k, v in m["versions"].items()) + " |", "",
         "The machine is shared and virtualised: other work ran beside this benchmark. That is "
         "why every case takes several rounds with the targets interleaved and reports the "
         "median with the min–max range; compare ratios within a case rather than absolute "
         "numbers across runs.", "",
         "## How it is measured", "",
         f"- Server pinned to core {SERVER_CPUS}, load generator to core {CLIENT_CPUS} (`taskset`); "
         f"the driver itself sleeps on core {CLIENT_CPUS}. {results['rounds']} round(s) per case, "
         "targets alternating A B C A B C …, each run on a fresh server process.",
         f"- Each run: {t['warmup']:g} s warm-up, then {t['duration']:g} s measured. Echo load comes "
         "from `reactor bench echo` (one thread, one loop); HTTP load from `wrk -t1`.",
         "- **Server CPU per message** = (utime + stime of the server process, from "
         "`/proc/PID/stat`, sampled at the start and the end of the measured window only, so "
         "start-up and warm-up are excluded) ÷ window length ÷ the client's rate. For HTTP, "
         "per request; for the accept case, per connection; for throughput, per MiB echoed. "
         f"Clock-tick resolution is 1/{TICK} s. Most of it is kernel time (the user / sys "
         "columns split it): the TCP loopback path of read and write, the same for every "
         "target, so library overhead shows mainly in the user column and in the instruction "
         "counts below. A server that gets larger batches per wake-up (for instance because "
         "other work on the machine delayed it) pays less per message, so compare targets at "
         "similar server CPU %.",
         f"- **Client-bound**: the client used ≥ {CLIENT_BOUND_CLIENT * 100:.0f}% of its core while "
         f"the server stayed below {CLIENT_BOUND_SERVER * 100:.0f}% of its own. The rate then "
         "describes the load generator; CPU per message still describes the server.",
         "- **Ratios**: to the hand-written raw epoll C server of the same kind, and to the "
         "best (cheapest per message) library peer of the case. Lower is better.",
         "- **Instructions per message**: the server runs under `valgrind --tool=callgrind` "
         "for a fixed workload driven from Python (10 connections at once, each doing its share "
         "of the round trips); a second run with the same 10 connections and zero messages "
         "gives the start-up, connection and shutdown cost, which is subtracted. Kernel work "
         "is not counted by callgrind.",
         "- **RSS per idle connection**: `VmRSS` of the server before, and after N connections "
         "from `reactor bench echo --mode idle` are accepted (the server's descriptor count "
         "confirms it), divided by N. Kernel socket memory is not in RSS. While they are held, "
         "a fresh client times 200 echo round trips of 64 B (from Python, so a few tens of µs "
         "are the driver's own): a normal client must still be served promptly.",
         ""]
    L += ["## Summary", ""] + summary_rows(results) + [""]
    L += ["## Goals", "", "Each goal against this run's medians (`bench/reactor_bench/goals.py`).",
          ""] + goal_rows(results) + [""]
    L += ["## Findings (computed from the tables)", "",
          f"Flags: reactor above raw epoll C by more than {(RAW_TOLERANCE - 1) * 100:.0f}% in CPU "
          "(or instructions) per message, RSS above 128 B per idle connection, and every run "
          "where the client was the limit.", ""] + findings(results) + [""]
    if have_chart:
        L += ["## Chart", "", "![server CPU per message by target](performance.png)", "",
              "Bars taller than four times raw epoll C are clipped; the label gives the value.", ""]
    for cid, res in results["cases"].items():
        if cid in TLS_CASES:  # their own section (tls_report.py), appended by the driver
            continue
        L += [f"## {res['title']}", "", f"Case `{cid}`."]
        if res["load"] in ("echo", "wrk"):
            L += [""] + load_table(res)
        elif res["load"] == "idle":
            L += [""] + idle_table(res)
        elif res["load"] == "callgrind":
            L += [""] + callgrind_table(res) + callgrind_top(res)
        elif res["load"] == "micro":
            keys, tables = micro_tables(res)
            L += ["", "Pinned to core 0, except `loop_post_bench` (cross-thread: both cores). "
                  "Debian's libbenchmark warns that it was built as a debug library; that "
                  "concerns its own bookkeeping, not the code measured.", ""]
            if keys:
                L += ["Timers, the numbers that matter:", ""] + keys
            L += tables
        for note in res["notes"]:
            L += ["", note]
        for label, why in res["skipped"].items():
            L += ["", f"{label} skipped: {why}."]
        L.append("")
    L += ["## Commands", "", "Build: `cmake -S . -B build -DCMAKE_BUILD_TYPE=Release && "
          "cmake --build build -j` and `make -C bench/peers OUT=build/peers`. `PORT` is the port "
          "the server announced (`listening on HOST:PORT`); every server gets "
          "`--host 127.0.0.1 --port 0`.", ""]
    for cid, res in results["cases"].items():
        cmds = res.get("commands", {})
        if not cmds or cid in TLS_CASES:
            continue
        L += [f"`{cid}`:", "", "```"]
        for label, c in cmds.items():
            if isinstance(c, (list, tuple)):
                L.append(f"# {label}\n{c[0]}\n{c[1]}")
            else:
                L.append(f"# {label}\n{c.replace(str(ROOT) + '/', '')}")
        L += ["```", ""]
    md.write_text("\n".join(L).rstrip() + "\n")
    return md, png
