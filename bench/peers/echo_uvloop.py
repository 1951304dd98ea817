#!/usr/bin/python3
"""The asyncio echo server (echo_asyncio.py) on uvloop's event loop."""
import uvloop

from echo_asyncio import run

if __name__ == "__main__":
    run(uvloop.new_event_loop)
