"""The bad-input zoo (issue 10): one tree with every hostile case at once, ingested three times (online,
offline after breaking things, online again). Nothing good is lost, nothing hangs, nothing is paid for
twice, and every failure is reported with its path and a reason a user can act on."""

from __future__ import annotations

import asyncio
import io
import json
import os
import re
import signal
import struct
import subprocess
import sys
import urllib.request
import zipfile
import zlib
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import docx
import pytest
from _rag_support import png, write

from kagura.core.llm import LLMConfig
from kagura.core.memory import MultimodalRAG, get_default_embedder

SRC = str(Path(__file__).resolve().parents[3] / "src")


@pytest.fixture
def llm_url() -> Iterator[str]:
    """The fake LLM server in its own process (a forked unprivileged child calls it over loopback)."""
    env = {**os.environ, "PYTHONPATH": SRC}
    proc = subprocess.Popen(
        [sys.executable, "-m", "kagura.cli", "fake-llm", "--port", "0"], stdout=subprocess.PIPE, env=env
    )
    try:
        assert proc.stdout is not None
        match = re.search(r"http://127\.0\.0\.1:\d+/v1", proc.stdout.readline().decode())
        assert match is not None
        yield match.group(0)
    finally:
        proc.terminate()
        proc.wait()


def _llm_requests(url: str) -> int:
    with urllib.request.urlopen(url.removesuffix("/v1") + "/_kagura/stats", timeout=30) as response:
        return int(json.load(response)["requests"])


def _docx(path: Path, text: str) -> None:
    document = docx.Document()
    document.add_heading("Quarterly report", level=1)
    document.add_paragraph(text)
    document.save(str(path))


def _zip_bomb(path: Path) -> None:
    buf = io.BytesIO()
    docx.Document().save(buf)
    src = zipfile.ZipFile(io.BytesIO(buf.getvalue()))
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as zf:
        for info in src.infolist():
            if info.filename == "word/document.xml":
                zf.writestr("word/document.xml", b"<w:document>" + b"<w:p/>" * (2 * 2**20) + b"</w:document>")
            else:
                zf.writestr(info, src.read(info))


def _pixel_bomb(path: Path) -> None:
    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))

    ihdr = struct.pack(">IIBBBBB", 20_000, 20_000, 8, 2, 0, 0, 0)
    path.write_bytes(b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", ihdr) + chunk(b"IEND", b""))


def _build(root: Path) -> dict[str, Path]:
    files = {
        "a.md": write(root / "good" / "a.md", "# Lighthouses\n\nLighthouses guide ships past the reef."),
        "b.txt": write(root / "good" / "b.txt", "Bread rises when the yeast is warm."),
        "code.py": write(root / "good" / "code.py", "def greet():\n    return 'hello harbour'\n"),
        "private.md": write(root / "private.md", "# Private\n\nThe secret ingredient is cardamom."),
        "secret.md": write(root / "locked" / "secret.md", "# Vault\n\nThe vault code is in the drawer."),
        "photo.png": png(root / "media" / "photo.png", 1),
        "noext": png(root / "media" / "scan-0001", 2),
        "empty.txt": write(root / "empty.txt", ""),
        "__init__.py": write(root / "pkg" / "__init__.py", "\n"),
        "broken.pdf": write(root / "broken.pdf", "%PDF-1.4 this is not really a pdf"),
    }
    files["report.docx"] = root / "good" / "report.docx"
    _docx(files["report.docx"], "Revenue grew in the northern region.")
    files["bad-name"] = Path(os.fsdecode(os.path.join(os.fsencode(root), b"caf\xe9-menu.md")))
    write(files["bad-name"], "# Menu\n\nEspresso, croissants and jam.")
    files["blob.bin"] = root / "blob.bin"
    files["blob.bin"].write_bytes(bytes(range(256)) * 16)
    files["bomb.docx"] = root / "bomb.docx"
    _zip_bomb(files["bomb.docx"])
    files["pixels.png"] = root / "media" / "pixels.png"
    _pixel_bomb(files["pixels.png"])
    files["pipe"] = root / "pipe.txt"
    os.mkfifo(files["pipe"])
    for path in [root, *root.rglob("*")]:
        path.chmod(0o777 if path.is_dir() else 0o666)
    return files


def _ingest(store: Path, root: Path, url: str | None, parent: int | None = None) -> dict[str, Any]:
    """One run (in the unprivileged child): the report plus what the store holds afterwards."""
    if parent is not None and os.getpid() != parent:
        signal.alarm(600)  # in the forked child: a hang kills it, and the parent fails instead of waiting
    llm = None if url is None else LLMConfig(model="fake", base_url=url, api_key="test")
    rag = MultimodalRAG(store, llm=llm)
    try:
        asyncio.run(rag.load_directory(root, max_concurrent=3))
        report = rag.last_report
        assert report is not None
        docs = {d.relpath: d.described for d in rag.documents(root)}
        return {"report": report.as_dict(), "docs": docs}
    finally:
        rag.close()


def _failures(result: dict[str, Any], root: Path) -> dict[str, str]:
    failed = result["report"]["failed"]
    for f in failed:  # every failure is actionable: a path in the tree, and a reason
        assert f["path"].startswith(str(root) + "/") and len(f["reason"]) > 10, f
    return {Path(f["path"]).name: f["reason"] for f in failed}


def test_bad_input_zoo(world_tmp: Path, llm_url: str, unprivileged: Any) -> None:
    root = world_tmp / "zoo"
    files = _build(root)
    store = root / "index" / "kagura.db"  # the store lives inside the folder it indexes
    store.parent.mkdir(mode=0o777)
    store.parent.chmod(0o777)
    # Warm up in this process first (model weights, every parser, the HTTP client), so the unprivileged
    # child imports nothing from a Python installation it may not read.
    get_default_embedder()
    _build(world_tmp / "warm")
    _ingest(world_tmp / "warm.db", world_tmp / "warm", llm_url)
    reset = urllib.request.Request(llm_url.removesuffix("/v1") + "/_kagura/reset", method="POST")
    urllib.request.urlopen(reset, timeout=30).close()
    parent = os.getpid()

    first = unprivileged(lambda: _ingest(store, root, llm_url, parent))
    good = {
        "good/a.md": False, "good/b.txt": False, "good/code.py": False, "good/report.docx": False,
        "private.md": False, "locked/secret.md": False, "media/photo.png": True, "media/scan-0001": True,
        "caf\\xe9-menu.md": False,
    }  # fmt: skip
    assert first["docs"] == good, first["report"]
    failed = _failures(first, root)
    assert set(failed) == {"bomb.docx", "pixels.png", "broken.pdf"}
    assert "decompression limit" in failed["bomb.docx"] and "decompression limit" in failed["pixels.png"]
    rules = {Path(s["path"]).name: s["rule"] for s in first["report"]["skipped"]}
    assert rules["empty.txt"] == rules["__init__.py"] == "empty"
    assert rules["blob.bin"] == rules["kagura.db"] == "binary" and rules["pipe.txt"] == "not-a-regular-file"
    assert _llm_requests(llm_url) == 2  # the two real images, once each

    # Break things: a file and a folder become unreadable, a good document is corrupted in place, one
    # file is really deleted; then ingest offline.
    files["private.md"].chmod(0o000)
    (root / "locked").chmod(0o000)
    files["report.docx"].write_bytes(b"PK\x03\x04 truncated")
    files["b.txt"].unlink()
    second = unprivileged(lambda: _ingest(store, root, None, parent))
    assert second["report"]["pruned"] == [str(files["b.txt"])]  # only the file that is gone
    del good["good/b.txt"]
    assert second["docs"] == good  # nothing good lost; the LLM descriptions kept offline
    failed = _failures(second, root)
    assert set(failed) == {"bomb.docx", "pixels.png", "broken.pdf", "report.docx"}
    unreadable = {Path(s["path"]).name for s in second["report"]["skipped"] if s["rule"] == "unreadable"}
    assert unreadable == {"private.md", "locked"}
    assert (
        rules["kagura.db"] == "binary"
        or {Path(s["path"]).name: s["rule"] for s in second["report"]["skipped"]}["kagura.db"] == "binary"
    )

    # Readable again and back online: nothing is described (or paid for) a second time.
    files["private.md"].chmod(0o666)
    (root / "locked").chmod(0o777)
    third = unprivileged(lambda: _ingest(store, root, llm_url, parent))
    assert third["docs"] == good
    assert third["report"]["llm_calls"] == 0 and _llm_requests(llm_url) == 2
