"""A source's fetch options: the User-Agent, headers, cookies and proxy of everything the
source fetches (feeds, sitemaps, listing pages, article pages, robots.txt).

The config types validate them once (a bad value is one config line, never a broken request
at crawl time); :class:`FetchOptions` is what a crawl applies, request by request
(``crawler.middlewares.SourceFetchOptionsMiddleware``). No Scrapy here: the config loads
without it.
"""

from __future__ import annotations

import re
from contextvars import ContextVar
from dataclasses import dataclass, field
from typing import Annotated, Any, Protocol
from urllib.parse import urlsplit

from pydantic import AfterValidator

# RFC 9110 token: the characters of a header name (and of a cookie name, RFC 6265).
_TOKEN = re.compile(r"^[!#$%&'*+.^_`|~0-9A-Za-z-]+$")
# A header value: no control character but the tab (CR or LF would start a new header).
_CONTROL = re.compile(r"[\x00-\x08\x0a-\x1f\x7f]")
# RFC 6265 cookie-octets, optionally in double quotes: no space, quote, comma, semicolon or
# backslash.
_OCTETS = r"[\x21\x23-\x2b\x2d-\x3a\x3c-\x5b\x5d-\x7e]*"
_COOKIE_VALUE = re.compile(rf'^(?:{_OCTETS}|"{_OCTETS}")$')
# Headers that the HTTP client or newsrelay itself sets, or that have keys of their own.
_RESERVED = {
    "host": "the client sets it from the URL",
    "content-length": "the client sets it",
    "transfer-encoding": "the client sets it",
    "connection": "the client sets it",
    "keep-alive": "the client sets it",
    "te": "the client sets it",
    "upgrade": "the client sets it",
    "proxy-connection": "the client sets it",
    "proxy-authorization": "put the credentials in the proxy URL",
    "user-agent": "use the source's user_agent key",
    "cookie": "use the source's cookies table",
}
# Header names whose value `newsrelay config` shows as *** (credentials, sessions, keys).
_SECRET_HEADER = re.compile(r"auth|cookie|token|secret|key|session|password|signature", re.I)
_PROXY_FORM = "http|https|socks5|socks5h://[user:password@]host[:port]"
# http: Scrapy's own handler; the others: its httpx handler (crawler.upstream.proxy_handler).
PROXY_SCHEMES = ("http", "https", "socks5", "socks5h")


def _display(url: str) -> str:
    """A proxy URL fit for an error message: whatever stands before its host's ``@`` (user,
    password, or a password the URL could not even be parsed around) as ``***``."""
    scheme, sep, rest = url.partition("://")
    if "@" in rest:
        rest = "***@" + rest.rpartition("@")[2]
    return scheme + sep + rest


def _check_proxy(url: str) -> str:
    shown = _display(url)
    scheme = url.partition("://")[0].lower() if "://" in url else ""
    if scheme not in PROXY_SCHEMES:
        raise ValueError(f"{shown!r} is not a proxy URL like {_PROXY_FORM!r}")
    if not _well_formed(url):
        hint = " (percent-encode '/', '?', '#' and '%' in the password)" if "@" in url else ""
        raise ValueError(f"{shown!r} is not a proxy URL like {_PROXY_FORM!r}{hint}")
    return url


def _well_formed(url: str) -> bool:
    """``scheme://[user:password@]host[:port][/]``, and nothing more."""
    try:
        parts = urlsplit(url)
        _ = parts.port  # a port that is not 0-65535 raises ValueError
    except ValueError:
        return False
    return bool(parts.hostname) and parts.path in ("", "/") and not (parts.query or parts.fragment)


def _check_user_agent(value: str) -> str:
    if not value.strip() or _CONTROL.search(value):
        raise ValueError("a User-Agent must be one line of text")
    return value


def _check_headers(headers: dict[str, str]) -> dict[str, str]:
    seen: set[str] = set()
    for name, value in headers.items():
        lower = name.lower()
        if not _TOKEN.match(name):
            raise ValueError(f"{name!r} is not a header name (letters, digits and !#$%&'*+.^_`|~-)")
        if lower in _RESERVED:
            raise ValueError(f"header {name!r} cannot be set here: {_RESERVED[lower]}")
        if lower in seen:
            raise ValueError(f"header {name!r} is given twice")
        seen.add(lower)
        if _CONTROL.search(value):  # the value is not quoted: it may be a secret
            raise ValueError(f"header {name!r}: its value has a CR, LF or other control character")
    return headers


def _check_cookies(cookies: dict[str, str]) -> dict[str, str]:
    for name, value in cookies.items():
        if not _TOKEN.match(name):
            raise ValueError(f"{name!r} is not a cookie name")
        if not _COOKIE_VALUE.match(value):  # not quoted: a session cookie is a secret
            raise ValueError(
                f"cookie {name!r}: a value may not contain spaces, quotes, commas, semicolons, "
                "backslashes or control characters (percent-encode them)"
            )
    return cookies


ProxyUrl = Annotated[str, AfterValidator(_check_proxy)]
UserAgent = Annotated[str, AfterValidator(_check_user_agent)]
Headers = Annotated[dict[str, str], AfterValidator(_check_headers)]
Cookies = Annotated[dict[str, str], AfterValidator(_check_cookies)]


class _Source(Protocol):
    """What a source config has that this module reads (``crawler.config.SourceConfig``)."""

    user_agent: str | None
    headers: dict[str, str]
    cookies: dict[str, str]
    proxy: str | None


@dataclass(frozen=True)
class FetchOptions:
    """What one source's requests carry. Hashable: robots.txt is shared per host only among
    sources whose options are equal (``crawler.robots``)."""

    user_agent: str | None
    # Credentials, both: never in a repr that a log line could print.
    headers: tuple[tuple[str, str], ...] = field(repr=False)  # the table, plus Cookie
    proxy: str | None = field(repr=False)  # with its credentials, for Scrapy's middleware
    # Hosts that get the headers and cookies: the source's own sites (crawler.scope).
    domains: frozenset[str]

    @classmethod
    def of(cls, source: _Source, domains: frozenset[str]) -> FetchOptions | None:
        """The options of ``source``, or None when it sets none."""
        headers = list(source.headers.items())
        if source.cookies:
            headers.append(("Cookie", "; ".join(f"{k}={v}" for k, v in source.cookies.items())))
        if source.user_agent is None and not headers and source.proxy is None:
            return None
        return cls(source.user_agent, tuple(headers), source.proxy, domains)


# The options of the request whose host's robots.txt is being fetched (crawler.robots):
# Scrapy's robots.txt request carries none of the crawl's meta.
robots_options: ContextVar[FetchOptions | None] = ContextVar("robots_options", default=None)


def request_options(request: Any) -> FetchOptions | None:
    """The fetch options ``request`` goes out with: those of the crawl it belongs to
    (``meta["crawl"]``), or, for a robots.txt request, those it is fetched for."""
    crawl = request.meta.get("crawl")
    if crawl is not None:
        options: FetchOptions | None = crawl.fetch_options
        return options
    return robots_options.get()


def proxy_host(url: str) -> str:
    """The host of a proxy URL, lower case (validated URLs have one)."""
    return (urlsplit(url).hostname or "").lower()


def mask_fetch_secrets(source: dict[str, Any]) -> dict[str, Any]:
    """A source as ``newsrelay config`` prints it (``model_dump`` form): the proxy's password,
    every cookie value and the value of each header named like a credential as ``***``."""
    shown = dict(source)
    if shown.get("proxy"):
        parts = urlsplit(shown["proxy"])
        if "@" in parts.netloc:  # a user name alone may be the credential (an API key)
            user = f"{parts.username}:" if parts.password is not None else ""
            netloc = f"{user}***@" + parts.netloc.rpartition("@")[2]
            shown["proxy"] = parts._replace(netloc=netloc).geturl()
    headers = shown.get("headers") or {}
    shown["headers"] = {k: "***" if _SECRET_HEADER.search(k) else v for k, v in headers.items()}
    shown["cookies"] = dict.fromkeys(shown.get("cookies") or {}, "***")
    return shown
