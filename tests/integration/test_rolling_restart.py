"""Three `reactor http` instances behind a real HAProxy (send-proxy-v2, health checks,
retries), under a steady load of keep-alive requests: one instance is stopped with SIGTERM
and started again on its port, and not one client request may fail. The configuration is
docs/deployment.md's, on loopback ports."""

import threading
import unittest
import urllib.request

import harness
from harness import Deadline, Server
from haproxy import HAProxy

INSTANCES = 3
LOAD_CLIENTS = 4

SECTIONS = """\
defaults
    mode http
    timeout connect 2s
    timeout client 30s
    timeout server 30s
    retries 3
    option redispatch 1
    retry-on conn-failure empty-response
frontend www
    bind 127.0.0.1:{front}
    http-request disable-l7-retry if METH_POST
    default_backend reactors
backend reactors
    balance roundrobin
    option httpchk GET /
    http-check expect status 200
    http-reuse safe
    default-server send-proxy-v2 check inter 200ms fall 1 rise 2
{servers}
listen stats
    bind 127.0.0.1:{stats}
    stats enable
    stats uri /stats
"""


class Load:
    """LOAD_CLIENTS threads, each sending GET requests with unique targets on one keep-alive
    connection to HAProxy (a new one if HAProxy closes it) and checking every answer."""

    def __init__(self, port):
        self.address = (harness.HOST, port)
        self.lock = threading.Lock()
        self.done = 0
        self.failures = []
        self.stopping = threading.Event()
        self.threads = [threading.Thread(target=self._run, args=(i,), daemon=True)
                        for i in range(LOAD_CLIENTS)]

    def start(self):
        for t in self.threads:
            t.start()

    def count(self):
        with self.lock:
            return self.done

    def stop(self):
        self.stopping.set()
        for t in self.threads:
            t.join(timeout=harness.IO_TIMEOUT)
        return [t for t in self.threads if t.is_alive()]

    def _run(self, index):
        client = None
        deadline = Deadline(120)  # a bound on the whole test, never reached when healthy
        for n in range(1_000_000):
            if self.stopping.is_set() or deadline.expired():
                break
            target = f"c{index}-{n}"
            try:
                client = client or harness.Client(self.address, timeout=10)
                response = client.exchange(harness.request("GET", "/" + target))
                ok = response.status == 200 and response.body == target.encode()
                if response.header("Connection") == "close":
                    client.close()
                    client = None
            except (OSError, AssertionError) as e:
                ok, response = False, e
                if client:
                    client.close()
                client = None
            with self.lock:
                self.done += 1
                if not ok:
                    self.failures.append((target, repr(response)[:300]))
        if client:
            client.close()


def stats(port):
    """HAProxy's CSV statistics: {server name: row} for backend `reactors`."""
    url = f"http://{harness.HOST}:{port}/stats;csv"
    with urllib.request.urlopen(url, timeout=harness.IO_TIMEOUT) as response:
        body = response.read().decode()
    lines = body.splitlines()
    header = lines[0].lstrip("# ").split(",")
    rows = [dict(zip(header, line.split(","))) for line in lines[1:] if line]
    return {r["svname"]: r for r in rows if r["pxname"] == "reactors"}


class RollingRestartTest(unittest.TestCase):
    def setUp(self):
        self.servers = []
        self.addCleanup(lambda: [s.kill() for s in self.servers])

    def start_instance(self, port="0"):
        argv = [*harness.server_command("http"), "--port", str(port), "--proxy-protocol"]
        server = Server("http", argv=argv).start()
        self.servers.append(server)
        return server

    def wait_load(self, load, more, what):
        target = load.count() + more
        harness.wait_for(lambda: load.count() >= target, harness.IO_TIMEOUT, what)

    def test_sigterm_and_restart_one_instance_under_load_fails_nothing(self):
        instances = [self.start_instance() for _ in range(INSTANCES)]
        front, stats_port = harness.free_port(), harness.free_port()
        servers = "\n".join(f"    server r{i} 127.0.0.1:{s.port}" for i, s in enumerate(instances))
        sections = SECTIONS.format(front=front, stats=stats_port, servers=servers)
        with HAProxy(sections, [front, stats_port]):
            harness.wait_for(lambda: all(r["status"] == "UP" for r in stats(stats_port).values()),
                             harness.START_TIMEOUT, "every instance to be UP")
            load = Load(front)
            load.start()
            try:
                self.wait_load(load, 300, "requests before the restart")
                victim = instances[1]
                victim.stop()  # SIGTERM: asserts exit status 0, nothing more on stdout
                self.wait_load(load, 300, "requests while r1 is down")
                restarted = self.start_instance(victim.port)
                served_before = int(stats(stats_port)["r1"]["stot"])
                harness.wait_for(lambda: stats(stats_port)["r1"]["status"] == "UP" and
                                 int(stats(stats_port)["r1"]["stot"]) > served_before + 20,
                                 harness.IO_TIMEOUT, "the restarted r1 to serve again")
                self.wait_load(load, 300, "requests after the restart")
            finally:
                stuck = load.stop()
            self.assertEqual(stuck, [], "load threads did not stop")
            self.assertEqual(load.failures, [], f"{len(load.failures)} of {load.count()} "
                             "requests failed")
            self.assertGreater(load.count(), 900)
            restarted.stop()
            for s in instances:
                if s is not victim:
                    s.stop()


if __name__ == "__main__":
    unittest.main()
