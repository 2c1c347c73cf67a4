"""A discarding SMTP sink that notes when it accepted each message (bench/dispatch.py,
bench/scaleout.py).

    .venv/bin/python bench/smtp_sink.py --port 8025 --log accepted.txt
    .venv/bin/python bench/smtp_sink.py --port 8025 --log accepted.txt --delay-ms 20

aiosmtpd in its own process, like ``python -m aiosmtpd -c aiosmtpd.handlers.Sink``, except
that each accepted message's wall-clock time (``time.time()``) is kept and written to
``--log``, one per line in order of acceptance, when the process gets SIGTERM. The
dispatch bench reads them to measure due -> accepted by the sink. ``--delay-ms`` makes it a
provider that takes that long to answer each message (per connection; connections are
served concurrently), which the scale-out bench needs to make the provider the bottleneck.
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

    def __init__(self, accepted: list[float], delay_s: float = 0.0) -> None:
        self.accepted = accepted
        self.delay_s = delay_s

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        if self.delay_s:
            await asyncio.sleep(self.delay_s)
        self.accepted.append(time.time())
        return "250 OK"


async def serve(port: int, log: Path, delay_s: float = 0.0) -> None:
    accepted: list[float] = []
    loop = asyncio.get_running_loop()
    server = await loop.create_server(lambda: SMTP(TimedSink(accepted, delay_s)),
                                      "127.0.0.1", port)
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
    parser.add_argument("--delay-ms", type=float, default=0.0,
                        help="answer each message this long after its data arrived")
    args = parser.parse_args()
    asyncio.run(serve(args.port, args.log, args.delay_ms / 1000))


if __name__ == "__main__":
    main()
