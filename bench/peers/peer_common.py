"""Shared contract for the Python peers: --port/--host and the one line a
driver waits for. Imported from the script's own directory."""
import argparse
import socket

READ_BUF = 64 * 1024  # same read size as the C peers where the API allows it


def parse_args():
    p = argparse.ArgumentParser()
    p.add_argument("--port", type=int, default=0)
    p.add_argument("--host", default="127.0.0.1")
    return p.parse_args()


def announce(sock):
    host, port = sock.getsockname()[:2]
    addr = f"[{host}]:{port}" if ":" in host else f"{host}:{port}"
    print(f"listening on {addr}", flush=True)


def nodelay(sock):
    sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
