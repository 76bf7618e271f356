"""Files that could hang or blow up extraction (issue 10, items 3 and 4): special files swapped in after the
scan are refused at open time, and decompression bombs are refused before parsing with a reason."""

from __future__ import annotations

import io
import os
import struct
import subprocess
import sys
import zipfile
import zlib
from pathlib import Path

import pytest

from kagura.errors import ExtractionError
from kagura.loaders import extract_file

SRC = str(Path(__file__).resolve().parents[2] / "src")


def _in_child(code: str, *args: str) -> str:
    """Run ``code`` in a child Python; a child still blocked after a generous grace period is killed and
    the test fails (a regression fails instead of hanging the suite)."""
    try:
        out = subprocess.run(
            [sys.executable, "-c", code, *args],
            env={**os.environ, "PYTHONPATH": SRC}, capture_output=True, text=True, timeout=60,
        )  # fmt: skip
    except subprocess.TimeoutExpired:
        pytest.fail("blocked on a FIFO")
    assert out.returncode == 0, out.stderr
    return out.stdout.strip()


_CALL = """
import sys
from kagura.errors import ExtractionError
from kagura import loaders
try:
    print(getattr(loaders, sys.argv[1])(sys.argv[2]))
except ExtractionError as exc:
    print("ExtractionError:", exc.reason)
"""


@pytest.mark.parametrize("call", ["content_hash", "extract_file", "open_regular", "detect_file_type"])
def test_a_fifo_is_refused_at_open_time(tmp_path: Path, call: str) -> None:
    fifo = tmp_path / "photo.png"
    os.mkfifo(fifo)
    out = _in_child(_CALL, call, str(fifo))
    if call == "detect_file_type":
        assert out == "image"  # by its name alone, without waiting for a writer
    else:
        assert out.startswith("ExtractionError: not a regular file (FIFO, socket or device)")


_SWAPPED = """
import asyncio, os, sys
from pathlib import Path
from kagura.core.memory.ingestion._prepare import FilePreparer, RunCounters
from kagura.loaders import ScannedFile
root = Path(sys.argv[1])
target = root / "a.txt"
scanned = ScannedFile(target, "a.txt", target.stat().st_size)  # the scan saw a regular file
target.unlink()
os.mkfifo(target)  # swapped in between the scan and the read
preparer = FilePreparer(root=root, manifest={}, llm=None, embedder_name="e", chunk_size=500, overlap=50,
                        retry=None, counters=RunCounters())
print(asyncio.run(preparer.local(scanned)))
"""


def test_a_fifo_swapped_in_after_the_scan_fails_that_file_only(tmp_path: Path) -> None:
    root = tmp_path / "c"
    root.mkdir()
    (root / "a.txt").write_text("scanned as a regular file")
    out = _in_child(_SWAPPED, str(root))
    assert out.startswith("FailedFile(") and "not a regular file" in out


def _docx_bomb(path: Path, inflated: int) -> int:
    """A DOCX whose document.xml inflates to ``inflated`` bytes, streamed (never held in memory)."""
    import docx

    buf = io.BytesIO()
    docx.Document().save(buf)
    src = zipfile.ZipFile(io.BytesIO(buf.getvalue()))
    head = (
        b'<?xml version="1.0" encoding="UTF-8" standalone="yes"?>\n<w:document xmlns:w='
        b'"http://schemas.openxmlformats.org/wordprocessingml/2006/main"><w:body>'
    )
    paragraph = b"<w:p><w:r><w:t>bomb</w:t></w:r></w:p>"
    block = paragraph * (2**20 // len(paragraph))  # ~8M paragraphs: a parser would need GBs
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED, compresslevel=6) as zf:
        for info in src.infolist():
            if info.filename != "word/document.xml":
                zf.writestr(info, src.read(info))
                continue
            with zf.open("word/document.xml", "w", force_zip64=True) as fh:
                fh.write(head)
                for _ in range(inflated // len(block)):
                    fh.write(block)
                fh.write(b"</w:body></w:document>")
    return path.stat().st_size


_MEASURE = """
import resource, sys
resource.setrlimit(resource.RLIMIT_AS, (3 * 2**30, 3 * 2**30))  # an old, unbounded parser fails here
from kagura.errors import ExtractionError
from kagura.loaders import extract_file
try:
    extract_file(sys.argv[1])
    print("extracted")
except ExtractionError as exc:
    print("failed:", exc.reason)
except MemoryError:
    print("memory error")
# Peak resident memory of this process. ru_maxrss is carried over from the parent across fork + exec on
# Linux (a big pytest parent would show through), so read the new address space's high-water mark.
try:
    with open("/proc/self/status") as fh:
        print(next(int(l.split()[1]) * 1024 for l in fh if l.startswith("VmHWM:")))
except OSError:
    print(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024)
"""


def test_a_docx_bomb_is_refused_before_parsing_with_bounded_memory(tmp_path: Path) -> None:
    bomb = tmp_path / "report.docx"
    size = _docx_bomb(bomb, 300 * 2**20)
    assert size < 1_000_000  # under 1 MB on disk
    out = subprocess.run(
        [sys.executable, "-c", _MEASURE, str(bomb)],
        env={**os.environ, "PYTHONPATH": SRC}, capture_output=True, text=True, timeout=600,
    )  # fmt: skip
    assert out.returncode == 0, out.stderr
    outcome, peak = out.stdout.splitlines()
    assert outcome.startswith("failed: decompression limit") and "word/document.xml" in outcome
    assert int(peak) < 300 * 2**20


def test_a_highly_compressed_small_part_is_refused_by_ratio(tmp_path: Path) -> None:
    bomb = tmp_path / "r.docx"
    _docx_bomb(bomb, 8 * 2**20)  # under the size limit, but ~1000x compressed
    with pytest.raises(ExtractionError, match=r"inflates \d+x"):
        extract_file(bomb)


def _png_header_only(path: Path, width: int, height: int) -> None:
    """A PNG that declares ``width`` x ``height`` pixels (only the header matters to Image.open)."""

    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))

    ihdr = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    path.write_bytes(
        b"\x89PNG\r\n\x1a\n"
        + chunk(b"IHDR", ihdr)
        + chunk(b"IDAT", zlib.compress(b"\x00"))
        + chunk(b"IEND", b"")
    )


_EXTRACT = """
import sys
from kagura.errors import ExtractionError
from kagura.loaders import extract_file
for name in sys.argv[1:]:
    try:
        print(name, "ok", extract_file(name).metadata["width"])
    except ExtractionError as exc:
        print(name, "failed", exc.reason)
"""


def test_pillow_bomb_warning_never_reaches_stderr(tmp_path: Path) -> None:
    big = tmp_path / "panorama.png"
    _png_header_only(big, 10_000, 10_000)  # over Pillow's warning limit (89 Mpx), under its error limit
    huge = tmp_path / "bomb.png"
    _png_header_only(huge, 20_000, 20_000)  # over twice the limit: refused
    out = subprocess.run(
        [sys.executable, "-c", _EXTRACT, str(big), str(huge)],
        env={**os.environ, "PYTHONPATH": SRC}, capture_output=True, text=True, timeout=120,
    )  # fmt: skip
    assert out.returncode == 0 and out.stderr == "", out.stderr
    lines = out.stdout.splitlines()
    assert lines[0] == f"{big} ok 10000"
    assert lines[1].startswith(f"{huge} failed decompression limit")
