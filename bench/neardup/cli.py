"""The command line: ``python -m bench.neardup`` (or ``python bench/neardup.py``)."""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
from pathlib import Path
from typing import Any

from bench.neardup import __doc__ as package_doc
from bench.neardup.corpus import DEFAULT_CORPUS, load_stories, sample_stories
from bench.neardup.cost import DEFAULT_BATCH, DEFAULT_PROBES, DEFAULT_SIZES, run_cost
from bench.neardup.quality import DEFAULT_SEED, run_quality
from bench.neardup.report import (
    code_version,
    machine_info,
    print_cost,
    print_header,
    print_quality,
)


def _sizes(value: str) -> list[int]:
    try:
        sizes = sorted({int(part.replace("_", "")) for part in value.split(",") if part.strip()})
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a list of integers: {value!r}") from None
    if not sizes or sizes[0] < 0:
        raise argparse.ArgumentTypeError("sizes must be non-negative integers")
    return sizes


def _positive(value: str) -> int:
    try:
        number = int(value.replace("_", ""))
    except ValueError:
        raise argparse.ArgumentTypeError(f"not an integer: {value!r}") from None
    if number < 1:
        raise argparse.ArgumentTypeError("must be at least 1")
    return number


def parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m bench.neardup", description=(package_doc or "").split("\n\n")[0]
    )
    parser.add_argument(
        "--corpus",
        type=Path,
        default=DEFAULT_CORPUS,
        help="feed corpus with a MANIFEST.tsv (default: the repository's tests/corpus/feeds)",
    )
    parser.add_argument("--seed", type=int, default=DEFAULT_SEED)
    parser.add_argument(
        "--limit",
        type=_positive,
        help="quality: only this many of the corpus's stories, drawn with --seed (default all)",
    )
    parser.add_argument(
        "--db-url",
        help="cost: an empty database to fill (default: SQLite in a temp dir); the bench "
        "leaves its rows there",
    )
    parser.add_argument(
        "--sizes",
        type=_sizes,
        default=list(DEFAULT_SIZES),
        help="cost: stored articles to measure at (default %(default)s)",
    )
    parser.add_argument(
        "--batch",
        type=_positive,
        default=DEFAULT_BATCH,
        help="cost: articles per save_articles call, filling and the timed batch "
        "(default %(default)s)",
    )
    parser.add_argument(
        "--probes",
        type=_positive,
        default=DEFAULT_PROBES,
        help="cost: single-article saves timed at each size (default %(default)s)",
    )
    parser.add_argument("--json", type=Path, help="write every figure to this file")
    parser.add_argument("--skip-quality", action="store_true", help="only the cost run")
    parser.add_argument("--skip-cost", action="store_true", help="only the quality run")
    parser.add_argument("--quiet", action="store_true", help="no progress lines on stderr")
    return parser


def main(argv: list[str] | None = None) -> int:
    args = parser().parse_args(argv)
    report: dict[str, Any] = {
        "machine": machine_info(),
        "code": code_version(),
        "seed": args.seed,
        "command": " ".join(["python", *sys.argv]),
    }
    print_header(report)
    with tempfile.TemporaryDirectory(prefix="neardup-") as tmp:
        workdir = Path(tmp)
        if not args.skip_quality:
            stories = sample_stories(load_stories(args.corpus), args.limit, args.seed)
            report["corpus"] = str(args.corpus)
            report["limit"] = args.limit
            report["quality"] = run_quality(stories, args.seed, workdir)
            print_quality(report["quality"])
        if not args.skip_cost:
            report["cost"] = run_cost(
                args.db_url,
                args.sizes,
                args.seed,
                workdir,
                batch=args.batch,
                probes=args.probes,
                progress=not args.quiet,
            )
            print_cost(report["cost"])
    if args.json:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(json.dumps(report, indent=2, default=str) + "\n", encoding="utf-8")
        print(f"\nwrote {args.json}")
    return 0
