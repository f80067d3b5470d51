"""Logging, set up once per process: text or JSON lines, stderr or a rotating file.

Structured fields travel as ``extra={...}`` on a record: the text format appends them as
``key=value``, the JSON format as keys. Scrapy, Twisted and Dramatiq stay at WARNING unless
debugging.
No line shows a password: every URL's is masked (``user:***@``) on the way out.
"""

from __future__ import annotations

import json
import logging
import logging.handlers
import sys
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from crawler.urls import mask_secrets

_STANDARD = set(vars(logging.makeLogRecord({}))) | {"message", "asctime", "taskName"}
_QUIET = (
    "scrapy",
    "twisted",
    "alembic",
    "trafilatura",
    "htmldate",
    "courlan",
    "justext",
    "charset_normalizer",
    "dramatiq",
    "httpx",  # one INFO line per request; newsrelay logs each delivery itself
    "httpcore",
)
LEVELS = ("debug", "info", "warning", "error")


def _fields(record: logging.LogRecord) -> dict[str, Any]:
    """The ``extra`` fields of a record that are plain values (Scrapy adds objects)."""
    return {
        key: value
        for key, value in vars(record).items()
        if key not in _STANDARD and isinstance(value, str | int | float | bool | type(None))
    }


class TextFormatter(logging.Formatter):
    def __init__(self) -> None:
        super().__init__("%(asctime)s %(levelname)s %(name)s: %(message)s")

    def format(self, record: logging.LogRecord) -> str:
        line = super().format(record)
        extras = " ".join(f"{k}={v}" for k, v in _fields(record).items())
        if extras:
            head, sep, tail = line.partition("\n")
            line = f"{head} {extras}{sep}{tail}"
        return mask_secrets(line)


class JsonFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        data: dict[str, Any] = {
            "ts": datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname.lower(),
            "logger": record.name,
            "msg": record.getMessage(),
            **_fields(record),
        }
        if record.exc_info:
            data["traceback"] = self.formatException(record.exc_info)
        return mask_secrets(json.dumps(data, ensure_ascii=False, default=str))


def setup_logging(level: str = "info", fmt: str = "text", log_file: Path | None = None) -> None:
    """Configure the root logger; safe to call again (handlers are replaced)."""
    handler: logging.Handler
    if log_file is not None:
        log_file.parent.mkdir(parents=True, exist_ok=True)
        handler = logging.handlers.RotatingFileHandler(
            log_file, maxBytes=10 * 1024 * 1024, backupCount=5, encoding="utf-8"
        )
    else:
        handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(JsonFormatter() if fmt == "json" else TextFormatter())
    root = logging.getLogger()
    for old in list(root.handlers):
        root.removeHandler(old)
    root.addHandler(handler)
    numeric = getattr(logging, level.upper())
    root.setLevel(numeric)
    quiet_level = numeric if numeric <= logging.DEBUG else logging.WARNING
    for name in _QUIET:
        logging.getLogger(name).setLevel(max(quiet_level, numeric))
    # httpcore's DEBUG trace of a SOCKS5 handshake prints the proxy's user and password
    # (httpcore 1.0, _async/socks_proxy.py: "setup_socks5_connection ... auth=").
    logging.getLogger("httpcore").setLevel(max(logging.INFO, numeric))
    # The daemon logs job errors, misses and skips itself, with the source's name; a lost
    # broker connection is said once by Dramatiq or newsrelay, not in pika's dozen lines.
    for name in ("apscheduler", "pika"):
        logging.getLogger(name).setLevel(numeric if numeric <= logging.DEBUG else logging.CRITICAL)
