"""The naive baseline: requests + feedparser + trafilatura in a pool of 8 threads.

Fetches every feed of a newsrelay config, parses it, drops repeated links by exact string
(so a link with a tracking query counts as a new one), fetches every remaining link and runs
``trafilatura.extract`` on it. No conditional requests, no storage. Prints one JSON object;
``crawl_bench.py`` runs this as a subprocess so its CPU time is its own.
"""

from __future__ import annotations

import argparse
import io
import json
import sys
import time
import tomllib
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import feedparser
import requests
import trafilatura


def fetch_feed(url: str) -> list[str]:
    """The entry links of the feed at ``url``."""
    response = requests.get(url, timeout=30)
    response.raise_for_status()
    headers = {"content-type": response.headers.get("content-type", ""), "content-location": url}
    parsed = feedparser.parse(io.BytesIO(response.content), response_headers=headers)
    return [entry.link for entry in parsed.entries if entry.get("link")]


def fetch_article(url: str) -> int:
    """Fetch ``url``, extract its text, return the number of characters extracted."""
    response = requests.get(url, timeout=30)
    response.raise_for_status()
    return len(trafilatura.extract(response.text) or "")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--config", type=Path, required=True, help="a newsrelay config TOML")
    parser.add_argument("--threads", type=int, default=8)
    args = parser.parse_args(argv)
    config = tomllib.loads(args.config.read_text(encoding="utf-8"))
    feeds = [url for source in config["sources"] for url in source["feeds"]]

    # First calls from the main thread: once in about ten runs, eight threads making their
    # first feedparser/trafilatura calls at once crashed the process in C ("free(): invalid
    # pointer"). Costs a few milliseconds, counted in the baseline's time.
    feedparser.parse(
        io.BytesIO(b'<rss version="2.0"><channel><item><link>x</link></item></channel></rss>')
    )
    trafilatura.extract("<html><body><p>" + "Warm up. " * 40 + "</p></body></html>")

    start = time.perf_counter()
    errors = 0
    with ThreadPoolExecutor(args.threads) as pool:
        links: dict[str, None] = {}
        for future in [pool.submit(fetch_feed, url) for url in feeds]:
            try:
                links.update(dict.fromkeys(future.result()))
            except (requests.RequestException, ValueError):
                errors += 1
        extracted = chars = 0
        for page in [pool.submit(fetch_article, url) for url in links]:
            try:
                length = page.result()
            except requests.RequestException:
                errors += 1
                continue
            extracted += length > 0
            chars += length
    result = {
        "feeds": len(feeds),
        "links": len(links),  # one page fetched per link
        "extracted": extracted,
        "text_chars": chars,
        "errors": errors,
        "wall_s": round(time.perf_counter() - start, 3),
    }
    print(json.dumps(result))
    return 0


if __name__ == "__main__":
    sys.exit(main())
