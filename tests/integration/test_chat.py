"""`reactor chat`: complete lines go, unchanged, to every other client and nothing else is
ever sent; partial lines wait; a client that stops reading is dropped at --max-output while
the others keep receiving."""

import select
import selectors
import time
import unittest

from harness import (BACKENDS, Deadline, IO_TIMEOUT, Server, connect, kernel_share, make_rng,
                     peer_socket_queues, recv_exactly, recv_until, wait_for,
                     wait_server_read_all)


def join(address, count, last_rcvbuf=None):
    """Connects `count` clients so that every one is known to be a room member.

    Client k announces itself with a line; once every earlier client has received it, k
    is a member (its line was relayed) and so are they (they got it). Before the next
    client connects the server must have read the announcement, so no later client can
    get it. The announcements are consumed here, each checked to be exactly the line sent.
    `last_rcvbuf`: the last client's SO_RCVBUF, set before it connects."""
    clients = []
    for k in range(count):
        s = connect(address, rcvbuf=last_rcvbuf if k == count - 1 else None)
        line = b"join %d\n" % k
        s.sendall(line)
        wait_server_read_all(s)
        for j, other in enumerate(clients):
            got = recv_exactly(other, len(line), Deadline(IO_TIMEOUT))
            if got != line:
                raise AssertionError(f"client {j} got {got!r}, want {line!r}")
        clients.append(s)
    return clients


def assert_next(test, sock, expected, who):
    got = recv_exactly(sock, len(expected), Deadline(IO_TIMEOUT))
    test.assertEqual(got, expected, f"{who} received the wrong bytes")


class ChatRelay(unittest.TestCase):

    def setUp(self):
        self.srv = Server("chat").start()
        self.addCleanup(self.srv.kill)

    def tearDown(self):
        self.srv.stop()

    def test_line_goes_to_others_only(self):
        a, b, c = join(self.srv.address, 3)
        with a, b, c:
            a.sendall(b"hello from a\n")
            assert_next(self, b, b"hello from a\n", "b")
            assert_next(self, c, b"hello from a\n", "c")
            # The sender gets nothing: the first thing a receives is b's line.
            b.sendall(b"from b\n")
            assert_next(self, a, b"from b\n", "a (its own line echoed back?)")
            assert_next(self, c, b"from b\n", "c")
            c.sendall(b"from c\n")
            assert_next(self, a, b"from c\n", "a")
            assert_next(self, b, b"from c\n", "b (its own line echoed back?)")

    def test_bytes_relayed_unchanged(self):
        rng = make_rng(self)
        a, b = join(self.srv.address, 2)
        with a, b:
            odd = [b"\n", b"\r\n", b" spaces  and\ttabs \n", "héllo wörld ✓\n".encode(),
                   bytes(range(0, 10)) + bytes(range(11, 256)) + b"\n",
                   b"\x00\x00\n", b"x" * 60000 + b"\n"]
            for line in odd:
                a.sendall(line)
                assert_next(self, b, line, "b")
            # Many lines in one send arrive as the same bytes.
            burst = b"".join(b"%d %s\n" % (i, rng.randbytes(rng.randint(0, 50)).hex().encode())
                             for i in range(500))
            a.sendall(burst)
            assert_next(self, b, burst, "b")

    def test_partial_line_held_until_complete(self):
        a, b, c = join(self.srv.address, 3)
        with a, b, c:
            a.sendall(b"hel")
            wait_server_read_all(a)  # the server has read "hel" and must hold it
            c.sendall(b"c1\n")
            assert_next(self, b, b"c1\n", "b (got a's partial line early?)")
            a.sendall(b"lo wor")
            wait_server_read_all(a)
            c.sendall(b"c2\n")
            assert_next(self, b, b"c2\n", "b (got a's partial line early?)")
            a.sendall(b"ld\nsecond ")
            assert_next(self, b, b"hello world\n", "b")
            assert_next(self, c, b"hello world\n", "c (its own lines echoed back?)")
            wait_server_read_all(a)
            c.sendall(b"c3\n")
            assert_next(self, b, b"c3\n", "b (got a's partial line early?)")
            a.sendall(b"line\n")
            assert_next(self, b, b"second line\n", "b")
            # Byte by byte: still one line, unchanged.
            for ch in b"one byte at a time\n":
                a.send(bytes([ch]))
            assert_next(self, b, b"one byte at a time\n", "b")
            # a received nothing of all that but the other clients' lines.
            assert_next(self, a, b"c1\nc2\nc3\n", "a")

    def test_lines_from_many_senders_never_interleave(self):
        rng = make_rng(self)
        clients = join(self.srv.address, 4)
        senders = clients[1:]  # clients[0] only listens
        try:
            sent = {}
            for i, s in enumerate(senders):
                lines = [b"s%d n%d %s\n" % (i, n, b"x" * rng.randint(0, 3000))
                         for n in range(200)]
                sent[i] = lines
            # Everyone sends at once, in random pieces that split lines anywhere.
            pieces = {i: self.split(rng, b"".join(sent[i])) for i in sent}
            total = sum(len(b"".join(v)) for v in sent.values())
            for _ in range(100_000):
                live = [i for i in pieces if pieces[i]]
                if not live:
                    break
                i = rng.choice(live)
                senders[i].sendall(pieces[i].pop(0))
            # The senders also receive one another's lines; read them all concurrently so
            # no one's output fills up and gets it dropped.
            got = self.read_all(clients, [total] + [total - len(b"".join(sent[i]))
                                                    for i in sent])
            seen = {i: [] for i in sent}
            for line in got[0].splitlines(keepends=True):
                sender = int(line.split(b" ")[0][1:])
                seen[sender].append(line)
            for i in sent:
                self.assertEqual(seen[i], sent[i], f"sender {i}'s lines, as the listener saw them")
        finally:
            for s in clients:
                s.close()

    def test_departed_client_does_not_disturb_the_room(self):
        a, b, c = join(self.srv.address, 3)
        with a, b, c:
            b.close()
            # Keep sending until the server has noticed b is gone; meanwhile c gets all.
            for n in range(50):
                line = b"still here %d\n" % n
                a.sendall(line)
                assert_next(self, c, line, "c")
            c.sendall(b"reply\n")
            assert_next(self, a, b"reply\n", "a")

    @staticmethod
    def split(rng, data):
        out, i = [], 0
        while i < len(data):
            n = rng.randint(1, 5000)
            out.append(data[i:i + n])
            i += n
        return out

    @staticmethod
    def read_all(socks, wanted):
        bufs = [bytearray() for _ in socks]
        deadline = Deadline(IO_TIMEOUT)
        with selectors.DefaultSelector() as sel:
            for i, s in enumerate(socks):
                s.setblocking(False)
                sel.register(s, selectors.EVENT_READ, i)
            for _ in range(1_000_000):
                if all(len(b) >= w for b, w in zip(bufs, wanted)) or deadline.expired():
                    break
                for key, _ in sel.select(min(0.5, deadline.left())):
                    try:
                        chunk = socks[key.data].recv(1 << 20)
                    except BlockingIOError:
                        continue
                    if not chunk:
                        raise AssertionError(f"client {key.data} closed by the server")
                    bufs[key.data] += chunk
        for i, (b, w) in enumerate(zip(bufs, wanted)):
            if len(b) != w:
                raise AssertionError(f"client {i}: received {len(b)} bytes, want {w}")
        return [bytes(b) for b in bufs]


class ChatBackends(unittest.TestCase):

    def test_relay_every_backend(self):
        for backend in BACKENDS:
            with self.subTest(backend=backend):
                with Server("chat", "--backend", backend) as srv:
                    clients = join(srv.address, 4)
                    try:
                        for i, sender in enumerate(clients):
                            line = b"from %d: %s\n" % (i, backend.encode())
                            sender.sendall(line[:5])  # a partial line first
                            sender.sendall(line[5:])
                            for j, other in enumerate(clients):
                                if j != i:
                                    assert_next(self, other, line, f"client {j}")
                        # a sender's own lines never come back: each client got exactly
                        # the other three lines above, and now the next line it reads is
                        # this one.
                        clients[0].sendall(b"last\n")
                        assert_next(self, clients[1], b"last\n", "client 1")
                        clients[1].sendall(b"check\n")
                        assert_next(self, clients[0], b"check\n", "client 0")
                    finally:
                        for s in clients:
                            s.close()
                    srv.stop()


class ChatSlowReader(unittest.TestCase):
    """A client that never reads is dropped once its output passes --max-output; the
    others get every line, promptly, meanwhile."""

    LINE = 1024
    CAP = 64 << 20  # bytes relayed at most, whatever happens

    def test_non_reader_dropped_at_256k(self):
        self.check_non_reader_dropped(256 << 10)

    def test_non_reader_dropped_at_default_limit(self):
        self.check_non_reader_dropped(1 << 20, default=True)

    def check_non_reader_dropped(self, max_output, default=False):
        rng = make_rng(self)
        args = () if default else ("--max-output", str(max_output))
        with Server("chat", *args) as srv:
            # The sleeper's receive buffer is pinned before it connects, and the kernel's
            # share of its connection is measured as lines go: the point by which the
            # server must have dropped it does not depend on the host's buffer sysctls.
            writer, reader, sleeper = join(srv.address, 3, last_rcvbuf=4096)
            self.assertIsNotNone(peer_socket_queues(sleeper))
            sent, got, overdue, worst_gap = self.relay(rng, writer, reader, sleeper, max_output)
            print(f"reader got {len(got) >> 10} KiB; longest wait between reads "
                  f"{worst_gap:.3f}s; relayed past the limit before the drop was seen: {overdue}")
            self.assertEqual(len(got), len(sent), "the reading client missed lines")
            self.assertTrue(got == sent, "the reading client got different bytes")
            self.assertLess(worst_gap, 5.0, "the reading client was stalled")

            # The sleeper: its server-side socket is gone (dropped, not kept around).
            wait_for(lambda: peer_socket_queues(sleeper) is None
                     or self.sleeper_closed(sleeper), IO_TIMEOUT,
                     "the server to drop the client that does not read")
            data, how = recv_until(sleeper, lambda d: False, Deadline(IO_TIMEOUT))
            self.assertIn(how, ("eof", "reset"))
            self.assertLess(len(data), len(got), "the sleeper was never dropped")
            for s in (writer, reader, sleeper):
                s.close()
            srv.stop()

    def relay(self, rng, writer, reader, sleeper, max_output):
        """The writer sends random lines while the reader reads them all, until the sleeper
        is seen dropped or is overdue: the server relayed more than max_output beyond what
        the kernel holds for the sleeper. Returns (sent, got, overdue, worst gap)."""
        sent, got, pending = bytearray(), bytearray(), b""
        stop, overdue = False, False
        writer.setblocking(False)
        reader.setblocking(False)
        deadline = Deadline(IO_TIMEOUT * 2)
        last_progress, worst_gap = time.monotonic(), 0.0
        # The writer stays at most a quarter of the limit ahead of the reader. Without that
        # window, a server held off the CPU meanwhile finds megabytes from the writer at once
        # and rightly drops the reader, whose buffers had not grown yet, as a non-reader too.
        window = max_output // 4
        with selectors.DefaultSelector() as sel:
            sel.register(writer, selectors.EVENT_WRITE)
            sel.register(reader, selectors.EVENT_READ)
            for _ in range(10_000_000):
                if (stop and not pending and len(got) >= len(sent)) or deadline.expired():
                    break
                write = bool(pending) or (not stop and len(sent) - len(got) < window)
                if write != (writer in sel.get_map()):
                    if write:
                        sel.register(writer, selectors.EVENT_WRITE)
                    else:
                        sel.unregister(writer)
                for key, _ in sel.select(min(0.5, deadline.left())):
                    if key.fileobj is writer:
                        if not pending:
                            pending = b"%s\n" % rng.randbytes(
                                (self.LINE - 1) // 2).hex().encode()[:self.LINE - 1]
                            sent += pending
                        try:
                            pending = pending[writer.send(pending):]
                        except BlockingIOError:
                            pass
                        continue
                    try:
                        chunk = reader.recv(1 << 20)
                    except BlockingIOError:
                        continue
                    if not chunk:
                        self.fail(f"reader closed after {len(got)} bytes")
                    got += chunk
                    now = time.monotonic()
                    worst_gap, last_progress = max(worst_gap, now - last_progress), now
                    if not stop:
                        share = kernel_share(sleeper)
                        overdue = share is not None and \
                            len(got) - share > max_output + 2 * self.LINE
                        stop = share is None or overdue or self.sleeper_closed(sleeper) \
                            or len(got) >= self.CAP
        return sent, got, overdue, worst_gap

    @staticmethod
    def sleeper_closed(sock):
        # The server aborted or closed its side: our socket sees the FIN or the RST.
        p = select.poll()
        p.register(sock, select.POLLRDHUP | select.POLLHUP | select.POLLERR)
        return any(ev & (select.POLLRDHUP | select.POLLHUP | select.POLLERR)
                   for _, ev in p.poll(0))


if __name__ == "__main__":
    unittest.main()
