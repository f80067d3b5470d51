"""The cluster's connections to RabbitMQ and to PostgreSQL are cut mid-run (every connection
reset, new ones refused for a few seconds, as a server restart does to its clients): the
scheduler and the workers reconnect by themselves and nothing published is lost.

The cuts go through a TCP forwarder (tests/tcpproxy.py) so the machine's shared servers are
never restarted by a test."""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.cluster_support import (
    Cluster,
    Newswire,
    cluster_runs,
    is_leader,
    require_rabbitmq,
    stored_urls,
    wait_for_all_stored,
    wire_sources,
)
from tests.localsite import LocalSite, wait_until
from tests.tcpproxy import TcpProxy

pytestmark = pytest.mark.postgres

INTERVAL = 4  # seconds


@pytest.fixture
def proxies() -> Iterator[tuple[TcpProxy, TcpProxy]]:
    broker, database = TcpProxy("127.0.0.1", 5672), TcpProxy("127.0.0.1", 5432)
    yield broker, database
    broker.close()
    database.close()


@pytest.mark.slow
def test_broker_and_database_connections_cut_mid_run(
    tmp_path: Path, postgres_url: str, proxies: tuple[TcpProxy, TcpProxy]
) -> None:
    require_rabbitmq()
    broker, database = proxies
    site = LocalSite()
    site.start()
    wire = Newswire(site, 10, page_delay=0.2)
    for name in wire.names:
        wire.publish(name)
    db_url = postgres_url.replace("127.0.0.1:5432", f"127.0.0.1:{database.port}")
    assert db_url != postgres_url
    cluster = Cluster.create(
        tmp_path,
        db_url,
        wire_sources(wire, interval=f"{INTERVAL}s", host_keys=5),
        broker=f"amqp://guest:guest@127.0.0.1:{broker.port}/",
    )
    try:
        scheduler = cluster.start("scheduler")
        scheduler.wait_for(lambda: is_leader(scheduler), timeout=20)
        workers = [cluster.start("worker", "--threads", "4") for _ in range(2)]
        wire.keep_publishing(every=0.5)
        assert wait_until(
            lambda: len({r.source for r in cluster_runs(postgres_url) if r.status == "ok"}) == 10,
            timeout=60,
        )
        broker.cut(3)
        time.sleep(3 * INTERVAL)
        database.cut(3)
        time.sleep(2 * INTERVAL)
        after_cuts = time.time()
        # Every source runs again, through new connections.
        assert wait_until(
            lambda: (
                {
                    r.source
                    for r in cluster_runs(postgres_url)
                    if r.status == "ok" and r.started_at.timestamp() > after_cuts
                }
                == set(wire.names)
            ),
            timeout=6 * INTERVAL,
        ), "a source did not run again after the cuts"
        wire.stop_publishing()
        wait_for_all_stored(postgres_url, wire.published, timeout=10 * INTERVAL)
        stored = stored_urls(postgres_url)
        assert sorted(stored) == sorted(set(wire.published)), "a story stored twice, or a stray"
        assert all(m.process.poll() is None for m in [scheduler, *workers]), "a member exited"
        assert broker.cuts == 1 and database.cuts == 1
    finally:
        wire.stop_publishing()
        cluster.stop()
        site.stop()
    assert [m.process.returncode for m in cluster.members] == [0, 0, 0]
