"""`reactor echo` on one loop: integrity over every backend, half-close, back-pressure
against a peer that does not read, and a graceful stop that loses nothing."""

import signal
import socket
import time
import unittest

from harness import (BACKENDS, Deadline, IO_TIMEOUT, Server, assert_echoed, connect,
                     echo_many, is_refused, kernel_share, make_rng, push_until_stalled,
                     random_payloads, read_all_to_eof, recv_exactly, recv_to_eof, recv_until,
                     wait_for, wait_server_read_all)

MiB = 1 << 20


class EchoIntegrity(unittest.TestCase):
    """50 concurrent clients, random sizes, random split points, every byte checked."""

    def check_backend(self, backend):
        rng = make_rng(self)
        payloads = random_payloads(rng, 50, 256 * 1024)
        with Server("echo", "--backend", backend) as srv:
            received = echo_many(srv.address, payloads, rng)
            assert_echoed(self, payloads, received)
            srv.stop()

    def test_epoll(self):
        self.check_backend("epoll")

    def test_epoll_et(self):
        self.check_backend("epoll-et")

    def test_poll(self):
        self.check_backend("poll")

    def test_select(self):
        self.check_backend("select")

    def test_large_transfers_past_the_high_water_mark(self):
        # Far past the high-water mark while the client reads slowly (small receive
        # window): reading pauses and resumes many times, on every backend, and must never
        # lose or reorder a byte.
        rng = make_rng(self)
        for backend in BACKENDS:
            with self.subTest(backend=backend):
                payloads = [rng.randbytes(8 * MiB), rng.randbytes(3 * MiB)]
                with Server("echo", "--backend", backend) as srv:
                    received = echo_many(srv.address, payloads, rng, rcvbuf=16384)
                    assert_echoed(self, payloads, received)
                    srv.stop()


class EchoHalfClose(unittest.TestCase):
    """The client sends, then shutdown(SHUT_WR): it gets everything back, then EOF."""

    def test_half_close_each_backend(self):
        rng = make_rng(self)
        sizes = [0, 1, 1000, 300 * 1024, 3 * MiB]
        for backend in BACKENDS:
            with self.subTest(backend=backend):
                payloads = [rng.randbytes(n) for n in sizes]
                with Server("echo", "--backend", backend) as srv:
                    received = echo_many(srv.address, payloads, rng, timeout=15,
                                         half_close=True)
                    assert_echoed(self, payloads, received)
                    srv.stop()

    def test_data_and_fin_arriving_together(self):
        # Data immediately followed by FIN, before the server wakes up: one readiness
        # report covers both, so the server must read on to the EOF (edge-triggered
        # included) rather than wait for another wake-up that never comes.
        for backend in BACKENDS:
            with self.subTest(backend=backend):
                with Server("echo", "--backend", backend) as srv:
                    clients = []
                    for i in range(20):
                        s = connect(srv.address)
                        data = b"%d:" % i + b"z" * (i * 97)
                        s.sendall(data)
                        s.shutdown(socket.SHUT_WR)
                        clients.append((s, data))
                    # The echo itself is immediate; only a missed EOF waits this out.
                    results = read_all_to_eof([s for s, _ in clients], Deadline(5))
                    outcomes = [(got == data, how)
                                for (got, how), (_, data) in zip(results, clients)]
                    for s, _ in clients:
                        s.close()
                    bad = [(i, o) for i, o in enumerate(outcomes) if o != (True, "eof")]
                    self.assertEqual(bad, [], "[(client, (echo complete?, how it ended))]")
                    srv.stop()

    def test_eof_arrives_while_output_is_still_queued(self):
        # A small receive window keeps the echo queued in the server when our FIN reaches
        # it: the server must still send all of it before closing.
        rng = make_rng(self)
        payload = rng.randbytes(512 * 1024)  # under the high-water mark: all of it is read
        with Server("echo") as srv:
            with connect(srv.address, rcvbuf=4096) as s:
                s.sendall(payload)
                s.shutdown(socket.SHUT_WR)
                wait_server_read_all(s)
                got = recv_to_eof(s, Deadline(IO_TIMEOUT))
                self.assertEqual(len(got), len(payload))
                self.assertEqual(got, payload)
            srv.stop()

    def test_server_keeps_reading_after_echoing_eof_client(self):
        # Half-closed clients must not disturb the others.
        rng = make_rng(self)
        with Server("echo") as srv:
            with connect(srv.address) as a, connect(srv.address) as b:
                a.sendall(b"first")
                a.shutdown(socket.SHUT_WR)
                self.assertEqual(recv_to_eof(a, Deadline(IO_TIMEOUT)), b"first")
                data = rng.randbytes(100_000)
                b.sendall(data)
                self.assertEqual(recv_exactly(b, len(data), Deadline(IO_TIMEOUT)), data)
            srv.stop()


class EchoBackPressure(unittest.TestCase):
    """A client that sends without reading costs at most about the high-water mark."""

    HIGH_WATER = 1 * MiB  # the server's default
    PUSH_LIMIT = 64 * MiB
    RSS_BOUND = 16 * MiB

    def test_non_reading_peer_is_bounded_and_others_are_served(self):
        rng = make_rng(self)
        with Server("echo") as srv:
            # Warm up: the first connection's allocations are not growth.
            warm = rng.randbytes(256 * 1024)
            assert_echoed(self, [warm], echo_many(srv.address, [warm], rng))
            baseline = srv.rss_bytes()

            # The hog's buffers are pinned before it connects and the kernel's share at both
            # ends is measured: what is left of `pushed` is what the server process holds.
            hog = connect(srv.address, rcvbuf=4096, sndbuf=64 * 1024)
            hog.setblocking(False)
            chunk = rng.randbytes(256 * 1024)
            peak = 0

            def sample():
                nonlocal peak
                peak = max(peak, srv.rss_bytes() - baseline)

            pushed, stalled = push_until_stalled(hog, chunk, Deadline(IO_TIMEOUT),
                                                 self.PUSH_LIMIT, on_wait=sample)
            sample()
            in_kernel = kernel_share(hog)
            self.assertIsNotNone(in_kernel, "the server dropped the connection")
            held = pushed - in_kernel
            msg = (f"pushed {pushed / MiB:.1f} MiB, {in_kernel / MiB:.1f} MiB of it in kernel "
                   f"queues; the server holds {held / MiB:.1f} MiB; RSS peak growth "
                   f"{peak / MiB:.1f} MiB")
            print(msg)
            self.assertTrue(stalled, "the server never stopped reading: " + msg)
            # It paused at the high-water mark, after at most one more read.
            self.assertLess(held, 2 * self.HIGH_WATER, msg)
            self.assertLess(peak, self.RSS_BOUND, msg)

            # Meanwhile, another client is served in full.
            payloads = random_payloads(rng, 5, 512 * 1024)
            assert_echoed(self, payloads, echo_many(srv.address, payloads, rng))
            self.assertLess(srv.rss_bytes() - baseline, self.RSS_BOUND)

            # The hog starts reading: it gets back exactly what it sent, in order.
            hog.setblocking(True)
            got = recv_exactly(hog, pushed, Deadline(IO_TIMEOUT))
            expected = (chunk * (pushed // len(chunk) + 1))[:pushed]
            self.assertTrue(got == expected, "the hog's echo differs from what it sent")
            hog.close()
            srv.stop()


class EchoGracefulStop(unittest.TestCase):
    """SIGTERM/SIGINT: stop accepting, send every byte already read, exit 0."""

    def test_sigterm_flushes_everything_read(self):
        rng = make_rng(self)
        with Server("echo") as srv:
            clients = []
            # Tiny receive windows keep most of each echo queued inside the server.
            for i in range(10):
                s = connect(srv.address, rcvbuf=4096)
                data = rng.randbytes(rng.randint(1, 600 * 1024))
                s.sendall(data)
                clients.append((s, data))
            for s, _ in clients:
                wait_server_read_all(s)
            srv.send_signal(signal.SIGTERM)
            # It stops accepting while it still owes the clients their bytes.
            wait_for(lambda: is_refused(srv.address), IO_TIMEOUT,
                     "the listening socket to close")
            for i, (s, data) in enumerate(clients):
                got = recv_to_eof(s, Deadline(IO_TIMEOUT))
                self.assertEqual(len(got), len(data), f"client {i}")
                self.assertTrue(got == data, f"client {i}: echo differs")
                s.close()
            srv.stop()

    def test_sigint_with_clients_mid_transfer(self):
        # Clients half-way through a transfer: whatever the server read comes back whole.
        rng = make_rng(self)
        with Server("echo") as srv:
            clients = []
            for _ in range(5):
                s = connect(srv.address)
                data = rng.randbytes(200 * 1024)
                s.sendall(data)
                head = recv_exactly(s, 1000, Deadline(IO_TIMEOUT))  # echo is under way
                clients.append((s, data, head))
            for s, _, _ in clients:
                wait_server_read_all(s)
            srv.send_signal(signal.SIGINT)
            for i, (s, data, head) in enumerate(clients):
                got = head + recv_to_eof(s, Deadline(IO_TIMEOUT))
                self.assertTrue(got == data, f"client {i}: got {len(got)} of {len(data)}")
                s.close()
            srv.stop()

    def test_idle_clients_see_eof_and_the_server_exits_promptly(self):
        for signum in (signal.SIGINT, signal.SIGTERM):
            with self.subTest(signal=signum.name):
                with Server("echo") as srv:
                    clients = [connect(srv.address) for _ in range(5)]
                    for s in clients:
                        s.sendall(b"x")
                        self.assertEqual(recv_exactly(s, 1, Deadline(IO_TIMEOUT)), b"x")
                    started = time.monotonic()
                    srv.send_signal(signum)
                    # Nothing is owed: each idle client just sees the server's FIN, and
                    # once it closes too, nothing is left to wait for.
                    for s in clients:
                        data, how = recv_until(s, lambda d: False, Deadline(IO_TIMEOUT))
                        self.assertEqual((data, how), (b"", "eof"))
                        s.close()
                    srv.stop()
                    took = time.monotonic() - started
                    self.assertLess(took, 3.0, "waited for the 5 s drain timeout though "
                                               "every client had closed")

    def test_drain_timeout_bounds_an_idle_client_that_never_closes(self):
        with Server("echo", "--drain-timeout", "300") as srv:
            with connect(srv.address) as s:
                s.sendall(b"x")
                self.assertEqual(recv_exactly(s, 1, Deadline(IO_TIMEOUT)), b"x")
                started = time.monotonic()
                srv.stop(signal.SIGTERM)
                took = time.monotonic() - started
                self.assertLess(took, 4.0, f"exit took {took:.2f}s with --drain-timeout 300")
                data, how = recv_until(s, lambda d: False, Deadline(IO_TIMEOUT))
                self.assertEqual(data, b"")
                self.assertIn(how, ("eof", "reset"))

    def test_drain_timeout_bounds_a_peer_that_never_reads(self):
        rng = make_rng(self)
        with Server("echo", "--drain-timeout", "300") as srv:
            with connect(srv.address, rcvbuf=4096, sndbuf=64 * 1024) as hog:
                # Push until the server stops reading (its queue is at the high-water mark)
                # and the kernel's queues are full; the kernel's share is measured, so some
                # echo is known to wait in the server itself for the drain to bound.
                hog.setblocking(False)
                pushed, stalled = push_until_stalled(hog, rng.randbytes(256 * 1024),
                                                     Deadline(IO_TIMEOUT), 64 * MiB)
                self.assertTrue(stalled, f"the server read all {pushed} bytes")
                in_kernel = kernel_share(hog)
                self.assertIsNotNone(in_kernel, "the server dropped the connection")
                self.assertLess(in_kernel, pushed, "nothing is queued in the server")
                started = time.monotonic()
                srv.send_signal(signal.SIGTERM)
                srv.stop(timeout=IO_TIMEOUT)
                took = time.monotonic() - started
                # 0.3 s drain plus generous slack for sanitizer builds; never the 5 s default.
                self.assertLess(took, 4.0, f"exit took {took:.2f}s with --drain-timeout 300")


if __name__ == "__main__":
    unittest.main()
