"""Serve the generated news web on loopback, one address per outlet.

Each outlet gets its own ``tests.localsite.LocalSite`` on its own loopback address (127.0.0.2,
127.0.0.3, ...), so a crawler's per-host limits apply per outlet. ``SiteProcess`` runs them all
in a child process, away from the process being measured, and reports the requests served.
What the site contains is laid out in ``layout.py`` and rendered in ``render.py``.

Run ``python bench/newssite.py`` to serve the site by hand and write a newsrelay config for it.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import multiprocessing
import resource
import shutil
import socket
import sys
import tempfile
import time
from dataclasses import dataclass, replace
from pathlib import Path
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit

if __package__ in (None, ""):
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.layout import NewsSite, Page, SiteSpec, build, describe
from tests.localsite import LocalSite

if TYPE_CHECKING:
    from collections.abc import Iterator
    from multiprocessing.connection import Connection


@dataclass(frozen=True)
class Served:
    """One request an outlet answered."""

    outlet: int
    method: str
    path: str
    status: int
    conditional: bool  # sent If-None-Match or If-Modified-Since
    kind: str  # the page kind, or "missing"


@dataclass(frozen=True)
class ServerReport:
    """Requests served since the previous report, and the server's CPU time meanwhile."""

    requests: tuple[Served, ...]
    cpu_s: float

    def of_kind(self, kind: str) -> list[Served]:
        return [r for r in self.requests if r.kind == kind]


def loopback_hosts(count: int) -> list[str]:
    """127.0.0.2, 127.0.0.3, ... one per outlet; 127.0.0.1 for all where the OS lacks them."""
    hosts = [f"127.0.{(i + 2) // 256}.{(i + 2) % 256}" for i in range(count)]
    try:
        with socket.socket() as probe:  # Linux routes all of 127/8 to lo; others may not
            probe.bind((hosts[-1], 0))
    except OSError:
        return ["127.0.0.1"] * count
    return hosts


def serve(spec: SiteSpec) -> tuple[NewsSite, list[LocalSite], list[Page]]:
    """Bind the outlets, build the site for their addresses and start serving it."""
    sites = [LocalSite(host) for host in loopback_hosts(spec.outlets)]
    news = build(replace(spec.resolved(), bases=tuple(s.base for s in sites)))
    pages = list(news.pages())
    for page in pages:
        sites[page.outlet].add(page.path, page.body, content_type=page.content_type, gzip=page.gzip)
    for site in sites:
        site.start()
    return news, sites, pages


def _serve_forever(spec: SiteSpec, conn: Connection, log: Path | None) -> None:
    """Child process: serve the site, answer "report" and "stop" on ``conn``."""
    if log is not None:  # e.g. the tracebacks of connections reset by a killed crawler
        sys.stderr = log.open("a", encoding="utf-8", buffering=1)
    try:
        news, sites, pages = serve(spec)
    except Exception as exc:
        conn.send(("error", repr(exc)))
        return
    kinds = {(p.outlet, p.path): p.kind for p in pages}
    seen = [0] * len(sites)
    conn.send(("ready", news.spec.to_json(), describe(news, pages)))
    del pages
    cpu_mark = _own_cpu()
    try:
        while True:
            try:
                command = conn.recv()
            except EOFError:  # the parent is gone
                break
            if command == "stop":
                break
            served = []
            for i, site in enumerate(sites):
                new = site.requests[seen[i] :]
                seen[i] += len(new)
                served += [
                    Served(
                        i,
                        r.method,
                        r.path,
                        r.status,
                        "if-none-match" in r.headers or "if-modified-since" in r.headers,
                        kinds.get((i, urlsplit(r.path).path), "missing"),
                    )
                    for r in new
                ]
            now = _own_cpu()
            conn.send(ServerReport(tuple(served), now - cpu_mark))
            cpu_mark = now
    finally:
        for site in sites:
            site.stop()


def _own_cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


@contextlib.contextmanager
def bench_workdir(path: Path | None, prefix: str, stale: tuple[str, ...]) -> Iterator[Path]:
    """A bench's working directory: ``path``, kept afterwards, with a previous run's
    ``stale`` files and directories removed first; or a temporary one, removed afterwards."""
    if path is None:
        workdir = Path(tempfile.mkdtemp(prefix=prefix))
        try:
            yield workdir
        finally:
            shutil.rmtree(workdir, ignore_errors=True)
        return
    workdir = path.resolve()
    workdir.mkdir(parents=True, exist_ok=True)
    for name in stale:
        if (workdir / name).is_dir():
            shutil.rmtree(workdir / name, ignore_errors=True)
        else:
            (workdir / name).unlink(missing_ok=True)
    yield workdir


def stop_child(
    conn: Connection | None, process: multiprocessing.process.BaseProcess | None
) -> None:
    """Ask a site child process to stop, then make sure it has (killed after 10 s)."""
    if conn is not None:
        with contextlib.suppress(OSError):
            conn.send("stop")
        conn.close()
    if process is not None:
        process.join(timeout=10)
        if process.is_alive():
            process.kill()
            process.join(timeout=5)


class SiteProcess:
    """The site served from a child process; ``report()`` returns what it served since."""

    def __init__(
        self, spec: SiteSpec, log: Path | None = None, start_timeout: float = 60.0
    ) -> None:
        self.spec = spec.resolved()  # with the bound addresses once started
        self._log = log
        self._timeout = start_timeout
        self.summary: dict[str, Any] = {}
        self._process: multiprocessing.process.BaseProcess | None = None
        self._conn: Connection | None = None

    def start(self) -> SiteProcess:
        ctx = multiprocessing.get_context("spawn")
        self._conn, child = ctx.Pipe()
        self._process = ctx.Process(
            target=_serve_forever, args=(self.spec, child, self._log), daemon=True
        )
        self._process.start()
        child.close()
        if not self._conn.poll(self._timeout):
            self.stop()
            raise RuntimeError(f"the site did not start within {self._timeout:.0f} s")
        reply = self._conn.recv()
        if reply[0] != "ready":
            self.stop()
            raise RuntimeError(f"the site failed to start: {reply[1]}")
        self.spec = SiteSpec.from_json(reply[1])
        self.summary = reply[2]
        return self

    def report(self, timeout: float = 30.0) -> ServerReport:
        if self._conn is None:
            raise RuntimeError("the site is not running")
        self._conn.send("report")
        if not self._conn.poll(timeout):
            raise RuntimeError("the site did not answer")
        report: ServerReport = self._conn.recv()
        return report

    def stop(self) -> None:
        stop_child(self._conn, self._process)
        self._conn, self._process = None, None

    def __enter__(self) -> SiteProcess:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--outlets", type=int, default=SiteSpec.outlets)
    parser.add_argument("--feeds-per-outlet", type=int, default=SiteSpec.feeds_per_outlet)
    parser.add_argument("--stories", type=int, default=SiteSpec.stories)
    parser.add_argument("--seed", type=int, default=SiteSpec.seed)
    parser.add_argument("--workdir", type=Path, help="where the config and database go")
    args = parser.parse_args(argv)
    workdir = args.workdir or Path(tempfile.mkdtemp(prefix="newssite-"))
    workdir.mkdir(parents=True, exist_ok=True)
    spec = SiteSpec(args.outlets, args.feeds_per_outlet, args.stories, args.seed)
    news, sites, pages = serve(spec)
    config = workdir / "newsrelay.toml"
    config.write_text(news.config_toml(workdir / "newsrelay.db"), encoding="utf-8")
    print(json.dumps(describe(news, pages), indent=2))
    print(f"outlets: {', '.join(s.base for s in sites)}")
    print(f"config:  {config}\nCtrl-C stops.")
    try:
        while True:
            time.sleep(3600)
    except KeyboardInterrupt:
        pass
    finally:
        for site in sites:
            site.stop()
    return 0


if __name__ == "__main__":
    sys.exit(main())
