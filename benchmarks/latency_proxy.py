"""A network link in a process of its own: every byte pays half a round trip each way.

Between the benchmark clients and the lab servers (all on 127.0.0.1) it relays each listed port
and charges what a link charges, not what a per-reply sleep would:

- the connection: the server sees it 1.5 round trips after the client's connect (SYN, SYN-ACK,
  ACK), and nothing the client sends arrives before that;
- every chunk, in either direction, arrives half a round trip after it was sent, in order.

So two commands written together cost one round trip, as on a real link, and a TLS 1.3 handshake
costs one. (The client's own connect returns at once here, where a real one takes a round trip;
the 1.5 round trips before the server sees the connection put that time on the critical path.)

It prints one JSON line `{"pid": ..., "ports": {name: port}}` and relays until its stdin closes
or `--lifetime` seconds pass: it always stops by itself.

    python benchmarks/latency_proxy.py --rtt-ms 50 --target imap=40001 --target smtp=40002
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import sys

HOST = "127.0.0.1"
CHUNK = 65536


class Direction:
    """One direction of one connection: chunks delivered `delay` after they arrived, in order."""

    def __init__(
        self, writer: asyncio.Future[asyncio.StreamWriter], delay: float, not_before: float
    ) -> None:
        self.writer = writer  # the connection to the server exists only after the handshake
        self.delay = delay
        self.not_before = not_before
        self.queue: asyncio.Queue[tuple[float, bytes | None]] = asyncio.Queue()
        self.task = asyncio.ensure_future(self._deliver())

    def put(self, chunk: bytes | None) -> None:
        """A chunk (None: the sender closed) as it arrives now."""
        loop = asyncio.get_running_loop()
        self.queue.put_nowait((max(loop.time() + self.delay, self.not_before), chunk))

    async def _deliver(self) -> None:
        loop = asyncio.get_running_loop()
        try:
            writer = await self.writer
            while True:
                due, chunk = await self.queue.get()
                wait = due - loop.time()
                if wait > 0:
                    await asyncio.sleep(wait)
                if chunk is None:
                    if writer.can_write_eof():
                        writer.write_eof()
                    return
                writer.write(chunk)
                await writer.drain()
        except (ConnectionError, OSError):
            return


async def _read_into(reader: asyncio.StreamReader, direction: Direction) -> None:
    try:
        while chunk := await reader.read(CHUNK):
            direction.put(chunk)
    except (ConnectionError, OSError):
        pass
    direction.put(None)


async def _link(
    client_r: asyncio.StreamReader,
    client_w: asyncio.StreamWriter,
    target: int,
    rtt: float,
) -> None:
    """One connection. What the client sends at once is timed from when it sent it (read right
    away), and delivered no earlier than when the server has seen the connection."""
    loop = asyncio.get_running_loop()
    seen = loop.time() + 1.5 * rtt  # SYN, SYN-ACK, ACK: only then does the server see us
    server: asyncio.Future[asyncio.StreamWriter] = loop.create_future()
    to_client: asyncio.Future[asyncio.StreamWriter] = loop.create_future()
    to_client.set_result(client_w)
    up = Direction(server, rtt / 2, seen)
    down = Direction(to_client, rtt / 2, 0.0)
    tasks = [asyncio.ensure_future(_read_into(client_r, up)), up.task, down.task]
    server_w: asyncio.StreamWriter | None = None
    try:
        await asyncio.sleep(seen - loop.time())
        server_r, server_w = await asyncio.open_connection(HOST, target)
        server.set_result(server_w)
        tasks.append(asyncio.ensure_future(_read_into(server_r, down)))
        await asyncio.gather(*tasks)
    except OSError:
        pass
    finally:
        for task in tasks:
            task.cancel()
        for writer in (client_w, server_w):
            if writer is not None:
                writer.close()
                with contextlib.suppress(OSError):
                    await writer.wait_closed()


async def serve(targets: dict[str, int], rtt: float, lifetime: float) -> None:
    loop = asyncio.get_running_loop()
    tasks: set[asyncio.Task[None]] = set()
    servers: dict[str, asyncio.Server] = {}
    for name, target in targets.items():

        def accept(r: asyncio.StreamReader, w: asyncio.StreamWriter, target: int = target) -> None:
            task = asyncio.ensure_future(_link(r, w, target, rtt))
            tasks.add(task)
            task.add_done_callback(tasks.discard)

        servers[name] = await asyncio.start_server(accept, HOST, 0, backlog=1024)
    ports = {name: srv.sockets[0].getsockname()[1] for name, srv in servers.items()}
    print(json.dumps({"pid": os.getpid(), "ports": ports}), flush=True)
    stdin = asyncio.StreamReader()
    await loop.connect_read_pipe(lambda: asyncio.StreamReaderProtocol(stdin), sys.stdin)
    try:
        async with asyncio.timeout(lifetime):
            while line := await stdin.readline():
                if line.strip() == b"stop":
                    break
    except TimeoutError:
        print(f"latency_proxy: lifetime of {lifetime:g} s reached, stopping", file=sys.stderr)
    for srv in servers.values():
        srv.close()
    for task in list(tasks):
        task.cancel()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rtt-ms", type=float, required=True)
    parser.add_argument("--target", action="append", default=[], help="name=port, repeatable")
    parser.add_argument("--lifetime", type=float, default=1200.0, help="stop after this long")
    args = parser.parse_args()
    targets = {}
    for item in args.target:
        name, _, port = item.partition("=")
        targets[name] = int(port)
    asyncio.run(serve(targets, args.rtt_ms / 1000, args.lifetime))


if __name__ == "__main__":
    main()
