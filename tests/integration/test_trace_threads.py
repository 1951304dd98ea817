"""Trace mode with several loop threads (`--threads 2`, CTest label "threads"): the base
loop accepts, the two others serve, each line names its loop, and lines from different
threads never interleave mid-line (harness.parse_trace fails on any broken line).

Loops flush their batches independently, so the file is not in causal order across
loops (a connection's watch on loop 1 may come before its accept on loop 0): the checks
group lines by loop and tie them together by descriptor, never by position.
"""

import os
import unittest

from harness import (HOST, IO_TIMEOUT, Deadline, Server, connect, parse_response, parse_trace,
                     recv_exactly, recv_until, request, wait_for)


def setUpModule():
    os.environ.pop("REACTOR_TRACE", None)


class ThreadsTrace(unittest.TestCase):
    CONNECTIONS = 8

    def serve(self, subcommand, exchange):
        """Opens CONNECTIONS clients at once (so their descriptors stay distinct), runs
        `exchange(sock, i)` on each, closes them, stops the server; returns its parsed
        trace and the clients' addresses."""
        with Server(subcommand, "--trace", "--threads", "2") as srv:
            socks = [connect(srv.address) for _ in range(self.CONNECTIONS)]
            try:
                peers = [f"{HOST}:{s.getsockname()[1]}" for s in socks]
                sent = [exchange(s, i) for i, s in enumerate(socks)]
            finally:
                for s in socks:
                    s.close()
            # Stopped only once every close is seen: a stop that came first would close
            # the connections itself (reason local), which is not what this test checks.
            wait_for(lambda: srv.stderr_text().count(" close fd=") >= len(socks), IO_TIMEOUT,
                     "the server to see every client close")
            srv.stop()
            return parse_trace(srv.stderr_text()), peers, sent

    def check_loops(self, lines, peers):
        """Accepts on one loop, each connection's life on one of two others; returns
        {peer: (serving loop, lines about its descriptor there)}."""
        accepts = {l["peer"]: l for l in lines if l.event == "accept"}
        self.assertEqual(set(accepts), set(peers))
        base = {l.loop for l in accepts.values()}
        self.assertEqual(len(base), 1, f"accepts on several loops: {base}")
        base = base.pop()
        served = {}
        for peer in peers:
            fd = accepts[peer].fd
            about = [l for l in lines if l.loop != base and l.fd == fd]
            loops = {l.loop for l in about}
            self.assertEqual(len(loops), 1, f"{peer} (fd {fd}) served by loops {loops}")
            events = [l.event for l in about]
            self.assertEqual(about[0].text, f"trace {about[0].loop} watch fd={fd} interest=R")
            self.assertEqual(events[-2:], ["close", "unwatch"], about)
            self.assertEqual(about[-2]["reason"], "peer")
            served[peer] = (loops.pop(), about)
        serving = {loop for loop, _ in served.values()}
        self.assertEqual(len(serving), 2, f"want two serving loops, got {serving}")
        self.assertNotIn(base, serving)
        # The base loop only accepts: no connection's read or write is traced there.
        self.assertEqual([l for l in lines if l.loop == base and l.event in ("read", "write")],
                         [])
        return served

    def test_echo(self):
        def exchange(sock, i):
            data = b"payload of connection %d\n" % i
            sock.sendall(data)
            self.assertEqual(recv_exactly(sock, len(data), Deadline(IO_TIMEOUT)), data)
            return len(data)

        lines, peers, sent = self.serve("echo", exchange)
        served = self.check_loops(lines, peers)
        for peer, n in zip(peers, sent):
            _, about = served[peer]
            reads = [l.int("bytes") for l in about if l.event == "read"]
            self.assertEqual(sum(reads), n, peer)
            self.assertEqual(reads[-1], 0, peer)
            self.assertEqual(sum(l.int("bytes") for l in about if l.event == "write"), n, peer)

    def test_http(self):
        def exchange(sock, i):
            sock.sendall(request("GET", f"/conn{i}"))
            data, how = recv_until(sock, lambda d: parse_response(d) is not None,
                                   Deadline(IO_TIMEOUT))
            self.assertEqual(how, "done", data)
            response, _ = parse_response(data)
            self.assertEqual((response.status, response.body), (200, b"conn%d" % i))
            return f"/conn{i}"

        lines, peers, targets = self.serve("http", exchange)
        served = self.check_loops(lines, peers)
        for peer, target in zip(peers, targets):
            loop, about = served[peer]
            fd = about[0].fd
            self.assertEqual([l.text for l in about if l.event in ("request", "response")],
                             [f"trace {loop} request fd={fd} method=GET target={target}",
                              f"trace {loop} response fd={fd} status=200"])


if __name__ == "__main__":
    unittest.main()
