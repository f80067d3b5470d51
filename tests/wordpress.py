"""A real WordPress for the delivery tests: Debian's ``wordpress`` package (6.1), copied to a
temporary directory with a ``wp-config.php`` of its own, on a fresh database of the MariaDB
server on 127.0.0.1:3306, served by PHP's built-in web server on loopback behind a small
proxy (which can hold an answer back, as a network would lose it). WordPress is installed
and given an application password by the test itself, through WordPress's own functions.
"""

from __future__ import annotations

import base64
import http.client
import json
import shutil
import socket
import subprocess
import threading
import time
import uuid
from collections.abc import Callable
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

from tests.support import free_port, require

WORDPRESS = Path("/usr/share/wordpress")
MARIADB = ("127.0.0.1", 3306)

WP_CONFIG = """<?php
define('DB_NAME', '{db}');
define('DB_USER', 'root');
define('DB_PASSWORD', '');
define('DB_HOST', '127.0.0.1:3306');
define('DB_CHARSET', 'utf8mb4');
define('DB_COLLATE', '');
define('WP_HOME', '{url}');
define('WP_SITEURL', '{url}');
define('WP_CONTENT_DIR', '{content}');
define('WP_ENVIRONMENT_TYPE', 'local');  // application passwords over plain HTTP
define('AUTOMATIC_UPDATER_DISABLED', true);
define('WP_HTTP_BLOCK_EXTERNAL', true);
define('DISABLE_WP_CRON', true);
$table_prefix = 'wp_';
if (!defined('ABSPATH')) define('ABSPATH', __DIR__ . '/');
require_once ABSPATH . 'wp-settings.php';
"""

# Runs in php-cli: create the database, install WordPress, make an application password.
INSTALL = r"""<?php
$db = new mysqli('127.0.0.1', 'root', '', '', 3306);
$db->query('CREATE DATABASE `' . $argv[1] . '` CHARACTER SET utf8mb4');
$_SERVER['HTTP_HOST'] = $argv[2];
$_SERVER['REQUEST_URI'] = '/';
define('WP_INSTALLING', true);
require __DIR__ . '/wp-load.php';
require_once ABSPATH . 'wp-admin/includes/upgrade.php';
$secret = 'x-' . wp_generate_password(20);
$result = wp_install('newsrelay test', 'editor', 'editor@example.invalid', false, '', $secret);
wp_delete_post(1, true);  // "Hello world!": the site starts with no post
if ($argv[3] !== '') { update_option('permalink_structure', $argv[3]); }
$made = WP_Application_Passwords::create_new_application_password(
    $result['user_id'], ['name' => 'newsrelay']
);
$password = $made[0];
echo json_encode(['user' => 'editor', 'password' => $password]);
"""

# The built-in server's router: real files as they are, everything else to index.php
# (what Apache's rewrite rules do for pretty permalinks).
ROUTER = r"""<?php
$path = parse_url($_SERVER['REQUEST_URI'], PHP_URL_PATH);
if ($path !== '/' && file_exists(__DIR__ . $path) && !is_dir(__DIR__ . $path)) { return false; }
$_SERVER['SCRIPT_NAME'] = '/index.php';
require __DIR__ . '/index.php';
"""


def wordpress_problem() -> str | None:
    """Why a WordPress cannot run here, or None."""
    if not (WORDPRESS / "wp-load.php").exists():
        return f"Debian's wordpress package is not installed ({WORDPRESS} missing)"
    if shutil.which("php") is None:
        return "php-cli is not installed"
    probe = subprocess.run(
        ["php", "-r", "echo function_exists('mysqli_connect') ? 'yes' : 'no';"],
        capture_output=True,
        text=True,
        check=False,
    )
    if probe.stdout.strip() != "yes":
        return "php-mysql is not installed (no mysqli in php-cli)"
    try:
        socket.create_connection(MARIADB, timeout=2).close()
    except OSError as exc:
        return f"MariaDB is not reachable on 127.0.0.1:3306: {exc}"
    return None


def require_wordpress() -> None:
    """Skip without WordPress, PHP or MariaDB locally; under CI=true, fail instead."""
    require(wordpress_problem())


class WordPress:
    """One installed site: ``url`` is the proxy in front of it."""

    def __init__(self, root: Path, permalinks: str = "") -> None:
        self.root = root
        self.db = f"wp_test_{uuid.uuid4().hex[:10]}"
        self.proxy = HoldingProxy()
        self.url = self.proxy.url
        self.php_port = free_port()
        self.permalinks = permalinks
        self.user = ""
        self.password = ""
        self.server: subprocess.Popen[bytes] | None = None

    def start(self) -> WordPress:
        shutil.copytree(WORDPRESS, self.root, symlinks=True)
        content = self.root / "content"
        shutil.copytree(WORDPRESS / "wp-content", content, symlinks=False, dirs_exist_ok=True)
        (self.root / "wp-config.php").unlink(missing_ok=True)
        (self.root / "wp-config.php").write_text(
            WP_CONFIG.format(db=self.db, url=self.url.rstrip("/"), content=content)
        )
        (self.root / "install-newsrelay.php").write_text(INSTALL)
        (self.root / "router.php").write_text(ROUTER)
        host = self.url.split("//", 1)[1].rstrip("/")
        done = subprocess.run(
            ["php", str(self.root / "install-newsrelay.php"), self.db, host, self.permalinks],
            capture_output=True,
            text=True,
            timeout=120,
            check=False,
        )
        assert done.returncode == 0, done.stdout + done.stderr
        answer = json.loads(done.stdout[done.stdout.index("{") :])
        self.user, self.password = answer["user"], answer["password"]
        self.server = subprocess.Popen(
            ["php", "-S", f"127.0.0.1:{self.php_port}", "-t", str(self.root), "router.php"],
            cwd=self.root,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        self.proxy.start(self.php_port)
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline:
            try:
                socket.create_connection(("127.0.0.1", self.php_port), timeout=1).close()
                break
            except OSError:
                time.sleep(0.1)
        return self

    def stop(self) -> None:
        self.proxy.stop()
        if self.server is not None:
            self.server.terminate()
            self.server.wait(timeout=10)
        subprocess.run(
            [
                "php",
                "-r",
                f"(new mysqli('127.0.0.1','root','','',3306))->query('DROP DATABASE `{self.db}`');",
            ],
            capture_output=True,
            check=False,
        )

    def posts(self) -> list[dict[str, Any]]:
        """Every post of any status, through the REST API (as the editor)."""
        query = urlencode(
            {
                "rest_route": "/wp/v2/posts",
                "status": "publish,future,draft,pending,private",
                "context": "edit",
                "per_page": "100",
            }
        )
        token = base64.b64encode(f"{self.user}:{self.password}".encode()).decode()
        connection = http.client.HTTPConnection("127.0.0.1", self.php_port, timeout=30)
        connection.request("GET", f"/?{query}", headers={"Authorization": f"Basic {token}"})
        response = connection.getresponse()
        body = response.read()
        assert response.status == 200, body[:500]
        return list(json.loads(body))


class HoldingProxy:
    """Forwards every request to the PHP server; ``hold_next`` makes it keep one answer back
    (the request did reach WordPress) until released."""

    def __init__(self) -> None:
        self.server = ThreadingHTTPServer(("127.0.0.1", 0), _proxy_handler(self))
        self.server.daemon_threads = True
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/"
        self.target = 0
        self.hold: Callable[[str, str], bool] | None = None  # (method, path) -> hold it?
        self.held = threading.Event()  # an answer is being held
        self.release = threading.Event()
        self.requests: list[tuple[str, str]] = []

    def start(self, target: int) -> None:
        self.target = target
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def stop(self) -> None:
        self.release.set()
        self.server.shutdown()
        self.server.server_close()


def _proxy_handler(proxy: HoldingProxy) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def _forward(self) -> None:
            length = int(self.headers.get("Content-Length") or 0)
            body = self.rfile.read(length) if length else None
            proxy.requests.append((self.command, self.path))
            upstream = http.client.HTTPConnection("127.0.0.1", proxy.target, timeout=60)
            headers = {k: v for k, v in self.headers.items() if k.lower() != "connection"}
            upstream.request(self.command, self.path, body=body, headers=headers)
            answer = upstream.getresponse()
            data = answer.read()
            if proxy.hold is not None and proxy.hold(self.command, self.path):
                proxy.hold = None
                proxy.held.set()
                proxy.release.wait(60)
            try:
                self.send_response(answer.status, answer.reason)
                for name, value in answer.getheaders():
                    if name.lower() not in ("transfer-encoding", "connection", "content-length"):
                        self.send_header(name, value)
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)
            except OSError:
                pass

        do_GET = do_POST = _forward

        def log_message(self, format: str, *args: object) -> None:  # noqa: A002
            pass

    return Handler
