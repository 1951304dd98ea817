"""A TLS client whose records the test holds in its hands: an ssl.SSLObject over memory
BIOs, its ciphertext carried over a raw socket by the test itself. So a test can send a
ClientHello in halves or a byte at a time, split records across writes at any point, or
stop in the middle of one, which ssl.SSLSocket never lets it do."""

import ssl

from harness import HOST


class TlsPeer:
    """The client half of one TLS session; no I/O of its own. `wire` holds the ciphertext
    produced and not yet taken by the test (take_wire); what arrives from the server goes
    in through feed()."""

    def __init__(self, context, server_hostname=HOST):
        self._incoming = ssl.MemoryBIO()
        self._outgoing = ssl.MemoryBIO()
        self.tls = context.wrap_bio(self._incoming, self._outgoing,
                                    server_hostname=server_hostname)
        self.handshaken = False
        self.closed = False  # the server's close_notify arrived
        self.wire = bytearray()

    def _collect(self):
        self.wire += self._outgoing.read()

    def handshake_step(self):
        """Advances the handshake as far as the bytes fed so far allow; True once done.
        The first call produces the ClientHello (in `wire`)."""
        if not self.handshaken:
            try:
                self.tls.do_handshake()
                self.handshaken = True
            except ssl.SSLWantReadError:
                pass
            self._collect()
        return self.handshaken

    def feed(self, data):
        """Ciphertext from the server (b"": its end of the stream)."""
        if data:
            self._incoming.write(data)
        else:
            self._incoming.write_eof()

    def read_plain(self):
        """All the plaintext that the bytes fed so far decrypt to. Sets `closed` at the
        server's close_notify; a stream ended without one raises ssl.SSLEOFError."""
        out = bytearray()
        for _ in range(self._incoming.pending + 2):  # each round takes a record or ends
            try:
                chunk = self.tls.read(16384)
            except ssl.SSLWantReadError:
                break
            except ssl.SSLZeroReturnError:  # close_notify, once ours went out too
                chunk = b""
            if not chunk:
                self.closed = True
                break
            out += chunk
        self._collect()  # reading may answer (a key update, say)
        return bytes(out)

    def decrypt_stream(self, data):
        """Feeds a whole stream from the server, then its end, a record at a time, so that
        what decrypts before an error is kept. Returns (plaintext, the ssl.SSLError that
        ended it or None)."""
        plain = bytearray()
        offset = 0
        while offset + 5 <= len(data):
            end = offset + 5 + int.from_bytes(data[offset + 3:offset + 5], "big")
            self.feed(data[offset:end])
            offset = end
            try:
                plain += self.read_plain()
            except ssl.SSLError as e:
                return bytes(plain), e
        self.feed(data[offset:])
        self.feed(b"")
        try:
            plain += self.read_plain()
        except ssl.SSLError as e:
            return bytes(plain), e
        return bytes(plain), None

    def write_plain(self, data):
        """Encrypts `data` (one record or more) into `wire`."""
        self.tls.write(data)
        self._collect()

    def say_goodbye(self):
        """Queues close_notify in `wire`; the server's own arrives through feed() and
        sets `closed`."""
        try:
            self.tls.unwrap()
        except ssl.SSLWantReadError:  # sent ours; the server's is still to come
            pass
        self._collect()

    def take_wire(self, limit=None):
        """Up to `limit` bytes (all without one) of the ciphertext not yet taken."""
        n = len(self.wire) if limit is None else min(limit, len(self.wire))
        data = bytes(self.wire[:n])
        del self.wire[:n]
        return data


def handshake_over(sock, peer, deadline):
    """Runs `peer`'s handshake over the blocking socket `sock` until done; raises
    AssertionError if the server closes first or the deadline passes."""
    for _ in range(1000):  # a handshake is a few flights
        done = peer.handshake_step()
        if peer.wire:
            sock.settimeout(max(0.001, deadline.left()))
            sock.sendall(peer.take_wire())
        if done:
            return
        if deadline.expired():
            break
        sock.settimeout(max(0.001, deadline.left()))
        data = sock.recv(1 << 16)
        if not data:
            raise AssertionError("the server closed during the handshake")
        peer.feed(data)
    raise AssertionError("the handshake did not complete in time")
