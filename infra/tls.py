"""TLS to RabbitMQ: the client's SSL context for an ``amqps://`` URL, and TLS failures explained.

An ``amqps://`` URL verifies the broker's certificate against ``BOTWERK_AMQP_CA`` (the system's
CAs when unset) and checks that it names the URL's host; ``BOTWERK_AMQP_CERT`` (and
``BOTWERK_AMQP_KEY`` unless the key is in the same PEM file) add a client certificate for a broker
that asks for one::

    >>> settings = Settings.load(amqp_url="amqps://core:pw@localhost:5671/")
    >>> client_context(settings).check_hostname
    True
    >>> client_context(Settings.load(amqp_url="amqp://core:pw@localhost:5672/")) is None
    True

A connection that fails in TLS says so (:func:`explain`) and names the setting to fix, rather
than advising to start a broker that is running. Both the pika bus and the Celery trainer
(:func:`celery_ssl`) take their TLS from these settings. Limits: no certificate revocation
lists; the key file must not be encrypted.
"""

from __future__ import annotations

import re
import ssl
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from botwerk.infra.settings import ConfigError, Settings

SETTINGS = "BOTWERK_AMQP_CA, BOTWERK_AMQP_CERT, BOTWERK_AMQP_KEY"
_REASON = re.compile(r"\[SSL: ([A-Z0-9_]+)\]([^(]*)")


def is_tls(settings: Settings) -> bool:
    """Whether ``settings`` connect to RabbitMQ over TLS (an ``amqps://`` URL)."""
    return urlsplit(settings.amqp_url or "").scheme == "amqps"


def client_context(settings: Settings) -> ssl.SSLContext | None:
    """The SSL context of an ``amqps://`` URL, None for ``amqp://``; bad files: ConfigError."""
    _check(settings)
    if not is_tls(settings):
        return None
    context = ssl.create_default_context(cafile=_read("CA", settings.amqp_ca))
    if settings.amqp_cert is not None:
        cert, key = _readable("CERT", settings.amqp_cert), _read("KEY", settings.amqp_key)
        try:
            context.load_cert_chain(cert, key)
        except (OSError, ssl.SSLError) as exc:
            raise ConfigError(
                f"BOTWERK_AMQP_CERT {cert} with BOTWERK_AMQP_KEY {key or '(none)'}: not a client "
                f"certificate and its unencrypted private key ({exc}); point them at PEM files"
            ) from None
    return context


def celery_ssl(settings: Settings) -> dict[str, Any] | bool:
    """Celery's ``broker_use_ssl`` for the same TLS as the bus: verified CA and host name."""
    _check(settings)
    if not is_tls(settings):
        return False
    # The host named explicitly: kombu's default (None: the URL's host) checks 127.0.0.1 for
    # localhost, as it connects there, and a certificate for localhost would fail.
    host = urlsplit(settings.amqp_url or "").hostname
    options: dict[str, Any] = {"cert_reqs": ssl.CERT_REQUIRED, "server_hostname": host}
    for key, value in (
        ("ca_certs", _read("CA", settings.amqp_ca)),  # None: the system's CAs
        ("certfile", _read("CERT", settings.amqp_cert)),
        ("keyfile", _read("KEY", settings.amqp_key)),
    ):
        if value is not None:
            options[key] = value
    return options


def explain(exc: BaseException, settings: Settings) -> str | None:
    """What failed in TLS and how to fix it; None when ``exc`` is not a TLS failure."""
    reason, detail = _reason(exc)
    if reason is None:
        return None
    where = f"TLS to BOTWERK_AMQP_URL {settings.amqp_url_redacted} failed ({reason}{detail})"
    return f"{where}: {_fix(reason, detail, settings)}"


_PLAIN_PORT = ("WRONG_VERSION_NUMBER", "RECORD_LAYER_FAILURE", "UNEXPECTED_EOF_WHILE_READING")
_CERT_REFUSED = ("UNKNOWN_CA", "BAD_CERTIFICATE", "CERTIFICATE_UNKNOWN", "CERTIFICATE_EXPIRED",
                 "UNSUPPORTED_CERTIFICATE", "CERTIFICATE_REVOKED", "DECRYPT_ERROR")  # fmt: skip


def _fix(reason: str, detail: str, settings: Settings) -> str:
    """The fix of one OpenSSL reason: the setting to change, or what to ask of the broker."""
    if reason == "CERTIFICATE_VERIFY_FAILED" and "mismatch" in detail:
        host = urlsplit(settings.amqp_url or "").hostname
        return (
            f"the broker's certificate does not name {host}: put a host name the certificate "
            "carries in BOTWERK_AMQP_URL, or reissue the broker's certificate for this name"
        )
    if reason == "CERTIFICATE_VERIFY_FAILED" and ("expired" in detail or "not yet" in detail):
        return "the broker's certificate is out of its validity dates: renew it (or fix the clock)"
    if reason == "CERTIFICATE_VERIFY_FAILED":
        trusted = settings.amqp_ca or "the system's CAs"
        return (
            f"the broker's certificate is not signed by a CA we trust ({trusted}): set "
            "BOTWERK_AMQP_CA to the CA file that signed it"
        )
    if reason in _PLAIN_PORT:
        return (
            "that port does not speak TLS, it may be the plain AMQP port (5672): put the "
            "broker's TLS port (5671) in BOTWERK_AMQP_URL, or use amqp://"
        )
    if "CERTIFICATE_REQUIRED" in reason:
        return (
            "the broker requires a client certificate: set BOTWERK_AMQP_CERT and BOTWERK_AMQP_KEY"
        )
    if reason.endswith(_CERT_REFUSED) and settings.amqp_cert is not None:
        return (
            f"the broker refused the client certificate BOTWERK_AMQP_CERT {settings.amqp_cert}: "
            "use one signed by a CA the broker trusts, still valid"
        )
    if "HANDSHAKE_FAILURE" in reason and settings.amqp_cert is None:
        return (
            "the broker may require a client certificate (set BOTWERK_AMQP_CERT and "
            "BOTWERK_AMQP_KEY), or it shares no TLS version or cipher with this client"
        )
    return f"check the TLS settings ({SETTINGS}) against the broker's TLS listener"


def _reason(exc: BaseException) -> tuple[str | None, str]:
    """The OpenSSL reason found anywhere in pika's nest of wrapped errors, and its detail."""
    seen: set[int] = set()
    todo: list[object] = [exc]
    texts: list[str] = []
    while todo:
        item = todo.pop()
        if not isinstance(item, BaseException) or id(item) in seen:
            continue
        seen.add(id(item))
        if isinstance(item, ssl.SSLCertVerificationError):
            return "CERTIFICATE_VERIFY_FAILED", f": {item.verify_message}"
        if isinstance(item, ssl.SSLError) and item.reason:
            return str(item.reason), ""
        texts.append(str(item))
        todo += [item.__cause__, item.__context__, getattr(item, "exception", None)]
        todo += [*getattr(item, "exceptions", ()), *item.args]
    for text in texts:  # pika keeps some only as text (a stream lost in the handshake)
        if found := _REASON.search(text):
            detail = found.group(2).strip()
            return found.group(1), f": {detail}" if detail else ""
    return None, ""


def _check(settings: Settings) -> None:
    if settings.amqp_key is not None and settings.amqp_cert is None:
        raise ConfigError("BOTWERK_AMQP_KEY is set without BOTWERK_AMQP_CERT: set both or neither")
    if not is_tls(settings) and any((settings.amqp_ca, settings.amqp_cert)) and settings.amqp_url:
        raise ConfigError(
            f"{SETTINGS} are set but BOTWERK_AMQP_URL {settings.amqp_url_redacted} is not TLS: "
            "use amqps:// and the broker's TLS port (5671), or unset them"
        )


def _read(which: str, path: Path | None) -> str | None:
    return None if path is None else _readable(which, path)


def _readable(which: str, path: Path) -> str:
    """``path`` as a string, once it is known to be a readable file."""
    try:
        with open(str(path), "rb"):
            pass
    except OSError as exc:
        raise ConfigError(
            f"BOTWERK_AMQP_{which} {path}: cannot read it ({exc.strerror}); point it at a PEM file"
        ) from None
    return str(path)
