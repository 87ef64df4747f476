"""Settings from environment variables (12-factor), validated once at start-up.

Every variable of the contract's "Settings" table is read here and nowhere else. A value that
cannot be used stops the start-up with a :class:`ConfigError` naming the variable, instead of
failing later on the first request that needs it.
"""

from __future__ import annotations

import logging
import re
import secrets
from collections.abc import Mapping
from datetime import timedelta
from urllib.parse import parse_qsl, urlsplit

from limits import parse_many
from pymongo import common, uri_parser
from pymongo.errors import PyMongoError

log = logging.getLogger(__name__)

MIN_KEY_BYTES = 32
_TRUE = {"1", "true", "yes", "on"}
_FALSE = {"0", "false", "no", "off"}
_LOG_LEVELS = {"CRITICAL", "ERROR", "WARNING", "INFO", "DEBUG"}
#: Logins per client address. The embedded store is for trying the API on a laptop: a person
#: running the README's walk-through, /docs and a script of their own for a few minutes logs in
#: far more than 10 times a minute from 127.0.0.1. A deployment (MONGODB_URI) keeps the strict
#: limit against password guessing.
TOKEN_LIMIT = "10 per minute"
EMBEDDED_TOKEN_LIMIT = "60 per minute"


class ConfigError(ValueError):
    """An environment variable holds a value the service cannot run with."""


# MongoDB URI option names the driver accepts, case-insensitively
_KNOWN_URI_OPTIONS = frozenset(name.lower() for name in common.URI_OPTIONS_VALIDATOR_MAP)


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


#: The largest IMPORT_MAX_BYTES: an imported todo's id holds its line number in 3 bytes
#: (mongo_todos/jobs/imports.py, line_id), so no valid line may be numbered 2**24 or more. A
#: valid line is at least 12 bytes (``{"name":"x"}``), so a body of up to 2**24 + 10 bytes
#: cannot reach that number; 16 MiB, the default, is the round bound below it.
IMPORT_MAX_BYTES_LIMIT = 16 * 1024 * 1024


def _import_max_bytes(env: Mapping[str, str]) -> int:
    value = _int(env, "IMPORT_MAX_BYTES", IMPORT_MAX_BYTES_LIMIT, minimum=1024)
    if value > IMPORT_MAX_BYTES_LIMIT:
        raise ConfigError(
            f"IMPORT_MAX_BYTES={value} is more than {IMPORT_MAX_BYTES_LIMIT} (16 MiB), the most "
            "an import can take: an imported todo's id holds its line number in 3 bytes")
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
            raise ConfigError(
                f"{name} is required when MONGODB_URI is set (32+ random bytes, e.g. "
                "python3 -c 'import secrets; print(secrets.token_urlsafe(48))')"
            )
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
    if parts.scheme == "mongodb":
        # the driver's own parser, so a bad port or option stops the start-up here rather than
        # as a traceback from the driver (a mongodb+srv:// URI needs DNS: checked on connect).
        # Its message names the part at fault, never the password.
        # Unknown options are named here, in our words: the driver's wording changes between
        # releases (4.20 stopped naming the option).
        unknown = [
            key for key, _ in parse_qsl(parts.query, keep_blank_values=True)
            if key.lower() not in _KNOWN_URI_OPTIONS
        ]
        if unknown:
            raise ConfigError(
                "MONGODB_URI is not a valid MongoDB URI: unknown option(s) " + ", ".join(unknown)
            )
        try:
            uri_parser.parse_uri(raw)
        except (ValueError, PyMongoError) as err:
            message = str(err).splitlines()[0].split(" Hint:")[0]
            raise ConfigError(f"MONGODB_URI is not a valid MongoDB URI: {message}") from None
    return raw


def _storage_uri(env: Mapping[str, str]) -> str:
    raw = (env.get("RATELIMIT_STORAGE_URI") or "").strip() or "memory://"
    if urlsplit(raw).scheme not in ("memory", "redis", "rediss", "redis+unix"):
        raise ConfigError(
            f"RATELIMIT_STORAGE_URI must be memory:// or redis://host:port/db, got {raw!r}"
        )
    return raw


def _broker_url(env: Mapping[str, str]) -> str | None:
    """JOBS_BROKER_URL: a Redis URL (``redis://[:password@]host[:port][/db]``, or rediss://
    for TLS), or None. The message never repeats a password."""
    raw = (env.get("JOBS_BROKER_URL") or "").strip()
    if not raw:
        return None
    try:
        parts = urlsplit(raw)
        port = parts.port  # ValueError when not a number in range
    except ValueError:
        parts, port = None, None
    shown = re.sub(r"//[^@/]*@", "//***@", raw)
    db = parts.path.lstrip("/") if parts else ""
    if (parts is None or parts.scheme not in ("redis", "rediss") or not parts.hostname
            or (port is not None and not 0 < port < 65536) or not (db == "" or db.isdigit())):
        raise ConfigError(
            f"JOBS_BROKER_URL must be a Redis URL like redis://host:6379/0 (or rediss:// for "
            f"TLS), got {shown!r}"
        )
    return raw


_HOST = re.compile(r"^(\*\.)?[a-z0-9]([a-z0-9-]*[a-z0-9])?(\.[a-z0-9]([a-z0-9-]*[a-z0-9])?)*$")
_LABELS = r"(?:[a-z0-9](?:[a-z0-9-]*[a-z0-9])?\.)+"


def _origins(env: Mapping[str, str]) -> list[str]:
    """Exact origins (``https://app.example``), ``*`` (any), or one leading wildcard label
    (``https://*.example.com``: any subdomain, at any depth, not the apex). Anything else,
    paths, other wildcards, regex syntax, is refused: flask-cors would read it as a regular
    expression matched as a prefix."""
    raw = env.get("CORS_ORIGINS") or ""
    origins = [o.strip().rstrip("/") for o in raw.split(",") if o.strip()]
    for origin in origins:
        if origin == "*":
            continue
        try:
            parts = urlsplit(origin)
            port = parts.port  # ValueError when not a number in range
        except ValueError:
            parts, port = None, None
        host = (parts.hostname or "") if parts else ""
        netloc = f"{host}:{port}" if port is not None else host
        if (parts is None or parts.scheme not in ("http", "https") or not _HOST.match(host)
                or parts.netloc.lower() != netloc or parts.path or parts.query
                or parts.fragment):
            raise ConfigError(
                f"CORS_ORIGINS entry {origin!r} is not an origin like https://host[:port], "
                "'*', or https://*.domain for any subdomain"
            )
    return origins


def cors_origin_patterns(origins: list[str]) -> list:
    """What flask-cors is given for :func:`_origins`' entries: compiled patterns matching the
    whole origin, never a bare string it would treat as a prefix regex."""
    patterns: list = []
    for origin in origins:
        if origin == "*":
            patterns.append("*")
            continue
        parts = urlsplit(origin)
        host = parts.hostname or ""
        port = f":{parts.port}" if parts.port is not None else ""
        if host.startswith("*."):
            body = _LABELS + re.escape(host[2:])
        else:
            body = re.escape(host)
        patterns.append(re.compile(f"{re.escape(parts.scheme)}://{body}{re.escape(port)}\\Z",
                                   re.IGNORECASE))
    return patterns


def _public_base_url(env: Mapping[str, str]) -> str | None:
    raw = (env.get("PUBLIC_BASE_URL") or "").strip().rstrip("/")
    if not raw:
        return None
    try:
        parts = urlsplit(raw)
        parts.port  # noqa: B018 (ValueError when not a number in range)
    except ValueError:
        parts = None
    if (parts is None or parts.scheme not in ("http", "https") or not parts.hostname
            or parts.username or parts.password or parts.path or parts.query or parts.fragment):
        raise ConfigError(
            f"PUBLIC_BASE_URL={raw!r} is not a base URL like https://api.example.com "
            "(scheme and host, an optional port, no path)"
        )
    return raw


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
        # a spent refresh token presented again this soon gets the pair it already produced
        "JWT_REFRESH_REUSE_LEEWAY": timedelta(
            seconds=_int(env, "JWT_REFRESH_REUSE_LEEWAY", 30, minimum=0)
        ),
        # a login ends this long after it started, however often it is refreshed
        "SESSION_MAX_AGE": timedelta(seconds=_int(env, "SESSION_MAX_AGE", 7776000, minimum=60)),
        "REGISTRATION_OPEN": _bool(env, "REGISTRATION_OPEN", True),
        "REQUIRE_IF_MATCH": _bool(env, "REQUIRE_IF_MATCH", False),
        "RATELIMIT_ENABLED": _bool(env, "RATELIMIT_ENABLED", True),
        "RATELIMIT_DEFAULT": _limit(env, "RATELIMIT_DEFAULT", "300 per minute"),
        "RATELIMIT_TOKEN": _limit(
            env, "RATELIMIT_TOKEN", EMBEDDED_TOKEN_LIMIT if embedded else TOKEN_LIMIT
        ),
        "RATELIMIT_STORAGE_URI": _storage_uri(env),
        "TRUSTED_PROXY_COUNT": _int(env, "TRUSTED_PROXY_COUNT", 0, minimum=0),
        "MAX_CONTENT_LENGTH": _int(env, "MAX_CONTENT_LENGTH", 1048576, minimum=1024),
        # seconds a request body may take to arrive (gevent worker; sync: gunicorn's timeout)
        "BODY_READ_TIMEOUT": _int(env, "BODY_READ_TIMEOUT", 10, minimum=1),
        "CORS_ORIGINS": _origins(env),
        "PUBLIC_BASE_URL": _public_base_url(env),
        "TODO_QUOTA": _int(env, "TODO_QUOTA", 10000, minimum=0),
        # seconds a deleted todo is remembered for the changes feed (and its 410)
        "SYNC_TOMBSTONE_TTL": _int(env, "SYNC_TOMBSTONE_TTL", 2592000, minimum=60),
        # deleted todos an account's feed remembers at most (0: no cap; older tokens: 410)
        "SYNC_TOMBSTONES_PER_USER": _int(env, "SYNC_TOMBSTONES_PER_USER", 10000, minimum=0),
        "LOG_LEVEL": level,
        # with MONGODB_URI: the driver's client-side timeout for one request (0: none)
        "MONGODB_REQUEST_TIMEOUT_MS": _int(env, "MONGODB_REQUEST_TIMEOUT_MS", 5000, minimum=0),
        **_jobs(env),
        **_passwords(env),
    }


#: scrypt's work factor N (a power of two) and pbkdf2's iterations: the floors a deployment may
#: not go below (werkzeug's defaults are 2**15 and 1,000,000).
SCRYPT_N_RANGE = (2**14, 2**20)
PBKDF2_MIN_ITERATIONS = 100_000
_HASH_METHOD = re.compile(r"scrypt(?::(\d+):(\d+):(\d+))?|pbkdf2:sha256(?::(\d+))?")


def _password_hash_method(env: Mapping[str, str]) -> str:
    raw = (env.get("PASSWORD_HASH_METHOD") or "").strip()
    if not raw:
        return "scrypt"
    match = _HASH_METHOD.fullmatch(raw)
    ok = match is not None
    if ok and match.group(1):
        n, r, p = (int(match.group(i)) for i in (1, 2, 3))
        ok = (SCRYPT_N_RANGE[0] <= n <= SCRYPT_N_RANGE[1] and n & (n - 1) == 0
              and 1 <= r <= 32 and 1 <= p <= 16 and n * r <= 2**21)  # 128·N·r: 256 MiB
    elif ok and match.group(4):
        ok = int(match.group(4)) >= PBKDF2_MIN_ITERATIONS
    if not ok:
        raise ConfigError(
            f"PASSWORD_HASH_METHOD={raw!r} is not scrypt[:N:r:p] (N a power of two from 2**14 "
            f"to 2**20, r 1..32, p 1..16, N·r at most 2**21: 256 MiB a hash) or "
            f"pbkdf2:sha256[:iterations] (at least "
            f"{PBKDF2_MIN_ITERATIONS})")
    return raw


def _passwords(env: Mapping[str, str]) -> dict:
    """How passwords are hashed, and by whom (mongo_todos.web.offload)."""
    priority = (env.get("PASSWORD_HASH_PRIORITY") or "idle").strip().lower()
    if priority != "idle" and not (priority.isdigit() and int(priority) <= 19):
        raise ConfigError(f"PASSWORD_HASH_PRIORITY={priority!r} is not idle or a niceness "
                          "from 0 to 19")
    return {
        # new hashes (a stored hash keeps the method it was made with, and still verifies)
        "PASSWORD_HASH_METHOD": _password_hash_method(env),
        # native threads per process computing hashes at once: more logins wait their turn
        "PASSWORD_HASH_THREADS": _int(env, "PASSWORD_HASH_THREADS", 2, minimum=1),
        # those threads' CPU priority (Linux): idle (SCHED_IDLE) or a niceness (0: the usual),
        # so a hash takes the CPU that requests leave
        "PASSWORD_HASH_PRIORITY": priority if priority == "idle" else int(priority),
    }


def _jobs(env: Mapping[str, str]) -> dict:
    """The background jobs' settings (mongo_todos/jobs)."""
    return {
        "JOBS_PER_USER": _int(env, "JOBS_PER_USER", 3, minimum=1),
        "EXPORT_TTL": _int(env, "EXPORT_TTL", 86400, minimum=60),
        # finished exports an account keeps: the next to finish removes the oldest's file
        "EXPORTS_PER_USER": _int(env, "EXPORTS_PER_USER", 10, minimum=1),
        "IMPORT_MAX_BYTES": _import_max_bytes(env),
        # the Celery broker; None: the serving process runs jobs itself
        "JOBS_BROKER_URL": _broker_url(env),
        # seconds before a job taken by a worker that died is delivered again (jobs/broker.py)
        "JOBS_VISIBILITY_TIMEOUT": _int(env, "JOBS_VISIBILITY_TIMEOUT", 900, minimum=1),
    }
