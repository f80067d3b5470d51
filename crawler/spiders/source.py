"""The source spider (``feeds``): a source's RSS/Atom feeds, news sitemaps and listing pages
-> its new article pages -> ArticleRecords. All three ways share one page pipeline and one
dedup, and a source may mix them.
"""

from __future__ import annotations

import logging
import re
from collections import Counter
from collections.abc import AsyncIterator, Iterator
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from typing import Any, Self
from urllib.parse import urlsplit

import scrapy
from scrapy.crawler import Crawler
from scrapy.http import Response, TextResponse
from scrapy.settings import BaseSettings
from twisted.python.failure import Failure

from crawler.config import Config, load_config
from crawler.downloader import CrawlStopping
from crawler.extracted import Page
from crawler.failures import describe_failure, is_transient
from crawler.feed_parser import FeedEntry, ParsedFeed
from crawler.middlewares import retry_after_seconds
from crawler.processing import process_feed, process_page
from crawler.scope import in_scope, source_domains
from crawler.sitemap_parser import parse_sitemap
from crawler.source_run import CrawlContext, CrawlOptions, ProgressCallback
from crawler.spiders import content_type
from crawler.urls import BadURL, canonical_url
from crawler.workers import Pool
from storage.articles import known_entries
from storage.db import Database, StorageError, open_database
from storage.records import ArticleRecord, EntryIdentity, FeedState
from storage.sources import ensure_source, feed_states, record_feed_fetch

logger = logging.getLogger(__name__)

_MAX_AGE = re.compile(r"(?:^|,)\s*(?:s-)?max-age\s*=\s*(\d+)", re.I)
# A feed cannot push its next poll further away than this, whatever it says.
MAX_POLL_DELAY = timedelta(hours=24)
# A page whose own extracted body is shorter than this is "thin": an empty shell, a teaser, a
# consent wall. When most pages of a run are thin, the site's layout has probably changed.
THIN_PAGE_CHARS = 200


class FeedSpider(scrapy.Spider):
    """Crawl one configured source: ``scrapy crawl feeds -a source=NAME``."""

    MAX_SITEMAP_DEPTH = 3  # robots.txt -> index -> index -> urlset

    name = "feeds"

    def __init__(
        self,
        source: str | None = None,
        config: Config | None = None,
        db: Database | None = None,
        pool: Pool | None = None,
        options: CrawlOptions | None = None,
        on_progress: ProgressCallback | None = None,
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        if not source:
            raise ValueError("the feeds spider needs a source: -a source=NAME")
        if config is None:
            raise ValueError("the feeds spider needs a config")
        self._owned: list[Database | Pool] = []
        if db is None:
            db = open_database(config.database.url)
            self._owned.append(db)
        if pool is None:  # a plain `scrapy crawl feeds`
            pool = Pool(config.fetch.extract_processes)
            pool.start_now()
            self._owned.append(pool)
        self.config = config
        self.pool = pool
        self.context = CrawlContext(
            config.source(source), db, options or CrawlOptions(), on_progress
        )
        self.domains = source_domains(self.context.source)
        self.offsite: Counter[str] = Counter()  # hosts of links not followed: out of scope

    @classmethod
    def update_settings(cls, settings: BaseSettings) -> None:
        super().update_settings(settings)
        if not settings.getbool("NEWSRELAY_CONFIGURED"):
            # A plain `scrapy crawl feeds`: apply the config file's [fetch] table here.
            from crawler.crawls import fetch_settings

            config = load_config(settings.get("NEWSRELAY_CONFIG"))
            settings.setdict(fetch_settings(config), priority="spider")

    @classmethod
    def from_crawler(cls, crawler: Crawler, *args: Any, **kwargs: Any) -> Self:
        if "config" not in kwargs:
            kwargs["config"] = load_config(crawler.settings.get("NEWSRELAY_CONFIG"))
        return super().from_crawler(crawler, *args, **kwargs)

    # -- feeds ----------------------------------------------------------------------------
    async def start(self) -> AsyncIterator[scrapy.Request]:
        context, source = self.context, self.context.source
        try:
            context.open(ensure_source(context.db, source.name, source.feeds))
            assert context.ids is not None
            states = feed_states(context.db, context.ids.feed_ids.values())
        except StorageError as exc:
            context.fail(f"storage: {exc}")
            logger.error("crawl failed: source=%s reason=%s", source.name, exc)
            return
        now = datetime.now(UTC)
        for url in source.feeds:
            feed_id = context.ids.feed_ids[url]
            state = states.get(feed_id, FeedState())
            if context.options.due_only and state.next_poll_after and state.next_poll_after > now:
                context.counters.feeds_not_due += 1
                logger.debug("feed not due: source=%s url=%s", source.name, url)
                continue
            headers = {} if context.options.refetch else _conditional_headers(state)
            yield scrapy.Request(
                url,
                callback=self.parse_feed,
                errback=self.feed_failed,
                headers=headers,
                cb_kwargs={"feed_id": feed_id},
                meta={"handle_httpstatus_list": [304]},
                dont_filter=True,
            )
        for url in source.sitemaps:
            yield self._sitemap_request(url, depth=0)
        for index, listing in enumerate(source.listings):
            yield scrapy.Request(
                listing.url,
                callback=self.parse_listing,
                errback=self.start_point_failed,
                cb_kwargs={"listing": index, "page": 1},
                dont_filter=True,
            )
        context.progress()

    async def parse_feed(self, response: Response, feed_id: int) -> AsyncIterator[scrapy.Request]:
        context = self.context
        next_poll = _next_poll_bound(response, None)
        if response.status == 304:
            context.counters.feeds_not_modified += 1
            record_feed_fetch(context.db, feed_id, status=304, next_poll_after=next_poll)
            context.progress()
            return
        parsed: ParsedFeed = await self.pool.run(
            process_feed, response.body, response.url, content_type(response)
        )
        if parsed.error:
            self._feed_error(response.url, feed_id, response.status, parsed.error)
            return
        context.counters.feeds_fetched += 1
        context.counters.entries_seen += len(parsed.entries)
        context.fetched_feeds.add(feed_id)
        record_feed_fetch(
            context.db,
            feed_id,
            status=response.status,
            validators=_validators(response),
            next_poll_after=_next_poll_bound(response, parsed.ttl_seconds),
        )
        entries = parsed.entries
        if not _guids_identify(entries):
            # A feed giving one GUID to different links: its GUIDs identify nothing.
            entries = [replace(entry, guid=None) for entry in entries]
        for request in self._new_entries(entries, response.url, feed_id):
            yield request
        context.progress()

    def _new_entries(
        self, entries: list[FeedEntry], origin: str, feed_id: int | None
    ) -> list[scrapy.Request]:
        """Requests for the entries not stored yet (by address, GUID or URL id)."""
        context, source = self.context, self.context.source
        assert context.ids is not None
        source_id = context.ids.source_id
        wanted: dict[str, tuple[FeedEntry, str | None]] = {}
        for entry in entries:
            try:
                url = canonical_url(entry.link)
            except BadURL as exc:
                context.counters.pages_failed += 1
                context.error(f"{origin}: {exc}")
                logger.warning("skipped entry: source=%s reason=%s", source.name, exc)
                continue
            host = urlsplit(url).hostname or ""
            if not in_scope(host, self.domains):
                self.offsite[host] += 1
                continue
            wanted.setdefault(url, (entry, source.url_id(url)))
        if context.options.refetch:
            known: set[str] = set()
        else:
            identities = [
                EntryIdentity(url, entry.guid, url_id) for url, (entry, url_id) in wanted.items()
            ]
            known = known_entries(context.db, source_id, identities)
        requests = []
        self.pool.expect(len(wanted) - len(known))
        for url, (entry, url_id) in wanted.items():
            if url in known or not context.claim(url):
                context.counters.known_skipped += 1
                continue
            requests.append(
                scrapy.Request(
                    url,
                    callback=self.parse_article,
                    errback=self.page_failed,
                    cb_kwargs={"url": url, "entry": entry, "feed_id": feed_id, "url_id": url_id},
                    # Each entry is claimed once above. Scrapy's duplicate filter would drop a
                    # redirect back to an address already seen (a redirect loop) silently,
                    # with neither callback nor errback: the entry would vanish unreported.
                    dont_filter=True,
                )
            )
        return requests

    def feed_failed(self, failure: Failure) -> None:
        if isinstance(failure.value, CrawlStopping):
            return  # not a failure: the crawl is closing, and its feeds will be read again
        request = failure.request  # type: ignore[attr-defined]
        response = getattr(failure.value, "response", None)
        status = response.status if response is not None else None
        next_poll = _next_poll_bound(response, None) if response is not None else None
        self._feed_error(
            request.url,
            request.cb_kwargs["feed_id"],
            status,
            describe_failure(failure),
            next_poll,
        )

    def _feed_error(
        self,
        url: str,
        feed_id: int,
        status: int | None,
        reason: str,
        next_poll: datetime | None = None,
    ) -> None:
        self.context.counters.feeds_failed += 1
        self.context.error(f"feed {url}: {reason}")
        record_feed_fetch(
            self.context.db, feed_id, status=status, error=reason, next_poll_after=next_poll
        )
        logger.warning(
            "feed failed: source=%s url=%s reason=%s", self.context.source.name, url, reason
        )
        self.context.progress()

    # -- sitemaps and listing pages -------------------------------------------------------
    def _sitemap_request(self, url: str, depth: int) -> scrapy.Request:
        return scrapy.Request(
            url,
            callback=self.parse_sitemap,
            errback=self.start_point_failed,
            cb_kwargs={"depth": depth},
            dont_filter=True,
        )

    def parse_sitemap(self, response: Response, depth: int) -> Iterator[scrapy.Request]:
        context, source = self.context, self.context.source
        limit = self.crawler.settings.getint("DOWNLOAD_MAXSIZE") or 50 * 1024 * 1024
        sitemap = parse_sitemap(response.body, response.url, limit)
        if sitemap.error:
            self._start_point_error(response.url, sitemap.error)
            return
        context.counters.feeds_fetched += 1
        cutoff = datetime.now(UTC) - source.max_age_delta
        fresh = [e for e in sitemap.entries if e.published_at is None or e.published_at >= cutoff]
        if sitemap.kind in ("sitemapindex", "robots"):
            if depth >= self.MAX_SITEMAP_DEPTH:
                self._start_point_error(response.url, "sitemaps nested too deep")
                return
            for entry in fresh:
                yield self._sitemap_request(entry.loc, depth + 1)
            return
        context.counters.entries_seen += len(fresh)
        entries = [FeedEntry(e.loc, None, e.title, e.published_at) for e in fresh]
        yield from self._new_entries(entries, response.url, None)
        context.progress()

    def parse_listing(
        self, response: Response, listing: int, page: int
    ) -> Iterator[scrapy.Request]:
        context = self.context
        rules = context.source.listings[listing]
        if not isinstance(response, TextResponse):  # an image, a PDF: no links to read
            media = content_type(response) or "?"
            self._start_point_error(response.url, f"not an HTML page ({media})")
            return
        context.counters.feeds_fetched += 1
        links = []
        here = _canonical(response.url)
        for element in response.css(rules.links):
            hrefs = element.xpath("self::a/@href").getall() or element.css("a::attr(href)").getall()
            for href in hrefs:
                link = response.urljoin(href.strip())
                # Share buttons (javascript:, mailto:) and anchors into this page (#comments)
                # are no article links: not errors, and the listing is not an article.
                if urlsplit(link).scheme in ("http", "https") and _canonical(link) != here:
                    links.append(link)
        if not links and page == 1:
            # Usually a redesign: the selector no longer matches. Say so rather than "ok".
            self._start_point_error(response.url, f"links selector {rules.links!r} matched nothing")
            return
        context.counters.entries_seen += len(links)
        requests = self._new_entries([FeedEntry(link) for link in links], response.url, None)
        yield from requests
        # Stop early: a page that brings nothing new means the rest is older still. A link
        # that another start point of this crawl (the source's feed, say) took first is not
        # stored yet: it is new too, or which answer came first would decide.
        new = bool(requests) or any(_canonical(link) in context.claimed for link in links)
        if not new or page >= rules.max_pages or not rules.next:
            return
        next_href = response.css(rules.next).xpath("(self::a/@href | .//a/@href)").get()
        if next_href:
            yield scrapy.Request(
                response.urljoin(next_href.strip()),
                callback=self.parse_listing,
                errback=self.start_point_failed,
                cb_kwargs={"listing": listing, "page": page + 1},
            )

    def start_point_failed(self, failure: Failure) -> None:
        if isinstance(failure.value, CrawlStopping):
            return  # not a failure: the crawl is closing, and its feeds will be read again
        request = failure.request  # type: ignore[attr-defined]
        self._start_point_error(request.url, describe_failure(failure))

    def _start_point_error(self, url: str, reason: str) -> None:
        """A sitemap or listing page failed: like a feed, it fails the source's run."""
        self.context.counters.feeds_failed += 1
        self.context.error(f"{url}: {reason}")
        logger.warning(
            "start page failed: source=%s url=%s reason=%s", self.context.source.name, url, reason
        )
        self.context.progress()

    # -- article pages --------------------------------------------------------------------
    async def parse_article(
        self,
        response: Response,
        url: str,
        entry: FeedEntry,
        feed_id: int | None,
        url_id: str | None,
    ) -> AsyncIterator[ArticleRecord]:
        context = self.context
        context.counters.pages_fetched += 1
        media = content_type(response)
        if media and not _is_html(media):
            self._page_error(response.url, f"not an HTML page ({media})", feed_id)
            return
        page: Page = await self.pool.run(
            process_page,
            response.body,
            media,
            response.url,
            entry.content_html,
            self.config.dedup.near_duplicates,
            context.source.extract,
        )
        context.counters.pages_extracted += 1
        if len(page.extracted.text) < THIN_PAGE_CHARS:
            context.counters.pages_thin += 1  # even if the feed's own text stands in for it
        if page.keys is None:
            self._page_error(response.url, "no article text found on the page", feed_id)
            return
        assert context.ids is not None and context.run_id is not None
        extracted = page.extracted
        page_canonical = _page_canonical(extracted.canonical_url)
        yield ArticleRecord(
            source_id=context.ids.source_id,
            feed_id=feed_id,
            run_id=context.run_id,
            url=url,
            original_url=entry.link,
            page_canonical_url=page_canonical,
            guid=entry.guid,
            url_id=url_id or (context.source.url_id(page_canonical) if page_canonical else None),
            title=extracted.title or entry.title or "",
            author=extracted.author or entry.author,
            language=extracted.language,
            # The feed's timestamp has a time and zone; a page's date often only the day.
            published_at=entry.published_at or extracted.published_at,
            fetched_at=datetime.now(UTC),
            text=page.text,
            html=page.html,
            content_hash=page.keys.content_hash,
            near=page.keys.near,
        )

    def page_failed(self, failure: Failure) -> None:
        if isinstance(failure.value, CrawlStopping):
            return  # not a failure: the crawl is closing, and its feeds will be read again
        request = failure.request  # type: ignore[attr-defined]
        self.context.counters.pages_fetched += 1
        self._page_error(
            request.url, describe_failure(failure), request.cb_kwargs["feed_id"], failure
        )

    def _page_error(
        self, url: str, reason: str, feed_id: int | None, failure: Failure | None = None
    ) -> None:
        context = self.context
        context.counters.pages_failed += 1
        context.error(f"page {url}: {reason}")
        if feed_id is not None and failure is not None and is_transient(failure):
            # The feed must be read in full next time, or this page is never retried.
            context.revisit_feeds.add(feed_id)
        logger.warning("page failed: source=%s url=%s reason=%s", context.source.name, url, reason)
        context.progress()

    def closed(self, reason: str) -> None:
        if self.offsite:
            self._log_offsite()
        self.context.close(reason)
        for owned in self._owned:
            if isinstance(owned, Pool):
                owned.shutdown()
            else:
                owned.dispose()

    def _log_offsite(self) -> None:
        """Once per crawl: how many links pointed outside the source's domains, and where."""
        hosts = ", ".join(host for host, _ in self.offsite.most_common(5))
        if len(self.offsite) > 5:
            hosts += f" (+{len(self.offsite) - 5} more)"
        count = sum(self.offsite.values())
        # INFO: a feed that links elsewhere does so on every poll; a daemon polling it each
        # minute would otherwise repeat a warning nobody has to act on (163 in 806 runs).
        logger.info(
            "links to other sites not followed: source=%s links=%d hosts=%s "
            "(add a domain to the source's allowed_domains to follow its links)",
            self.context.source.name,
            count,
            hosts,
            extra={"source": self.context.source.name, "offsite_links": count},
        )


def _conditional_headers(state: FeedState) -> dict[str, str]:
    headers = {}
    if state.etag:
        headers["If-None-Match"] = state.etag
    if state.last_modified:
        headers["If-Modified-Since"] = state.last_modified
    return headers


def _validators(response: Response) -> FeedState:
    def header(name: str) -> str | None:
        value = response.headers.get(name)
        return value.decode("latin-1").strip() or None if value else None

    return FeedState(header("ETag"), header("Last-Modified"))


def _next_poll_bound(response: Response | None, ttl_seconds: int | None) -> datetime | None:
    """The earliest time the server wants to be polled again, if it said (TTL, max-age,
    Retry-After); capped so that a feed cannot silence itself for more than a day."""
    if response is None:
        return None
    seconds = [float(ttl_seconds)] if ttl_seconds else []
    cache_control = (response.headers.get("Cache-Control") or b"").decode("latin-1")
    if match := _MAX_AGE.search(cache_control):
        seconds.append(float(match.group(1)))
    if response.status in (429, 503):
        retry_after = retry_after_seconds(response.headers.get("Retry-After"))
        if retry_after is not None:
            seconds.append(retry_after)
    if not seconds or max(seconds) <= 0:
        return None
    delay = min(timedelta(seconds=max(seconds)), MAX_POLL_DELAY)
    return datetime.now(UTC) + delay


def _guids_identify(entries: list[FeedEntry]) -> bool:
    """False when one GUID is given to entries with different links (a broken feed)."""
    links_by_guid: dict[str, str] = {}
    for entry in entries:
        if entry.guid and links_by_guid.setdefault(entry.guid, entry.link) != entry.link:
            return False
    return True


def _is_html(value: str) -> bool:
    media = value.split(";", 1)[0].strip().lower()
    return media in ("text/html", "application/xhtml+xml", "text/plain", "") or media.endswith(
        "+xml"
    )


def _page_canonical(url: str | None) -> str | None:
    """The page's rel=canonical / og:url, unless it is unusable as an article's address.

    Sites that point every article's canonical at their home page exist; trusting that
    would merge all their stories into one.
    """
    canonical = _canonical(url) if url else None
    return None if canonical is None or urlsplit(canonical).path in ("", "/") else canonical


def _canonical(url: str) -> str | None:
    try:
        return canonical_url(url)
    except BadURL:
        return None
