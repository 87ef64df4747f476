"""The embedded store's copies of stored documents: what a read hands out must not alias the
store, but copying costs most of a list page's store time (mongomock's ``_copy_field`` calls
``copy.copy`` on every value, a datetime or an ObjectId included).

:func:`copy_value` is mongomock's ``_copy_field(value, dict)`` with the values that cannot
change in place (strings, numbers, datetimes, ObjectIds, ...) handed out as they are: the
same values, equal documents, only fewer objects made. :func:`plain_inclusion` and
:func:`project_copy` copy just the fields a ``$project`` of plain inclusions keeps, in the
order mongomock's ``$project`` gives them (the stored order, ``_id`` where it is stored), so
the fields a page drops are never copied.
"""

from __future__ import annotations

import copy
import datetime
import decimal
import uuid

from bson import Decimal128, Int64, ObjectId, Timestamp

#: Types whose values never change in place: a copy may share them (exact types only: a
#: subclass could add mutable state).
_IMMUTABLE = frozenset({str, int, float, bool, type(None), bytes, datetime.datetime,
                        datetime.date, decimal.Decimal, uuid.UUID, ObjectId, Int64,
                        Decimal128, Timestamp})


def copy_value(value):
    """A copy of a stored value that shares nothing mutable with it."""
    kind = type(value)
    if kind in _IMMUTABLE:
        return value
    if kind is dict:
        return {key: copy_value(item) for key, item in value.items()}
    if kind is list:
        return [copy_value(item) for item in value]
    if isinstance(value, dict):  # as mongomock: another mapping becomes a plain dict
        return {key: copy_value(item) for key, item in value.items()}
    if isinstance(value, list):
        return [copy_value(item) for item in value]
    return copy.copy(value)


def plain_inclusion(stage) -> frozenset | None:
    """The fields a ``{"$project": {field: 1, ...}}`` stage keeps (``_id`` included), when it
    names top-level fields with 1 or True only; else None (mongomock runs it)."""
    if not isinstance(stage, dict) or list(stage) != ["$project"]:
        return None
    spec = stage["$project"]
    if not isinstance(spec, dict) or not spec:
        return None
    for field, flag in spec.items():
        if not (isinstance(field, str) and field and "." not in field
                and not field.startswith("$")):
            return None
        if not (flag is True or (type(flag) is int and flag == 1)):
            return None
    return frozenset(spec) | {"_id"}


def project_copy(document: dict, keep: frozenset) -> dict:
    """The fields of ``document`` in ``keep``, copied, in stored order."""
    return {key: copy_value(value) for key, value in document.items() if key in keep}
