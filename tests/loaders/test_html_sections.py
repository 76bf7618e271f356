"""HTML heading trails on pages as documentation sites publish them: a site's table of contents (``<nav>``)
and its header/sidebar headings never become the parent of the page's own sections."""

from __future__ import annotations

from kagura.bench._mixed_tree import render_html_page
from kagura.loaders._html import html_segments

_SITE = """<html><head><title>Install | Docs</title></head><body>
<header><h2>Docs site</h2></header>
<nav><h2>Table of contents</h2><ul><li><a href="/">Home</a></li><li><a href="/i">Install</a></li></ul></nav>
<aside><h3>On this page</h3><p>Linux, macOS</p></aside>
<main><h2>Install</h2><p>Run the installer.</p><h3>Linux</h3><p>Use the package manager.</p></main>
</body></html>"""


def test_navigation_is_left_out_and_page_headings_do_not_nest_under_it() -> None:
    title, segments = html_segments(_SITE)
    assert title == "Install | Docs"
    sections = [s.section for s in segments if s.section]
    assert sections == ["Install", "Install > Linux"], sections
    text = "\n".join(s.text for s in segments)
    assert "Table of contents" not in text and "Home" not in text  # the site's navigation
    assert "Docs site" in text and "On this page" in text  # header/sidebar text stays, as text


def test_a_rendered_docs_page_sections_follow_its_own_headings() -> None:
    page = render_html_page("# Guide\n\nIntro.\n\n## Setup\n\nSteps.\n", ["Guide", "API"])
    _, segments = html_segments(page)
    assert [s.section for s in segments] == ["Guide", "Guide > Setup"]
