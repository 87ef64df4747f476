"""mongo_todos.dates: the time every stored date comes from, cut as MongoDB keeps it."""

import time
from datetime import UTC, datetime, timedelta

from mongo_todos import dates


def test_utcnow_is_naive_utc_at_millisecond_precision_and_current():
    for _ in range(2000):  # many readings: any microseconds left over would show
        before = dates.to_storage(datetime.now(UTC))
        now = dates.utcnow()
        after = datetime.now(UTC).replace(tzinfo=None)
        assert now.tzinfo is None
        assert now.microsecond % 1000 == 0
        assert before <= now <= after


def test_utcnow_follows_the_clock_in_whole_milliseconds(monkeypatch):
    # 2026-12-04T23:59:59.9995Z and a nanosecond before the next millisecond: cut, not rounded
    moment = int(datetime(2026, 12, 4, 23, 59, 59, tzinfo=UTC).timestamp()) * 10**9
    monkeypatch.setattr(time, "time_ns", lambda: moment + 999_999_999)
    assert dates.utcnow() == datetime(2026, 12, 4, 23, 59, 59, 999000)
    monkeypatch.setattr(time, "time_ns", lambda: moment + 10**9)
    assert dates.utcnow() == datetime(2026, 12, 5, 0, 0, 0)
    assert dates.utcnow() - datetime(2026, 12, 4, 23, 59, 59) == timedelta(seconds=1)


def test_isoformat_has_milliseconds_and_z():
    assert dates.isoformat(datetime(2026, 1, 2, 3, 4, 5, 678000)) == "2026-01-02T03:04:05.678Z"
    assert dates.isoformat(None) is None
