"""Fast and polite fetching, end to end: the real ``newsrelay crawl`` against a loopback site.

Nothing is mocked. A :class:`LocalSite` serves small RSS feeds and article pages, some of
them misbehaving on purpose (slow answers, 503/429 first, a long ``Retry-After``, a 500 for
good, a robots.txt rule); ``newsrelay crawl`` runs as a subprocess; what reached the server is
read from ``site.requests`` and what was stored from the database itself.

What is proven here: conditional GETs (and ``--refetch`` bypassing them), the next-poll lower
bound from ``Cache-Control: max-age`` / RSS ``<ttl>`` / ``Retry-After`` and ``--due-only``
honouring it, retries spaced by backoff and ``Retry-After``, exponential source backoff with
its two log lines, robots.txt, and the per-host concurrency limit.
"""

from __future__ import annotations

import json
import time
import zlib
from collections.abc import Sequence
from datetime import UTC, datetime, timedelta
from email.utils import format_datetime
from pathlib import Path
from typing import Any

from sqlalchemy import create_engine, text
from sqlalchemy.pool import NullPool

from tests.localsite import LocalSite, RecordedRequest
from tests.support import Result, article_html, run_newsrelay, summary, write_config

RSS = "application/rss+xml; charset=utf-8"
FEED = "/feed.xml"


# -- the site -------------------------------------------------------------------------------
def rss(site: LocalSite, paths: Sequence[str], *, ttl_minutes: int | None = None) -> str:
    """An RSS 2.0 feed listing ``paths`` on ``site``."""
    published = datetime(2026, 3, 3, 8, 0, tzinfo=UTC)
    items = "".join(
        f"<item><title>Story {i}</title><link>{site.url(path)}</link>"
        f"<guid isPermaLink='false'>story-{path}</guid>"
        f"<pubDate>{format_datetime(published + timedelta(minutes=i), usegmt=True)}</pubDate>"
        "</item>"
        for i, path in enumerate(paths)
    )
    ttl = f"<ttl>{ttl_minutes}</ttl>" if ttl_minutes is not None else ""
    return (
        "<?xml version='1.0' encoding='utf-8'?><rss version='2.0'><channel>"
        f"<title>Test outlet</title><link>{site.base}/</link><description>t</description>"
        f"{ttl}{items}</channel></rss>"
    )


def serve_pages(site: LocalSite, paths: Sequence[str], **route: Any) -> None:
    """Serve an article page (its own text) at each path; ``route`` as for ``site.add``."""
    for path in paths:
        site.add(path, article_html(zlib.crc32(path.encode())), **route)


def config_file(
    tmp_path: Path, db_url: str, sources: dict[str, list[str]], **fetch: int | bool
) -> Path:
    """A newsrelay.toml: source name -> feed URLs; ``fetch`` sets [fetch] keys (for example
    ``retries=2``; ``write_config`` sets ``retries = 0``). Extraction runs inline: a process
    pool would only add start-up time to these small crawls."""
    tables = "".join(
        f'[[sources]]\nname = "{name}"\nfeeds = {json.dumps(feeds)}\n\n'
        for name, feeds in sources.items()
    )
    path = write_config(tmp_path / "newsrelay.toml", db_url, tables)
    settings = {"extract_processes": 0, "retries": 0, **fetch}
    lines = "".join(f"{key} = {json.dumps(value)}\n" for key, value in settings.items())
    toml = path.read_text(encoding="utf-8").replace("retries = 0\n", "", 1)
    path.write_text(toml.replace("[fetch]\n", "[fetch]\n" + lines, 1), encoding="utf-8")
    return path


# -- reading what happened ------------------------------------------------------------------
def crawl(config: Path, *args: str, timeout: float = 60) -> Result:
    """``newsrelay --log-format json crawl --json ARGS``; fails the test on a traceback."""
    result = run_newsrelay(
        "--log-format", "json", "crawl", "--json", *args, config=config, timeout=timeout
    )
    assert "Traceback" not in result.stderr, result.stderr
    return result


def logs(result: Result) -> list[dict[str, Any]]:
    """The JSON log records on stderr; every line must be one."""
    return [json.loads(line) for line in result.stderr.splitlines() if line.strip()]


def messages(result: Result, prefix: str) -> list[dict[str, Any]]:
    return [record for record in logs(result) if record["msg"].startswith(prefix)]


def query(db_url: str, sql: str) -> list[tuple[Any, ...]]:
    """Rows of ``sql`` read straight from the database (SQLite or PostgreSQL)."""
    engine = create_engine(db_url, poolclass=NullPool)
    try:
        with engine.connect() as conn:
            return [tuple(row) for row in conn.execute(text(sql))]
    finally:
        engine.dispose()


def utc(value: datetime | str | None) -> datetime | None:
    """A timestamp column as an aware UTC datetime (SQLite gives naive UTC text)."""
    if value is None:
        return None
    moment = value if isinstance(value, datetime) else datetime.fromisoformat(value)
    return moment.replace(tzinfo=UTC) if moment.tzinfo is None else moment.astimezone(UTC)


def feed_next_poll(db_url: str, feed_url: str) -> datetime | None:
    rows = query(db_url, f"SELECT next_poll_after FROM feeds WHERE url = '{feed_url}'")
    assert len(rows) == 1, rows
    return utc(rows[0][0])


def health(db_url: str, source: str) -> tuple[int, datetime | None]:
    rows = query(
        db_url,
        f"SELECT consecutive_failures, backoff_until FROM sources WHERE name = '{source}'",
    )
    assert len(rows) == 1, rows
    return rows[0][0], utc(rows[0][1])


def paths(requests: Sequence[RecordedRequest]) -> list[str]:
    """Request paths without robots.txt (Scrapy reads it once per crawl)."""
    return [r.path.split("?", 1)[0] for r in requests if r.path != "/robots.txt"]


def within(moment: datetime | None, low: datetime, high: datetime) -> bool:
    return moment is not None and low <= moment <= high


# -- 1. conditional GET ---------------------------------------------------------------------
def test_unchanged_feed_is_answered_304_and_refetch_bypasses_it(
    site: LocalSite, tmp_path: Path
) -> None:
    """The second poll of an unchanged feed sends back its ETag and Last-Modified, is answered
    304 and fetches no article page; the summary and the run row count it under
    ``feeds_not_modified``. ``--refetch`` then asks for the feed unconditionally and
    fetches its pages again: they are recorded as duplicates, nothing new is stored.
    """
    pages = ["/news/one.html", "/news/two.html"]
    serve_pages(site, pages)
    feed_url = site.add(FEED, rss(site, pages), content_type=RSS)
    db_url = f"sqlite:///{tmp_path / 'newsrelay.db'}"
    config = config_file(tmp_path, db_url, {"outlet": [feed_url]})

    first = crawl(config, "outlet")
    assert first.returncode == 0, first.stdout + first.stderr
    assert summary(first.stdout)["outlet"]["new"] == 2
    feed_answer = site.hits(FEED)[-1]
    assert feed_answer.status == 200
    assert "if-none-match" not in feed_answer.headers
    (etag, last_modified), *_ = query(db_url, "SELECT etag, last_modified FROM feeds")
    assert etag and last_modified

    # -- unchanged: 304, no page --------------------------------------------------------
    before = len(site.requests)
    second = crawl(config, "outlet")
    assert second.returncode == 0, second.stdout + second.stderr
    repoll = site.requests[before:]
    assert paths(repoll) == [FEED]
    feed_answer = site.hits(FEED)[-1]
    assert feed_answer.status == 304
    assert feed_answer.headers.get("if-none-match") == etag
    assert feed_answer.headers.get("if-modified-since") == last_modified
    row = summary(second.stdout)["outlet"]
    assert (row["status"], row["new"], row["duplicates"], row["feeds_not_modified"]) == (
        "ok",
        0,
        0,
        1,
    )
    runs = query(db_url, "SELECT feeds_not_modified, pages_fetched FROM crawl_runs ORDER BY id")
    assert runs[-1] == (1, 0)

    # -- --refetch: unconditional, pages again, duplicates only ----------------------------
    before = len(site.requests)
    third = crawl(config, "--refetch", "outlet")
    assert third.returncode == 0, third.stdout + third.stderr
    refetched = site.requests[before:]
    assert sorted(paths(refetched)) == sorted([FEED, *pages])
    feed_answer = site.hits(FEED)[-1]
    assert feed_answer.status == 200
    assert "if-none-match" not in feed_answer.headers
    assert "if-modified-since" not in feed_answer.headers
    row = summary(third.stdout)["outlet"]
    assert (row["status"], row["new"], row["duplicates"], row["feeds_not_modified"]) == (
        "ok",
        0,
        2,
        0,
    )
    assert query(db_url, "SELECT count(*) FROM articles") == [(2,)]


# -- 2. next-poll lower bound, 3. a Retry-After too long to wait for -----------------------
def test_servers_next_poll_bounds_are_kept_and_due_only_honours_them(
    site: LocalSite, tmp_path: Path
) -> None:
    """One crawl of four sources. A feed served with ``Cache-Control: max-age=3600`` and one
    declaring ``<ttl>60</ttl>`` get ``feeds.next_poll_after`` about an hour ahead; a feed
    saying neither gets none. A feed answering 429 with ``Retry-After: 7200`` is asked once and
    not waited for, although retries are on: its source fails, the crawl takes seconds (not
    two hours, nor the 60 s wait cap), and its next poll is about two hours ahead.

    ``crawl --due-only`` then requests only the plain feed, even once the failed source's own
    backoff is over; a manual ``crawl`` (no ``--due-only``) requests the feeds anyway.
    """
    page = "/news/one.html"
    serve_pages(site, [page])
    feeds = {
        "cached": site.add(
            "/max-age.xml",
            rss(site, [page]),
            content_type=RSS,
            headers={"Cache-Control": "max-age=3600"},
        ),
        "ttl": site.add("/ttl.xml", rss(site, [page], ttl_minutes=60), content_type=RSS),
        "plain": site.add("/plain.xml", rss(site, [page]), content_type=RSS),
        "busy": site.add(
            "/busy.xml",
            "slow down",
            status=429,
            content_type="text/plain",
            headers={"Retry-After": "7200"},
        ),
    }
    db_url = f"sqlite:///{tmp_path / 'newsrelay.db'}"
    config = config_file(tmp_path, db_url, {name: [url] for name, url in feeds.items()}, retries=2)

    started, clock = datetime.now(UTC), time.monotonic()
    first = crawl(config, "--all", timeout=55)
    took, ended = time.monotonic() - clock, datetime.now(UTC)

    assert first.returncode == 1, first.stdout + first.stderr  # busy failed
    assert took < 30, took
    rows = summary(first.stdout)
    assert {name: row["status"] for name, row in rows.items()} == {
        "cached": "ok",
        "ttl": "ok",
        "plain": "ok",
        "busy": "failed",
    }
    assert rows["busy"]["why"] == f"feed {feeds['busy']}: HTTP 429", rows["busy"]
    assert [r.status for r in site.hits("/busy.xml")] == [429]
    slack = timedelta(seconds=5)

    def ahead(delay: timedelta) -> tuple[datetime, datetime]:
        return started + delay - slack, ended + delay + slack

    hour = timedelta(hours=1)
    assert within(feed_next_poll(db_url, feeds["cached"]), *ahead(hour))
    assert within(feed_next_poll(db_url, feeds["ttl"]), *ahead(hour))
    assert feed_next_poll(db_url, feeds["plain"]) is None
    assert within(feed_next_poll(db_url, feeds["busy"]), *ahead(2 * hour))

    # busy's source is backing off for minutes as well; end that, so that only the feed's
    # own bound can keep it from being polled.
    assert health(db_url, "busy")[0] == 1
    engine = create_engine(db_url, poolclass=NullPool)
    with engine.begin() as conn:
        conn.execute(text("UPDATE sources SET backoff_until = NULL, consecutive_failures = 0"))
    engine.dispose()
    (last_run,), *_ = query(db_url, "SELECT max(id) FROM crawl_runs")

    before = len(site.requests)
    due = crawl(config, "--due-only", "--all")
    assert due.returncode == 0, due.stdout + due.stderr
    assert paths(site.requests[before:]) == ["/plain.xml"]
    assert {name: row["status"] for name, row in summary(due.stdout).items()} == {
        "cached": "ok",
        "ttl": "ok",
        "plain": "ok",
        "busy": "ok",
    }
    not_due = query(
        db_url,
        "SELECT s.name, r.feeds_not_due FROM crawl_runs r JOIN sources s ON s.id = r.source_id "
        f"WHERE r.id > {last_run} ORDER BY s.name",
    )
    assert not_due == [("busy", 1), ("cached", 1), ("plain", 0), ("ttl", 1)]

    before = len(site.requests)
    manual = crawl(config, "cached", "ttl")
    assert manual.returncode == 0, manual.stdout + manual.stderr
    assert sorted(paths(site.requests[before:])) == ["/max-age.xml", "/ttl.xml"]


# -- 3. retries with backoff ----------------------------------------------------------------
def test_transient_page_errors_are_retried_with_backoff_and_retry_after(
    site: LocalSite, tmp_path: Path
) -> None:
    """With ``retries = 2``: a page answering 503 once is asked again after a short backoff
    (the first retry waits at most 1 s) and stored; a page answering 429 with
    ``Retry-After: 1`` is asked again no sooner than a second later, and stored. Neither is
    asked a third time; nothing is reported as failed.
    """
    flaky, limited, fine = "/news/flaky.html", "/news/limited.html", "/news/fine.html"
    serve_pages(site, [flaky], statuses=[503])
    serve_pages(site, [limited], statuses=[429], headers={"Retry-After": "1"})
    serve_pages(site, [fine])
    feed_url = site.add(FEED, rss(site, [flaky, limited, fine]), content_type=RSS)
    db_url = f"sqlite:///{tmp_path / 'newsrelay.db'}"
    config = config_file(tmp_path, db_url, {"outlet": [feed_url]}, retries=2)

    result = crawl(config, "outlet")

    assert result.returncode == 0, result.stdout + result.stderr
    row = summary(result.stdout)["outlet"]
    assert (row["status"], row["new"], row["errors"]) == ("ok", 3, 0), row
    first, retry = site.hits(flaky)
    assert (first.status, retry.status) == (503, 200)
    assert 0 < retry.at - first.at < 3.0  # up to 1 s of backoff, plus a loaded machine
    first, retry = site.hits(limited)
    assert (first.status, retry.status) == (429, 200)
    assert retry.at - first.at >= 1.0  # Retry-After honoured
    assert [r.status for r in site.hits(fine)] == [200]
    assert query(db_url, "SELECT count(*) FROM articles") == [(3,)]


# -- 4. source backoff ----------------------------------------------------------------------
def test_failing_source_backs_off_and_recovers(
    site: LocalSite, db_url: str, tmp_path: Path
) -> None:
    """A source whose only feed answers 500 fails run after run: ``consecutive_failures``
    counts 1, 2 and ``backoff_until`` lies ahead, further after the second failure; the
    WARNING "source failing, backing off" is logged on the first failure only. ``--due-only``
    skips the backing-off source (status "skipped", exit 0, no request). Once the feed works,
    a manual crawl succeeds, resets the counter and logs "source recovered" once.
    """
    page = "/news/one.html"
    serve_pages(site, [page])
    feed_url = site.add(FEED, "oops", status=500, content_type="text/plain")
    config = config_file(tmp_path, db_url, {"shaky": [feed_url]})

    started = datetime.now(UTC)
    first = crawl(config, "shaky")
    assert first.returncode == 1, first.stdout + first.stderr
    assert summary(first.stdout)["shaky"]["status"] == "failed"
    failures, first_until = health(db_url, "shaky")
    assert failures == 1
    assert first_until is not None and first_until > started
    warned = messages(first, "source failing, backing off")
    assert len(warned) == 1, first.stderr
    assert warned[0]["level"] == "warning"
    assert warned[0]["source"] == "shaky"
    assert warned[0]["consecutive_failures"] == 1
    assert messages(first, "source recovered") == []

    second = crawl(config, "shaky")  # a manual crawl is not held back by the backoff
    assert second.returncode == 1, second.stdout + second.stderr
    assert [r.status for r in site.hits(FEED)] == [500, 500]
    failures, second_until = health(db_url, "shaky")
    assert failures == 2
    assert second_until is not None and second_until > first_until
    assert messages(second, "source failing, backing off") == []

    before = len(site.requests)
    runs = query(db_url, "SELECT count(*) FROM crawl_runs")
    skipped = crawl(config, "--due-only", "shaky")
    assert skipped.returncode == 0, skipped.stdout + skipped.stderr
    assert summary(skipped.stdout)["shaky"]["status"] == "skipped"
    assert site.requests[before:] == []
    assert query(db_url, "SELECT count(*) FROM crawl_runs") == runs  # no run recorded
    assert health(db_url, "shaky") == (2, second_until)

    site.add(FEED, rss(site, [page]), content_type=RSS)
    recovered = crawl(config, "shaky")
    assert recovered.returncode == 0, recovered.stdout + recovered.stderr
    row = summary(recovered.stdout)["shaky"]
    assert (row["status"], row["new"]) == ("ok", 1), row
    assert health(db_url, "shaky") == (0, None)
    back = messages(recovered, "source recovered")
    assert len(back) == 1, recovered.stderr
    assert back[0]["level"] == "warning"
    assert messages(recovered, "source failing, backing off") == []


# -- 5. robots.txt --------------------------------------------------------------------------
def test_robots_txt_disallowed_page_is_not_fetched(site: LocalSite, tmp_path: Path) -> None:
    """With ``Disallow: /private/`` in robots.txt, the article under /private/ is never
    requested and is reported as failed with the reason; the other article is stored and the
    source stays ok.
    """
    public, private = "/news/open.html", "/private/secret.html"
    serve_pages(site, [public, private])
    site.add("/robots.txt", "User-agent: *\nDisallow: /private/\n", content_type="text/plain")
    feed_url = site.add(FEED, rss(site, [public, private]), content_type=RSS)
    db_url = f"sqlite:///{tmp_path / 'newsrelay.db'}"
    config = config_file(tmp_path, db_url, {"outlet": [feed_url]})

    result = crawl(config, "outlet")

    assert result.returncode == 0, result.stdout + result.stderr
    assert site.hits(private) == []
    assert [r.status for r in site.hits("/robots.txt")] == [200]
    assert [r.status for r in site.hits(public)] == [200]
    row = summary(result.stdout)["outlet"]
    assert (row["status"], row["new"], row["errors"]) == ("ok", 1, 1), row
    assert row["why"] == f"page {site.url(private)}: Forbidden by robots.txt", row
    assert query(db_url, "SELECT url FROM articles") == [(site.url(public),)]


# -- 6. per-host concurrency ----------------------------------------------------------------
def test_per_host_concurrency_is_capped(site: LocalSite, tmp_path: Path) -> None:
    """With ``concurrency_per_host = 2`` and eight pages that each take 0.3 s to answer, the
    site never has more than two requests from the crawler in flight, and does have two (the
    crawl is parallel up to the limit, not serial); every page is stored.
    """
    pages = [f"/news/slow-{i}.html" for i in range(8)]
    serve_pages(site, pages, delay=0.3)
    feed_url = site.add(FEED, rss(site, pages), content_type=RSS)
    db_url = f"sqlite:///{tmp_path / 'newsrelay.db'}"
    config = config_file(tmp_path, db_url, {"outlet": [feed_url]}, concurrency_per_host=2)

    result = crawl(config, "outlet")

    assert result.returncode == 0, result.stdout + result.stderr
    assert summary(result.stdout)["outlet"]["new"] == 8
    assert sorted(paths(site.requests)) == sorted([FEED, *pages])
    assert site.max_in_flight == 2
