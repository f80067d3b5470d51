"""Extraction keeps the article where generic clean-ups would lose it: a page whose whole
content sits inside one element of site chrome (an ASP.NET page wraps everything in a
``<form>``) keeps its text; real chrome (menus, footers) still goes."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from tests.support import article_html, run_newsrelay


def _story_paragraphs() -> str:
    page = article_html(7)
    return page[page.index("<p>") : page.index("</article>")]


@pytest.mark.parametrize(
    "wrapper",
    [
        "<form id='aspnetForm' method='post' action='./story.aspx'>"
        "<input type='hidden' name='__VIEWSTATE' value='abc'>",
        "<aside class='main-column'>",  # chrome by its tag, the page by its text
    ],
)
def test_a_page_wrapped_in_one_element_keeps_its_article(tmp_path: Path, wrapper: str) -> None:
    story = _story_paragraphs()
    closing = "</" + wrapper[1 : wrapper.index(" ")] + ">"
    page = (
        "<!DOCTYPE html><html><head><meta charset='utf-8'><title>Budget passes</title></head>"
        f"<body>{wrapper}"
        "<nav><a href='/'>Home</a> | <a href='/world'>World</a> | <a href='/sport'>Sport</a></nav>"
        f"<div id='content'><h1>Budget passes</h1>{story}</div>"
        "<footer>Copyright 2026 The Daily Example. All rights reserved.</footer>"
        f"{closing}</body></html>"
    )
    path = tmp_path / "story.html"
    path.write_text(page, encoding="utf-8")
    result = run_newsrelay("extract", str(path), "--url", "https://example.com/story", "--json")
    assert result.returncode == 0, result.stderr
    text = json.loads(result.stdout)["text"]
    first_sentence = story[3 : story.index(".")]
    assert first_sentence in text
    assert len(text) > 0.9 * len(story.replace("<p>", "").replace("</p>", "\n"))
    assert "All rights reserved" not in text
    assert "Home" not in text.split()
