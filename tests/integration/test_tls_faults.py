"""Bad input and bad peers against the TLS servers (issue 11): garbage where a ClientHello
belongs, a ClientHello cut in half then silence, a handshake trickling in a byte a second
while others are served, plain HTTP to an HTTPS port, a reset in the middle of a record, a
record with one bit flipped, a stream ended without close_notify, a client certificate
nobody asked for; and multi-megabyte POST bodies both ways to a slow reader. Each fault ends only its own connection: a normal client is served right after.
Records are made and cut by tls_peer.TlsPeer; certificates at run time (tls_certs.py)."""

import re
import socket
import struct
import threading
import time
import unittest

from harness import (BACKENDS, HOST, IO_TIMEOUT, Deadline, Server, connect, free_port,
                     make_rng, parse_response, reactor_bin, recv_exactly, recv_some,
                     recv_until, request, tls_connect, tls_context, use_test_certs, wait_for,
                     wait_server_read_all)
from test_memory import sanitized
from test_metrics import samples, scrape, total
from tls_peer import TlsPeer, handshake_over

CERTS = use_test_certs(globals())
MiB = 1 << 20
PROMPTLY = 2.0  # seconds within which a hopeless connection must be closed
_CONTENT_LENGTH = re.compile(rb"\r\ncontent-length: *(\d+)\r\n", re.IGNORECASE)


def tls_args(*more):
    return ["--tls-cert", CERTS["cert"], "--tls-key", CERTS["key"], *more]


def client_hello():
    """A real ClientHello's bytes (what Python's client sends first)."""
    peer = TlsPeer(tls_context(CERTS["ca"]))
    peer.handshake_step()
    return peer.take_wire()


def echo_round_trip(test, address, context=None, data=b"still served\n"):
    """A fresh TLS connection that echoes `data`; returns how long it all took."""
    started = time.monotonic()
    with tls_connect(address, context or tls_context(CERTS["ca"])) as sock:
        sock.sendall(data)
        test.assertEqual(recv_exactly(sock, len(data), Deadline(IO_TIMEOUT)), data)
    return time.monotonic() - started


def wait_closed(sock, timeout=IO_TIMEOUT):
    """(bytes received, 'eof' | 'reset' | 'timeout', seconds) until the server closes."""
    started = time.monotonic()
    data, how = recv_until(sock, lambda d: False, Deadline(timeout))
    return data, how, time.monotonic() - started


def is_one_fatal_alert(data):
    """True when `data` is exactly one TLS alert record of level fatal (2)."""
    return len(data) == 7 and data[0] == 0x15 and data[1] == 3 and data[3:5] == b"\0\2" \
        and data[5] == 2


class GarbageInsteadOfClientHello(unittest.TestCase):
    """Bytes that cannot start a handshake: the connection ends at once, with at most a
    fatal alert and then a clean EOF (no reset: everything sent was read), and the next
    client is served. Each is small enough for the server to read in one go."""

    def cases(self, rng):
        body = rng.randbytes(256)
        return {
            # 0x42 is no content type and 0x42 no TLS major version: with a 3 there, it
            # would be a plausible record header, whose length OpenSSL reads in full before
            # it judges the type, so the handshake deadline would end it instead.
            "random bytes": b"\x42\x42" + body,
            "zeros": bytes(300),
            # A handshake message of type 0xff, none there is (a ClientHello's 1 would have
            # OpenSSL wait for as many bytes as its length says).
            "handshake record of garbage": b"\x16\x03\x01\x01\x00\xff" + body[1:],
            "application data before a handshake": b"\x17\x03\x03\x00\x20" + body[:32],
            "an alert before a handshake": b"\x15\x03\x03\x00\x02\x02\x28",
            "a record longer than TLS allows": b"\x16\x03\x01\xff\xff" + body[:100],
            "an SSLv2 hello": b"\x80\x2e\x01\x00\x02" + body[:45],
        }

    def test_closed_promptly_each_backend(self):
        rng = make_rng(self)
        for backend in BACKENDS:
            with Server("echo", *tls_args("--backend", backend)) as srv:
                for name, garbage in self.cases(rng).items():
                    with self.subTest(backend=backend, garbage=name):
                        with connect(srv.address) as sock:
                            sock.sendall(garbage)
                            data, how, took = wait_closed(sock)
                        self.assertEqual(how, "eof", f"after {took:.2f}s, {data.hex()}")
                        self.assertLessEqual(took, PROMPTLY)
                        self.assertTrue(data == b"" or is_one_fatal_alert(data), data.hex())
                        echo_round_trip(self, srv.address)
                srv.stop()


class HandshakeDeadline(unittest.TestCase):

    def test_half_a_client_hello_then_silence(self):
        hello = client_hello()
        with Server("echo", *tls_args("--tls-handshake-timeout", "1000")) as srv:
            with connect(srv.address) as sock:
                started = time.monotonic()
                sock.sendall(hello[:len(hello) // 2])
                data, how = recv_until(sock, lambda d: False, Deadline(IO_TIMEOUT))
                took = time.monotonic() - started
            self.assertEqual((data, how), (b"", "eof"), f"after {took:.2f}s")
            self.assertGreaterEqual(took, 0.9, "closed before the handshake deadline")
            self.assertLessEqual(took, 3.0, "the handshake deadline was not kept")
            echo_round_trip(self, srv.address)
            srv.stop()

    def test_one_byte_a_second_while_others_are_served(self):
        # The deadline bounds the whole handshake however the bytes trickle in: 3 s, while
        # a byte arrives every second. Meanwhile fresh clients are served without delay.
        hello = client_hello()
        with Server("echo", *tls_args("--tls-handshake-timeout", "3000")) as srv:
            slow = connect(srv.address)
            self.addCleanup(slow.close)
            started = time.monotonic()
            outcome = {}
            trickled = threading.Event()

            def trickle():
                # Each wait for the server's answer paces the next byte: a second apart.
                for sent in range(1, len(hello) + 1):
                    slow.sendall(hello[sent - 1:sent])
                    chunk, how = recv_some(slow, Deadline(1.0))
                    if how != "timeout":
                        outcome.update(sent=sent, how=how, data=chunk,
                                       took=time.monotonic() - started)
                        break
                trickled.set()

            thread = threading.Thread(target=trickle, daemon=True)
            thread.start()
            served = []  # (seconds since the slow one connected, round-trip seconds)
            for _ in range(100):  # four a second until the slow one ends
                if trickled.wait(0.25):
                    break
                took = echo_round_trip(self, srv.address)
                served.append((time.monotonic() - started, took))
            thread.join(IO_TIMEOUT)
            self.assertTrue(outcome, "the slow handshake was never closed")
            self.assertEqual((outcome["how"], outcome["data"]), ("eof", b""), outcome)
            self.assertGreaterEqual(outcome["sent"], 3, outcome)
            self.assertGreaterEqual(outcome["took"], 2.9, outcome)
            self.assertLessEqual(outcome["took"], 4.5, outcome)
            during = [took for at, took in served if at < outcome["took"]]
            self.assertGreaterEqual(len(during), 3, served)
            self.assertLess(max(during), 1.0, served)
            srv.stop()


class PlainHttpToTlsPort(unittest.TestCase):

    def test_closed_promptly_without_a_byte(self):
        # What reactor http does: no answer at all (a 400 would need a plaintext response
        # on a TLS port), just the end of the connection, and no reset.
        with Server("http", *tls_args()) as srv:
            with connect(srv.address) as sock:
                sock.sendall(request("GET", "/", headers=["User-Agent: plain"]))
                data, how, took = wait_closed(sock)
            self.assertEqual((data, how), (b"", "eof"), f"after {took:.2f}s")
            self.assertLessEqual(took, PROMPTLY)
            with tls_connect(srv.address, tls_context(CERTS["ca"])) as sock:
                sock.sendall(request("GET", "/after"))
                response = None
                buf = b""
                deadline = Deadline(IO_TIMEOUT)
                while response is None and not deadline.expired():
                    chunk, how = recv_some(sock, deadline)
                    self.assertEqual(how, "data", buf)
                    buf += chunk
                    response = parse_response(buf)
                self.assertEqual((response[0].status, response[0].body), (200, b"after"))
            srv.stop()


class ResetInTheMiddleOfARecord(unittest.TestCase):
    """After the handshake, half of an application-data record, then RST: the server
    counts the connection closed with an error and goes on serving."""

    def test_each_backend(self):
        rng = make_rng(self)
        for backend in BACKENDS:
            with self.subTest(backend=backend):
                port = free_port()
                with Server("echo", *tls_args("--backend", backend, "--metrics",
                                              f"{HOST}:{port}")) as srv:
                    self.reset_mid_record(srv, rng.randbytes(10_000))
                    values = wait_for(lambda: self.closed_by_error(port), IO_TIMEOUT,
                                      "the reset connection counted")
                    self.assertEqual(total(values, "reactor_connections_open"), 0)
                    self.assertEqual(total(values, "reactor_tls_handshakes_total",
                                           result="completed"), 1)
                    echo_round_trip(self, srv.address)
                    srv.stop()

    def reset_mid_record(self, srv, plaintext):
        sock, peer = established(srv)
        with sock:
            peer.write_plain(plaintext)
            record = peer.take_wire()
            self.assertGreater(len(record), len(plaintext), "not a single record")
            sock.sendall(record[:len(record) // 2])
            wait_server_read_all(sock)  # the half record is in the server, not the kernel
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))

    @staticmethod
    def closed_by_error(port):
        values = samples(scrape(port)[2])
        return values if total(values, "reactor_connections_closed_total",
                               reason="error") == 1 else None


def established(srv):
    """(a connected socket, its TlsPeer) with the handshake done."""
    sock = connect(srv.address)
    peer = TlsPeer(tls_context(CERTS["ca"]))
    handshake_over(sock, peer, Deadline(IO_TIMEOUT))
    return sock, peer


class TamperedRecord(unittest.TestCase):

    def test_one_flipped_bit_ends_the_connection_and_delivers_nothing(self):
        # The record's authentication fails: not a byte of it may reach on_message (the
        # echo would show it); the server says bad_record_mac and closes.
        port = free_port()
        with Server("echo", *tls_args("--metrics", f"{HOST}:{port}")) as srv:
            sock, peer = established(srv)
            with sock:
                peer.write_plain(b"tampered with")
                record = bytearray(peer.take_wire())
                record[-3] ^= 0x10  # in the tag
                sock.sendall(record)
                data, how, took = wait_closed(sock)
            self.assertEqual(how, "eof", f"after {took:.2f}s")
            self.assertLessEqual(took, PROMPTLY)
            plain, error = peer.decrypt_stream(data)
            self.assertEqual(plain, b"")
            self.assertIn("BAD_RECORD_MAC", str(error))
            wait_for(lambda: total(samples(scrape(port)[2]), "reactor_connections_closed_total",
                                   reason="error") == 1, IO_TIMEOUT, "the close counted")
            echo_round_trip(self, srv.address)
            srv.stop()


class EndWithoutCloseNotify(unittest.TestCase):
    """A peer whose stream ends (FIN) without close_notify: a truncation. What the server
    had read before it is still answered in full, then the connection ends."""

    def test_after_a_whole_record(self):
        rng = make_rng(self)
        with Server("echo", *tls_args()) as srv:
            sock, peer = established(srv)
            with sock:
                payload = rng.randbytes(5000)
                peer.write_plain(payload)
                sock.sendall(peer.take_wire())
                sock.shutdown(socket.SHUT_WR)
                data, how, took = wait_closed(sock)
            self.assertEqual(how, "eof", f"after {took:.2f}s")
            # How the stream ends (OpenSSL sends a fatal alert of its own) is not the point.
            plain, _ = peer.decrypt_stream(data)
            self.assertTrue(plain == payload, f"{len(plain)} of {len(payload)} bytes echoed")
            echo_round_trip(self, srv.address)
            srv.stop()


class UnaskedClientCertificate(unittest.TestCase):

    def test_served_normally(self):
        # The server asks for no certificate, so the client's (from a CA the server does
        # not know) is never sent, never checked, and changes nothing.
        context = tls_context(CERTS["ca"])
        context.load_cert_chain(CERTS["other_cert"], CERTS["other_key"])
        for command in ("echo", "http"):
            with self.subTest(command=command):
                with Server(command, *tls_args()) as srv:
                    if command == "echo":
                        echo_round_trip(self, srv.address, context, data=b"x" * 50_000)
                    else:
                        self.assert_http_echo(srv, context)
                    srv.stop()

    def assert_http_echo(self, srv, context):
        with tls_connect(srv.address, context) as sock:
            body = b"with a certificate of my own"
            sock.sendall(request("POST", "/echo", body))
            buf, response = b"", None
            deadline = Deadline(IO_TIMEOUT)
            while response is None and not deadline.expired():
                chunk, how = recv_some(sock, deadline)
                self.assertEqual(how, "data", buf)
                buf += chunk
                response = parse_response(buf)
            self.assertEqual((response[0].status, response[0].body), (200, body))


class LargeBodiesToASlowReader(unittest.TestCase):
    """POST /echo of several MiB over TLS, both ways, the response read a little at a time
    through a small receive window: every byte intact, keep-alive intact, and (release
    builds) the server's memory grows by less than twice the body."""

    SIZES = (6 * MiB, 3 * MiB)
    PIECE = 4096       # bytes a slow read takes
    PAUSE_EVERY = 64 * 1024
    PAUSE = 0.005      # what makes the reader slow: ~100 pauses per 6 MiB

    def test_bodies_intact(self):
        rng = make_rng(self)
        with Server("http", *tls_args()) as srv:
            raw = connect(srv.address, rcvbuf=32 * 1024)
            sock = tls_context(CERTS["ca"]).wrap_socket(raw, server_hostname=HOST)
            self.addCleanup(sock.close)
            baseline = srv.rss_bytes()
            peak = 0
            for size in self.SIZES:
                body = rng.randbytes(size)
                sock.sendall(request("POST", "/echo", body))
                response, growth = self.read_slowly(sock, srv, baseline, Deadline(IO_TIMEOUT))
                peak = max(peak, growth)
                self.assertEqual(response.status, 200, response)
                self.assertEqual(len(response.body), size)
                self.assertTrue(response.body == body, "the echoed body differs")
            print(f"server RSS peak growth {peak / MiB:.1f} MiB")
            if not sanitized(reactor_bin()):
                self.assertLess(peak, 2 * max(self.SIZES))
            srv.stop()

    def read_slowly(self, sock, srv, baseline, deadline):
        """(the response, the server's peak RSS growth meanwhile)."""
        buf = bytearray()
        peak = 0
        next_pause = self.PAUSE_EVERY
        whole = None  # the response's length, once its head is in
        for _ in range(10_000_000):  # each round reads a byte or more, or fails
            if whole is None and b"\r\n\r\n" in buf:
                head = bytes(buf[:buf.index(b"\r\n\r\n") + 4])
                length = _CONTENT_LENGTH.search(head)
                self.assertIsNotNone(length, head)
                whole = len(head) + int(length.group(1))
            if whole is not None and len(buf) >= whole:
                self.assertEqual(len(buf), whole, "bytes after the response")
                response, _ = parse_response(bytes(buf))
                return response, peak
            chunk, how = recv_some(sock, deadline, self.PIECE)
            self.assertEqual(how, "data", f"after {len(buf)} bytes")
            buf += chunk
            if len(buf) >= next_pause:
                next_pause += self.PAUSE_EVERY
                peak = max(peak, srv.rss_bytes() - baseline)
                time.sleep(self.PAUSE)
        raise AssertionError("endless response")


if __name__ == "__main__":
    unittest.main()
