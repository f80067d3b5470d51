"""The download handler for http and https: a request through a ``socks5://``,
``socks5h://`` or ``https://`` proxy goes to Scrapy's httpx handler, every other request to
Scrapy's default HTTP/1.1 handler, as before.

Why: Scrapy 2.19's default handler (``http11``) speaks only to http:// proxies (it cannot
tunnel an https page through an https:// proxy, and has no SOCKS). Its httpx handler does
both (``httpx.Proxy``; SOCKS through ``socksio``, the ``httpx[socks]`` extra), but is marked
experimental, so it carries only the requests nothing else can download.

Private name: ``scrapy.core.downloader.handlers._httpx.HttpxDownloadHandler``, the path
Scrapy 2.19's docs give for it (no public alias). ``tests/test_upstream.py`` checks it is still
there; the proxy tests (``tests/test_proxy_schemes.py``) check it still works.

What the handler keeps from the http:// path: the request's headers (User-Agent, the source's
headers and cookies) go as they are; ``Proxy-Authorization``, which
``ConfiguredProxyMiddleware`` makes from the proxy URL's credentials, goes back into the URL
for httpx (SOCKS5 user/password, RFC 1929, or Basic to an https proxy) and never to the site;
``download_maxsize`` is enforced while streaming; ``download_timeout`` bounds the whole
download (httpx's own timeout is per read); a proxy's refusal becomes
:class:`crawler.failures.ProxyRefused`, one line, not retried.
"""

from __future__ import annotations

import asyncio
import re
from typing import ClassVar, Self

from scrapy import Request
from scrapy.core.downloader.handlers._httpx import HttpxDownloadHandler
from scrapy.core.downloader.handlers.http11 import HTTP11DownloadHandler
from scrapy.crawler import Crawler
from scrapy.exceptions import DownloadConnectionRefusedError, DownloadTimeoutError
from scrapy.http import Response

from crawler.failures import PROXY_AUTH, ProxyRefused

# The proxy schemes only httpx can use; http:// proxies stay with the default handler.
THROUGH_HTTPX = ("socks5", "socks5h", "https")
# httpcore's ProxyError texts (httpcore 1.0: _async/socks_proxy.py, _async/http_proxy.py).
# A refused login, or no authentication method in common ("Requested NO AUTHENTICATION
# REQUIRED from proxy server, but got NO ACCEPTABLE METHODS."): either way, the credentials.
_SOCKS_AUTH = re.compile(r"Invalid username/password|from proxy server, but got")
_SOCKS_CONNECT = re.compile(r"Proxy Server could not connect: (.+?)\.?$")
_CONNECT_STATUS = re.compile(r"^(\d{3}) ")


def proxy_scheme(request: Request) -> str:
    """The scheme of the request's proxy, lower case ("" without one)."""
    proxy = request.meta.get("proxy") or ""
    return str(proxy).partition("://")[0].lower() if "://" in str(proxy) else ""


class _Httpx(HttpxDownloadHandler):
    # Scrapy logs "experimental, not recommended for production" once per handler, that is
    # per crawl: a daemon would repeat it every poll. Only proxied requests reach it.
    experimental: ClassVar[bool] = False


class ProxySchemesDownloadHandler:
    """Scrapy's HTTP/1.1 handler, with the requests through a SOCKS5 or https:// proxy
    handed to its httpx handler (created on the first such request)."""

    lazy = False

    def __init__(self, crawler: Crawler) -> None:
        self.crawler = crawler
        self._default = HTTP11DownloadHandler.from_crawler(crawler)
        self._httpx: _Httpx | None = None

    @classmethod
    def from_crawler(cls, crawler: Crawler) -> Self:
        return cls(crawler)

    async def download_request(self, request: Request) -> Response:
        if proxy_scheme(request) not in THROUGH_HTTPX:
            return await self._default.download_request(request)
        if self._httpx is None:
            self._httpx = _Httpx.from_crawler(self.crawler)
        timeout = float(request.meta.get("download_timeout") or 0) or None
        try:
            async with asyncio.timeout(timeout):
                return await self._httpx.download_request(request)
        except TimeoutError:
            raise DownloadTimeoutError(f"took longer than {timeout:g} s") from None
        except DownloadConnectionRefusedError as error:
            refused = proxy_refusal(error.__cause__)
            if refused is None:
                raise
            raise refused from None

    async def close(self) -> None:
        await self._default.close()
        if self._httpx is not None:
            await self._httpx.close()


def proxy_refusal(cause: BaseException | None) -> ProxyRefused | None:
    """What a proxy's refusal (httpx's ``ProxyError``) says, as one line; None for anything
    else (a proxy that cannot be reached stays "connection refused", and is retried)."""
    # By name: Scrapy's handler uses httpx2 when it is installed, else httpx; both name it so.
    if cause is None or type(cause).__name__ != "ProxyError":
        return None
    text = str(cause).strip()
    if _SOCKS_AUTH.search(text):
        return ProxyRefused("proxy: SOCKS5 wants other credentials (the source's proxy URL)")
    if match := _SOCKS_CONNECT.search(text):
        return ProxyRefused(f"proxy: SOCKS5 could not connect ({match.group(1)})", transient=True)
    if match := _CONNECT_STATUS.match(text):
        status = match.group(1)
        if status == "407":
            return ProxyRefused(PROXY_AUTH)
        return ProxyRefused(f"proxy: CONNECT failed (HTTP {status})", transient=True)
    return ProxyRefused(f"proxy: {text.splitlines()[0] if text else 'refused'}", transient=True)
