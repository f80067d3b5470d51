"""Delivery of stored articles to the republishing sites: webhooks and WordPress, each
article once per destination, through the ledger in ``storage.deliveries``."""
