#!/usr/bin/python3
"""Smoke-checks one peer server over 127.0.0.1 against the peer contract.

usage: check_peer.py echo|http CMD [ARGS...]
Starts `CMD ARGS --port 0`, waits for the "listening on" line, runs the
checks for its kind, then stops it with SIGTERM (and a second run with SIGINT)
and requires exit status 0. Every wait has a deadline.
"""
import os
import random
import re
import select
import signal
import socket
import subprocess
import sys
import threading
import time

TIMEOUT = 10.0
RESPONSE = (b"HTTP/1.1 200 OK\r\n", b"Hello, world!")


def start(cmd):
    proc = subprocess.Popen(cmd + ["--port", "0"], stdout=subprocess.PIPE)
    ready, _, _ = select.select([proc.stdout], [], [], TIMEOUT)
    line = proc.stdout.readline().decode() if ready else ""
    m = re.fullmatch(r"listening on (\S+):(\d+)\n", line)
    if not m:
        proc.kill()
        sys.exit(f"FAIL no listening line, got {line!r}")
    return proc, int(m.group(2))


def stop(proc, sig):
    proc.send_signal(sig)
    try:
        rc = proc.wait(TIMEOUT)
    except subprocess.TimeoutExpired:
        proc.kill()
        sys.exit(f"FAIL did not exit on {sig.name}")
    if rc != 0:
        sys.exit(f"FAIL exit status {rc} on {sig.name}")


def connect(port):
    s = socket.create_connection(("127.0.0.1", port), timeout=TIMEOUT)
    s.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    return s


def recv_exactly(s, n):
    out = bytearray()
    while len(out) < n:
        chunk = s.recv(min(1 << 20, n - len(out)))
        if not chunk:
            break
        out += chunk
    return bytes(out)


def echo_roundtrip(port, size, read_delay=0.0):
    """Sends `size` random bytes from a thread; reads them back after
    `read_delay` seconds, so the server must buffer while we do not read."""
    data = random.randbytes(size)
    with connect(port) as s:
        sender = threading.Thread(target=s.sendall, args=(data,))
        sender.start()
        time.sleep(read_delay)
        got = recv_exactly(s, size)
        sender.join(TIMEOUT)
    if got != data:
        sys.exit(f"FAIL echo mismatch: sent {size} bytes, got {len(got)} back")


def check_echo(port):
    echo_roundtrip(port, 1 << 20)
    echo_roundtrip(port, 8 << 20, read_delay=0.5)  # slow reader
    failures = []

    def worker():
        try:
            echo_roundtrip(port, 256 << 10)
        except BaseException as e:  # SystemExit from a mismatch, or a socket error
            failures.append(e)

    threads = [threading.Thread(target=worker) for _ in range(16)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(TIMEOUT * 3)
    if failures or any(t.is_alive() for t in threads):
        sys.exit(f"FAIL concurrent echo: {failures or 'timed out'}")
    print("ok echo: 1 MiB, 8 MiB slow reader, 16 x 256 KiB concurrent")


def read_responses(s, count):
    """Reads `count` responses framed by Content-Length; returns how many parsed."""
    buf, got = b"", 0
    while got < count:
        head_end = buf.find(b"\r\n\r\n")
        if head_end < 0:
            chunk = s.recv(65536)
            if not chunk:
                break
            buf += chunk
            continue
        head = buf[:head_end].decode("latin-1")
        length = int(re.search(r"(?im)^content-length:\s*(\d+)", head).group(1))
        if len(buf) < head_end + 4 + length:
            chunk = s.recv(65536)
            if not chunk:
                break
            buf += chunk
            continue
        body = buf[head_end + 4 : head_end + 4 + length]
        if not head.startswith("HTTP/1.1 200") or body != RESPONSE[1]:
            sys.exit(f"FAIL bad response {head!r} {body!r}")
        if not re.search(r"(?im)^content-type:\s*text/plain", head):
            sys.exit(f"FAIL content type in {head!r}")
        buf = buf[head_end + 4 + length :]
        got += 1
    return got


def check_http(port):
    req = b"GET / HTTP/1.1\r\nHost: 127.0.0.1\r\nUser-Agent: check\r\n\r\n"
    with connect(port) as s:
        s.sendall(req * 100)  # pipelined, one write
        if (n := read_responses(s, 100)) != 100:
            sys.exit(f"FAIL pipelined: 100 requests, {n} responses")
        # the same stream cut at random points, so terminators span reads
        stream, pos = req * 50, 0
        while pos < len(stream):
            step = random.randint(1, 7)
            s.sendall(stream[pos : pos + step])
            pos += step
            time.sleep(0.001)
        if (n := read_responses(s, 50)) != 50:
            sys.exit(f"FAIL split requests: 50 requests, {n} responses")
    with connect(port) as s:  # a burst larger than the socket buffers, read late
        sender = threading.Thread(target=s.sendall, args=(req * 50000,))
        sender.start()
        time.sleep(0.5)
        n = read_responses(s, 50000)
        sender.join(TIMEOUT)
        if n != 50000:
            sys.exit(f"FAIL burst: 50000 requests, {n} responses")
    print("ok http: 100 pipelined in one write, 50 split at random points, 50000 read late")


def main():
    kind, cmd = sys.argv[1], sys.argv[2:]
    proc, port = start(cmd)
    try:
        {"echo": check_echo, "http": check_http}[kind](port)
    except Exception as e:  # any socket error or timeout is a failure
        proc.kill()
        sys.exit(f"FAIL {type(e).__name__}: {e}")
    stop(proc, signal.SIGTERM)
    proc, _ = start(cmd)
    stop(proc, signal.SIGINT)
    print(f"ok {os.path.basename(cmd[-1])}: exits 0 on SIGTERM and on SIGINT")


if __name__ == "__main__":
    main()
