"""Which addresses a crawl may connect to, decided where the connection is made.

A feed is untrusted input: without a guard, an entry linking to ``http://127.0.0.1:8080/`` or
``http://169.254.169.254/`` (a cloud's metadata service) would make the crawler probe the
host's own network. Checking a name in a middleware and connecting later leaves a gap: the
name can resolve to a public address for the check and to a private one for the download
(DNS rebinding). So the check lives in the resolver the connections use:
:class:`GuardedResolver` passes on only public addresses, and the address that connects is
the address that was checked. IP literals (which need no DNS) and non-http(s) schemes are
refused earlier, by ``crawler.middlewares.NetworkGuardMiddleware``, with a clearer message.

The resolver belongs to the reactor, so it is shared by every crawl in the process; a
process runs one config, so ``[fetch] allow_private_networks`` is one setting per process.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Sequence
from typing import Any

from scrapy.exceptions import IgnoreRequest
from scrapy.resolver import CachingHostnameResolver
from scrapy.settings import BaseSettings
from scrapy.utils.datatypes import LocalCache
from twisted.internet.interfaces import (
    IAddress,
    IHostnameResolver,
    IHostResolution,
    IResolutionReceiver,
)
from zope.interface import implementer

ALLOW_HINT = "(set [fetch] allow_private_networks = true to allow)"
IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address


class AddressRefused(IgnoreRequest):
    """The request's host is, or resolves only to, non-public addresses."""


def parse_ip(text: str) -> IPAddress | None:
    """``text`` as an IP address (``[::1]``, ``fe80::1%eth0`` too), or None for a name."""
    try:
        return ipaddress.ip_address(text.strip("[]").split("%", 1)[0])
    except ValueError:
        return None


def is_public(address: IPAddress) -> bool:
    """A globally routable unicast address: not loopback, private, link-local (169.254/16,
    the metadata services), shared (100.64/10), unique-local (fc00::/7), multicast, ..."""
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
        address = address.ipv4_mapped  # ::ffff:127.0.0.1 is 127.0.0.1
    return address.is_global and not address.is_multicast


def refused_message(host: str, address: str) -> str:
    return f"refused {host}: it resolves to non-public address {address} {ALLOW_HINT}"


@implementer(IResolutionReceiver)
class _PublicOnly:
    """Pass on a resolution's public addresses; remember a name that had nothing else."""

    def __init__(self, receiver: Any, name: str, refused: LocalCache[str, str]) -> None:
        self._receiver = receiver  # an IResolutionReceiver (zope interfaces defeat mypy)
        self._name = name
        self._refused = refused
        self._passed = 0
        self._dropped: str | None = None

    def resolutionBegan(self, resolution: IHostResolution) -> None:
        self._receiver.resolutionBegan(resolution)

    def addressResolved(self, address: IAddress) -> None:
        host = getattr(address, "host", None)
        ip = parse_ip(host) if isinstance(host, str) else None
        if ip is not None and is_public(ip):
            self._passed += 1
            self._receiver.addressResolved(address)
        elif self._dropped is None:
            self._dropped = str(host)

    def resolutionComplete(self) -> None:
        # Twisted turns "no address" into a bare DNSLookupError; the middleware looks the
        # reason up here to say why.
        if not self._passed and self._dropped is not None:
            self._refused[self._name.lower()] = self._dropped
        else:
            self._refused.pop(self._name.lower(), None)
        self._receiver.resolutionComplete()


@implementer(IHostnameResolver)
class GuardedResolver(CachingHostnameResolver):
    """Scrapy's caching IPv4/IPv6 resolver, refusing non-public results unless allowed.

    Twisted's HTTP client connects through the reactor's ``nameResolver`` for every request
    (IP literals included), so whatever reaches a socket passed :func:`is_public`. Cached
    results are checked again on every use.
    """

    def __init__(self, reactor: Any, cache_size: int, allow_private: bool) -> None:
        super().__init__(reactor, cache_size)
        if isinstance(self.original_resolver, GuardedResolver):
            # Replacing another policy: wrap the system resolver, not the other guard.
            self.original_resolver = self.original_resolver.original_resolver
        self.allow_private = allow_private
        self.refused: LocalCache[str, str] = LocalCache(1000)  # name -> an address it had

    @classmethod
    def from_crawler(cls, crawler: Any, reactor: Any) -> GuardedResolver:
        settings = crawler.settings
        allow_private = settings.getbool("NEWSRELAY_ALLOW_PRIVATE_NETWORKS")
        return cls(reactor, dns_cache_size(settings), allow_private)

    def resolveHostName(
        self,
        resolutionReceiver: IResolutionReceiver,
        hostName: str,
        portNumber: int = 0,
        addressTypes: Sequence[type[IAddress]] | None = None,
        transportSemantics: str = "TCP",
    ) -> IHostResolution:
        receiver: Any = resolutionReceiver
        if not self.allow_private:
            receiver = _PublicOnly(resolutionReceiver, hostName, self.refused)
        return super().resolveHostName(
            receiver, hostName, portNumber, addressTypes, transportSemantics
        )

    def refusal(self, host: str) -> str | None:
        """Why connections to ``host`` were refused, if its last resolution was."""
        address = self.refused.get(host.lower())
        return refused_message(host, address) if address is not None else None


def dns_cache_size(settings: BaseSettings) -> int:
    """Scrapy's DNS cache size as its settings say (0: off)."""
    return settings.getint("DNSCACHE_SIZE") if settings.getbool("DNSCACHE_ENABLED") else 0


def guarded_resolver(reactor: Any, allow_private: bool, cache_size: int) -> GuardedResolver:
    """The reactor's resolver with this policy, installed now unless it already is.

    Called for every request, so a resolver installed by someone else (``scrapy crawl``'s
    process installs ``TWISTED_DNS_RESOLVER`` when it starts) is replaced before any
    connection.
    """
    current = reactor.nameResolver
    if isinstance(current, GuardedResolver) and current.allow_private == allow_private:
        return current
    resolver = GuardedResolver(reactor, cache_size, allow_private)
    resolver.install_on_reactor()
    return resolver
