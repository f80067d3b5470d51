"""A database another process holds locked does not freeze the crawl loop: downloads go on
while the writes wait, nothing is lost, the daemon keeps running."""

from __future__ import annotations

import sqlite3
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest

from tests.localsite import LocalSite, wait_until
from tests.support import DaemonProcess, daemon_config, newsroom, source_toml

LOCK_SECONDS = 40
SOURCES = ("harbour", "council")


def rss_kib(pid: int) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1])
    return 0


@pytest.mark.slow
def test_a_database_locked_for_40_s_loses_nothing_and_stalls_nothing(
    site: LocalSite, tmp_path: Path
) -> None:
    published = {name: 2 for name in SOURCES}
    feeds = {name: newsroom(site, name, published[name]) for name in SOURCES}
    database = tmp_path / "newsrelay.db"
    config = daemon_config(
        tmp_path / "newsrelay.toml",
        f"sqlite:///{database}",
        "".join(source_toml(name, feed) for name, feed in feeds.items()),
    )
    stop_publishing = threading.Event()

    def publish() -> None:  # a new story per source every 2 s
        while not stop_publishing.wait(2):
            for name in SOURCES:
                published[name] += 1
                newsroom(site, name, published[name])

    def stored() -> int:
        try:
            with sqlite3.connect(database) as conn:
                return int(conn.execute("SELECT count(*) FROM articles").fetchone()[0])
        except sqlite3.OperationalError:  # not created yet
            return 0

    beats: list[str] = []

    def watch_heartbeat() -> None:
        while not stop_publishing.is_set():
            try:
                with sqlite3.connect(database) as conn:
                    row = conn.execute("SELECT heartbeat_at FROM daemon_state").fetchone()
                if row and (not beats or beats[-1] != row[0]):
                    beats.append(row[0])
            except sqlite3.Error:
                pass
            time.sleep(0.2)

    daemon = DaemonProcess(config)
    publisher = threading.Thread(target=publish)
    watcher = threading.Thread(target=watch_heartbeat)
    try:
        daemon.wait_for(lambda: database.exists() and stored() >= 4, timeout=60)
        rss_before = rss_kib(daemon.process.pid)
        publisher.start()
        watcher.start()
        locker = subprocess.Popen(
            [
                sys.executable,
                "-c",
                "import sqlite3, sys, time\n"
                "conn = sqlite3.connect(sys.argv[1], isolation_level=None, timeout=60)\n"
                "conn.execute('BEGIN EXCLUSIVE')\n"
                "print('locked', flush=True)\n"
                f"time.sleep({LOCK_SECONDS})\n"
                "conn.execute('COMMIT')\n",
                str(database),
            ],
            stdout=subprocess.PIPE,
            text=True,
        )
        assert locker.stdout is not None and locker.stdout.readline().strip() == "locked"
        locked_at = time.time()
        assert locker.wait(timeout=LOCK_SECONDS + 30) == 0
        unlocked_at = time.time()
        assert daemon.process.poll() is None
        # The crawl loop went on while the writes waited: it kept logging (runs still
        # going, writes waiting) all through the lock, where it used to freeze in SQLite.
        during = [
            r for r in daemon.records() if locked_at + 5 < _seconds(r["ts"]) < unlocked_at - 5
        ]
        assert len(during) >= 5, during
        time.sleep(6)
        stop_publishing.set()
        publisher.join()
        watcher.join()
        total = sum(published.values())
        assert wait_until(lambda: stored() == total, timeout=90), (stored(), total)
        assert daemon.process.poll() is None
        rss_after = rss_kib(daemon.process.pid)
        assert daemon.stop() == 0
    finally:
        stop_publishing.set()
        daemon.kill()
    log = daemon.log_path.read_text()
    assert "Traceback" not in log
    with sqlite3.connect(database) as conn:
        urls = [row[0] for row in conn.execute("SELECT url FROM articles")]
    assert len(urls) == len(set(urls)) == total
    gaps = [
        (b - a)
        for a, b in zip(
            [_seconds(t) for t in beats], [_seconds(t) for t in beats[1:]], strict=False
        )
    ]
    print(
        f"\nlocked {LOCK_SECONDS} s: stories published {total}, stored {len(urls)}, "
        f"duplicates 0, longest heartbeat gap {max(gaps, default=0):.1f} s, "
        f"daemon RSS {rss_before / 1024:.1f} -> {rss_after / 1024:.1f} MiB"
    )


def _seconds(stamp: str) -> float:
    from datetime import datetime

    return datetime.fromisoformat(stamp).timestamp()


def test_a_stop_that_runs_out_of_time_says_so_once(site: LocalSite, tmp_path: Path) -> None:
    """SIGTERM while another process holds the database: the runs cannot write their ends
    within ``stop_timeout``, so the daemon stops anyway and says so in one line. The runs
    it cut short are not each reported as a crash (they were, as 'scheduled run raised'
    with an empty message and a CancelledError traceback, and asyncio added 'exception
    never retrieved' for the crawls it waited on)."""
    database = tmp_path / "newsrelay.db"
    sources = "".join(source_toml(name, newsroom(site, name, 1)) for name in SOURCES)
    config = daemon_config(
        tmp_path / "newsrelay.toml", f"sqlite:///{database}", sources, stop_timeout='"2s"'
    )
    daemon = DaemonProcess(config)
    locker = None
    try:
        daemon.wait_for(lambda: all(len(daemon.summaries(n)) >= 2 for n in SOURCES), timeout=60)
        locker = subprocess.Popen(
            [
                sys.executable,
                "-c",
                "import sqlite3, sys\n"
                "conn = sqlite3.connect(sys.argv[1], isolation_level=None, timeout=60)\n"
                "conn.execute('BEGIN EXCLUSIVE')\n"
                "print('locked', flush=True)\n"
                "sys.stdin.read()\n",
                str(database),
            ],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            text=True,
        )
        assert locker.stdout is not None and locker.stdout.readline().strip() == "locked"
        time.sleep(2.5)  # the runs started since wait for the database at their ends
        assert daemon.stop(timeout=20) == 0  # 2 s for the crawls, 2 for the writes, ...
    finally:
        if locker is not None:
            locker.communicate("", timeout=10)
        daemon.kill()
    messages = [r["msg"] for r in daemon.records()]
    assert any(m.startswith("crawls still open after 2s: stopping anyway") for m in messages)
    assert not [m for m in messages if "raised" in m or "never retrieved" in m], messages
