"""Part 2: what a save costs as the database grows.

The database is filled up to each size with synthetic distinct articles through
``save_articles`` batches (``--batch``, 500 by default, near check at :data:`COST_THRESHOLD`,
as the crawler saves), while two worker processes generate the texts and their keys. At each
size the bench times ``--probes`` single-article saves of new articles (one
``save_articles`` call each), one ``save_articles`` batch, and ``text_keys`` alone on the same
texts.
"""

from __future__ import annotations

import statistics
import sys
import time
from collections import Counter
from collections.abc import Sequence
from concurrent.futures import Future, ProcessPoolExecutor
from itertools import islice
from pathlib import Path
from typing import Any

import numpy as np

from bench.neardup.bands import BandIndex
from bench.neardup.report import loadavg
from bench.neardup.store import Article, Saved, Store, safe_url
from bench.neardup.synthetic import Generated, SyntheticCorpus, worker_batch, worker_init
from crawler.fingerprints import TextKeys, text_keys

COST_THRESHOLD = 0.7
DEFAULT_SIZES = (10_000, 100_000)
DEFAULT_BATCH = 500
DEFAULT_PROBES = 500
SOURCE = "Synthetic Wire"


def _article(index: int, title: str, text: str, keys: TextKeys) -> Article:
    """Synthetic article ``index`` as the crawler would hand it to storage."""
    return Article(
        url=f"https://cost.invalid/article/{index}",
        title=title,
        text=text,
        keys=keys,
        html="".join(f"<p>{p}</p>" for p in text.split("\n\n")),
    )


def _remember(index: BandIndex, articles: Sequence[Article], results: Sequence[Saved]) -> None:
    """Add the articles stored as new to the bench's band index."""
    for article, result in zip(articles, results, strict=True):
        if result.outcome == "new" and article.keys.near is not None:
            index.add(result.article_id, article.keys.near.bands)


class _Fill:
    """Store synthetic articles through ``save_articles`` batches."""

    def __init__(self, store: Store, index: BandIndex, seed: int, batch: int) -> None:
        self.store = store
        self.index = index
        self.seed = seed
        self.batch = batch

    def run(self, start: int, stop: int, *, progress: bool) -> dict[str, Any]:
        """Articles start..stop-1: seconds in all, ms per article writing, outcomes.

        Two worker processes generate the texts and their keys (at most four batches ahead)
        while this process writes.
        """
        began = time.perf_counter()
        writing = 0.0
        outcomes: Counter[str] = Counter()
        ranges = [(s, min(s + self.batch, stop)) for s in range(start, stop, self.batch)]
        with ProcessPoolExecutor(
            max_workers=2, initializer=worker_init, initargs=(self.seed,)
        ) as pool:
            queue = iter(ranges)
            pending: list[Future[list[Generated]]] = [
                pool.submit(worker_batch, *bounds) for bounds in islice(queue, 4)
            ]
            next_report = start + 10_000
            for first, last in ranges:
                generated = pending.pop(0).result()
                following = next(queue, None)
                if following is not None:
                    pending.append(pool.submit(worker_batch, *following))
                articles = [_article(first + n, *item) for n, item in enumerate(generated)]
                t0 = time.perf_counter()
                results = self.store.save(SOURCE, articles, COST_THRESHOLD)
                writing += time.perf_counter() - t0
                outcomes.update(r.outcome for r in results)
                _remember(self.index, articles, results)
                if progress and last >= next_report:
                    print(f"  {last:,} articles saved", file=sys.stderr, flush=True)
                    next_report += 10_000
        filled = stop - start
        return {
            "articles": filled,
            "seconds": round(time.perf_counter() - began, 1),
            "write_ms_per_article": round(writing / filled * 1000, 3) if filled else None,
            "outcomes": dict(outcomes),
        }


def _ms_stats(seconds: Sequence[float]) -> dict[str, float]:
    ms = np.array(seconds) * 1000
    return {
        "median": round(float(np.median(ms)), 3),
        "p95": round(float(np.percentile(ms, 95)), 3),
        "mean": round(float(ms.mean()), 3),
        "max": round(float(ms.max()), 3),
    }


def _probe(
    store: Store,
    index: BandIndex,
    corpus: SyntheticCorpus,
    start: int,
    probes: int,
    batch: int,
) -> tuple[dict[str, Any], int]:
    """Time ``probes`` single saves, then one batch save, starting at article ``start``;
    the figures and the next unused article number."""
    texts = [corpus.article(i) for i in range(start, start + probes)]
    keys_wall: list[float] = []
    keys: list[TextKeys] = []
    cpu_before = time.process_time()
    for _, text in texts:
        t0 = time.perf_counter()
        keys.append(text_keys(text))
        keys_wall.append(time.perf_counter() - t0)
    keys_cpu = (time.process_time() - cpu_before) / probes
    articles = [
        _article(start + n, title, text, k)
        for n, ((title, text), k) in enumerate(zip(texts, keys, strict=True))
    ]
    # Stored articles each probe could be compared with (sharing an LSH band), before any
    # probe is stored.
    sharing = index.sharing([a.keys.near.bands if a.keys.near else () for a in articles])
    candidates = [len(shared) for shared in sharing]
    saves: list[float] = []
    outcomes: Counter[str] = Counter()
    cpu_before = time.process_time()
    for article in articles:
        t0 = time.perf_counter()
        results = store.save(SOURCE, [article], COST_THRESHOLD)
        saves.append(time.perf_counter() - t0)
        outcomes[results[0].outcome] += 1
        _remember(index, [article], results)
    save_cpu = (time.process_time() - cpu_before) / probes
    start += probes
    texts = [corpus.article(i) for i in range(start, start + batch)]
    together = [_article(start + n, t, x, text_keys(x)) for n, (t, x) in enumerate(texts)]
    t0 = time.perf_counter()
    results = store.save(SOURCE, together, COST_THRESHOLD)
    batch_seconds = time.perf_counter() - t0
    outcomes.update(f"batch_{r.outcome}" for r in results)
    _remember(index, together, results)
    figures = {
        "save_ms": _ms_stats(saves),
        "save_cpu_ms_mean": round(save_cpu * 1000, 3),
        "text_keys_ms": _ms_stats(keys_wall),
        "text_keys_cpu_ms_mean": round(keys_cpu * 1000, 3),
        "batch_ms_per_article": round(batch_seconds / batch * 1000, 3) if batch else None,
        "candidates_per_article": {
            "mean": round(statistics.fmean(candidates), 3),
            "max": max(candidates),
        },
        "outcomes": dict(outcomes),
    }
    return figures, start + batch


def database_url(url: str | None, workdir: Path) -> str:
    """The database for the cost run: a new SQLite file in ``workdir`` by default."""
    if url is None:
        return f"sqlite:///{workdir / 'cost.db'}"
    if url.startswith("sqlite"):
        _, _, path = url.partition(":///")
        if path and path != ":memory:" and Path(path).exists():
            raise SystemExit(f"{path} exists: the cost run needs a new, empty database")
    return url


def run_cost(
    url: str | None,
    sizes: Sequence[int],
    seed: int,
    workdir: Path,
    *,
    batch: int = DEFAULT_BATCH,
    probes: int = DEFAULT_PROBES,
    progress: bool = True,
) -> dict[str, Any]:
    """Fill to each size and measure the per-article cost of a save there."""
    db_url = database_url(url, workdir)
    began = time.perf_counter()
    store = Store(db_url)
    try:
        already = store.count()
        if already:
            raise SystemExit(
                f"{safe_url(db_url)} holds {already:,} articles: the cost run needs an empty "
                "database"
            )
        index = BandIndex()
        fill = _Fill(store, index, seed, batch)
        corpus = SyntheticCorpus(seed)
        position = 0  # the next synthetic article number
        results = []
        for size in sorted(sizes):
            filled = fill.run(position, max(size, position), progress=progress)
            position = max(size, position)
            stored = store.count()
            if progress:
                print(f"  measuring at {stored:,} stored", file=sys.stderr, flush=True)
            figures, position = _probe(store, index, corpus, position, probes, batch)
            results.append({"stored": stored, "size": size, **figures, "fill": filled})
        dialect = store.dialect
    finally:
        store.close()
    return {
        "backend": dialect,
        "url": safe_url(db_url),
        "threshold": COST_THRESHOLD,
        "batch": batch,
        "probes": probes,
        "seconds": round(time.perf_counter() - began, 1),
        "loadavg_after": loadavg(),
        "sizes": results,
    }
