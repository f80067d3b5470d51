"""Downloader middlewares."""

from __future__ import annotations

import ipaddress
from typing import Self

from scrapy import Request
from scrapy.crawler import Crawler
from scrapy.exceptions import IgnoreRequest
from scrapy.utils.defer import maybe_deferred_to_future
from scrapy.utils.httpobj import urlparse_cached


class PrivateAddressRefused(IgnoreRequest):
    """The request's host is (or resolves to) a non-public address."""


class NetworkGuardMiddleware:
    """Refuse requests to loopback, private, link-local and other non-global addresses.

    A feed is untrusted input: without this, an entry linking to http://127.0.0.1:8080/ or
    http://169.254.169.254/ would make the crawler probe the host's own network. The host
    name is resolved through Scrapy's caching resolver, the same one the download then uses.
    ``[fetch] allow_private_networks = true`` turns the check off (tests, intranet setups).
    """

    def __init__(self, allow_private: bool) -> None:
        self.allow_private = allow_private

    @classmethod
    def from_crawler(cls, crawler: Crawler) -> Self:
        return cls(crawler.settings.getbool("NEWSRELAY_ALLOW_PRIVATE_NETWORKS"))

    async def process_request(self, request: Request) -> None:
        if self.allow_private:
            return
        host = urlparse_cached(request).hostname
        if not host:
            raise IgnoreRequest(f"no host in {request.url}")
        address = await _resolve(host)
        if not address.is_global:
            raise PrivateAddressRefused(
                f"refused {host}: it resolves to non-public address {address} "
                "(set [fetch] allow_private_networks = true to allow)"
            )


async def _resolve(host: str) -> ipaddress.IPv4Address | ipaddress.IPv6Address:
    try:
        return ipaddress.ip_address(host.strip("[]"))
    except ValueError:
        pass
    from twisted.internet import reactor

    resolved = await maybe_deferred_to_future(reactor.resolve(host))  # type: ignore[arg-type]
    return ipaddress.ip_address(resolved)
