"""A file handed to a multimodal model: one dataclass, hashed by its content."""

from __future__ import annotations

import asyncio
import base64
import hashlib
import io
import mimetypes
import re
import warnings
from dataclasses import dataclass, field
from pathlib import Path

__all__ = ["Attachment", "attachment_kind"]

_EXTRA_TYPES = {
    ".webp": "image/webp",
    ".heic": "image/heic",
    ".m4a": "audio/mp4",
    ".flac": "audio/flac",
    ".ogg": "audio/ogg",
    ".opus": "audio/opus",
    ".mkv": "video/x-matroska",
    ".webm": "video/webm",
    ".md": "text/markdown",
}


def attachment_kind(mime_type: str) -> str:
    """``"image"``, ``"audio"``, ``"video"``, ``"pdf"`` or ``"text"`` for a MIME type, else ValueError."""
    major = mime_type.split("/", 1)[0]
    if major in ("image", "audio", "video", "text"):
        return major
    if mime_type == "application/pdf":
        return "pdf"
    raise ValueError(
        f"unsupported attachment MIME type {mime_type!r}: use an image/*, audio/*, video/*, text/* "
        "or application/pdf file"
    )


def _audio_video_seconds(data: bytes) -> float | None:
    try:
        import mutagen  # local, light dependency; only needed for duration estimates

        info = mutagen.File(io.BytesIO(data))  # pyright: ignore[reportPrivateImportUsage]
        length = getattr(getattr(info, "info", None), "length", None)
        return float(length) if length else None
    except Exception:
        return None


@dataclass(frozen=True)
class Attachment:
    """An image, audio, video, PDF or text file for a model. Equal content means equal ``content_hash``.

    Build with :meth:`from_path` or :meth:`from_bytes` (both read eagerly, so call them off the event loop
    for big files). ``duration_s`` (audio/video) and ``pages`` (PDF) feed the token estimates.
    """

    data: bytes = field(repr=False)
    mime_type: str
    name: str | None = None
    duration_s: float | None = None
    pages: int | None = None
    content_hash: str = field(init=False, repr=False)

    def __post_init__(self) -> None:
        if not isinstance(self.data, bytes | bytearray):
            raise TypeError("Attachment.data must be bytes")
        attachment_kind(self.mime_type)  # validates
        object.__setattr__(self, "content_hash", hashlib.sha256(self.data).hexdigest())

    @property
    def kind(self) -> str:
        """``"image"``, ``"audio"``, ``"video"``, ``"pdf"`` or ``"text"``."""
        return attachment_kind(self.mime_type)

    @property
    def size(self) -> int:
        return len(self.data)

    @classmethod
    def from_bytes(cls, data: bytes, mime_type: str, name: str | None = None) -> Attachment:
        """An attachment from bytes in memory; durations and page counts are sniffed when cheap."""
        kind = attachment_kind(mime_type)
        duration = _audio_video_seconds(data) if kind in ("audio", "video") else None
        pages = len(re.findall(rb"/Type\s*/Page(?!s)", data)) or None if kind == "pdf" else None
        return cls(bytes(data), mime_type, name=name, duration_s=duration, pages=pages)

    @classmethod
    def from_path(cls, path: str | Path, mime_type: str | None = None) -> Attachment:
        """Read a file; the MIME type comes from its extension unless given."""
        p = Path(path)
        if not p.is_file():
            raise ValueError(f"attachment path {str(p)!r} is not a readable file")
        if mime_type is None:
            mime_type = _EXTRA_TYPES.get(p.suffix.lower()) or mimetypes.guess_type(p.name)[0]
        if mime_type is None:
            raise ValueError(f"cannot tell the MIME type of {p.name!r}: pass mime_type=...")
        return cls.from_bytes(p.read_bytes(), mime_type, name=p.name)

    @classmethod
    async def load(cls, path: str | Path, mime_type: str | None = None) -> Attachment:
        """:meth:`from_path` off the event loop (reading and sniffing run in a thread)."""
        return await asyncio.to_thread(cls.from_path, path, mime_type)

    @classmethod
    async def aload(cls, path: str | Path, mime_type: str | None = None) -> Attachment:
        """Deprecated name of :meth:`load` (async methods take the plain name), kept for one release."""
        warnings.warn(
            "Attachment.aload is deprecated: use `await Attachment.load(path)`", DeprecationWarning, 2
        )
        return await cls.load(path, mime_type)

    def base64(self) -> str:
        return base64.b64encode(self.data).decode("ascii")

    def data_url(self) -> str:
        """``data:<mime>;base64,...``"""
        return f"data:{self.mime_type};base64,{self.base64()}"
