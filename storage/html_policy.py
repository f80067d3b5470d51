"""The one HTML allowlist: applied when a page is stored and again when it is exported."""

from __future__ import annotations

import nh3

# What a republishing site may show: structure, emphasis, links and images. No scripts,
# styles, forms, iframes or event handlers; links only to http(s) and mailto.
ALLOWED_TAGS = frozenset(
    {
        "p", "br", "hr", "h1", "h2", "h3", "h4", "h5", "h6",
        "ul", "ol", "li", "blockquote", "pre", "code",
        "b", "strong", "i", "em", "u", "sub", "sup", "del",
        "a", "img", "figure", "figcaption",
        "table", "thead", "tbody", "tr", "th", "td",
    }
)  # fmt: skip
ALLOWED_ATTRIBUTES = {"a": frozenset({"href", "title"}), "img": frozenset({"src", "alt", "title"})}
URL_SCHEMES = frozenset({"http", "https", "mailto"})


def clean_html(fragment: str) -> str:
    """Allowlist-sanitize an HTML fragment so it is safe to embed in a republishing page."""
    return nh3.clean(
        fragment,
        tags=set(ALLOWED_TAGS),
        attributes={tag: set(attrs) for tag, attrs in ALLOWED_ATTRIBUTES.items()},
        url_schemes=set(URL_SCHEMES),
        link_rel="noopener noreferrer",
    ).strip()


def safe_url(url: str) -> str:
    """``url`` if it is http(s), else an empty string (never a javascript: or data: link)."""
    return url if url.lower().startswith(("http://", "https://")) else ""
