"""Account schemas (marshmallow): registration, credentials, tokens, sessions, passwords."""

from __future__ import annotations

from flask import url_for
from marshmallow import Schema, fields, validate

from mongo_todos.web.fields import ID, FullMatch, Text, Timestamp

#: The one password rule: registration, password change and the CLI.
PASSWORD_LENGTH = validate.Length(8, 128)
#: Never '-' first: the CLI (``users show <name>``) would read such a name as an option.
USERNAME_PATTERN = r"^[A-Za-z0-9_.][A-Za-z0-9_.-]{2,31}$"


class UserInSchema(Schema):
    """A new account."""

    username = Text(
        required=True,
        validate=FullMatch(
            USERNAME_PATTERN,
            error="Use 3 to 32 characters of letters, digits, '_', '.', '-' (not '-' first).",
        ),
        metadata={"example": "new_user"},
    )
    password = Text(required=True, load_only=True, validate=PASSWORD_LENGTH,
                    metadata={"example": "a long passphrase"})


class UserSchema(Schema):
    """An account as the API returns it (never its password hash)."""

    id = fields.Function(lambda user: str(user.id), required=True, metadata=ID)
    username = fields.String(required=True, metadata={"example": "demo"})
    created_at = Timestamp(required=True)
    url = fields.Function(lambda user: url_for("users.me", _external=True), required=True,
                          metadata={"type": "string", "format": "uri",
                                    "example": "http://localhost:8000/api/v1/users/me"})


class CredentialsSchema(Schema):
    """Login credentials in a JSON body (HTTP Basic works too)."""

    username = Text(required=True, validate=validate.Length(1, 256), metadata={"example": "demo"})
    password = Text(required=True, validate=validate.Length(1, 1024),
                    metadata={"example": "demo-password"})


class TokenSchema(Schema):
    """A fresh access and refresh token pair."""

    access_token = fields.String(required=True, metadata={
        "description": "Send as 'Authorization: Bearer <access_token>'."})
    refresh_token = fields.String(required=True, metadata={
        "description": "Send to POST /api/v1/tokens/refresh for a new pair (once only)."})
    token_type = fields.String(required=True, metadata={"enum": ["Bearer"], "example": "Bearer"})
    expires_in = fields.Integer(required=True, metadata={
        "description": "Access token lifetime in seconds", "example": 900})


# --- accounts and sessions (v1.1) ----------------------------------------------------------

class TokenPairSchema(TokenSchema):
    """A token pair, with the refresh token's lifetime (both end at the session's maximum age
    at the latest)."""

    refresh_expires_in = fields.Integer(required=True, metadata={
        "description": "Refresh token lifetime in seconds", "example": 2592000})


class SessionSchema(Schema):
    """One active login of the account."""

    id = fields.Function(lambda s: s["_id"], required=True, metadata={
        "type": "string", "example": "9f2c4e1a7b3d5f60718293a4b5c6d7e8"})
    current = fields.Boolean(required=True, metadata={
        "description": "Whether this is the caller's own session"})
    started_at = Timestamp(required=True, metadata={"description": "When the login happened"})
    last_refreshed_at = Timestamp(
        required=True, allow_none=True,
        metadata={"description": "Last token refresh; null until the first"}
    )
    user_agent = fields.String(required=True, metadata={
        "description": "The client's User-Agent at login"})
    address = fields.String(required=True, metadata={
        "description": "The client's address at login"})
    url = fields.Function(
        lambda s: url_for("sessions.get", session_id=s["_id"], _external=True),
        required=True, metadata={"type": "string", "format": "uri"},
    )


class SessionListSchema(Schema):
    """The account's active sessions, oldest first."""

    items = fields.List(fields.Nested(SessionSchema), required=True)


class PasswordChangeSchema(Schema):
    """A password change: the current password confirms it."""

    current_password = Text(required=True, load_only=True, validate=validate.Length(1, 1024))
    new_password = Text(required=True, load_only=True, validate=PASSWORD_LENGTH)


class AccountDeletionSchema(Schema):
    """An account deletion: the password confirms it."""

    password = Text(required=True, load_only=True, validate=validate.Length(1, 1024))
