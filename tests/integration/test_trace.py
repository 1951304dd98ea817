"""Trace mode of the real programs (`--trace`, REACTOR_TRACE=1), parsed field by field
(harness.parse_trace holds every line to the grammar of docs/trace.md).

`reactor echo --trace` serving `reactor client --trace`: both traces tell the story the
issue promises (accept with the client's address, watch, wait/ready, dispatch, read,
write, close, unwatch) with the right descriptors and byte counts. `reactor http --trace`:
request and response lines, a malformed request answered 400 with a response line and no
request line. Only the `listening on` line on stdout; nothing on stderr without trace;
REACTOR_TRACE=1 does what --trace does. And two thousand connections to a traced echo
server are all answered within a bounded time, every accept traced, the output written
in batches (a write per loop iteration, not per line).
"""

import os
import resource
import socket
import time
import unittest

from harness import (BACKENDS, HOST, IO_TIMEOUT, STOP_TIMEOUT, ClientProcess, Deadline, Server,
                     connect, parse_trace, read_all_to_eof, read_pipe_until, request)


def setUpModule():
    # The tests say when a program traces; an outer REACTOR_TRACE=1 must not decide it.
    os.environ.pop("REACTOR_TRACE", None)


def addr(sock_name):
    return f"{sock_name[0]}:{sock_name[1]}"


def client_local_port(pid, server_port):
    """The local port of process `pid`'s TCP connection to `server_port` (its socket
    inodes matched against /proc/net/tcp), or None."""
    inodes = set()
    for fd in os.listdir(f"/proc/{pid}/fd"):
        try:
            target = os.readlink(f"/proc/{pid}/fd/{fd}")
        except OSError:
            continue
        if target.startswith("socket:["):
            inodes.add(target[8:-1])
    with open("/proc/net/tcp") as f:
        next(f)
        for row in f:
            cols = row.split()
            local, remote, inode = cols[1], cols[2], cols[9]
            if inode in inodes and int(remote.split(":")[1], 16) == server_port:
                return int(local.split(":")[1], 16)
    return None


class TracedClient(ClientProcess):
    """`reactor client` with the echo session the trace tests look at."""

    def echo_then_finish(self, test, line, server_port):
        """Writes `line`, reads it back, notes the client's port, then closes stdin and
        waits for a clean exit with nothing more printed. Returns the port."""
        self.write(line)
        test.assertEqual(self.read_exactly(len(line)), line)
        port = client_local_port(self.proc.pid, server_port)
        test.assertIsNotNone(port, "the client's connection is not in /proc/net/tcp")
        self.proc.stdin.close()
        rest, eof = read_pipe_until(self.proc.stdout, lambda d: False, Deadline(IO_TIMEOUT))
        test.assertEqual((rest, eof), (b"", True), "stdout holds only the echoed bytes")
        test.assertEqual(self.proc.wait(timeout=STOP_TIMEOUT), 0, self.stderr_text())
        return port


def connection_story(lines, peer):
    """The lines of the connection accepted from `peer` on a single loop: from its accept
    to the unwatch that follows its close (a descriptor number is reused later)."""
    start = next((i for i, l in enumerate(lines) if l.event == "accept" and l["peer"] == peer),
                 None)
    if start is None:
        raise AssertionError(f"no accept of {peer}")
    fd, loop = lines[start].fd, lines[start].loop
    story = []
    for l in lines[start:]:
        if l.loop == loop and l.fd == fd:
            story.append(l)
            if l.event == "unwatch" and any(s.event == "close" for s in story):
                return story
    raise AssertionError(f"{peer}'s connection never unwatched after a close: {story}")


class TraceCase(unittest.TestCase):

    def assert_rhythm(self, lines):
        """Per loop: a wait line, then its ready line, then at most `count` dispatches
        before the next wait."""
        for loop in {l.loop for l in lines}:
            own = [l for l in lines if l.loop == loop]
            waiting = None
            for prev, l in zip([None, *own], own):
                if l.event == "ready":
                    self.assertEqual(prev.event if prev else None, "wait",
                                     f"loop {loop}: ready not right after a wait")
                    waiting, dispatched = l.int("count"), 0
                elif l.event == "wait":
                    waiting = None
                elif l.event == "dispatch":
                    self.assertIsNotNone(waiting, f"loop {loop}: dispatch outside an iteration")
                    dispatched += 1
                    self.assertLessEqual(dispatched, waiting, f"loop {loop}: more dispatches "
                                         "than the ready count")

    def assert_closes_then_unwatches(self, lines):
        for i, l in enumerate(lines):
            if l.event == "close":
                self.assertLess(i + 1, len(lines), f"the trace ends with {l}")
                nxt = lines[i + 1]
                self.assertEqual((nxt.loop, nxt.event, nxt.fd), (l.loop, "unwatch", l.fd),
                                 f"{l} is followed by {nxt}")

    def assert_echo_story(self, story, peer, sent, reason="peer"):
        """The server's lines about one echo connection that got `sent` bytes and was then
        half-closed by its client, field by field."""
        fd = story[0].fd
        self.assertEqual(story[0].event, "accept")
        self.assertEqual(story[0]["peer"], peer)
        self.assertEqual(story[1].text, f"trace {story[0].loop} watch fd={fd} interest=R")
        events = [l.event for l in story]
        self.assertEqual(events[-2:], ["close", "unwatch"], story)
        self.assertEqual(story[-2]["reason"], reason)
        reads = [l.int("bytes") for l in story if l.event == "read"]
        writes = [l for l in story if l.event == "write"]
        self.assertEqual(reads[-1], 0, "the last read is the EOF")
        self.assertNotIn(0, reads[:-1], "one EOF only")
        self.assertEqual(sum(reads), sent)
        self.assertEqual(sum(w.int("bytes") for w in writes), sent, "echoed all it read")
        self.assertEqual(writes[-1].int("queued"), 0)
        # Reads come from a dispatch; each write answers the read before it.
        for prev, l in zip(story, story[1:]):
            if l.event == "read":
                self.assertIn(prev.event, ("dispatch", "read"), f"{l} after {prev}")
            if l.event == "dispatch":
                self.assertIn("R", l["events"])
        first = {e: events.index(e) for e in ("watch", "dispatch", "read", "write", "close")}
        self.assertLess(first["watch"], first["dispatch"])
        self.assertLess(first["dispatch"], first["read"])
        self.assertLess(first["read"], first["write"])
        self.assertLess(events.index("write"), len(events) - 1 - events[::-1].index("read"))


class EchoAndClientTrace(TraceCase):

    def run_session(self, server_args=(), client_args=(), env=None):
        """One `reactor client` session with a `reactor echo`; returns (server stderr,
        client stderr, the client's peer address as the server sees it, bytes sent)."""
        line = b"hello, reactor\n"
        with Server("echo", *server_args, env=env) as srv:
            with TracedClient(srv.port, *client_args, env=env) as client:
                port = client.echo_then_finish(self, line, srv.port)
                client_text = client.stderr_text()
            # The client exited once the server closed its end: nothing is left to drain.
            srv.stop()
            return srv.stderr_text(), client_text, f"{HOST}:{port}", len(line)

    def check_server(self, text, peer, sent):
        lines = parse_trace(text)
        self.assertEqual({l.loop for l in lines}, {0}, "one loop, index 0")
        self.assert_rhythm(lines)
        self.assert_closes_then_unwatches(lines)
        story = connection_story(lines, peer)
        self.assert_echo_story(story, peer, sent)
        # The listener: watched for reading, and its dispatch leads to the accept.
        accept = lines.index(story[0])
        listener = lines[accept - 1]
        self.assertEqual(listener.event, "dispatch")
        self.assertIn(f"trace 0 watch fd={listener.fd} interest=R", [l.text for l in lines])
        # The loop blocked waiting and woke for each of the connection's events.
        self.assertIn("wait", [l.event for l in lines[:accept]])
        return lines

    def check_client(self, text, sent):
        lines = parse_trace(text)
        self.assert_rhythm(lines)
        self.assert_closes_then_unwatches(lines)
        # Connecting: the socket is watched for writability until the handshake is done,
        # then for reading as a connection.
        connecting = next(l for l in lines if l.event == "watch" and l["interest"] == "W")
        fd = connecting.fd
        about = [l for l in lines if l.fd == fd]
        self.assertEqual([l.text for l in about[:4]],
                         [f"trace 0 watch fd={fd} interest=W",
                          f"trace 0 dispatch fd={fd} events=W",
                          f"trace 0 unwatch fd={fd}",
                          f"trace 0 watch fd={fd} interest=R"])
        writes = [l for l in about if l.event == "write"]
        reads = [l.int("bytes") for l in about if l.event == "read"]
        self.assertEqual(sum(w.int("bytes") for w in writes), sent)
        self.assertEqual(writes[-1].int("queued"), 0)
        self.assertEqual(sum(reads), sent)
        self.assertEqual(reads[-1], 0)
        # It half-closed first (stdin EOF), so the end is its own doing: local.
        self.assertEqual([l.text for l in about[-2:]],
                         [f"trace 0 close fd={fd} reason=local", f"trace 0 unwatch fd={fd}"])
        # stdin is watched too, and unwatched at its EOF.
        self.assertIn("trace 0 watch fd=0 interest=R", [l.text for l in lines])
        self.assertIn("trace 0 unwatch fd=0", [l.text for l in lines])

    def test_echo_and_client_tell_the_whole_story(self):
        server, client, peer, sent = self.run_session(("--trace",), ("--trace",))
        self.check_server(server, peer, sent)
        self.check_client(client, sent)

    def test_reactor_trace_in_the_environment_is_the_same_as_the_flag(self):
        server, client, peer, sent = self.run_session(env={"REACTOR_TRACE": "1"})
        self.check_server(server, peer, sent)
        self.check_client(client, sent)

    def test_without_trace_nothing_on_stderr(self):
        for env in (None, {"REACTOR_TRACE": "0"}, {"REACTOR_TRACE": ""}):
            with self.subTest(env=env):
                server, client, _, _ = self.run_session(env=env)
                self.assertEqual(server, "")
                self.assertEqual(client, "")

    def test_each_backend(self):
        for backend in BACKENDS:
            with self.subTest(backend=backend):
                server, client, peer, sent = self.run_session(
                    ("--trace", "--backend", backend), ("--trace", "--backend", backend))
                self.check_server(server, peer, sent)
                self.check_client(client, sent)


class HttpTrace(TraceCase):

    def test_requests_responses_and_a_malformed_request(self):
        with Server("http", "--trace") as srv:
            with srv.client() as c:
                exchanges = [(request("GET", "/"), 200), (request("GET", "/a/b?c=d"), 200),
                             (request("PUT", "/"), 405),
                             (request("POST", "/echo", b"xyz"), 200)]
                for data, status in exchanges:
                    self.assertEqual(c.exchange(data).status, status)
                first = addr(c.sock.getsockname())
            with srv.client() as c:
                bad = addr(c.sock.getsockname())
                self.assertEqual(c.exchange(b"BAD REQUEST LINE HERE\r\n\r\n").status, 400)
                c.wait_closed()
            with srv.client() as c:  # wait until the server saw the first two close
                self.assertEqual(c.exchange(request("GET", "/")).status, 200)
            srv.stop()
            text = srv.stderr_text()
        lines = parse_trace(text)
        self.assert_rhythm(lines)
        self.assert_closes_then_unwatches(lines)

        story = connection_story(lines, first)
        fd = story[0].fd
        http = [(l.event, l.fields) for l in story if l.event in ("request", "response")]
        self.assertEqual(http, [
            ("request", {"fd": str(fd), "method": "GET", "target": "/"}),
            ("response", {"fd": str(fd), "status": "200"}),
            ("request", {"fd": str(fd), "method": "GET", "target": "/a/b?c=d"}),
            ("response", {"fd": str(fd), "status": "200"}),
            ("request", {"fd": str(fd), "method": "PUT", "target": "/"}),
            ("response", {"fd": str(fd), "status": "405"}),
            ("request", {"fd": str(fd), "method": "POST", "target": "/echo"}),
            ("response", {"fd": str(fd), "status": "200"}),
        ])
        for prev, l in zip(story, story[1:]):
            if l.event == "request":  # parsed from what was just read
                self.assertIn(prev.event, ("read", "response"), f"{l} after {prev}")
            if l.event == "response" and prev.event != "request":
                self.fail(f"{l} not right after its request (handlers answer at once)")
        # Every response left in a write of this connection.
        self.assertGreaterEqual(len([l for l in story if l.event == "write"]), 1)

        story = connection_story(lines, bad)
        fd = story[0].fd
        self.assertEqual([l.event for l in story if l.event in ("request", "response")],
                         ["response"], "a malformed request: an answer, no request line")
        response = next(l for l in story if l.event == "response")
        self.assertEqual(response.text, f"trace 0 response fd={fd} status=400")
        events = [l.event for l in story]
        self.assertLess(events.index("response"), events.index("write"))
        self.assertEqual(events[-2:], ["close", "unwatch"])

    def test_stdout_holds_only_the_listening_line_and_no_trace_means_silence(self):
        # Server.stop() fails on any stdout past the `listening on` line.
        for args in (("--trace",), ()):
            with self.subTest(args=args):
                with Server("http", *args) as srv:
                    with srv.client() as c:
                        self.assertEqual(c.exchange(request("GET", "/")).status, 200)
                    srv.stop()
                    text = srv.stderr_text()
                if args:
                    self.assertIn("request", [l.event for l in parse_trace(text)])
                else:
                    self.assertEqual(text, "")


class ThousandsOfConnections(TraceCase):
    """A traced server stays usable with thousands of connections: its lines leave in
    batches (one write(2) per loop iteration), not one write each."""

    CONNECTIONS = 2000

    def setUp(self):
        need = self.CONNECTIONS + 200  # our sockets; the server inherits the limit too
        soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
        if hard != resource.RLIM_INFINITY and hard < need:
            self.skipTest(f"RLIMIT_NOFILE hard limit {hard} < {need}: cannot open "
                          f"{self.CONNECTIONS} connections")
        if soft != resource.RLIM_INFINITY and soft < need:
            resource.setrlimit(resource.RLIMIT_NOFILE, (need, hard))
            self.addCleanup(resource.setrlimit, resource.RLIMIT_NOFILE, (soft, hard))

    def test_every_connection_answered_and_every_accept_traced(self):
        n = self.CONNECTIONS
        with Server("echo", "--trace") as srv:
            started = time.monotonic()
            deadline = Deadline(120)  # generous: sanitizer builds are much slower
            socks = []
            try:
                for _ in range(n):
                    socks.append(connect(srv.address, timeout=max(1.0, deadline.left())))
                peers = {addr(s.getsockname()) for s in socks}
                payloads = [b"connection %d\n" % i for i in range(n)]
                for s, p in zip(socks, payloads):
                    s.sendall(p)
                    s.shutdown(socket.SHUT_WR)  # the server closes once it has echoed
                results = read_all_to_eof(socks, deadline)
                self.assertEqual([bytes(data) for data, _ in results], payloads)
                self.assertEqual({how for _, how in results}, {"eof"})
                elapsed = time.monotonic() - started
                writes = self.stderr_writes(srv.pid)
                batched_text = srv.stderr_text()
            finally:
                for s in socks:
                    s.close()
            print(f"\n{n} connections echoed in {elapsed:.2f}s", flush=True)
            srv.stop()
            text = srv.stderr_text()

        lines = parse_trace(text)
        accepts = [l for l in lines if l.event == "accept"]
        self.assertEqual(len(accepts), n)
        self.assertEqual({l["peer"] for l in accepts}, peers)
        closes = [l for l in lines if l.event == "close"]
        self.assertEqual(len(closes), n)
        self.assertEqual({l["reason"] for l in closes}, {"peer"}, "each ended by its client")
        self.assert_closes_then_unwatches(lines)
        self.assert_rhythm(lines)
        reads = sum(l.int("bytes") for l in lines if l.event == "read")
        self.assertEqual(reads, sum(len(p) for p in payloads))
        # Up to the moment we looked, the lines went out in batches: far fewer write(2)
        # calls than lines. (syscw counts every write of the process, so it is no exact
        # count of batches: a sanitizer build makes writes of its own.)
        before = parse_trace(batched_text)
        self.assertLess(writes * 4, len(before), f"{writes} writes for {len(before)} lines")

    @staticmethod
    def stderr_writes(pid):
        """write(2) calls the process made (/proc/PID/io syscw; send() is not counted)."""
        with open(f"/proc/{pid}/io") as f:
            return next(int(row.split()[1]) for row in f if row.startswith("syscw:"))


if __name__ == "__main__":
    unittest.main()
