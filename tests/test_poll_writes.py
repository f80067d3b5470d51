"""A poll that changes nothing writes almost nothing (issue #19): the second crawl of a
one-feed source, whose feed answers 304, executes two statements (the finished run's row and
the feed's poll outcome) in one commit, on SQLite and PostgreSQL; and what another process
changed in between is not overwritten by this process's memory of it."""

from __future__ import annotations

import json
import subprocess
import sys
from collections import Counter, defaultdict
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import create_engine, text, update

from storage.db import open_database
from storage.history_models import RawPage
from storage.models import Feed, Source
from storage.retention import Retention, prune
from storage.run_ends import load_source, load_sources
from tests.localsite import LocalSite
from tests.support import (
    DaemonProcess,
    daemon_config,
    newsroom,
    run_newsrelay,
    source_toml,
    write_config,
)

ROOT = Path(__file__).resolve().parent.parent
STATEMENT_LOG = Path(__file__).resolve().parent / "statement_log"  # its sitecustomize


def poll_twice(config: Path, name: str, *flags: str) -> dict[str, Any]:
    out = config.with_suffix(".json")
    command = [sys.executable, "-m", "tests.poll_twice", str(config), name, str(out), *flags]
    done = subprocess.run(command, cwd=ROOT, capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr[-3000:]
    report: dict[str, Any] = json.loads(out.read_text(encoding="utf-8"))
    return report


def rows(db_url: str, sql: str) -> list[Any]:
    engine = create_engine(db_url)
    try:
        with engine.begin() as conn:
            return list(conn.execute(text(sql)).all())
    finally:
        engine.dispose()


def test_an_unchanged_poll_writes_its_run_and_its_feed_in_one_commit(
    site: LocalSite, db_url: str, tmp_path: Path
) -> None:
    feed = newsroom(site, "calm", 2)
    config = write_config(tmp_path / "newsrelay.toml", db_url, source_toml("calm", feed))
    report = poll_twice(config, "calm")
    first, second = report["summaries"]
    assert (first["status"], first["new"], first["feeds_fetched"]) == ("ok", 2, 1)
    assert (second["status"], second["new"], second["feeds_not_modified"]) == ("ok", 0, 1)
    statements = report["statements"]
    assert [s.split()[:3] for s in statements] == [
        ["INSERT", "INTO", "crawl_runs"],
        ["UPDATE", "feeds", "SET"],
    ], statements
    assert report["commits"] == 1
    # The second run is recorded like any other: finished, with its counts.
    runs = rows(db_url, "SELECT id, status, feeds_not_modified, finished_at FROM crawl_runs")
    assert [(r.id, r.status, r.feeds_not_modified) for r in runs] == [
        (first["run_id"], "ok", 0),
        (second["run_id"], "ok", 1),
    ]
    assert all(r.finished_at is not None for r in runs)
    [state] = rows(db_url, "SELECT last_status, etag FROM feeds")
    assert state.last_status == 304 and state.etag is not None


def test_a_scheduled_unchanged_poll_reads_nothing_either(
    site: LocalSite, db_url: str, tmp_path: Path
) -> None:
    """The daemon's poll (--due-only): its backoff check and feed states come from memory."""
    feed = newsroom(site, "calm", 1)
    config = write_config(tmp_path / "newsrelay.toml", db_url, source_toml("calm", feed))
    report = poll_twice(config, "calm", "--due-only")
    second = report["summaries"][1]
    assert (second["status"], second["feeds_not_modified"]) == ("ok", 1)
    assert len(report["statements"]) == 2 and report["commits"] == 1, report["statements"]


def test_a_full_read_asked_by_another_process_is_not_undone(
    site: LocalSite, db_url: str, tmp_path: Path
) -> None:
    """Between the two polls another process forgets the feed's validators (as a run that
    must retry pages does): the 304 this process gets with the validators it remembers does
    not write them back, and what it remembers is read again."""
    feed = newsroom(site, "calm", 1)
    config = write_config(tmp_path / "newsrelay.toml", db_url, source_toml("calm", feed))
    forget = "UPDATE feeds SET etag = NULL, last_modified = NULL, next_poll_after = NULL"
    report = poll_twice(config, "calm", "--between", forget)
    second = report["summaries"][1]
    assert (second["status"], second["feeds_not_modified"]) == ("ok", 1)
    # The conditional write matched nothing; the state was read back, in the same commit.
    statements = report["statements"]
    assert [s.split()[0] for s in statements] == ["INSERT", "UPDATE", "UPDATE", "SELECT"]
    assert report["commits"] == 1
    # So the next poll is the full read the other process asked for.
    third = report["summaries"][2]
    assert (third["feeds_fetched"], third["feeds_not_modified"]) == (1, 0)
    [state] = rows(db_url, "SELECT last_status FROM feeds")
    assert state.last_status == 200


def test_the_daemons_unchanged_polls_write_their_runs_and_share_the_next_run_writes(
    site: LocalSite, db_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Two sources polled every second by the daemon: once their feeds answer 304, each poll
    writes its run and its feed (one commit) and reads nothing (its backoff, feed states and
    health are in memory); the next run times the console shows are written for both
    sources at once, not once per poll."""
    log = tmp_path / "statements.jsonl"
    monkeypatch.setenv("PYTHONPATH", f"{STATEMENT_LOG}:{ROOT}")
    monkeypatch.setenv("NEWSRELAY_TEST_SQL_LOG", str(log))
    names = ("one", "two")
    sources = "".join(source_toml(name, newsroom(site, name, 1)) for name in names)
    config = daemon_config(tmp_path / "newsrelay.toml", db_url, sources, heartbeat='"1h"')
    daemon = DaemonProcess(config)
    try:
        daemon.wait_for(lambda: all(len(daemon.summaries(n)) >= 8 for n in names), timeout=60)
        summaries = daemon.summaries()
        assert daemon.stop() == 0
    finally:
        daemon.kill()
    # From the second poll of each source on, every poll is an unchanged one.
    at = {n: [_epoch(r["ts"]) for r in summaries if r["source"] == n] for n in names}
    begin, end = max(times[1] for times in at.values()), max(times[-1] for times in at.values())
    polls = [r for r in summaries if begin < _epoch(r["ts"]) <= end]
    assert all(r["feeds_not_modified"] == 1 and r["new"] == 0 for r in polls)
    lines = [json.loads(line) for line in log.read_text(encoding="utf-8").splitlines()]
    # Each transaction committed in the window, as the kinds of its statements: a poll's
    # (its run and its feed) or a shared write of next run times, and nothing else. Judged
    # by transaction, not by statement time: a write begun before the window's edge may
    # commit after it.
    window, statements = [], defaultdict[int, list[str]](list)
    for when, what, thread in lines:
        if what != "COMMIT":
            statements[thread].append(_kind(what))
            continue
        if begin < when <= end:
            window.append(tuple(statements[thread]))
        statements[thread] = []
    shapes = Counter(window)
    writes = sum(n for shape, n in shapes.items() if set(shape) == {"next runs"})
    assert shapes[("run", "feed")] + writes == len(window), shapes
    assert abs(shapes[("run", "feed")] - len(polls)) <= 2, (shapes, len(polls))
    assert 0 < writes <= len(polls) // 2 + 1, (writes, len(polls))


def test_a_started_daemon_reads_its_sources_at_once_and_each_first_poll_reads_nothing(
    site: LocalSite, db_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Sources crawled before, then the daemon starts: it reads every source's ids, feed
    states and health in one transaction at start-up, so each source's first poll is an
    unchanged poll like the next ones (its run and its feed, one commit). Read one by one,
    a daemon of 10,000 sources spent its first minute on 30,000 statements."""
    names = ("one", "two", "three")
    sources = "".join(source_toml(name, newsroom(site, name, 1)) for name in names)
    config = daemon_config(tmp_path / "newsrelay.toml", db_url, sources, heartbeat='"1h"')
    assert run_newsrelay("--config", str(config), "crawl", "--all").returncode == 0
    log = tmp_path / "statements.jsonl"
    monkeypatch.setenv("PYTHONPATH", f"{STATEMENT_LOG}:{ROOT}")
    monkeypatch.setenv("NEWSRELAY_TEST_SQL_LOG", str(log))
    daemon = DaemonProcess(config)
    try:
        daemon.wait_for(lambda: all(daemon.summaries(n) for n in names), timeout=60)
        firsts = [daemon.summaries(n)[0] for n in names]
        assert daemon.stop() == 0
    finally:
        daemon.kill()
    assert all(r["feeds_not_modified"] == 1 and r["new"] == 0 for r in firsts), firsts
    lines = [json.loads(line) for line in log.read_text(encoding="utf-8").splitlines()]
    statements = [_kind(what) for _, what, _ in lines]
    state_reads = [s for s in statements if s.startswith("SELECT") and " FROM feeds" in s]
    assert len(state_reads) == 1, state_reads  # every source's feeds, once
    # The first polls' own transactions, as the kinds of their statements: none reads.
    first_poll = min(_epoch(r["ts"]) - r["duration_s"] for r in firsts)
    shapes, current = Counter[tuple[str, ...]](), defaultdict[int, list[str]](list)
    for when, what, thread in lines:
        if what != "COMMIT":
            current[thread].append(_kind(what))
            continue
        if when >= first_poll and "run" in current[thread]:
            shapes[tuple(current[thread])] += 1
        current[thread] = []
    assert shapes == Counter({("run", "feed"): len(names)}), shapes


def test_sources_loaded_at_once_are_what_one_by_one_loads_read(db_url: str) -> None:
    """``load_sources`` creates what is missing and reads what is stored, as ``load_source``
    does for one, across more sources than one query takes."""
    db = open_database(db_url)
    try:
        wanted = {
            f"s{i:04d}": [f"http://x.test/{i}/a.xml", f"http://x.test/{i}/b.xml"]
            for i in range(1200)
        }
        wanted["s0007"] = []  # no feeds
        stored = load_source(db, "s0001", wanted["s0001"][:1])  # one feed exists already
        load_source(db, "s0002", [])  # and a source, failing
        with db.transaction() as session:
            session.execute(
                update(Feed)
                .where(Feed.id == next(iter(stored.ids.feed_ids.values())))
                .values(etag='"e1"', last_modified="Thu, 01 Jan 2026 00:00:00 GMT")
            )
            session.execute(
                update(Source).where(Source.name == "s0002").values(consecutive_failures=3)
            )
        snapshots = load_sources(db, wanted)
        assert set(snapshots) == set(wanted)
        for name in ("s0001", "s0002", "s0007", "s1199"):
            assert snapshots[name] == load_source(db, name, wanted[name]), name
        assert snapshots["s0001"].ids.source_id == stored.ids.source_id
        assert {s.etag for s in snapshots["s0001"].states.values()} == {'"e1"', None}
        assert snapshots["s0002"].health.consecutive_failures == 3
        assert len(snapshots["s0500"].states) == 2 and snapshots["s0007"].states == {}
        assert load_sources(db, wanted) == snapshots  # again: nothing created twice
    finally:
        db.dispose()


def _epoch(ts: str) -> float:
    return datetime.fromisoformat(ts).timestamp()


def _kind(statement: str) -> str:
    if statement == "COMMIT":
        return "commit"
    if statement.startswith("INSERT INTO crawl_runs"):
        return "run"
    if statement.startswith("UPDATE feeds SET"):
        return "feed"
    if statement.startswith("UPDATE sources SET next_run_at"):
        return "next runs"
    return statement


def test_raw_pages_past_keep_raw_go_with_the_prune_and_once_per_crawl_command(
    site: LocalSite, db_url: str, tmp_path: Path
) -> None:
    """Not at every run's end: the retention prune deletes the raw pages older than
    storage.keep_raw (14 days by default), and so does a `newsrelay crawl`, once, at its end."""
    feed = newsroom(site, "kept", 3)
    config = write_config(tmp_path / "newsrelay.toml", db_url, source_toml("kept", feed))
    assert run_newsrelay("crawl", "kept", config=config).returncode == 0
    ids = [r.article_id for r in rows(db_url, "SELECT article_id FROM raw_pages ORDER BY 1")]
    assert len(ids) == 3
    aged = datetime.now(UTC) - timedelta(days=15)
    age(db_url, ids[0], aged)
    db = open_database(db_url, create=False)
    try:
        report = prune(db, Retention(None, None, keep_raw=timedelta(days=14)))
    finally:
        db.dispose()
    assert report.raw_pages == 1
    assert [r.article_id for r in rows(db_url, "SELECT article_id FROM raw_pages")] == ids[1:]
    age(db_url, ids[1], aged)
    assert run_newsrelay("crawl", "kept", config=config).returncode == 0  # a 304
    assert [r.article_id for r in rows(db_url, "SELECT article_id FROM raw_pages")] == ids[2:]


def age(db_url: str, article_id: int, fetched_at: datetime) -> None:
    """The article's raw page as if fetched at ``fetched_at``."""
    db = open_database(db_url, create=False)
    try:
        with db.transaction() as session:
            page = update(RawPage).where(RawPage.article_id == article_id)
            session.execute(page.values(fetched_at=fetched_at))
    finally:
        db.dispose()


def test_feeds_answering_200_at_once_make_one_run_row_and_keep_their_validators(
    site: LocalSite, db_url: str, tmp_path: Path
) -> None:
    """Three feeds of one source answer 200 in the same run: one row for the run (each 200
    made its own, and the rows left `running` made the next process forget the validators
    of the source's feeds), and the next crawl, a new process, asks every feed
    conditionally and gets 304s."""
    feeds = [newsroom(site, f"desk{n}", 2) for n in range(3)]
    listed = ", ".join(f'"{feed}"' for feed in feeds)
    config = write_config(
        tmp_path / "newsrelay.toml",
        db_url,
        f'[[sources]]\nname = "desks"\nfeeds = [{listed}]\ninterval = "1h"\n',
    )
    for _ in range(2):
        assert run_newsrelay("crawl", "desks", config=config).returncode == 0
    assert [r.status for r in rows(db_url, "SELECT status FROM crawl_runs")] == ["ok", "ok"]
    for n in range(3):
        assert [r.status for r in site.hits(f"/desk{n}/feed.xml")] == [200, 304]
