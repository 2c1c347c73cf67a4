"""A worker process for tests: the engine built from ``--config`` as ``notifier worker``
builds it, ticking at the moment written to its stdin (one ISO line per tick) and
answering each with one JSON line: the versions it runs and what it dispatched.

    python -m tests.authoring.probe_worker CONFIG START OWNER
"""

from __future__ import annotations

import asyncio
import json
import sys
from datetime import datetime
from pathlib import Path

from notifier.clock import FrozenClock
from notifier.config import load_settings
from notifier.pipeline import Engine, build_engine
from notifier.runtime import create_runtime


def state(engine: Engine, dispatched: dict[str, int]) -> str:
    assert engine.published is not None
    return json.dumps({"templates": engine.published.templates.versions,
                       "rules": engine.published.rules.versions,
                       "templates_dir": engine.composer.templates_dir.name,
                       "dispatched": dispatched})


def main() -> None:
    config, start, owner = Path(sys.argv[1]), datetime.fromisoformat(sys.argv[2]), sys.argv[3]
    clock = FrozenClock(start)
    runtime = create_runtime(load_settings(config), clock=clock)
    engine = build_engine(runtime, owner=owner)
    loop = asyncio.new_event_loop()
    print(state(engine, {}), flush=True)
    for line in sys.stdin:
        moment = datetime.fromisoformat(line.strip())
        clock.set(moment)
        result = loop.run_until_complete(engine.run_due(moment))
        print(state(engine, dict(result.dispatched)), flush=True)
    loop.run_until_complete(engine.aclose())
    runtime.close()


if __name__ == "__main__":
    main()
