"""Text-like extractors and the failure boundary of extract_file, on real files."""

from __future__ import annotations

import os
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from kagura.errors import ExtractionError
from kagura.loaders import FileType, Segment, extract_file, extractor_version

JAPANESE = (
    "東京は日本の首都です。今日はとても良い天気ですね。桜の花が咲いています。京都へ旅行に行きましょう。"
)
FRENCH = "Le café “Chez Hélène” coûte 5 € — c’est très cher, naïve idée. Déjà vu, voilà, garçon, œuvre."


def reason_of(path: Path, file_type: FileType | str | None = None) -> str:
    with pytest.raises(ExtractionError) as info:
        extract_file(path, file_type)
    assert info.value.path == str(path)
    assert str(path) in str(info.value)
    return info.value.reason


def test_plain_utf8_text(tmp_path: Path) -> None:
    path = tmp_path / "notes.txt"
    path.write_text("first line\nsecond line\n", encoding="utf-8")
    result = extract_file(path)
    assert result.file_type is FileType.TEXT
    assert result.mime_type == "text/plain"
    assert result.segments == [Segment("first line\nsecond line\n", line=1)]
    assert result.metadata["encoding"] == "utf-8"
    assert result.media_kind is None


@pytest.mark.parametrize(
    ("text", "codec", "expected_encoding"),
    [(JAPANESE, "shift_jis", ("cp932", "shift_jis")), (FRENCH, "cp1252", ("cp1252",))],
)
def test_non_utf8_text_is_decoded_correctly(
    tmp_path: Path, text: str, codec: str, expected_encoding: tuple[str, ...]
) -> None:
    path = tmp_path / "legacy.txt"
    path.write_bytes(text.encode(codec))
    result = extract_file(path)
    assert result.segments[0].text == text
    assert result.metadata["encoding"] in expected_encoding


def test_utf16_and_utf8_bom(tmp_path: Path) -> None:
    (tmp_path / "u16.txt").write_bytes("Grüße aus Köln".encode("utf-16"))
    (tmp_path / "bom.txt").write_bytes("\ufeffwith a BOM".encode())
    assert extract_file(tmp_path / "u16.txt").segments[0].text == "Grüße aus Köln"
    assert extract_file(tmp_path / "bom.txt").segments[0].text == "with a BOM"


def test_binary_file_with_a_text_extension_fails_with_a_reason(tmp_path: Path) -> None:
    path = tmp_path / "notes.md"
    path.write_bytes(bytes(range(256)) * 8)
    assert "binary" in reason_of(path)
    # Forcing the text extractor gives the same kind of answer, not mojibake.
    assert "binary" in reason_of(path, FileType.MARKDOWN)
    assert "binary" in reason_of(path, "text")


def test_empty_and_blank_files_raise(tmp_path: Path) -> None:
    (tmp_path / "empty.txt").write_bytes(b"")
    (tmp_path / "blank.md").write_text("  \n\n\t\n")
    assert reason_of(tmp_path / "empty.txt") == "empty file (0 bytes): nothing to index"
    assert "no text" in reason_of(tmp_path / "blank.md")


def test_file_deleted_between_scan_and_extract(tmp_path: Path) -> None:
    from kagura.loaders import scan_directory

    (tmp_path / "soon-gone.txt").write_text("here now")
    [scanned] = scan_directory(tmp_path).files
    scanned.path.unlink()
    assert "disappeared" in reason_of(scanned.path)


def test_directory_and_fifo_named_like_text_files(tmp_path: Path) -> None:
    (tmp_path / "dir.txt").mkdir()
    os.mkfifo(tmp_path / "pipe.txt")
    assert "directory" in reason_of(tmp_path / "dir.txt")
    assert "not a regular file" in reason_of(tmp_path / "pipe.txt")  # and it did not block


def test_unreadable_file(world_tmp: Path, unprivileged: Callable[[Callable[[], Any]], Any]) -> None:
    path = world_tmp / "secret.txt"
    path.write_text("no")
    path.chmod(0)
    extractor_version("text")  # load the registry before dropping privileges

    def attempt() -> str:
        try:
            extract_file(path)
        except ExtractionError as exc:
            return exc.reason
        return "extracted"

    assert unprivileged(attempt) == "permission denied"
    path.chmod(0o644)
    # and the file itself is fine: only the permission stopped it
    assert extract_file(path).segments[0].text == "no"


def test_code_keeps_text_and_language(tmp_path: Path) -> None:
    path = tmp_path / "main.rs"
    path.write_text('fn main() { println!("hi"); }\n')
    result = extract_file(path)
    assert result.file_type is FileType.CODE
    assert result.metadata["language"] == "rust"
    assert "println!" in result.segments[0].text


def test_json_yaml_csv(tmp_path: Path) -> None:
    (tmp_path / "ok.json").write_text('{"name": "kagura", "tags": ["rag"]}')
    (tmp_path / "bad.json").write_text('{"name": ')
    (tmp_path / "conf.yaml").write_text("# comment\nmodel: gpt\nretries: 3\n")
    (tmp_path / "table.csv").write_text("city,country\nKyoto,Japan\nLyon,France\n")
    ok, bad = extract_file(tmp_path / "ok.json"), extract_file(tmp_path / "bad.json")
    assert (ok.file_type, ok.metadata["valid_json"], bad.metadata["valid_json"]) == (
        FileType.JSON,
        True,
        False,
    )
    assert "kagura" in ok.segments[0].text
    conf = extract_file(tmp_path / "conf.yaml")
    assert (conf.file_type, conf.mime_type) == (FileType.YAML, "application/yaml")
    assert "retries: 3" in conf.segments[0].text
    table = extract_file(tmp_path / "table.csv")
    assert (table.metadata["columns"], table.metadata["rows"]) == (["city", "country"], 2)


MARKDOWN = """\
Intro before any heading.

# Guide

Welcome.

## Install

```bash
# not a heading: inside a fence
pip install kagura
```

### From source

Clone it.

Usage
-----

Run it.

# Appendix
"""


def test_markdown_sections_follow_headings_and_ignore_fences(tmp_path: Path) -> None:
    path = tmp_path / "guide.md"
    path.write_text(MARKDOWN)
    result = extract_file(path)
    assert [s.section for s in result.segments] == [
        None,
        "Guide",
        "Guide > Install",
        "Guide > Install > From source",
        "Guide > Usage",
        "Appendix",
    ]
    install = result.segments[2].text
    assert "# not a heading: inside a fence" in install and "pip install kagura" in install
    assert result.segments[4].text.startswith("Usage\n-----")
    assert result.metadata["sections"] == 5


def test_unknown_binary_type_is_reported_not_dropped(tmp_path: Path) -> None:
    path = tmp_path / "blob.bin"
    path.write_bytes(b"\x00\x01\x02" * 100)
    assert "unsupported binary file" in reason_of(path)


def test_wrong_arguments(tmp_path: Path) -> None:
    path = tmp_path / "a.txt"
    path.write_text("x")
    with pytest.raises(ValueError, match="unknown file type 'spreadsheet'"):
        extract_file(path, "spreadsheet")
    with pytest.raises(ValueError, match="unknown file type"):
        extractor_version("spreadsheet")


def test_every_file_type_has_a_versioned_extractor() -> None:
    versions = {ft: extractor_version(ft) for ft in FileType}
    assert all(isinstance(v, str) and v for v in versions.values())
    assert extractor_version("pdf") == versions[FileType.PDF]
    assert len(set(versions.values())) == len(versions)  # bumping one type never touches another


def test_markdown_front_matter_and_list_before_a_rule_are_not_headings(tmp_path: Path) -> None:
    path = tmp_path / "post.md"
    path.write_text(
        "---\ntitle: Hello\ndate: 2024-01-01\n---\nIntro.\n\n- item\n---\n\n# Real heading\nBody.\n"
    )
    result = extract_file(path)
    assert [s.section for s in result.segments] == [None, "Real heading"]
    assert result.segments[0].text.startswith("---\ntitle: Hello")


def test_registered_extractor_is_used_and_its_crash_becomes_an_extraction_error(tmp_path: Path) -> None:
    from kagura.loaders import Extracted, register_extractor
    from kagura.loaders._text import extract_yaml

    original_version = extractor_version(FileType.YAML)
    path = tmp_path / "conf.yml"
    path.write_text("key: value\n")

    @register_extractor(FileType.YAML, version="upper-1")
    def upper(p: Path, file_type: FileType) -> Extracted:
        return Extracted(file_type, "application/yaml", [Segment(p.read_text().upper())])

    try:
        assert extractor_version("yaml") == "upper-1"
        assert extract_file(path).segments == [Segment("KEY: VALUE\n")]

        @register_extractor(FileType.YAML, version="broken-1")
        def broken(p: Path, file_type: FileType) -> Extracted:
            raise KeyError("missing part")

        assert reason_of(path) == "could not extract yaml: KeyError: 'missing part'"
    finally:
        register_extractor(FileType.YAML, version=original_version)(extract_yaml)
    assert extract_file(path).segments == [Segment("key: value\n", line=1)]
    with pytest.raises(ValueError, match="version"):
        register_extractor(FileType.YAML, version="")
