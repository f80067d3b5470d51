"""The cluster for real: RabbitMQ and PostgreSQL on this machine, ``newsrelay scheduler`` and
``newsrelay worker`` processes, a local news wire that keeps publishing, and kill -9."""

from __future__ import annotations

import itertools
import json
import signal
import time
from collections import defaultdict
from pathlib import Path

import pytest

from storage.cluster import DEAD_RUN_ERROR
from tests.cluster_support import (
    Cluster,
    Newswire,
    Run,
    cluster_runs,
    is_leader,
    overlaps,
    query,
    require_rabbitmq,
    stored_urls,
    wait_for_all_stored,
    wire_sources,
)
from tests.localsite import LocalSite, wait_until
from tests.support import run_newsrelay

pytestmark = pytest.mark.postgres

INTERVAL = 10  # seconds
# 50 sources on 17 politeness keys: 2 or 3 sources share each key. (With 5 per key, each key
# was busy most of every 10 s interval under CI's load, and a run could wait its whole
# interval for its key and be dropped as stale: that measured capacity, not recovery.)
HOST_KEYS = 17


def _check_runs(runs: list[Run], names: list[str], since: float, keys: dict[str, str]) -> None:
    """Every source ran within two intervals; no two runs of a source or a host key crossed."""
    by_source: dict[str, list[Run]] = defaultdict(list)
    by_key: dict[str, list[Run]] = defaultdict(list)
    for run in runs:
        by_source[run.source].append(run)
        # A run of a killed worker is closed when that is noticed, not when it died: its
        # recorded span is longer than the crawl was, so it is left out of the host check.
        if run.error != DEAD_RUN_ERROR:
            by_key[keys[run.source]].append(run)
    for name in names:
        starts = [t for r in by_source[name] if (t := r.started_at.timestamp()) >= since]
        gaps = [b - a for a, b in itertools.pairwise(starts)]
        assert starts and max(gaps, default=0) <= 2 * INTERVAL, (name, gaps)
        assert not overlaps(by_source[name]), name
    for key, key_runs in by_key.items():
        assert not overlaps(key_runs), key


@pytest.mark.slow
def test_killed_worker_and_killed_leader_lose_nothing(
    tmp_path: Path, postgres_url: str, site: LocalSite
) -> None:
    require_rabbitmq()
    wire = Newswire(site, 50, page_delay=0.3, feed_delay=0.8)  # every run takes a while
    for name in wire.names:
        wire.publish(name)
    cluster = Cluster.create(
        tmp_path, postgres_url, wire_sources(wire, interval=f"{INTERVAL}s", host_keys=HOST_KEYS)
    )
    keys = {name: f"key{i % HOST_KEYS}" for i, name in enumerate(wire.names)}
    try:
        first = cluster.start("scheduler")
        first.wait_for(lambda: is_leader(first), timeout=20)
        standby = cluster.start("scheduler")
        workers = [cluster.start("worker", "--threads", "4") for _ in range(3)]
        wire.keep_publishing(every=0.25)
        # Warm-up: every source has finished a run.
        assert wait_until(
            lambda: (
                len({r.source for r in cluster_runs(postgres_url) if r.finished_at})
                == len(wire.names)
            ),
            timeout=90,
            interval=1,
        ), "not every source ran"
        since = time.time()

        # kill -9 a worker while it has crawls in flight. A run seen running can end before
        # the kill on a loaded machine, so the worker is frozen (SIGSTOP) first and killed
        # only if it still holds running runs; otherwise it thaws and another is tried.
        pids = {str(w.process.pid): w for w in workers}
        running = (
            "SELECT id, worker FROM crawl_runs WHERE status = 'running' AND worker IS NOT NULL"
        )
        killed: list[int] = []
        for _ in range(20):
            assert wait_until(lambda: query(postgres_url, running), timeout=30, interval=0.05)
            _, name = query(postgres_url, running)[0]
            victim = pids[name.rpartition(":")[2]]
            victim.signal(signal.SIGSTOP)
            time.sleep(0.3)  # a commit already sent lands before the look
            killed = [i for i, w in query(postgres_url, running) if w == name]
            if killed:
                victim.kill()
                break
            victim.signal(signal.SIGCONT)
        assert killed, "no worker was caught with crawls in flight in 20 tries"
        killed_at = time.time()
        time.sleep(3)
        first.kill()  # kill -9 the leader
        standby.wait_for(lambda: is_leader(standby), timeout=10)

        time.sleep(2.5 * INTERVAL)
        wire.stop_publishing()
        wait_for_all_stored(postgres_url, wire.published, timeout=4 * INTERVAL)
        until = time.time()

        stored = stored_urls(postgres_url)
        assert sorted(stored) == sorted(set(wire.published)), "a story stored twice, or a stray"
        runs = [r for r in cluster_runs(postgres_url) if r.started_at.timestamp() <= until]
        _check_runs(runs, wire.names, since, keys)
        closed = query(
            postgres_url, "SELECT status, error FROM crawl_runs WHERE id = ANY(%s)", killed
        )
        assert closed == [("interrupted", DEAD_RUN_ERROR)] * len(killed)
        # Each killed run's source ran again, in full, within 30 s of the kill.
        killed_sources = query(
            postgres_url,
            "SELECT DISTINCT s.name FROM crawl_runs r JOIN sources s ON s.id = r.source_id "
            "WHERE r.id = ANY(%s)",
            killed,
        )
        for (source,) in killed_sources:
            again = [r.started_at.timestamp() for r in runs if r.source == source]
            assert any(killed_at < t <= killed_at + 30 for t in again), source

        status = run_newsrelay("status", "--json", config=cluster.config)
        shown = json.loads(status.stdout)["cluster"]
        assert shown["leader"]["pid"] == standby.process.pid
        assert len(shown["workers"]) == 2
    finally:
        wire.stop_publishing()
        cluster.stop()
    survivors = [m for m in cluster.members if m not in (victim, first)]
    assert all(m.process.returncode == 0 for m in survivors), [
        m.log_path.read_text()[-2000:] for m in survivors if m.process.returncode
    ]


def test_cluster_commands_refuse_sqlite(tmp_path: Path) -> None:
    config = tmp_path / "c.toml"
    config.write_text(f'[database]\nurl = "sqlite:///{tmp_path}/n.db"\n')
    for command in (["scheduler"], ["worker"], ["crawl", "--all", "--enqueue"]):
        if command[0] == "crawl":
            config.write_text(
                config.read_text() + '[[sources]]\nname = "a"\nfeeds = ["http://127.0.0.1:9/f"]\n'
            )
        result = run_newsrelay(*command, config=config)
        assert result.returncode == 2, result
        assert result.stderr.strip().splitlines() == [
            "newsrelay: error: the cluster needs PostgreSQL: database.url is sqlite "
            "(see README, 'The cluster')"
        ]


def test_unknown_cluster_key_is_one_line(tmp_path: Path) -> None:
    config = tmp_path / "c.toml"
    config.write_text('[cluster]\nbrokr = "amqp://x"\n')
    result = run_newsrelay("scheduler", config=config)
    assert result.returncode == 2
    assert result.stderr.strip().endswith("cluster.brokr: unknown key")


def test_enqueue_waits_for_the_run_and_a_busy_source_joins_it(
    tmp_path: Path, postgres_url: str, site: LocalSite
) -> None:
    """crawl --enqueue reports the worker's run; a second request while that source crawls
    joins the run going (no second crawl_runs row); --no-wait returns at once."""
    require_rabbitmq()
    # Pages slow enough that the run is still going when the second request (a new
    # process, 1-3 s to start on a loaded machine) arrives to join it.
    wire = Newswire(site, 1, page_delay=5.0)
    for _ in range(3):
        wire.publish(wire.names[0])
    sources = wire_sources(wire, interval="1h", host_keys=1)
    cluster = Cluster.create(tmp_path, postgres_url, sources)
    name = wire.names[0]
    try:
        worker = cluster.start("worker", "--threads", "2")
        worker.wait_for(lambda: any("worker started" in r["msg"] for r in worker.records()))
        queued = run_newsrelay("crawl", name, "--enqueue", "--no-wait", config=cluster.config)
        assert queued.returncode == 0, queued.stderr
        assert queued.stdout.startswith(f"queued: {name} (request ")
        assert wait_until(
            lambda: (
                query(postgres_url, "SELECT count(*) FROM crawl_runs WHERE status = 'running'")
                == [(1,)]
            ),
            timeout=20,
        )
        joined = run_newsrelay("crawl", name, "--enqueue", "--json", config=cluster.config)
        assert joined.returncode == 0, joined.stderr
        [summary] = json.loads(joined.stdout)["sources"]
        assert summary["status"] == "ok" and summary["new"] == 3
        rows = query(postgres_url, "SELECT id, worker FROM crawl_runs")
        assert len(rows) == 1 and rows[0][0] == summary["run_id"]
        assert rows[0][1].endswith(f":{worker.process.pid}")
        logged = [r for r in worker.summaries() if r.get("run_id") == summary["run_id"]]
        assert logged and logged[0]["worker"] == rows[0][1]

        again = run_newsrelay("crawl", name, "--enqueue", "--json", config=cluster.config)
        assert again.returncode == 0, again.stderr
        [second] = json.loads(again.stdout)["sources"]
        assert second["run_id"] != summary["run_id"]
        assert second["feeds_not_modified"] == 1 and second["new"] == 0
    finally:
        cluster.stop()


def test_a_busy_host_key_waits_its_turn_without_spending_retries(
    tmp_path: Path, postgres_url: str, site: LocalSite
) -> None:
    """Two sources on one host key crawl one after the other; the second starts within
    seconds of the first's end, which a crash retry (5 s backoff, then more) could not do.
    health --role says which members run here."""
    require_rabbitmq()
    wire = Newswire(site, 2, page_delay=2.0)
    for name in wire.names:
        for _ in range(4):
            wire.publish(name)
    cluster = Cluster.create(tmp_path, postgres_url, wire_sources(wire, interval="1h", host_keys=1))
    try:
        assert run_newsrelay("health", "--role", "worker", config=cluster.config).returncode == 1
        worker = cluster.start("worker", "--threads", "4")
        scheduler = cluster.start("scheduler")
        scheduler.wait_for(lambda: is_leader(scheduler), timeout=20)
        assert wait_until(
            lambda: len([r for r in cluster_runs(postgres_url) if r.status == "ok"]) == 2,
            timeout=60,
        )
        runs = cluster_runs(postgres_url)
        assert not overlaps(runs), runs
        first, second = runs
        assert first.finished_at is not None
        assert (second.started_at - first.finished_at).total_seconds() < 3.5
        assert all(r.worker and r.worker.endswith(f":{worker.process.pid}") for r in runs)
        health = run_newsrelay("health", "--role", "worker", config=cluster.config)
        assert health.returncode == 0 and health.stdout.startswith("healthy: 1 worker(s)")
        health = run_newsrelay("health", "--role", "scheduler", config=cluster.config)
        assert health.returncode == 0 and "leader" in health.stdout
    finally:
        cluster.stop()
    assert worker.process.returncode == 0
    assert run_newsrelay("health", "--role", "worker", config=cluster.config).returncode == 1
