"""Field types every request schema shares: strict text, booleans and RFC 3339 timestamps.

Input is strict: unknown fields, wrong types (``"done": "yes"``, ``{"$ne": 1}`` where a string
belongs) and text MongoDB cannot store are 422s that name the field. Nothing a client sends is
ever used as a query operator: every value reaching a query has been typed here first.
"""

from __future__ import annotations

import re
from datetime import datetime

from marshmallow import ValidationError, fields, validate

from mongo_todos.dates import FAR_FUTURE, isoformat, to_storage

# validation regexes are used with fullmatch: "$" also matches before a final newline
_RFC3339 = re.compile(
    r"\d{4}-\d{2}-\d{2}[Tt ]\d{2}:\d{2}:\d{2}(\.\d{1,9})?([Zz]|[+-]\d{2}:\d{2})",
    re.ASCII,  # \d means 0-9 only
)
#: In JSON Schema (ECMAScript) terms for the OpenAPI document; :class:`FullMatch` enforces it.
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


#: An id as the document describes it.
ID = {"type": "string", "pattern": "^[0-9a-f]{24}$", "example": "6560f0c2a1b2c3d4e5f60718"}
