"""When Scrapy has finished with a request: its callback or errback has run and everything it
yielded has been handled (requests scheduled, items through the pipelines).

Scrapy signals a request's scheduling, drop and download, but not the end of its processing.
The scraper's slot knows it: ``Scraper.enqueue_scrape`` calls ``Slot.finish_response`` once
the request's whole output is handled (Scrapy 2.19.0; ``scraper.slot`` exists from the
spider's opening). :mod:`crawler.relay` counts each crawl's requests with it.
``tests/test_upstream.py`` compares the upstream source of ``enqueue_scrape`` with the
version read here: an upgrade that changes it fails that test until this has been checked.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from scrapy import Request
from scrapy.crawler import Crawler

# sha256 (first 16 hex digits) of the upstream method this module depends on.
UPSTREAM_SOURCES = {"enqueue_scrape": "13797600d476b240"}


def on_request_processed(crawler: Crawler, processed: Callable[[Request], None]) -> None:
    """Call ``processed(request)`` each time the crawler's scraper is done with a request
    (call it once the spider is open)."""
    assert crawler.engine is not None
    slot: Any = crawler.engine.scraper.slot
    finish = slot.finish_response

    def finished(result: Any, request: Request) -> None:
        finish(result, request)
        processed(request)

    slot.finish_response = finished
