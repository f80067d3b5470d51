"""trafilatura weighs its own body against readability's by length; newsrelay has it weigh the
text it will keep: a row of links that crawler.link_lists drops later does not make a
fragment of the article outweigh the whole article. Real trafilatura, real readability."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from lxml import etree
from trafilatura.settings import Extractor
from trafilatura.utils import load_html

from crawler.body_choice import _compare, _upstream_compare, body_options

_SENTENCES = [
    "The harbour board voted on Tuesday to rebuild the north quay before the winter storms.",
    "Engineers said the old timber piles had rotted further than last spring's survey found.",
    "Fishing crews will moor at the south basin while the work goes on, the board said.",
    "The council will pay a third of the cost and the port authority the rest.",
    "Residents asked for the footpath along the quay to stay open on weekends during the work.",
]
_LAST = "The first barges with new piles are due at the quay in the second week of March."
_PAGE = (
    "<html><body><div class='story'>"
    + "".join(f"<p>{s} {s}</p>" for s in _SENTENCES * 2)
    + f"<p>{_LAST}</p></div></body></html>"
)
# What trafilatura's own pass might keep of such a page: the start of the article and a row of
# links (a menu, "more from the desk") that newsrelay drops from the body afterwards.
_LINKS = " | ".join(
    f"<ref target='/s{i}'>Another story from the harbour desk {i}</ref>" for i in range(14)
)
_FRAGMENT = f"<body><p>{' '.join(_SENTENCES[:4])}</p><p>{_LINKS}</p></body>"


def _choose(compare: Callable[..., Any], options: Extractor) -> tuple[Any, str, etree._Element]:
    body = etree.fromstring(_FRAGMENT)
    text = " ".join(body.itertext()).strip()
    chosen, chosen_text = compare(load_html(_PAGE), load_html(_PAGE), body, text, options)
    return chosen, chosen_text, body


def test_a_row_of_links_does_not_keep_a_fragment_over_the_whole_article() -> None:
    options = body_options("https://example.com/story")
    # trafilatura's own comparison: the fragment with its link row is over half of
    # readability's article, so the fragment stays.
    chosen, _, body = _choose(_upstream_compare, options)
    assert chosen is body
    # Weighed without the row, the fragment is under half: readability's article is taken.
    chosen, chosen_text, body = _choose(_compare, options)
    assert chosen is not body
    assert _LAST in chosen_text
    assert "harbour desk" not in chosen_text


def test_the_own_body_when_kept_keeps_its_text_whole() -> None:
    """Where the own body wins anyway, what trafilatura measures it by is its own text."""
    options = body_options("https://example.com/story")
    body = etree.fromstring(
        f"<body><p>{' '.join(_SENTENCES * 3)} {_LAST}</p><p>{_LINKS}</p></body>"
    )
    text = " ".join(body.itertext()).strip()
    chosen, chosen_text = _compare(load_html(_PAGE), load_html(_PAGE), body, text, options)
    assert chosen is body
    assert chosen_text == text


def test_other_trafilatura_calls_in_the_process_are_unchanged() -> None:
    """The wrapper acts only on newsrelay's own options: a plain Extractor, as
    trafilatura.extract() builds, gets trafilatura's own decision."""
    plain = Extractor(output_format="xml", comments=False, links=True)
    chosen, _, body = _choose(_compare, plain)
    assert chosen is body
    # crawler.extract puts the wrapper in place when it is imported.
    import trafilatura.core

    import crawler.extract  # noqa: F401

    assert trafilatura.core.compare_extraction is _compare
