"""The shipped sample corpus scans and extracts completely; content_hash streams sha256."""

from __future__ import annotations

import hashlib
from pathlib import Path

import pytest

from kagura.errors import ExtractionError
from kagura.loaders import FileType, content_hash, detect_file_type, extract_file, scan_directory

EXPECTED = {
    "code/async_downloader.py": (FileType.CODE, "asyncio.Semaphore"),
    "docs/auth-guide.md": (FileType.MARKDOWN, "refresh token"),
    "docs/solar-system.pdf": (FileType.PDF, "Saturn"),
    "docs/sourdough-recipe.docx": (FileType.DOCX, "banneton"),
    "media/cat-on-windowsill.jpg": (FileType.IMAGE, "ginger cat"),
    "media/quarterly-sales-chart.png": (FileType.IMAGE, "Quarterly sales"),
    "media/tuning-fork-a440.wav": (FileType.AUDIO, "tuning fork"),
    "release-notes.txt": (FileType.TEXT, "Dark mode"),
    "travel/kyoto-itinerary.html": (FileType.HTML, "bamboo grove"),
}


def test_sample_corpus_scans_and_extracts_every_file(corpus: Path) -> None:
    result = scan_directory(corpus)
    assert [f.relpath for f in result.files] == sorted(EXPECTED)
    assert result.skipped == []
    assert sum(f.size for f in result.files) < 300_000
    texts = {}
    for scanned in result.files:
        file_type, phrase = EXPECTED[scanned.relpath]
        assert detect_file_type(scanned.path) is file_type
        extracted = extract_file(scanned.path)
        assert extracted.file_type is file_type
        texts[scanned.relpath] = "\n".join(s.text for s in extracted.segments)
        assert phrase in texts[scanned.relpath]
    # Distinct topics: each file's key phrase appears in that file only.
    for rel, (_, phrase) in EXPECTED.items():
        assert [r for r, text in texts.items() if phrase in text] == [rel]


def test_generator_reproduces_the_committed_corpus(tmp_path: Path, corpus: Path) -> None:
    import importlib.util

    script = corpus.parents[2] / "scripts" / "make_sample_corpus.py"
    spec = importlib.util.spec_from_file_location("make_sample_corpus", script)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    module.main(tmp_path)
    for rel in EXPECTED:
        assert (tmp_path / rel).read_bytes() == (corpus / rel).read_bytes(), rel


def test_content_hash_streams_sha256(tmp_path: Path) -> None:
    data = bytes(range(256)) * (3 * 4096 + 1)  # a little over 3 MiB: several read chunks
    (tmp_path / "big.bin").write_bytes(data)
    (tmp_path / "copy.bin").write_bytes(data)
    (tmp_path / "other.bin").write_bytes(data[:-1] + b"!")
    digest = content_hash(tmp_path / "big.bin")
    assert digest == hashlib.sha256(data).hexdigest()
    assert content_hash(str(tmp_path / "copy.bin")) == digest
    assert content_hash(tmp_path / "other.bin") != digest


def test_content_hash_of_a_vanished_file_or_directory(tmp_path: Path) -> None:
    with pytest.raises(ExtractionError, match="disappeared"):
        content_hash(tmp_path / "gone.txt")
    (tmp_path / "d").mkdir()
    with pytest.raises(ExtractionError, match="directory"):
        content_hash(tmp_path / "d")


def test_metadata_is_json_serialisable_for_the_store(corpus: Path) -> None:
    import json

    for scanned in scan_directory(corpus).files:
        extracted = extract_file(scanned.path)
        assert json.loads(json.dumps(extracted.metadata)) == extracted.metadata, scanned.relpath


CONCURRENT_SCRIPT = """
import sys
from concurrent.futures import ThreadPoolExecutor
from kagura.loaders import extract_file, scan_directory

files = [f.path for f in scan_directory(sys.argv[1]).files]
with ThreadPoolExecutor(max_workers=8) as pool:  # first use: extractors import their libraries concurrently
    parallel = list(pool.map(extract_file, files * 3))
sequential = [extract_file(path) for path in files * 3]
assert parallel == sequential, "concurrent extraction differs from sequential"
print(len(parallel))
"""


def test_concurrent_first_use_from_threads_matches_sequential(corpus: Path) -> None:
    import subprocess
    import sys

    # A fresh interpreter, so the registry and the libraries are loaded by racing threads.
    done = subprocess.run(
        [sys.executable, "-c", CONCURRENT_SCRIPT, str(corpus)], capture_output=True, text=True, timeout=120
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == str(3 * len(EXPECTED))
