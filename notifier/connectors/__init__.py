"""Pull connectors: platforms that send no webhooks, read on a schedule.

A connector is a client (HTTP, rate limit, backoff), an adapter in :mod:`notifier.ingest`
mapping its payloads onto our records, and a poller that stores the records together with
its position (:class:`notifier.store.connector_tables.ConnectorState`).
"""
