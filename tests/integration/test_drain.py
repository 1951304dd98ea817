"""A graceful stop (SIGTERM) takes no longer than what is owed, and loses no answer.

A client that keeps its socket open after the server's FIN must not hold the process: the
server lingers for a client's FIN only when bytes from it may still arrive unread. Each
bound below is far from --drain-timeout 20000 and from the 5 s close timeout a lingering
close would wait for, so it tells the behaviours apart, not fast from slow.
"""

import signal
import time
import unittest

from harness import (IO_TIMEOUT, Deadline, Server, connect, parse_response, recv_exactly,
                     recv_until, request)

HELLO = b"Hello, world!"
# Well under the 5 s close timeout a lingering close waits before giving up.
PROMPT = 3.0


class HttpDrainTest(unittest.TestCase):
    def server(self):
        server = Server("http", "--drain-timeout", "20000").start()
        self.addCleanup(server.kill)
        return server

    def client(self, server):
        c = server.client()
        self.addCleanup(c.close)
        return c

    def assert_exits_promptly(self, server, started):
        server.stop()
        took = time.monotonic() - started
        self.assertLess(took, PROMPT, f"exit took {took:.2f}s: held by a client's open socket")

    def test_an_idle_client_that_keeps_its_socket_open_does_not_hold_the_stop(self):
        server = self.server()
        idle = [self.client(server) for _ in range(3)]
        for c in idle:
            r = c.exchange(request("GET", "/"))
            self.assertEqual((r.status, r.body), (200, HELLO))
        started = time.monotonic()
        server.send_signal(signal.SIGTERM)
        for c in idle:  # closed without a reply; and we never close ours
            self.assertEqual(c.wait_closed(timeout=IO_TIMEOUT), b"")
        self.assert_exits_promptly(server, started)

    def test_a_request_in_flight_is_answered_with_connection_close_then_the_process_exits(self):
        server = self.server()
        idle = self.client(server)
        self.assertEqual(idle.exchange(request("GET", "/")).body, HELLO)
        busy = self.client(server)
        # The interim response proves the server holds the request's headers: the body is
        # still to come when the signal arrives.
        busy.send(request("POST", "/echo", None, ["Expect: 100-continue", "Content-Length: 8"]))
        self.assertEqual(busy.read_response(interim=True).status, 100)
        busy.send(b"half")
        started = time.monotonic()
        server.send_signal(signal.SIGTERM)
        self.assertEqual(idle.wait_closed(timeout=IO_TIMEOUT), b"")  # the drain has begun
        self.assertIsNone(server.proc.poll(), "exited with a request in flight")
        busy.send(b"done")
        r = busy.read_response()
        self.assertEqual((r.status, r.body), (200, b"halfdone"))
        self.assertEqual(r.header("Connection"), "close")
        self.assertEqual(busy.wait_closed(timeout=IO_TIMEOUT), b"")
        self.assert_exits_promptly(server, started)  # our socket stays open

    def test_requests_racing_the_signal_get_a_whole_answer_or_a_clean_close(self):
        # Each idle keep-alive client sends a request as the signal is sent: the server
        # either reads it in time and answers it whole, or closes
        # the connection without a byte of answer. Never part of an answer, then a reset.
        outcomes = set()
        for _ in range(3):
            server = self.server()
            clients = [self.client(server) for _ in range(8)]
            for c in clients:
                self.assertEqual(c.exchange(request("GET", "/")).body, HELLO)
            for i, c in enumerate(clients):
                if i == len(clients) // 2:
                    server.send_signal(signal.SIGTERM)
                c.send(request("GET", f"/r{i}"))
            for i, c in enumerate(clients):
                data, how = recv_until(c.sock, lambda d: False, Deadline(IO_TIMEOUT))
                if not data:
                    self.assertIn(how, ("eof", "reset"))
                    outcomes.add("closed")
                    continue
                parsed = parse_response(data)
                self.assertIsNotNone(parsed, f"part of an answer, then {how}: {data[:200]!r}")
                r, used = parsed
                self.assertEqual((r.status, r.body, used), (200, f"r{i}".encode(), len(data)))
                # Connection: close, or none when answered before the drain began.
                self.assertIn(r.header("Connection"), ("close", None))
                self.assertEqual(how, "eof", "a whole answer, then a reset")
                outcomes.add("answered")
            server.stop()
        self.assertTrue(outcomes <= {"answered", "closed"}, outcomes)


class EchoDrainTest(unittest.TestCase):
    def test_an_idle_client_that_keeps_its_socket_open_does_not_hold_the_stop(self):
        with Server("echo", "--drain-timeout", "20000") as server:
            with connect(server.address) as s:
                s.sendall(b"x")
                self.assertEqual(recv_exactly(s, 1, Deadline(IO_TIMEOUT)), b"x")
                started = time.monotonic()
                server.send_signal(signal.SIGTERM)
                data, how = recv_until(s, lambda d: False, Deadline(IO_TIMEOUT))
                self.assertEqual((data, how), (b"", "eof"))
                server.stop()
                took = time.monotonic() - started
                self.assertLess(took, PROMPT, f"exit took {took:.2f}s: held by an idle client")


if __name__ == "__main__":
    unittest.main()
