"""`reactor echo --threads 2` with each --balancing: integrity, half-close and a graceful
stop across loop threads. Labelled `threads` in CTest, so it also runs under TSan."""

import signal
import unittest

from harness import (BALANCINGS, Deadline, IO_TIMEOUT, Server, assert_echoed, connect,
                     echo_many, make_rng, random_payloads, recv_to_eof, wait_server_read_all)


class ThreadedEcho(unittest.TestCase):

    def test_integrity_each_balancing(self):
        rng = make_rng(self)
        for balancing in BALANCINGS:
            with self.subTest(balancing=balancing):
                payloads = random_payloads(rng, 50, 128 * 1024)
                with Server("echo", "--threads", "2", "--balancing", balancing) as srv:
                    assert_echoed(self, payloads, echo_many(srv.address, payloads, rng))
                    # A second wave on the same server: loops are reused, not exhausted.
                    more = random_payloads(rng, 20, 64 * 1024)
                    assert_echoed(self, more, echo_many(srv.address, more, rng))
                    srv.stop()

    def test_half_close_each_balancing(self):
        rng = make_rng(self)
        for balancing in BALANCINGS:
            with self.subTest(balancing=balancing):
                payloads = [rng.randbytes(n) for n in (0, 1, 5000, 200 * 1024, 2 << 20)]
                with Server("echo", "--threads", "2", "--balancing", balancing) as srv:
                    received = echo_many(srv.address, payloads, rng, half_close=True)
                    assert_echoed(self, payloads, received)
                    srv.stop()

    def test_sigterm_flushes_every_loop(self):
        rng = make_rng(self)
        for balancing in BALANCINGS:
            with self.subTest(balancing=balancing):
                with Server("echo", "--threads", "2", "--balancing", balancing) as srv:
                    clients = []
                    for _ in range(8):  # spread over both loops
                        s = connect(srv.address, rcvbuf=4096)
                        data = rng.randbytes(rng.randint(1, 300 * 1024))
                        s.sendall(data)
                        clients.append((s, data))
                    for s, _ in clients:
                        wait_server_read_all(s)
                    srv.send_signal(signal.SIGTERM)
                    for i, (s, data) in enumerate(clients):
                        got = recv_to_eof(s, Deadline(IO_TIMEOUT))
                        self.assertTrue(got == data,
                                        f"client {i}: got {len(got)} of {len(data)} bytes")
                        s.close()
                    srv.stop()


if __name__ == "__main__":
    unittest.main()
