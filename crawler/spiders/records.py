"""An extracted article page, with its feed entry, as the record the storage pipeline saves."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Protocol

from scrapy.http import Response

from crawler.entries import Candidate, page_canonical
from crawler.extracted import Page, image_fields
from crawler.feed_parser import FeedEntry
from crawler.source_run import SourceRun
from storage.records import ArticleRecord, FetchedPage


class ItemOwner(Protocol):
    """What the storage pipeline needs of the crawl an article comes from
    (:class:`crawler.spiders.crawl.SourceCrawl`)."""

    run: SourceRun
    items_pending: int

    def stop(self, reason: str) -> None: ...

    def settled(self) -> None: ...


@dataclass(frozen=True, slots=True)
class RunItem:
    """What a crawl hands to the storage pipeline: an article, and the crawl that found it
    (several crawls share the pipeline of the process's one Scrapy crawler)."""

    crawl: ItemOwner
    record: ArticleRecord


def article_record(
    run: SourceRun,
    candidate: Candidate,
    page: Page,
    feed_id: int | None,
    destinations: tuple[str, ...],
    raw: FetchedPage | None = None,
) -> ArticleRecord:
    """``page`` (extracted, with text) of ``candidate``, found in feed ``feed_id`` by ``run``;
    ``destinations``: where it is to be delivered if it is new; ``raw``: its page to keep."""
    entry, extracted = candidate.entry, page.extracted
    assert run.ids is not None and run.run_id is not None and page.keys is not None
    canonical = page_canonical(extracted.canonical_url)
    return ArticleRecord(
        source_id=run.ids.source_id,
        feed_id=feed_id,
        run_id=run.run_id,
        url=candidate.url,
        original_url=entry.link,
        page_canonical_url=canonical,
        guid=entry.guid,
        url_id=candidate.url_id or (run.source.url_id(canonical) if canonical else None),
        title=page.title or "",
        author=extracted.author or entry.author,
        language=page.language,
        language_source=page.language_source,
        # The feed's timestamp has a time and zone; a page's date often only the day.
        published_at=entry.published_at or extracted.published_at,
        fetched_at=datetime.now(UTC),
        text=page.text,
        html=page.html,
        **image_fields(extracted.image),
        content_hash=page.keys.content_hash,
        near=page.keys.near,
        destinations=destinations,
        # A page fetched again (a correction) was counted into the template the first time.
        paragraphs=() if candidate.revision_of else run.template.to_save(page.paragraphs),
        entry_updated_at=entry.updated_at,
        revision_of=candidate.revision_of,
        raw=raw,
    )


def fetched_page(response: Response, media: str | None, entry: FeedEntry) -> FetchedPage:
    """The page as fetched, to keep for ``newsrelay reextract``, with what its feed entry
    said that extraction uses (its title, language and image)."""
    return FetchedPage(
        response.url,
        media,
        response.body,
        datetime.now(UTC),
        entry.title,
        entry.language,
        entry.image,
    )
