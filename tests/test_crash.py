"""Crash safety and concurrency: real processes killed with SIGKILL mid-crawl, and crawls
racing each other and the daemon, on SQLite and PostgreSQL. Afterwards the database must be
intact and every story stored exactly once."""

from __future__ import annotations

import json
import signal
import sqlite3
import subprocess
import time
from pathlib import Path

from sqlalchemy import select

from storage.db import open_database
from storage.models import CrawlRun
from tests.localsite import LocalSite, wait_until
from tests.support import (
    NEWSRELAY,
    DaemonProcess,
    daemon_config,
    newsroom,
    run_newsrelay,
    source_toml,
)


def crossposting_newsroom(site: LocalSite, stories: int, delay: float = 0.0) -> str:
    """Sources ``alpha`` and ``beta`` and a ``mix`` feed listing both outlets' stories
    (the same addresses, with tracking parameters), as aggregator feeds do."""
    alpha = newsroom(site, "alpha", stories, delay=delay)
    beta = newsroom(site, "beta", stories, delay=delay)
    items = "".join(
        f"<item><title>{name} {n}</title>"
        f"<link>{site.url(f'/{name}/news/{n}.html')}?utm_source=mix</link></item>"
        for name in ("alpha", "beta")
        for n in range(stories)
    )
    mix = site.add(
        "/mix/feed.xml",
        f'<?xml version="1.0"?><rss version="2.0"><channel><title>mix</title>{items}'
        "</channel></rss>",
        content_type="application/rss+xml",
    )
    return source_toml("alpha", alpha) + source_toml("beta", beta) + source_toml("mix", mix)


def expected_urls(site: LocalSite, stories: int) -> list[str]:
    return sorted(
        site.url(f"/{name}/news/{n}.html") for name in ("alpha", "beta") for n in range(stories)
    )


def stored(config: Path) -> list[dict[str, object]]:
    result = run_newsrelay("export", "--format", "jsonl", config=config)
    assert result.returncode == 0, result.stderr
    return [json.loads(line) for line in result.stdout.splitlines()]


def assert_intact(db_url: str) -> None:
    if db_url.startswith("sqlite"):
        with sqlite3.connect(db_url.removeprefix("sqlite:///")) as conn:
            assert conn.execute("PRAGMA integrity_check").fetchone() == ("ok",)
            assert conn.execute("PRAGMA foreign_key_check").fetchall() == []


def test_crawl_killed_at_any_moment_then_rerun_stores_every_story_once(
    site: LocalSite, db_url: str, tmp_path: Path
) -> None:
    stories = 12
    config = daemon_config(
        tmp_path / "newsrelay.toml", db_url, crossposting_newsroom(site, stories, delay=0.05)
    )
    kills = 0
    for n in (1, 9, 17):  # pages fetched before the kill: early, in the middle, late
        seen = len([r for r in site.requests if "/news/" in r.path])
        command = [str(NEWSRELAY), "--config", str(config), "crawl", "--all"]
        crawl = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)

        def far_enough(crawl: subprocess.Popen[bytes] = crawl, target: int = seen + n) -> bool:
            pages = len([r for r in site.requests if "/news/" in r.path])
            return pages >= target or crawl.poll() is not None

        wait_until(far_enough, timeout=60)
        if crawl.poll() is None:
            crawl.send_signal(signal.SIGKILL)
            kills += 1
        crawl.wait()
        assert_intact(db_url)
    assert kills >= 2  # the crawl was really cut short, more than once

    final = run_newsrelay("crawl", "--all", config=config)
    assert final.returncode == 0, final.stdout + final.stderr
    articles = stored(config)
    assert sorted(str(a["url"]) for a in articles) == expected_urls(site, stories)
    status = json.loads(run_newsrelay("status", "--json", config=config).stdout)
    assert all(row["last_run"]["status"] == "ok" for row in status["sources"])
    db = open_database(db_url, create=False)
    try:
        with db.reading() as session:
            statuses = list(session.scalars(select(CrawlRun.status)))
    finally:
        db.dispose()
    # The killed runs were closed by the next crawl; none is left "running".
    assert "running" not in statuses
    assert statuses.count("interrupted") >= kills
    assert_intact(db_url)


def test_daemon_and_manual_crawls_at_once_store_each_story_once(
    site: LocalSite, db_url: str, tmp_path: Path
) -> None:
    stories = 15
    config = daemon_config(
        tmp_path / "newsrelay.toml", db_url, crossposting_newsroom(site, stories, delay=0.02)
    )
    daemon = DaemonProcess(config)
    try:
        command = [str(NEWSRELAY), "--config", str(config), "crawl", "--all"]
        crawls = [
            subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
            for _ in range(2)
        ]
        for crawl in crawls:
            _, stderr = crawl.communicate(timeout=120)
            assert crawl.returncode in (0, 1), stderr
            assert "Traceback" not in stderr
        daemon.wait_for(lambda: len(daemon.summaries("mix")) >= 2)
        time.sleep(0.5)
        assert daemon.stop() == 0
    finally:
        daemon.kill()
    articles = stored(config)
    assert sorted(str(a["url"]) for a in articles) == expected_urls(site, stories)
    # Each page was fetched by at most... every process that raced for it; but stored once.
    assert len({a["content_hash"] for a in articles}) == len(articles)
    assert not [r for r in daemon.records() if r["level"] in ("error", "critical")]
    assert_intact(db_url)
