"""The benchmark driver behind bench/run.py (see bench/README.md)."""
