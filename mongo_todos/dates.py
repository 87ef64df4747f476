"""Time behind one helper, so tests can move the clock.

MongoDB stores datetimes as milliseconds since the epoch in UTC, so every timestamp the service
makes or accepts is cut to the millisecond and kept as a naive UTC ``datetime`` (what pymongo
returns): the representation a client gets back from a write is the one it reads later.
"""

from __future__ import annotations

import time
from datetime import UTC, datetime, timedelta

#: The stored sort key of a todo without a due date: later than any real date (see models.Todo).
FAR_FUTURE = datetime(9999, 12, 31, 23, 59, 59, 999000)


def to_storage(value: datetime) -> datetime:
    """``value`` as MongoDB keeps it: naive UTC, millisecond precision."""
    if value.tzinfo is not None:
        value = value.astimezone(UTC).replace(tzinfo=None)
    return value.replace(microsecond=value.microsecond // 1000 * 1000)


_EPOCH = datetime(1970, 1, 1)


def utcnow() -> datetime:
    """The current time as stored."""
    # the clock's whole milliseconds, in integers (exact), added to the epoch: a quarter of
    # ``to_storage(datetime.now(UTC))``'s time, and every write asks at least twice
    return _EPOCH + timedelta(0, 0, 0, time.time_ns() // 1_000_000)


def isoformat(value: datetime | None) -> str | None:
    """RFC 3339 in UTC with milliseconds and a ``Z`` suffix, e.g. 2026-11-21T09:30:00.123Z."""
    if value is None:
        return None
    if value.tzinfo is not None:
        value = value.astimezone(UTC).replace(tzinfo=None)
    # not strftime: its %Y does not zero-pad years before 1000; isoformat pads to four digits
    # and cuts (does not round) to milliseconds, a quarter faster than formatting each field
    return value.isoformat(timespec="milliseconds") + "Z"
