"""notifier: proactive customer notifications for e-commerce."""

__version__ = "0.1.0"
