"""A load generator cheap enough not to be the bottleneck: raw HTTP/1.1 over keep-alive.

httpx spends about 3 ms of CPU per request on this machine, so 32 httpx clients in one
process cap near 300 requests/s whatever the server does, and a bench would measure the
client. Here each connection writes pre-built request bytes and reads the answer by its
Content-Length (what uvicorn sends): tens of microseconds per request.

    rate, answers = asyncio.run(post_all(port, "/webhooks/shopify", requests, clients=32))
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass


@dataclass(frozen=True)
class Answer:
    """One response: its status, body and how long it took (ms)."""

    status: int
    body: bytes
    ms: float


def request_bytes(path: str, body: bytes, headers: Mapping[str, str], *, port: int) -> bytes:
    """A POST with a body, keep-alive, ready to write."""
    lines = [f"POST {path} HTTP/1.1", f"Host: 127.0.0.1:{port}",
             f"Content-Length: {len(body)}", "Content-Type: application/json",
             *(f"{k}: {v}" for k, v in headers.items())]
    return ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1") + body


async def _exchange(reader: asyncio.StreamReader, writer: asyncio.StreamWriter,
                    request: bytes) -> tuple[int, bytes]:
    writer.write(request)
    head = await reader.readuntil(b"\r\n\r\n")
    status = int(head[9:12])
    length = 0
    for line in head.split(b"\r\n")[1:]:
        name, _, value = line.partition(b":")
        if name.strip().lower() == b"content-length":
            length = int(value)
    return status, await reader.readexactly(length) if length else b""


async def post_all(port: int, requests: Sequence[bytes], *,
                   clients: int) -> tuple[float, list[Answer]]:
    """Send ``requests`` (from :func:`request_bytes`) over ``clients`` connections, each
    one request at a time; (requests per second, the answers in the order given)."""
    answers: list[Answer | None] = [None] * len(requests)
    queue: asyncio.Queue[int] = asyncio.Queue()
    for i in range(len(requests)):
        queue.put_nowait(i)

    async def client() -> None:
        reader, writer = await asyncio.open_connection("127.0.0.1", port)
        try:
            while not queue.empty():
                i = queue.get_nowait()
                sent = time.perf_counter()
                status, body = await _exchange(reader, writer, requests[i])
                answers[i] = Answer(status, body, (time.perf_counter() - sent) * 1000)
        finally:
            writer.close()

    started = time.perf_counter()
    await asyncio.gather(*(client() for _ in range(clients)))
    took = time.perf_counter() - started
    return len(requests) / took, [a for a in answers if a is not None]
