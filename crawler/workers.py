"""CPU-bound page work (decoding, extraction, dedup keys) in worker processes.

Scrapy runs on one thread; trafilatura takes 2-4 ms for a typical page and up to ~70 ms for
a large one. Run inline, extraction would cap a crawl at one core; in worker processes, the
reactor thread keeps downloading while the other cores extract.

This module is light on purpose: the crawler process imports it, and never the extraction
stack (trafilatura, lxml, numpy, feedparser: ~0.3 s of CPU). Only the workers' *zygote*
imports that, once, and only when there is work; an unchanged re-poll, where every feed
answers 304, never pays for it. Everything sent to a worker lives in an importable module.
"""

from __future__ import annotations

import asyncio
import collections
import contextlib
import ctypes
import logging
import os
import pickle
import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar

if TYPE_CHECKING:
    from crawler.config import ExtractRules
    from crawler.extracted import Extracted
    from crawler.feeds import ParsedFeed
    from crawler.fingerprints import TextKeys

logger = logging.getLogger(__name__)
R = TypeVar("R")


@dataclass(frozen=True)
class Page:
    """An article page after extraction, with its dedup keys."""

    extracted: Extracted
    text: str
    html: str
    keys: TextKeys | None  # None when the page has no text


def process_page(
    body: bytes,
    content_type: str | None,
    url: str,
    feed_html: str | None = None,
    near_keys: bool = True,
    rules: ExtractRules | None = None,
) -> Page:
    """Decode (HTTP header, BOM, then ``<meta charset>``, like Scrapy), extract, compute keys.

    A page with no extractable text falls back to the feed entry's own content.
    """
    from w3lib.encoding import html_to_unicode

    from crawler.extract import extract_article, html_text
    from crawler.fingerprints import TextKeys, text_keys
    from storage.html_policy import clean_html

    _, html = html_to_unicode(content_type, body)
    extracted = extract_article(html, url, rules)
    text, body_html = extracted.text, extracted.html
    if not text and feed_html:
        body_html = clean_html(feed_html)
        text = html_text(body_html)
    if not text:
        return Page(extracted, "", "", None)
    keys = text_keys(text)
    if not near_keys:
        keys = TextKeys(keys.content_hash, None)
    return Page(extracted, text, body_html, keys)


def process_feed(body: bytes, url: str, content_type: str | None) -> ParsedFeed:
    from crawler.feeds import parse_feed

    return parse_feed(body, url, content_type)


_WARM_PAGE = (
    b"<html><head><title>Warm</title></head><body><article><h1>Warm</h1>"
    + b"<p>"
    + b"Words to warm the extractor up with, in a paragraph. " * 8
    + b"</p>"
    + b"</article></body></html>"
)
_WARM_FEED = (
    b'<?xml version="1.0"?><rss version="2.0"><channel><title>Warm</title>'
    b"<item><title>Warm</title><link>http://localhost/warm</link></item></channel></rss>"
)


def warm() -> None:
    """Import and initialize what the work above needs: the zygote does it once, before
    forking the workers, by processing a tiny page and feed (first calls also load
    feedparser, trafilatura's settings and the hash permutations: ~0.05 s per process)."""
    import crawler.config  # the type of [sources.extract] rules sent along with pages

    process_page(_WARM_PAGE, "text/html; charset=utf-8", "http://localhost/warm")
    process_feed(_WARM_FEED, "http://localhost/feed", "application/rss+xml")
    del crawler


def run_calls(calls: list[tuple[Callable[..., Any], tuple[Any, ...]]]) -> list[tuple[bool, Any]]:
    """Several calls in one round trip to a worker: (True, result) or (False, exception) each."""
    results: list[tuple[bool, Any]] = []
    for function, args in calls:
        try:
            results.append((True, function(*args)))
        except Exception as exc:  # goes back to that call's caller
            results.append((False, exc))
    return results


class WorkerDied(RuntimeError):
    """An extraction worker exited (killed, out of memory) with this work unfinished."""


# -- the zygote and its workers (child processes) -------------------------------------------
_HEADER = 8  # bytes of length before each pickled message


def _zygote(control: int, sockets: Sequence[int]) -> None:
    """Wait for the word (one byte on ``control``), import the stack, fork one worker per
    socket, reap them. EOF on ``control`` first (a crawl with nothing to parse): just exit.
    """
    if os.read(control, 1) != b"w":
        return
    warm()
    workers, zygote = [], os.getpid()
    for index, fd in enumerate(sockets):
        pid = os.fork()
        if pid == 0:  # the worker
            try:
                os.close(control)
                for other in [*sockets[:index], *sockets[index + 1 :]]:
                    os.close(other)
                _die_with(zygote)
                _serve(socket.socket(fileno=fd))
            finally:
                os._exit(0)
        workers.append(pid)
    for fd in sockets:
        os.close(fd)
    for pid in workers:
        with contextlib.suppress(ChildProcessError):
            os.waitpid(pid, 0)


def _serve(sock: socket.socket) -> None:
    """A worker: run each batch of calls it is sent, send back the results; EOF ends it."""
    sock.setblocking(True)
    while True:
        header = _read_exactly(sock, _HEADER)
        if header is None:
            return
        calls = pickle.loads(_read_exactly(sock, int.from_bytes(header, "little")) or b"")
        outcomes = run_calls(calls)
        try:
            results = pickle.dumps(outcomes, protocol=pickle.HIGHEST_PROTOCOL)
        except Exception:  # an exception that does not pickle: send its description
            outcomes = [
                (ok, value if ok else RuntimeError(f"{type(value).__name__}: {value}"))
                for ok, value in outcomes
            ]
            results = pickle.dumps(outcomes, protocol=pickle.HIGHEST_PROTOCOL)
        try:
            sock.sendall(len(results).to_bytes(_HEADER, "little") + results)
        except OSError:  # the crawler is gone
            return


def _read_exactly(sock: socket.socket, size: int) -> bytes | None:
    buffer = bytearray(size)
    view, got = memoryview(buffer), 0
    while got < size:
        try:
            count = sock.recv_into(view[got:])
        except OSError:
            return None
        if not count:
            return None
        got += count
    return bytes(buffer)


def _die_with(parent: int) -> None:
    """End this process when ``parent`` dies (Linux ``PR_SET_PDEATHSIG``); ignore the
    terminal's Ctrl-C and hang-up and a service manager's SIGTERM sent to the whole group:
    the crawler decides when work stops, by closing the sockets (EOF)."""
    for signum in (signal.SIGINT, signal.SIGTERM, signal.SIGHUP):
        signal.signal(signum, signal.SIG_IGN)
    # What the crawler's reactor installed does not apply here (its wakeup descriptor is
    # closed: each SIGCHLD would print an error).
    signal.signal(signal.SIGCHLD, signal.SIG_DFL)
    signal.set_wakeup_fd(-1)
    with contextlib.suppress(OSError, AttributeError):  # not Linux
        ctypes.CDLL(None, use_errno=True).prctl(1, signal.SIGKILL)  # 1: PR_SET_PDEATHSIG
    if os.getppid() != parent:  # it died before the call
        os._exit(1)


def _zygote_main() -> None:
    """``python -c`` entry of a zygote started with exec (the crawler ran threads)."""
    control, parent, *sockets = (int(a) for a in sys.argv[1:])
    try:
        _die_with(parent)
        _zygote(control, sockets)
    finally:
        os._exit(0)


# -- the crawler's side ---------------------------------------------------------------------
_Call = tuple[Callable[..., Any], tuple[Any, ...], "asyncio.Future[Any]"]


class _Worker:
    """The crawler's end of one worker's socket: what is being sent, read, and waited for."""

    def __init__(self, sock: socket.socket) -> None:
        self.sock = sock
        self.calls: list[_Call] = []  # the batch in flight; empty when idle
        self.outgoing = memoryview(b"")
        self.incoming = bytearray()
        self.watching = False  # registered with the event loop


class Pool:
    """Worker processes for page work, or inline execution when ``processes`` is 0.

    :meth:`start_now` starts the *zygote*, a child that has imported nothing heavy: forked
    when this process runs a single thread (cheap), else started with exec. At the first
    sign of work (:meth:`expect`, :meth:`run`) the zygote imports the extraction stack and
    forks the workers, which start with all of it loaded. Each worker has a socket to this
    process, served by the event loop's reader/writer callbacks: no thread, no task.

    Calls go out as soon as a worker is idle, and up to ``BATCH_SIZE`` together while every
    worker is busy: one round trip then carries several pages.
    """

    BATCH_SIZE = 8
    STOP_WAIT_S = 5.0  # at shutdown, for a worker to finish its batch

    def __init__(self, processes: int | None) -> None:
        self.processes = (os.cpu_count() or 1) if processes is None else processes
        self._zygote: int | subprocess.Popen[bytes] | None = None
        self._control: int | None = None
        self._workers: list[_Worker] = []
        self._warmed = False
        self._pending: collections.deque[_Call] = collections.deque()
        self._loop: asyncio.AbstractEventLoop | None = None

    def start_now(self) -> None:
        """Start the zygote (idempotent). Cheap: it imports nothing until :meth:`warm`."""
        if self.processes == 0 or self._zygote is not None:
            return
        control_read, control_write = os.pipe()
        pairs = [socket.socketpair() for _ in range(self.processes)]
        ours, theirs = [a for a, _ in pairs], [b.detach() for _, b in pairs]
        keep = [control_read, *theirs]
        if threading.active_count() == 1:
            parent = os.getpid()
            pid = os.fork()
            if pid == 0:  # the zygote
                try:
                    _die_with(parent)
                    _close_all_but([*keep, *_log_fds()])
                    _zygote(control_read, theirs)
                finally:
                    os._exit(0)
            self._zygote = pid
        else:  # forking a threaded process is unsafe: a fresh interpreter instead
            code = "from crawler.workers import _zygote_main; _zygote_main()"
            self._zygote = subprocess.Popen(
                [sys.executable, "-c", code, str(control_read), str(os.getpid())]
                + [str(fd) for fd in theirs],
                pass_fds=keep,
                stdin=subprocess.DEVNULL,
            )
        for fd in keep:
            os.close(fd)
        for sock in ours:
            sock.setblocking(False)
        self._control = control_write
        self._workers = [_Worker(sock) for sock in ours]

    def warm(self) -> None:
        """Work is coming: have the zygote import the stack and fork the workers now."""
        if self._control is None or self._warmed:
            return
        self._warmed = True
        logger.debug("extraction workers starting: %d", len(self._workers))
        with contextlib.suppress(OSError):  # a dead zygote shows as dead workers
            os.write(self._control, b"w")

    def expect(self, pages: int) -> None:
        """``pages`` pages are about to be processed."""
        if pages > 0:
            self.warm()

    async def run(self, function: Callable[..., R], *args: Any) -> R:
        """``function(*args)`` in a worker process, or inline without workers."""
        if not self._workers:
            return function(*args)
        self.warm()
        self._loop = asyncio.get_running_loop()
        future: asyncio.Future[R] = self._loop.create_future()
        self._pending.append((function, args, future))
        self._dispatch()
        return await future

    def _dispatch(self) -> None:
        """Give each idle worker what is pending (up to a batch)."""
        for worker in self._workers:
            if not self._pending:
                return
            if worker.calls:
                continue
            while self._pending and len(worker.calls) < self.BATCH_SIZE:
                call = self._pending.popleft()
                if not call[2].done():  # not cancelled meanwhile
                    worker.calls.append(call)
            if not worker.calls:
                continue
            try:
                data = pickle.dumps(
                    [(function, args) for function, args, _ in worker.calls],
                    protocol=pickle.HIGHEST_PROTOCOL,
                )
            except Exception as exc:  # not picklable: that batch's bug, not the worker's
                calls, worker.calls = worker.calls, []
                _fail(calls, exc)
                continue
            worker.outgoing = memoryview(len(data).to_bytes(_HEADER, "little") + data)
            self._watch(worker)
            self._send(worker)

    def _watch(self, worker: _Worker) -> None:
        if not worker.watching and self._loop is not None:
            self._loop.add_reader(worker.sock.fileno(), self._receive, worker)
            worker.watching = True

    def _send(self, worker: _Worker) -> None:
        assert self._loop is not None
        try:
            sent = worker.sock.send(worker.outgoing)
        except BlockingIOError:
            sent = 0
        except OSError as exc:
            self._lost(worker, exc)
            return
        worker.outgoing = worker.outgoing[sent:]
        if worker.outgoing:
            self._loop.add_writer(worker.sock.fileno(), self._send, worker)
        else:
            self._loop.remove_writer(worker.sock.fileno())

    def _receive(self, worker: _Worker) -> None:
        try:
            chunk = worker.sock.recv(1 << 20)
        except BlockingIOError:
            return
        except OSError as exc:
            self._lost(worker, exc)
            return
        if not chunk:
            self._lost(worker, EOFError("it closed its socket"))
            return
        worker.incoming += chunk
        if len(worker.incoming) < _HEADER:
            return
        size = int.from_bytes(worker.incoming[:_HEADER], "little")
        if len(worker.incoming) < _HEADER + size:
            return
        try:
            results = pickle.loads(worker.incoming[_HEADER : _HEADER + size])
        except Exception as exc:  # a broken message: nothing more can be read from it
            self._lost(worker, exc)
            return
        del worker.incoming[: _HEADER + size]
        calls, worker.calls = worker.calls, []
        for (_, _, future), (ok, value) in zip(calls, results, strict=True):
            if future.done():  # its caller was cancelled
                continue
            if ok:
                future.set_result(value)
            else:
                future.set_exception(value)
        self._dispatch()

    def _lost(self, worker: _Worker, exc: BaseException) -> None:
        """A worker died (killed, out of memory): its batch fails; the others go on, and
        without any left, the work is done in this process."""
        self._unwatch(worker)
        worker.sock.close()
        self._workers.remove(worker)
        calls, worker.calls = worker.calls, []
        logger.error(
            "extraction worker died (%s): %d page(s) failed, %d worker(s) left%s",
            exc,
            len(calls),
            len(self._workers),
            "" if self._workers else "; extracting in the crawler process from now on",
        )
        _fail(calls, WorkerDied("the extraction worker died"))
        if self._workers:
            self._dispatch()
            return
        while self._pending:
            function, args, future = self._pending.popleft()
            if not future.done():
                try:
                    future.set_result(function(*args))
                except Exception as error:
                    future.set_exception(error)

    def _unwatch(self, worker: _Worker) -> None:
        if worker.watching and self._loop is not None and not self._loop.is_closed():
            self._loop.remove_reader(worker.sock.fileno())
            self._loop.remove_writer(worker.sock.fileno())
        worker.watching = False

    def shutdown(self) -> None:
        """Close the sockets (the workers end on EOF) and reap the zygote."""
        for worker in self._workers:
            self._unwatch(worker)
            worker.sock.close()
            for _, _, future in worker.calls:
                future.cancel()
        self._workers = []
        while self._pending:
            self._pending.popleft()[2].cancel()
        if self._control is not None:
            os.close(self._control)
            self._control = None
        zygote, self._zygote = self._zygote, None
        if zygote is not None:
            _reap(zygote, self.STOP_WAIT_S)


def _fail(calls: list[_Call], exc: BaseException) -> None:
    for _, _, future in calls:
        if not future.done():
            future.set_exception(exc)


def _reap(zygote: int | subprocess.Popen[bytes], timeout: float) -> None:
    """Wait for the zygote (it waits for its workers); kill it, and with it them, if late."""
    pid = zygote.pid if isinstance(zygote, subprocess.Popen) else zygote
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            done, _ = os.waitpid(pid, os.WNOHANG)
        except ChildProcessError:
            return
        if done:
            if isinstance(zygote, subprocess.Popen):
                zygote.returncode = 0
            return
        time.sleep(0.01)
    logger.warning("extraction workers did not stop within %.0f s: killed", timeout)
    with contextlib.suppress(ProcessLookupError):
        os.kill(pid, signal.SIGKILL)  # its workers follow (PR_SET_PDEATHSIG)
    with contextlib.suppress(ChildProcessError):
        os.waitpid(pid, 0)


def _log_fds() -> list[int]:
    """Descriptors of the log handlers' files: workers log through them too."""
    fds = []
    for handler in logging.getLogger().handlers:
        stream = getattr(handler, "stream", None)
        with contextlib.suppress(AttributeError, OSError, ValueError):
            fds.append(stream.fileno())  # type: ignore[union-attr]
    return fds


def _close_all_but(keep: Sequence[int]) -> None:
    """Close every inherited descriptor but stdio and ``keep``: the zygote must not hold the
    crawler's database, lock file or sockets open."""
    try:
        fds = [int(entry.name) for entry in Path("/proc/self/fd").iterdir()]
    except OSError:
        fds = list(range(3, 256))
    for fd in fds:
        if fd > 2 and fd not in keep:
            with contextlib.suppress(OSError):
                os.close(fd)
