"""The embedded store's range planning: which stretch of an ordered index a ``$match`` implies.

Pure functions over filters, kept apart from the ordered indexes (mongo_todos.store.embedded_sorted)
that walk the ranges they compute. :func:`group` says which values sort natively together;
:func:`partition_value` finds the value a filter pins an index's leading field to;
:func:`bounds` reads the equalities and ``$gt``/``$gte``/``$lt``/``$lte`` conditions on one
field (top level or inside ``$and``: all must hold, so any of them bounds the range) and
:func:`index_range` turns them into the (minimum, maximum) entries of an index on several
fields. A condition they cannot read (another operator, another type, a regex) only widens
the range: the collection still runs mongomock's filter on every document walked.
"""

from __future__ import annotations

from datetime import datetime

from bson import ObjectId

_RANGE_OPERATORS = ("$eq", "$gt", "$gte", "$lt", "$lte")


class _Top:
    """Sorts after every value: closes a range just past all entries sharing a prefix."""

    def __lt__(self, other):
        return False

    def __gt__(self, other):
        return other is not self

    def __le__(self, other):
        return other is self

    def __ge__(self, other):
        return True


TOP = _Top()


def group(value):
    """The comparison group of a value sorted natively, or None (mongomock must decide)."""
    kind = type(value)
    if kind is str or kind is ObjectId or kind is bool:
        return kind
    if kind is int or (kind is float and value == value):  # NaN has no order
        return int
    if kind is datetime and value.tzinfo is None:
        return datetime
    return None


def conditions(specs, field):
    """Every condition the filters place on top-level ``field`` (all must hold)."""
    for spec in specs:
        if not isinstance(spec, dict):
            continue
        if field in spec:
            yield spec[field]
        clauses = spec.get("$and")
        if isinstance(clauses, list):
            yield from conditions(clauses, field)


def bounds(specs, field, kind):
    """(low, low inclusive, high, high inclusive) the filters imply for ``field``'s values of
    group ``kind``; None for an open end. Conditions this cannot read only widen the range."""
    low = high = None
    low_in = high_in = True
    for condition in conditions(specs, field):
        if isinstance(condition, dict):
            if not all(isinstance(op, str) and op.startswith("$") for op in condition):
                continue
            pairs = [(op, condition[op]) for op in _RANGE_OPERATORS if op in condition]
        else:
            pairs = [("$eq", condition)]
        for op, value in pairs:
            if group(value) is not kind:
                continue
            if op in ("$eq", "$gt", "$gte") and (
                    low is None or value > low or (value == low and op == "$gt")):
                low, low_in = value, op != "$gt"
            if op in ("$eq", "$lt", "$lte") and (
                    high is None or value < high or (value == high and op == "$lt")):
                high, high_in = value, op != "$lt"
    return low, low_in, high, high_in


def index_range(specs, fields, groups):
    """The (minimum, maximum) entries of an ordered index on ``fields`` (values of ``groups``)
    a walk must cover to meet every document ``specs`` can match."""
    prefix: tuple = ()
    for field, kind in zip(fields, groups, strict=True):
        low, low_in, high, high_in = bounds(specs, field, kind)
        if low is not None and low == high and low_in and high_in:
            prefix += (low,)
            continue
        minimum = prefix or None
        if low is not None:
            minimum = (*prefix, low) if low_in else (*prefix, low, TOP)
        maximum = (*prefix, TOP) if prefix else None
        if high is not None:
            maximum = (*prefix, high, TOP) if high_in else (*prefix, high)
        return minimum, maximum
    return prefix or None, (*prefix, TOP) if prefix else None


def partition_value(specs, field):
    values = []
    for condition in conditions(specs, field):
        if isinstance(condition, dict) and list(condition) == ["$eq"]:
            condition = condition["$eq"]
        if group(condition) in (str, ObjectId):
            values.append(condition)
    return values[0] if values else None
