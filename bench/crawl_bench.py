"""Benchmark ``newsrelay crawl --all`` against a generated local news web.

Serves the site of ``bench/newssite.py`` from a child process, then measures, each in its own
subprocess so that its rusage is its own: start-up (``newsrelay sources``), a first crawl, an
unchanged second poll, the naive baseline (``bench/naive.py``) and the floor
(``bench/floor.py``). Prints a table; ``--json OUT`` also writes every figure as JSON.

    python bench/crawl_bench.py [--outlets N] [--stories N] [--workdir DIR] [--json OUT]
"""

from __future__ import annotations

import argparse
import contextlib
import ctypes
import json
import os
import platform
import signal
import sqlite3
import subprocess
import sys
import time
from dataclasses import asdict, dataclass
from importlib import metadata
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

if __package__ in (None, ""):
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.layout import SiteSpec, build
from bench.newssite import ServerReport, SiteProcess, bench_workdir

BENCH_DIR = Path(__file__).resolve().parent
RATIOS = (
    "newsrelay_wall_over_naive_wall",
    "newsrelay_cpu_over_floor_cpu",
    "repoll_cpu_beyond_startup_over_crawl_cpu",
)


@dataclass
class Run:
    """One measured subprocess: wall time and the rusage ``wait4`` returned for it."""

    name: str
    returncode: int | None
    timed_out: bool
    wall_s: float
    user_s: float
    sys_s: float
    max_rss_mb: float
    stdout: str
    stderr_tail: str

    @property
    def cpu_s(self) -> float:
        return self.user_s + self.sys_s

    @property
    def succeeded(self) -> bool:
        """Ran to the end: exit 0, or 1 (newsrelay: some source failed)."""
        return not self.timed_out and self.returncode in (0, 1)


def become_subreaper() -> None:
    """Adopt orphaned descendants (Linux PR_SET_CHILD_SUBREAPER), so that their CPU counts.

    newsrelay waits for its extraction workers' zygote, which waits for the workers, so their
    CPU time reaches the crawl's rusage anyway; this also counts any descendant that a run
    leaves behind instead of letting its CPU time vanish.
    """
    with contextlib.suppress(OSError, AttributeError):
        ctypes.CDLL(None, use_errno=True).prctl(36, 1, 0, 0, 0)  # PR_SET_CHILD_SUBREAPER


def reap_group(pgid: int, grace: float = 10.0) -> list[Any]:
    """Wait for what is left of process group ``pgid`` (adopted orphans); their rusages."""
    usages = []
    deadline = time.perf_counter() + grace
    while time.perf_counter() < deadline:
        try:
            pid, _, usage = os.wait4(-pgid, os.WNOHANG)
        except ChildProcessError:
            break
        if pid:
            usages.append(usage)
        else:
            time.sleep(0.01)
    return usages


def run_measured(name: str, argv: list[str], timeout: float, workdir: Path) -> Run:
    """Run ``argv`` to completion (killed after ``timeout`` s) and measure it."""
    out_path, err_path = workdir / f"{name}.out", workdir / f"{name}.err"
    with out_path.open("wb") as out, err_path.open("wb") as err:
        start = time.perf_counter()
        proc = subprocess.Popen(
            argv,
            stdin=subprocess.DEVNULL,
            stdout=out,
            stderr=err,
            cwd=workdir,
            start_new_session=True,  # so a timeout can kill its whole process group
        )
        timed_out = False
        try:
            while True:
                pid, status, usage = os.wait4(proc.pid, os.WNOHANG)
                if pid:
                    break
                if time.perf_counter() - start > timeout:
                    timed_out = True
                    os.killpg(proc.pid, signal.SIGKILL)
                    pid, status, usage = os.wait4(proc.pid, 0)
                    break
                time.sleep(0.005)
        except BaseException:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(proc.pid, signal.SIGKILL)
            raise
        wall = time.perf_counter() - start
        orphans = reap_group(proc.pid)
    proc.returncode = os.waitstatus_to_exitcode(status)  # reaped here, not by Popen
    stderr = err_path.read_text(encoding="utf-8", errors="replace")
    return Run(
        name=name,
        returncode=None if timed_out else proc.returncode,
        timed_out=timed_out,
        wall_s=wall,
        user_s=usage.ru_utime + sum(o.ru_utime for o in orphans),
        sys_s=usage.ru_stime + sum(o.ru_stime for o in orphans),
        max_rss_mb=max([usage.ru_maxrss, *(o.ru_maxrss for o in orphans)]) / 1024,  # KiB
        stdout=out_path.read_text(encoding="utf-8", errors="replace"),
        stderr_tail="\n".join(stderr.strip().splitlines()[-5:]),
    )


def traffic(report: ServerReport) -> dict[str, Any]:
    """What the site served during one phase."""
    feeds, articles = report.of_kind("feed"), report.of_kind("article")
    return {
        "requests": len(report.requests),
        "feed_requests": len(feeds),
        "feed_conditional": sum(r.conditional for r in feeds),
        "feed_304": sum(r.status == 304 for r in feeds),
        "article_requests": len(articles),
        "article_pages": len({(r.outlet, urlsplit(r.path).path) for r in articles}),
        "article_304": sum(r.status == 304 for r in articles),
        "article_with_query": sum("?" in r.path for r in articles),
        "robots": len(report.of_kind("robots")),
        "not_found": len(report.of_kind("missing")),
        "server_cpu_s": round(report.cpu_s, 3),
    }


def stored_articles(database: Path) -> int | None:
    """``SELECT count(*) FROM articles``, or None when there is no such table yet."""
    if not database.exists():
        return None
    with contextlib.closing(sqlite3.connect(f"file:{database}?mode=ro", uri=True)) as db:
        try:
            return int(db.execute("SELECT count(*) FROM articles").fetchone()[0])
        except sqlite3.Error:
            return None


def machine() -> dict[str, Any]:
    cpuinfo = Path("/proc/cpuinfo").read_text() if Path("/proc/cpuinfo").exists() else ""
    models = [
        line.split(":", 1)[1].strip()
        for line in cpuinfo.splitlines()
        if line.startswith("model name")
    ]
    meminfo = Path("/proc/meminfo").read_text() if Path("/proc/meminfo").exists() else ""
    mem_kb = next(
        (int(line.split()[1]) for line in meminfo.splitlines() if line.startswith("MemTotal:")), 0
    )
    versions = {}
    for package in ("scrapy", "trafilatura", "feedparser", "sqlalchemy", "requests"):
        with contextlib.suppress(metadata.PackageNotFoundError):
            versions[package] = metadata.version(package)
    return {
        "cpu": models[0] if models else platform.processor() or platform.machine(),
        "cores": os.cpu_count(),
        "ram_gb": round(mem_kb / 2**20, 1),
        "python": platform.python_version(),
        "platform": platform.platform(),
        "load_at_start": round(os.getloadavg()[0], 2),  # another job running skews the timings
        "packages": versions,
    }


def _ratio(a: float | None, b: float | None) -> float | None:
    return round(a / b, 2) if a is not None and b else None


def _json_stdout(run: Run) -> dict[str, Any]:
    try:
        data: dict[str, Any] = json.loads(run.stdout.strip().splitlines()[-1])
    except (IndexError, json.JSONDecodeError):
        return {}
    return data


def measure(args: argparse.Namespace, workdir: Path) -> dict[str, Any]:
    """Serve the site and run every phase; return all figures."""
    spec = SiteSpec(args.outlets, args.feeds_per_outlet, args.stories, args.seed)
    newsrelay = Path(sys.executable).parent / "newsrelay"
    results: dict[str, Any] = {"machine": machine(), "workdir": str(workdir)}
    with SiteProcess(spec, log=workdir / "site.log") as site:
        results["site"] = site.summary
        spec_path = workdir / "site.json"
        spec_path.write_text(site.spec.to_json(), encoding="utf-8")
        database = workdir / "newsrelay.db"
        config = workdir / "newsrelay.toml"
        config.write_text(build(site.spec).config_toml(database), encoding="utf-8")
        results["config"] = str(config)
        runs: dict[str, Run] = {}

        if newsrelay.exists():
            cli = [str(newsrelay), "--config", str(config)]
            # Bytecode for newsrelay's own modules, as an installed package has: an editable
            # checkout under PYTHONDONTWRITEBYTECODE=1 would compile them again in every run.
            packages = [
                str(BENCH_DIR.parent / name) for name in ("crawler", "scheduler", "storage")
            ]
            subprocess.run([sys.executable, "-m", "compileall", "-q", *packages], check=False)
            run_measured("warmup", [*cli, "sources"], args.timeout, workdir)
            runs["startup"] = run_measured("startup", [*cli, "sources"], args.timeout, workdir)
            site.report()
            runs["crawl"] = run_measured("crawl", [*cli, "crawl", "--all"], args.timeout, workdir)
            results["crawl_traffic"] = traffic(site.report())
            results["stored_after_crawl"] = stored_articles(database)
            runs["repoll"] = run_measured("repoll", [*cli, "crawl", "--all"], args.timeout, workdir)
            results["repoll_traffic"] = traffic(site.report())
            results["stored_after_repoll"] = stored_articles(database)
        else:
            results["newsrelay_missing"] = str(newsrelay)
            site.report()

        naive = [sys.executable, str(BENCH_DIR / "naive.py"), "--config", str(config)]
        runs["naive"] = run_measured("naive", naive, args.timeout, workdir)
        results["naive_traffic"] = traffic(site.report())
        results["naive"] = _json_stdout(runs["naive"])

    floor = [sys.executable, str(BENCH_DIR / "floor.py"), "--spec", str(spec_path)]
    runs["floor"] = run_measured("floor", floor, args.timeout, workdir)
    results["floor"] = _json_stdout(runs["floor"])
    results["runs"] = {
        name: {k: v for k, v in asdict(run).items() if k != "stdout"}
        | {"cpu_s": run.cpu_s, "succeeded": run.succeeded}
        for name, run in runs.items()
    }
    results["ratios"] = ratios(results, runs)
    return results


def ratios(results: dict[str, Any], runs: dict[str, Run]) -> dict[str, float | None]:
    """newsrelay against the baseline, the floor, and its own start-up."""
    names = ("crawl", "repoll", "startup", "naive")
    if not all(name in runs and runs[name].succeeded for name in names):
        return dict.fromkeys(RATIOS)  # a failed run's timings compare nothing
    crawl, repoll, startup, naive = (runs[name] for name in names)
    floor_cpu = results["floor"].get("cpu_s")
    return {
        "newsrelay_wall_over_naive_wall": _ratio(crawl.wall_s, naive.wall_s),
        "newsrelay_cpu_over_floor_cpu": _ratio(crawl.cpu_s, floor_cpu),
        "repoll_cpu_beyond_startup_over_crawl_cpu": _ratio(
            repoll.cpu_s - startup.cpu_s, crawl.cpu_s
        ),
    }


def render_table(results: dict[str, Any]) -> str:
    """The figures as a plain-text table."""
    rows: list[tuple[str, Any]] = []
    site, runs = results["site"], results["runs"]

    def section(title: str) -> None:
        if rows:
            rows.append(("", ""))
        rows.append((f"== {title}", ""))

    def add(label: str, value: Any, unit: str = "") -> None:
        if value is None:
            value = "n/a"
        elif isinstance(value, float):
            value = f"{value:.0f}" if abs(value) >= 100 else f"{value:.3g}"
        rows.append((label, f"{value}{(' ' + unit) if unit else ''}"))

    def add_run(run: dict[str, Any], label: str) -> None:
        status = "timed out" if run["timed_out"] else f"exit {run['returncode']}"
        add(f"{label}: status", status)
        add(f"{label}: wall", run["wall_s"], "s")
        add(f"{label}: CPU user+sys", run["cpu_s"], "s")
        add(f"{label}: peak RSS", run["max_rss_mb"], "MiB")
        if run["returncode"] not in (0, None) and run["stderr_tail"]:
            for line in run["stderr_tail"].splitlines()[-3:]:
                rows.append(("   stderr", line[:110]))

    m = results["machine"]
    section("machine")
    add("CPU", m["cpu"])
    add("cores", m["cores"])
    add("RAM", m["ram_gb"], "GiB")
    add("Python", m["python"])
    add("load average (1 min) at start", m["load_at_start"])
    add("packages", " ".join(f"{k} {v}" for k, v in m["packages"].items()))

    section("site")
    add(
        "outlets / feeds (RSS+Atom)",
        f"{site['outlets']} / {site['feeds']} ({site['rss_feeds']}+{site['atom_feeds']})",
    )
    add("languages", ", ".join(site["languages"]))
    add("stories (all listed)", f"{site['stories']} ({site['stories_listed']})")
    add("feed entries / distinct links", f"{site['feed_entries']} / {site['distinct_entry_links']}")
    add("entries per feed", "-".join(map(str, site["entries_per_feed"])))
    add("stories listed 2+ times", site["stories_listed_more_than_once"])
    add("cross-outlet entries", site["cross_listed_entries"])
    add("entries with tracking query", site["tracked_entries"])
    add(
        "article KB median / p95 / max",
        f"{site['article_kb_median']} / {site['article_kb_p95']} / {site['article_kb_max']}",
    )
    add("articles over 100 KB", site["articles_over_100kb"])
    add("site bytes", site["total_mb"], "MB")

    if "newsrelay_missing" in results:
        section("newsrelay")
        add("not run: no console script at", results["newsrelay_missing"])
    else:
        crawl, repoll = results["crawl_traffic"], results["repoll_traffic"]
        section("newsrelay start-up (`sources`)")
        add_run(runs["startup"], "start-up")
        section("newsrelay first crawl (`crawl --all`)")
        add_run(runs["crawl"], "crawl")
        stored = results["stored_after_crawl"]
        add("articles stored (stories on the site)", f"{stored} ({site['stories']})")
        add("articles / s", stored / runs["crawl"]["wall_s"] if stored else None)
        add("feed requests", crawl["feed_requests"])
        add(
            "article requests / distinct pages",
            f"{crawl['article_requests']} / {crawl['article_pages']}",
        )
        add("article requests with a query", crawl["article_with_query"])
        add("robots.txt requests / 404s", f"{crawl['robots']} / {crawl['not_found']}")
        add("server CPU meanwhile", crawl["server_cpu_s"], "s")
        section("newsrelay second, unchanged poll")
        add_run(runs["repoll"], "re-poll")
        feeds = repoll["feed_requests"]
        add(
            "feed requests / conditional / 304",
            f"{feeds} / {repoll['feed_conditional']} / {repoll['feed_304']}",
        )
        add("share of feed requests answered 304", repoll["feed_304"] / feeds if feeds else None)
        add("article pages fetched", repoll["article_requests"])
        add("articles stored after re-poll", results["stored_after_repoll"])
        add("server CPU meanwhile", repoll["server_cpu_s"], "s")

    naive, naive_traffic = results["naive"], results["naive_traffic"]
    section("naive baseline (requests + feedparser + trafilatura, 8 threads)")
    add_run(runs["naive"], "naive")
    add("pages fetched (exact-link dedup)", naive.get("links"))
    add("pages extracted", naive.get("extracted"))
    add("articles / s", (naive.get("extracted") or 0) / runs["naive"]["wall_s"])
    add("requests served", naive_traffic["requests"])
    add("server CPU meanwhile", naive_traffic["server_cpu_s"], "s")

    floor = results["floor"]
    section("floor (feedparser + trafilatura in-process, no network)")
    add("feeds parsed / entries", f"{floor.get('feeds')} / {floor.get('entries')}")
    add("pages extracted", f"{floor.get('extracted')} of {floor.get('pages')}")
    add("feed parsing CPU", floor.get("feed_cpu_s"), "s")
    add("extraction CPU", floor.get("extract_cpu_s"), "s")
    add("floor CPU", floor.get("cpu_s"), "s")
    if floor.get("digest") != site["digest"]:
        add("WARNING", "floor regenerated different bytes than were served")

    r = results["ratios"]
    section("ratios")
    add("newsrelay wall / naive wall", r["newsrelay_wall_over_naive_wall"])
    add("newsrelay CPU / floor CPU", r["newsrelay_cpu_over_floor_cpu"])
    add(
        "(re-poll CPU - start-up CPU) / first-crawl CPU",
        r["repoll_cpu_beyond_startup_over_crawl_cpu"],
    )

    width = max(len(label) for label, value in rows if value != "") + 2
    return "\n".join(f"{label:<{width}}{value}" if value != "" else label for label, value in rows)


def main(argv: list[str] | None = None) -> int:
    become_subreaper()
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--outlets", type=int, default=SiteSpec.outlets)
    parser.add_argument("--feeds-per-outlet", type=int, default=SiteSpec.feeds_per_outlet)
    parser.add_argument("--stories", type=int, default=SiteSpec.stories)
    parser.add_argument("--seed", type=int, default=SiteSpec.seed)
    parser.add_argument("--workdir", type=Path, help="kept after the run (default: a temp dir)")
    parser.add_argument("--json", type=Path, help="also write every figure here")
    parser.add_argument("--timeout", type=float, default=150.0, help="per subprocess, seconds")
    args = parser.parse_args(argv)

    # SIGTERM unwinds like Ctrl-C, so the site process and temp dir are cleaned up.
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))
    stale = ("newsrelay.db", "newsrelay.db-wal", "newsrelay.db-shm")
    with bench_workdir(args.workdir, "newsrelay-bench-", stale) as workdir:
        results = measure(args, workdir)
    print(render_table(results))
    if args.json:
        args.json.write_text(json.dumps(results, indent=2, ensure_ascii=False), encoding="utf-8")
    failed = [name for name, run in results["runs"].items() if not run["succeeded"]]
    if failed:
        where = f"logs in {workdir}" if args.workdir else "--workdir DIR keeps the logs"
        print(f"\nfailed: {', '.join(failed)} ({where})", file=sys.stderr)
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
