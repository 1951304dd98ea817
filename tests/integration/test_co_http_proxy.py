"""co_http_proxy (examples/co_http_proxy.cc): GET requests relayed to a backend (a real
`reactor http`, or a socket the test answers by hand); a backend that is down or answers
garbage gets the client a 502, one that stalls a 504 once --backend-timeout has passed,
after which the proxy has let go of the backend connection and goes on serving.

The proxy comes from $REACTOR_CO_HTTP_PROXY_CMD, `reactor http` from $REACTOR_BIN."""

import os
import socket
import time
import unittest

from harness import HOST, IO_TIMEOUT, Deadline, Server, free_port, recv_until, request

PROXY = "co_http_proxy"  # Server(PROXY) runs $REACTOR_CO_HTTP_PROXY_CMD


def setUpModule():
    if not os.environ.get("REACTOR_CO_HTTP_PROXY_CMD"):
        raise unittest.SkipTest("REACTOR_CO_HTTP_PROXY_CMD is not set (run through CTest)")


class ProxyToReactorHttp(unittest.TestCase):
    """A `reactor http` behind the proxy: what it answers is what the client gets."""

    @classmethod
    def setUpClass(cls):
        cls.backend = Server("http", "--max-request-line", "200").start()
        try:
            cls.proxy = Server(PROXY, "--backend-port", str(cls.backend.port)).start()
        except BaseException:
            cls.backend.kill()
            raise

    @classmethod
    def tearDownClass(cls):
        try:
            cls.proxy.stop()
            cls.backend.stop()
        finally:
            cls.proxy.kill()
            cls.backend.kill()

    def client(self, server=None):
        c = (server or self.proxy).client()
        self.addCleanup(c.close)
        return c

    def test_get_relayed(self):
        direct = self.client(self.backend).exchange(request("GET", "/"))
        response = self.client().exchange(request("GET", "/"))
        self.assertEqual((response.status, response.body), (200, b"Hello, world!"), response)
        self.assertEqual(response.header("Content-Type"), direct.header("Content-Type"))
        self.assertIsNotNone(response.header("Content-Type"))

    def test_target_relayed_unchanged(self):
        c = self.client()
        for target in ("/a/b", "/a/b?c=d%20e&f", "/%7Euser/x.html"):
            with self.subTest(target=target):
                response = c.exchange(request("GET", target))
                self.assertEqual(response.status, 200, response)
                self.assertEqual(response.body, target[1:].encode())

    def test_backend_status_relayed(self):
        # Past the backend's --max-request-line (not the proxy's): the backend's 414 comes back.
        response = self.client().exchange(request("GET", "/" + "x" * 300))
        self.assertEqual(response.status, 414, response)

    def test_pipelined_requests_answered_in_order(self):
        # Every request waits on its own backend exchange; the answers still leave in order.
        c = self.client()
        c.send(b"".join(request("GET", f"/n{i}") for i in range(30)))
        for i in range(30):
            response = c.read_response()
            self.assertEqual((response.status, response.body), (200, f"n{i}".encode()))

    def test_concurrent_clients(self):
        clients = [self.client() for _ in range(16)]
        for i, c in enumerate(clients):
            c.send(request("GET", f"/c{i}"))
        for i, c in enumerate(clients):
            response = c.read_response()
            self.assertEqual((response.status, response.body), (200, f"c{i}".encode()))

    def test_head(self):
        response = self.client().exchange(request("HEAD", "/abc"), head=True)
        self.assertEqual(response.status, 200, response)
        self.assertEqual(response.header("Content-Length"), "3")

    def test_only_get_is_proxied(self):
        response = self.client().exchange(request("POST", "/echo", body=b"x"))
        self.assertEqual(response.status, 405, response)


class HandDrivenBackend:
    """A listening socket that the test drives: it accepts the proxy's connection, reads
    its request, and answers what the test says, or nothing."""

    def __init__(self):
        self.sock = socket.socket()
        self.sock.bind((HOST, 0))
        self.sock.listen()
        self.port = self.sock.getsockname()[1]

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.sock.close()

    def accept_request(self):
        """(the accepted socket, the request head it carried)."""
        deadline = Deadline(IO_TIMEOUT)
        self.sock.settimeout(deadline.left())
        conn, _ = self.sock.accept()
        head, how = recv_until(conn, lambda d: b"\r\n\r\n" in d, deadline)
        if how != "done":
            conn.close()
            raise AssertionError(f"no whole request from the proxy ({how}): {head!r}")
        return conn, head


class ProxyFailures(unittest.TestCase):

    def test_backend_down_gets_502_at_once(self):
        with Server(PROXY, "--backend-port", str(free_port()), "--backend-timeout",
                    "20000") as proxy:
            with proxy.client() as c:
                for target in ("/", "/again"):  # the connection stays usable after a 502
                    started = time.monotonic()
                    response = c.exchange(request("GET", target))
                    self.assertEqual(response.status, 502, response)
                    self.assertLess(time.monotonic() - started, 10.0, "refused, not timed out")
            proxy.stop()

    def test_garbage_or_nothing_gets_502(self):
        answers = [b"garbage\r\n\r\n", b"", b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n",
                   b"HTTP/1.1 2x0 OK\r\n\r\n", b"HTTP/1.1 099 Odd\r\n\r\n"]
        with HandDrivenBackend() as backend:
            with Server(PROXY, "--backend-port", str(backend.port)) as proxy:
                with proxy.client() as c:
                    for answer in answers:
                        with self.subTest(answer=answer):
                            c.send(request("GET", "/x"))
                            conn, asked = backend.accept_request()
                            with conn:
                                conn.sendall(answer)
                            response = c.read_response()
                            self.assertEqual(response.status, 502, response)
                proxy.stop()

    def test_request_sent_to_the_backend(self):
        with HandDrivenBackend() as backend:
            with Server(PROXY, "--backend-port", str(backend.port)) as proxy:
                with proxy.client() as c:
                    c.send(request("GET", "/some/where?q=1", headers=["X-Ignored: 1"]))
                    conn, asked = backend.accept_request()
                    with conn:
                        lines = asked.split(b"\r\n")
                        self.assertEqual(lines[0], b"GET /some/where?q=1 HTTP/1.1")
                        self.assertIn(b"Host: 127.0.0.1:%d" % backend.port, lines)
                        self.assertIn(b"Connection: close", lines)
                        conn.sendall(b"HTTP/1.1 201 Created\r\nContent-type:  text/x-test \r\n"
                                     b"Content-Length: 4\r\n\r\nmade")
                    response = c.read_response()
                    self.assertEqual((response.status, response.body), (201, b"made"))
                    self.assertEqual(response.header("Content-Type"), "text/x-test")
                proxy.stop()

    def test_stalled_backend_gets_504_after_the_timeout(self):
        with HandDrivenBackend() as backend:
            with Server(PROXY, "--backend-port", str(backend.port),
                        "--backend-timeout", "300") as proxy:
                with proxy.client() as c:
                    started = time.monotonic()
                    c.send(request("GET", "/slow"))
                    conn, _ = backend.accept_request()
                    with conn:  # never answered
                        response = c.read_response()
                        took = time.monotonic() - started
                        self.assertEqual(response.status, 504, response)
                        self.assertGreaterEqual(took, 0.3, "answered before the timeout")
                        # 0.3 s plus generous slack for sanitizer builds.
                        self.assertLess(took, 4.0, "the timeout was not kept")
                        # The abandoned exchange's connection is closed, not leaked.
                        data, how = recv_until(conn, lambda d: False, Deadline(IO_TIMEOUT))
                        self.assertEqual(data, b"")
                        self.assertIn(how, ("eof", "reset"))
                    # The next request on the same connection is served as usual.
                    c.send(request("GET", "/next"))
                    conn, _ = backend.accept_request()
                    with conn:
                        conn.sendall(b"HTTP/1.1 200 OK\r\nContent-Length: 4\r\n\r\nnext")
                    response = c.read_response()
                    self.assertEqual((response.status, response.body), (200, b"next"))
                proxy.stop()


if __name__ == "__main__":
    unittest.main()
