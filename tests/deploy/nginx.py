"""Real nginx (Debian's /usr/sbin/nginx) in the foreground, configured from deploy/nginx.conf.

``derive_config`` keeps every directive of the shipped file and swaps only what a test
must own: the upstream servers (free ports of the instances under test), the listen
address, and every path (pid, logs, cache, temp files) into the test's directory; and,
when asked, the value of a directive the shipped file sets once (a 10 s timeout becomes
1 s, so a test of it takes a second). Each swap must match exactly, so a change to
deploy/nginx.conf that this test cannot follow fails loudly instead of testing something
else.
"""

from __future__ import annotations

import os
import re
import subprocess
import time
import urllib.error
import urllib.request
from collections.abc import Mapping
from pathlib import Path

import pytest

from tests.service import ROOT, free_port

NGINX = Path("/usr/sbin/nginx")
SHIPPED = ROOT / "deploy" / "nginx.conf"
MIME_TYPES = Path("/etc/nginx/mime.types")
#: The nginx tests need Debian's nginx. Skipped where it is missing, with the command that
#: installs it (``make test`` runs it first); never under CI=true, where a missing nginx fails.
NEEDS_NGINX = pytest.mark.skipif(not NGINX.exists() and os.environ.get("CI") != "true",
                                 reason=f"no {NGINX}: run 'make nginx-deps' (installs Debian's nginx)")


def _swap(text: str, pattern: str, replacement: str, count: int = 1) -> str:
    new, found = re.subn(pattern, replacement, text, flags=re.MULTILINE)
    assert found == count, f"deploy/nginx.conf: expected {count} match(es) of {pattern!r}, found {found}"
    return new


def derive_config(prefix: Path, listen_port: int, upstream_ports: list[int],
                  overrides: Mapping[str, str] | None = None) -> str:
    """deploy/nginx.conf for a test: same directives, the test's ports and paths, and
    ``overrides`` (directive name -> value) for directives the shipped file sets once."""
    text = SHIPPED.read_text()
    for directive, value in (overrides or {}).items():
        text = _swap(text, rf"^(\s*){re.escape(directive)} [^;]+;", rf"\g<1>{directive} {value};")
    # Root starts the master; workers stay root too, so they can use the test's 0700 dirs.
    text = _swap(text, r"^user nginx;$", "user root;")
    text = _swap(text, r"^pid /var/run/nginx\.pid;$", f"pid {prefix}/nginx.pid;")
    text = _swap(text, r"^error_log /var/log/nginx/error\.log warn;$", f"error_log {prefix}/error.log info;")
    text = _swap(text, r"access_log /var/log/nginx/access\.log;", f"access_log {prefix}/access.log;")
    text = _swap(text, r"include /etc/nginx/mime\.types;", f"include {MIME_TYPES};")
    text = _swap(text, r"proxy_cache_path /var/cache/nginx/roundtable ", f"proxy_cache_path {prefix}/cache ")
    servers = iter(upstream_ports)
    text = _swap(text, r"server app\d:8000 ", lambda _: f"server 127.0.0.1:{next(servers)} ",  # type: ignore[arg-type]
                 count=len(upstream_ports))
    text = _swap(text, r"^(\s*)listen 80;$", rf"\1listen 127.0.0.1:{listen_port};")
    temp = "".join(
        f"    {kind}_temp_path {prefix}/{kind}_temp;\n"
        for kind in ("client_body", "proxy", "fastcgi", "uwsgi", "scgi")
    )
    return _swap(text, r"^http \{$", "http {\n" + temp)


class Nginx:
    """nginx as a foreground process (``daemon off``) with its own prefix, on a free port."""

    def __init__(self, prefix: Path, upstream_ports: list[int],
                 overrides: Mapping[str, str] | None = None, *, config: str | None = None) -> None:
        """``config``, if given, is the whole configuration instead (``{prefix}`` and
        ``{port}`` filled in); it must answer ``/healthz`` with 200."""
        self.prefix = prefix
        self.port = free_port()
        self.config = prefix / "nginx.conf"
        self.config.write_text(config.format(prefix=prefix, port=self.port) if config is not None
                               else derive_config(prefix, self.port, upstream_ports, overrides))
        self.process: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self, timeout: float = 15.0) -> Nginx:
        test = subprocess.run([str(NGINX), *self._args(), "-t"], capture_output=True, text=True)
        assert test.returncode == 0, f"nginx -t refused the derived config:\n{test.stderr}"
        self.process = subprocess.Popen([str(NGINX), *self._args(), "-g", "daemon off;"],
                                        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        deadline = time.monotonic() + timeout
        while not self._answers():
            assert self.process.poll() is None, f"nginx exited:\n{self.error_log()}"
            assert time.monotonic() < deadline, f"nginx not answering:\n{self.error_log()}"
            time.sleep(0.05)  # polling for the listening socket, bounded by the deadline
        return self

    def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.terminate()  # SIGTERM: fast shutdown, workers included
            try:
                self.process.wait(10)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()

    def error_log(self) -> str:
        path = self.prefix / "error.log"
        return path.read_text(errors="replace") if path.exists() else ""

    def access_log(self) -> str:
        path = self.prefix / "access.log"
        return path.read_text(errors="replace") if path.exists() else ""

    def _args(self) -> list[str]:
        return ["-p", f"{self.prefix}/", "-c", str(self.config), "-e", f"{self.prefix}/error.log"]

    def _answers(self) -> bool:
        try:
            with urllib.request.urlopen(self.url + "/healthz", timeout=2) as response:
                return bool(response.status == 200)
        except (urllib.error.URLError, OSError):
            return False
