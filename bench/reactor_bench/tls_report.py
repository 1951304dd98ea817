"""The TLS section of performance.md (issue 11), written between its own markers so that a
run of just the TLS cases can replace it without regenerating the rest of the file."""
from .cases import TLS_CASES
from .common import ROOT, TLS_CERT, TLS_KEY
from .goals import goal_rows
from .report import idle_table, load_table
from .stats import good, num, spread
from .tls import CERT_COMMAND

BEGIN, END = "<!-- tls: begin -->", "<!-- tls: end -->"

# What each case measures, in the words of the report.
ABOUT = {
    "https-keepalive": (
        "`wrk -t1 -c100` over HTTPS, keep-alive: every connection does one full handshake "
        "at the start, then only requests, so this is the cost of encrypting and decrypting "
        "small records on top of the plain HTTP path."),
    "https-close": (
        "A new TCP connection and a **full** TLS 1.3 handshake (ECDHE X25519 + ECDSA P-256 "
        "signature on the server) per request: `bench/tls/tls_load.c --mode full`, 100 "
        "connections at a time, each `GET /` with `Connection: close`, read to the server's "
        "close, then our close_notify and close. The client keeps no session and so offers "
        "none: the run fails if any handshake resumed. wrk cannot do this case (see "
        "`https-resume`). The client verifies the server's signature (TLS 1.3 requires it), "
        "which costs it more than the server's signing, so expect it to be client-bound; the "
        "CPU per connection is the server's all the same."),
    "https-resume": (
        "`wrk -t1 -c100 -H 'Connection: close'` over HTTPS: a new connection per request, "
        "and a **resumed** handshake. wrk keeps one `SSL` object per connection slot and on "
        "reconnecting calls `SSL_shutdown` then `SSL_clear` (its `src/ssl.c`), which keeps "
        "the session, in TLS 1.3 the last ticket received, and offers it on the next "
        "`SSL_connect`. Checked against both servers outside the measured runs (an nginx "
        "logging `$ssl_session_reused`; `reactor http --metrics`, whose "
        "`reactor_tls_resumed_total` counted 1,854 resumed of 1,864 handshakes over 10 "
        "connections): all but the first handshake of each slot resumed. A TLS 1.3 resumption still does an ECDHE "
        "key exchange (psk_dhe_ke), but no certificate and no signature."),
    "idle-tls-10k": (
        "`bench/tls/tls_load.c --mode idle` opens the connections (256 connecting at a "
        "time), each with a full handshake and one keep-alive `GET /` read to its end, then "
        "holds them idle; the server's `VmRSS` once all are accepted and answered, minus "
        "before, over the count. Kernel socket memory is not in RSS."),
}

SIGPIPE = ("Status -13 is SIGPIPE: the server wrote to a connection its client had already "
           "closed. OpenSSL's socket BIO (`SSL_set_fd`) writes with `write()`, not "
           "`send(MSG_NOSIGNAL)` as reactor's plain path does, and `reactor http` does not "
           "ignore SIGPIPE; a bug, not noise.")


def overlap(res):
    """A sentence when reactor's range and the peer's overlap: the ratio is within noise."""
    ranges = {e["role"]: spread([s["cpu_us"] for s in good(res, e["label"])])
              for e in res["entries"] if good(res, e["label"])}
    if "reactor" not in ranges or "peer" not in ranges:
        return []
    (_, lo, hi), (_, plo, phi) = ranges["reactor"], ranges["peer"]
    if lo > phi or hi < plo:
        return []
    return ["", f"The ranges overlap (reactor {num(lo)}–{num(hi)}, nginx {num(plo)}–"
            f"{num(phi)}): the ratio of medians is within this run's noise."]


def check_table(res):
    rows = ["| target | protocol | cipher | key exchange | tickets per full handshake | "
            "a ticket resumes |", "| --- | --- | --- | --- | --- | --- |"]
    for e in res["entries"]:
        samples = good(res, e["label"])
        if not samples:
            bad = [s["error"] for s in res["runs"].get(e["label"], [])]
            rows.append(f"| {e['label']} | – | – | – | – | {bad[0][:120] if bad else ''} |")
            continue
        s = samples[0]
        rows.append(f"| {e['label']} | {s['protocol']} | {s['cipher']} | {s['group']} | "
                    f"{s['tickets']} | {'yes' if s['resumed'] else 'no'} |")
    return rows


def ktls_text(res):
    runs = res["runs"].get("ktls_probe", [])
    if not runs:
        return ["Not run."]
    if "error" in runs[0]:
        return [f"The probe failed: {runs[0]['error']}"]
    s = runs[0]
    L = ["`bench/kernel/ktls_probe.c` (built by the driver) asks the kernel for the TLS "
         "upper-layer protocol on a connected loopback socket (`setsockopt(TCP_ULP, \"tls\")`, "
         "the call with which OpenSSL hands a connection's keys to the kernel), then does a "
         "loopback handshake at TLS 1.3 and at TLS 1.2 with `SSL_OP_ENABLE_KTLS` on both "
         "sides and reads `BIO_get_ktls_send` / `BIO_get_ktls_recv`. Its output here:", "",
         "```", s["output"], "```", ""]
    if s["usable"]:
        L.append("**kTLS is usable here**: both the kernel and OpenSSL took it. Wiring "
                 "`SSL_OP_ENABLE_KTLS` into `TlsContext` and measuring it is the next step.")
        return L
    L += ["**kTLS cannot be used on this machine.** " + (
        "OpenSSL is built with kTLS support (no `OPENSSL_NO_KTLS`), and tries: with "
        "`SSL_OP_ENABLE_KTLS` set it calls `setsockopt(TCP_ULP, \"tls\")` after the "
        "handshake (visible under strace), gets `ENOENT`, and quietly keeps its own record "
        "layer, as the zeros above show. " if s.get("openssl_ktls") == "built in" else
        "This OpenSSL is built without kTLS. ") +
        f"The kernel ({s.get('tcp_available_ulp', '?')} is the only upper-layer protocol in "
        "`/proc/sys/net/ipv4/tcp_available_ulp`) has no `tls` module built in, and there is "
        "no `/lib/modules` to load one from. So the "
        "plain path, OpenSSL encrypting into user-space buffers and `write`/`read` on the "
        "socket, is the only one here, and reactor uses it.", "",
        "What kTLS would give where the kernel has it (`CONFIG_TLS`, `modprobe tls`): "
        "record encryption moves into the kernel's `sendmsg`, so `sendfile` can send a "
        "file's pages encrypted with no copy through user space (the big win, for static "
        "files), and large writes save one user-space copy and the buffer it needs. For the "
        "small responses of these cases (a 13-byte body in one record per request) it would "
        "save almost nothing: the AES-GCM work is the same wherever it runs, the system "
        "calls are the same, and the handshake stays in user space."]
    return L


def commands(results):
    L = ["```", "# the certificate and key, made afresh by every run that has a TLS case:",
         " ".join(str(c) for c in CERT_COMMAND).replace(str(ROOT) + "/", ""),
         results["command"]]
    for cid in TLS_CASES:
        for label, c in results["cases"].get(cid, {}).get("commands", {}).items():
            L.append(f"# {cid}, {label}")
            L += list(c) if isinstance(c, (list, tuple)) else [c]
    return L + ["```"]


def tls_section(results):
    """The section's text, markers included; empty when the run had no TLS case."""
    cases = {cid: results["cases"][cid] for cid in TLS_CASES if cid in results["cases"]}
    if not cases:
        return ""
    m, t = results["machine"], results["timing"]
    L = [BEGIN, "## TLS (issue 11)", "",
         f"Generated by `{results['command']}` on {m['date']} (load average "
         f"{' '.join(m['loadavg_start'])} at the start, {' '.join(m.get('loadavg_end', []))} "
         "at the end, on 2 cores shared with other work: compare the ratios, which come "
         f"from the same session, rather than absolute numbers). {results['rounds']} "
         f"round(s), targets alternating, {t['warmup']:g} s warm-up and {t['duration']:g} s "
         "measured per run; medians with the min–max range. With the machine this busy, "
         "servers and load generators alike got only part of a core (the server CPU and "
         "client CPU columns): the rates are low and noisy, and a server woken less often "
         "does more per wake-up.", "",
         "**Set-up.** Both servers get the same ECDSA P-256 certificate, made at run time "
         f"(`{TLS_CERT.relative_to(ROOT)}`, `{TLS_KEY.relative_to(ROOT)}`, git-ignored; the "
         "command is below), TLS 1.3 only. `reactor http --tls-cert --tls-key` as shipped: "
         "OpenSSL's default cipher preference (reactor has no cipher option), one session "
         "ticket per full handshake, buffers released while idle. nginx "
         "(`bench/peers/nginx_tls.conf.in`, one worker, access log off, keep-alive as the "
         "plain nginx peer): `ssl_protocols TLSv1.3`, "
         "`ssl_conf_command Ciphersuites TLS_AES_256_GCM_SHA384` (reactor's suite: every "
         "client here offers OpenSSL's default list, whose first choice it is, so reactor "
         "negotiates it; nginx is made to match rather than reactor changed), "
         "`ssl_conf_command NumTickets 1` (as reactor; nginx's default is 2), tickets on, no "
         "session cache. Server pinned to core 0, load generator to core 1, as everywhere "
         "in this file.", ""]
    if "tls-check" in cases:
        L += ["What each server negotiates with a default OpenSSL client (`openssl s_client`, "
              "one request, then again offering the ticket it got):", ""]
        L += check_table(cases["tls-check"]) + [""]
    goals = goal_rows(results, cases)
    if len(goals) > 2:
        L += ["Goals (`bench/reactor_bench/goals.py`):", ""] + goals + [""]
    for cid, res in cases.items():
        if res["load"] not in ("wrk", "handshake", "tls-idle"):
            continue
        L += [f"### {res['title']}", "", f"Case `{cid}`. " + ABOUT.get(cid, ""), ""]
        if res["load"] == "tls-idle":
            L += idle_table(res, budget=None) + overlap(res)
        else:
            L += load_table(res) + overlap(res)
        if any("status -13" in s.get("error", "") for runs in res["runs"].values() for s in runs):
            L += ["", SIGPIPE]
        for label, why in res["skipped"].items():
            L += ["", f"{label} skipped: {why}."]
        L.append("")
    if "ktls" in cases:
        L += ["### Kernel TLS (kTLS)", ""] + ktls_text(cases["ktls"]) + [""]
    L += ["Commands (`PORT`: the port the server announced):", ""] + commands(results)
    return "\n".join(L + [END]) + "\n"
