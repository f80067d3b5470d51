"""robots.txt, fetched once per host for every crawl of the process, and kept for a while.

Scrapy's RobotsTxtMiddleware keeps its parsers per crawl: every source's crawl asked the same
host for its robots.txt again, and the daemon asked again on every run (848 requests in 814
runs of the daemon bench). Here the parsed robots.txt of a host is shared by all the crawls
of the process for ``NEWSRELAY_ROBOTS_TTL`` seconds (an hour by default; ten minutes when it
could not be fetched, which Scrapy reads as "everything allowed").
"""

from __future__ import annotations

import asyncio
import time
from dataclasses import dataclass
from typing import Any

from scrapy.crawler import Crawler
from scrapy.downloadermiddlewares.robotstxt import RobotsTxtMiddleware
from scrapy.http import Request
from scrapy.utils.datatypes import LocalCache
from scrapy.utils.httpobj import urlparse_cached

from crawler.failures import CrawlStopping
from crawler.fetch_options import FetchOptions, request_options, robots_options

FAILED_TTL = 600.0


class _Abandoned(Exception):
    """The crawl fetching a robots.txt stopped before it had it: ask again."""


@dataclass
class _Entry:
    parser: asyncio.Future[Any]  # a RobotParser, or None: no robots.txt to obey
    expires: float


# (netloc, fetch options) -> the robots.txt of that host, shared by every crawl in this
# process whose source fetches the same way: a source with a proxy or its own User-Agent,
# headers or cookies reads robots.txt as it reads the site.
_SHARED: LocalCache[tuple[str, FetchOptions | None], _Entry] = LocalCache(10_000)


class _ParsersByOptions(dict[Any, Any]):
    """Scrapy's own per-netloc table of the robots.txt being fetched, kept apart per fetch
    options (those of the call, :data:`robots_options`): the process's one crawl serves
    sources that read the same host differently, and each must fetch its own."""

    def __contains__(self, netloc: object) -> bool:
        return super().__contains__((netloc, robots_options.get()))

    def __getitem__(self, netloc: Any) -> Any:
        return super().__getitem__((netloc, robots_options.get()))

    def __setitem__(self, netloc: Any, value: Any) -> None:
        super().__setitem__((netloc, robots_options.get()), value)

    def forget(self, netloc: str) -> None:
        """Drop what Scrapy kept: :data:`_SHARED` decides how long a robots.txt is good for."""
        super().pop((netloc, robots_options.get()), None)


class SharedRobotsTxtMiddleware(RobotsTxtMiddleware):
    def __init__(self, crawler: Crawler) -> None:
        super().__init__(crawler)
        self.ttl = crawler.settings.getfloat("NEWSRELAY_ROBOTS_TTL", 3600.0)
        self._by_options = _ParsersByOptions()
        self._parsers = self._by_options

    async def robot_parser(self, request: Request) -> Any:
        """The host's robots.txt parser (None: nothing to obey). A request whose crawl stops
        while it waits for one fails with CrawlStopping: a host that never answers holds
        its robots.txt for the whole download timeout."""
        options = request_options(request)
        key = (urlparse_cached(request).netloc, options)
        entry = _SHARED.get(key)
        if (
            entry is not None
            and entry.expires > time.monotonic()
            and entry.parser.done()
            and entry.parser.exception() is None
        ):
            return entry.parser.result()  # the common case: no task, no wait
        crawl = request.meta.get("crawl")
        if crawl is None:
            return await self._shared_parser(request, key)
        lookup = asyncio.ensure_future(self._shared_parser(request, key))
        stopping = asyncio.ensure_future(crawl.stopping.wait())
        await asyncio.wait({lookup, stopping}, return_when=asyncio.FIRST_COMPLETED)
        stopping.cancel()
        if lookup.done():
            return lookup.result()
        lookup.add_done_callback(_quietly)  # it goes on for the other crawls waiting on it
        raise CrawlStopping("the crawl is stopping")

    async def _shared_parser(self, request: Request, key: tuple[str, FetchOptions | None]) -> Any:
        options = key[1]
        while True:
            entry = _SHARED.get(key)
            if entry is None or entry.expires <= time.monotonic():
                break
            if entry.parser.done() and entry.parser.exception() is None:
                return entry.parser.result()
            try:
                return await asyncio.shield(entry.parser)
            except _Abandoned:
                continue
        mine = _Entry(asyncio.get_running_loop().create_future(), time.monotonic() + self.ttl)
        _SHARED[key] = mine
        fetching_for = robots_options.set(options)  # the robots.txt request goes out as `request`
        try:
            parser = await super().robot_parser(request)
        except BaseException:
            if _SHARED.get(key) is mine:
                del _SHARED[key]
            mine.parser.set_exception(_Abandoned())
            mine.parser.exception()  # retrieved: no "never retrieved" warning without waiters
            raise
        finally:
            self._by_options.forget(key[0])
            robots_options.reset(fetching_for)
        if parser is None:
            mine.expires = time.monotonic() + min(self.ttl, FAILED_TTL)
        mine.parser.set_result(parser)
        return parser


def _quietly(lookup: asyncio.Future[Any]) -> None:
    """A lookup its crawl stopped waiting for: its outcome is the other crawls' business."""
    if not lookup.cancelled():
        lookup.exception()
