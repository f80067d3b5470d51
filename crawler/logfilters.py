"""One line per failure: Scrapy's own duplicate warnings, and its tracebacks, kept out of the log.

The spider logs every failed feed or page once, with the reason (``crawler.failures``). Scrapy
also logs some of the same failures itself: a response over the size limit (from the download
handler and from the decompression middleware), and a robots.txt that could not be downloaded
(at ERROR, with a traceback, although the crawl then goes on as if robots.txt allowed
everything). Those records are dropped; with ``--log-level debug`` the robots.txt one is kept,
as one line.
"""

from __future__ import annotations

import logging
from typing import Self

from scrapy.crawler import Crawler

_SIZE_LOGGERS = (
    "scrapy.core.downloader.handlers.http11",
    "scrapy.downloadermiddlewares.httpcompression",
)
_ROBOTS_LOGGER = "scrapy.downloadermiddlewares.robotstxt"


class _SizeLimitFilter(logging.Filter):
    def filter(self, record: logging.LogRecord) -> bool:
        message = record.getMessage()
        return "download max size" not in message and "DOWNLOAD_MAXSIZE" not in message


class _RobotsFilter(logging.Filter):
    def filter(self, record: logging.LogRecord) -> bool:
        if not record.getMessage().startswith("Error downloading"):
            return True
        record.exc_info = record.exc_text = None
        record.levelno, record.levelname = logging.DEBUG, "DEBUG"
        return logging.getLogger().isEnabledFor(logging.DEBUG)


_SIZE_LIMIT = _SizeLimitFilter()
_ROBOTS = _RobotsFilter()


class OneLineLogs:
    """A Scrapy extension: installs the filters above (once; they are process-wide)."""

    @classmethod
    def from_crawler(cls, crawler: Crawler) -> Self:
        for name in _SIZE_LOGGERS:
            logging.getLogger(name).addFilter(_SIZE_LIMIT)  # a filter is added only once
        logging.getLogger(_ROBOTS_LOGGER).addFilter(_ROBOTS)
        return cls()
