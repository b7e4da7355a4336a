"""The data commands of ``run.py``: ``export``, ``import`` and ``prune``.

Each takes the database URL and its arguments, prints what it did on stdout, and returns
the exit code. Failures leave as exceptions that ``run.py`` turns into one line:
``StorageError`` (the database), ``ArchiveError`` (a bad export file) and ``CommandError``
(a file that cannot be read or written, a bad argument). A progress bar is drawn on
stderr only when stderr is a terminal.
"""

from __future__ import annotations

import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import TextIO

from actors.clock import iso_utc
from storage.archive import count_rows, export_lines, import_lines
from storage.db import connect, setup_database
from storage.models import to_ms
from storage.retention import prune

__all__ = ["CommandError", "Progress", "export_command", "import_command", "prune_command"]


class CommandError(Exception):
    """A command cannot run: ``str()`` is one line naming the file or argument."""


class Progress:
    """``label: 1,234 / 5,000 [######......] 24%`` redrawn in place on a terminal,
    at most ten times a second; silent when ``stream`` is not a terminal."""

    WIDTH = 30

    def __init__(self, label: str, total: Callable[[], int], stream: TextIO | None = None) -> None:
        """``total`` is called only when a bar will be drawn (counting may cost a scan)."""
        self.stream = stream if stream is not None else sys.stderr
        self.enabled = self.stream.isatty()
        self.label = label
        self.total = max(total(), 1) if self.enabled else 1
        self._drawn_at = 0.0

    def __call__(self, done: int) -> None:
        now = time.monotonic()
        if not self.enabled or (now - self._drawn_at < 0.1 and done < self.total):
            return
        self._drawn_at = now
        share = min(done / self.total, 1.0)
        bar = "#" * round(share * self.WIDTH)
        self.stream.write(
            f"\r{self.label}: {done:,} / {self.total:,} [{bar:<{self.WIDTH}}] {share:4.0%}"
        )
        self.stream.flush()

    def finish(self) -> None:
        if self.enabled:
            self.stream.write("\n")
            self.stream.flush()


def export_command(database_url: str, out: str) -> int:
    """Write the whole database to ``out`` as JSON Lines (``-`` is stdout). The schema is
    upgraded first, as starting the service would (for a copy of the database exactly as
    it is, copy the SQLite file or use ``pg_dump``)."""
    db = connect(database_url)
    try:
        setup_database(db)  # the rows are read through today's models
        progress = Progress(f"exporting to {out}", lambda: count_rows(db))
        with _open_for_writing(out) as stream:
            lines = 0
            for line in export_lines(db, progress):
                stream.write(line + "\n")
                lines += 1
        progress.finish()
    finally:
        db.close()
    if out != "-":
        print(f"exported {lines:,} lines to {out}")
    return 0


def import_command(database_url: str, path: str) -> int:
    """Add the rows of an export to the database (schema created or upgraded first)."""
    db = connect(database_url)
    try:
        with _open_for_reading(path) as stream:
            progress = Progress(f"importing {path}", lambda: _count_lines(path))
            report = import_lines(db, _read(stream, path), path, progress)
        progress.finish()
    finally:
        db.close()
    added = ", ".join(f"{n:,} {table}" for table, n in report.added.items()) or "nothing"
    present = sum(report.present.values())
    print(f"imported {path}: added {added}; {present:,} rows were present already")
    return 0


def prune_command(database_url: str, older_than_seconds: float, now: float | None = None) -> int:
    """Delete the rows older than ``older_than_seconds`` before ``now`` (default: now)."""
    cutoff = (time.time() if now is None else now) - older_than_seconds
    db = connect(database_url)
    try:
        setup_database(db)
        removed = prune(db, to_ms(cutoff))
    finally:
        db.close()
    print(f"removed rows older than {iso_utc(cutoff)}: {describe_counts(removed)}")
    return 0


def describe_counts(removed: dict[str, int]) -> str:
    """``3 conversations, 48 messages, 60 api_calls, 0 audit_log``."""
    return ", ".join(f"{n:,} {table}" for table, n in removed.items())




class _open_for_writing:
    """``out`` opened for text writing; ``OSError`` becomes a ``CommandError`` naming it.
    Written to ``out.partial`` and renamed at the end, so a failed export never leaves
    a file that looks complete."""

    def __init__(self, out: str) -> None:
        self.out = out
        self.partial = Path(f"{out}.partial")
        self.stream: TextIO | None = None

    def __enter__(self) -> TextIO:
        if self.out == "-":
            return sys.stdout
        try:
            self.stream = self.partial.open("w", encoding="utf-8")
        except OSError as exc:
            raise CommandError(f"cannot write {self.out}: {exc.strerror or exc}") from None
        return self.stream

    def __exit__(self, kind: object, error: object, tb: object) -> None:
        if self.stream is None:
            return
        try:
            self.stream.close()
            if kind is None:
                self.partial.replace(self.out)
        except OSError as exc:
            raise CommandError(f"cannot write {self.out}: {exc.strerror or exc}") from None
        finally:
            if kind is not None:
                self.partial.unlink(missing_ok=True)


def _open_for_reading(path: str) -> TextIO:
    try:
        return open(path, encoding="utf-8")  # noqa: SIM115 (closed by the caller's with)
    except OSError as exc:
        raise CommandError(f"cannot read {path}: {exc.strerror or exc}") from None


def _count_lines(path: str) -> int:
    with open(path, "rb") as stream:
        return sum(chunk.count(b"\n") for chunk in iter(lambda: stream.read(1 << 20), b""))


def _read(stream: TextIO, path: str) -> Iterator[str]:
    try:
        yield from stream
    except UnicodeDecodeError:
        raise CommandError(f"cannot read {path}: not UTF-8 text") from None
    except OSError as exc:
        raise CommandError(f"cannot read {path}: {exc.strerror or exc}") from None
