"""The Google Benchmark micro-benchmarks, run with JSON output."""
import json
import subprocess

from .common import BIN, LOGS, RESULTS, SERVER_CPUS, log
from .targets import Entry


MICRO = [("buffer_bench", SERVER_CPUS), ("timer_bench", SERVER_CPUS),
         ("selector_bench", SERVER_CPUS), ("loop_post_bench", "0,1"),
         ("http_parser_bench", SERVER_CPUS)]


def micro_case(case, kids, quick, record):
    min_time = "0.02" if quick else "0.5"
    for name, cpus in MICRO:
        binary = BIN / name
        if not binary.exists():
            record(Entry(name, name), {"error": f"{binary} not built"})
            continue
        json_out = RESULTS / f"micro-{name}.json"
        cmd = ["taskset", "-c", cpus, binary, f"--benchmark_min_time={min_time}",
               f"--benchmark_out={json_out}", "--benchmark_out_format=json"]
        case.commands[name] = " ".join(str(c) for c in cmd)
        with open(LOGS / f"micro-{name}.log", "wb") as logf:
            proc = kids.spawn(cmd, stdout=logf, stderr=subprocess.STDOUT)
            try:
                proc.wait(900)
            except subprocess.TimeoutExpired:
                pass
            kids.stop(proc)
        try:
            data = json.loads(json_out.read_text())
        except (OSError, ValueError) as err:
            record(Entry(name, name), {"error": f"no JSON output ({err})"})
            continue
        rows = []
        for b in data.get("benchmarks", []):
            rows.append({"name": b["name"], "real_time": b.get("real_time"),
                         "cpu_time": b.get("cpu_time"), "time_unit": b.get("time_unit", "ns"),
                         "iterations": b.get("iterations"),
                         "items_per_second": b.get("items_per_second"),
                         "bytes_per_second": b.get("bytes_per_second"),
                         "error": b.get("error_message") if b.get("error_occurred") else None})
        record(Entry(name, name), {"benchmarks": rows, "context": data.get("context", {})})
        log(f"  {name}: {len(rows)} benchmarks")
