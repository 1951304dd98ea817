#!/usr/bin/env python3
"""Benchmark driver: reactor against the peer servers of bench/peers/.

The entry point of `make bench`; the code lives in the reactor_bench package next to this
file (bench/README.md lists its modules). `python3 bench/run.py --help` for the options.
"""
import sys

from reactor_bench.cli import main

if __name__ == "__main__":
    sys.exit(main())
