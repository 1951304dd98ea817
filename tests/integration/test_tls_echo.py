"""`reactor echo` over TLS (issue 11): many concurrent clients with random sizes, their
plaintext split at random points into records and their ciphertext split at random points
into writes, every byte checked, on every backend and with --threads 2; past the
high-water mark; thousands of one-byte records in one write. Each client ends
with close_notify and must get the server's close_notify back before the end of the stream
(a clean end, not a truncation). The clients are tls_peer.TlsPeer, driven from one thread."""

import selectors
import ssl
import unittest

from harness import (BACKENDS, BALANCINGS, IO_TIMEOUT, Deadline, Server, assert_echoed,
                     connect, make_rng, random_chunks, random_payloads, recv_some, tls_context,
                     use_test_certs)
from tls_peer import TlsPeer, handshake_over

CERTS = use_test_certs(globals())
MiB = 1 << 20
CLIENTS = 20
MAX_SIZE = 256 * 1024
WIRE_AHEAD = 64 * 1024  # ciphertext a client encrypts ahead of what the socket took


def tls_args():
    return ["--tls-cert", CERTS["cert"], "--tls-key", CERTS["key"]]


class _Client:
    def __init__(self, sock, peer, payload, chunks):
        self.sock = sock
        self.peer = peer
        self.payload = payload
        self.chunks = chunks  # plaintext pieces, one write_plain() (one record or more) each
        self.received = bytearray()
        self.eof = False
        self.said_goodbye = False

    def state(self):
        return (len(self.payload), len(self.received), self.peer.handshaken,
                self.said_goodbye, self.peer.closed, self.eof)


def _fail(i, client, what):
    raise AssertionError(f"client {i} (size, echoed, handshaken, sent close_notify, got "
                         f"close_notify, eof) = {client.state()}: {what}")


def _encrypt_more(client):
    """Encrypts plaintext pieces until WIRE_AHEAD is queued; after the last one and its
    whole echo, says goodbye (close_notify)."""
    peer = client.peer
    while client.chunks and len(peer.wire) < WIRE_AHEAD:
        peer.write_plain(client.chunks.pop(0))
    if not client.chunks and not client.said_goodbye and \
            len(client.received) == len(client.payload):
        client.said_goodbye = True
        peer.say_goodbye()


def _send_some(rng, client):
    """Sends the queued ciphertext in writes of random sizes (records cut anywhere)."""
    peer = client.peer
    for _ in range(64):
        if not peer.wire:
            return
        size = rng.choice((1, rng.randint(1, 100), rng.randint(1, 8192), len(peer.wire)))
        piece = bytes(peer.wire[:size])
        try:
            n = client.sock.send(piece)
        except BlockingIOError:
            return
        del peer.wire[:n]


def _receive_some(i, client):
    peer = client.peer
    for _ in range(64):
        try:
            data = client.sock.recv(1 << 18)
        except BlockingIOError:
            return
        except ConnectionResetError:
            _fail(i, client, "connection reset")
        peer.feed(data)
        if not data:
            client.eof = True
        if not peer.handshake_step():
            if client.eof:
                _fail(i, client, "closed during the handshake")
            continue
        try:
            client.received += peer.read_plain()
        except ssl.SSLEOFError:
            _fail(i, client, "the stream ended without close_notify")
        if len(client.received) > len(client.payload):
            _fail(i, client, "echoed more than was sent")
        if client.eof:
            if not peer.closed:
                _fail(i, client, "EOF before close_notify")
            return


def _done(client):
    return client.eof and client.peer.closed and not client.peer.wire


def tls_echo_many(address, payloads, rng, timeout=IO_TIMEOUT, rcvbuf=None):
    """One TLS connection per payload, all driven at once: handshake, the payload out in
    random records and random writes while its echo comes back, then close_notify both
    ways and EOF. Returns the echoes in payload order; AssertionError on anything else.
    A small `rcvbuf` makes the server queue output (past its high-water mark, and with a
    record half written to the socket)."""
    deadline = Deadline(timeout)
    context = tls_context(CERTS["ca"])
    clients = []
    with selectors.DefaultSelector() as sel:
        try:
            for payload in payloads:
                sock = connect(address, timeout=deadline.left(), rcvbuf=rcvbuf)
                sock.setblocking(False)
                peer = TlsPeer(context)
                peer.handshake_step()  # the ClientHello
                client = _Client(sock, peer, payload, random_chunks(rng, payload))
                clients.append(client)
                sel.register(sock, selectors.EVENT_READ | selectors.EVENT_WRITE, len(clients) - 1)
            live = len(clients)
            for _ in range(10_000_000):
                if live == 0:
                    break
                if deadline.expired():
                    stuck = [(i, c.state()) for i, c in enumerate(clients) if not _done(c)]
                    raise AssertionError(f"stalled; unfinished (client, (size, echoed, "
                                         f"handshaken, sent close_notify, got close_notify, "
                                         f"eof)): {stuck[:10]}")
                for key, mask in sel.select(min(0.5, deadline.left())):
                    client = clients[key.data]
                    if mask & selectors.EVENT_READ:
                        _receive_some(key.data, client)
                    if client.peer.handshaken:
                        _encrypt_more(client)
                    if mask & selectors.EVENT_WRITE:
                        _send_some(rng, client)
                    if _done(client):
                        sel.unregister(client.sock)
                        live -= 1
                    else:
                        events = selectors.EVENT_READ | (
                            selectors.EVENT_WRITE if client.peer.wire else 0)
                        sel.modify(client.sock, events, key.data)
        finally:
            for c in clients:
                c.sock.close()
    return [bytes(c.received) for c in clients]


class TlsEchoIntegrity(unittest.TestCase):

    """CLIENTS at once, random sizes up to MAX_SIZE, on each backend."""

    def check(self, *args):
        rng = make_rng(self)
        payloads = random_payloads(rng, CLIENTS, MAX_SIZE)
        with Server("echo", *tls_args(), *args) as srv:
            assert_echoed(self, payloads, tls_echo_many(srv.address, payloads, rng))
            srv.stop()

    def test_epoll(self):
        self.check("--backend", "epoll")

    def test_epoll_et(self):
        self.check("--backend", "epoll-et")

    def test_poll(self):
        self.check("--backend", "poll")

    def test_select(self):
        self.check("--backend", "select")

    def test_past_the_high_water_mark_each_backend(self):
        # A small receive window: the server's output backs up, reading pauses and resumes
        # many times and records wait half written; not a byte may be lost or reordered.
        rng = make_rng(self)
        for backend in BACKENDS:
            with self.subTest(backend=backend):
                payloads = [rng.randbytes(4 * MiB), rng.randbytes(2 * MiB)]
                with Server("echo", *tls_args(), "--backend", backend) as srv:
                    received = tls_echo_many(srv.address, payloads, rng, rcvbuf=16384)
                    assert_echoed(self, payloads, received)
                    srv.stop()

    def test_thousands_of_one_byte_records_in_one_write_each_backend(self):
        # One read of the socket holds thousands of records: each must be decrypted and
        # delivered without waiting for more bytes (or, edge-triggered, another edge).
        rng = make_rng(self)
        payload = rng.randbytes(5000)
        for backend in BACKENDS:
            with self.subTest(backend=backend):
                with Server("echo", *tls_args(), "--backend", backend) as srv:
                    with connect(srv.address) as sock:
                        peer = TlsPeer(tls_context(CERTS["ca"]))
                        handshake_over(sock, peer, Deadline(IO_TIMEOUT))
                        for byte in payload:
                            peer.write_plain(bytes([byte]))
                        sock.sendall(peer.take_wire())
                        echoed = read_echo(sock, peer, len(payload), Deadline(IO_TIMEOUT))
                    self.assertTrue(echoed == payload, f"{len(echoed)} of 5000 bytes echoed")
                    srv.stop()


def read_echo(sock, peer, size, deadline):
    """Reads and decrypts until `size` bytes of plaintext arrived (or the server ends the
    stream, or the deadline); returns them."""
    plain = bytearray()
    while len(plain) < size:  # each round reads a byte or more, or ends
        chunk, how = recv_some(sock, deadline)
        if how != "data":
            break
        peer.feed(chunk)
        plain += peer.read_plain()
    return bytes(plain)


class TlsEchoThreads(unittest.TestCase):
    """--threads 2: one SSL object per connection, each on its own loop."""

    def test_integrity_threads_each_balancing(self):
        rng = make_rng(self)
        for balancing in BALANCINGS:
            with self.subTest(balancing=balancing):
                payloads = random_payloads(rng, CLIENTS, MAX_SIZE)
                with Server("echo", *tls_args(), "--threads", "2",
                            "--balancing", balancing) as srv:
                    assert_echoed(self, payloads, tls_echo_many(srv.address, payloads, rng))
                    srv.stop()


if __name__ == "__main__":
    unittest.main()
