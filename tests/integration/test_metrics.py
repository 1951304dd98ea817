"""`--metrics HOST:PORT`: the Prometheus listener of every server. The scrape passes
`promtool check metrics`, its counters move by exactly what the test did, a bad value is a
usage error (2), a busy port a start-up failure (1), and a real Prometheus server scrapes it.

The metrics port is not announced (stdout keeps its one `listening on` line): each test
picks a free port itself. A stall is provoked with `--stall-warn 1` and a 32 MiB echo; what
ran longest, rate limiting and timer lag are covered by tests/unit/core/loop_meter_test.cc.
"""

import json
import os
import re
import shutil
import socket
import subprocess
import tempfile
import unittest
import urllib.request

from harness import (HOST, IO_TIMEOUT, Deadline, Server, connect, free_port, recv_exactly,
                     request, run_cli, wait_for)

PROMTOOL = "/usr/bin/promtool"
PROMETHEUS = "/usr/bin/prometheus"
CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8"
_SAMPLE = re.compile(r"^([a-zA-Z_:][a-zA-Z0-9_:]*)(?:\{(.*)\})? (\S+)$")
_LABEL = re.compile(r'(\w+)="([^"]*)"')


def scrape(port, path="/metrics", method="GET"):
    """(status, content type, body text) of one request to the metrics listener."""
    with connect((HOST, port)) as sock:
        sock.sendall(request(method, path, headers=("Connection: close",)))
        data = b""
        deadline = Deadline(IO_TIMEOUT)
        while not deadline.expired():
            sock.settimeout(max(0.01, deadline.left()))
            chunk = sock.recv(1 << 16)
            if not chunk:
                break
            data += chunk
    head, _, body = data.partition(b"\r\n\r\n")
    lines = head.decode("latin-1").split("\r\n")
    status = int(lines[0].split()[1])
    headers = dict(line.split(": ", 1) for line in lines[1:])
    return status, headers.get("Content-Type"), body.decode()


def samples(text):
    """{(name, frozenset of (label, value)): value} of an exposition text."""
    out = {}
    for line in text.splitlines():
        if not line or line.startswith("#"):
            continue
        m = _SAMPLE.match(line)
        if not m:
            raise AssertionError(f"not a sample line: {line!r}")
        labels = frozenset(_LABEL.findall(m.group(2) or ""))
        out[(m.group(1), labels)] = float(m.group(3))
    return out


def total(values, name, **labels):
    """The sum of `name` over every series whose labels include `labels`."""
    want = set(labels.items())
    return sum(v for (n, l), v in values.items() if n == name and want <= l)


def promtool_check(test, text):
    result = subprocess.run([PROMTOOL, "check", "metrics"], input=text.encode(),
                            capture_output=True, timeout=IO_TIMEOUT)
    test.assertEqual(result.returncode, 0, result.stdout + result.stderr)


class MetricsTest(unittest.TestCase):

    def start(self, subcommand, *args):
        port = free_port()
        srv = Server(subcommand, "--metrics", f"{HOST}:{port}", *args).start()
        self.addCleanup(srv.kill)
        return srv, port

    def test_http_counts_exactly_what_was_done(self):
        srv, port = self.start("http")
        before = samples(scrape(port)[2])
        with srv.client() as c:  # 5 GET, 2 HEAD, 1 POST on one connection
            for i in range(5):
                self.assertEqual(c.exchange(request("GET", f"/{i}")).status, 200)
            for _ in range(2):
                self.assertEqual(c.exchange(request("HEAD", "/"), head=True).status, 200)
            self.assertEqual(c.exchange(request("POST", "/echo", body=b"hello")).status, 200)
        with srv.client() as c:  # a malformed request: 400, method "other"
            self.assertEqual(c.exchange(b"\x01\x02 / HTTP/1.1\r\n\r\n").status, 400)
            c.wait_closed()

        def closed_both():
            values = samples(scrape(port)[2])
            done = total(values, "reactor_connections_closed_total") - \
                total(before, "reactor_connections_closed_total") == 2
            return values if done else None
        after = wait_for(closed_both, IO_TIMEOUT, "both connections counted as closed")

        def delta(name, **labels):
            return total(after, name, **labels) - total(before, name, **labels)
        self.assertEqual(delta("reactor_http_requests_total", method="GET", status="2xx"), 5)
        self.assertEqual(delta("reactor_http_requests_total", method="HEAD", status="2xx"), 2)
        self.assertEqual(delta("reactor_http_requests_total", method="POST", status="2xx"), 1)
        self.assertEqual(delta("reactor_http_requests_total", method="other", status="4xx"), 1)
        self.assertEqual(delta("reactor_http_requests_total"), 9)
        self.assertEqual(delta("reactor_http_request_duration_seconds_count"), 9)
        self.assertEqual(delta("reactor_http_request_duration_seconds_bucket", le="+Inf"), 9)
        self.assertEqual(delta("reactor_connections_accepted_total"), 2)
        self.assertEqual(delta("reactor_connections_closed_total", reason="peer"), 1)
        self.assertEqual(total(after, "reactor_connections_open"), 0)
        self.assertGreater(delta("reactor_tcp_received_bytes_total"), 0)
        self.assertGreater(delta("reactor_loop_iterations_total", loop="0"), 0)
        self.assertGreater(delta("reactor_loop_busy_seconds_total", loop="0"), 0)
        self.assertEqual(delta("reactor_accept_errors_total"), 0)
        srv.stop()

    def test_exposition_format(self):
        srv, port = self.start("http", "--stall-warn", "250")
        with srv.client() as c:
            self.assertEqual(c.exchange(request("GET", "/")).status, 200)
        status, content_type, text = scrape(port)
        self.assertEqual(status, 200)
        self.assertEqual(content_type, CONTENT_TYPE)
        promtool_check(self, text)
        for family in ("reactor_loop_iterations_total", "reactor_loop_events_total",
                       "reactor_loop_busy_seconds_total", "reactor_loop_wait_seconds_total",
                       "reactor_loop_stalls_total", "reactor_loop_lag_seconds",
                       "reactor_connections_open", "reactor_connections_accepted_total",
                       "reactor_connections_closed_total", "reactor_tcp_received_bytes_total",
                       "reactor_tcp_sent_bytes_total", "reactor_accept_errors_total",
                       "reactor_proxy_rejected_total", "reactor_http_requests_total",
                       "reactor_http_request_duration_seconds"):
            self.assertIn(f"# TYPE {family} ", text)
        values = samples(text)
        self.assertEqual(
            {dict(l)["reason"] for (n, l) in values if n == "reactor_connections_closed_total"},
            {"peer", "local", "aborted", "error", "timeout"})
        self.assertEqual({dict(l)["kind"] for (n, l) in values
                          if n == "reactor_accept_errors_total"}, {"out_of_fds", "other"})
        self.assertEqual(scrape(port, method="HEAD")[0], 200)
        self.assertEqual(scrape(port, path="/other")[0], 404)
        srv.stop()

    def test_plain_http_whatever_the_main_listener_expects(self):
        srv, port = self.start("http", "--proxy-protocol")
        self.assertEqual(scrape(port)[0], 200)  # no PROXY header sent
        with srv.client() as c:  # the main listener wants one: closed without a reply
            c.send(request("GET", "/"))
            self.assertEqual(c.wait_closed(), b"")
        wait_for(lambda: total(samples(scrape(port)[2]), "reactor_proxy_rejected_total") == 1,
                 IO_TIMEOUT, "the rejected connection counted")
        srv.stop()

    def test_echo_and_chat_expose_their_connections(self):
        for subcommand in ("echo", "chat"):
            with self.subTest(subcommand=subcommand):
                srv, port = self.start(subcommand)
                with connect(srv.address) as sock:
                    sock.sendall(b"hello\n")
                    if subcommand == "echo":
                        recv_exactly(sock, 6, Deadline(IO_TIMEOUT))
                    wait_for(lambda: total(samples(scrape(port)[2]),
                                           "reactor_tcp_received_bytes_total") == 6,
                             IO_TIMEOUT, "6 bytes counted")
                text = scrape(port)[2]
                promtool_check(self, text)
                values = samples(text)
                self.assertEqual(total(values, "reactor_connections_accepted_total"), 1)
                self.assertIn(("reactor_loop_iterations_total", frozenset({("loop", "0")})),
                              values)
                srv.stop()

    def test_udp_echo_counts_datagrams(self):
        srv, port = self.start("udp-echo")
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
            sock.bind((HOST, 0))
            sock.settimeout(IO_TIMEOUT)
            for payload in (b"a", b"bb", b"ccc"):
                sock.sendto(payload, srv.address)
                self.assertEqual(sock.recvfrom(100)[0], payload)
        text = scrape(port)[2]
        promtool_check(self, text)
        values = samples(text)
        self.assertEqual(total(values, "reactor_udp_received_datagrams_total"), 3)
        self.assertEqual(total(values, "reactor_udp_sent_datagrams_total"), 3)
        self.assertEqual(total(values, "reactor_udp_received_bytes_total"), 6)
        self.assertEqual(total(values, "reactor_udp_sent_bytes_total"), 6)
        srv.stop()

    def test_stall_is_counted_and_reported(self):
        # Echoing a 32 MiB body copies it twice in one iteration (the handler's copy, the
        # response's serialisation): far more than 1 ms on any machine.
        srv, port = self.start("http", "--stall-warn", "1", "--max-body", str(64 << 20))
        size = 32 << 20
        with connect(srv.address) as sock:
            sock.sendall(request("POST", "/echo", body=b"x" * size))
            got, deadline = bytearray(), Deadline(IO_TIMEOUT)
            while len(got) < size and not deadline.expired():
                sock.settimeout(max(0.01, deadline.left()))
                chunk = sock.recv(1 << 20)
                if not chunk:
                    break
                got += chunk
            self.assertGreaterEqual(len(got), size)
        self.assertGreaterEqual(total(samples(scrape(port)[2]), "reactor_loop_stalls_total"), 1)
        srv.stop()
        lines = srv.stderr_text().splitlines()
        # One callback alone is named; several are listed (the loop does not time them
        # one by one).
        stall = re.compile(r"^reactor: warning: loop \d+ stalled: "
                           r"((read|write|read\+write) on fd \d+ held it \d+ ms"
                           r"|callbacks held it \d+ ms; ran (read|write|read\+write) on fd \d+.*?)"
                           r"(; \d+ earlier stall\(s\) not reported)?$")
        self.assertTrue(lines, "no stall line on stderr")
        for line in lines:
            self.assertRegex(line, stall)

    def test_bad_value_is_a_usage_error(self):
        for value in ("nonsense", "127.0.0.1", "127.0.0.1:", "127.0.0.1:65536", "::1:80",
                      "127.0.0.1:80x", "127.0.0.1:-1"):
            with self.subTest(value=value):
                result = run_cli(["http", "--port", "0", "--metrics", value])
                self.assertEqual(result.returncode, 2, result.stderr)
                self.assertEqual(result.stdout, b"")
        result = run_cli(["echo", "--port", "0", "--stall-warn", "-1"])
        self.assertEqual(result.returncode, 2, result.stderr)

    def test_busy_port_fails_to_start(self):
        with socket.socket() as busy:
            busy.bind((HOST, 0))
            busy.listen()
            port = busy.getsockname()[1]
            for subcommand in ("http", "udp-echo"):
                with self.subTest(subcommand=subcommand):
                    result = run_cli([subcommand, "--port", "0", "--metrics", f"{HOST}:{port}"])
                    self.assertEqual(result.returncode, 1, result.stderr)
                    self.assertEqual(result.stdout, b"")
                    lines = result.stderr.decode().splitlines()
                    self.assertEqual(len(lines), 1, lines)
                    self.assertIn(f"{HOST}:{port}", lines[0])

    def test_ipv6_listener(self):
        if not socket.has_ipv6:
            self.skipTest("no IPv6")
        with socket.socket(socket.AF_INET6) as probe:
            try:
                probe.bind(("::1", 0))
            except OSError:
                self.skipTest("no ::1")
            port = probe.getsockname()[1]
        srv = Server("echo", "--metrics", f"[::1]:{port}").start()
        self.addCleanup(srv.kill)
        with socket.create_connection(("::1", port), timeout=IO_TIMEOUT) as sock:
            sock.sendall(request("GET", "/metrics", headers=("Connection: close",)))
            sock.settimeout(IO_TIMEOUT)
            self.assertTrue(sock.recv(100).startswith(b"HTTP/1.1 200"))
        srv.stop()


class MetricsThreadsTest(unittest.TestCase):
    """`--threads 2`: each loop counts its own share, read by the metrics loop (TSan runs
    this one: the `threads` label)."""

    def test_per_loop_series_add_up(self):
        port = free_port()
        srv = Server("http", "--threads", "2", "--metrics", f"{HOST}:{port}").start()
        self.addCleanup(srv.kill)
        clients = [srv.client() for _ in range(4)]
        try:
            for i in range(12):
                c = clients[i % 4]
                self.assertEqual(c.exchange(request("GET", f"/{i}")).status, 200)
                if i % 3 == 0:
                    scrape(port)  # scrapes while the loops count
        finally:
            for c in clients:
                c.close()

        def all_closed():  # a connection leaves "open" after its close is counted
            text = scrape(port)[2]
            return text if total(samples(text), "reactor_connections_open") == 0 else None
        text = wait_for(all_closed, IO_TIMEOUT, "every close counted")
        promtool_check(self, text)
        values = samples(text)
        self.assertEqual(total(values, "reactor_http_requests_total", method="GET",
                               status="2xx"), 12)
        self.assertEqual(total(values, "reactor_connections_accepted_total"), 4)
        self.assertEqual(total(values, "reactor_connections_closed_total", reason="peer"), 4)
        loops = {dict(l)["loop"] for (n, l) in values if n == "reactor_loop_iterations_total"}
        self.assertEqual(loops, {"0", "1", "2"})
        served = {dict(l)["loop"] for (n, l) in values
                  if n == "reactor_connections_accepted_total" and values[(n, l)] > 0}
        self.assertEqual(served, {"1", "2"}, "round-robin: two connections on each pool loop")
        srv.stop()


class PrometheusTest(unittest.TestCase):
    """A real Prometheus server (Debian's) scrapes `reactor http --metrics` every second."""

    def setUp(self):
        if not os.access(PROMETHEUS, os.X_OK):
            self.skipTest(f"{PROMETHEUS} is not installed (scripts/setup.sh installs it)")
        self.dir = tempfile.mkdtemp(prefix="reactor-prometheus-")
        self.addCleanup(shutil.rmtree, self.dir, ignore_errors=True)

    def api(self, port, path):
        with urllib.request.urlopen(f"http://{HOST}:{port}{path}", timeout=5) as r:
            return json.load(r)

    def test_scraped_and_queried(self):
        metrics_port = free_port()
        srv = Server("http", "--metrics", f"{HOST}:{metrics_port}").start()
        self.addCleanup(srv.kill)
        with srv.client() as c:
            for i in range(3):
                self.assertEqual(c.exchange(request("GET", f"/{i}")).status, 200)
        config = os.path.join(self.dir, "prometheus.yml")
        with open(config, "w") as f:
            f.write("global:\n  scrape_interval: 1s\n  scrape_timeout: 1s\n"
                    "scrape_configs:\n  - job_name: reactor\n    static_configs:\n"
                    f"      - targets: ['{HOST}:{metrics_port}']\n")
        web_port = free_port()
        prometheus = subprocess.Popen(
            [PROMETHEUS, f"--config.file={config}", f"--storage.tsdb.path={self.dir}/data",
             f"--web.listen-address={HOST}:{web_port}"],
            stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        self.addCleanup(prometheus.wait, 10)
        self.addCleanup(prometheus.kill)

        def query(promql):
            try:
                return self.api(web_port, "/api/v1/query?query=" +
                                urllib.request.quote(promql))["data"]["result"]
            except OSError:
                return None  # not listening yet

        def target_up():
            try:
                targets = self.api(web_port, "/api/v1/targets")["data"]["activeTargets"]
            except OSError:
                return None
            return targets and targets[0]["health"] == "up"
        wait_for(target_up, 20, "Prometheus to report the target up", interval=0.2)
        query_text = 'sum(reactor_http_requests_total{method="GET",status="2xx"})'
        result = wait_for(lambda: query(query_text), 20,
                          "the request counter in Prometheus", interval=0.2)
        self.assertEqual(float(result[0]["value"][1]), 3.0)
        series = query('reactor_http_requests_total{method="GET",status="2xx"}')
        self.assertEqual({s["metric"]["job"] for s in series}, {"reactor"})
        self.assertEqual({s["metric"]["loop"] for s in series}, {"0"})
        srv.stop()


if __name__ == "__main__":
    unittest.main()
