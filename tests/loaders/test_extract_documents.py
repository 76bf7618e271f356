"""PDF, DOCX and HTML extractors: the sample corpus plus corrupt, encrypted and textless documents."""

from __future__ import annotations

import io
import zipfile
from pathlib import Path

import pytest

from kagura.errors import ExtractionError
from kagura.loaders import FileType, extract_file


def reason_of(path: Path) -> str:
    with pytest.raises(ExtractionError) as info:
        extract_file(path)
    return info.value.reason


def test_pdf_keeps_page_numbers(corpus: Path) -> None:
    result = extract_file(corpus / "docs" / "solar-system.pdf")
    assert (result.file_type, result.mime_type) == (FileType.PDF, "application/pdf")
    assert [s.page for s in result.segments] == [1, 2]
    assert "Mercury is the smallest planet" in result.segments[0].text
    assert "Jupiter" not in result.segments[0].text
    assert "Great Red Spot" in result.segments[1].text
    assert result.metadata["pages"] == 2
    assert result.metadata["title"] == "The planets of the solar system"


def test_corrupt_and_truncated_pdfs_raise_with_a_reason(tmp_path: Path, corpus: Path) -> None:
    good = (corpus / "docs" / "solar-system.pdf").read_bytes()
    (tmp_path / "garbage.pdf").write_bytes(b"%PDF-1.4\n\x00\x01garbage that is no pdf")
    (tmp_path / "truncated.pdf").write_bytes(good[: len(good) // 3])
    (tmp_path / "not-a-pdf.pdf").write_bytes(b"just some words")
    for name in ("garbage.pdf", "truncated.pdf", "not-a-pdf.pdf"):
        assert reason_of(tmp_path / name).startswith("not a valid PDF"), name


def test_encrypted_pdf_needs_a_password(tmp_path: Path, corpus: Path) -> None:
    from pypdf import PdfWriter

    writer = PdfWriter(clone_from=corpus / "docs" / "solar-system.pdf")
    writer.encrypt("s3cret", algorithm="RC4-128")
    writer.write(tmp_path / "locked.pdf")
    assert reason_of(tmp_path / "locked.pdf") == "encrypted PDF: a password is needed to read it"


def test_pdf_without_text_says_so(tmp_path: Path) -> None:
    from pypdf import PdfWriter

    writer = PdfWriter()
    writer.add_blank_page(width=200, height=200)
    writer.write(tmp_path / "scan.pdf")
    assert "no extractable text in 1 page" in reason_of(tmp_path / "scan.pdf")


def test_docx_sections_and_tables(corpus: Path) -> None:
    result = extract_file(corpus / "docs" / "sourdough-recipe.docx")
    assert result.file_type is FileType.DOCX
    sections = [s.section for s in result.segments]
    assert sections[0] == "Sourdough bread"
    assert "Sourdough bread > Ingredients" in sections
    assert "Sourdough bread > Method > Bulk fermentation" in sections
    by_section = {s.section: s.text for s in result.segments}
    assert "Bread flour | 450 | 90%" in by_section["Sourdough bread > Ingredients"]
    assert "stretch and folds" in by_section["Sourdough bread > Method > Bulk fermentation"]
    assert result.metadata["tables"] == 1
    assert result.metadata["title"] == "Sourdough bread"


def test_corrupt_docx_raise_with_a_reason(tmp_path: Path) -> None:
    (tmp_path / "random.docx").write_bytes(b"definitely not a zip archive")
    wrong_zip = io.BytesIO()
    with zipfile.ZipFile(wrong_zip, "w") as zf:
        zf.writestr("hello.txt", "a zip, but no Word document inside")
    (tmp_path / "wrong.docx").write_bytes(wrong_zip.getvalue())
    assert reason_of(tmp_path / "random.docx") == "not a valid DOCX: the file is not a zip archive"
    assert reason_of(tmp_path / "wrong.docx").startswith("not a valid DOCX")


def test_html_visible_text_title_and_sections(corpus: Path) -> None:
    result = extract_file(corpus / "travel" / "kyoto-itinerary.html")
    assert (result.file_type, result.mime_type) == (FileType.HTML, "text/html")
    assert result.metadata["title"] == "Three days in Kyoto: travel itinerary"
    text = "\n".join(s.text for s in result.segments)
    assert result.segments[0].text.startswith("Three days in Kyoto: travel itinerary")
    assert "Fushimi Inari shrine" in text
    assert "[image: red torii gates at Fushimi Inari]" in text
    for hidden in ("tracking code", "font-family", "more script text", "charset"):
        assert hidden not in text
    sections = [s.section for s in result.segments]
    assert "Three days in Kyoto > Day 2: Arashiyama" in sections


def test_html_entities_nested_hidden_tags_and_legacy_charset(tmp_path: Path) -> None:
    html = (
        "<html><head><title>Caf&eacute; menu</title></head><body>"
        "<h1>Menu</h1><p>Cr&egrave;me br&ucirc;l&eacute;e &amp; th&eacute; — 4 €</p>"
        "<noscript>enable javascript</noscript><svg><text>svg label</text></svg>"
        "<h2>Drinks</h2><p>Café au lait</p></body></html>"
    )
    (tmp_path / "menu.html").write_bytes(html.encode("cp1252"))
    result = extract_file(tmp_path / "menu.html")
    assert result.metadata["title"] == "Café menu"
    text = "\n".join(s.text for s in result.segments)
    assert "Crème brûlée & thé — 4 €" in text
    assert "Café au lait" in text
    assert "enable javascript" not in text and "svg label" not in text
    assert [s.section for s in result.segments] == ["Menu", "Menu > Drinks"]
    assert result.segments[0].text.startswith("Café menu\n\nMenu")  # the title opens the first section


def test_html_without_body_tag_still_yields_the_body_text(tmp_path: Path) -> None:
    (tmp_path / "sloppy.htm").write_text("<html><head><title>Notes</title><p>Visible text<h2>Part</h2>more")
    result = extract_file(tmp_path / "sloppy.htm")
    assert [(s.section, s.text) for s in result.segments] == [
        (None, "Notes\n\nVisible text"),
        ("Part", "Part\nmore"),
    ]
