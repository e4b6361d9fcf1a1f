"""Strict readers for settings that come from the environment.

A malformed value stops start-up with ImproperlyConfigured naming the variable:
a typo in production must never fall back silently to a development default.
"""

import os
from pathlib import Path
from urllib.parse import urlsplit

import dj_database_url
from django.core.exceptions import ImproperlyConfigured

_TRUE = {"1", "true", "yes", "on"}
_FALSE = {"0", "false", "no", "off"}


def _raw(name: str) -> str | None:
    value = os.environ.get(name)
    if value is None or value.strip() == "":
        return None
    return value.strip()


def env_str(name: str, default: str | None = None) -> str | None:
    value = _raw(name)
    return default if value is None else value


def env_bool(name: str, default: bool) -> bool:
    value = _raw(name)
    if value is None:
        return default
    if value.lower() in _TRUE:
        return True
    if value.lower() in _FALSE:
        return False
    raise ImproperlyConfigured(f"{name} must be a boolean (true/false, 1/0, yes/no); got {value!r}")


def env_int(name: str, default: int, *, minimum: int | None = None) -> int:
    value = _raw(name)
    if value is None:
        return default
    try:
        number = int(value)
    except ValueError:
        raise ImproperlyConfigured(f"{name} must be an integer; got {value!r}") from None
    if minimum is not None and number < minimum:
        raise ImproperlyConfigured(f"{name} must be at least {minimum}; got {number}")
    return number


def env_float(name: str, default: float, *, minimum: float | None = None) -> float:
    value = _raw(name)
    if value is None:
        return default
    try:
        number = float(value)
    except ValueError:
        raise ImproperlyConfigured(f"{name} must be a number; got {value!r}") from None
    if minimum is not None and number < minimum:
        raise ImproperlyConfigured(f"{name} must be at least {minimum}; got {number}")
    return number


def env_list(name: str, default: list[str]) -> list[str]:
    value = _raw(name)
    if value is None:
        return default
    return [item.strip() for item in value.split(",") if item.strip()]


def env_email(name: str, default: str) -> str:
    value = env_str(name, default)
    if "@" not in value or value.startswith("@") or value.endswith("@") or " " in value:
        raise ImproperlyConfigured(f"{name} must be an email address; got {value!r}")
    return value


def env_database(name: str, default: str, *, conn_max_age: int = 0) -> dict:
    """Django's settings for the database at URL `name`. Connections are kept for
    `conn_max_age` seconds (0: closed after every request and task) and checked before their
    first use in each request or task, so one that a database restart cut is replaced, not
    failed on."""
    url = env_str(name, default)
    scheme = urlsplit(url).scheme
    if scheme not in {"sqlite", "postgres", "postgresql", "pgsql"}:
        raise ImproperlyConfigured(
            f"{name} must be a sqlite:// or postgres:// URL; got scheme {scheme!r}"
        )
    try:
        config = dj_database_url.parse(
            url, conn_max_age=conn_max_age, conn_health_checks=conn_max_age > 0
        )
    except ValueError as error:
        raise ImproperlyConfigured(f"{name} is not a valid database URL: {error}") from None
    if config["ENGINE"] == "django.db.backends.postgresql":
        # A server that is down or unreachable must fail fast (requests, /healthz, workers).
        config.setdefault("OPTIONS", {}).setdefault("connect_timeout", 5)
    if config["ENGINE"] == "django.db.backends.sqlite3":
        # Web and worker write at once in embedded mode: WAL + immediate transactions
        # + a busy timeout turn "database is locked" into a short wait.
        config["OPTIONS"] = {
            "transaction_mode": "IMMEDIATE",
            "timeout": 20,
            "init_command": "PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL;",
        }
    return config


def env_url(name: str, default: str, *, schemes: set[str]) -> str:
    url = env_str(name, default)
    scheme = urlsplit(url).scheme
    if scheme not in schemes:
        allowed = ", ".join(sorted(f"{s}://" for s in schemes))
        raise ImproperlyConfigured(f"{name} must start with one of {allowed}; got {url!r}")
    return url


def env_header(name: str) -> tuple[str, str] | None:
    """A request header and the value it must have, written "Header-Name: value", as
    Django's SECURE_PROXY_SSL_HEADER wants it: ("HTTP_HEADER_NAME", "value")."""
    value = _raw(name)
    if value is None:
        return None
    header, colon, expected = value.partition(":")
    header, expected = header.strip(), expected.strip()
    if not colon or not header or not expected or not all(c.isalnum() or c == "-" for c in header):
        raise ImproperlyConfigured(
            f"{name} must look like 'X-Forwarded-Proto: https'; got {value!r}"
        )
    return "HTTP_" + header.upper().replace("-", "_"), expected


def env_dkim_key(name: str) -> str | None:
    """A DKIM private key, given as PEM text or as the path of a PEM file; checked now.

    Literal newlines are hard to put in some environments, so "\\n" in PEM text counts as one.
    """
    from dkim.crypto import UnparsableKeyError, parse_pem_private_key

    value = _raw(name)
    if value is None:
        return None
    if "-----BEGIN" in value:
        pem = value.replace("\\n", "\n")
    else:
        try:
            pem = Path(value).read_text(encoding="ascii")
        except (OSError, UnicodeDecodeError) as error:
            raise ImproperlyConfigured(
                f"{name} must be a PEM private key or the path of one; cannot read {value!r}: "
                f"{error}"
            ) from None
    try:
        parse_pem_private_key(pem.encode("ascii"))
    except (UnparsableKeyError, UnicodeEncodeError, ValueError, IndexError) as error:
        raise ImproperlyConfigured(
            f"{name} is not a valid RSA private key (PEM): {error}"
        ) from None
    return pem


def env_language(name: str, default: str, languages: list[tuple[str, str]]) -> str:
    """One of the site's language codes (LANGUAGES), such as "es"."""
    value = env_str(name, default)
    codes = [code for code, _name in languages]
    if value not in codes:
        raise ImproperlyConfigured(f"{name} must be one of {', '.join(codes)}; got {value!r}")
    return value
