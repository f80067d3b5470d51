"""Deliveries to a webhook, each article once per destination: a real crawl stores articles,
``newsrelay publish`` (a real process, killed with -9 in one case) POSTs them to a receiver on
loopback that fails, stalls, then accepts, and the ledger is read back through ``status``."""

from __future__ import annotations

import json
import signal
import subprocess
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from tests.localsite import LocalSite, wait_until
from tests.receiver import Hook, Receiver
from tests.support import (
    NEWSRELAY,
    DaemonProcess,
    daemon_config,
    newsroom,
    rss_of,
    run_newsrelay,
    source_toml,
    write_config,
)

SECRET = "s3cr3t-hook-key"


@pytest.fixture(autouse=True)
def hook_secret(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("NEWSRELAY_HOOK_SECRET", SECRET)


def destination_toml(url: str, name: str = "site-fa", **keys: str) -> str:
    settings = {
        "kind": '"webhook"',
        "url": f'"{url}"',
        "secret": '"${NEWSRELAY_HOOK_SECRET}"',
        "timeout": "1.0",
        "backoff": '"1s"',
        **keys,
    }
    table = "".join(f"{key} = {value}\n" for key, value in settings.items())
    return f'[[destinations]]\nname = "{name}"\n{table}\n'


def status_of(config: Path, name: str = "site-fa") -> dict[str, Any]:
    result = run_newsrelay("status", "--json", config=config)
    assert result.returncode == 0, result.stderr
    rows = {row["destination"]: row for row in json.loads(result.stdout).get("destinations", [])}
    return rows[name]


def publish_until_settled(
    config: Path, while_running: Callable[[subprocess.Popen[bytes]], None] | None = None
) -> list[int]:
    """``newsrelay publish`` again and again until it exits 0; the exit codes seen.
    ``while_running`` is called with each process while it runs."""
    codes: list[int] = []
    deadline = time.monotonic() + 90
    while time.monotonic() < deadline:
        argv = [str(NEWSRELAY), "--config", str(config), "publish"]
        process = subprocess.Popen(argv, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
        while process.poll() is None:
            if while_running is not None:
                while_running(process)
            time.sleep(0.02)
        stderr = process.stderr.read().decode() if process.stderr else ""
        codes.append(process.returncode)
        assert process.returncode in (0, 1, -signal.SIGKILL), stderr
        if process.returncode == 0:
            return codes
        time.sleep(0.3)
    raise AssertionError(f"still pending after 90 s: exit codes {codes}")


@pytest.mark.slow
def test_failures_timeouts_and_a_killed_publisher_deliver_each_article_once(
    site: LocalSite, db_url: str, tmp_path: Path
) -> None:
    stories = 6
    release = threading.Event()

    def script(hook: Hook, before: int) -> tuple[int, float, dict[str, str]]:
        if hook.article_id == 1 and before == 0:
            return 500, 0.0, {}
        if hook.article_id == 1 and before == 1:
            return 503, 0.0, {"Retry-After": "4"}  # longer than the backoff: it decides
        if hook.article_id == 2 and before == 0:
            return 200, 1.8, {}  # past the 1 s timeout: the publisher never hears the 200
        if hook.article_id == 4 and before == 0:
            release.wait(30)  # held until its publisher has been killed
        return 200, 0.0, {}

    with Receiver(SECRET, script) as receiver:
        config = write_config(
            tmp_path / "newsrelay.toml",
            db_url,
            source_toml("wire", newsroom(site, "wire", stories)) + destination_toml(receiver.url),
        )
        crawled = run_newsrelay("crawl", "--all", config=config)
        assert crawled.returncode == 0, crawled.stderr
        assert status_of(config)["pending"] == stories  # stored is queued; crawl sends nothing
        assert receiver.hooks == []

        first = run_newsrelay("publish", config=config)
        assert first.returncode == 1, first.stderr  # article 1 answered 500
        assert "retried" in first.stdout and "retried at" in first.stderr  # "in 1s" or "now"

        killed: list[int] = []

        def kill_while_article_4_is_in_flight(process: subprocess.Popen[bytes]) -> None:
            if not killed and 4 in receiver.by_article():
                process.kill()
                process.wait()
                killed.append(process.pid)
                release.set()

        codes = publish_until_settled(config, kill_while_article_4_is_in_flight)
        assert killed and -signal.SIGKILL in codes

    posts = receiver.by_article()
    assert sorted(receiver.accepted()) == list(range(1, stories + 1))
    for article_id, hooks in posts.items():
        keys = {hook.key for hook in hooks} | {hook.body["idempotency_key"] for hook in hooks}
        assert len(keys) == 1, (article_id, keys)  # every repeat carries the same key
        assert all(hook.signed for hook in hooks)
    assert [hook.status for hook in posts[1]][:2] == [500, 503]
    assert posts[1][2].at - posts[1][1].at >= 3.9  # Retry-After: 4, for the whole site
    assert all(not (posts[1][1].at < h.at < posts[1][2].at) for h in receiver.hooks)
    assert len(posts[1]) >= 3 and len(posts[2]) >= 2 and len(posts[4]) >= 2
    assert len({hooks[0].key for hooks in posts.values()}) == stories
    body = posts[3][0].body
    assert body["destination"] == "site-fa" and body["source"] == "wire"
    assert body["url"] in body["urls"] and body["title"].startswith("wire story")
    assert len(body["text"]) > 200 and "<p>" in body["html"]
    shown = status_of(config)
    assert (shown["pending"], shown["failed"], shown["delivered"]) == (0, 0, stories)


def test_a_4xx_fails_for_good_until_retry_failed(site: LocalSite, tmp_path: Path) -> None:
    fixed = threading.Event()

    def script(hook: Hook, _before: int) -> tuple[int, float, dict[str, str]]:
        if hook.article_id == 2 and not fixed.is_set():
            return 422, 0.0, {}
        return 201, 0.0, {}

    with Receiver(SECRET, script) as receiver:
        config = write_config(
            tmp_path / "newsrelay.toml",
            f"sqlite:///{tmp_path / 'n.db'}",
            source_toml("wire", newsroom(site, "wire", 3)) + destination_toml(receiver.url),
        )
        assert run_newsrelay("crawl", "--all", config=config).returncode == 0
        result = run_newsrelay("publish", "--json", config=config)
        assert result.returncode == 1
        [row] = json.loads(result.stdout)["destinations"]
        assert (row["delivered"], row["failed"], row["pending"]) == (2, 1, 0)
        assert row["failures"][0][0] == 2 and "422" in row["failures"][0][1]
        # Failed for good: a plain publish leaves it alone, and still says so.
        again = run_newsrelay("publish", config=config)
        assert again.returncode == 1 and "article 2" in again.stdout
        assert len(receiver.by_article()[2]) == 1
        shown = status_of(config)
        assert (shown["failed"], shown["delivered"]) == (1, 2)
        assert shown["failures"][0][0] == 2 and "422" in shown["failures"][0][1]
        table = run_newsrelay("status", config=config).stdout
        assert "article 2: the webhook answered 422" in table

        fixed.set()
        retried = run_newsrelay("publish", "--retry-failed", config=config)
        assert retried.returncode == 0, retried.stdout
        assert sorted(receiver.accepted()) == [1, 2, 3]


def test_a_destination_added_later_gets_older_articles_only_with_since_and_copies_once(
    site: LocalSite, tmp_path: Path
) -> None:
    """Articles stored before a destination existed are not its to deliver until
    ``publish --since`` queues them; a story stored twice (a copy on another site) is
    delivered once, the copy's address in ``urls``."""
    wire = newsroom(site, "wire", 3)
    original = site._routes["/wire/news/0.html"].body
    site.add("/relay/copy-of-0.html", original)
    relay = site.add("/relay/feed.xml", rss_of(site, ["/relay/copy-of-0.html"]))
    sources = source_toml("wire", wire) + source_toml("relay", relay)
    db = f"sqlite:///{tmp_path / 'n.db'}"
    config = write_config(tmp_path / "newsrelay.toml", db, sources)
    assert run_newsrelay("crawl", "wire", config=config).returncode == 0
    assert run_newsrelay("crawl", "relay", config=config).returncode == 0
    with Receiver(SECRET) as receiver:
        write_config(tmp_path / "newsrelay.toml", db, sources + destination_toml(receiver.url))
        nothing = run_newsrelay("publish", config=config)
        assert nothing.returncode == 0, nothing.stdout
        assert receiver.hooks == []

        dry = run_newsrelay("publish", "--since", "1d", "--dry-run", "--json", config=config)
        [row] = json.loads(dry.stdout)["destinations"]
        assert row["queued"] == 3 and receiver.hooks == []
        assert status_of(config)["pending"] == 0  # a dry run queues nothing

        queued = run_newsrelay(
            "publish", "--destination", "site-fa", "--since", "1d", config=config
        )
        assert queued.returncode == 0, queued.stdout
        assert len(receiver.hooks) == 3
        [story] = [h.body for h in receiver.hooks if h.body["url"].endswith("/wire/news/0.html")]
        assert site.url("/relay/copy-of-0.html") in story["urls"]
        # Queuing again finds nothing new for it.
        again = run_newsrelay("publish", "--since", "1d", "--json", config=config)
        assert json.loads(again.stdout)["destinations"][0]["queued"] == 0
        assert len(receiver.hooks) == 3


def test_destination_config_errors_and_secrets(site: LocalSite, tmp_path: Path) -> None:
    feed = newsroom(site, "wire", 1)
    config = write_config(
        tmp_path / "newsrelay.toml",
        f"sqlite:///{tmp_path / 'n.db'}",
        source_toml("wire", feed)
        + destination_toml("http://127.0.0.1:9/hook", secret='"${NO_SUCH_SECRET_VAR}"'),
    )
    result = run_newsrelay("publish", config=config)
    assert result.returncode == 2
    assert result.stderr.strip().splitlines() == [
        f"newsrelay: error: {config}: destinations[0] (site-fa).secret: environment variable "
        "NO_SUCH_SECRET_VAR is not set"
    ]
    config.write_text(
        config.read_text().replace("${NO_SUCH_SECRET_VAR}", "${NEWSRELAY_HOOK_SECRET}")
        + '[[destinations]]\nname = "wp"\nkind = "wordpress"\nurl = "http://127.0.0.1:9/"\n'
        'user = "editor"\npassword = "wp-app-password-1"\nsources = ["wire"]\n'
    )
    shown = run_newsrelay("config", config=config)
    assert shown.returncode == 0, shown.stderr
    assert SECRET not in shown.stdout and "wp-app-password-1" not in shown.stdout
    destinations = json.loads(shown.stdout)["destinations"]
    assert [d["secret"] for d in destinations] == ["***", None]
    assert destinations[1]["password"] == "***"
    unknown = run_newsrelay("publish", "--destination", "nope", config=config)
    assert unknown.returncode == 2 and "unknown destination 'nope'" in unknown.stderr
    for bad, message in (
        ('status = "publish"\n', "status is only for kind = 'wordpress'"),
        ('sources = ["nowhere"]\n', "unknown sources: nowhere"),
    ):
        broken = tmp_path / "broken.toml"
        text = config.read_text().replace('backoff = "1s"\n', 'backoff = "1s"\n' + bad, 1)
        broken.write_text(text)
        result = run_newsrelay("publish", config=broken)
        assert result.returncode == 2 and message in result.stderr, result.stderr
        assert len(result.stderr.strip().splitlines()) == 1


def test_the_daemon_delivers_after_its_runs(site: LocalSite, tmp_path: Path) -> None:
    with Receiver(SECRET) as receiver:
        config = daemon_config(
            tmp_path / "newsrelay.toml",
            f"sqlite:///{tmp_path / 'n.db'}",
            source_toml("wire", newsroom(site, "wire", 3), 'interval = "1h"')
            + destination_toml(receiver.url),
        )
        daemon = DaemonProcess(config)
        try:
            assert wait_until(lambda: len(receiver.accepted()) == 3, timeout=30)
            records = daemon.records()
        finally:
            assert daemon.stop() == 0
    delivered = [r for r in records if r["msg"] == "delivered"]
    assert sorted(r["article_id"] for r in delivered) == [1, 2, 3]
    assert all(r["destination"] == "site-fa" and r["attempt"] == 1 for r in delivered)
    assert all(r["status_code"] == 200 for r in delivered)
    assert SECRET not in daemon.log_path.read_text()


def test_two_publishers_at_once_send_each_article_once(
    site: LocalSite, db_url: str, tmp_path: Path
) -> None:
    """Each attempt claims its row first: two ``publish`` processes share the queue."""
    stories = 8

    def slow(_hook: Hook, _before: int) -> tuple[int, float, dict[str, str]]:
        return 200, 0.3, {}

    with Receiver(SECRET, slow) as receiver:
        config = write_config(
            tmp_path / "newsrelay.toml",
            db_url,
            source_toml("wire", newsroom(site, "wire", stories)) + destination_toml(receiver.url),
        )
        assert run_newsrelay("crawl", "--all", config=config).returncode == 0
        argv = [str(NEWSRELAY), "--config", str(config), "publish"]
        both = [subprocess.Popen(argv, stdout=subprocess.DEVNULL) for _ in range(2)]
        # The first to finish may still see the other's rows in flight: pending, exit 1.
        assert {process.wait(timeout=60) for process in both} <= {0, 1}
        assert run_newsrelay("publish", config=config).returncode == 0
    posts = receiver.by_article()
    assert sorted(posts) == list(range(1, stories + 1))
    assert all(len(hooks) == 1 for hooks in posts.values()), {a: len(h) for a, h in posts.items()}
