"""Which article links a source follows: links into its own sites and the domains it names.

A feed is untrusted input. Without a scope, one entry linking to any site on the web would
make the crawler fetch (and store as the outlet's story) whatever is there: a hijacked feed,
a spam comment feed, an ad network's tracking host. Links outside the scope are counted and
reported once per crawl, not fetched.
"""

from __future__ import annotations

from collections.abc import Iterable
from functools import lru_cache
from urllib.parse import urlsplit

from crawler.config import SourceConfig
from crawler.network import parse_ip


def source_domains(source: SourceConfig) -> frozenset[str]:
    """The hosts of the source's feeds, sitemaps and listing pages (``www.`` dropped) and its
    ``allowed_domains``: a link to one of them or to a subdomain is in scope."""
    urls = (*source.feeds, *source.sitemaps, *(listing.url for listing in source.listings))
    return _domains(urls, tuple(source.allowed_domains))


@lru_cache(maxsize=65_536)
def _domains(urls: tuple[str, ...], allowed: tuple[str, ...]) -> frozenset[str]:
    # Cached: every run of a source asks again, and parsing each host as an IP address
    # first was a tenth of a millisecond of each unchanged poll.
    hosts = {_normal(urlsplit(url).hostname or "").removeprefix("www.") for url in urls}
    return frozenset(hosts - {""}) | frozenset(allowed)


def in_scope(host: str, domains: Iterable[str]) -> bool:
    """``host`` is one of ``domains`` or a subdomain of one (``news.bbc.com`` of ``bbc.com``)."""
    host = _normal(host)
    return any(host == domain or host.endswith("." + domain) for domain in domains)


def _normal(host: str) -> str:
    """Lower case, no final dot; an IP address in its one standard spelling (as config
    validation writes it: ``::ffff:7f00:1`` for ``::ffff:127.0.0.1``)."""
    address = parse_ip(host)
    return str(address) if address is not None else host.lower().rstrip(".")
