"""systemd socket activation (sd_listen_fds(3)): `reactor http`, `echo` and `chat` serve the
listening socket passed as LISTEN_FDS/LISTEN_PID instead of binding one.

Under Debian's systemd-socket-activate, which binds the port, waits for the first
connection and then execs the program with the socket as descriptor 3 (the process keeps
its pid, so the signals reach the server itself); and under a small Python launcher that
does the same by hand, for the cases the activator cannot make (a wrong LISTEN_PID,
several descriptors, a socket that is not a listening stream socket).
"""

import shutil
import signal
import socket
import sys
import threading
import unittest

from harness import (HOST, IO_TIMEOUT, START_TIMEOUT, Client, Deadline, Server, connect,
                     free_port, parse_response, reactor_bin, recv_exactly, recv_until, request,
                     run_cli, wait_for)

ACTIVATE = shutil.which("systemd-socket-activate")
HELLO = b"Hello, world!"

# Runs in the launched python: binds what argv says at descriptors 3, 4..., sets
# LISTEN_FDS and LISTEN_PID (its own pid, kept by exec, plus an offset), then execs the
# server. argv: PID_OFFSET KIND:PORT[,KIND:PORT...] -- SERVER ARGS...
LAUNCHER = r"""
import os, socket, sys
offset, specs, rest = int(sys.argv[1]), sys.argv[2].split(","), sys.argv[4:]
kinds = {"stream": socket.SOCK_STREAM, "bound": socket.SOCK_STREAM, "dgram": socket.SOCK_DGRAM}
keep = []
for i, spec in enumerate(specs):
    kind, port = spec.split(":")
    s = socket.socket(socket.AF_INET, kinds[kind])
    s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    s.bind(("127.0.0.1", int(port)))
    if kind == "stream":
        s.listen(16)
    if s.fileno() != 3 + i:
        os.dup2(s.fileno(), 3 + i)
    os.set_inheritable(3 + i, True)  # Python's sockets are close-on-exec
    keep.append(s)
os.environ["LISTEN_FDS"] = str(len(specs))
os.environ["LISTEN_PID"] = str(os.getpid() + offset)
os.execv(rest[0], rest)
"""


def launcher_argv(subcommand, specs, *args, pid_offset=0):
    return [sys.executable, "-c", LAUNCHER, str(pid_offset), ",".join(specs), "--",
            reactor_bin(), subcommand, *args]


def launched(subcommand, specs, *args, pid_offset=0):
    """A Server run by LAUNCHER with the sockets `specs` ("stream:PORT", ...)."""
    return Server(subcommand, argv=launcher_argv(subcommand, specs, *args,
                                                 pid_offset=pid_offset))


def read_response(sock):
    data, how = recv_until(sock, lambda d: parse_response(d) is not None, Deadline(IO_TIMEOUT))
    if how != "done":
        raise AssertionError(f"{how} after {data[:200]!r}")
    return parse_response(data)[0]


def activated(test, subcommand, *args):
    """`subcommand` under systemd-socket-activate on a free port, started by its first
    connection. Returns (server, that first connection)."""
    if not ACTIVATE:
        test.skipTest("systemd-socket-activate is not installed (scripts/setup.sh)")
    port = free_port()
    server = Server(subcommand, argv=[ACTIVATE, "-l", f"{HOST}:{port}", reactor_bin(),
                                      subcommand, *args])
    test.addCleanup(server.kill)
    failed = []

    def start():
        try:
            server.start()
        except BaseException as e:  # reported by the test's thread below
            failed.append(e)

    # start() returns once the `listening on` line comes, which needs a connection.
    starter = threading.Thread(target=start)
    starter.start()

    def first_connection():
        try:
            return connect((HOST, port))
        except ConnectionRefusedError:  # the activator is not listening yet
            return None

    first = wait_for(first_connection, START_TIMEOUT, f"systemd-socket-activate on {port}")
    test.addCleanup(first.close)
    starter.join(START_TIMEOUT + 5)
    test.assertFalse(starter.is_alive(), "no `listening on` line")
    if failed:
        raise failed[0]
    test.assertEqual(server.address, (HOST, port), "the line names the inherited socket")
    return server, first


class SystemdSocketActivateTest(unittest.TestCase):
    def test_http_serves_the_activated_port_and_drains_on_sigterm(self):
        server, first = activated(self, "http", "--drain-timeout", "20000")
        first.sendall(request("GET", "/"))
        r = read_response(first)
        self.assertEqual((r.status, r.body), (200, HELLO))
        c = Client(server.address)
        self.addCleanup(c.close)
        r = c.exchange(request("GET", "/second"))
        self.assertEqual((r.status, r.body), (200, b"second"))
        server.send_signal(signal.SIGTERM)
        # Idle keep-alive connections are closed; the process exits 0 though we keep ours.
        self.assertEqual(c.wait_closed(timeout=IO_TIMEOUT), b"")
        server.stop()

    def test_echo_serves_the_activated_port(self):
        server, first = activated(self, "echo")
        first.sendall(b"activated")
        self.assertEqual(recv_exactly(first, 9, Deadline(IO_TIMEOUT)), b"activated")
        with connect(server.address) as second:
            second.sendall(b"again")
            self.assertEqual(recv_exactly(second, 5, Deadline(IO_TIMEOUT)), b"again")
        server.stop()

    def test_threads_with_reuse_port_serve_the_one_inherited_socket(self):
        server, first = activated(self, "http", "--threads", "2", "--balancing", "reuse-port")
        first.sendall(request("GET", "/"))
        self.assertEqual(read_response(first).body, HELLO)
        for i in range(4):
            with Client(server.address) as c:
                r = c.exchange(request("GET", f"/n{i}"))
                self.assertEqual((r.status, r.body), (200, f"n{i}".encode()))
        server.stop()


class ListenFdsTest(unittest.TestCase):
    def start(self, server):
        self.addCleanup(server.kill)
        return server.start()

    def test_chat_uses_the_inherited_socket(self):
        port = free_port()
        server = self.start(launched("chat", [f"stream:{port}"]))
        self.assertEqual(server.port, port)
        with connect(server.address) as a, connect(server.address) as b:
            wait_for(lambda: self.say(a, b), IO_TIMEOUT, "a chat line relayed")
        server.stop()

    @staticmethod
    def say(a, b):
        # Relayed to the other member only once both joined: repeat until one arrives.
        a.sendall(b"hi\n")
        b.settimeout(0.05)
        try:
            return b"hi" in b.recv(4096)
        except socket.timeout:
            return False

    def test_the_first_of_several_descriptors_is_served(self):
        ports = [free_port(), free_port()]
        server = self.start(launched("http", [f"stream:{p}" for p in ports]))
        self.assertEqual(server.port, ports[0])
        with Client(server.address) as c:
            self.assertEqual(c.exchange(request("GET", "/")).body, HELLO)
        server.stop()

    def test_a_listen_pid_of_another_process_is_ignored(self):
        port = free_port()
        server = self.start(launched("http", [f"stream:{port}"], "--port", "0", pid_offset=1))
        self.assertNotEqual(server.port, port, "served a socket meant for another process")
        with Client(server.address) as c:
            self.assertEqual(c.exchange(request("GET", "/")).body, HELLO)
        server.stop()

    def test_a_socket_that_is_not_listening_is_refused_clearly(self):
        for kind in ("dgram", "bound"):
            with self.subTest(kind=kind):
                argv = launcher_argv("http", [f"{kind}:{free_port()}"])
                proc = run_cli([], program=argv)
                self.assertEqual(proc.returncode, 1, proc.stderr)
                self.assertEqual(proc.stdout, b"")
                self.assertIn(b"inherited descriptor 3 is not a listening stream socket",
                              proc.stderr)

    def test_udp_echo_binds_its_own_socket(self):
        # udp-echo does not take inherited sockets: it closes them and binds --port.
        port = free_port()
        server = self.start(launched("udp-echo", [f"stream:{port}"], "--port", "0"))
        self.assertNotEqual(server.port, port)
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
            s.settimeout(IO_TIMEOUT)
            s.sendto(b"ping", server.address)
            self.assertEqual(s.recvfrom(64)[0], b"ping")
        server.stop()


if __name__ == "__main__":
    unittest.main()
