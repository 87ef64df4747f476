"""Request and response schemas (marshmallow): validation, serialisation and the OpenAPI doc.

Input is strict: unknown fields, wrong types (``"done": "yes"``, ``{"$ne": 1}`` where a string
belongs) and text MongoDB cannot store are 422s that name the field. Nothing a client sends is
ever used as a query operator: every value reaching a query has been typed here first.
"""

from __future__ import annotations

import re
from datetime import datetime

from flask import url_for
from marshmallow import Schema, ValidationError, fields, validate, validates

from .dates import FAR_FUTURE, isoformat, to_storage

# validation regexes are used with fullmatch: "$" also matches before a final newline
_RFC3339 = re.compile(
    r"\d{4}-\d{2}-\d{2}[Tt ]\d{2}:\d{2}:\d{2}(\.\d{1,9})?([Zz]|[+-]\d{2}:\d{2})",
    re.ASCII,  # \d means 0-9 only
)
#: In JSON Schema (ECMAScript) terms for the OpenAPI document; :class:`FullMatch` enforces it.
USERNAME_PATTERN = r"^[A-Za-z0-9_.-]{3,32}$"
#: A date-time whose "+01:00" lost its plus: in a URL's query string "+" decodes to a space.
_PLUS_AS_SPACE = re.compile(r"^\d{4}-\d{2}-\d{2}[Tt ]\d{2}:\d{2}(:\d{2}(\.\d+)?)? \d{2}:\d{2}$")


class FullMatch(validate.Regexp):
    """A regex validator matching the whole value: marshmallow's Regexp uses ``re.match``, and
    a pattern ending in ``$`` then also accepts the value followed by a newline."""

    def __call__(self, value):
        if self.regex.fullmatch(value) is None:
            raise ValidationError(self._format_error(value))
        return value


#: What the OpenAPI document says of text fields (Text enforces it): no NUL, and for names
#: at least one character that is not white space.
NO_NUL = {"pattern": "^[^\\x00]*$"}
NOT_BLANK = {"pattern": "^[^\\x00]*[^\\s\\x00][^\\x00]*$"}


class Text(fields.String):
    """A string MongoDB can store as given: valid Unicode (no lone surrogates), no NUL."""

    def __init__(self, *args, trim: bool = False, **kwargs):
        super().__init__(*args, **kwargs)
        self.trim = trim
        if not any(isinstance(v, validate.Regexp) for v in self.validators):
            self.metadata = {**NO_NUL, **self.metadata}

    def _deserialize(self, value, attr, data, **kwargs):
        text = super()._deserialize(value, attr, data, **kwargs)
        try:
            text.encode("utf-8")
        except UnicodeEncodeError:
            raise ValidationError("Not valid Unicode text.") from None
        if "\x00" in text:
            raise ValidationError("Must not contain NUL characters.")
        return text.strip() if self.trim else text


class StrictBoolean(fields.Boolean):
    """JSON ``true``/``false`` only (marshmallow would also take "yes", 1, "on")."""

    def _deserialize(self, value, attr, data, **kwargs):
        if not isinstance(value, bool):
            raise ValidationError("Not a valid boolean: use true or false.")
        return value


class Timestamp(fields.Field):
    """RFC 3339 with an explicit offset in, UTC milliseconds with ``Z`` out."""

    def __init__(self, *args, **kwargs):
        kwargs.setdefault("metadata", {}).update(
            {"type": "string", "format": "date-time", "example": "2026-11-21T09:30:00.123Z"}
        )
        super().__init__(*args, **kwargs)

    def _serialize(self, value, attr, obj, **kwargs):
        return isoformat(value)

    def _deserialize(self, value, attr, data, **kwargs):
        if isinstance(value, str) and _PLUS_AS_SPACE.match(value):
            raise ValidationError(
                "Not an RFC 3339 date-time: its offset starts with a space. In a query string "
                "'+' means a space: send it as %2B (e.g. 2026-11-21T09:30:00%2B01:00), or use Z."
            )
        if not isinstance(value, str) or not _RFC3339.fullmatch(value):
            raise ValidationError(
                "Not an RFC 3339 date-time with an offset, e.g. 2026-11-21T09:30:00Z."
            )
        try:
            parsed = datetime.fromisoformat(value.upper().replace(" ", "T"))
            stored = to_storage(parsed)
        except (ValueError, OverflowError):
            raise ValidationError("Not a valid date-time.") from None
        if stored >= FAR_FUTURE:
            raise ValidationError("Must be before 9999-12-31T23:59:59Z.")
        return stored


class TodoInSchema(Schema):
    """A todo as a client writes it (POST and PUT; PATCH loads it partially)."""

    name = Text(required=True, trim=True, validate=validate.Length(1, 200), metadata=NOT_BLANK)
    task = Text(load_default="", validate=validate.Length(0, 10000))
    done = StrictBoolean(load_default=False)
    due_at = Timestamp(load_default=None, allow_none=True)
    tags = fields.List(
        Text(validate=validate.Length(1, 50)),
        load_default=list,
        validate=validate.Length(0, 20),
        metadata={"uniqueItems": True},
    )

    @validates("tags")
    def _distinct_tags(self, value, **kwargs):
        if len(set(value)) != len(value):
            raise ValidationError("Tags must be distinct.")


class TodoPatchSchema(TodoInSchema):
    """The fields of a todo to change (PATCH; load it with ``partial=True``)."""


class TodoSchema(Schema):
    """A todo as the API returns it."""

    id = fields.Function(lambda todo: str(todo["_id"]), metadata={"example": "6560f0c2a1b2c3d4e5f60718"})
    url = fields.Function(
        lambda todo: url_for("todos.get", todo_id=str(todo["_id"]), _external=True),
        metadata={"format": "uri"},
    )
    name = fields.String()
    task = fields.String()
    done = fields.Boolean()
    due_at = Timestamp(allow_none=True, dump_default=None)
    tags = fields.List(fields.String(), dump_default=list)
    created_at = Timestamp()
    updated_at = Timestamp()


class UserInSchema(Schema):
    """A new account."""

    username = Text(
        required=True,
        validate=FullMatch(
            USERNAME_PATTERN, error="Use 3 to 32 characters of letters, digits, '_', '.', '-'."
        ),
    )
    password = Text(required=True, load_only=True, validate=validate.Length(8, 128))


class UserSchema(Schema):
    """An account as the API returns it (never its password hash)."""

    id = fields.Function(lambda user: str(user.id))
    username = fields.String()
    created_at = Timestamp()
    url = fields.Function(lambda user: url_for("users.me", _external=True), metadata={"format": "uri"})


class CredentialsSchema(Schema):
    """Login credentials in a JSON body (HTTP Basic works too)."""

    username = Text(required=True, validate=validate.Length(1, 256))
    password = Text(required=True, validate=validate.Length(1, 1024))


class TokenSchema(Schema):
    """A fresh access and refresh token pair."""

    access_token = fields.String()
    refresh_token = fields.String()
    token_type = fields.String(metadata={"example": "Bearer"})
    expires_in = fields.Integer(metadata={"description": "Access token lifetime in seconds"})


# --- accounts and sessions (v1.1) ----------------------------------------------------------

class TokenPairSchema(TokenSchema):
    """A token pair, with the refresh token's lifetime (both end at the session's maximum age
    at the latest)."""

    refresh_expires_in = fields.Integer(metadata={"description": "Refresh token lifetime in seconds"})


class SessionSchema(Schema):
    """One active login of the account."""

    id = fields.Function(lambda s: s["_id"], metadata={"example": "9f2c4e1a7b3d5f60718293a4b5c6d7e8"})
    current = fields.Boolean(metadata={"description": "Whether this is the caller's own session"})
    started_at = Timestamp(metadata={"description": "When the login happened"})
    last_refreshed_at = Timestamp(
        allow_none=True, metadata={"description": "Last token refresh; null until the first"}
    )
    user_agent = fields.String(metadata={"description": "The client's User-Agent at login"})
    address = fields.String(metadata={"description": "The client's address at login"})
    url = fields.Function(
        lambda s: url_for("sessions.get", session_id=s["_id"], _external=True),
        metadata={"format": "uri"},
    )


class SessionListSchema(Schema):
    """The account's active sessions, oldest first."""

    items = fields.List(fields.Nested(SessionSchema))


class PasswordChangeSchema(Schema):
    """A password change: the current password confirms it."""

    current_password = Text(required=True, load_only=True, validate=validate.Length(1, 1024))
    new_password = Text(required=True, load_only=True, validate=validate.Length(8, 128))


class AccountDeletionSchema(Schema):
    """An account deletion: the password confirms it."""

    password = Text(required=True, load_only=True, validate=validate.Length(1, 1024))
