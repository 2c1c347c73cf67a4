"""The deliver stage's orchestration: outbox claims, send-time decisions, provider calls."""

from notifier.dispatch.dispatcher import Dispatcher, worker_id

__all__ = ["Dispatcher", "worker_id"]
