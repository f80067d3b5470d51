"""The Scrapy project: how articles are fetched and turned into records."""
