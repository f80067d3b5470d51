"""Extraction workers: processes beside the crawler that run the page pipeline
(:mod:`crawler.processing`). :class:`Pool` is the crawler's handle on them."""

from crawler.workers.pool import ExtractionTimeout, Pool, WorkerDied

__all__ = ["ExtractionTimeout", "Pool", "WorkerDied"]
