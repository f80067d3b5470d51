"""storage.dedup.decide: the one dedup decision, as a pure function (no database)."""

from __future__ import annotations

import copy
from datetime import UTC, datetime
from typing import Any

from crawler.fingerprints import text_keys
from storage.dedup import NEAR_CANDIDATES, Decision, StoredCandidates, decide
from storage.records import ArticleRecord

NOW = datetime(2026, 12, 1, tzinfo=UTC)


def story(n: int, edit: str = "") -> str:
    words = " ".join(f"w{n}x{i}" for i in range(60))
    return f"Story {n} opens here. {words} And it ends. {edit}".strip()


def rec(url: str, text: str, **extra: Any) -> ArticleRecord:
    keys = text_keys(text)
    return ArticleRecord(
        source_id=1,
        url=url,
        original_url=url,
        title="t",
        text=text,
        html="",
        content_hash=keys.content_hash,
        fetched_at=NOW,
        near=keys.near,
        **extra,
    )


def stored_as(article_id: int, record: ArticleRecord) -> StoredCandidates:
    """What a look-up returns when ``record`` is stored as ``article_id``."""
    assert record.near is not None
    return StoredCandidates(
        urls={url: article_id for url in record.addresses()},
        keys={key: article_id for key in record.identity_keys()},
        hashes={record.content_hash: article_id},
        bands={band: [article_id] for band in record.near.bands},
        texts={article_id: record.text},
    )


def test_each_kind_against_stored_rows() -> None:
    original = rec("http://a.example/1", story(1), guid="g1", url_id="100")
    stored = stored_as(7, original)
    cases = {
        "duplicate_url": rec("http://a.example/1", story(2)),
        "duplicate_guid": rec("http://a.example/2", story(3), guid="g1"),
        "duplicate_url_id": rec("http://a.example/3", story(4), url_id="100"),
        "duplicate_content": rec("http://b.example/1", "  STORY 1 opens here. " + story(1)[20:]),
        "duplicate_near": rec("http://b.example/2", story(1, edit="Reporting by an agency.")),
        "new": rec("http://b.example/3", story(5)),
    }
    for outcome, record in cases.items():
        [decision] = decide([record], stored, near_threshold=0.7)
        assert decision.outcome == outcome, outcome
        if outcome == "new":
            assert decision == Decision("new")
        else:
            assert decision.article_id == 7 and decision.copy_of is None
    [near] = decide([cases["duplicate_near"]], stored, near_threshold=0.7)
    assert near.similarity is not None and 0.7 <= near.similarity < 1


def test_order_of_kinds_address_first() -> None:
    """A record matching several stored articles is a copy of the one its strongest kind
    names: address before GUID before URL id before text."""
    a = rec("http://a.example/1", story(1))
    b = rec("http://a.example/2", story(2), guid="g2")
    stored = stored_as(1, a)
    other = stored_as(2, b)
    stored.urls.update(other.urls)
    stored.keys.update(other.keys)
    stored.hashes.update(other.hashes)
    both = rec("http://a.example/1", story(2), guid="g2")
    assert decide([both], stored, 0.7)[0] == Decision("duplicate_url", article_id=1)


def test_copies_of_earlier_records_of_the_same_batch() -> None:
    batch = [
        rec("http://c.example/1", story(1), guid="g"),
        rec("http://c.example/1", story(2)),
        rec("http://c.example/2", story(3), guid="g"),
        rec("http://c.example/3", story(1)),
        rec("http://c.example/4", story(1, edit="Copied by another site.")),
        rec("http://c.example/5", story(9)),
    ]
    decisions = decide(batch, StoredCandidates(), near_threshold=0.7)
    assert [(d.outcome, d.copy_of) for d in decisions] == [
        ("new", None),
        ("duplicate_url", 0),
        ("duplicate_guid", 0),
        ("duplicate_content", 0),
        ("duplicate_near", 0),
        ("new", None),
    ]
    assert all(d.article_id is None for d in decisions)


def test_no_near_duplicates_without_a_threshold() -> None:
    stored = stored_as(3, rec("http://a.example/1", story(1)))
    copy_ = rec("http://b.example/1", story(1, edit="Reporting by an agency."))
    assert decide([copy_], stored, near_threshold=None) == [Decision("new")]
    assert decide([copy_], stored, near_threshold=0.7)[0].outcome == "duplicate_near"


def test_the_most_similar_candidate_wins_and_stored_beats_the_batch_on_a_tie() -> None:
    base = rec("http://a.example/1", story(1))
    closer = rec("http://a.example/2", story(1, edit="One more line."))
    stored = stored_as(5, base)
    other = stored_as(4, closer)
    for band, ids in other.bands.items():
        stored.bands.setdefault(band, []).extend(ids)
    stored.texts.update(other.texts)
    probe = rec("http://b.example/1", story(1, edit="One more line. And another."))
    [decision] = decide([probe], stored, near_threshold=0.5)
    assert decision.article_id == 4  # the closer of the two texts
    # The same text stored and earlier in the batch: the stored one (the lower id) wins.
    again = decide([rec("http://c.example/1", story(1)), probe], stored_as(5, base), 0.5)
    assert again[1].article_id == 5 and again[1].copy_of is None


def test_decide_leaves_its_inputs_alone() -> None:
    stored = stored_as(1, rec("http://a.example/1", story(1)))
    before = copy.deepcopy(stored)
    batch = [rec("http://b.example/1", story(2)), rec("http://b.example/2", story(2))]
    decide(batch, stored, 0.7)
    assert stored == before


def test_candidates_are_ranked_by_shared_bands_then_id() -> None:
    stored = StoredCandidates(bands={1: [30, 10, 20], 2: [20, 30], 3: [30]})
    assert stored.near_candidates([1, 2, 3]) == [30, 20, 10]
    many = StoredCandidates(bands={1: list(range(100, 100 + 2 * NEAR_CANDIDATES))})
    assert many.near_candidates([1]) == list(range(100, 100 + NEAR_CANDIDATES))
