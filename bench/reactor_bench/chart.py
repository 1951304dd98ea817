"""docs/performance.png with gnuplot: server CPU per message by target, per case."""
import math
import shutil
import subprocess
import tempfile
from pathlib import Path

from .common import log
from .stats import good, num, spread


def chart(results, png):
    panels = []
    for cid, res in results["cases"].items():
        if res["load"] not in ("echo", "wrk", "idle", "callgrind") or cid.startswith("threads"):
            continue
        rows = []
        for e in res["entries"]:
            samples = good(res, e["label"])
            if samples:
                med, lo, hi = spread([s["cpu_us"] for s in samples])
                color = {"reactor": 1, "raw": 2}.get(e["role"], 3)
                rows.append((e["label"], med, lo, hi, color))
        if rows:
            unit = {"idle": "RSS bytes per connection",
                    "callgrind": f"instructions per {res['unit'][3:]} (log scale)"}.get(
                        res["load"], f"server CPU µs per {res['unit']}")
            panels.append((res["title"], unit, rows, res["load"] == "callgrind"))
    if not panels or not shutil.which("gnuplot"):
        return False
    tmp = Path(tempfile.mkdtemp(prefix="reactor-chart."))
    cols = 3
    nrows = math.ceil(len(panels) / cols)
    gp = [f'set terminal pngcairo size 1500,{330 * nrows + 60} font "DejaVu Sans,9"',
          f"set output '{png}'", 'set datafile separator "\\t"',
          "set style fill solid 0.85 border -1", "set boxwidth 0.7", "set grid ytics",
          'set linetype 1 lc rgb "#c0392b"', 'set linetype 2 lc rgb "#7f8c8d"',
          'set linetype 3 lc rgb "#2e86c1"', "set xtics rotate by -30 left nomirror",
          "set key off", "set bmargin 5",
          f'set multiplot layout {nrows},{cols} title "reactor (red) vs raw epoll C (grey) and '
          f'peers (blue): median over rounds, bars = min–max; lower is better"']
    for i, (title, unit, rows, log_scale) in enumerate(panels):
        data = tmp / f"p{i}.dat"
        raw = next((r[1] for r in rows if r[4] == 2), None)
        top = max(r[3] for r in rows) * (3 if log_scale else 1.15)
        if raw and top > raw * 4 and not log_scale:  # Python peers would flatten the rest
            top = raw * 4
        bottom = min(r[2] for r in rows) / 3 if log_scale else 0
        gp.append("set logscale y" if log_scale else "unset logscale y")
        with open(data, "w") as f:
            for label, med, lo, hi, color in rows:
                f.write(f"{label}\t{med}\t{lo}\t{hi}\t{color}\t{min(med, top * 0.9)}\t{num(med)}\n")
        gp += [f'set title "{title}"', f'set ylabel "{unit}"', f"set xrange [-0.6:{len(rows) - 0.4}]",
               f"set yrange [{bottom}:{top}]",
               f"plot '{data}' using 0:2:5:xtic(1) with boxes lc variable, "
               f"'' using 0:3:(0):($4-$3) with vectors heads size screen 0.006,90 lc rgb 'black', "
               f"'' using 0:6:7 with labels offset 0,0.7 font ',8'"]
    gp.append("unset multiplot")
    script = tmp / "chart.gp"
    script.write_text("\n".join(gp) + "\n")
    r = subprocess.run(["gnuplot", str(script)], capture_output=True, text=True, timeout=120)
    shutil.rmtree(tmp, ignore_errors=True)
    if r.returncode != 0:
        log("gnuplot failed: " + r.stderr[-500:])
    return r.returncode == 0
