"""A one-page spider for ``newsrelay extract URL``: the page is downloaded as a crawl would."""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Any

import scrapy
from scrapy.http import Response
from twisted.python.failure import Failure

from crawler.failures import describe_failure
from crawler.spiders import content_type


@dataclass(frozen=True)
class FetchedPage:
    url: str  # after redirects
    status: int | None
    body: bytes
    content_type: str | None
    error: str | None = None


class PageSpider(scrapy.Spider):
    name = "page"

    def __init__(self, url: str, into: list[FetchedPage], **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.url = url
        self.into = into

    async def start(self) -> AsyncIterator[scrapy.Request]:
        yield scrapy.Request(self.url, callback=self.keep, errback=self.failed, dont_filter=True)

    def keep(self, response: Response) -> None:
        self.into.append(
            FetchedPage(response.url, response.status, response.body, content_type(response))
        )

    def failed(self, failure: Failure) -> None:
        request = failure.request  # type: ignore[attr-defined]
        self.into.append(FetchedPage(request.url, None, b"", None, describe_failure(failure)))
