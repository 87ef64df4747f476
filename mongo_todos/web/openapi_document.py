"""Passes over the whole OpenAPI document, run each time it is built (served or printed).

:class:`~mongo_todos.web.openapi.ContractPlugin` completes one operation at a time; what
needs the whole document is here, so endpoints and problem types added later get it too:

- ``Problem.type`` is the ``ProblemTypeUri`` enum: every type in
  :data:`mongo_todos.web.errors.PROBLEM_TYPES` (as served, relative URIs), and
  ``about:blank``. Read when the document is built, not when a schema class is made, so a
  type registered by any module is in it.
- ``readOnly``/``writeOnly`` only where they tell something: a schema only ever sent
  (request bodies) drops ``writeOnly``, one only ever received drops ``readOnly``.
  Generators that split a schema into a read and a write variant (``@hey-api/openapi-ts``
  makes ``UserIn`` and ``UserInWritable``) then make one type with the schema's own name.
- The problem types' table in the document's description (:func:`problem_types_markdown`).
"""

from __future__ import annotations

import copy

from apispec import APISpec

from mongo_todos.web import errors

ENUM_NAME = "ProblemTypeUri"
_SCHEMAS = "#/components/schemas/"
_RESPONSES = "#/components/responses/"


class ContractSpec(APISpec):
    """flask-smorest's APISpec, whose document gets the passes of this module."""

    def to_dict(self) -> dict:
        # a copy: apispec's dict shares its paths and components with the spec's own state
        return finish(copy.deepcopy(super().to_dict()))


def finish(document: dict) -> dict:
    """``document`` with the passes of the module docstring applied (in place)."""
    schemas = document.get("components", {}).get("schemas", {})
    if "Problem" in schemas:
        _problem_type_enum(schemas)
    _read_write_by_use(document, schemas)
    return document


def problem_type_uris() -> list[str]:
    """Every ``type`` a problem can have."""
    return [errors.type_uri(slug) for slug in errors.PROBLEM_TYPES] + [errors.type_uri(None)]


def _problem_type_enum(schemas: dict) -> None:
    prop = schemas["Problem"]["properties"]["type"]
    if "$ref" in prop:
        return
    schemas[ENUM_NAME] = {"type": "string", "enum": problem_type_uris(),
                          "description": prop.get("description", ""),
                          "example": prop.get("example")}
    schemas["Problem"]["properties"]["type"] = {"$ref": _SCHEMAS + ENUM_NAME}


def _refs(node, prefix: str) -> set[str]:
    """The names of the components ``node`` refers to (directly) under ``prefix``."""
    found: set[str] = set()
    stack = [node]
    while stack:
        item = stack.pop()
        if isinstance(item, dict):
            ref = item.get("$ref")
            if isinstance(ref, str) and ref.startswith(prefix):
                found.add(ref[len(prefix):])
            stack.extend(item.values())
        elif isinstance(item, list):
            stack.extend(item)
    return found


def _closure(names: set[str], schemas: dict) -> set[str]:
    """``names`` and every schema they refer to, transitively."""
    seen: set[str] = set()
    todo = list(names)
    while todo:
        name = todo.pop()
        if name in seen or name not in schemas:
            continue
        seen.add(name)
        todo.extend(_refs(schemas[name], _SCHEMAS))
    return seen


def _drop(node, key: str) -> None:
    """Remove ``key`` from every schema object inside ``node`` (not across ``$ref``)."""
    if isinstance(node, dict):
        node.pop(key, None)
        for value in node.values():
            _drop(value, key)
    elif isinstance(node, list):
        for value in node:
            _drop(value, key)


def _read_write_by_use(document: dict, schemas: dict) -> None:
    sent, received = set(), set()
    components = document.get("components", {}).get("responses", {})
    for operations in document.get("paths", {}).values():
        for operation in operations.values():
            if not isinstance(operation, dict):
                continue
            sent |= _refs(operation.get("requestBody", {}), _SCHEMAS)
            responses = operation.get("responses", {})
            received |= _refs(responses, _SCHEMAS)
            for name in _refs(responses, _RESPONSES):
                received |= _refs(components.get(name, {}), _SCHEMAS)
    sent, received = _closure(sent, schemas), _closure(received, schemas)
    for name in sent - received:
        _drop(schemas[name], "writeOnly")
    for name in received - sent:
        _drop(schemas[name], "readOnly")


def _cell(text: str) -> str:
    """``text`` as a Markdown table cell: /docs renders Markdown with HTML allowed, so
    ``<access token>`` would vanish as an unknown tag, and a ``|`` would split the cell."""
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;").replace("|", "\\|")


def problem_types_markdown() -> str:
    """The problem types as a table for the document's description."""
    rows = [f"| `{errors.type_uri(slug)}` | {errors.PROBLEM_STATUS[slug]} | {_cell(title)} | "
            f"{_cell(advice)} |" for slug, (title, advice) in errors.PROBLEM_TYPES.items()]
    return "\n".join([
        "## Problem types",
        "Every error is `application/problem+json`. Its `type` tells apart the problems a "
        "client must act on (compare it as a string; it also resolves, against this API, to "
        "a description: `GET /api/v1/problems` lists them all). Any other error is "
        "`about:blank`, its status saying it all. `detail` explains each occurrence in words.",
        "",
        "| type | status | title | what to do |",
        "|---|---|---|---|",
        *rows,
    ])
