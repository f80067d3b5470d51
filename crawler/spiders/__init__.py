"""Spiders: one kind per way of discovering articles (feeds today)."""
