"""The tutorial's first examples (examples/, docs/tutorial.md), each run as a real process
over 127.0.0.1 and checked for what its step is about: selector_echo (the Selector alone:
partial writes kept, write interest only while output waits, every backend), callback_loop
(handlers on an EventLoop), echo_server (TcpServer; back-pressure at the high-water mark),
server_received (a reply per line, however the bytes are cut), http_hello (a head split
across reads, the answer flushed before the close, an oversized head refused), url_echo and
co_url_echo (the URL echo on http::Server, with a plain and a coroutine handler).

Every example prints `listening on HOST:PORT` first, reports on stdout only what its step
prints, stops with exit code 0 on SIGTERM, and keeps stdout unchanged with REACTOR_TRACE=1.
The programs are in $REACTOR_EXAMPLES_DIR (CTest sets it)."""

import collections
import os
import re
import signal
import socket
import unittest

from harness import (BACKENDS, IO_TIMEOUT, Deadline, Example, assert_echoed,
                     connect, echo_many, kernel_share, make_rng, parse_trace,
                     push_until_stalled, random_chunks, random_payloads, recv_exactly,
                     recv_to_eof, recv_until, received_unread, request, wait_for,
                     wait_server_read_all)

KiB = 1024
MiB = 1024 * KiB
PEER = r"127\.0\.0\.1:\d+"


def setUpModule():
    if not os.environ.get("REACTOR_EXAMPLES_DIR"):
        raise unittest.SkipTest("REACTOR_EXAMPLES_DIR is not set (run through CTest, or "
                                "export it)")


class BackPressureMixin:
    """A client that sends without reading: how much does the server hold, does it spin,
    and does the client get its echo back whole and in order once it reads."""

    PUSH_LIMIT = 64 * MiB

    def push_then_read(self, ex, hold_limit):
        rng = make_rng(self)
        with connect(ex.address, rcvbuf=4096, sndbuf=64 * KiB) as hog:
            hog.setblocking(False)
            chunk = rng.randbytes(256 * KiB)
            cpu = []
            pushed, stalled = push_until_stalled(
                hog, chunk, Deadline(IO_TIMEOUT), self.PUSH_LIMIT,
                on_wait=lambda: cpu.append(ex.cpu_seconds()))
            # The last sample was taken just before the final quiet wait (>= 0.5 s): a
            # server that spins on a socket it cannot write would burn that whole wait.
            idle_cpu = ex.cpu_seconds() - cpu[-1]
            in_kernel = kernel_share(hog)
            self.assertIsNotNone(in_kernel, "the server dropped the connection")
            held = pushed - in_kernel
            msg = (f"pushed {pushed} bytes, {in_kernel} in kernel queues, the server holds "
                   f"{held}, used {idle_cpu:.2f} s of CPU while the client was not reading")
            print(msg)
            self.assertTrue(stalled, "the server never stopped reading: " + msg)
            self.assertLessEqual(held, hold_limit, msg)
            # Idle, it uses next to none; spinning, all it can get of one core.
            self.assertLess(idle_cpu, 0.1, msg)
            # Meanwhile another client is served in full: nothing waits for the hog.
            others = random_payloads(rng, 3, 64 * KiB)
            assert_echoed(self, others, echo_many(ex.address, others, rng))
            # The hog reads at last: every byte comes back, in order.
            hog.setblocking(True)
            got = recv_exactly(hog, pushed, Deadline(IO_TIMEOUT))
            expected = (chunk * (pushed // len(chunk) + 1))[:pushed]
            self.assertTrue(got == expected, "the echo differs from what was sent")
        return [pushed] + [len(p) for p in others]  # what each client sent, the hog first


def per_peer(lines, pattern):
    """{peer: [match groups...]} of the lines matching `pattern` (whose group 1 is a peer)."""
    found = collections.defaultdict(list)
    for line in lines:
        m = re.fullmatch(pattern, line)
        if m:
            found[m.group(1)].append(m.groups()[1:])
    return found


class SelectorEcho(BackPressureMixin, unittest.TestCase):
    """selector_echo: the Selector interface alone, on every backend."""

    def assert_story(self, lines, sizes):
        """Each client's lines: accepted, then what was echoed (adding up to its payload),
        then closing; nothing else."""
        story = collections.defaultdict(list)
        for line in lines:
            m = (re.fullmatch(rf"(accepted|closing) ({PEER})", line)
                 or re.fullmatch(rf"echoing ([1-9]\d*) bytes to ({PEER})", line))
            self.assertIsNotNone(m, f"unexpected line {line!r}")
            story[m.group(2)].append(int(m.group(1)) if "echoing" in line else m.group(1))
        totals = []
        for peer, steps in story.items():
            self.assertEqual(steps[0], "accepted", f"{peer}: {steps}")
            self.assertEqual(steps[-1], "closing", f"{peer}: {steps}")
            self.assertTrue(all(isinstance(s, int) for s in steps[1:-1]), f"{peer}: {steps}")
            totals.append(sum(steps[1:-1]))
        self.assertEqual(sorted(totals), sorted(sizes))

    def test_many_clients_on_every_backend(self):
        rng = make_rng(self)
        for backend in BACKENDS:
            with self.subTest(backend=backend), Example("selector_echo", backend) as ex:
                payloads = random_payloads(rng, 8, 256 * KiB)
                assert_echoed(self, payloads, echo_many(ex.address, payloads, rng,
                                                        half_close=True))
                ex.wait_lines(lambda ls: sum(l.startswith("closing ") for l in ls) == 8,
                              "closing line for each client")
                self.assert_story(ex.stop(), [len(p) for p in payloads])

    def test_partial_writes_are_kept_and_nothing_spins(self):
        for backend in BACKENDS:
            with self.subTest(backend=backend), Example("selector_echo", backend) as ex:
                # One read's worth (64 KiB) waits in the process while the client is not
                # reading; the rest stays in the kernel's queues.
                sizes = self.push_then_read(ex, hold_limit=64 * KiB)
                ex.wait_lines(lambda ls: sum(l.startswith("closing ") for l in ls) == 4,
                              "closing line for each client")
                # What the hog sent came back whole and in order although the server
                # held at most one read of it: the rest of each partial write was kept.
                self.assert_story(ex.stop(), sizes)

    def test_a_reset_client_is_closed(self):
        with Example("selector_echo") as ex:
            s = connect(ex.address)
            s.sendall(b"x" * 100)
            self.assertEqual(recv_exactly(s, 100, Deadline(IO_TIMEOUT)), b"x" * 100)
            s.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, b"\1\0\0\0\0\0\0\0")
            s.close()  # linger 0: a reset
            ex.wait_lines(lambda ls: any(l.startswith("closing ") for l in ls), "closing line")
            # Still serving.
            with connect(ex.address) as t:
                t.sendall(b"after")
                self.assertEqual(recv_exactly(t, 5, Deadline(IO_TIMEOUT)), b"after")
            ex.stop(signal.SIGINT)


class CallbackLoop(BackPressureMixin, unittest.TestCase):
    """callback_loop: two Handler classes on an EventLoop."""

    def test_many_clients(self):
        rng = make_rng(self)
        with Example("callback_loop") as ex:
            payloads = random_payloads(rng, 10, 256 * KiB)
            assert_echoed(self, payloads, echo_many(ex.address, payloads, rng, half_close=True))
            self.assertEqual(ex.stop(), [])

    def test_a_client_that_does_not_read_blocks_nobody(self):
        with Example("callback_loop") as ex:
            self.push_then_read(ex, hold_limit=64 * KiB)
            self.assertEqual(ex.stop(), [])


class EchoServer(BackPressureMixin, unittest.TestCase):
    """echo_server: TcpServer and its callbacks; reading pauses at the high-water mark."""

    def test_many_clients(self):
        rng = make_rng(self)
        with Example("echo_server") as ex:
            payloads = random_payloads(rng, 10, 256 * KiB)
            assert_echoed(self, payloads, echo_many(ex.address, payloads, rng, half_close=True))
            lines = ex.wait_lines(lambda ls: sum(l.startswith("closed ") for l in ls) == 10,
                                  "closed line for each client")
            lines = ex.stop()
            accepted = per_peer(lines, rf"accepted ({PEER})")
            closed = per_peer(lines, rf"closed ({PEER}) \((\w+)\)")
            self.assertEqual(len(accepted), 10, lines)
            self.assertEqual(sorted(accepted), sorted(closed))
            self.assertEqual({r for v in closed.values() for (r,) in v}, {"peer"})
            self.assertEqual(len(lines), 20, lines)

    def test_high_water_pauses_reading(self):
        with Example("echo_server") as ex:
            # 1 MiB high-water mark; reading pauses within one read of it.
            self.push_then_read(ex, hold_limit=2 * MiB)
            lines = ex.wait_lines(lambda ls: any(l.startswith("queue for ") for l in ls),
                                  "the low-water line")
            paused = per_peer(lines, rf"\d+ bytes queued for ({PEER}): pausing its reads")
            resumed = per_peer(lines, rf"queue for ({PEER}) at the low-water mark: reading again")
            self.assertEqual(len(paused), 1, lines)
            self.assertEqual(set(paused), set(resumed), lines)
            ex.stop()


class ServerReceived(unittest.TestCase):
    """server_received: one reply per line, whatever the reads look like."""

    @staticmethod
    def reply(lines):
        return b"".join(b"Server received " + line for line in lines)

    def test_lines_cut_anywhere_from_several_clients(self):
        rng = make_rng(self)
        with Example("server_received") as ex:
            clients = []
            for i in range(6):
                lines = [rng.randbytes(rng.randint(0, 300)).replace(b"\n", b"") + b"\n"
                         for _ in range(rng.randint(1, 20))]
                clients.append((connect(ex.address), lines,
                                random_chunks(rng, b"".join(lines), max_pieces=40)))
            # The clients' pieces interleave, one send() each, several lines or a few bytes.
            for _ in range(1000):
                pending = [c for c in clients if c[2]]
                if not pending:
                    break
                sock, _, pieces = rng.choice(pending)
                sock.sendall(pieces.pop(0))
            for sock, lines, _ in clients:
                want = self.reply(lines)
                self.assertEqual(recv_exactly(sock, len(want), Deadline(IO_TIMEOUT)), want)
                sock.close()
            lines = ex.stop()
            self.assertEqual(len(per_peer(lines, rf"connected by ({PEER})")), 6, lines)
            self.assertEqual(len(lines), 6, lines)

    def test_the_tutorials_dialogue(self):
        # Seed 3's client: two sockets taking turns, each waiting for its answer.
        messages = [b"This is \n", b"the message. \n", b"It will be sent \n", b"in parts.\n"]
        with Example("server_received") as ex:
            socks = [connect(ex.address), connect(ex.address)]
            for i, message in enumerate(messages):
                s = socks[i % 2]
                s.sendall(message)
                want = self.reply([message])
                self.assertEqual(recv_exactly(s, len(want), Deadline(IO_TIMEOUT)), want)
            for s in socks:
                s.shutdown(socket.SHUT_WR)
                self.assertEqual(recv_to_eof(s, Deadline(IO_TIMEOUT)), b"")
                s.close()
            ex.stop()

    def test_a_line_is_answered_once_it_ends(self):
        with Example("server_received") as ex, connect(ex.address) as s:
            s.sendall(b"half ")
            wait_server_read_all(s)  # read, and kept for later
            s.sendall(b"a line\nnext")
            want = b"Server received half a line\n"
            self.assertEqual(recv_exactly(s, len(want), Deadline(IO_TIMEOUT)), want)
            s.shutdown(socket.SHUT_WR)  # "next" never ends: no reply to it
            self.assertEqual(recv_to_eof(s, Deadline(IO_TIMEOUT)), b"")
            ex.stop()

    def test_a_line_without_end_closes_the_connection(self):
        with Example("server_received") as ex, connect(ex.address) as s:
            s.sendall(b"x" * (64 * KiB + 1))
            self.assertEqual(recv_to_eof(s, Deadline(IO_TIMEOUT)), b"")
            ex.stop()


HELLO = (b"HTTP/1.0 200 OK\r\nContent-Type: text/plain\r\nContent-Length: 13\r\n\r\n"
         b"Hello, world!")


class HttpHello(unittest.TestCase):
    """http_hello: the raw HTTP/1.0 exchange over TcpServer and Buffer."""

    def assert_answered_and_closed(self, sock):
        data, how = recv_until(sock, lambda d: False, Deadline(IO_TIMEOUT))
        self.assertEqual(how, "eof", f"after {data!r}")  # a FIN after the answer, no reset
        self.assertEqual(data, HELLO)

    def test_several_clients_at_once(self):
        with Example("http_hello") as ex:
            socks = [connect(ex.address) for _ in range(8)]
            for i, s in enumerate(socks):
                s.sendall(f"GET /{i} HTTP/1.0\r\nHost: x\r\n\r\n".encode())
            for s in socks:
                self.assert_answered_and_closed(s)
                s.close()
            lines = ex.stop()
            self.assertEqual(sorted(lines), sorted(f"GET /{i} HTTP/1.0" for i in range(8)))

    def test_a_request_split_into_single_bytes(self):
        for head in (b"GET / HTTP/1.0\r\nUser-Agent: t\r\n\r\n", b"GET /lf HTTP/1.0\n\n"):
            with self.subTest(head=head), Example("http_hello") as ex, \
                    connect(ex.address) as s:
                for i in range(len(head)):
                    s.sendall(head[i:i + 1])
                    wait_server_read_all(s)  # so each byte is a read of its own
                self.assert_answered_and_closed(s)
                self.assertEqual(ex.stop(), [head.split(b"\n")[0].rstrip(b"\r").decode()])

    def test_bytes_after_the_head_cost_no_answer(self):
        # Bytes the server never reads (a body, say) that arrive after its answer: had it
        # closed at once, they would meet a closed socket and draw a reset, and a reset
        # makes the client's kernel drop the answer it has not read yet.
        with Example("http_hello") as ex, connect(ex.address) as s:
            s.sendall(b"POST / HTTP/1.0\r\nContent-Length: 100000\r\n\r\n")
            wait_for(lambda: received_unread(s) >= len(HELLO), IO_TIMEOUT, "the answer")
            s.sendall(b"b" * 100000)
            s.shutdown(socket.SHUT_WR)
            self.assert_answered_and_closed(s)
            ex.stop()

    def test_a_client_that_leaves_early_is_closed(self):
        with Example("http_hello") as ex, connect(ex.address) as s:
            s.sendall(b"GET / HTTP/1.0\r\nHost: x\r\n")
            s.shutdown(socket.SHUT_WR)  # no blank line will come
            self.assertEqual(recv_to_eof(s, Deadline(IO_TIMEOUT)), b"")
            self.assertEqual(ex.stop(), [])

    def test_an_oversized_head_is_refused(self):
        with Example("http_hello") as ex, connect(ex.address) as s:
            s.sendall(b"GET / HTTP/1.0\r\n" + b"X-Filler: " + b"f" * 9000 + b"\r\n")
            data = recv_to_eof(s, Deadline(IO_TIMEOUT))
            self.assertEqual(data, b"HTTP/1.0 431 Request Header Fields Too Large\r\n"
                                   b"Content-Length: 0\r\n\r\n")
            self.assertEqual(ex.stop(), [])


class UrlEchoBase:
    PROGRAM = None

    def test_paths_from_several_clients(self):
        targets = ["/hello", "/a/b/c", "/with?query=1&x", "/%41%20b", "/" + "z" * 2000]
        with Example(self.PROGRAM) as ex:
            clients = [ex.client() for _ in targets]
            for c, t in zip(clients, targets):
                c.send(request("GET", t))
            for c, t in zip(clients, targets):
                r = c.read_response()
                self.assertEqual((r.status, r.body), (200, t[1:].encode()))
                self.assertEqual(r.header("Content-Type"), "text/plain")
                # Kept alive: the same connection answers again.
                r = c.exchange(request("GET", t + "/again"))
                self.assertEqual(r.body, (t + "/again")[1:].encode())
                c.close()
            self.assertEqual(ex.stop(), [])

    def test_the_root_and_other_methods(self):
        with Example(self.PROGRAM) as ex, ex.client() as c:
            r = c.exchange(request("GET", "/"))
            self.assertEqual((r.status, r.body), (200, b"add a path to the URL"))
            r = c.exchange(request("POST", "/x", b"body"))
            self.assertEqual(r.status, 405)
            ex.stop()

    def test_an_absolute_form_target(self):
        with Example(self.PROGRAM) as ex, ex.client() as c:
            r = c.exchange(request("GET", "http://test/abs?q"))
            self.assertEqual((r.status, r.body), (200, b"http://test/abs?q"))
            ex.stop()

    def test_a_request_cut_anywhere(self):
        rng = make_rng(self)
        with Example(self.PROGRAM) as ex, ex.client() as c:
            wire = request("GET", "/split/here") * 3
            for piece in random_chunks(rng, wire, max_pieces=30):
                c.send(piece)
            for _ in range(3):
                self.assertEqual(c.read_response().body, b"split/here")
            ex.stop()


class UrlEcho(UrlEchoBase, unittest.TestCase):
    PROGRAM = "url_echo"


class CoUrlEcho(UrlEchoBase, unittest.TestCase):
    PROGRAM = "co_url_echo"


class TraceMode(unittest.TestCase):
    """REACTOR_TRACE=1: trace lines on stderr, stdout exactly as without it."""

    def run_traced(self, name, exchange, args=()):
        """Runs `exchange(address)` against `name` with and without trace mode; returns
        (stdout lines, trace lines) of the traced run."""
        outputs = []
        for env in ({"REACTOR_TRACE": "0"}, {"REACTOR_TRACE": "1"}):
            with Example(name, *args, env=env) as ex:
                exchange(ex)
                lines = ex.stop()
                outputs.append([re.sub(r"127\.0\.0\.1:\d+", "PEER", l) for l in lines])
                stderr = ex.stderr_text()
        self.assertEqual(outputs[0], outputs[1], f"{name}: stdout changed with trace mode")
        return outputs[1], parse_trace(stderr)  # every stderr line a well-formed trace line

    @staticmethod
    def events(trace):
        return {l.event for l in trace}

    @staticmethod
    def echo_once(ex, payload=b"traced\n"):
        with connect(ex.address) as s:
            s.sendall(payload)
            s.shutdown(socket.SHUT_WR)
            return recv_to_eof(s, Deadline(IO_TIMEOUT))

    def test_selector_echo_has_no_loop_to_trace(self):
        def exchange(ex):
            self.assertEqual(self.echo_once(ex), b"traced\n")
            ex.wait_lines(lambda ls: any(l.startswith("closing") for l in ls), "closing")
        out, trace = self.run_traced("selector_echo", exchange)
        self.assertEqual(out, ["accepted PEER", "echoing 7 bytes to PEER", "closing PEER"])
        self.assertEqual(trace, [])  # trace mode belongs to EventLoop, which it does not use

    def test_callback_loop(self):
        out, trace = self.run_traced(
            "callback_loop", lambda ex: self.assertEqual(self.echo_once(ex), b"traced\n"))
        self.assertEqual(out, [])
        self.assertLessEqual({"wait", "ready", "watch", "dispatch", "unwatch"},
                             self.events(trace))

    def test_echo_server(self):
        def exchange(ex):
            self.assertEqual(self.echo_once(ex), b"traced\n")
            ex.wait_lines(lambda ls: any(l.startswith("closed") for l in ls), "closed")
        out, trace = self.run_traced("echo_server", exchange)
        self.assertEqual(out, ["accepted PEER", "closed PEER (peer)"])
        self.assertLessEqual({"accept", "watch", "dispatch", "read", "write", "close",
                              "unwatch"}, self.events(trace))

    def test_server_received(self):
        out, trace = self.run_traced(
            "server_received",
            lambda ex: self.assertEqual(self.echo_once(ex), b"Server received traced\n"))
        self.assertEqual(out, ["connected by PEER"])
        self.assertLessEqual({"accept", "read", "write"}, self.events(trace))

    def test_http_hello(self):
        out, trace = self.run_traced(
            "http_hello",
            lambda ex: self.assertEqual(self.echo_once(ex, b"GET / HTTP/1.0\r\n\r\n"), HELLO))
        self.assertEqual(out, ["GET / HTTP/1.0"])
        self.assertLessEqual({"accept", "read", "write", "close"}, self.events(trace))

    def test_url_echo_both_ways(self):
        def exchange(ex):
            with ex.client() as c:
                self.assertEqual(c.exchange(request("GET", "/traced")).body, b"traced")
        for name in ("url_echo", "co_url_echo"):
            with self.subTest(example=name):
                out, trace = self.run_traced(name, exchange)
                self.assertEqual(out, [])
                self.assertIn("request", self.events(trace))
                self.assertIn("response", self.events(trace))


if __name__ == "__main__":
    unittest.main()
