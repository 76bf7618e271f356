"""Limits on decompression, checked before any parser sees the data (zip bombs, XML bombs, pixel bombs).

An archive-based document (DOCX is a zip of XML parts) is refused with an :class:`ExtractionError` naming
the limit when, by its central directory, it would inflate past :data:`MAX_ARCHIVE_TOTAL` bytes, when one
XML part would inflate past :data:`MAX_XML_PART` bytes (an XML parser needs several times that in memory),
or when a part larger than :data:`RATIO_FLOOR` inflates more than :data:`MAX_RATIO` times. The sizes in
the directory cannot lie in our favour: ``zipfile`` stops reading a member at its declared size, so the
parser never gets more than what was checked.

PDF content streams are bounded by pypdf's own per-stream limit (75 MB of output per Flate stream), and
images are only opened for their header (Pillow's decompression-bomb guard refuses huge pixel counts).
"""

from __future__ import annotations

import zipfile
from pathlib import Path
from typing import BinaryIO

from kagura.errors import ExtractionError

__all__ = ["MAX_ARCHIVE_TOTAL", "MAX_RATIO", "MAX_XML_PART", "RATIO_FLOOR", "check_archive"]

MAX_ARCHIVE_TOTAL = 256 * 2**20
MAX_XML_PART = 32 * 2**20
MAX_RATIO = 100
RATIO_FLOOR = 2**20


def _mib(n: int) -> str:
    return f"{n / 2**20:.0f} MiB"


def check_archive(path: Path, stream: BinaryIO) -> None:
    """Raise ``ExtractionError`` if the zip in ``stream`` would inflate past the limits (reads only its
    directory)."""
    try:
        with zipfile.ZipFile(stream) as zf:
            members = zf.infolist()
    except (zipfile.BadZipFile, ValueError, EOFError) as exc:
        raise ExtractionError(str(path), f"not a valid zip archive: {exc}") from None
    total = 0
    for info in members:
        size = info.file_size
        total += size
        if info.filename.lower().endswith((".xml", ".rels")) and size > MAX_XML_PART:
            raise ExtractionError(
                str(path),
                f"decompression limit: part {info.filename!r} inflates to {_mib(size)}, over the"
                f" {_mib(MAX_XML_PART)} limit for one XML part (a zip bomb?); not parsed",
            )
        if size > RATIO_FLOOR and size > MAX_RATIO * max(info.compress_size, 1):
            ratio = size / max(info.compress_size, 1)
            raise ExtractionError(
                str(path),
                f"decompression limit: part {info.filename!r} inflates {ratio:.0f}x"
                f" ({info.compress_size} -> {size} bytes), over the {MAX_RATIO}x limit"
                " (a zip bomb?); not parsed",
            )
        if total > MAX_ARCHIVE_TOTAL:
            raise ExtractionError(
                str(path),
                f"decompression limit: the archive inflates to over {_mib(MAX_ARCHIVE_TOTAL)}"
                " (a zip bomb?); not parsed",
            )
