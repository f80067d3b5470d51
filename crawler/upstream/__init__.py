"""Where newsrelay relies on names Scrapy or trafilatura do not promise to keep.

One small module each, used only where no public API does the job; each says which version it
was written against and why, and ``tests/test_upstream.py`` fails when an upgrade breaks it.
"""
