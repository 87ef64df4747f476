"""Settings from environment variables (12-factor), validated once at start-up.

Every variable of the contract's "Settings" table is read here and nowhere else. A value that
cannot be used stops the start-up with a :class:`ConfigError` naming the variable, instead of
failing later on the first request that needs it.
"""

from __future__ import annotations

import logging
import secrets
from collections.abc import Mapping
from datetime import timedelta
from urllib.parse import urlsplit

from limits import parse_many

log = logging.getLogger(__name__)

MIN_KEY_BYTES = 32
_TRUE = {"1", "true", "yes", "on"}
_FALSE = {"0", "false", "no", "off"}
_LOG_LEVELS = {"CRITICAL", "ERROR", "WARNING", "INFO", "DEBUG"}


class ConfigError(ValueError):
    """An environment variable holds a value the service cannot run with."""


def _bool(env: Mapping[str, str], name: str, default: bool) -> bool:
    raw = env.get(name)
    if raw is None or raw.strip() == "":
        return default
    value = raw.strip().lower()
    if value in _TRUE:
        return True
    if value in _FALSE:
        return False
    raise ConfigError(f"{name}={raw!r} is not a boolean (use true or false)")


def _int(env: Mapping[str, str], name: str, default: int, minimum: int) -> int:
    raw = env.get(name)
    if raw is None or raw.strip() == "":
        return default
    try:
        value = int(raw.strip())
    except ValueError:
        raise ConfigError(f"{name}={raw!r} is not a whole number") from None
    if value < minimum:
        raise ConfigError(f"{name}={raw!r} must be at least {minimum}")
    return value


def _limit(env: Mapping[str, str], name: str, default: str) -> str:
    raw = (env.get(name) or "").strip() or default
    try:
        parse_many(raw)
    except ValueError:
        raise ConfigError(
            f"{name}={raw!r} is not a rate limit (flask-limiter syntax, e.g. '300 per minute')"
        ) from None
    return raw


def _key(env: Mapping[str, str], name: str, embedded: bool, quiet: bool = False) -> str:
    raw = env.get(name)
    if raw is None or raw == "":
        if not embedded:
            raise ConfigError(f"{name} is required when MONGODB_URI is set")
        if not quiet:
                log.warning("%s is not set: using a random key, tokens end with this process", name)
        return secrets.token_urlsafe(48)
    if len(raw.encode()) < MIN_KEY_BYTES:
        raise ConfigError(f"{name} must be at least {MIN_KEY_BYTES} bytes long")
    return raw


def _mongodb_uri(env: Mapping[str, str]) -> str | None:
    raw = (env.get("MONGODB_URI") or "").strip()
    if not raw:
        return None
    parts = urlsplit(raw)
    if parts.scheme not in ("mongodb", "mongodb+srv") or not parts.netloc:
        raise ConfigError(f"MONGODB_URI must be a mongodb:// or mongodb+srv:// URI, got {raw!r}")
    return raw


def _storage_uri(env: Mapping[str, str]) -> str:
    raw = (env.get("RATELIMIT_STORAGE_URI") or "").strip() or "memory://"
    if urlsplit(raw).scheme not in ("memory", "redis", "rediss", "redis+unix"):
        raise ConfigError(
            f"RATELIMIT_STORAGE_URI must be memory:// or redis://host:port/db, got {raw!r}"
        )
    return raw


def _origins(env: Mapping[str, str]) -> list[str]:
    raw = env.get("CORS_ORIGINS") or ""
    origins = [o.strip().rstrip("/") for o in raw.split(",") if o.strip()]
    for origin in origins:
        parts = urlsplit(origin)
        if origin != "*" and (parts.scheme not in ("http", "https") or not parts.netloc):
            raise ConfigError(f"CORS_ORIGINS entry {origin!r} is not an origin like https://host")
    return origins


def from_env(env: Mapping[str, str], quiet: bool = False) -> dict:
    """Flask configuration built from ``env``; raises ConfigError on an invalid value.
    ``quiet``: a check only (no warning about random keys: the app that runs makes its own)."""
    uri = _mongodb_uri(env)
    embedded = uri is None
    level = (env.get("LOG_LEVEL") or "INFO").strip().upper()
    if level not in _LOG_LEVELS:
        raise ConfigError(f"LOG_LEVEL={level!r} is not one of {', '.join(sorted(_LOG_LEVELS))}")
    return {
        "MONGODB_URI": uri,
        "EMBEDDED_DB": embedded,
        "SECRET_KEY": _key(env, "SECRET_KEY", embedded, quiet),
        "JWT_SECRET_KEY": _key(env, "JWT_SECRET_KEY", embedded, quiet),
        "JWT_ACCESS_TOKEN_EXPIRES": timedelta(
            seconds=_int(env, "JWT_ACCESS_TOKEN_EXPIRES", 900, minimum=1)
        ),
        "JWT_REFRESH_TOKEN_EXPIRES": timedelta(
            seconds=_int(env, "JWT_REFRESH_TOKEN_EXPIRES", 2592000, minimum=1)
        ),
        "REGISTRATION_OPEN": _bool(env, "REGISTRATION_OPEN", True),
        "REQUIRE_IF_MATCH": _bool(env, "REQUIRE_IF_MATCH", False),
        "RATELIMIT_ENABLED": _bool(env, "RATELIMIT_ENABLED", True),
        "RATELIMIT_DEFAULT": _limit(env, "RATELIMIT_DEFAULT", "300 per minute"),
        "RATELIMIT_TOKEN": _limit(env, "RATELIMIT_TOKEN", "10 per minute"),
        "RATELIMIT_STORAGE_URI": _storage_uri(env),
        "TRUSTED_PROXY_COUNT": _int(env, "TRUSTED_PROXY_COUNT", 0, minimum=0),
        "MAX_CONTENT_LENGTH": _int(env, "MAX_CONTENT_LENGTH", 1048576, minimum=1024),
        "CORS_ORIGINS": _origins(env),
        "LOG_LEVEL": level,
    }
