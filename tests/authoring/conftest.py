"""The engine fixture of tests/engine, for tests that watch a worker take up a publish."""

from tests.engine.conftest import engine  # noqa: F401
