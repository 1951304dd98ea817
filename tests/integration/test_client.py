"""`reactor client HOST PORT` against `reactor echo`: stdin lines come back on stdout as
they arrive; stdin EOF half-closes and the client prints the rest, then exits 0."""

import subprocess
import tempfile
import unittest

from harness import (HOST, IO_TIMEOUT, STOP_TIMEOUT, ClientProcess, Deadline, Server,
                     free_port, make_rng, read_pipe_until, run_cli)


class ClientAgainstEcho(unittest.TestCase):

    def setUp(self):
        self.srv = Server("echo").start()
        self.addCleanup(self.srv.kill)

    def test_lines_come_back_one_at_a_time(self):
        with ClientProcess(self.srv.port) as client:
            # stdin stays open throughout: each line must be printed (flushed) on its own.
            for i in range(20):
                line = b"line %d: %s\n" % (i, b"abc" * i)
                client.write(line)
                self.assertEqual(client.read_exactly(len(line)), line)
            client.proc.stdin.close()
            rest, eof = read_pipe_until(client.proc.stdout, lambda d: False,
                                        Deadline(IO_TIMEOUT))
            self.assertEqual((rest, eof), (b"", True))
            self.assertEqual(client.proc.wait(timeout=STOP_TIMEOUT), 0, client.stderr_text())
        self.srv.stop()

    def test_stdin_eof_prints_the_rest_and_exits_0(self):
        rng = make_rng(self)
        # Far more than the pipes and sockets hold: printed while still being written.
        data = b"".join(b"%d %s\n" % (i, rng.randbytes(rng.randint(0, 200)).hex().encode())
                        for i in range(20000))
        with ClientProcess(self.srv.port) as client:
            out, err = client.proc.communicate(data, timeout=IO_TIMEOUT)
            self.assertEqual(client.proc.returncode, 0, err)
            self.assertEqual(len(out), len(data))
            self.assertTrue(out == data, "printed bytes differ from stdin")
        self.srv.stop()

    def test_empty_stdin(self):
        with ClientProcess(self.srv.port, stdin=subprocess.DEVNULL) as client:
            out = client.proc.stdout.read()
            self.assertEqual(client.proc.wait(timeout=STOP_TIMEOUT), 0, client.stderr_text())
            self.assertEqual(out, b"")
        self.srv.stop()

    def test_stdin_from_a_regular_file(self):
        rng = make_rng(self)
        data = rng.randbytes(300 * 1024)
        with tempfile.TemporaryFile() as f:
            f.write(data)
            f.seek(0)
            with ClientProcess(self.srv.port, stdin=f) as client:
                out, _ = client.proc.communicate(timeout=IO_TIMEOUT)
                self.assertEqual(client.proc.returncode, 0, client.stderr_text())
                self.assertTrue(out == data, f"printed {len(out)} of {len(data)} bytes")
        self.srv.stop()

    def test_no_partial_line_lost_without_newline(self):
        with ClientProcess(self.srv.port) as client:
            client.write(b"no newline")
            self.assertEqual(client.read_exactly(10), b"no newline")
            out, _ = client.proc.communicate(b" and more", timeout=IO_TIMEOUT)
            self.assertEqual(out, b" and more")
            self.assertEqual(client.proc.returncode, 0, client.stderr_text())
        self.srv.stop()


class ClientErrors(unittest.TestCase):

    def test_closed_port(self):
        port = free_port()
        result = run_cli(["client", HOST, str(port)])
        self.assertEqual(result.returncode, 1, result.stderr)
        self.assertEqual(result.stdout, b"")
        lines = result.stderr.decode(errors="replace").strip().splitlines()
        self.assertEqual(len(lines), 1, f"want one error line, got {lines}")
        self.assertTrue(lines[0].strip(), "empty error line")

    def test_bad_arguments(self):
        cases = [[], [HOST], ["not-an-address", "80"], [HOST, "http"], [HOST, "0"],
                 [HOST, "70000"], [HOST, "-1"], [HOST, "80", "extra"],
                 [HOST, "80", "--no-such-flag"], [HOST, "80", "--backend", "kqueue"]]
        for args in cases:
            with self.subTest(args=args):
                result = run_cli(["client", *args])
                self.assertEqual(result.returncode, 2, result.stderr)
                self.assertEqual(result.stdout, b"")
                self.assertTrue(result.stderr.strip(), "nothing on stderr")

    def test_help(self):
        result = run_cli(["client", "--help"])
        self.assertEqual(result.returncode, 0, result.stderr)
        self.assertIn(b"client", result.stdout + result.stderr)


if __name__ == "__main__":
    unittest.main()
