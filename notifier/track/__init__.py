"""The track stage: receipts, provider callbacks, unsubscribes, conversions, metrics."""
