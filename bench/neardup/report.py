"""What the bench prints: the machine, the code measured, and the tables of both parts."""

from __future__ import annotations

import os
import platform
import sqlite3
import subprocess
from collections import defaultdict
from pathlib import Path
from typing import Any

import numpy as np

from bench.neardup.corpus import REPO, same_story
from bench.neardup.quality import T_LOW
from bench.neardup.variants import LEVELS


# -- machine and code ------------------------------------------------------------------------
def machine_info() -> dict[str, Any]:
    """CPU model, cores, load, Python and SQLite versions."""
    model = platform.processor() or "unknown"
    try:
        for line in Path("/proc/cpuinfo").read_text(encoding="utf-8").splitlines():
            if line.startswith("model name"):
                model = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    return {
        "cpu": model,
        "cores": os.cpu_count(),
        "cores_usable": len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else None,
        "loadavg_at_start": loadavg(),
        "python": f"{platform.python_implementation()} {platform.python_version()}",
        "sqlite": sqlite3.sqlite_version,
        "numpy": np.__version__,
        "platform": platform.platform(),
    }


def code_version() -> dict[str, Any]:
    """The git commit measured, and whether the dedup code differs from it."""

    def git(*args: str) -> str | None:
        try:
            done = subprocess.run(
                ["git", *args],
                cwd=REPO,
                capture_output=True,
                text=True,
                timeout=10,
                check=True,
                # git status must not take the index lock: someone may be committing meanwhile.
                env={**os.environ, "GIT_OPTIONAL_LOCKS": "0"},
            )
        except (OSError, subprocess.SubprocessError):
            return None
        return done.stdout.strip()

    changed = git("status", "--porcelain", "--", "crawler/fingerprints.py", "storage")
    return {
        "commit": git("rev-parse", "--short", "HEAD"),
        "uncommitted_dedup_changes": changed.splitlines() if changed else [],
    }


def loadavg() -> str:
    """The 1, 5 and 15 minute load averages, as /proc/loadavg gives them."""
    try:
        return " ".join(Path("/proc/loadavg").read_text(encoding="utf-8").split()[:3])
    except OSError:
        return ""


def print_header(report: dict[str, Any]) -> None:
    machine, code = report["machine"], report["code"]
    print(
        f"Machine: {machine['cpu']}, {machine['cores']} cores "
        f"({machine['cores_usable']} usable), {machine['python']}, SQLite {machine['sqlite']}, "
        f"loadavg {machine['loadavg_at_start']} (other processes share these cores)"
    )
    dirty = (
        f", uncommitted: {code['uncommitted_dedup_changes']}"
        if code["uncommitted_dedup_changes"]
        else ""
    )
    print(f"Code: commit {code['commit']}{dirty}")


# -- quality ---------------------------------------------------------------------------------
def print_quality(quality: dict[str, Any]) -> None:
    print(
        f"\nQuality: {quality['stories']} original stories from the corpus, one copy each "
        f"({quality['seconds']} s)"
    )
    counts = quality["counts"]
    pairs = quality["negative_pairs"]
    print(
        f"  saves: {counts.get('original', 0)} originals, {counts.get('positive', 0)} copies, "
        f"{counts.get('boilerplate', 0)} boilerplate variants, "
        f"{counts.get('outlet_template', 0)} outlet-template and "
        f"{counts.get('fill_template', 0)} fill-template stories"
    )
    print(
        f"  negative pairs held: {pairs['originals_all_pairs']:,} among originals, "
        f"{pairs['boilerplate_all_pairs']:,} boilerplate ({pairs['boilerplate_same_block_pairs']}"
        f" with the same header+block by design), {pairs['template_all_pairs']:,} template"
    )
    header = f"{'T':>5} |" + "".join(f" {scope:^23} |" for scope in ("overall", *LEVELS))
    print("\n" + header)
    print(f"{'':>5} |" + f" {'P':>6} {'R':>6} {'F1':>6}    |" * 4)
    print("-" * len(header))
    for row in quality["metrics"]:
        cells = "".join(
            f" {row[s]['precision']:6.3f} {row[s]['recall']:6.3f} {row[s]['f1']:6.3f}    |"
            for s in ("overall", *LEVELS)
        )
        print(f"{row['threshold']:>5} |{cells}")
    print("\n  T     TP   FN   FP  (false positives by kind)          recall if exhaustive")
    for row in quality["metrics"]:
        o = row["overall"]
        fps = ", ".join(f"{k} {v}" for k, v in sorted(row["false_positives"].items()) if v)
        print(
            f"  {row['threshold']:<5} {o['tp']:>4} {o['fn']:>4} {o['fp']:>4}  "
            f"{fps or '-':<36} {row['recall_if_exhaustive']:.3f}"
        )
    print(
        "\n  LSH candidates (the copy's own original shares a band with it; worst rank among "
        "the stored articles sharing one, most shared bands first):"
    )
    for scope, item in quality["lsh"].items():
        sims = item["exact_similarity"]
        print(
            f"    {scope:<8} {item['shares_a_band']}/{item['pairs']} "
            f"= {item['candidate_recall']:.3f}, worst rank {item['worst_candidate_rank']}; "
            f"exact Jaccard min {sims['min']}, p10 {sims['p10']}, median {sims['median']}; "
            f"never candidates at J = {item['never_candidates_similarity'] or '-'}"
        )
    merges = quality["merges_of_negatives"]
    print(f"\n  negatives merged at T={T_LOW} (similarity; full labels in the JSON):")
    fills: dict[str, list[float]] = defaultdict(list)
    for merge in merges:
        if merge["kind"] == "fill_template":
            fills[merge["label"].split(":")[1]].append(merge["similarity"] or 1.0)
            continue
        same = same_story(merge["label"], merge["matched"])
        print(
            f"    {merge['kind']:<15} {merge['similarity']:.3f}  {_short(merge['label'])} -> "
            f"{_short(merge['matched'])}{'  [same story: not a false positive]' if same else ''}"
        )
    for name, sims in fills.items():
        print(
            f"    fill_template   {len(sims)} of 30 '{name}' stories, similarity "
            f"{min(sims):.3f}-{max(sims):.3f}"
        )
    natural = quality["same_story_pairs_in_corpus"]
    merged = [p["similarity"] for p in natural if p["merged_at_low_threshold"]]
    missed = [p["similarity"] for p in natural if not p["merged_at_low_threshold"]]
    print(
        f"  same-story pairs already in the corpus (labelled by eye): {len(natural)}; "
        f"merged at J = {merged or '-'}, not merged at J = {missed or '-'}"
    )
    print("  closest originals by exact Jaccard (all pairs, no LSH):")
    for pair in quality["closest_original_pairs"]:
        note = "  [same story]" if pair["same_story"] else ""
        print(f"    {pair['similarity']:.3f}  {_short(pair['a'])} ~ {_short(pair['b'])}{note}")


def _short(label: str | None) -> str:
    return Path(label).name if label else "-"


# -- cost ------------------------------------------------------------------------------------
def print_cost(cost: dict[str, Any]) -> None:
    print(
        f"\nCost on {cost['backend']} ({cost['url']}), near_threshold={cost['threshold']}, "
        f"filled through save_articles in batches of {cost['batch']}, {cost['seconds']} s, "
        f"loadavg after {cost['loadavg_after']}"
    )
    print(
        f"  {'stored':>8} | {'single save ms':^26} | {'text_keys ms':^26} | "
        f"{'batch':>6} | {'cands':>5} | fill through save_articles"
    )
    print(
        f"  {'':>8} |" + f" {'median':>8} {'p95':>8} {'cpu':>8} |" * 2 + f" {'ms/art':>6} | "
        f"{'mean':>5} |"
    )
    for row in cost["sizes"]:
        s, k = row["save_ms"], row["text_keys_ms"]
        fill = row["fill"]
        write = fill["write_ms_per_article"]
        print(
            f"  {row['stored']:>8,} | {s['median']:>8.2f} {s['p95']:>8.2f} "
            f"{row['save_cpu_ms_mean']:>8.2f} | "
            f"{k['median']:>8.2f} {k['p95']:>8.2f} {row['text_keys_cpu_ms_mean']:>8.2f} | "
            f"{row['batch_ms_per_article']:>6.2f} | "
            f"{row['candidates_per_article']['mean']:>5.2f} | "
            f"{fill['articles']:,} in {fill['seconds']} s"
            + (f" ({write:.2f} ms/article writing)" if write is not None else "")
        )
    merged = {
        outcome: n
        for row in cost["sizes"]
        for outcome, n in row["fill"]["outcomes"].items()
        if outcome != "new"
    }
    if merged:
        print(f"  fill saves that were not new (synthetic texts are distinct): {merged}")
