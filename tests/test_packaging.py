"""The container's install steps and commands, run for real without a Docker engine.

The test reads the Dockerfile, copies exactly the files its COPY lines name into an empty
directory, runs its ``pip install`` lines in a fresh virtualenv, and then runs the image's
ENTRYPOINT + CMD (the daemon) and its HEALTHCHECK command from that install. A package
directory or migration missing from the image, or a broken entry point, fails here.
"""

from __future__ import annotations

import json
import re
import shlex
import shutil
import signal
import subprocess
import sys
from pathlib import Path

from tests.localsite import LocalSite, wait_until
from tests.support import REPO, write_config

DOCKERFILE = REPO / "Dockerfile"


def _instructions() -> list[tuple[str, str]]:
    """(INSTRUCTION, arguments) of the Dockerfile, continuation lines joined."""
    text = re.sub(r"\\\n", " ", DOCKERFILE.read_text())
    lines = [line.strip() for line in text.splitlines()]
    pairs = [line.split(None, 1) for line in lines if line and not line.startswith("#")]
    return [(pair[0].upper(), pair[1] if len(pair) > 1 else "") for pair in pairs]


def _exec_form(arguments: str) -> list[str]:
    value: list[str] = json.loads(arguments)
    return value


def test_image_install_steps_and_commands_work(tmp_path: Path, site: LocalSite) -> None:
    instructions = _instructions()
    app = tmp_path / "app"
    app.mkdir()
    for instruction, arguments in instructions:
        if instruction != "COPY":
            continue
        *sources, destination = shlex.split(arguments)
        if not destination.startswith("./"):
            continue  # files for elsewhere in the image (the example config)
        for name in sources:
            source = REPO / name
            if source.is_dir():
                shutil.copytree(source, app / name, ignore=shutil.ignore_patterns("__pycache__"))
            else:
                shutil.copy2(source, app / name)

    venv = tmp_path / "venv"
    subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True)
    pip_steps = [args for kind, args in instructions if kind == "RUN" and "pip install" in args]
    assert pip_steps, "the Dockerfile installs newsrelay with pip"
    for step in pip_steps:
        command = step.replace("pip install", f"{venv / 'bin' / 'python'} -m pip install -q")
        done = subprocess.run(
            command, shell=True, cwd=app, capture_output=True, text=True, timeout=600
        )
        assert done.returncode == 0, done.stderr[-3000:]

    feed = site.add(
        "/feed.xml",
        '<?xml version="1.0"?><rss version="2.0"><channel><title>t</title>'
        f"<item><title>One</title><link>{site.url('/one.html')}</link></item>"
        "</channel></rss>",
        content_type="application/rss+xml",
    )
    site.add("/one.html", "<html><body><article><p>" + "Words here. " * 40 + "</p></article>")
    config = write_config(
        tmp_path / "newsrelay.toml",
        f"sqlite:///{tmp_path / 'data' / 'newsrelay.db'}",
        '[daemon]\nheartbeat = "1s"\n\n'
        f'[[sources]]\nname = "local"\nfeeds = ["{feed}"]\ninterval = "1s"\n',
    )
    env = {"NEWSRELAY_CONFIG": str(config), "PATH": f"{venv / 'bin'}:/usr/bin:/bin"}
    entrypoint = next(_exec_form(a) for kind, a in instructions if kind == "ENTRYPOINT")
    cmd = next(_exec_form(a) for kind, a in instructions if kind == "CMD")
    healthcheck = next(a for kind, a in instructions if kind == "HEALTHCHECK")
    health = _exec_form(healthcheck.split("CMD", 1)[1].strip())
    stop_signal = next(a for kind, a in instructions if kind == "STOPSIGNAL")

    def healthy() -> bool:
        return subprocess.run(health, env=env, capture_output=True).returncode == 0

    assert not healthy()
    log = (tmp_path / "daemon.log").open("wb")
    daemon = subprocess.Popen(entrypoint + cmd, env=env, stderr=log, cwd=tmp_path)
    try:
        assert wait_until(healthy, timeout=60, interval=0.5)
        assert wait_until(lambda: "crawl finished" in (tmp_path / "daemon.log").read_text(), 30)
        daemon.send_signal(getattr(signal, stop_signal))
        assert daemon.wait(timeout=30) == 0
    finally:
        if daemon.poll() is None:
            daemon.kill()
        log.close()
    assert not healthy()
    records = [json.loads(line) for line in (tmp_path / "daemon.log").read_text().splitlines()]
    assert any(r["msg"] == "crawl finished" and r["new"] == 1 for r in records)
