"""Paths, constants and small helpers every other module uses."""
import datetime
import os
import re
import subprocess
from pathlib import Path


ROOT = Path(__file__).resolve().parents[2]
BUILD = ROOT / "build"
BIN = BUILD / "bin"
PEER_BIN = BUILD / "peers"
TOOLS_BIN = BUILD / "bench-tools"  # the driver's own C helpers, compiled when first needed
# The same program with trace mode's hooks compiled out (-DREACTOR_TRACE=OFF): the baseline
# that shows what the hooks cost while tracing is off.
NOTRACE_BIN = ROOT / "build-notrace" / "bin"
PEER_SRC = ROOT / "bench" / "peers"
PIPELINE_LUA = ROOT / "bench" / "pipeline.lua"
RESULTS = ROOT / "bench" / "results"
LOGS = RESULTS / "logs"
# The TLS cases' certificate and key, made afresh by every run that has a TLS case
# (bench/results/ is git-ignored: no key is ever committed).
TLS_CERT = RESULTS / "tls" / "cert.pem"
TLS_KEY = RESULTS / "tls" / "key.pem"
DOCS = ROOT / "docs"
PYTHON = "/usr/bin/python3"  # the Debian interpreter: it has uvloop for the peer
HOST = "127.0.0.1"
SERVER_CPUS = "0"
CLIENT_CPUS = "1"
TICK = os.sysconf("SC_CLK_TCK")
MARGIN = 0.2  # seconds kept clear at both ends of the client's own measuring window
CLIENT_BOUND_CLIENT = 0.95  # client at >= 95 % of its core ...
CLIENT_BOUND_SERVER = 0.90  # ... while the server stayed below 90 %: the client was the limit
RAW_TOLERANCE = 1.03  # reactor may use up to 3 % more CPU per message than raw epoll


class BenchError(Exception):
    """One run failed; the case records why and carries on with the next run."""


def read_int(path):
    try:
        with open(path) as f:
            return int(f.read().split()[0])
    except (OSError, ValueError, IndexError):
        return 0


def parse_kv(text):
    out = {}
    for line in text.splitlines():
        key, sep, value = line.partition(":")
        if sep:
            out[key.strip()] = value.strip()
    return out


def slug(text):
    return re.sub(r"[^a-z0-9]+", "-", text.lower()).strip("-")


def log(msg):
    print(msg, flush=True)


def now_iso():
    return datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%d %H:%M:%S UTC")


def sh(cmd, timeout=30):
    try:
        return subprocess.run(cmd, capture_output=True, text=True, timeout=timeout).stdout.strip()
    except (OSError, subprocess.SubprocessError):
        return ""


def splice(doc, text, begin, end):
    """Writes `text` (which starts with `begin` and ends with `end`) into the file `doc` in
    place of what stands between those markers, or appends it; the rest is left alone."""
    old = doc.read_text() if doc.exists() else ""
    if begin in old and end in old:
        head, rest = old.split(begin, 1)
        new = head + text.rstrip("\n") + rest.split(end, 1)[1]
    else:
        new = old.rstrip("\n") + "\n\n" + text
    doc.write_text(new)
