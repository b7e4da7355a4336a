"""Logging: one readable line per event (``LOG_FORMAT=text``) or one JSON object per line
(``LOG_FORMAT=json``), with secrets redacted from every record.

``configure(settings)`` is called once by ``run.py``. The ``RedactingFilter`` sits on the
root handler, so it sees every record of every logger (ours, Hypercorn's, the SDKs'):
it replaces each configured secret (API keys, the admin token, the webhook URL, the
database password) and anything after ``Bearer`` or a key header/parameter by ``***``,
in the message and in a traceback's text.
"""

from __future__ import annotations

import datetime as dt
import json
import logging
import re
import sys
from collections.abc import Iterable
from typing import Any, Final, TextIO
from urllib.parse import urlsplit

from settings import Settings

__all__ = ["JsonFormatter", "RedactingFilter", "configure", "secrets_of"]

TEXT_FORMAT: Final = "%(asctime)s %(levelname)-7s %(name)s: %(message)s"
DATE_FORMAT: Final = "%Y-%m-%d %H:%M:%S"
#: pykka logs every exception an ask returns to its caller, with a traceback, at INFO; the
#: caller deals with it (a database error from Persistence is logged there), so that is
#: noise. Refusals never take that path: the Supervisor returns them as values.
QUIET: Final = ("httpx", "httpx2", "httpcore", "httpcore2", "openai", "anthropic", "google_genai",
                "hypercorn.access", "transitions", "pykka")
MASK: Final = "***"
#: A secret shorter than this is not searched for: it would mask ordinary words.
MIN_SECRET: Final = 6
_PATTERNS: Final = (
    re.compile(r"(?i)(\bbearer\s+)[^\s\"',;]+"),
    re.compile(r"(?i)((?:x-api-key|x-goog-api-key|api[-_]?key|authorization)[\"']?\s*[:=]\s*[\"']?)"
               r"(?!bearer\b)[^\s\"',;&}]+"),
    re.compile(r"(?i)([?&](?:key|api_key|token|access_token)=)[^&\s\"']+"),
)


class RedactingFilter(logging.Filter):
    """Masks ``secrets`` and bearer tokens/key headers in records; never drops a record."""

    def __init__(self, secrets: Iterable[str] = ()) -> None:
        super().__init__()
        unique = {s for s in secrets if s and len(s) >= MIN_SECRET}
        self._secrets = sorted(unique, key=len, reverse=True)  # longest first: no partial leaks

    def redact(self, text: str) -> str:
        for secret in self._secrets:
            text = text.replace(secret, MASK)
        for pattern in _PATTERNS:
            text = pattern.sub(lambda m: m.group(1) + MASK, text)
        return text

    def filter(self, record: logging.LogRecord) -> bool:
        message = record.getMessage()
        redacted = self.redact(message)
        if redacted != message or record.args:
            record.msg, record.args = redacted, None
        if record.exc_info and not record.exc_text:
            record.exc_text = logging.Formatter().formatException(record.exc_info)
        if record.exc_text:
            record.exc_text = self.redact(record.exc_text)
        if record.stack_info:
            record.stack_info = self.redact(record.stack_info)
        return True


class JsonFormatter(logging.Formatter):
    """One JSON object per line: ``time`` (UTC ISO 8601), ``level``, ``logger``,
    ``message``, and ``exception`` (the traceback text) when there is one."""

    def format(self, record: logging.LogRecord) -> str:
        entry: dict[str, Any] = {
            "time": dt.datetime.fromtimestamp(record.created, dt.UTC).isoformat(timespec="milliseconds")
            .replace("+00:00", "Z"),
            "level": record.levelname,
            "logger": record.name,
            "message": record.getMessage(),
        }
        if record.exc_info and not record.exc_text:
            record.exc_text = self.formatException(record.exc_info)
        if record.exc_text:
            entry["exception"] = record.exc_text
        if record.stack_info:
            entry["stack"] = record.stack_info
        return json.dumps(entry, ensure_ascii=False)


def secrets_of(settings: Settings) -> list[str]:
    """Every secret value in ``settings``: keys, the admin token, the webhook URL (and its
    path, which carries Slack's token), the database password."""
    secrets = [key for p in settings.providers.values() for key in p.api_keys]
    if settings.admin_token:
        secrets.append(settings.admin_token)
    if settings.alert_webhook_url:
        secrets += [settings.alert_webhook_url, urlsplit(settings.alert_webhook_url).path]
    password = urlsplit(settings.database_url).password
    if password:
        secrets.append(password)
    return [s for s in secrets if len(s) >= MIN_SECRET and s != "/"]


def configure(settings: Settings, stream: TextIO | None = None) -> logging.Handler:
    """Install the one root handler (format per ``LOG_FORMAT``, redaction) at
    ``LOG_LEVEL``; returns it. Replaces handlers installed before (idempotent)."""
    handler = logging.StreamHandler(stream or sys.stderr)
    if settings.log_format == "json":
        handler.setFormatter(JsonFormatter())
    else:
        handler.setFormatter(logging.Formatter(TEXT_FORMAT, DATE_FORMAT))
    handler.addFilter(RedactingFilter(secrets_of(settings)))
    root = logging.getLogger()
    for old in list(root.handlers):
        root.removeHandler(old)
    root.addHandler(handler)
    root.setLevel(settings.log_level)
    for noisy in QUIET:
        logging.getLogger(noisy).setLevel(logging.WARNING)
    return handler
