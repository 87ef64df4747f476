"""The embedded store's pipeline planning: which leading stages of an aggregate run as one
query, and the native sort order they use.

:func:`split_pipeline` cuts a pipeline into its leading ``$match`` filters, ``$sort`` and
``$skip``/``$limit`` stages and the rest; :func:`native_order` sorts by Python's own ``<``
where mongomock's BSON comparison would end there anyway; :func:`window_end` says how deep a
sorted walk needs to go. Pure functions over lists of documents, kept apart from the
collection class (mongo_todos.store.embedded) that runs them so each can be read and tested
on its own.
"""

from __future__ import annotations

from datetime import datetime

from bson import ObjectId

_MISSING = object()


def split_pipeline(pipeline) -> tuple[list, dict | None, list, list]:
    """(leading $match filters, $sort, $skip/$limit stages, the rest) of a pipeline."""
    matches, sort, window = [], None, []
    i = 0
    stages = list(pipeline)

    def op(stage):
        return next(iter(stage)) if isinstance(stage, dict) and len(stage) == 1 else None

    while i < len(stages) and op(stages[i]) == "$match" and isinstance(stages[i]["$match"], dict):
        matches.append(stages[i]["$match"])
        i += 1
    if i < len(stages) and op(stages[i]) == "$sort" and isinstance(stages[i]["$sort"], dict):
        sort = stages[i]["$sort"]
        i += 1
    while i < len(stages) and op(stages[i]) in ("$skip", "$limit"):
        window.append(stages[i])
        i += 1
    return matches, sort, window, stages[i:]


#: Value types whose order under mongomock's BSON comparison is Python's own ``<``: for two
#: values of one of these groups, ``bson_compare`` ends in ``operator.lt(a, b)``.
_NATIVE_GROUPS = ({int, float}, {str}, {ObjectId}, {datetime}, {bool})


def native_column(documents: list, field) -> list | None:
    """The values of ``field`` to sort ``documents`` by natively, or None when mongomock's
    own comparison must decide (a missing field, null, arrays, mixed types, dotted paths)."""
    if not isinstance(field, str) or "." in field or field.startswith("$"):
        return None
    values = [document.get(field, _MISSING) for document in documents]
    types = set(map(type, values))
    if not any(types <= group for group in _NATIVE_GROUPS):
        return None
    return values


def native_order(documents: list, sort: dict) -> list[int] | None:
    """The positions of ``documents`` in mongomock's $sort order, computed with Python's own
    comparison, or None when mongomock's BSON comparison must decide.

    mongomock sorts once per key, last key first, each pass stable, comparing BSON-wrapped
    values in Python; on values of one plain type (the app's sort keys: dates, strings,
    ObjectIds) this runs the same passes on the bare values, in C."""
    columns = []
    for field, direction in sort.items():
        column = native_column(documents, field)
        if column is None or not isinstance(direction, (int, float)):
            return None
        columns.append((column, direction))
    order = list(range(len(documents)))
    for column, direction in reversed(columns):
        order.sort(key=column.__getitem__, reverse=direction < 0)
    return order


def window_end(window: list) -> int | None:
    """How many sorted documents a run of $skip/$limit stages can reach (None: all)."""
    start, end = 0, None
    for stage in window:
        (operator, value), = stage.items()
        if not isinstance(value, int) or isinstance(value, bool) or value < 0:
            return None  # let mongomock judge it
        if operator == "$skip":
            start = start + value if end is None else min(start + value, end)
        else:
            end = start + value if end is None else min(end, start + value)
    return end
