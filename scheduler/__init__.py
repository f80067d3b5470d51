"""The daemon and its front door: CLI, logging, (soon) schedules."""

__version__ = "0.1.0"
