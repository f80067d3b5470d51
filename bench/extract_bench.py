"""Extraction quality on public datasets with hand-made ground truth: shingle F1 of newsrelay's
article text, of plain ``trafilatura.extract()`` (its defaults), of ``favor_precision`` and of
``include_comments=False`` (newsrelay never keeps reader comments; CleanEval counts them as
content, and Dragnet has them after a marker), side by side in one run, with CPU milliseconds
per page.

The data is not in this repository (the datasets' owners keep their rights): clone the merged
copy of CleanEval, CleanPortalEval, Dragnet, Mozilla Readability's test pages and L3S-GN1
(there named ``page-signal``), and point the bench at it::

    git clone https://github.com/j-szulc/html-cleaning-dataset-merged bench/data/extraction
    make bench-extract            # or: python bench/extract_bench.py --data DIR [--only ...]

Licences, as their sources state them: Dragnet data CC BY 4.0 (dragnet-org/dragnet_data);
Readability's test pages Apache 2.0 (mozilla/readability); CleanEval, CleanPortalEval and
L3S-GN1 (Kohlschütter et al., WSDM 2010) are research test sets published for evaluation
(cleaneval.sigwac.org.uk, ppke-nlpg, L3S). The set used as the project's held-out test
(scrapinghub/article-extraction-benchmark) and every set derived from it are deliberately not
used. (chatnoir-eu/web-content-extraction-benchmark keeps its copies as Git LFS objects, which
the mirror this was built with does not serve; its readers define L3S-GN1's main content as
classes ``x-nc-sel1``-``3``, as here.)

Scoring: both texts are lower-cased and split into word tokens (``\\w+``); a shingle is 4
consecutive tokens; precision and recall count shingles as multisets (a repeated sentence
counts each time); F1 per page, averaged over the pages of a dataset. A page whose truth has
no shingle is skipped. Dragnet is scored twice: on the article (its truth up to the comments
marker) and on the article with its comments.
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
# dataset folder -> (name in the report, how its ground truth is read), one row each
DATASETS = {
    "CleanPortalEval-master": [("CleanPortalEval", "cleaneval")],
    "cleaneval-dev": [("CleanEval dev", "cleaneval")],
    "cleaneval-final": [("CleanEval final", "cleaneval")],
    "dragnet_data": [("Dragnet", "dragnet"), ("Dragnet with comments", "dragnet+comments")],
    "readability": [("Readability", "html")],
    "page-signal-master": [("L3S-GN1", "l3s")],
}
# Dragnet's truth is the article, then a marker line, then the reader comments (the marker is
# typed by hand: "!@#$%^&*()  COMMENTS" and small variants).
_COMMENTS_MARK = re.compile(r"^[ !@#$%^&*()]{4,}\s*COMMENTS\s*$", re.M)
# L3S-GN1 marks the page's own elements: 1 headline, 2 full text, 3 supplemental (dates,
# captions), 4 related content, 5 user comments; the main content is 1-3, as in Bevendorff et
# al.'s web-content-extraction-benchmark.
_L3S_CONTENT = ("x-nc-sel1", "x-nc-sel2", "x-nc-sel3")
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
    if kind == "dragnet":
        return _COMMENTS_MARK.split(text, maxsplit=1)[0]
    if kind == "dragnet+comments":
        return _COMMENTS_MARK.sub("", text)
    if kind == "l3s":
        return _l3s_content(text)
    return text


def _l3s_content(text: str) -> str:
    """The text of the outermost elements marked as main content."""
    from lxml import html as lxml_html

    if not text.strip():
        return ""
    marked = [
        element
        for element in lxml_html.fromstring(text).iter()
        if isinstance(element.tag, str) and element.get("class") in _L3S_CONTENT
    ]
    inside = set(marked)
    outermost = [e for e in marked if not any(a in inside for a in e.iterancestors())]
    return "\n".join(e.text_content() for e in outermost)


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
    for folder_name, rows in DATASETS.items():
        folder = data / folder_name
        if not folder.is_dir():
            print(f"  {folder_name}: not found under {data}, skipped", file=sys.stderr)
            continue
        table = {name: {extractor: Score() for extractor in EXTRACTORS} for name, _ in rows}
        for page, truth_file in pages(folder, limit):
            raw_truth = truth_file.read_bytes()
            truths = [(name, shingles(truth_text(raw_truth, kind))) for name, kind in rows]
            if not any(truth for _, truth in truths):
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
                for name, truth in truths:
                    if truth:
                        table[name][extractor].add(*f1(truth, text), cpu)
        results.update(table)
        print(f"  {folder_name}: {len(pages(folder, limit))} pages", file=sys.stderr)
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
    # Each page counts once in the total: a second reading of a set's truth does not add pages.
    primary = {rows[0][0] for rows in DATASETS.values()}
    for name, scores in results.items():
        n = scores["newsrelay"].pages
        cells = [
            f"{s.f1 / n:.3f} ({s.precision / n:.3f} / {s.recall / n:.3f})" for s in scores.values()
        ]
        cpu = [f"{1000 * s.cpu / n:.1f}" for s in scores.values()]
        lines.append(f"| {name} | {n} | " + " | ".join(cells + cpu) + " |")
        if name not in primary:
            continue
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
    parser.add_argument(
        "--only",
        default=None,
        help=f"comma-separated extractors to run (default all: {', '.join(EXTRACTORS)})",
    )
    args = parser.parse_args(argv)
    if args.only:
        unknown = set(args.only.split(",")) - set(EXTRACTORS)
        if unknown or "newsrelay" not in args.only.split(","):
            parser.error(f"--only takes newsrelay and any of {', '.join(EXTRACTORS)}")
        for name in set(EXTRACTORS) - set(args.only.split(",")):
            del EXTRACTORS[name]
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
