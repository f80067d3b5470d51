"""Near-duplicate detection, measured: precision/recall on real feed text and cost at scale.

Part 1 (quality, :mod:`bench.neardup.quality`) builds a labelled set from the real feeds of
the repository's test corpus (:mod:`bench.neardup.corpus`): every entry with 120 or more
words of text is an original story; each original gets one republished copy (light, medium or
heavy edits); negatives are the originals themselves (no two distinct stories may merge),
distinct stories sharing a boilerplate block, and short stories sharing an outlet template or
a fill-in-the-blanks template (:mod:`bench.neardup.variants`). Everything is saved through
``storage.articles.save_articles`` into fresh SQLite databases with a low threshold (0.3), so
that the recorded similarities answer "what would threshold T have done" for every T >= 0.3.

Part 2 (cost, :mod:`bench.neardup.cost`) fills a database with synthetic articles through
``save_articles`` batches and times single-article saves at 10,000 and 100,000 stored
articles (the LSH index must keep this flat), one ``save_articles`` batch, and ``text_keys``
alone.

The bench uses only storage's and crawler's public API (:mod:`bench.neardup.store` is its
one door into storage). Run it from the repository root: ``python -m bench.neardup``.
Deterministic: equal ``--seed`` gives equal texts, labels and quality figures (timings vary).
"""
