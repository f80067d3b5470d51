"""Near-duplicates are decided by one writer at a time across processes (PostgreSQL).

The exact kinds of duplicate rest on unique constraints; near-duplicates do not: two workers
that each save a near-copy of the same story at the same moment would both find no candidate
and both store theirs. Two processes race here, round after round, on near-copies.
"""

from __future__ import annotations

import multiprocessing
from datetime import UTC, datetime
from typing import Any

import pytest

from crawler.fingerprints import content_hash, text_keys
from storage.articles import save_articles
from storage.db import open_database
from storage.publishing import count_articles
from storage.records import ArticleRecord
from storage.sources import ensure_source

pytestmark = pytest.mark.postgres

ROUNDS = 40


def _story(n: int, edit: str) -> str:
    words = " ".join(f"w{n}x{i}" for i in range(80))
    return f"Story {n} opens here. {words} And it ends. {edit}"


def _writer(url: str, who: str, barrier: Any, outcomes: Any) -> None:
    db = open_database(url)
    source_id = ensure_source(db, f"wire-{who}", []).source_id
    for n in range(ROUNDS):
        text = _story(n, f"Republished by {who}.")
        record = ArticleRecord(
            source_id=source_id,
            url=f"http://{who}.example/{n}",
            original_url=f"http://{who}.example/{n}",
            title=f"Story {n}",
            text=text,
            html=f"<p>{text}</p>",
            content_hash=content_hash(text),
            fetched_at=datetime.now(UTC),
            near=text_keys(text).near,
        )
        barrier.wait(timeout=30)  # both writers save their copy of story n at once
        outcomes.put((who, n, save_articles(db, [record], near_threshold=0.7)[0].outcome))
    db.dispose()


def test_two_writers_never_both_store_near_copies(postgres_url: str) -> None:
    open_database(postgres_url).dispose()  # the schema, before the writers race
    context = multiprocessing.get_context("spawn")
    barrier = context.Barrier(2)
    outcomes = context.Queue()
    writers = [
        context.Process(target=_writer, args=(postgres_url, who, barrier, outcomes))
        for who in ("a", "b")
    ]
    for writer in writers:
        writer.start()
    results = [outcomes.get(timeout=120) for _ in range(2 * ROUNDS)]
    for writer in writers:
        writer.join(timeout=30)
        assert writer.exitcode == 0
    by_story: dict[int, list[str]] = {}
    for _who, n, outcome in results:
        by_story.setdefault(n, []).append(outcome)
    both_new = [n for n, outcomes_of in by_story.items() if outcomes_of.count("new") != 1]
    assert not both_new, f"stories stored twice (or never): {both_new}"
    assert all(sorted(o) == ["duplicate_near", "new"] for o in by_story.values())
    db = open_database(postgres_url)
    try:
        assert count_articles(db) == ROUNDS
    finally:
        db.dispose()
