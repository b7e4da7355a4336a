"""The local moderation word list: a fast, offline check that always runs.

``WordList.load(extra)`` reads the built-in ``wordlist.txt`` plus a site's own file
(``MODERATION_WORDLIST``, same format). ``WordList.category(text)`` returns the category
of the first listed term found in ``text`` (whole words, any case, common endings), or
None. Immutable after loading; safe on any thread.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from pathlib import Path
from typing import Final

__all__ = ["BUILT_IN_WORDLIST", "WordList"]

BUILT_IN_WORDLIST: Final = Path(__file__).with_name("wordlist.txt")
DEFAULT_CATEGORY: Final = "wordlist"
_ENDINGS: Final = r"(?:s|es|ed|ing|er|ers)?"


class WordList:
    """Listed terms by category, compiled into one pattern per category."""

    def __init__(self, entries: Iterable[tuple[str, str]]) -> None:
        by_category: dict[str, list[str]] = {}
        for category, term in entries:
            by_category.setdefault(category, []).append(term)
        self._patterns = tuple(
            (category, re.compile(_alternation(terms), re.IGNORECASE))
            for category, terms in by_category.items()
        )

    @classmethod
    def load(cls, extra: Path | None = None) -> WordList:
        """The built-in list plus ``extra`` (a site's own file), if given."""
        paths = [BUILT_IN_WORDLIST] + ([extra] if extra is not None else [])
        return cls(entry for path in paths for entry in parse(path.read_text(encoding="utf-8")))

    def __len__(self) -> int:
        return len(self._patterns)

    def category(self, text: str) -> str | None:
        """The category of a listed term in ``text``, or None when there is none."""
        for category, pattern in self._patterns:
            if pattern.search(text):
                return category
        return None


def parse(text: str) -> list[tuple[str, str]]:
    """``(category, term)`` for each entry line of a word-list file."""
    entries = []
    for raw in text.splitlines():
        line = raw.strip()
        if not line or line.startswith("#"):
            continue
        category, sep, term = line.partition(":")
        if not sep:
            category, term = DEFAULT_CATEGORY, line
        if term.strip():
            entries.append((category.strip().lower() or DEFAULT_CATEGORY, term.strip()))
    return entries


def _alternation(terms: list[str]) -> str:
    # Longest first, so "motherfucker" is tried before "fuck"; spaces match any whitespace.
    words = sorted({t.lower() for t in terms}, key=len, reverse=True)
    body = "|".join(r"\s+".join(re.escape(part) for part in w.split()) for w in words)
    return rf"(?<!\w)(?:{body}){_ENDINGS}(?!\w)"
