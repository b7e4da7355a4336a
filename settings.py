"""Every Roundtable setting, read from the environment once and validated.

``Settings.from_env(environ)`` is the only reader; ``run.py`` calls it (after loading an
optional ``.env``) and hands the frozen result to everything else. A bad value raises
``SettingsError`` whose message is one line naming the setting, so start-up can stop
with exactly that line.
"""

from __future__ import annotations

import dataclasses
import ipaddress
import math
import textwrap
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Final, TypeVar
from urllib.parse import urlsplit

from actors.providers import registry
from actors.providers.registry import ProviderSpec

__all__ = [
    "VERSION", "ProviderSettings", "SettingDoc", "Settings", "SettingsError", "describe", "env_example",
    "normalize_origin",
]

#: Roundtable's version (pyproject.toml reads it from here; CHANGELOG.md tells what changed).
VERSION: Final = "0.1.0"

#: The default round gives each agent this many turns (16 messages for four agents), so
#: a newly registered provider needs no MESSAGES_PER_ROUND of its own.
TURNS_PER_AGENT: Final = 4
#: MODERATION values, as ``_Reader.choice`` compares them (upper case).
MODERATION_MODES: Final = ("AUTO", "OPENAI", "LOCAL", "OFF")
DATABASE_SCHEMES: Final = ("sqlite", "postgres", "postgresql", "postgres+pool", "postgresql+pool")
#: The shortest ADMIN_TOKEN accepted: /control must not fall to a dictionary.
MIN_ADMIN_TOKEN_LENGTH: Final = 24
MAKE_TOKEN: Final = 'python -c "import secrets; print(secrets.token_urlsafe(32))"'
#: MAX_TCP_CONNECTIONS_PER_IP when unset: this, or MAX_CONNECTIONS_PER_IP plus the headroom.
DEFAULT_TCP_CONNECTIONS_PER_IP: Final = 100
TCP_HEADROOM_PER_IP: Final = 50
_DEFAULT_PORTS: Final = {"http": 80, "https": 443}

Network = ipaddress.IPv4Network | ipaddress.IPv6Network

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
    daily_budget_usd: float | None = None  # {P}_DAILY_BUDGET_USD; None: no cap of its own

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
    tick_seconds: float = 1.0
    typing_lead_seconds: float = 2.0
    log_level: str = "INFO"
    ws_compression: bool = False
    shutdown_grace_seconds: float = 3.0
    tls_certfile: Path | None = None
    tls_keyfile: Path | None = None
    log_format: str = "text"
    alert_webhook_url: str | None = field(default=None, repr=False)
    moderation: str = "auto"  # auto, openai, local or off (actors/providers/moderation.py)
    moderation_wordlist: Path | None = None
    moderation_fail_open: bool = False
    public_url: str | None = None  # e.g. https://example.com: canonical links, feed, sitemap
    trusted_proxies: tuple[Network, ...] = ()
    max_connections: int = 10_000
    max_connections_per_ip: int = 50
    max_new_connections_per_ip_per_minute: int = 120
    api_requests_per_ip_per_second: float = 20.0
    ws_stall_seconds: float = 30.0
    ws_ping_seconds: float = 20.0
    max_tcp_connections_per_ip: int | None = None  # None: tcp_connections_per_ip derives it
    header_timeout_seconds: float = 5.0

    @classmethod
    def from_env(cls, environ: Mapping[str, str]) -> Settings:
        """Build settings from ``environ``; raise ``SettingsError`` on the first bad value."""
        settings = cls._read(_Reader(environ))
        settings.validate()
        return settings

    @classmethod
    def _read(cls, env: _Reader) -> Settings:
        """Every setting, each read once with its default and its one-line meaning (``doc``:
        the source of ``.env.example``; see ``env_example``)."""
        return cls(
            providers=_providers(env, registry.specs()),
            round_interval_seconds=env.number(
                "ROUND_INTERVAL_SECONDS", 1800.0, minimum=0.001,
                doc="start-to-start spacing of scheduled rounds (slots aligned to the Unix epoch, UTC)"),
            messages_per_round=env.integer(
                "MESSAGES_PER_ROUND", TURNS_PER_AGENT * len(registry.specs()), minimum=1,
                doc=f"messages in a round; a multiple of the {len(registry.specs())} agents"),
            message_gap_min_seconds=env.number(
                "MESSAGE_GAP_MIN_SECONDS", 60.0, minimum=0.0,
                doc="shortest random gap between two messages (floats allowed)"),
            message_gap_max_seconds=env.number(
                "MESSAGE_GAP_MAX_SECONDS", 120.0, minimum=0.0,
                doc="longest random gap between two messages"),
            min_countdown_seconds=env.number(
                "MIN_COUNTDOWN_SECONDS", 60.0, minimum=0.0,
                doc="a round ends at least this long before the next slot"),
            complete_hold_seconds=env.number(
                "COMPLETE_HOLD_SECONDS", 10.0, minimum=0.0,
                doc='how long "round complete" is shown'),
            generation_grace_seconds=env.number(
                "GENERATION_GRACE_SECONDS", 15.0, minimum=0.001,
                doc="extra time past a message's planned reveal before its agent falls back"),
            database_url=env.database_url(
                "DATABASE_URL", "sqlite:///data/roundtable.db",
                doc="sqlite:///path, or postgresql://user:pass@host/db (postgresql+pool://...) "
                    "for production and several instances"),
            admin_token=env.text(
                "ADMIN_TOKEN",
                doc="bearer token for POST /control, at least 24 characters (make one with: "
                    f"{MAKE_TOKEN}); unset refuses every admin action") or None,
            host=env.text("HOST", "127.0.0.1", doc="address to listen on (0.0.0.0 in a container)"),
            port=env.integer("PORT", 8000, minimum=0, maximum=65535, doc="port to listen on"),
            allowed_origins=env.origins(
                "ALLOWED_ORIGINS",
                doc="comma-separated origins (https://example.com) that may embed the widget and "
                    "open the WebSocket; * allows any; unset means the same origin only; compared "
                    "case-insensitively, default ports ignored"),
            daily_budget_usd=env.optional_number(
                "DAILY_BUDGET_USD", minimum=0.0,
                doc="past it, agents answer from templates until UTC midnight; unset: no limit"),
            topics_file=env.existing_file(
                "TOPICS_FILE",
                doc="one topic per line (# comments, blank lines ignored); unset: the built-in list"),
            prices_file=env.existing_file(
                "PRICES_FILE",
                doc="JSON {provider: {model: [input, output]}} in USD per million tokens; wins over "
                    "the genai-prices data; a \"*\" entry sets the provider's fallback rate for "
                    "unknown (e.g. local) models, whose cost is marked as an estimate"),
            circuit_failure_threshold=env.integer(
                "CIRCUIT_FAILURE_THRESHOLD", 3, minimum=1,
                doc="consecutive failures that open a provider's circuit"),
            circuit_cooldown_seconds=env.number(
                "CIRCUIT_COOLDOWN_SECONDS", 60.0, minimum=0.0,
                doc="how long an open circuit stays open before one probe"),
            provider_max_attempts=env.integer(
                "PROVIDER_MAX_ATTEMPTS", 3, minimum=1, maximum=10,
                doc="tries per provider per message (bounded by the message's deadline)"),
            tick_seconds=env.number(
                "TICK_SECONDS", 1.0, minimum=0.001, maximum=5.0,
                doc="the longest the Supervisor sleeps between looks at the clock; it wakes "
                    "anyway when a reveal, a slot or a deadline falls due, or a reply arrives"),
            typing_lead_seconds=env.number(
                "TYPING_LEAD_SECONDS", 2.0, minimum=0.0,
                doc="the typing indicator shows this long before a reveal; a round's first message "
                    "comes this long after it starts, and the round is complete this long after "
                    "its last"),
            retention_days=env.optional_integer(
                "RETENTION_DAYS", minimum=1,
                doc="whole days; the engine deletes finished rounds, their messages, API calls and "
                    "audit entries older than this, at start and then once a day; unset keeps all"),
            log_level=env.choice(
                "LOG_LEVEL", "INFO", ("DEBUG", "INFO", "WARNING", "ERROR"),
                doc="DEBUG, INFO, WARNING or ERROR"),
            ws_compression=env.flag(
                "WS_COMPRESSION", False,
                doc="on lets the WebSocket negotiate permessage-deflate (about 3x the memory per "
                    "visitor; the frames are small)"),
            shutdown_grace_seconds=env.number(
                "SHUTDOWN_GRACE_SECONDS", 3.0, minimum=0.0, maximum=300.0,
                doc="at SIGTERM, how long open requests and WebSockets get to finish after every "
                    "visitor was sent 1001 (going away); keep it below your process manager's stop "
                    "timeout"),
            tls_certfile=env.existing_file(
                "TLS_CERTFILE",
                doc="PEM certificate chain: with TLS_KEYFILE, serve https and wss (and send HSTS) "
                    "without a proxy"),
            tls_keyfile=env.existing_file(
                "TLS_KEYFILE", doc="PEM private key for TLS_CERTFILE"),
            log_format=env.choice(
                "LOG_FORMAT", "TEXT", ("TEXT", "JSON"),
                doc="text: one readable line per event; json: one JSON object per line (keys and "
                    "bearer tokens are redacted either way)").lower(),
            alert_webhook_url=env.optional_url(
                "ALERT_WEBHOOK_URL",
                doc="http(s) URL that receives alerts as JSON POSTs (a Slack-style text field plus "
                    "structured fields): circuits, all-template rounds, budgets, moderation flags, the "
                    "database, engine moves; a secret, never logged"),
            moderation=env.choice(
                "MODERATION", "AUTO", MODERATION_MODES,
                doc="the gate every reply passes before it is shown: AUTO (the word list, plus "
                    "OpenAI's omni-moderation-latest when OPENAI_API_KEY is set and OPENAI_BASE_URL "
                    "is OpenAI's API; the word list alone where /moderations is not there), OPENAI "
                    "(both, on any OPENAI_BASE_URL; needs the key; a missing /moderations then fails "
                    "like any error: see MODERATION_FAIL), LOCAL (the word list only) or OFF").lower(),
            moderation_wordlist=env.existing_file(
                "MODERATION_WORDLIST",
                doc='the site\'s own word list, added to the built-in one: one term or phrase a '
                    'line, optionally "category: term"; # comments'),
            moderation_fail_open=env.choice(
                "MODERATION_FAIL", "CLOSED", ("CLOSED", "OPEN"),
                doc="CLOSED withholds a reply that moderation cannot review in time (a template "
                    "stands in); OPEN shows it unreviewed (the word list still applies)") == "OPEN",
            public_url=env.public_url(
                "PUBLIC_URL",
                doc="the site's absolute http(s) address, e.g. https://example.com: canonical links, "
                    "link previews, the feed and the sitemap use it; unset: the request's own host"),
            trusted_proxies=env.networks(
                "TRUSTED_PROXIES",
                doc="addresses or CIDRs (127.0.0.1, 10.0.0.0/8) of reverse proxies whose "
                    "X-Forwarded-For/-Proto/-Host count; from anyone else they are dropped; the "
                    "client found behind them feeds every limit and log line; unset: none"),
            max_connections=env.integer(
                "MAX_CONNECTIONS", 10_000, minimum=1,
                doc="open WebSockets in total; never more than the open-file limit (raised to the "
                    "hard limit at start-up) less 100"),
            max_connections_per_ip=env.integer(
                "MAX_CONNECTIONS_PER_IP", 50, minimum=1,
                doc="open WebSockets per client address (an IPv6 /64 is one address)"),
            max_new_connections_per_ip_per_minute=env.integer(
                "MAX_NEW_CONNECTIONS_PER_IP_PER_MINUTE", 120, minimum=1,
                doc="new WebSockets per client address per minute"),
            api_requests_per_ip_per_second=env.number(
                "API_REQUESTS_PER_IP_PER_SECOND", 20.0, minimum=0.1,
                doc="requests to /api/* per client address per second; past it 429 with Retry-After"),
            ws_stall_seconds=env.number(
                "WS_STALL_SECONDS", 30.0, minimum=0.05, maximum=3600.0,
                doc="a visitor whose socket has not drained for this long is dropped"),
            ws_ping_seconds=env.number(
                "WS_PING_SECONDS", 20.0, minimum=0.05, maximum=3600.0,
                doc="a WebSocket sent nothing for about this long gets a ping, so proxies and "
                    "NATs keep it and a dead visitor is found; keep it below your proxy's idle "
                    "timeout"),
            max_tcp_connections_per_ip=env.optional_integer(
                "MAX_TCP_CONNECTIONS_PER_IP", minimum=1,
                doc="open TCP connections per client address (WebSockets included, so at least "
                    "MAX_CONNECTIONS_PER_IP), counted at accept; more are closed at once; peers in "
                    "TRUSTED_PROXIES are not counted (cap the proxy's clients there); unset: 100, "
                    "or MAX_CONNECTIONS_PER_IP + 50 if that is more"),
            header_timeout_seconds=env.number(
                "HEADER_TIMEOUT_SECONDS", 5.0, minimum=0.05, maximum=300.0,
                doc="a new connection's TLS handshake, and every request head (from the accept or "
                    "the previous response; idle keep-alive too), must be done within this or the "
                    "connection is closed; WebSockets are not affected"),
        )

    def validate(self) -> None:
        """Check rules that involve more than one setting."""
        agents = len(self.providers)
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
        if (self.tls_certfile is None) != (self.tls_keyfile is None):
            given, missing = (
                ("TLS_CERTFILE", "TLS_KEYFILE") if self.tls_keyfile is None
                else ("TLS_KEYFILE", "TLS_CERTFILE")
            )
            raise SettingsError(missing, f"is unset but {given} is set; TLS needs both (or neither)")
        if self.max_tcp_connections_per_ip is not None and self.max_tcp_connections_per_ip < self.max_connections_per_ip:
            raise SettingsError(
                "MAX_TCP_CONNECTIONS_PER_IP",
                f"{self.max_tcp_connections_per_ip} is below MAX_CONNECTIONS_PER_IP "
                f"{self.max_connections_per_ip}: every WebSocket is a TCP connection too",
            )
        if self.admin_token is not None and len(self.admin_token) < MIN_ADMIN_TOKEN_LENGTH:
            raise SettingsError(
                "ADMIN_TOKEN",
                f"{len(self.admin_token)} characters is too short to resist guessing (at least "
                f"{MIN_ADMIN_TOKEN_LENGTH}); make one with: {MAKE_TOKEN}",
            )
        openai_provider = self.providers.get("openai")
        if self.moderation == "openai" and not (openai_provider and openai_provider.configured):
            raise SettingsError("MODERATION", "openai needs OPENAI_API_KEY (or use auto or local)")
        for provider in self.providers.values():
            for other in provider.fallbacks:
                if other not in self.providers:
                    raise SettingsError(
                        f"{provider.name.upper()}_FALLBACKS",
                        f"unknown provider {other!r}; expected some of {', '.join(self.providers)}",
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
    def tcp_connections_per_ip(self) -> int:
        """``MAX_TCP_CONNECTIONS_PER_IP``, or when unset a cap that leaves room for every
        WebSocket an address may hold (an upgrade that raised MAX_CONNECTIONS_PER_IP keeps
        starting) and as many plain connections again as a browser opens."""
        if self.max_tcp_connections_per_ip is not None:
            return self.max_tcp_connections_per_ip
        return max(DEFAULT_TCP_CONNECTIONS_PER_IP, self.max_connections_per_ip + TCP_HEADROOM_PER_IP)

    @property
    def is_postgres(self) -> bool:
        return self.database_url.split("://", 1)[0] != "sqlite"

    @property
    def tls(self) -> bool:
        """Whether Hypercorn serves https and wss itself (TLS_CERTFILE and TLS_KEYFILE)."""
        return self.tls_certfile is not None


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


def _providers(env: _Reader, specs: tuple[ProviderSpec, ...]) -> dict[str, ProviderSettings]:
    """Every registered provider's settings, in speaking order (``actors.providers.registry``)."""
    names = tuple(spec.name for spec in specs)
    return {spec.name: _provider(env, spec, tuple(n for n in names if n != spec.name)) for spec in specs}


def _provider(env: _Reader, spec: ProviderSpec, others: tuple[str, ...]) -> ProviderSettings:
    name, prefix, label = spec.name, spec.env_prefix, spec.label
    return ProviderSettings(
        name=name,
        api_keys=env.items(
            f"{prefix}_API_KEY",
            doc=f"{label} key(s), comma-separated to rotate; unset: the {name} agent uses its "
                "fallbacks, then templates"),
        base_url=env.url(
            f"{prefix}_BASE_URL", spec.base_url,
            doc=f"{label} API base URL (a proxy, gateway or compatible local server)"),
        model=env.text(f"{prefix}_MODEL", spec.model, doc=f"{label} model"),
        requests_per_minute=env.integer(
            f"{prefix}_RPM", 60, minimum=1, doc=f"requests per minute allowed to {label}"),
        fallbacks=env.items(
            f"{prefix}_FALLBACKS", default=others,
            doc=f"comma-separated providers the {name} agent tries after its own"),
        daily_budget_usd=env.optional_number(
            f"{prefix}_DAILY_BUDGET_USD", minimum=0.0,
            doc=f"{label}'s own daily cap in USD: past it {label} is skipped (agents fall back) "
                "until UTC midnight; unset: only DAILY_BUDGET_USD applies"),
    )


@dataclass(frozen=True)
class SettingDoc:
    """One setting as ``.env.example`` shows it: its name, default (as text; empty when
    unset) and one-line meaning."""

    name: str
    default: str
    doc: str


def describe() -> tuple[SettingDoc, ...]:
    """Every setting, in the order ``Settings.from_env`` reads them."""
    env = _Reader({})
    Settings._read(env)
    return tuple(env.read)


ENV_EXAMPLE_COMMAND: Final = "python run.py env-example > .env.example"


def env_example() -> str:
    """The text of ``.env.example``: every setting, commented out, with its default and
    meaning. tests/deploy/test_env_example.py checks that the file matches."""
    lines = [
        "# Roundtable settings: every one, with its default and meaning.",
        "# GENERATED from settings.py; do not edit. After adding or changing a setting, run",
        f"#     {ENV_EXAMPLE_COMMAND}",
        "# Copy this file to .env and uncomment what you change (the environment wins over .env).",
    ]
    for entry in describe():
        lines.append("")
        lines.extend(textwrap.wrap(entry.doc, 88, initial_indent="# ", subsequent_indent="# "))
        lines.append(f"#{entry.name}={entry.default}")
    return "\n".join(lines) + "\n"


class _Reader:
    """Typed accessors over an environment mapping; each raises ``SettingsError`` and
    records the setting it read (name, default, ``doc``) in ``read``."""

    def __init__(self, environ: Mapping[str, str]) -> None:
        self._environ = environ
        self.read: list[SettingDoc] = []

    def _raw(self, name: str, default: object, doc: str) -> str:
        shown = "" if default is None else _show(default)
        self.read.append(SettingDoc(name, shown, doc))
        return self._environ.get(name, "").strip()

    def text(self, name: str, default: str = "", *, doc: str) -> str:
        return self._raw(name, default, doc) or default

    def items(self, name: str, default: tuple[str, ...] = (), *, doc: str) -> tuple[str, ...]:
        raw = self._raw(name, default, doc)
        return tuple(part.strip() for part in raw.split(",") if part.strip()) or default

    def integer(
        self, name: str, default: int, *, minimum: int | None = None, maximum: int | None = None,
        doc: str,
    ) -> int:
        raw = self._raw(name, default, doc)
        return self._bounded(name, raw, default, int, "a whole number", minimum, maximum)

    def number(
        self, name: str, default: float, *, minimum: float | None = None,
        maximum: float | None = None, doc: str,
    ) -> float:
        raw = self._raw(name, default, doc)
        return self._bounded(name, raw, default, _finite_float, "a number", minimum, maximum)

    def optional_number(self, name: str, *, minimum: float, doc: str) -> float | None:
        raw = self._raw(name, None, doc)
        if not raw:
            return None
        return self._bounded(name, raw, 0.0, _finite_float, "a number", minimum, None)

    def optional_integer(self, name: str, *, minimum: int, doc: str) -> int | None:
        raw = self._raw(name, None, doc)
        if not raw:
            return None
        return self._bounded(name, raw, minimum, int, "a whole number", minimum, None)

    def flag(self, name: str, default: bool, *, doc: str) -> bool:
        raw = self._raw(name, default, doc).lower()
        if not raw:
            return default
        if raw in ("1", "true", "yes", "on"):
            return True
        if raw in ("0", "false", "no", "off"):
            return False
        raise SettingsError(name, f"{raw!r} is not on/off (true/false, 1/0)")

    def choice(self, name: str, default: str, options: tuple[str, ...], *, doc: str) -> str:
        value = self.text(name, default, doc=doc).upper()
        if value not in options:
            raise SettingsError(name, f"{value!r} is not one of {', '.join(options)}")
        return value

    def url(self, name: str, default: str, *, doc: str) -> str:
        value = self.text(name, default, doc=doc).rstrip("/")
        if not value.startswith(("http://", "https://")):
            raise SettingsError(name, f"{value!r} is not an http(s) URL")
        return value

    def optional_url(self, name: str, *, doc: str) -> str | None:
        """An http(s) URL, or None when unset. The error never shows the URL: a webhook
        URL is a secret (Slack's carries its token in the path)."""
        value = self.text(name, doc=doc)
        if not value:
            return None
        scheme, _, rest = value.partition("://")
        if scheme not in ("http", "https") or not rest.split("/", 1)[0]:
            raise SettingsError(name, "is not an http(s) URL like https://hooks.example.com/...")
        return value

    def public_url(self, name: str, *, doc: str) -> str | None:
        """An absolute http(s) URL without query, fragment or credentials; no trailing slash."""
        value = self.text(name, doc=doc).rstrip("/")
        if not value:
            return None
        try:
            parts = urlsplit(value)
            parts.port  # noqa: B018 - raises ValueError on a bad port
        except ValueError:
            raise SettingsError(name, f"{value!r} is not a URL like https://example.com") from None
        if parts.scheme not in ("http", "https") or not parts.hostname:
            raise SettingsError(name, f"{value!r} is not an absolute http(s) URL like https://example.com")
        if parts.query or parts.fragment or "@" in parts.netloc or any(c.isspace() for c in value):
            raise SettingsError(name, f"{value!r} must be a plain site URL (no query, fragment, credentials or spaces)")
        return value

    def origins(self, name: str, *, doc: str) -> tuple[str, ...]:
        """Origins in the form ``normalize_origin`` gives (or ``*``)."""
        origins = []
        for raw in self.items(name, doc=doc):
            origin = raw if raw == "*" else normalize_origin(raw)
            if origin is None:
                raise SettingsError(name, f"{raw!r} is not an origin like https://example.com")
            origins.append(origin)
        return tuple(origins)

    def networks(self, name: str, *, doc: str) -> tuple[Network, ...]:
        """Addresses or CIDRs (``10.0.0.0/8``, ``::1``), each as a network."""
        networks = []
        for raw in self.items(name, doc=doc):
            try:
                networks.append(ipaddress.ip_network(raw, strict=False))
            except ValueError:
                raise SettingsError(name, f"{raw!r} is not an address or CIDR like 10.0.0.0/8") from None
        return tuple(networks)

    def database_url(self, name: str, default: str, *, doc: str) -> str:
        value = self.text(name, default, doc=doc)
        scheme = value.split("://", 1)[0] if "://" in value else ""
        if scheme not in DATABASE_SCHEMES:
            raise SettingsError(
                name, f"unknown scheme in {_redact_url(value)!r}; use sqlite:/// or postgresql://"
            )
        return value

    def existing_file(self, name: str, *, doc: str) -> Path | None:
        value = self._raw(name, None, doc)
        if not value:
            return None
        path = Path(value)
        if not path.is_file():
            raise SettingsError(name, f"{value!r} is not a readable file")
        return path

    @staticmethod
    def _bounded(
        name: str,
        raw: str,
        default: T,
        parse: Callable[[str], T],
        kind: str,
        minimum: float | None,
        maximum: float | None,
    ) -> T:
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


def _show(default: object) -> str:
    """A default as a .env value: on/off, 1800 (not 1800.0), a,b,c."""
    if isinstance(default, bool):
        return "on" if default else "off"
    if isinstance(default, float):
        return f"{default:g}"
    if isinstance(default, tuple):
        return ",".join(str(item) for item in default)
    return str(default)


def normalize_origin(origin: str) -> str | None:
    """``scheme://host[:port]`` in lower case without a default port, or None when
    ``origin`` is not an http(s) origin. Browsers send origins this way, but people and
    proxies may not: ``HTTPS://Example.COM:443/`` is ``https://example.com``."""
    scheme, sep, rest = origin.strip().rstrip("/").partition("://")
    scheme, rest = scheme.lower(), rest.lower()
    if not sep or scheme not in _DEFAULT_PORTS or not rest or any(c in rest for c in "/?#@ "):
        return None
    host, colon, port = rest.rpartition(":")
    if colon and port.isdigit() and not host.endswith(":"):  # not the inside of [v6]
        if int(port) == _DEFAULT_PORTS[scheme]:
            rest = host
    return f"{scheme}://{rest}"


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
