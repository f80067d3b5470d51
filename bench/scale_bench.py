"""The poll half of ``make bench-scale`` (issue 19): what an unchanged poll costs the daemon
at 1,000 and 10,000 sources, and whether it keeps their schedule.

Per N in ``--sources``: a local site of N one-feed sources (``bench/scale_site.py``, its own
process, spread over N / 50 loopback addresses; feeds answer 304 to a conditional GET), then

1. ``newsrelay crawl --all`` fills the database (the first crawl: every feed and article);
2. after one interval, so that every source is due at once, ``newsrelay --log-format json
   run`` for ``--minutes``: once a second the CPU time (utime+stime, and the reaped children's)
   and RSS of the daemon and of every descendant (the extraction zygote and workers); polls
   are its "crawl finished" log records;
3. SIGTERM (its exit code and how long it took), then ``newsrelay crawl --all`` unchanged.

    python bench/scale_bench.py [--sources 1000,10000] [--minutes 4] [--interval 1m]
        [--json OUT] [--workdir DIR] [--newsrelay PATH] [--gc-thresholds A,B,C] [--daemon-only]

``--newsrelay`` runs another checkout's ``.venv/bin/newsrelay`` (before/after side by side).
The garbage collector is watched through a ``sitecustomize`` hook put first on the
newsrelay processes' PYTHONPATH (``gc.callbacks``: collections, time, objects collected);
``--gc-thresholds`` makes the hook set those thresholds and ignore newsrelay's own, to
compare settings on the same code. What each figure counts is printed under the table.
"""

from __future__ import annotations

import argparse
import contextlib
import itertools
import json
import os
import platform
import re
import signal
import subprocess
import sys
import time
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

if __package__ in (None, ""):
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.crawl_bench import machine
from bench.daemon_memory import _status_kb, descendants
from bench.newssite import bench_workdir
from bench.scale_site import ScaleSite

NEWSRELAY = Path(sys.executable).with_name("newsrelay")
BENCH_DIR = Path(__file__).resolve().parent
WARM_UP_S = 60.0  # the daemon's first minute: start-up and the burst
UNITS = {"s": 1, "m": 60, "h": 3600}

GC_HOOK = '''"""Written by bench/scale_bench.py: the garbage collector's work, per process."""
import atexit
import gc
import json
import os
import time


def _install():
    prefix = os.environ.get("NEWSRELAY_BENCH_GC")
    if not prefix:
        return
    forced = os.environ.get("NEWSRELAY_BENCH_GC_THRESHOLDS")
    if forced:
        gc.set_threshold(*(int(x) for x in forced.split(",")))
        gc.set_threshold = lambda *args: None  # the bench's thresholds hold for the run
    state = {"pid": os.getpid(), "start": 0.0, "written": 0.0}
    totals = {"collections": [0, 0, 0], "seconds": [0.0, 0.0, 0.0], "collected": [0, 0, 0]}

    def write():
        path = f"{prefix}.{os.getpid()}"
        data = dict(totals, thresholds=gc.get_threshold(), frozen=gc.get_freeze_count())
        with open(path + ".tmp", "w") as out:
            json.dump(data, out)
        os.replace(path + ".tmp", path)

    def callback(phase, info):
        now = time.thread_time()  # CPU time: a preempted collection does not count
        if phase == "start":
            state["start"] = now
            return
        if state["pid"] != os.getpid():  # a forked child: its own totals
            state["pid"] = os.getpid()
            for values in totals.values():
                values[:] = [0] * 3
        g = info["generation"]
        totals["collections"][g] += 1
        totals["seconds"][g] += now - state["start"]
        totals["collected"][g] += info["collected"]
        if time.monotonic() - state["written"] > 0.5:
            state["written"] = time.monotonic()
            write()

    gc.callbacks.append(callback)
    atexit.register(write)


_install()
'''


def seconds(interval: str) -> float:
    return float(interval[:-1]) * UNITS[interval[-1]] if interval[-1] in UNITS else float(interval)


def write_config(workdir: Path, sources: list[tuple[str, str]], interval: str) -> Path:
    lines = [
        "# Written by bench/scale_bench.py.",
        "[database]",
        f'url = "sqlite:///{workdir / "scale.db"}"',
        "",
        "[fetch]",
        "allow_private_networks = true",
        "",
        "[http]",
        'listen = ""',
    ]
    for name, url in sources:
        lines += ["", "[[sources]]", f'name = "{name}"', f'feeds = ["{url}"]']
        lines.append(f'interval = "{interval}"')
    path = workdir / "newsrelay.toml"
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


def hook_env(workdir: Path, tag: str, thresholds: str | None) -> dict[str, str]:
    """The environment of a newsrelay process: the GC hook on, its files named by ``tag``."""
    hook = workdir / "hook"
    hook.mkdir(exist_ok=True)
    (hook / "sitecustomize.py").write_text(GC_HOOK, encoding="utf-8")
    env = dict(os.environ, NEWSRELAY_BENCH_GC=str(workdir / f"gc-{tag}"))
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(hook), env.get("PYTHONPATH")]))
    if thresholds:
        env["NEWSRELAY_BENCH_GC_THRESHOLDS"] = thresholds
    return env


def gc_totals(workdir: Path, tag: str, pid: int) -> dict[str, Any]:
    path = workdir / f"gc-{tag}.{pid}"
    try:
        data: dict[str, Any] = json.loads(path.read_text())
    except (OSError, ValueError):
        return {}
    return data


# -- one-shot crawls ------------------------------------------------------------------------
def crawl_all(newsrelay: Path, config: Path, env: dict[str, str], out: Path) -> dict[str, Any]:
    """``newsrelay crawl --all --json``: wall time, CPU of it and its reaped descendants."""
    started = time.perf_counter()
    with out.open("wb") as stdout, out.with_suffix(".log").open("wb") as stderr:
        argv = [str(newsrelay), "--config", str(config), "crawl", "--all", "--json"]
        process = subprocess.Popen(argv, stdout=stdout, stderr=stderr, env=env)
        _, status, usage = os.wait4(process.pid, 0)
    process.returncode = os.waitstatus_to_exitcode(status)
    wall = time.perf_counter() - started
    rows = []
    with contextlib.suppress(OSError, ValueError, KeyError):
        rows = json.loads(out.read_text())["sources"]
    statuses: dict[str, int] = {}
    for row in rows:
        statuses[row["status"]] = statuses.get(row["status"], 0) + 1
    return {
        "exit": process.returncode,
        "wall_s": round(wall, 2),
        "cpu_s": round(usage.ru_utime + usage.ru_stime, 2),
        "peak_rss_mb": round(usage.ru_maxrss / 1024, 1),
        "statuses": statuses,
        "feeds_not_modified": sum(int(r.get("feeds_not_modified") or 0) for r in rows),
        "pages_fetched": sum(int(r.get("pages_fetched") or 0) for r in rows),
        "new": sum(int(r.get("new") or 0) for r in rows),
    }


# -- the daemon -----------------------------------------------------------------------------
@dataclass
class Polls:
    """The daemon's JSON log as it grows: each "crawl finished" as (source, start, end)."""

    path: Path
    runs: list[tuple[str, float, float]] = field(default_factory=list)
    other: dict[str, int] = field(default_factory=dict)  # warnings and errors, by message
    pages_fetched: int = 0
    not_modified: int = 0
    _offset: int = 0

    def read(self) -> None:
        with self.path.open("rb") as log:
            log.seek(self._offset)
            chunk = log.read()
        chunk = chunk[: chunk.rfind(b"\n") + 1]
        self._offset += len(chunk)
        for line in chunk.splitlines():
            try:
                record = json.loads(line)
            except ValueError:
                self.other["(not JSON)"] = self.other.get("(not JSON)", 0) + 1
                continue
            if record.get("msg") == "crawl finished":
                end = datetime.fromisoformat(record["ts"]).timestamp()
                start = end - float(record.get("duration_s") or 0.0)
                self.runs.append((record["source"], start, end))
                self.pages_fetched += int(record.get("pages_fetched") or 0)
                self.not_modified += int(record.get("feeds_not_modified") or 0)
            elif record.get("level") not in ("info", "debug"):
                key = f"{record.get('level')}: {str(record.get('msg'))[:100]}"
                self.other[key] = self.other.get(key, 0) + 1


def sample(pid: int) -> dict[str, float]:
    """CPU (own, and own + reaped children + live descendants) and RSS of the daemon now."""
    kids = descendants(pid)
    own = _stat_full(pid)
    tree = own[1] + sum(_stat_full(k)[1] for k in kids)
    return {
        "t": time.time(),
        "cpu_own_s": own[0],
        "cpu_tree_s": tree,
        "rss_mb": _status_kb(pid, "VmRSS")["VmRSS"] / 1024,
        "children_rss_mb": sum(_status_kb(k, "VmRSS")["VmRSS"] for k in kids) / 1024,
        "children": len(kids),
    }


CLOCK_TICKS = os.sysconf("SC_CLK_TCK")


def _stat_full(pid: int) -> tuple[float, float]:
    """(utime+stime, utime+stime+cutime+cstime) of ``pid`` in seconds; zeros when gone."""
    try:
        text = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return 0.0, 0.0
    fields = text[text.rindex(")") + 2 :].split()
    own = (int(fields[11]) + int(fields[12])) / CLOCK_TICKS
    return own, own + (int(fields[13]) + int(fields[14])) / CLOCK_TICKS


def run_daemon(
    newsrelay: Path, config: Path, env: dict[str, str], log: Path, minutes: float, workdir: Path
) -> dict[str, Any]:
    """The daemon for ``minutes``: samples, polls, GC totals, then SIGTERM."""
    argv = [str(newsrelay), "--config", str(config), "--log-format", "json", "run"]
    with log.open("wb") as out:
        daemon = subprocess.Popen(argv, stdout=subprocess.DEVNULL, stderr=out, env=env)
    started = time.time()
    polls = Polls(log)
    samples: list[dict[str, float]] = []
    gc_marks: list[tuple[float, dict[str, Any]]] = []
    deadline = started + minutes * 60
    while time.time() < deadline:
        if daemon.poll() is not None:
            raise SystemExit(f"the daemon exited {daemon.returncode}: see {log}")
        samples.append(sample(daemon.pid))
        polls.read()
        gc_marks.append((time.time(), gc_totals(workdir, "daemon", daemon.pid)))
        time.sleep(max(0.0, 1.0 - (time.time() - samples[-1]["t"])))
    stop_at = time.perf_counter()
    daemon.send_signal(signal.SIGTERM)
    try:
        code = daemon.wait(timeout=120)
    except subprocess.TimeoutExpired:
        daemon.kill()
        code = daemon.wait()
    stop_s = time.perf_counter() - stop_at
    polls.read()
    return {
        "started": started,
        "ended": deadline,
        "samples": samples,
        "polls": polls,
        "gc_marks": gc_marks,
        "gc_end": gc_totals(workdir, "daemon", daemon.pid),
        "exit": code,
        "stop_s": round(stop_s, 2),
    }


# -- figures --------------------------------------------------------------------------------
def _at(samples: list[dict[str, float]], when: float) -> dict[str, float]:
    """The first sample taken at or after ``when`` (else the last one)."""
    return next((s for s in samples if s["t"] >= when), samples[-1])


def burst_figures(run: dict[str, Any], n: int) -> dict[str, Any]:
    """From the first "crawl finished" until every source has finished once."""
    runs = sorted(run["polls"].runs, key=lambda r: r[2])
    if not runs:
        return {"polled_once": 0}
    seen: set[str] = set()
    count, last = 0, runs[-1][2]
    for count, (source, _, end) in enumerate(runs, start=1):  # noqa: B007 (kept after)
        seen.add(source)
        if len(seen) == n:
            last = end
            break
    first = runs[0][2]
    a, b = _at(run["samples"], first), _at(run["samples"], last)
    spent = (b["cpu_tree_s"] - a["cpu_tree_s"]) / max(1, count - 1)
    return {
        "polled_once": len(seen),
        "polls": count,
        "first_after_start_s": round(first - run["started"], 1),
        "drain_s": round(last - first, 1),
        "polls_per_s": round((count - 1) / (last - first), 1) if last > first else None,
        "cpu_ms_per_poll": round(spent * 1000, 2),
    }


def steady_figures(run: dict[str, Any]) -> dict[str, Any]:
    """After the first minute to the end: CPU per poll (all processes, daemon alone)."""
    samples, start = run["samples"], run["started"] + WARM_UP_S
    a, b = _at(samples, start), samples[-1]
    polls = sum(1 for _, _, end in run["polls"].runs if a["t"] <= end < b["t"])
    tree, own = b["cpu_tree_s"] - a["cpu_tree_s"], b["cpu_own_s"] - a["cpu_own_s"]
    figures: dict[str, Any] = {
        "window_s": round(b["t"] - a["t"], 1),
        "polls": polls,
        "polls_per_s": round(polls / (b["t"] - a["t"]), 1),
        "cpu_s": round(tree, 2),
        "cpu_ms_per_poll": round(tree * 1000 / polls, 2) if polls else None,
        "daemon_cpu_ms_per_poll": round(own * 1000 / polls, 2) if polls else None,
        "cpu_share_of_one_core": round(tree / (b["t"] - a["t"]), 3),
    }
    figures.update(gc_figures(run, a["t"], own, polls))
    return figures


def gc_figures(run: dict[str, Any], since: float, own_cpu: float, polls: int) -> dict[str, Any]:
    """The daemon's collections over the window, from the hook's totals."""
    marks = [m for t, m in run["gc_marks"] if t >= since and m]
    if len(marks) < 2:
        return {}
    a, b = marks[0], marks[-1]
    spent = sum(b["seconds"]) - sum(a["seconds"])
    collected = sum(b["collected"]) - sum(a["collected"])
    runs = [y - x for x, y in zip(a["collections"], b["collections"], strict=True)]
    return {
        "gc_share_of_daemon_cpu": round(spent / own_cpu, 3) if own_cpu else None,
        "gc_ms_per_poll": round(spent * 1000 / polls, 3) if polls else None,
        "gc_collections_by_generation": runs,
        "gc_objects_collected_per_poll": round(collected / polls, 1) if polls else None,
        "gc_thresholds": b.get("thresholds"),
        "gc_frozen_objects": b.get("frozen"),
    }


def gap_figures(run: dict[str, Any], interval: float, n: int) -> dict[str, Any]:
    """Time between two poll starts of a source, over the interval; a source whose next
    poll is overdue at the end counts its wait so far."""
    starts: dict[str, list[float]] = {}
    for source, start, _ in run["polls"].runs:
        starts.setdefault(source, []).append(start)
    ratios = []
    for times in starts.values():
        times.sort()
        ratios += [(b - a) / interval for a, b in itertools.pairwise(times)]
        overdue = (run["ended"] - times[-1]) / interval
        if overdue > 1.0:
            ratios.append(overdue)
    ratios.sort()
    if not ratios:
        return {"sources_polled": len(starts)}
    return {
        "sources_polled": len(starts),
        "sources_never_polled": n - len(starts),
        "gap_max": round(ratios[-1], 2),
        "gap_p99": round(ratios[int(0.99 * (len(ratios) - 1))], 2),
        "gap_median": round(ratios[len(ratios) // 2], 2),
        "gaps_over_1_5": sum(1 for r in ratios if r > 1.5),
    }


def rss_figures(run: dict[str, Any]) -> dict[str, Any]:
    """The daemon's RSS (median of 10 s) at the end of the first minute and at the end."""
    samples = run["samples"]

    def median(values: list[float]) -> float:
        return sorted(values)[len(values) // 2]

    warm = [s["rss_mb"] for s in samples if s["t"] <= run["started"] + WARM_UP_S][-10:]
    end = [s["rss_mb"] for s in samples[-10:]]
    kids_warm = [s["children_rss_mb"] for s in samples if s["t"] <= run["started"] + WARM_UP_S]
    after, before = median(end), median(warm)
    return {
        "daemon_rss_warm_mb": round(before, 1),
        "daemon_rss_end_mb": round(after, 1),
        "daemon_rss_ratio": round(after / before, 3),
        "children_rss_warm_mb": round(median(kids_warm[-10:]), 1),
        "children_rss_end_mb": round(median([s["children_rss_mb"] for s in samples[-10:]]), 1),
        "daemon_rss_peak_mb": round(max(s["rss_mb"] for s in samples), 1),
    }


# -- one N ----------------------------------------------------------------------------------
def measure(n: int, args: argparse.Namespace, workdir: Path) -> dict[str, Any]:
    interval = seconds(args.interval)
    here = workdir / f"n{n}"
    here.mkdir(parents=True, exist_ok=True)
    for stale in here.glob("*"):
        if stale.is_file():
            stale.unlink()
    result: dict[str, Any] = {"sources": n}
    with ScaleSite(n, here / "site.log") as site:
        result["hosts"] = site.hosts
        config = write_config(here, site.sources, args.interval)

        def env(tag: str) -> dict[str, str]:
            return hook_env(here, tag, args.gc_thresholds)

        print(f"[{n}] first crawl ...", flush=True)
        result["first_crawl"] = crawl_all(args.newsrelay, config, env("first"), here / "first.json")
        filled = time.time()
        result["first_crawl"]["site"] = site.report()
        print(f"[{n}] first crawl: {result['first_crawl']}", flush=True)
        time.sleep(max(0.0, filled + interval + 1 - time.time()))  # every source due
        print(f"[{n}] daemon for {args.minutes} min ...", flush=True)
        before = site.report()["served"]
        run = run_daemon(
            args.newsrelay, config, env("daemon"), here / "daemon.log", args.minutes, here
        )
        served = site.report()["served"]
        result["daemon"] = {
            "exit": run["exit"],
            "stop_s": run["stop_s"],
            "burst": burst_figures(run, n),
            "steady": steady_figures(run),
            "gaps": gap_figures(run, interval, n),
            "rss": rss_figures(run),
            "polls": len(run["polls"].runs),
            "pages_fetched": run["polls"].pages_fetched,
            "feeds_not_modified": run["polls"].not_modified,
            "served": {k: v - before.get(k, 0) for k, v in served.items()},
            "log_warnings": dict(sorted(run["polls"].other.items(), key=lambda kv: -kv[1])[:10]),
        }
        (here / "samples.json").write_text(json.dumps(run["samples"]))
        print(f"[{n}] daemon: {json.dumps(result['daemon'])}", flush=True)
        if args.daemon_only:
            return result
        print(f"[{n}] unchanged crawl --all ...", flush=True)
        again = crawl_all(args.newsrelay, config, env("again"), here / "again.json")
        again["cpu_ms_per_source"] = round(again["cpu_s"] * 1000 / n, 2)
        again["wall_ms_per_source"] = round(again["wall_s"] * 1000 / n, 2)
        result["unchanged_crawl"] = again
        print(f"[{n}] unchanged crawl: {again}", flush=True)
    return result


def environment(args: argparse.Namespace) -> dict[str, Any]:
    def run(*argv: str) -> str:
        try:
            return subprocess.run(argv, capture_output=True, text=True, check=False).stdout.strip()
        except OSError:
            return ""

    checkout = args.newsrelay.resolve().parent.parent.parent
    model = [line for line in run("lscpu").splitlines() if line.startswith("Model name")]
    return {
        "date": datetime.now(UTC).isoformat(timespec="seconds"),
        "nproc": run("nproc"),
        "model_name": model[0].split(":", 1)[1].strip() if model else platform.processor(),
        "uptime": run("uptime"),
        "machine": machine(),
        "newsrelay": str(args.newsrelay),
        "commit": run("git", "-C", str(checkout), "rev-parse", "--short", "HEAD"),
        "pythonpath": os.environ.get("PYTHONPATH"),  # another copy of the code, if set
        "interval": args.interval,
        "minutes": args.minutes,
        "gc_thresholds_forced": args.gc_thresholds,
    }


# Each row: its label and a template whose {dotted.keys} name figures of one N's result.
ROWS = [
    ("first crawl: wall s / CPU s", "{first_crawl.wall_s} / {first_crawl.cpu_s}"),
    ("burst: polls/s (drain s)", "{daemon.burst.polls_per_s} ({daemon.burst.drain_s} s)"),
    ("burst: CPU ms per poll, all processes", "{daemon.burst.cpu_ms_per_poll}"),
    ("steady: CPU ms per unchanged poll, all processes", "{daemon.steady.cpu_ms_per_poll}"),
    ("steady: CPU ms per unchanged poll, daemon alone", "{daemon.steady.daemon_cpu_ms_per_poll}"),
    ("steady: polls/s; CPU, share of one core",
     "{daemon.steady.polls_per_s}; {daemon.steady.cpu_share_of_one_core}"),
    ("steady: GC share of the daemon's CPU", "{daemon.steady.gc_share_of_daemon_cpu}"),
    ("steady: GC objects collected per poll", "{daemon.steady.gc_objects_collected_per_poll}"),
    ("gap / interval: max, p99 (gaps over 1.5)",
     "{daemon.gaps.gap_max}, {daemon.gaps.gap_p99} ({daemon.gaps.gaps_over_1_5})"),
    ("daemon RSS MiB: after 1 min -> end (ratio)",
     "{daemon.rss.daemon_rss_warm_mb} -> {daemon.rss.daemon_rss_end_mb} "
     "({daemon.rss.daemon_rss_ratio})"),
    ("SIGTERM: exit code, seconds", "{daemon.exit}, {daemon.stop_s}"),
    ("crawl --all unchanged: wall s / CPU s",
     "{unchanged_crawl.wall_s} / {unchanged_crawl.cpu_s}"),
    ("crawl --all unchanged: CPU ms per source", "{unchanged_crawl.cpu_ms_per_source}"),
]  # fmt: skip

NOTES = """\
- CPU: utime+stime from /proc/PID/stat of the daemon and of every live descendant (the
  extraction zygote and workers), plus the children they reaped (cutime+cstime), sampled once
  a second; "daemon alone" is the daemon process's own. The site runs in another process and
  is not counted. crawl --all: the rusage of the process and the descendants it reaped.
- burst: every source is due when the daemon starts (it starts one interval after the first
  crawl; catch-up runs spread over 5 s); from the first "crawl finished" record until every
  source has one, polls/s = records meanwhile / that time. With few sources the drain is
  limited by the 5 s spread, not by the daemon.
- steady: from the end of the daemon's first minute to the end; idle time included.
- GC: the daemon's collections, timed by a gc.callbacks hook (CPU time of the collecting
  thread); share = that time / the daemon's own CPU over the steady window.
- gap: between the starts of two consecutive polls of one source (start = log time -
  duration_s), over the interval; a poll overdue at the end counts with its wait so far.
- RSS: median of 10 one-second samples: the last 10 of the first minute, the last 10.
"""


def _get(result: dict[str, Any], dotted: str) -> Any:
    value: Any = result
    for key in dotted.split("."):
        value = value.get(key) if isinstance(value, dict) else None
    return "-" if value is None else value


def _fill(template: str, result: dict[str, Any]) -> str:
    return re.sub(r"\{([\w.]+)\}", lambda m: str(_get(result, m[1])), template)


def render_table(results: list[dict[str, Any]]) -> str:
    header = "| figure | " + " | ".join(f"N = {r['sources']:,}" for r in results) + " |"
    lines = [header, "| --- |" + " --- |" * len(results)]
    for label, template in ROWS:
        cells = [_fill(template, r) for r in results]
        lines.append(f"| {label} | " + " | ".join(cells) + " |")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--sources", default="1000,10000", help="comma-separated N")
    parser.add_argument("--minutes", type=float, default=4.0)
    parser.add_argument("--interval", default="1m")
    parser.add_argument("--json", type=Path, default=BENCH_DIR / "out" / "scale_bench.json")
    parser.add_argument("--workdir", type=Path, default=None)
    parser.add_argument("--newsrelay", type=Path, default=NEWSRELAY)
    parser.add_argument("--gc-thresholds", default=None, help="e.g. 50000,20,10")
    parser.add_argument(
        "--daemon-only", action="store_true", help="no unchanged crawl --all after the daemon"
    )
    args = parser.parse_args(argv)
    report: dict[str, Any] = {"environment": environment(args), "results": []}
    print(json.dumps(report["environment"], indent=2), flush=True)
    with bench_workdir(args.workdir, "newsrelay-scale-", ()) as workdir:
        for n in (int(x) for x in args.sources.split(",")):
            report["results"].append(measure(n, args, workdir))
            args.json.parent.mkdir(parents=True, exist_ok=True)
            args.json.write_text(json.dumps(report, indent=2))
    print()
    print(render_table(report["results"]))
    print()
    print(NOTES)
    return 0


if __name__ == "__main__":
    sys.exit(main())
