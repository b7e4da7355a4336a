"""``python run.py setup-db | export | import | prune`` (and ``serve``) as a user runs them."""

from __future__ import annotations

import io
import json
import os
import pty
import re
import shutil
import signal
import sqlite3
import subprocess
import sys
import threading
import time
import urllib.request
from pathlib import Path

import pytest

from storage.commands import Progress
from tests.service import ROOT, free_port
from tests.storage.test_migrations import load_postgres_dump

FIXTURE = Path(__file__).parent / "fixtures" / "release-49291aa.db"
#: In the data engineer's private range (55420-55429), where nothing listens.
NOBODY = "postgresql://postgres:hunter2@127.0.0.1:55429/roundtable"
LOG_LINE = re.compile(r"^\d{4}-\d\d-\d\d \d\d:\d\d:\d\d (DEBUG|INFO) ")


def run(*args: str, database_url: str, timeout: float = 60) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "run.py", "--env-file", "/nonexistent", *args], cwd=ROOT,
        env={"PATH": "/usr/bin:/bin", "PORT": "0", "DATABASE_URL": database_url},
        capture_output=True, text=True, timeout=timeout,
    )


def problem_lines(result: subprocess.CompletedProcess[str]) -> list[str]:
    """stderr without the timestamped log lines (such as a schema upgrade's INFO)."""
    return [line for line in result.stderr.strip().splitlines() if not LOG_LINE.match(line)]


def wait_for_http(url: str, timeout: float = 15.0) -> None:
    deadline = time.monotonic() + timeout
    while True:
        try:
            urllib.request.urlopen(url, timeout=5).close()
            return
        except OSError:
            assert time.monotonic() < deadline, f"nothing answered on {url}"
            threading.Event().wait(0.05)


def blocked_sqlite(tmp_path: Path) -> tuple[str, str]:
    """A SQLite URL whose directory is a regular file (root ignores permissions)."""
    blocker = tmp_path / "not-a-directory"
    blocker.write_text("a file where the database's folder should be")
    return f"sqlite:///{blocker}/roundtable.db", str(blocker)


COMMANDS = [("serve",), ("setup-db",), ("export", "--out", "{tmp}/out.jsonl"),
            ("import", "{tmp}/in.jsonl"), ("prune", "--older-than", "90d")]


@pytest.mark.parametrize("command", COMMANDS, ids=lambda c: c[0])
@pytest.mark.parametrize("database", ["blocked-sqlite", "nobody-answers"])
def test_an_unusable_database_is_one_line_naming_it(tmp_path: Path, command: tuple[str, ...],
                                                    database: str) -> None:
    (tmp_path / "in.jsonl").write_text("")
    if database == "blocked-sqlite":
        url, named = blocked_sqlite(tmp_path)
    else:
        url, named = NOBODY, "127.0.0.1:55429"
    result = run(*(part.format(tmp=tmp_path) for part in command), database_url=url)
    lines = result.stderr.strip().splitlines()
    assert result.returncode == 1, result.stderr
    assert len(lines) == 1, result.stderr
    assert lines[0].startswith("roundtable: cannot use DATABASE_URL (")
    assert lines[0].count("DATABASE_URL") == 1 and named in lines[0]
    assert "hunter2" not in result.stderr and "Traceback" not in result.stderr


def test_bad_files_and_arguments_are_one_line(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path}/rt.db"
    (tmp_path / "bad.jsonl").write_text('{"kind": "conversation", "id": 1, "status": "complete"}\nnope\n')
    _, blocker = blocked_sqlite(tmp_path)
    cases = [
        (("import", str(tmp_path / "missing.jsonl")), 1, "cannot read"),
        (("import", str(tmp_path / "bad.jsonl")), 1, "bad.jsonl line 2: not JSON"),
        (("export", "--out", f"{blocker}/out.jsonl"), 1, f"cannot write {blocker}/out.jsonl"),
        (("export",), 2, "export needs --out FILE"),
        (("import",), 2, "import needs FILE"),
        (("prune", "--older-than", "3 weeks"), 2, "like 90d, 12h, 30m or 1s"),
    ]
    for args, code, text in cases:
        result = run(*args, database_url=url)
        lines = problem_lines(result)
        assert (result.returncode, len(lines)) == (code, 1), (args, result.stderr)
        assert text in lines[0] and "Traceback" not in result.stderr


@pytest.mark.parametrize("command", ["setup-db", "serve", "import", "export"])
def test_a_newer_database_is_refused_in_one_line(tmp_path: Path, command: str) -> None:
    url = f"sqlite:///{tmp_path}/rt.db"
    assert run("setup-db", database_url=url).returncode == 0
    with sqlite3.connect(tmp_path / "rt.db") as conn:
        conn.execute("INSERT INTO schema_version VALUES (999, 'from the future', 0)")
    (tmp_path / "in.jsonl").write_text("")
    args = {"import": ("import", str(tmp_path / "in.jsonl")),
            "export": ("export", "--out", str(tmp_path / "out.jsonl"))}.get(command, (command,))
    result = run(*args, database_url=url)
    lines = problem_lines(result)
    assert result.returncode == 1 and len(lines) == 1, result.stderr
    assert "schema is version 999" in lines[0] and str(tmp_path / "rt.db") in lines[0]
    assert not (tmp_path / "out.jsonl").exists()


@pytest.mark.postgres
def test_moving_from_sqlite_to_postgresql_is_two_commands(tmp_path: Path, scratch_postgres_url: str) -> None:
    shutil.copy(FIXTURE, tmp_path / "old.db")
    sqlite_url = f"sqlite:///{tmp_path / 'old.db'}"
    dump = tmp_path / "roundtable.jsonl"
    exported = run("export", "--out", str(dump), database_url=sqlite_url)
    assert exported.returncode == 0, exported.stderr
    assert "\r" not in exported.stderr  # no progress bar when stderr is not a terminal
    imported = run("import", str(dump), database_url=scratch_postgres_url)
    assert imported.returncode == 0, imported.stderr
    assert "added 3 conversations, 8 messages, 9 api_calls" in imported.stdout
    again = tmp_path / "again.jsonl"
    assert run("export", "--out", str(again), database_url=scratch_postgres_url).returncode == 0
    assert again.read_text() == dump.read_text()
    twice = run("import", str(dump), database_url=scratch_postgres_url)
    assert "added 0 conversations, 0 messages, 0 api_calls" in twice.stdout


def test_prune_prints_what_it_removed(tmp_path: Path) -> None:
    shutil.copy(FIXTURE, tmp_path / "old.db")
    url = f"sqlite:///{tmp_path / 'old.db'}"
    kept = run("prune", "--older-than", "36500d", database_url=url)
    assert "0 conversations, 0 messages, 0 api_calls, 0 audit_log" in kept.stdout
    result = run("prune", "--older-than", "1s", database_url=url)
    assert result.returncode == 0, result.stderr
    # Every row of the fixture (its latest time is the skipped slot, 2026-11-30 06:00Z).
    assert "3 conversations, 8 messages, 9 api_calls, 0 audit_log" in result.stdout


class Terminal(io.StringIO):
    def isatty(self) -> bool:
        return True


def test_the_progress_bar_is_drawn_only_on_a_terminal() -> None:
    terminal, pipe = Terminal(), io.StringIO()
    for stream in (terminal, pipe):
        bar = Progress("exporting", lambda: 4, stream)
        bar(4)
        bar.finish()
    assert terminal.getvalue() == "\rexporting: 4 / 4 [" + "#" * 30 + "] 100%\n"
    assert pipe.getvalue() == ""


def test_export_lines_are_json_objects(tmp_path: Path) -> None:
    shutil.copy(FIXTURE, tmp_path / "old.db")
    out = tmp_path / "o.jsonl"
    assert run("export", "--out", str(out), database_url=f"sqlite:///{tmp_path / 'old.db'}").returncode == 0
    kinds = [json.loads(line)["kind"] for line in out.read_text().splitlines()]
    assert kinds == ["conversation"] * 3 + ["api_calls"] * 9


def test_export_draws_its_progress_bar_on_a_real_terminal(tmp_path: Path) -> None:
    shutil.copy(FIXTURE, tmp_path / "old.db")
    controller, terminal = pty.openpty()
    try:
        result = subprocess.run(
            [sys.executable, "run.py", "--env-file", "/nonexistent", "export", "--out", str(tmp_path / "o.jsonl")],
            cwd=ROOT, env={"PATH": "/usr/bin:/bin", "DATABASE_URL": f"sqlite:///{tmp_path / 'old.db'}",
                           "LOG_LEVEL": "WARNING"},
            stdout=subprocess.PIPE, stderr=terminal, text=True, timeout=60,
        )
        os.close(terminal)
        drawn = b""
        while chunk := _read_available(controller):
            drawn += chunk
    finally:
        os.close(controller)
    assert result.returncode == 0
    assert f"\rexporting to {tmp_path / 'o.jsonl'}: 12 / 12 [".encode() in drawn
    assert drawn.rstrip().endswith(b"100%")


def _read_available(fd: int) -> bytes:
    try:
        return os.read(fd, 4096)
    except OSError:  # EIO: the terminal's other end is closed and everything was read
        return b""


def test_a_fresh_install_serves_with_the_default_database_under_data(tmp_path: Path) -> None:
    """``sqlite:///data/roundtable.db`` is relative to the working directory, and ``data/``
    does not exist yet: the engine lock and the database both go there."""
    process = subprocess.Popen(
        [sys.executable, str(ROOT / "run.py"), "--env-file", "/nonexistent"], cwd=tmp_path,
        env={"PATH": "/usr/bin:/bin", "PORT": "0"}, stderr=subprocess.PIPE, text=True,
    )
    assert process.stderr is not None
    try:
        lines = []
        for line in process.stderr:
            lines.append(line)
            if " is live at " in line or "roundtable:" in line:
                break
        assert " is live at " in lines[-1], "".join(lines)
        assert (tmp_path / "data" / "roundtable.db").is_file()
        assert (tmp_path / "data" / "roundtable.db.lock").is_file()
        process.send_signal(signal.SIGTERM)
        assert process.wait(timeout=15) == 0
    finally:
        process.kill()
        process.wait()
        process.stderr.close()


@pytest.mark.parametrize("backend", ["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def test_the_new_release_serves_an_old_release_database(tmp_path: Path, backend: str,
                                                        request: pytest.FixtureRequest) -> None:
    """Upgrade = install, start: the 49291aa rounds are there, through the real service."""
    if backend == "sqlite":
        shutil.copy(FIXTURE, tmp_path / "old.db")
        url = f"sqlite:///{tmp_path / 'old.db'}"
    else:
        url = request.getfixturevalue("scratch_postgres_url")
        load_postgres_dump(url)
    port = free_port()
    process = subprocess.Popen(
        [sys.executable, str(ROOT / "run.py"), "--env-file", "/nonexistent"], cwd=tmp_path,
        env={"PATH": "/usr/bin:/bin", "PORT": str(port), "DATABASE_URL": url},
        stderr=subprocess.PIPE, text=True,
    )
    assert process.stderr is not None
    try:
        lines = []
        for line in process.stderr:
            lines.append(line)
            if " is live at " in line or "roundtable:" in line:
                break
        assert " is live at " in lines[-1], "".join(lines)
        assert any("version 1 -> version" in line for line in lines)
        wait_for_http(f"http://127.0.0.1:{port}/healthz")  # logged just before the bind
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/api/conversations/1", timeout=10) as reply:
            first = json.loads(reply.read())
        assert first["status"] == "complete" and [m["seq"] for m in first["messages"]] == [1, 2, 3, 4]
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/api/conversations", timeout=10) as reply:
            listed = {c["id"] for c in json.loads(reply.read())["conversations"]}
        assert {1, 2} <= listed
        process.send_signal(signal.SIGTERM)
        assert process.wait(timeout=15) == 0
    finally:
        process.kill()
        process.wait()
        process.stderr.close()
