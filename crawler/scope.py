"""Which article links a source follows: links into its own sites and the domains it names.

A feed is untrusted input. Without a scope, one entry linking to any site on the web would
make the crawler fetch (and store as the outlet's story) whatever is there: a hijacked feed,
a spam comment feed, an ad network's tracking host. Links outside the scope are counted and
reported once per crawl, not fetched.
"""

from __future__ import annotations

from collections.abc import Iterable
from urllib.parse import urlsplit

from crawler.config import SourceConfig


def source_domains(source: SourceConfig) -> frozenset[str]:
    """The hosts of the source's feeds, sitemaps and listing pages (``www.`` dropped) and its
    ``allowed_domains``: a link to one of them or to a subdomain is in scope."""
    urls = [*source.feeds, *source.sitemaps, *(listing.url for listing in source.listings)]
    hosts = {(urlsplit(url).hostname or "").removeprefix("www.") for url in urls}
    return frozenset(hosts - {""}) | frozenset(source.allowed_domains)


def in_scope(host: str, domains: Iterable[str]) -> bool:
    """``host`` is one of ``domains`` or a subdomain of one (``news.bbc.com`` of ``bbc.com``)."""
    host = host.lower().rstrip(".")
    return any(host == domain or host.endswith("." + domain) for domain in domains)
