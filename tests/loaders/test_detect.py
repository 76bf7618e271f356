"""detect_file_type: magic numbers beat extensions, text extensions on binary bytes give unknown."""

from __future__ import annotations

import io
import zipfile
from pathlib import Path

import pytest

from kagura.loaders import FileType, detect_file_type


def _zip(names: list[str]) -> bytes:
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w") as zf:
        for name in names:
            zf.writestr(name, "<xml/>")
    return out.getvalue()


MAGIC_CASES = [
    ("doc.bin", b"%PDF-1.7\n...", FileType.PDF),
    ("pic.bin", b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR", FileType.IMAGE),
    ("pic.bin", b"\xff\xd8\xff\xe0\x00\x10JFIF", FileType.IMAGE),
    ("pic.bin", b"GIF89a\x01\x00\x01\x00", FileType.IMAGE),
    ("pic.bin", b"GIF87a\x01\x00\x01\x00", FileType.IMAGE),
    ("pic.bin", b"RIFF\x10\x00\x00\x00WEBPVP8 ", FileType.IMAGE),
    ("pic.bin", b"II*\x00\x08\x00\x00\x00", FileType.IMAGE),
    ("snd.bin", b"RIFF\x10\x00\x00\x00WAVEfmt ", FileType.AUDIO),
    ("snd.bin", b"ID3\x04\x00\x00\x00\x00\x00\x00", FileType.AUDIO),
    ("snd.bin", b"\xff\xfb\x90\x64\x00\x00", FileType.AUDIO),  # MPEG-1 layer III frame, no ID3
    ("snd.bin", b"OggS\x00\x02\x00\x00", FileType.AUDIO),
    ("snd.bin", b"fLaC\x00\x00\x00\x22", FileType.AUDIO),
    ("snd.bin", b"\x00\x00\x00\x20ftypM4A \x00\x00\x00\x00", FileType.AUDIO),
    ("vid.bin", b"\x00\x00\x00\x18ftypisom\x00\x00\x02\x00", FileType.VIDEO),
    ("vid.bin", b"\x00\x00\x00\x14ftypqt  \x00\x00\x00\x00", FileType.VIDEO),
    ("vid.bin", b"\x1aE\xdf\xa3\x9fB\x86\x81\x01", FileType.VIDEO),
    ("vid.bin", b"RIFF\x10\x00\x00\x00AVI LIST", FileType.VIDEO),
    ("clip.ogv", b"OggS\x00\x02\x00\x00", FileType.VIDEO),
    ("notes.txt", b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR", FileType.IMAGE),  # content wins over the name
]


@pytest.mark.parametrize(("name", "head", "expected"), MAGIC_CASES)
def test_magic_numbers(tmp_path: Path, name: str, head: bytes, expected: FileType) -> None:
    path = tmp_path / name
    path.write_bytes(head + b"\x00" * 32)
    assert detect_file_type(path) is expected


def test_docx_is_a_zip_with_a_word_document(tmp_path: Path) -> None:
    (tmp_path / "report.bin").write_bytes(_zip(["[Content_Types].xml", "word/document.xml"]))
    (tmp_path / "archive.zip").write_bytes(_zip(["a.txt"]))
    assert detect_file_type(tmp_path / "report.bin") is FileType.DOCX
    assert detect_file_type(tmp_path / "archive.zip") is FileType.UNKNOWN


EXTENSION_CASES = [
    ("a.txt", FileType.TEXT),
    ("a.rst", FileType.TEXT),
    ("a.md", FileType.MARKDOWN),
    ("a.markdown", FileType.MARKDOWN),
    ("a.json", FileType.JSON),
    ("a.jsonl", FileType.JSON),
    ("a.yaml", FileType.YAML),
    ("a.yml", FileType.YAML),
    ("a.csv", FileType.CSV),
    ("a.html", FileType.HTML),
    ("a.htm", FileType.HTML),
    ("a.py", FileType.CODE),
    ("a.rs", FileType.CODE),
    ("a.TS", FileType.CODE),
    ("Makefile", FileType.CODE),
    ("Dockerfile", FileType.CODE),
    ("README", FileType.TEXT),  # unknown extension, text content
]


@pytest.mark.parametrize(("name", "expected"), EXTENSION_CASES)
def test_text_types_by_extension(tmp_path: Path, name: str, expected: FileType) -> None:
    (tmp_path / name).write_text("plain words, nothing binary\n")
    assert detect_file_type(tmp_path / name) is expected


@pytest.mark.parametrize("name", ["notes.md", "notes.txt", "main.py", "data.json", "blob"])
def test_binary_bytes_with_a_text_extension_are_unknown(tmp_path: Path, name: str) -> None:
    (tmp_path / name).write_bytes(bytes(range(256)) * 4)
    assert detect_file_type(tmp_path / name) is FileType.UNKNOWN


def test_non_utf8_text_is_still_text(tmp_path: Path) -> None:
    (tmp_path / "jp.txt").write_bytes("日本語のテキストです。".encode("shift_jis"))
    (tmp_path / "u16.md").write_bytes("# Heading\n".encode("utf-16"))  # BOM + NUL bytes
    assert detect_file_type(tmp_path / "jp.txt") is FileType.TEXT
    assert detect_file_type(tmp_path / "u16.md") is FileType.MARKDOWN


def test_binary_extension_without_magic_keeps_its_type_for_the_extractor_to_judge(tmp_path: Path) -> None:
    (tmp_path / "broken.pdf").write_bytes(b"this is not a pdf")
    (tmp_path / "broken.jpg").write_bytes(b"nor a jpeg")
    assert detect_file_type(tmp_path / "broken.pdf") is FileType.PDF
    assert detect_file_type(tmp_path / "broken.jpg") is FileType.IMAGE


def test_missing_or_empty_files_fall_back_to_the_extension(tmp_path: Path) -> None:
    (tmp_path / "empty.md").write_bytes(b"")
    (tmp_path / "empty.bin").write_bytes(b"")
    assert detect_file_type(tmp_path / "empty.md") is FileType.MARKDOWN
    assert detect_file_type(tmp_path / "empty.bin") is FileType.UNKNOWN
    assert detect_file_type(tmp_path / "gone.pdf") is FileType.PDF


def test_every_file_type_has_a_builtin_extractor_that_imports() -> None:
    from kagura.loaders import FileType, extractor_version
    from kagura.loaders._registry import _entry

    for file_type in FileType:
        assert callable(_entry(file_type).func)
        assert extractor_version(file_type) == _entry(file_type).version
