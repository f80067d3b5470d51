"""One long-lived Scrapy crawl per process (crawler.relay): the runs of every source share its
downloader and connections, each run ends on its own, and one run stops without the others."""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap
from pathlib import Path

from tests.localsite import LocalSite, SilentServer
from tests.support import (
    DaemonProcess,
    daemon_config,
    newsroom,
    source_toml,
    write_config,
)


def test_polls_of_a_daemon_reuse_one_connection_per_host(site: LocalSite, tmp_path: Path) -> None:
    sources = source_toml("alpha", newsroom(site, "alpha", 2)) + source_toml(
        "beta", newsroom(site, "beta", 1)
    )
    db = f"sqlite:///{tmp_path / 'news.db'}"
    daemon = DaemonProcess(daemon_config(tmp_path / "newsrelay.toml", db, sources))
    try:
        daemon.wait_for(lambda: len(daemon.summaries("alpha")) >= 4)
    finally:
        assert daemon.stop() == 0
    feeds = [r for r in site.requests if r.path.endswith("/feed.xml")]
    assert len(feeds) >= 6
    # A crawler per run opened a new connection for every poll (one client port each); the
    # relay's one downloader keeps its connections to the host open from run to run.
    assert len({r.client_port for r in feeds}) <= 2, sorted(r.client_port for r in feeds)
    assert len(site.hits("/robots.txt")) == 1
    summaries = daemon.summaries()
    assert all(r["status"] == "ok" for r in summaries[:-2]), summaries
    assert sum(r["new"] for r in summaries) == 3


# Runs three sources in one process through crawler.crawls: "hung" (its feed never answers),
# "quick" and, after "hung" is stopped alone, "later". Prints each result as JSON.
STOP_ONE = textwrap.dedent(
    """
    import asyncio, json, sys
    from crawler.config import load_config
    from crawler.crawls import Crawls, crawl_source
    from crawler.reactor import run_in_reactor
    from crawler.services import open_services

    config = load_config(sys.argv[1])

    async def main(crawls):
        hung = asyncio.ensure_future(crawl_source(crawls, config.source("hung")))
        quick = await crawl_source(crawls, config.source("quick"))
        assert not hung.done(), "the hung run ended by itself"
        relay = crawls.relay
        crawler = relay.crawler
        (crawl,) = [c for c in relay.runs if c.run.source.name == "hung"]
        relay.stop_run(crawl, "shutdown")
        stopped = await asyncio.wait_for(hung, 10)
        later = await crawl_source(crawls, config.source("later"))
        same = relay.crawler is crawler
        await relay.close()
        return [r.summary() for r in (quick, stopped, later)], same

    with open_services(config) as services:
        crawls = Crawls.create(config, services)
        results, same = run_in_reactor(main(crawls), on_first_signal=crawls.relay.stop)
    print(json.dumps({"results": results, "same_crawler": same}))
    """
)


def test_one_run_stops_while_the_others_go_on(site: LocalSite, tmp_path: Path) -> None:
    with SilentServer() as silent:
        sources = (
            source_toml("hung", silent.url("/feed.xml"))
            + source_toml("quick", newsroom(site, "quick", 2))
            + source_toml("later", newsroom(site, "later", 1))
        )
        config = write_config(tmp_path / "newsrelay.toml", f"sqlite:///{tmp_path}/n.db", sources)
        done = subprocess.run(
            [sys.executable, "-c", STOP_ONE, str(config)],
            capture_output=True,
            text=True,
            timeout=90,
            cwd=Path(__file__).parent.parent,
        )
    assert done.returncode == 0, done.stderr[-3000:]
    report = json.loads(done.stdout.splitlines()[-1])
    quick, stopped, later = report["results"]
    assert (quick["status"], quick["new"]) == ("ok", 2)
    assert stopped["status"] == "interrupted" and stopped["errors"] == 0
    assert (later["status"], later["new"]) == ("ok", 1)
    assert report["same_crawler"] is True  # one crawl served all three runs
