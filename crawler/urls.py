"""Canonical URLs: one spelling per address, so the same article is recognised as such; and
URLs in text without their passwords."""

from __future__ import annotations

import re
from functools import lru_cache
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

from w3lib.url import canonicalize_url

# Explicit denylist: courlan-style heuristics also dropped meaningful params (PITFALLS.md).
TRACKING_PARAMS = frozenset(
    {
        "fbclid",
        "gclid",
        "dclid",
        "gbraid",
        "wbraid",
        "msclkid",
        "mc_cid",
        "mc_eid",
        "_ga",
        "_gl",
        "igshid",
        "yclid",
        "twclid",
        "ocid",
    }
)
_TRACKING_PREFIXES = ("utm_",)
_DEFAULT_PORTS = {"http": 80, "https": 443}
MAX_URL_LENGTH = 2048


class BadURL(ValueError):
    """Not an http(s) URL newsrelay can fetch."""


def is_tracking_param(name: str) -> bool:
    lowered = name.lower()
    return lowered in TRACKING_PARAMS or lowered.startswith(_TRACKING_PREFIXES)


# Feeds repeat their entries poll after poll, and a story's link comes back as its page's
# URL and its rel=canonical: most calls are repeats (w3lib's canonicalize_url is the cost).
@lru_cache(maxsize=16384)
def canonical_url(url: str) -> str:
    """Lower-case scheme and host, no default port, no fragment, no tracking parameters,
    query sorted, percent-encoding normalized.

    Raises :class:`BadURL` for anything but an absolute http(s) URL.
    """
    url = url.strip()
    parts = urlsplit(url)
    scheme = parts.scheme.lower()
    if scheme not in _DEFAULT_PORTS or not parts.hostname:
        raise BadURL(f"not an http(s) URL: {url[:200]!r}")
    if len(url) > MAX_URL_LENGTH:
        raise BadURL(f"URL longer than {MAX_URL_LENGTH} characters: {url[:200]!r}...")
    try:
        port = parts.port
    except ValueError:
        raise BadURL(f"bad port in URL: {url[:200]!r}") from None
    host = parts.hostname.lower().rstrip(".")
    if ":" in host:  # IPv6 literal
        host = f"[{host}]"
    netloc = host if port in (None, _DEFAULT_PORTS[scheme]) else f"{host}:{port}"
    query = urlencode(
        [
            (k, v)
            for k, v in parse_qsl(parts.query, keep_blank_values=True)
            if not is_tracking_param(k)
        ]
    )
    rebuilt = urlunsplit((scheme, netloc, parts.path or "/", query, ""))
    return canonicalize_url(rebuilt, keep_fragments=False)


# [scheme://]user:password@host -> [scheme://]user:***@host (error messages quote the netloc
# without its scheme)
_CREDENTIALS = re.compile(
    r"((?:[a-z][a-z0-9+.-]*://)?[^\s:/?#@'\"]+):[^\s@/?#'\"]+@(?=[\w\[])", re.I
)


def mask_secrets(text: str) -> str:
    """``text`` with the password of every URL in it replaced by ``***``: for everything
    newsrelay prints or logs (a database URL, a feed or proxy URL with credentials)."""
    if "@" not in text:  # no URL with a password: the common case, and a scan saved
        return text
    return _CREDENTIALS.sub(r"\1:***@", text)
