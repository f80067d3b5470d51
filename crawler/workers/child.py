"""The extraction workers' side: a *zygote* that imports the extraction stack once and forks
the workers, and the loop each worker serves. Everything here runs in child processes.

A worker reads a batch of calls (pickled, each message preceded by its length), runs them and
sends the results back; EOF on its socket ends it. It ignores the terminal's and the service
manager's signals (the crawler decides when work stops, by closing the sockets) and dies with
its parent.
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
from collections.abc import Sequence
from pathlib import Path

from crawler.processing import run_calls, warm

HEADER = 8  # bytes of length before each pickled message


def zygote(control: int, sockets: Sequence[int]) -> None:
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
                die_with(zygote)
                serve(socket.socket(fileno=fd))
            finally:
                os._exit(0)
        workers.append(pid)
    for fd in sockets:
        os.close(fd)
    for pid in workers:
        with contextlib.suppress(ChildProcessError):
            os.waitpid(pid, 0)


def serve(sock: socket.socket) -> None:
    """A worker: run each batch of calls it is sent, send back the results; EOF ends it."""
    sock.setblocking(True)
    while True:
        header = _read_exactly(sock, HEADER)
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
            sock.sendall(len(results).to_bytes(HEADER, "little") + results)
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
    control, parent, *sockets = (int(a) for a in sys.argv[1:])
    try:
        die_with(parent)
        zygote(control, sockets)
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
