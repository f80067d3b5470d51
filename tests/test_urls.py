"""Canonical URLs and dedup keys."""

from __future__ import annotations

import pytest

from crawler.fingerprints import content_hash, normalize_text
from crawler.urls import BadURL, canonical_url


@pytest.mark.parametrize(
    ("url", "expected"),
    [
        ("HTTP://Example.COM:80/a?b=2&a=1#frag", "http://example.com/a?a=1&b=2"),
        ("https://example.com:443/x", "https://example.com/x"),
        ("https://example.com:8443/x", "https://example.com:8443/x"),
        (
            "https://ex.com/s?id=7&utm_source=rss&utm_medium=feed&fbclid=abc&gclid=1&_ga=2",
            "https://ex.com/s?id=7",
        ),
        ("https://ex.com", "https://ex.com/"),
        ("https://ex.com/a b", "https://ex.com/a%20b"),
        ("https://ex.com/%d8%a7", "https://ex.com/%D8%A7"),
        # Parameters that look like tracking to fuzzier tools are content here (PITFALLS.md).
        ("https://ex.com/?gallery=1&cid=3&q=x", "https://ex.com/?cid=3&gallery=1&q=x"),
    ],
)
def test_canonical_url(url: str, expected: str) -> None:
    assert canonical_url(url) == expected


@pytest.mark.parametrize(
    "url",
    [
        "javascript:alert(1)",
        "file:///etc/passwd",
        "data:text/html,x",
        "/relative",
        "https://ex.com:99999/",
    ],
)
def test_bad_urls_are_refused(url: str) -> None:
    with pytest.raises(BadURL):
        canonical_url(url)


def test_normalized_text_unifies_arabic_script_variants() -> None:
    arabic_spelling = "كتاب  علي"  # Arabic kaf and yeh
    persian_spelling = "کتاب علی"  # Persian keheh and yeh
    assert normalize_text(arabic_spelling) == normalize_text(persian_spelling)
    assert content_hash("Hello   World\n") == content_hash("hello world")
    assert content_hash("Hello World") != content_hash("Hello Word")
