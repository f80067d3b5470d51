"""A cluster worker's life: SIGTERM mid-crawl hands the run back, stale runs are dropped,
duplicate sends collapse, and ``--processes N`` supervises N processes (real RabbitMQ and
PostgreSQL)."""

from __future__ import annotations

import json
import signal
import time
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime, timedelta
from pathlib import Path

import httpx
import pytest

from crawler.cluster.broker import RunOrder, open_broker, send
from crawler.config import ClusterConfig
from tests.cluster_support import (
    BROKER_URL,
    Cluster,
    Newswire,
    cluster_runs,
    is_leader,
    query,
    require_rabbitmq,
    wire_sources,
)
from tests.localsite import LocalSite, wait_until
from tests.support import answers, free_port, run_newsrelay

pytestmark = pytest.mark.postgres


def _started(member: object) -> bool:
    return any("worker started" in r["msg"] for r in member.records())  # type: ignore[attr-defined]


def test_sigterm_mid_crawl_hands_the_run_to_another_worker(
    tmp_path: Path, postgres_url: str, site: LocalSite
) -> None:
    require_rabbitmq()
    wire = Newswire(site, 1, page_delay=3.0)
    for _ in range(4):
        wire.publish(wire.names[0])
    cluster = Cluster.create(tmp_path, postgres_url, wire_sources(wire, interval="1h", host_keys=1))
    name = wire.names[0]
    try:
        first = cluster.start("worker", "--threads", "2")
        first.wait_for(lambda: _started(first))
        sent = run_newsrelay("crawl", name, "--enqueue", "--no-wait", config=cluster.config)
        assert sent.returncode == 0, sent.stderr
        running = "SELECT count(*) FROM crawl_runs WHERE status = 'running'"
        assert wait_until(lambda: query(postgres_url, running) == [(1,)], timeout=20)
        first.signal(signal.SIGTERM)
        assert first.process.wait(timeout=30) == 0
        [interrupted] = cluster_runs(postgres_url)
        assert interrupted.status == "interrupted"
        second = cluster.start("worker", "--threads", "2")
        assert wait_until(
            lambda: [r.status for r in cluster_runs(postgres_url)] == ["interrupted", "ok"],
            timeout=40,
        ), cluster_runs(postgres_url)
        redone = cluster_runs(postgres_url)[1]
        assert redone.worker is not None and redone.worker.endswith(f":{second.process.pid}")
        stored = query(postgres_url, "SELECT count(*) FROM articles")
        assert stored == [(4,)]
    finally:
        cluster.stop()


def test_a_run_older_than_its_interval_is_dropped(
    tmp_path: Path, postgres_url: str, site: LocalSite
) -> None:
    """Runs sent while no worker was up are stale once their interval has passed: a worker
    that starts later drops them (writing no run) instead of crawling the backlog."""
    require_rabbitmq()
    wire = Newswire(site, 1)
    wire.publish(wire.names[0])
    cluster = Cluster.create(tmp_path, postgres_url, wire_sources(wire, interval="2s", host_keys=1))
    scheduler = cluster.start("scheduler")
    try:
        scheduler.wait_for(lambda: is_leader(scheduler), timeout=20)
        time.sleep(6)  # the catch-up run (within 5 s), perhaps a scheduled one too, is sent
        scheduler.signal(signal.SIGTERM)
        assert scheduler.process.wait(timeout=20) == 0
        time.sleep(2.5)  # every one of them is older than the interval now
        worker = cluster.start("worker", "--threads", "2")
        worker.wait_for(
            lambda: any(r["msg"].startswith("run dropped") for r in worker.records()),
            timeout=20,
        )
        time.sleep(1)
        assert cluster_runs(postgres_url) == []
    finally:
        cluster.stop()


def test_a_send_served_by_a_later_run_collapses_and_a_late_regular_one_does_not(
    tmp_path: Path, postgres_url: str, site: LocalSite
) -> None:
    """A scheduled message is a duplicate only when a run of its source started after it was
    scheduled; a run that finished moments ago does not swallow the next regular send."""
    require_rabbitmq()
    wire = Newswire(site, 1)
    wire.publish(wire.names[0])
    cluster = Cluster.create(tmp_path, postgres_url, wire_sources(wire, interval="1h", host_keys=1))
    name, hour = wire.names[0], timedelta(hours=1)
    settings = ClusterConfig(broker=BROKER_URL, queue=cluster.queue)
    broker = open_broker(settings)
    try:
        worker = cluster.start("worker", "--threads", "1")
        worker.wait_for(lambda: _started(worker))
        first_sent = datetime.now(UTC)
        send(broker, settings, RunOrder(name, first_sent, hour))
        assert wait_until(lambda: len(cluster_runs(postgres_url)) == 1, timeout=20)
        # The same send again (a redelivery, a new leader's catch-up): that run served it.
        send(broker, settings, RunOrder(name, first_sent, hour))
        worker.wait_for(lambda: any("run collapsed" in r["msg"] for r in worker.records()))
        assert len(cluster_runs(postgres_url)) == 1
        # The next send, scheduled after that run started, runs though it finished just now.
        send(broker, settings, RunOrder(name, datetime.now(UTC), hour))
        assert wait_until(lambda: len(cluster_runs(postgres_url)) == 2, timeout=20)
        assert [r.status for r in cluster_runs(postgres_url)] == ["ok", "ok"]
    finally:
        broker.close()
        cluster.stop()


def test_processes_supervises_its_workers(
    tmp_path: Path, postgres_url: str, site: LocalSite
) -> None:
    require_rabbitmq()
    wire = Newswire(site, 1)
    cluster = Cluster.create(tmp_path, postgres_url, wire_sources(wire, interval="1h", host_keys=1))
    try:
        parent = cluster.start("worker", "--processes", "2", "--threads", "1")

        def workers() -> list[dict[str, object]]:
            shown = run_newsrelay("status", "--json", config=cluster.config)
            cluster_part = json.loads(shown.stdout).get("cluster") or {}
            return list(cluster_part.get("workers", []))

        assert wait_until(lambda: len(workers()) == 2, timeout=40)
        pids = {w["pid"] for w in workers()}
        assert parent.process.pid not in pids
        parent.signal(signal.SIGTERM)
        assert parent.process.wait(timeout=30) == 0
        assert wait_until(lambda: workers() == [], timeout=10)
    finally:
        cluster.stop()


def test_console_beside_a_cluster_sends_crawl_now_to_the_workers(
    tmp_path: Path, postgres_url: str, site: LocalSite
) -> None:
    """``newsrelay serve`` on a cluster's database: "crawl now" is a queued run that a
    worker adopts; a second POST while it runs gets the same run."""
    require_rabbitmq()
    wire = Newswire(site, 1, feed_delay=2.0)  # each run takes 2 s
    wire.publish(wire.names[0])
    name = wire.names[0]
    port = free_port()
    cluster = Cluster.create(
        tmp_path,
        postgres_url,
        wire_sources(wire, interval="1h", host_keys=1),
        http=f'listen = "127.0.0.1:{port}"\ntoken = "cluster-token"',
    )
    base, auth = f"http://127.0.0.1:{port}", {"Authorization": "Bearer cluster-token"}
    try:
        worker = cluster.start("worker", "--threads", "2")
        worker.wait_for(lambda: _started(worker))
        serve = cluster.start("serve")
        assert wait_until(lambda: answers(base), timeout=20)
        url = f"{base}/api/sources/{name}/crawl"
        with ThreadPoolExecutor(2) as pool:  # two at once: one queued run, one message
            both = list(pool.map(lambda _: httpx.post(url, headers=auth, timeout=30), range(2)))
        assert [answer.status_code for answer in both] == [202, 202], both[0].text
        run_id = both[0].json()["run_id"]
        assert both[1].json()["run_id"] == run_id
        assert wait_until(lambda: _status(base, run_id) == "running", timeout=20, interval=0.1)
        again = httpx.post(f"{base}/api/sources/{name}/crawl", headers=auth, timeout=30)
        assert again.json()["run_id"] == run_id
        assert wait_until(lambda: _status(base, run_id) == "ok", timeout=30)
        [run] = cluster_runs(postgres_url)
        assert run.worker is not None and run.worker.endswith(f":{worker.process.pid}")
        assert query(postgres_url, "SELECT count(*) FROM articles") == [(1,)]
        assert serve.process.poll() is None
    finally:
        cluster.stop()


def _status(base: str, run_id: int) -> str:
    return str(httpx.get(f"{base}/api/runs/{run_id}", timeout=10).json()["status"])
