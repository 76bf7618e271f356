"""What a chunk's vector depends on: the embedder that makes it and the exact text it embeds.

``embed_text`` is the text an embedder sees for a chunk: the file's relative path (with its kind, for
configuration and build files: ``deploy/Dockerfile (Docker container image build file)``) and the chunk's
section/symbol as a header line, then the chunk (the header lets "what does JSONDecoder.decode do" find
a method chunk whose body never names its class). ``chunk_hash`` keys a stored vector by both, so a vector
is reused exactly when embedding again would give the same vector.
"""

from __future__ import annotations

import hashlib

from kagura.core.memory.embedders._base import embedder_id
from kagura.core.memory.ingestion.chunking._pieces import ChunkPiece
from kagura.core.memory.stores._file_kinds import kind_label

__all__ = ["chunk_hash", "embed_text", "embedder_id"]


def embed_text(relpath: str, chunk: ChunkPiece) -> str:
    """The text embedded for ``chunk`` of the file at ``relpath``."""
    path = kind_label(relpath)
    header = path if not chunk.section else f"{path} · {chunk.section}"
    return f"{header}\n{chunk.text}"


def chunk_hash(embedder: str, text: str) -> str:
    """``sha256(embedder id + NUL + embedded text)`` in hex."""
    return hashlib.sha256(f"{embedder}\0{text}".encode("utf-8", "surrogatepass")).hexdigest()
