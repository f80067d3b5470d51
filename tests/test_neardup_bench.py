"""Smoke run of the near-duplicate bench (bench/neardup): its quality part on a reduced set.

150 of the corpus's 454 stories (drawn with the bench's default seed), each with one
republished copy, plus the boilerplate and template negatives, saved through
``storage.articles.save_articles`` into fresh SQLite files in ``tmp_path``. The figures are
computed by the bench from what storage decided; nothing here is precomputed.

Measured when this test was written (commit 0e15d53, SQLite 3.40.1), at threshold 0.7:
precision 1.000 (122 true merges, 0 false), recall 0.813 (light 1.000, medium 1.000,
heavy 0.440); the most similar negative pair that merged at the low threshold (0.3) did so at
0.667 (two "weather" fill-in-the-blanks stories). About 10 s, 7 of them parsing the corpus.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from bench.neardup.corpus import DEFAULT_CORPUS, load_stories, same_story, sample_stories
from bench.neardup.quality import DEFAULT_SEED, metrics_at, run_quality

LIMIT = 150
THRESHOLD = 0.7
PRECISION_FLOOR = 0.97  # measured 1.000: up to 3 false merges against ~122 true ones
RECALL_FLOOR = 0.75  # measured 0.813: about 9 copies of margin
NEGATIVE_CEILING = 0.70  # measured 0.667: no two different stories merge at 0.7


@pytest.mark.timeout(120)
def test_neardup_quality_smoke(tmp_path: Path) -> None:
    assert Path(__file__).resolve().parent / "corpus" / "feeds" == DEFAULT_CORPUS
    stories = sample_stories(load_stories(), LIMIT, DEFAULT_SEED)
    assert len(stories) == LIMIT

    quality = run_quality(stories, DEFAULT_SEED, tmp_path)

    assert sorted(p.name for p in tmp_path.glob("*.db")) == [
        "quality-boilerplate.db",
        "quality-copies.db",
        "quality-originals.db",
        "quality-template.db",
    ]
    counts = quality["counts"]
    assert counts["original"] == LIMIT and counts["positive"] == LIMIT
    assert counts["boilerplate"] >= 100 and counts["outlet_template"] >= 50
    assert counts["fill_template"] == 90

    row = metrics_at(quality, THRESHOLD)["overall"]
    assert row["tp"] + row["fn"] == LIMIT
    assert row["precision"] >= PRECISION_FLOOR, row
    assert row["recall"] >= RECALL_FLOOR, row

    # Every merge of a copy into its own original was a near-duplicate decision with the
    # similarity storage computed (the copies' texts and URLs differ from the originals').
    merged = [
        p for p in quality["positives"] if p["outcome"] != "new" and p["label"] == p["matched"]
    ]
    assert merged and all(p["outcome"] == "duplicate_near" for p in merged)
    assert all(0.3 <= p["similarity"] <= 1.0 for p in merged)

    negatives = [
        merge
        for merge in quality["merges_of_negatives"]
        if not same_story(merge["label"], merge["matched"])
    ]
    assert negatives, "the template negatives always merge at the low threshold (0.3)"
    worst = max(negatives, key=lambda merge: merge["similarity"] or 1.0)
    assert (worst["similarity"] or 1.0) < NEGATIVE_CEILING, worst
