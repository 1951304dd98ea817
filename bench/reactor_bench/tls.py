"""The TLS cases' pieces: the run-time certificate, the C helpers (tls_load, ktls_probe),
RSS per idle TLS connection, what each server negotiates, and the kTLS probe."""
import re
import subprocess
import time

from .common import (CLIENT_CPUS, HOST, LOGS, ROOT, TLS_CERT, TLS_KEY, TOOLS_BIN, BenchError,
                     log, parse_kv, slug)
from .idle import wait_accepted
from .processes import LineWatcher
from .procstat import fd_count, rss_bytes
from .targets import Entry, start_server

# An ECDSA P-256 certificate for 127.0.0.1 and localhost, valid for two days.
CERT_COMMAND = ["openssl", "req", "-x509", "-newkey", "ec", "-pkeyopt",
                "ec_paramgen_curve:prime256v1", "-nodes", "-days", "2", "-subj", "/CN=localhost",
                "-addext", "subjectAltName=IP:127.0.0.1,DNS:localhost",
                "-keyout", TLS_KEY, "-out", TLS_CERT]
TOOLS = {"tls_load": ROOT / "bench" / "tls" / "tls_load.c",
         "ktls_probe": ROOT / "bench" / "kernel" / "ktls_probe.c"}
_made = set()  # what this process has made already: once per run is enough


def prepare(case):
    """The certificate and the helpers `case` needs, made before its first run."""
    if case.params.get("tls") and "cert" not in _made:
        TLS_CERT.parent.mkdir(parents=True, exist_ok=True)
        subprocess.run([str(c) for c in CERT_COMMAND], check=True, capture_output=True, timeout=60)
        _made.add("cert")
    for name in case.params.get("tools", []):
        tool(name)


def tool(name):
    """The helper's binary, compiled from its source (bench/tls, bench/kernel) when first
    needed in this run, so that it never lags behind its source."""
    out = TOOLS_BIN / name
    if name not in _made:
        out.parent.mkdir(parents=True, exist_ok=True)
        subprocess.run(["cc", "-O2", "-Wall", "-Wextra", "-Werror", "-o", str(out),
                        str(TOOLS[name]), "-lssl", "-lcrypto"], check=True, timeout=120)
        _made.add(name)
    return out


def tls_load_command(params, port, timing=None):
    """tls_load: full handshakes for `timing`, or (no timing) idle connections held."""
    cmd = ["taskset", "-c", CLIENT_CPUS, TOOLS_BIN / "tls_load", "--host", HOST, "--port", port,
           "--connections", params["connections"]]
    if timing:
        cmd += ["--mode", "full", "--warmup", f"{timing.warmup:g}",
                "--duration", f"{timing.duration:g}"]
    else:
        cmd += ["--mode", "idle", "--warmup", "0", "--duration", "600"]
    return [str(c) for c in cmd]


def tls_idle_load(case, kids, port, server_pid, log_path):
    """RSS per idle TLS connection: each did a full handshake and one keep-alive request,
    then sits idle (the state OpenSSL's buffers are released in)."""
    n = case.params["connections"]
    time.sleep(0.5)
    before, fds_before = rss_bytes(server_pid), fd_count(server_pid)
    client = kids.spawn(tls_load_command(case.params, port), stdout=subprocess.DEVNULL,
                        stderr=subprocess.PIPE)
    try:
        watcher = LineWatcher(client.stderr, "connected", log_path)
        if watcher.wait(240) is None:
            raise BenchError("TLS idle client never finished connecting")
        m = re.search(r"(\d+) connected, (\d+) failed", " ".join(watcher.lines))
        if not m or int(m.group(1)) != n:
            raise BenchError(f"TLS idle client: {' | '.join(watcher.lines[-3:])}")
        held = wait_accepted(server_pid, fds_before, n, client)
        if held < n:
            raise BenchError(f"server holds only {held} of {n} connections")
        time.sleep(1.0)
        after = rss_bytes(server_pid)
    finally:
        kids.stop(client)
    per = (after - before) / held
    return {"rate": per, "cpu_us": per, "rss_before": before, "rss_after": after,
            "connections": held, "asked": n, "client_bound": False}


def s_client(port, extra, stdin):
    cmd = ["openssl", "s_client", "-connect", f"{HOST}:{port}", "-servername", "localhost",
           "-msg", "-ign_eof", *extra]
    r = subprocess.run(cmd, input=stdin, capture_output=True, text=True, timeout=20)
    m = re.search(r"^(New|Reused), (\S+), Cipher is (\S+)", r.stdout, re.M)
    if not m:
        raise BenchError(f"openssl s_client: {(r.stdout + r.stderr).strip()[-200:]}")
    return {"session": m.group(1), "protocol": m.group(2), "cipher": m.group(3),
            "tickets": r.stdout.count("NewSessionTicket"),
            "group": (re.search(r"^(?:Server Temp Key|Negotiated TLS1.3 group): (.+)$",
                                r.stdout, re.M) or [None, "?"])[1]}


def check_case(case, entries, kids, tmp, record):
    """What each of `entries` negotiates with a default OpenSSL client (`openssl s_client`,
    one GET), and whether the session it issued resumes."""
    request = "GET / HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n"
    for e in entries:
        log_path = LOGS / f"{case.id}-{slug(e.label)}.log"
        try:
            proc, port, _ = start_server(kids, e, log_path)
            try:
                session = tmp / "session.pem"
                first = s_client(port, ["-sess_out", session], request)
                again = s_client(port, ["-sess_in", session], request)
            finally:
                kids.stop(proc)
            sample = {**first, "resumed": again["session"] == "Reused", "rate": 0, "cpu_us": 0}
            record(e, sample)
            log(f"  {e.label:16} {sample['protocol']} {sample['cipher']} ({sample['group']}), "
                f"{sample['tickets']} ticket(s), resumes: {sample['resumed']}")
        except (BenchError, OSError, subprocess.SubprocessError) as err:
            record(e, {"error": str(err)})
            log(f"  {e.label:16} FAILED: {err}")


def ktls_case(case, kids, record):
    """bench/kernel/ktls_probe.c: can the kernel and this OpenSSL do kTLS?"""
    cmd = [str(tool("ktls_probe")), str(TLS_CERT), str(TLS_KEY)]
    case.commands["ktls_probe"] = " ".join(cmd).replace(str(ROOT) + "/", "")
    r = subprocess.run(cmd, capture_output=True, text=True, timeout=60)
    if r.returncode != 0:
        record(Entry("ktls_probe", ""), {"error": (r.stdout + r.stderr).strip()[-300:]})
        return
    kv = parse_kv(r.stdout)
    kv["usable"] = (kv.get("tcp_ulp_tls") == "accepted"
                    and any("ktls_send 1" in v for k, v in kv.items() if k.startswith("tls1")))
    record(Entry("ktls_probe", ""), {**kv, "output": r.stdout.strip(), "rate": 0, "cpu_us": 0})
    for line in r.stdout.strip().splitlines():
        log(f"  {line}")
