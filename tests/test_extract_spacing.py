"""The spaces trafilatura loses around links and bold or italic runs come back, in the text and
in the HTML; a space the page did not have is never added."""

from __future__ import annotations

from crawler.extract import extract_article

_PARAGRAPH = "<p>" + "The council met on Tuesday to vote on the harbour budget for next year. " * 4


def _page(middle: str) -> str:
    body = f"{_PARAGRAPH}</p><div>{middle}</div>{_PARAGRAPH}</p>"
    return f"<html><body><article>{body}</article></body></html>"


def test_spaces_around_a_link_inside_italics_are_kept() -> None:
    page = _page(
        "<i>(Cross posted from <a href='https://blog.example.com/post'>the Harbour Blog</a>"
        " and elsewhere) </i><br><br>The harbour budget passed with a large majority"
        " of the council."
    )
    found = extract_article(page, "https://example.com/story")
    assert "posted from the Harbour Blog and elsewhere" in found.text
    assert 'posted from <a href="https://blog.example.com/post"' in found.html


def test_spaces_around_bold_inside_italics_are_kept() -> None:
    page = _page("<i>Read the <b>full statement</b> here </i><br>The harbour budget passed.")
    found = extract_article(page, "https://example.com/story")
    assert "Read the full statement here" in found.text


def test_no_space_is_added_where_the_page_has_none() -> None:
    page = _page(
        "<i>Council <a href='https://example.com/vote'>vote</a>s on the harbour</i>"
        "<br>The harbour budget passed."
    )
    found = extract_article(page, "https://example.com/story")
    assert "Council votes on the harbour" in found.text
