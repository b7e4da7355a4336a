"""Every Roundtable setting, read from the environment once and validated.

``Settings.from_env(environ)`` is the only reader; ``run.py`` calls it (after loading an
optional ``.env``) and hands the frozen result to everything else. A bad value raises
``SettingsError`` whose message is one line naming the setting, so start-up can stop
with exactly that line.
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Final, TypeVar

__all__ = ["PROVIDERS", "ProviderSettings", "Settings", "SettingsError"]

#: Agent ids, in speaking order. Each agent's id is the name of its own provider.
PROVIDERS: Final = ("openai", "anthropic", "perplexity", "gemini")

DEFAULT_BASE_URLS: Final = {
    "openai": "https://api.openai.com/v1",
    "anthropic": "https://api.anthropic.com",
    "perplexity": "https://api.perplexity.ai",
    "gemini": "https://generativelanguage.googleapis.com",
}
DEFAULT_MODELS: Final = {
    "openai": "gpt-5.4-mini",
    "anthropic": "claude-sonnet-5-5",
    "perplexity": "perplexity/sonar",
    "gemini": "gemini-2.5-flash",
}
DATABASE_SCHEMES: Final = ("sqlite", "postgres", "postgresql", "postgres+pool", "postgresql+pool")

T = TypeVar("T")


class SettingsError(ValueError):
    """A setting has an invalid value. ``str(error)`` is one line naming the setting."""

    def __init__(self, name: str, problem: str) -> None:
        super().__init__(f"invalid setting {name}: {problem}")
        self.name = name


@dataclass(frozen=True)
class ProviderSettings:
    """How to reach one provider. ``api_keys`` is never logged or shown (repr hides it)."""

    name: str
    api_keys: tuple[str, ...] = field(repr=False)
    base_url: str
    model: str
    requests_per_minute: int
    fallbacks: tuple[str, ...]

    @property
    def configured(self) -> bool:
        return bool(self.api_keys)


@dataclass(frozen=True)
class Settings:
    providers: Mapping[str, ProviderSettings]
    round_interval_seconds: float = 1800.0
    messages_per_round: int = 16
    message_gap_min_seconds: float = 60.0
    message_gap_max_seconds: float = 120.0
    min_countdown_seconds: float = 60.0
    complete_hold_seconds: float = 10.0
    generation_grace_seconds: float = 15.0
    database_url: str = "sqlite:///data/roundtable.db"
    admin_token: str | None = field(default=None, repr=False)
    host: str = "127.0.0.1"
    port: int = 8000
    allowed_origins: tuple[str, ...] = ()
    daily_budget_usd: float | None = None
    retention_days: int | None = None
    topics_file: Path | None = None
    prices_file: Path | None = None
    circuit_failure_threshold: int = 3
    circuit_cooldown_seconds: float = 60.0
    provider_max_attempts: int = 3
    tick_seconds: float = 0.1
    typing_lead_seconds: float = 2.0
    log_level: str = "INFO"
    ws_compression: bool = False

    @classmethod
    def from_env(cls, environ: Mapping[str, str]) -> Settings:
        """Build settings from ``environ``; raise ``SettingsError`` on the first bad value."""
        env = _Reader(environ)
        settings = cls(
            providers={name: _provider(env, name) for name in PROVIDERS},
            round_interval_seconds=env.number("ROUND_INTERVAL_SECONDS", 1800.0, minimum=0.001),
            messages_per_round=env.integer("MESSAGES_PER_ROUND", 16, minimum=1),
            message_gap_min_seconds=env.number("MESSAGE_GAP_MIN_SECONDS", 60.0, minimum=0.0),
            message_gap_max_seconds=env.number("MESSAGE_GAP_MAX_SECONDS", 120.0, minimum=0.0),
            min_countdown_seconds=env.number("MIN_COUNTDOWN_SECONDS", 60.0, minimum=0.0),
            complete_hold_seconds=env.number("COMPLETE_HOLD_SECONDS", 10.0, minimum=0.0),
            generation_grace_seconds=env.number("GENERATION_GRACE_SECONDS", 15.0, minimum=0.001),
            database_url=env.database_url("DATABASE_URL", "sqlite:///data/roundtable.db"),
            admin_token=env.text("ADMIN_TOKEN") or None,
            host=env.text("HOST", "127.0.0.1"),
            port=env.integer("PORT", 8000, minimum=0, maximum=65535),
            allowed_origins=env.origins("ALLOWED_ORIGINS"),
            daily_budget_usd=env.optional_number("DAILY_BUDGET_USD", minimum=0.0),
            retention_days=env.optional_integer("RETENTION_DAYS", minimum=1),
            topics_file=env.existing_file("TOPICS_FILE"),
            prices_file=env.existing_file("PRICES_FILE"),
            circuit_failure_threshold=env.integer("CIRCUIT_FAILURE_THRESHOLD", 3, minimum=1),
            circuit_cooldown_seconds=env.number("CIRCUIT_COOLDOWN_SECONDS", 60.0, minimum=0.0),
            provider_max_attempts=env.integer("PROVIDER_MAX_ATTEMPTS", 3, minimum=1, maximum=10),
            tick_seconds=env.number("TICK_SECONDS", 0.1, minimum=0.001, maximum=5.0),
            typing_lead_seconds=env.number("TYPING_LEAD_SECONDS", 2.0, minimum=0.0),
            log_level=env.choice("LOG_LEVEL", "INFO", ("DEBUG", "INFO", "WARNING", "ERROR")),
            ws_compression=env.flag("WS_COMPRESSION", False),
        )
        settings.validate()
        return settings

    def validate(self) -> None:
        """Check rules that involve more than one setting."""
        agents = len(PROVIDERS)
        if self.messages_per_round % agents:
            raise SettingsError(
                "MESSAGES_PER_ROUND",
                f"{self.messages_per_round} is not a multiple of the {agents} agents",
            )
        if self.message_gap_min_seconds > self.message_gap_max_seconds:
            raise SettingsError(
                "MESSAGE_GAP_MIN_SECONDS",
                f"{self.message_gap_min_seconds:g} is greater than "
                f"MESSAGE_GAP_MAX_SECONDS {self.message_gap_max_seconds:g}",
            )
        if self.min_countdown_seconds >= self.round_interval_seconds:
            raise SettingsError(
                "MIN_COUNTDOWN_SECONDS",
                f"{self.min_countdown_seconds:g} leaves no time for a round in "
                f"ROUND_INTERVAL_SECONDS {self.round_interval_seconds:g}",
            )
        for provider in self.providers.values():
            for other in provider.fallbacks:
                if other not in PROVIDERS:
                    raise SettingsError(
                        f"{provider.name.upper()}_FALLBACKS",
                        f"unknown provider {other!r}; expected some of {', '.join(PROVIDERS)}",
                    )

    def replace(self, **changes: object) -> Settings:
        """A copy with ``changes`` applied, validated again (handy for tests and --demo)."""
        updated = dataclasses.replace(self, **changes)  # type: ignore[arg-type]
        updated.validate()
        return updated

    @property
    def configured_providers(self) -> tuple[str, ...]:
        return tuple(name for name, p in self.providers.items() if p.configured)

    @property
    def is_postgres(self) -> bool:
        return self.database_url.split("://", 1)[0] != "sqlite"


def demo(settings: Settings) -> Settings:
    """Fast timings for ``run.py --demo``: a round every 2 minutes, gaps of a few seconds."""
    return settings.replace(
        round_interval_seconds=120.0,
        message_gap_min_seconds=2.0,
        message_gap_max_seconds=4.0,
        min_countdown_seconds=20.0,
        complete_hold_seconds=5.0,
        generation_grace_seconds=8.0,
        typing_lead_seconds=1.0,
    )


def _provider(env: _Reader, name: str) -> ProviderSettings:
    prefix = name.upper()
    others = tuple(p for p in PROVIDERS if p != name)
    return ProviderSettings(
        name=name,
        api_keys=env.items(f"{prefix}_API_KEY"),
        base_url=env.url(f"{prefix}_BASE_URL", DEFAULT_BASE_URLS[name]),
        model=env.text(f"{prefix}_MODEL", DEFAULT_MODELS[name]),
        requests_per_minute=env.integer(f"{prefix}_RPM", 60, minimum=1),
        fallbacks=env.items(f"{prefix}_FALLBACKS") or others,
    )


class _Reader:
    """Typed accessors over an environment mapping; each raises ``SettingsError``."""

    def __init__(self, environ: Mapping[str, str]) -> None:
        self._environ = environ

    def text(self, name: str, default: str = "") -> str:
        value = self._environ.get(name, "").strip()
        return value or default

    def items(self, name: str) -> tuple[str, ...]:
        return tuple(part.strip() for part in self.text(name).split(",") if part.strip())

    def integer(
        self, name: str, default: int, *, minimum: int | None = None, maximum: int | None = None
    ) -> int:
        return self._bounded(name, default, int, "a whole number", minimum, maximum)

    def number(
        self, name: str, default: float, *, minimum: float | None = None, maximum: float | None = None
    ) -> float:
        return self._bounded(name, default, _finite_float, "a number", minimum, maximum)

    def optional_number(self, name: str, *, minimum: float) -> float | None:
        if not self.text(name):
            return None
        return self.number(name, 0.0, minimum=minimum)

    def optional_integer(self, name: str, *, minimum: int) -> int | None:
        if not self.text(name):
            return None
        return self.integer(name, minimum, minimum=minimum)

    def flag(self, name: str, default: bool) -> bool:
        raw = self.text(name).lower()
        if not raw:
            return default
        if raw in ("1", "true", "yes", "on"):
            return True
        if raw in ("0", "false", "no", "off"):
            return False
        raise SettingsError(name, f"{raw!r} is not on/off (true/false, 1/0)")

    def choice(self, name: str, default: str, options: tuple[str, ...]) -> str:
        value = self.text(name, default).upper()
        if value not in options:
            raise SettingsError(name, f"{value!r} is not one of {', '.join(options)}")
        return value

    def url(self, name: str, default: str) -> str:
        value = self.text(name, default).rstrip("/")
        if not value.startswith(("http://", "https://")):
            raise SettingsError(name, f"{value!r} is not an http(s) URL")
        return value

    def origins(self, name: str) -> tuple[str, ...]:
        origins = tuple(o.rstrip("/") for o in self.items(name))
        for origin in origins:
            if origin != "*" and not origin.startswith(("http://", "https://")):
                raise SettingsError(name, f"{origin!r} is not an origin like https://example.com")
        return origins

    def database_url(self, name: str, default: str) -> str:
        value = self.text(name, default)
        scheme = value.split("://", 1)[0] if "://" in value else ""
        if scheme not in DATABASE_SCHEMES:
            raise SettingsError(
                name, f"unknown scheme in {_redact_url(value)!r}; use sqlite:/// or postgresql://"
            )
        return value

    def existing_file(self, name: str) -> Path | None:
        value = self.text(name)
        if not value:
            return None
        path = Path(value)
        if not path.is_file():
            raise SettingsError(name, f"{value!r} is not a readable file")
        return path

    def _bounded(
        self,
        name: str,
        default: T,
        parse: Callable[[str], T],
        kind: str,
        minimum: float | None,
        maximum: float | None,
    ) -> T:
        raw = self.text(name)
        if not raw:
            return default
        try:
            value = parse(raw)
        except ValueError:
            raise SettingsError(name, f"{raw!r} is not {kind}") from None
        if minimum is not None and value < minimum:  # type: ignore[operator]
            raise SettingsError(name, f"{raw} is below the minimum {minimum:g}")
        if maximum is not None and value > maximum:  # type: ignore[operator]
            raise SettingsError(name, f"{raw} is above the maximum {maximum:g}")
        return value


def _finite_float(raw: str) -> float:
    value = float(raw)
    if not math.isfinite(value):
        raise ValueError(raw)
    return value


def _redact_url(url: str) -> str:
    """Hide a password in a database URL so an error line never shows it."""
    if "@" not in url or "://" not in url:
        return url
    scheme, rest = url.split("://", 1)
    credentials, host = rest.rsplit("@", 1)
    user = credentials.split(":", 1)[0]
    return f"{scheme}://{user}:***@{host}"
