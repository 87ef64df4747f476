"""Job schemas (marshmallow): the bodies that start jobs, a job as the API shows it, and the
job list's query and page.

The filters of an export or a bulk change are the list's own (``todos/schemas.py``): the same
names, the same checks, the same fields reused, so a filter means one thing everywhere. Only
``done`` differs in form: a JSON body carries a real boolean, a query string the word.
"""

from __future__ import annotations

from marshmallow import Schema, ValidationError, fields, validate, validates, validates_schema

from mongo_todos.todos.schemas import LinksSchema, ListArgsSchema, PageMetaSchema
from mongo_todos.web.fields import ID, StrictBoolean, Text

STATUSES = ["queued", "running", "succeeded", "failed", "cancelled"]
FORMATS = ["ndjson", "json", "csv"]
_LIST = ListArgsSchema._declared_fields

#: The list's filters, as a JSON object.
FilterSchema = Schema.from_dict({
    "done": StrictBoolean(metadata={"description": "Only done (true) or open (false) todos."}),
    **{name: _LIST[name] for name in ("tag", "q", "due_before", "due_after")},
}, name="TodoFilter")


class ExportInSchema(Schema):
    """What to export: a format and the list's filters."""

    format = fields.String(load_default="ndjson", validate=validate.OneOf(FORMATS), metadata={
        "description": "`ndjson` (one todo per line), `json` (`{\"items\": [...]}`) or `csv`."})
    filter = fields.Nested(FilterSchema, load_default=dict, metadata={
        "description": "The list's filters (AND): only matching todos are exported."})


class BulkSetSchema(Schema):
    done = StrictBoolean(required=True)


def _tags(description: str) -> fields.List:
    return fields.List(Text(validate=validate.Length(1, 50)), validate=validate.Length(1, 20),
                       metadata={"uniqueItems": True, "description": description})


_CHANGES = [{"properties": {name: {}}, "required": [name]}
            for name in ("set", "add_tags", "remove_tags")]


class BulkInSchema(Schema):
    """A change to every todo the filter selects, or their deletion."""

    class Meta:
        # what _one_kind checks, for the document (mongo_todos.web.openapi.ContractPlugin)
        json_schema = {"anyOf": [*_CHANGES, {"properties": {"delete": {}}, "required": ["delete"]}],
                       "not": {"properties": {"delete": {}}, "required": ["delete"],
                               "anyOf": _CHANGES}}

    filter = fields.Nested(FilterSchema, required=True, metadata={
        "description": "The list's filters (AND); `{}` selects every todo."})
    set = fields.Nested(BulkSetSchema, metadata={"description": "Fields to set."})
    add_tags = _tags("Tags to add (a todo that would pass 20 tags keeps its own).")
    remove_tags = _tags("Tags to remove.")
    delete = fields.Boolean(validate=validate.Equal(True), metadata={
        "description": "`true` deletes the selected todos (nothing else may be given)."})

    @validates("add_tags")
    def _distinct(self, value, **kwargs):
        if len(set(value)) != len(value):
            raise ValidationError("Tags must be distinct.")

    @validates_schema
    def _one_kind(self, data, **kwargs):
        changes = {"set", "add_tags", "remove_tags"} & set(data)
        if data.get("delete") and changes:
            raise ValidationError("Give either delete or changes, not both.", "delete")
        if not data.get("delete") and not changes:
            raise ValidationError("Give set, add_tags or remove_tags, or delete: true.",
                                  "_schema")


class ProgressSchema(Schema):
    done = fields.Integer(required=True, metadata={"description": "Items handled so far."})
    total = fields.Integer(required=True, allow_none=True,
                           metadata={"description": "Items in all, once known."})


class LineErrorsSchema(Schema):
    line = fields.Integer(required=True, metadata={
        "description": "The NDJSON line (from 1, blank lines counted) or the item's position."})
    errors = fields.Dict(keys=fields.String(), values=fields.List(fields.String()),
                         required=True, metadata={"description": "As a 422 lists them."})


class JobResultSchema(Schema):
    """A finished job's result: one object with the fields of every kind, each present for
    its kind only (so generated clients get them typed, with no union to tell apart); null
    until the job has succeeded."""

    class Meta:
        json_schema = {"nullable": True}  # see JobSchema.result

    count = fields.Integer(metadata={"description": "Export: todos in the file."})
    bytes = fields.Integer(metadata={"description": "Export: the file's size."})
    format = fields.String(validate=validate.OneOf(FORMATS),
                           metadata={"description": "Export: the file's format."})
    download_url = fields.String(metadata={
        "format": "uri", "description": "Export: where to download the file (downloadExport "
                                        "with this job's id)."})
    expires_at = fields.String(metadata={
        "format": "date-time", "description": "Export: when the file goes (EXPORT_TTL)."})
    created = fields.Integer(metadata={"description": "Import: todos created."})
    failed = fields.Integer(metadata={"description": "Import: lines refused."})
    errors = fields.List(fields.Nested(LineErrorsSchema), metadata={
        "description": "Import: the first 100 refused lines, with why."})
    matched = fields.Integer(metadata={"description": "Bulk: todos the filter selected."})
    modified = fields.Integer(metadata={"description": "Bulk change: todos changed."})
    deleted = fields.Integer(metadata={"description": "Bulk deletion: todos deleted."})


class JobSchema(Schema):
    """A background job (export, import or bulk change) as the API returns it."""

    id = fields.String(required=True, metadata=ID)
    url = fields.String(required=True, metadata={"format": "uri",
                                                 "description": "Where to poll this job."})
    kind = fields.String(required=True, validate=validate.OneOf(["export", "import", "bulk"]))
    status = fields.String(required=True, validate=validate.OneOf(STATUSES))
    progress = fields.Nested(ProgressSchema, required=True)
    created_at = fields.String(required=True, metadata={"format": "date-time"})
    started_at = fields.String(required=True, allow_none=True, metadata={"format": "date-time"})
    finished_at = fields.String(required=True, allow_none=True,
                                metadata={"format": "date-time"})
    # null until the job succeeded: JobResult itself says "nullable" (its Meta), so the field
    # is a bare $ref: apispec's allow_none on a Nested writes anyOf [ref, any object], and a
    # nullable beside an allOf without a type means nothing in OpenAPI 3.0.3
    result = fields.Nested(JobResultSchema, required=True)
    error = fields.Dict(required=True, allow_none=True, metadata={
        "description": "Once failed: a problem object (RFC 9457) saying why."})


class JobListArgsSchema(Schema):
    """Query parameters of the job list."""

    limit = _LIST["limit"]
    cursor = _LIST["cursor"]


class JobPageSchema(Schema):
    items = fields.List(fields.Nested(JobSchema), required=True)
    page = fields.Nested(PageMetaSchema, required=True)
    links = fields.Nested(LinksSchema, required=True)
