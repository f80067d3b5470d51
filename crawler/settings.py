"""Scrapy settings for polite, bounded crawling inside a long-lived process.

``newsrelay`` and ``scrapy crawl source`` both start from this module; the ``[fetch]`` table of
the config file then overrides what it names (:func:`fetch_settings`). Scrapy reads only the
upper-case names of a settings module, so the two functions below are invisible to it.
"""

from __future__ import annotations

import sys
import typing
from typing import Any

from scrapy.settings import Settings
from scrapy.settings import default_settings as _scrapy

from crawler.fetch_options import proxy_host

if typing.TYPE_CHECKING:  # (an upper-case name here would become a Scrapy setting)
    from crawler.config import Config

BOT_NAME = "newsrelay"
SPIDER_MODULES = ["crawler.spiders"]
NEWSPIDER_MODULE = "crawler.spiders"

TWISTED_REACTOR = "twisted.internet.asyncioreactor.AsyncioSelectorReactor"

USER_AGENT = "newsrelay/0.1 (+https://github.com/newsrelay/newsrelay)"
ROBOTSTXT_OBEY = True

CONCURRENT_REQUESTS = 32
CONCURRENT_REQUESTS_PER_DOMAIN = 4
DOWNLOAD_DELAY = 0
DOWNLOAD_TIMEOUT = 30
DOWNLOAD_MAXSIZE = 10 * 1024 * 1024
DOWNLOAD_WARNSIZE = 0
RETRY_ENABLED = True
RETRY_TIMES = 2
# The spider logs each failed request once, with its reason; Scrapy's "Gave up retrying"
# line would say it twice.
RETRY_GIVE_UP_LOG_LEVEL = "DEBUG"
REDIRECT_MAX_TIMES = 5
COOKIES_ENABLED = False
DNS_TIMEOUT = 20
# Checks every address a connection is made to (crawler/network.py). NetworkGuardMiddleware
# installs it where Scrapy does not (AsyncCrawlerRunner installs no resolver).
TWISTED_DNS_RESOLVER = "crawler.network.GuardedResolver"
# Only http(s): a feed or sitemap must not make the crawler read file:// paths of this host,
# data: URLs, FTP or S3.
# http(s) through Scrapy's HTTP/1.1 handler, but a request through a source's socks5:// or
# https:// proxy through its httpx handler (crawler/upstream/proxy_handler.py).
DOWNLOAD_HANDLERS = {
    "file": None,
    "data": None,
    "ftp": None,
    "s3": None,
    "http": "crawler.upstream.proxy_handler.ProxySchemesDownloadHandler",
    "https": "crawler.upstream.proxy_handler.ProxySchemesDownloadHandler",
}

# Items are written to the database one at a time; a larger value only queues work, and
# Scrapy starts that many asyncio tasks per response to drain each callback's output.
CONCURRENT_ITEMS = 1

# A daemon must not open control ports: Scrapy 2.19's RemoteControl runs code sent to a
# localhost HTTP server, and the telnet console is a shell (PITFALLS.md).
TELNETCONSOLE_ENABLED = False
REMOTE_CONTROL_ENABLED = False
# Never MEMUSAGE_LIMIT_MB in a daemon: it checks the process's peak, so once crossed every
# later crawl would close at once.
MEMUSAGE_ENABLED = False

# Components newsrelay does not use. They are left out of Scrapy's base lists rather than
# switched off with None: Scrapy imports every component a list names, None or not, and
# RemoteControl's import alone pulls in aiohttp (~0.2 s of CPU on every crawl, an unchanged
# re-poll included; the cookies middleware pulls in tldextract). Left out: the control
# ports (above), feed exports (items go to the database), LogStats, SpiderState,
# MemoryUsage, Scrapy's proxy middleware (crawler.middlewares has one without the
# environment's proxies), HTTP auth, per-request download stats, cookies (COOKIES_ENABLED is
# off, so it would raise NotConfigured anyway), depth limits, Scrapy's retry and
# meta-refresh middlewares, which crawler.middlewares replaces, and two spider middlewares
# each request of a feed passed through: URL length (canonical_url refuses a link over
# 2,048 characters before any request is made) and meta-copy warnings (an aid for spider
# authors). The Referer middleware stays: without it, Scrapy's redirect middlewares log a
# warning at the start of every crawl.
_UNUSED = {
    "scrapy.extensions.telnet.TelnetConsole",
    "scrapy.extensions.remote_control.RemoteControl",
    "scrapy.extensions.feedexport.FeedExporter",
    "scrapy.extensions.logstats.LogStats",
    "scrapy.extensions.spiderstate.SpiderState",
    "scrapy.extensions.memusage.MemoryUsage",
    "scrapy.downloadermiddlewares.httpauth.HttpAuthMiddleware",
    "scrapy.downloadermiddlewares.httpproxy.HttpProxyMiddleware",
    "scrapy.downloadermiddlewares.stats.DownloaderStats",
    "scrapy.downloadermiddlewares.cookies.CookiesMiddleware",
    "scrapy.downloadermiddlewares.retry.RetryMiddleware",
    "scrapy.downloadermiddlewares.redirect.MetaRefreshMiddleware",
    "scrapy.spidermiddlewares.depth.DepthMiddleware",
    "scrapy.spidermiddlewares.urllength.UrlLengthMiddleware",
    "scrapy.spidermiddlewares.metacopy.MetaCopyDetectionMiddleware",
    "scrapy.downloadermiddlewares.robotstxt.RobotsTxtMiddleware",  # crawler.robots instead
}
EXTENSIONS_BASE = {k: v for k, v in _scrapy.EXTENSIONS_BASE.items() if k not in _UNUSED}
DOWNLOADER_MIDDLEWARES_BASE = {
    k: v for k, v in _scrapy.DOWNLOADER_MIDDLEWARES_BASE.items() if k not in _UNUSED
}
SPIDER_MIDDLEWARES_BASE = {
    k: v for k, v in _scrapy.SPIDER_MIDDLEWARES_BASE.items() if k not in _UNUSED
}
EXTENSIONS = {
    "crawler.logfilters.OneLineLogs": 0,  # one log line per failure, no Scrapy tracebacks
}
DOWNLOADER_MIDDLEWARES = {
    # A source's own User-Agent, headers, cookies and proxy on each of its requests; before
    # the robots.txt middleware, which matches the rules against the request's User-Agent.
    "crawler.middlewares.SourceFetchOptionsMiddleware": 90,
    # Scrapy's robots.txt middleware, with each host's robots.txt shared by every crawl.
    "crawler.robots.SharedRobotsTxtMiddleware": 100,
    # After the retries (550), so that a refused address is not retried; robots.txt
    # requests pass through it too, so a refused host is not even asked for its robots.txt.
    "crawler.middlewares.NetworkGuardMiddleware": 560,
    # Scrapy's retries, spaced out with exponential backoff and Retry-After.
    "crawler.middlewares.BackoffRetryMiddleware": 550,
    "crawler.middlewares.HttpOnlyMetaRefreshMiddleware": 580,
    # Scrapy's proxy middleware (request.meta["proxy"], Proxy-Authorization from the URL's
    # credentials), for the sources' proxies only: not the http_proxy environment variables.
    "crawler.middlewares.ConfiguredProxyMiddleware": 750,
}
# RFC 7617's charset for Basic credentials (Scrapy's default, latin-1, cannot encode every
# password).
HTTPPROXY_AUTH_ENCODING = "utf-8"
NEWSRELAY_RETRY_BACKOFF_BASE = 1.0  # seconds; attempt n waits up to base * 2**n (full jitter)
NEWSRELAY_RETRY_MAX_WAIT = 60.0  # a longer Retry-After is not waited for within a crawl
NEWSRELAY_ROBOTS_TTL = 3600.0  # seconds a host's robots.txt is kept for every crawl
SPIDER_MIDDLEWARES = {
    # Next to the spider: an exception from a callback is a recorded failure of that page.
    "crawler.middlewares.CallbackFailureMiddleware": 950,
}
ITEM_PIPELINES = {
    "crawler.pipelines.StoragePipeline": 300,
}

LOG_LEVEL = "WARNING"
# Set by scrapy_settings(); a plain `scrapy crawl` loads the newsrelay config itself.
NEWSRELAY_CONFIGURED = False
NEWSRELAY_CONFIG = None
NEWSRELAY_ALLOW_PRIVATE_NETWORKS = False
NEWSRELAY_PROXY_HOSTS: list[str] = []  # hosts of the sources' proxies (fetch_settings)
NEWSRELAY_NEAR_THRESHOLD = 0.7  # None turns near-duplicate detection off

# Scrapy 2.19's own downloader ignores CONCURRENT_REQUESTS_PER_DOMAIN under asyncio.
DOWNLOADER = "crawler.upstream.downloader.PerHostLimitedDownloader"


def fetch_settings(config: Config) -> dict[str, Any]:
    """Scrapy settings that the config file's ``[fetch]`` table controls."""
    fetch = config.fetch
    return {
        "USER_AGENT": fetch.user_agent,
        "ROBOTSTXT_OBEY": fetch.obey_robots,
        "DOWNLOAD_TIMEOUT": fetch.timeout,
        "DNS_TIMEOUT": fetch.dns_timeout,
        "DOWNLOAD_MAXSIZE": fetch.max_page_bytes,
        "CONCURRENT_REQUESTS_PER_DOMAIN": fetch.concurrency_per_host,
        "RETRY_TIMES": fetch.retries,
        "AUTOTHROTTLE_ENABLED": fetch.autothrottle,
        "NEWSRELAY_ALLOW_PRIVATE_NETWORKS": fetch.allow_private_networks,
        # The sources' proxies: the private-network guard lets connections to them through.
        "NEWSRELAY_PROXY_HOSTS": sorted({proxy_host(s.proxy) for s in config.sources if s.proxy}),
        "NEWSRELAY_NEAR_THRESHOLD": (
            config.dedup.near_threshold if config.dedup.near_duplicates else None
        ),
    }


def scrapy_settings(config: Config, overrides: dict[str, Any] | None = None) -> Settings:
    """This module's settings with the config's ``[fetch]`` table applied."""
    settings = Settings()
    settings.setmodule(sys.modules[__name__], priority="project")
    settings.setdict(fetch_settings(config), priority="cmdline")
    settings.setdict({"NEWSRELAY_CONFIGURED": True, **(overrides or {})}, priority="cmdline")
    return settings
