"""``newsrelay extract``: one page through the page pipeline, downloaded as a crawl would
download it (robots.txt, network guard, size and time limits) or read from a file."""

from __future__ import annotations

from pathlib import Path

from scrapy.crawler import AsyncCrawlerRunner

from crawler.config import Config, ExtractRules
from crawler.editorial import Editing
from crawler.entries import canonical_or_none
from crawler.extracted import Page
from crawler.processing import process_page
from crawler.reactor import run_in_reactor
from crawler.settings import scrapy_settings
from crawler.spiders.page import FetchedPage, PageSpider


class PageUnavailable(Exception):
    """The page could not be downloaded or read; the message says why, in one line."""


def extract_one(
    config: Config,
    target: str,
    *,
    page_url: str | None = None,
    rules: ExtractRules | None = None,
    editing: Editing | None = None,
    template: frozenset[int] | None = None,
) -> tuple[str, Page]:
    """The address of ``target`` (a URL, or a file that came from ``page_url``) and what the
    page pipeline makes of it with ``rules`` and ``editing`` (a source's rewrites, and the
    filter that would drop it: every rule judged on the page, its title included) and
    ``template`` (the source's boilerplate paragraphs). Blocking."""
    if target.startswith(("http://", "https://")):
        fetched = fetch_page(config, target)
        if fetched.error or fetched.status is None or fetched.status >= 400:
            reason = fetched.error or f"HTTP {fetched.status}"
            raise PageUnavailable(f"cannot fetch {target}: {reason}")
        body, content_type, url = fetched.body, fetched.content_type, fetched.url
    else:
        path = Path(target)
        try:
            body = path.read_bytes()
        except OSError as exc:
            raise PageUnavailable(f"cannot read {target}: {exc.strerror}") from None
        content_type, url = None, page_url or path.resolve().as_uri()
    entry_url = canonical_or_none(url) or url  # as a crawl judges an entry's link
    return url, process_page(
        body, content_type, url, None, False, rules, editing, entry_url, None, template
    )


def fetch_page(config: Config, url: str) -> FetchedPage:
    """Download one page the way a crawl would. Blocking: runs the reactor."""
    runner = AsyncCrawlerRunner(scrapy_settings(config))
    fetched: list[FetchedPage] = []

    async def main() -> FetchedPage:
        await runner.crawl(PageSpider, url=url, into=fetched)
        if not fetched:
            raise RuntimeError(f"{url}: nothing was downloaded")
        return fetched[0]

    return run_in_reactor(main(), on_first_signal=runner.stop)
