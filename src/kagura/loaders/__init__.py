"""Find files and turn them into text: scan, detect the type, extract, hash.

Everything here is blocking (file I/O and parsing); async callers use ``asyncio.to_thread``.

::

    result = scan_directory("docs")                 # ScanResult(files=[ScannedFile], skipped=[SkippedFile])
    for f in result.files:
        extracted = extract_file(f.path)            # Extracted(file_type, mime_type, segments, metadata, ...)
        key = (content_hash(f.path), extractor_version(extracted.file_type))

Extractors live in a registry keyed by :class:`FileType` (``register_extractor``) and import their library
only when first used, so importing ``kagura.loaders`` stays cheap.
"""

from kagura.loaders._registry import extract_file, register_extractor
from kagura.loaders._scan import DEFAULT_IGNORES, scan_directory

# isort: split
# Not public (not in __all__): kagura's own packages and tests import these from here; they may change.
from kagura.loaders._detect import detect_file_type  # noqa: F401
from kagura.loaders._hash import content_hash  # noqa: F401
from kagura.loaders._registry import extractor_version  # noqa: F401
from kagura.loaders._safe import (  # noqa: F401
    display_name,
    is_valid_name,
    open_regular,
    raw_name_hex,
    read_regular,
)
from kagura.loaders._scan import DEFAULT_MAX_FILE_SIZE, SKIP_RULES  # noqa: F401
from kagura.loaders._types import (  # noqa: F401
    Extracted,
    FileType,
    ScannedFile,
    ScanResult,
    Segment,
    SkippedFile,
)

__all__ = [
    "DEFAULT_IGNORES",
    "extract_file",
    "register_extractor",
    "scan_directory",
]
