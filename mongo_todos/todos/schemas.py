"""Todo schemas (marshmallow): what a client writes, and a todo as the API shows it."""

from __future__ import annotations

from flask import url_for
from marshmallow import Schema, ValidationError, fields, validate, validates

from mongo_todos.web.fields import (
    ID,
    NOT_BLANK,
    StrictBoolean,
    Text,
    Timestamp,
)

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
