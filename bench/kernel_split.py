#!/usr/bin/env python3
"""How much of the server's CPU per message is system-call entry/exit, and how much TCP
work in the kernel: reactor and raw epoll C, echo ping-pong and HTTP keep-alive.

Writes its section of docs/performance.md (between the kernel-split markers, appended if
absent; the rest of the file is left alone) and bench/results/kernel.json. Needs `perf`.
The code is in reactor_bench/kernel.py.
"""
import sys

from reactor_bench.kernel import main

if __name__ == "__main__":
    sys.exit(main())
