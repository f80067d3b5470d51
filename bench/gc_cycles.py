"""What cyclic garbage does an unchanged poll leave for the daemon's collector, and whose?

Serves ``--sources`` one-feed sources (``scale_site.py``), fills the database with one
``newsrelay crawl --all``, then runs the daemon at ``--interval`` with a ``sitecustomize``
hook: after ``--warm-up`` seconds the hook collects and sets ``gc.DEBUG_SAVEALL`` (every
object a collection finds unreachable is kept in ``gc.garbage`` instead of freed); at the
end it collects once more and writes what was kept: a histogram of types, the code of the
frames and functions among it (where the cycles are made), and the classes by module. Per
poll, since counts are divided by the polls meanwhile.

    python bench/gc_cycles.py [--sources 100] [--interval 10s] [--seconds 60] [--warm-up 20]
        [--newsrelay PATH] [--json OUT]
"""

from __future__ import annotations

import argparse
import json
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

if __package__ in (None, ""):
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.scale_bench import NEWSRELAY, Polls, crawl_all, hook_env, seconds, write_config
from bench.scale_site import ScaleSite

SAVEALL_HOOK = '''"""By bench/gc_cycles.py: SIGUSR1 keeps cyclic garbage, SIGUSR2 dumps it."""
import collections
import gc
import json
import os
import signal
import types


def _where(obj):
    code = getattr(obj, "f_code", None) or getattr(obj, "__code__", None)
    if code is None and isinstance(obj, types.CoroutineType):
        code = obj.cr_code
    if code is None:
        return None
    return f"{type(obj).__name__} {code.co_qualname} ({code.co_filename}:{code.co_firstlineno})"


OWN = ("crawler.", "scheduler.", "storage.", "console.", "publisher.")
PLAIN = (dict, list, tuple, set, frozenset, types.CellType, types.FunctionType, types.MethodType)


def _own(obj):
    return type(obj).__module__.startswith(OWN)


def _own_cycles(garbage):
    """Cycles through a newsrelay object made of newsrelay objects and plain containers,
    closures and bound methods only (no Scrapy or Twisted object on the way): the cycles
    newsrelay makes itself. Each as the chain of type names, counted."""
    ids = {id(o) for o in garbage}
    found = collections.Counter()
    for start in garbage:
        if not _own(start):
            continue
        stack = [(start, (type(start).__qualname__,))]
        seen = set()
        while stack:
            obj, path = stack.pop()
            if len(path) > 7:
                continue
            for ref in gc.get_referents(obj):
                if ref is start and len(path) > 1:
                    found[" -> ".join(path + (type(start).__qualname__,))] += 1
                    continue
                if id(ref) not in ids or id(ref) in seen:
                    continue
                if _own(ref) or (isinstance(ref, PLAIN) and type(ref) in PLAIN):
                    seen.add(id(ref))
                    stack.append((ref, path + (type(ref).__qualname__,)))
    return found.most_common(40)


def _start(signum, frame):
    gc.collect()
    gc.garbage.clear()
    gc.set_debug(gc.DEBUG_SAVEALL)


def _dump(signum, frame):
    gc.collect()
    gc.set_debug(0)
    kinds, code, classes = collections.Counter(), collections.Counter(), collections.Counter()
    for obj in gc.garbage:
        kind = type(obj)
        kinds[f"{kind.__module__}.{kind.__qualname__}"] += 1
        where = _where(obj)
        if where:
            code[where] += 1
    report = {
        "objects": len(gc.garbage),
        "types": kinds.most_common(60),
        "code": code.most_common(60),
        "own_cycles": _own_cycles(gc.garbage),
    }
    gc.garbage.clear()
    with open(os.environ["NEWSRELAY_BENCH_SAVEALL"], "w") as out:
        json.dump(report, out, indent=1)


if os.environ.get("NEWSRELAY_BENCH_SAVEALL"):
    signal.signal(signal.SIGUSR1, _start)
    signal.signal(signal.SIGUSR2, _dump)
'''


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--sources", type=int, default=100)
    parser.add_argument("--interval", default="10s")
    parser.add_argument("--seconds", type=float, default=60.0)
    parser.add_argument("--warm-up", type=float, default=20.0)
    parser.add_argument("--newsrelay", type=Path, default=NEWSRELAY)
    parser.add_argument("--json", type=Path, default=None)
    args = parser.parse_args(argv)
    with tempfile.TemporaryDirectory(prefix="newsrelay-cycles-") as tmp:
        workdir = Path(tmp)
        with ScaleSite(args.sources, workdir / "site.log") as site:
            config = write_config(workdir, site.sources, args.interval)
            env = hook_env(workdir, "first", None)
            crawl_all(args.newsrelay, config, env, workdir / "first.json")
            time.sleep(seconds(args.interval) + 1)
            report = observe(args, config, workdir)
    print(json.dumps(report, indent=1))
    if args.json:
        args.json.write_text(json.dumps(report, indent=1))
    return 0


def observe(args: argparse.Namespace, config: Path, workdir: Path) -> dict[str, Any]:
    env = hook_env(workdir, "daemon", None)
    (workdir / "hook" / "sitecustomize.py").write_text(SAVEALL_HOOK, encoding="utf-8")
    env["NEWSRELAY_BENCH_SAVEALL"] = str(workdir / "saved.json")
    log = workdir / "daemon.log"
    argv = [str(args.newsrelay), "--config", str(config), "--log-format", "json", "run"]
    with log.open("wb") as out:
        daemon = subprocess.Popen(argv, stdout=subprocess.DEVNULL, stderr=out, env=env)
    polls = Polls(log)
    time.sleep(args.warm_up)
    polls.read()
    before = len(polls.runs)
    daemon.send_signal(signal.SIGUSR1)
    time.sleep(args.seconds)
    daemon.send_signal(signal.SIGUSR2)
    polls.read()
    during = len(polls.runs) - before
    deadline = time.time() + 120
    while not (workdir / "saved.json").exists() and time.time() < deadline:
        time.sleep(0.5)
    daemon.send_signal(signal.SIGTERM)
    daemon.wait(timeout=60)
    saved: dict[str, Any] = json.loads((workdir / "saved.json").read_text())
    per_poll = max(1, during)
    return {
        "polls": during,
        "objects_per_poll": round(saved["objects"] / per_poll, 1),
        "types_per_poll": [(k, round(n / per_poll, 2)) for k, n in saved["types"]],
        "code_per_poll": [(k, round(n / per_poll, 2)) for k, n in saved["code"]],
        "own_cycles_per_poll": [(k, round(n / per_poll, 2)) for k, n in saved["own_cycles"]],
    }


if __name__ == "__main__":
    sys.exit(main())
