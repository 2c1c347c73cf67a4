"""A discarding SMTP sink that notes when it accepted each message (bench/dispatch.py,
bench/scaleout.py).

    .venv/bin/python bench/smtp_sink.py --port 8025 --log accepted.txt
    .venv/bin/python bench/smtp_sink.py --port 8025 --log accepted.txt --delay-ms 20
    .venv/bin/python bench/smtp_sink.py --port 8025 --log accepted.txt --cpu-log cpu.txt

aiosmtpd in its own process, like ``python -m aiosmtpd -c aiosmtpd.handlers.Sink``, except
that each accepted message's wall-clock time (``time.time()``) is kept and written to
``--log``, one per line in order of acceptance, when the process gets SIGTERM. The
dispatch bench reads them to measure due -> accepted by the sink. ``--delay-ms`` makes it a
provider that takes that long to answer each message (per connection; connections are
served concurrently), which the scale-out bench needs to make the provider the bottleneck.
``--cpu-log`` also writes the sink process's own CPU time (``time.process_time()``) at
each acceptance, one per line in the same order: the dispatch bench reads what the sink
spent per message, and how busy its core was, while each side sent.
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

    def __init__(self, accepted: list[float], delay_s: float = 0.0,
                 cpu: list[float] | None = None) -> None:
        self.accepted = accepted
        self.delay_s = delay_s
        self.cpu = cpu

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        if self.delay_s:
            await asyncio.sleep(self.delay_s)
        self.accepted.append(time.time())
        if self.cpu is not None:
            self.cpu.append(time.process_time())
        return "250 OK"


async def serve(port: int, log: Path, delay_s: float = 0.0,
                cpu_log: Path | None = None) -> None:
    accepted: list[float] = []
    cpu: list[float] | None = [] if cpu_log is not None else None
    loop = asyncio.get_running_loop()
    server = await loop.create_server(lambda: SMTP(TimedSink(accepted, delay_s, cpu)),
                                      "127.0.0.1", port)
    stop = asyncio.Event()
    loop.add_signal_handler(signal.SIGTERM, stop.set)
    loop.add_signal_handler(signal.SIGINT, stop.set)
    await stop.wait()
    server.close()
    log.write_text("".join(f"{moment:.6f}\n" for moment in accepted))
    if cpu_log is not None and cpu is not None:
        cpu_log.write_text("".join(f"{spent:.6f}\n" for spent in cpu))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--log", type=Path, required=True)
    parser.add_argument("--delay-ms", type=float, default=0.0,
                        help="answer each message this long after its data arrived")
    parser.add_argument("--cpu-log", type=Path, default=None,
                        help="also write this process's CPU time at each acceptance")
    args = parser.parse_args()
    asyncio.run(serve(args.port, args.log, args.delay_ms / 1000, args.cpu_log))


if __name__ == "__main__":
    main()
