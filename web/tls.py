"""TLS without a proxy: TLS_CERTFILE and TLS_KEYFILE make Hypercorn serve https and wss.

``check_tls`` runs at start-up (before anything else starts) so that a certificate or key
that cannot be loaded stops the service with one line naming the setting; ``apply_tls``
hands both files to Hypercorn's config. HSTS is sent by the app (``web.app``) when TLS
is on.
"""

from __future__ import annotations

import ssl
from pathlib import Path
from typing import Any, Final

from settings import Settings, SettingsError

__all__ = ["HSTS", "apply_tls", "check_tls"]

#: One year, the value HSTS preload lists ask for; no includeSubDomains, since other hosts
#: of the domain are not ours to decide for.
HSTS: Final = "max-age=31536000"


def check_tls(settings: Settings) -> None:
    """Read and load the certificate and key once; raise ``SettingsError`` naming the
    setting at fault (unreadable, not PEM, or a key that does not match)."""
    if settings.tls_certfile is None or settings.tls_keyfile is None:
        return  # Settings.validate already refused one without the other
    _expect_pem("TLS_CERTFILE", settings.tls_certfile, "-----BEGIN CERTIFICATE-----", "certificate")
    _expect_pem("TLS_KEYFILE", settings.tls_keyfile, "PRIVATE KEY-----", "private key")
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    try:
        context.load_cert_chain(settings.tls_certfile, settings.tls_keyfile)
    except ssl.SSLError as exc:
        if exc.reason == "KEY_VALUES_MISMATCH":
            raise SettingsError("TLS_KEYFILE", "the key does not match the certificate in "
                                               "TLS_CERTFILE") from None
        raise SettingsError("TLS_CERTFILE", f"cannot load it with TLS_KEYFILE: "
                                            f"{exc.reason or exc.strerror or exc}") from None


def _expect_pem(name: str, path: Path, marker: str, what: str) -> None:
    try:
        text = path.read_text(encoding="ascii", errors="replace")
    except OSError as exc:
        raise SettingsError(name, f"cannot read {str(path)!r}: {exc.strerror or exc}") from None
    if marker not in text:
        raise SettingsError(name, f"{str(path)!r} holds no PEM {what}")


def apply_tls(config: Any, settings: Settings) -> str:
    """Set Hypercorn's ``certfile``/``keyfile`` when TLS is on; the URL scheme served."""
    if not settings.tls:
        return "http"
    config.certfile = str(settings.tls_certfile)
    config.keyfile = str(settings.tls_keyfile)
    return "https"
