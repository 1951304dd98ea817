"""The command line of the coroutine examples (examples/): the contract of `reactor echo`
and `reactor chat` (see test_cli.py, whose argument tables this reuses): usage on stderr
and exit 2 for bad arguments, one line on stderr and exit 1 when it cannot start, --help,
and a clean exit 0 on SIGINT and SIGTERM on every backend.

The programs come from $REACTOR_ECHO_CMD (co_echo), $REACTOR_CHAT_CMD (co_chat) and
$REACTOR_CO_HTTP_PROXY_CMD (co_http_proxy), as CTest sets them."""

import os
import re
import signal
import socket
import unittest

from harness import (BACKENDS, HOST, Deadline, IO_TIMEOUT, Server, connect, recv_exactly,
                     run_cli, server_command)
from test_cli import BAD_ECHO_ARGS, BAD_SERVER_ARGS

# name for server_command → arguments every run needs (the proxy's backend)
EXAMPLES = {"echo": [], "chat": [], "co_http_proxy": ["--backend-port", "9"]}


def setUpModule():
    for name in EXAMPLES:
        variable = f"REACTOR_{name.upper()}_CMD"
        if not os.environ.get(variable):
            raise unittest.SkipTest(f"{variable} is not set (run through CTest, or export it)")


def run_example(name, args):
    return run_cli([*EXAMPLES[name], *args], program=server_command(name))


class BadArguments(unittest.TestCase):

    def assert_usage_error(self, name, args):
        result = run_example(name, args)
        err = result.stderr.decode(errors="replace")
        self.assertEqual(result.returncode, 2, f"{name} {args}: stderr {err!r}")
        self.assertEqual(result.stdout, b"", f"{name} {args}: wrote to stdout")
        self.assertRegex(err, re.compile(r"usage", re.I), f"{name} {args}: no usage on stderr")

    def test_each_example(self):
        for name in EXAMPLES:
            for args in BAD_SERVER_ARGS:
                with self.subTest(example=name, args=args):
                    self.assert_usage_error(name, args)

    def test_thread_flags(self):
        for name in ("echo", "co_http_proxy"):
            for args in BAD_ECHO_ARGS:
                with self.subTest(example=name, args=args):
                    self.assert_usage_error(name, args)
        for args in (["--threads", "2"], ["--balancing", "round-robin"]):
            with self.subTest(example="chat", args=args):
                self.assert_usage_error("chat", args)  # one loop, like reactor chat

    def test_chat_limits(self):
        for args in (["--max-output", "lots"], ["--max-output", "100"], ["--max-line", "-1"]):
            with self.subTest(args=args):
                self.assert_usage_error("chat", args)

    def test_proxy_backend(self):
        proxy = server_command("co_http_proxy")
        for args in ([], ["--backend-port", "http"], ["--backend-port", "65536"],
                     ["--backend-port", "9", "--backend-host", "not-an-ip"],
                     ["--backend-port", "9", "--backend-timeout", "0"],
                     ["--backend-port", "9", "--backend-timeout", "soon"]):
            with self.subTest(args=args):
                result = run_cli([*args, "--port", "0"], program=proxy)
                self.assertEqual(result.returncode, 2, result.stderr)
                self.assertEqual(result.stdout, b"")
                self.assertIn(b"--backend-", result.stderr)

    def test_bad_host(self):
        for name in EXAMPLES:
            with self.subTest(example=name):
                result = run_example(name, ["--host", "not-an-ip", "--port", "0"])
                self.assertEqual(result.returncode, 2, result.stderr)
                self.assertEqual(result.stdout, b"")
                self.assertTrue(result.stderr.strip())


class Help(unittest.TestCase):

    def test_help_exits_0(self):
        for name in EXAMPLES:
            for flag in ("--help", "-h"):
                with self.subTest(example=name, flag=flag):
                    result = run_example(name, [flag])
                    self.assertEqual(result.returncode, 0, result.stderr)
                    text = (result.stdout + result.stderr).decode(errors="replace")
                    for option in ("--host", "--port", "--backend", "--drain-timeout"):
                        self.assertIn(option, text)
                    self.assertEqual("--threads" in text, name != "chat")


class StartupFailure(unittest.TestCase):

    def test_port_in_use(self):
        with socket.socket() as taken:
            taken.bind((HOST, 0))
            taken.listen()
            port = str(taken.getsockname()[1])
            for name in EXAMPLES:
                for threads in ([], ["--threads", "2", "--balancing", "reuse-port"]):
                    if name == "chat" and threads:
                        continue
                    with self.subTest(example=name, threads=threads):
                        result = run_example(name, [*threads, "--port", port])
                        err = result.stderr.decode(errors="replace")
                        self.assertEqual(result.returncode, 1, err)
                        self.assertEqual(result.stdout, b"")
                        lines = err.strip().splitlines()
                        self.assertEqual(len(lines), 1, f"want one line on stderr: {lines}")
                        self.assertRegex(lines[0], re.compile(r"in use", re.I))


class Lifecycle(unittest.TestCase):
    """One `listening on` line, ready when printed; each signal stops it with exit 0."""

    def test_every_example_every_backend_every_signal(self):
        for name, args in EXAMPLES.items():
            for backend in BACKENDS:
                for signum in (signal.SIGINT, signal.SIGTERM):
                    with self.subTest(example=name, backend=backend, signal=signum.name):
                        with Server(name, "--backend", backend, *args) as srv:
                            self.assertEqual(srv.host, HOST)
                            with connect(srv.address) as s:  # accepting when it said so
                                if name == "echo":
                                    s.sendall(b"ping")
                                    self.assertEqual(recv_exactly(s, 4, Deadline(IO_TIMEOUT)),
                                                     b"ping")
                            srv.stop(signum)  # asserts exit 0 and no more stdout


if __name__ == "__main__":
    unittest.main()
