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


class SharedRobotsTxtMiddleware(RobotsTxtMiddleware):
    def __init__(self, crawler: Crawler) -> None:
        super().__init__(crawler)
        self.ttl = crawler.settings.getfloat("NEWSRELAY_ROBOTS_TTL", 3600.0)

    async def robot_parser(self, request: Request) -> Any:
        options = request_options(request)
        key = (urlparse_cached(request).netloc, options)
        while True:
            entry = _SHARED.get(key)
            if entry is None or entry.expires <= time.monotonic():
                break
            if entry.parser.done() and entry.parser.exception() is None:
                return entry.parser.result()  # the common case: no task, no wait
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
            robots_options.reset(fetching_for)
        if parser is None:
            mine.expires = time.monotonic() + min(self.ttl, FAILED_TTL)
        mine.parser.set_result(parser)
        return parser
