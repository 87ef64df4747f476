"""Passwords, usernames, token building and revocation, and every token error as a 401.

A login is a *session* (:mod:`mongo_todos.accounts.sessions`): a random id carried (claim ``fam``, the
token *family*) by its access and refresh tokens and by every pair later rotated from them.
A token is good only while its session document exists: every authenticated request looks
its family up among the sessions (one indexed ``_id`` lookup, the only database read an
ordinary request adds to its own operation). Ending a session (logout, "log out everywhere",
a password change, account deletion, refresh token reuse) deletes that document (and keeps a
:class:`~mongo_todos.store.documents.RevokedFamily` record of it).

Usernames are ASCII (``[A-Za-z0-9_.-]``) and unique case-insensitively. Login applies the
registration rule to what it is given: a name registration would refuse (non-ASCII, a newline)
is an unknown user, so look-alikes such as the Kelvin sign (U+212A) never log in as ``k``.
"""

from __future__ import annotations

import re
import secrets

from bson import ObjectId
from flask import Flask, current_app, g
from flask_jwt_extended import create_access_token, create_refresh_token, get_jwt
from werkzeug.security import check_password_hash, generate_password_hash

from mongo_todos.accounts.schemas import USERNAME_PATTERN
from mongo_todos.dates import utcnow
from mongo_todos.store.documents import RevokedFamily, Session, User
from mongo_todos.web import errors, ratelimit
from mongo_todos.web.api import jwt
from mongo_todos.web.offload import off_hub

DEFAULT_HASH_METHOD = "scrypt"
REALM = 'realm="mongo_todos"'


# --- passwords -----------------------------------------------------------------------------

def hash_password(password: str) -> str:
    """A slow salted hash (scrypt unless the app sets ``PASSWORD_HASH_METHOD``)."""
    # off gevent's hub: other requests go on while the hash runs (mongo_todos.web.offload)
    return off_hub(generate_password_hash, password,
                   current_app.config.get("PASSWORD_HASH_METHOD", DEFAULT_HASH_METHOD))


def _dummy_hash() -> str:
    """A hash checked for unknown usernames, so they cost as much time as a wrong password."""
    cache = current_app.extensions.setdefault("mongo_todos", {})
    if "dummy_hash" not in cache:
        cache["dummy_hash"] = hash_password(secrets.token_urlsafe(16))
    return cache["dummy_hash"]


_USERNAME = re.compile(USERNAME_PATTERN)


def username_key(username: str) -> str | None:
    """The stored, case-insensitive key of a username; None for a name registration refuses.

    ASCII only, so lowercasing is the whole normalisation (for ASCII it equals casefold and
    NFKC changes nothing): one rule for registration, login and the CLI.
    """
    return username.lower() if _USERNAME.fullmatch(username) else None


def authenticate(username: str, password: str) -> User | None:
    """The user with these credentials, or None; the same work whether or not they exist.

    An account being deleted (``deleted_at`` set) cannot log in.
    """
    key = username_key(username)
    user = User.objects(username_key=key).first() if key is not None else None
    if user is None or user.deleted_at is not None:
        off_hub(check_password_hash, _dummy_hash(), password)
        return None
    return user if off_hub(check_password_hash, user.password_hash, password) else None


def check_password(user: User, password: str) -> bool:
    """Whether ``password`` is the account's (for confirming a sensitive change)."""
    return off_hub(check_password_hash, user.password_hash, password)


# --- tokens --------------------------------------------------------------------------------

def current_owner() -> ObjectId:
    """The id of the user the request's access token belongs to."""
    if "owner_id" not in g:
        g.owner_id = ObjectId(get_jwt()["sub"])
    return g.owner_id


def new_jti() -> str:
    return secrets.token_hex(16)


def token_pair(
    user_id: ObjectId, session_id: str, refresh_jti: str, access_jti: str, issued_at: int,
    ends_at: int, now: int | None = None,
) -> dict:
    """The access/refresh pair of a session, built from its claims alone.

    Every claim is given (``iat``/``nbf``/``exp`` included), so the same arguments give the same
    tokens, byte for byte: that is how a refresh retried within the reuse leeway gets the pair
    its first use produced without any token being stored. Both tokens expire at the latest
    when the session does (``ends_at``, seconds since the epoch). ``expires_in`` and
    ``refresh_expires_in`` count from ``now`` (default: ``issued_at``, a pair issued now).
    """
    config = current_app.config
    access_exp = min(issued_at + int(config["JWT_ACCESS_TOKEN_EXPIRES"].total_seconds()), ends_at)
    refresh_exp = min(issued_at + int(config["JWT_REFRESH_TOKEN_EXPIRES"].total_seconds()), ends_at)
    identity = str(user_id)
    # sxp: when the session ends, so an expired token can say whether the login is over
    times = {"fam": session_id, "iat": issued_at, "nbf": issued_at, "sxp": ends_at}
    now = issued_at if now is None else now
    return {
        "access_token": create_access_token(
            identity, additional_claims={**times, "jti": access_jti, "exp": access_exp}
        ),
        "refresh_token": create_refresh_token(
            identity, additional_claims={**times, "jti": refresh_jti, "exp": refresh_exp}
        ),
        "token_type": "Bearer",
        "expires_in": max(access_exp - now, 0),
        "refresh_expires_in": max(refresh_exp - now, 0),
    }


def revocation_expiry():
    """When a revocation written now may be forgotten: after every token it covers expired."""
    config = current_app.config
    return utcnow() + max(config["JWT_REFRESH_TOKEN_EXPIRES"], config["JWT_ACCESS_TOKEN_EXPIRES"])


def revoke_family(family: str) -> None:
    """Record that this login ended (idempotent); its tokens stop once its session document
    is deleted (:func:`token_is_revoked` asks for the session, not for this record)."""
    RevokedFamily._get_collection().update_one(
        {"_id": family}, {"$set": {"expires_at": revocation_expiry()}}, upsert=True
    )
    forget_sessions([family])


def forget_sessions(families) -> None:
    """Keep this request's memo of :func:`token_is_revoked` true after ending ``families``."""
    if "live_sessions" in g:
        g.live_sessions.update(dict.fromkeys(families, False))


def token_is_revoked(jwt_payload: dict) -> bool:
    """Whether the token's login is over. Positive: a token is good only while its session
    document exists for its user, so a wiped store (a restart of the embedded one with fixed
    keys), an account deletion or a password change (which delete the sessions) end it.
    Looked up once per request (the rate limiter asks before the view does)."""
    family = jwt_payload.get("fam")
    if not isinstance(family, str):
        return True  # every token this service signs has a family
    live = g.setdefault("live_sessions", {})
    if family not in live:
        # the raw collection: one indexed _id lookup without building a MongoEngine queryset
        found = Session._get_collection().find_one({"_id": family}, {"user": 1})
        live[family] = found is not None and str(found.get("user")) == jwt_payload.get("sub")
    return not live[family]


def user_unchanged(user: User) -> bool:
    """Whether ``user`` still exists, is not being deleted and has the password it had when
    it was read (one indexed ``_id`` lookup)."""
    return User._get_collection().find_one(
        {"_id": user.id, "password_hash": user.password_hash, "deleted_at": None}, {"_id": 1},
    ) is not None


def _is_revoked(jwt_header: dict, jwt_payload: dict) -> bool:
    return token_is_revoked(jwt_payload)


# --- token errors: all 401 problem+json ---------------------------------------------------

def unauthorized(detail: str, token_presented: bool = True, type: str = "token-invalid"):  # noqa: A002
    challenge = f'Bearer {REALM}'
    if token_presented:
        challenge += ', error="invalid_token"'
    else:
        type = "token-missing" if type == "token-invalid" else type  # noqa: A001
    return errors.problem(401, detail, headers={"WWW-Authenticate": challenge}, type=type)


def _expired(jwt_header: dict, jwt_payload: dict):
    session_end = jwt_payload.get("sxp")
    if isinstance(session_end, int) and jwt_payload.get("exp", 0) >= session_end:
        # refreshing cannot help: the session reached SESSION_MAX_AGE
        return unauthorized("This login reached its maximum age and has ended; log in again.",
                            type="session-expired")
    return unauthorized("The token has expired.", type="token-expired")


def _invalid(message: str):
    """401 for a token that does not verify; a bad signature says the likely why."""
    if message == "Signature verification failed":
        # the usual cause: the embedded default makes new random keys at every start (and a
        # deployment that rotates JWT_SECRET_KEY ends every token signed with the old one)
        return unauthorized(
            "The token is not valid: Signature verification failed. It was signed with "
            "another key than this server's: the server restarted with new keys (the "
            "embedded default makes new ones at every start) or the token is from another "
            "deployment. Log in again.")
    return unauthorized(f"The token is not valid: {message}.")


def init_app(app: Flask) -> None:
    """Bind Flask-JWT-Extended's callbacks (its own error bodies are never used)."""
    app.config.setdefault("JWT_TOKEN_LOCATION", ["headers"])
    # tokens travel in headers, never cookies: no CSRF claim (a random one would also stop
    # token_pair from rebuilding a pair byte for byte)
    app.config.setdefault("JWT_COOKIE_CSRF_PROTECT", False)
    jwt.init_app(app)
    jwt.token_in_blocklist_loader(_is_revoked)
    # the rate limiter counts a revoked token's requests by address, not in its user's bucket
    ratelimit.check_revocation_with(app, token_is_revoked)
    jwt.unauthorized_loader(
        lambda msg: unauthorized(
            "This request needs 'Authorization: Bearer <access token>'.", token_presented=False,
            type="token-missing",
        )
    )
    jwt.invalid_token_loader(_invalid)
    jwt.expired_token_loader(_expired)
    jwt.revoked_token_loader(
        lambda header, payload: unauthorized("The token has been revoked.", type="token-revoked")
    )
    jwt.needs_fresh_token_loader(lambda header, payload: unauthorized("A fresh token is needed."))
    jwt.token_verification_failed_loader(
        lambda header, payload: unauthorized("The token failed verification.")
    )
    jwt.user_lookup_error_loader(
        lambda header, payload: unauthorized("The token's user does not exist.")
    )
