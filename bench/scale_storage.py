"""Storage at scale (issue 19): does saving stay as cheap with 300,000 articles stored as with
none?

Fills a fresh SQLite file and a fresh PostgreSQL database (``bench_scale``, dropped after) to
each of ``--sizes`` articles, and at each size times ``--batch`` new articles and as many
near-copies of them (the same texts with a few words changed and a source line added), saved
through ``storage.articles.save_articles`` in calls of 100 as the pipeline saves them, with
near-duplicate detection on. Reported per article: process CPU ms, wall ms, the PostgreSQL
backend's CPU ms (from /proc), bytes the process wrote (SQLite), growth of the database, and
the new-article rate relative to the empty database.

The fill goes through the same public function, in large calls without the near-duplicate
look-up (every fill text is distinct), so 300,000 articles take minutes, not an hour.

    python bench/scale_storage.py --sizes 0,10000,100000,300000 --db both --json out.json
"""

from __future__ import annotations

import argparse
import json
import os
import random
import sqlite3
import sys
import tempfile
import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import asdict, dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.vocabulary import ENGLISH, PLACES, sentence
from crawler.fingerprints import text_keys
from storage.articles import save_articles
from storage.db import Database, open_database
from storage.records import ArticleRecord
from storage.sources import ensure_source

POSTGRES_SERVER = os.environ.get("BENCH_POSTGRES", "postgresql://postgres@127.0.0.1:5432")
BENCH_DATABASE = "bench_scale"
SAVE_CALL = 100  # crawler.pipelines.ArticlePipeline.BATCH_SIZE
NEAR_THRESHOLD = 0.7  # the default [dedup] near_threshold
NOW = datetime(2026, 12, 7, 12, 0, tzinfo=UTC)


@dataclass
class Window:
    """One timed window: ``kind`` new or near, at ``stored`` articles."""

    db: str
    stored: int
    kind: str
    articles: int
    outcomes: dict[str, int]
    cpu_ms: float  # per article, this process
    wall_ms: float
    server_cpu_ms: float | None  # per article, the PostgreSQL backend(s)
    written_kib: float | None  # per article, bytes this process wrote (SQLite)
    growth_kib: float  # per article, growth of the database
    rate_vs_empty: float | None = None  # articles per wall second, relative to size 0
    cpu_rate_vs_empty: float | None = None  # the same per CPU second (steadier on a busy host)


# -- texts ----------------------------------------------------------------------------------
def story(serial: int) -> str:
    """A distinct news text of 300-1,000 words in paragraphs, from the bench vocabulary."""
    rng = random.Random(serial)
    words = rng.randint(300, 1000)
    lines = [f"{rng.choice(PLACES)} report number {serial}."]
    count = 4
    paragraph: list[str] = []
    while count < words:
        line = sentence(rng, ENGLISH)
        paragraph.append(line)
        count += line.count(" ") + 1
        if len(paragraph) >= rng.randint(3, 6):
            lines.append(" ".join(paragraph))
            paragraph = []
    lines.append(" ".join(paragraph))
    return "\n".join(line for line in lines if line)


def near_copy(text: str, serial: int) -> str:
    """``text`` republished: a source line added, three words replaced (light edits)."""
    rng = random.Random(-serial)
    words = text.split(" ")
    for _ in range(3):
        words[rng.randrange(len(words))] = rng.choice(ENGLISH.words)
    return f"Republished by Summit Wire.\n{' '.join(words)}\nShare this story."


def record(source_id: int, url: str, text: str) -> ArticleRecord:
    keys = text_keys(text)
    return ArticleRecord(
        source_id=source_id,
        url=url,
        original_url=url,
        title=text.split("\n", 1)[0][:80],
        text=text,
        html="".join(f"<p>{line}</p>" for line in text.split("\n")),
        content_hash=keys.content_hash,
        fetched_at=NOW,
        published_at=NOW,
        guid=url,
        near=keys.near,
    )


# -- measuring ------------------------------------------------------------------------------
def written_bytes() -> int:
    """Bytes this process sent to the block layer (SQLite's database and WAL writes)."""
    for line in Path("/proc/self/io").read_text().splitlines():
        if line.startswith("write_bytes:"):
            return int(line.split()[1])
    return 0


def backend_cpu_s(db: Database) -> float | None:
    """CPU seconds of the PostgreSQL backends serving the bench database, from /proc."""
    if db.dialect != "postgresql":
        return None
    import psycopg

    with psycopg.connect(f"{POSTGRES_SERVER}/postgres", autocommit=True) as conn:
        pids = [
            pid
            for (pid,) in conn.execute(
                "SELECT pid FROM pg_stat_activity WHERE datname = %s", (BENCH_DATABASE,)
            )
        ]
    ticks = os.sysconf("SC_CLK_TCK")
    total = 0
    for pid in pids:
        try:
            fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue  # the server is elsewhere, or the backend ended
        total += int(fields[11]) + int(fields[12])  # utime, stime
    return total / ticks


def database_bytes(db: Database, path: Path | None) -> int:
    if path is not None:
        with sqlite3.connect(path) as conn:
            pages = conn.execute("PRAGMA page_count").fetchone()[0]
            size = conn.execute("PRAGMA page_size").fetchone()[0]
        return int(pages) * int(size)
    import psycopg

    with psycopg.connect(f"{POSTGRES_SERVER}/postgres", autocommit=True) as conn:
        row = conn.execute("SELECT pg_database_size(%s)", (BENCH_DATABASE,)).fetchone()
    return int(row[0]) if row else 0


def timed(db: Database, path: Path | None, stored: int, kind: str,
          records: Sequence[ArticleRecord]) -> Window:  # fmt: skip
    """Save ``records`` in pipeline-sized calls, timing them."""
    outcomes: dict[str, int] = {}
    size, io, server = database_bytes(db, path), written_bytes(), backend_cpu_s(db)
    cpu, wall = time.process_time(), time.perf_counter()
    for start in range(0, len(records), SAVE_CALL):
        chunk = records[start : start + SAVE_CALL]
        for result in save_articles(db, chunk, near_threshold=NEAR_THRESHOLD):
            outcomes[result.outcome] = outcomes.get(result.outcome, 0) + 1
    cpu, wall = time.process_time() - cpu, time.perf_counter() - wall
    n = len(records)
    server_after = backend_cpu_s(db)
    return Window(
        db=db.dialect,
        stored=stored,
        kind=kind,
        articles=n,
        outcomes=outcomes,
        cpu_ms=round(cpu * 1000 / n, 3),
        wall_ms=round(wall * 1000 / n, 3),
        server_cpu_ms=(
            None
            if server is None or server_after is None
            else round((server_after - server) * 1000 / n, 3)
        ),
        written_kib=None if path is None else round((written_bytes() - io) / 1024 / n, 1),
        growth_kib=round((database_bytes(db, path) - size) / 1024 / n, 2),
    )


# -- the run --------------------------------------------------------------------------------
class Bench:
    """One database being filled and measured."""

    def __init__(self, url: str, path: Path | None, fill_batch: int) -> None:
        self.db = open_database(url)
        self.path = path
        self.source_id = ensure_source(self.db, "scale", []).source_id
        self.serial = 0  # texts used so far
        self.stored = 0
        self.fill_batch = fill_batch

    def next_records(self, n: int) -> list[ArticleRecord]:
        first, self.serial = self.serial, self.serial + n
        return [
            record(self.source_id, f"https://scale.example/{i:07d}", story(i))
            for i in range(first, first + n)
        ]

    def fill(self, size: int) -> None:
        while self.stored < size:
            records = self.next_records(min(self.fill_batch, size - self.stored))
            results = save_articles(self.db, records, near_threshold=None)
            self.stored += sum(r.outcome == "new" for r in results)

    def measure(self, batch: int) -> list[Window]:
        fresh = self.next_records(batch)
        copies = [
            record(self.source_id, f"https://copy.example/{i}", near_copy(r.text, i))
            for i, r in enumerate(fresh, start=self.serial)
        ]
        new = timed(self.db, self.path, self.stored, "new", fresh)
        self.stored += new.outcomes.get("new", 0)
        near = timed(self.db, self.path, new.stored, "near", copies)
        return [new, near]


def run_one(kind: str, sizes: Sequence[int], batch: int, fill_batch: int) -> list[Window]:
    windows: list[Window] = []
    with database(kind) as (url, path):
        bench = Bench(url, path, fill_batch)
        for size in sizes:
            started = time.perf_counter()
            bench.fill(size)
            print(f"{kind}: filled to {bench.stored} in {time.perf_counter() - started:.0f} s",
                  file=sys.stderr)  # fmt: skip
            for window in bench.measure(batch):
                windows.append(window)
                print(json.dumps(asdict(window)), file=sys.stderr)
        bench.db.dispose()
    return windows


@contextmanager
def database(kind: str) -> Iterator[tuple[str, Path | None]]:
    """A fresh SQLite file or PostgreSQL database, gone afterwards."""
    if kind == "sqlite":
        with tempfile.TemporaryDirectory(prefix="scale-", dir=os.environ.get("BENCH_TMP")) as d:
            path = Path(d) / "bench.db"
            yield f"sqlite:///{path}", path
        return
    import psycopg

    with psycopg.connect(f"{POSTGRES_SERVER}/postgres", autocommit=True) as conn:
        conn.execute(f"DROP DATABASE IF EXISTS {BENCH_DATABASE} WITH (FORCE)")
        conn.execute(f"CREATE DATABASE {BENCH_DATABASE}")
    try:
        url = f"{POSTGRES_SERVER.replace('postgresql://', 'postgresql+psycopg://')}"
        yield f"{url}/{BENCH_DATABASE}", None
    finally:
        with psycopg.connect(f"{POSTGRES_SERVER}/postgres", autocommit=True) as conn:
            conn.execute(f"DROP DATABASE IF EXISTS {BENCH_DATABASE} WITH (FORCE)")


def relative_rates(windows: list[Window]) -> None:
    """Each window's articles per wall (and per CPU) second over the same db and kind's at the
    first size."""
    base: dict[tuple[str, str], Window] = {}
    for w in windows:
        first = base.setdefault((w.db, w.kind), w)
        w.rate_vs_empty = round(first.wall_ms / w.wall_ms, 2)
        w.cpu_rate_vs_empty = round(first.cpu_ms / w.cpu_ms, 2)


def table(windows: list[Window]) -> str:
    head = (
        "| db | stored | kind | CPU ms/article | wall ms/article | rate vs first size (wall / CPU) "
        "| server CPU ms | written KiB/article | growth KiB/article | outcomes |\n"
        "| --- | --- | --- | --- | --- | --- | --- | --- | --- | --- |\n"
    )
    return head + "\n".join(
        f"| {w.db} | {w.stored:,} | {w.kind} | {w.cpu_ms} | {w.wall_ms} "
        f"| {w.rate_vs_empty} / {w.cpu_rate_vs_empty} "
        f"| {w.server_cpu_ms if w.server_cpu_ms is not None else ''} "
        f"| {w.written_kib if w.written_kib is not None else ''} | {w.growth_kib} "
        f"| {', '.join(f'{k} {v}' for k, v in sorted(w.outcomes.items()))} |"
        for w in windows
    )


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--sizes", default="0,10000,100000,300000")
    parser.add_argument("--batch", type=int, default=2000, help="articles per timed window")
    parser.add_argument("--fill-batch", type=int, default=2000, help="articles per fill call")
    parser.add_argument("--db", choices=["sqlite", "postgresql", "both"], default="both")
    parser.add_argument("--json", type=Path, help="write the windows here as JSON")
    args = parser.parse_args(argv)
    sizes = sorted(int(s) for s in args.sizes.split(","))
    kinds = ["sqlite", "postgresql"] if args.db == "both" else [args.db]
    windows: list[Window] = []
    for kind in kinds:  # one after the other: one heavy process at a time
        windows += run_one(kind, sizes, args.batch, args.fill_batch)
    relative_rates(windows)
    print(table(windows))
    if args.json:
        meta: dict[str, Any] = {"sizes": sizes, "batch": args.batch, "when": time.time()}
        args.json.write_text(json.dumps({**meta, "windows": [asdict(w) for w in windows]}))
    return 0


if __name__ == "__main__":
    sys.exit(main())
