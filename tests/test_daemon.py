"""The daemon, ``newsrelay run``, as a real subprocess against a real loopback site.

Sources poll every 1-2 s so a test sees several scheduled runs in a few seconds. Logs are
JSON lines (``--log-format json``) written to a file the test reads as the daemon goes.
"""

from __future__ import annotations

import json
import os
import signal
import sqlite3
import subprocess
import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import select

from crawler.config import DaemonConfig, SourceConfig
from crawler.gc_policy import DAEMON_GC_THRESHOLDS
from scheduler.schedules import first_run, trigger_for
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

SUMMARY_KEYS = {"source", "run_id", "new", "duplicates", "errors", "duration_s"}


@pytest.fixture
def daemons() -> Iterator[list[DaemonProcess]]:
    """Daemons a test starts; any still running at the end are killed."""
    started: list[DaemonProcess] = []
    yield started
    for daemon in started:
        daemon.kill()


def start(daemons: list[DaemonProcess], config: Path, *args: str) -> DaemonProcess:
    daemon = DaemonProcess(config, *args)
    daemons.append(daemon)
    return daemon


def status(config: Path) -> dict[str, Any]:
    result = run_newsrelay("status", "--json", config=config)
    assert result.returncode == 0, result.stderr
    data: dict[str, Any] = json.loads(result.stdout)
    return data


def stored_urls(config: Path) -> list[str]:
    result = run_newsrelay("export", "--format", "jsonl", config=config)
    assert result.returncode == 0, result.stderr
    return [json.loads(line)["url"] for line in result.stdout.splitlines()]


def descendants(pid: int) -> set[int]:
    """Every process below ``pid``, from /proc."""
    found: set[int] = set()
    todo = [pid]
    while todo:
        parent = todo.pop()
        for task in Path(f"/proc/{parent}/task").glob("*"):
            try:
                children = (task / "children").read_text().split()
            except OSError:
                continue
            for child in map(int, children):
                if child not in found:
                    found.add(child)
                    todo.append(child)
    return found


def _exists(pid: int) -> bool:
    """Alive and not a zombie (a zombie has ended; it waits for its parent)."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return False
    return stat.rpartition(")")[2].split()[0] != "Z"


# -- the life of a daemon -------------------------------------------------------------------
def test_daemon_runs_every_source_repeatedly_and_stops_on_sigterm(
    site: LocalSite, db_url: str, tmp_path: Path, daemons: list[DaemonProcess]
) -> None:
    sources = source_toml("alpha", newsroom(site, "alpha", 3)) + source_toml(
        "beta", newsroom(site, "beta", 2), 'interval = "2s"'
    )
    config = daemon_config(tmp_path / "newsrelay.toml", db_url, sources)
    assert run_newsrelay("health", config=config).returncode == 1  # nothing runs yet

    daemon = start(daemons, config)
    daemon.wait_for(lambda: len(daemon.summaries("alpha")) >= 3 and daemon.summaries("beta"))
    assert run_newsrelay("health", config=config).returncode == 0
    current = status(config)
    assert current["daemon"]["running"] is True
    assert current["daemon"]["pid"] == daemon.process.pid
    by_name = {row["source"]: row for row in current["sources"]}
    assert by_name["alpha"]["last_run"]["status"] in ("ok", "running")
    assert by_name["alpha"]["next_run"] is not None
    table = run_newsrelay("status", config=config)
    assert table.returncode == 0 and "daemon running" in table.stdout
    assert all(word in table.stdout for word in ("alpha", "beta", "next run"))

    assert daemon.stop() == 0
    records = daemon.records()  # every line parsed as JSON
    assert run_newsrelay("health", config=config).returncode == 1
    assert status(config)["daemon"]["running"] is False

    started = [r for r in records if r["msg"].startswith("daemon started")]
    assert len(started) == 1 and "alpha" in started[0]["msg"] and started[0]["version"]
    assert any(r["msg"] == "daemon stopped" for r in records)
    summaries = [r for r in records if r["msg"].startswith("crawl ") and "run_id" in r]
    assert all(r.keys() >= SUMMARY_KEYS for r in summaries)
    # Every run went well, but for one the SIGTERM may have caught under way (per source).
    for name in ("alpha", "beta"):
        statuses = [r["status"] for r in summaries if r["source"] == name]
        assert all(status == "ok" for status in statuses[:-1]), statuses
        assert statuses[-1] in ("ok", "interrupted"), statuses
    run_ids = [r["run_id"] for r in summaries]
    assert len(run_ids) == len(set(run_ids))  # one record per run
    alpha = [r for r in summaries if r["source"] == "alpha" and r["status"] == "ok"]
    assert alpha[0]["new"] == 3 and all(r["new"] == 0 for r in alpha[1:])
    assert sum(r["feeds_not_modified"] for r in alpha[1:]) == len(alpha) - 1  # 304s after
    assert not any(r["level"] in ("error", "critical") for r in records)
    assert not any("extraction looks broken" in r["msg"] for r in records)
    assert sorted(stored_urls(config)) == sorted(
        site.url(f"/{name}/news/{n}.html") for name, count in (("alpha", 3), ("beta", 2))
        for n in range(count)
    )  # fmt: skip


def test_daemon_freezes_its_start_up_heap_and_sets_its_gc_thresholds_before_crawling(
    site: LocalSite, db_url: str, tmp_path: Path, daemons: list[DaemonProcess]
) -> None:
    config = daemon_config(
        tmp_path / "newsrelay.toml", db_url, source_toml("alpha", newsroom(site, "alpha", 1))
    )
    daemon = start(daemons, config)
    daemon.wait_for(lambda: daemon.summaries("alpha"))
    assert daemon.stop() == 0
    records = daemon.records()
    messages = [r["msg"] for r in records]
    settled = [r for r in records if r["msg"].startswith("garbage collector settled")]
    assert len(settled) == 1
    # Read back from gc in the daemon: Scrapy, the config and the jobs are frozen (tens of
    # thousands of objects), before the first crawl.
    assert settled[0]["gc_frozen"] > 20_000
    thresholds = tuple(settled[0][f"gc_threshold{n}"] for n in range(3))
    assert thresholds == DAEMON_GC_THRESHOLDS
    first_crawl = next(i for i, m in enumerate(messages) if m.startswith("crawl "))
    assert messages.index(settled[0]["msg"]) < first_crawl


def test_second_daemon_on_the_same_database_refuses(
    site: LocalSite, db_url: str, tmp_path: Path, daemons: list[DaemonProcess]
) -> None:
    config = daemon_config(
        tmp_path / "newsrelay.toml", db_url, source_toml("alpha", newsroom(site, "alpha", 1))
    )
    first = start(daemons, config)
    first.wait_for(lambda: first.summaries("alpha"))
    for args in (("run",), ("run", "--once")):
        second = run_newsrelay(*args, config=config, timeout=30)
        assert second.returncode == 2
        lines = second.stderr.strip().splitlines()
        assert len(lines) == 1, second.stderr
        assert "another newsrelay daemon is running on this database" in lines[0]
        assert f"pid {first.process.pid}" in lines[0]
    assert first.process.poll() is None  # the first one is unaffected
    assert first.stop() == 0
    # Once it has stopped, the lock is free again.
    assert run_newsrelay("run", "--once", config=config, timeout=60).returncode == 0


def test_sighup_reloads_sources_and_keeps_running_config_when_broken(
    site: LocalSite, tmp_path: Path, daemons: list[DaemonProcess]
) -> None:
    db_url = f"sqlite:///{tmp_path / 'newsrelay.db'}"
    path = tmp_path / "newsrelay.toml"
    alpha = source_toml("alpha", newsroom(site, "alpha", 1))
    beta_feed = newsroom(site, "beta", 2)
    config = daemon_config(path, db_url, alpha)
    daemon = start(daemons, config)
    daemon.wait_for(lambda: daemon.summaries("alpha"))

    daemon_config(path, db_url, alpha + source_toml("beta", beta_feed))
    daemon.signal(signal.SIGHUP)
    daemon.wait_for(lambda: daemon.summaries("beta"))
    reloaded = [r for r in daemon.records() if r["msg"].startswith("config reloaded")]
    assert len(reloaded) == 1 and "added=beta" in reloaded[0]["msg"]
    assert daemon.summaries("beta")[0]["new"] == 2

    # A broken file: logged, and the running config (both sources) goes on.
    path.write_text(path.read_text() + "\n[[sources]]\nname = 'Bad Name!'\n")
    daemon.signal(signal.SIGHUP)
    daemon.wait_for(
        lambda: any(r["msg"].startswith("config reload failed") for r in daemon.records())
    )
    seen = len(daemon.summaries("beta"))
    daemon.wait_for(lambda: len(daemon.summaries("beta")) > seen)

    # Removing a source stops its runs.
    daemon_config(path, db_url, source_toml("beta", beta_feed))
    daemon.signal(signal.SIGHUP)
    daemon.wait_for(lambda: "removed=alpha" in str(daemon.records()))
    time.sleep(0.5)  # a run of alpha already under way may still finish
    alpha_runs = len(daemon.summaries("alpha"))
    seen = len(daemon.summaries("beta"))
    daemon.wait_for(lambda: len(daemon.summaries("beta")) >= seen + 2)
    assert len(daemon.summaries("alpha")) == alpha_runs
    assert daemon.stop() == 0
    errors = [r for r in daemon.records() if r["level"] == "error"]
    assert len(errors) == 1 and "Bad Name!" in errors[0]["msg"]


def test_sigterm_closes_crawls_in_flight_as_interrupted(
    site: LocalSite, tmp_path: Path, daemons: list[DaemonProcess]
) -> None:
    feed = newsroom(site, "slow", 4, delay=30)  # each page takes 30 s to answer
    db_url = f"sqlite:///{tmp_path / 'newsrelay.db'}"
    config = daemon_config(tmp_path / "newsrelay.toml", db_url, source_toml("slow", feed))
    daemon = start(daemons, config)
    assert wait_until(lambda: site.in_flight > 0, timeout=30)  # a page is being fetched
    began = time.monotonic()
    assert daemon.stop() == 0
    # Downloads in flight are cancelled: neither the pages' 30 s, nor the 10 s fetch timeout
    # Scrapy's own graceful stop would wait for, nor the daemon's 10 s stop_timeout.
    assert time.monotonic() - began < 5
    summaries = daemon.summaries("slow")
    assert [r["status"] for r in summaries] == ["interrupted"]
    assert status(config)["sources"][0]["last_run"]["status"] == "interrupted"
    # Nothing the interrupted run left is lost: the next run reads the feed in full again
    # (no 304 for a feed whose entries were not all handled) and stores every story.
    newsroom(site, "slow", 4)
    assert run_newsrelay("run", "--once", config=config, timeout=60).returncode == 0
    assert len(stored_urls(config)) == 4


def test_sigterm_to_the_whole_group_is_a_graceful_stop(
    site: LocalSite, tmp_path: Path, daemons: list[DaemonProcess]
) -> None:
    """systemd sends SIGTERM to every process of the service: the extraction workers and
    their zygote ignore it, the daemon stops its crawls and ends them; nothing fails."""
    feed = newsroom(site, "wire", 12)
    config = daemon_config(
        tmp_path / "newsrelay.toml",
        f"sqlite:///{tmp_path / 'newsrelay.db'}",
        source_toml("wire", feed),
    )
    daemon = start(daemons, config)
    daemon.wait_for(lambda: daemon.summaries("wire"))
    workers = descendants(daemon.process.pid)
    assert len(workers) == (os.cpu_count() or 1) + 1  # the zygote, one worker per CPU
    for pid in workers:  # only the daemon decides when they end
        os.kill(pid, signal.SIGTERM)
    time.sleep(0.5)
    assert all(_exists(pid) for pid in workers)
    os.killpg(daemon.process.pid, signal.SIGTERM)
    assert daemon.process.wait(timeout=20) == 0
    assert wait_until(lambda: not any(_exists(pid) for pid in workers), timeout=10)
    records = daemon.records()
    assert not [r for r in records if r["level"] in ("error", "critical")], records
    assert records[-1]["msg"].startswith("daemon stopped")


def test_crawl_command_stops_promptly_on_sigterm(site: LocalSite, tmp_path: Path) -> None:
    feed = newsroom(site, "slow", 2, delay=30)
    config = daemon_config(
        tmp_path / "newsrelay.toml", f"sqlite:///{tmp_path / 'n.db'}", source_toml("slow", feed)
    )
    command = [str(NEWSRELAY), "--config", str(config), "crawl", "--all"]
    crawl = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    assert wait_until(lambda: site.in_flight > 0, timeout=30)
    began = time.monotonic()
    crawl.send_signal(signal.SIGTERM)
    stdout, stderr = crawl.communicate(timeout=20)
    assert time.monotonic() - began < 5
    assert crawl.returncode == 1  # the run did not finish
    assert "interrupted" in stdout and "page failed" not in stderr


# -- schedules across restarts --------------------------------------------------------------
def _age_runs(db_path: Path, by: timedelta) -> None:
    """Move every recorded run back in time, as if the daemon had been down for ``by``."""
    with sqlite3.connect(db_path) as conn:
        for run_id, started in conn.execute("SELECT id, started_at FROM crawl_runs").fetchall():
            moved = datetime.fromisoformat(started) - by
            conn.execute(
                "UPDATE crawl_runs SET started_at = ? WHERE id = ?",
                (moved.isoformat(sep=" "), run_id),
            )


def test_catch_up_spread_is_at_most_a_quarter_of_a_short_interval() -> None:
    now = datetime.now(UTC)
    spreads: dict[str, list[float]] = {}
    for interval in ("10s", "1h"):
        source = SourceConfig(name="s", feeds=["http://127.0.0.1:1/feed.xml"], interval=interval)
        trigger, period = trigger_for(source, DaemonConfig(), now)
        firsts = [first_run(source, trigger, period, now - 2 * period, now) for _ in range(200)]
        spreads[interval] = [(first - now).total_seconds() for first in firsts if first]
    assert len(spreads["10s"]) == 200 and max(spreads["10s"]) <= 2.5
    assert max(spreads["1h"]) <= 5 and max(spreads["1h"]) > 2.5


def test_missed_run_is_caught_up_soon_after_start_and_cadence_is_kept(
    site: LocalSite, tmp_path: Path, daemons: list[DaemonProcess]
) -> None:
    db_path = tmp_path / "newsrelay.db"
    config = daemon_config(
        tmp_path / "newsrelay.toml",
        f"sqlite:///{db_path}",
        source_toml("hourly", newsroom(site, "hourly", 1), 'interval = "1h"')
        + source_toml("nightly", newsroom(site, "nightly", 1), 'cron = "0 3 * * *"'),
    )
    once = run_newsrelay("run", "--once", config=config, timeout=60)
    assert once.returncode == 0, once.stderr
    assert len(site.hits("/hourly/feed.xml")) == 1 and len(site.hits("/nightly/feed.xml")) == 1

    # Just crawled: a restart does not crawl again, it waits for the next hour / 03:00.
    daemon = start(daemons, config)
    daemon.wait_for(lambda: any(r["msg"].startswith("daemon started") for r in daemon.records()))
    time.sleep(3)
    assert daemon.summaries() == []
    rows = {row["source"]: row for row in status(config)["sources"]}
    last = datetime.fromisoformat(rows["hourly"]["last_run"]["started_at"])
    next_run = datetime.fromisoformat(rows["hourly"]["next_run"])
    assert abs(next_run - (last + timedelta(hours=1))) < timedelta(seconds=2)
    next_nightly = datetime.fromisoformat(rows["nightly"]["next_run"])
    assert next_nightly.astimezone(UTC).hour == 3 and next_nightly.minute == 0
    assert daemon.stop() == 0

    # Down for two days: both missed a run, and each runs once soon after start.
    _age_runs(db_path, timedelta(days=2))
    daemon = start(daemons, config)
    daemon.wait_for(lambda: daemon.summaries("hourly") and daemon.summaries("nightly"), 20)
    time.sleep(2)
    assert len(daemon.summaries("hourly")) == 1 and len(daemon.summaries("nightly")) == 1
    assert daemon.stop() == 0


def test_run_once_crawls_every_source_once(site: LocalSite, db_url: str, tmp_path: Path) -> None:
    sources = source_toml("alpha", newsroom(site, "alpha", 2)) + source_toml(
        "beta", newsroom(site, "beta", 1), 'cron = "*/5 * * * *"'
    )
    config = daemon_config(tmp_path / "newsrelay.toml", db_url, sources)
    result = run_newsrelay("--log-format", "json", "run", "--once", config=config, timeout=60)
    assert result.returncode == 0, result.stderr
    records = [json.loads(line) for line in result.stderr.splitlines()]
    summaries = [r for r in records if "run_id" in r]
    assert sorted((r["source"], r["new"]) for r in summaries) == [("alpha", 2), ("beta", 1)]
    assert run_newsrelay("health", config=config).returncode == 1  # it has exited


def test_killed_daemon_leaves_no_lock_and_its_open_run_is_closed_at_restart(
    site: LocalSite, db_url: str, tmp_path: Path, daemons: list[DaemonProcess]
) -> None:
    stories = 45  # enough for the extraction pool to start
    feed = newsroom(site, "slow", stories, delay=30)
    config = daemon_config(tmp_path / "newsrelay.toml", db_url, source_toml("slow", feed))
    daemon = start(daemons, config)
    assert wait_until(lambda: site.in_flight > 0, timeout=30)  # a page is being fetched
    # The extraction workers are up (their zygote and 2 workers).
    assert wait_until(lambda: len(descendants(daemon.process.pid)) >= 3, timeout=30)
    children = descendants(daemon.process.pid)
    os.kill(daemon.process.pid, signal.SIGKILL)
    daemon.kill()
    dead_run = status(config)["sources"][0]["last_run"]
    assert dead_run["status"] == "running"
    # Nothing of the dead daemon lingers: its zygote and workers end with it.
    assert wait_until(lambda: not any(_exists(pid) for pid in children), timeout=15)

    newsroom(site, "slow", stories)  # the same pages, answering at once now
    again = start(daemons, config)  # the lock died with the process
    again.wait_for(lambda: again.summaries("slow"))
    records = again.records()
    assert any("closed 1 runs left open" in r["msg"] for r in records)
    # The restarted daemon's first run crawled everything. (With a 1 s interval its next run
    # may already be open when it is stopped: that one ends "interrupted", rightly.)
    first = again.summaries("slow")[0]
    assert first["status"] == "ok" and first["run_id"] > dead_run["run_id"]
    assert again.stop() == 0
    db = open_database(db_url, create=False)
    try:
        with db.reading() as session:
            statuses = dict(session.execute(select(CrawlRun.id, CrawlRun.status)).all())
    finally:
        db.dispose()
    assert statuses[dead_run["run_id"]] == "interrupted"
    assert statuses[first["run_id"]] == "ok"
    assert "running" not in statuses.values()
    expected = sorted(site.url(f"/slow/news/{n}.html") for n in range(stories))
    assert sorted(stored_urls(config)) == expected


# -- extraction health ----------------------------------------------------------------------
def test_run_where_most_pages_are_empty_warns_about_extraction(
    site: LocalSite, tmp_path: Path
) -> None:
    sources = source_toml("redesigned", newsroom(site, "redesigned", 5, thin=True)) + (
        source_toml("healthy", newsroom(site, "healthy", 5))
    )
    config = daemon_config(tmp_path / "newsrelay.toml", f"sqlite:///{tmp_path / 'n.db'}", sources)
    result = run_newsrelay("--log-format", "json", "crawl", "--all", config=config)
    records = [json.loads(line) for line in result.stderr.splitlines()]
    warnings = [r for r in records if r["msg"].startswith("extraction looks broken")]
    assert [w["source"] for w in warnings] == ["redesigned"]
    assert warnings[0]["pages_thin"] == 5 and warnings[0]["pages_extracted"] == 5
    # The feed's own summaries still stand in for the missing text: nothing is lost.
    assert len(stored_urls(config)) == 10


def test_a_schema_broken_under_the_daemon_is_logged_and_the_daemon_goes_on(
    site: LocalSite, tmp_path: Path, daemons: list[DaemonProcess]
) -> None:
    db_path = tmp_path / "newsrelay.db"
    config = daemon_config(
        tmp_path / "newsrelay.toml",
        f"sqlite:///{db_path}",
        source_toml("alpha", newsroom(site, "alpha", 1)),
    )
    daemon = start(daemons, config)
    daemon.wait_for(lambda: daemon.summaries("alpha"))
    # Somebody breaks the schema under the running daemon: its next run times (written
    # apart from the runs, a second's worth at a time) can no longer be written.
    with sqlite3.connect(db_path) as conn:
        conn.execute("ALTER TABLE sources DROP COLUMN next_run_at")
    failing = "next run times not written"
    daemon.wait_for(lambda: any(r["msg"].startswith(failing) for r in daemon.records()))
    failed = next(r for r in daemon.records() if r["msg"].startswith(failing))
    assert failed["level"] == "error" and "next_run_at" in failed["msg"]
    assert run_newsrelay("health", config=config).returncode == 0  # still alive
    seen = len(daemon.summaries("alpha"))
    daemon.wait_for(lambda: len(daemon.summaries("alpha")) >= seen + 2)  # crawls go on
    # Repaired: the next run times are written again.
    with sqlite3.connect(db_path) as conn:
        conn.execute("ALTER TABLE sources ADD COLUMN next_run_at DATETIME")

    def written() -> bool:
        with sqlite3.connect(db_path) as conn:
            return conn.execute("SELECT next_run_at FROM sources").fetchone()[0] is not None

    daemon.wait_for(written)
    assert daemon.stop() == 0
