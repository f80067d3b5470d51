"""What the cluster tests share: a local news wire that keeps publishing, a cluster of real
``newsrelay scheduler`` and ``newsrelay worker`` processes on its own queue prefix and
PostgreSQL schema, and reading ``crawl_runs`` and ``articles`` back."""

from __future__ import annotations

import itertools
import os
import random
import socket
import threading
import uuid
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

import psycopg

from tests.localsite import LocalSite, wait_until
from tests.support import (
    DaemonProcess,
    article_html,
    daemon_config,
    require,
    rss_of,
    run_newsrelay,
)

BROKER_URL = os.environ.get("NEWSRELAY_TEST_BROKER_URL", "amqp://guest:guest@127.0.0.1:5672/")


def require_rabbitmq() -> None:
    """Skip without RabbitMQ locally; under CI=true, fail instead."""
    try:
        socket.create_connection(("127.0.0.1", 5672), timeout=2).close()
    except OSError as exc:
        require(f"RabbitMQ is not reachable on 127.0.0.1:5672: {exc}")


class Newswire:
    """``sources`` outlets on one local site, each an RSS feed of its latest stories; every
    story has a text of its own. :meth:`keep_publishing` adds stories from a thread."""

    def __init__(
        self, site: LocalSite, sources: int, *, page_delay: float = 0.0, feed_delay: float = 0.0
    ) -> None:
        self.site = site
        self.names = [f"wire{i:02d}" for i in range(sources)]
        self.page_delay = page_delay
        self.feed_delay = feed_delay
        self.paths: dict[str, list[str]] = {name: [] for name in self.names}
        self.published: list[str] = []  # every story's URL
        self._number = 0
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def publish(self, name: str) -> str:
        with self._lock:
            number = self._number
            self._number += 1
            path = f"/{name}/story-{number}.html"
            self.site.add(path, article_html(number), delay=self.page_delay)
            self.paths[name].append(path)
            feed = rss_of(self.site, self.paths[name][-20:])
            self.site.add(
                f"/{name}/feed.xml",
                feed,
                content_type="application/rss+xml",
                delay=self.feed_delay,
            )
            url = self.site.url(path)
            self.published.append(url)
            return url

    def feed(self, name: str) -> str:
        return self.site.url(f"/{name}/feed.xml")

    def keep_publishing(self, every: float, seed: int = 7) -> None:
        rng = random.Random(seed)

        def loop() -> None:
            while not self._stop.wait(every):
                self.publish(rng.choice(self.names))

        self._thread = threading.Thread(target=loop, daemon=True)
        self._thread.start()

    def stop_publishing(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join()


def wire_sources(wire: Newswire, *, interval: str, host_keys: int) -> str:
    return "".join(
        f'[[sources]]\nname = "{name}"\nfeeds = ["{wire.feed(name)}"]\n'
        f'interval = "{interval}"\nhost_key = "key{i % host_keys}"\n\n'
        for i, name in enumerate(wire.names)
    )


@dataclass
class Cluster:
    config: Path
    db_url: str
    queue: str
    members: list[DaemonProcess]

    @classmethod
    def create(
        cls, tmp_path: Path, db_url: str, sources: str, *, broker: str = BROKER_URL, **daemon: str
    ) -> Cluster:
        queue = f"test{uuid.uuid4().hex[:10]}"
        cluster = f'[cluster]\nbroker = "{broker}"\nqueue = "{queue}"\n\n'
        config = daemon_config(tmp_path / "cluster.toml", db_url, cluster + sources, **daemon)
        result = run_newsrelay("db", "upgrade", config=config)
        assert result.returncode == 0, result.stderr
        return cls(config, db_url, queue, [])

    def start(self, role: str, *args: str) -> DaemonProcess:
        member = DaemonProcess(self.config, *args, command=role)
        self.members.append(member)
        return member

    def stop(self) -> None:
        for member in self.members:
            if member.process.poll() is None:
                member.signal(15)
        for member in self.members:
            try:
                member.process.wait(timeout=30)
            finally:
                member.kill()


def is_leader(member: DaemonProcess) -> bool:
    return any(r["msg"].startswith("elected leader") for r in member.records())


def query(db_url: str, sql: str, *params: Any) -> list[tuple[Any, ...]]:
    """Rows of ``sql`` in the test's schema (the URL's search_path)."""
    dsn = db_url.replace("postgresql+psycopg://", "postgresql://")
    with psycopg.connect(dsn, autocommit=True) as conn:
        return list(conn.execute(sql, params or None).fetchall())  # type: ignore[arg-type]


@dataclass(frozen=True)
class Run:
    source: str
    started_at: datetime
    finished_at: datetime | None
    status: str
    worker: str | None
    error: str | None


def cluster_runs(db_url: str) -> list[Run]:
    rows = query(
        db_url,
        "SELECT s.name, r.started_at, r.finished_at, r.status, r.worker, r.error "
        "FROM crawl_runs r JOIN sources s ON s.id = r.source_id ORDER BY r.started_at",
    )
    return [Run(*row) for row in rows]


def overlaps(runs: list[Run]) -> list[tuple[Run, Run]]:
    """Pairs of runs (of one source, or one host key) whose spans cross."""
    ordered = sorted(runs, key=lambda r: r.started_at)
    found = []
    for earlier, later in itertools.pairwise(ordered):
        if earlier.finished_at is None or later.started_at < earlier.finished_at:
            found.append((earlier, later))
    return found


def stored_urls(db_url: str) -> list[str]:
    return [row[0] for row in query(db_url, "SELECT url FROM articles")]


def wait_for_all_stored(db_url: str, published: list[str], timeout: float) -> None:
    wanted = set(published)
    if not wait_until(lambda: wanted <= set(stored_urls(db_url)), timeout=timeout, interval=1):
        missing = sorted(wanted - set(stored_urls(db_url)))
        raise AssertionError(f"{len(missing)} stories never stored, e.g. {missing[:3]}")
