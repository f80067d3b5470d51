"""Blocks of the extracted body that are links and little else (a "related stories" list kept
inside the article element) are not the article; a sentence that cites its sources is."""

from __future__ import annotations

from crawler.extract import extract_article

_PARAGRAPH = "<p>" + "The council met on Tuesday to vote on the harbour budget for next year. " * 4


def test_a_list_of_links_in_the_article_is_dropped() -> None:
    related = "".join(
        f"<li><a href='https://example.com/{n}'>Council story number {n}: the mayor answers"
        " questions from readers about the new harbour</a></li>"
        for n in range(3)
    )
    citing = (
        "<p>The figures come from <a href='https://example.com/report'>the port's annual"
        " report</a> and from <a href='https://example.com/audit'>the audit office</a>, which"
        " both found that the harbour lost money for the third year running.</p>"
    )
    page = (
        f"<html><body><article>{_PARAGRAPH}</p>{citing}{_PARAGRAPH}</p>"
        f"<ul>{related}</ul>{_PARAGRAPH}</p></article></body></html>"
    )
    found = extract_article(page, "https://example.com/story")
    assert "the audit office, which both found" in found.text
    assert "Council story number" not in found.text
    assert "Council story number" not in found.html
