#!/usr/bin/python3
"""Echo server on an asyncio Protocol. transport.write() sends at once and
buffers only the rest; pause/resume_writing turn reading off while that
buffer is over its high-water mark, so a slow reader bounds memory.
echo_uvloop.py runs this same code on uvloop's loop."""
import asyncio
import signal
import socket

from peer_common import announce, nodelay, parse_args


class Echo(asyncio.Protocol):
    def connection_made(self, transport):
        self.transport = transport
        nodelay(transport.get_extra_info("socket"))

    def data_received(self, data):
        self.transport.write(data)

    def pause_writing(self):
        self.transport.pause_reading()

    def resume_writing(self):
        self.transport.resume_reading()


async def serve(args):
    loop = asyncio.get_running_loop()
    stop = loop.create_future()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, lambda: stop.done() or stop.set_result(None))
    server = await loop.create_server(
        Echo, args.host, args.port, backlog=socket.SOMAXCONN, reuse_address=True
    )
    announce(server.sockets[0])
    await stop
    server.close()


def run(new_loop):
    args = parse_args()
    loop = new_loop()
    asyncio.set_event_loop(loop)
    try:
        loop.run_until_complete(serve(args))
    finally:
        loop.close()


if __name__ == "__main__":
    run(asyncio.new_event_loop)
