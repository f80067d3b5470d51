"""The upstream names crawler/upstream/ relies on are still there and still behave as they did.

Each of these fails on an upgrade of Scrapy or trafilatura that breaks an adapter; the failure
says which module of crawler/upstream/ to check against the new version.
"""

from __future__ import annotations

import hashlib
import inspect

from lxml import etree
from scrapy.core.downloader import Downloader
from scrapy.core.scraper import Scraper

from crawler.upstream import trafilatura_parts as tp
from crawler.upstream.downloader import UPSTREAM_SOURCES
from crawler.upstream.scraper import UPSTREAM_SOURCES as SCRAPER_SOURCES


def test_the_downloader_methods_copied_are_unchanged_upstream() -> None:
    """crawler/upstream/downloader.py copies _process_queue and _wait_for_download, and writes
    slot.lastseen in the clock _slot_gc reads; a change to any of them upstream needs a look."""
    now = {
        name: hashlib.sha256(inspect.getsource(getattr(Downloader, name)).encode()).hexdigest()[:16]
        for name in UPSTREAM_SOURCES
    }
    assert now == UPSTREAM_SOURCES, "Scrapy's Downloader changed: re-check the copy"
    # The clock: both the copy and Scrapy's slot cleanup use time.monotonic.
    assert "monotonic()" in inspect.getsource(Downloader._slot_gc)
    from crawler.upstream import downloader

    assert "monotonic()" in inspect.getsource(downloader.PerHostLimitedDownloader._process_queue)


def test_the_scraper_still_ends_a_request_with_its_slots_finish_response() -> None:
    """crawler/upstream/scraper.py learns that a request is done when Scraper.enqueue_scrape
    calls the slot's finish_response, after the request's whole output was handled."""
    source = inspect.getsource(Scraper.enqueue_scrape)
    now = {"enqueue_scrape": hashlib.sha256(source.encode()).hexdigest()[:16]}
    assert now == SCRAPER_SOURCES, "Scrapy's Scraper changed: re-check crawler/upstream/scraper"
    assert "self.slot.finish_response(result, request)" in source


def test_trafilatura_parts_work_as_extraction_calls_them() -> None:
    page = (
        "<html><head><title>A headline here</title>"
        '<meta name="author" content="Sara Example"></head><body><article><h1>A headline here'
        "</h1><p>" + "Words of the article body go here. " * 20 + "</p></article></body></html>"
    )
    tree = tp.load_html(page)
    assert tree is not None
    metadata = tp.examine_meta(tree)
    assert isinstance(metadata, tp.Document)
    assert metadata.author == "Sara Example"
    assert tp.extract_title(tree) == "A headline here"
    metadata = tp.extract_meta_json(tree, metadata)
    assert tp.extract_url(tree, "http://a.example/x") in (None, "http://a.example/x")
    assert tp.extract_author(tree) in (None, "Sara Example")
    body = etree.fromstring("<body><p>One <hi>two</hi></p></body>")
    html = etree.tostring(tp.convert_to_html(body), encoding="unicode")
    assert "<p>" in html and "two" in html


def test_xmltotxt_still_drops_the_persian_half_space() -> None:
    """crawler.extract carries U+200C across xmltotxt as a placeholder because xmltotxt drops
    it; if trafilatura stops dropping it, the placeholder can go."""
    body = etree.fromstring("<body><p>می\u200cکند</p></body>")
    assert "\u200c" not in tp.xmltotxt(body, include_formatting=False)


def test_scrapys_httpx_handler_still_takes_the_proxy_credentials_from_the_header() -> None:
    """crawler/upstream/proxy_handler.py hands socks5:// and https:// proxied requests to
    Scrapy's private _httpx.HttpxDownloadHandler, which must still rebuild the proxy URL's
    credentials from Proxy-Authorization (set by ConfiguredProxyMiddleware) and keep that
    header from the site."""
    from scrapy import Request
    from scrapy.core.downloader.handlers._httpx import HAS_SOCKS, HttpxDownloadHandler

    from crawler.upstream.proxy_handler import _Httpx

    assert HAS_SOCKS, "socksio (httpx[socks]) is not installed"
    assert issubclass(_Httpx, HttpxDownloadHandler) and not _Httpx.experimental
    request = Request(
        "https://a.example/",
        meta={"proxy": "socks5://127.0.0.1:1080"},
        headers={"Proxy-Authorization": "Basic cmVsYXk6cHc="},  # relay:pw
    )
    handler = object.__new__(_Httpx)
    handler._proxy_auth_encoding = "utf-8"
    assert handler._extract_proxy_url_with_creds(request) == "socks5://relay:pw@127.0.0.1:1080"
    assert b"Proxy-Authorization" not in _Httpx._request_headers(request)


def test_trafilatura_still_weighs_its_body_through_the_name_body_choice_wraps() -> None:
    """crawler.body_choice replaces trafilatura.core.compare_extraction; that works only while
    trafilatura.core calls it by that module-level name, with these arguments."""
    from crawler.body_choice import _upstream_compare

    core = tp.trafilatura_core
    assert "compare_extraction(" in inspect.getsource(core._extract_and_compare)
    assert list(inspect.signature(_upstream_compare).parameters) == [
        "cleaned_tree",
        "raw_tree",
        "body",
        "text",
        "options",
    ]
