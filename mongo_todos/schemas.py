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
#: The one password rule: registration, password change and the CLI.
PASSWORD_LENGTH = validate.Length(8, 128)
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
#: What a trimmed field loses at either end: Python's ``str.isspace()`` characters, spelled out
#: so that the OpenAPI pattern says exactly the same (``\s`` differs between ECMA-262, which
#: JSON Schema uses, and Python: ECMA's has no U+001C..U+001F, so a client validating with the
#: document would accept a name the API refuses as blank).
WHITESPACE = "".join(chr(c) for c in range(0x3001) if chr(c).isspace())
_WHITESPACE_CLASS = (
    "\\t\\n\\x0b\\x0c\\r\\x1c-\\x1f \\x85\\xa0\\u1680\\u2000-\\u200a\\u2028\\u2029"
    "\\u202f\\u205f\\u3000"
)
NOT_BLANK = {"pattern": f"^[^\\x00]*[^{_WHITESPACE_CLASS}\\x00][^\\x00]*$"}


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
        return text.strip(WHITESPACE) if self.trim else text


class StrictBoolean(fields.Boolean):
    """JSON ``true``/``false`` only (marshmallow would also take "yes", 1, "on")."""

    def _deserialize(self, value, attr, data, **kwargs):
        if not isinstance(value, bool):
            raise ValidationError("Not a valid boolean: use true or false.")
        return value


class Timestamp(fields.Field):
    """RFC 3339 with an explicit offset in, UTC milliseconds with ``Z`` out.

    ``example=None`` leaves the example out (a query filter pre-filled in /docs would filter).
    """

    def __init__(self, *args, example: str | None = "2026-11-21T09:30:00.123Z", **kwargs):
        metadata = {"type": "string", "format": "date-time", **kwargs.pop("metadata", {})}
        if example is not None:
            metadata.setdefault("example", example)
        super().__init__(*args, metadata=metadata, **kwargs)

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


#: What the document says of each todo field (descriptions and readable examples: /docs
#: would otherwise make up random strings from the patterns).
_TODO_DOCS = {
    "name": {"description": "A short title, 1 to 200 characters after trimming white space.",
             "example": "Buy milk"},
    "task": {"description": "Free text, up to 10000 characters.",
             "example": "Two litres, semi-skimmed."},
    "done": {"description": "Whether the todo is done."},
    "due_at": {"description": "When it is due (RFC 3339 with an offset), or null."},
    "tags": {"description": "Up to 20 distinct tags of 1 to 50 characters.",
             "example": ["home", "errands"]},
}


class TodoInSchema(Schema):
    """A todo as a client writes it (POST and PUT: omitted optional fields take defaults)."""

    name = Text(required=True, trim=True, validate=validate.Length(1, 200),
                metadata={**NOT_BLANK, **_TODO_DOCS["name"]})
    task = Text(load_default="", validate=validate.Length(0, 10000), metadata=_TODO_DOCS["task"])
    done = StrictBoolean(load_default=False, metadata=_TODO_DOCS["done"])
    due_at = Timestamp(load_default=None, allow_none=True, example="2026-12-24T17:00:00Z",
                       metadata=_TODO_DOCS["due_at"])
    tags = fields.List(
        Text(validate=validate.Length(1, 50), metadata={"example": "home"}),
        load_default=list,
        validate=validate.Length(0, 20),
        metadata={"uniqueItems": True, **_TODO_DOCS["tags"]},
    )

    @validates("tags")
    def _distinct_tags(self, value, **kwargs):
        if len(set(value)) != len(value):
            raise ValidationError("Tags must be distinct.")


class TodoPatchSchema(TodoInSchema):
    """The fields of a todo to change (PATCH): only those sent change.

    The same fields and checks as :class:`TodoInSchema` but no defaults and nothing
    required: a default here would be sent by every generated client and pre-filled by /docs,
    and would overwrite the fields a client meant to leave alone.
    """

    name = Text(trim=True, validate=validate.Length(1, 200),
                metadata={**NOT_BLANK, **_TODO_DOCS["name"]})
    task = Text(validate=validate.Length(0, 10000), metadata=_TODO_DOCS["task"])
    done = StrictBoolean(metadata=_TODO_DOCS["done"])
    due_at = Timestamp(allow_none=True, example="2026-12-24T17:00:00Z",
                       metadata=_TODO_DOCS["due_at"])
    tags = fields.List(
        Text(validate=validate.Length(1, 50), metadata={"example": "home"}),
        validate=validate.Length(0, 20),
        metadata={"uniqueItems": True, **_TODO_DOCS["tags"]},
    )


#: An id as the document describes it.
ID = {"type": "string", "pattern": "^[0-9a-f]{24}$", "example": "6560f0c2a1b2c3d4e5f60718"}


class TodoSchema(Schema):
    """A todo as the API returns it (every field always present)."""

    id = fields.Function(lambda todo: str(todo["_id"]), required=True, metadata=ID)
    url = fields.Function(
        lambda todo: url_for("todos.get", todo_id=str(todo["_id"]), _external=True),
        required=True,
        metadata={"type": "string", "format": "uri", "description": "Where this todo lives.",
                  "example": "http://localhost:8000/api/v1/todos/6560f0c2a1b2c3d4e5f60718"},
    )
    name = fields.String(required=True, metadata=_TODO_DOCS["name"])
    task = fields.String(required=True, metadata=_TODO_DOCS["task"])
    done = fields.Boolean(required=True, metadata=_TODO_DOCS["done"])
    due_at = Timestamp(required=True, allow_none=True, dump_default=None,
                       example="2026-12-24T17:00:00.000Z", metadata=_TODO_DOCS["due_at"])
    tags = fields.List(fields.String(), required=True, dump_default=list,
                       metadata=_TODO_DOCS["tags"])
    created_at = Timestamp(required=True)
    updated_at = Timestamp(required=True)


class RootLinksSchema(Schema):
    """Where everything is, as absolute URLs."""

    users = fields.String(required=True, metadata={
        "format": "uri", "description": "POST here to create an account."})
    me = fields.String(required=True, metadata={
        "format": "uri", "description": "Your account (needs a token)."})
    tokens = fields.String(required=True, metadata={
        "format": "uri", "description": "POST to log in, DELETE to log out."})
    refresh = fields.String(required=True, metadata={
        "format": "uri", "description": "POST a refresh token for a new pair."})
    todos = fields.String(required=True, metadata={
        "format": "uri", "description": "Your todos (needs a token)."})
    problems = fields.String(required=True, metadata={
        "format": "uri", "description": "The problem types errors can have."})
    openapi = fields.String(required=True, metadata={
        "format": "uri", "description": "This API's OpenAPI 3 document."})
    docs = fields.String(required=True, metadata={
        "format": "uri", "description": "Interactive documentation."})


class RootSchema(Schema):
    """The API's entry point."""

    name = fields.String(required=True, metadata={"example": "mongo_todos"})
    version = fields.String(required=True, metadata={"example": "v1"})
    links = fields.Nested(RootLinksSchema, required=True)


class ProblemTypeSchema(Schema):
    """One kind of error a client can act on."""

    type = fields.String(required=True, metadata={
        "format": "uri-reference", "example": "/api/v1/problems/token-expired",
        "description": "The `type` member of problems of this kind (compare it as a string)."})
    title = fields.String(required=True, metadata={"example": "Token expired"})
    status = fields.Integer(required=True, metadata={"example": 401})
    advice = fields.String(required=True, metadata={
        "example": "Refresh the token pair, or log in again.",
        "description": "What a client should do about it."})


class ProblemTypeListSchema(Schema):
    """Every problem type the API uses besides `about:blank`."""

    items = fields.List(fields.Nested(ProblemTypeSchema), required=True)


class UserInSchema(Schema):
    """A new account."""

    username = Text(
        required=True,
        validate=FullMatch(
            USERNAME_PATTERN, error="Use 3 to 32 characters of letters, digits, '_', '.', '-'."
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
