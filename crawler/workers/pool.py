"""The extraction worker pool, as the crawler process sees it: start, feed, replace and stop
the workers.

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

from crawler.workers.child import HEADER, SPAWN, WARM, close_all_but, die_with, log_fds, zygote

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
        self.pid: int | None = None  # the worker says it first
        self.calls: collections.deque[_Call] = collections.deque()  # sent, not answered
        self.outgoing = memoryview(b"")
        self.incoming = bytearray()
        self.watching = False  # registered with the event loop
        self.deadline: asyncio.TimerHandle | None = None  # for the oldest call


class Pool:
    """Worker processes for page work, or inline execution when ``processes`` is 0.

    :meth:`start_now` starts the *zygote*, a child that has imported nothing heavy: forked
    when this process runs a single thread (cheap), else started with exec. At the first
    sign of work (:meth:`expect`, :meth:`run`) the zygote imports the extraction stack and
    forks the workers, which start with all of it loaded. Each worker has a socket to this
    process, served by the event loop's reader/writer callbacks: no thread, no task.

    Calls go out as soon as a worker is idle, and up to ``BATCH_SIZE`` together while every
    worker is busy: one round trip then carries several pages; each result comes back as soon
    as it is ready. A call has ``timeout`` seconds once its worker starts it: past that, the
    worker is killed and the call fails with :class:`ExtractionTimeout`. A worker that dies
    fails the call it was running (:class:`WorkerDied`); the calls queued behind it go to
    another worker. Dead workers (and a dead zygote) are replaced, at most ``processes`` at
    once and then one per ``RESPAWN_EVERY_S``, so that the crawler never ends up extracting
    pages in its own process.
    """

    BATCH_SIZE = 8
    STOP_WAIT_S = 5.0  # at shutdown, for a worker to finish its batch
    RESPAWN_EVERY_S = 5.0

    def __init__(self, processes: int | None, timeout: float = 60.0) -> None:
        self.processes = (os.cpu_count() or 1) if processes is None else processes
        self.timeout = timeout
        self._zygote: int | subprocess.Popen[bytes] | None = None
        self._control: socket.socket | None = None
        self._workers: list[_Worker] = []
        self._warmed = False
        self._pending: collections.deque[_Call] = collections.deque()
        self._loop: asyncio.AbstractEventLoop | None = None
        self._tokens = float(max(2, self.processes))  # replacements allowed right now
        self._refilled = time.monotonic()
        self._respawn: asyncio.TimerHandle | None = None
        self.replaced = 0  # workers replaced so far (tests and logs)
        self._buffer = memoryview(bytearray(1 << 18))  # what a worker sent, read into

    # -- life -------------------------------------------------------------------------------
    def start_now(self) -> None:
        """Start the zygote (idempotent). Cheap: it imports nothing until :meth:`warm`."""
        if self.processes == 0 or self._zygote is not None:
            return
        ours, theirs = socket.socketpair(socket.AF_UNIX, socket.SOCK_SEQPACKET)
        fd = theirs.detach()
        if threading.active_count() == 1:
            parent = os.getpid()
            pid = os.fork()
            if pid == 0:  # the zygote
                try:
                    die_with(parent)
                    close_all_but([fd, *log_fds()])
                    zygote(socket.socket(fileno=fd))
                finally:
                    os._exit(0)
            self._zygote = pid
        else:  # forking a threaded process is unsafe: a fresh interpreter instead
            code = "from crawler.workers.child import zygote_main; zygote_main()"
            self._zygote = subprocess.Popen(
                [sys.executable, "-c", code, str(fd), str(os.getpid())],
                pass_fds=[fd],
                stdin=subprocess.DEVNULL,
            )
        os.close(fd)
        self._control = ours

    def warm(self) -> None:
        """Work is coming: have the zygote import the stack and fork the workers now."""
        if self._control is None or self._warmed:
            return
        self._warmed = True
        logger.debug("extraction workers starting: %d", self.processes)
        self._spawn(self.processes, WARM)

    def expect(self, pages: int) -> None:
        """``pages`` pages are about to be processed."""
        if pages > 0:
            self.warm()

    def shutdown(self) -> None:
        """Close the sockets (the workers end on EOF) and reap the zygote."""
        if self._respawn is not None:
            self._respawn.cancel()
        for worker in self._workers:
            self._unwatch(worker)
            worker.sock.close()
            for _, _, future in worker.calls:
                future.cancel()
        self._workers = []
        while self._pending:
            self._pending.popleft()[2].cancel()
        if self._control is not None:
            self._control.close()
            self._control = None
        zygote, self._zygote = self._zygote, None
        if zygote is not None:
            _reap(zygote, self.STOP_WAIT_S)

    # -- work -------------------------------------------------------------------------------
    async def run(self, function: Callable[..., R], *args: Any) -> R:
        """``function(*args)`` in a worker process, or inline without workers."""
        if self.processes == 0:
            return function(*args)
        self._loop = asyncio.get_running_loop()
        self.warm()
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
            batch: list[_Call] = []
            while self._pending and len(batch) < self.BATCH_SIZE:
                call = self._pending.popleft()
                if not call[2].done():  # not cancelled meanwhile
                    batch.append(call)
            if not batch:
                continue
            try:
                data = pickle.dumps(
                    [(function, args) for function, args, _ in batch],
                    protocol=pickle.HIGHEST_PROTOCOL,
                )
            except Exception as exc:  # not picklable: that batch's bug, not the worker's
                _fail(batch, exc)
                continue
            worker.calls.extend(batch)
            worker.outgoing = memoryview(len(data).to_bytes(HEADER, "little") + data)
            self._watch(worker)
            self._arm(worker)
            self._send(worker)

    def _arm(self, worker: _Worker) -> None:
        """The oldest call a worker holds has ``timeout`` seconds from now."""
        if worker.deadline is not None:
            worker.deadline.cancel()
            worker.deadline = None
        if worker.calls and self._loop is not None:
            worker.deadline = self._loop.call_later(self.timeout, self._expired, worker)

    def _expired(self, worker: _Worker) -> None:
        if worker.pid is not None:
            with contextlib.suppress(ProcessLookupError):
                os.kill(worker.pid, signal.SIGKILL)
        reason = f"extraction took longer than {self.timeout:g} s"
        self._lost(worker, reason, ExtractionTimeout(reason))

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
        except OSError as exc:  # it died before reading anything: no call had started
            self._lost(worker, str(exc), None)
            return
        worker.outgoing = worker.outgoing[sent:]
        if worker.outgoing:
            self._loop.add_writer(worker.sock.fileno(), self._send, worker)
        else:
            self._loop.remove_writer(worker.sock.fileno())

    def _receive(self, worker: _Worker) -> None:
        try:
            # Into one reused buffer: recv(n) would allocate n bytes on every call.
            count = worker.sock.recv_into(self._buffer)
        except BlockingIOError:
            return
        except OSError as exc:
            self._lost(worker, str(exc), WorkerDied("extraction worker died"))
            return
        if not count:
            self._lost(worker, "it closed its socket", WorkerDied("extraction worker died"))
            return
        worker.incoming += self._buffer[:count]
        answered = 0
        while len(worker.incoming) >= HEADER:
            size = int.from_bytes(worker.incoming[:HEADER], "little")
            if len(worker.incoming) < HEADER + size:
                break
            try:
                message = pickle.loads(worker.incoming[HEADER : HEADER + size])
            except Exception as exc:  # a broken message: nothing more can be read from it
                self._lost(worker, str(exc), WorkerDied("extraction worker died"))
                return
            del worker.incoming[: HEADER + size]
            self._answer(worker, message)
            answered += 1
        if answered:
            self._arm(worker)  # the oldest call left has its whole time from now
            self._dispatch()

    def _answer(self, worker: _Worker, message: Any) -> None:
        if worker.pid is None:  # its first word: who it is
            worker.pid = message
            return
        if not worker.calls:
            return
        ok, value = message
        _, _, future = worker.calls.popleft()
        if future.done():  # its caller was cancelled
            return
        if ok:
            future.set_result(value)
        else:
            future.set_exception(value)

    # -- losing and replacing workers -----------------------------------------------------------
    def _lost(self, worker: _Worker, why: str, error: Exception | None) -> None:
        """A worker died or was killed: see :meth:`_drop`; a replacement is due."""
        if worker in self._workers:
            self._drop(worker, error)
            logger.error("extraction worker lost (%s): replacing it", why)
            self._replace()

    def _drop(self, worker: _Worker, error: Exception | None) -> None:
        """The call ``worker`` was running fails with ``error`` (None: it had started none);
        the calls queued behind it go back to the front of the queue."""
        self._unwatch(worker)
        if worker.deadline is not None:
            worker.deadline.cancel()
        worker.sock.close()
        self._workers.remove(worker)
        if worker.calls:
            if error is not None:
                _fail([worker.calls.popleft()], error)
            self._pending.extendleft(reversed(worker.calls))
            worker.calls.clear()

    def _replace(self) -> None:
        """Start workers until there are ``processes`` again, as fast as the rate allows."""
        if self._respawn is not None:
            return  # a replacement is already scheduled
        now = time.monotonic()
        capacity = max(2, self.processes)
        self._tokens = min(capacity, self._tokens + (now - self._refilled) / self.RESPAWN_EVERY_S)
        self._refilled = now
        missing = self.processes - len(self._workers)
        allowed = min(missing, int(self._tokens))
        if allowed > 0:
            self._tokens -= allowed
            if self._zygote_alive():
                self._spawn(allowed, SPAWN)
            else:
                logger.error("extraction workers' zygote died: starting a new one")
                self._restart_zygote()
            self.replaced += allowed
            logger.warning("extraction workers replaced: %d now running", len(self._workers))
        if len(self._workers) < self.processes and self._loop is not None:
            wait = (1 - self._tokens % 1) * self.RESPAWN_EVERY_S
            logger.warning("extraction workers die too often: next replacement in %.0f s", wait)
            self._respawn = self._loop.call_later(wait, self._respawn_due)
        self._dispatch()

    def _respawn_due(self) -> None:
        self._respawn = None
        self._replace()

    def _spawn(self, count: int, word: bytes) -> None:
        """Ask the zygote for ``count`` more workers."""
        assert self._control is not None
        pairs = [socket.socketpair() for _ in range(count)]
        # A dead zygote: these sockets read EOF, and _lost starts a new one.
        with contextlib.suppress(OSError):
            socket.send_fds(self._control, [word], [theirs.fileno() for _, theirs in pairs])
        for ours, theirs in pairs:
            theirs.close()
            ours.setblocking(False)
            worker = _Worker(ours)
            self._workers.append(worker)
            self._watch(worker)

    def _zygote_alive(self) -> bool:
        zygote = self._zygote
        if zygote is None:
            return False
        pid = zygote.pid if isinstance(zygote, subprocess.Popen) else zygote
        try:
            done, _ = os.waitpid(pid, os.WNOHANG)
        except ChildProcessError:
            return False
        return done == 0

    def _restart_zygote(self) -> None:
        for worker in list(self._workers):  # they died with it
            self._drop(worker, WorkerDied("extraction worker died"))
        if self._control is not None:
            self._control.close()
        self._control, self._zygote, self._warmed = None, None, False
        self.start_now()
        self.warm()

    def _unwatch(self, worker: _Worker) -> None:
        if worker.watching and self._loop is not None and not self._loop.is_closed():
            self._loop.remove_reader(worker.sock.fileno())
            self._loop.remove_writer(worker.sock.fileno())
        worker.watching = False


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
