"""A discarding SMTP sink that notes when it accepted each message (for bench/dispatch.py).

    .venv/bin/python bench/smtp_sink.py --port 8025 --log accepted.txt

aiosmtpd in its own process, like ``python -m aiosmtpd -c aiosmtpd.handlers.Sink``, except
that each accepted message's wall-clock time (``time.time()``) is kept and written to
``--log``, one per line in order of acceptance, when the process gets SIGTERM. The
dispatch bench reads them to measure due -> accepted by the sink.
"""

from __future__ import annotations

import argparse
import asyncio
import signal
import time
from pathlib import Path
from typing import Any

from aiosmtpd.smtp import SMTP


class TimedSink:
    """Accepts and drops every message, remembering when."""

    def __init__(self, accepted: list[float]) -> None:
        self.accepted = accepted

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        self.accepted.append(time.time())
        return "250 OK"


async def serve(port: int, log: Path) -> None:
    accepted: list[float] = []
    loop = asyncio.get_running_loop()
    server = await loop.create_server(lambda: SMTP(TimedSink(accepted)), "127.0.0.1", port)
    stop = asyncio.Event()
    loop.add_signal_handler(signal.SIGTERM, stop.set)
    loop.add_signal_handler(signal.SIGINT, stop.set)
    await stop.wait()
    server.close()
    log.write_text("".join(f"{moment:.6f}\n" for moment in accepted))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--log", type=Path, required=True)
    args = parser.parse_args()
    asyncio.run(serve(args.port, args.log))


if __name__ == "__main__":
    main()
