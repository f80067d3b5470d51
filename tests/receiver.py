"""A webhook receiver on loopback for the delivery tests: it records every POST (headers, body,
whether its signature held) and answers as the test scripts it."""

from __future__ import annotations

import hashlib
import hmac
import json
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from tests.support import Serving


@dataclass
class Hook:
    """One POST received."""

    article_id: int
    key: str  # the Idempotency-Key header
    body: dict[str, Any]
    signed: bool  # X-Newsrelay-Signature matched the body
    status: int = 0  # what was answered (0: the answer never went out)
    at: float = 0.0  # time.monotonic() when it arrived


# (the hook, how many POSTs of this article came before it) -> (status, seconds to wait first,
# extra headers)
Script = Callable[[Hook, int], tuple[int, float, dict[str, str]]]


def accept(_hook: Hook, _before: int) -> tuple[int, float, dict[str, str]]:
    return 200, 0.0, {}


class Receiver(Serving):
    def __init__(self, secret: str | None = None, script: Script = accept) -> None:
        self.secret = secret
        self.script = script
        self.hooks: list[Hook] = []
        self.lock = threading.Lock()
        self._serve(ThreadingHTTPServer(("127.0.0.1", 0), _handler(self)))

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}/hooks/newsrelay"

    def accepted(self) -> dict[int, list[Hook]]:
        """Article id -> the POSTs of it answered 2xx."""
        found: dict[int, list[Hook]] = {}
        with self.lock:
            for hook in self.hooks:
                if 200 <= hook.status < 300:
                    found.setdefault(hook.article_id, []).append(hook)
        return found

    def by_article(self) -> dict[int, list[Hook]]:
        found: dict[int, list[Hook]] = {}
        with self.lock:
            for hook in self.hooks:
                found.setdefault(hook.article_id, []).append(hook)
        return found

    def receive(self, headers: Any, raw: bytes) -> tuple[Hook, int]:
        body = json.loads(raw)
        signature = headers.get("X-Newsrelay-Signature", "")
        expected = (
            "sha256=" + hmac.new(self.secret.encode(), raw, hashlib.sha256).hexdigest()
            if self.secret
            else ""
        )
        signed = bool(self.secret) and hmac.compare_digest(signature, expected)
        hook = Hook(
            body["id"], headers.get("Idempotency-Key", ""), body, signed, at=time.monotonic()
        )
        with self.lock:
            before = sum(1 for h in self.hooks if h.article_id == hook.article_id)
            self.hooks.append(hook)
        return hook, before


def _handler(receiver: Receiver) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            raw = self.rfile.read(int(self.headers.get("Content-Length", "0")))
            hook, before = receiver.receive(self.headers, raw)
            status, delay, headers = receiver.script(hook, before)
            time.sleep(delay)
            try:
                self.send_response(status)
                for name, value in headers.items():
                    self.send_header(name, value)
                self.send_header("Content-Length", "2")
                self.end_headers()
                self.wfile.write(b"{}")
            except OSError:  # the publisher gave up waiting, or was killed
                return
            with receiver.lock:
                hook.status = status

        def log_message(self, format: str, *args: object) -> None:  # noqa: A002
            pass

    return Handler
