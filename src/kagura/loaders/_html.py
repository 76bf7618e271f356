"""Visible text of an HTML page with the stdlib ``html.parser``: no script/style/head, the title kept,
one segment per heading (``Segment.section`` = heading trail), ``alt`` text of images kept.

Site navigation (``<nav>``: the table of contents a documentation site repeats on every page) is left out,
and a heading inside a page's ``<header>``, ``<footer>`` or ``<aside>`` is kept as text without opening a
section, so the page's own headings never nest under "Table of contents" or a sidebar's title."""

from __future__ import annotations

import re
from html.parser import HTMLParser
from pathlib import Path

from kagura.loaders._detect import guess_mime_type
from kagura.loaders._types import Extracted, FileType, Segment

__all__ = ["html_segments"]

_HIDDEN = frozenset({"script", "style", "noscript", "template", "svg", "iframe", "object", "nav"})
_CHROME = frozenset({"header", "footer", "aside"})
_BLOCK = frozenset(
    """address article aside blockquote br caption dd details div dl dt fieldset figcaption figure
    footer form h1 h2 h3 h4 h5 h6 header hr li main nav ol p pre section summary table tbody thead tfoot
    tr ul""".split()
)
_HEADINGS = {f"h{n}": n for n in range(1, 7)}
_HEAD_ONLY = frozenset("base link meta noscript script style template title".split())
_VOID = frozenset("area base br col embed hr img input link meta param source track wbr".split())


class _VisibleText(HTMLParser):
    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.title_parts: list[str] = []
        self.segments: list[tuple[str | None, list[str]]] = [(None, [])]
        self.trail: list[tuple[int, str]] = []
        self.hidden_depth = 0
        self.in_head = False
        self.in_title = False
        self.heading: tuple[int, list[str]] | None = None
        self.chrome_depth = 0

    def _emit(self, text: str) -> None:
        if self.heading is not None:
            self.heading[1].append(text)
        self.segments[-1][1].append(text)

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if self.in_head and tag not in _HEAD_ONLY and tag != "head":
            self.in_head = False  # body content without </head><body>: the head has ended, as in browsers
        if tag in _HIDDEN:
            self.hidden_depth += 1
        elif tag == "head":
            self.in_head = True
        elif tag == "body":
            self.in_head = False
        elif tag == "title":
            self.in_title = True
        elif tag in _CHROME:
            self.chrome_depth += 1
        elif tag in _HEADINGS and not self.hidden_depth and not self.chrome_depth:
            self.heading = (_HEADINGS[tag], [])
            self.segments.append((None, []))
        elif tag == "img" and not self.hidden_depth and not self.in_head:
            alt = dict(attrs).get("alt")
            if alt:
                self._emit(f" [image: {alt}] ")
        if tag in _BLOCK:
            self._emit("\n")
        elif tag in ("td", "th"):
            self._emit(" | ")

    def handle_startendtag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag in _VOID:
            self.handle_starttag(tag, attrs)

    def handle_endtag(self, tag: str) -> None:
        if tag in _HIDDEN:
            self.hidden_depth = max(0, self.hidden_depth - 1)
        elif tag == "head":
            self.in_head = False
        elif tag == "title":
            self.in_title = False
        elif tag in _CHROME:
            self.chrome_depth = max(0, self.chrome_depth - 1)
        elif tag in _HEADINGS and self.heading is not None:
            level, parts = self.heading
            title = " ".join("".join(parts).split())
            while self.trail and self.trail[-1][0] >= level:
                self.trail.pop()
            self.trail.append((level, title))
            self.segments[-1] = (" > ".join(t for _, t in self.trail), self.segments[-1][1])
            self.heading = None
        if tag in _BLOCK:
            self._emit("\n")

    def handle_data(self, data: str) -> None:
        if self.in_title:
            self.title_parts.append(data)
        elif not self.hidden_depth:
            if self.in_head and data.strip():
                self.in_head = False  # visible text ends an unclosed head, as in browsers
            if not self.in_head:
                self._emit(data)


def _tidy(parts: list[str]) -> str:
    lines = (" ".join(line.split()) for line in "".join(parts).splitlines())
    return re.sub(r"\n{3,}", "\n\n", "\n".join(lines)).strip()


def html_segments(html: str) -> tuple[str | None, list[Segment]]:
    """Parse HTML into (title, segments); the title also opens the first segment."""
    parser = _VisibleText()
    parser.feed(html)
    parser.close()
    title = " ".join("".join(parser.title_parts).split()) or None
    segments = [Segment(_tidy(parts), section=section) for section, parts in parser.segments]
    segments = [seg for seg in segments if seg.text]
    if title:
        # The title opens the first segment (the text before the first heading, or the first section).
        if segments:
            segments[0] = Segment(f"{title}\n\n{segments[0].text}", section=segments[0].section)
        else:
            segments = [Segment(title)]
    return title, segments


def extract_html(path: Path, file_type: FileType) -> Extracted:
    """HTML: visible text, title kept, one segment per heading."""
    from kagura.loaders._safe import read_regular
    from kagura.loaders._text import decode_text

    text, encoding = decode_text(read_regular(path), path)
    title, segments = html_segments(text)
    meta: dict[str, object] = {"encoding": encoding, "title": title}
    return Extracted(file_type, guess_mime_type(path, file_type), segments, meta)
