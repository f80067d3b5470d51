"""Faults inside a running crawl: each is a recorded failure with a reason, never a silent
loss, and the page or feed it hit is read again by the next poll."""

from __future__ import annotations

import os
import random
import re
import signal
import sqlite3
import subprocess
import time
from pathlib import Path
from threading import Thread

from storage.db import open_database
from tests.localsite import LocalSite, wait_until
from tests.support import (
    NEWSRELAY,
    DaemonProcess,
    article_html,
    daemon_config,
    rss_of,
    run_newsrelay,
    source_toml,
    summary,
    write_config,
)

RSS = "application/rss+xml"
HTML = "text/html; charset=utf-8"


def heavy_page(paragraphs: int = 6000) -> str:
    """About 4 MB of prose: several seconds of extraction."""
    rng = random.Random(7)
    words = ["harbour", "strike", "council", "budget", "river", "bridge", "school", "market"]
    body = "".join(
        "<p>" + " ".join(f"{rng.choice(words)}{rng.randint(0, 9999)}" for _ in range(80)) + "</p>"
        for _ in range(paragraphs)
    )
    return (
        f"<html><head><title>Long read</title></head><body><article>{body}</article></body></html>"
    )


def with_fetch(config: Path, **values: object) -> Path:
    """``config`` (from write_config) with these keys in its [fetch] table."""
    text = config.read_text()
    for key in values:
        text = re.sub(rf"(?m)^{key} = .*\n", "", text)
    lines = "".join(f"{key} = {value}\n" for key, value in values.items())
    config.write_text(text.replace("[fetch]\n", "[fetch]\n" + lines, 1))
    return config


def count_articles(database: Path) -> int:
    """How many articles the database holds (0 before the crawl created it)."""
    try:
        return int(query(database, "SELECT count(*) FROM articles")[0][0])  # type: ignore[call-overload]
    except sqlite3.OperationalError:
        return 0


def one_source(tmp_path: Path, database: Path, feed: str, **fetch: object) -> Path:
    """A config crawling ``feed`` as source ``a`` into ``database``, with these [fetch] keys."""
    config = write_config(
        tmp_path / "newsrelay.toml",
        f"sqlite:///{database}",
        f'[[sources]]\nname = "a"\nfeeds = ["{feed}"]\n',
    )
    return with_fetch(config, **fetch) if fetch else config


def query(database: Path, sql: str) -> list[tuple[object, ...]]:
    with sqlite3.connect(database) as conn:
        return conn.execute(sql).fetchall()


def test_a_storage_error_in_a_callback_fails_the_feed_not_the_log(
    site: LocalSite, tmp_path: Path
) -> None:
    """The feed's state cannot be written (the database refuses): the feed fails with the
    reason, the run is failed, no "Spider error" traceback, and the next poll reads the feed
    in full and stores everything."""
    pages = [site.add(f"/news/{n}.html", article_html(n), content_type=HTML) for n in range(3)]
    paths = [f"/news/{n}.html" for n in range(3)]
    site.add("/feed.xml", rss_of(site, paths), content_type=RSS)
    database = tmp_path / "newsrelay.db"
    url = f"sqlite:///{database}"
    config = one_source(tmp_path, database, site.url("/feed.xml"))
    open_database(url).dispose()  # the schema, so that the fault can be planted
    query(
        database,
        "CREATE TRIGGER refuse BEFORE UPDATE OF last_status ON feeds WHEN NEW.last_status = 200"
        " BEGIN SELECT RAISE(ABORT, 'injected fault'); END",
    )

    first = run_newsrelay("crawl", "a", "--json", config=config)

    assert "Traceback" not in first.stderr and "Spider error" not in first.stderr, first.stderr
    assert first.returncode == 1, first.stdout + first.stderr
    row = summary(first.stdout)["a"]
    assert row["status"] == "failed", row
    assert any(
        r.startswith(f"feed {site.url('/feed.xml')}: storage: ") and "injected fault" in r
        for r in row["reasons"]
    ), row
    [(status, feeds_failed)] = query(database, "SELECT status, feeds_failed FROM crawl_runs")
    assert (status, feeds_failed) == ("failed", 1)
    assert query(database, "SELECT etag, last_modified FROM feeds") == [(None, None)]

    query(database, "DROP TRIGGER refuse")
    second = run_newsrelay("crawl", "a", "--json", config=config)
    assert second.returncode == 0, second.stdout + second.stderr
    assert summary(second.stdout)["a"]["new"] == 3
    assert [r.status for r in site.hits("/feed.xml")] == [200, 200]
    assert sorted(query(database, "SELECT url FROM articles")) == sorted((p,) for p in pages)


def _children(pid: int) -> list[int]:
    try:
        return [int(c) for c in Path(f"/proc/{pid}/task/{pid}/children").read_text().split()]
    except OSError:
        return []


def test_a_worker_killed_mid_page_fails_that_page_and_the_next_poll_gets_it(
    site: LocalSite, tmp_path: Path
) -> None:
    """SIGKILL the extraction worker while it extracts a long page: that page fails with
    the reason (counted, in the summary), the run is not ok, the other page is stored, and
    the next poll reads the feed in full and stores the long page."""
    site.add("/news/long.html", heavy_page(), content_type=HTML)
    site.add("/news/short.html", article_html(1), content_type=HTML)
    site.add("/feed.xml", rss_of(site, ["/news/short.html", "/news/long.html"]), content_type=RSS)
    database = tmp_path / "newsrelay.db"
    config = one_source(tmp_path, database, site.url("/feed.xml"), extract_processes=1)
    process = subprocess.Popen(
        [str(NEWSRELAY), "--config", str(config), "crawl", "a", "--json"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    killed: list[int] = []

    def kill_the_worker() -> None:
        assert wait_until(lambda: site.hits("/news/long.html"), timeout=30)
        time.sleep(0.5)  # extraction of the long page is under way (it takes seconds)
        for zygote in _children(process.pid):
            for worker in _children(zygote):
                os.kill(worker, signal.SIGKILL)
                killed.append(worker)

    killer = Thread(target=kill_the_worker)
    killer.start()
    stdout, stderr = process.communicate(timeout=120)
    killer.join()

    assert killed, "no worker was found to kill"
    assert "Traceback" not in stderr and "Spider error" not in stderr, stderr
    assert process.returncode == 1, stdout + stderr
    row = summary(stdout)["a"]
    assert row["status"] != "ok" and row["new"] == 1 and row["errors"] == 1, row
    assert row["reasons"] == [f"page {site.url('/news/long.html')}: extraction worker died"], row
    [(status, pages_failed)] = query(database, "SELECT status, pages_failed FROM crawl_runs")
    assert status != "ok" and pages_failed == 1

    again = run_newsrelay("crawl", "a", "--json", config=config)
    assert again.returncode == 0, again.stdout + again.stderr
    assert summary(again.stdout)["a"]["new"] == 1
    assert [r.status for r in site.hits("/feed.xml")] == [200, 200]
    assert len(query(database, "SELECT id FROM articles")) == 2


def test_a_page_past_the_extraction_deadline_fails_and_its_worker_is_replaced(
    site: LocalSite, tmp_path: Path
) -> None:
    """``fetch.extract_timeout``: a page whose extraction takes longer fails with the reason,
    its worker is killed and replaced, the pages queued behind it are extracted, and the
    crawl does not wait for the slow one."""
    site.add("/news/long.html", heavy_page(), content_type=HTML)
    paths = ["/news/long.html"] + [f"/news/{n}.html" for n in range(4)]
    for n in range(4):
        site.add(f"/news/{n}.html", article_html(n), content_type=HTML)
    site.add("/feed.xml", rss_of(site, paths), content_type=RSS)
    database = tmp_path / "newsrelay.db"
    config = one_source(
        tmp_path, database, site.url("/feed.xml"), extract_processes=1, extract_timeout=1
    )

    result = run_newsrelay("crawl", "a", "--json", config=config)

    assert "Traceback" not in result.stderr, result.stderr
    assert result.returncode == 1, result.stdout + result.stderr
    row = summary(result.stdout)["a"]
    assert (row["status"], row["new"], row["errors"]) == ("partial", 4, 1), row
    reason = f"page {site.url('/news/long.html')}: extraction took longer than 1 s"
    assert row["reasons"] == [reason], row
    # The only worker was killed: the replacement extracted the four others.
    assert "extraction workers replaced: 1 now running" in result.stderr
    assert query(database, "SELECT etag FROM feeds") == [(None,)]  # read in full next time


def test_a_batch_is_written_within_a_second_even_when_no_item_follows(
    site: LocalSite, tmp_path: Path
) -> None:
    """A stored-to-be article waits at most about a second in the pipeline's batch, also
    while the rest of the crawl is stuck on a slow page (the flush has a timer)."""
    site.add("/news/0.html", article_html(0), content_type=HTML)
    site.add("/news/slow.html", article_html(1), content_type=HTML, delay=8)
    site.add("/feed.xml", rss_of(site, ["/news/0.html", "/news/slow.html"]), content_type=RSS)
    database = tmp_path / "newsrelay.db"
    config = one_source(tmp_path, database, site.url("/feed.xml"))
    process = subprocess.Popen(
        [str(NEWSRELAY), "--config", str(config), "crawl", "a"],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        assert wait_until(lambda: site.hits("/news/0.html"), timeout=30)
        served = time.monotonic()
        stored = wait_until(lambda: count_articles(database), timeout=5)
        waited = time.monotonic() - served
        assert stored, "the article was not written while the crawl waited for the slow page"
        assert waited < 4, waited
        assert process.poll() is None  # the slow page is still being waited for
    finally:
        _, stderr = process.communicate(timeout=60)
    assert process.returncode == 0, stderr
    assert query(database, "SELECT count(*) FROM articles") == [(2,)]


def test_a_run_left_by_a_reused_pid_or_an_earlier_boot_is_recognised_as_abandoned(
    tmp_path: Path,
) -> None:
    """A run recorded as running by a process that is gone is closed at the next start,
    also when its pid now belongs to another living process (pid reuse after a reboot or
    a long uptime): the process's start time, or the boot, tells them apart."""
    database = tmp_path / "newsrelay.db"
    config = write_config(
        tmp_path / "newsrelay.toml",
        f"sqlite:///{database}",
        '[[sources]]\nname = "a"\nfeeds = ["http://127.0.0.1:9/feed.xml"]\n',
    )
    assert run_newsrelay("crawl", "a", config=config).returncode == 1  # a source, a run
    stranger = subprocess.Popen(["sleep", "60"])  # alive, but never ran a crawl
    try:
        query(database, f"UPDATE crawl_runs SET status = 'running', pid = {stranger.pid}")
        query(database, "UPDATE crawl_runs SET pid_start = pid_start + 1000")  # not its start
        run_newsrelay("crawl", "a", config=config)
        statuses = query(database, "SELECT status FROM crawl_runs ORDER BY id")
        assert statuses[0] == ("interrupted",), statuses

        query(database, f"UPDATE crawl_runs SET status = 'running', pid = {stranger.pid}")
        query(database, "UPDATE crawl_runs SET pid_start = NULL, boot_id = 'an earlier boot'")
        run_newsrelay("crawl", "a", config=config)
        statuses = query(database, "SELECT status FROM crawl_runs ORDER BY id")
        assert all(s == ("interrupted",) or s == ("failed",) for s in statuses), statuses
        assert ("running",) not in statuses
    finally:
        stranger.kill()
        stranger.wait()


def test_a_killed_run_leaves_its_feeds_due_at_once(site: LocalSite, tmp_path: Path) -> None:
    """kill -9 during a run whose feed said max-age=900: the next due-only poll reads the
    feed at once (not in 15 minutes) and stores the entry the killed run had not reached."""
    site.add("/news/0.html", article_html(0), content_type=HTML)
    site.add("/news/1.html", article_html(1), content_type=HTML, delay=30)
    site.add(
        "/feed.xml",
        rss_of(site, ["/news/0.html", "/news/1.html"]),
        content_type=RSS,
        headers={"Cache-Control": "max-age=900"},
    )
    database = tmp_path / "newsrelay.db"
    config = one_source(tmp_path, database, site.url("/feed.xml"))
    process = subprocess.Popen(
        [str(NEWSRELAY), "--config", str(config), "crawl", "a", "--due-only"],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    # The fast page is stored (the batch timer writes it within a second); the slow one is
    # being waited for.
    assert wait_until(lambda: count_articles(database), timeout=30)
    process.kill()
    process.wait()
    [(next_poll,)] = query(database, "SELECT next_poll_after FROM feeds")
    assert next_poll is not None  # the feed asked for 15 minutes of quiet

    site.add("/news/1.html", article_html(1), content_type=HTML)  # no longer slow
    again = run_newsrelay("crawl", "a", "--due-only", "--json", config=config)

    assert again.returncode == 0, again.stdout + again.stderr
    row = summary(again.stdout)["a"]
    assert (row["feeds_not_due"], row["new"]) == (0, 1), row
    assert [r.status for r in site.hits("/feed.xml")] == [200, 200]


def _most_at_once(database: Path) -> int:
    """The most crawl runs that were running at the same moment."""
    rows = query(database, "SELECT started_at, finished_at FROM crawl_runs")
    events = sorted(
        [(str(start), 1) for start, _ in rows] + [(str(end), -1) for _, end in rows if end],
        key=lambda e: (e[0], e[1]),  # an end before a start at the same instant
    )
    running = most = 0
    for _, step in events:
        running += step
        most = max(most, running)
    return most


def test_a_reload_never_lets_more_than_parallel_sources_run(
    site: LocalSite, tmp_path: Path
) -> None:
    """SIGHUP while crawls run: the crawls started after the reload share the limit with
    those started before it; at no moment do more than fetch.parallel_sources run."""
    feeds = {}
    for name in ("a", "b", "c"):
        # Always a full answer, slow: every run of every source takes two seconds.
        feeds[name] = site.add(
            f"/{name}.xml", rss_of(site, []), content_type=RSS, conditional=False, delay=2
        )
    database = tmp_path / "newsrelay.db"
    config = with_fetch(
        daemon_config(
            tmp_path / "newsrelay.toml",
            f"sqlite:///{database}",
            "".join(source_toml(name, feed) for name, feed in feeds.items()),
        ),
        parallel_sources=2,
    )
    daemon = DaemonProcess(config)
    try:
        # Two feeds being answered: two crawls run. (Not their runs' rows: a poll that has
        # changed nothing yet has none.)
        daemon.wait_for(lambda: site.in_flight == 2)
        daemon.signal(signal.SIGHUP)
        daemon.wait_for(lambda: any("config reloaded" in r["msg"] for r in daemon.records()))
        time.sleep(10)
        assert daemon.stop() == 0
    finally:
        daemon.kill()
    assert len(query(database, "SELECT id FROM crawl_runs")) >= 8  # the sources kept running
    assert _most_at_once(database) <= 2


def test_sigterm_cancels_a_retry_wait(site: LocalSite, tmp_path: Path) -> None:
    """A feed answers 503 with Retry-After: 50, so the crawl waits to retry it: SIGTERM during
    that wait stops the daemon at once (not after daemon.stop_timeout), exit 0, and the run
    is recorded interrupted."""
    feed = site.add(
        "/feed.xml", rss_of(site, []), content_type=RSS, status=503, headers={"Retry-After": "50"}
    )
    database = tmp_path / "newsrelay.db"
    config = with_fetch(
        daemon_config(
            tmp_path / "newsrelay.toml",
            f"sqlite:///{database}",
            source_toml("a", feed, 'interval = "1h"'),
            stop_timeout='"30s"',
        ),
        retries=2,
    )
    daemon = DaemonProcess(config)
    try:
        daemon.wait_for(lambda: site.hits("/feed.xml"))
        time.sleep(0.5)  # the middleware is waiting out the Retry-After
        started = time.monotonic()
        code = daemon.stop(timeout=60)
        took = time.monotonic() - started
    finally:
        daemon.kill()
    assert code == 0
    assert took < 5, took
    assert query(database, "SELECT status FROM crawl_runs") == [("interrupted",)]
    assert len(site.hits("/feed.xml")) == 1  # not retried after the stop
