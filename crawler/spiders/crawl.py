"""One run of one source, from its start points (RSS/Atom feeds, news sitemaps, listing
pages) to its new article pages to ArticleRecords for the storage pipeline."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator, Sequence
from datetime import UTC, datetime
from typing import Any, Protocol

import scrapy
from scrapy.http import Response, TextResponse
from scrapy.settings import BaseSettings
from twisted.python.failure import Failure

from crawler.config import Config
from crawler.corrections import corrections
from crawler.editorial import editing_for
from crawler.entries import (
    Candidate,
    canonical_or_none,
    listing_links,
    select_entries,
    trust_guids,
)
from crawler.extracted import Page
from crawler.failures import CrawlStopping, describe_exception, describe_failure, is_transient
from crawler.feed_parser import FeedEntry, ParsedFeed
from crawler.fetch_options import FetchOptions
from crawler.polling import conditional_headers, next_poll_bound, validators
from crawler.processing import process_feed, process_page
from crawler.scope import source_domains
from crawler.services import Services
from crawler.sitemap_parser import parse_sitemap
from crawler.source_run import (
    CrawlOptions,
    FailureKind,
    ProgressCallback,
    SourceResult,
    SourceRun,
)
from crawler.spiders import content_type, is_html
from crawler.spiders.lead_images import ImageKeeper
from crawler.spiders.records import RunItem, article_record, fetched_page
from storage.records import FeedState

logger = logging.getLogger(__name__)

# A page whose own extracted body is shorter than this is "thin": an empty shell, a teaser, a
# consent wall. When most pages of a run are thin, the site's layout has probably changed.
THIN_PAGE_CHARS = 200
MAX_SITEMAP_DEPTH = 3  # robots.txt -> index -> index -> urlset


class CrawlHost(Protocol):
    """What runs a :class:`SourceCrawl`: told when it must stop, and when an article of it
    has been written (the crawl may have nothing else left to wait for)."""

    def stop_run(self, crawl: SourceCrawl, reason: str) -> None: ...

    def settle(self, crawl: SourceCrawl) -> None: ...


class SourceCrawl:
    """One run of one source: its start requests, the callbacks of every request it makes,
    and its end. Not a spider: the process's long-lived relay spider
    (:mod:`crawler.relay`) runs many at once, and ``scrapy crawl source`` runs one
    (:class:`crawler.spiders.source.SourceSpider`). Each request carries its crawl in
    ``meta["crawl"]``, which the middlewares and the storage pipeline read."""

    def __init__(
        self,
        source: str,
        config: Config,
        services: Services,
        settings: BaseSettings,
        options: CrawlOptions | None = None,
        on_progress: ProgressCallback | None = None,
    ) -> None:
        self.config = config
        self.services = services
        self.max_sitemap_bytes = settings.getint("DOWNLOAD_MAXSIZE") or 50 * 1024 * 1024
        self.run = SourceRun(
            config.source(source), services.storage, options or CrawlOptions(), on_progress
        )
        self.domains = source_domains(self.run.source)
        self.editing = editing_for(config.filters, self.run.source)
        self.run.rules_key = self.editing.key() if self.editing else ""
        # Read by crawler.middlewares.SourceFetchOptionsMiddleware for each request.
        self.fetch_options = FetchOptions.of(self.run.source, self.domains)
        self.images = ImageKeeper(config.images, self.run.source.name)
        self.keep_raw = config.storage.keep_raw_delta  # None: raw pages are not kept
        # What runs the crawl (a relay, or the spider of `scrapy crawl source`).
        self.host: CrawlHost | None = None
        self.items_pending = 0  # articles handed to the storage pipeline, not yet written
        self.stopping = asyncio.Event()  # set when the run is stopped: its retry waits end

    def stop(self, reason: str) -> None:
        """Stop this crawl (the storage pipeline asks when the database refuses a write)."""
        if self.host is not None:
            self.host.stop_run(self, reason)

    def settled(self) -> None:
        """An article of this crawl has left the storage pipeline's queue."""
        if self.host is not None:
            self.host.settle(self)

    # -- start points ---------------------------------------------------------------------
    async def start(self) -> AsyncIterator[scrapy.Request]:
        run, source = self.run, self.run.source
        try:
            await run.open()
            assert run.ids is not None
            states = await run.feed_states()
        except Exception as exc:  # the database, or a bug: this run cannot start
            reason, known = describe_exception(exc)
            run.fail(reason)
            logger.error(
                "crawl failed: source=%s reason=%s",
                source.name,
                reason,
                exc_info=None if known else exc,
            )
            return
        now = datetime.now(UTC)
        for url in source.feeds:
            feed_id = run.ids.feed_ids[url]
            state = states.get(feed_id, FeedState())
            if run.options.due_only and state.next_poll_after and state.next_poll_after > now:
                run.counters.feeds_not_due += 1
                logger.debug("feed not due: source=%s url=%s", source.name, url)
                continue
            headers = {} if run.options.refetch else conditional_headers(state)
            yield self._request(url, self.parse_feed, "feed", feed_id=feed_id, headers=headers)
        for url in source.sitemaps:
            yield self._request(url, self.parse_sitemap, "sitemap", depth=0)
        for index, listing in enumerate(source.listings):
            yield self._request(listing.url, self.parse_listing, "listing", listing=index, page=1)
        run.progress()

    def _request(
        self,
        url: str,
        callback: Any,
        kind: FailureKind,
        *,
        headers: dict[str, str] | None = None,
        dont_filter: bool = True,
        **cb_kwargs: Any,
    ) -> scrapy.Request:
        """A request whose failure (download or callback) is a ``kind`` failure of the run."""
        meta: dict[str, Any] = {"kind": kind, "feed_id": cb_kwargs.get("feed_id"), "crawl": self}
        if kind == "feed":
            meta["handle_httpstatus_list"] = [304]
        return scrapy.Request(
            url,
            callback=callback,
            errback=self.request_failed,
            headers=headers,
            cb_kwargs=cb_kwargs,
            meta=meta,
            # Each page is claimed once (_follow). Scrapy's duplicate filter would drop a
            # redirect back to an address already seen (a redirect loop) silently, with
            # neither callback nor errback: the entry would vanish unreported.
            dont_filter=dont_filter,
        )

    async def parse_feed(self, response: Response, feed_id: int) -> AsyncIterator[scrapy.Request]:
        run = self.run
        if response.status == 304:
            run.counters.feeds_not_modified += 1
            next_poll = next_poll_bound(response, None)
            await run.feed_polled(feed_id, status=304, next_poll_after=next_poll)
            run.progress()
            return
        await run.row()  # the feed changed: the run is seen running from now on
        parsed: ParsedFeed = await self.services.pool.run(
            process_feed, response.body, response.url, content_type(response)
        )
        if parsed.error:
            run.failed("feed", response.url, parsed.error, feed_id=feed_id, status=response.status)
            return
        run.counters.feeds_fetched += 1
        run.counters.entries_seen += len(parsed.entries)
        run.fetched_feeds.add(feed_id)
        await run.feed_polled(
            feed_id,
            status=response.status,
            validators=validators(response),
            next_poll_after=next_poll_bound(response, parsed.ttl_seconds),
        )
        for request in await self._follow(trust_guids(parsed.entries), response.url, feed_id):
            yield request
        run.progress()

    async def parse_sitemap(self, response: Response, depth: int) -> AsyncIterator[scrapy.Request]:
        run, source = self.run, self.run.source
        sitemap = parse_sitemap(response.body, response.url, self.max_sitemap_bytes)
        if sitemap.error:
            run.failed("sitemap", response.url, sitemap.error)
            return
        run.counters.feeds_fetched += 1
        cutoff = datetime.now(UTC) - source.max_age_delta
        fresh = [e for e in sitemap.entries if e.published_at is None or e.published_at >= cutoff]
        if sitemap.kind in ("sitemapindex", "robots"):
            if depth >= MAX_SITEMAP_DEPTH:
                run.failed("sitemap", response.url, "sitemaps nested too deep")
                return
            for entry in fresh:
                yield self._request(entry.loc, self.parse_sitemap, "sitemap", depth=depth + 1)
            return
        run.counters.entries_seen += len(fresh)
        entries = [e.feed_entry() for e in fresh]
        for request in await self._follow(entries, response.url, None):
            yield request
        run.progress()

    async def parse_listing(
        self, response: Response, listing: int, page: int
    ) -> AsyncIterator[scrapy.Request]:
        run = self.run
        rules = run.source.listings[listing]
        if not isinstance(response, TextResponse):  # an image, a PDF: no links to read
            media = content_type(response) or "?"
            run.failed("listing", response.url, f"not an HTML page ({media})")
            return
        run.counters.feeds_fetched += 1
        links = listing_links(response, rules.links)
        if not links and page == 1:
            # Usually a redesign: the selector no longer matches. Say so rather than "ok".
            reason = f"links selector {rules.links!r} matched nothing"
            run.failed("listing", response.url, reason)
            return
        run.counters.entries_seen += len(links)
        requests = await self._follow([FeedEntry(link) for link in links], response.url, None)
        for request in requests:
            yield request
        # Stop early: a page that brings nothing new means the rest is older still. A link
        # that another start point of this crawl (the source's feed, say) took first is not
        # stored yet: it is new too, or which answer came first would decide.
        new = bool(requests) or any(canonical_or_none(link) in run.claimed for link in links)
        if not new or page >= rules.max_pages or not rules.next:
            return
        next_href = response.css(rules.next).xpath("(self::a/@href | .//a/@href)").get()
        if next_href:
            next_url = response.urljoin(next_href.strip())
            yield self._request(
                next_url,
                self.parse_listing,
                "listing",
                dont_filter=False,
                listing=listing,
                page=page + 1,
            )

    # -- entries -> article pages -----------------------------------------------------------
    async def _follow(
        self, entries: Sequence[FeedEntry], origin: str, feed_id: int | None
    ) -> list[scrapy.Request]:
        """Requests for the entries of ``origin`` that are not stored yet (by address, GUID or
        URL id) and that no other crawl of this process is fetching."""
        run = self.run
        assert run.ids is not None
        selection = select_entries(entries, self.domains, run.source.url_id, self.editing)
        for reason in selection.unusable:
            run.failed("entry", origin, reason)
        self.run.offsite.update(selection.offsite)
        known = await run.known([c.identity for c in selection.candidates])
        stored = [c for c in selection.candidates if c.url in known]
        revisits = await corrections(run, stored)  # stored, but their entries were updated
        run.counters.known_skipped += len(stored) - len(revisits)
        fresh = [c for c in selection.candidates if c.url not in known]
        await run.filtered({c.url: c.dropped_by for c in fresh if c.dropped_by})
        fresh = [c for c in fresh if not c.dropped_by] + revisits
        self.services.pool.expect(len(fresh))
        requests = []
        for candidate in fresh:
            if not run.claim(candidate.url):
                run.counters.known_skipped += 1
                continue
            requests.append(
                self._request(
                    candidate.url,
                    self.parse_article,
                    "page",
                    candidate=candidate,
                    feed_id=feed_id,
                )
            )
        if requests:  # their articles are stored under the run's id
            await run.row()
        return requests

    async def parse_article(
        self, response: Response, candidate: Candidate, feed_id: int | None
    ) -> AsyncIterator[RunItem | scrapy.Request]:
        run = self.run
        run.counters.pages_fetched += 1
        media = content_type(response)
        if media and not is_html(media):
            run.failed("page", response.url, f"not an HTML page ({media})", feed_id=feed_id)
            return
        page: Page = await self.services.pool.run(
            process_page,
            response.body,
            media,
            response.url,
            candidate.entry.content_html,
            self.config.dedup.near_duplicates,
            run.source.extract,
            self.editing,
            candidate.url,
            candidate.entry.title,
            await run.template.boilerplate(),
            candidate.entry.language,
            candidate.entry.lead_image,
        )
        run.counters.pages_extracted += 1
        if len(page.extracted.text) < THIN_PAGE_CHARS:
            run.counters.pages_thin += 1  # even if the feed's own text stands in for it
        if page.filtered:
            await run.filtered({candidate.url: page.filtered})
            return
        if page.keys is None:
            run.failed("page", response.url, "no article text found on the page", feed_id=feed_id)
            return
        destinations = self.config.destinations_for(run.source.name)
        raw = fetched_page(response, media, candidate.entry) if self.keep_raw else None
        record = article_record(run, candidate, page, feed_id, destinations, raw)
        yield self.images.follow(RunItem(self, record))

    # -- failures and the end ---------------------------------------------------------------
    def request_failed(self, failure: Failure) -> None:
        """The errback of every request: a download that failed (or an HTTP error status)."""
        if isinstance(failure.value, CrawlStopping):
            return  # not a failure: the crawl is closing, and its feeds will be read again
        request = failure.request  # type: ignore[attr-defined]
        kind: FailureKind = request.meta["kind"]
        response = getattr(failure.value, "response", None)
        if kind == "page":
            self.run.counters.pages_fetched += 1
        self.run.failed(
            kind,
            request.url,
            describe_failure(failure),
            feed_id=request.meta["feed_id"],
            retry_feed=kind == "page" and is_transient(failure),
            status=response.status if response is not None else None,
            next_poll=next_poll_bound(response, None),
        )

    def callback_failed(self, response: Response, exception: Exception) -> None:
        """A callback raised (see ``crawler.middlewares.CallbackFailureMiddleware``): that feed
        or page fails with the reason, and its feed is read in full on the next poll."""
        kind: FailureKind = response.meta.get("kind", "page")
        reason, known = describe_exception(exception)
        if not known:  # a bug: its traceback belongs in the log, once
            logger.error(
                "unexpected error: source=%s url=%s",
                self.run.source.name,
                response.url,
                exc_info=exception,
            )
        self.run.failed(
            kind,
            response.url,
            reason,
            feed_id=response.meta.get("feed_id"),
            retry_feed=True,
            internal=True,
            status=response.status,
        )

    async def close(self, reason: str) -> SourceResult:
        """The run's end, written."""
        return await self.run.close(reason)
