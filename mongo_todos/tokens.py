"""Tokens: log in, rotate a refresh token, log out."""

from __future__ import annotations

import logging

from flask import request
from flask_jwt_extended import get_jwt, jwt_required
from flask_smorest import abort
from marshmallow import ValidationError

from .auth import (
    authenticate,
    current_owner,
    issue_tokens,
    revoke_family,
    spend_refresh_token,
    unauthorized,
)
from .body import json_object
from .extensions import Blueprint
from .schemas import CredentialsSchema, TokenSchema

log = logging.getLogger(__name__)
blp = Blueprint("tokens", __name__, url_prefix="/api/v1/tokens", description="Tokens")

#: Token responses must never be cached by a browser or a proxy.
NO_STORE = {"Cache-Control": "no-store", "Pragma": "no-cache"}
_credentials = CredentialsSchema()


def _credentials_from_request() -> tuple[str, str] | None:
    """HTTP Basic credentials, else a JSON body's; None when neither was sent."""
    basic = request.authorization
    if basic is not None and basic.type == "basic":
        return basic.username or "", basic.password or ""
    body = json_object()
    if body is None:
        return None
    try:
        data = _credentials.load(body)
    except ValidationError as err:
        abort(422, messages=err.messages)
    return data["username"], data["password"]


@blp.route("", methods=["POST"])
@blp.doc(
    security=[{"basicAuth": []}, {}],
    requestBody={
        "required": False,
        "description": "JSON credentials, when HTTP Basic is not used",
        "content": {"application/json": {"schema": CredentialsSchema}},
    },
)
@blp.response(200, TokenSchema)
def new():
    """Log in: trade a username and password for an access and a refresh token."""
    credentials = _credentials_from_request()
    if credentials is None:
        return unauthorized("Send credentials with HTTP Basic or as a JSON body.", False)
    user = authenticate(*credentials)
    if user is None:
        log.info("login failed for username %r from %s", credentials[0][:64], request.remote_addr)
        return unauthorized("The username or password is wrong.", False, type="credentials-invalid")
    return issue_tokens(user.id), NO_STORE


@blp.route("/refresh", methods=["POST"])
@blp.response(200, TokenSchema)
@jwt_required(refresh=True)
def refresh():
    """Trade a refresh token for a new pair; the one presented is spent."""
    claims = get_jwt()
    # record the new pair before spending the old token: if the database fails in between,
    # the client still holds a usable refresh token instead of one that looks stolen
    tokens = issue_tokens(current_owner(), claims["fam"])
    if not spend_refresh_token(claims["jti"]):
        # a spent refresh token came back: someone else may hold it, end the whole login
        revoke_family(claims["fam"])
        log.warning("refresh token reuse for user %s: login %s revoked", claims["sub"], claims["fam"])
        return unauthorized(
            "This refresh token was already used; every token of this login is now revoked.",
            type="token-revoked",
        )
    return tokens, NO_STORE


@blp.route("", methods=["DELETE"])
@blp.response(204)
@jwt_required()
def delete():
    """Log out: revoke this access token and its whole refresh family."""
    revoke_family(get_jwt()["fam"])
    return "", 204
