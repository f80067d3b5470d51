"""The newsrelay config file (TOML), validated once into typed, immutable objects.

It lives in ``crawler/`` rather than ``scheduler/`` because ``scrapy crawl feeds -a source=NAME``
must load it without importing the scheduler: imports point scheduler -> crawler -> storage.
Every problem becomes one :class:`ConfigError` whose message names the file and the key.
"""

from __future__ import annotations

import os
import re
import tomllib
from datetime import timedelta
from pathlib import Path
from typing import Annotated, Any

from pydantic import AfterValidator, Field, ValidationError, field_validator, model_validator

from crawler.config_types import (
    CssSelector,
    HostName,
    HttpUrl,
    Interval,
    MissingVariable,
    Strict,
    Window,
    expand_env,
)
from crawler.dates import parse_interval
from crawler.destinations import DestinationConfig
from crawler.editorial import FilterRule, Filters, LanguageTag, Regex, Rewrite
from crawler.fetch_options import Cookies, Headers, ProxyUrl, UserAgent
from crawler.http_config import HttpConfig
from crawler.images_config import ImagesConfig
from crawler.storage_config import StorageConfig

DEFAULT_CONFIG_PATH = Path("newsrelay.toml")
CONFIG_ENV = "NEWSRELAY_CONFIG"
DATABASE_URL_ENV = "NEWSRELAY_DATABASE_URL"  # overrides [database] url (containers, secrets)
BROKER_URL_ENV = "NEWSRELAY_BROKER_URL"  # overrides [cluster] broker


class ConfigError(Exception):
    """The config cannot be used; the message is one line meant for the user."""


class DatabaseConfig(Strict):
    url: str = "sqlite:///data/newsrelay.db"


class FetchConfig(Strict):
    # Off by default so a feed cannot point the crawler at the host's own services.
    allow_private_networks: bool = False
    user_agent: str = "newsrelay/0.1 (+https://github.com/newsrelay/newsrelay)"
    obey_robots: bool = True
    timeout: Annotated[float, Field(gt=0, le=600)] = 30.0
    dns_timeout: Annotated[float, Field(gt=0, le=600)] = 20.0  # seconds a name lookup may take
    max_page_bytes: Annotated[int, Field(gt=0)] = 10 * 1024 * 1024
    concurrency_per_host: Annotated[int, Field(ge=1, le=64)] = 4
    retries: Annotated[int, Field(ge=0, le=10)] = 2
    # Sources crawled at the same time; each has its own per-host limit.
    parallel_sources: Annotated[int, Field(ge=1, le=256)] = 16
    # Processes extracting pages beside the crawler; unset = one per CPU, 0 = inline.
    extract_processes: Annotated[int, Field(ge=0, le=64)] | None = None
    # Seconds one page's (or feed's) extraction may take; past it, its worker is killed and
    # replaced, and the page fails.
    extract_timeout: Annotated[float, Field(ge=1, le=3600)] = 60.0
    autothrottle: bool = False  # Scrapy's AutoThrottle: adapt the request rate to latency


class ListingConfig(Strict):
    """A page listing article links, for outlets without a usable feed."""

    url: HttpUrl
    links: CssSelector  # article links (an <a>, or elements containing one)
    next: CssSelector | None = None  # the link to the next listing page
    max_pages: Annotated[int, Field(ge=1, le=1000)] = 20


class ExtractRules(Strict):
    """Per-source CSS selectors for sites where generic extraction picks the wrong block."""

    title: CssSelector | None = None
    body: CssSelector | None = None
    date: CssSelector | None = None
    author: CssSelector | None = None
    remove: list[CssSelector] = Field(default_factory=list)  # dropped before extraction


class SourceConfig(Strict):
    name: Annotated[str, Field(pattern=r"^[a-z0-9][a-z0-9_-]{0,63}$")]
    feeds: list[HttpUrl] = Field(default_factory=list)
    # News sitemaps or sitemap indexes (gzipped too), or a robots.txt naming them.
    sitemaps: list[HttpUrl] = Field(default_factory=list)
    listings: list[ListingConfig] = Field(default_factory=list)
    # Sitemap entries older than this (by lastmod or news:publication_date) are not followed.
    max_age: str = "2d"
    # An entry whose feed updated time or sitemap lastmod moves within this long after its
    # article was first stored is fetched again (a correction); "0": never.
    update_window: Window = "2d"
    extract: ExtractRules | None = None
    interval: str | None = None
    cron: str | None = None
    # A regex whose first group is the article's id in its URL: two URLs with the same id are
    # one article (PressTV: the slug after the id changes).
    url_id_pattern: str | None = None
    # Article links are followed to the hosts of the source's own feeds, sitemaps and listings
    # (a leading www. dropped) and their subdomains, and to these domains and their subdomains.
    allowed_domains: list[HostName] = Field(default_factory=list)
    # In a cluster, one crawl at a time per politeness key, across every worker. Default: the
    # registrable domain of the source's first feed, sitemap or listing (crawler.host_keys).
    host_key: Annotated[str, Field(pattern=r"^[A-Za-z0-9][A-Za-z0-9._:-]{0,252}$")] | None = None
    # Editorial control (crawler.editorial): [filters] rules of this source, and rewrites.
    include: list[FilterRule] = Field(default_factory=list)
    exclude: list[FilterRule] = Field(default_factory=list)
    languages: list[LanguageTag] = Field(default_factory=list)
    rewrite: list[Rewrite] = Field(default_factory=list)
    drop_paragraphs: list[Regex] = Field(default_factory=list)
    learn_template: bool = True  # drop paragraphs recurring on its pages (crawler.templates)
    # What every request of the source carries (crawler.fetch_options): default [fetch]
    # user_agent; headers and cookies go to the source's own hosts only.
    user_agent: UserAgent | None = None
    headers: Headers = Field(default_factory=dict, repr=False)
    cookies: Cookies = Field(default_factory=dict, repr=False)
    proxy: ProxyUrl | None = Field(default=None, repr=False)  # http(s)/socks5(h)://[u:p@]host:port

    @field_validator("url_id_pattern")
    @classmethod
    def _pattern_compiles(cls, value: str | None) -> str | None:
        if value is not None:
            try:
                compiled = re.compile(value)
            except re.error as exc:
                raise ValueError(f"{value!r} is not a regular expression: {exc}") from None
            if compiled.groups < 1:
                raise ValueError(f"{value!r} needs a capturing group for the article id")
        return value

    def url_id(self, url: str) -> str | None:
        """The article id in ``url`` per ``url_id_pattern``, if any."""
        if self.url_id_pattern is None:
            return None
        match = re.search(self.url_id_pattern, url)
        return match.group(1) if match and match.group(1) else None

    @field_validator("interval", "max_age")
    @classmethod
    def _interval_parses(cls, value: str | None) -> str | None:
        if value is not None:
            parse_interval(value)
        return value

    @field_validator("cron")
    @classmethod
    def _cron_parses(cls, value: str | None) -> str | None:
        if value is not None:
            from apscheduler.triggers.cron import CronTrigger

            try:
                CronTrigger.from_crontab(value)
            except ValueError as exc:
                raise ValueError(f"{value!r} is not a cron expression: {exc}") from None
        return value

    @model_validator(mode="after")
    def _one_schedule(self) -> SourceConfig:
        if self.interval is not None and self.cron is not None:
            raise ValueError("set either interval or cron, not both")
        if not (self.feeds or self.sitemaps or self.listings):
            raise ValueError("a source needs at least one of feeds, sitemaps or listings")
        return self

    @property
    def max_age_delta(self) -> timedelta:
        return parse_interval(self.max_age)

    @property
    def interval_delta(self) -> timedelta | None:
        return parse_interval(self.interval) if self.interval else None


class DedupConfig(Strict):
    near_duplicates: bool = True
    # Jaccard similarity of word 3-gram sets at or above which two texts are one story.
    near_threshold: Annotated[float, Field(gt=0, le=1)] = 0.7


class ExportConfig(Strict):
    # Lines printed above every article in txt/md/html exports (the republishing header).
    header: list[str] = Field(default_factory=list)
    feed_title: str = "newsrelay"
    feed_id: str = "urn:newsrelay:export"


def _check_timezone(value: str) -> str:
    from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

    try:
        ZoneInfo(value)
    except (ZoneInfoNotFoundError, ValueError):
        raise ValueError(f"{value!r} is not a time zone name like 'UTC' or 'Asia/Tehran'") from None
    return value


class DaemonConfig(Strict):
    """``newsrelay run``: schedules, heartbeat and shutdown."""

    # The schedule of a source that sets neither ``interval`` nor ``cron``.
    default_interval: Interval = "15m"
    # Each run starts up to this fraction of its source's interval late, spreading sources
    # that share a schedule (for cron: a fraction of the gap between two firings).
    jitter: Annotated[float, Field(ge=0, le=0.5)] = 0.05
    # How often the daemon writes its heartbeat; `newsrelay health` wants one within 3x this.
    heartbeat: Interval = "30s"
    # How long crawls in flight get to close on SIGTERM before the daemon stops anyway.
    stop_timeout: Interval = "30s"
    # The time zone of cron schedules (an IANA name such as "Asia/Tehran").
    timezone: Annotated[str, AfterValidator(_check_timezone)] = "UTC"

    @property
    def default_interval_delta(self) -> timedelta:
        return parse_interval(self.default_interval)

    @property
    def heartbeat_delta(self) -> timedelta:
        return parse_interval(self.heartbeat)

    @property
    def stop_timeout_delta(self) -> timedelta:
        return parse_interval(self.stop_timeout)


class ClusterConfig(Strict):
    """``newsrelay scheduler`` and ``newsrelay worker``: Dramatiq on RabbitMQ."""

    broker: str = "amqp://guest:guest@127.0.0.1:5672/"
    # Queue name prefix: several deployments can share one broker.
    queue: Annotated[str, Field(pattern=r"^[A-Za-z_][A-Za-z0-9_.-]{0,200}$")] = "newsrelay"


class Config(Strict):
    database: DatabaseConfig = Field(default_factory=DatabaseConfig)
    fetch: FetchConfig = Field(default_factory=FetchConfig)
    daemon: DaemonConfig = Field(default_factory=DaemonConfig)
    dedup: DedupConfig = Field(default_factory=DedupConfig)
    export: ExportConfig = Field(default_factory=ExportConfig)
    cluster: ClusterConfig = Field(default_factory=ClusterConfig)
    filters: Filters = Field(default_factory=Filters)
    sources: list[SourceConfig] = Field(default_factory=list)
    destinations: list[DestinationConfig] = Field(default_factory=list)
    http: HttpConfig = Field(default_factory=HttpConfig)
    images: ImagesConfig = Field(default_factory=ImagesConfig)
    storage: StorageConfig = Field(default_factory=StorageConfig)
    path: Path | None = Field(default=None, exclude=True)

    @model_validator(mode="after")
    def _images_have_a_place(self) -> Config:
        if problem := self.images.missing_directory(self.database.url):
            raise ValueError(problem)
        return self

    @model_validator(mode="after")
    def _unique_names(self) -> Config:
        for kind, items in (("source", self.sources), ("destination", self.destinations)):
            seen: set[str] = set()
            for item in items:
                if item.name in seen:
                    raise ValueError(f"{kind} name {item.name!r} is used twice")
                seen.add(item.name)
        names = {source.name for source in self.sources}
        for destination in self.destinations:
            unknown = sorted(set(destination.sources) - names)
            if unknown:
                raise ValueError(
                    f"destination {destination.name!r} names unknown sources: {', '.join(unknown)}"
                )
        return self

    def destinations_for(self, source: str) -> tuple[str, ...]:
        """The destinations an article of ``source`` is delivered to."""
        return tuple(d.name for d in self.destinations if d.takes(source))

    def destination(self, name: str) -> DestinationConfig:
        for destination in self.destinations:
            if destination.name == name:
                return destination
        known = ", ".join(d.name for d in self.destinations) or "none"
        raise ConfigError(f"unknown destination {name!r} (configured: {known})")

    def source(self, name: str) -> SourceConfig:
        """The source named ``name``: a dict lookup, as each poll of each source asks (kept
        in ``__dict__``, which equality ignores; a copy with other sources builds its own)."""
        built = self.__dict__.get("_by_name")
        if built is None or built[0] is not self.sources:
            built = self.__dict__["_by_name"] = (self.sources, {s.name: s for s in self.sources})
        found = built[1].get(name)
        if found is not None:
            return found
        known = ", ".join(s.name for s in self.sources) or "none"
        raise ConfigError(f"unknown source {name!r} (configured: {known})")


def resolve_config_path(path: str | os.PathLike[str] | None) -> Path:
    """The explicit path, else ``$NEWSRELAY_CONFIG``, else ``./newsrelay.toml``."""
    if path:
        return Path(path)
    if os.environ.get(CONFIG_ENV):
        return Path(os.environ[CONFIG_ENV])
    return DEFAULT_CONFIG_PATH


def load_config(path: str | os.PathLike[str] | None = None) -> Config:
    """Read and validate the config file; raise :class:`ConfigError` with one clear line."""
    config_path = resolve_config_path(path)
    try:
        raw = tomllib.loads(config_path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise ConfigError(f"{config_path}: config file not found") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise ConfigError(f"{config_path}: cannot read config: {exc}") from None
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"{config_path}: TOML syntax error: {exc}") from None
    try:
        raw = expand_env(raw)
    except MissingVariable as exc:
        where = _location(exc.loc, raw)
        raise ConfigError(
            f"{config_path}: {where}: environment variable {exc.name} is not set"
        ) from None
    if os.environ.get(DATABASE_URL_ENV):
        raw = {**raw, "database": {**raw.get("database", {}), "url": os.environ[DATABASE_URL_ENV]}}
    if os.environ.get(BROKER_URL_ENV):
        raw = {**raw, "cluster": {**raw.get("cluster", {}), "broker": os.environ[BROKER_URL_ENV]}}
    return config_from_dict(raw, config_path)


def config_from_dict(raw: dict[str, Any], path: Path | None = None) -> Config:
    """Validate an already-parsed config mapping."""
    where = f"{path}: " if path else ""
    try:
        config = Config.model_validate(raw)
    except ValidationError as exc:
        raise ConfigError(where + _first_error(exc, raw)) from None
    config = config.model_copy(update={"path": path})
    if path is not None:
        config = _anchor_sqlite_path(config, path.parent)
    images = config.images.anchored(path.parent if path else Path.cwd(), config.database.url)
    return config.model_copy(update={"images": images})


def _anchor_sqlite_path(config: Config, base: Path) -> Config:
    """A relative SQLite path in the file is relative to the file, not to the current dir."""
    url = config.database.url
    prefix = "sqlite:///"
    if url.startswith(prefix) and not url.startswith(prefix + "/") and url != prefix + ":memory:":
        absolute = (base / url[len(prefix) :]).resolve()
        database = DatabaseConfig(url=prefix + str(absolute))
        config = config.model_copy(update={"database": database})
    return config


# Keys whose values may be credentials: a wrong value is never echoed in the error.
_SECRET_KEYS = frozenset({"headers", "cookies", "proxy", "secret", "password", "token"})


def _first_error(exc: ValidationError, raw: dict[str, Any]) -> str:
    error = exc.errors()[0]
    location = _location(error["loc"], raw)
    kind = error["type"]
    if kind == "extra_forbidden":
        return f"{location}: unknown key"
    if kind == "missing":
        return f"{location}: required key is missing"
    message = str(error["msg"]).removeprefix("Value error, ")
    got = error.get("input")
    secret = any(part in _SECRET_KEYS for part in error["loc"])
    if (kind.endswith("_type") or kind.endswith("_parsing")) and not secret:
        return f"{location}: {message} (got {got!r})"
    return f"{location}: {message}"


def _location(loc: tuple[int | str, ...], raw: dict[str, Any]) -> str:
    """``('sources', 0, 'intervall')`` -> ``sources[0] (presstv).intervall``."""
    parts: list[str] = []
    node: Any = raw
    for item in loc:
        if isinstance(item, int):
            element = node[item] if isinstance(node, list) and item < len(node) else None
            name = element.get("name") if isinstance(element, dict) else None
            label = f"[{item}]" + (f" ({name})" if isinstance(name, str) else "")
            parts[-1] = parts[-1] + label if parts else label
            node = element
        else:
            parts.append(str(item))
            node = node.get(item) if isinstance(node, dict) else None
    return ".".join(parts) or "config"
