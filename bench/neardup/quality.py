"""Part 1: precision and recall of near-duplicate detection on a labelled set.

Originals, republished copies and negatives are saved through ``save_articles`` at a low
threshold (:data:`T_LOW`), one record per call, so that every merge is recorded with its
similarity. Threshold T then decides exactly as ``save_articles(near_threshold=T)`` would have,
for any T >= T_LOW: it merges into the best candidate if that candidate's similarity is >= T.
"""

from __future__ import annotations

import statistics
import time
from collections import Counter
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from bench.neardup.bands import BandIndex, ranked
from bench.neardup.corpus import SAME_STORY, Story, same_story
from bench.neardup.store import Article, Saved, Store
from bench.neardup.variants import (
    LEVELS,
    boilerplate_variants,
    filled_template_stories,
    outlet_template_variants,
    republish,
)
from crawler.fingerprints import TextKeys, jaccard, text_keys

T_LOW = 0.3
THRESHOLDS = (0.5, 0.6, 0.65, 0.7, 0.75, 0.8, 0.85, 0.9)
BOILERPLATE_PAIRS = 100
DEFAULT_SEED = 20240611


@dataclass
class Trial:
    """One text saved into a quality database, and what the detector said."""

    kind: str  # original | positive | boilerplate | outlet_template | fill_template
    label: str  # the story it was made from (corpus label or "fill:<template>:<n>")
    outcome: str
    similarity: float | None
    matched: str | None  # label of the stored article it was merged into
    level: str | None = None  # positives only
    own_similarity: float | None = None  # positives: exact Jaccard with its own original
    candidate: bool | None = None  # positives: the original shares at least one LSH band
    candidate_rank: int | None = None  # ... and its rank among the articles sharing a band
    shared_bands: int | None = None
    detail: dict[str, Any] = field(default_factory=dict)


class QualityDb:
    """A fresh SQLite database that remembers which label each stored article has, and the
    LSH bands it was stored with."""

    def __init__(self, path: Path) -> None:
        self.store = Store.sqlite(path)
        self.labels: dict[int, str] = {}
        self.bands = BandIndex()
        self.count = 0

    def save(
        self,
        label: str,
        outlet: str,
        title: str,
        text: str,
        threshold: float | None = T_LOW,
        keys: TextKeys | None = None,
    ) -> Saved:
        """Save ``text`` as a new record; remember its label and bands if it is stored."""
        keys = keys or text_keys(text)
        self.count += 1
        article = Article(f"https://quality.invalid/{self.count}", title, text, keys)
        (result,) = self.store.save(outlet, [article], threshold)
        if result.outcome == "new":
            self.labels[result.article_id] = label
            if keys.near is not None:
                self.bands.add(result.article_id, keys.near.bands)
        return result

    def candidates(self, bands: Sequence[int]) -> list[int]:
        """Stored article ids sharing a band with ``bands``, most shared bands first."""
        return ranked(self.bands.sharing([bands])[0])

    def trial(self, kind: str, label: str, result: Saved, **extra: Any) -> Trial:
        matched = self.labels.get(result.article_id) if result.outcome != "new" else None
        return Trial(kind, label, result.outcome, result.similarity, matched, **extra)

    def close(self) -> None:
        self.store.close()


def run_quality(stories: Sequence[Story], seed: int, workdir: Path) -> dict[str, Any]:
    """Save originals, copies and negatives; return every trial plus the metrics."""
    rng = np.random.default_rng([seed, 1])
    vocabulary = sorted(
        {w.lower() for s in stories for w in s.text.split() if w.isalpha() and len(w) >= 3}
    )
    started = time.perf_counter()
    trials: list[Trial] = []

    # (a) every original, at the low threshold: any near-merge among them is recorded.
    originals_db = QualityDb(workdir / "quality-originals.db")
    for story in stories:
        result = originals_db.save(story.label, story.outlet, story.title, story.text)
        trials.append(originals_db.trial("original", story.label, result))
    originals_db.close()

    # Positives: all originals stored (no near check, as at any threshold above the merges
    # just recorded, so a merge among originals does not hide an original from its copy),
    # then one republished copy of each, saved at the low threshold.
    main_db = QualityDb(workdir / "quality-copies.db")
    home: dict[str, int] = {}  # story label -> id of the article it is stored as
    for story in stories:
        result = main_db.save(story.label, story.outlet, story.title, story.text, None)
        home[story.label] = result.article_id
    levels = {
        stories[int(index)].label: LEVELS[rank % len(LEVELS)]
        for rank, index in enumerate(rng.permutation(len(stories)))
    }
    originals_keys = {s.label: text_keys(s.text) for s in stories}
    for story in stories:
        level = levels[story.label]
        copy, detail = republish(story, level, rng, vocabulary)
        copy_keys = text_keys(copy)
        assert copy_keys.near is not None
        original_near = originals_keys[story.label].near
        assert original_near is not None
        candidates = main_db.candidates(copy_keys.near.bands)
        own = home[story.label]
        shared = len(set(copy_keys.near.bands) & set(original_near.bands))
        result = main_db.save(
            f"copy:{story.label}", "Republisher", story.title, copy, keys=copy_keys
        )
        trials.append(
            main_db.trial(
                "positive",
                story.label,
                result,
                level=level,
                own_similarity=round(jaccard(copy_keys.near.array, original_near.array), 4),
                candidate=own in candidates,
                candidate_rank=candidates.index(own) + 1 if own in candidates else None,
                shared_bands=shared,
                detail=detail,
            )
        )
    main_db.close()

    # (b) distinct stories sharing a header line and a boilerplate block.
    bp_db = QualityDb(workdir / "quality-boilerplate.db")
    for story, text, pair in boilerplate_variants(stories, rng, BOILERPLATE_PAIRS):
        result = bp_db.save(story.label, story.outlet, story.title, text)
        trials.append(bp_db.trial("boilerplate", story.label, result, detail={"pair": pair}))
    bp_db.close()

    # (c) short stories sharing a template: an outlet's header/footer, or a fill-in skeleton.
    tpl_db = QualityDb(workdir / "quality-template.db")
    for story, text, pair in outlet_template_variants(stories, rng):
        result = tpl_db.save(story.label, story.outlet, story.title, text)
        trials.append(tpl_db.trial("outlet_template", story.label, result, detail={"pair": pair}))
    for number, (name, text) in enumerate(filled_template_stories(rng)):
        label = f"fill:{name}:{number}"
        result = tpl_db.save(label, "Template Wire", name, text)
        trials.append(tpl_db.trial("fill_template", label, result))
    tpl_db.close()

    elapsed = time.perf_counter() - started
    closest = closest_original_pairs(stories, originals_keys)
    natural = same_story_pairs(trials, originals_keys)
    return {
        "stories": len(stories),
        "seconds": round(elapsed, 1),
        "counts": dict(Counter(t.kind for t in trials)),
        "negative_pairs": negative_pair_counts(trials, len(stories)),
        "metrics": quality_metrics(trials),
        "lsh": lsh_summary(trials),
        "merges_of_negatives": [asdict(t) for t in trials if is_negative_merge(t)],
        "closest_original_pairs": closest,
        "same_story_pairs_in_corpus": natural,
        "positives": [asdict(t) for t in trials if t.kind == "positive"],
    }


def closest_original_pairs(
    stories: Sequence[Story], keys: dict[str, TextKeys], top: int = 5
) -> list[dict[str, Any]]:
    """The most similar pairs of distinct originals by exact Jaccard (all pairs, no LSH)."""
    arrays = []
    for story in stories:
        near = keys[story.label].near
        assert near is not None  # every story has >= MIN_WORDS words
        arrays.append(near.array)
    best: list[tuple[float, int, int]] = []
    for i in range(len(arrays)):
        for j in range(i + 1, len(arrays)):
            similarity = jaccard(arrays[i], arrays[j])
            if similarity > 0.05:
                best.append((similarity, i, j))
    best.sort(reverse=True)
    return [
        {
            "similarity": round(sim, 4),
            "a": stories[i].label,
            "b": stories[j].label,
            "same_story": SAME_STORY.get(frozenset((stories[i].label, stories[j].label))),
        }
        for sim, i, j in best[:top]
    ]


def same_story_pairs(trials: Sequence[Trial], keys: dict[str, TextKeys]) -> list[dict[str, Any]]:
    """The corpus's own same-story pairs (SAME_STORY): exact Jaccard, and merged or not."""
    merged = {
        frozenset((t.label, t.matched)): t.similarity
        for t in trials
        if t.kind == "original" and t.matched is not None
    }
    pairs = []
    for pair, note in SAME_STORY.items():
        a, b = sorted(pair)
        near_a, near_b = keys[a].near if a in keys else None, keys[b].near if b in keys else None
        if near_a is None or near_b is None:
            continue
        pairs.append(
            {
                "a": a,
                "b": b,
                "note": note,
                "similarity": round(jaccard(near_a.array, near_b.array), 4),
                "merged_at_low_threshold": pair in merged,
            }
        )
    return sorted(pairs, key=lambda p: -float(p["similarity"]))


def negative_pair_counts(trials: Sequence[Trial], stories: int) -> dict[str, int]:
    """How many pairs of distinct stories each negative database held."""
    bp = sum(1 for t in trials if t.kind == "boilerplate")
    tpl = sum(1 for t in trials if t.kind in ("outlet_template", "fill_template"))
    return {
        "originals_all_pairs": stories * (stories - 1) // 2,
        "boilerplate_all_pairs": bp * (bp - 1) // 2,
        "boilerplate_same_block_pairs": bp // 2,
        "template_all_pairs": tpl * (tpl - 1) // 2,
    }


def is_negative_merge(trial: Trial) -> bool:
    """A save of a negative that merged into something (at :data:`T_LOW`)."""
    return trial.kind != "positive" and trial.outcome != "new"


def false_merge_at(trial: Trial, threshold: float) -> bool:
    """Would this save have merged two different stories at ``threshold``?"""
    if trial.outcome == "new" or same_story(trial.label, trial.matched):
        return False
    if trial.outcome == "duplicate_near":
        return (trial.similarity or 0.0) >= threshold
    return True  # an exact-text or URL match between different stories


def true_merge_at(trial: Trial, threshold: float) -> bool:
    """Would this copy have merged into its own original at ``threshold``?"""
    if trial.kind != "positive" or not same_story(trial.label, trial.matched):
        return False
    if trial.outcome == "duplicate_near":
        return (trial.similarity or 0.0) >= threshold
    return trial.outcome != "new"


def _prf(tp: int, fp: int, positives: int) -> dict[str, Any]:
    precision = tp / (tp + fp) if tp + fp else 1.0
    recall = tp / positives if positives else 0.0
    f1 = 2 * precision * recall / (precision + recall) if precision + recall else 0.0
    return {
        "tp": tp,
        "fp": fp,
        "fn": positives - tp,
        "precision": round(precision, 4),
        "recall": round(recall, 4),
        "f1": round(f1, 4),
    }


def quality_metrics(trials: Sequence[Trial]) -> list[dict[str, Any]]:
    """Precision, recall and F1 per threshold, overall and per edit level.

    A false positive is any save that merged two different stories: a negative merged into
    anything, or a copy merged into another story than its own. Per level, the test set is that
    level's copies plus every negative (precision then answers "if all republished copies were
    edited this much").
    """
    positives = [t for t in trials if t.kind == "positive"]
    negatives = [t for t in trials if t.kind != "positive"]
    rows = []
    for threshold in THRESHOLDS:
        fp_by_kind = Counter(t.kind for t in negatives if false_merge_at(t, threshold))
        wrong = Counter(t.level for t in positives if false_merge_at(t, threshold))
        fp_negatives = sum(fp_by_kind.values())
        row: dict[str, Any] = {"threshold": threshold}
        tp = sum(true_merge_at(t, threshold) for t in positives)
        row["overall"] = _prf(tp, fp_negatives + sum(wrong.values()), len(positives))
        for level in LEVELS:
            mine = [t for t in positives if t.level == level]
            tp = sum(true_merge_at(t, threshold) for t in mine)
            row[level] = _prf(tp, fp_negatives + wrong[level], len(mine))
        row["false_positives"] = {**dict(fp_by_kind), "copy_to_wrong_story": sum(wrong.values())}
        # Recall had every pair been compared exactly: what LSH costs at this threshold.
        row["recall_if_exhaustive"] = round(
            sum((t.own_similarity or 0) >= threshold for t in positives) / len(positives), 4
        )
        rows.append(row)
    return rows


def lsh_summary(trials: Sequence[Trial]) -> dict[str, Any]:
    """Positive pairs whose original never even became a candidate, overall and per level."""
    positives = [t for t in trials if t.kind == "positive"]
    summary: dict[str, Any] = {}
    for scope in ("overall", *LEVELS):
        mine = [t for t in positives if scope == "overall" or t.level == scope]
        if not mine:
            continue
        sims = [t.own_similarity or 0.0 for t in mine]
        missed = [t for t in mine if not t.candidate]
        ranks = [t.candidate_rank for t in mine if t.candidate_rank is not None]
        summary[scope] = {
            "pairs": len(mine),
            "candidate_recall": round(sum(bool(t.candidate) for t in mine) / len(mine), 4),
            "shares_a_band": sum(bool(t.candidate) for t in mine),
            "never_candidates": len(missed),
            "never_candidates_similarity": sorted(round(t.own_similarity or 0, 3) for t in missed),
            "worst_candidate_rank": max(ranks, default=None),
            "exact_similarity": {
                "min": round(min(sims), 3),
                "p10": round(float(np.percentile(sims, 10)), 3),
                "median": round(statistics.median(sims), 3),
                "max": round(max(sims), 3),
            },
        }
    return summary


def metrics_at(quality: dict[str, Any], threshold: float) -> dict[str, Any]:
    """The metrics row of ``threshold`` in a :func:`run_quality` result."""
    for row in quality["metrics"]:
        if row["threshold"] == threshold:
            result: dict[str, Any] = row
            return result
    raise KeyError(threshold)
