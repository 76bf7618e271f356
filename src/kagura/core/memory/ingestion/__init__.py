"""Ingestion: from a scanned file to stored chunks (prepare, describe, chunk, embed, store, prune)."""
