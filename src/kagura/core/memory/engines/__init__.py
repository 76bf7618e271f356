"""Engines: where an ingestion run's per-file work runs (this process, or a Ray cluster)."""
