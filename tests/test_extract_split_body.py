"""An article split into sibling containers around a side rail: trafilatura takes the longer
part alone and loses the lead; ``crawler.split_body`` puts the parts back together, without
the rail between them and without the reader comments after them."""

from __future__ import annotations

from lxml.html import HtmlElement, document_fromstring

from crawler.extract import extract_article
from crawler.split_body import widen

_LEAD = (
    "<p>The harbour board sued its former contractor on Wednesday, saying the company billed"
    " the port for dredging work that was never done.</p>"
    "<p>The contractor, a family firm based in the north of the county, has dredged the harbour"
    " mouth since 2009 and was paid more than four million a year for the work.</p>"
)
_REST = "".join(
    f"<p>Point {n} of the complaint: the board says the firm's crews reported depths that divers"
    f" later found to be wrong, and that the invoices for the year {2010 + n} list boats the"
    " firm did not own at the time.</p>"
    for n in range(12)
)
_RAIL = (
    "<div class='module article-side-rail'><p class='heading'><a href='/c'>Comments"
    " <span>Loading...</span></a></p><div><p class='comment-count-label'><a href='/c'>Weigh"
    " in</a></p><ul><li><a href='/x'>Discussion policy</a></li><li><a href='/corr'>Corrections?"
    "</a></li></ul></div><div class='share'><p><a href='/fb'>Like</a></p><p class='tweet'>"
    "<a href='/tw'>Tweet</a></p></div></div>"
)
_COMMENTS = "".join(
    f"<div class='comment'><p>Reader {n} writes: I always knew that harbour was badly run,"
    " and the council should have checked those invoices years ago.</p></div>"
    for n in range(4)
)
_PAGE = (
    "<html><body><div id='article'><div id='article_body'>"
    f"<div class='article_body entry-content'><article>{_LEAD}</article></div>{_RAIL}"
    f"<div class='article_body'><article>{_REST}</article></div>"
    f"<div class='comment-list'>{_COMMENTS}</div>"
    "</div></div></body></html>"
)


def test_an_article_split_around_a_side_rail_is_put_back_together() -> None:
    found = extract_article(_PAGE, "https://example.com/story")
    assert found.text.startswith("The harbour board sued its former contractor")
    assert "Point 11 of the complaint" in found.text
    assert "The harbour board sued" in found.html
    assert "Weigh in" not in found.text
    assert "Reader 1 writes" not in found.text


def test_a_whole_article_is_left_as_it_is() -> None:
    page = f"<html><body><article>{_LEAD}{_REST}</article>{_RAIL}</body></html>"
    found = extract_article(page, "https://example.com/story")
    assert found.text.startswith("The harbour board sued its former contractor")
    assert found.text.endswith("did not own at the time.")


def test_a_failing_second_look_keeps_the_first_body() -> None:
    """The merge is a fallback: an error inside it leaves the first extraction as it was."""
    lead = "The council voted on Tuesday to rebuild the old harbour wall before winter. " * 4
    rest = "Work starts in March and the ferry keeps running from the north quay meanwhile. " * 4
    page = document_fromstring(
        f"<html><body><main><div class='part'><p>{lead}</p></div><aside>Ad</aside>"
        f"<div class='part'><p>{rest}</p></div></main></body></html>"
    )
    body = document_fromstring(f"<html><body><doc><p>{lead}</p></doc></body></html>").find(".//doc")
    assert body is not None
    calls = []

    def broken(part: HtmlElement) -> object:
        calls.append(part)
        raise ValueError("a page the second extraction cannot read")

    assert widen(page, body, broken) is body
    assert calls  # the second look was taken, and failed
