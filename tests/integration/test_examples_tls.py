"""examples/tls_echo.cc as a real process over 127.0.0.1: a TLS echo whose callbacks see
plaintext, which reports a peer that left without close_notify as truncated, and whose
context errors are one line and exit 1. The program comes from $REACTOR_EXAMPLES_DIR."""

import socket
import subprocess
import unittest

from harness import (IO_TIMEOUT, Deadline, Example, example_path, recv_exactly, tls_connect,
                     tls_context, use_test_certs)

CERTS = use_test_certs(globals())


class TlsEcho(unittest.TestCase):
    def setUp(self):
        self.server = Example("tls_echo", CERTS["cert"], CERTS["key"], "0", port=None).start()
        self.addCleanup(self.server.kill)
        self.address = (self.server.host, self.server.port)

    def test_echoes_plaintext_and_ends_cleanly(self):
        tls = tls_connect(self.address, tls_context(CERTS["ca"]))
        self.assertRegex(self.server.line(), r"^handshake done with 127\.0\.0\.1:\d+$")
        payload = bytes(range(256)) * 300
        tls.sendall(payload)
        self.assertEqual(recv_exactly(tls, len(payload), Deadline(IO_TIMEOUT)), payload)
        tls.unwrap().close()  # close_notify, then the FIN
        self.assertEqual(self.server.line(), "closed (peer)")
        self.assertEqual(self.server.stop(), [])

    def test_a_peer_gone_without_close_notify_is_truncated(self):
        tls = tls_connect(self.address, tls_context(CERTS["ca"]))
        self.server.line()
        tls.sendall(b"bye\n")
        self.assertEqual(recv_exactly(tls, 4, Deadline(IO_TIMEOUT)), b"bye\n")
        raw = socket.socket(fileno=tls.detach())  # no close_notify: just the TCP FIN
        raw.close()
        self.assertEqual(self.server.line(), "closed (peer, truncated)")
        self.server.stop()


class TlsEchoErrors(unittest.TestCase):
    def test_a_key_that_does_not_match_is_one_line_and_exit_1(self):
        r = subprocess.run([example_path("tls_echo"), CERTS["cert"], CERTS["mismatched_key"]],
                           capture_output=True, timeout=IO_TIMEOUT)
        self.assertEqual(r.returncode, 1)
        lines = r.stderr.decode().splitlines()
        self.assertEqual(len(lines), 1, lines)
        self.assertIn("does not match", lines[0])
        self.assertEqual(r.stdout, b"")


if __name__ == "__main__":
    unittest.main()
