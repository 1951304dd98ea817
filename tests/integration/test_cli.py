"""The command line of every server: bad arguments (usage on stderr, exit 2, nothing on
stdout), start-up failures (one line on stderr, exit 1), --help (exit 0), the single
`listening on` line, and a clean exit on SIGINT and SIGTERM."""

import re
import signal
import socket
import unittest

from harness import (BACKENDS, HOST, Deadline, IO_TIMEOUT, Server, connect, recv_exactly,
                     run_cli)

SERVERS = ("echo", "chat", "udp-echo")

BAD_SERVER_ARGS = [
    ["--no-such-flag"],
    ["--backend", "kqueue"],
    ["--backend"],
    ["--port", "http"],
    ["--port", "80x"],
    ["--port", "-1"],
    ["--port", "65536"],
    ["--port"],
    ["--drain-timeout", "soon"],
    ["--drain-timeout", "-5"],
    ["stray-positional"],
]
BAD_ECHO_ARGS = [
    ["--threads", "two"],
    ["--threads", "0"],
    ["--threads", "-2"],
    ["--threads", "2", "--balancing", "random"],
]


class BadArguments(unittest.TestCase):

    def assert_usage_error(self, args):
        result = run_cli(args)
        err = result.stderr.decode(errors="replace")
        self.assertEqual(result.returncode, 2, f"{args}: stderr {err!r}")
        self.assertEqual(result.stdout, b"", f"{args}: wrote to stdout")
        self.assertRegex(err, re.compile(r"usage", re.I), f"{args}: no usage on stderr")

    def test_each_server(self):
        for command in SERVERS:
            for args in BAD_SERVER_ARGS:
                with self.subTest(command=command, args=args):
                    self.assert_usage_error([command, *args])

    def test_echo_thread_flags(self):
        for args in BAD_ECHO_ARGS:
            with self.subTest(args=args):
                self.assert_usage_error(["echo", *args])

    def test_single_loop_servers_take_no_threads(self):
        for command in ("chat", "udp-echo"):
            for args in (["--threads", "2"], ["--balancing", "round-robin"]):
                with self.subTest(command=command, args=args):
                    self.assert_usage_error([command, *args])

    def test_chat_limits(self):
        for args in (["--max-output", "lots"], ["--max-output", "-1"], ["--max-output"]):
            with self.subTest(args=args):
                self.assert_usage_error(["chat", *args])

    def test_no_or_unknown_subcommand(self):
        for args in ([], ["bogus"], ["--port", "0"]):
            with self.subTest(args=args):
                self.assert_usage_error(args)

    def test_missing_client_arguments(self):
        for args in (["client"], ["client", HOST]):
            with self.subTest(args=args):
                self.assert_usage_error(args)

    def test_bad_host(self):
        for command in SERVERS:
            with self.subTest(command=command):
                result = run_cli([command, "--host", "not-an-ip", "--port", "0"])
                self.assertEqual(result.returncode, 2, result.stderr)
                self.assertEqual(result.stdout, b"")
                self.assertTrue(result.stderr.strip())


class Help(unittest.TestCase):

    def test_help_exits_0(self):
        for command in (*SERVERS, "client"):
            for flag in ("--help", "-h"):
                with self.subTest(command=command, flag=flag):
                    result = run_cli([command, flag])
                    self.assertEqual(result.returncode, 0, result.stderr)
                    text = (result.stdout + result.stderr).decode(errors="replace")
                    self.assertIn(command, text)
                    if command != "client":
                        for option in ("--host", "--port", "--backend", "--drain-timeout"):
                            self.assertIn(option, text)
        result = run_cli(["echo", "--help"])
        self.assertIn("--threads", result.stdout.decode() + result.stderr.decode())


class StartupFailure(unittest.TestCase):

    def assert_one_line_exit_1(self, args):
        result = run_cli(args)
        err = result.stderr.decode(errors="replace")
        self.assertEqual(result.returncode, 1, f"{args}: stderr {err!r}")
        self.assertEqual(result.stdout, b"", f"{args}: wrote to stdout")
        lines = err.strip().splitlines()
        self.assertEqual(len(lines), 1, f"{args}: want one line on stderr, got {lines}")
        return lines[0]

    def test_tcp_port_in_use(self):
        with socket.socket() as taken:
            taken.bind((HOST, 0))
            taken.listen()
            port = str(taken.getsockname()[1])
            for args in (["echo"], ["chat"], ["echo", "--threads", "2"],
                         ["echo", "--threads", "2", "--balancing", "reuse-port"]):
                with self.subTest(args=args):
                    line = self.assert_one_line_exit_1([*args, "--port", port])
                    self.assertRegex(line, re.compile(r"in use", re.I))

    def test_udp_port_in_use(self):
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as taken:
            taken.bind((HOST, 0))
            line = self.assert_one_line_exit_1(
                ["udp-echo", "--port", str(taken.getsockname()[1])])
            self.assertRegex(line, re.compile(r"in use", re.I))

    def test_address_not_on_this_host(self):
        # 192.0.2.0/24 is TEST-NET-1: never a local address, so bind fails.
        line = self.assert_one_line_exit_1(["echo", "--host", "192.0.2.1"])
        self.assertTrue(line.strip())


class Lifecycle(unittest.TestCase):
    """One `listening on` line, ready when printed; each signal stops it with exit 0."""

    def test_every_server_every_backend_every_signal(self):
        for command in SERVERS:
            for backend in BACKENDS:
                for signum in (signal.SIGINT, signal.SIGTERM):
                    with self.subTest(command=command, backend=backend, signal=signum.name):
                        with Server(command, "--backend", backend) as srv:
                            self.assertEqual(srv.host, HOST)
                            self.assertGreater(srv.port, 0)
                            self.assert_serving(command, srv)
                            srv.stop(signum)  # asserts exit 0 and no more stdout

    def test_explicit_port_is_used(self):
        with socket.socket() as probe:  # find a free port, then ask for it by number
            probe.bind((HOST, 0))
            port = probe.getsockname()[1]
        srv = Server("echo")
        srv.argv[srv.argv.index("--port") + 1] = str(port)
        with srv:
            self.assertEqual(srv.port, port)
            self.assert_serving("echo", srv)
            srv.stop()

    def test_logs_stay_off_stdout_under_traffic(self):
        with Server("echo") as srv:
            for _ in range(20):
                with connect(srv.address) as s:
                    s.sendall(b"x")
                    recv_exactly(s, 1, Deadline(IO_TIMEOUT))
                    s.shutdown(socket.SHUT_WR)
            srv.stop()  # asserts nothing but the one line ever reached stdout

    def assert_serving(self, command, srv):
        # Printed "once it accepts": the very first attempt right after must succeed.
        if command == "udp-echo":
            with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
                s.settimeout(IO_TIMEOUT)
                s.sendto(b"ping", srv.address)
                self.assertEqual(s.recvfrom(100)[0], b"ping")
            return
        with connect(srv.address) as s:
            if command == "echo":
                s.sendall(b"ping")
                self.assertEqual(recv_exactly(s, 4, Deadline(IO_TIMEOUT)), b"ping")


if __name__ == "__main__":
    unittest.main()
