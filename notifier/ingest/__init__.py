"""The ingest stage: platform payloads in, canonical records applied to the store."""
