"""Benchmark the console beside a busy daemon: does serving HTTP slow the crawls, and do the
crawls slow the API?

A local site (``tests/localsite.py``, in a child process) has ``--sources`` outlets, each an
RSS feed of ``--stories`` article pages. The daemon (``newsrelay run``, SQLite) starts with
every source due at once: the burst. Twice, in one run of this script:

1. console off (``[http] listen = ""``): the burst's length and the daemon's CPU;
2. console on: the same, while a client asks ``/api/sources``, ``/api/articles?q=...`` and
   ``/metrics`` in turn, one request every 0.2 s; then the same requests with the daemon
   idle.

    python bench/console_bench.py [--sources 150] [--stories 6] [--json OUT]

The console runs in a thread of its own (uvicorn, FastAPI's thread pool for the database);
the burst shows what the crawls cost it (latency while busy against idle) and what it costs
the crawls (burst length and CPU with it against without).
"""

from __future__ import annotations

import argparse
import json
import multiprocessing
import os
import resource
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

if __package__ in (None, ""):
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.crawl_bench import machine
from tests.support import free_port

NEWSRELAY = Path(sys.executable).with_name("newsrelay")
REQUESTS = ("/api/sources", "/api/articles?q=harbour&limit=20", "/metrics")
PACE = 0.2  # seconds between two requests: an operator's page and a scraper, generously


def _serve_site(sources: int, stories: int, pipe: Any) -> None:
    from tests.localsite import LocalSite
    from tests.support import newsroom

    with LocalSite() as site:
        feeds = [newsroom(site, f"s{n:03d}", stories) for n in range(sources)]
        pipe.send(feeds)
        pipe.recv()  # until told to stop


def _config(workdir: Path, feeds: list[str], listen: str) -> Path:
    sources = "".join(
        f'[[sources]]\nname = "s{n:03d}"\nfeeds = ["{feed}"]\ninterval = "1h"\n\n'
        for n, feed in enumerate(feeds)
    )
    path = workdir / "newsrelay.toml"
    path.write_text(
        f'[database]\nurl = "sqlite:///{workdir / "n.db"}"\n\n'
        "[fetch]\nallow_private_networks = true\nretries = 0\n\n"
        '[daemon]\njitter = 0.0\nheartbeat = "5s"\n\n'
        f'[http]\nlisten = "{listen}"\n\n{sources}'
    )
    return path


def _summaries(log: Path) -> int:
    text = log.read_text(encoding="utf-8")
    return sum(1 for line in text[: text.rfind("\n") + 1].splitlines() if '"run_id"' in line)


class Sampler(threading.Thread):
    """One request at a time, round robin, until stopped: (path, seconds)."""

    def __init__(self, base: str) -> None:
        super().__init__(daemon=True)
        self.base = base
        self.times: list[tuple[str, float]] = []
        self.errors = 0
        self.stop = threading.Event()

    def run(self) -> None:
        import httpx

        with httpx.Client(timeout=30) as client:
            n = 0
            while not self.stop.is_set():
                path = REQUESTS[n % len(REQUESTS)]
                n += 1
                started = time.perf_counter()
                try:
                    ok = client.get(self.base + path).status_code == 200
                except httpx.HTTPError:
                    ok = False
                if ok:
                    self.times.append((path, time.perf_counter() - started))
                else:
                    self.errors += 1
                time.sleep(PACE)


def _latency(times: list[tuple[str, float]]) -> dict[str, dict[str, float]]:
    found = {}
    for path in REQUESTS:
        values = sorted(t * 1000 for p, t in times if p == path)
        if values:
            found[path] = {
                "n": len(values),
                "p50_ms": round(statistics.median(values), 1),
                "p95_ms": round(values[int(0.95 * (len(values) - 1))], 1),
                "max_ms": round(values[-1], 1),
            }
    return found


def burst(feeds: list[str], sources: int, console: bool) -> dict[str, Any]:
    with tempfile.TemporaryDirectory() as tmp:
        workdir = Path(tmp)
        port = free_port()
        config = _config(workdir, feeds, f"127.0.0.1:{port}" if console else "")
        log = workdir / "daemon.log"
        before = resource.getrusage(resource.RUSAGE_CHILDREN)
        started = time.monotonic()
        with log.open("wb") as out:
            daemon = subprocess.Popen(
                [str(NEWSRELAY), "--config", str(config), "--log-format", "json", "run"],
                stderr=out,
                stdout=subprocess.DEVNULL,
            )
        sampler = Sampler(f"http://127.0.0.1:{port}") if console else None
        if sampler is not None:
            sampler.start()
        while _summaries(log) < sources:
            if daemon.poll() is not None:
                raise SystemExit(f"the daemon exited: {log.read_text()[-2000:]}")
            time.sleep(0.05)
        drained = time.monotonic() - started
        result: dict[str, Any] = {"console": console, "burst_s": round(drained, 2)}
        if sampler is not None:
            sampler.stop.set()
            sampler.join()
            result["busy"] = _latency(sampler.times)
            idle = Sampler(sampler.base)
            idle.start()
            time.sleep(10)
            idle.stop.set()
            idle.join()
            result["idle"] = _latency(idle.times)
            result["errors"] = sampler.errors + idle.errors
        daemon.terminate()
        daemon.wait(timeout=60)
        after = resource.getrusage(resource.RUSAGE_CHILDREN)
        cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
        result["daemon_cpu_s"] = round(cpu, 2)
        return result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--sources", type=int, default=150)
    parser.add_argument("--stories", type=int, default=6)
    parser.add_argument("--json", type=Path, default=None)
    args = parser.parse_args()
    mine, theirs = multiprocessing.Pipe()
    site = multiprocessing.Process(target=_serve_site, args=(args.sources, args.stories, theirs))
    site.start()
    feeds = mine.recv()
    try:
        results = [burst(feeds, args.sources, console) for console in (False, True)]
    finally:
        mine.send("stop")
        site.join(timeout=30)
    off, on = results
    report = {
        "machine": machine(),
        "sources": args.sources,
        "stories": args.stories,
        "runs": results,
        "burst_ratio_on_off": round(on["burst_s"] / off["burst_s"], 3),
        "cpu_ratio_on_off": round(on["daemon_cpu_s"] / off["daemon_cpu_s"], 3),
    }
    print(json.dumps(report, indent=2))
    if args.json:
        args.json.write_text(json.dumps(report, indent=2))
    os._exit(0)


if __name__ == "__main__":
    main()
