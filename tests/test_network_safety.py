"""Network safety: private addresses refused where the connection is made, links followed only
into a source's own sites (``allowed_domains``).

Real ``newsrelay`` (and ``scrapy crawl``) subprocesses against a loopback :class:`LocalSite`.
Nothing here sends a packet beyond loopback: 169.254.169.254 and the other non-public
addresses are only ever named with ``allow_private_networks = false``, where they are refused
before any connection.
"""

from __future__ import annotations

import json
import sqlite3
from pathlib import Path

import pytest

from crawler.config import load_config
from crawler.feed_parser import parse_feed
from crawler.scope import in_scope, source_domains
from crawler.urls import canonical_url
from tests.localsite import LocalSite
from tests.support import (
    CORPUS,
    REPO,
    article_html,
    json_logs,
    run_newsrelay,
    run_scrapy,
    summary,
    write_config,
)

RSS = "application/rss+xml; charset=utf-8"
HINT = "(set [fetch] allow_private_networks = true to allow)"


def rss(links: list[str]) -> str:
    items = "".join(
        f"<item><title>Story {n}</title><link>{link}</link></item>" for n, link in enumerate(links)
    )
    return (
        f'<?xml version="1.0"?><rss version="2.0"><channel><title>t</title>{items}</channel></rss>'
    )


def local_url(site: LocalSite, path: str) -> str:
    """``site``'s URL for ``path`` spelled with the name ``localhost``, not the address."""
    return site.url(path).replace("127.0.0.1", "localhost", 1)


def source(name: str, feed: str, allowed: list[str] | None = None) -> str:
    lines = f'[[sources]]\nname = "{name}"\nfeeds = ["{feed}"]\n'
    if allowed is not None:
        lines += f"allowed_domains = {json.dumps(allowed)}\n"
    return lines + "\n"


def runs(database: Path) -> dict[str, tuple[str, int, int, str]]:
    """source -> (status, new, pages_failed, error) of its last run."""
    with sqlite3.connect(database) as conn:
        return {
            name: (status, new, failed, error or "")
            for name, status, new, failed, error in conn.execute(
                "SELECT s.name, r.status, r.new, r.pages_failed, r.error FROM crawl_runs r "
                "JOIN sources s ON s.id = r.source_id ORDER BY r.id"
            )
        }


# -- private addresses ----------------------------------------------------------------------
def test_a_name_that_resolves_to_loopback_is_refused_when_connecting(
    site: LocalSite, tmp_path: Path
) -> None:
    """A feed at ``localhost`` (a name, so no literal check can catch it: only the resolver
    sees 127.0.0.1) is refused with one clear line and not a byte reaches the server; with
    ``allow_private_networks = true`` the same source is crawled, entries at ``localhost``
    and ``127.0.0.1`` stored.
    """
    pages = ["/news/1.html", "/news/2.html"]
    for n, path in enumerate(pages):
        site.add(path, article_html(n))
    links = [local_url(site, pages[0]), site.url(pages[1])]
    feed = local_url(site, "/feed.xml")
    site.add("/feed.xml", rss(links), content_type=RSS)
    sources = source("local", feed, allowed=["127.0.0.1"])

    database = tmp_path / "refused.db"
    refused = write_config(
        tmp_path / "refused.toml", f"sqlite:///{database}", sources, allow_private=False
    )
    result = run_newsrelay("--log-format", "json", "crawl", "--all", "--json", config=refused)

    assert "Traceback" not in result.stderr, result.stderr
    assert result.returncode == 1
    reason = f"refused localhost: it resolves to non-public address 127.0.0.1 {HINT}"
    assert summary(result.stdout)["local"]["why"] == f"feed {feed}: {reason}"
    failed = [r for r in json_logs(result.stderr) if r["msg"].startswith("feed failed:")]
    assert [r["msg"] for r in failed] == [f"feed failed: source=local url={feed} reason={reason}"]
    assert site.requests == []  # not the feed, not robots.txt

    database = tmp_path / "allowed.db"
    allowed = write_config(tmp_path / "allowed.toml", f"sqlite:///{database}", sources)
    result = run_newsrelay("crawl", "--all", config=allowed)
    assert result.returncode == 0, result.stdout + result.stderr
    assert runs(database)["local"][:3] == ("ok", 2, 0)


# Entries pointing inside, each spelled differently: (link, its host, the address refused).
# The first four hosts are not IP literals to a URL parser but names, which the resolver turns
# into 127.0.0.1 when connecting.
INSIDE = [
    ("http://localhost:{port}/news/b.html", "localhost", "127.0.0.1"),
    ("http://2130706433:{port}/", "2130706433", "127.0.0.1"),
    ("http://127.1:{port}/", "127.1", "127.0.0.1"),
    ("http://0x7f.0.0.1:{port}/", "0x7f.0.0.1", "127.0.0.1"),
    ("http://127.0.0.1:{port}/news/a.html", "127.0.0.1", "127.0.0.1"),
    ("http://169.254.169.254/latest/meta-data/", "169.254.169.254", "169.254.169.254"),
    ("http://10.0.0.1/", "10.0.0.1", "10.0.0.1"),
    ("http://0.0.0.0:{port}/", "0.0.0.0", "0.0.0.0"),
    ("http://224.0.0.1/", "224.0.0.1", "224.0.0.1"),
    ("http://[fd00::1]/admin", "fd00::1", "fd00::1"),
    ("http://[fe80::1]/", "fe80::1", "fe80::1"),
    # Requested (and so reported) in its canonical spelling.
    ("http://[::ffff:127.0.0.1]:{port}/", "::ffff:7f00:1", "::ffff:7f00:1"),
]


def test_entries_pointing_inside_are_refused(site: LocalSite, tmp_path: Path) -> None:
    """Entries of a feed that could be read (here from Scrapy's HTTP cache, standing in for a
    public server: no public address exists in the test sandbox) that point at loopback, at
    the metadata address 169.254.169.254 or any other non-public address, in any spelling,
    are refused with ``allow_private_networks = false``: one reason each, nothing requested.

    The first run, allowed onto loopback, only fills the cache with the feed: its pages are
    not served yet (a 404 is not cached) and every other host is outside its scope.
    """
    cache = tmp_path / "httpcache"
    port = site.url().split(":")[2].rstrip("/")
    links = [link.format(port=port) for link, _, _ in INSIDE]
    feed = local_url(site, "/feed.xml")
    site.add("/feed.xml", rss(links), content_type=RSS, conditional=False)

    def scrapy_crawl(name: str, allow_private: bool, allowed: list[str]) -> Path:
        database = tmp_path / f"{name}.db"
        config = write_config(
            tmp_path / f"{name}.toml",
            f"sqlite:///{database}",
            source("inside", feed, allowed),
            allow_private=allow_private,
        )
        done = run_scrapy(config, "inside", cache=cache)
        assert done.returncode == 0, done.stderr
        assert "Traceback" not in done.stderr, done.stderr
        return database

    first = scrapy_crawl("fill", allow_private=True, allowed=["127.0.0.1"])
    assert runs(first)["inside"][:3] == ("ok", 0, 2)  # a.html and b.html: 404 for now
    site.add("/news/a.html", article_html(1))
    site.add("/news/b.html", article_html(2))
    site.add("/", article_html(3))
    before = len(site.requests)

    second = scrapy_crawl("refuse", allow_private=False, allowed=[host for _, host, _ in INSIDE])

    status, new, failed, error = runs(second)["inside"]
    assert (status, new, failed) == ("ok", 0, len(INSIDE)), error
    assert sorted(error.split("; ")) == sorted(
        f"page {canonical_url(link)}: refused {host}: it resolves to non-public address "
        f"{address} {HINT}"
        for link, (_, host, address) in zip(links, INSIDE, strict=True)
    )
    assert site.requests[before:] == []  # the feed came from the cache; nothing else went


def test_extract_refuses_the_metadata_address(tmp_path: Path) -> None:
    """``newsrelay extract URL`` downloads a page as a crawl does: refused in one line."""
    url = "http://169.254.169.254/latest/meta-data/iam/security-credentials/"
    config = write_config(
        tmp_path / "c.toml", f"sqlite:///{tmp_path / 'x.db'}", "", allow_private=False
    )
    result = run_newsrelay("extract", url, config=config, timeout=60)
    assert result.returncode == 1
    assert result.stderr.splitlines() == [
        f"newsrelay: error: cannot fetch {url}: refused 169.254.169.254: it resolves to "
        f"non-public address 169.254.169.254 {HINT}"
    ]


def test_many_crawls_in_one_process_keep_one_policy(site: LocalSite, tmp_path: Path) -> None:
    """Each crawler's guard installs the reactor's resolver once; twelve crawls in one
    process (names and addresses mixed) all work when allowed, all are refused when not."""
    for n in range(12):
        site.add(f"/news/{n}.html", article_html(100 + n))
        site.add(f"/feeds/{n}.xml", rss([site.url(f"/news/{n}.html")]), content_type=RSS)
    sources = "".join(
        source(
            f"s{n}",
            (local_url if n % 2 else LocalSite.url)(site, f"/feeds/{n}.xml"),
            ["127.0.0.1"],
        )
        for n in range(12)
    )
    for allow in (True, False):
        database = tmp_path / f"{allow}.db"
        config = write_config(
            tmp_path / f"{allow}.toml", f"sqlite:///{database}", sources, allow_private=allow
        )
        result = run_newsrelay("crawl", "--all", config=config)
        assert "Traceback" not in result.stderr, result.stderr
        got = runs(database)
        assert len(got) == 12
        if allow:
            assert result.returncode == 0, result.stdout
            assert {run[:3] for run in got.values()} == {("ok", 1, 0)}
        else:
            assert result.returncode == 1
            assert all(run[0] == "failed" and "refused" in run[3] for run in got.values())


# -- allowed_domains ------------------------------------------------------------------------
def test_links_to_other_sites_are_counted_not_followed(site: LocalSite, tmp_path: Path) -> None:
    """A feed at 127.0.0.1 listing a page at ``localhost`` (another host): the page is not
    fetched, one line says how many links went where, the source is ok. Listing the host in
    ``allowed_domains`` follows it."""
    site.add("/news/home.html", article_html(1))
    site.add("/news/away.html", article_html(2))
    away = local_url(site, "/news/away.html")
    site.add("/feed.xml", rss([site.url("/news/home.html"), away, away + "?x=1"]), content_type=RSS)
    feed = site.url("/feed.xml")

    database = tmp_path / "scoped.db"
    config = write_config(tmp_path / "scoped.toml", f"sqlite:///{database}", source("s", feed))
    result = run_newsrelay("--log-format", "json", "crawl", "s", "--json", config=config)

    assert result.returncode == 0, result.stdout + result.stderr
    assert runs(database)["s"][:3] == ("ok", 1, 0)
    assert summary(result.stdout)["s"]["why"] == ""  # not an error
    assert site.hits("/news/away.html") == []
    offsite = [r for r in json_logs(result.stderr) if "offsite_links" in r]
    assert [(r["msg"], r["offsite_links"]) for r in offsite] == [
        (
            "links to other sites not followed: source=s links=2 hosts=localhost "
            "(add a domain to the source's allowed_domains to follow its links)",
            2,
        )
    ]

    database = tmp_path / "allowed.db"
    config = write_config(
        tmp_path / "allowed.toml", f"sqlite:///{database}", source("s", feed, ["localhost"])
    )
    result = run_newsrelay("crawl", "s", config=config)
    assert result.returncode == 0, result.stdout + result.stderr
    assert runs(database)["s"][:3] == ("ok", 2, 0)  # and ?x=1, the same page: a duplicate
    assert len(site.hits("/news/away.html")) == 2


@pytest.mark.parametrize(
    "entry", ["https://bbc.com", "bbc.com/news", "*.bbc.com", "bbc.com:443", "", "bbc..com"]
)
def test_a_bad_allowed_domain_is_one_line(tmp_path: Path, entry: str) -> None:
    config = write_config(
        tmp_path / "c.toml",
        f"sqlite:///{tmp_path / 'x.db'}",
        source("bbc", "https://feeds.bbci.co.uk/persian/rss.xml", ["bbc.co.uk", entry]),
        allow_private=False,
    )
    result = run_newsrelay("sources", config=config)
    assert result.returncode == 2
    assert result.stderr.splitlines() == [
        f"newsrelay: error: {config}: sources[0] (bbc).allowed_domains[1]: {entry!r} is not a "
        "bare host name like 'bbc.com' (no scheme, port, path or *)"
    ]


def test_scope_rules() -> None:
    domains = frozenset({"presstv.ir", "bbc.com", "::ffff:7f00:1"})
    assert in_scope("www.presstv.ir", domains)
    assert in_scope("presstv.ir", domains)
    assert in_scope("WWW.BBC.COM.", domains)
    assert not in_scope("notpresstv.ir", domains)
    assert not in_scope("presstv.ir.evil.example", domains)
    assert not in_scope("bbc.co.uk", domains)
    assert in_scope("::ffff:127.0.0.1", domains)  # one spelling of an address


def test_the_example_config_follows_its_outlets_article_links() -> None:
    """Each outlet in the shipped newsrelay.toml, with an article address of the shape its
    feed lists (BBC Persian's feed is on feeds.bbci.co.uk, its stories on www.bbc.com)."""
    config = load_config(REPO / "newsrelay.toml")
    articles = {
        "presstv": "https://www.presstv.ir/Detail/2026/03/03/123456/Some-headline",
        "aljazeera": "https://www.aljazeera.com/news/2026/3/3/some-headline",
        "rt": "https://www.rt.com/news/612345-some-headline/",
        "xinhua": "https://english.news.cn/20260303/abcdef/c.html",
        "bbc-persian": "https://www.bbc.com/persian/articles/c0123456789o",
        "irna-fa": "https://www.irna.ir/news/85012345/",
    }
    for name, url in articles.items():
        host = url.split("/")[2]
        assert in_scope(host, source_domains(config.source(name))), name


def test_the_bbc_feed_of_the_corpus_is_in_the_bbc_scope() -> None:
    """The corpus's BBC feed (served from podcasts.files.bbci.co.uk, like BBC Persian's from
    feeds.bbci.co.uk) links to www.bbc.co.uk: the example's allowed_domains cover it."""
    bbc = load_config(REPO / "newsrelay.toml").source("bbc-persian")
    path = CORPUS / "feed-rs__feed-rs/feed-rs/fixture/rss2/rss_2.0_bbc.xml"
    parsed = parse_feed(path.read_bytes(), "https://podcasts.files.bbci.co.uk/b006qykl.rss")
    hosts = {entry.link.split("/")[2] for entry in parsed.entries}
    assert hosts == {"www.bbc.co.uk"}
    assert not in_scope("www.bbc.co.uk", {"podcasts.files.bbci.co.uk"})  # needs the rule
    assert all(in_scope(host, source_domains(bbc)) for host in hosts)
