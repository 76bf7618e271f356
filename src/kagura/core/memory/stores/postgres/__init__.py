"""The PostgreSQL + pgvector stores (extra ``kagura[postgres]``): RAG index, description claims, turns.

Importing this package needs psycopg, psycopg_pool and pgvector; ``kagura.core.memory`` imports it only
when a ``postgresql://`` URL is given.
"""

from __future__ import annotations

from kagura.core.memory.stores.postgres._claims import PostgresClaims
from kagura.core.memory.stores.postgres._store import HNSWParams, PostgresRAGStore
from kagura.core.memory.stores.postgres._turns import PostgresTurns

__all__ = ["HNSWParams", "PostgresClaims", "PostgresRAGStore", "PostgresTurns"]
