"""Todo schemas (marshmallow): what a client writes, a todo as the API shows it, and the
list's query parameters and page."""

from __future__ import annotations

from flask import url_for
from marshmallow import Schema, ValidationError, fields, pre_load, validate, validates

from mongo_todos.todos.pagination import SORTS, remembered
from mongo_todos.todos.store import etag
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
    etag = fields.Function(etag, required=True,
                           metadata={"type": "string", "description": "The todo's ETag (the same value as the "
                                                    "`ETag` header): send it in If-Match.",
                                     "example": '"6560f0c2a1b2c3d4e5f60718.3"'})


def _query_flag(**kwargs) -> fields.Boolean:
    """A boolean query parameter: exactly ``true`` or ``false`` (not 1, yes, on...)."""
    flag = fields.Boolean(truthy={"true"}, falsy={"false"}, **kwargs)
    # the same words as a body's boolean field (StrictBoolean)
    flag.error_messages = {**flag.error_messages, "invalid": "Not a valid boolean: use true or false."}
    return flag


class ListArgsSchema(Schema):
    """Query parameters of the list."""

    limit = fields.Integer(load_default=20, validate=validate.Range(1, 100),
                           metadata={"description": "Todos per page."})
    cursor = Text(load_default=None, validate=validate.Length(1, 4000), metadata={
        "description": "Opaque: the `next_cursor`/`prev_cursor` of a previous page (or just "
                       "follow `links`). It remembers the listing's sort, filters, limit and "
                       "count: the cursor alone gets the next page of the same listing. A "
                       "parameter sent with it overrides: `limit` and `count` freely, a "
                       "different sort or filter is a 422; an altered cursor is a 400."})
    sort = Text(load_default="-created_at", validate=validate.OneOf(SORTS), metadata={
        "description": "Sort key, `-` for descending; ties are broken by id. Todos with no "
                       "`due_at` sort as due infinitely late (last ascending, first "
                       "descending).",
        # names for generated clients' enums (else VALUE_0.. for the descending ones)
        "x-enum-varnames": [key.lstrip("-").upper() + ("_DESC" if key[0] == "-" else "")
                            for key in SORTS]})
    done = _query_flag(metadata={"description": "Only done (`true`) or open (`false`) todos."})
    tag = Text(validate=validate.Length(1, 50), metadata={
        "description": "Only todos carrying this exact tag."})
    q = Text(validate=validate.Length(1, 200), metadata={"description": (
        "Todos whose name or task contains this text, matched literally and ignoring case "
        "(full Unicode case folding: 'STRASSE' finds 'Straße'; 'i' does not find dotless 'ı'). "
        "Other filters and q narrow the page; the scan still follows the sort's index.")})
    due_before = Timestamp(example=None, metadata={
        "description": "Only todos due strictly before this instant (RFC 3339)."})
    due_after = Timestamp(example=None, metadata={
        "description": "Only todos due strictly after this instant (RFC 3339); undated todos "
                       "are never included."})
    count = _query_flag(load_default=False, metadata={
        "description": "`true` adds `page.total`, the number of matching todos (one more "
                       "query)."})

    @pre_load
    def _from_cursor(self, data, **kwargs):
        """Parameters left out beside a cursor are the ones it was made with."""
        carried = remembered(data.get("cursor"))
        if not carried:
            return data
        return {**carried, **{key: data[key] for key in data}}


class PageMetaSchema(Schema):
    limit = fields.Integer(required=True, metadata={"example": 20})
    has_next = fields.Boolean(required=True)
    has_prev = fields.Boolean(required=True)
    next_cursor = fields.String(required=True, allow_none=True, metadata={
        "description": "Cursor of the next page, or null on the last."})
    prev_cursor = fields.String(required=True, allow_none=True, metadata={
        "description": "Cursor of the previous page, or null on the first."})
    total = fields.Integer(metadata={"description": "Only with count=true"})


class LinksSchema(Schema):
    self = fields.String(required=True, metadata={"format": "uri"})
    first = fields.String(required=True, metadata={"format": "uri"})
    next = fields.String(required=True, allow_none=True, metadata={
        "format": "uri", "description": "The next page, or null on the last: follow it."})
    prev = fields.String(required=True, allow_none=True, metadata={
        "format": "uri", "description": "The previous page, or null on the first."})


class TodoPageSchema(Schema):
    items = fields.List(fields.Nested(TodoSchema), required=True)
    page = fields.Nested(PageMetaSchema, required=True)
    links = fields.Nested(LinksSchema, required=True)
