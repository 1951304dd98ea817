#!/usr/bin/python3
"""Echo server on Python's selectors.DefaultSelector (epoll here): read, send
at once, keep only the unsent remainder and wait for writability for it."""
import selectors
import signal
import socket
import sys

from peer_common import READ_BUF, announce, nodelay, parse_args


class Conn:
    __slots__ = ("sock", "pending")

    def __init__(self, sock):
        self.sock = sock
        self.pending = b""  # non-empty only while registered for EVENT_WRITE


def close(sel, conn):
    sel.unregister(conn.sock)
    conn.sock.close()


def on_readable(sel, conn):
    try:
        data = conn.sock.recv(READ_BUF)
    except BlockingIOError:
        return
    except OSError:
        data = b""
    if not data:
        close(sel, conn)
        return
    try:
        sent = conn.sock.send(data)
    except BlockingIOError:
        sent = 0
    except OSError:
        close(sel, conn)
        return
    if sent < len(data):  # stop reading until the slow reader catches up
        conn.pending = data[sent:]
        sel.modify(conn.sock, selectors.EVENT_WRITE, conn)


def on_writable(sel, conn):
    try:
        sent = conn.sock.send(conn.pending)
    except BlockingIOError:
        return
    except OSError:
        close(sel, conn)
        return
    conn.pending = conn.pending[sent:]
    if not conn.pending:
        sel.modify(conn.sock, selectors.EVENT_READ, conn)


def on_accept(sel, listener):
    while True:
        try:
            sock, _ = listener.accept()
        except (BlockingIOError, ConnectionAbortedError):
            return
        sock.setblocking(False)
        nodelay(sock)
        sel.register(sock, selectors.EVENT_READ, Conn(sock))


def main():
    args = parse_args()
    for sig in (signal.SIGINT, signal.SIGTERM):  # raise out of select(), exit 0
        signal.signal(sig, lambda *_: sys.exit(0))
    listener = socket.create_server((args.host, args.port), backlog=socket.SOMAXCONN,
                                    family=socket.AF_INET6 if ":" in args.host else socket.AF_INET)
    listener.setblocking(False)
    sel = selectors.DefaultSelector()
    sel.register(listener, selectors.EVENT_READ, None)
    announce(listener)
    while True:
        for key, events in sel.select():
            conn = key.data
            if conn is None:
                on_accept(sel, listener)
            elif conn.pending:
                on_writable(sel, conn)
            else:
                on_readable(sel, conn)


if __name__ == "__main__":
    main()
