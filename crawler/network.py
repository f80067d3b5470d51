"""Which addresses a crawl may connect to, decided where the connection is made.

A feed is untrusted input: without a guard, an entry linking to ``http://127.0.0.1:8080/`` or
``http://169.254.169.254/`` (a cloud's metadata service) would make the crawler probe the
host's own network. Checking a name in a middleware and connecting later leaves a gap: the
name can resolve to a public address for the check and to a private one for the download
(DNS rebinding). So the check lives in the resolver the connections use:
:class:`GuardedResolver` passes on only public addresses, and the address that connects is
the address that was checked. IP literals (which need no DNS) and non-http(s) schemes are
refused earlier, by ``crawler.middlewares.NetworkGuardMiddleware``, with a clearer message.

A request through a source's proxy is connected by the proxy, which resolves the page's host
itself: the reactor only ever connects to the proxy, which is let through wherever it is (the
operator chose it). So ``NetworkGuardMiddleware`` looks the page's host up here first
(:func:`resolved_addresses`) and refuses it as it would without a proxy. The proxy looks the
name up again: a name whose answer changes in between (DNS rebinding), or a proxy that sees
other DNS, still reaches whatever the proxy can reach, so a proxy inside a private network
should refuse private destinations itself.

The resolver belongs to the reactor, so it is shared by every crawl in the process; a
process runs one config, so ``[fetch] allow_private_networks`` is one setting per process.
"""

from __future__ import annotations

import asyncio
import ipaddress
import socket
import threading
from collections.abc import Sequence
from typing import Any, Literal

from scrapy.exceptions import CannotResolveHostError, IgnoreRequest
from scrapy.resolver import CachingHostnameResolver, HostResolution
from scrapy.settings import BaseSettings
from scrapy.utils.datatypes import LocalCache
from twisted.internet.address import IPv4Address, IPv6Address
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


class LookupTimedOut(CannotResolveHostError):
    """The host's name did not resolve within ``fetch.dns_timeout``."""


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

    def __init__(
        self,
        receiver: Any,
        name: str,
        refused: LocalCache[str, str],
        mixed: LocalCache[str, str],
    ) -> None:
        self._receiver = receiver  # an IResolutionReceiver (zope interfaces defeat mypy)
        self._name = name
        self._refused = refused
        self._mixed = mixed  # names that had public and non-public addresses
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
        name = self._name.lower()
        if not self._passed and self._dropped is not None:
            self._refused[name] = self._dropped
        else:
            self._refused.pop(name, None)
        # A proxy would resolve the name itself and might take the non-public address.
        if self._passed and self._dropped is not None:
            self._mixed[name] = self._dropped
        else:
            self._mixed.pop(name, None)
        self._receiver.resolutionComplete()


@implementer(IResolutionReceiver)
class _Deadline:
    """Pass a resolution on, unless it takes longer than ``timeout`` seconds: then end it with
    no address (Twisted then fails the connection with a DNS error) and remember why."""

    def __init__(
        self, receiver: Any, name: str, timeout: float, reactor: Any, timed_out: Any
    ) -> None:
        self._receiver = receiver
        self._name = name
        self._timed_out = timed_out
        self._timeout = timeout
        self._done = False
        self._timer = reactor.callLater(timeout, self._expire)

    def _expire(self) -> None:
        if not self._done:
            self._done = True
            self._timed_out[self._name.lower()] = self._timeout
            self._receiver.resolutionComplete()

    def resolutionBegan(self, resolution: IHostResolution) -> None:
        self._receiver.resolutionBegan(resolution)

    def addressResolved(self, address: IAddress) -> None:
        if not self._done:
            self._receiver.addressResolved(address)

    def resolutionComplete(self) -> None:
        if not self._done:
            self._done = True
            self._timer.cancel()
            self._timed_out.pop(self._name.lower(), None)
            self._receiver.resolutionComplete()


@implementer(IHostnameResolver)
class ThreadedLookup:
    """``getaddrinfo`` in a daemon thread per lookup (at most ``THREADS`` at once), results
    handed to the reactor. Twisted's own resolver runs it in the reactor's thread pool, which
    the reactor joins when it stops: one lookup stuck on a silent name server then held the
    process's exit for as long as the C library waited (30 s and more)."""

    THREADS = 10

    def __init__(self, reactor: Any) -> None:
        self.reactor = reactor
        self._slots = threading.BoundedSemaphore(self.THREADS)

    def resolveHostName(
        self,
        resolutionReceiver: IResolutionReceiver,
        hostName: str,
        portNumber: int = 0,
        addressTypes: Sequence[type[IAddress]] | None = None,
        transportSemantics: str = "TCP",
    ) -> IHostResolution:
        receiver: Any = resolutionReceiver
        resolution = HostResolution(hostName)
        receiver.resolutionBegan(resolution)
        family = _FAMILIES.get(frozenset(addressTypes or ()), socket.AF_UNSPEC)
        transport: Literal["TCP", "UDP"] = "TCP" if transportSemantics == "TCP" else "UDP"
        kind = socket.SOCK_STREAM if transport == "TCP" else socket.SOCK_DGRAM

        def deliver(infos: list[Any]) -> None:
            for info_family, _, _, _, sockaddr in infos:
                if info_family == socket.AF_INET:
                    receiver.addressResolved(IPv4Address(transport, *sockaddr[:2]))
                elif info_family == socket.AF_INET6:
                    receiver.addressResolved(IPv6Address(transport, *sockaddr))
            receiver.resolutionComplete()

        def look_up() -> None:
            with self._slots:
                try:
                    infos = socket.getaddrinfo(hostName, portNumber, family, kind)
                except (OSError, UnicodeError):
                    infos = []
            self.reactor.callFromThread(deliver, infos)

        threading.Thread(target=look_up, name="newsrelay-dns", daemon=True).start()
        result: Any = resolution  # zope interfaces defeat mypy
        return result  # type: ignore[no-any-return]


_FAMILIES = {
    frozenset([IPv4Address]): socket.AF_INET,
    frozenset([IPv6Address]): socket.AF_INET6,
}


@implementer(IHostnameResolver)
class GuardedResolver(CachingHostnameResolver):
    """Scrapy's caching IPv4/IPv6 resolver, refusing non-public results unless allowed.

    Twisted's HTTP client connects through the reactor's ``nameResolver`` for every request
    (IP literals included), so whatever reaches a socket passed :func:`is_public`. Cached
    results are checked again on every use. A lookup gets ``timeout`` seconds (Scrapy's
    ``DNS_TIMEOUT``, which its caching resolver ignores): ``getaddrinfo`` cannot be
    interrupted, but the connection waiting for it gives up.
    """

    def __init__(
        self,
        reactor: Any,
        cache_size: int,
        allow_private: bool,
        timeout: float = 0.0,
        proxies: frozenset[str] = frozenset(),
    ) -> None:
        super().__init__(reactor, cache_size)
        self.original_resolver = ThreadedLookup(reactor)  # type: ignore[assignment]
        self.allow_private = allow_private
        self.timeout = timeout
        # The hosts of the config's proxies: the operator's choice, wherever they are (a
        # proxy on loopback or the LAN is the usual setup). NetworkGuardMiddleware refuses
        # them as the host of a page.
        self.proxies = proxies
        self.refused: LocalCache[str, str] = LocalCache(1000)  # name -> an address it had
        # name -> a non-public address it had besides public ones (refused behind a proxy)
        self.mixed: LocalCache[str, str] = LocalCache(1000)
        self.timed_out: LocalCache[str, float] = LocalCache(1000)  # name -> seconds waited

    @classmethod
    def from_crawler(cls, crawler: Any, reactor: Any) -> GuardedResolver:
        settings = crawler.settings
        allow_private = settings.getbool("NEWSRELAY_ALLOW_PRIVATE_NETWORKS")
        timeout = settings.getfloat("DNS_TIMEOUT")
        return cls(reactor, dns_cache_size(settings), allow_private, timeout, proxy_hosts(settings))

    def resolveHostName(
        self,
        resolutionReceiver: IResolutionReceiver,
        hostName: str,
        portNumber: int = 0,
        addressTypes: Sequence[type[IAddress]] | None = None,
        transportSemantics: str = "TCP",
    ) -> IHostResolution:
        receiver: Any = resolutionReceiver
        if not self.allow_private and hostName.lower() not in self.proxies:
            receiver = _PublicOnly(resolutionReceiver, hostName, self.refused, self.mixed)
        if self.timeout > 0 and parse_ip(hostName) is None:
            receiver = _Deadline(receiver, hostName, self.timeout, self.reactor, self.timed_out)
        return super().resolveHostName(
            receiver, hostName, portNumber, addressTypes, transportSemantics
        )

    def refusal(self, host: str) -> str | None:
        """Why connections to ``host`` were refused, if its last resolution was."""
        address = self.refused.get(host.lower())
        return refused_message(host, address) if address is not None else None

    def timeout_of(self, host: str) -> float | None:
        """How long the last lookup of ``host`` waited before giving up, if it did."""
        return self.timed_out.get(host.lower())


def dns_cache_size(settings: BaseSettings) -> int:
    """Scrapy's DNS cache size as its settings say (0: off)."""
    return settings.getint("DNSCACHE_SIZE") if settings.getbool("DNSCACHE_ENABLED") else 0


def proxy_hosts(settings: BaseSettings) -> frozenset[str]:
    """The hosts of the config's proxies (``NEWSRELAY_PROXY_HOSTS``), lower case."""
    return frozenset(host.lower() for host in settings.getlist("NEWSRELAY_PROXY_HOSTS"))


def guarded_resolver(
    reactor: Any,
    allow_private: bool,
    cache_size: int,
    timeout: float = 0.0,
    proxies: frozenset[str] = frozenset(),
) -> GuardedResolver:
    """The reactor's resolver with this policy, installed now unless it already is.

    Called for every request, so a resolver installed by someone else (``scrapy crawl``'s
    process installs ``TWISTED_DNS_RESOLVER`` when it starts) is replaced before any
    connection.
    """
    current = reactor.nameResolver
    if (
        isinstance(current, GuardedResolver)
        and current.allow_private == allow_private
        and current.timeout == timeout
        and current.proxies == proxies
    ):
        return current
    resolver = GuardedResolver(reactor, cache_size, allow_private, timeout, proxies)
    resolver.install_on_reactor()
    return resolver


@implementer(IResolutionReceiver)
class _Collect:
    """The addresses of one resolution, into a future."""

    def __init__(self) -> None:
        self.addresses: list[str] = []
        self.done: asyncio.Future[list[str]] = asyncio.get_running_loop().create_future()

    def resolutionBegan(self, resolution: IHostResolution) -> None:
        pass

    def addressResolved(self, address: IAddress) -> None:
        self.addresses.append(str(getattr(address, "host", "")))

    def resolutionComplete(self) -> None:
        if not self.done.done():
            self.done.set_result(self.addresses)


async def resolved_addresses(resolver: GuardedResolver, host: str, port: int) -> list[str]:
    """The addresses of ``host`` that ``resolver`` lets a connection use (none: refused, timed
    out or unknown; its ``refusal`` and ``timeout_of`` say which): for a request that a proxy
    connects, where the reactor never resolves the page's host itself."""
    collect = _Collect()
    receiver: Any = collect  # an IResolutionReceiver (zope interfaces defeat mypy)
    resolver.resolveHostName(receiver, host, port)
    return await collect.done
