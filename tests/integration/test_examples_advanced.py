"""The tutorial's later examples (examples/*.cc), each run as a real process over 127.0.0.1:
edge_vs_level, partial_writes, chat, timers_signals, scale_threads, scale_processes and
tcp_udp_stdin. Each test checks the behaviour its step is about, byte by byte where bytes
travel, and that the program stops cleanly. The programs come from $REACTOR_EXAMPLES_DIR
(CTest sets it); scale_threads runs loop threads, so the module carries the `threads` label.
"""

import os
import re
import select
import signal
import socket
import subprocess
import unittest

from harness import (HOST, IO_TIMEOUT, START_TIMEOUT, STOP_TIMEOUT, Deadline, Example,
                     assert_echoed, connect, echo_many, example_path, kernel_share, make_rng,
                     parse_trace, peer_socket_queues, random_payloads, received_unread,
                     recv_exactly, recv_to_eof, recv_until, run_cli, sanitizer_report, wait_for,
                     wait_server_read_all)
from test_chat import assert_next, join

TRACE = {"REACTOR_TRACE": "1"}


# --- edge_vs_level ---------------------------------------------------------------------

class EdgeVsLevel(unittest.TestCase):
    """4096 bytes wait on a connection; the reader takes 100 per read()."""

    LEVEL = "level      4096 of 4096 bytes read; wake-ups 41, reads 41"
    EDGE = "edge        100 of 4096 bytes read; wake-ups 1, reads 1; then no wake-up for 300 ms"
    DRAIN = "edge+drain 4096 of 4096 bytes read; wake-ups 1, reads 41"

    def run_example(self, *args, env=None):
        r = run_cli(args, program=[example_path("edge_vs_level")], keep_trace=True,
                    env={**os.environ, **env} if env else None)
        stderr = r.stderr.decode(errors="replace")
        self.assertEqual(r.returncode, 0, stderr)
        self.assertIsNone(sanitizer_report(stderr))
        return r.stdout.decode().splitlines(), stderr

    def test_level_triggered_wakes_the_reader_until_all_is_read(self):
        self.assertEqual(self.run_example("level")[0], [self.LEVEL])

    def test_edge_triggered_reader_that_stops_early_strands_bytes(self):
        self.assertEqual(self.run_example("edge")[0], [self.EDGE])

    def test_edge_triggered_reader_that_drains_gets_everything(self):
        self.assertEqual(self.run_example("edge+drain")[0], [self.DRAIN])

    def test_all_three_and_the_trace(self):
        """No argument: all three in order. Traced, stdout is the same, and the edge run's
        trace shows the one dispatch and then waits that end with nothing ready."""
        self.assertEqual(self.run_example()[0], [self.LEVEL, self.EDGE, self.DRAIN])
        out, err = self.run_example("edge", env=TRACE)
        self.assertEqual(out, [self.EDGE])
        lines = parse_trace(err)  # every stderr line a well-formed trace line
        dispatches = [i for i, line in enumerate(lines) if line.event == "dispatch"]
        self.assertEqual(len(dispatches), 1, err)
        # Then a wait that ends with nothing ready: the stranded bytes bring no new edge.
        self.assertEqual(lines[dispatches[0] + 2].text, "trace 0 ready count=0", err)


# --- partial_writes --------------------------------------------------------------------

def expected_body(size):
    return (bytes(range(251)) * (size // 251 + 1))[:size]


def body_mib():
    """A response larger than any socket's send buffer plus a small receive buffer here, so a
    client that does not read makes the server's writes partial whatever the sysctls."""
    with open("/proc/sys/net/ipv4/tcp_wmem") as f:
        wmem_max = int(f.read().split()[2])
    return max(8, 2 * (wmem_max >> 20) + 2)


_PROGRESS = r"127\.0\.0\.1:(\d+): (\d+) bytes in (\d+) sends, (\d+) partial, at most (\d+) queued"


class PartialWrites(unittest.TestCase):

    def progress(self, srv):
        m = srv.line_matching(_PROGRESS, limit=1)
        return {"port": int(m.group(1)), "bytes": int(m.group(2)), "sends": int(m.group(3)),
                "partial": int(m.group(4)), "queued": int(m.group(5))}

    def test_slow_reader_gets_every_byte_and_blocks_no_one(self):
        mib = body_mib()
        size = mib << 20
        body = expected_body(size)
        with Example("partial_writes", str(mib)) as srv:
            slow = connect(srv.address, rcvbuf=4096)
            # The server is on the slow client: it wrote more than the client's window takes.
            wait_for(lambda: server_owes(slow), IO_TIMEOUT, "the server to write to it")
            fast = connect(srv.address)
            got = recv_to_eof(fast, Deadline(IO_TIMEOUT))
            self.assertEqual(len(got), size)
            self.assertTrue(got == body, "the fast client got different bytes")
            # The first response finished is the fast client's: the slow one, which read
            # nothing yet, held no one up.
            fast_line = self.progress(srv)
            self.assertEqual(fast_line["port"], fast.getsockname()[1])
            got = recv_to_eof(slow, Deadline(IO_TIMEOUT))
            self.assertEqual(len(got), size)
            self.assertTrue(got == body, "the slow client got different bytes")
            slow_line = self.progress(srv)
            self.assertEqual(slow_line["port"], slow.getsockname()[1])
            for line in (fast_line, slow_line):
                self.assertEqual(line["bytes"], size)
                self.assertEqual(line["sends"], size // (256 << 10))
                self.assertLessEqual(line["queued"], 256 << 10)
            self.assertGreater(slow_line["partial"], 0, "the slow client's writes were all whole")
            self.assertGreater(slow_line["queued"], 0)
            fast.close()
            slow.close()
            self.assertEqual(srv.stop(), [])

    def test_client_that_leaves_early_does_not_disturb_the_server(self):
        with Example("partial_writes", "4") as srv:
            for _ in range(3):
                early = connect(srv.address, rcvbuf=4096)
                recv_exactly(early, 1000, Deadline(IO_TIMEOUT))
                early.close()  # unread bytes: a reset, and the server's next write fails
            with connect(srv.address) as c:
                got = recv_to_eof(c, Deadline(IO_TIMEOUT))
            self.assertTrue(got == expected_body(4 << 20))
            self.assertEqual(self.progress(srv)["bytes"], 4 << 20)
            # Nothing was printed for the clients that left.
            self.assertEqual(srv.stop(), [])

    def test_trace_shows_write_interest(self):
        mib = body_mib()
        with Example("partial_writes", str(mib), env=TRACE) as srv:
            with connect(srv.address, rcvbuf=4096) as c:
                # Read nothing until the kernel has refused part of a piece: a client that
                # reads as fast as a slow (sanitized) server writes never makes it queue.
                wait_for(lambda: re.search(r"write fd=\d+ bytes=\d+ queued=[1-9]",
                                           srv.stderr_text()),
                         IO_TIMEOUT, "a write the kernel took only part of")
                got = recv_to_eof(c, Deadline(IO_TIMEOUT))
            self.assertTrue(got == expected_body(mib << 20))
            self.assertEqual(self.progress(srv)["bytes"], mib << 20)
            self.assertEqual(srv.stop(), [])
            trace = srv.stderr_text()
            self.assertRegex(trace, r"trace 0 interest fd=\d+ from=R to=RW\n")
            self.assertRegex(trace, r"trace 0 interest fd=\d+ from=RW to=R\n")
            self.assertRegex(trace, r"trace 0 write fd=\d+ bytes=\d+ queued=[1-9]\d*\n")


def server_owes(sock):
    """True once the server's socket toward `sock` holds bytes not yet delivered."""
    q = peer_socket_queues(sock)
    return q is not None and q[0] > 0


# --- chat ------------------------------------------------------------------------------

class Chat(unittest.TestCase):
    """The same protocol as `reactor chat` and co_chat: lines go unchanged to the others."""

    def setUp(self):
        self.srv = Example("chat").start()
        self.addCleanup(self.srv.kill)

    def test_lines_go_unchanged_to_every_other_client(self):
        a, b, c = join(self.srv.address, 3)
        with a, b, c:
            a.sendall(b"ann: hello\n")
            assert_next(self, b, b"ann: hello\n", "b")
            assert_next(self, c, b"ann: hello\n", "c")
            b.sendall(b"bob: hi\r\n\xff\x00 bytes\n")
            assert_next(self, a, b"bob: hi\r\n\xff\x00 bytes\n", "a (its own line came back?)")
            assert_next(self, c, b"bob: hi\r\n\xff\x00 bytes\n", "c")
            # The sender never gets its own line: the next thing b reads is c's.
            c.sendall(b"cy: last\n")
            assert_next(self, b, b"cy: last\n", "b")
            assert_next(self, a, b"cy: last\n", "a")
            self.assertEqual(self.srv.stop(), [])

    def test_line_split_across_reads_is_assembled(self):
        a, b, c = join(self.srv.address, 3)
        with a, b, c:
            # After each piece the server has read it and must hold it: c's line, sent
            # next, is the next thing b receives.
            for n, piece in enumerate((b"hel", b"lo wo", b"rld\nsec")):
                a.sendall(piece)
                wait_server_read_all(a)
                if piece.endswith(b"sec"):
                    assert_next(self, b, b"hello world\n", "b")
                c.sendall(b"c%d\n" % n)
                assert_next(self, b, b"c%d\n" % n, "b (got a partial line early?)")
            a.sendall(b"ond\n")
            assert_next(self, b, b"second\n", "b")
            assert_next(self, c, b"hello world\nsecond\n", "c (its own lines came back?)")
            assert_next(self, a, b"c0\nc1\nc2\n", "a")
            self.assertEqual(self.srv.stop(), [])

    def test_client_that_does_not_read_is_dropped_and_the_rest_go_on(self):
        line = b"%s\n" % (b"x" * (16 << 10))
        limit = 1 << 20  # the example's kMaxOutput
        writer, reader, sleeper = join(self.srv.address, 3, last_rcvbuf=4096)
        with writer, reader, sleeper:
            sent = 0
            for n in range(4096):  # 64 MiB at most; the drop comes after a few MiB
                if sleeper_closed(sleeper):
                    break
                share = kernel_share(sleeper)
                if share is None:
                    break
                # What the server itself holds for the sleeper stays within the limit.
                self.assertLessEqual(sent - share, limit + 2 * len(line))
                writer.sendall(line)
                assert_next(self, reader, line, f"the reader, line {n}")
                sent += len(line)
            else:
                self.fail("the client that does not read was never dropped")
            data, how = recv_until(sleeper, lambda d: False, Deadline(IO_TIMEOUT))
            self.assertIn(how, ("eof", "reset"))
            self.assertLess(len(data), sent)
            writer.sendall(b"after\n")
            assert_next(self, reader, b"after\n", "the reader")
            self.assertEqual(self.srv.stop(), [])

    def test_traced_relay_is_the_same(self):
        with Example("chat", env=TRACE) as srv:
            a, b = join(srv.address, 2)
            with a, b:
                a.sendall(b"ann: traced\n")
                assert_next(self, b, b"ann: traced\n", "b")
            self.assertEqual(srv.stop(), [])
            trace = srv.stderr_text()
            self.assertRegex(trace, r"trace 0 read fd=\d+ bytes=12\n")
            self.assertRegex(trace, r"trace 0 write fd=\d+ bytes=12 queued=0\n")
        self.assertEqual(self.srv.stop(), [])

    def test_line_without_end_drops_its_sender(self):
        a, b = join(self.srv.address, 2)
        with a, b:
            try:
                a.sendall(b"y" * (70 << 10))
            except (BrokenPipeError, ConnectionResetError):
                pass  # dropped before the last bytes went out
            data, how = recv_until(a, lambda d: False, Deadline(IO_TIMEOUT))
            self.assertEqual((data, how in ("eof", "reset")), (b"", True))
            with connect(self.srv.address) as c:
                c.sendall(b"c: still here\n")
                assert_next(self, b, b"c: still here\n", "b")
                b.sendall(b"b: yes\n")
                assert_next(self, c, b"b: yes\n", "c")
            self.assertEqual(self.srv.stop(), [])


def sleeper_closed(sock):
    """The server aborted or closed its side: our socket sees the FIN or the reset."""
    p = select.poll()
    p.register(sock, select.POLLRDHUP | select.POLLHUP | select.POLLERR)
    return bool(p.poll(0))


# --- timers_signals --------------------------------------------------------------------

class TimersSignals(unittest.TestCase):

    def start(self, env=None):
        srv = Example("timers_signals", "50", port=None, listening=False, env=env).start()
        self.addCleanup(srv.kill)
        self.assertEqual(srv.first, f"pid {srv.pid}: SIGUSR1 status, SIGHUP reset, "
                                    f"SIGINT or SIGTERM stop")
        return srv

    def lines_until(self, srv, pattern):
        """Every line up to and including the first that matches `pattern`."""
        lines = []
        for _ in range(1000):
            lines.append(srv.line())
            if re.fullmatch(pattern, lines[-1]):
                return lines
        self.fail(f"no line matching {pattern!r} in {lines[-20:]}")

    def check_ticks(self, lines, first, only_ticks=True):
        """The tick lines among `lines` count up from `first`, and (only_ticks) every line
        but the last is one; returns the number of the last tick."""
        ticks = [int(line.split()[1]) for line in lines if line.startswith("tick ")]
        if only_ticks:
            self.assertEqual(len(ticks), len(lines) - 1, lines)
        self.assertEqual(ticks, list(range(first, first + len(ticks))), lines)
        return first + len(ticks) - 1

    def test_timers_then_every_signal(self):
        srv = self.start()
        lines = self.lines_until(srv, r"tick 6")
        last = self.check_ticks(lines, 1, only_ticks=False)
        # Tick 1 cancelled the timer due at tick 2, which never runs; the one-shot ran once.
        self.assertEqual(lines[:2], ["tick 1", "cancelled the timer due at 2 intervals"])
        self.assertEqual(lines.count("one-shot timer fired (2.5 intervals in)"), 1, lines)
        self.assertEqual(len(lines), 6 + 2, lines)  # six ticks, the cancel, the one-shot

        srv.proc.send_signal(signal.SIGUSR1)
        lines = self.lines_until(srv, r"status: \d+ ticks, one-shot fired")
        last = self.check_ticks(lines, last + 1)
        self.assertEqual(lines[-1], f"status: {last} ticks, one-shot fired")

        srv.proc.send_signal(signal.SIGHUP)
        lines = self.lines_until(srv, r"SIGHUP: tick count reset \(was \d+\)")
        last = self.check_ticks(lines, last + 1)
        self.assertEqual(lines[-1], f"SIGHUP: tick count reset (was {last})")
        self.assertEqual(self.lines_until(srv, r"tick 3"), ["tick 1", "tick 2", "tick 3"])

        srv.proc.send_signal(signal.SIGTERM)
        lines = self.lines_until(srv, r"SIGTERM: stopping after \d+ ticks")
        last = self.check_ticks(lines, 4)
        self.assertEqual(lines[-1], f"SIGTERM: stopping after {last} ticks")
        self.assertEqual(srv.wait_clean_exit(), [])

    def test_sigint_stops_it_and_trace_goes_to_stderr(self):
        srv = self.start(env=TRACE)
        self.lines_until(srv, r"tick 3")
        srv.proc.send_signal(signal.SIGINT)
        self.lines_until(srv, r"SIGINT: stopping after \d+ ticks")
        self.assertEqual(srv.wait_clean_exit(), [])
        trace = srv.stderr_text()
        self.assertRegex(trace, r"trace 0 timer id=\d+\n")
        self.assertRegex(trace, rf"trace 0 signal signo={int(signal.SIGINT)}\n")


# --- scale_threads, scale_processes ----------------------------------------------------

CLIENTS = 40


class Scale(unittest.TestCase):

    def serve_many(self, srv):
        rng = make_rng(self)
        payloads = random_payloads(rng, CLIENTS, 64 << 10)
        assert_echoed(self, payloads, echo_many(srv.address, payloads, rng))

    def test_threads_spread_connections_over_every_loop(self):
        with Example("scale_threads", "4", env=TRACE) as srv:
            self.serve_many(srv)
            srv.proc.send_signal(signal.SIGUSR1)
            counts = [int(srv.line_matching(rf"loop {i}: (\d+) connections", limit=1).group(1))
                      for i in range(4)]
            self.assertEqual(sum(counts), CLIENTS, counts)
            self.assertLessEqual(max(counts) - min(counts), 1, counts)  # in turn
            self.assertEqual(srv.stop(), [])
            # Traced: loop 0 accepts; loops 1 to 4, one per thread, read and write.
            trace = srv.stderr_text()
            self.assertRegex(trace, r"trace 0 accept fd=")
            for loop in range(1, 5):
                self.assertRegex(trace, rf"trace {loop} read fd=\d+ bytes=[1-9]")

    def test_processes_share_one_port(self):
        with Example("scale_processes", "4") as srv:
            wait_for(lambda: listeners(srv.port) == 4, START_TIMEOUT, "four listeners")
            self.serve_many(srv)
            srv.proc.send_signal(signal.SIGUSR1)
            counts = {}
            for _ in range(4):
                m = srv.line_matching(r"process (\d+): (\d+) connections", limit=1)
                counts[int(m.group(1))] = int(m.group(2))
            self.assertEqual(len(counts), 4, counts)
            self.assertIn(srv.pid, counts)
            self.assertEqual(sum(counts.values()), CLIENTS, counts)
            self.assertGreater(sum(1 for n in counts.values() if n > 0), 1, counts)
            self.assertEqual(srv.stop(), [])
            self.assertEqual(listeners(srv.port), 0, "a worker outlived the parent")

    def test_processes_end_with_a_killed_parent(self):
        with Example("scale_processes", "3") as srv:
            wait_for(lambda: listeners(srv.port) == 3, START_TIMEOUT, "three listeners")
            srv.proc.kill()
            srv.proc.wait(timeout=STOP_TIMEOUT)
            wait_for(lambda: listeners(srv.port) == 0, STOP_TIMEOUT, "the workers to end")


def listeners(port):
    """Sockets listening on 127.0.0.1:port (/proc/net/tcp, state 0A)."""
    local = f"0100007F:{port:04X}"
    with open("/proc/net/tcp") as f:
        return sum(1 for line in f if line.split()[1:2] == [local] and line.split()[3] == "0A")


# --- tcp_udp_stdin ---------------------------------------------------------------------

class TcpUdpStdin(unittest.TestCase):

    def start(self, stdin=subprocess.PIPE, env=None):
        srv = Example("tcp_udp_stdin", stdin=stdin, env=env).start()
        self.addCleanup(srv.kill)
        m = re.fullmatch(r"udp on 127\.0\.0\.1:(\d+)", srv.line())
        self.assertIsNotNone(m)
        self.udp = (HOST, int(m.group(1)))
        return srv

    def check_udp(self):
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as u:
            u.settimeout(IO_TIMEOUT)
            for size in (1, 100, 1400, 60000):
                datagram = os.urandom(size)
                u.sendto(datagram, self.udp)
                data, sender = u.recvfrom(65536)
                self.assertEqual((data, sender), (datagram, self.udp))

    def check_tcp(self, srv):
        rng = make_rng(self)
        payloads = random_payloads(rng, 5, 256 << 10)
        assert_echoed(self, payloads, echo_many(srv.address, payloads, rng))

    def test_tcp_udp_and_stdin_in_one_loop(self):
        srv = self.start()
        self.check_tcp(srv)
        self.check_udp()
        stdin = srv.proc.stdin
        clients = [connect(srv.address) for _ in range(2)]
        try:
            for c in clients:  # an echo round trip: the server knows the client
                c.sendall(b"ping")
                self.assertEqual(recv_exactly(c, 4, Deadline(IO_TIMEOUT)), b"ping")
            write_stdin(stdin, b"hello everyone\n")
            for c in clients:
                self.assertEqual(recv_exactly(c, 15, Deadline(IO_TIMEOUT)), b"hello everyone\n")
            # A line typed in pieces goes out whole, once its newline comes.
            write_stdin(stdin, b"par")
            wait_for(lambda: received_unread(stdin) == 0, IO_TIMEOUT, "the server to read stdin")
            clients[0].sendall(b"x")  # nothing of "par" may come before this echo
            self.assertEqual(recv_exactly(clients[0], 1, Deadline(IO_TIMEOUT)), b"x")
            write_stdin(stdin, b"tial\nnext")
            write_stdin(stdin, b" one\n")
            for c in clients:
                self.assertEqual(recv_exactly(c, 17, Deadline(IO_TIMEOUT)),
                                 b"partial\nnext one\n")
            # End of input: the servers go on.
            stdin.close()
            self.assertEqual(srv.line(), "stdin closed; still serving")
            self.check_tcp(srv)
            self.check_udp()
            for c in clients:
                c.sendall(b"still")
                self.assertEqual(recv_exactly(c, 5, Deadline(IO_TIMEOUT)), b"still")
        finally:
            for c in clients:
                c.close()
        self.assertEqual(srv.stop(), [])

    def test_stdin_that_cannot_be_watched(self):
        srv = self.start(stdin=subprocess.DEVNULL, env=TRACE)
        self.assertEqual(srv.line(), "stdin cannot be watched; serving without it")
        self.check_tcp(srv)
        self.check_udp()
        self.assertEqual(srv.stop(), [])
        self.assertRegex(srv.stderr_text(), r"trace 0 accept fd=\d+ peer=127\.0\.0\.1:\d+\n")


def write_stdin(pipe, data):
    pipe.write(data)
    pipe.flush()


if __name__ == "__main__":
    unittest.main()
