"""The feed spider: a source's RSS/Atom feeds -> its new article pages -> ArticleRecords."""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator, Iterator
from datetime import UTC, datetime
from typing import Any, Self
from urllib.parse import urlsplit

import scrapy
from scrapy.crawler import Crawler
from scrapy.http import Response, TextResponse
from scrapy.settings import BaseSettings
from twisted.python.failure import Failure

from crawler.config import Config, load_config
from crawler.extract import extract_article
from crawler.failures import describe_failure
from crawler.feeds import FeedEntry, parse_feed
from crawler.fingerprints import content_hash
from crawler.runs import CrawlContext, ProgressCallback
from crawler.urls import BadURL, canonical_url
from storage.db import Database, StorageError, open_database
from storage.repository import (
    ArticleRecord,
    ensure_source,
    known_urls,
    record_feed_fetch,
)
from storage.sanitize import clean_html

logger = logging.getLogger(__name__)


class FeedSpider(scrapy.Spider):
    """Crawl one configured source: ``scrapy crawl feeds -a source=NAME``."""

    name = "feeds"

    def __init__(
        self,
        source: str | None = None,
        config: Config | None = None,
        db: Database | None = None,
        on_progress: ProgressCallback | None = None,
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        if not source:
            raise ValueError("the feeds spider needs a source: -a source=NAME")
        if config is None:
            raise ValueError("the feeds spider needs a config")
        self._owns_db = db is None
        db = db or open_database(config.database.url)
        self.context = CrawlContext(config.source(source), db, on_progress)

    @classmethod
    def update_settings(cls, settings: BaseSettings) -> None:
        super().update_settings(settings)
        if not settings.getbool("NEWSRELAY_CONFIGURED"):
            # A plain `scrapy crawl feeds`: apply the config file's [fetch] table here.
            from crawler.runner import fetch_settings

            config = load_config(settings.get("NEWSRELAY_CONFIG"))
            settings.setdict(fetch_settings(config), priority="spider")

    @classmethod
    def from_crawler(cls, crawler: Crawler, *args: Any, **kwargs: Any) -> Self:
        if "config" not in kwargs:
            kwargs["config"] = load_config(crawler.settings.get("NEWSRELAY_CONFIG"))
        return super().from_crawler(crawler, *args, **kwargs)

    # -- feeds ----------------------------------------------------------------------------
    async def start(self) -> AsyncIterator[scrapy.Request]:
        source = self.context.source
        try:
            self.context.open(ensure_source(self.context.db, source.name, source.feeds))
        except StorageError as exc:
            self.context.fail(f"storage: {exc}")
            logger.error("crawl failed: source=%s reason=%s", source.name, exc)
            return
        assert self.context.ids is not None
        for url in source.feeds:
            yield scrapy.Request(
                url,
                callback=self.parse_feed,
                errback=self.feed_failed,
                cb_kwargs={"feed_id": self.context.ids.feed_ids[url]},
                dont_filter=True,
            )

    def parse_feed(self, response: Response, feed_id: int) -> Iterator[scrapy.Request]:
        counters = self.context.counters
        content_type = (response.headers.get("Content-Type") or b"").decode("latin-1") or None
        parsed = parse_feed(response.body, response.url, content_type)
        if parsed.error:
            self._feed_error(response.url, feed_id, response.status, parsed.error)
            return
        counters.feeds_fetched += 1
        record_feed_fetch(self.context.db, feed_id, status=response.status)
        counters.entries_seen += len(parsed.entries)

        wanted: dict[str, FeedEntry] = {}
        for entry in parsed.entries:
            try:
                url = canonical_url(entry.link)
            except BadURL as exc:
                counters.pages_failed += 1
                self.context.error(f"{response.url}: {exc}")
                logger.warning("skipped entry: source=%s reason=%s", self.context.source.name, exc)
                continue
            wanted.setdefault(url, entry)
        known = known_urls(self.context.db, wanted)
        counters.known_skipped += len(known)
        self.context.progress()
        for url, entry in wanted.items():
            if url in known:
                continue
            yield scrapy.Request(
                url,
                callback=self.parse_article,
                errback=self.page_failed,
                cb_kwargs={"url": url, "entry": entry, "feed_id": feed_id},
            )

    def feed_failed(self, failure: Failure) -> None:
        request = failure.request  # type: ignore[attr-defined]
        response = getattr(failure.value, "response", None)
        status = response.status if response is not None else None
        self._feed_error(
            request.url, request.cb_kwargs["feed_id"], status, describe_failure(failure)
        )

    def _feed_error(self, url: str, feed_id: int, status: int | None, reason: str) -> None:
        self.context.counters.feeds_failed += 1
        self.context.error(f"feed {url}: {reason}")
        record_feed_fetch(self.context.db, feed_id, status=status, error=reason)
        logger.warning(
            "feed failed: source=%s url=%s reason=%s", self.context.source.name, url, reason
        )
        self.context.progress()

    # -- article pages --------------------------------------------------------------------
    def parse_article(
        self, response: Response, url: str, entry: FeedEntry, feed_id: int
    ) -> Iterator[ArticleRecord]:
        self.context.counters.pages_fetched += 1
        if not isinstance(response, TextResponse):
            self._page_error(response.url, "not an HTML page")
            return
        page = extract_article(response.text, response.url)
        text, html = page.text, page.html
        if not text and entry.content_html:
            # The page gave nothing usable (paywall, script-only page): the feed's own
            # content is the best copy of the article there is.
            html = clean_html(entry.content_html)
            text = _html_text(html)
        if not text:
            self._page_error(response.url, "no article text found on the page")
            return
        assert self.context.ids is not None and self.context.run_id is not None
        yield ArticleRecord(
            source_id=self.context.ids.source_id,
            feed_id=feed_id,
            run_id=self.context.run_id,
            url=url,
            original_url=entry.link,
            page_canonical_url=_page_canonical(page.canonical_url),
            guid=entry.guid,
            title=page.title or entry.title or "",
            author=page.author or entry.author,
            language=page.language,
            # The feed's timestamp has a time and zone; a page's date often only the day.
            published_at=entry.published_at or page.published_at,
            fetched_at=datetime.now(UTC),
            text=text,
            html=html,
            content_hash=content_hash(text),
        )

    def page_failed(self, failure: Failure) -> None:
        self.context.counters.pages_fetched += 1
        self._page_error(failure.request.url, describe_failure(failure))  # type: ignore[attr-defined]

    def _page_error(self, url: str, reason: str) -> None:
        self.context.counters.pages_failed += 1
        self.context.error(f"page {url}: {reason}")
        logger.warning(
            "page failed: source=%s url=%s reason=%s", self.context.source.name, url, reason
        )
        self.context.progress()

    def closed(self, reason: str) -> None:
        self.context.close(reason)
        if self._owns_db:
            self.context.db.dispose()


def _page_canonical(url: str | None) -> str | None:
    """The page's rel=canonical / og:url, unless it is unusable as an article's address.

    Sites that point every article's canonical at their home page exist; trusting that
    would merge all their stories into one.
    """
    if not url:
        return None
    try:
        canonical = canonical_url(url)
    except BadURL:
        return None
    return None if urlsplit(canonical).path in ("", "/") else canonical


def _html_text(html: str) -> str:
    from lxml import html as lxml_html

    if not html.strip():
        return ""
    root = lxml_html.fragment_fromstring(html, create_parent="div")
    blocks = [" ".join(p.text_content().split()) for p in root.iter("p", "li", "h2", "h3")]
    text = "\n".join(b for b in blocks if b)
    return text or " ".join(root.text_content().split())
