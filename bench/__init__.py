"""Reproducible benchmarks of newsrelay against a generated local news web (see README.md)."""
