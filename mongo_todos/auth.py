"""Passwords, token issuance, rotation and revocation, and every token error as a 401.

A login starts a *family*: a random id carried (claim ``fam``) by its access and refresh
tokens and by every pair later rotated from them. Each refresh token is recorded once
(:class:`~mongo_todos.models.RefreshToken`) and spent atomically when used, so presenting a spent
one again is detected; that is treated as theft and the whole family is revoked
(:class:`~mongo_todos.models.RevokedFamily`), as is logging out. Every authenticated request
checks its family against the revocations: one indexed ``_id`` lookup.
"""

from __future__ import annotations

import secrets
from datetime import timedelta

from bson import ObjectId
from flask import Flask, current_app, g
from flask_jwt_extended import create_access_token, create_refresh_token, get_jwt
from werkzeug.security import check_password_hash, generate_password_hash

from . import errors
from .dates import utcnow
from .extensions import jwt
from .models import RefreshToken, RevokedFamily, User

DEFAULT_HASH_METHOD = "scrypt"
REALM = 'realm="mongo_todos"'


# --- passwords -----------------------------------------------------------------------------

def hash_password(password: str) -> str:
    """A slow salted hash (scrypt unless the app sets ``PASSWORD_HASH_METHOD``)."""
    return generate_password_hash(
        password, method=current_app.config.get("PASSWORD_HASH_METHOD", DEFAULT_HASH_METHOD)
    )


def _dummy_hash() -> str:
    """A hash checked for unknown usernames, so they cost as much time as a wrong password."""
    cache = current_app.extensions.setdefault("mongo_todos", {})
    if "dummy_hash" not in cache:
        cache["dummy_hash"] = hash_password(secrets.token_urlsafe(16))
    return cache["dummy_hash"]


def authenticate(username: str, password: str) -> User | None:
    """The user with these credentials, or None; the same work whether or not they exist."""
    user = User.objects(username_key=username.lower()).first()
    if user is None:
        check_password_hash(_dummy_hash(), password)
        return None
    return user if check_password_hash(user.password_hash, password) else None


# --- tokens --------------------------------------------------------------------------------

def current_owner() -> ObjectId:
    """The id of the user the request's access token belongs to."""
    if "owner_id" not in g:
        g.owner_id = ObjectId(get_jwt()["sub"])
    return g.owner_id


def issue_tokens(user_id: ObjectId, family: str | None = None) -> dict:
    """A new access/refresh pair for ``user_id``, in ``family`` (a new login when None)."""
    config = current_app.config
    family = family or secrets.token_hex(16)
    refresh_jti = secrets.token_hex(16)
    identity = str(user_id)
    RefreshToken(
        jti=refresh_jti,
        family=family,
        user=user_id,
        expires_at=utcnow() + config["JWT_REFRESH_TOKEN_EXPIRES"],
    ).save(force_insert=True)
    access_lifetime: timedelta = config["JWT_ACCESS_TOKEN_EXPIRES"]
    return {
        "access_token": create_access_token(identity, additional_claims={"fam": family}),
        "refresh_token": create_refresh_token(
            identity, additional_claims={"fam": family, "jti": refresh_jti}
        ),
        "token_type": "Bearer",
        "expires_in": int(access_lifetime.total_seconds()),
    }


def spend_refresh_token(jti: str) -> bool:
    """Mark a refresh token used; False if it was already spent (or is unknown)."""
    return RefreshToken.objects(jti=jti, used=False).update_one(set__used=True) == 1


def revoke_family(family: str) -> None:
    """Refuse every token of this login from now on (idempotent)."""
    config = current_app.config
    lifetime = max(config["JWT_REFRESH_TOKEN_EXPIRES"], config["JWT_ACCESS_TOKEN_EXPIRES"])
    RevokedFamily.objects(family=family).update_one(
        upsert=True, set__expires_at=utcnow() + lifetime
    )
    if "revoked_families" in g:  # this request's memo of token_is_revoked
        g.revoked_families[family] = True


def token_is_revoked(jwt_payload: dict) -> bool:
    """Whether the token's login was revoked; looked up once per request (the rate limiter
    asks before the view does)."""
    family = jwt_payload.get("fam")
    if not isinstance(family, str):
        return True  # every token this service signs has a family
    known = g.setdefault("revoked_families", {})
    if family not in known:
        # the raw collection: one indexed _id lookup without building a MongoEngine queryset
        found = RevokedFamily._get_collection().find_one({"_id": family}, {"_id": 1})
        known[family] = found is not None
    return known[family]


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


def init_app(app: Flask) -> None:
    """Bind Flask-JWT-Extended's callbacks (its own error bodies are never used)."""
    app.config.setdefault("JWT_TOKEN_LOCATION", ["headers"])
    jwt.init_app(app)
    jwt.token_in_blocklist_loader(_is_revoked)
    jwt.unauthorized_loader(
        lambda msg: unauthorized(
            "This request needs 'Authorization: Bearer <access token>'.", token_presented=False
        )
    )
    jwt.invalid_token_loader(lambda msg: unauthorized(f"The token is not valid: {msg}."))
    jwt.expired_token_loader(
        lambda header, payload: unauthorized("The token has expired.", type="token-expired")
    )
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
