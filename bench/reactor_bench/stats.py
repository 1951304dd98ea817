"""Medians with min-max over rounds, and how numbers are printed."""
import math
import statistics


def good(res, label):
    return [s for s in res["runs"].get(label, []) if "error" not in s]


def spread(values):
    return statistics.median(values), min(values), max(values)


def num(x, digits=3):
    """A number with about `digits` significant figures, thousands separated."""
    if x is None or (isinstance(x, float) and math.isnan(x)):
        return "–"
    if abs(x) >= 10 ** (digits - 1):
        return f"{x:,.0f}"
    return f"{x:.{max(0, digits - 1 - int(math.floor(math.log10(abs(x))))) if x else 0}f}"


def cell(values, digits=3):
    med, lo, hi = spread(values)
    return num(med, digits) if lo == hi else f"{num(med, digits)} ({num(lo, digits)}–{num(hi, digits)})"
