"""A source's politeness key: in a cluster, one crawl at a time per key, across every worker.

The key is the registrable domain of the source's first feed, sitemap or listing
(``www.bbc.co.uk`` -> ``bbc.co.uk``, by the public suffix list bundled with tldextract, never
fetched), an IP address or a single-label host as it is; ``sources[].host_key`` overrides it,
for outlets spread over several domains or sharing one.
"""

from __future__ import annotations

from functools import cache
from urllib.parse import urlsplit

import tldextract

from crawler.config import SourceConfig

_EXTRACT = tldextract.TLDExtract(suffix_list_urls=(), cache_dir=None)


def host_key(source: SourceConfig) -> str:
    if source.host_key:
        return source.host_key
    urls = [*source.feeds, *source.sitemaps, *(listing.url for listing in source.listings)]
    if not urls:
        return source.name
    return registrable_domain(urlsplit(str(urls[0])).hostname or source.name)


@cache
def registrable_domain(host: str) -> str:
    parts = _EXTRACT(host)
    if not parts.suffix:  # an IP address, localhost, an intranet name
        return host.lower()
    return f"{parts.domain}.{parts.suffix}".lower()
