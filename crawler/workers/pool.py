"""The extraction worker pool, as the crawler process sees it: start, feed and stop the workers.

Scrapy runs on one thread; trafilatura takes 2-4 ms for a typical page and up to ~70 ms for
a large one. Run inline, extraction would cap a crawl at one core; in worker processes, the
reactor thread keeps downloading while the other cores extract.

This module is light on purpose: the crawler process imports it, and never the extraction
stack (trafilatura, lxml, numpy, feedparser: ~0.3 s of CPU). Only the workers' *zygote*
(``crawler.workers.child``) imports that, once, and only when there is work; an unchanged
re-poll, where every feed answers 304, never pays for it.
"""

from __future__ import annotations

import asyncio
import collections
import contextlib
import logging
import os
import pickle
import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from typing import Any, TypeVar

from crawler.workers.child import HEADER, close_all_but, die_with, log_fds, zygote

logger = logging.getLogger(__name__)
R = TypeVar("R")


class WorkerDied(RuntimeError):
    """An extraction worker exited (killed, out of memory) with this work unfinished."""


class ExtractionTimeout(RuntimeError):
    """A call took longer than ``fetch.extract_timeout``: its worker was killed."""


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
                    die_with(parent)
                    close_all_but([*keep, *log_fds()])
                    zygote(control_read, theirs)
                finally:
                    os._exit(0)
            self._zygote = pid
        else:  # forking a threaded process is unsafe: a fresh interpreter instead
            code = "from crawler.workers.child import zygote_main; zygote_main()"
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
            worker.outgoing = memoryview(len(data).to_bytes(HEADER, "little") + data)
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
        if len(worker.incoming) < HEADER:
            return
        size = int.from_bytes(worker.incoming[:HEADER], "little")
        if len(worker.incoming) < HEADER + size:
            return
        try:
            results = pickle.loads(worker.incoming[HEADER : HEADER + size])
        except Exception as exc:  # a broken message: nothing more can be read from it
            self._lost(worker, exc)
            return
        del worker.incoming[: HEADER + size]
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
        _fail(calls, WorkerDied("extraction worker died"))
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
