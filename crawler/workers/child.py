"""The extraction workers' side: a *zygote* that imports the extraction stack once and forks
the workers (the first ones, and replacements for those that died), and the loop each worker
serves. Everything here runs in child processes.

A worker says its pid, then reads batches of calls (pickled, each message preceded by its
length) and sends each call's result back as soon as it has it; EOF on its socket ends it. It
ignores the terminal's and the service manager's signals (the crawler decides when work
stops, by closing the sockets) and dies with its zygote, which dies with the crawler.
"""

from __future__ import annotations

import contextlib
import ctypes
import logging
import os
import pickle
import signal
import socket
import sys
import threading
import time
from collections.abc import Sequence
from pathlib import Path

from crawler.processing import run_call, warm

HEADER = 8  # bytes of length before each pickled message
# Control messages from the crawler to the zygote (a SOCK_SEQPACKET socket: one message per
# read), each carrying the worker sockets to serve (SCM_RIGHTS).
WARM = b"w"  # the first: import the stack, then fork a worker per socket
SPAWN = b"s"  # later: a replacement worker per socket
MAX_FDS = 64


def zygote(control: socket.socket) -> None:
    """Wait for work, import the stack once, fork a worker per socket the crawler sends, and
    reap them; EOF on ``control`` ends it (after its workers). EOF before any work (a crawl
    with nothing to parse): exit without importing anything."""
    warmed, me = False, os.getpid()
    while True:
        try:
            message, fds, _, _ = socket.recv_fds(control, 16, MAX_FDS)
        except OSError:
            break
        if not message:
            break
        if not warmed:
            warm()
            warmed = True
        for fd in fds:
            if os.fork() == 0:  # the worker
                try:
                    control.close()
                    for other in fds:
                        if other != fd:
                            with contextlib.suppress(OSError):
                                os.close(other)
                    die_with(me)
                    serve(socket.socket(fileno=fd))
                finally:
                    os._exit(0)
            os.close(fd)
        _reap(block=False)
    _reap(block=True)


def _reap(block: bool) -> None:
    """Collect exited workers (all of them, waiting, when ``block``)."""
    while True:
        try:
            pid, _ = os.waitpid(-1, 0 if block else os.WNOHANG)
        except ChildProcessError:
            return
        if pid == 0:
            return


def serve(sock: socket.socket) -> None:
    """A worker: say its pid, then run each batch of calls it is sent and send the results
    back ((True, value) or (False, exception) each, in order); EOF ends it."""
    sock.setblocking(True)
    outbox = _Outbox(sock)
    outbox.add(os.getpid())
    if not outbox.flush():
        return
    threading.Thread(target=outbox.watch, name="newsrelay-outbox", daemon=True).start()
    while True:
        header = _read_exactly(sock, HEADER)
        if header is None:
            return
        calls = pickle.loads(_read_exactly(sock, int.from_bytes(header, "little")) or b"")
        for function, args in calls:
            outbox.running(True)
            outbox.add(run_call(function, args))
        outbox.running(False)
        if not outbox.flush():
            return  # the crawler is gone


class _Outbox:
    """A batch's results, sent together when the batch is done (one wake-up of the crawler
    instead of one per page), or as soon as the call after them has run ``FLUSH_AFTER_S``:
    the crawler must know which call is the slow one when its deadline comes. The watchdog
    is a thread, so a call that never ends cannot hold the results before it back."""

    FLUSH_AFTER_S = 0.25

    def __init__(self, sock: socket.socket) -> None:
        self.sock = sock
        self.lock = threading.Lock()
        self.frames: list[bytes] = []
        self.since: float | None = None  # when the call now running started
        self.ok = True

    def running(self, yes: bool) -> None:
        self.since = time.monotonic() if yes else None

    def add(self, value: object) -> None:
        try:
            data = pickle.dumps(value, protocol=pickle.HIGHEST_PROTOCOL)
        except Exception:  # an exception that does not pickle: send its description
            _, error = value if isinstance(value, tuple) else (False, value)
            data = pickle.dumps((False, RuntimeError(f"{type(error).__name__}: {error}")))
        with self.lock:
            self.frames.append(len(data).to_bytes(HEADER, "little") + data)

    def flush(self) -> bool:
        with self.lock:
            frames, self.frames = self.frames, []
            if frames and self.ok:
                try:
                    self.sock.sendall(b"".join(frames))
                except OSError:
                    self.ok = False
            return self.ok

    def watch(self) -> None:
        while self.ok:
            time.sleep(self.FLUSH_AFTER_S / 2)
            since = self.since
            if since is not None and time.monotonic() - since > self.FLUSH_AFTER_S:
                self.flush()


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


def die_with(parent: int) -> None:
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


def zygote_main() -> None:
    """``python -c`` entry of a zygote started with exec (the crawler ran threads)."""
    control, parent = (int(a) for a in sys.argv[1:3])
    try:
        die_with(parent)
        zygote(socket.socket(fileno=control))
    finally:
        os._exit(0)


def log_fds() -> list[int]:
    """Descriptors of the log handlers' files: workers log through them too."""
    fds = []
    for handler in logging.getLogger().handlers:
        stream = getattr(handler, "stream", None)
        with contextlib.suppress(AttributeError, OSError, ValueError):
            fds.append(stream.fileno())  # type: ignore[union-attr]
    return fds


def close_all_but(keep: Sequence[int]) -> None:
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
