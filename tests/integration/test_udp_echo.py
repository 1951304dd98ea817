"""`reactor udp-echo`: each datagram goes back, whole and unchanged, to its sender."""

import signal
import socket
import unittest

from harness import BACKENDS, Deadline, Server, make_rng

UDP_TIMEOUT = 10.0  # a lost datagram never comes back: do not wait long for it
SIZES = (1, 2, 100, 1472, 1500, 9000, 32768, 60000, 65507)  # 65507: the IPv4 maximum


def udp_socket():
    s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 1 << 20)
    s.bind(("127.0.0.1", 0))
    return s


def recv_datagram(sock, deadline):
    sock.settimeout(max(0.001, deadline.left()))
    try:
        return sock.recvfrom(70000)
    except socket.timeout:
        raise AssertionError("no datagram came back before the deadline") from None


class UdpEcho(unittest.TestCase):

    def test_sizes_and_senders_each_backend(self):
        rng = make_rng(self)
        for backend in BACKENDS:
            with self.subTest(backend=backend):
                with Server("udp-echo", "--backend", backend) as srv:
                    senders = [udp_socket() for _ in range(4)]
                    try:
                        for size in SIZES:
                            self.round_trip(rng, senders, size, srv.address)
                    finally:
                        for s in senders:
                            s.close()
                    srv.stop()

    def round_trip(self, rng, senders, size, address):
        # Several senders have a datagram in flight at once, but never more bytes than
        # the server's default receive buffer surely holds: past that the kernel drops
        # datagrams (RcvbufErrors), which is UDP, not the server.
        in_flight = max(1, min(len(senders), 64 * 1024 // size))
        for first in range(0, len(senders), in_flight):
            group = list(enumerate(senders))[first:first + in_flight]
            sent = [rng.randbytes(size) for _ in group]
            for (_, s), d in zip(group, sent):
                s.sendto(d, address)
            deadline = Deadline(UDP_TIMEOUT)
            for ((i, s), d) in zip(group, sent):
                try:
                    data, source = recv_datagram(s, deadline)
                except AssertionError as e:
                    raise AssertionError(f"sender {i}, {size} bytes: {e}") from None
                self.assertEqual(source, address, "reply from elsewhere")
                self.assertEqual(len(data), size, f"sender {i}, size {size}")
                self.assertTrue(data == d, f"sender {i}, size {size}: content differs")

    def test_burst_from_one_sender_keeps_order_and_boundaries(self):
        rng = make_rng(self)
        with Server("udp-echo") as srv, udp_socket() as s:
            sent = [b"%03d:" % i + rng.randbytes(rng.randint(0, 2000)) for i in range(30)]
            for d in sent:
                s.sendto(d, srv.address)
            deadline = Deadline(UDP_TIMEOUT)
            got = [recv_datagram(s, deadline)[0] for _ in sent]
            self.assertEqual(got, sent)  # loopback keeps order; one datagram per reply
            srv.stop()

    def test_stops_on_sigterm(self):
        with Server("udp-echo") as srv, udp_socket() as s:
            s.sendto(b"ping", srv.address)
            self.assertEqual(recv_datagram(s, Deadline(UDP_TIMEOUT))[0], b"ping")
            srv.stop(signal.SIGTERM)


if __name__ == "__main__":
    unittest.main()
