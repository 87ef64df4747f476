"""Tokens: log in, rotate a refresh token, log out (the session storage is :mod:`.sessions`)."""

from __future__ import annotations

import logging

from flask import request
from flask_jwt_extended import decode_token, get_jwt, jwt_required
from flask_smorest import abort
from marshmallow import ValidationError

from mongo_todos.accounts.auth import authenticate, unauthorized, user_unchanged, username_key
from mongo_todos.accounts.schemas import CredentialsSchema, TokenPairSchema
from mongo_todos.accounts.sessions import end_session, rotate, start_session
from mongo_todos.web.api import Blueprint
from mongo_todos.web.ratelimit import anonymous, login_limit
from mongo_todos.web.request_body import json_object

log = logging.getLogger("mongo_todos.tokens")
blp = Blueprint("tokens", __name__, url_prefix="/api/v1/tokens", description="Tokens")

#: Token responses must never be cached by a browser or a proxy.
NO_STORE = {"Cache-Control": "no-store", "Pragma": "no-cache"}
_credentials = CredentialsSchema()


def _credentials_from_request() -> tuple[str, str] | None:
    """HTTP Basic credentials, else a JSON body's; None when neither was sent."""
    try:
        basic = request.authorization
    except ValueError:  # Werkzeug: a Basic header with non-ASCII characters
        basic = None
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
@anonymous
@login_limit(username_key)
@blp.doc(
    security=[{"basicAuth": []}, {}],
    requestBody={
        "required": False,
        "description": "JSON credentials, when HTTP Basic is not used",
        "content": {"application/json": {"schema": CredentialsSchema}},
    },
    operationId="logIn",
    description="Send HTTP Basic credentials or a JSON body `{\"username\", \"password\"}`. "
                "The response is not cacheable. Wrong credentials are a 401 of type "
                "`/api/v1/problems/credentials-invalid`, whether or not the user exists. "
                "In /docs: *Authorize* with basicAuth (demo / demo-password), execute, then "
                "*Authorize* bearerAuth with the `access_token`.",
)
@blp.response(200, TokenPairSchema)
def new():
    """Log in: trade a username and password for an access and a refresh token."""
    credentials = _credentials_from_request()
    if credentials is None:
        return unauthorized("Send credentials with HTTP Basic or as a JSON body.", False)
    user = authenticate(*credentials)
    if user is None:
        log.info("login failed for username %r from %s", credentials[0][:64], request.remote_addr)
        return unauthorized("The username or password is wrong.", False, type="credentials-invalid")
    tokens = start_session(user.id)
    # A deletion or a password change writes the user first and then sweeps the sessions
    # (users.delete_account, users.set_password). This login inserted its session before
    # re-reading the user: if the re-read finds the user unchanged, any such write comes
    # later, so its sweep finds this session; if not, the sweep may have missed it, and the
    # login ends itself.
    if not user_unchanged(user):
        end_session(decode_token(tokens["refresh_token"])["fam"])
        return unauthorized("The username or password is wrong.", False, type="credentials-invalid")
    return tokens, NO_STORE


@blp.route("/refresh", methods=["POST"])
@anonymous
@blp.doc(operationId="refreshTokens", security=[{"refreshAuth": []}])
@blp.response(200, TokenPairSchema)
@jwt_required(refresh=True)
def refresh():
    """Trade a refresh token for a new pair; the one presented is spent.

    Presented again within `JWT_REFRESH_REUSE_LEEWAY` seconds (default 30) of being spent, a
    refresh token gets the same pair as the first time (a second tab, or a retry after a lost
    response, stays logged in). Later, reuse is taken for theft: 401 `token-revoked`, and every
    token of the session stops working. Past `SESSION_MAX_AGE` after the login: 401
    `session-expired`.
    """
    tokens = rotate(get_jwt())
    if not isinstance(tokens, dict):
        return tokens  # a 401 problem
    return tokens, NO_STORE


@blp.route("", methods=["DELETE"])
@blp.doc(operationId="logOut", security=[{"bearerAuth": []}, {"refreshAuth": []}])
@blp.response(204)
@jwt_required(verify_type=False)
def delete():
    """Log out: end this session (send its access or its refresh token).

    Every access and refresh token of the session stops working at once.
    """
    end_session(get_jwt()["fam"])
    return "", 204
