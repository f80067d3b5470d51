"""Extraction quality on public datasets with hand-made ground truth: shingle F1 of newsrelay's
article text, of plain ``trafilatura.extract()`` (its defaults), of ``favor_precision`` and of
``include_comments=False`` (newsrelay never keeps reader comments; CleanEval and Dragnet count
them as content), side by side in one run, with CPU milliseconds per page.

The data is not in this repository (the datasets' owners keep their rights): clone the merged
copy of CleanEval, CleanPortalEval, Dragnet and Mozilla Readability's test pages, and point the
bench at it::

    git clone https://github.com/j-szulc/html-cleaning-dataset-merged bench/data/extraction
    make bench-extract            # or: python bench/extract_bench.py --data DIR

Licences, as their sources state them: Dragnet data CC BY 4.0 (dragnet-org/dragnet_data);
Readability's test pages Apache 2.0 (mozilla/readability); CleanEval and CleanPortalEval are
research test sets published for evaluation (cleaneval.sigwac.org.uk, ppke-nlpg). The
set used as the project's held-out test (scrapinghub/article-extraction-benchmark) and every
set derived from it are deliberately not used.

Scoring: both texts are lower-cased and split into word tokens (``\\w+``); a shingle is 4
consecutive tokens; precision and recall count shingles as multisets (a repeated sentence
counts each time); F1 per page, averaged over the pages of a dataset. A page whose truth has
no shingle is skipped. The ``page-signal`` part of the merged copy is left out: its ground
truth is marked-up HTML, not text.
"""

from __future__ import annotations

import argparse
import os
import re
import sys
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

if __package__ in (None, ""):
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

DEFAULT_DATA = Path(__file__).resolve().parent / "data" / "extraction"
# dataset folder -> how its ground truth is written
DATASETS = {
    "CleanPortalEval-master": "cleaneval",
    "cleaneval-dev": "cleaneval",
    "cleaneval-final": "cleaneval",
    "dragnet_data": "text",
    "readability": "html",
}
_TOKEN = re.compile(r"\w+")
_CLEANEVAL_MARK = re.compile(r"^\s*<(?:p|h|l)>", re.M)
SHINGLE = 4


def shingles(text: str) -> Counter[tuple[str, ...]]:
    tokens = _TOKEN.findall(text.lower())
    return Counter(tuple(tokens[i : i + SHINGLE]) for i in range(len(tokens) - SHINGLE + 1))


def f1(truth: Counter[tuple[str, ...]], found: str) -> tuple[float, float, float]:
    """(precision, recall, F1) of ``found`` against ``truth``'s shingles."""
    got = shingles(found)
    common = sum((truth & got).values())
    precision = common / sum(got.values()) if got else 0.0
    recall = common / sum(truth.values())
    score = 2 * precision * recall / (precision + recall) if common else 0.0
    return precision, recall, score


def truth_text(raw: bytes, kind: str) -> str:
    text = raw.decode("utf-8", errors="replace")
    if kind == "cleaneval":
        lines = text.splitlines()
        if lines and lines[0].startswith("URL:"):
            lines = lines[1:]
        return _CLEANEVAL_MARK.sub("", "\n".join(lines))
    if kind == "html":
        from lxml import html as lxml_html

        return str(lxml_html.fromstring(text).text_content()) if text.strip() else ""
    return text


def decode(raw: bytes) -> str:
    from w3lib.encoding import html_to_unicode

    return html_to_unicode(None, raw)[1]


def newsrelay(html: str) -> str:
    from crawler.extract import extract_article

    return extract_article(html, "http://example.com/page.html").text


def trafilatura_defaults(html: str) -> str:
    import trafilatura

    return trafilatura.extract(html) or ""


def trafilatura_precision(html: str) -> str:
    import trafilatura

    return trafilatura.extract(html, favor_precision=True) or ""


def trafilatura_no_comments(html: str) -> str:
    """newsrelay's content policy (reader comments are not the article) with trafilatura's
    other defaults: the like-for-like baseline, since several of these sets count comments
    as content."""
    import trafilatura

    return trafilatura.extract(html, include_comments=False) or ""


EXTRACTORS: dict[str, Callable[[str], str]] = {
    "newsrelay": newsrelay,
    "trafilatura": trafilatura_defaults,
    "trafilatura precision": trafilatura_precision,
    "trafilatura no comments": trafilatura_no_comments,
}


@dataclass
class Score:
    pages: int = 0
    precision: float = 0.0
    recall: float = 0.0
    f1: float = 0.0
    cpu: float = 0.0

    def add(self, p: float, r: float, f: float, cpu: float) -> None:
        self.pages += 1
        self.precision += p
        self.recall += r
        self.f1 += f
        self.cpu += cpu


def pages(folder: Path, limit: int | None) -> list[tuple[Path, Path]]:
    found = []
    for truth in sorted((folder / "GoldStandard").glob("*.txt")):
        page = folder / "input" / (truth.stem + ".html")
        if page.exists():
            found.append((page, truth))
    return found[:limit] if limit else found


def run(data: Path, limit: int | None) -> dict[str, dict[str, Score]]:
    results: dict[str, dict[str, Score]] = {}
    for name, kind in DATASETS.items():
        folder = data / name
        if not folder.is_dir():
            print(f"  {name}: not found under {data}, skipped", file=sys.stderr)
            continue
        scores = {extractor: Score() for extractor in EXTRACTORS}
        for page, truth_file in pages(folder, limit):
            truth = shingles(truth_text(truth_file.read_bytes(), kind))
            if not truth:
                continue
            html = decode(page.read_bytes())
            for extractor, function in EXTRACTORS.items():
                start = time.process_time()
                try:
                    text = function(html)
                except Exception as exc:  # an extractor's crash scores 0 on that page
                    print(f"  {extractor} failed on {page.name}: {exc}", file=sys.stderr)
                    text = ""
                cpu = time.process_time() - start
                scores[extractor].add(*f1(truth, text), cpu)
        results[name] = scores
        print(f"  {name}: {scores['newsrelay'].pages} pages", file=sys.stderr)
    return results


def report(results: dict[str, dict[str, Score]]) -> str:
    lines = [
        "| dataset | pages | "
        + " | ".join(f"{e} F1 (P / R)" for e in EXTRACTORS)
        + " | "
        + " | ".join(f"{e} CPU ms/page" for e in EXTRACTORS)
        + " |",
        "|---|---|" + "---|" * (2 * len(EXTRACTORS)),
    ]
    totals = {e: Score() for e in EXTRACTORS}
    for name, scores in results.items():
        n = scores["newsrelay"].pages
        cells = [
            f"{s.f1 / n:.3f} ({s.precision / n:.3f} / {s.recall / n:.3f})" for s in scores.values()
        ]
        cpu = [f"{1000 * s.cpu / n:.1f}" for s in scores.values()]
        lines.append(f"| {name} | {n} | " + " | ".join(cells + cpu) + " |")
        for extractor, s in scores.items():
            total = totals[extractor]
            total.pages += s.pages
            total.f1 += s.f1
            total.precision += s.precision
            total.recall += s.recall
            total.cpu += s.cpu
    n = totals["newsrelay"].pages
    if n:
        cells = [
            f"**{s.f1 / n:.3f}** ({s.precision / n:.3f} / {s.recall / n:.3f})"
            for s in totals.values()
        ]
        cpu = [f"{1000 * s.cpu / n:.1f}" for s in totals.values()]
        lines.append(f"| all pages | {n} | " + " | ".join(cells + cpu) + " |")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--data",
        type=Path,
        default=Path(os.environ.get("NEWSRELAY_EXTRACT_DATA", DEFAULT_DATA)),
        help="the clone of html-cleaning-dataset-merged (default: bench/data/extraction)",
    )
    parser.add_argument("--limit", type=int, default=None, help="at most N pages per dataset")
    args = parser.parse_args(argv)
    if not args.data.is_dir():
        print(
            f"extract_bench: no data at {args.data}: git clone "
            f"https://github.com/j-szulc/html-cleaning-dataset-merged {args.data}",
            file=sys.stderr,
        )
        return 2
    import trafilatura

    # Warm every extractor up once, so that no import lands in the first page's CPU.
    for function in EXTRACTORS.values():
        function("<html><body><article><p>warm up text here</p></article></body></html>")
    results = run(args.data, args.limit)
    print(f"## Extraction on public datasets (trafilatura {trafilatura.__version__})\n")
    print(report(results))
    return 0


if __name__ == "__main__":
    sys.exit(main())
