"""A crawler's engine, read before Scrapy's ``Crawler.engine`` would give it.

``Crawler.engine`` raises until the engine exists; a stop that arrives while a crawl is still
opening must see whether there is one yet. Scrapy 2.19.0 keeps it in the private ``_engine``
(None until ``crawl()`` creates it). ``tests/test_upstream.py`` checks that it still does.
"""

from __future__ import annotations

from typing import Any

from scrapy.crawler import Crawler


def engine_of(crawler: Crawler) -> Any | None:
    """The crawler's ``ExecutionEngine``, or None before its crawl created one."""
    return crawler._engine
