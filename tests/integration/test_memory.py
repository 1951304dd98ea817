"""Memory after a burst: `reactor http` (one loop and --threads 2) and `reactor echo` give
back what a few big messages made them take. The RSS must come back to within 8 MiB of
the starting RSS within 10 s of idleness (polled in /proc/PID/status, never a bare sleep),
under glibc's default malloc settings.

Sanitized binaries bring their own allocator (quarantine, shadow memory): the RSS checks
are skipped for them, the traffic still runs and is still checked.
"""

import re
import time
import unittest
from concurrent.futures import ThreadPoolExecutor

from harness import (IO_TIMEOUT, Deadline, Server, assert_echoed, connect, echo_many,
                     make_rng, proc_status_kib, reactor_bin, recv_exactly, recv_until)

MIB = 1 << 20
SLACK_KIB = 8 * 1024      # how far above its starting RSS the server may stay
SETTLE_TIMEOUT = 10.0     # idle time allowed to give memory back
POLL = 0.05
KERNEL_BUFFER = 256 << 10  # SO_SNDBUF/SO_RCVBUF of the test's sockets, set before connect
_CONTENT_LENGTH = re.compile(rb"\r\ncontent-length: *(\d+)\r\n", re.IGNORECASE)


def sanitized(path):
    """True when the binary carries ASan or TSan (their runtimes define these symbols)."""
    with open(path, "rb") as f:
        image = f.read()
    return b"__asan_init" in image or b"__tsan_init" in image


def post_echo(address, body):
    """One POST /echo on its own connection; returns the echoed body."""
    s = connect(address, rcvbuf=KERNEL_BUFFER, sndbuf=KERNEL_BUFFER)
    try:
        s.sendall(b"POST /echo HTTP/1.1\r\nHost: test\r\nContent-Length: %d\r\n"
                  b"Connection: close\r\n\r\n" % len(body) + body)
        deadline = Deadline(IO_TIMEOUT)
        data, how = recv_until(s, lambda d: b"\r\n\r\n" in d, deadline, limit=len(body) + (64 << 10))
        if how != "done":
            raise AssertionError(f"no response head ({how}); got {data[:200]!r}")
        head, rest = data.split(b"\r\n\r\n", 1)
        if not head.startswith(b"HTTP/1.1 200 "):
            raise AssertionError(f"unexpected response head {head[:200]!r}")
        m = _CONTENT_LENGTH.search(head + b"\r\n")
        if not m:
            raise AssertionError(f"no Content-Length in {head[:200]!r}")
        return rest + recv_exactly(s, int(m.group(1)) - len(rest), deadline)
    finally:
        s.close()


class MemoryAfterBurst(unittest.TestCase):

    def setUp(self):
        self.check_rss = not sanitized(reactor_bin())

    def rss_kib(self, srv):
        return proc_status_kib(srv.pid, "VmRSS")

    def assert_settles(self, srv, start_kib, what):
        """Polls VmRSS until it is within SLACK_KIB of the start; bounded in time."""
        if not self.check_rss:
            return
        deadline = Deadline(SETTLE_TIMEOUT)
        seen = [self.rss_kib(srv)]
        for _ in range(int(SETTLE_TIMEOUT / POLL) + 2):
            if seen[-1] <= start_kib + SLACK_KIB or deadline.expired():
                break
            time.sleep(min(POLL, deadline.left()))
            seen.append(self.rss_kib(srv))
        self.assertLessEqual(
            seen[-1], start_kib + SLACK_KIB,
            f"{what}: RSS {seen[-1]} KiB after {SETTLE_TIMEOUT:.0f}s idle, started at "
            f"{start_kib} KiB (max {max(seen)} KiB while waiting)")

    def http_burst(self, sizes, *args, clients=1):
        """POSTs each size `clients` times at once (one connection each)."""
        rng = make_rng(self)
        with Server("http", "--host", "127.0.0.1", *args) as srv:
            self.assertEqual(post_echo(srv.address, b"warm-up"), b"warm-up")
            start = self.rss_kib(srv)
            with ThreadPoolExecutor(clients) as pool:
                for size in sizes:
                    bodies = [rng.randbytes(size) for _ in range(clients)]
                    echoed = pool.map(lambda b: post_echo(srv.address, b), bodies)
                    for i, (body, back) in enumerate(zip(bodies, echoed)):
                        self.assertTrue(back == body, f"client {i}: {size}-byte echo differs")
            self.assert_settles(srv, start, f"reactor http {' '.join(args)}")
            srv.stop()

    def test_http_one_loop(self):
        self.http_burst([1 * MIB] * 3 + [8 * MIB] * 3)

    def test_http_two_loops(self):
        # Smaller bodies than above, eight at a time: the handler's own copy of each body
        # is an ordinary heap block, and glibc never trims the top of a loop thread's arena
        # below twice the largest block freed there (malloc_trim does not touch it); with
        # 8 MiB bodies one at a time that is up to 16 MiB per loop thread, kept for reuse
        # (docs/architecture.md, "After a burst").
        self.http_burst([2 * MIB] * 3, "--threads", "2", clients=8)

    def test_echo_two_loops(self):
        rng = make_rng(self)
        with Server("echo", "--threads", "2") as srv:
            assert_echoed(self, [b"warm-up"], echo_many(srv.address, [b"warm-up"], rng))
            start = self.rss_kib(srv)
            # Clients slower to read than to write (a small receive buffer): the server
            # queues up to its high-water mark per connection.
            payloads = [rng.randbytes(4 * MIB) for _ in range(8)]
            assert_echoed(self, payloads,
                          echo_many(srv.address, payloads, rng, rcvbuf=64 << 10))
            self.assert_settles(srv, start, "reactor echo --threads 2")
            srv.stop()


if __name__ == "__main__":
    unittest.main()
